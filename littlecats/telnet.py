"""
The telnet door: what a telnet or netcat user types becomes core calls, and core events become
lines on their terminal.

`TelnetDoor` renders each event once and hands the bytes to a `Fanout`, which writes them to
every telnet member once per reactor turn.  `ChatProtocol` is one connection: a nickname state,
then a chat state, reading lines through the NVT decoder (`littlecats.nvt`), the text rules
(`littlecats.text`) and a flood-control token bucket.  `TelnetFactory` is the thin adapter that
builds protocols.  No chat state lives here: the registry is the core's.
"""

from __future__ import annotations

import socket
from collections import deque
from typing import ClassVar

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime, ITCPTransport
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.python.failure import Failure
from zope.interface import implementer

from littlecats import events, text
from littlecats.core import ChatError, ChatService, IDoor, Member
from littlecats.fanout import Fanout, Outlet
from littlecats.limits import Limits, TokenBucket
from littlecats.messages import Catalog
from littlecats.nvt import TOO_LONG, LineDecoder

MAX_LINE_BYTES = 2048
USERS_PER_LINE_CHARS = 400
SHUTDOWN_GRACE_SECONDS = 3.0
# Linux doubles this for its own bookkeeping: at most 256 KiB in the kernel per connection.
KERNEL_SEND_BUFFER = 128 * 1024
# What a queued line costs against --max-recvq besides its bytes, so empty lines count too.
LINE_OVERHEAD = 64
# Dead peers: first probe after a minute of silence, then every 15 s, give up after 4.
KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 15, "TCP_KEEPCNT": 4}
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


def _queued_cost(line: bytes | None) -> int:
    """What a line waiting for flood tokens counts against the receive-queue bound."""
    return LINE_OVERHEAD + (0 if line is None else len(line))


@implementer(IDoor)
class TelnetDoor:
    """Renders core events as telnet lines (UTF-8, CRLF) and fans them out to connections."""

    def __init__(self, catalog: Catalog, clock: IReactorTime) -> None:
        self.catalog = catalog
        self.clock = clock
        self.fanout = Fanout(clock)
        self.connections: set[ChatProtocol] = set()
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
            events.ShuttingDown: lambda e: line("shutting-down"),
        }

    def render(self, event: events.Event) -> bytes:
        """The wire line for C{event}."""
        return self._renderers[type(event)](event)

    # IDoor

    def attach(self, member: Member) -> None:
        self.fanout.add(member.connection.outlet)

    def detach(self, member: Member) -> None:
        self.fanout.remove(member.connection.outlet)

    def broadcast(self, event: events.Event) -> None:
        self.fanout.broadcast(self.render(event))

    def send(self, event: events.Event, member: Member) -> None:
        self.fanout.send(member.connection.outlet, self.render(event))

    def shutdown(self, event: events.Event) -> defer.Deferred[None]:
        payload = self.render(event)
        closing = []
        for connection in list(self.connections):
            closing.append(connection.close_with(payload))
        self.fanout.flush()
        everyone = defer.DeferredList(closing)

        def _abort_stragglers(result: object) -> None:
            for connection in list(self.connections):
                connection.transport.abortConnection()

        return everyone.addTimeout(SHUTDOWN_GRACE_SECONDS, self.clock).addBoth(_abort_stragglers)


