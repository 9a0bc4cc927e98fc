"""
Tests of the terminal UI: what the user sees on a screen, through a small VT emulator.

`Screen` interprets the subset of VT100/xterm output the client uses (cursor moves, erase,
scrolling region, alternate screen, SGR) into a grid of cells, so tests assert on the screen a
person would see rather than on escape bytes.  `TerminalView` is driven with a memory clock and
a session over a `StringTransport`, as the real UI is over a TCP connection.
"""

from __future__ import annotations

import re
import unicodedata

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from littlecats.client import render
from littlecats.client.protocol import ChatSession, State
from littlecats.client.tui import TerminalView
from littlecats.messages import Catalog

_SEQUENCE = re.compile(
    r"\x1b\[([?0-9;]*)([@-~])|\x1b[()][0-9A-Za-z]|\x1b[=>78]|([\x00-\x1f])|(.)", re.S
)


class Screen:
    """A minimal terminal: enough of VT100/xterm to show what the client draws."""

    def __init__(self, rows: int = 12, columns: int = 40) -> None:
        self.rows, self.columns = rows, columns
        self.grid = [[" "] * columns for _ in range(rows)]
        self.row = self.column = 0
        self.top, self.bottom = 0, rows - 1
        self.bells = 0
        self.styled = False
        self._wrap_pending = False

    def feed(self, data: bytes | str) -> None:
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        for match in _SEQUENCE.finditer(data):
            params, final, control, char = match.groups()
            if final is not None:
                self._csi(params, final)
            elif control is not None:
                self._control(control)
            elif char is not None:
                self._print(char)

    def _csi(self, params: str, final: str) -> None:
        numbers = [int(p) if p.isdigit() else 0 for p in params.lstrip("?").split(";")]
        self._wrap_pending = False
        if final == "H":
            row = numbers[0] if numbers[0] else 1
            column = numbers[1] if len(numbers) > 1 and numbers[1] else 1
            self.row, self.column = min(row, self.rows) - 1, min(column, self.columns) - 1
        elif final == "K":
            self.grid[self.row] = [" "] * self.columns
        elif final == "J":
            self.grid = [[" "] * self.columns for _ in range(self.rows)]
        elif final == "r":
            top = numbers[0] if numbers[0] else 1
            bottom = numbers[1] if len(numbers) > 1 and numbers[1] else self.rows
            self.top, self.bottom = top - 1, bottom - 1
            self.row = self.column = 0
        elif final == "m":
            self.styled = self.styled or params not in ("", "0")
        elif final in "hl" and params == "?1049":
            self.grid = [[" "] * self.columns for _ in range(self.rows)]

    def _control(self, char: str) -> None:
        if char == "\r":
            self.column = 0
            self._wrap_pending = False
        elif char == "\n":
            self._lineFeed()
        elif char == "\a":
            self.bells += 1

    def _lineFeed(self) -> None:
        self._wrap_pending = False
        if self.row == self.bottom:
            del self.grid[self.top]
            self.grid.insert(self.bottom, [" "] * self.columns)
        elif self.row < self.rows - 1:
            self.row += 1

    def _print(self, char: str) -> None:
        if unicodedata.category(char) in ("Mn", "Me", "Cf") or char in "\ufe0f":
            return
        width = 2 if unicodedata.east_asian_width(char) in "WF" else 1
        if self._wrap_pending or self.column + width > self.columns:
            self.column = 0
            self._lineFeed()
        self.grid[self.row][self.column] = char
        if width == 2:
            self.grid[self.row][self.column + 1] = ""
        self.column += width
        if self.column >= self.columns:
            self.column = self.columns - 1
            self._wrap_pending = True

    def line(self, row: int) -> str:
        """Row C{row} (negative counts from the bottom) as text, trailing spaces removed."""
        return "".join(self.grid[row]).rstrip()

    def text(self) -> str:
        return "\n".join(self.line(row) for row in range(self.rows))

    @property
    def cursor(self) -> tuple[int, int]:
        return self.row, self.column


