"""
Tests for littlecats.storage.writer.HistoryWriter, on a test clock, with a fake store whose
writes the tests answer (or fail) by hand.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger, LogLevel, formatEvent

from littlecats.messages import Catalog
from littlecats.storage.interface import SAID, StoredLine
from littlecats.storage.memory import MemoryStore
from littlecats.storage.writer import HistoryWriter


class FakeStore:
    """Records every append_lines call with the Deferred it returned, for the test to fire."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[StoredLine], defer.Deferred[None]]] = []

    def append_lines(self, lines: Sequence[StoredLine]) -> defer.Deferred[None]:
        d: defer.Deferred[None] = defer.Deferred()
        self.calls.append((list(lines), d))
        return d

    @property
    def in_flight(self) -> int:
        return sum(not d.called for _, d in self.calls)

    def succeed(self, index: int = -1) -> list[StoredLine]:
        lines, d = self.calls[index]
        d.callback(None)
        return lines

    def fail(self, index: int = -1, error: Exception | None = None) -> None:
        self.calls[index][1].errback(error or OSError("disk I/O error"))


def _line(i: int, room: str = "lobby") -> StoredLine:
    return StoredLine(i, room, float(i), SAID, "ana", f"secret text {i}")


class Events(list):
    """Log events, as a Logger observer."""

    def __call__(self, event: dict) -> None:
        self.append(event)

    def texts(self, level: LogLevel | None = None) -> list[str]:
        return [formatEvent(e) for e in self if level is None or e["log_level"] == level]


@pytest.fixture
def setup():
    clock = MemoryReactorClock()
    store = FakeStore()
    events = Events()
    writer = HistoryWriter(store, clock, log=Logger(observer=events))
    return writer, store, clock, events


def test_a_burst_is_one_transaction_at_the_end_of_the_turn(setup):
    writer, store, clock, _ = setup
    lines = [_line(i) for i in range(1, 11)]
    for line in lines:
        writer.add(line)
    assert store.calls == []  # nothing on the delivery path
    assert writer.pending == 10
    clock.advance(0)
    assert [batch for batch, _ in store.calls] == [lines]
    store.succeed()
    assert (writer.stored, writer.pending) == (10, 0)
    clock.advance(0)
    clock.advance(100)
    assert len(store.calls) == 1  # nothing more to write, nothing written twice


def test_only_one_transaction_in_flight(setup):
    writer, store, clock, _ = setup
    first = [_line(i) for i in range(1, 4)]
    second = [_line(i) for i in range(4, 9)]
    for line in first:
        writer.add(line)
    clock.advance(0)
    for line in second[:2]:
        writer.add(line)
    clock.advance(0)
    for line in second[2:]:
        writer.add(line)
    clock.advance(5)
    assert len(store.calls) == 1 and store.in_flight == 1
    assert writer.pending == 8
    store.succeed()
    assert len(store.calls) == 1  # the next batch waits for the next turn
    clock.advance(0)
    assert [batch for batch, _ in store.calls] == [first, second]
    store.succeed()
    assert (writer.stored, writer.pending, writer.failures) == (8, 0, 0)


def test_batches_are_capped(setup):
    writer, store, clock, _ = setup
    writer.batch_size = 4
    lines = [_line(i) for i in range(1, 11)]
    for line in lines:
        writer.add(line)
    sizes = []
    for _ in range(3):
        clock.advance(0)
        sizes.append(len(store.succeed()))
    assert sizes == [4, 4, 2]
    assert [x for batch, _ in store.calls for x in batch] == lines


def test_failure_is_retried_with_backoff_and_nothing_is_lost(setup):
    writer, store, clock, events = setup
    writer.retry_max = 4.0
    lines = [_line(i) for i in range(1, 6)]
    for line in lines[:3]:
        writer.add(line)
    clock.advance(0)
    store.fail()
    assert (writer.failures, writer.pending, writer.stored) == (1, 3, 0)
    assert events.texts(LogLevel.error) == [
        "Não foi possível gravar 3 linhas do histórico (tentativa 1): OSError: disk I/O error; "
        "nova tentativa em 1 s, 3 linhas esperando."
    ]

    writer.add(lines[3])  # said during the outage: waits behind the failed batch
    clock.advance(0.999)
    assert len(store.calls) == 1
    clock.advance(0.001)
    assert store.calls[-1][0] == lines[:4]
    store.fail()
    # Back-off doubles (2 s, then 4 s, then capped at 4 s).
    for delay in (2.0, 4.0, 4.0):
        calls = len(store.calls)
        clock.advance(delay - 0.01)
        assert len(store.calls) == calls
        clock.advance(0.01)
        assert len(store.calls) == calls + 1
        store.fail()
    assert writer.failures == 5
    writer.add(lines[4])
    clock.advance(4.0)
    assert store.calls[-1][0] == lines  # in order, nothing lost
    store.succeed()
    assert (writer.stored, writer.pending) == (5, 0)
    assert any(
        "O histórico voltou a ser gravado depois de 5 tentativas que falharam: "
        "5 linhas gravadas" in t
        for t in events.texts(LogLevel.info)
    )
    # Once it works, the back-off starts over.
    writer.add(_line(6))
    clock.advance(0)
    store.fail()
    clock.advance(1.0)
    assert store.calls[-1][0] == [_line(6)]
    assert all("secret text" not in text for text in events.texts())


