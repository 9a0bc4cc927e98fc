"""Rooms on the telnet door: /join, /part, /rooms, /names, /topic, and who hears what where."""

from __future__ import annotations

import pytest

from tests.helpers import Harness


@pytest.fixture
def chat() -> Harness:
    return Harness()


def _everyone_in(chat: Harness, room: str, *nicks: str) -> list:
    """Clients for C{nicks}, all moved to C{room}, with their output so far discarded."""
    clients = [chat.join(nick) for nick in nicks]
    for client in clients:
        client.line(f"/join {room}")
    chat.clear()
    return clients


class TestLanding:
    def test_connect_lands_in_the_lobby_with_only_the_seed_notice(self, chat):
        """Connecting says only the seed's sentence, and the newcomer is in the lobby."""
        ana = chat.join("ana")
        bia = chat.connect()
        bia.raw()
        bia.line("bia")
        assert bia.lines() == ["*** O cliente bia entrou no chat dos Little Cats."]
        assert ana.lines() == ["*** O cliente bia entrou no chat dos Little Cats."]
        bia.line("/names")
        assert bia.lines() == ["*** Na sala #lobby (2): ana, bia"]

    def test_lobby_topic_is_shown_on_connect(self, chat):
        """A newcomer reads the lobby's topic right after the join notice."""
        ana = chat.join("ana")
        ana.line("/topic bem-vindos")
        bia = chat.connect()
        bia.raw()
        bia.line("bia")
        assert bia.lines() == [
            "*** O cliente bia entrou no chat dos Little Cats.",
            "*** Tópico de #lobby: bem-vindos",
        ]

    def test_operator_names_the_lobby(self):
        """--lobby NAME is where everyone lands."""
        chat = Harness(lobby="#Saguão")
        ana = chat.join("ana")
        ana.line("/names")
        assert ana.lines() == ["*** Na sala #Saguão (1): ana"]
        ana.line("/part")
        assert ana.lines() == ["!!! Você está no saguão, #Saguão: não há sala para sair."]


class TestMoving:
    def test_join_tells_both_rooms_then_shows_names(self, chat):
        """Moving: the room left hears it (not the mover); the room entered, mover included,
        hears the arrival; then the mover alone gets the member list."""
        ana, bia, cid = chat.join("ana"), chat.join("bia"), chat.join("cid")
        cid.line("/join #gatos")
        chat.clear()
        ana.line("/join #gatos")
        assert ana.lines() == [
            "*** ana entrou na sala #gatos.",
            "*** Na sala #gatos (2): ana, cid",
        ]
        assert bia.lines() == ["*** ana saiu da sala #lobby."]
        assert cid.lines() == ["*** ana entrou na sala #gatos."]

    def test_join_shows_the_topic_before_the_names(self, chat):
        """A room with a topic shows it to the newcomer, between the notice and the names."""
        (cid,) = _everyone_in(chat, "#gatos", "cid")
        cid.line("/topic só gatos")
        ana = chat.join("ana")
        ana.line("/join #gatos")
        assert ana.lines() == [
            "*** ana entrou na sala #gatos.",
            "*** Tópico de #gatos: só gatos",
            "*** Na sala #gatos (2): ana, cid",
        ]

    def test_part_goes_back_to_the_lobby(self, chat):
        """/part leaves the room for the lobby, with the same notices as a move."""
        ana, bia = _everyone_in(chat, "#gatos", "ana", "bia")
        cid = chat.join("cid")
        chat.clear()
        ana.line("/part")
        assert ana.lines() == [
            "*** ana entrou na sala #lobby.",
            "*** Na sala #lobby (2): ana, cid",
        ]
        assert bia.lines() == ["*** ana saiu da sala #gatos."]
        assert cid.lines() == ["*** ana entrou na sala #lobby."]

    def test_part_in_the_lobby_is_an_error(self, chat):
        """There is nothing to /part from in the lobby."""
        ana = chat.join("ana")
        ana.line("/part")
        assert ana.lines() == ["!!! Você está no saguão, #lobby: não há sala para sair."]

    def test_part_naming_another_room_is_an_error(self, chat):
        """/part #x when you are not in #x leaves nothing."""
        (ana,) = _everyone_in(chat, "#gatos", "ana")
        ana.line("/part #cães")
        assert ana.lines() == ["!!! Você não está na sala #cães."]

    def test_join_current_room_is_an_error(self, chat):
        """Joining the room you are in, in any case, says so and moves nothing."""
        (ana,) = _everyone_in(chat, "#Gatos", "ana")
        ana.line("/join #GATOS")
        assert ana.lines() == ["!!! Você já está na sala #Gatos."]

    def test_room_names_ignore_case_and_keep_the_first_spelling(self, chat):
        """#Gatos and #gatos are one room, shown as first spelled."""
        (_ana,) = _everyone_in(chat, "#Gatos", "ana")
        bia = chat.join("bia")
        bia.line("/join #GATOS")
        assert bia.lines() == [
            "*** bia entrou na sala #Gatos.",
            "*** Na sala #Gatos (2): ana, bia",
        ]

    @pytest.mark.parametrize(
        ("name", "error"),
        [
            ("gatos", "!!! O nome de uma sala começa com #, como #gatos."),
            ("#", "!!! Falta o nome da sala depois do #."),
            (
                "#" + "g" * 33,
                "!!! O nome de uma sala pode ter no máximo 32 caracteres depois do #.",
            ),
            (
                "#a b",
                "!!! O nome de uma sala só pode ter letras, dígitos e _ - . depois do # "
                "(sem espaços ou símbolos).",
            ),
            ("#gato!", None),
            ("#😺", None),
        ],
    )
    def test_bad_room_names_are_refused_and_you_stay(self, chat, name, error):
        """A bad room name gets a !!! line saying why, and you stay where you were."""
        ana = chat.join("ana")
        ana.line(f"/join {name}")
        lines = ana.lines()
        assert len(lines) == 1 and lines[0].startswith("!!! ")
        if error is not None:
            assert lines == [error]
        ana.line("/names")
        assert ana.lines() == ["*** Na sala #lobby (1): ana"]

    def test_unicode_room_names_work(self, chat):
        """Room names may use letters of any script."""
        ana = chat.join("ana")
        ana.line("/join #猫の部屋")
        assert ana.lines()[0] == "*** ana entrou na sala #猫の部屋."

    def test_join_needs_a_name(self, chat):
        """/join alone explains its usage."""
        ana = chat.join("ana")
        ana.line("/join")
        assert ana.lines() == ["!!! Uso: /join #sala"]


