"""
The web door in memory: the real twisted.web site, Autobahn's WebSocket and the chat core over
StringTransports, time on a MemoryReactorClock.  What a page sends and receives (docs/WEB.md),
and what telnet users on the same chat see of it.
"""

from __future__ import annotations

import json

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from littlecats.doors.web import door as web_door
from littlecats.doors.web import protocol as web_protocol
from littlecats.doors.web.protocol import MAX_MESSAGE_BYTES, PING_SECONDS
from littlecats.storage.interface import BanRecord
from tests.helpers import InlineHasher, SlowBans
from tests.web_helpers import BINARY, CLOSE, PING, PONG, TEXT, WebHarness, client_frame


@pytest.fixture
def chat() -> WebHarness:
    return WebHarness()


# Arriving


def test_a_page_is_greeted_then_chooses_a_nickname_and_telnet_users_see_the_seed_sentence(chat):
    telnet = chat.join("bia")
    page = chat.open()
    assert page.status == 101
    assert page.events() == [
        {"type": "hello", "lang": "pt", "lobby": "#lobby", "max_line": 2048}
    ]
    page.send({"type": "nick", "nick": "ana"})
    welcome, entered, connected = page.events()
    assert welcome == {"type": "welcome", "nick": "ana", "account": None}
    assert entered["type"] == "entered" and entered["room"] == "#lobby"
    assert entered["members"] == ["ana", "bia"]
    assert connected["type"] == "connected" and connected["nick"] == "ana"
    assert telnet.lines() == ["*** O cliente ana entrou no chat dos Little Cats."]


def test_a_taken_nickname_is_refused_and_the_page_may_choose_again(chat):
    chat.join("ana")
    page = chat.open()
    page.events()
    page.send({"type": "nick", "nick": "ANA"})
    [refused] = page.events()
    assert refused["type"] == "notice" and refused["msgid"] == "err-nick-taken"
    page.send({"type": "nick", "nick": "bia"})
    assert page.of("welcome") == [{"type": "welcome", "nick": "bia", "account": None}]


def test_a_registered_nickname_asks_for_its_password_and_replaces_the_ghost():
    chat = WebHarness(hasher=InlineHasher())
    telnet = chat.join("ana")
    telnet.line("/register segredo-da-ana")
    telnet.lines()
    page = chat.open()
    page.events()
    page.send({"type": "nick", "nick": "ana"})
    assert page.events() == [{"type": "password", "nick": "ana"}]
    page.send({"type": "nick", "nick": "ana", "password": "errada-demais"})
    assert [e["msgid"] for e in page.of("notice")] == ["err-password-wrong"]
    page.send({"type": "nick", "nick": "ana", "password": "segredo-da-ana"})
    events = page.events()
    assert {"type": "welcome", "nick": "ana", "account": "ana"} in events
    assert "reconectou" in " ".join(telnet.lines()) or telnet.closed
    assert telnet.closed


def test_connections_wait_for_the_stored_bans_after_a_start():
    """Right after a start, a page is held (nothing read) until the bans are loaded; then a
    banned address is told why and closed, and the others are greeted."""

    store = SlowBans()
    store.save_ban(BanRecord("", "203.0.113.9", "op", "spam", 0.0, None))
    chat = WebHarness(store=store)
    chat.service.startService()
    banned = chat.open(host="203.0.113.9")
    welcome = chat.open(host="198.51.100.1")
    assert banned.session is None and banned.events() == []
    assert banned.transport.producerState == "paused"
    store.held.callback(None)
    [refusal] = banned.events()
    assert refusal["msgid"] == "err-banned-until" or refusal["msgid"].startswith("err-")
    assert welcome.of("hello")
    assert welcome.transport.producerState == "producing"


# Talking with telnet


def test_a_page_and_a_telnet_user_talk_both_ways_in_the_lobby_and_in_a_room(chat):
    telnet = chat.join("bia")
    page = chat.enter("ana")
    telnet.lines()
    page.send({"type": "line", "room": "#lobby", "text": "oi, bia"})
    assert telnet.lines() == ["<ana> oi, bia"]
    assert [e["text"] for e in page.of("said")] == ["oi, bia"]
    telnet.line("oi, ana")
    [said] = page.of("said")
    assert said == {
        "type": "said",
        "room": "#lobby",
        "nick": "bia",
        "text": "oi, ana",
        "id": 0,  # no history kept here
        "time": said["time"],
    }
    telnet.line("/join #gatos")
    page.send({"type": "join", "room": "#GATOS"})
    events = page.events()
    entered = [e for e in events if e["type"] == "entered"]
    assert entered[0]["room"] == "#gatos" and entered[0]["members"] == ["ana", "bia"]
    telnet.lines()
    page.send({"type": "line", "room": "#gatos", "text": "/me ronrona"})
    assert telnet.lines() == ["* ana ronrona"]
    telnet.line("miau")
    assert [(e["room"], e["text"]) for e in page.of("said")] == [("#gatos", "miau")]
    # Still in the lobby too: a page is in several rooms at once.
    page.send({"type": "line", "room": "#lobby", "text": "ainda aqui"})
    assert page.of("said")[0]["room"] == "#lobby"


