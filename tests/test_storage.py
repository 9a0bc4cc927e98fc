"""
Tests for littlecats.storage: one contract, run against every store (MemoryStore, SQLStore on
SQLite, SQLStore on PostgreSQL), moderation's records included (bans, owned rooms, the
moderation log); the schema migrations, and the upgrade of a version 1 database; and
`open_store`'s URLs and the messages it gives the operator when a database cannot be used.

The SQL stores run on the real reactor (adbapi's threads).  PostgreSQL comes from
tests/conftest.py: skipped, with the reason, when there is none.
"""

from __future__ import annotations

import socket
import sqlite3
import sys

import attrs
import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.logger import formatEvent, globalLogPublisher
from zope.interface.verify import verifyObject

from littlecats.messages import Catalog
from littlecats.storage import migrations, open_store
from littlecats.storage.interface import (
    ACTED,
    SAID,
    Account,
    BanRecord,
    IStore,
    ModAction,
    RoomRecord,
    StoredLine,
    StoreError,
)
from littlecats.storage.memory import MAX_ACTIONS, MemoryStore
from littlecats.storage.migrations import Migration, latest_version, migrate, too_new_message
from littlecats.storage.sql import mask_url

STORES = ["memory", "sqlite", "postgresql"]


def _empty_database(request, tmp_path) -> str:
    if request.param == "memory":
        return "memory:"
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'littlecats.db'}"
    return request.getfixturevalue("postgresql_url")


@pytest.fixture(params=STORES)
def db_url(request, tmp_path) -> str:
    """The URL of an empty database of each kind."""
    return _empty_database(request, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request, tmp_path) -> str:
    """The URL of an empty database of each kind that outlives its store."""
    return _empty_database(request, tmp_path)


@pytest.fixture
def store(db_url):
    store = open_store(db_url)
    yield store
    pytest_twisted.blockon(store.close())


def _line(line_id: int, room: str = "lobby", nick: str = "ana", text: str | None = None):
    return StoredLine(line_id, room, 1000.0 + line_id, SAID, nick, text or f"line {line_id}")


def _account(key: str, name: str | None = None, created: float = 1234.5) -> Account:
    return Account(key, name or key.capitalize(), f"$argon2id$hash-of-{key}", created)


def _ban(
    mask: str,
    scope: str = "",
    reason: str = "flood",
    created: float = 100.0,
    expires: float | None = None,
) -> BanRecord:
    return BanRecord(scope, mask, "oper", reason, created, expires)


def _room(key: str, owner: str = "ana", ops=(), **changes) -> RoomRecord:
    fields = dict(
        key=key, name=key.capitalize(), owner=owner, topic=f"about {key}", modes="",
        password="", created=50.0, ops=ops,
    )  # fmt: skip
    fields.update(changes)
    return RoomRecord(**fields)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the contract ------------------------------------------------------------------------------


def test_provides_istore(store):
    assert verifyObject(IStore, store)


@pytest_twisted.ensureDeferred
async def test_accounts(store):
    """Create, refuse a duplicate key, read, change the password, list, delete."""
    assert await store.account("ana") is None
    assert await store.create_account(_account("ana", "Ana"))
    assert not await store.create_account(_account("ana", "ANA", created=1.0))
    assert await store.account("ana") == _account("ana", "Ana")
    assert await store.create_account(_account("bea"))
    assert await store.account_names() == ["Ana", "Bea"]

    assert await store.set_password("ana", "$argon2id$new")
    assert (await store.account("ana")).password_hash == "$argon2id$new"
    assert not await store.set_password("nobody", "$argon2id$new")

    assert await store.delete_account("ana")
    assert not await store.delete_account("ana")
    assert await store.account("ana") is None
    assert await store.account_names() == ["Bea"]


@pytest_twisted.ensureDeferred
async def test_delete_account_deletes_its_kept_messages(store):
    await store.create_account(_account("ana"))
    await store.create_account(_account("bea"))
    assert await store.keep_message("ana", "carl", 1.0, "hi", 10)
    assert await store.keep_message("bea", "carl", 1.0, "hello", 10)
    assert await store.delete_account("ana")
    # A new account under the same key finds nothing of the old one's.
    assert await store.create_account(_account("ana"))
    assert await store.take_messages("ana") == []
    assert [m.text for m in await store.take_messages("bea")] == ["hello"]


@pytest_twisted.ensureDeferred
async def test_lines_paging(store):
    """Latest lines first page, then pages before an id; oldest first; rooms apart."""
    assert await store.last_line_id() == 0
    assert await store.recent_lines("lobby", None, 10) == []
    lobby = [_line(i) for i in range(1, 21, 2)]  # 1, 3, ..., 19
    kitchen = [_line(i, room="kitchen") for i in range(2, 22, 2)]  # 2, 4, ..., 20
    await store.append_lines(lobby[:5] + kitchen[:5])
    await store.append_lines(lobby[5:] + kitchen[5:])
    await store.append_lines([])

    assert await store.recent_lines("lobby", None, 3) == lobby[-3:]
    assert await store.recent_lines("lobby", 15, 3) == lobby[4:7]  # 9, 11, 13
    assert await store.recent_lines("lobby", 14, 3) == lobby[4:7]
    assert await store.recent_lines("lobby", 5, 10) == lobby[:2]
    assert await store.recent_lines("lobby", 1, 10) == []
    assert await store.recent_lines("lobby", None, 100) == lobby
    assert await store.recent_lines("lobby", None, 0) == []
    assert await store.recent_lines("kitchen", None, 2) == kitchen[-2:]
    assert await store.recent_lines("attic", None, 10) == []
    assert await store.last_line_id() == 20


