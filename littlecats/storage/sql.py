"""
`SQLStore`: the `IStore` of SQLite and PostgreSQL, over `twisted.enterprise.adbapi`; and
`open_store`, which turns a `--db` URL into a ready store.

Queries are written once, with C{?} placeholders, and converted to C{%s} for psycopg.  Every
method is one transaction (`runInteraction` / `runQuery`) on the pool's threads, never on the
reactor thread.  SQLite gets one connection (a single writer; C{check_same_thread=False} so
the pool can close it from the reactor thread) with WAL, C{synchronous=NORMAL}, foreign keys
and a 5 s busy timeout; PostgreSQL gets a few connections through psycopg 3's synchronous API,
reconnected when the server has restarted (C{cp_reconnect}: the query that meets a dead
connection fails, the next one reconnects).

`open_store` migrates the schema on a plain synchronous connection first, and only then builds
the pool.  Everything that makes a database unusable becomes a L{StoreError} with a one-line
message for the operator, in the catalog's language (C{err-db-...}); a password in the URL is
masked (C{***}) everywhere, in messages and in logs.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from twisted.enterprise import adbapi
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from littlecats.messages import Catalog
from littlecats.storage.interface import (
    Account,
    BanRecord,
    IStore,
    KeptMessage,
    ModAction,
    RoomRecord,
    StoredLine,
    StoreError,
)
from littlecats.storage.memory import MemoryStore
from littlecats.storage.migrations import migrate

log = Logger()

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
)
"""Run on every SQLite connection as it is opened."""

POSTGRESQL_POOL_SIZE = 4
POSTGRESQL_CONNECT_TIMEOUT = 10
"""Seconds libpq waits for a PostgreSQL server that does not answer (unless the URL says)."""

_QUERIES = {
    "account": "SELECT key, name, password_hash, created FROM accounts WHERE key = ?",
    "account_names": "SELECT name FROM accounts ORDER BY name",
    "create_account": (
        "INSERT INTO accounts (key, name, password_hash, created) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (key) DO NOTHING"
    ),
    "set_password": "UPDATE accounts SET password_hash = ? WHERE key = ?",
    "delete_kept": "DELETE FROM kept_messages WHERE recipient = ?",
    "delete_account": "DELETE FROM accounts WHERE key = ?",
    # ON CONFLICT: a batch retried after a commit whose answer was lost stores nothing twice.
    "append_lines": (
        "INSERT INTO room_lines (id, room, time, kind, nick, text) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO NOTHING"
    ),
    "recent_lines": (
        "SELECT id, room, time, kind, nick, text FROM room_lines"
        " WHERE room = ? ORDER BY id DESC LIMIT ?"
    ),
    "recent_lines_before": (
        "SELECT id, room, time, kind, nick, text FROM room_lines"
        " WHERE room = ? AND id < ? ORDER BY id DESC LIMIT ?"
    ),
    "last_line_id": "SELECT COALESCE(MAX(id), 0) FROM room_lines",
    "lock_account": "SELECT key FROM accounts WHERE key = ?",
    "count_kept": "SELECT COUNT(*) FROM kept_messages WHERE recipient = ?",
    "keep": "INSERT INTO kept_messages (recipient, sender, time, text) VALUES (?, ?, ?, ?)",
    "kept": (
        "SELECT id, recipient, sender, time, text FROM kept_messages"
        " WHERE recipient = ? ORDER BY id"
    ),
    "delete_taken": "DELETE FROM kept_messages WHERE recipient = ? AND id <= ?",
    # Moderation (issue 10).  Lists are sorted in Python: a PostgreSQL database's collation
    # may order text otherwise than the memory store does.
    "bans": "SELECT scope, mask, setter, reason, created, expires FROM bans",
    "save_ban": (
        "INSERT INTO bans (scope, mask, setter, reason, created, expires)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (scope, mask) DO UPDATE SET"
        " setter = excluded.setter, reason = excluded.reason, created = excluded.created,"
        " expires = excluded.expires"
    ),
    "delete_ban": "DELETE FROM bans WHERE scope = ? AND mask = ?",
    "delete_room_bans": "DELETE FROM bans WHERE scope = ?",
    "delete_owned_bans": (
        "DELETE FROM bans WHERE scope IN (SELECT key FROM rooms WHERE owner = ?)"
    ),
    # One statement, so one snapshot: rooms and their operators as they were together.
    "rooms": (
        "SELECT rooms.key, name, owner, topic, modes, password, created, room_ops.account"
        " FROM rooms LEFT JOIN room_ops ON room_ops.room = rooms.key"
    ),
    "share_account": "SELECT key FROM accounts WHERE key = ?",
    # Not INSERT OR REPLACE: SQLite would delete the row first, and its operators with it.
    "save_room": (
        "INSERT INTO rooms (key, name, owner, topic, modes, password, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
        " name = excluded.name, owner = excluded.owner, topic = excluded.topic,"
        " modes = excluded.modes, password = excluded.password, created = excluded.created"
    ),
    "delete_room_ops": "DELETE FROM room_ops WHERE room = ?",
    "add_room_op": "INSERT INTO room_ops (room, account) VALUES (?, ?)",
    "delete_room": "DELETE FROM rooms WHERE key = ?",
    "log_action": (
        "INSERT INTO mod_log (time, actor, action, target, scope, reason) VALUES (?, ?, ?, ?, ?, ?)"
    ),
    "recent_actions": (
        "SELECT id, time, actor, action, target, scope, reason FROM mod_log"
        " ORDER BY id DESC LIMIT ?"
    ),
}


def _ban_key(row: tuple[Any, ...]) -> tuple[str, str]:
    """A ban row's (scope, mask): the order of L{SQLStore.bans}."""
    return row[0], row[1]