def test_private_messages_both_ways(chat):
    telnet = chat.join("bia")
    page = chat.enter("ana")
    telnet.lines()
    page.send({"type": "msg", "to": "bia", "text": "segredo"})
    assert telnet.lines() == ["[privado de ana] segredo"]
    assert page.of("private-sent") == [
        {"type": "private-sent", "to": "bia", "text": "segredo", "time": 0.0}
    ]
    telnet.line("/msg ana outro segredo")
    assert page.of("private") == [
        {"type": "private", "from": "bia", "text": "outro segredo", "time": 0.0}
    ]
    page.send({"type": "msg", "to": "ninguém", "text": "alô"})
    assert page.of("notice")[0]["msgid"] == "err-no-such-nick"


def test_commands_typed_in_a_tab_apply_to_that_tab_s_room(chat):
    page = chat.enter("ana")
    page.send({"type": "join", "room": "#gatos"})
    page.send({"type": "join", "room": "#caes"})
    page.events()
    page.send({"type": "line", "room": "#gatos", "text": "/topic só gatos"})
    [topic] = page.of("topic")
    assert topic["room"] == "#gatos" and topic["topic"] == "só gatos"
    page.send({"type": "line", "room": "#gatos", "text": "/part"})
    assert page.of("exited") == [{"type": "exited", "room": "#gatos"}]
    assert [room.name for room in chat.service.by_session[page.session.id]._rooms] == [
        "#lobby",
        "#caes",
    ]
    page.send({"type": "part", "room": "#lobby"})
    assert page.of("notice")[0]["msgid"] == "err-part-lobby"
    page.send({"type": "line", "room": "#caes", "text": "/part"})
    page.send({"type": "join", "room": "#gatos"})
    chat.join("bia").line("/join #caes")
    page.send({"type": "line", "room": "#caes", "text": "fora"})
    assert page.of("notice")[0]["msgid"] == "err-not-in-room"


def test_rooms_and_names_answer_with_data_for_the_page(chat):
    telnet = chat.join("bia")
    telnet.line("/join #gatos")
    telnet.line("/topic miau")
    page = chat.enter("ana")
    page.send({"type": "rooms"})
    [rooms] = page.of("rooms")
    assert {"name": "#gatos", "count": 1, "topic": "miau"} in rooms["rooms"]
    page.send({"type": "names", "room": "#gatos"})
    assert page.of("names") == [{"type": "names", "room": "#gatos", "nicks": ["bia"]}]


def test_history_on_entry_then_older_pages_before_a_given_line():
    chat = WebHarness(history=3)
    telnet = chat.join("bia")
    for n in range(8):
        telnet.line(f"linha {n}")
    chat.writer.flush() if hasattr(chat.writer, "flush") else None
    page = chat.open()
    page.events()
    page.send({"type": "nick", "nick": "ana"})
    events = page.events()
    kinds = [e["type"] for e in events]
    assert kinds[:5] == ["history-start", "history", "history", "history", "history-end"]
    replay = [e for e in events if e["type"] == "history"]
    assert [e["text"] for e in replay] == ["linha 5", "linha 6", "linha 7"]
    assert kinds.index("welcome") < kinds.index("entered")
    oldest = replay[0]["id"]
    page.send({"type": "history", "room": "#lobby", "before": oldest, "count": 2})
    older = [e["text"] for e in page.of("history")]
    assert older == ["linha 3", "linha 4"]
    # A live line carries the id its history line will have.
    telnet.line("linha 8")
    [said] = page.of("said")
    page.send({"type": "history", "room": "#lobby", "before": said["id"] + 1, "count": 1})
    [again] = page.of("history")
    assert again["id"] == said["id"] and again["text"] == "linha 8"


# Bad input: a clear answer, and the connection goes on


@pytest.mark.parametrize(
    "message",
    [
        "não é json",
        "[1, 2]",
        '{"type": "voar"}',
        '{"type": "line"}',
        '{"type": "line", "text": 5}',
        '{"type": "history", "room": "#lobby", "before": "ontem"}',
        '{"type": "nick", "nick": "outra"}',
    ],
)
def test_malformed_messages_get_a_notice_and_the_connection_goes_on(chat, message):
    page = chat.enter("ana")
    page.send(message)
    assert page.of("notice")[0]["msgid"] == "err-web-bad-message"
    page.send({"type": "line", "room": "#lobby", "text": "ainda aqui"})
    assert page.of("said")[0]["text"] == "ainda aqui"


