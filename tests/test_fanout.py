"""Tests for littlecats.fanout: once-per-turn writes, per-connection order, bounded holding."""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock, StringTransport

from littlecats.fanout import Fanout, Outlet


class Connection:
    def __init__(self, fanout: Fanout, max_held: int = 0) -> None:
        self.transport = StringTransport()
        self.writes: list[bytes] = []
        self.transport.write = self.writes.append  # count writes, not just bytes
        self.dropped: list[str] = []
        self.outlet = Outlet(self.transport, self.dropped.append, max_held)

    def data(self) -> bytes:
        return b"".join(self.writes)


def test_one_write_per_connection_per_turn():
    """However many broadcasts a turn holds, each connection gets them in one write."""
    clock = MemoryReactorClock()
    fanout = Fanout(clock)
    connections = [Connection(fanout) for _ in range(3)]
    for c in connections:
        fanout.add(c.outlet)
    for i in range(50):
        fanout.broadcast(b"m%d\n" % i)
    assert all(c.writes == [] for c in connections)
    clock.advance(0)
    expected = b"".join(b"m%d\n" % i for i in range(50))
    assert all(c.writes == [expected] for c in connections)
    assert len(clock.getDelayedCalls()) == 0


def test_direct_lines_keep_their_place():
    """A line for one connection arrives exactly between the broadcasts around it."""
    clock = MemoryReactorClock()
    fanout = Fanout(clock)
    a, b = Connection(fanout), Connection(fanout)
    fanout.add(a.outlet)
    fanout.add(b.outlet)
    fanout.broadcast(b"1\n")
    fanout.send(a.outlet, b"private\n")
    fanout.broadcast(b"2\n")
    fanout.send(a.outlet, b"last\n")
    clock.advance(0)
    assert a.data() == b"1\nprivate\n2\nlast\n"
    assert b.data() == b"1\n2\n"


def test_joining_mid_turn_sees_only_what_follows():
    """A connection added mid-turn receives the broadcasts made after it joined, not before."""
    clock = MemoryReactorClock()
    fanout = Fanout(clock)
    old, new = Connection(fanout), Connection(fanout)
    fanout.add(old.outlet)
    fanout.broadcast(b"before\n")
    fanout.send(new.outlet, b"welcome\n")
    fanout.add(new.outlet)
    fanout.broadcast(b"after\n")
    clock.advance(0)
    assert old.data() == b"before\nafter\n"
    assert new.data() == b"welcome\nafter\n"


def test_leaving_mid_turn_gets_what_it_was_owed():
    """A connection removed mid-turn gets everything up to its removal at once, nothing after."""
    clock = MemoryReactorClock()
    fanout = Fanout(clock)
    a, b = Connection(fanout), Connection(fanout)
    fanout.add(a.outlet)
    fanout.add(b.outlet)
    fanout.broadcast(b"1\n")
    fanout.send(b.outlet, b"bye\n")
    fanout.remove(b.outlet)
    assert b.data() == b"1\nbye\n"
    fanout.broadcast(b"b left\n")
    clock.advance(0)
    assert b.data() == b"1\nbye\n"
    assert a.data() == b"1\nb left\n"


def test_paused_outlet_holds_then_releases_in_order():
    """While the transport is full, output is held; on resume it is written, in order."""
    clock = MemoryReactorClock()
    fanout = Fanout(clock)
    c = Connection(fanout, max_held=1000)
    fanout.add(c.outlet)
    fanout.broadcast(b"a\n")
    clock.advance(0)
    c.outlet.pause()
    fanout.broadcast(b"b\n")
    clock.advance(0)
    fanout.broadcast(b"c\n")
    clock.advance(0)
    assert c.data() == b"a\n"
    c.outlet.resume()
    assert c.data() == b"a\nb\nc\n"
    assert c.dropped == []


def test_held_output_is_bounded():
    """A connection that stops reading is dropped once its held output passes the bound, and
    the memory is released."""
    clock = MemoryReactorClock()
    fanout = Fanout(clock)
    slow, fast = Connection(fanout, max_held=100), Connection(fanout, max_held=100)
    fanout.add(slow.outlet)
    fanout.add(fast.outlet)
    slow.outlet.pause()
    for _ in range(20):
        fanout.broadcast(b"x" * 9 + b"\n")
        clock.advance(0)
    assert slow.dropped == ["sendq"]
    assert slow.outlet.held == [] and slow.outlet.held_bytes == 0
    assert slow.data() == b""
    assert fast.data() == (b"x" * 9 + b"\n") * 20


def test_failed_write_drops_only_that_connection():
    """A write that raises drops that connection; the others still get the turn's output."""
    clock = MemoryReactorClock()
    fanout = Fanout(clock)
    broken, fine = Connection(fanout), Connection(fanout)

    def explode(data):
        raise OSError("gone")

    broken.transport.write = explode
    fanout.add(broken.outlet)
    fanout.add(fine.outlet)
    fanout.broadcast(b"hi\n")
    clock.advance(0)
    assert broken.dropped == ["write-error"]
    assert fine.data() == b"hi\n"


def test_slow_flush_is_followed_by_a_pause_cheap_ones_are_not():
    """After an expensive flush (a big audience) the next one waits as long, to carry more;
    cheap flushes (small rooms) are never delayed."""
    clock = MemoryReactorClock()
    fanout = Fanout(clock)
    c = Connection(fanout)
    slow = {"on": True}

    def write(data):
        c.writes.append(data)
        if slow["on"]:
            clock.rightNow += 0.01  # this write took 10 ms

    c.transport.write = write
    fanout.add(c.outlet)
    fanout.broadcast(b"1\n")
    clock.advance(0)
    assert c.data() == b"1\n"
    slow["on"] = False
    fanout.broadcast(b"2\n")
    fanout.broadcast(b"3\n")
    clock.advance(0)
    assert c.data() == b"1\n"
    clock.advance(0.01)
    assert c.writes == [b"1\n", b"2\n3\n"]
    fanout.broadcast(b"4\n")
    clock.advance(0)
    assert c.data() == b"1\n2\n3\n4\n"