@implementer(IPushProducer)
class ChatProtocol(LineReceiver):
    """One telnet connection: nickname negotiation, then chat."""

    delimiter = b"\r\n"
    MAX_LENGTH = MAX_LINE_BYTES
    factory: TelnetFactory
    member: Member | None = None
    state = "connecting"
    host: str | None = None
    _nick_timer: IDelayedCall | None = None
    _drain_call: IDelayedCall | None = None
    _closed: defer.Deferred[None] | None = None
    # Flood control: lines beyond the token bucket wait in the inbox (created only then, since
    # most connections never need one: memory per idle connection matters at 10 000 users).
    bucket: TokenBucket | None = None
    inbox: deque[bytes | None] | None = None
    inbox_bytes = 0

    # Connection

    def connectionMade(self) -> None:
        factory = self.factory
        peer = self.transport.getPeer()
        if not isinstance(peer, IPv4Address | IPv6Address):
            factory.log.error(factory.catalog.template("log-no-address"), peer=repr(peer))
            self._refuse("err-no-address")
            return
        refusal = factory.service.admit(peer.host)
        if refusal is not None:
            factory.log.info(factory.catalog.template("log-refused"), ip=peer.host, reason=refusal)
            self._refuse(refusal, max=factory.limits.max_per_ip)
            return
        self.host = peer.host
        self.peer = peer
        limits = factory.limits
        self.decoder = LineDecoder(self.MAX_LENGTH)
        if limits.flood_rate:
            self.bucket = factory.service.flood_bucket(
                peer.host, limits.flood_rate, limits.flood_burst
            )
        self.outlet = Outlet(self.transport, self._dropped, limits.max_sendq)
        self.transport.registerProducer(self, True)
        self._tune_socket()
        factory.door.connections.add(self)
        self.state = "nickname"
        if limits.nick_timeout:
            self._nick_timer = factory.clock.callLater(limits.nick_timeout, self._nick_timed_out)
        # Nothing can be queued for a brand-new connection, so the greeting may skip the
        # fan-out's turn: in a join storm that saves every newcomer a whole reactor turn.
        self.outlet.write(factory.greeting)

    def _refuse(self, msgid: str, **fields: object) -> None:
        self.state = "closed"
        self.transport.write(self.catalog.line(msgid, **fields))
        self.transport.loseConnection()

    def _tune_socket(self) -> None:
        """Keepalive reaps dead peers; no Nagle delay (the fan-out batches already); and a
        bounded kernel send buffer."""
        if not ITCPTransport.providedBy(self.transport):
            return
        self.transport.setTcpNoDelay(True)
        self.transport.setTcpKeepAlive(True)
        handle = self.transport.getHandle()
        # Bound what the kernel holds for a client that does not read (by default it grows to
        # megabytes per socket); --max-sendq bounds what the server holds beyond it.
        handle.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_SEND_BUFFER)
        for option, value in KEEPALIVE.items():
            if hasattr(socket, option):
                handle.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self.host is None:
            return
        self.state = "closed"
        self.outlet.closed = True
        self._cancel_timers()
        self.factory.door.connections.discard(self)
        self._leave_chat()
        self.factory.service.release(self.host)
        if self.bucket is not None:
            self.factory.service.keep_flood_bucket(self.host, self.bucket)
        self.host = None
        closed, self._closed = self._closed, None
        if closed is not None:
            closed.callback(None)

    def _leave_chat(self, reason: str = "") -> None:
        """Leave the chat if joined (the core announces it once)."""
        member, self.member = self.member, None
        if member is not None:
            self.factory.service.leave(member, reason)

    def _cancel_timers(self) -> None:
        for call in (self._nick_timer, self._drain_call):
            if call is not None and call.active():
                call.cancel()
        self._nick_timer = self._drain_call = None

    def close(self, reason: str = "") -> None:
        """Leave the chat (if joined), flush what this connection is owed, then close it."""
        if self.state == "closed":
            return
        self.state = "closed"
        self._cancel_timers()
        if self.member is not None:
            self._leave_chat(reason)
        else:
            self.factory.door.fanout.remove(self.outlet)
        self.outlet.release()
        self.transport.loseConnection()

    def close_with(self, payload: bytes) -> defer.Deferred[None]:
        """Send C{payload}, close, and fire once the connection is gone (server shutdown)."""
        self._closed = defer.Deferred()
        if self.state != "closed":
            self.write(payload)
            self.close()
        return self._closed

    def _dropped(self, why: str) -> None:
        """The outlet cannot take more (slow reader, or a failed write): drop the connection."""
        nick = self.member.nick if self.member is not None else "-"
        self.factory.log.warn(
            self.catalog.template(f"log-dropped-{why}"),
            nick=nick,
            ip=self.host,
            max=self.factory.limits.max_sendq,
        )
        self.state = "closed"
        self._cancel_timers()
        self.transport.abortConnection()
        self._leave_chat()

    # Output: everything to this connection goes through the fan-out, so it stays in order.

    def write(self, data: bytes) -> None:
        self.factory.door.fanout.send(self.outlet, data)

    def sendMessage(self, msgid: str, **fields: object) -> None:
        """Send one catalog message to this connection only."""
        self.write(self.catalog.line(msgid, **fields))

    @property
    def catalog(self) -> Catalog:
        return self.factory.catalog

    # IPushProducer: the transport's signals about its send buffer.

    def pauseProducing(self) -> None:
        self.outlet.pause()

    def resumeProducing(self) -> None:
        self.outlet.resume()

    def stopProducing(self) -> None:
        self.outlet.closed = True

    # Input

    def dataReceived(self, data: bytes) -> None:
        if self.state == "closed":
            return
        lines, replies = self.decoder.feed(data)
        if replies:
            self.write(replies)
        if not lines:
            return
        if self.inbox is None:
            handled = self._handle(lines)
            if handled == len(lines):
                return
            self.inbox = deque()
            lines = lines[handled:]
        self.inbox.extend(lines)
        self.inbox_bytes += sum(map(_queued_cost, lines))
        if self._drain_call is None:
            self._drain()
        limit = self.factory.limits.max_recvq
        if limit and self.inbox_bytes > limit and self.state != "closed":
            self.factory.log.warn(
                self.catalog.template("log-dropped-flood"), ip=self.host, max=limit
            )
            self.inbox = None
            self.inbox_bytes = 0
            self.sendMessage("err-flood")
            self.close()

    def _handle(self, lines: list[bytes | None]) -> int:
        """Handle C{lines} while the flood bucket allows; return how many were handled."""
        bucket = self.bucket
        now = self.factory.clock.seconds() if bucket is not None else 0.0
        for index, line in enumerate(lines):
            if self.state == "closed":
                break
            if bucket is not None and not bucket.take(now):
                return index
            self._dispatch(line)
        return len(lines)

    def _drain(self) -> None:
        """Handle queued lines as the flood bucket refills; wait for tokens otherwise."""
        self._drain_call = None
        inbox, bucket, clock = self.inbox, self.bucket, self.factory.clock
        while inbox and self.state != "closed":
            now = clock.seconds()
            if bucket is not None and not bucket.take(now):
                self._drain_call = clock.callLater(bucket.wait(now), self._drain)
                return
            line = inbox.popleft()
            self.inbox_bytes -= _queued_cost(line)
            self._dispatch(line)
        if not inbox:
            self.inbox = None
            self.inbox_bytes = 0

    def _dispatch(self, line: bytes | None) -> None:
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

    # Nickname state

    def _nick_timed_out(self) -> None:
        self._nick_timer = None
        self.sendMessage("err-nick-timeout", seconds=int(self.factory.limits.nick_timeout))
        self.close()

    def line_nickname(self, line: str) -> None:
        factory = self.factory
        try:
            self.member = factory.service.join(
                line, factory.door, self, self.peer.host, self.peer.port
            )
        except ChatError as refused:
            self.sendMessage(refused.msgid, **refused.fields)
            self.sendMessage("nick-prompt")
        else:
            self.state = "chat"
            if self._nick_timer is not None:
                self._nick_timer.cancel()
                self._nick_timer = None

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
        self.sendMessage("goodbye", nick=self.member.nick)
        self.close(argument)

    def cmd_help(self, argument: str) -> None:
        self.write(b"".join(self.catalog.line(msgid) for msgid in HELP_LINES))

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

    def __init__(
        self,
        service: ChatService,
        catalog: Catalog,
        clock: IReactorTime,
        limits: Limits | None = None,
    ) -> None:
        self.service = service
        self.catalog = catalog
        self.clock = clock
        self.limits = limits if limits is not None else Limits()
        self.door = TelnetDoor(catalog, clock)
        self.greeting = catalog.line("greeting") + catalog.line("nick-prompt")
        service.add_door(self.door)

    def logPrefix(self) -> str:
        return "littlecats-telnet"
