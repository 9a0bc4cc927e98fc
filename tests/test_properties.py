"""
Property-based tests (hypothesis) of the whole telnet door, driven through `tests.helpers`.

Two kinds of property.  Abuse: arbitrary byte streams (telnet commands, every line end, invalid
UTF-8, NULs, escape sequences, bidi controls, over-long lines), split anywhere and interleaved
between several clients with time passing, never raise, never break the registry's invariants,
and never put anything but clean, complete, bounded UTF-8 lines on anyone's terminal.  Model:
a state machine drives simulated users through joins, renames, messages, rooms, topics, quits
and drops, and checks every client against a small model written from docs/PROTOCOL.md and the
pt catalog alone (it computes nothing with the server's code, and spells every line out in
Portuguese), line for line, in order.

Everything is derandomized and has no example database, so a run is repeatable and fast.
"""

from __future__ import annotations

import itertools
import unicodedata

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from twisted.logger import capturedLogs

from littlecats import nicknames
from littlecats.session import State as SessionState
from tests.helpers import FakeClient, Harness

SETTINGS = {
    "derandomize": True,
    "database": None,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

# The telnet bytes of RFC 854, spelled out here rather than imported from the decoder.
IAC, SB, SE = 255, 250, 240
WILL, WONT, DO, DONT = 251, 252, 253, 254

# What the server says, in Portuguese.  The lines come from docs/PROTOCOL.md; the ones it only
# describes (the nickname errors, the usage errors, the nickname timeout) from the pt catalog.
GREETING = "*** Bem-vindo ao chat dos Little Cats!"
PROMPT = "Escolha seu apelido:"
NICK_EMPTY = "!!! O apelido não pode ser vazio."
NICK_LONG = "!!! O apelido pode ter no máximo 24 caracteres."
NICK_CHARS = "!!! O apelido só pode ter letras, dígitos e _ - . (sem espaços nem símbolos)."
USAGE_NICK = "!!! Uso: /nick NOVO_APELIDO"
USAGE_MSG = "!!! Uso: /msg APELIDO texto"
USAGE_ME = "!!! Uso: /me ação"
ALONE = "*** Nenhum outro usuário está conectado."
NICK_TIMEOUT = "!!! Tempo esgotado: escolha um apelido em até 60 segundos. Até logo!"
FLOOD = "!!! Mensagens demais em pouco tempo (flood); a conexão será encerrada."
NICK_TIMEOUT_SECONDS = 60  # the Harness keeps the default --nick-timeout
USAGE_JOIN = "!!! Uso: /join #sala"
ROOM_HASH = "!!! O nome de uma sala começa com #, como #gatos."
ROOM_EMPTY = "!!! Falta o nome da sala depois do #."
ROOM_LONG = "!!! O nome de uma sala pode ter no máximo 32 caracteres depois do #."
ROOM_CHARS = (
    "!!! O nome de uma sala só pode ter letras, dígitos e _ - . depois do # "
    "(sem espaços ou símbolos)."
)
TOPIC_LONG = "!!! O tópico pode ter no máximo 300 caracteres."
LOBBY = "#lobby"  # the Harness keeps the default lobby
MAX_ROOM = 32  # characters after the #
MAX_TOPIC = 300


def joined(nick: str) -> str:
    return f"*** O cliente {nick} entrou no chat dos Little Cats."


def left(nick: str, reason: str = "") -> str:
    notice = f"*** {nick} saiu do chat dos Little Cats."
    return f"{notice} ({reason})" if reason else notice


def renamed(old: str, new: str) -> str:
    return f"*** {old} agora se chama {new}."


def goodbye(nick: str) -> str:
    return f"*** Até logo, {nick}!"


def taken(nick: str) -> str:
    return f"!!! O apelido {nick} já está em uso."


def same_nick(nick: str) -> str:
    return f"!!! Você já usa o apelido {nick}."


def no_such_nick(nick: str) -> str:
    return f"!!! O cliente {nick} não está conectado; nada foi enviado."


def unknown_command(command: str) -> str:
    return f"!!! Comando desconhecido: /{command}. Digite /help para ver os comandos."


def users(nicks: list[str]) -> str:
    return f"*** Usuários conectados ({len(nicks)}): {', '.join(nicks)}"


def room_joined(nick: str, room: str) -> str:
    return f"*** {nick} entrou na sala {room}."


def room_left(nick: str, room: str) -> str:
    return f"*** {nick} saiu da sala {room}."


def topic(room: str, text: str) -> str:
    return f"*** Tópico de {room}: {text}"


def no_topic(room: str) -> str:
    return f"*** A sala {room} não tem tópico."


def topic_set(nick: str, room: str, text: str) -> str:
    return f"*** {nick} mudou o tópico de {room} para: {text}"


def names(room: str, nicks: list[str]) -> str:
    return f"*** Na sala {room} ({len(nicks)}): {', '.join(nicks)}"


def rooms_title(count: int) -> str:
    return f"*** Salas ({count}):"


def rooms_entry(room: str, count: int, text: str) -> str:
    return f"***   {room} ({count}): {text}" if text else f"***   {room} ({count})"


def already_in(room: str) -> str:
    return f"!!! Você já está na sala {room}."


def not_in(room: str) -> str:
    return f"!!! Você não está na sala {room}."


def in_the_lobby(room: str) -> str:
    return f"!!! Você está no saguão, {room}: não há sala para sair."


def no_such_room(room: str) -> str:
    return f"!!! A sala {room} não existe (uma sala existe enquanto tem alguém nela)."


# ---------------------------------------------------------------------------------------------
# Abuse: arbitrary bytes, split anywhere.

MAX_LINE = 2048
MAX_NICK = 24
# The longest template around user text ("*** NICK saiu do chat dos Little Cats. (REASON)",
# "!!! Comando desconhecido: /X. Digite /help para ver os comandos.") is under 80 characters.
LONGEST_LINE_CHARS = MAX_LINE + MAX_NICK + 80
# Each byte received becomes at most one character, which UTF-8 may spell in 3 bytes (a stray
# 0x80 is read as Windows-1252 "€"); a nickname character may take 4.
LONGEST_LINE_BYTES = 3 * MAX_LINE + 4 * MAX_NICK + 100
# Bidirectional controls, and the invisible BOM, that must never reach another terminal.
INVISIBLE = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
)

