"""
Room history over the telnet door: what a latecomer sees on entering a room (the lobby at
connect included), the seam between history and live traffic, /history paging, --history 0,
and history surviving a restart on the same store.
"""

from __future__ import annotations

import re

from twisted.internet import defer

from littlecats.storage.interface import SAID, StoredLine
from littlecats.storage.memory import MemoryStore
from tests.helpers import Harness

STAMP = r"\[\d\d/\d\d/\d{4} \d\d:\d\d\] "


def unstamped(lines: list[str]) -> list[str]:
    """C{lines} with history time stamps replaced by C{[T] }."""
    return [re.sub("^" + STAMP, "[T] ", line) for line in lines]


def test_a_latecomer_sees_the_lobbys_last_lines_then_live_traffic():
    chat = Harness(history=20)
    ana = chat.join("ana")
    ana.line("oi, gatos")
    ana.line("/me boceja")
    bob = chat.connect()
    bob.raw()
    bob.line("bob")
    ana.line("chegou o bob")
    assert unstamped(bob.lines()) == [
        "*** Antes de você chegar em #lobby (2):",
        "[T] <ana> oi, gatos",
        "[T] * ana boceja",
        "*** Fim do histórico de #lobby.",
        "*** O cliente bob entrou no chat dos Little Cats.",
        "<ana> chegou o bob",
    ]


def test_history_lines_carry_their_time():
    chat = Harness(history=20)
    chat.clock.advance(1_800_000_000)  # 2027-01-15 08:00 UTC
    chat.join("ana").line("bom dia")
    bob = chat.join("bob")  # join() reads and discards; look at what the next one gets
    del bob
    carl = chat.connect()
    carl.raw()
    carl.line("carl")
    line = carl.lines()[1]
    assert re.fullmatch(STAMP + "<ana> bom dia", line), line
    assert "/01/2027 " in line


def test_only_the_last_lines_are_replayed():
    chat = Harness(history=5)
    ana = chat.join("ana")
    for n in range(12):
        ana.line(f"linha {n}")
    bob = chat.connect()
    bob.raw()
    bob.line("bob")
    assert unstamped(bob.lines())[:7] == [
        "*** Antes de você chegar em #lobby (5):",
        *[f"[T] <ana> linha {n}" for n in range(7, 12)],
        "*** Fim do histórico de #lobby.",
    ]


def test_entering_a_room_replays_its_lines_before_the_join_notice():
    chat = Harness(history=20)
    ana = chat.join("ana")
    ana.line("/join #gatos")
    ana.line("miau")
    bob = chat.join("bob")
    bob.line("/join #gatos")
    assert unstamped(bob.lines()) == [
        "*** Antes de você chegar em #gatos (1):",
        "[T] <ana> miau",
        "*** Fim do histórico de #gatos.",
        "*** bob entrou na sala #gatos.",
        "*** Na sala #gatos (2): ana, bob",
    ]


def test_lines_not_yet_written_are_replayed_once_after_the_room_emptied():
    chat = Harness(history=20)
    ana = chat.join("ana")
    ana.line("/join #gatos")
    ana.line("um")
    ana.line("dois")
    ana.line("/part")  # the room is gone; its lines may still be waiting to be written
    assert chat.writer.pending == 2
    bob = chat.join("bob")
    bob.line("/join #gatos")
    assert unstamped(bob.lines())[:4] == [
        "*** Antes de você chegar em #gatos (2):",
        "[T] <ana> um",
        "[T] <ana> dois",
        "*** Fim do histórico de #gatos.",
    ]
    chat.clock.advance(0)
    assert chat.writer.pending == 0
    carl = chat.join("carl")
    carl.line("/join #gatos")
    assert [line for line in unstamped(carl.lines()) if line.startswith("[T]")] == [
        "[T] <ana> um",
        "[T] <ana> dois",
    ]


