"""
Tests of the client's protocol layer: line classification, framing and the chat session,
driven through `StringTransport` and a memory clock, fed byte by byte where framing matters.
"""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer
from zope.interface.verify import verifyObject

from littlecats.client.lines import Classifier, Kind, Line
from littlecats.client.protocol import (
    MAX_LINE_BYTES,
    QUIT_GRACE_SECONDS,
    ChatSession,
    IChatView,
    SessionFailed,
    State,
)
from littlecats.messages import Catalog

PT_LINES = [
    ("<bob> olá, tudo bem?", Kind.PUBLIC, {"nick": "bob", "text": "olá, tudo bem?"}),
    ("* bob acena", Kind.ACTION, {"nick": "bob", "text": "acena"}),
    ("[privado de bob] psst", Kind.PRIVATE_IN, {"nick": "bob", "text": "psst"}),
    ("[privado para bob] oi", Kind.PRIVATE_OUT, {"nick": "bob", "text": "oi"}),
    ("*** O cliente bob entrou no chat dos Little Cats.", Kind.JOINED, {"nick": "bob"}),
    ("*** bob saiu do chat dos Little Cats.", Kind.LEFT, {"nick": "bob"}),
    ("*** bob saiu do chat dos Little Cats. (até)", Kind.LEFT, {"nick": "bob", "reason": "até"}),
    ("*** bob agora se chama rob.", Kind.RENAMED, {"old": "bob", "new": "rob"}),
    ("*** Usuários conectados (2): ana, bob", Kind.USERS, {"count": "2", "nicks": "ana, bob"}),
    ("*** Nenhum outro usuário está conectado.", Kind.ALONE, {}),
    ("*** Até logo, bob!", Kind.GOODBYE, {"nick": "bob"}),
    ("*** bob entrou na sala #gatos.", Kind.ROOM_JOINED, {"nick": "bob", "room": "#gatos"}),
    ("*** bob saiu da sala #Café.", Kind.ROOM_LEFT, {"nick": "bob", "room": "#Café"}),
    ("*** Tópico de #gatos: miau, miau!", Kind.TOPIC, {"room": "#gatos", "topic": "miau, miau!"}),
    ("*** A sala #gatos não tem tópico.", Kind.TOPIC_NONE, {"room": "#gatos"}),
    (
        "*** bob mudou o tópico de #gatos para: só gatos",
        Kind.TOPIC_SET,
        {"nick": "bob", "room": "#gatos", "topic": "só gatos"},
    ),
    (
        "*** Na sala #gatos (2): ana, bob",
        Kind.NAMES,
        {"room": "#gatos", "count": "2", "nicks": "ana, bob"},
    ),
    ("*** Salas (2):", Kind.ROOMS, {"count": "2"}),
    ("***   #saguão (3)", Kind.ROOMS_ENTRY, {"room": "#saguão", "count": "3"}),
    (
        "***   #gatos (2): miau (e mais)",
        Kind.ROOMS_ENTRY,
        {"room": "#gatos", "count": "2", "topic": "miau (e mais)"},
    ),
    ("Escolha seu apelido:", Kind.PROMPT, {}),
    ("*** Bem-vindo ao chat dos Little Cats!", Kind.NOTICE, {}),
    ("!!! O apelido bob já está em uso.", Kind.ERROR, {}),
    ("something else entirely", Kind.TEXT, {}),
]
EN_LINES = [
    ("<bob> hi there", Kind.PUBLIC, {"nick": "bob", "text": "hi there"}),
    ("* bob waves", Kind.ACTION, {"nick": "bob", "text": "waves"}),
    ("[private from bob] psst", Kind.PRIVATE_IN, {"nick": "bob", "text": "psst"}),
    ("[private to bob] hi", Kind.PRIVATE_OUT, {"nick": "bob", "text": "hi"}),
    ("*** bob joined the Little Cats chat.", Kind.JOINED, {"nick": "bob"}),
    ("*** bob left the Little Cats chat.", Kind.LEFT, {"nick": "bob"}),
    ("*** bob is now known as rob.", Kind.RENAMED, {"old": "bob", "new": "rob"}),
    ("*** Connected users (2): ana, bob", Kind.USERS, {"count": "2", "nicks": "ana, bob"}),
    ("Choose your nickname:", Kind.PROMPT, {}),
    ("!!! Unknown command: /x. Type /help to see the commands.", Kind.ERROR, {}),
    ("*** bob joined #cats.", Kind.ROOM_JOINED, {"nick": "bob", "room": "#cats"}),
    ("*** bob joined #a.b..", Kind.ROOM_JOINED, {"nick": "bob", "room": "#a.b."}),
    ("*** bob left #cats.", Kind.ROOM_LEFT, {"nick": "bob", "room": "#cats"}),
    ("*** Topic of #cats: meow: purr", Kind.TOPIC, {"room": "#cats", "topic": "meow: purr"}),
    ("*** #cats has no topic.", Kind.TOPIC_NONE, {"room": "#cats"}),
    (
        "*** bob set the topic of #cats to: naps",
        Kind.TOPIC_SET,
        {"nick": "bob", "room": "#cats", "topic": "naps"},
    ),
    ("*** In #cats (1): bob", Kind.NAMES, {"room": "#cats", "count": "1", "nicks": "bob"}),
    ("*** Rooms (1):", Kind.ROOMS, {"count": "1"}),
    ("***   #cats (1)", Kind.ROOMS_ENTRY, {"room": "#cats", "count": "1"}),
    ("***   #cats (1): naps", Kind.ROOMS_ENTRY, {"room": "#cats", "topic": "naps"}),
]