negotiations = st.builds(
    lambda verb, option: bytes((IAC, verb, option)),
    st.sampled_from((WILL, WONT, DO, DONT)),
    st.integers(0, 255),
)
# IAC followed by any other command byte, including a verb whose option comes in the next piece.
commands = st.integers(240, 255).filter(lambda c: c != SB).map(lambda c: bytes((IAC, c)))
# A subnegotiation, now and then left open: everything after it is swallowed, as RFC 854 says.
subnegotiations = st.builds(
    lambda option, body, closed: (
        bytes((IAC, SB, option))
        + body.replace(b"\xff", b"\xff\xff")
        + (bytes((IAC, SE)) if closed else b"")
    ),
    st.integers(0, 255),
    st.binary(max_size=8),
    st.integers(0, 7).map(bool),
)
line_ends = st.sampled_from((b"\r\n", b"\n", b"\r", b"\r\x00"))
invalid_utf8 = st.sampled_from(
    (
        b"\x80",
        b"\xc3",
        b"\xc3(",
        b"\xe2\x82",
        b"\xed\xa0\x80",  # an encoded surrogate
        b"\xf4\x90\x80\x80",  # past U+10FFFF
        b"\xc0\xaf",  # overlong "/"
        b"\xfe",
        b"\x81\x8d\x8f\x90\x9d",  # undefined in Windows-1252: read as C1 controls
        b"\x9b",  # 8-bit CSI
    )
)
controls = st.sampled_from(
    (
        b"\x00",
        b"\x07",
        b"\x08",
        b"\t",
        b"\x0b\x0c",
        b"\x15",
        b"\x7f",
        b"\x1b",
        b"\x1b[31m",
        b"\x1b[2J\x1b[H",
        b"\x1b]0;pwned\x07",
        b"\x1b]8;;http://x\x1b\\",
        b"\x1bP1$r\x1b\\",
        b"\x1bc",
        b"\x1b(0",
        "\u009b31m".encode(),
        "\u0085".encode(),
    )
)
bidi = st.sampled_from(sorted(INVISIBLE)).map(str.encode)
chat_words = st.sampled_from(
    (
        b"/nick ",
        b"/msg ",
        b"/w ",
        b"/me ",
        b"/users",
        b"/quit",
        b"/help",
        b"/",
        b"//",
        b"gato0",
        b"GATO1",
        b" ",
        b"{nick}",
    )
)
utf8_text = st.text(max_size=8).map(str.encode)
pieces = st.one_of(
    st.binary(max_size=16),
    negotiations,
    commands,
    subnegotiations,
    invalid_utf8,
    controls,
    bidi,
    chat_words,
    chat_words,
    utf8_text,
)
typed_lines = st.builds(
    lambda parts, end: b"".join(parts) + end, st.lists(pieces, max_size=6), line_ends
)
nick_lines = st.builds(
    bytes.__add__, st.sampled_from((b"gato9", b"GATO0", b"Ana", b" ze\xcc\x81 ")), line_ends
)
# Over-long lines, and lines of exactly the longest length, whose text may take three times as
# many bytes once decoded (b"\x80" is read as Windows-1252 "€"), behind the commands that put
# text in front of other users.
long_lines = st.builds(
    lambda pattern, size, end: (pattern * size)[:size] + end,
    st.binary(min_size=1, max_size=3),
    st.integers(MAX_LINE + 1, 3 * MAX_LINE),
    line_ends,
)
longest_lines = st.builds(
    lambda command, pattern, end: (command + pattern * MAX_LINE)[: MAX_LINE - 1] + b"z" + end,
    st.sampled_from((b"", b"/me ", b"/msg gato0 ", b"/quit ", b"/nick ", b"/dance")),
    st.sampled_from((b"\x80", b"y ", "猫".encode(), b"\x1b[1m")),
    line_ends,
)
streams = st.builds(
    lambda lines, unfinished: b"".join(lines) + b"".join(unfinished),
    st.lists(
        st.one_of(
            typed_lines,
            typed_lines,
            typed_lines,
            typed_lines,
            nick_lines,
            long_lines,
            longest_lines,
        ),
        max_size=8,
    ),
    st.lists(pieces, max_size=3),
)


@st.composite
def fragments(draw, stream: bytes) -> list[bytes]:
    """C{stream} split at arbitrary points (byte by byte, sometimes)."""
    if not stream:
        return []
    if len(stream) <= 64 and draw(st.integers(0, 4)) == 0:
        return [stream[i : i + 1] for i in range(len(stream))]
    cuts = draw(st.lists(st.integers(1, max(1, len(stream) - 1)), max_size=10))
    bounds = [0, *sorted(set(cuts)), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds) if a < b]


