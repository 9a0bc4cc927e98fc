"""
The database schema, as numbered steps, and `migrate`, which brings a database up to date.

Each step of L{MIGRATIONS} has a version number (1, 2, ... in order) and its SQL for every
dialect (C{"sqlite"}, C{"postgresql"}).  A database records the step it has reached in the
one-row table C{schema_version}; an empty database is at version 0.  L{migrate} runs at
startup, on a plain synchronous DB-API connection (before the reactor runs and before the
connection pool exists): it applies the missing steps, each in its own transaction together
with the version it reaches, so a step is either wholly there or not at all (both SQLite and
PostgreSQL have transactional DDL).  A database written by a newer Little Cats (a version
above the last step here) is refused with a L{StoreError}, never altered.

To change the schema, append a step; never edit one that has been released.
"""

from __future__ import annotations

import contextlib
from typing import Any

import attrs

from littlecats.messages import Catalog
from littlecats.storage.interface import StoreError

DIALECTS = ("sqlite", "postgresql")

# Taken by every migrating connection to PostgreSQL, for the length of a step, so that two
# servers starting at once on one database apply each step once ("lcats" in ASCII).
_PG_LOCK = 0x6C63617473


@attrs.frozen
class Migration:
    """One step of the schema: the statements that take a database from C{version - 1} to
    C{version}, for each dialect."""

    version: int
    sqlite: tuple[str, ...]
    postgresql: tuple[str, ...]

    def statements(self, dialect: str) -> tuple[str, ...]:
        """This step's statements for C{dialect} (C{"sqlite"} or C{"postgresql"})."""
        return getattr(self, _dialect(dialect))