@pytest_twisted.ensureDeferred
async def test_paging_walks_back_through_everything(store):
    lines = [_line(i, text=f"number {i}") for i in range(1, 101)]
    await store.append_lines(lines)
    seen: list[StoredLine] = []
    before = None
    while page := await store.recent_lines("lobby", before, 7):
        seen[:0] = page
        before = page[0].id
    assert seen == lines


@pytest_twisted.ensureDeferred
async def test_append_is_idempotent(store):
    """A batch written again (a retry after a lost answer) stores nothing twice."""
    lines = [_line(1), StoredLine(2, "lobby", 5.0, ACTED, "bea", "waves")]
    await store.append_lines(lines)
    await store.append_lines([*lines, _line(3)])
    assert await store.recent_lines("lobby", None, 10) == [*lines, _line(3)]


@pytest_twisted.ensureDeferred
async def test_keep_message_limit(store):
    """The limit-th message is kept; the next is refused and keeps nothing; taking returns
    the oldest first and empties the box."""
    await store.create_account(_account("ana"))
    for i in range(3):
        assert await store.keep_message("ana", "bea", 10.0 + i, f"m{i}", 3)
    assert not await store.keep_message("ana", "bea", 20.0, "too many", 3)
    assert not await store.keep_message("nobody", "bea", 20.0, "no such account", 3)
    taken = await store.take_messages("ana")
    assert [(m.recipient, m.sender, m.time, m.text) for m in taken] == [
        ("ana", "bea", 10.0 + i, f"m{i}") for i in range(3)
    ]
    assert [m.id for m in taken] == sorted(m.id for m in taken)
    assert await store.take_messages("ana") == []
    assert await store.take_messages("nobody") == []
    # The box has room again.
    assert await store.keep_message("ana", "bea", 30.0, "again", 3)


@pytest_twisted.ensureDeferred
async def test_concurrent_keeps_never_pass_the_limit(store):
    """Keeps issued at once (PostgreSQL: on several connections) still stop at the limit."""
    await store.create_account(_account("ana"))
    results = await defer.gatherResults(
        [store.keep_message("ana", f"s{i}", float(i), f"m{i}", 4) for i in range(12)]
    )
    assert sum(results) == 4
    assert len(await store.take_messages("ana")) == 4


@pytest_twisted.ensureDeferred
async def test_non_ascii_round_trips(store):
    names = ["Zoë", "Renée", "李雷", "Ωmega", "😺cat"]
    for name in names:
        assert await store.create_account(_account(name.casefold(), name))
    assert sorted(await store.account_names()) == sorted(names)
    assert (await store.account("李雷")).name == "李雷"
    lines = [
        StoredLine(1, "sala-ção", 1.5, SAID, "Zoë", "olá, tudo bem? ação 🐱🐈‍⬛"),
        StoredLine(2, "sala-ção", 2.5, ACTED, "李雷", "说你好 — «猫» ☕"),
    ]
    await store.append_lines(lines)
    assert await store.recent_lines("sala-ção", None, 5) == lines
    assert await store.keep_message("zoë", "李雷", 3.0, "привет 👋", 5)
    (kept,) = await store.take_messages("zoë")
    assert (kept.sender, kept.text) == ("李雷", "привет 👋")


@pytest_twisted.ensureDeferred
async def test_nul_in_text_does_not_block_writes(store):
    """PostgreSQL cannot store NUL in TEXT: it is replaced rather than failing the batch."""
    await store.append_lines([_line(1, text="a\x00b"), _line(2)])
    first, second = await store.recent_lines("lobby", None, 5)
    assert first.text in ("a\x00b", "a\ufffdb")
    assert second == _line(2)


# --- the contract: what moderation keeps (issue 10) -----------------------------------------


def test_room_record_sorts_its_modes_and_operators():
    room = RoomRecord("sala", "Sala", "ana", "", "tmi", "", 1.0, ["carl", "bea", "carl"])
    assert (room.modes, room.ops) == ("imt", ("bea", "carl"))
    assert _room("sala").ops == ()
    assert BanRecord("", "bob", "oper", "", 1.0).expires is None


