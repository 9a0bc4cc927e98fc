"""
The client side of the wire contract: the Twisted protocol and the chat session behind it.

`ChatClientProtocol` is one TCP connection: it frames the server's bytes into lines through the
telnet decoder (`littlecats.doors.telnet.nvt`, which strips IAC commands and refuses every
option with WONT/DONT), decodes and sanitises them (`littlecats.text`) and hands them to the
session.
`ChatSession` outlives connections: it runs the nickname handshake (answering the prompt with
the chosen nickname, and a registered nickname's password prompt with the password the user
gave, again after a reconnect), tracks who is connected, what our nickname is, which room we
are in and which rooms exist, and tells a view (`IChatView`) what to show.  Lines replayed from
a room's history are shown but change none of that.  A password is only ever sent to the
server: never shown, logged or kept anywhere but in the session's memory.
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
    """A nickname (or its password) was sent; waiting to be accepted or refused."""
    PASSWORD = "password"
    """The nickname sent is registered and the session has no password to give: the user must
    type it."""
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
        """The server wants a nickname; C{refusal} is why the last one was refused, if it was
        (L{ChatSession.password_refused} says whether it was the password that was refused)."""

    def passwordWanted(prompt: Line) -> None:
        """The server wants the password of the registered nickname C{prompt} names, and the
        session has none: the next line the user gives is it (L{ChatSession.submit})."""


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
        password: str | None = None,
    ) -> None:
        self.view = view
        self.catalog = catalog
        self.clock = clock
        self.nick = nick
        """The nickname we answer the prompt with: the chosen one, then the accepted one."""
        self.ask_users = ask_users
        self.reconnect = reconnect
        """Connections are made again after a drop: an interactive session, which also stays
        open (closed) when it stops reconnecting by itself, until the user quits."""
        self._password = password
        """The password to answer a password prompt with: the one given (file or environment),
        or the last one the server accepted from the user."""
        self._password_of: str | None = None
        """The folded nickname the server accepted L{_password} for; C{None} until then (a
        password given for no nickname in particular answers the first prompt)."""
        self._trying: str | None = None
        """The password just sent at the prompt, until it is accepted or refused."""
        self.password_refused = False
        """The last refusal at the nickname prompt was of a password, not of a nickname."""
        self._expected: tuple[str, str | None] | None = None
        """After /register, /password, /nick NEW PASSWORD or /unregister: the message id that
        confirms it, and the password that is ours from then on."""
        self._ghosted: str | None = None
        """The nickname another connection identified to, closing this one."""
        self._lingering: Deferred[None] | None = None
        """The end of a session that stopped by itself but waits for the user to quit."""
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
        self._trying = None
        self.password_refused = False
        self._expected = None
        self._ghosted = None
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
        self._trying = None
        self._expected = None
        if self.quitting:
            self._end(None)
        elif self._ghosted is not None:
            # Reconnecting would only take the nickname back from the user's other session,
            # which would take it back again: stop, and let the user read why.
            if self.reconnect:
                self.local("client-ghosted", nick=self._ghosted)
            self._end(self.catalog.text("client-err-ghosted", nick=self._ghosted), linger=True)
        elif not self.reconnect:
            self._end(self.catalog.text("client-err-closed"))
        else:
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
        if self._expected is not None:
            confirmation, password = self._expected
            if line.msgid == confirmation:
                self._expected = None
                self._keepPassword(password, line.nick or self.nick)
            elif line.kind is Kind.ERROR:
                self._expected = None

    # What lines mean

    def _line_PROMPT(self, line: Line) -> None:
        answering = self.state in (State.JOINING, State.PASSWORD)
        if answering or self.nick is None:
            refusal = self._last_error if answering else None
            self.password_refused = answering and self._trying is not None
            wrong = refusal is not None and refusal.msgid == "err-password-wrong"
            if wrong and self._trying == self._password:
                self._keepPassword(None, None)  # never sent again by itself
            self._trying = None
            self._setState(State.NICKNAME)
            self.view.nicknameWanted(refusal)
            return
        self._sendNickname(self.nick)

    def _line_PASSWORD_PROMPT(self, line: Line) -> None:
        if self.state is not State.JOINING:
            return  # not an answer to a nickname we sent
        if self._password is not None and self._password_of in (None, _fold(line.nick)):
            self._sendPassword(self._password)
            self.local("client-password-sent", nick=line.fields["nick"])
            return
        self._setState(State.PASSWORD)
        self.view.passwordWanted(line)

    def _keepPassword(self, password: str | None, nick: str | None) -> None:
        """C{password} is the one of C{nick} now (C{None}: it has none any more)."""
        self._password = password
        self._password_of = _fold(nick) if password is not None else None

    def _line_GHOSTED(self, line: Line) -> None:
        self._ghosted = line.fields["nick"]

    def _line_JOINED(self, line: Line) -> None:
        nick = line.fields["nick"]
        if self.state is State.JOINING:
            if self._trying is not None:  # accepted: the one to give after a reconnect
                self._keepPassword(self._trying, nick)
                self._trying = None
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
        self._trying = None
        self._setState(State.JOINING)
        self.protocol.sendLine(nick)

    def _sendPassword(self, password: str) -> None:
        assert self.protocol is not None
        self._last_error = None
        self._trying = password
        self._setState(State.JOINING)
        self.protocol.sendLine(password)

    def chooseNickname(self, nick: str) -> None:
        """Answer the server's nickname prompt with C{nick}."""
        if self.state is State.NICKNAME and self.protocol is not None:
            self._sendNickname(nick)

    def givePassword(self, password: str) -> None:
        """Answer the server's password prompt with C{password} (kept, once accepted, to give
        again after a reconnect)."""
        if self.state is State.PASSWORD and self.protocol is not None and password:
            self._sendPassword(password)

    def submit(self, line: str) -> None:
        """A line the user typed: a nickname or a password when one is wanted, else chat or a
        command."""
        if self.state is State.NICKNAME:
            if line.strip():
                self.chooseNickname(line.strip())
            return
        if self.state is State.PASSWORD:
            self.givePassword(line)  # as typed: spaces may be part of it
            return
        command, _, argument = line.partition(" ")
        if command.casefold() == "/quit":
            self.quit(argument.strip())
            return
        if self.state is not State.CHAT:
            self.local("client-not-connected")
            return
        self._expected = _confirmation(command.casefold(), argument.strip()) or self._expected
        self.send(line)

    def send(self, line: str) -> None:
        """Send C{line} to the server as it is."""
        if self.protocol is not None:
            self.protocol.sendLine(line)

    def quit(self, reason: str = "") -> None:
        """Leave: say /quit to the server and end when it closes, or end at once if offline."""
        if self.state is State.CLOSED:
            if self._lingering is not None:
                lingering, self._lingering = self._lingering, None
                lingering.chainDeferred(self.finished)
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

    def _end(self, error: str | None, linger: bool = False) -> None:
        """The session is over: stop connecting, and fire L{finished} (with a L{SessionFailed}
        for C{error}).  With C{linger}, an interactive session (one that reconnects) stays
        open, closed, for the user to read why, and L{finished} waits for L{quit}."""
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
        stopped.addCallback(lambda _: None)
        if linger and self.reconnect:
            self._lingering = stopped  # the view has shown why already
            return
        if error is not None:
            stopped.addCallback(lambda _: Failure(SessionFailed(error)))
        stopped.chainDeferred(self.finished)


def _fold(nick: str | None) -> str | None:
    return None if nick is None else nicknames.fold(nick)


def _confirmation(command: str, argument: str) -> tuple[str, str | None] | None:
    """For a command that sets the password of our nickname, the message id that confirms it
    and the password it sets (C{None}: no password any more)."""
    first, _, rest = argument.partition(" ")  # split as the server splits them
    if command == "/register" and argument:
        return ("registered", argument)
    if command == "/password" and first and rest:
        return ("password-changed", rest)
    if command == "/nick" and first and rest:
        return ("identified", rest)
    if command == "/unregister" and argument:
        return ("unregistered", None)
    return None


class SessionFailed(Exception):
    """The session could not go on; the message says why, in the user's language."""