@attrs.frozen
class Session:
    """Who is connected at the start, and everything that happens next, in order."""

    joined: tuple[bool, ...]
    steps: tuple[tuple, ...]


@st.composite
def sessions(draw) -> Session:
    """Several clients' streams, split, interleaved, with time passing and transport events."""
    joined = tuple(draw(st.lists(st.booleans(), min_size=2, max_size=4)))
    queues = [draw(fragments(draw(streams))) for _ in joined]
    everyone = st.integers(0, len(joined) - 1)
    steps: list[tuple] = []
    while any(queues):
        roll = draw(st.integers(0, 11))
        if roll < 3:  # the reactor turn ends, now and then with time passing
            steps.append(("advance", draw(st.sampled_from((0, 0, 0, 0.1, 1, 5, 30, 61)))))
        elif roll == 3:
            kind = draw(st.sampled_from(("pause", "resume", "drop")))
            steps.append((kind, draw(everyone)))
        else:
            ready = [i for i, queue in enumerate(queues) if queue]
            who = draw(st.sampled_from(ready))
            steps.append(("feed", who, queues[who].pop(0)))
    return Session(joined, tuple(steps))


class Negotiation:
    """RFC 854 as the protocol document states it: DO x gets WONT x, WILL x gets DONT x."""

    def __init__(self) -> None:
        self.state = "data"
        self.verb = 0

    def feed(self, data: bytes) -> list[bytes]:
        replies = []
        for byte in data:
            if self.state == "data":
                self.state = "command" if byte == IAC else "data"
            elif self.state == "command":
                if byte in (WILL, WONT, DO, DONT):
                    self.verb, self.state = byte, "option"
                else:
                    self.state = "sub" if byte == SB else "data"
            elif self.state == "option":
                if self.verb == DO:
                    replies.append(bytes((IAC, WONT, byte)))
                elif self.verb == WILL:
                    replies.append(bytes((IAC, DONT, byte)))
                self.state = "data"
            elif self.state == "sub":
                self.state = "sub-iac" if byte == IAC else "sub"
            else:
                self.state = "data" if byte == SE else "sub"
        return replies


@attrs.define(eq=False)
class Watched:
    """One abusive client, and everything its terminal has shown."""

    client: FakeClient
    lines: list[str] = attrs.field(factory=list)
    replies: list[bytes] = attrs.field(factory=list)
    owed_replies: list[bytes] = attrs.field(factory=list)
    negotiation: Negotiation = attrs.field(factory=Negotiation)
    paused: bool = False
    lost: bool = False
    dropped: bool = False
    closed_by_server: bool = False


def split_replies(data: bytes) -> tuple[bytes, list[bytes]]:
    """Separate negotiation replies from text; a reply may only sit between whole lines."""
    text, replies, start = b"", [], 0
    while (at := data.find(b"\xff", start)) >= 0:
        text += data[start:at]
        assert not text or text.endswith(b"\r\n"), f"a negotiation reply splits a line: {data!r}"
        reply = data[at : at + 3]
        assert len(reply) == 3 and reply[1] in (WONT, DONT), f"not a refusal: {data!r}"
        replies.append(reply)
        start = at + 3
    return text + data[start:], replies


def terminal_lines(text: bytes) -> list[str]:
    """The lines in C{text}, checked to be whole, valid UTF-8, clean and bounded."""
    if not text:
        return []
    assert text.endswith(b"\r\n"), f"incomplete line: {text[-80:]!r}"
    lines = text.decode("utf-8").split("\r\n")[:-1]
    for line in lines:
        dirty = [c for c in line if unicodedata.category(c) == "Cc" or c in INVISIBLE]
        assert not dirty, f"control characters {dirty!r} in {line!r}"
        assert len(line) <= LONGEST_LINE_CHARS, f"{len(line)}-character line"
        assert len(line.encode()) <= LONGEST_LINE_BYTES, f"{len(line.encode())}-byte line"
    return lines


def collect(chat: Harness, watched: list[Watched]) -> None:
    """Read what each terminal received, then play the kernel for connections the server shut."""
    for one in watched:
        data = one.client.transport.value()
        one.client.transport.clear()
        if one.lost:
            assert data == b"", f"written after the connection closed: {data!r}"
            continue
        text, replies = split_replies(data)
        one.replies += replies
        one.lines += terminal_lines(text)
        if one.client.transport.disconnecting:
            one.closed_by_server = True
            one.client.protocol.connectionLost(None)
            one.lost = True


def check_registry(chat: Harness, watched: list[Watched]) -> None:
    """The registry, the rooms, the door's subscriptions and the connection limiter all agree
    on who is connected and where."""
    service, door = chat.service, chat.factory.door
    alive = {one.client.session for one in watched if not one.lost}
    assert set(door.sessions.values()) == alive
    assert set(service.sessions.values()) == alive
    assert service.limiter.total == len(alive)
    folded = set()
    for key, member in service.members.items():
        assert key == member.key == nicknames.fold(member.nick)
        assert nicknames.validate(member.nick) == member.nick
        folded.add(nicknames.fold(member.nick))
        session = service.sessions[member.session]
        assert session in alive
        assert session.member is member
        assert service.by_session[member.session] is member
        assert session.state is SessionState.CHAT
        assert not session.transport.disconnecting
        # A telnet member is in exactly one room, and hears it and the server.
        (room,) = member.rooms.values()
        assert service.rooms[room.key] is room
        assert room.members[member.session] is member
        assert {channel.key for channel in session.outlet.channels} == {None, room.key}
    assert len(folded) == len(service.members) == len(service.by_session)
    assert door.fanout.subscribers(None) == len(service.members)
    assert sum(len(room.members) for room in service.rooms.values()) == len(service.members)
    for room in service.rooms.values():
        assert room.members, "a room exists while it has members"
        assert door.fanout.subscribers(room.key) == len(room.members)
    for session in alive:
        assert session.state in (SessionState.NICKNAME, SessionState.CHAT)
        assert (session.member is not None) == (session.state is SessionState.CHAT)
        assert bool(session.outlet.channels) == (session.member is not None)
    for one in watched:
        if one.lost and one.client.session is not None:
            assert one.client.session.member is None
            assert one.client.session.id not in service.by_session