@pytest_twisted.ensureDeferred
async def test_bans(store):
    """Server-wide and room bans, listed by (scope, mask), expired ones too; deleted one by
    one."""
    assert await store.bans() == []
    bans = [
        _ban("10.0.0.0/8", expires=200.0),
        _ban("account:ana", reason=""),
        _ban("bob", scope="kitchen", expires=150.5),
        _ban("2001:db8::/32", scope="kitchen"),
        _ban("bob", expires=1.0),  # long expired: still listed
    ]
    for ban in bans:
        assert await store.save_ban(ban) is None
    assert await store.bans() == sorted(bans, key=lambda b: (b.scope, b.mask))

    assert await store.delete_ban("kitchen", "bob")
    assert not await store.delete_ban("kitchen", "bob")
    assert not await store.delete_ban("attic", "bob")
    assert not await store.delete_ban("", "carl")
    assert [(b.scope, b.mask) for b in await store.bans()] == [
        ("", "10.0.0.0/8"), ("", "account:ana"), ("", "bob"), ("kitchen", "2001:db8::/32"),
    ]  # fmt: skip


@pytest_twisted.ensureDeferred
async def test_save_ban_replaces_the_same_scope_and_mask(store):
    await store.save_ban(_ban("bob", expires=500.0))
    await store.save_ban(_ban("bob", scope="kitchen"))
    again = BanRecord("", "bob", "carl", "flood again", 300.0, None)
    await store.save_ban(again)
    assert await store.bans() == [again, _ban("bob", scope="kitchen")]
    later = BanRecord("", "bob", "dora", "", 400.0, 900.25)
    await store.save_ban(later)
    assert await store.bans() == [later, _ban("bob", scope="kitchen")]


@pytest_twisted.ensureDeferred
async def test_rooms(store):
    """Owned rooms with their operators, listed by key; saved again, replaced whole."""
    for key in ("ana", "bea", "carl"):
        await store.create_account(_account(key))
    assert await store.rooms() == []
    kitchen = _room("kitchen", ops=("carl", "bea"), modes="ti", password="s3cret")
    attic = _room("attic", owner="bea", topic="", created=60.5)
    assert await store.save_room(kitchen) is None
    await store.save_room(attic)
    assert await store.rooms() == [attic, kitchen]
    (_, got) = await store.rooms()
    assert (got.ops, got.modes, got.password) == (("bea", "carl"), "it", "s3cret")

    # Replaced whole: every field, and the operators (fewer, more, none).
    changed = _room(
        "kitchen", name="KITCHEN", owner="bea", topic="new", modes="mks", password="k",
        created=70.0, ops=("ana",),
    )  # fmt: skip
    await store.save_room(changed)
    assert await store.rooms() == [attic, changed]
    await store.save_room(attrs.evolve(attic, ops=("ana", "carl")))
    assert (await store.rooms())[0].ops == ("ana", "carl")
    await store.save_room(attic)
    assert await store.rooms() == [attic, changed]

    assert await store.delete_room("kitchen")
    assert not await store.delete_room("kitchen")
    assert not await store.delete_room("nowhere")
    assert await store.rooms() == [attic]


def _fields(record) -> dict:
    return {a.name: getattr(record, a.name) for a in record.__attrs_attrs__}


@pytest_twisted.ensureDeferred
async def test_rooms_belong_to_registered_accounts(store):
    """A room whose owner is not registered is not stored; operators that are not
    registered are left out."""
    await store.create_account(_account("ana"))
    await store.save_room(_room("kitchen", owner="nobody"))
    assert await store.rooms() == []
    await store.save_room(_room("kitchen", ops=("ghost", "ana")))
    assert await store.rooms() == [_room("kitchen", ops=("ana",))]
    # A stored room is not replaced by one whose owner is not registered.
    await store.save_room(_room("kitchen", owner="nobody", topic="taken over"))
    assert await store.rooms() == [_room("kitchen", ops=("ana",))]


@pytest_twisted.ensureDeferred
async def test_delete_room_deletes_its_bans_only(store):
    await store.create_account(_account("ana"))
    await store.save_room(_room("kitchen"))
    await store.save_room(_room("attic"))
    for ban in (_ban("bob"), _ban("bob", "kitchen"), _ban("10.0.0.1", "kitchen")):
        await store.save_ban(ban)
    await store.save_ban(_ban("bob", "attic"))
    await store.save_ban(_ban("bob", "unowned"))  # a room that is not stored
    assert await store.delete_room("kitchen")
    assert await store.bans() == [_ban("bob"), _ban("bob", "attic"), _ban("bob", "unowned")]
    # No room stored under the key: its bans are deleted all the same.
    assert not await store.delete_room("unowned")
    assert await store.bans() == [_ban("bob"), _ban("bob", "attic")]
    # A room made again under the key starts with no bans.
    await store.save_room(_room("kitchen"))
    assert [b.scope for b in await store.bans()] == ["", "attic"]


