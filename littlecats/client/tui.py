"""
The interactive terminal UI: a scrolling message pane, a status line and an input line.

`TerminalView` is the session's view on a terminal, drawn with plain VT100/xterm sequences:
the pane is the terminal's scrolling region, so an incoming line scrolls the pane only and the
input line below it is redrawn exactly as it was, cursor included.  It keeps a bounded backlog
so it can rewrap on resize and scroll back with PgUp/PgDn.  A room's earlier lines (history)
are dimmed and marked in the time column instead of the time they arrived; a password the
server asks for is read on the input line without showing it.  `run` puts the terminal in raw
mode, reads keys through Twisted's stdio, reconnects through a `ClientService` with backoff,
and always gives the terminal back as it found it.  Protocol logic stays in `protocol`.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import signal
import sys
import termios
import time
import tty
from collections.abc import Callable
from typing import Any

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import stdio
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from littlecats.client import render
from littlecats.client.editor import LineEditor
from littlecats.client.keys import Key, KeyDecoder
from littlecats.client.lines import Kind, Line
from littlecats.client.protocol import ChatSession, IChatView, SessionFailed, State
from littlecats.client.width import text_width, truncate
from littlecats.messages import Catalog

BACKLOG_LINES = 5000
STAMP_FORMAT = "%H:%M "
HISTORY_STAMP = "    | "
"""In the time column of a line from a room's history (as wide as a time): not said now."""
HISTORY_LINES = frozenset({Kind.HISTORY, Kind.HISTORY_ACTION})
RETRY_INITIAL_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0

CSI = "\x1b["
ENTER_SCREEN = "\x1b[?1049h\x1b[H\x1b[2J"
LEAVE_SCREEN = "\x1b[r\x1b[0m\x1b[?25h\x1b[?1049l"
HIDE_CURSOR = "\x1b[?25l"
SHOW_CURSOR = "\x1b[?25h"
CLEAR_LINE = "\x1b[2K"


