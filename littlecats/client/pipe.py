"""
Pipe mode: the client when standard input or output is not a terminal, for scripts and tests.

Each line read from standard input is sent (the first one is the nickname when no `--nick`
was given); every line received is written to standard output as plain text, sanitised, with
no escape codes.  A registered nickname's password prompt is answered with the password given
(`--password-file` or `LITTLECATS_PASSWORD`), never with a line of input.  End of input sends
`/quit`; the client exits 0 once the server closes the connection after a `/quit`, and 1 with a
message on standard error if it cannot connect, the nickname is refused, the nickname is
registered and no password was given or the password is refused, input ends before a nickname
is accepted, the nickname was identified from another connection, or the server hangs up first.
No reconnection: a script wants to know the connection is gone.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable

from twisted.internet import stdio
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from littlecats import text
from littlecats.client.lines import Kind, Line
from littlecats.client.protocol import ChatSession, IChatView, SessionFailed, State
from littlecats.messages import Catalog

MAX_INPUT_LINE = 65536


@implementer(IChatView)
class PipeView:
    """Received lines to C{write}, lines from input to the session, in order."""

    def __init__(self, catalog: Catalog, write: Callable[[bytes], object]) -> None:
        self.catalog = catalog
        self.write = write
        self.session: ChatSession | None = None
        self.pending: deque[str] = deque()
        self.ended = False
        self.asked = False
        """The server asked for a nickname and the next input line is it."""

    def show(self, line: Line) -> None:
        if line.kind is not Kind.LOCAL:
            self.write(line.text.encode("utf-8") + b"\n")

    def statusChanged(self) -> None:
        self.pump()

    def nicknameWanted(self, refusal: Line | None) -> None:
        assert self.session is not None
        if refusal is not None:
            refused = (
                "client-err-password-refused"
                if self.session.password_refused
                else "client-err-nick-refused"
            )
            self.session.fail(self.catalog.text(refused, reason=refusal.text))
            return
        self.asked = True
        self.pump()

    def passwordWanted(self, prompt: Line) -> None:
        """No password was given: input lines are chat, never a password, so this is the end."""
        assert self.session is not None
        self.session.fail(self.catalog.text("client-err-password-needed", nick=prompt.nick))

    def lineTyped(self, line: str) -> None:
        self.pending.append(line)
        self.pump()

    def inputEnded(self) -> None:
        self.ended = True
        self.pump()

    def pump(self) -> None:
        """Hand over what input can go now: a nickname when asked, chat once joined."""
        session = self.session
        if session is None:
            return
        if session.state is State.NICKNAME:
            if not self.asked:
                return
            if self.pending:
                self.asked = False
                session.chooseNickname(self.pending.popleft())
            elif self.ended:
                session.fail(self.catalog.text("client-err-no-nick"))
            return
        if session.state is not State.CHAT:
            return
        while self.pending and session.state is State.CHAT:
            session.submit(self.pending.popleft())
        if self.ended and not self.pending and session.state is State.CHAT:
            session.quit()


@implementer(IHalfCloseableProtocol)
class InputProtocol(Protocol):
    """Standard input as lines; its end is the end of the conversation, not of the output."""

    def __init__(self, view: PipeView) -> None:
        self.view = view
        self.closed: Deferred[None] = Deferred()
        self._buffer = b""

    def dataReceived(self, data: bytes) -> None:
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        for line in lines:
            self._line(line)
        if len(self._buffer) > MAX_INPUT_LINE:
            self._line(self._buffer)
            self._buffer = b""

    def _line(self, line: bytes) -> None:
        self.view.lineTyped(text.decode(line).rstrip("\r"))

    def readConnectionLost(self) -> None:
        if self._buffer:  # a last line without its newline still counts
            self._line(self._buffer)
            self._buffer = b""
        self.view.inputEnded()

    def writeConnectionLost(self) -> None:
        """Nobody reads our output any more; there is no point going on."""
        if self.view.session is not None:
            self.view.session.quit()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closed.callback(None)


async def run(
    reactor: object,
    host: str,
    port: int,
    nick: str | None,
    catalog: Catalog,
    password: str | None = None,
) -> None:
    """Chat through standard input and output; raise C{SystemExit(1)} on failure."""
    view = PipeView(catalog, lambda data: None)
    session = ChatSession(
        view, catalog, reactor, nick=nick, server=f"{host}:{port}", password=password
    )
    view.session = session
    reader = InputProtocol(view)
    streams = stdio.StandardIO(reader, reactor=reactor)
    view.write = streams.write
    endpoint = HostnameEndpoint(reactor, host, port, timeout=10)
    failure: str | None = None
    try:
        await endpoint.connect(session.factory())
    except Exception:
        session.connectFailed(Failure())
    try:
        await session.finished
    except SessionFailed as failed:
        failure = str(failed)
    streams.loseConnection()
    await reader.closed
    if failure is not None:
        sys.stderr.write(failure + "\n")
        raise SystemExit(1)