class TestTalking:
    def test_text_and_actions_stay_in_the_room(self, chat):
        """Plain text and /me reach the sender's room, sender included, and no one else."""
        ana, bia = _everyone_in(chat, "#gatos", "ana", "bia")
        cid = chat.join("cid")
        chat.clear()
        ana.line("miau")
        ana.line("/me ronrona")
        assert ana.lines() == bia.lines() == ["<ana> miau", "* ana ronrona"]
        assert cid.lines() == []

    def test_private_messages_cross_rooms(self, chat):
        """/msg reaches anyone connected, whatever room each is in."""
        (ana,) = _everyone_in(chat, "#gatos", "ana")
        bia = chat.join("bia")
        chat.clear()
        ana.line("/msg bia oi")
        assert bia.lines() == ["[privado de ana] oi"]
        assert ana.lines() == ["[privado para bia] oi"]

    def test_every_member_of_a_room_sees_one_order(self, chat):
        """Interleaved lines, moves and actions in a room reach its members in one order."""
        ana, bia, cid = _everyone_in(chat, "#gatos", "ana", "bia", "cid")
        for i in range(5):
            ana.line(f"a{i}")
            bia.line(f"b{i}")
            cid.line(f"/me c{i}")
        dan = chat.join("dan")
        dan.line("/join #gatos")
        ana.line("fim")
        seen = [client.lines() for client in (ana, bia, cid)]
        assert seen[0] == seen[1] == seen[2]
        assert seen[0][-2:] == ["*** dan entrou na sala #gatos.", "<ana> fim"]
        assert dan.lines()[-1] == "<ana> fim"

    def test_renames_and_departures_reach_every_room(self, chat):
        """Connecting, leaving and renaming are told to everyone connected, in any room."""
        ana, _bia = _everyone_in(chat, "#gatos", "ana", "bia")
        cid = chat.join("cid")
        ana.raw()
        cid.line("/nick cida")
        assert ana.lines() == ["*** cid agora se chama cida."]
        cid.line("/quit tchau")
        assert ana.lines() == ["*** cida saiu do chat dos Little Cats. (tchau)"]


