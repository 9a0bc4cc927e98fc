"""
`HistoryWriter`: the write-behind of room lines, so that nothing on the delivery path waits
for the database.

`add` only appends to a queue (O(1); it never waits and never raises) and, unless a write is
already scheduled or under way, schedules one for the end of the reactor turn
(C{callLater(0)}): every line said in a turn goes in one transaction.  At most one transaction
is in flight; lines said meanwhile wait for the next, and a batch holds at most C{batch_size}
lines so that one transaction stays short.

When the database fails (the store's Deferred fails) the batch goes back to the head of the
queue and is retried after C{retry_initial} seconds, doubling up to C{retry_max}; once it
succeeds the backlog drains, oldest first, a batch per turn.  A write that has not answered
after C{stall_timeout} seconds is reported but still waited for (a second concurrent write
could store lines out of order, and would only pile up behind the first).  The queue is
bounded: when it is full the oldest waiting lines are dropped, counted in C{dropped}, and a
warning says so (at the end of the turn, then at most once per C{warn_interval} seconds,
with the running count; drops that follow a warning are reported by the next one, so none
goes unreported).

It is a Service: stopping it (twistd's shutdown) waits, up to C{shutdown_timeout} seconds, for
everything waiting to be written.  All time is the injected clock's; it has no thread of its
own.  It logs counts and errors, never the text of a line, in its C{catalog}'s language.
"""

from __future__ import annotations

import itertools
from collections import deque

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from littlecats.messages import Catalog
from littlecats.storage.interface import IStore, StoredLine