def _pg_text(text: str) -> str:
    """C{text} as PostgreSQL can store it: a TEXT value cannot hold NUL, and one line that
    cannot be written must not block every line after it."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


@implementer(IStore)
class SQLStore:
    """An L{IStore} in SQLite or PostgreSQL, through an adbapi connection pool.

    Build one with L{open_store}, which migrates the schema first.
    """

    def __init__(self, pool: adbapi.ConnectionPool, dialect: str, url: str = "") -> None:
        """
        @param pool: a connection pool to a database already at the latest schema.
        @param dialect: C{"sqlite"} or C{"postgresql"}.
        @param url: the database's URL, password masked (for messages).
        """
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unknown SQL dialect {dialect!r}")
        self.dialect = dialect
        self.url = url
        self._pool = pool
        self._closed = False
        self._sqlite = dialect == "sqlite"
        self._q = {
            name: sql if self._sqlite else sql.replace("?", "%s") for name, sql in _QUERIES.items()
        }
        if not self._sqlite:
            # Held until the transaction ends: two keeps (or a keep and a take) for one
            # recipient run one after the other, so the count cannot be raced past the limit.
            self._q["lock_account"] += " FOR UPDATE"
            # An owner or operator being saved cannot be deleted before the transaction ends
            # (and one deleted meanwhile is not found): no foreign key error in a race.
            self._q["share_account"] += " FOR KEY SHARE"
            self._q["log_action"] += " RETURNING id"

    def __repr__(self) -> str:
        return f"<SQLStore {self.url or self.dialect}>"

    def _begin_write(self, txn: Any) -> None:
        """Start C{txn} as a write transaction where the driver would not: sqlite3 begins one
        only at the first INSERT/UPDATE/DELETE, after the reads that decide what to write."""
        if self._sqlite:
            txn.execute("BEGIN IMMEDIATE")

    def account(self, key: str) -> defer.Deferred[Account | None]:
        """The account registered under C{key}, or None."""
        d = self._pool.runQuery(self._q["account"], (key,))
        d.addCallback(lambda rows: Account(*rows[0]) if rows else None)
        return d

    def account_names(self) -> defer.Deferred[list[str]]:
        """Every account's display name, sorted."""
        d = self._pool.runQuery(self._q["account_names"])
        d.addCallback(lambda rows: [name for (name,) in rows])
        return d

    def create_account(self, account: Account) -> defer.Deferred[bool]:
        """Register C{account}; False if its key is taken."""
        row = (account.key, account.name, account.password_hash, account.created)
        return self._changes("create_account", row)

    def set_password(self, key: str, password_hash: str) -> defer.Deferred[bool]:
        """Replace account C{key}'s password hash; False if there is no such account."""
        return self._changes("set_password", (password_hash, key))

    def _changes(self, query: str, params: tuple[Any, ...]) -> defer.Deferred[bool]:
        """Run one statement; whether it changed a row."""

        def run(txn: Any) -> bool:
            txn.execute(self._q[query], params)
            return txn.rowcount > 0

        return self._pool.runInteraction(run)

    def delete_account(self, key: str) -> defer.Deferred[bool]:
        """Delete account C{key} and its kept messages, the rooms it owns (with their bans)
        and its place among rooms' operators; False if there is no such account.  The
        account is locked first, so no room can be saved for it meanwhile."""

        def run(txn: Any) -> bool:
            self._begin_write(txn)
            txn.execute(self._q["lock_account"], (key,))
            txn.execute(self._q["delete_owned_bans"], (key,))
            txn.execute(self._q["delete_kept"], (key,))
            txn.execute(self._q["delete_account"], (key,))
            return txn.rowcount > 0

        return self._pool.runInteraction(run)

    def append_lines(self, lines: Sequence[StoredLine]) -> defer.Deferred[None]:
        """Store C{lines} with one C{executemany}, in one transaction; a line whose id is
        stored already is skipped."""
        if not lines:
            return defer.succeed(None)
        if self._sqlite:
            rows = lines  # each StoredLine is already a row, in the columns' order
        else:
            rows = [
                (x.id, x.room, x.time, x.kind, _pg_text(x.nick), _pg_text(x.text)) for x in lines
            ]
        sql = self._q["append_lines"]

        def run(txn: Any) -> None:
            txn.executemany(sql, rows)

        return self._pool.runInteraction(run)

    def recent_lines(
        self, room: str, before: int | None, limit: int
    ) -> defer.Deferred[list[StoredLine]]:
        """Up to C{limit} of C{room}'s latest lines below id C{before}, oldest first."""
        if limit <= 0:
            return defer.succeed([])
        if before is None:
            d = self._pool.runQuery(self._q["recent_lines"], (room, limit))
        else:
            d = self._pool.runQuery(self._q["recent_lines_before"], (room, before, limit))
        d.addCallback(lambda rows: [StoredLine(*row) for row in reversed(rows)])
        return d

    def last_line_id(self) -> defer.Deferred[int]:
        """The highest line id stored, or 0."""
        d = self._pool.runQuery(self._q["last_line_id"])
        d.addCallback(lambda rows: int(rows[0][0]))
        return d

    def keep_message(
        self, recipient: str, sender: str, time: float, text: str, limit: int
    ) -> defer.Deferred[bool]:
        """Keep a message for account C{recipient}; False (nothing kept) when it has
        C{limit} waiting already, or there is no such account.  The count and the insert are
        one transaction, with the account locked (PostgreSQL: its row; SQLite: the
        database), so concurrent keeps never pass the limit."""
        if not self._sqlite:
            sender, text = _pg_text(sender), _pg_text(text)

        def run(txn: Any) -> bool:
            self._begin_write(txn)
            txn.execute(self._q["lock_account"], (recipient,))
            if not txn.fetchall():
                return False
            txn.execute(self._q["count_kept"], (recipient,))
            (count,) = txn.fetchone()
            if count >= limit:
                return False
            txn.execute(self._q["keep"], (recipient, sender, time, text))
            return True

        return self._pool.runInteraction(run)

    def take_messages(self, recipient: str) -> defer.Deferred[list[KeptMessage]]:
        """C{recipient}'s kept messages, oldest first, deleted in the same transaction."""

        def run(txn: Any) -> list[KeptMessage]:
            self._begin_write(txn)
            txn.execute(self._q["lock_account"], (recipient,))
            txn.execute(self._q["kept"], (recipient,))
            messages = [KeptMessage(*row) for row in txn.fetchall()]
            if messages:
                txn.execute(self._q["delete_taken"], (recipient, messages[-1].id))
            return messages

        return self._pool.runInteraction(run)

    def _text(self, *values: str) -> tuple[str, ...]:
        """C{values} as the database can store them (see L{_pg_text})."""
        return values if self._sqlite else tuple(_pg_text(v) for v in values)

    def bans(self) -> defer.Deferred[list[BanRecord]]:
        """Every ban, sorted by (scope, mask), expired ones included."""
        d = self._pool.runQuery(self._q["bans"])
        d.addCallback(lambda rows: [BanRecord(*row) for row in sorted(rows, key=_ban_key)])
        return d

    def save_ban(self, ban: BanRecord) -> defer.Deferred[None]:
        """Store C{ban}, replacing any under the same (scope, mask)."""
        row = (*self._text(ban.scope, ban.mask, ban.setter, ban.reason), ban.created, ban.expires)
        sql = self._q["save_ban"]

        def run(txn: Any) -> None:
            txn.execute(sql, row)

        return self._pool.runInteraction(run)

    def delete_ban(self, scope: str, mask: str) -> defer.Deferred[bool]:
        """Delete the ban on C{mask} in C{scope}; False if there was none."""
        return self._changes("delete_ban", self._text(scope, mask))

    def rooms(self) -> defer.Deferred[list[RoomRecord]]:
        """Every owned room with its operators, sorted by key."""

        def build(rows: list[tuple[Any, ...]]) -> list[RoomRecord]:
            ops: dict[tuple[Any, ...], list[str]] = {}
            for *room, op in rows:
                listed = ops.setdefault(tuple(room), [])
                if op is not None:
                    listed.append(op)
            return sorted(
                (RoomRecord(*room, ops=room_ops) for room, room_ops in ops.items()),
                key=lambda r: r.key,
            )

        d = self._pool.runQuery(self._q["rooms"])
        d.addCallback(build)
        return d

    def save_room(self, room: RoomRecord) -> defer.Deferred[None]:
        """Store C{room} and its operators in one transaction, replacing what was stored
        under its key; nothing if its owner is not a registered account, and only its
        operators that are.  The owner's and the operators' accounts are locked (PostgreSQL:
        FOR KEY SHARE; SQLite: the database) until the transaction ends."""
        key, name, owner, topic, modes, password = self._text(
            room.key, room.name, room.owner, room.topic, room.modes, room.password
        )
        ops = self._text(*room.ops)
        q = self._q

        def run(txn: Any) -> None:
            self._begin_write(txn)
            # Every account is locked before anything is written: a delete_account waiting
            # for one of them then holds nothing this transaction needs (else, deadlock:
            # its cascade into room_ops would wait for the rows deleted here).
            registered = []
            for account in (owner, *sorted(set(ops))):
                txn.execute(q["share_account"], (account,))
                registered.append(bool(txn.fetchall()))
            if not registered[0]:
                return
            txn.execute(q["save_room"], (key, name, owner, topic, modes, password, room.created))
            txn.execute(q["delete_room_ops"], (key,))
            for op, found in zip(sorted(set(ops)), registered[1:], strict=True):
                if found:
                    txn.execute(q["add_room_op"], (key, op))

        return self._pool.runInteraction(run)

    def delete_room(self, key: str) -> defer.Deferred[bool]:
        """Delete room C{key}, its operators and its bans, in one transaction; False if no
        such room was stored."""
        (key,) = self._text(key)

        def run(txn: Any) -> bool:
            self._begin_write(txn)
            txn.execute(self._q["delete_room_bans"], (key,))
            txn.execute(self._q["delete_room"], (key,))
            return txn.rowcount > 0

        return self._pool.runInteraction(run)

    def log_action(
        self, time: float, actor: str, action: str, target: str, scope: str, reason: str
    ) -> defer.Deferred[int]:
        """Log a moderation action; its id (from the database)."""
        row = (time, *self._text(actor, action, target, scope, reason))
        sql = self._q["log_action"]

        def run(txn: Any) -> int:
            txn.execute(sql, row)
            if self._sqlite:
                return int(txn.lastrowid)
            return int(txn.fetchone()[0])

        return self._pool.runInteraction(run)

    def recent_actions(self, limit: int) -> defer.Deferred[list[ModAction]]:
        """Up to C{limit} of the latest actions, newest first."""
        if limit <= 0:
            return defer.succeed([])
        d = self._pool.runQuery(self._q["recent_actions"], (limit,))
        d.addCallback(lambda rows: [ModAction(*row) for row in rows])
        return d

    def close(self) -> defer.Deferred[None]:
        """Close the pool (waiting for the query under way, if any); later calls do nothing."""
        if not self._closed:
            self._closed = True
            self._pool.close()
        return defer.succeed(None)


