"""Tests for the telnet door (doors/telnet, session, commands), driven through StringTransport."""

from __future__ import annotations

import pytest
from twisted.internet.address import UNIXAddress
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher

from littlecats.doors.telnet.nvt import DO, IAC, WILL, WONT
from littlecats.session import State
from tests.helpers import Harness


@pytest.fixture
def chat() -> Harness:
    return Harness("pt")


@pytest.fixture
def logged():
    """Every log event emitted while the test runs."""
    seen: list[dict] = []
    globalLogPublisher.addObserver(seen.append)
    yield seen
    globalLogPublisher.removeObserver(seen.append)


def _formatted(logged: list[dict]) -> list[str]:
    from twisted.logger import formatEvent

    return [formatEvent(event) for event in logged]


class TestHandshake:
    def test_greeting_ends_with_prompt(self, chat):
        """A new connection sees a greeting whose last line is the nickname prompt."""
        client = chat.connect()
        assert client.lines() == ["*** Bem-vindo ao chat dos Little Cats!", "Escolha seu apelido:"]

    def test_accepted_nickname_announced_to_everyone(self, chat):
        """Choosing a nickname announces the newcomer to everyone, the newcomer included."""
        ana = chat.join("ana")
        bia = chat.connect()
        bia.raw()
        bia.line("  bia  ")
        expected = ["*** O cliente bia entrou no chat dos Little Cats."]
        assert bia.lines() == expected
        assert ana.lines() == expected

    def test_join_is_logged_with_ip_and_port(self, chat, logged):
        """The server log says who connected, from which IP and port."""
        client = chat.connect()
        client.line("ana")
        port = client.transport.getPeer().port
        assert f"ana se conectou com o IP 127.0.0.1 por meio da porta {port}." in _formatted(logged)

    @pytest.mark.parametrize(
        ("nick", "error"),
        [
            ("", "!!! O apelido não pode ser vazio."),
            ("a" * 25, "!!! O apelido pode ter no máximo 24 caracteres."),
            (
                "ana maria",
                "!!! O apelido só pode ter letras, dígitos e _ - . (sem espaços nem símbolos).",
            ),
            (
                "ana!",
                "!!! O apelido só pode ter letras, dígitos e _ - . (sem espaços nem símbolos).",
            ),
        ],
    )
    def test_invalid_nickname_reprompts(self, chat, nick, error):
        """An invalid nickname gets one !!! line saying why, then the prompt again."""
        client = chat.connect()
        client.raw()
        client.line(nick)
        assert client.lines() == [error, "Escolha seu apelido:"]
        client.line("ana")
        assert client.lines() == ["*** O cliente ana entrou no chat dos Little Cats."]

    def test_taken_nickname_ignores_case(self, chat):
        """A nickname differing only in case (or normalisation) from a connected one is taken."""
        chat.join("José")
        client = chat.connect()
        client.raw()
        client.line("JOSE\u0301")
        assert client.lines() == ["!!! O apelido JOSÉ já está em uso.", "Escolha seu apelido:"]
        assert client.session.state is State.NICKNAME

    def test_chat_commands_unavailable_before_nickname(self, chat):
        """Before choosing a nickname, what is typed is taken as a nickname, never as chat."""
        ana = chat.join("ana")
        client = chat.connect()
        client.raw()
        client.line("/users")
        assert client.lines()[0].startswith("!!! ")
        assert ana.lines() == []

    def test_leaving_during_handshake_is_silent(self, chat):
        """A connection that leaves before choosing a nickname causes no notice."""
        ana = chat.join("ana")
        client = chat.connect()
        client.line("bad nick")
        client.drop()
        assert ana.lines() == []

    def test_unix_peer_is_refused(self, chat, logged):
        """A peer without IP and port gets an error line, is disconnected, and it is logged."""
        transport = StringTransport(peerAddress=UNIXAddress(b"/tmp/sock"))
        protocol = chat.factory.buildProtocol(transport.getPeer())
        protocol.makeConnection(transport)
        assert (
            transport.value()
            == (
                "!!! Não foi possível identificar o seu IP e porta; a conexão será encerrada.\r\n"
            ).encode()
        )
        assert transport.disconnecting
        assert any("não tem IP e porta" in line for line in _formatted(logged))
        protocol.dataReceived(b"ana\r\n")
        protocol.connectionLost(None)
        assert chat.service.members == {}