@pytest_twisted.ensureDeferred
async def test_delete_account_deletes_its_rooms_and_operator_places(store):
    """The owner's rooms go with its account (their operators and bans too); as an operator
    the account leaves every room; whoever registers the key next inherits nothing."""
    for key in ("ana", "bea", "carl"):
        await store.create_account(_account(key))
    await store.save_room(_room("kitchen", ops=("bea", "carl")))
    await store.save_room(_room("garden", ops=("carl",)))
    await store.save_room(_room("attic", owner="bea", ops=("ana", "carl")))
    await store.save_ban(_ban("eve", "kitchen"))
    await store.save_ban(_ban("eve", "attic"))
    await store.save_ban(_ban("eve"))
    await store.keep_message("ana", "bea", 1.0, "hi", 5)

    assert await store.delete_account("ana")
    assert await store.rooms() == [_room("attic", owner="bea", ops=("carl",))]
    assert await store.bans() == [_ban("eve"), _ban("eve", "attic")]

    assert await store.create_account(_account("ana"))
    assert await store.rooms() == [_room("attic", owner="bea", ops=("carl",))]
    assert await store.take_messages("ana") == []
    assert not await store.delete_account("nobody")
    assert await store.delete_account("bea")
    assert await store.rooms() == []
    assert await store.bans() == [_ban("eve")]


@pytest_twisted.ensureDeferred
async def test_moderation_log(store):
    """Ids from the store, increasing; the latest first; a limit."""
    assert await store.recent_actions(10) == []
    ids = []
    for i, action in enumerate(["kick", "ban", "gban", "kill", "mute", "op", "mode"]):
        scope = "" if action in ("gban", "kill") else "Kitchen"
        ids.append(await store.log_action(10.0 + i, "oper", action, f"user{i}", scope, f"why {i}"))
    assert ids == sorted(ids) and len(set(ids)) == 7
    assert all(isinstance(i, int) for i in ids)
    latest = await store.recent_actions(3)
    assert latest == [
        ModAction(ids[6], 16.0, "oper", "mode", "user6", "Kitchen", "why 6"),
        ModAction(ids[5], 15.0, "oper", "op", "user5", "Kitchen", "why 5"),
        ModAction(ids[4], 14.0, "oper", "mute", "user4", "Kitchen", "why 4"),
    ]
    everything = await store.recent_actions(100)
    assert [a.id for a in everything] == ids[::-1]
    assert everything[3] == ModAction(ids[3], 13.0, "oper", "kill", "user3", "", "why 3")
    assert await store.recent_actions(0) == []
    assert await store.recent_actions(-1) == []


@pytest_twisted.ensureDeferred
async def test_moderation_non_ascii_round_trips(store):
    await store.create_account(_account("zoë", "Zoë"))
    await store.create_account(_account("李雷", "李雷"))
    ban = BanRecord("sala-ção", "account:李雷", "Zoë", "spam 🐱 «não»", 1.5, 99.5)
    await store.save_ban(ban)
    assert await store.bans() == [ban]
    room = RoomRecord(
        "sala-ção", "Sala-Ção", "zoë", "tópico ☕ 猫", "ik", "chave-ß", 2.0, ("李雷",)
    )
    await store.save_room(room)
    assert await store.rooms() == [room]
    action_id = await store.log_action(3.0, "Zoë", "ban", "李雷", "Sala-Ção", "привет 👋")
    assert await store.recent_actions(1) == [
        ModAction(action_id, 3.0, "Zoë", "ban", "李雷", "Sala-Ção", "привет 👋")
    ]
    assert await store.delete_ban("sala-ção", "account:李雷")
    assert await store.delete_room("sala-ção")


@pytest_twisted.ensureDeferred
async def test_nul_in_moderation_text_does_not_fail(store):
    """As for lines: PostgreSQL stores U+FFFD for a NUL rather than failing."""
    await store.create_account(_account("ana"))
    await store.save_ban(_ban("bob", reason="a\x00b"))
    await store.save_room(_room("kitchen", topic="t\x00t"))
    await store.log_action(1.0, "oper", "kick", "bob", "", "r\x00r")
    assert (await store.bans())[0].reason in ("a\x00b", "a\ufffdb")
    assert (await store.rooms())[0].topic in ("t\x00t", "t\ufffdt")
    assert (await store.recent_actions(1))[0].reason in ("r\x00r", "r\ufffdr")


@pytest_twisted.ensureDeferred
async def test_concurrent_moderation_writes(store):
    """Issued at once (PostgreSQL: on several connections): every save lands, every id is
    distinct, and a room saved while its owner is deleted is not left behind."""
    for key in ("ana", "bea", "carl"):
        await store.create_account(_account(key))
    results = await defer.gatherResults(
        [store.save_ban(_ban(f"10.0.{i}.0/24", scope="kitchen")) for i in range(20)]
        + [store.save_room(_room(f"room{i}", ops=("bea", "carl"))) for i in range(10)]
        + [store.log_action(float(i), "oper", "kick", f"u{i}", "", "") for i in range(20)]
    )
    ids = results[30:]
    assert len(set(ids)) == 20
    assert len(await store.bans()) == 20
    assert [r.ops for r in await store.rooms()] == [("bea", "carl")] * 10
    await defer.gatherResults(
        [
            store.save_room(_room("attic", owner="bea", ops=("ana", "carl"))),
            store.delete_account("bea"),
        ]
        + [store.save_room(_room(f"room{i}", ops=("bea",))) for i in range(3)]
    )
    rooms = await store.rooms()
    assert "attic" not in [r.key for r in rooms] and len(rooms) == 10
    assert all("bea" not in r.ops for r in rooms)