def test_backlog_drains_in_order_when_the_store_recovers(setup):
    writer, store, clock, _ = setup
    writer.batch_size = 100
    lines = [_line(i) for i in range(1, 351)]
    for line in lines[:50]:
        writer.add(line)
    clock.advance(0)
    store.fail()
    for line in lines[50:]:
        writer.add(line)
    clock.advance(1.0)
    written: list[StoredLine] = []
    while store.in_flight:
        written += store.succeed()
        clock.advance(0)
    assert written == lines
    assert [len(batch) for batch, _ in store.calls] == [50, 100, 100, 100, 50]
    assert (writer.stored, writer.pending, writer.dropped) == (350, 0, 0)


def test_a_write_that_raises_is_a_failure(setup):
    writer, _, clock, events = setup

    def broken(lines):
        raise RuntimeError("driver bug")

    writer.store.append_lines = broken
    writer.add(_line(1))
    clock.advance(0)
    assert (writer.failures, writer.pending) == (1, 1)
    assert "RuntimeError: driver bug" in events.texts(LogLevel.error)[0]


def test_add_never_raises(setup):
    writer, _, clock, events = setup

    def no_scheduling(*args, **kwargs):
        raise RuntimeError("reactor gone")

    clock.callLater = no_scheduling
    writer.add(_line(1))  # no exception
    (event,) = events
    assert event["log_format"] == Catalog("pt").template("log-history-queue-failed")
    assert events.texts(LogLevel.critical)


def test_stalled_write_is_reported_and_still_waited_for(setup):
    writer, store, clock, events = setup
    writer.add(_line(1))
    clock.advance(0)
    clock.advance(9.9)
    assert writer.stalls == 0
    clock.advance(0.1)
    assert writer.stalls == 1
    assert events.texts(LogLevel.error) == [
        "A gravação de 1 linhas do histórico não terminou depois de 10 s; ela continua sendo "
        "aguardada, com 1 linhas esperando."
    ]
    writer.add(_line(2))
    clock.advance(0)
    clock.advance(300)
    assert len(store.calls) == 1  # never a second write beside the stalled one
    assert writer.pending_lines("lobby") == [_line(1), _line(2)]
    store.succeed()
    assert any(
        "A gravação do histórico que estava travada terminou depois de 310.0 s: "
        "1 linhas gravadas" in t
        for t in events.texts(LogLevel.info)
    )
    clock.advance(0)
    assert store.calls[-1][0] == [_line(2)]
    store.succeed()
    assert (writer.stored, writer.failures, writer.stalls) == (2, 0, 1)


def test_full_queue_drops_the_oldest_counts_and_warns(setup):
    writer, store, clock, events = setup
    writer.max_queue = 5
    writer.stall_timeout = 1000
    writer.add(_line(0))
    clock.advance(0)  # line 0 in flight: the store hangs
    for i in range(1, 9):
        writer.add(_line(i))
    assert writer.dropped == 3
    assert writer.pending_lines("lobby") == [_line(i) for i in (0, 4, 5, 6, 7, 8)]
    assert writer.pending == 6
    clock.advance(0)  # the warning sums up the whole turn
    assert events.texts(LogLevel.warn) == [
        "Fila do histórico cheia (5 linhas esperando): as mais antigas foram descartadas; "
        "3 linhas descartadas até agora (3 desde o último aviso)."
    ]

    clock.advance(5)
    writer.add(_line(9))
    writer.add(_line(10))
    assert writer.dropped == 5
    clock.advance(4.99)
    assert len(events.texts(LogLevel.warn)) == 1  # at most one warning per 10 s
    clock.advance(0.01)
    warnings = events.texts(LogLevel.warn)
    assert len(warnings) == 2
    assert "5 linhas descartadas até agora (2 desde o último aviso)" in warnings[1]
    # The in-flight line was never dropped; the newest are kept.
    store.succeed()
    clock.advance(0)
    assert store.calls[-1][0] == [_line(i) for i in range(6, 11)]
    assert all("secret text" not in text for text in events.texts())


def test_failed_batch_returning_to_a_full_queue_drops_the_oldest(setup):
    writer, store, clock, _ = setup
    writer.max_queue = 4
    for i in range(1, 4):
        writer.add(_line(i))
    clock.advance(0)
    for i in range(4, 7):
        writer.add(_line(i))
    store.fail()  # 3 back + 3 waiting > 4: lines 1 and 2 go
    assert writer.dropped == 2
    assert writer.pending_lines("lobby") == [_line(i) for i in range(3, 7)]
    clock.advance(1)
    assert store.calls[-1][0] == [_line(i) for i in range(3, 7)]