class HeldStore(MemoryStore):
    """A store whose reads of recent lines wait until the test lets them through."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[tuple[defer.Deferred, defer.Deferred]] = []

    def recent_lines(self, room, before, limit):
        answer = super().recent_lines(room, before, limit)
        waiting: defer.Deferred = defer.Deferred()
        self.held.append((waiting, answer))
        return waiting

    def release(self) -> None:
        held, self.held = self.held, []
        for waiting, answer in held:
            answer.chainDeferred(waiting)


def test_the_seam_after_a_restart_loses_and_repeats_nothing():
    store = HeldStore()
    old = [StoredLine(n, "#gatos", 1000.0 + n, SAID, "velha", f"antes {n}") for n in (1, 2)]
    store.append_lines(old)
    chat = Harness(history=20, store=store)
    ana = chat.connect()
    ana.raw()
    ana.line("ana")
    store.release()
    ana.raw()
    ana.line("/join #gatos")  # the room's lines are loading: ana waits, typing ahead
    ana.line("depois")
    assert ana.lines() == []
    store.release()
    assert unstamped(ana.lines()) == [
        "*** Antes de você chegar em #gatos (2):",
        "[T] <velha> antes 1",
        "[T] <velha> antes 2",
        "*** Fim do histórico de #gatos.",
        "*** ana entrou na sala #gatos.",
        "*** Na sala #gatos (1): ana",
        "<ana> depois",
    ]


def test_history_pages_further_back_on_repeated_calls():
    chat = Harness(history=3)
    ana = chat.join("ana")
    for n in range(10):
        ana.line(f"l{n}")
    chat.clock.advance(0)  # written: some lines come from the store, some from the ring
    ana.line("l10")
    bob = chat.join("bob")  # replayed l8, l9, l10
    bob.line("/history 4")
    assert unstamped(bob.lines()) == [
        "*** Antes de você chegar em #lobby (4):",
        *[f"[T] <ana> l{n}" for n in range(4, 8)],
        "*** Fim do histórico de #lobby.",
    ]
    bob.line("/history")
    assert [line for line in unstamped(bob.lines()) if line.startswith("[T]")] == [
        f"[T] <ana> l{n}" for n in range(4)
    ]
    bob.line("/history")
    assert bob.lines() == ["*** Não há mensagens anteriores em #lobby."]


def test_history_finds_lines_still_waiting_to_be_written():
    chat = Harness(history=1)
    ana = chat.join("ana")
    for n in range(4):
        ana.line(f"l{n}")
    assert chat.writer.pending == 4
    bob = chat.join("bob")  # replayed l3
    bob.line("/history 10")
    assert [line for line in unstamped(bob.lines()) if line.startswith("[T]")] == [
        f"[T] <ana> l{n}" for n in range(3)
    ]


def test_history_pages_back_from_what_a_member_saw_on_entry():
    chat = Harness(history=20)
    ana = chat.join("ana")
    ana.line("ana viu esta ao vivo")
    ana.line("/history")
    assert ana.lines() == [
        "<ana> ana viu esta ao vivo",
        "*** Não há mensagens anteriores em #lobby.",
    ]


def test_history_usage():
    chat = Harness(history=20)
    ana = chat.join("ana")
    for argument in ("0", "201", "muitas", "-3"):
        ana.line(f"/history {argument}")
        assert ana.lines() == ["!!! Uso: /history [N], com N de 1 a 200"]


def test_history_zero_keeps_nothing():
    store = MemoryStore()
    chat = Harness(history=0, store=store)
    ana = chat.join("ana")
    ana.line("nada disso fica")
    bob = chat.connect()
    bob.raw()
    bob.line("bob")
    assert bob.lines()[0] == "*** O cliente bob entrou no chat dos Little Cats."
    bob.line("/history")
    assert bob.lines() == ["!!! Este servidor não guarda histórico."]
    chat.clock.advance(1)
    assert store.recent_lines("#lobby", None, 10).result == []


def test_history_survives_a_restart_on_the_same_store():
    store = MemoryStore()
    first = Harness(history=20, store=store)
    first.join("ana").line("antes do reinício")
    first.clock.advance(0)
    second = Harness(history=20, store=store)
    second.service.startService()
    bob = second.connect()
    bob.raw()
    bob.line("bob")
    assert unstamped(bob.lines())[:3] == [
        "*** Antes de você chegar em #lobby (1):",
        "[T] <ana> antes do reinício",
        "*** Fim do histórico de #lobby.",
    ]


def test_a_store_that_cannot_be_read_does_not_stop_anyone_entering():
    class Broken(MemoryStore):
        def recent_lines(self, room, before, limit):
            return defer.fail(OSError("disk on fire"))

    chat = Harness(history=20, store=Broken())
    ana = chat.connect()
    ana.raw()
    ana.line("ana")
    assert ana.lines() == ["*** O cliente ana entrou no chat dos Little Cats."]
    ana.line("ainda falo")
    assert ana.lines() == ["<ana> ainda falo"]
    ana.line("/history")
    assert ana.lines() == ["!!! O histórico não pode ser lido agora; tente de novo mais tarde."]


def test_chat_goes_on_while_the_database_fails_and_nothing_is_lost_when_it_is_back():
    class Flaky(MemoryStore):
        down = True

        def append_lines(self, lines):
            if self.down:
                return defer.fail(OSError("database unreachable"))
            return super().append_lines(lines)

    store = Flaky()
    chat = Harness(history=20, store=store)
    ana = chat.join("ana")
    bob = chat.join("bob")
    for n in range(3):
        ana.line(f"durante a queda {n}")
        chat.clock.advance(0)
    assert bob.lines()[-3:] == [f"<ana> durante a queda {n}" for n in range(3)]
    assert chat.writer.failures >= 1 and chat.writer.pending == 3
    store.down = False
    chat.clock.advance(60)  # the writer's next retry
    assert chat.writer.pending == 0
    stored = store.recent_lines("#lobby", None, 10).result
    assert [line.text for line in stored] == [f"durante a queda {n}" for n in range(3)]