# --- opening a store from a URL ---------------------------------------------------------------


def mask_url(url: str) -> str:
    """C{url} with its password, if any, replaced by C{***} (in the user part and in a
    C{password=} query parameter)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"(?<=:)[^:@/]*(?=@)", "***", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hosts = netloc.rpartition("@")
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _secrets(url: str) -> list[str]:
    """The password(s) in C{url}, as written and decoded, longest first."""
    found: set[str] = set()
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" in userinfo:
        found.add(userinfo.split(":", 1)[1])
    for match in re.finditer(r"(?i)(?:^|&)password=([^&]*)", parts.query):
        found.add(match.group(1))
    found |= {unquote(s) for s in found}
    return sorted((s for s in found if s), key=len, reverse=True)


def _message(error: BaseException, url: str) -> str:
    """C{error}'s text on one line, with any password of C{url} masked."""
    text = " ".join(str(error).split()) or type(error).__name__
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return text


def open_store(url: str, reactor: Any = None, catalog: Catalog | None = None) -> IStore:
    """The store a C{--db} URL names, its schema migrated, ready for use.

    Accepted: C{sqlite:PATH} (a relative PATH is relative to the current directory),
    C{postgresql://user[:password]@host[:port]/dbname} (or C{postgres://}; anything libpq
    accepts in such a URL, e.g. C{?sslmode=require}), and C{memory:} (nothing kept across
    restarts).  The schema is migrated on a plain synchronous connection (so call this before
    the reactor runs, or accept a short block), then the adbapi pool is built.

    @param reactor: the reactor of the pool's threads (default: the global one).
    @param catalog: the language of the messages and log lines (default: Portuguese).
    @raise StoreError: the URL is not understood, or the database cannot be used; the message
        is one line, names the URL (password masked) and says why.
    """
    if catalog is None:
        catalog = Catalog()
    scheme, colon, rest = url.partition(":")
    scheme = scheme.lower() if colon else ""
    if scheme == "memory" and not rest:
        return MemoryStore()
    if scheme == "sqlite":
        return _open_sqlite(url, rest, reactor, catalog)
    if scheme in ("postgresql", "postgres") and rest.startswith("//"):
        return _open_postgresql(url, reactor, catalog)
    raise StoreError(catalog.text("err-db-url-unknown", url=mask_url(url)))