@pytest_twisted.ensureDeferred
async def test_memory_store_keeps_the_latest_actions_only():
    store = MemoryStore()
    for i in range(MAX_ACTIONS + 5):
        await store.log_action(float(i), "oper", "kick", f"u{i}", "", "")
    latest = await store.recent_actions(2 * MAX_ACTIONS)
    assert len(latest) == MAX_ACTIONS == 10_000
    assert (latest[0].target, latest[-1].target) == (f"u{MAX_ACTIONS + 4}", "u5")
    small = MemoryStore(max_actions=3)
    ids = [await small.log_action(float(i), "a", "kick", "t", "", "") for i in range(5)]
    assert [a.id for a in await small.recent_actions(10)] == ids[:1:-1]


@pytest_twisted.ensureDeferred
async def test_memory_store_keeps_no_reference_to_mutable_subclasses():
    """A record of a subclass (which could carry mutable state) is stored as a plain one."""

    class Note(RoomRecord):
        pass

    store = MemoryStore()
    await store.create_account(_account("ana"))
    await store.save_room(Note(**_fields(_room("kitchen"))))
    (room,) = await store.rooms()
    assert type(room) is RoomRecord and room == _room("kitchen")


@pytest_twisted.ensureDeferred
async def test_everything_survives_a_restart(sql_url):
    """Close the store, open the same database again: it is all there."""
    db_url = sql_url
    store = open_store(db_url)
    try:
        await store.create_account(_account("ana", "Ana"))
        await store.create_account(_account("bea", "Bea"))
        await store.append_lines([_line(i) for i in range(1, 51)])
        await store.keep_message("ana", "bea", 7.0, "até já 😺", 5)
    finally:
        await store.close()
    store = open_store(db_url)
    try:
        assert await store.account("ana") == _account("ana", "Ana")
        assert await store.account_names() == ["Ana", "Bea"]
        assert await store.last_line_id() == 50
        assert await store.recent_lines("lobby", None, 100) == [_line(i) for i in range(1, 51)]
        assert [m.text for m in await store.take_messages("ana")] == ["até já 😺"]
    finally:
        await store.close()
    store = open_store(db_url)
    try:
        assert await store.take_messages("ana") == []  # the take was committed
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_moderation_survives_a_restart(sql_url):
    """Bans, owned rooms with their operators and the moderation log, closed and opened
    again; deletions are kept too."""
    ban = BanRecord("", "2001:db8::/32", "oper", "spam 😾", 10.0, 3600.5)
    kitchen = _room("kitchen", owner="ana", ops=("bea",), modes="ikt", password="gato")
    store = open_store(sql_url)
    try:
        await store.create_account(_account("ana", "Ana"))
        await store.create_account(_account("bea", "Bea"))
        await store.save_ban(ban)
        await store.save_ban(_ban("bob", "kitchen"))
        await store.save_ban(_ban("bob", "attic"))
        await store.save_room(kitchen)
        await store.save_room(_room("attic"))
        ids = [
            await store.log_action(float(i), "Ana", "ban", "bob", "Kitchen", "") for i in range(3)
        ]
    finally:
        await store.close()
    store = open_store(sql_url)
    try:
        assert await store.bans() == [ban, _ban("bob", "attic"), _ban("bob", "kitchen")]
        assert await store.rooms() == [_room("attic"), kitchen]
        assert [a.id for a in await store.recent_actions(10)] == ids[::-1]
        assert await store.delete_room("attic")
        assert await store.delete_ban("", ban.mask)
        new_id = await store.log_action(9.0, "Ana", "unban", "bob", "", "")
    finally:
        await store.close()
    store = open_store(sql_url)
    try:
        assert await store.bans() == [_ban("bob", "kitchen")]
        assert await store.rooms() == [kitchen]
        assert [a.id for a in await store.recent_actions(10)] == [new_id, *ids[::-1]]
        assert new_id > max(ids)
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_history_writer_into_the_store(db_url):
    """The write-behind on the real reactor: lines said over several turns are all stored,
    in order, and a flush waits for the last of them."""
    from twisted.internet import reactor, task

    from littlecats.storage.writer import HistoryWriter

    store = open_store(db_url)
    try:
        writer = HistoryWriter(store, reactor)
        lines = [_line(i, room=f"room{i % 4}") for i in range(1, 3001)]
        for start in range(0, 3000, 500):
            for line in lines[start : start + 500]:
                writer.add(line)
            await task.deferLater(reactor, 0, lambda: None)
        await writer.flush(timeout=20)
        assert (writer.stored, writer.pending, writer.failures) == (3000, 0, 0)
        got = await store.recent_lines("room1", None, 1000)
        assert got == [x for x in lines if x.room == "room1"]
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_postgresql_connections_are_reopened_after_the_server_drops_them(
    postgresql_server, postgresql_url
):
    """As after a PostgreSQL restart: the query that meets a dead connection fails, the
    pool reconnects, and later queries work."""
    import psycopg

    store = open_store(postgresql_url)
    try:
        await store.append_lines([_line(1)])
        name = postgresql_url.rsplit("/", 1)[1]
        with psycopg.connect(postgresql_server, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            ).fetchall()
        assert killed
        outcomes = []
        for _ in range(6):
            try:
                outcomes.append(await store.last_line_id())
            except Exception as e:
                outcomes.append(type(e).__name__)
        # Each pooled connection fails once (e.g. AdminShutdown), then is replaced.
        assert isinstance(outcomes[0], str) and outcomes[-1] == 1, outcomes
        await store.append_lines([_line(2)])
        assert await store.last_line_id() == 2
    finally:
        await store.close()


