"""Tests for littlecats.fanout: per-channel audiences, one write per connection per turn, one
order per connection, bounded holding, and the direct socket send."""

from __future__ import annotations

import pytest
from twisted.internet import tcp
from twisted.internet.testing import MemoryReactorClock, StringTransport

from littlecats.fanout import Fanout, Outlet

A, B = "#a", "#b"


class Connection:
    """One connection's outlet over a StringTransport, counting writes, not just bytes."""

    def __init__(self, max_held: int = 0) -> None:
        self.transport = StringTransport()
        self.writes: list[bytes] = []
        self.transport.write = self.writes.append
        self.dropped: list[str] = []
        self.outlet = Outlet(self.transport, self, max_held)

    def drop(self, reason: str) -> None:
        """The outlet's owner is told it was dropped."""
        self.dropped.append(reason)

    def data(self) -> bytes:
        return b"".join(self.writes)


@pytest.fixture
def clock() -> MemoryReactorClock:
    return MemoryReactorClock()


@pytest.fixture
def fanout(clock) -> Fanout:
    return Fanout(clock)


def subscribed(fanout: Fanout, *keys: object, max_held: int = 0) -> Connection:
    """A connection subscribed to C{keys}."""
    connection = Connection(max_held)
    for key in keys:
        fanout.subscribe(key, connection.outlet)
    return connection


# One write per turn, shared bytes


def test_one_write_per_connection_per_turn(clock, fanout):
    """However many payloads a turn holds, each connection gets them in one write, at the
    end of the turn."""
    connections = [subscribed(fanout, None) for _ in range(3)]
    for i in range(50):
        fanout.publish(None, b"m%d\n" % i)
    assert all(c.writes == [] for c in connections)
    clock.advance(0)
    expected = b"".join(b"m%d\n" % i for i in range(50))
    assert all(c.writes == [expected] for c in connections)
    assert clock.getDelayedCalls() == []


def test_plain_subscribers_share_one_bytes_object(clock, fanout):
    """Every subscriber owed only the room's payloads gets the same joined bytes object; one
    with a line of its own gets a merge, with the same room payloads around its line."""
    plain = [subscribed(fanout, A) for _ in range(3)]
    special = subscribed(fanout, A)
    fanout.publish(A, b"1\n")
    fanout.send(special.outlet, b"me\n")
    fanout.publish(A, b"2\n")
    clock.advance(0)
    assert plain[0].writes == [b"1\n2\n"]
    assert all(c.writes[0] is plain[0].writes[0] for c in plain)
    assert special.writes == [b"1\nme\n2\n"]


def test_direct_lines_keep_their_place(clock, fanout):
    """A line for one connection arrives exactly between the payloads around it."""
    a, b = subscribed(fanout, None), subscribed(fanout, None)
    fanout.publish(None, b"1\n")
    fanout.send(a.outlet, b"private\n")
    fanout.publish(None, b"2\n")
    fanout.send(a.outlet, b"last\n")
    clock.advance(0)
    assert a.writes == [b"1\nprivate\n2\nlast\n"]
    assert b.writes == [b"1\n2\n"]


def test_direct_line_alone_is_written(clock, fanout):
    """A connection owed only its own line (no channel at all) gets it at the end of the turn."""
    lone = Connection()
    fanout.send(lone.outlet, b"hello\n")
    assert lone.writes == []
    clock.advance(0)
    assert lone.writes == [b"hello\n"]


# Channels


def test_channels_have_their_own_audiences(clock, fanout):
    """A payload for one channel never reaches another channel's subscribers; a payload for a
    channel nobody is in goes nowhere."""
    a, b = subscribed(fanout, A), subscribed(fanout, B)
    fanout.publish(A, b"for a\n")
    fanout.publish(B, b"for b\n")
    fanout.publish("#empty", b"for nobody\n")
    clock.advance(0)
    assert a.writes == [b"for a\n"]
    assert b.writes == [b"for b\n"]
    assert fanout.subscribers(A) == fanout.subscribers(B) == 1
    assert fanout.subscribers("#empty") == 0
    fanout.publish("#empty", b"still nobody\n")
    assert clock.getDelayedCalls() == []