class Terminal:
    """A view on a screen, over a session whose connection is a StringTransport."""

    def __init__(
        self,
        rows: int = 12,
        columns: int = 40,
        colour: bool = False,
        password: str | None = None,
    ) -> None:
        self.screen = Screen(rows, columns)
        self.output: list[bytes] = []
        """Everything ever drawn, as written to the terminal."""
        self.clock = Clock()
        self.view = TerminalView(
            Catalog("en"),
            render.Palette(colour),
            "localhost:4000",
            self.draw,
            (rows, columns),
            self.clock,
        )
        self.session = ChatSession(
            self.view,
            Catalog("en"),
            self.clock,
            nick="ana",
            reconnect=True,
            server="x:1",
            password=password,
        )
        self.view.session = self.session
        self.view.start()
        self.transport = StringTransport()
        self.protocol = self.session.factory().buildProtocol(None)
        self.protocol.makeConnection(self.transport)

    def draw(self, data: bytes) -> None:
        self.output.append(data)
        self.screen.feed(data)

    def receive(self, *lines: str) -> None:
        self.protocol.dataReceived("".join(line + "\r\n" for line in lines).encode("utf-8"))

    def join(self) -> None:
        self.receive("*** Welcome to the Little Cats chat!", "Choose your nickname:")
        self.receive("*** ana joined the Little Cats chat.")
        self.transport.clear()

    def type(self, text: str) -> None:
        self.view.keysReceived(text.encode("utf-8"))

    def sent(self) -> list[str]:
        data = self.transport.value().decode("utf-8")
        self.transport.clear()
        return data.split("\r\n")[:-1]


def test_incoming_line_leaves_the_typed_line_and_cursor_intact():
    """A message arriving while the user types shows in the pane; the input line is untouched."""
    term = Terminal()
    term.join()
    term.type("half a sentence")
    cursor = term.screen.cursor
    term.receive("<bob> interrupting you")
    assert term.screen.line(-1) == "[ana] half a sentence"
    assert term.screen.cursor == cursor
    assert "<bob> interrupting you" in term.screen.line(-3)
    term.type(" done\r")
    assert term.sent() == ["half a sentence done"]


def test_status_line_shows_server_nick_users_and_state():
    """The status line names the server, our nickname, the user count and the connection state."""
    term = Terminal(columns=80)
    term.join()
    term.receive("*** Connected users (3): ana, bob, cy")
    status = term.screen.line(-2)
    assert "localhost:4000" in status
    assert "ana" in status
    assert "users: 3" in status
    assert "online" in status


def test_status_line_shows_the_room_we_are_in():
    """The status line names our room once the server does, and follows us to another and back."""
    term = Terminal(columns=80)
    term.session.ask_users = True
    term.join()
    assert "#" not in term.screen.line(-2)
    term.receive("*** Connected users (2): ana, bob", "*** In #hall (2): ana, bob")
    assert term.screen.line(-2).startswith(" ana │ #hall │ users: 2 │ online")
    term.type("/join #cats\r")
    term.receive("*** ana joined #cats.", "*** #cats has no topic.", "*** In #cats (1): ana")
    assert " ana │ #cats │ " in term.screen.line(-2)
    term.type("/part\r")
    term.receive("*** ana joined #hall.", "*** In #hall (2): ana, bob")
    assert " ana │ #hall │ " in term.screen.line(-2)
    assert term.sent() == ["/join #cats", "/part"]


def test_status_line_forgets_the_room_when_offline():
    """While offline the status line shows no room, since the server may put us elsewhere."""
    term = Terminal(columns=80)
    term.join()
    term.receive("*** ana joined #cats.")
    assert "#cats" in term.screen.line(-2)
    term.protocol.connectionLost(None)
    assert "#cats" not in term.screen.line(-2)


def test_unicode_is_typed_edited_and_sent_whole():
    """Accents, CJK and emoji can be typed and edited by whole characters, and arrive intact."""
    term = Terminal()
    term.join()
    term.type("olá, João 日本 😀x")
    term.type("\x7f")  # backspace removes the x
    term.type("\x1b[D\x7f")  # left over the emoji, then backspace removes the space
    term.type("\r")
    assert term.sent() == ["olá, João 日本😀"]


