"""
What the chat keeps: the records, and the store interface every database implements.

The core and the doors never see SQL: they call an `IStore`, whose every method returns a
Deferred.  Implementations: `littlecats.storage.memory.MemoryStore` (`--db memory:`, keeps
nothing across restarts; what unit tests use) and `littlecats.storage.sql.SQLStore` (SQLite
and PostgreSQL, through `twisted.enterprise.adbapi`).  Times are POSIX seconds (float, UTC).

What moderation keeps across restarts (issue 10): bans (`BanRecord`), owned rooms with their
operators (`RoomRecord`) and the log of moderation actions (`ModAction`).  An owned room
belongs to a registered account: when that account is deleted, the rooms it owns go with it
(their operators and bans too), and an account deleted is no longer operator of any room.  A
room whose owner unregisters is not kept ownerless, because a stored room nobody can `/drop`
or `/op` in would last for ever, and because whoever registers the freed nickname next must
not inherit the room (nor, as an operator, anyone else's): the chat treats it, from then on,
like a room made by an unregistered user, which vanishes when empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import attrs
from twisted.internet import defer
from zope.interface import Interface

# What a stored room line is: a public line, or an action (`/me`).
SAID = "said"
ACTED = "acted"
LINE_KINDS = (SAID, ACTED)


class StoreError(Exception):
    """The database cannot be used (cannot be opened, is not a database, is newer than this
    code); the message says why, for the operator."""


@attrs.frozen
class Account:
    """A registered nickname."""

    key: str
    """The folded nickname (`littlecats.nicknames.fold`): unique."""
    name: str
    """The nickname as registered (display form)."""
    password_hash: str
    """An encoded argon2id hash (never the password)."""
    created: float


class StoredLine(NamedTuple):
    """One public line or action said in a room.

    A named tuple, not a frozen attrs class like the other records: one is made for every
    line said, in the delivery path, and a tuple is made in a third of the time; its fields
    are in the order of the table's columns, so it is bound to the INSERT as it is."""

    id: int
    """Unique and increasing in the order lines were said (assigned by the chat, not the
    database, so a line has its id before it is written)."""
    room: str
    """The room's folded key."""
    time: float
    kind: str
    """L{SAID} or L{ACTED}."""
    nick: str
    text: str


@attrs.frozen
class KeptMessage:
    """A private message kept for a registered user who was not connected."""

    id: int
    recipient: str
    """The recipient account's key."""
    sender: str
    time: float
    text: str


def _sorted_letters(modes: str) -> str:
    return "".join(sorted(set(modes)))


def _sorted_keys(keys: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(keys)))


@attrs.frozen
class BanRecord:
    """A ban: of the whole server (by a server operator) or of one room."""

    scope: str
    """C{""} for a server-wide ban, else the banned-from room's folded key."""
    mask: str
    """The canonical text of the mask: a nickname (C{bob}), C{account:NAME}, an IP address
    or a CIDR block (C{10.0.0.0/8}).  With C{scope}, the ban's identity."""
    setter: str
    """Who set it (a nickname)."""
    reason: str
    created: float
    expires: float | None = None
    """When it ends, or None: until lifted."""


@attrs.frozen
class RoomRecord:
    """An owned room: what lasts of it across restarts and while it is empty."""

    key: str
    """The folded room name: unique."""
    name: str
    """The room's name as created (display form)."""
    owner: str
    """The owner's account key (a registered account: see the module's docstring)."""
    topic: str
    modes: str = attrs.field(converter=_sorted_letters)
    """The room's mode letters (among C{itmsk}), sorted, each once: e.g. C{"it"}; C{""} for
    none.  Given in any order, they are sorted."""
    password: str
    """The key of mode C{+k}, C{""} if none."""
    created: float
    ops: tuple[str, ...] = attrs.field(default=(), converter=_sorted_keys)
    """The account keys of the room's operators, sorted, each once (any iterable is
    accepted and sorted)."""