def test_one_order_across_channels(clock, fanout):
    """A connection in two channels gets both merged in the order they were published, with
    its own lines in place, in one write; single-channel neighbours get only their own."""
    both = subscribed(fanout, A, B)
    only_a, only_b = subscribed(fanout, A), subscribed(fanout, B)
    fanout.publish(A, b"a1\n")
    fanout.publish(B, b"b1\n")
    fanout.send(both.outlet, b"me1\n")
    fanout.publish(B, b"b2\n")
    fanout.publish(A, b"a2\n")
    fanout.send(both.outlet, b"me2\n")
    fanout.publish(B, b"b3\n")
    clock.advance(0)
    assert both.writes == [b"a1\nb1\nme1\nb2\na2\nme2\nb3\n"]
    assert only_a.writes == [b"a1\na2\n"]
    assert only_b.writes == [b"b1\nb2\nb3\n"]


def test_exclude_leaves_out_exactly_that_outlet(clock, fanout):
    """A payload excluding one connection reaches every other subscriber, and the excluded
    one still gets the payloads around it."""
    sender, c, d = (subscribed(fanout, A) for _ in range(3))
    fanout.publish(A, b"1\n")
    fanout.publish(A, b"from sender\n", exclude=sender.outlet)
    fanout.publish(A, b"3\n")
    clock.advance(0)
    assert sender.writes == [b"1\n3\n"]
    assert c.writes == d.writes == [b"1\nfrom sender\n3\n"]
    fanout.publish(A, b"next turn\n")
    clock.advance(0)
    assert sender.writes[-1] == c.writes[-1] == b"next turn\n"


def test_subscribing_mid_turn_gets_only_what_follows(clock, fanout):
    """A connection subscribing mid-turn gets the channel's payloads published after it
    subscribed, not before, in place with its own lines and its other channel."""
    old = subscribed(fanout, A)
    new = subscribed(fanout, B)
    fanout.publish(A, b"before\n")
    fanout.publish(B, b"b1\n")
    fanout.send(new.outlet, b"welcome\n")
    fanout.subscribe(A, new.outlet)
    fanout.publish(A, b"after\n")
    fanout.publish(B, b"b2\n")
    clock.advance(0)
    assert old.writes == [b"before\nafter\n"]
    assert new.writes == [b"b1\nwelcome\nafter\nb2\n"]


def test_subscribing_twice_is_subscribing_once(clock, fanout):
    """A second subscription to the same channel changes nothing: payloads arrive once, and
    one unsubscribe ends them."""
    c = Connection()
    fanout.subscribe(A, c.outlet)
    fanout.subscribe(A, c.outlet)
    fanout.publish(A, b"1\n")
    clock.advance(0)
    assert c.writes == [b"1\n"]
    fanout.unsubscribe(A, c.outlet)
    assert c.outlet.channels == () and fanout.subscribers(A) == 0
    fanout.remove(c.outlet)


def test_resubscribing_mid_turn_repeats_nothing(clock, fanout):
    """Leaving and re-entering a channel in one turn neither repeats nor loses a payload."""
    c = subscribed(fanout, A)
    other = subscribed(fanout, A)
    fanout.publish(A, b"1\n")
    fanout.unsubscribe(A, c.outlet)
    fanout.publish(A, b"2\n")
    fanout.subscribe(A, c.outlet)
    fanout.subscribe(A, c.outlet)
    fanout.publish(A, b"3\n")
    clock.advance(0)
    assert c.writes == [b"1\n3\n"]
    assert other.writes == [b"1\n2\n3\n"]


def test_unsubscribing_mid_turn_keeps_what_was_owed_in_place(clock, fanout):
    """A connection leaving a channel mid-turn still gets, in their place, the payloads
    published before it left, and none after."""
    mover = subscribed(fanout, A, B)
    stays = subscribed(fanout, A)
    fanout.publish(A, b"a1\n")
    fanout.publish(B, b"b1\n")
    fanout.send(mover.outlet, b"me\n")
    fanout.publish(A, b"a2\n")
    fanout.unsubscribe(A, mover.outlet)
    fanout.publish(A, b"a3 (mover left)\n")
    fanout.publish(B, b"b2\n")
    clock.advance(0)
    assert mover.writes == [b"a1\nb1\nme\na2\nb2\n"]
    assert stays.writes == [b"a1\na2\na3 (mover left)\n"]
    fanout.publish(A, b"later\n")
    clock.advance(0)
    assert mover.data() == b"a1\nb1\nme\na2\nb2\n"