@pytest.mark.parametrize(("text", "kind", "fields"), PT_LINES + EN_LINES)
def test_every_line_kind_is_recognised_in_both_languages(text, kind, fields):
    """Each kind of server line is recognised, in Portuguese and English, with its fields."""
    line = Classifier().classify(text)
    assert line.kind is kind
    assert line.text == text
    for name, value in fields.items():
        assert line.fields[name] == value


# Accounts, history and kept messages (issue 9): (text, kind, message id, fields).
PT_ACCOUNT_LINES = [
    (
        "[01/12/2026 17:22] <bob> olá, tudo bem?",
        Kind.HISTORY,
        "history-said",
        {"time": "01/12/2026 17:22", "nick": "bob", "text": "olá, tudo bem?"},
    ),
    (
        "[01/12/2026 17:23] * bob acena",
        Kind.HISTORY_ACTION,
        "history-acted",
        {"time": "01/12/2026 17:23", "nick": "bob", "text": "acena"},
    ),
    (
        "*** Antes de você chegar em #saguão (2):",
        Kind.HISTORY_START,
        "history-start",
        {"room": "#saguão", "count": "2"},
    ),
    ("*** Fim do histórico de #saguão.", Kind.HISTORY_END, "history-end", {"room": "#saguão"}),
    (
        "*** Não há mensagens anteriores em #gatos.",
        Kind.NOTICE,
        "history-none",
        {"room": "#gatos"},
    ),
    (
        "[privado de bob, 01/12/2026 17:24] guardei pra você",
        Kind.PRIVATE_IN,
        "private-delivered",
        {"nick": "bob", "time": "01/12/2026 17:24", "text": "guardei pra você"},
    ),
    (
        "O apelido ana é registrado; digite a senha:",
        Kind.PASSWORD_PROMPT,
        "password-prompt",
        {"nick": "ana"},
    ),
    ("*** Você se identificou como ana.", Kind.IDENTIFIED, "identified", {"nick": "ana"}),
    (
        "!!! O apelido ana foi identificado em outra conexão; esta será encerrada.",
        Kind.GHOSTED,
        "ghosted",
        {"nick": "ana"},
    ),
    (
        "*** O apelido ana agora é seu: da próxima vez que entrar com ele, a senha será pedida.",
        Kind.NOTICE,
        "registered",
        {"nick": "ana"},
    ),
    ("*** Senha alterada.", Kind.NOTICE, "password-changed", {}),
    ("*** O apelido ana não é mais registrado.", Kind.NOTICE, "unregistered", {"nick": "ana"}),
    (
        "*** bob não está conectado; a mensagem foi guardada e será entregue quando entrar.",
        Kind.NOTICE,
        "private-kept",
        {"nick": "bob"},
    ),
    ("!!! Senha incorreta.", Kind.ERROR, "err-password-wrong", {}),
    (
        "!!! Tentativas demais com a senha errada; tente de novo em 30 s.",
        Kind.ERROR,
        "err-login-wait",
        {"seconds": "30"},
    ),
    (
        "!!! O apelido ana é registrado; para usá-lo: /nick ana SENHA",
        Kind.ERROR,
        "err-nick-registered",
        {"nick": "ana"},
    ),
    ("!!! Este servidor não guarda histórico.", Kind.ERROR, None, {}),
]
EN_ACCOUNT_LINES = [
    (
        "[2026-12-01 17:22] <bob> hi there",
        Kind.HISTORY,
        "history-said",
        {"time": "2026-12-01 17:22", "nick": "bob", "text": "hi there"},
    ),
    (
        "[2026-12-01 17:23] * bob waves",
        Kind.HISTORY_ACTION,
        "history-acted",
        {"time": "2026-12-01 17:23", "nick": "bob", "text": "waves"},
    ),
    (
        "*** Earlier in #lobby (2):",
        Kind.HISTORY_START,
        "history-start",
        {"room": "#lobby", "count": "2"},
    ),
    ("*** End of #lobby's history.", Kind.HISTORY_END, "history-end", {"room": "#lobby"}),
    ("*** End of #a.b's history.", Kind.HISTORY_END, "history-end", {"room": "#a.b"}),
    ("*** Nothing earlier in #cats.", Kind.NOTICE, "history-none", {"room": "#cats"}),
    (
        "[private from bob, 2026-12-01 17:24] kept for you",
        Kind.PRIVATE_IN,
        "private-delivered",
        {"nick": "bob", "time": "2026-12-01 17:24", "text": "kept for you"},
    ),
    (
        "The nickname ana is registered; type its password:",
        Kind.PASSWORD_PROMPT,
        "password-prompt",
        {"nick": "ana"},
    ),
    ("*** You are identified as ana.", Kind.IDENTIFIED, "identified", {"nick": "ana"}),
    (
        "!!! The nickname ana was identified from another connection; this one is being closed.",
        Kind.GHOSTED,
        "ghosted",
        {"nick": "ana"},
    ),
    (
        "*** The nickname ana is now yours: next time you use it, its password will be asked for.",
        Kind.NOTICE,
        "registered",
        {"nick": "ana"},
    ),
    ("*** Password changed.", Kind.NOTICE, "password-changed", {}),
    ("*** The nickname ana is no longer registered.", Kind.NOTICE, "unregistered", {"nick": "ana"}),
    (
        "*** bob is not connected; the message was kept and will be delivered when they come back.",
        Kind.NOTICE,
        "private-kept",
        {"nick": "bob"},
    ),
    ("!!! Wrong password.", Kind.ERROR, "err-password-wrong", {}),
    (
        "!!! Too many wrong passwords; try again in 7 s.",
        Kind.ERROR,
        "err-login-wait",
        {"seconds": "7"},
    ),
    (
        "!!! The nickname ana is registered; to use it: /nick ana PASSWORD",
        Kind.ERROR,
        "err-nick-registered",
        {"nick": "ana"},
    ),
]