def test_a_binary_message_gets_a_notice(chat):
    page = chat.enter("ana")
    page.send(b"\x00\x01", opcode=BINARY)
    assert page.of("notice")[0]["msgid"] == "err-web-bad-message"


def test_control_characters_and_escapes_never_reach_a_telnet_terminal(chat):
    telnet = chat.join("bia")
    page = chat.enter("ana")
    telnet.lines()
    page.send({"type": "line", "room": "#lobby", "text": "\x1b[2Jlimpo\u202e\x07 <b>x</b>"})
    assert telnet.lines() == ["<ana> limpo <b>x</b>"]


def test_a_line_over_the_limit_is_refused_and_the_connection_goes_on(chat):
    page = chat.enter("ana")
    page.send({"type": "line", "room": "#lobby", "text": "x" * 2049})
    assert page.of("notice")[0]["msgid"] == "err-line-too-long"
    page.send({"type": "line", "room": "#lobby", "text": "x" * 2048})
    assert page.of("said")


def test_a_message_over_the_cap_closes_the_connection_even_unfinished(chat):
    page = chat.enter("ana")
    half = b"x" * (MAX_MESSAGE_BYTES // 2 + 1)
    page.send_raw(client_frame(half, TEXT, fin=False))
    assert page.frames() == []
    page.send_raw(client_frame(half, 0x0, fin=False))
    [(opcode, body)] = page.frames()
    assert opcode == CLOSE and int.from_bytes(body[:2], "big") == 1009


def test_a_foreign_origin_is_refused_unless_allowed():
    chat = WebHarness(origins=("https://amigos.example",))
    assert chat.open(origin="https://evil.example").status == 403
    assert chat.open(origin="http://localhost:8081").status == 403
    assert chat.open(origin="https://amigos.example").status == 101
    assert chat.open(origin="http://localhost:8080").status == 101
    assert chat.open(origin=None).status == 101  # not a browser


# Limits shared with telnet


def test_flood_control_applies_to_web_messages():
    chat = WebHarness(flood_rate=1, flood_burst=2, max_recvq=2000)
    telnet = chat.join("bia", host="192.0.2.1")
    page = chat.enter("ana", host="192.0.2.2")
    chat.clock.advance(2)
    telnet.lines()
    for n in range(4):
        page.send({"type": "line", "room": "#lobby", "text": f"l{n}"})
    assert telnet.lines() == ["<ana> l0", "<ana> l1"]
    chat.clock.advance(1)
    assert telnet.lines() == ["<ana> l2"]
    for _ in range(40):
        page.send({"type": "line", "room": "#lobby", "text": "x" * 100})
    assert "err-flood" in [e.get("msgid") for e in page.events()]
    assert page.session.state.name in ("CLOSING", "CLOSED")


def test_a_page_that_does_not_read_is_dropped_past_the_send_queue_bound():
    chat = WebHarness(max_sendq=4000)
    telnet = chat.join("bia")
    page = chat.enter("ana")
    session = page.session
    page.transport.producer.pauseProducing()  # its socket buffer is full
    for n in range(30):
        telnet.line(f"linha {n} " + "x" * 50)
        chat.flush()
    assert session.outlet.held_bytes > 0 and not session.outlet.closed
    for n in range(100):
        telnet.line(f"linha {n} " + "x" * 50)
        chat.flush()
    assert session.outlet.closed and page.transport.disconnecting
    assert "ana" not in chat.service.members


def test_the_nickname_timeout_applies():
    chat = WebHarness(nick_timeout=30)
    page = chat.open()
    page.events()
    chat.clock.advance(31)
    events = page.events()
    assert events[0]["msgid"] == "err-nick-timeout"
    assert page.session.state.name == "CLOSING"


def test_idle_connections_are_pinged_and_reaped_when_they_do_not_answer(chat):
    page = chat.enter("ana")
    chat.clock.advance(PING_SECONDS + 1)
    assert [opcode for opcode, _ in page.frames()] == [PING]
    chat.clock.advance(PING_SECONDS + 1)
    assert page.transport.disconnecting


def test_a_page_that_answers_pings_stays(chat):
    page = chat.enter("ana")
    for _ in range(3):
        chat.clock.advance(PING_SECONDS + 1)
        [(opcode, body)] = page.frames()
        assert opcode == PING
        page.send_raw(client_frame(body, PONG))
    assert not page.transport.disconnecting


def test_per_address_limits_apply_to_web_connections():
    chat = WebHarness(max_per_ip=2)
    chat.open()
    chat.open()
    third = chat.open()
    [refused] = third.events()
    assert refused["msgid"] == "err-too-many-from-ip"


# Fan-out: rendered once, one message per connection per turn


def test_a_turn_s_events_reach_a_page_as_one_message(chat):
    telnet = chat.join("bia")
    page = chat.enter("ana")
    for n in range(5):
        telnet.line(f"linha {n}")
    messages = page.messages()
    assert len(messages) == 1
    assert [e["text"] for e in messages[0]] == [f"linha {n}" for n in range(5)]


def test_each_event_is_rendered_once_and_framed_once_for_every_page(chat, monkeypatch):
    telnet = chat.join("bia")
    pages = [chat.enter(f"p{n}") for n in range(5)]
    for page in pages:
        page.events()
    encoded, framed = [], []
    real_encode, real_frame = web_door._encode, web_protocol.frame
    monkeypatch.setattr(web_door, "_encode", lambda o: encoded.append(o) or real_encode(o))
    monkeypatch.setattr(web_protocol, "frame", lambda d: framed.append(d) or real_frame(d))
    telnet.line("para todos")
    assert all(page.of("said") for page in pages)
    assert len(encoded) == 1 and len(framed) == 1


# Closing


def test_shutdown_tells_pages_and_closes_with_the_websocket_handshake(chat):
    page = chat.enter("ana")
    chat.service.stopService()
    frames = page.frames()
    assert json.loads(frames[0][1])[-1]["type"] == "shutdown"
    assert frames[-1][0] == CLOSE and int.from_bytes(frames[-1][1][:2], "big") == 1000


def test_quit_says_goodbye_and_closes(chat):
    telnet = chat.join("bia")
    page = chat.enter("ana")
    telnet.lines()
    page.send({"type": "line", "room": "#lobby", "text": "/quit tchau"})
    frames = page.frames()
    assert json.loads(frames[0][1])[0]["msgid"] == "goodbye"
    assert frames[-1][0] == CLOSE
    page.lost()
    assert telnet.lines() == ["*** ana saiu do chat dos Little Cats. (tchau)"]
    assert "ana" not in chat.service.members


def test_a_kicked_page_is_told_and_its_tab_closes():
    chat = WebHarness(hasher=InlineHasher(), operators=("op",))
    op = chat.join("op")
    op.line("/register senha-do-op")
    op.line("/join #gatos")
    page = chat.enter("ana")
    page.send({"type": "join", "room": "#gatos"})
    page.events()
    op.line("/kick ana chega")
    events = page.events()
    assert [e["action"] for e in events if e["type"] == "moderated"] == ["kick"]
    assert {"type": "exited", "room": "#gatos"} in events


# The site


def _get(chat: WebHarness, path: str, extra: str = "") -> tuple[int, dict[str, str], bytes]:
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 1234))
    channel = chat.site.buildProtocol(transport.getPeer())
    transport.protocol = channel
    channel.makeConnection(transport)
    channel.dataReceived(f"GET {path} HTTP/1.1\r\nHost: localhost:8080\r\n{extra}\r\n".encode())
    head, _, body = transport.value().partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def test_the_page_and_its_files_are_served_with_a_strict_content_security_policy(chat):
    status, headers, body = _get(chat, "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"<script" in body and b"/static/app.js" in body
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/static/app.js", "/static/style.css", "/i18n/pt.json", "/i18n/en.json"):
        status, headers, _ = _get(chat, path)
        assert status == 200, path
        assert "Content-Security-Policy" in headers


def test_the_catalog_has_the_chat_s_messages_and_the_page_s_in_each_language(chat):
    _, _, pt = _get(chat, "/i18n/pt.json")
    _, _, en = _get(chat, "/i18n/en.json")
    pt_messages, en_messages = json.loads(pt)["messages"], json.loads(en)["messages"]
    assert pt_messages["joined"] == "*** O cliente {nick} entrou no chat dos Little Cats."
    assert en_messages["joined"] != pt_messages["joined"]
    assert set(pt_messages) == set(en_messages)
    assert any(msgid.startswith("web-") for msgid in pt_messages)
    assert not any(msgid.startswith("log-") for msgid in pt_messages)


def test_unknown_paths_are_404_with_no_listing(chat):
    assert _get(chat, "/static/")[0] == 404
    assert _get(chat, "/static/../setup.py")[0] == 404
    assert _get(chat, "/nada")[0] == 404


def test_an_unchanged_file_is_not_sent_again(chat):
    _, headers, _ = _get(chat, "/static/app.js")
    status, _, body = _get(chat, "/static/app.js", f"If-None-Match: {headers['ETag']}\r\n")
    assert status == 304 and body == b""


def test_a_request_body_over_the_bound_is_refused(chat):
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 1234))
    channel = chat.site.buildProtocol(transport.getPeer())
    transport.protocol = channel
    channel.makeConnection(transport)
    channel.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
    assert transport.value().startswith(b"HTTP/1.1 413")
    assert transport.disconnecting