def test_leaving_mid_turn_owes_neither_excluded_nor_earlier_payloads(clock, fanout):
    """What a connection leaving mid-turn is still owed leaves out the payloads that excluded
    it and those published before it subscribed."""
    sender = subscribed(fanout, A)
    fanout.publish(A, b"early\n")
    newcomer = subscribed(fanout, A)
    fanout.publish(A, b"own echo\n", exclude=sender.outlet)
    fanout.publish(A, b"late\n")
    fanout.unsubscribe(A, newcomer.outlet)
    fanout.remove(sender.outlet)
    assert sender.writes == [b"early\nlate\n"]
    clock.advance(0)
    assert newcomer.writes == [b"own echo\nlate\n"]


def test_remove_writes_what_is_owed_at_once(clock, fanout):
    """A connection removed mid-turn gets everything up to its removal at once, nothing after."""
    a, b = subscribed(fanout, None, A), subscribed(fanout, None, A)
    fanout.publish(None, b"1\n")
    fanout.publish(A, b"2\n")
    fanout.send(b.outlet, b"bye\n")
    fanout.remove(b.outlet)
    assert b.writes == [b"1\n2\nbye\n"]
    assert b.outlet.channels == ()
    fanout.publish(None, b"b left\n")
    clock.advance(0)
    assert b.writes == [b"1\n2\nbye\n"]
    assert a.writes == [b"1\n2\nb left\n"]


def test_last_subscriber_leaving_removes_the_channel(clock, fanout):
    """A channel with nobody left is forgotten; a new subscriber starts it afresh."""
    c = subscribed(fanout, A)
    fanout.publish(A, b"1\n")
    fanout.unsubscribe(A, c.outlet)
    assert A not in fanout.channels
    fanout.subscribe(A, c.outlet)
    fanout.publish(A, b"2\n")
    clock.advance(0)
    assert c.writes == [b"1\n2\n"]


# Holding and dropping


def test_paused_outlet_holds_then_releases_in_order(clock, fanout):
    """While the transport is full, output is held; on resume it is written, in order."""
    c = subscribed(fanout, None, max_held=1000)
    fanout.publish(None, b"a\n")
    clock.advance(0)
    c.outlet.pause()
    fanout.publish(None, b"b\n")
    clock.advance(0)
    fanout.send(c.outlet, b"c\n")
    clock.advance(0)
    assert c.data() == b"a\n"
    c.outlet.resume()
    assert c.data() == b"a\nb\nc\n"
    assert c.dropped == []


def test_held_output_is_bounded(clock, fanout):
    """A connection that stops reading is dropped once its held output passes the bound, and
    the memory is released."""
    slow = subscribed(fanout, None, max_held=100)
    fast = subscribed(fanout, None, max_held=100)
    slow.outlet.pause()
    for _ in range(20):
        fanout.publish(None, b"x" * 9 + b"\n")
        clock.advance(0)
    assert slow.dropped == ["sendq"]
    assert not slow.outlet.held and slow.outlet.held_bytes == 0
    assert slow.data() == b""
    assert fast.data() == (b"x" * 9 + b"\n") * 20


def test_failed_write_drops_only_that_connection(clock, fanout):
    """A write that raises drops that connection, once; the others still get the turn's output."""
    broken, fine = subscribed(fanout, None), subscribed(fanout, None)

    def explode(data):
        raise OSError("gone")

    broken.transport.write = explode
    fanout.publish(None, b"hi\n")
    clock.advance(0)
    fanout.publish(None, b"again\n")
    clock.advance(0)
    assert broken.dropped == ["write-error"]
    assert fine.writes == [b"hi\n", b"again\n"]