class HistoryWriter(Service):
    """Room lines on their way to the store: queued, batched per reactor turn, retried."""

    batch_size = 5000
    """At most this many lines per transaction."""
    warn_interval = 10.0
    """At most one warning about dropped lines per this many seconds."""
    shutdown_timeout = 10.0
    """How long stopping the service waits for the last lines to be written."""

    def __init__(
        self,
        store: IStore,
        clock: IReactorTime,
        max_queue: int = 100_000,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        stall_timeout: float = 10.0,
        log: Logger | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        """
        @param store: where lines are written (C{append_lines}).
        @param clock: the reactor's time: every delay and batch is scheduled on it.
        @param max_queue: at most this many lines wait (besides the batch in flight); past
            it the oldest are dropped.
        @param retry_initial: seconds before the first retry of a failed batch; each further
            failure doubles it, up to C{retry_max}.
        @param stall_timeout: a write unanswered after this many seconds is logged as stalled.
        @param log: where to log (default: a L{Logger} of this class).
        @param catalog: the language of the log lines (default: Portuguese).
        """
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.store = store
        self.clock = clock
        self.max_queue = max_queue
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.stall_timeout = stall_timeout
        self.log = log if log is not None else Logger(namespace=__name__ + ".HistoryWriter")
        self.catalog = catalog if catalog is not None else Catalog()
        """The language of the log lines."""
        self.stored = 0
        """Lines the store has confirmed."""
        self.dropped = 0
        """Lines dropped because the queue was full."""
        self.failures = 0
        """Batches the store failed to write."""
        self.stalls = 0
        """Writes that took longer than C{stall_timeout} (logged; still waited for)."""
        self._queue: deque[StoredLine] = deque()
        self._batch: list[StoredLine] | None = None
        """The lines in flight, or None when no write is under way."""
        self._call: IDelayedCall | None = None
        """The next write, scheduled (end of turn, or after a failure's back-off)."""
        self._stall_call: IDelayedCall | None = None
        self._write_started = 0.0
        self._write_stalled = False
        self._delay = retry_initial
        self._failing = 0
        """Consecutive failed attempts (0 while the store works)."""
        self._dropped_reported = 0
        self._drop_warned_at: float | None = None
        self._drop_warning_call: IDelayedCall | None = None
        self._flushes: list[defer.Deferred[None]] = []

    # The delivery path

    def add(self, line: StoredLine) -> None:
        """Queue C{line} for the store: O(1), never waits, never raises."""
        try:
            queue = self._queue
            if len(queue) >= self.max_queue:
                queue.popleft()
                self._dropped(1)
            queue.append(line)
            if self._call is None and self._batch is None:
                self._call = self.clock.callLater(0, self._write)
        except Exception:
            self.log.failure(self.catalog.template("log-history-queue-failed"))

    # State

    @property
    def pending(self) -> int:
        """Lines not yet confirmed stored: waiting, and in flight."""
        return len(self._queue) + (len(self._batch) if self._batch is not None else 0)

    def pending_lines(self, room: str) -> list[StoredLine]:
        """Room C{room}'s lines not yet confirmed stored (in flight or waiting), in id order."""
        batch = self._batch or ()
        lines = [line for line in itertools.chain(batch, self._queue) if line.room == room]
        lines.sort(key=lambda line: line.id)
        return lines

    # Writing

    def _write(self) -> None:
        self._call = None
        if self._batch is not None or not self._queue:
            return
        queue = self._queue
        if len(queue) <= self.batch_size:
            batch = list(queue)
            queue.clear()
        else:
            batch = [queue.popleft() for _ in range(self.batch_size)]
        self._batch = batch
        self._write_started = self.clock.seconds()
        self._write_stalled = False
        self._stall_call = self.clock.callLater(self.stall_timeout, self._stalled)
        d = defer.maybeDeferred(self.store.append_lines, batch)
        d.addCallbacks(self._written, self._failed)
        d.addErrback(
            lambda f: self.log.failure(self.catalog.template("log-history-writer-error"), f)
        )

    def _end_write(self) -> list[StoredLine]:
        batch, self._batch = self._batch or [], None
        if self._stall_call is not None:
            self._stall_call.cancel()
            self._stall_call = None
        return batch

    def _written(self, _: object) -> None:
        batch = self._end_write()
        self.stored += len(batch)
        if self._failing:
            self.log.info(
                self.catalog.template("log-history-resumed"),
                attempts=self._failing,
                count=len(batch),
                pending=self.pending,
            )
        elif self._write_stalled:
            self.log.info(
                self.catalog.template("log-history-stall-ended"),
                seconds=self.clock.seconds() - self._write_started,
                count=len(batch),
                pending=self.pending,
            )
        self._failing = 0
        self._delay = self.retry_initial
        if self._queue:
            self._schedule(0)
        else:
            self._flushed()

    def _failed(self, failure: Failure) -> None:
        batch = self._end_write()
        self.failures += 1
        self._failing += 1
        delay, self._delay = self._delay, min(self._delay * 2, self.retry_max)
        # Back to the head of the queue, in order; the bound still holds (oldest out first).
        queue = self._queue
        queue.extendleft(reversed(batch))
        excess = len(queue) - self.max_queue
        if excess > 0:
            for _ in range(excess):
                queue.popleft()
            self._dropped(excess)
        self.log.error(
            self.catalog.template("log-history-write-failed"),
            count=len(batch),
            attempt=self._failing,
            error=_describe(failure),
            delay=delay,
            pending=self.pending,
        )
        self._schedule(delay)

    def _schedule(self, delay: float) -> None:
        if self._call is None:
            self._call = self.clock.callLater(delay, self._write)

    def _stalled(self) -> None:
        self._stall_call = None
        self._write_stalled = True
        self.stalls += 1
        self.log.error(
            self.catalog.template("log-history-stalled"),
            count=len(self._batch or ()),
            seconds=self.stall_timeout,
            pending=self.pending,
        )

    # Dropping

    def _dropped(self, count: int) -> None:
        self.dropped += count
        if self._drop_warning_call is not None:
            return  # a warning is already on its way
        # At the end of the turn (so one warning sums up a burst), or once the last warning
        # is warn_interval old.
        now = self.clock.seconds()
        last = self._drop_warned_at
        delay = 0.0 if last is None else max(0.0, last + self.warn_interval - now)
        self._drop_warning_call = self.clock.callLater(delay, self._warn_dropped)

    def _warn_dropped(self) -> None:
        self._drop_warning_call = None
        self._drop_warned_at = self.clock.seconds()
        self.log.warn(
            self.catalog.template("log-history-dropped"),
            max_queue=self.max_queue,
            dropped=self.dropped,
            new=self.dropped - self._dropped_reported,
        )
        self._dropped_reported = self.dropped

    # Shutdown

    def flush(self, timeout: float | None = None) -> defer.Deferred[None]:
        """Write everything waiting now; the Deferred fires (never fails) once nothing is
        waiting or in flight, or after C{timeout} seconds (then the lines that could not be
        stored are logged, by count)."""
        if not self.pending:
            return defer.succeed(None)
        if self._batch is None:
            # Waiting out a back-off (or the end of the turn): try now.
            if self._call is not None:
                self._call.cancel()
                self._call = None
            self._schedule(0)
        done: defer.Deferred[None] = defer.Deferred(self._flush_cancelled)
        self._flushes.append(done)
        if timeout is not None:
            timer = self.clock.callLater(timeout, self._flush_timed_out, done, timeout)
            done.addBoth(_cancel_timer, timer)
        return done

    def _flush_cancelled(self, done: defer.Deferred[None]) -> None:
        if done in self._flushes:
            self._flushes.remove(done)

    def _flushed(self) -> None:
        flushes, self._flushes = self._flushes, []
        for done in flushes:
            done.callback(None)

    def _flush_timed_out(self, done: defer.Deferred[None], timeout: float) -> None:
        if done in self._flushes:
            self._flushes.remove(done)
            self.log.error(
                self.catalog.template("log-history-flush-timeout"),
                pending=self.pending,
                timeout=timeout,
            )
            done.callback(None)

    def stopService(self) -> defer.Deferred[None]:
        """Stop: wait (up to C{shutdown_timeout}) for the lines waiting to be stored, then say
        how many were stored and, if any were, how many were dropped since the last warning
        (a warning still waiting for its interval would otherwise never be logged)."""
        Service.stopService(self)
        return self.flush(timeout=self.shutdown_timeout).addCallback(self._final_report)

    def _final_report(self, _: object) -> None:
        if self._drop_warning_call is not None:
            if self._drop_warning_call.active():
                self._drop_warning_call.cancel()
            self._drop_warning_call = None
        if self.dropped > self._dropped_reported:
            self._warn_dropped()
        self.log.info(
            self.catalog.template("log-history-writer-stopped"),
            stored=self.stored,
            dropped=self.dropped,
        )


def _cancel_timer(result: object, timer: IDelayedCall) -> object:
    if timer.active():
        timer.cancel()
    return result


def _describe(failure: Failure) -> str:
    """The error, on one line: its type and message (a driver's message names tables and
    ids, not the text of lines)."""
    message = " ".join(str(failure.value).split())
    name = failure.type.__name__ if failure.type is not None else "Error"
    return f"{name}: {message}" if message else name