def test_cursor_moves_by_display_width():
    """The cursor sits after a wide character at the right column, not in its middle."""
    term = Terminal()
    term.join()
    term.type("日本")
    assert term.screen.cursor == (11, len("[ana] ") + 4)
    term.type("\x1b[D")
    assert term.screen.cursor == (11, len("[ana] ") + 2)


def test_private_message_rings_the_bell():
    """An incoming private message rings the terminal bell; a public one does not."""
    term = Terminal()
    term.join()
    term.receive("<bob> hi all")
    assert term.screen.bells == 0
    term.receive("[private from bob] psst")
    assert term.screen.bells == 1


def test_no_colour_means_no_colour_escapes():
    """With colour off, message lines are drawn without any SGR colour codes."""
    output: list[bytes] = []
    term = Terminal(colour=False)
    term.view.write = output.append
    term.join()
    term.receive("<bob> hi", "!!! oops", "[private from bob] psst")
    drawn = b"".join(output).decode()
    assert not re.search(r"\x1b\[[0-9;]*3[0-9]m", drawn)


def test_colour_marks_kinds_and_nicknames():
    """With colour on, errors are red and a nickname has its own colour."""
    output: list[bytes] = []
    term = Terminal(colour=True)
    term.view.write = output.append
    term.join()
    term.receive("!!! oops", "<bob> hi")
    drawn = b"".join(output).decode()
    assert "\x1b[1;31m!!! oops" in drawn
    assert f"\x1b[{render.Palette().nick('bob')}mbob" in drawn


def test_long_messages_wrap_in_the_pane():
    """A message longer than the screen is wrapped onto several rows, none of it lost."""
    term = Terminal(columns=30)
    term.join()
    term.receive("<bob> " + " ".join(f"w{i}" for i in range(20)))
    pane = term.screen.text()
    assert all(f"w{i}" in pane for i in range(20))


def test_page_up_scrolls_back_and_new_lines_do_not_move_the_view():
    """PgUp shows older lines; while scrolled back, new lines wait and the status says so."""
    term = Terminal(rows=8)
    term.join()
    for i in range(30):
        term.receive(f"<bob> line {i}")
    assert "line 29" in term.screen.text()
    term.type("\x1b[5~")
    assert "line 29" not in term.screen.text()
    before = term.screen.text()
    term.receive("<bob> newer")
    assert term.screen.text().split("\n")[:-2] == before.split("\n")[:-2]
    assert "PgDn" in term.screen.line(-2)
    term.type("\x1b[6~\x1b[6~\x1b[6~\x1b[6~\x1b[6~")
    assert "newer" in term.screen.text()


def test_resize_redraws_everything_at_the_new_size():
    """After a resize the pane, the status line and the input line are drawn to the new size."""
    term = Terminal(rows=10, columns=40)
    term.join()
    term.receive("<bob> still here")
    term.type("typing")
    term.screen = Screen(14, 60)
    term.view.write = term.screen.feed
    term.view.resize(14, 60)
    assert term.screen.line(-1) == "[ana] typing"
    assert "still here" in term.screen.text()
    assert "localhost:4000" in term.screen.line(-2)


def test_refused_nickname_asks_again_on_the_input_line():
    """A refused nickname shows the server's reason and lets the user type another one."""
    term = Terminal(columns=80)
    term.receive("*** Welcome", "Choose your nickname:")
    assert term.sent() == ["ana"]
    term.receive("!!! The nickname ana is already taken.", "Choose your nickname:")
    assert "already taken" in term.screen.text()
    assert term.session.state is State.NICKNAME
    assert term.screen.line(-1).startswith("[nickname]")
    term.type("ana2\r")
    assert term.sent() == ["ana2"]
    term.receive("*** ana2 joined the Little Cats chat.")
    assert term.session.nick == "ana2"
    assert term.screen.line(-1).startswith("[ana2]")