@pytest.mark.parametrize(("text", "kind", "msgid", "fields"), PT_ACCOUNT_LINES + EN_ACCOUNT_LINES)
def test_account_and_history_lines_are_recognised_in_both_languages(text, kind, msgid, fields):
    """History, kept messages, the password prompt, identification, ghosts and the account
    notices and errors are recognised in Portuguese and English, with their fields."""
    line = Classifier().classify(text)
    assert (line.kind, line.msgid) == (kind, msgid)
    assert line.text == text
    for name, value in fields.items():
        assert line.fields[name] == value


@pytest.mark.parametrize("language", ["pt", "en"])
def test_history_lines_from_the_catalog_round_trip(language):
    """Whatever a history line holds (brackets, a nick in angle brackets, a notice's words), the
    server's own template gives it back as history with the same fields."""
    catalog = Catalog(language)
    tricky = ["[x] <y> z", "*** bob joined the Little Cats chat.", "<eve> hi", "] ["]
    for text in tricky:
        for msgid, kind in (("history-said", Kind.HISTORY), ("history-acted", Kind.HISTORY_ACTION)):
            received = catalog.text(msgid, time="01/12/2026 17:22", nick="bob.x", text=text)
            line = Classifier().classify(received.rstrip())
            assert line.kind is kind, received
            assert line.nick == "bob.x"
            assert line.fields["text"] == text.rstrip()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("<bob> [2026-12-01 17:22] <eve> hi", Kind.PUBLIC),
        ("<bob> [01/12/2026 17:22] * eve waves", Kind.PUBLIC),
        ("* bob [2026-12-01 17:22] <eve> hi", Kind.ACTION),
        ("[private from bob] [2026-12-01 17:22] <eve> hi", Kind.PRIVATE_IN),
        ("[privado de bob] [01/12/2026 17:22] * eve acena", Kind.PRIVATE_IN),
        ("[private to bob] [2026-12-01 17:22] <eve> hi", Kind.PRIVATE_OUT),
        ("<bob> *** Earlier in #lobby (2):", Kind.PUBLIC),
        ("<bob> The nickname ana is registered; type its password:", Kind.PUBLIC),
        (
            "<bob> !!! O apelido ana foi identificado em outra conexão; esta será encerrada.",
            Kind.PUBLIC,
        ),
    ],
)
def test_live_and_private_lines_never_pass_for_history_or_account_lines(text, kind):
    """A live line starts with '<' or '* ' and a private one with '[private': whatever text
    follows (a time in brackets, a prompt, a ghost notice), it keeps its kind."""
    line = Classifier().classify(text)
    assert line.kind is kind
    assert line.nick == "bob"


def test_plain_private_message_has_no_time_and_a_kept_one_has():
    """A private message said now and one kept while we were away are both private messages;
    only the kept one carries the time it was sent."""
    classifier = Classifier()
    now = classifier.classify("[private from bob] psst")
    kept = classifier.classify("[private from bob, 2026-12-01 17:24] psst")
    assert now.kind is kept.kind is Kind.PRIVATE_IN
    assert "time" not in now.fields
    assert kept.fields["time"] == "2026-12-01 17:24"
    assert now.fields["text"] == kept.fields["text"] == "psst"


def test_nickname_spans_point_at_the_nicknames():
    """The classifier says where nicknames sit in the text, for colouring them."""
    line = Classifier().classify("*** a.b agora se chama c-d.")
    assert [line.text[start:end] for _field, start, end in line.spans] == ["a.b", "c-d"]


def test_room_and_nickname_spans_point_at_them():
    """The classifier says where rooms and nicknames sit in a room line, for colouring them."""
    line = Classifier().classify("*** bob mudou o tópico de #gatos para: #cães e bia")
    assert [(field, line.text[start:end]) for field, start, end in line.spans] == [
        ("nick", "bob"),
        ("room", "#gatos"),
    ]


def test_joining_the_chat_is_not_joining_a_room():
    """Joining the chat and joining a room are told apart: the chat line names no room."""
    classifier = Classifier()
    assert classifier.classify("*** bob joined the Little Cats chat.").kind is Kind.JOINED
    assert classifier.classify("*** bob left the Little Cats chat.").kind is Kind.LEFT
    assert classifier.classify("*** bob joined lobby.").kind is Kind.NOTICE


def test_public_text_that_looks_like_a_notice_stays_public():
    """A user cannot make their message pass for a server notice: it stays a public line."""
    line = Classifier().classify("<eve> *** O cliente bob entrou no chat dos Little Cats.")
    assert line.kind is Kind.PUBLIC
    assert line.nick == "eve"


