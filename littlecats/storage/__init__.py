"""
Storage: accounts, room history and kept private messages.

`interface` defines the records and `IStore`; `memory.MemoryStore` and `sql.SQLStore`
(SQLite, PostgreSQL) implement it; `migrations` holds the versioned schema; `writer` is the
write-behind of room lines.  `open_store` turns a `--db` URL into a store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from littlecats.storage.interface import IStore

if TYPE_CHECKING:
    from littlecats.messages import Catalog


def open_store(url: str, reactor: Any = None, catalog: Catalog | None = None) -> IStore:
    """The store the C{--db} URL C{url} names, migrated and ready, its messages in
    C{catalog}'s language (default: Portuguese): see L{littlecats.storage.sql.open_store}
    (imported on first use, so that importing the records does not load the database
    drivers' machinery)."""
    from littlecats.storage.sql import open_store as _open_store

    return _open_store(url, reactor, catalog)


__all__ = ["open_store"]