def _sqlite_setup(connection: sqlite3.Connection) -> None:
    for pragma in SQLITE_PRAGMAS:
        connection.execute(pragma)


def _writable(directory: str, path: str) -> bool:
    if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
        return False
    return os.access(directory, os.W_OK | os.X_OK)


def _open_sqlite(url: str, path: str, reactor: Any, catalog: Catalog) -> SQLStore:
    if not path:
        raise StoreError(catalog.text("err-db-no-file", url=url))
    given, path = path, os.path.abspath(os.path.expanduser(path))
    where = url if given == path else f"{url} ({path})"
    if os.path.isdir(path):
        raise StoreError(catalog.text("err-db-is-directory", url=where))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise StoreError(catalog.text("err-db-no-directory", url=where, directory=parent))
    connection = None
    try:
        connection = sqlite3.connect(path, timeout=5.0, check_same_thread=False)
        _sqlite_setup(connection)
        version = migrate(connection, "sqlite", catalog)
    except StoreError as e:
        raise StoreError(catalog.text("err-db-at", url=where, error=e)) from None
    except sqlite3.DatabaseError as e:
        error = _message(e, url)
        if "file is not a database" in str(e):
            raise StoreError(catalog.text("err-db-not-sqlite", url=where, error=error)) from None
        msgid = "err-db-cannot-open" if _writable(parent, path) else "err-db-permissions"
        raise StoreError(catalog.text(msgid, url=where, error=error)) from None
    finally:
        if connection is not None:
            connection.close()
    pool = adbapi.ConnectionPool(
        "sqlite3",
        path,
        timeout=5.0,
        check_same_thread=False,
        cp_min=1,
        cp_max=1,
        cp_openfun=_sqlite_setup,
        cp_reactor=reactor,
    )
    log.info(catalog.template("log-db-sqlite"), url=where, version=version)
    return SQLStore(pool, "sqlite", where)