def test_user_list_continuation_only_after_a_user_list():
    """A '*** a, b' line continues a user list only right after one; elsewhere it is a notice."""
    classifier = Classifier()
    assert classifier.classify("*** a, b").kind is Kind.NOTICE
    classifier.classify("*** Connected users (4): ana, bob")
    more = classifier.classify("*** cy, dan")
    assert more.kind is Kind.USERS_MORE
    assert more.nicks() == ["cy", "dan"]


def test_names_continuation_belongs_to_the_names_list():
    """The tail of a room's names list is told apart from the tail of the list of everyone."""
    classifier = Classifier()
    classifier.classify("*** Na sala #gatos (4): ana, bob")
    assert classifier.classify("*** cy").kind is Kind.NAMES_MORE
    assert classifier.classify("*** dan").kind is Kind.NAMES_MORE
    assert classifier.classify("*** Salas (1):").kind is Kind.ROOMS
    assert classifier.classify("***   #gatos (4)").kind is Kind.ROOMS_ENTRY
    assert classifier.classify("*** eva").kind is Kind.NOTICE


@implementer(IChatView)
class RecordingView:
    """A view that remembers what the session told it."""

    def __init__(self) -> None:
        self.lines: list[Line] = []
        self.wanted: list[Line | None] = []
        self.passwords: list[Line] = []
        self.status_changes = 0

    def show(self, line: Line) -> None:
        self.lines.append(line)

    def statusChanged(self) -> None:
        self.status_changes += 1

    def nicknameWanted(self, refusal: Line | None) -> None:
        self.wanted.append(refusal)

    def passwordWanted(self, prompt: Line) -> None:
        self.passwords.append(prompt)

    def texts(self) -> list[str]:
        return [line.text for line in self.lines]


class Connection:
    """A session with its current connection on a StringTransport."""

    def __init__(self, nick: str | None = "ana", reconnect: bool = False, **kw: object) -> None:
        self.view = RecordingView()
        self.clock = Clock()
        self.session = ChatSession(
            self.view, Catalog("en"), self.clock, nick=nick, reconnect=reconnect, **kw
        )
        self.connect()

    def connect(self) -> None:
        self.transport = StringTransport()
        self.protocol = self.session.factory().buildProtocol(None)
        self.protocol.makeConnection(self.transport)

    def receive(self, data: bytes, bytewise: bool = False) -> None:
        if bytewise:
            for i in range(len(data)):
                self.protocol.dataReceived(data[i : i + 1])
        else:
            self.protocol.dataReceived(data)

    def sent(self) -> bytes:
        data = self.transport.value()
        self.transport.clear()
        return data

    def drop(self) -> None:
        self.protocol.connectionLost(Failure(ConnectionError("gone")))


GREETING = b"*** Bem-vindo ao chat dos Little Cats!\r\nEscolha seu apelido:\r\n"


def test_view_interface_is_provided():
    """The recording view used below really provides the view interface."""
    assert verifyObject(IChatView, RecordingView())


def test_lines_survive_any_fragmentation():
    """Lines split anywhere, even inside a multibyte character, arrive whole and in order."""
    conn = Connection(nick=None)
    conn.receive(GREETING + "<bob> olá João 😀\r\n".encode(), bytewise=True)
    assert conn.view.texts() == [
        "*** Bem-vindo ao chat dos Little Cats!",
        "Escolha seu apelido:",
        "<bob> olá João 😀",
    ]


def test_nick_option_answers_the_prompt_and_joins():
    """Given a nickname, the client answers the prompt itself and is in the chat once joined."""
    conn = Connection()
    conn.receive(GREETING)
    assert conn.sent() == b"ana\r\n"
    assert conn.session.state is State.JOINING
    conn.receive(b"*** O cliente ana entrou no chat dos Little Cats.\r\n")
    assert conn.session.state is State.CHAT
    assert conn.session.nick == "ana"


def test_without_nick_the_view_is_asked():
    """Without a nickname, the view is asked for one and the chosen one is sent."""
    conn = Connection(nick=None)
    conn.receive(GREETING)
    assert conn.view.wanted == [None]
    assert conn.session.state is State.NICKNAME
    conn.session.submit("  bia  ")
    assert conn.sent() == b"bia\r\n"


def test_refused_nickname_reports_the_reason_and_asks_again():
    """A refusal hands the server's reason to the view, which is asked for another nickname."""
    conn = Connection()
    conn.receive(GREETING)
    conn.sent()
    conn.receive("!!! O apelido ana já está em uso.\r\nEscolha seu apelido:\r\n".encode())
    assert conn.session.state is State.NICKNAME
    assert conn.view.wanted[0].text == "!!! O apelido ana já está em uso."
    conn.session.submit("ana2")
    assert conn.sent() == b"ana2\r\n"


def test_server_may_normalise_the_nickname():
    """The nickname the server announces is the one the client keeps."""
    conn = Connection(nick="Ana")
    conn.receive(GREETING)
    conn.receive("*** O cliente Ána entrou no chat dos Little Cats.\r\n".encode())
    assert conn.session.nick == "Ána"


def joined(conn: Connection) -> None:
    conn.receive(GREETING + b"*** O cliente ana entrou no chat dos Little Cats.\r\n")
    conn.sent()


def test_users_are_tracked_from_joins_leaves_renames_and_lists():
    """The user set follows the list, joins, leaves and renames, including our own rename."""
    conn = Connection()
    joined(conn)
    conn.receive("*** Usuários conectados (3): ana, bob, cy\r\n".encode())
    assert sorted(conn.session.users.values()) == ["ana", "bob", "cy"]
    conn.receive(b"*** O cliente dan entrou no chat dos Little Cats.\r\n")
    conn.receive(b"*** bob saiu do chat dos Little Cats.\r\n")
    conn.receive(b"*** ana agora se chama bia.\r\n")
    assert sorted(conn.session.users.values()) == ["bia", "cy", "dan"]
    assert conn.session.nick == "bia"


