"""
What the chat keeps: the records, and the store interface every database implements.

The core and the doors never see SQL: they call an `IStore`, whose every method returns a
Deferred.  Implementations: `littlecats.storage.memory.MemoryStore` (`--db memory:`, keeps
nothing across restarts; what unit tests use) and `littlecats.storage.sql.SQLStore` (SQLite
and PostgreSQL, through `twisted.enterprise.adbapi`).  Times are POSIX seconds (float, UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
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


class IStore(Interface):
    """Accounts, room history and kept private messages, in some database."""

    def account(key: str) -> defer.Deferred[Account | None]:
        """The account registered under folded nickname C{key}, or None."""

    def account_names() -> defer.Deferred[list[str]]:
        """The display names of every account (to refuse look-alike nicknames)."""

    def create_account(account: Account) -> defer.Deferred[bool]:
        """Register C{account}; False if its key is registered already."""

    def set_password(key: str, password_hash: str) -> defer.Deferred[bool]:
        """Replace account C{key}'s hash; False if no such account."""

    def delete_account(key: str) -> defer.Deferred[bool]:
        """Delete account C{key} and the messages kept for it; False if no such account."""

    def append_lines(lines: Sequence[StoredLine]) -> defer.Deferred[None]:
        """Store C{lines} in one transaction (all or none)."""

    def recent_lines(
        room: str, before: int | None, limit: int
    ) -> defer.Deferred[list[StoredLine]]:
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

    def close() -> defer.Deferred[None]:
        """Release the database (after the last write)."""