@implementer(IChatView)
class TerminalView:
    """The chat on a terminal of C{rows} x C{columns}; everything drawn goes through C{write}."""

    def __init__(
        self,
        catalog: Catalog,
        palette: render.Palette,
        server: str,
        write: Callable[[bytes], object],
        size: tuple[int, int],
        clock: IReactorTime,
    ) -> None:
        self.catalog = catalog
        self.palette = palette
        self.server = server
        self.write = write
        self.clock = clock
        self.rows, self.columns = size
        self.session: ChatSession | None = None
        self.editor = LineEditor()
        self.keys = KeyDecoder()
        self.backlog: collections.deque[tuple[str, Line]] = collections.deque(maxlen=BACKLOG_LINES)
        self.scroll = 0
        """Rows scrolled back from the newest; 0 follows new lines."""
        self.suspend: Callable[[], object] | None = None
        self._out: list[str] = []

    # Layout

    @property
    def paneRows(self) -> int:
        return max(self.rows - 2, 1)

    def start(self) -> None:
        """Take the screen over (alternate screen, scrolling region) and draw everything."""
        self._emit(ENTER_SCREEN)
        self.redraw()

    def stop(self) -> None:
        """Give the screen back as it was."""
        self._emit(LEAVE_SCREEN)
        self._flush()

    def resize(self, rows: int, columns: int) -> None:
        self.rows, self.columns = max(rows, 3), max(columns, 10)
        self.redraw()

    def redraw(self) -> None:
        """Draw the whole screen again."""
        self._emit(HIDE_CURSOR + f"{CSI}1;{self.paneRows}r")
        self._drawPane()
        self._drawStatus()
        self._drawInput()
        self._flush()

    # IChatView

    def show(self, line: Line) -> None:
        if line.kind is Kind.PROMPT:
            return  # answered for the user, or replaced by a hint when the user must answer
        if line.kind in HISTORY_LINES:
            stamp = HISTORY_STAMP
        else:
            stamp = time.strftime(STAMP_FORMAT, time.localtime(self.clock.seconds()))
        self.backlog.append((stamp, line))
        rows = self._wrap(stamp, line)
        self._emit(HIDE_CURSOR)
        if line.kind is Kind.PRIVATE_IN and "time" not in line.fields:
            self._emit("\a")  # not for messages kept while away: no peal of bells on entry
        if self.scroll:
            self.scroll += len(rows)
            self._drawStatus()
        else:
            for row in rows:
                self._emit(f"{CSI}{self.paneRows};1H\n\r{CLEAR_LINE}{render.ansi(row)}")
        self._drawInput()
        self._flush()

    def statusChanged(self) -> None:
        # The input line is secret exactly while the server waits for a password.
        if self.session is not None:
            self.editor.conceal(self.session.state is State.PASSWORD)
        self._emit(HIDE_CURSOR)
        self._drawStatus()
        self._drawInput()
        self._flush()

    def nicknameWanted(self, refusal: Line | None) -> None:
        assert self.session is not None
        self.session.local("client-choose-nick")

    def passwordWanted(self, prompt: Line) -> None:
        assert self.session is not None
        self.editor.conceal(True)
        self.session.local("client-type-password", nick=prompt.nick)

    # Keys

    def keysReceived(self, data: bytes) -> None:
        """Bytes typed on the terminal."""
        for key in self.keys.feed(data):
            if isinstance(key, str):
                self.editor.insert(key)
            else:
                self._key(key)
        self._emit(HIDE_CURSOR)
        self._drawInput()
        self._flush()

    def _key(self, key: Key) -> None:
        assert self.session is not None
        if key is Key.ENTER:
            secret = self.editor.secret
            line = self.editor.submit()
            if line.strip() or (secret and line):
                if self.scroll:
                    self.scroll = 0
                    self.redraw()
                self.session.submit(line)
        elif key is Key.INTERRUPT or (key is Key.EOF and not self.editor.chars):
            self.session.quit()
        elif key is Key.PAGE_UP:
            self._scrollBy(self.paneRows - 1)
        elif key is Key.PAGE_DOWN:
            self._scrollBy(-(self.paneRows - 1))
        elif key is Key.REDRAW:
            self.redraw()
        elif key is Key.SUSPEND:
            if self.suspend is not None:
                self.suspend()
        else:
            self.editor.key(key, self.session.users.values(), self.session.rooms.values())

    def _scrollBy(self, rows: int) -> None:
        total = len(self._lastRows(self.paneRows + self.scroll + max(rows, 0)))
        self.scroll = max(0, min(self.scroll + rows, total - self.paneRows))
        self.redraw()

    # Drawing

    def _emit(self, text: str) -> None:
        self._out.append(text)

    def _flush(self) -> None:
        if self._out:
            self._emit(SHOW_CURSOR)
            self.write("".join(self._out).encode("utf-8", "replace"))
            self._out = []

    def _wrap(self, stamp: str, line: Line) -> list[list[render.Segment]]:
        me = self.session.nick if self.session is not None else None
        segments = [render.Segment(stamp, self.palette.time())]
        segments += render.styled(line, self.palette, me)
        return render.wrap(segments, self.columns, indent=text_width(stamp))

    def _lastRows(self, wanted: int) -> list[list[render.Segment]]:
        """At least C{wanted} of the newest rows (fewer if the backlog is shorter), oldest first."""
        rows: list[list[render.Segment]] = []
        for stamp, line in reversed(self.backlog):
            rows[:0] = self._wrap(stamp, line)
            if len(rows) >= wanted:
                break
        return rows

    def _drawPane(self) -> None:
        pane = self.paneRows
        rows = self._lastRows(pane + self.scroll)
        end = len(rows) - self.scroll
        shown = rows[max(0, end - pane) : end]
        shown = [[] for _ in range(pane - len(shown))] + shown
        for number, row in enumerate(shown, 1):
            self._emit(f"{CSI}{number};1H{CLEAR_LINE}{render.ansi(row)}")

    def _status(self) -> str:
        """Most important first, as a narrow terminal cuts the end off."""
        session = self.session
        text = self.catalog.text
        parts = [text("client-more")] if self.scroll else []
        if session is not None:
            parts.append(session.nick or "-")
            if session.room is not None:
                parts.append(truncate(session.room, max(self.columns // 4, 8)))
            if session.state is State.CHAT:
                parts.append(
                    text("client-users", count=len(session.users))
                    if session.users_known or len(session.users) > 1
                    else text("client-users-unknown")
                )
            if session.state is State.OFFLINE and session.retry_delay is not None:
                parts.append(text("client-state-retry", seconds=f"{session.retry_delay:.0f}"))
            else:
                parts.append(text(f"client-state-{session.state.value}"))
        parts += [self.server, "Little Cats"]
        return " " + " │ ".join(parts)

    def _drawStatus(self) -> None:
        status = truncate(self._status(), self.columns)
        padding = " " * (self.columns - text_width(status))
        self._emit(
            f"{CSI}{self.rows - 1};1H{CLEAR_LINE}{CSI}{self.palette.status()}m"
            f"{status}{padding}{CSI}0m"
        )

    def _prompt(self) -> str:
        session = self.session
        if session is not None and session.state is State.NICKNAME:
            return f"[{self.catalog.text('client-nick-input')}] "
        if session is not None and session.state is State.PASSWORD:
            return f"[{self.catalog.text('client-password-input')}] "
        if session is not None and session.nick:
            return f"[{truncate(session.nick, self.columns // 3)}] "
        return "> "

    def _drawInput(self) -> None:
        prompt = self._prompt()
        shown, cursor = self.editor.view(self.columns - text_width(prompt))
        self._emit(f"{CSI}{self.rows};1H{CLEAR_LINE}{prompt}{shown}")
        self._emit(f"{CSI}{self.rows};{text_width(prompt) + cursor + 1}H")


class KeyboardProtocol(Protocol):
    """Standard input of the terminal, feeding the view; losing it means leaving."""

    def __init__(self, view: TerminalView) -> None:
        self.view = view
        self.closed: Deferred[None] = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.view.keysReceived(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self.view.session is not None:
            self.view.session.quit()
        self.closed.callback(None)


class _ObservedEndpoint:
    """An endpoint that tells the session when a connection attempt fails."""

    def __init__(self, endpoint: HostnameEndpoint, session: ChatSession) -> None:
        self.endpoint = endpoint
        self.session = session

    def connect(self, factory: object) -> Deferred[object]:
        attempt = self.endpoint.connect(factory)

        def failed(reason: Failure) -> Failure:
            self.session.connectFailed(reason)
            return reason

        return attempt.addErrback(failed)


def _terminalSize(fd: int) -> tuple[int, int]:
    size = os.get_terminal_size(fd)
    return size.lines, size.columns


class _TTY:
    """The terminal's modes as we found them, to put back however the client ends."""

    def __init__(self, stdin: int, stdout: int) -> None:
        self.stdin, self.stdout = stdin, stdout
        self.saved = termios.tcgetattr(stdin)
        self.flags = fcntl.fcntl(stdin, fcntl.F_GETFL)
        self.screen_taken = False

    def raw(self) -> None:
        tty.setraw(self.stdin)

    def restore(self) -> None:
        """Cooked mode, blocking I/O and, if the screen is still ours, the normal screen back."""
        termios.tcsetattr(self.stdin, termios.TCSADRAIN, self.saved)
        fcntl.fcntl(self.stdin, fcntl.F_SETFL, self.flags)
        if self.screen_taken:
            self.screen_taken = False
            os.set_blocking(self.stdout, True)
            os.write(self.stdout, LEAVE_SCREEN.encode())


async def run(
    reactor: Any,
    host: str,
    port: int,
    nick: str | None,
    catalog: Catalog,
    colour: bool,
    password: str | None = None,
) -> None:
    """Chat on this terminal until /quit or Ctrl-D; the terminal is restored whatever happens."""
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    server = f"{host}:{port}"
    terminal_modes = _TTY(stdin, stdout)
    view = TerminalView(
        catalog, render.Palette(colour), server, lambda data: None, _terminalSize(stdout), reactor
    )
    session = ChatSession(
        view,
        catalog,
        reactor,
        nick=nick,
        ask_users=True,
        reconnect=True,
        server=server,
        password=password,
    )
    view.session = session
    terminal_modes.raw()
    keyboard = KeyboardProtocol(view)
    terminal = stdio.StandardIO(keyboard, reactor=reactor)
    view.write = terminal.write
    # A SIGTERM stops the reactor without finishing this coroutine: restore on shutdown too.
    trigger = reactor.addSystemEventTrigger("before", "shutdown", terminal_modes.restore)

    def resized(signum: int, frame: object) -> None:
        reactor.callFromThread(lambda: view.resize(*_terminalSize(stdout)))

    def suspend() -> None:
        # Written directly: the process stops before the reactor could flush a buffered write.
        terminal_modes.screen_taken = True
        terminal_modes.restore()
        os.kill(os.getpid(), signal.SIGTSTP)
        terminal_modes.raw()
        os.set_blocking(stdin, False)
        terminal_modes.screen_taken = True
        view.start()

    previous_winch = signal.signal(signal.SIGWINCH, resized)
    view.suspend = suspend

    policy = backoffPolicy(RETRY_INITIAL_SECONDS, RETRY_MAX_SECONDS)

    def retry(attempt: int) -> float:
        delay = policy(attempt)
        session.retrying(delay)
        return delay

    endpoint = _ObservedEndpoint(HostnameEndpoint(reactor, host, port, timeout=10), session)
    service = ClientService(endpoint, session.factory(), retryPolicy=retry, clock=reactor)
    session.stopWith(service.stopService)
    try:
        terminal_modes.screen_taken = True
        view.start()
        session.local("client-welcome")
        session.local("client-connecting", server=server)
        service.startService()
        with contextlib.suppress(SessionFailed):
            await session.finished
        view.stop()
        terminal.loseConnection()
        await keyboard.closed
        terminal_modes.screen_taken = False
    finally:
        signal.signal(signal.SIGWINCH, previous_winch)
        reactor.removeSystemEventTrigger(trigger)
        terminal_modes.restore()
