"""
`MemoryStore`: an `IStore` in dictionaries, for `--db memory:` and for unit tests.

It keeps nothing across restarts, each room only its latest `MAX_LINES_PER_ROOM` lines and
the moderation log only its latest `MAX_ACTIONS` actions (memory stays bounded; bans and owned
rooms are as many as the chat makes).  Every method answers at once (its Deferred has already
fired) and behaves as the SQL store does, so the contract tests run against both.  It holds
no reference to anything a caller can change: lists go in and out as copies, and the records
(`Account`, `KeptMessage`, `BanRecord`, `RoomRecord`, `ModAction`: frozen attrs classes;
`StoredLine`: a named tuple) are immutable.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Sequence
from operator import attrgetter
from typing import TypeVar

import attrs
from twisted.internet import defer
from zope.interface import implementer

from littlecats.storage.interface import (
    Account,
    BanRecord,
    IStore,
    KeptMessage,
    ModAction,
    RoomRecord,
    StoredLine,
)

_line_id = attrgetter("id")
MAX_LINES_PER_ROOM = 10_000
MAX_ACTIONS = 10_000
"""The moderation log keeps about this many of the latest actions (the SQL stores keep all)."""
_R = TypeVar("_R", Account, StoredLine, KeptMessage, BanRecord, RoomRecord)
_RECORDS = (Account, KeptMessage, BanRecord, RoomRecord)


@implementer(IStore)
class MemoryStore:
    """Accounts, room lines and kept messages in dictionaries."""

    def __init__(
        self, max_lines_per_room: int = MAX_LINES_PER_ROOM, max_actions: int = MAX_ACTIONS
    ) -> None:
        """
        @param max_lines_per_room: each room keeps at most about this many of its latest
            lines (memory is bounded; older ones are forgotten).
        @param max_actions: the moderation log keeps at most this many of the latest actions.
        """
        self.max_lines_per_room = max_lines_per_room
        self._accounts: dict[str, Account] = {}
        self._rooms: dict[str, list[StoredLine]] = {}
        """Each room's lines, in id order."""
        self._last_line_id = 0
        self._kept: dict[str, list[KeptMessage]] = {}
        self._kept_ids = itertools.count(1)
        self._bans: dict[str, dict[str, BanRecord]] = {}
        """Scope -> mask -> ban."""
        self._owned_rooms: dict[str, RoomRecord] = {}
        self._actions: deque[ModAction] = deque(maxlen=max_actions)
        self._action_ids = itertools.count(1)

    def account(self, key: str) -> defer.Deferred[Account | None]:
        """The account registered under C{key}, or None."""
        return defer.succeed(self._accounts.get(key))

    def account_names(self) -> defer.Deferred[list[str]]:
        """Every account's display name, sorted."""
        return defer.succeed(sorted(a.name for a in self._accounts.values()))

    def create_account(self, account: Account) -> defer.Deferred[bool]:
        """Register C{account}; False if its key is taken."""
        if account.key in self._accounts:
            return defer.succeed(False)
        self._accounts[account.key] = _copy(account)
        return defer.succeed(True)

    def set_password(self, key: str, password_hash: str) -> defer.Deferred[bool]:
        """Replace account C{key}'s password hash; False if there is no such account."""
        account = self._accounts.get(key)
        if account is None:
            return defer.succeed(False)
        self._accounts[key] = Account(account.key, account.name, password_hash, account.created)
        return defer.succeed(True)

    def delete_account(self, key: str) -> defer.Deferred[bool]:
        """Delete account C{key} and its kept messages, the rooms it owns (with their bans)
        and its place among rooms' operators; False if there is no such account."""
        if self._accounts.pop(key, None) is None:
            return defer.succeed(False)
        self._kept.pop(key, None)
        for room in list(self._owned_rooms.values()):
            if room.owner == key:
                del self._owned_rooms[room.key]
                self._bans.pop(room.key, None)
            elif key in room.ops:
                ops = tuple(op for op in room.ops if op != key)
                self._owned_rooms[room.key] = attrs.evolve(room, ops=ops)
        return defer.succeed(True)

    def append_lines(self, lines: Sequence[StoredLine]) -> defer.Deferred[None]:
        """Store C{lines}; a line whose id is stored already is skipped (as the SQL store
        does), so writing a batch twice is harmless."""
        keep = self.max_lines_per_room
        for line in lines:
            room = self._rooms.setdefault(line.room, [])
            if not room or room[-1].id < line.id:
                room.append(_copy(line))
            else:
                at = bisect.bisect_left(room, line.id, key=_line_id)
                if at < len(room) and room[at].id == line.id:
                    continue
                room.insert(at, _copy(line))
            if len(room) > 2 * keep:  # trimmed in bulk: O(1) amortised per line
                del room[: len(room) - keep]
            self._last_line_id = max(self._last_line_id, line.id)
        return defer.succeed(None)

    def recent_lines(
        self, room: str, before: int | None, limit: int
    ) -> defer.Deferred[list[StoredLine]]:
        """Up to C{limit} of C{room}'s latest lines below id C{before}, oldest first."""
        lines = self._rooms.get(room, [])
        end = len(lines) if before is None else bisect.bisect_left(lines, before, key=_line_id)
        if limit <= 0:
            return defer.succeed([])
        return defer.succeed(lines[max(0, end - limit) : end])

    def last_line_id(self) -> defer.Deferred[int]:
        """The highest line id stored, or 0."""
        return defer.succeed(self._last_line_id)

    def keep_message(
        self, recipient: str, sender: str, time: float, text: str, limit: int
    ) -> defer.Deferred[bool]:
        """Keep a message for account C{recipient}; False (nothing kept) when it has
        C{limit} waiting already, or there is no such account."""
        if recipient not in self._accounts:
            return defer.succeed(False)
        kept = self._kept.setdefault(recipient, [])
        if len(kept) >= limit:
            return defer.succeed(False)
        kept.append(KeptMessage(next(self._kept_ids), recipient, sender, time, text))
        return defer.succeed(True)

    def take_messages(self, recipient: str) -> defer.Deferred[list[KeptMessage]]:
        """C{recipient}'s kept messages, oldest first, removed from the store."""
        return defer.succeed(self._kept.pop(recipient, []))

    def bans(self) -> defer.Deferred[list[BanRecord]]:
        """Every ban, sorted by (scope, mask), expired ones included."""
        return defer.succeed(
            [ban for scope in sorted(self._bans) for _, ban in sorted(self._bans[scope].items())]
        )

    def save_ban(self, ban: BanRecord) -> defer.Deferred[None]:
        """Store C{ban}, replacing any under the same (scope, mask)."""
        self._bans.setdefault(ban.scope, {})[ban.mask] = _copy(ban)
        return defer.succeed(None)

    def delete_ban(self, scope: str, mask: str) -> defer.Deferred[bool]:
        """Delete the ban on C{mask} in C{scope}; False if there was none."""
        in_scope = self._bans.get(scope)
        if in_scope is None or in_scope.pop(mask, None) is None:
            return defer.succeed(False)
        if not in_scope:
            del self._bans[scope]
        return defer.succeed(True)

    def rooms(self) -> defer.Deferred[list[RoomRecord]]:
        """Every owned room, sorted by key."""
        return defer.succeed([self._owned_rooms[key] for key in sorted(self._owned_rooms)])

    def save_room(self, room: RoomRecord) -> defer.Deferred[None]:
        """Store C{room}, replacing any under its key; nothing if its owner is not a
        registered account, and only its operators that are."""
        if room.owner not in self._accounts:
            return defer.succeed(None)
        room = _copy(room)
        if any(op not in self._accounts for op in room.ops):
            room = attrs.evolve(room, ops=[op for op in room.ops if op in self._accounts])
        self._owned_rooms[room.key] = room
        return defer.succeed(None)

    def delete_room(self, key: str) -> defer.Deferred[bool]:
        """Delete room C{key} and its bans; False if no such room was stored."""
        self._bans.pop(key, None)
        return defer.succeed(self._owned_rooms.pop(key, None) is not None)

    def log_action(
        self, time: float, actor: str, action: str, target: str, scope: str, reason: str
    ) -> defer.Deferred[int]:
        """Log a moderation action (the oldest is forgotten past C{max_actions}); its id."""
        entry = ModAction(next(self._action_ids), time, actor, action, target, scope, reason)
        self._actions.append(entry)
        return defer.succeed(entry.id)

    def recent_actions(self, limit: int) -> defer.Deferred[list[ModAction]]:
        """Up to C{limit} of the latest actions, newest first."""
        if limit <= 0:
            return defer.succeed([])
        return defer.succeed(list(itertools.islice(reversed(self._actions), limit)))

    def close(self) -> defer.Deferred[None]:
        """Nothing to release."""
        return defer.succeed(None)


def _copy(record: _R) -> _R:
    """C{record} itself when it is exactly one of the (frozen) record classes, else a plain
    record with its fields (a subclass could carry mutable state)."""
    cls = type(record)
    if cls is StoredLine or cls in _RECORDS:
        return record
    if isinstance(record, StoredLine):
        return StoredLine(*record)  # type: ignore[return-value]
    base = next(c for c in _RECORDS if isinstance(record, c))
    return base(*(getattr(record, a.name) for a in base.__attrs_attrs__))