def _open_postgresql(url: str, reactor: Any, catalog: Catalog) -> SQLStore:
    masked = mask_url(url)
    try:
        import psycopg
        import psycopg.conninfo
    except ImportError:
        raise StoreError(catalog.text("err-db-psycopg-missing", url=masked)) from None
    try:
        options = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error as e:
        error = _message(e, url)
        raise StoreError(catalog.text("err-db-postgresql-url", url=masked, error=error)) from None
    connect_kw: dict[str, Any] = {"client_encoding": "UTF8"}
    if "connect_timeout" not in options:
        connect_kw["connect_timeout"] = POSTGRESQL_CONNECT_TIMEOUT
    connection = None
    try:
        connection = psycopg.connect(url, **connect_kw)
        version = migrate(connection, "postgresql", catalog)
    except StoreError as e:
        raise StoreError(catalog.text("err-db-at", url=masked, error=e)) from None
    except psycopg.Error as e:
        error = _message(e, url)
        raise StoreError(catalog.text("err-db-cannot-open", url=masked, error=error)) from None
    finally:
        if connection is not None:
            connection.close()
    pool = adbapi.ConnectionPool(
        "psycopg",
        url,
        cp_min=1,
        cp_max=POSTGRESQL_POOL_SIZE,
        cp_reconnect=True,
        cp_reactor=reactor,
        **connect_kw,
    )
    log.info(catalog.template("log-db-postgresql"), url=masked, version=version)
    return SQLStore(pool, "postgresql", masked)


__all__ = ["SQLStore", "mask_url", "open_store"]