def _crowd(fanout: Fanout) -> dict[str, Connection]:
    """Connections of every shape a flush handles, in the order the flush writes them (the
    first channel's members first): plain, with a line of its own, in two channels, late."""
    crowd = {
        "before": subscribed(fanout, A),
        "breaker": subscribed(fanout, A, max_held=4),
        "removed": subscribed(fanout, A),
        "unsubscribed": subscribed(fanout, A, B),
        "plain": subscribed(fanout, A),
        "direct": subscribed(fanout, A),
        "only_b": subscribed(fanout, B),
    }
    fanout.publish(A, b"a1\n")
    fanout.publish(B, b"b1\n")
    fanout.send(crowd["direct"].outlet, b"own\n")
    late = crowd["late"] = Connection()
    fanout.subscribe(A, late.outlet)
    fanout.publish(A, b"a2\n")
    return crowd


_EXPECTED = {
    "before": b"a1\na2\n",
    "removed": b"a1\na2\n",
    "unsubscribed": b"a1\nb1\na2\n",
    "plain": b"a1\na2\n",
    "direct": b"a1\nown\na2\n",
    "only_b": b"b1\n",
    "late": b"a2\n",
}


@pytest.mark.parametrize("how", ["write-error", "sendq"])
def test_drop_mid_flush_leaves_everyone_else_their_bytes(clock, fanout, how):
    """A connection dropped in the middle of a flush, whose drop removes itself and another
    connection and unsubscribes a third, leaves every other connection exactly its turn's
    bytes, once, and the next turn goes only to those still subscribed."""
    crowd = _crowd(fanout)
    breaker = crowd["breaker"]

    def drop(reason):
        breaker.dropped.append(reason)
        fanout.remove(breaker.outlet)
        fanout.remove(crowd["removed"].outlet)
        fanout.unsubscribe(A, crowd["unsubscribed"].outlet)
        fanout.publish(A, b"breaker left\n")

    breaker.drop = drop
    if how == "write-error":

        def explode(data):
            raise OSError("gone")

        breaker.transport.write = explode
    else:
        breaker.outlet.pause()
    fanout.flush()
    assert breaker.dropped == [how]
    assert breaker.writes == []
    assert {name: c.data() for name, c in crowd.items() if c is not breaker} == _EXPECTED
    assert all(len(c.writes) == 1 for c in crowd.values() if c is not breaker)
    fanout.publish(B, b"b2\n")
    clock.advance(0)
    assert crowd["removed"].data() == _EXPECTED["removed"]
    assert crowd["unsubscribed"].data() == _EXPECTED["unsubscribed"] + b"b2\n"
    assert crowd["plain"].data() == _EXPECTED["plain"] + b"breaker left\n"
    assert crowd["only_b"].data() == _EXPECTED["only_b"] + b"b2\n"
    assert breaker.writes == []


def test_drop_removing_someone_already_written_adds_nothing(clock, fanout):
    """A drop that removes a connection the flush has already written gives it nothing more."""
    crowd = _crowd(fanout)
    breaker = crowd["breaker"]

    def explode(data):
        raise OSError("gone")

    breaker.transport.write = explode
    breaker.drop = lambda reason: fanout.remove(crowd["before"].outlet)
    clock.advance(0)
    assert crowd["before"].writes == [_EXPECTED["before"]]
    assert crowd["late"].writes == [_EXPECTED["late"]]


@pytest.mark.parametrize("rooms", [1, Fanout.MANY_CHANNELS + 1])
def test_slow_flush_is_followed_by_a_pause_cheap_ones_are_not(clock, fanout, rooms):
    """After an expensive flush the next one waits, to carry more: as long as the flush took
    for one big audience, three times as long when it served many busy rooms; cheap flushes
    (a quiet server) are never delayed."""
    c = subscribed(fanout, 0)
    for key in range(1, rooms):
        fanout.subscribe(key, c.outlet)
    slow = {"on": True}

    def write(data):
        c.writes.append(data)
        if slow["on"]:
            clock.rightNow += 0.005  # this write took 5 ms

    c.transport.write = write
    for key in range(rooms):
        fanout.publish(key, b"1\n")
    clock.advance(0)
    first = b"1\n" * rooms
    assert c.data() == first
    slow["on"] = False
    fanout.publish(0, b"2\n")
    fanout.publish(0, b"3\n")
    clock.advance(0)
    assert c.data() == first
    pause = 0.005 * (Fanout.SLOW_FLUSH_PAUSE if rooms > Fanout.MANY_CHANNELS else 1)
    clock.advance(pause - 0.001)
    assert c.data() == first
    clock.advance(0.001)
    assert c.writes == [first, b"2\n3\n"]
    fanout.publish(0, b"4\n")
    clock.advance(0)
    assert c.data() == first + b"2\n3\n4\n"


