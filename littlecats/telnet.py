"""
The telnet door: what a telnet or netcat user types becomes core calls, and core events become
lines on their terminal.

`TelnetDoor` renders each event once into the bytes every telnet member receives.
`ChatProtocol` is one connection: a nickname state, then a chat state, reading lines through
the NVT decoder (`littlecats.nvt`) and the text rules (`littlecats.text`).  `TelnetFactory`
is the thin adapter that builds protocols over a `ChatService`.  No chat state lives here.
"""

from __future__ import annotations

from typing import ClassVar

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from littlecats import events, text
from littlecats.core import ChatError, ChatService, IChatClient, IDoor, Member
from littlecats.messages import Catalog
from littlecats.nvt import TOO_LONG, LineDecoder

MAX_LINE_BYTES = 2048
USERS_PER_LINE_CHARS = 400
HELP_LINES = (
    "help-title",
    "help-text",
    "help-slash",
    "help-msg",
    "help-users",
    "help-nick",
    "help-me",
    "help-quit",
    "help-help",
)


@implementer(IDoor)
class TelnetDoor:
    """Renders core events as telnet lines in one language: UTF-8, CRLF-terminated."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        line = catalog.line
        self._renderers = {
            events.Joined: lambda e: line("joined", nick=e.nick),
            events.Left: lambda e: (
                line("left-reason", nick=e.nick, reason=e.reason)
                if e.reason
                else line("left", nick=e.nick)
            ),
            events.Said: lambda e: line("public", nick=e.nick, text=e.text),
            events.Acted: lambda e: line("action", nick=e.nick, text=e.text),
            events.Renamed: lambda e: line("renamed", old=e.old, new=e.new),
            events.PrivateReceived: lambda e: line("private-from", nick=e.sender, text=e.text),
            events.PrivateSent: lambda e: line("private-to", nick=e.recipient, text=e.text),
        }

    def render(self, event: events.Event) -> bytes:
        """The wire line for C{event}."""
        return self._renderers[type(event)](event)


@implementer(IChatClient)
class ChatProtocol(LineReceiver):
    """One telnet connection: nickname negotiation, then chat."""

    delimiter = b"\r\n"
    MAX_LENGTH = MAX_LINE_BYTES
    factory: TelnetFactory
    member: Member | None = None
    state = "connecting"

    # Connection

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        if not isinstance(peer, IPv4Address | IPv6Address):
            self.factory.log.error(self.catalog.template("log-no-address"), peer=repr(peer))
            self.transport.write(self.catalog.line("err-no-address"))
            self.state = "closed"
            self.transport.loseConnection()
            return
        self.peer = peer
        self.decoder = LineDecoder(self.MAX_LENGTH)
        self.state = "nickname"
        self.transport.write(self.catalog.line("greeting") + self.catalog.line("nick-prompt"))

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.state = "closed"
        if self.member is not None:
            self.factory.service.leave(self.member)

    def dataReceived(self, data: bytes) -> None:
        if self.state == "closed":
            return
        lines, replies = self.decoder.feed(data)
        if replies:
            self.transport.write(replies)
        for line in lines:
            if self.state == "closed":
                return
            if line is TOO_LONG:
                self.lineLengthExceeded(b"")
            else:
                self.lineReceived(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        """An over-long line was discarded: say so and carry on (the default disconnects)."""
        self.sendMessage("err-line-too-long", max=self.MAX_LENGTH)

    def lineReceived(self, line: bytes) -> None:
        cleaned = text.clean_line(line)
        if self.state == "nickname":
            self.line_nickname(cleaned)
        elif self.state == "chat":
            self.line_chat(cleaned)

    # IChatClient

    def send(self, payload: bytes) -> None:  # type: ignore[override]
        self.transport.write(payload)

    def abort(self) -> None:
        self.transport.abortConnection()

    # Helpers

    @property
    def catalog(self) -> Catalog:
        return self.factory.catalog

    def sendMessage(self, msgid: str, **fields: object) -> None:
        """Send one catalog message to this connection only."""
        self.transport.write(self.catalog.line(msgid, **fields))

    # Nickname state

    def line_nickname(self, line: str) -> None:
        try:
            self.member = self.factory.service.join(
                line, self, self.factory.door, self.peer.host, self.peer.port
            )
        except ChatError as refused:
            self.sendMessage(refused.msgid, **refused.fields)
            self.sendMessage("nick-prompt")
        else:
            self.state = "chat"

    # Chat state

    def line_chat(self, line: str) -> None:
        if not line:
            return
        if line.startswith("//"):
            self.factory.service.say(self.member, line[1:])
            return
        if not line.startswith("/"):
            self.factory.service.say(self.member, line)
            return
        command, _, argument = line[1:].partition(" ")
        handler = self.commands.get(command.casefold())
        if handler is None:
            self.sendMessage("err-unknown-command", command=command)
            return
        try:
            handler(self, argument.strip())
        except ChatError as refused:
            self.sendMessage(refused.msgid, **refused.fields)

    def cmd_msg(self, argument: str) -> None:
        target, _, message = argument.partition(" ")
        message = message.strip()
        if not target or not message:
            self.sendMessage("err-usage-msg")
            return
        self.factory.service.whisper(self.member, target, message)

    def cmd_users(self, argument: str) -> None:
        nicks = self.factory.service.nicknames()
        if len(nicks) <= 1:
            self.sendMessage("alone")
            return
        chunks: list[list[str]] = [[]]
        width = 0
        for nick in nicks:
            if width and width + len(nick) > USERS_PER_LINE_CHARS:
                chunks.append([])
                width = 0
            chunks[-1].append(nick)
            width += len(nick) + 2
        self.sendMessage("users", count=len(nicks), nicks=", ".join(chunks[0]))
        for chunk in chunks[1:]:
            self.sendMessage("users-more", nicks=", ".join(chunk))

    def cmd_nick(self, argument: str) -> None:
        if not argument:
            self.sendMessage("err-usage-nick")
            return
        self.factory.service.rename(self.member, argument)

    def cmd_me(self, argument: str) -> None:
        if not argument:
            self.sendMessage("err-usage-me")
            return
        self.factory.service.act(self.member, argument)

    def cmd_quit(self, argument: str) -> None:
        member, self.member = self.member, None
        self.sendMessage("goodbye", nick=member.nick)
        self.state = "closed"
        self.factory.service.leave(member, argument)
        self.transport.loseConnection()

    def cmd_help(self, argument: str) -> None:
        self.transport.write(b"".join(self.catalog.line(msgid) for msgid in HELP_LINES))

    commands: ClassVar = {
        "msg": cmd_msg,
        "w": cmd_msg,
        "users": cmd_users,
        "list": cmd_users,
        "who": cmd_users,
        "nick": cmd_nick,
        "me": cmd_me,
        "quit": cmd_quit,
        "help": cmd_help,
    }


class TelnetFactory(Factory):
    """Builds telnet connections over one chat service, all sharing one door."""

    protocol = ChatProtocol
    noisy = False
    log = Logger()

    def __init__(self, service: ChatService, catalog: Catalog) -> None:
        self.service = service
        self.catalog = catalog
        self.door = TelnetDoor(catalog)

    def logPrefix(self) -> str:
        return "littlecats-telnet"