class TestListing:
    def test_rooms_lists_biggest_first_with_topics(self, chat):
        """/rooms shows every room with its member count and topic, biggest first."""
        _everyone_in(chat, "#gatos", "ana", "bia")
        (cid,) = _everyone_in(chat, "#cães", "cid")
        cid.line("/topic au au")
        dan = chat.join("dan")
        dan.line("/rooms")
        assert dan.lines() == [
            "*** Salas (3):",
            "***   #gatos (2)",
            "***   #cães (1): au au",
            "***   #lobby (1)",
        ]

    def test_a_room_vanishes_when_its_last_member_leaves(self, chat):
        """A room exists while it has members."""
        (ana,) = _everyone_in(chat, "#gatos", "ana")
        ana.line("/topic antigo")
        ana.line("/part")
        ana.raw()
        ana.line("/rooms")
        assert ana.lines() == ["*** Salas (1):", "***   #lobby (1)"]
        ana.line("/names #gatos")
        assert ana.lines() == [
            "!!! A sala #gatos não existe (uma sala existe enquanto tem alguém nela)."
        ]
        ana.line("/join #gatos")
        ana.raw()
        ana.line("/topic")
        assert ana.lines() == ["*** A sala #gatos não tem tópico."]

    def test_names_of_another_room(self, chat):
        """/names #room lists another room's members, sorted without regard to case."""
        _everyone_in(chat, "#gatos", "Bia", "ana")
        cid = chat.join("cid")
        cid.line("/names #GATOS")
        assert cid.lines() == ["*** Na sala #gatos (2): ana, Bia"]

    def test_long_names_list_is_split(self, chat):
        """A long member list continues on further *** lines."""
        nicks = [f"gato{i:02d}_{'x' * 16}" for i in range(40)]
        _everyone_in(chat, "#gatos", *nicks)
        probe = chat.join("zz")
        probe.line("/names #gatos")
        lines = probe.lines()
        assert lines[0].startswith("*** Na sala #gatos (40): gato00_")
        assert len(lines) > 1
        listed = ", ".join(
            line.split(": ", 1)[1] if i == 0 else line[4:] for i, line in enumerate(lines)
        )
        assert listed.split(", ") == nicks

    def test_users_still_lists_everyone(self, chat):
        """/users lists everyone connected, whatever their room."""
        (ana,) = _everyone_in(chat, "#gatos", "ana")
        chat.join("bia")
        chat.clear()
        ana.line("/users")
        assert ana.lines() == ["*** Usuários conectados (2): ana, bia"]


class TestTopic:
    def test_setting_the_topic_tells_the_room(self, chat):
        """/topic text sets the topic; the room's members see who set it to what."""
        ana, bia = _everyone_in(chat, "#gatos", "ana", "bia")
        cid = chat.join("cid")
        chat.clear()
        bia.line("/topic hora da ração")
        expected = ["*** bia mudou o tópico de #gatos para: hora da ração"]
        assert ana.lines() == bia.lines() == expected
        assert cid.lines() == []
        ana.line("/topic")
        assert ana.lines() == ["*** Tópico de #gatos: hora da ração"]

    def test_topic_has_a_length_bound(self, chat):
        """An over-long topic is refused with a !!! line."""
        ana = chat.join("ana")
        ana.line("/topic " + "t" * 301)
        assert ana.lines() == ["!!! O tópico pode ter no máximo 300 caracteres."]


class TestQuietAbove:
    def test_quiet_above_counts_the_room(self):
        """--quiet-above counts a room's members: a big room's moves are told to the mover
        alone, while a small room still hears them."""
        chat = Harness(quiet_above=2)
        big = _everyone_in(chat, "#grande", "a1", "a2")
        (small,) = _everyone_in(chat, "#pequena", "b1")
        mover = chat.join("m")
        chat.clear()
        mover.line("/join #grande")
        assert mover.lines()[0] == "*** m entrou na sala #grande."
        assert [client.lines() for client in big] == [[], []]
        mover.line("/join #pequena")
        assert small.lines() == ["*** m entrou na sala #pequena."]
        assert [client.lines() for client in big] == [[], []]


class TestEnglish:
    def test_room_lines_in_english(self):
        """With --lang en, the room lines are English."""
        chat = Harness(lang="en")
        ana, bia = chat.join("ana"), chat.join("bia")
        chat.clear()
        ana.line("/join #cats")
        assert ana.lines() == ["*** ana joined #cats.", "*** In #cats (1): ana"]
        assert bia.lines() == ["*** ana left #lobby."]
        ana.line("/topic meow")
        assert ana.lines() == ["*** ana set the topic of #cats to: meow"]
        ana.line("/rooms")
        assert ana.lines() == ["*** Rooms (2):", "***   #cats (1): meow", "***   #lobby (1)"]
        bia.line("/part")
        assert bia.lines() == ["!!! You are in the lobby, #lobby: there is no room to leave."]


def test_help_lists_the_room_commands(chat):
    """/help covers /join, /part, /rooms, /names and /topic."""
    ana = chat.join("ana")
    ana.line("/help")
    text = "\n".join(ana.lines())
    for command in ("/join", "/part", "/rooms", "/names", "/topic"):
        assert command in text


def test_the_lobby_keeps_its_spelling_when_recreated(chat):
    """An emptied lobby re-created by /join #LOBBY is still shown as the operator spelled it."""
    (ana,) = _everyone_in(chat, "#gatos", "ana")
    ana.line("/join #LOBBY")
    assert ana.lines()[0] == "*** ana entrou na sala #lobby."