def test_ask_users_after_joining():
    """The interactive client asks for the user list and its room's names as soon as it joins."""
    conn = Connection(ask_users=True)
    conn.receive(GREETING)
    conn.sent()
    conn.receive(b"*** O cliente ana entrou no chat dos Little Cats.\r\n")
    assert conn.sent() == b"/users\r\n/names\r\n"


def test_room_is_learnt_from_the_names_of_our_room_after_joining():
    """The room the server put us in (whatever it is called) is known once its names arrive."""
    conn = Connection(ask_users=True)
    conn.receive(GREETING)
    conn.receive(b"*** O cliente ana entrou no chat dos Little Cats.\r\n")
    assert conn.session.room is None
    conn.receive("*** Tópico de #praça: bem-vindos\r\n".encode())
    conn.receive("*** Usuários conectados (3): ana, bob, cy\r\n".encode())
    conn.receive("*** Na sala #praça (2): ana, bob\r\n".encode())
    assert conn.session.room == "#praça"
    assert sorted(conn.session.users.values()) == ["ana", "bob", "cy"]


def test_room_follows_our_own_moves_only():
    """Our room changes when we join another (or go back to the lobby), not when others move."""
    conn = Connection(ask_users=True)
    joined(conn)
    conn.receive(b"*** In #lobby (1): ana\r\n")
    conn.receive(b"*** ANA joined #Cats.\r\n*** #Cats has no topic.\r\n")
    conn.receive(b"*** In #Cats (2): ana, bob\r\n")
    assert conn.session.room == "#Cats"
    conn.receive(b"*** bob joined #dogs.\r\n*** cy left #Cats.\r\n")
    assert conn.session.room == "#Cats"
    conn.receive(b"*** ana joined #lobby.\r\n")
    assert conn.session.room == "#lobby"


def test_names_of_another_room_asked_by_the_user_do_not_move_us():
    """Asking who is in another room shows the answer but leaves our room as it was."""
    conn = Connection(ask_users=True)
    joined(conn)
    conn.receive(b"*** In #lobby (1): ana\r\n")
    conn.session.submit("/names #cats")
    conn.receive(b"*** In #cats (1): bob\r\n")
    assert conn.session.room == "#lobby"
    assert conn.view.texts()[-1] == "*** In #cats (1): bob"


@pytest.mark.parametrize(
    "ours",
    [
        "!!! Unknown command: /names. Type /help to see the commands.",
        "!!! Comando desconhecido: /names. Digite /help para ver os comandos.",
    ],
)
def test_a_server_without_rooms_shows_no_error_for_the_names_we_asked(ours):
    """Against a server without rooms, the client's own /names leaves no error on screen."""
    conn = Connection(ask_users=True)
    joined(conn)
    conn.receive(f"{ours}\r\n{ours}\r\n".encode())
    assert conn.session.room is None
    assert conn.view.texts().count(ours) == 1  # only the answer to the client itself is hidden


def test_rooms_are_gathered_for_completion():
    """Rooms seen in the room list, names, topics and moves are remembered, ignoring case."""
    conn = Connection(ask_users=True)
    joined(conn)
    conn.receive(b"*** In #lobby (1): ana\r\n")
    conn.receive(b"*** Rooms (3):\r\n***   #lobby (1)\r\n***   #cats (2): naps\r\n")
    conn.receive(b"***   #dogs (1)\r\n*** bob joined #Birds.\r\n*** Topic of #CATS: naps\r\n")
    assert sorted(conn.session.rooms.values()) == ["#Birds", "#CATS", "#dogs", "#lobby"]
    conn.receive(b"*** Rooms (2):\r\n***   #lobby (1)\r\n***   #cats (2)\r\n")
    assert sorted(conn.session.rooms.values()) == ["#cats", "#lobby"]


def test_room_is_forgotten_when_the_connection_drops():
    """After a drop the room is unknown until the server names it again."""
    conn = Connection(ask_users=True, reconnect=True)
    joined(conn)
    conn.receive(b"*** In #lobby (1): ana\r\n")
    conn.drop()
    assert conn.session.room is None
    assert conn.session.rooms == {}
    conn.connect()
    joined(conn)
    conn.receive(b"*** In #hall (1): ana\r\n")
    assert conn.session.room == "#hall"


def test_typed_lines_go_out_as_utf8_lines():
    """Chat and commands go out verbatim as UTF-8 lines; embedded line breaks cannot split them."""
    conn = Connection()
    joined(conn)
    conn.session.submit("olá, João")
    conn.session.submit("/msg bob a\nb")
    assert conn.sent() == "olá, João\r\n/msg bob a b\r\n".encode()


def test_telnet_negotiation_is_refused_and_stripped():
    """IAC DO/WILL get WONT/DONT back, and no IAC byte reaches the text."""
    conn = Connection(nick=None)
    conn.receive(b"\xff\xfd\x18\xff\xfb\x01*** he\xff\xf1llo\r\n", bytewise=True)
    assert conn.sent() == b"\xff\xfc\x18\xff\xfe\x01"
    assert conn.view.texts() == ["*** hello"]