def play(chat: Harness, session: Session) -> list[Watched]:
    """Run C{session} against C{chat}, checking the registry after every step."""
    watched = [Watched(chat.connect()) for _ in session.joined]
    for i, (one, joins) in enumerate(zip(watched, session.joined, strict=True)):
        if joins:
            one.client.line(f"gato{i}")
    collect(chat, watched)
    check_registry(chat, watched)
    for kind, *args in session.steps:
        one = watched[args[0]] if kind != "advance" else None
        if kind == "advance":
            chat.clock.advance(args[0])
        elif one.lost:
            pass
        elif kind == "feed":
            if one.client.session.state is not SessionState.CLOSED:
                one.owed_replies += one.negotiation.feed(args[1])
            one.client.send(args[1])
        elif kind == "pause":
            one.client.session.pauseProducing()
            one.paused = True
        elif kind == "resume":
            one.client.session.resumeProducing()
        elif kind == "drop":
            one.client.drop()
            one.lost = one.dropped = True
        collect(chat, watched)
        check_registry(chat, watched)
    for one in watched:
        if not one.lost:
            one.client.session.resumeProducing()
    chat.factory.door.fanout.flush()
    collect(chat, watched)
    check_registry(chat, watched)
    return watched


def abuse(session: Session, **limits: float) -> None:
    """Play C{session} on a server with C{limits} and check what every terminal showed."""
    chat = Harness(**limits)
    with capturedLogs() as logged:
        watched = play(chat, session)
    failures = [event for event in logged if "log_failure" in event]
    assert not failures, failures
    for one in watched:
        aborted = one.client.transport.disconnected  # dropped by the server as a slow reader
        if aborted or one.dropped:
            assert one.replies == one.owed_replies[: len(one.replies)]
        else:
            assert one.replies == one.owed_replies
        if aborted:
            assert one.paused and limits.get("max_sendq")
        elif one.closed_by_server:
            endings = (
                "*** Até logo, ",
                NICK_TIMEOUT,
                *((FLOOD,) if limits.get("flood_rate") else ()),
            )
            assert one.lines and one.lines[-1].startswith(endings), one.lines[-3:]


# pytest-twisted cannot run a parametrized @given test twice, hence one test per configuration.
@settings(max_examples=60, **SETTINGS)
@given(session=sessions())
def test_arbitrary_bytes_never_break_the_server(session):
    """Any bytes, split anywhere, never raise, break the registry or dirty anyone's terminal."""
    abuse(session)


@settings(max_examples=60, **SETTINGS)
@given(session=sessions())
def test_arbitrary_bytes_never_break_the_server_under_tight_limits(session):
    """The same holds with flood control on, a small receive bound and slow readers dropped."""
    abuse(session, flood_rate=5, flood_burst=10, max_recvq=16384, max_sendq=8192)


def test_without_flood_control_a_long_paste_is_delivered():
    """With flood control off, a client pasting many lines in one read is never dropped."""
    chat = Harness()
    ana, bia = chat.join("ana"), chat.join("bia")
    ana.raw()
    bia.send(b"".join(b"linha %d\r\n" % i for i in range(1100)))
    assert not bia.closed
    assert ana.lines() == [f"<bia> linha {i}" for i in range(1100)]


@settings(max_examples=80, **SETTINGS)
@given(stream=streams, joins=st.booleans(), data=st.data())
def test_fragmentation_never_changes_what_anyone_sees(stream, joins, data):
    """However a client's bytes are split across reads, every terminal shows the same lines."""
    chunks = data.draw(fragments(stream))

    def seen(reads: list[bytes]) -> tuple[list[str], list[str], list[bytes]]:
        chat = Harness()
        watcher = chat.join("olho")
        talker = chat.join("gato") if joins else chat.connect()
        for read in reads:
            talker.send(read)
        talker_text, replies = split_replies(talker.raw())
        watcher_text, _ = split_replies(watcher.raw())
        return terminal_lines(talker_text), terminal_lines(watcher_text), replies

    whole_talker, whole_watcher, whole_replies = seen([stream] if stream else [])
    split_talker, split_watcher, split_replies_ = seen(chunks)
    assert split_talker == whole_talker
    assert split_watcher == whole_watcher
    # Bytes after a /quit are still negotiated when they arrived in the same read as it.
    assert split_replies_ == whole_replies[: len(split_replies_)]


# ---------------------------------------------------------------------------------------------
# Model: simulated users against what the protocol document promises.


def display(raw: str) -> str:
    """A nickname or room name as shown: surrounding spaces ignored, NFC-normalised."""
    return unicodedata.normalize("NFC", raw.strip())


