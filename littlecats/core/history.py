"""
Room history: what was said in each room, kept in the store and replayed to whoever enters.

Every public line and action is given an id and a time when it is said (`record`), kept in its
room's ring of the last `replay` lines, and handed to the write-behind (`HistoryWriter`), so
nothing on the delivery path waits for the database.  Entering a room replays its ring, then
live traffic follows: both happen on the reactor thread, in order, so the seam can neither lose
nor repeat a line.

A ring is complete ("warm") once it holds the room's last `replay` lines: because it was
loaded from the store, or because that many lines were said since.  The first entry into a
room after a restart waits for that load (`ready`); lines said while it is on its way land in
the ring and are merged by id, so none is lost or doubled.  `/history` reads further back from
the store, merged with the lines still waiting to be written.

Ids are unique and increasing: the time in microseconds, or one more than the last id when
the clock has not moved on (or moved back), starting above the highest id stored.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

import attrs
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from littlecats.messages import Catalog
from littlecats.storage.interface import IStore, StoredLine
from littlecats.storage.writer import HistoryWriter

_new_line = tuple.__new__
DEFAULT_REPLAY = 20
MAX_PAGE = 200


class HistoryUnavailable(Exception):
    """The store could not be read."""


@attrs.define(eq=False)
class _Ring:
    lines: deque[StoredLine]
    warm: bool = False
    waiters: list[defer.Deferred[None]] | None = None


class History:
    """Every room's recent lines, the ids of new ones, and each session's paging cursor."""

    log = Logger()

    def __init__(
        self,
        store: IStore,
        writer: HistoryWriter | None,
        clock: IReactorTime,
        replay: int = DEFAULT_REPLAY,
    ) -> None:
        """
        @param writer: where new lines go to be stored; None keeps no history at all.
        @param replay: how many lines entering a room replays (the rings' length).
        """
        self.store = store
        self.writer = writer
        self.clock = clock
        self.replay = replay if writer is not None else 0
        self.enabled = writer is not None
        self.alive: Callable[[str], bool] = lambda room: True
        """Whether a room (by key) exists (the chat sets it): the ring of one that does not
        is dropped once its load is done."""
        self.catalog = Catalog()
        """The language of the log lines (the chat sets its own)."""
        self._rings: dict[str, _Ring] = {}
        self._last_id = 0

    def start(self) -> defer.Deferred[None]:
        """Continue the ids after the highest one stored."""

        def got(last: int) -> None:
            self._last_id = max(self._last_id, last)

        return self.store.last_line_id().addCallback(got)

    # Recording

    def record(self, room: str, kind: str, nick: str, text: str) -> int:
        """Keep a line just said in room C{room}; return its id (0: no history is kept)."""
        writer = self.writer
        if writer is None:
            return 0
        # On the delivery path: every step here is counted (the named tuple is built without
        # its keyword-handling __new__, three times faster).
        now = self.clock.seconds()
        line_id = int(now * 1_000_000)
        if line_id <= self._last_id:
            line_id = self._last_id + 1
        self._last_id = line_id
        line = _new_line(StoredLine, (line_id, room, now, kind, nick, text))
        ring = self._rings.get(room)
        if ring is None:
            ring = self._rings[room] = _Ring(deque(maxlen=self.replay))
        ring.lines.append(line)
        if not ring.warm and len(ring.lines) == self.replay:
            ring.warm = True
        writer.add(line)
        return line_id

    # Entering a room

    def ready(self, room: str) -> defer.Deferred[None] | None:
        """None if room C{room}'s recent lines are at hand; else a Deferred that fires once
        they are (it never fails: if the store cannot be read, entering replays what is here)."""
        if not self.replay:
            return None
        ring = self._rings.get(room)
        if ring is None:
            ring = self._rings[room] = _Ring(deque(maxlen=self.replay))
        if ring.warm:
            return None
        waiting: defer.Deferred[None] = defer.Deferred()
        if ring.waiters is None:
            ring.waiters = [waiting]
            self.store.recent_lines(room, None, self.replay).addCallbacks(
                self._loaded, self._load_failed, (room, ring), None, (room, ring)
            )
        else:
            ring.waiters.append(waiting)
        return waiting

    def _loaded(self, stored: list[StoredLine], room: str, ring: _Ring) -> None:
        if not ring.warm:
            # The store's lines, the ones still waiting to be written (said before the room
            # last emptied), and the ones said since the load began: each once, by id.
            waiting = self.writer.pending_lines(room) if self.writer is not None else []
            known = _newest(stored, waiting, self.replay)
            ring.lines = deque(_newest(known, ring.lines, self.replay), maxlen=self.replay)
            ring.warm = True
        self._release(room, ring)

    def _load_failed(self, failure: Failure, room: str, ring: _Ring) -> None:
        self.log.failure(self.catalog.template("log-history-unreadable"), failure, room=room)
        ring.warm = True
        self._release(room, ring)

    def _release(self, room: str, ring: _Ring) -> None:
        waiters, ring.waiters = ring.waiters or [], None
        for waiting in waiters:
            waiting.callback(None)
        # Whoever waited enters the room in this turn (a load that answered at once has its
        # waiters attached just after): a ring whose room still does not exist after it was
        # loaded for nobody (they left meanwhile) is dropped, so rings stay bounded by rooms.
        self.clock.callLater(0, self._drop_if_unused, room, ring)

    def _drop_if_unused(self, room: str, ring: _Ring) -> None:
        if not self.alive(room) and ring.waiters is None and self._rings.get(room) is ring:
            del self._rings[room]

    def entered(self, room: str) -> tuple[list[StoredLine], int]:
        """The lines to replay to someone entering C{room}, and the id from which L{earlier}
        pages back for them (the first line replayed, or the next to be said)."""
        ring = self._rings.get(room)
        lines = list(ring.lines) if ring is not None else []
        return lines, lines[0].id if lines else self._last_id + 1

    def forget_room(self, room: str) -> None:
        """Room C{room} is gone (its lines stay stored)."""
        ring = self._rings.get(room)
        if ring is not None and ring.waiters is None:
            del self._rings[room]

    # Reading further back

    def earlier(self, room: str, before: int, count: int) -> defer.Deferred[list[StoredLine]]:
        """Up to C{count} lines of C{room} with an id below C{before}, oldest first: from the
        store, merged with the lines still waiting to be written.

        Fails with L{HistoryUnavailable} if the store cannot be read.
        """
        writer = self.writer
        waiting = [] if writer is None else writer.pending_lines(room)

        def merge(stored: list[StoredLine]) -> list[StoredLine]:
            return _newest(stored, (line for line in waiting if line.id < before), count)

        def failed(failure: Failure) -> None:
            self.log.failure(self.catalog.template("log-history-page-failed"), failure, room=room)
            raise HistoryUnavailable()

        return self.store.recent_lines(room, before, count).addCallbacks(merge, failed)


def _newest(
    stored: Iterable[StoredLine], waiting: Iterable[StoredLine], count: int
) -> list[StoredLine]:
    """The C{count} newest of two sets of lines that may overlap, oldest first."""
    by_id = {line.id: line for line in stored}
    by_id.update((line.id, line) for line in waiting)
    return [by_id[key] for key in sorted(by_id)[-count:]] if count > 0 else []