def test_escape_sequences_and_controls_are_stripped():
    """Escape sequences and control characters from the server never reach the view."""
    conn = Connection(nick=None)
    conn.receive(b"<eve> \x1b[2J\x1b]0;title\x07hi\x08\x00\xc2\x9b31m there\r\n")
    assert conn.view.texts() == ["<eve> hi there"]


def test_invalid_utf8_is_decoded_not_fatal():
    """Bytes that are not UTF-8 are shown as Windows-1252 rather than breaking the line."""
    conn = Connection(nick=None)
    conn.receive(b"<eve> caf\xe9 \xfe ok\r\n")
    assert conn.view.texts() == ["<eve> café þ ok"]


def test_over_long_line_is_dropped_with_a_notice_and_the_next_one_survives():
    """An over-long line is replaced by a notice; the connection and later lines go on."""
    conn = Connection(nick=None)
    conn.receive(b"x" * (MAX_LINE_BYTES + 10) + b"\r\n<bob> after\r\n")
    kinds = [line.kind for line in conn.view.lines]
    assert kinds == [Kind.LOCAL, Kind.PUBLIC]
    assert "longer than" in conn.view.lines[0].text
    assert conn.view.lines[1].text == "<bob> after"


def test_quit_waits_for_the_server_to_close():
    """/quit is sent and the session ends cleanly once the server closes the connection."""
    conn = Connection()
    joined(conn)
    conn.session.submit("/quit see you")
    assert conn.sent() == b"/quit see you\r\n"
    assert not conn.session.finished.called
    conn.protocol.connectionLost(None)
    assert conn.session.finished.called
    assert conn.session.state is State.CLOSED


def test_quit_hangs_up_if_the_server_never_closes():
    """If the server ignores /quit, the client hangs up itself after a grace period."""
    conn = Connection()
    joined(conn)
    conn.session.quit()
    conn.clock.advance(QUIT_GRACE_SECONDS)
    assert conn.transport.disconnecting


def test_unexpected_close_fails_a_session_that_does_not_reconnect():
    """Without reconnection (pipe mode), the server hanging up first is a failure."""
    conn = Connection()
    joined(conn)
    conn.drop()
    failures: list[Failure] = []
    conn.session.finished.addErrback(failures.append)
    assert failures and failures[0].check(SessionFailed)


def test_reconnecting_session_rejoins_with_the_same_nickname():
    """After a drop, the next connection answers the prompt with the nickname we had."""
    conn = Connection(reconnect=True)
    joined(conn)
    conn.receive(b"*** ana agora se chama bia.\r\n")
    conn.drop()
    assert conn.session.state is State.OFFLINE
    assert "dropped" in conn.view.texts()[-1]
    assert not conn.session.finished.called
    conn.session.retrying(1.5)
    assert conn.session.retry_delay == 1.5
    conn.connect()
    conn.receive(GREETING)
    assert conn.sent() == b"bia\r\n"
    conn.receive(b"*** O cliente bia entrou no chat dos Little Cats.\r\n")
    assert conn.session.state is State.CHAT


def test_typing_while_offline_is_refused_locally():
    """A chat line typed while offline is not lost silently: the user is told it was not sent."""
    conn = Connection(reconnect=True)
    joined(conn)
    conn.drop()
    conn.session.submit("hello?")
    assert conn.view.lines[-1].kind is Kind.LOCAL
    assert "not sent" in conn.view.lines[-1].text


def test_quit_while_offline_ends_at_once():
    """Quitting while offline ends the session without waiting for a server."""
    conn = Connection(reconnect=True)
    joined(conn)
    conn.drop()
    stopped: list[bool] = []
    conn.session.stopWith(lambda: stopped.append(True))
    conn.session.quit()
    assert stopped == [True]
    assert conn.session.finished.called


def test_failed_connection_is_reported_by_the_session():
    """A failed attempt is shown when reconnecting, and is the end of the session otherwise."""
    retrying = Connection(reconnect=True, server="h:1")
    retrying.session.connectFailed(Failure(ConnectionRefusedError("refused")))
    assert "Cannot connect" in retrying.view.texts()[-1]
    once = Connection(server="h:1")
    once.session.connectFailed(Failure(ConnectionRefusedError("refused")))
    failures: list[Failure] = []
    once.session.finished.addErrback(failures.append)
    assert "cannot connect to h:1" in str(failures[0].value)


# Passwords, history and ghosts (issue 9)

PASSWORD = "s3cret pw"
ASKED = b"\xff\xfb\x01The nickname ana is registered; type its password:\r\n"
"""The password prompt as a telnet-speaking client gets it: after IAC WILL ECHO."""
ENTERED = (
    b"\xff\xfc\x01*** Earlier in #lobby (2):\r\n"
    b"[2026-12-01 17:22] <bob> *** cy joined the Little Cats chat.\r\n"
    b"[2026-12-01 17:23] * ana waves\r\n"
    b"*** End of #lobby's history.\r\n"
    b"*** ana joined the Little Cats chat.\r\n"
    b"*** You are identified as ana.\r\n"
)


def asked(conn: Connection) -> None:
    """The greeting, the nickname sent by the session, and the password prompt."""
    conn.receive(GREETING)
    assert conn.sent() == b"ana\r\n"
    conn.receive(ASKED)