def test_tab_completes_nicknames_of_connected_users():
    """Tab completes a nickname the client has seen, adding ': ' at the start of a line."""
    term = Terminal()
    term.join()
    term.receive("*** Connected users (3): ana, Bob, bianca")
    term.type("bo\t")
    assert term.screen.line(-1) == "[ana] Bob:"


def test_tab_completes_room_names():
    """Tab completes a word starting with # to a room the client has seen, not to a nickname."""
    term = Terminal()
    term.join()
    term.receive("*** Rooms (2):", "***   #gatos (2): miau", "***   #lobby (1)")
    term.receive("*** Connected users (2): ana, gabi")
    term.type("/join #ga\t")
    assert term.screen.line(-1) == "[ana] /join #gatos"
    term.type("\r")
    assert term.sent() == ["/join #gatos "]
    term.type("#l\t")
    assert term.screen.line(-1) == "[ana] #lobby"
    term.type("\x15ga\t")
    assert term.screen.line(-1) == "[ana] gabi:"


def test_connection_drop_is_announced_and_status_says_offline():
    """When the connection drops the pane says so and the status line shows it is offline."""
    term = Terminal(columns=80)
    term.join()
    term.protocol.connectionLost(None)
    assert "connection to the server dropped" in term.screen.text()
    term.session.retrying(2.0)
    assert "reconnecting in 2 s" in term.screen.line(-2)


def test_typing_while_offline_keeps_nothing_secret():
    """A line typed while offline is not sent and the user is told so."""
    term = Terminal()
    term.join()
    term.protocol.connectionLost(None)
    term.type("lost words\r")
    assert term.sent() == []
    assert "Not connected" in term.screen.text()


def test_ctrl_d_on_an_empty_line_quits():
    """Ctrl-D on an empty line sends /quit; on a non-empty line it deletes instead."""
    term = Terminal()
    term.join()
    term.type("ab\x1b[D\x04")
    assert term.screen.line(-1) == "[ana] a"
    term.type("\x15\x04")
    assert term.sent() == ["/quit"]
    term.session._quit_timeout.cancel()


# Passwords, history and ghosts (issue 9)

SECRET = "s3cret-pw"
PROMPT = "\xff\xfb\x01The nickname ana is registered; type its password:"


def asked_for_a_password(term: Terminal) -> None:
    term.receive("*** Welcome", "Choose your nickname:")
    assert term.sent() == ["ana"]
    term.protocol.dataReceived(PROMPT.encode("latin-1") + b"\r\n")
    term.transport.clear()  # the client's IAC DONT ECHO


def test_password_is_asked_on_a_masked_input_line():
    """The server's prompt shows; what is typed for the password never reaches the screen,
    is sent once on Enter, and is not in the input history."""
    term = Terminal(columns=80)
    asked_for_a_password(term)
    assert "The nickname ana is registered; type its password:" in term.screen.text()
    assert "not shown" in term.screen.text()
    assert term.screen.line(-1) == "[password]"
    assert "password" in term.screen.line(-2)
    term.type(SECRET)
    assert term.screen.line(-1) == "[password]"
    assert term.screen.cursor == (11, len("[password] "))
    term.type("\r")
    assert term.sent() == [SECRET]
    term.receive("*** ana joined the Little Cats chat.", "*** You are identified as ana.")
    assert term.screen.line(-1) == "[ana]"
    term.type("\x1b[A")  # Up: nothing to recall
    assert term.screen.line(-1) == "[ana]"
    assert term.view.editor.history == []
    assert SECRET.encode() not in b"".join(term.output)


def test_password_typed_before_the_prompt_is_not_part_of_it():
    """Half a line typed while joining is dropped when the password is asked, not sent with it."""
    term = Terminal()
    term.receive("*** Welcome", "Choose your nickname:")
    term.transport.clear()
    term.type("hello")
    term.protocol.dataReceived(PROMPT.encode("latin-1") + b"\r\n")
    term.transport.clear()
    term.type(SECRET + "\r")
    assert term.sent() == [SECRET]