def test_the_pause_after_a_slow_flush_holds_every_door_s_fan_out_on_the_reactor(clock, fanout):
    """A door with few connections (web pages beside many telnet users) waits out the busy
    door's pause too, so its connections get as many lines per write; a fast flush of its own
    does not cut the pause short."""
    busy = subscribed(fanout, "room")

    def slow_write(data):
        busy.writes.append(data)
        clock.rightNow += 0.005

    busy.transport.write = slow_write
    other = Fanout(clock)
    page = subscribed(other, "room")
    fanout.publish("room", b"1\n")
    clock.advance(0)
    other.publish("room", b"a\n")
    fanout.publish("room", b"2\n")
    clock.advance(0.004)
    assert page.data() == b"" and busy.writes == [b"1\n"]
    clock.advance(0.001)
    assert page.data() == b"a\n"
    assert busy.writes == [b"1\n", b"2\n"]
    assert Fanout(MemoryReactorClock())._pace is not fanout._pace


# The direct socket send


class SocketDouble:
    """A socket that records what it is asked to send, taking up to C{accept} bytes."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.accept: int | None = None
        self.error: OSError | None = None

    def send(self, data):
        if self.error is not None:
            raise self.error
        taken = data if self.accept is None else data[: self.accept]
        self.sent.append(taken)
        return len(taken)


class TCPConnectionDouble(tcp.Connection):
    """A Twisted TCP connection as far as the fan-out reads one, with no real socket."""

    def __init__(self) -> None:  # deliberately not tcp.Connection's: no reactor, no socket
        self.socket = SocketDouble()
        self.dataBuffer = b""
        self.offset = 0
        self._tempDataLen = 0
        self.connected = True
        self.disconnecting = False
        self.TLS = False
        self._aborting = False
        self.written: list[bytes] = []

    def write(self, data):
        self.written.append(data)


def test_plain_tcp_connection_sends_straight_on_the_socket():
    """On a plain TCP connection with nothing buffered, output goes straight to the socket."""
    transport = TCPConnectionDouble()
    outlet = Outlet(transport, Connection())
    outlet.write(b"hi\n")
    assert transport.socket.sent == [b"hi\n"]
    assert transport.written == []


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("TLS", True),
        ("_aborting", True),
        ("disconnecting", True),
        ("connected", False),
        ("dataBuffer", b"queued"),
        ("_tempDataLen", 6),
    ],
)
def test_direct_send_is_skipped_when_unsafe(attribute, value):
    """TLS (even started after the outlet was made), an aborting or closing connection, or
    bytes already buffered in the transport: output goes through transport.write."""
    transport = TCPConnectionDouble()
    outlet = Outlet(transport, Connection())
    setattr(transport, attribute, value)
    outlet.write(b"hi\n")
    assert transport.written == [b"hi\n"]
    assert transport.socket.sent == []


def test_what_the_socket_does_not_take_goes_to_the_transport():
    """A partial send hands the rest to the transport; a send error hands it everything."""
    transport = TCPConnectionDouble()
    outlet = Outlet(transport, Connection())
    transport.socket.accept = 2
    outlet.write(b"hello\n")
    assert transport.socket.sent == [b"he"]
    assert transport.written == [b"llo\n"]
    transport.socket.error = BlockingIOError()
    outlet.write(b"again\n")
    assert transport.written == [b"llo\n", b"again\n"]


def test_string_transport_always_uses_write():
    """A transport that is not a Twisted TCP connection never gets the direct path."""
    transport = StringTransport()
    outlet = Outlet(transport, Connection())
    outlet.write(b"hi\n")
    assert not outlet.direct_send
    assert transport.value() == b"hi\n"