def test_given_password_answers_the_prompt():
    """With a password given (file or environment), the prompt is answered by itself, the
    echo offer is refused, and the session is in the chat once identified."""
    conn = Connection(password=PASSWORD)
    asked(conn)
    assert conn.sent() == b"\xff\xfe\x01" + PASSWORD.encode() + b"\r\n"
    assert conn.session.state is State.JOINING
    assert conn.view.passwords == []
    conn.receive(ENTERED)
    assert conn.session.state is State.CHAT
    assert PASSWORD not in "\n".join(conn.view.texts())
    assert conn.view.texts()[2:4] == [
        "The nickname ana is registered; type its password:",
        "-!- Password for ana sent.",
    ]


def test_given_password_answers_again_after_a_reconnect():
    """After a drop, the next connection gives the nickname and its password again: how a
    registered user takes the nickname back from the ghost of the dropped connection."""
    conn = Connection(password=PASSWORD, reconnect=True)
    asked(conn)
    conn.receive(ENTERED)
    conn.sent()
    conn.drop()
    assert conn.session.state is State.OFFLINE
    conn.connect()
    asked(conn)
    assert conn.sent().endswith(PASSWORD.encode() + b"\r\n")
    conn.receive(ENTERED)
    assert conn.session.state is State.CHAT


def test_without_a_password_the_view_is_asked_and_the_typed_one_is_kept():
    """Without a password the view is asked; the line typed then is sent as it is (spaces
    included), and once accepted it answers the prompt after a reconnect."""
    conn = Connection(reconnect=True)
    asked(conn)
    assert conn.session.state is State.PASSWORD
    assert [line.nick for line in conn.view.passwords] == ["ana"]
    conn.session.submit(f" {PASSWORD} ")
    assert conn.sent().endswith(f" {PASSWORD} \r\n".encode())
    conn.receive(ENTERED)
    assert conn.session.state is State.CHAT
    conn.drop()
    conn.connect()
    asked(conn)
    assert conn.sent().endswith(f" {PASSWORD} \r\n".encode())
    assert len(conn.view.passwords) == 1


def test_wrong_password_asks_for_a_nickname_and_is_not_tried_again():
    """A refused password: the view is asked for a nickname again, told it was the password;
    a given password that was wrong is not sent again by itself."""
    conn = Connection(password="wrong one", reconnect=True)
    asked(conn)
    conn.sent()
    conn.receive(b"\xff\xfc\x01!!! Wrong password.\r\nChoose your nickname:\r\n")
    assert conn.session.state is State.NICKNAME
    assert conn.session.password_refused
    assert conn.view.wanted[-1].text == "!!! Wrong password."
    conn.session.submit("ana")
    assert conn.sent() == b"ana\r\n"
    conn.receive(ASKED)
    assert conn.session.state is State.PASSWORD
    assert conn.sent() == b"\xff\xfe\x01"  # only the refusal of the echo offer
    conn.session.submit(PASSWORD)
    conn.receive(ENTERED)
    assert conn.session.state is State.CHAT


def test_throttled_password_is_kept_and_a_refused_nickname_is_not_a_password():
    """'Too many attempts' is no proof the password is wrong: it is kept.  A nickname refused
    before any password is a refused nickname."""
    conn = Connection(password=PASSWORD)
    asked(conn)
    conn.sent()
    conn.receive(b"!!! Too many wrong passwords; try again in 9 s.\r\nChoose your nickname:\r\n")
    assert conn.session.password_refused
    conn.session.submit("ana")
    conn.receive(ASKED)
    assert conn.sent().endswith(PASSWORD.encode() + b"\r\n")
    conn.receive(b"!!! The nickname x is already taken.\r\nChoose your nickname:\r\n")
    conn.session.submit("x")
    conn.receive(b"!!! The nickname x is already taken.\r\nChoose your nickname:\r\n")
    assert not conn.session.password_refused


def test_empty_password_is_not_sent():
    """An empty line at the password prompt is no attempt (the server would count it)."""
    conn = Connection()
    asked(conn)
    conn.sent()
    conn.session.submit("")
    assert conn.sent() == b""
    assert conn.session.state is State.PASSWORD


def test_password_prompt_out_of_turn_is_only_shown():
    """A password prompt that answers no nickname of ours (or a user's text) is just a line."""
    conn = Connection(password=PASSWORD)
    joined(conn)
    conn.receive(b"The nickname ana is registered; type its password:\r\n")
    assert conn.sent() == b""
    assert conn.session.state is State.CHAT
    assert conn.view.passwords == []


def test_history_lines_change_nobody_and_no_room():
    """History lines, before or after joining, count nobody as connected or joining, do not
    move us and do not make us join: only the server's live lines do."""
    conn = Connection(ask_users=True)
    conn.receive(GREETING)
    conn.sent()
    conn.receive(
        b"*** Earlier in #lobby (3):\r\n"
        b"[2026-12-01 17:22] <bob> *** ana joined the Little Cats chat.\r\n"
        b"[2026-12-01 17:22] <cy> *** cy joined #cats.\r\n"
        b"[2026-12-01 17:23] * dan waves\r\n"
        b"*** End of #lobby's history.\r\n"
    )
    assert conn.session.state is State.JOINING
    assert conn.sent() == b""
    assert [line.kind for line in conn.view.lines[-5:]] == [
        Kind.HISTORY_START,
        Kind.HISTORY,
        Kind.HISTORY,
        Kind.HISTORY_ACTION,
        Kind.HISTORY_END,
    ]
    conn.receive(b"*** ana joined the Little Cats chat.\r\n*** In #lobby (1): ana\r\n")
    conn.receive(
        b"*** Earlier in #cats (1):\r\n[2026-12-01 17:24] <eve> *** eve joined #cats.\r\n"
        b"*** End of #cats's history.\r\n"
    )
    assert conn.session.room == "#lobby"
    assert list(conn.session.users.values()) == ["ana"]


