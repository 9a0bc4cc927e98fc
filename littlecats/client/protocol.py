"""
The client side of the wire contract: the Twisted protocol and the chat session behind it.

`ChatClientProtocol` is one TCP connection: it frames the server's bytes into lines through the
telnet decoder (`littlecats.doors.telnet.nvt`, which strips IAC commands and refuses every
option with WONT/DONT), decodes and sanitises them (`littlecats.text`) and hands them to the
session.
`ChatSession` outlives connections: it runs the nickname handshake (answering the prompt with
the chosen nickname, again after a reconnect), tracks who is connected, what our nickname is,
which room we are in and which rooms exist, and tells a view (`IChatView`) what to show.
Nothing here knows about terminals or stdin; the terminal UI and the pipe mode are two views
over the same session.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from zope.interface import Interface

from littlecats import nicknames, text
from littlecats.client.lines import Classifier, Kind, Line
from littlecats.doors.telnet.nvt import TOO_LONG, LineDecoder
from littlecats.messages import LANGUAGES, Catalog

MAX_LINE_BYTES = 16384
QUIT_GRACE_SECONDS = 5.0


class State(enum.Enum):
    """Where the session stands."""

    CONNECTING = "connecting"
    GREETING = "greeting"
    """Connected, waiting for the nickname prompt."""
    NICKNAME = "nickname"
    """The server asked for a nickname and the session has none to give: the user must choose."""
    JOINING = "joining"
    """A nickname was sent; waiting to be accepted or refused."""
    CHAT = "chat"
    OFFLINE = "offline"
    """The connection dropped or could not be made; another attempt may follow."""
    CLOSED = "closed"


class IChatView(Interface):
    """What a session tells its user interface."""

    def show(line: Line) -> None:
        """Display one line, received or said by the client itself (L{Kind.LOCAL})."""

    def statusChanged() -> None:
        """The state, our nickname, our room, the user count or the retry delay changed."""

    def nicknameWanted(refusal: Line | None) -> None:
        """The server wants a nickname; C{refusal} is why the last one was refused, if it was."""


@functools.cache
def _unknown_names() -> frozenset[str]:
    """What a server without rooms answers to C{/names}, in every language."""
    return frozenset(
        Catalog(language).text("err-unknown-command", command="names") for language in LANGUAGES
    )


class ChatClientProtocol(Protocol):
    """One connection to a Little Cats server, speaking UTF-8 lines."""

    def __init__(self, session: ChatSession) -> None:
        self.session = session
        self.decoder = LineDecoder(MAX_LINE_BYTES)

    def connectionMade(self) -> None:
        self.session.connectionMade(self)

    def dataReceived(self, data: bytes) -> None:
        lines, replies = self.decoder.feed(data)
        if replies:
            self.transport.write(replies)
        for line in lines:
            if line is TOO_LONG:
                self.session.lineTooLong()
            else:
                self.session.lineReceived(text.sanitise(text.decode(line)).rstrip())

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.session.connectionLost(self, reason)

    def sendLine(self, line: str) -> None:
        """Send one line of text; line breaks inside it would start new lines, so they go."""
        cleaned = line.replace("\r", " ").replace("\n", " ")
        self.transport.write(cleaned.encode("utf-8") + b"\r\n")


class ChatClientFactory(Factory):
    """Builds one protocol per connection, all feeding the same session."""

    noisy = False

    def __init__(self, session: ChatSession) -> None:
        self.session = session

    def buildProtocol(self, addr: IAddress) -> ChatClientProtocol:
        return ChatClientProtocol(self.session)


class ChatSession:
    """The chat as the user lives it, across connections."""

    def __init__(
        self,
        view: IChatView,
        catalog: Catalog,
        clock: IReactorTime,
        nick: str | None = None,
        ask_users: bool = False,
        reconnect: bool = False,
        server: str = "",
    ) -> None:
        self.view = view
        self.catalog = catalog
        self.clock = clock
        self.nick = nick
        """The nickname we answer the prompt with: the chosen one, then the accepted one."""
        self.ask_users = ask_users
        self.reconnect = reconnect
        self.server = server
        """How the server is named to the user: host:port."""
        self.state = State.CONNECTING
        self.users: dict[str, str] = {}
        """Everyone connected that we know of, folded nickname -> nickname."""
        self.users_known = False
        self.room: str | None = None
        """The room we are in, once the server has named it."""
        self.rooms: dict[str, str] = {}
        """The rooms we have heard of, folded name -> name."""
        self.retry_delay: float | None = None
        self.protocol: ChatClientProtocol | None = None
        self.quitting = False
        self.finished: Deferred[None] = Deferred()
        """Fires once the session is over: after /quit or end of input, or on a lasting failure."""
        self._classifier = Classifier()
        self._last_error: Line | None = None
        self._asked_names = False
        """We asked for the names in our room (to learn which it is) and await the answer."""
        self._quit_timeout: IDelayedCall | None = None
        self._stop: Callable[[], object] | None = None

    # Wiring

    def factory(self) -> ChatClientFactory:
        """A protocol factory for the connections of this session."""
        return ChatClientFactory(self)

    def stopWith(self, stop: Callable[[], object]) -> None:
        """Call C{stop} (for example C{ClientService.stopService}) when the session ends."""
        self._stop = stop

    def _setState(self, state: State) -> None:
        self.state = state
        self.view.statusChanged()

    def local(self, msgid: str, **fields: object) -> None:
        """Show a message of the client itself."""
        self.view.show(Line(Kind.LOCAL, self.catalog.text(msgid, **fields)))

    # Connection events

    def connectionMade(self, protocol: ChatClientProtocol) -> None:
        self.protocol = protocol
        self.retry_delay = None
        self._classifier = Classifier()
        self._last_error = None
        if self.reconnect:
            self.local("client-connected", server=self.server)
        self._setState(State.GREETING)

    def connectionLost(self, protocol: ChatClientProtocol, reason: Failure | None) -> None:
        if protocol is not self.protocol:
            return
        self.protocol = None
        self.users.clear()
        self.users_known = False
        self.room = None
        self.rooms.clear()
        self._asked_names = False
        if self.quitting or not self.reconnect:
            self._end(None if self.quitting else self.catalog.text("client-err-closed"))
            return
        self.local("client-connection-lost")
        self._setState(State.OFFLINE)

    def connectFailed(self, reason: Failure) -> None:
        """An attempt to connect failed (the retry, if any, is announced by L{retrying})."""
        if self.reconnect:
            self.local("client-connect-failed", reason=reason.getErrorMessage())
        else:
            self._end(
                self.catalog.text(
                    "client-err-connect", server=self.server, reason=reason.getErrorMessage()
                )
            )

    def retrying(self, delay: float) -> None:
        """The next connection attempt is due in C{delay} seconds."""
        self.retry_delay = delay
        if self.state is not State.CLOSED:
            self.local("client-retrying", seconds=f"{delay:.0f}")
            self._setState(State.OFFLINE)

    def lineTooLong(self) -> None:
        self.local("client-line-too-long", max=MAX_LINE_BYTES)

    def lineReceived(self, received: str) -> None:
        line = self._classifier.classify(received)
        if self._asked_names and line.kind in (Kind.NAMES, Kind.ERROR):
            self._asked_names = False
            if line.kind is Kind.NAMES:
                self.room = line.fields["room"]
            elif line.text in _unknown_names():
                return  # a server without rooms; the user never asked, so nothing to show
        handler = getattr(self, f"_line_{line.kind.name}", None)
        self.view.show(line)
        if handler is not None:
            handler(line)
        if line.kind is Kind.ERROR:
            self._last_error = line

    # What lines mean

    def _line_PROMPT(self, line: Line) -> None:
        if self.state is State.JOINING or self.nick is None:
            refusal = self._last_error if self.state is State.JOINING else None
            self._setState(State.NICKNAME)
            self.view.nicknameWanted(refusal)
            return
        self._sendNickname(self.nick)

    def _line_JOINED(self, line: Line) -> None:
        nick = line.fields["nick"]
        if self.state is State.JOINING:
            self.nick = nick
            self.users = {nicknames.fold(nick): nick}
            self._setState(State.CHAT)
            if self.ask_users:
                self.send("/users")
                # The server does not say which room it put us in; the names of "our room" do.
                self.send("/names")
                self._asked_names = True
            return
        self.users[nicknames.fold(nick)] = nick
        self.view.statusChanged()

    def _line_LEFT(self, line: Line) -> None:
        self.users.pop(nicknames.fold(line.fields["nick"]), None)
        self.view.statusChanged()

    def _line_RENAMED(self, line: Line) -> None:
        old, new = line.fields["old"], line.fields["new"]
        self.users.pop(nicknames.fold(old), None)
        self.users[nicknames.fold(new)] = new
        if self._isMe(old):
            self.nick = new
        self.view.statusChanged()

    def _line_USERS(self, line: Line) -> None:
        self.users = {nicknames.fold(nick): nick for nick in line.nicks()}
        self.users_known = True
        self.view.statusChanged()

    def _line_USERS_MORE(self, line: Line) -> None:
        self.users.update((nicknames.fold(nick), nick) for nick in line.nicks())
        self.view.statusChanged()

    def _line_ALONE(self, line: Line) -> None:
        self.users = {nicknames.fold(self.nick): self.nick} if self.nick else {}
        self.users_known = True
        self.view.statusChanged()

    def _isMe(self, nick: str) -> bool:
        return self.nick is not None and nicknames.fold(nick) == nicknames.fold(self.nick)

    def _line_ROOM_JOINED(self, line: Line) -> None:
        # Our own moves show only here: room-left goes to those left behind, not to the mover.
        if self._isMe(line.fields["nick"]):
            self._enterRoom(line.fields["room"])
        else:
            self._learnRoom(line.fields["room"])

    def _learnRoom(self, room: str) -> None:
        self.rooms[nicknames.fold(room)] = room

    def _enterRoom(self, room: str) -> None:
        self._learnRoom(room)
        self.room = room
        self.view.statusChanged()

    def _line_ROOM_LEFT(self, line: Line) -> None:
        self._learnRoom(line.fields["room"])

    def _line_NAMES(self, line: Line) -> None:
        # Whoever is in a room is connected: they count among the users too.
        self._learnRoom(line.fields["room"])
        self._line_NAMES_MORE(line)

    def _line_NAMES_MORE(self, line: Line) -> None:
        self.users.update((nicknames.fold(nick), nick) for nick in line.nicks())
        self.view.statusChanged()

    def _line_ROOMS(self, line: Line) -> None:
        # The list that follows is every room there is; forget the ones that are gone.
        self.rooms = {nicknames.fold(self.room): self.room} if self.room else {}

    # Any line naming a room says it exists, which is all completion needs to know.
    _line_ROOMS_ENTRY = _line_TOPIC = _line_TOPIC_NONE = _line_TOPIC_SET = _line_ROOM_LEFT

    # What the user does

    def _sendNickname(self, nick: str) -> None:
        assert self.protocol is not None
        self.nick = nick
        self._last_error = None
        self._setState(State.JOINING)
        self.protocol.sendLine(nick)

    def chooseNickname(self, nick: str) -> None:
        """Answer the server's nickname prompt with C{nick}."""
        if self.state is State.NICKNAME and self.protocol is not None:
            self._sendNickname(nick)

    def submit(self, line: str) -> None:
        """A line the user typed: a nickname when one is wanted, else chat or a command."""
        if self.state is State.NICKNAME:
            if line.strip():
                self.chooseNickname(line.strip())
            return
        command, _, argument = line.partition(" ")
        if command.casefold() == "/quit":
            self.quit(argument.strip())
            return
        if self.state is not State.CHAT:
            self.local("client-not-connected")
            return
        self.send(line)

    def send(self, line: str) -> None:
        """Send C{line} to the server as it is."""
        if self.protocol is not None:
            self.protocol.sendLine(line)

    def quit(self, reason: str = "") -> None:
        """Leave: say /quit to the server and end when it closes, or end at once if offline."""
        if self.state is State.CLOSED:
            return
        self.quitting = True
        if self.protocol is None:
            self._end(None)
            return
        if self.state is State.CHAT:
            self.protocol.sendLine(f"/quit {reason}".rstrip())
            self._quit_timeout = self.clock.callLater(QUIT_GRACE_SECONDS, self._hangUp)
        else:
            self._hangUp()

    def _hangUp(self) -> None:
        self._quit_timeout = None
        if self.protocol is not None:
            self.protocol.transport.loseConnection()

    def fail(self, message: str) -> None:
        """End the session now because of C{message} (for example, a refused nickname in a pipe)."""
        self.quitting = True
        self._hangUp()
        self._end(message)

    def _end(self, error: str | None) -> None:
        if self.state is State.CLOSED:
            return
        self._setState(State.CLOSED)
        if self._quit_timeout is not None and self._quit_timeout.active():
            self._quit_timeout.cancel()
        self._quit_timeout = None
        stopped: Deferred[object] = Deferred()
        if self._stop is not None:
            result = self._stop()
            if isinstance(result, Deferred):
                stopped = result
            else:
                stopped.callback(None)
        else:
            stopped.callback(None)
        if error is None:
            stopped.addCallback(lambda _: None).chainDeferred(self.finished)
        else:
            stopped.addCallback(lambda _: Failure(SessionFailed(error))).chainDeferred(
                self.finished
            )


class SessionFailed(Exception):
    """The session could not go on; the message says why, in the user's language."""