def test_pending_lines_of_a_room(setup):
    writer, store, clock, _ = setup
    writer.add(_line(1, "lobby"))
    writer.add(_line(2, "kitchen"))
    clock.advance(0)
    writer.add(_line(3, "lobby"))
    writer.add(_line(4, "kitchen"))
    assert writer.pending_lines("lobby") == [_line(1, "lobby"), _line(3, "lobby")]
    assert writer.pending_lines("kitchen") == [_line(2, "kitchen"), _line(4, "kitchen")]
    assert writer.pending_lines("attic") == []
    store.succeed()
    assert writer.pending_lines("lobby") == [_line(3, "lobby")]
    clock.advance(0)
    store.succeed()
    assert writer.pending_lines("lobby") == []


def test_stop_service_waits_for_the_last_batch(setup):
    writer, store, clock, _ = setup
    writer.startService()
    for i in range(1, 4):
        writer.add(_line(i))
    clock.advance(0)
    writer.add(_line(4))
    stopped = writer.stopService()
    assert not stopped.called and not writer.running
    store.succeed()
    assert not stopped.called
    clock.advance(0)
    assert store.calls[-1][0] == [_line(4)]
    store.succeed()
    assert stopped.called and stopped.result is None
    assert clock.getDelayedCalls() == []


def test_stop_service_gives_up_after_its_timeout(setup):
    writer, _, clock, events = setup
    writer.startService()
    for i in range(1, 4):
        writer.add(_line(i))
    clock.advance(0)
    stopped = writer.stopService()
    clock.advance(9.99)
    assert not stopped.called
    clock.advance(0.01)
    assert stopped.called and stopped.result is None
    assert "Não foi possível gravar 3 linhas do histórico em 10 s." in events.texts(LogLevel.error)


def test_flush_retries_at_once_during_a_backoff():
    clock = MemoryReactorClock()
    store = FakeStore()
    writer = HistoryWriter(store, clock, retry_initial=30.0, log=Logger(observer=Events()))
    writer.add(_line(1))
    clock.advance(0)
    store.fail()
    flushed = writer.flush()
    clock.advance(0)
    assert len(store.calls) == 2
    store.succeed()
    assert flushed.called
    assert writer.flush().called  # nothing waiting: at once


def test_cancelled_flush_is_forgotten(setup):
    writer, store, clock, _ = setup
    writer.add(_line(1))
    flushed = writer.flush(timeout=5)
    flushed.cancel()
    flushed.addErrback(lambda f: f.trap(defer.CancelledError))
    clock.advance(0)
    store.succeed()
    clock.advance(10)  # neither completion nor the timer touches it again


def test_with_the_memory_store():
    clock = MemoryReactorClock()
    store = MemoryStore()
    writer = HistoryWriter(store, clock)
    lines = [_line(i, room=f"r{i % 3}") for i in range(1, 12_001)]
    for line in lines:
        writer.add(line)
    for _ in range(3):
        clock.advance(0)
    assert (writer.stored, writer.pending) == (12_000, 0)
    got = store.recent_lines("r1", None, 10_000)
    assert got.result == [x for x in lines if x.room == "r1"]


def test_drops_not_yet_warned_about_are_reported_when_the_writer_stops():
    from twisted.internet.testing import MemoryReactorClock
    from twisted.logger import Logger

    from littlecats.storage.memory import MemoryStore
    from littlecats.storage.writer import HistoryWriter

    events: list[dict] = []
    clock = MemoryReactorClock()
    writer = HistoryWriter(MemoryStore(), clock, max_queue=2, log=Logger(observer=events.append))
    writer.startService()
    for i in range(1, 4):
        writer.add(_line(i))
    clock.advance(0)  # the first warning: 1 dropped
    for i in range(4, 7):
        writer.add(_line(i))
    assert writer.dropped == 2
    dropped = Catalog().template("log-history-dropped")
    warnings = [e for e in events if e["log_format"] == dropped]
    assert len(warnings) == 1  # the next one waits for its interval...
    writer.stopService()
    clock.advance(0)
    warnings = [e for e in events if e["log_format"] == dropped]
    assert [e["dropped"] for e in warnings] == [1, 2]  # ...but stopping says it at once
    stopped = Catalog().template("log-history-writer-stopped")
    assert any(e["log_format"] == stopped for e in events)


def test_log_lines_are_in_the_catalogs_language():
    """Portuguese by default; the language of the catalog it is given (the server's)."""
    assert HistoryWriter(FakeStore(), MemoryReactorClock()).catalog.language == "pt"
    clock = MemoryReactorClock()
    store = FakeStore()
    events = Events()
    writer = HistoryWriter(store, clock, log=Logger(observer=events), catalog=Catalog("en"))
    writer.startService()
    writer.add(_line(1))
    clock.advance(0)
    store.fail()
    clock.advance(1)
    store.succeed()
    writer.stopService()
    assert events.texts() == [
        "Could not store 1 history lines (attempt 1): OSError: disk I/O error; retrying in 1 s, "
        "1 lines waiting.",
        "History writes resumed after 1 failed attempts: 1 lines stored, 0 waiting.",
        "History writer stopped: 1 lines stored, 0 dropped.",
    ]