def test_migrate_refuses_an_autocommit_connection(postgresql_url):
    import psycopg

    with (
        psycopg.connect(postgresql_url, autocommit=True) as connection,
        pytest.raises(ValueError, match="autocommit"),
    ):
        migrate(connection, "postgresql")


# --- migrations ----------------------------------------------------------------------------


def test_migrations_are_numbered_in_order():
    assert [m.version for m in migrations.MIGRATIONS] == list(
        range(1, len(migrations.MIGRATIONS) + 1)
    )
    for step in migrations.MIGRATIONS:
        assert step.statements("sqlite") and step.statements("postgresql")
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        migrations.MIGRATIONS[0].statements("mysql")


def _tables(connection: sqlite3.Connection) -> set[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows}


def test_sqlite_fresh_database_gets_latest_version_and_rerun_is_a_noop(tmp_path):
    connection = sqlite3.connect(tmp_path / "db")
    assert migrate(connection, "sqlite") == latest_version()
    assert {"schema_version", "accounts", "room_lines", "kept_messages"} <= _tables(connection)
    assert {"bans", "rooms", "room_ops", "mod_log"} <= _tables(connection)
    before = connection.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    assert migrate(connection, "sqlite") == latest_version()
    assert connection.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == before
    assert connection.execute("SELECT version FROM schema_version").fetchall() == [
        (latest_version(),)
    ]
    assert not connection.in_transaction
    assert connection.isolation_level == ""  # as it was given


def test_postgresql_fresh_database_gets_latest_version_and_rerun_is_a_noop(postgresql_url):
    import psycopg

    with psycopg.connect(postgresql_url) as connection:
        assert migrate(connection, "postgresql") == latest_version()
        assert migrate(connection, "postgresql") == latest_version()
        rows = connection.execute("SELECT version FROM schema_version").fetchall()
        assert rows == [(latest_version(),)]
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
        assert {t for (t,) in tables} == {
            "schema_version", "accounts", "room_lines", "kept_messages",
            "bans", "rooms", "room_ops", "mod_log",
        }  # fmt: skip


def test_newer_database_is_refused(tmp_path):
    path = tmp_path / "db"
    connection = sqlite3.connect(path)
    migrate(connection, "sqlite")
    newer = latest_version() + 6
    with connection:
        connection.execute("UPDATE schema_version SET version = ?", (newer,))
    with pytest.raises(StoreError) as caught:
        migrate(connection, "sqlite")
    assert str(caught.value) == too_new_message(newer, latest_version())
    assert str(caught.value) == (
        f"o esquema do banco de dados está na versão {newer}, mais nova do que a que este "
        f"Little Cats entende ({latest_version()}); atualize o Little Cats"
    )
    with pytest.raises(StoreError) as caught:
        migrate(connection, "sqlite", Catalog("en"))
    assert str(caught.value) == too_new_message(newer, latest_version(), Catalog("en"))
    assert str(caught.value) == (
        f"database schema version {newer} is newer than this Little Cats understands "
        f"({latest_version()}); upgrade Little Cats"
    )
    connection.close()
    with pytest.raises(StoreError, match=f"versão {newer}, mais nova .*atualize o Little Cats"):
        open_store(f"sqlite:{path}")
    with pytest.raises(StoreError, match=f"schema version {newer} is newer.*upgrade Little Cats"):
        open_store(f"sqlite:{path}", catalog=Catalog("en"))
    # Nothing was changed.
    assert sqlite3.connect(path).execute("SELECT version FROM schema_version").fetchall() == [
        (newer,)
    ]


def test_newer_postgresql_database_is_refused(postgresql_url):
    import psycopg

    with psycopg.connect(postgresql_url) as connection:
        migrate(connection, "postgresql")
        connection.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="versão 99, mais nova do que a que este Little Cats"):
        open_store(postgresql_url)
    with pytest.raises(StoreError, match="schema version 99 is newer than this Little Cats"):
        open_store(postgresql_url, catalog=Catalog("en"))