class TestChat:
    def test_public_message_reaches_everyone_in_order(self, chat):
        """Plain text goes to everyone, sender included, as <NICK> text, in the same order."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        ana.line("olá")
        bia.line("oi, ana")
        expected = ["<ana> olá", "<bia> oi, ana"]
        assert ana.lines() == expected
        assert bia.lines() == expected

    def test_broadcast_writes_identical_bytes(self, chat):
        """Every recipient of a broadcast receives exactly the same bytes."""
        clients = [chat.join(f"u{i}") for i in range(5)]
        for client in clients:
            client.raw()
        clients[0].line("mesmo texto")
        assert len({client.raw() for client in clients}) == 1

    def test_double_slash_sends_slash_text(self, chat):
        """//text is sent as the plain text /text."""
        ana = chat.join("ana")
        ana.line("//help me")
        assert ana.lines() == ["<ana> /help me"]

    def test_empty_line_ignored(self, chat):
        """An empty (or blank) line sends nothing."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        ana.line("")
        ana.line("   ")
        assert ana.lines() == [] and bia.lines() == []

    @pytest.mark.parametrize("command", ["/msg", "/w", "/MSG"])
    def test_private_message(self, chat, command):
        """/msg (or /w) reaches only its recipient; the sender sees a copy."""
        ana, bia, cid = chat.join("ana"), chat.join("bia"), chat.join("cid")
        ana.raw()
        bia.raw()
        ana.line(f"{command} BIA psiu, tudo bem?")
        assert bia.lines() == ["[privado de ana] psiu, tudo bem?"]
        assert ana.lines() == ["[privado para bia] psiu, tudo bem?"]
        assert cid.lines() == []

    def test_private_message_to_absent_nick(self, chat):
        """/msg to a nickname that is not connected names it in an error and sends nothing."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        ana.line("/msg zé oi")
        assert ana.lines() == ["!!! O cliente zé não está conectado; nada foi enviado."]
        assert bia.lines() == []

    @pytest.mark.parametrize("line", ["/msg", "/msg bia", "/msg bia   "])
    def test_private_message_usage(self, chat, line):
        """/msg without a recipient or text explains its usage."""
        ana = chat.join("ana")
        ana.line(line)
        assert ana.lines() == ["!!! Uso: /msg APELIDO texto"]

    @pytest.mark.parametrize("command", ["/users", "/list", "/who", "/Users"])
    def test_users_lists_everyone(self, chat, command):
        """/users (and /list, /who) lists every connected nickname."""
        chat.join("bia")
        ana = chat.join("Ana")
        ana.line(command)
        assert ana.lines() == ["*** Usuários conectados (2): Ana, bia"]

    def test_users_when_alone(self, chat):
        """/users when nobody else is connected says so."""
        ana = chat.join("ana")
        ana.line("/users")
        assert ana.lines() == ["*** Nenhum outro usuário está conectado."]

    def test_users_long_list_is_split(self, chat):
        """A long user list comes as several *** lines, none of them huge, naming everyone."""
        nicks = [f"gato{i:03d}_{'x' * 15}" for i in range(100)]
        clients = [chat.join(nick) for nick in nicks]
        clients[0].raw()
        clients[0].line("/users")
        lines = clients[0].lines()
        assert len(lines) > 1
        assert all(line.startswith("*** ") and len(line) < 512 for line in lines)
        assert lines[0].startswith("*** Usuários conectados (100): ")
        listed = ", ".join(
            line.split(": ", 1)[-1] if i == 0 else line[4:] for i, line in enumerate(lines)
        )
        assert listed.split(", ") == nicks

    def test_rename(self, chat):
        """/nick changes the nickname, everyone sees it, and the old one is free again."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        ana.line("/nick ana_maria")
        expected = ["*** ana agora se chama ana_maria."]
        assert ana.lines() == expected and bia.lines() == expected
        ana.line("depois")
        assert bia.lines() == ["<ana_maria> depois"]
        newcomer = chat.connect()
        newcomer.line("ana")
        assert newcomer.lines()[-1] == "*** O cliente ana entrou no chat dos Little Cats."

    def test_rename_to_own_nick_with_other_case(self, chat):
        """/nick can change just the case of one's own nickname."""
        ana = chat.join("ana")
        ana.line("/nick Ana")
        assert ana.lines() == ["*** ana agora se chama Ana."]

    @pytest.mark.parametrize(
        ("line", "error"),
        [
            ("/nick", "!!! Uso: /nick NOVO_APELIDO"),
            ("/nick BIA", "!!! O apelido BIA já está em uso."),
            ("/nick ana", "!!! Você já usa o apelido ana."),
            (
                "/nick a/b",
                "!!! O apelido só pode ter letras, dígitos e _ - . (sem espaços nem símbolos).",
            ),
        ],
    )
    def test_rename_refused(self, chat, line, error):
        """/nick is validated like the handshake; a refusal changes nothing."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        ana.line(line)
        assert ana.lines() == [error]
        assert bia.lines() == []
        assert chat.service.nicknames() == ["ana", "bia"]

    def test_me(self, chat):
        """/me action is shown to everyone as * NICK action."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        ana.line("/me mia baixinho")
        assert ana.lines() == bia.lines() == ["* ana mia baixinho"]
        ana.line("/me")
        assert ana.lines() == ["!!! Uso: /me ação"]

    def test_quit(self, chat):
        """/quit says goodbye, closes the connection, and the others see the leave notice."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        bia.line("/quit")
        assert bia.lines() == ["*** Até logo, bia!"]
        assert bia.closed
        assert ana.lines() == ["*** bia saiu do chat dos Little Cats."]
        bia.drop()
        assert ana.lines() == []
        assert chat.service.nicknames() == ["ana"]

    def test_quit_with_reason(self, chat):
        """/quit with a reason shows the reason after the leave notice."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        bia.line("/quit hora do almoço")
        assert ana.lines() == ["*** bia saiu do chat dos Little Cats. (hora do almoço)"]

    def test_a_quit_held_by_the_flood_limit_keeps_its_reason_when_the_client_hangs_up(self):
        """Lines still waiting behind the flood limit go with the connection, but a /quit
        among them still says why."""
        chat = Harness(flood_rate=1, flood_burst=4)  # the two nicknames take two
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        bia.send(b"um\r\ndois\r\ntres\r\n/quit hora do almo\xc3\xa7o\r\n")
        assert ana.lines() == ["<bia> um", "<bia> dois"]
        bia.drop()
        assert ana.lines() == ["*** bia saiu do chat dos Little Cats. (hora do almoço)"]

    def test_input_after_quit_is_ignored(self, chat):
        """Lines that arrive after /quit (in the same packet) are not relayed."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        bia.send(b"/quit\r\nfantasma\r\n")
        assert ana.lines() == ["*** bia saiu do chat dos Little Cats."]

    def test_drop_announced_once(self, chat):
        """A dropped connection is announced to the others exactly once."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        bia.drop()
        bia.drop()
        assert ana.lines() == ["*** bia saiu do chat dos Little Cats."]

    def test_help(self, chat):
        """/help lists every command with a description, as *** lines."""
        ana = chat.join("ana")
        ana.line("/help")
        lines = ana.lines()
        assert all(line.startswith("*** ") for line in lines)
        text = "\n".join(lines)
        for command in (
            "/msg",
            "/w",
            "/users",
            "/list",
            "/who",
            "/nick",
            "/me",
            "/quit",
            "/help",
            "//",
        ):
            assert command in text

    def test_unknown_command(self, chat):
        """An unknown /command gets an error pointing to /help."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        ana.line("/dance now")
        assert ana.lines() == [
            "!!! Comando desconhecido: /dance. Digite /help para ver os comandos."
        ]
        assert bia.lines() == []


class TestWire:
    def test_line_ends_accepted(self, chat):
        """LF, CRLF, CR NUL and a bare CR all end a line."""
        ana = chat.join("ana")
        ana.send(b"um\ndois\r\ntres\r\x00quatro\rcinco\r")
        assert ana.lines() == [
            "<ana> um",
            "<ana> dois",
            "<ana> tres",
            "<ana> quatro",
            "<ana> cinco",
        ]

    def test_byte_by_byte(self, chat):
        """A session typed one byte per packet (telnet character mode) works the same."""
        client = chat.connect()
        client.raw()
        for byte in "joão\r\nolá, mundo\r\n".encode():
            client.send(bytes((byte,)))
        assert client.lines() == [
            "*** O cliente joão entrou no chat dos Little Cats.",
            "<joão> olá, mundo",
        ]

    def test_backspace_edits_line(self, chat):
        """Backspace and DEL typed in character mode edit the line instead of being relayed."""
        ana = chat.join("ana")
        ana.send(b"gatp\x08o\x7fos\r\n")
        assert ana.lines() == ["<ana> gatos"]

    def test_telnet_negotiation_refused_and_hidden(self, chat):
        """Option requests are refused per RFC 854 and never appear in the chat."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        bia.send(bytes((IAC, DO, 1)) + b"oi" + bytes((IAC, WILL, 31, IAC, 0xEC)) + b"!\r\n")
        assert bia.raw() == bytes((IAC, WONT, 1, IAC, 0xFE, 31)) + b"<bia> oi!\r\n"
        assert ana.lines() == ["<bia> oi!"]

    def test_server_never_starts_negotiation(self, chat):
        """A plain netcat sees clean text: the server sends no IAC on its own."""
        client = chat.connect()
        client.line("ana")
        client.line("oi")
        assert b"\xff" not in client.raw()

    def test_long_line_discarded_connection_goes_on(self, chat):
        """A line over 2048 bytes gets an error, is discarded, and the next lines still work."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        bia.send(b"x" * 3000 + b"\r\nde novo\r\n")
        assert bia.lines() == [
            "!!! Linha longa demais (máximo de 2048 bytes); ela foi descartada.",
            "<bia> de novo",
        ]
        assert ana.lines() == ["<bia> de novo"]
        assert not bia.closed

    def test_long_line_in_pieces(self, chat):
        """An over-long line arriving in many packets is reported once and discarded whole."""
        ana = chat.join("ana")
        for _ in range(10):
            ana.send(b"y" * 1000)
        ana.send(b"fim\r\nok\r\n")
        assert ana.lines() == [
            "!!! Linha longa demais (máximo de 2048 bytes); ela foi descartada.",
            "<ana> ok",
        ]

    def test_line_of_exactly_limit(self, chat):
        """A line of exactly 2048 bytes is accepted."""
        ana = chat.join("ana")
        ana.send(b"z" * 2048 + b"\n")
        assert ana.lines() == ["<ana> " + "z" * 2048]

    def test_invalid_utf8_is_decoded_as_cp1252(self, chat):
        """Latin-1/cp1252 bytes from old clients are read as such; nothing crashes."""
        ana = chat.join("ana")
        ana.send(b"ol\xe1 \x93aspas\x94 \xc3\xa9\r\n")
        assert ana.lines() == ["<ana> olá \u201caspas\u201d é"]

    def test_escape_sequences_removed(self, chat):
        """ANSI escapes, control and bidi characters never reach other terminals."""
        ana, bia = chat.join("ana"), chat.join("bia")
        ana.raw()
        bia.send("\x1b[2J\x1b[31mvermelho\x1b[0m \x07sino \u202eevil\x1b]0;título\x07\r\n".encode())
        assert ana.lines() == ["<bia> vermelho sino evil"]

    def test_nickname_cannot_smuggle_escapes(self, chat):
        """Escape sequences typed into a nickname are removed before it is checked."""
        client = chat.connect()
        client.raw()
        client.send(b"\x1b[31mana\r\n")
        assert client.lines() == ["*** O cliente ana entrou no chat dos Little Cats."]


class TestEnglish:
    def test_english_strings(self):
        """With --lang en every line is in English."""
        chat = Harness("en")
        client = chat.connect()
        assert client.lines() == ["*** Welcome to the Little Cats chat!", "Choose your nickname:"]
        client.line("ana")
        bia = chat.join("bia")
        client.raw()
        bia.line("/msg ana hi")
        assert client.lines() == ["[private from bia] hi"]
        assert bia.lines() == ["[private to ana] hi"]
        bia.line("/users")
        assert bia.lines() == ["*** Connected users (2): ana, bia"]
        bia.line("/quit")
        assert client.lines() == ["*** bia left the Little Cats chat."]
        client.line("/users")
        assert client.lines() == ["*** No other users are connected."]