def test_kept_private_messages_are_delivered_as_private_messages():
    """Messages kept while we were away arrive after identification, as private messages."""
    conn = Connection(password=PASSWORD)
    asked(conn)
    conn.receive(ENTERED + b"[private from bob, 2026-12-01 17:24] psst\r\n")
    assert conn.view.lines[-1].kind is Kind.PRIVATE_IN
    assert conn.view.lines[-1].nick == "bob"


def test_ghosted_session_stops_reconnecting_and_waits_for_the_user():
    """Once our nickname is identified elsewhere, the interactive session does not reconnect
    (it would only fight the other one): it stays closed, saying why, until the user quits."""
    conn = Connection(password=PASSWORD, reconnect=True)
    stops: list[bool] = []
    conn.session.stopWith(lambda: stops.append(True))
    asked(conn)
    conn.receive(ENTERED)
    conn.receive(
        b"!!! The nickname ana was identified from another connection; this one is being "
        b"closed.\r\n"
    )
    assert conn.view.lines[-1].kind is Kind.GHOSTED
    conn.drop()
    assert conn.session.state is State.CLOSED
    assert stops == [True]
    assert "not reconnecting" in conn.view.texts()[-1]
    conn.session.retrying(1.0)
    assert conn.session.state is State.CLOSED
    assert not conn.session.finished.called
    conn.session.submit("anyone?")
    assert "Not connected" in conn.view.texts()[-1]
    conn.session.quit()
    assert conn.session.finished.called
    assert stops == [True]


def test_ghosted_session_without_reconnection_fails_with_the_reason():
    """In a pipe, being ghosted ends the session with a failure that says why."""
    conn = Connection(password=PASSWORD)
    asked(conn)
    conn.receive(ENTERED)
    conn.receive(
        "!!! O apelido ana foi identificado em outra conexão; esta será encerrada.\r\n".encode()
    )
    conn.drop()
    failures: list[Failure] = []
    conn.session.finished.addErrback(failures.append)
    assert "identified from another connection" in str(failures[0].value)


def test_a_ghost_on_one_connection_does_not_stop_the_next():
    """A drop without a ghost notice is an ordinary drop: reconnect as ever."""
    conn = Connection(password=PASSWORD, reconnect=True)
    asked(conn)
    conn.receive(ENTERED)
    conn.drop()
    assert conn.session.state is State.OFFLINE


@pytest.mark.parametrize(
    ("command", "confirmation", "answer"),
    [
        (
            "/register n3w pw",
            b"*** The nickname ana is now yours: next time you use it, its "
            b"password will be asked for.",
            b"n3w pw",
        ),
        (f"/password {PASSWORD} n3w pw", b"*** Password changed.", b"n3w pw"),
        ("/NICK ana n3w pw", b"*** You are identified as ana.", b"n3w pw"),
    ],
)
def test_password_set_from_the_chat_answers_after_a_reconnect(command, confirmation, answer):
    """/register, /password and /nick NEW PASSWORD, once the server confirms them, set the
    password the session gives after a reconnect."""
    conn = Connection(password=PASSWORD, reconnect=True)
    joined(conn)
    conn.session.submit(command)
    conn.receive(confirmation + b"\r\n")
    conn.drop()
    conn.connect()
    asked(conn)
    assert conn.sent().endswith(answer + b"\r\n")


def test_password_commands_refused_or_unregistered_leave_no_password():
    """A refused /register sets nothing; after /unregister no password is given any more."""
    conn = Connection(reconnect=True)
    joined(conn)
    conn.session.submit("/register short")
    conn.receive(b"!!! The password needs at least 6 characters.\r\n")
    conn.receive(
        b"*** The nickname ana is now yours: next time you use it, its password "
        b"will be asked for.\r\n"
    )  # not an answer to the refused one
    conn.drop()
    conn.connect()
    asked(conn)
    assert conn.session.state is State.PASSWORD
    conn.session.submit(PASSWORD)
    conn.receive(ENTERED)
    conn.session.submit(f"/unregister {PASSWORD}")
    conn.receive(b"*** The nickname ana is no longer registered.\r\n")
    conn.drop()
    conn.connect()
    asked(conn)
    assert conn.session.state is State.PASSWORD


def test_a_kept_password_is_only_given_for_its_own_nickname():
    """Once accepted for a nickname, a password answers that nickname's prompt only: another
    registered nickname is asked for, and a wrong answer there does not lose the first one."""
    conn = Connection(password=PASSWORD, reconnect=True)
    asked(conn)
    conn.receive(ENTERED)
    conn.session.submit("/nick bia")
    conn.receive(b"*** ana is now known as bia.\r\n")
    conn.drop()
    conn.connect()
    conn.receive(GREETING)
    assert conn.sent() == b"bia\r\n"
    conn.receive(b"The nickname bia is registered; type its password:\r\n")
    assert conn.session.state is State.PASSWORD
    conn.session.submit("bia's guess")
    conn.receive(b"!!! Wrong password.\r\nChoose your nickname:\r\n")
    conn.session.submit("ANA")
    conn.sent()
    conn.receive(b"The nickname ana is registered; type its password:\r\n")
    assert conn.sent() == PASSWORD.encode() + b"\r\n"