def test_failing_step_is_rolled_back_whole(tmp_path, monkeypatch):
    """A step that fails leaves the database at the version before it, with nothing of it."""
    path = tmp_path / "db"
    migrate(sqlite3.connect(path), "sqlite")
    bad = Migration(
        latest_version() + 1,
        sqlite=("CREATE TABLE extra (x INTEGER)", "THIS IS NOT SQL"),
        postgresql=("CREATE TABLE extra (x INTEGER)", "THIS IS NOT SQL"),
    )
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, bad])
    connection = sqlite3.connect(path)
    with pytest.raises(sqlite3.OperationalError):
        migrate(connection, "sqlite")
    assert "extra" not in _tables(connection)
    assert connection.execute("SELECT version FROM schema_version").fetchall() == [
        (bad.version - 1,)
    ]
    with pytest.raises(StoreError, match="syntax error"):
        open_store(f"sqlite:{path}")


# --- upgrading a version 1 database (before moderation) --------------------------------------


async def _upgrade_keeps_everything(url: str, monkeypatch) -> None:
    """Make a version 1 database with this code's first step, write into it, then open it
    with every step: it reaches the latest version with its data, and moderation works."""
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    store = open_store(url)
    try:
        await store.create_account(_account("ana", "Ana"))
        await store.create_account(_account("zoë", "Zoë"))
        await store.append_lines([_line(i, room="sala-ção") for i in range(1, 31)])
        assert await store.keep_message("zoë", "ana", 5.0, "olá 😺", 5)
    finally:
        await store.close()
    monkeypatch.undo()
    assert latest_version() >= 2

    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        store = open_store(url)
    finally:
        globalLogPublisher.removeObserver(events.append)
    try:
        (opened,) = [e for e in events if e.get("log_namespace") == "littlecats.storage.sql"]
        assert opened["version"] == latest_version()
        assert await store.account("ana") == _account("ana", "Ana")
        assert await store.account_names() == ["Ana", "Zoë"]
        assert await store.last_line_id() == 30
        assert await store.recent_lines("sala-ção", None, 100) == [
            _line(i, room="sala-ção") for i in range(1, 31)
        ]
        assert [m.text for m in await store.take_messages("zoë")] == ["olá 😺"]
        # The new tables, tied to the accounts written before the upgrade.
        assert await store.bans() == await store.rooms() == await store.recent_actions(5) == []
        await store.save_room(_room("sala-ção", owner="zoë", ops=("ana",)))
        await store.save_ban(_ban("bob", "sala-ção"))
        assert await store.log_action(1.0, "Zoë", "ban", "bob", "Sala-Ção", "") >= 1
        assert await store.rooms() == [_room("sala-ção", owner="zoë", ops=("ana",))]
        assert await store.delete_account("zoë")
        assert (await store.rooms(), await store.bans()) == ([], [])
    finally:
        await store.close()


@pytest_twisted.ensureDeferred
async def test_sqlite_version_1_database_is_upgraded_keeping_its_data(tmp_path, monkeypatch):
    path = tmp_path / "littlecats.db"
    await _upgrade_keeps_everything(f"sqlite:{path}", monkeypatch)
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [
            (latest_version(),)
        ]
        assert {"bans", "rooms", "room_ops", "mod_log"} <= _tables(connection)
    finally:
        connection.close()


@pytest_twisted.ensureDeferred
async def test_postgresql_version_1_database_is_upgraded_keeping_its_data(
    postgresql_url, monkeypatch
):
    import psycopg

    await _upgrade_keeps_everything(postgresql_url, monkeypatch)
    with psycopg.connect(postgresql_url) as connection:
        rows = connection.execute("SELECT version FROM schema_version").fetchall()
        assert rows == [(latest_version(),)]


def test_version_1_database_has_no_moderation_tables(tmp_path, monkeypatch):
    """Step 1 alone is what the code before moderation made; step 2 adds the tables."""
    path = tmp_path / "db"
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
    connection = sqlite3.connect(path)
    assert migrate(connection, "sqlite") == 1
    assert not {"bans", "rooms", "room_ops", "mod_log"} & _tables(connection)
    monkeypatch.undo()
    assert migrate(connection, "sqlite") == latest_version()
    assert {"bans", "rooms", "room_ops", "mod_log"} <= _tables(connection)
    connection.close()


# --- open_store: URLs and what the operator is told ----------------------------------------


def test_sqlite_relative_path_is_relative_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:littlecats.db")
    try:
        assert (tmp_path / "littlecats.db").exists()
        assert str(tmp_path / "littlecats.db") in store.url
    finally:
        store.close()  # SQLStore.close is synchronous: its Deferred has fired


@pytest.mark.parametrize(
    ("lang", "sentence"),
    [("pt", "não é um banco de dados SQLite"), ("en", "it is not an SQLite database")],
)
def test_text_file_is_not_a_database(tmp_path, lang, sentence):
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StoreError) as caught:
        open_store(f"sqlite:{path}", catalog=Catalog(lang))
    message = str(caught.value)
    assert message == Catalog(lang).text(
        "err-db-not-sqlite", url=f"sqlite:{path}", error="file is not a database"
    )
    assert sentence in message and "\n" not in message
    assert "notes, not a database" in path.read_text()  # untouched