def fold(nick: str) -> str:
    """Nicknames (and room names) are one when equal after NFC normalisation and Unicode case
    folding."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", nick).casefold())


def allowed_chars(name: str) -> bool:
    """Letters, digits and _ - . only, with combining marks (not emoji selectors) after the
    first character: what a nickname, and a room name after its #, may hold."""
    for i, char in enumerate(name):
        category = unicodedata.category(char)
        if char in "_-." or category[0] == "L" or category == "Nd":
            continue
        if i and category in ("Mn", "Mc") and char not in "\ufe0e\ufe0f":
            continue
        return False
    return True


def nick_error(nick: str) -> str | None:
    """Why the protocol document refuses C{nick} (already normalised), if it does."""
    if not nick:
        return NICK_EMPTY
    if len(nick) > MAX_NICK:
        return NICK_LONG
    return None if allowed_chars(nick) else NICK_CHARS


def room_error(name: str) -> str | None:
    """Why the catalog refuses room name C{name} (already normalised), if it does."""
    if not name.startswith("#"):
        return ROOM_HASH
    if len(name) == 1:
        return ROOM_EMPTY
    if len(name) - 1 > MAX_ROOM:
        return ROOM_LONG
    return None if allowed_chars(name[1:]) else ROOM_CHARS


VALID_NICKS = (
    "ana",
    "Ana",
    "ANA",
    "bia",
    "zé",
    "ZÉ",
    "ze\u0301",
    "straße",
    "STRASSE",
    "gato_1",
    "c.a-t",
    "Ñandu",
    "猫",
    "नमस्ते",
    "x" * MAX_NICK,
    "e\u0301" * MAX_NICK,
)
INVALID_NICKS = (
    "",
    "a b",
    "ana!",
    "x" * (MAX_NICK + 1),
    "😺",
    "\u0301a",
    "1\ufe0f\u20e3",
    "/quit",
    "<ana>",
    "{nick}",
)
nick_attempts = st.builds(
    lambda before, nick, after: before + nick + after,
    st.sampled_from(("", " ", "  ")),
    st.sampled_from(VALID_NICKS + INVALID_NICKS),
    st.sampled_from(("", " ")),
)
spellings = st.sampled_from((str, str.upper, str.lower, str.title, str.swapcase))
SAFE_TEXT = "abcxyz ABC 0123 olá ação 猫 !?.,:;()-_'\"{}*<>[]"
texts = st.text(alphabet=SAFE_TEXT, max_size=20)
picks = st.integers(min_value=0, max_value=63)
# Several spellings of a few rooms (the lobby's among them: it can be left empty, then be
# re-created by a /join with another spelling, keeping its own), and names the catalog refuses.
VALID_ROOMS = (
    "#gatos",
    "#Gatos",
    "#GATOS",
    "#café",
    "#CAFÉ",
    "#cafe\u0301",
    "#straße",
    "#STRASSE",
    "#lobby",
    "#Lobby",
    "#LOBBY",
    "#猫",
    "#a.b-c_1",
    "#" + "x" * MAX_ROOM,
    "#" + "e\u0301" * MAX_ROOM,
)
INVALID_ROOMS = (
    "",
    "gatos",
    "lobby",
    "＃gatos",
    "#",
    "##",
    "# gatos",
    "#a b",
    "#gato!",
    "#😺",
    "#\u0301a",
    "#" + "x" * (MAX_ROOM + 1),
)
room_attempts = st.builds(
    lambda before, name, after: before + name + after,
    st.sampled_from(("", " ")),
    st.sampled_from(VALID_ROOMS + INVALID_ROOMS),
    st.sampled_from(("", " ")),
)
maybe_rooms = st.one_of(st.just(""), room_attempts)
# Short topics, and topics around the length limit.
topics = st.one_of(
    texts,
    st.integers(MAX_TOPIC - 2, MAX_TOPIC + 2).map(lambda n: ("gato " * n)[: n - 1] + "!"),
)


@attrs.define(eq=False)
class User:
    """A simulated user: its connection, where it stands, and the lines it is owed."""

    client: FakeClient
    since: float
    state: str = "nickname"
    nick: str = ""
    room: str = ""
    """The folded name of the room it is in, once it has a nickname."""
    lost: bool = False
    dropped: bool = False
    owed: list[str] = attrs.field(factory=list)


@attrs.define(eq=False)
class Room:
    """A room of the model: the spelling it was created with, and its topic."""

    name: str
    topic: str = ""