def test_wrong_password_shows_the_reason_and_asks_for_a_nickname():
    """A refused password is shown, and the input line asks for a nickname again, in clear."""
    term = Terminal(columns=80)
    asked_for_a_password(term)
    term.type(SECRET + "\r")
    term.sent()
    term.receive("\xff\xfc\x01!!! Wrong password.", "Choose your nickname:")
    assert "!!! Wrong password." in term.screen.text()
    assert term.session.state is State.NICKNAME
    assert term.screen.line(-1) == "[nickname]"
    term.type("bia")
    assert term.screen.line(-1) == "[nickname] bia"


def test_given_password_is_sent_without_asking():
    """With a password given, the prompt shows and the client says it answered it."""
    term = Terminal(columns=80, password=SECRET)
    asked_for_a_password(term)
    assert "Password for ana sent." in term.screen.text()
    assert term.screen.line(-1) == "[ana]"  # no password input
    assert term.session.state is State.JOINING


def test_history_lines_are_dimmed_and_marked_apart_from_live_lines():
    """A room's earlier lines keep the server's text, dimmed, with a mark instead of the time
    they arrived; live lines keep their time and their colours."""
    term = Terminal(columns=80, colour=True)
    term.join()
    term.output.clear()
    term.receive(
        "*** Earlier in #lobby (2):",
        "[2026-12-01 17:22] <bob> from before",
        "[2026-12-01 17:23] * bob waved",
        "*** End of #lobby's history.",
        "<bob> said now",
    )
    rows = term.screen.text().split("\n")
    before = next(row for row in rows if "from before" in row)
    waved = next(row for row in rows if "waved" in row)
    now = next(row for row in rows if "said now" in row)
    assert before == "    | [2026-12-01 17:22] <bob> from before"
    assert waved == "    | [2026-12-01 17:23] * bob waved"
    assert re.fullmatch(r"\d\d:\d\d <bob> said now", now)
    drawn = b"".join(term.output).decode()
    assert "\x1b[2m    | [2026-12-01 17:22] <\x1b[0m" in drawn
    assert f"\x1b[2;{render.Palette().nick('bob')}mbob\x1b[0m" in drawn
    assert "\x1b[2m> from before\x1b[0m" in drawn
    assert "\x1b[2m> said now" not in drawn


def test_history_is_marked_without_colour_too():
    """Without colour the mark alone tells history from live lines."""
    term = Terminal(columns=80)
    term.join()
    term.receive("[2026-12-01 17:22] <bob> from before", "<bob> said now")
    assert term.screen.line(-4) == "    | [2026-12-01 17:22] <bob> from before"
    assert term.screen.line(-3).endswith(" <bob> said now")
    assert not term.screen.line(-3).startswith("    |")


def test_kept_private_messages_do_not_ring_the_bell():
    """Messages kept while away are shown like private messages, without a bell each."""
    term = Terminal(columns=80, colour=True)
    term.join()
    term.receive(
        "[private from bob, 2026-12-01 17:24] one",
        "[private from cy, 2026-12-01 17:25] two",
    )
    assert term.screen.bells == 0
    assert "[private from cy, 2026-12-01 17:25] two" in term.screen.text()
    term.receive("[private from bob] now")
    assert term.screen.bells == 1


def test_ghosted_client_stays_closed_until_the_user_leaves():
    """Identified elsewhere: the reason shows, the status says closed, nothing reconnects, and
    Ctrl-D leaves."""
    term = Terminal(columns=80, password=SECRET)
    term.join()
    term.receive(
        "!!! The nickname ana was identified from another connection; this one is being closed."
    )
    term.protocol.connectionLost(None)
    text = term.screen.text()
    assert "identified from another connection" in text
    assert "not reconnecting" in text
    assert "closed" in term.screen.line(-2)
    term.session.retrying(1.0)
    assert "reconnecting in" not in term.screen.line(-2)
    assert not term.session.finished.called
    term.type("\x04")
    assert term.session.finished.called