@attrs.frozen
class ModAction:
    """One moderation action, as logged for C{/modlog}."""

    id: int
    """Assigned by the store, increasing in the order actions were logged."""
    time: float
    actor: str
    """Who did it (a nickname)."""
    action: str
    """What: C{"kick"}, C{"ban"}, C{"gban"}, C{"kill"}, C{"mute"}, C{"op"}, C{"mode"}..."""
    target: str
    """To whom (a nickname, a mask, a mode change...)."""
    scope: str
    """The room's name, or C{""} for the server."""
    reason: str


class IStore(Interface):
    """Accounts, room history, kept private messages and what moderation keeps (bans, owned
    rooms, the moderation log), in some database."""

    def account(key: str) -> defer.Deferred[Account | None]:
        """The account registered under folded nickname C{key}, or None."""

    def account_names() -> defer.Deferred[list[str]]:
        """The display names of every account (to refuse look-alike nicknames)."""

    def create_account(account: Account) -> defer.Deferred[bool]:
        """Register C{account}; False if its key is registered already."""

    def set_password(key: str, password_hash: str) -> defer.Deferred[bool]:
        """Replace account C{key}'s hash; False if no such account."""

    def delete_account(key: str) -> defer.Deferred[bool]:
        """Delete account C{key} and the messages kept for it; False if no such account.

        The rooms it owns go with it (their operators and bans too), and it is no longer
        operator of any room."""

    def append_lines(lines: Sequence[StoredLine]) -> defer.Deferred[None]:
        """Store C{lines} in one transaction (all or none)."""

    def recent_lines(room: str, before: int | None, limit: int) -> defer.Deferred[list[StoredLine]]:
        """Up to C{limit} of room C{room}'s latest lines with an id below C{before} (None: the
        latest lines), oldest first."""

    def last_line_id() -> defer.Deferred[int]:
        """The highest line id stored, or 0."""

    def keep_message(
        recipient: str, sender: str, time: float, text: str, limit: int
    ) -> defer.Deferred[bool]:
        """Keep a private message for account C{recipient}; False (nothing kept) if it already
        has C{limit} messages waiting."""

    def take_messages(recipient: str) -> defer.Deferred[list[KeptMessage]]:
        """The messages kept for C{recipient}, oldest first, deleted from the store."""

    def bans() -> defer.Deferred[list[BanRecord]]:
        """Every ban stored, server-wide and of every room, sorted by (scope, mask); expired
        ones included (the caller expires them, with L{delete_ban})."""

    def save_ban(ban: BanRecord) -> defer.Deferred[None]:
        """Store C{ban}, replacing the one stored under the same (scope, mask), if any."""

    def delete_ban(scope: str, mask: str) -> defer.Deferred[bool]:
        """Delete the ban on C{mask} in C{scope}; False if there was none."""

    def rooms() -> defer.Deferred[list[RoomRecord]]:
        """Every owned room stored, sorted by key."""

    def save_room(room: RoomRecord) -> defer.Deferred[None]:
        """Store C{room} with its operators, replacing what was stored under its key (the
        operators too), in one transaction.

        Only registered accounts own rooms and are their operators: if C{room.owner} is not a
        registered account nothing is written (as when the account is deleted just before:
        its rooms go with it), and an operator that is not one is left out of the stored
        C{ops}."""

    def delete_room(key: str) -> defer.Deferred[bool]:
        """Delete room C{key}, its operators and its bans, in one transaction; False if no
        such room was stored (its bans, if any, are deleted all the same)."""

    def log_action(
        time: float, actor: str, action: str, target: str, scope: str, reason: str
    ) -> defer.Deferred[int]:
        """Log a moderation action; its id (higher than every id given before)."""

    def recent_actions(limit: int) -> defer.Deferred[list[ModAction]]:
        """Up to C{limit} of the latest moderation actions, newest first."""

    def close() -> defer.Deferred[None]:
        """Release the database (after the last write)."""