class ChatModel(RuleBasedStateMachine):
    """Simulated users against a model of docs/PROTOCOL.md and the catalog's room lines (flood
    control off): one room at a time, the lobby on arrival, text and notices per room."""

    def __init__(self) -> None:
        super().__init__()
        self.chat = Harness()
        self.users: list[User] = []
        self.members: dict[str, User] = {}
        self.rooms: dict[str, Room] = {}
        self.held = 0
        """How many more steps share this reactor turn (nobody's output is read till then)."""

    # Who is where

    def in_state(self, state: str) -> list[User]:
        return [user for user in self.users if user.state == state]

    def connected(self) -> list[User]:
        return [user for user in self.users if user.state != "closed"]

    def choose(self, users: list[User], pick: int) -> User:
        return users[pick % len(users)]

    def tell_members(self, line: str) -> None:
        for user in self.members.values():
            user.owed.append(line)

    def sorted_nicks(self) -> list[str]:
        return sorted((user.nick for user in self.members.values()), key=fold)

    def in_room(self, key: str) -> list[User]:
        return [user for user in self.members.values() if user.room == key]

    def tell_room(self, key: str, line: str) -> None:
        for user in self.in_room(key):
            user.owed.append(line)

    def nicks_in(self, key: str) -> list[str]:
        return sorted((user.nick for user in self.in_room(key)), key=fold)

    def _enter(self, user: User, name: str) -> Room:
        """C{user} is now in room C{name}, which is created with that spelling if new (the
        lobby always keeps the operator's spelling)."""
        user.room = fold(name)
        return self.rooms.setdefault(user.room, Room(LOBBY if user.room == fold(LOBBY) else name))

    def _exit(self, user: User) -> tuple[str, Room]:
        """C{user} is in no room now; the room it was in vanishes if that left it empty."""
        key, user.room = user.room, ""
        room = self.rooms[key]
        if not self.in_room(key):
            del self.rooms[key]
        return key, room

    def _move(self, user: User, name: str) -> None:
        """C{user} leaves its room for room C{name}, as /join and /part do."""
        left_key, left_room = self._exit(user)
        self.tell_room(left_key, room_left(user.nick, left_room.name))
        room = self._enter(user, name)
        self.tell_room(user.room, room_joined(user.nick, room.name))
        if room.topic:
            user.owed.append(topic(room.name, room.topic))
        user.owed.append(names(room.name, self.nicks_in(user.room)))

    def _room_named(self, raw: str) -> tuple[str, str | None]:
        """The display form of room name C{raw}, and the error line if it is refused."""
        name = display(raw)
        return name, room_error(name)

    # Rules

    @initialize(rooms=st.lists(st.sampled_from((LOBBY, "#gatos", "#Gatos", "#café")), max_size=4))
    def arrive(self, rooms: list[str]) -> None:
        """Up to four users chatting from the start, spread over rooms, so that what reaches
        one room and not another is tested from the first step."""
        for nick, room in zip(("ana", "bia", "zé", "straße"), rooms, strict=False):
            self.connect()
            user = self.users[-1]
            self._choose_nickname(user, nick)
            if room != LOBBY:
                self._join(user, "join", room)

    @precondition(lambda self: len(self.connected()) < 6)
    @rule()
    def connect(self) -> None:
        user = User(self.chat.connect(), self.chat.clock.seconds())
        user.owed += [GREETING, PROMPT]
        self.users.append(user)

    def _choose_nickname(self, user: User, raw: str) -> None:
        user.client.line(raw)
        nick = display(raw)
        error = nick_error(nick)
        if error is None and fold(nick) in self.members:
            error = taken(nick)
        if error is not None:
            user.owed += [error, PROMPT]
            return
        user.state, user.nick = "chat", nick
        self.members[fold(nick)] = user
        self.tell_members(joined(nick))
        lobby = self._enter(user, LOBBY)
        if lobby.topic:
            user.owed.append(topic(lobby.name, lobby.topic))

    @precondition(lambda self: self.in_state("nickname"))
    @rule(pick=picks, raw=nick_attempts)
    def choose_nickname(self, pick: int, raw: str) -> None:
        self._choose_nickname(self.choose(self.in_state("nickname"), pick), raw)

    @precondition(lambda self: self.in_state("nickname") and self.members)
    @rule(pick=picks, other=picks, spelling=spellings)
    def choose_taken_nickname(self, pick: int, other: int, spelling) -> None:
        holder = self.choose(list(self.members.values()), other)
        self._choose_nickname(self.choose(self.in_state("nickname"), pick), spelling(holder.nick))

    def _rename(self, user: User, word: str, raw: str) -> None:
        user.client.line(f"/{word} {raw}")
        argument = raw.strip()
        if not argument:
            user.owed.append(USAGE_NICK)
            return
        nick = display(argument)
        error = nick_error(nick)
        holder = self.members.get(fold(nick))
        if error is None and holder not in (None, user):
            error = taken(nick)
        if error is None and nick == user.nick:
            error = same_nick(nick)
        if error is not None:
            user.owed.append(error)
            return
        old = user.nick
        del self.members[fold(old)]
        user.nick = nick
        self.members[fold(nick)] = user
        self.tell_members(renamed(old, nick))

    @precondition(lambda self: self.members)
    @rule(pick=picks, word=st.sampled_from(("nick", "NICK", "Nick")), raw=nick_attempts)
    def rename(self, pick: int, word: str, raw: str) -> None:
        self._rename(self.choose(self.in_state("chat"), pick), word, raw)

    @precondition(lambda self: self.members)
    @rule(pick=picks, other=picks, spelling=spellings)
    def rename_to_a_used_nickname(self, pick: int, other: int, spelling) -> None:
        holder = self.choose(list(self.members.values()), other)
        self._rename(self.choose(self.in_state("chat"), pick), "nick", spelling(holder.nick))

    @precondition(lambda self: self.members)
    @rule(pick=picks, text=texts)
    def say(self, pick: int, text: str) -> None:
        user = self.choose(self.in_state("chat"), pick)
        user.client.line(text)
        if text.strip():
            self.tell_room(user.room, f"<{user.nick}> {text.strip()}")

    @precondition(lambda self: self.members)
    @rule(pick=picks, text=texts)
    def say_with_a_slash(self, pick: int, text: str) -> None:
        user = self.choose(self.in_state("chat"), pick)
        user.client.line(f"//{text}")
        self.tell_room(user.room, f"<{user.nick}> /{text.rstrip()}")

    @precondition(lambda self: self.members)
    @rule(pick=picks, word=st.sampled_from(("me", "ME", "Me")), text=texts)
    def act(self, pick: int, word: str, text: str) -> None:
        user = self.choose(self.in_state("chat"), pick)
        user.client.line(f"/{word} {text}")
        if text.strip():
            self.tell_room(user.room, f"* {user.nick} {text.strip()}")
        else:
            user.owed.append(USAGE_ME)

    def _whisper(self, user: User, word: str, target: str, text: str) -> None:
        user.client.line(f"/{word} {target} {text}")
        if not target or not text.strip():
            user.owed.append(USAGE_MSG)
            return
        recipient = self.members.get(fold(target))
        if recipient is None:
            user.owed.append(no_such_nick(target))
            return
        recipient.owed.append(f"[privado de {user.nick}] {text.strip()}")
        user.owed.append(f"[privado para {recipient.nick}] {text.strip()}")

    private_words = st.sampled_from(("msg", "MSG", "Msg", "w", "W"))

    @precondition(lambda self: self.members)
    @rule(pick=picks, other=picks, spelling=spellings, word=private_words, text=texts)
    def whisper_to_present(self, pick: int, other: int, spelling, word: str, text: str) -> None:
        target = self.choose(list(self.members.values()), other)
        self._whisper(self.choose(self.in_state("chat"), pick), word, spelling(target.nick), text)

    @precondition(lambda self: self.members)
    @rule(
        pick=picks,
        word=private_words,
        nick=st.sampled_from((*VALID_NICKS, "ninguém", "zé!")),
        text=texts,
    )
    def whisper_to_anyone(self, pick: int, word: str, nick: str, text: str) -> None:
        self._whisper(self.choose(self.in_state("chat"), pick), word, nick, text)

    @precondition(lambda self: self.members)
    @rule(
        pick=picks,
        word=st.sampled_from(("users", "list", "who", "USERS", "Who")),
        argument=st.sampled_from(("", " todos")),
    )
    def list_users(self, pick: int, word: str, argument: str) -> None:
        user = self.choose(self.in_state("chat"), pick)
        user.client.line(f"/{word}{argument}")
        nicks = self.sorted_nicks()
        user.owed.append(users(nicks) if len(nicks) > 1 else ALONE)

    @precondition(lambda self: self.members)
    @rule(
        pick=picks, word=st.sampled_from(("", "dance", "DANCE", "msgx", "nicks", "joinx", "room"))
    )
    def unknown(self, pick: int, word: str) -> None:
        user = self.choose(self.in_state("chat"), pick)
        user.client.line(f"/{word}")
        user.owed.append(unknown_command(word))

    @precondition(lambda self: self.members)
    @rule(pick=picks, word=st.sampled_from(("quit", "QUIT")), reason=texts)
    def quit(self, pick: int, word: str, reason: str) -> None:
        user = self.choose(self.in_state("chat"), pick)
        user.client.line(f"/{word} {reason}")
        user.owed.append(goodbye(user.nick))
        self._leave(user)
        self.tell_members(left(user.nick, reason.strip()))

    def _leave(self, user: User) -> None:
        """C{user} leaves the chat: its room hears nothing but the leave notice to everyone."""
        user.state = "closed"
        del self.members[fold(user.nick)]
        self._exit(user)

    # Rooms

    def _join(self, user: User, word: str, raw: str) -> None:
        user.client.line(f"/{word} {raw}")
        if not raw.strip():
            user.owed.append(USAGE_JOIN)
            return
        name, error = self._room_named(raw)
        if error is None and fold(name) == user.room:
            error = already_in(self.rooms[user.room].name)
        if error is not None:
            user.owed.append(error)
            return
        self._move(user, name)

    join_words = st.sampled_from(("join", "JOIN", "Join"))

    @precondition(lambda self: self.members)
    @rule(pick=picks, word=join_words, raw=room_attempts)
    def join(self, pick: int, word: str, raw: str) -> None:
        self._join(self.choose(self.in_state("chat"), pick), word, raw)

    @precondition(lambda self: self.members)
    @rule(pick=picks, other=picks, word=join_words, spelling=spellings)
    def join_a_room_that_exists(self, pick: int, other: int, word: str, spelling) -> None:
        room = self.choose(list(self.rooms.values()), other)
        self._join(self.choose(self.in_state("chat"), pick), word, spelling(room.name))

    @precondition(lambda self: self.members)
    @rule(pick=picks, spelling=spellings)
    def join_the_room_one_is_in(self, pick: int, spelling) -> None:
        user = self.choose(self.in_state("chat"), pick)
        self._join(user, "join", spelling(self.rooms[user.room].name))

    @precondition(lambda self: self.members)
    @rule(pick=picks, word=join_words, spelling=spellings)
    def join_the_lobby(self, pick: int, word: str, spelling) -> None:
        """Once everyone has left the lobby, this re-creates it: still under its own spelling."""
        self._join(self.choose(self.in_state("chat"), pick), word, spelling(LOBBY))

    def _part(self, user: User, word: str, raw: str) -> None:
        user.client.line(f"/{word} {raw}" if raw else f"/{word}")
        here = self.rooms[user.room]
        if raw.strip():
            name, error = self._room_named(raw)
            if error is None and fold(name) != user.room:
                error = not_in(name)
            if error is not None:
                user.owed.append(error)
                return
        if user.room == fold(LOBBY):
            user.owed.append(in_the_lobby(here.name))
            return
        self._move(user, LOBBY)

    part_words = st.sampled_from(("part", "PART", "Part"))

    @precondition(lambda self: self.members)
    @rule(pick=picks, word=part_words, raw=st.one_of(st.just(""), st.just(""), maybe_rooms))
    def part(self, pick: int, word: str, raw: str) -> None:
        self._part(self.choose(self.in_state("chat"), pick), word, raw)

    @precondition(lambda self: self.members)
    @rule(pick=picks, word=part_words, spelling=spellings)
    def part_naming_the_room_one_is_in(self, pick: int, word: str, spelling) -> None:
        user = self.choose(self.in_state("chat"), pick)
        self._part(user, word, spelling(self.rooms[user.room].name))

    @precondition(lambda self: self.members)
    @rule(pick=picks, word=st.sampled_from(("topic", "TOPIC", "Topic")), text=topics)
    def set_or_show_topic(self, pick: int, word: str, text: str) -> None:
        user = self.choose(self.in_state("chat"), pick)
        user.client.line(f"/{word} {text}")
        room = self.rooms[user.room]
        wanted = text.strip()
        if not wanted:
            user.owed.append(topic(room.name, room.topic) if room.topic else no_topic(room.name))
        elif len(wanted) > MAX_TOPIC:
            user.owed.append(TOPIC_LONG)
        else:
            room.topic = wanted
            self.tell_room(user.room, topic_set(user.nick, room.name, wanted))

    def _names(self, user: User, word: str, raw: str) -> None:
        user.client.line(f"/{word} {raw}" if raw else f"/{word}")
        key = user.room
        if raw.strip():
            name, error = self._room_named(raw)
            if error is None and fold(name) not in self.rooms:
                error = no_such_room(name)
            if error is not None:
                user.owed.append(error)
                return
            key = fold(name)
        user.owed.append(names(self.rooms[key].name, self.nicks_in(key)))

    names_words = st.sampled_from(("names", "NAMES", "Names"))

    @precondition(lambda self: self.members)
    @rule(pick=picks, word=names_words, raw=maybe_rooms)
    def list_names(self, pick: int, word: str, raw: str) -> None:
        self._names(self.choose(self.in_state("chat"), pick), word, raw)

    @precondition(lambda self: self.members)
    @rule(pick=picks, other=picks, word=names_words, spelling=spellings)
    def list_names_of_a_room_that_exists(self, pick: int, other: int, word: str, spelling) -> None:
        room = self.choose(list(self.rooms.values()), other)
        self._names(self.choose(self.in_state("chat"), pick), word, spelling(room.name))

    @precondition(lambda self: self.members)
    @rule(pick=picks, word=st.sampled_from(("rooms", "ROOMS", "Rooms")))
    def list_rooms(self, pick: int, word: str) -> None:
        user = self.choose(self.in_state("chat"), pick)
        user.client.line(f"/{word}")
        listing = sorted(self.rooms, key=lambda key: (-len(self.in_room(key)), key))
        user.owed.append(rooms_title(len(listing)))
        for key in listing:
            room = self.rooms[key]
            user.owed.append(rooms_entry(room.name, len(self.in_room(key)), room.topic))

    @precondition(lambda self: self.connected())
    @rule(pick=picks)
    def drop(self, pick: int) -> None:
        user = self.choose(self.connected(), pick)
        user.client.drop()
        user.lost = user.dropped = True
        if user.state == "nickname":
            user.state = "closed"
            return
        self._leave(user)
        self.tell_members(left(user.nick))

    @precondition(lambda self: not self.held)
    @rule(steps=st.integers(2, 8))
    def hold_output(self, steps: int) -> None:
        """The next C{steps} steps happen in one reactor turn, as when many users' lines arrive
        at once: what they publish is flushed together (unless the clock moves)."""
        self.held = steps

    @rule(seconds=st.sampled_from((0, 1, 15, 30, 59, 60, 61)))
    def advance_clock(self, seconds: int) -> None:
        self.chat.clock.advance(seconds)
        now = self.chat.clock.seconds()
        for user in self.in_state("nickname"):
            if user.since + NICK_TIMEOUT_SECONDS <= now:
                user.owed.append(NICK_TIMEOUT)
                user.state = "closed"

    # Checks

    @invariant()
    def everyone_received_exactly_what_was_predicted(self) -> None:
        reading, self.held = not self.held, max(0, self.held - 1)
        for user in self.users:
            if reading:
                received = user.client.lines()
                # A dropped connection may lose what was still on its way to it.
                expected = user.owed[: len(received)] if user.dropped else user.owed
                assert received == expected, (user.nick, user.state)
                user.owed = []
            if user.client.closed and not user.lost:
                assert user.state == "closed"
                user.client.close_if_asked()
                user.lost = True
            assert user.lost == (user.state == "closed"), (user.nick, user.state)
        assert self.chat.service.nicknames() == self.sorted_nicks()
        assert self.chat.service.limiter.total == len(self.connected())
        assert set(self.chat.factory.door.sessions.values()) == {
            user.client.session for user in self.connected()
        }
        service = self.chat.service
        assert {
            key: (room.name, room.topic, service.nicknames(room.members.values()))
            for key, room in service.rooms.items()
        } == {key: (room.name, room.topic, self.nicks_in(key)) for key, room in self.rooms.items()}


def test_every_client_receives_what_the_protocol_promises():
    """Every user sees exactly the lines docs/PROTOCOL.md promises, in the order things happen."""
    run_state_machine_as_test(
        ChatModel, settings=settings(max_examples=400, stateful_step_count=60, **SETTINGS)
    )