def test_directory_is_not_a_database(tmp_path):
    with pytest.raises(StoreError) as caught:
        open_store(f"sqlite:{tmp_path}")
    assert str(caught.value) == (
        f"não foi possível abrir sqlite:{tmp_path}: é um diretório, não um arquivo de banco "
        "de dados"
    )
    with pytest.raises(StoreError) as caught:
        open_store(f"sqlite:{tmp_path}", catalog=Catalog("en"))
    assert str(caught.value) == Catalog("en").text("err-db-is-directory", url=f"sqlite:{tmp_path}")


def test_missing_directory(tmp_path):
    path = tmp_path / "nowhere" / "littlecats.db"
    with pytest.raises(StoreError) as caught:
        open_store(f"sqlite:{path}")
    assert str(caught.value) == (
        f"não foi possível abrir sqlite:{path}: o diretório {path.parent} não existe"
    )
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:{path}", catalog=Catalog("en"))


@pytest.mark.parametrize(
    "url",
    ["mysql://lc:hunter2@db.example/lc", "sqlite", "littlecats.db", "postgresql:lc", "memory"],
)
def test_unknown_url(url):
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert message.startswith("URL de banco de dados desconhecida")
    assert "sqlite:CAMINHO" in message and "postgresql://" in message and "memory:" in message
    assert "hunter2" not in message and "\n" not in message
    with pytest.raises(StoreError) as caught:
        open_store(url, catalog=Catalog("en"))
    message = str(caught.value)
    assert message.startswith("unknown database URL")
    assert "sqlite:PATH" in message and "postgresql://" in message and "memory:" in message
    assert "hunter2" not in message


def test_sqlite_url_without_a_path():
    with pytest.raises(StoreError, match="não indica nenhum arquivo"):
        open_store("sqlite:")
    with pytest.raises(StoreError, match="names no file"):
        open_store("sqlite:", catalog=Catalog("en"))


@pytest.mark.parametrize(
    ("lang", "sentence"),
    [
        ("pt", "Banco de dados sqlite:{path}: SQLite, versão {version} do esquema."),
        ("en", "Database sqlite:{path}: SQLite, schema version {version}."),
    ],
)
def test_opening_is_logged_in_the_catalogs_language(tmp_path, lang, sentence):
    path = tmp_path / "littlecats.db"
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        store = open_store(f"sqlite:{path}", catalog=Catalog(lang))
    finally:
        globalLogPublisher.removeObserver(events.append)
    try:
        (event,) = [e for e in events if e.get("log_namespace") == "littlecats.storage.sql"]
        assert event["log_format"] == Catalog(lang).template("log-db-sqlite")
        assert formatEvent(event) == sentence.format(path=path, version=latest_version())
    finally:
        store.close()


def test_memory_url():
    assert type(open_store("memory:")).__name__ == "MemoryStore"


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_unreachable_postgresql_masks_the_password(scheme):
    url = f"{scheme}://lc:s3cr%40t@127.0.0.1:{_free_port()}/lc?password=other-secret"
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert message.startswith(f"não foi possível abrir {scheme}://lc:***@127.0.0.1:")
    assert "password=***" in message
    assert "s3cr" not in message and "other-secret" not in message and "\n" not in message
    assert "Connection refused" in message


def test_refused_login_masks_the_password(postgresql_server):
    parts = postgresql_server.split("@", 1)[1]
    url = f"postgresql://no_such_role:hunter2@{parts}"
    with pytest.raises(StoreError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "no_such_role" in message and "hunter2" not in message and "***" in message


def test_password_is_never_logged(postgresql_url):
    """With trust authentication a password in the URL is accepted and unused: the store
    opens, and neither its log lines nor its name show the password."""
    scheme, rest = postgresql_url.split("://", 1)
    user, host = rest.split("@", 1)
    url = f"{scheme}://{user.split(':')[0]}:hunter2@{host}"
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        store = open_store(url)
    finally:
        globalLogPublisher.removeObserver(events.append)
    try:
        assert "hunter2" not in repr(store) and "***" in store.url
        assert events and all("hunter2" not in repr(e) for e in events)
    finally:
        store.close()


def test_without_psycopg(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://lc:hunter2@127.0.0.1/lc")
    message = str(caught.value)
    assert message == Catalog().text(
        "err-db-psycopg-missing", url="postgresql://lc:***@127.0.0.1/lc"
    )
    assert "(psycopg) não está instalado" in message
    assert "pip install 'littlecats[postgresql]'" in message and "hunter2" not in message
    with pytest.raises(StoreError, match=r"PostgreSQL support \(psycopg\) is not installed"):
        open_store("postgresql://lc:hunter2@127.0.0.1/lc", catalog=Catalog("en"))


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h:5432/db", "postgresql://u@h:5432/db"),
        ("postgresql://u:p%40ss@h1,h2:5433/db", "postgresql://u:***@h1,h2:5433/db"),
        (
            "postgres://u:p@h/db?sslmode=require&password=x",
            "postgres://u:***@h/db?sslmode=require&password=***",
        ),
        ("sqlite:littlecats.db", "sqlite:littlecats.db"),
    ],
)
def test_mask_url(url, masked):
    assert mask_url(url) == masked