MIGRATIONS: list[Migration] = [
    Migration(
        1,
        sqlite=(
            """CREATE TABLE accounts (
                key TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                created REAL NOT NULL
            )""",
            # INTEGER PRIMARY KEY is SQLite's 64-bit rowid itself: no second b-tree.
            """CREATE TABLE room_lines (
                id INTEGER PRIMARY KEY,
                room TEXT NOT NULL,
                time REAL NOT NULL,
                kind TEXT NOT NULL,
                nick TEXT NOT NULL,
                text TEXT NOT NULL
            )""",
            "CREATE INDEX room_lines_room_id ON room_lines (room, id)",
            """CREATE TABLE kept_messages (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                recipient TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
                sender TEXT NOT NULL,
                time REAL NOT NULL,
                text TEXT NOT NULL
            )""",
            "CREATE INDEX kept_messages_recipient_id ON kept_messages (recipient, id)",
        ),
        postgresql=(
            """CREATE TABLE accounts (
                key TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE room_lines (
                id BIGINT PRIMARY KEY,
                room TEXT NOT NULL,
                time DOUBLE PRECISION NOT NULL,
                kind TEXT NOT NULL,
                nick TEXT NOT NULL,
                text TEXT NOT NULL
            )""",
            "CREATE INDEX room_lines_room_id ON room_lines (room, id)",
            """CREATE TABLE kept_messages (
                id BIGSERIAL PRIMARY KEY,
                recipient TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
                sender TEXT NOT NULL,
                time DOUBLE PRECISION NOT NULL,
                text TEXT NOT NULL
            )""",
            "CREATE INDEX kept_messages_recipient_id ON kept_messages (recipient, id)",
        ),
    ),
    # 2: what moderation keeps (issue 10).  A room belongs to a registered account and goes
    # with it (ON DELETE CASCADE: see littlecats.storage.interface), as do its operators; an
    # account deleted stops being operator anywhere, so whoever registers the nickname next
    # inherits nothing.  Bans are not tied to rooms by a key (scope "" is the server): the
    # store deletes a room's bans with it.  mod_log's id is its primary key, so its index.
    Migration(
        2,
        sqlite=(
            """CREATE TABLE bans (
                scope TEXT NOT NULL,
                mask TEXT NOT NULL,
                setter TEXT NOT NULL,
                reason TEXT NOT NULL,
                created REAL NOT NULL,
                expires REAL,
                PRIMARY KEY (scope, mask)
            )""",
            """CREATE TABLE rooms (
                key TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                owner TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
                topic TEXT NOT NULL,
                modes TEXT NOT NULL,
                password TEXT NOT NULL,
                created REAL NOT NULL
            )""",
            "CREATE INDEX rooms_owner ON rooms (owner)",
            """CREATE TABLE room_ops (
                room TEXT NOT NULL REFERENCES rooms (key) ON DELETE CASCADE,
                account TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
                PRIMARY KEY (room, account)
            )""",
            "CREATE INDEX room_ops_account ON room_ops (account)",
            # AUTOINCREMENT: an id is never given twice, even after the latest is deleted.
            """CREATE TABLE mod_log (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                time REAL NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                scope TEXT NOT NULL,
                reason TEXT NOT NULL
            )""",
        ),
        postgresql=(
            """CREATE TABLE bans (
                scope TEXT NOT NULL,
                mask TEXT NOT NULL,
                setter TEXT NOT NULL,
                reason TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL,
                expires DOUBLE PRECISION,
                PRIMARY KEY (scope, mask)
            )""",
            """CREATE TABLE rooms (
                key TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                owner TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
                topic TEXT NOT NULL,
                modes TEXT NOT NULL,
                password TEXT NOT NULL,
                created DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX rooms_owner ON rooms (owner)",
            """CREATE TABLE room_ops (
                room TEXT NOT NULL REFERENCES rooms (key) ON DELETE CASCADE,
                account TEXT NOT NULL REFERENCES accounts (key) ON DELETE CASCADE,
                PRIMARY KEY (room, account)
            )""",
            "CREATE INDEX room_ops_account ON room_ops (account)",
            """CREATE TABLE mod_log (
                id BIGSERIAL PRIMARY KEY,
                time DOUBLE PRECISION NOT NULL,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                target TEXT NOT NULL,
                scope TEXT NOT NULL,
                reason TEXT NOT NULL
            )""",
        ),
    ),
]


def latest_version() -> int:
    """The schema version this code writes: the last step's."""
    return MIGRATIONS[-1].version if MIGRATIONS else 0


def _dialect(dialect: str) -> str:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}; expected one of {DIALECTS}")
    return dialect


def too_new_message(found: int, known: int, catalog: Catalog | None = None) -> str:
    """What the operator reads when the database is newer than this code, in C{catalog}'s
    language (default: Portuguese)."""
    return (catalog or Catalog()).text("err-db-too-new", found=found, known=known)


def migrate(connection: Any, dialect: str, catalog: Catalog | None = None) -> int:
    """Bring the database behind the DB-API C{connection} up to the latest schema version.

    Every missing step runs in a transaction of its own, with the update of
    C{schema_version}; a step that fails is rolled back whole and its exception propagates
    (the driver's own: the caller turns it into a message).  Running it again on an
    up-to-date database changes nothing.  The connection is left with no transaction open.

    @param connection: a C{sqlite3} or C{psycopg} connection (not in autocommit mode for
        psycopg; for sqlite3 any isolation level: it is restored on return).
    @param dialect: C{"sqlite"} or C{"postgresql"}.
    @param catalog: the language of the L{StoreError}'s message (default: Portuguese).
    @return: the database's schema version, now the latest.
    @raise StoreError: the database's version is newer than this code's.
    """
    _dialect(dialect)
    if getattr(connection, "autocommit", False) is True:
        raise ValueError("migrate needs a connection that is not in autocommit mode")
    known = latest_version()
    saved_isolation = None
    if dialect == "sqlite":
        # Explicit transactions: BEGIN IMMEDIATE takes the write lock before the version is
        # read, so two processes migrating one file cannot both apply a step.
        saved_isolation = connection.isolation_level
        connection.isolation_level = None
    try:
        while True:
            cursor = connection.cursor()
            try:
                if dialect == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")
                else:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK,))
                cursor.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
                )
                cursor.execute("SELECT MAX(version), COUNT(*) FROM schema_version")
                found, rows = cursor.fetchone()
                found = found or 0
                if found > known:
                    raise StoreError(too_new_message(found, known, catalog))
                step = next((m for m in MIGRATIONS if m.version > found), None)
                if step is None:
                    connection.commit()
                    return found
                for statement in step.statements(dialect):
                    cursor.execute(statement)
                param = "?" if dialect == "sqlite" else "%s"
                if rows:
                    cursor.execute(f"UPDATE schema_version SET version = {param}", (step.version,))
                else:
                    cursor.execute(
                        f"INSERT INTO schema_version (version) VALUES ({param})", (step.version,)
                    )
                connection.commit()
            except BaseException:
                _rollback(connection)
                raise
            finally:
                cursor.close()
    finally:
        if dialect == "sqlite":
            connection.isolation_level = saved_isolation


def _rollback(connection: Any) -> None:
    """Roll back, ignoring a connection that is already unusable (its error is the one that
    matters)."""
    with contextlib.suppress(Exception):  # e.g. a connection the server has closed
        connection.rollback()
