"""
A session: one connection of any door, from accept to close, as the chat sees it.

`Session` holds what every door would otherwise copy: admission (and releasing it), socket
tuning, the lifecycle states, the one input funnel (flood bucket, decoding, the receive-queue
bound), output through the door's fan-out with the transport's producer signals, and every
way out.  A door protocol is a thin adapter: it frames its wire into lines, hands them to
`receive`, and calls `finish` from `connectionLost`; what a line means is the business of the
door's line handler (`ILineHandler`; for line-based doors, `littlecats.commands`).

States: CONNECTING, NICKNAME (choosing a nickname, under a timeout), WAITING (a line's handler
is waiting for an asynchronous answer, such as a nickname claim; further input waits in the
bounded inbox, in order), CHAT, CLOSING (output is being flushed; after a grace period the
connection is aborted, so a peer that stops reading cannot keep its slot and its held output
forever) and CLOSED.  `finish` releases everything exactly once, whatever the way out.
"""

from __future__ import annotations

import enum
import socket
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime, ITransport
from twisted.logger import Logger
from zope.interface import implementer

from littlecats.core.chat import ChatService, Member
from littlecats.core.interfaces import ISession
from littlecats.fanout import Outlet
from littlecats.limits import Limits, TokenBucket

if TYPE_CHECKING:
    from littlecats.core.events import SessionId

# Linux doubles this for its own bookkeeping: at most 256 KiB in the kernel per connection.
KERNEL_SEND_BUFFER = 128 * 1024
# What a queued line costs against --max-recvq besides its bytes, so empty lines count too.
LINE_OVERHEAD = 64
# Dead peers: first probe after a minute of silence, then every 15 s, give up after 4.
KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 15, "TCP_KEEPCNT": 4}
# A closing connection whose peer does not take its last output within this is aborted.
CLOSE_GRACE_SECONDS = 10.0
# At shutdown, connections still open this long after being told are aborted.
SHUTDOWN_GRACE_SECONDS = 3.0


class State(enum.Enum):
    CONNECTING = "connecting"
    NICKNAME = "nickname"
    WAITING = "waiting"
    CHAT = "chat"
    CLOSING = "closing"
    CLOSED = "closed"


# A tuple, not a set: `in` then compares by identity first, where a set would hash the member
# through Enum's Python-level __hash__ on every line.
_ACCEPTING_INPUT = (State.CHAT, State.NICKNAME)
_IP_ADDRESSES = (IPv4Address, IPv6Address)


class SessionDoor(Protocol):
    """What a session needs of its door, besides L{littlecats.core.interfaces.IDoor}: the
    settings shared by all its sessions (kept there, not per session: memory per connection
    matters at 10 000 of them), and output."""

    chat: ChatService
    handler: ILineHandler
    limits: Limits
    clock: IReactorTime

    def release(self, session: Session) -> None: ...

    def write(self, session: Session, data: bytes) -> None: ...

    def notice(self, msgid: str, **fields: object) -> bytes: ...

    def hide_input(self, session: Session, hidden: bool) -> None:
        """Ask C{session}'s terminal not to show what is typed (a password), or to again."""


class ILineHandler(Protocol):
    """What a line means, for one door: called with each line the funnel lets through."""

    def line(self, session: Session, line: str) -> defer.Deferred[object] | None:
        """Handle C{line}; a Deferred not yet fired makes the session wait for it."""

    def line_too_long(self, session: Session) -> None:
        """A line over the door's bound was discarded."""

    def decode(self, line: bytes) -> str:
        """A received line as the text C{line} is then called with (for line-based doors,
        L{littlecats.text.clean_line}: decoded, edited and sanitised)."""

    def last_words(self, session: Session, lines: Iterable[bytes | None]) -> str:
        """The reason a quit among C{lines} (still waiting when the connection was lost)
        gives, or ""."""


def _queued_cost(line: bytes | None) -> int:
    """What a line waiting in the inbox counts against the receive-queue bound."""
    return LINE_OVERHEAD + (0 if line is None else len(line))


def tune_socket(transport: ITransport) -> None:
    """Keepalive reaps dead peers; no Nagle delay (the fan-out batches already); and a
    bounded kernel send buffer.  Works under TLS too: the options go on the TCP socket."""
    tcp = transport
    while tcp is not None and not hasattr(tcp, "setTcpKeepAlive"):
        tcp = getattr(tcp, "transport", None)
    # Under TLS the protocol's transport is the TLS layer, whose handle is the OpenSSL
    # connection; the socket options belong on the TCP connection beneath it.
    sock = getattr(tcp, "socket", None)
    if tcp is None or not isinstance(sock, socket.socket):
        return
    tcp.setTcpNoDelay(True)
    tcp.setTcpKeepAlive(True)
    # Bound what the kernel holds for a client that does not read (by default it grows to
    # megabytes per socket); --max-sendq bounds what the server holds beyond it.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_SEND_BUFFER)
    for option, value in KEEPALIVE.items():
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


@implementer(ISession, IPushProducer)
class Session:
    """One connection of any door."""

    log = Logger()
    __slots__ = (
        "_closed",
        "_drain_call",
        "_timer",
        "bucket",
        "door",
        "host",
        "id",
        "inbox",
        "inbox_bytes",
        "member",
        "outlet",
        "port",
        "prompt",
        "state",
        "wire",
    )

    def __init__(self, door: SessionDoor, transport: ITransport, host: str, port: int) -> None:
        self.door = door
        self.host = host
        self.port = port
        self.id: SessionId = door.chat.new_session_id()
        self.state = State.CONNECTING
        self.member: Member | None = None
        self.outlet = Outlet(transport, self, door.limits.max_sendq)
        # Lines beyond the flood bucket, or arriving while the session waits, wait in the
        # inbox (created only then: memory per idle connection matters at 10 000 users).
        self.inbox: deque[bytes | None] | None = None
        self.inbox_bytes = 0
        self.bucket: TokenBucket | None = None
        # The nickname timeout while choosing one, then the closing deadline: never both.
        self._timer: IDelayedCall | None = None
        self._drain_call: IDelayedCall | None = None
        self._closed: defer.Deferred[None] | None = None
        # What the next line answers, when the handler asked a question (the nickname whose
        # password is wanted); None: lines mean what the state says.
        self.prompt: object | None = None
        # The door's protocol for this connection, for what only it can do (hiding input).
        self.wire: object | None = None

    @classmethod
    def accept(cls, door: SessionDoor, transport: ITransport) -> Session | None:
        """A session for a new connection, or None (after telling it why) if it is refused."""
        chat, limits, clock = door.chat, door.limits, door.clock
        peer = transport.getPeer()
        if not isinstance(peer, _IP_ADDRESSES):
            cls.log.error(chat.catalog.template("log-no-address"), peer=repr(peer))
            _refuse(transport, door.notice("err-no-address"))
            return None
        refusal = chat.admit(peer.host)
        if refusal is not None:
            cls.log.info(chat.catalog.template("log-refused"), ip=peer.host, reason=refusal.msgid)
            _refuse(transport, door.notice(refusal.msgid, **refusal.fields))
            return None
        session = cls(door, transport, peer.host, peer.port)
        if limits.flood_rate:
            session.bucket = chat.flood_bucket(peer.host, limits.flood_rate, limits.flood_burst)
        transport.registerProducer(session, True)
        tune_socket(transport)
        chat.open(session)
        session.state = State.NICKNAME
        if limits.nick_timeout:
            session._timer = clock.callLater(limits.nick_timeout, session._nick_timed_out)
        return session

    # Shared settings, from the door.

    @property
    def chat(self) -> ChatService:
        return self.door.chat

    @property
    def handler(self) -> ILineHandler:
        return self.door.handler

    @property
    def limits(self) -> Limits:
        return self.door.limits

    @property
    def clock(self) -> IReactorTime:
        return self.door.clock

    @property
    def transport(self) -> ITransport:
        return self.outlet.transport

    # Output: everything to this connection goes through the door's fan-out, so it stays in
    # order with what its rooms receive.

    def write(self, data: bytes) -> None:
        self.door.write(self, data)

    def notice(self, msgid: str, **fields: object) -> None:
        """Send one catalog message to this connection only."""
        self.write(self.door.notice(msgid, **fields))

    # IPushProducer: the transport's signals about its send buffer.

    def pauseProducing(self) -> None:
        self.outlet.pause()

    def resumeProducing(self) -> None:
        self.outlet.resume()

    def stopProducing(self) -> None:
        self.outlet.closed = True

    # Membership

    def joined(self, member: Member) -> None:
        """The chat accepted this session as C{member}."""
        self.member = member
        self.state = State.CHAT
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _nick_timed_out(self) -> None:
        self._timer = None
        self.notice("err-nick-timeout", seconds=int(self.limits.nick_timeout))
        self.close()

    # Input: one funnel for every door.

    def receive(self, lines: list[bytes | None]) -> None:
        """Lines framed by the door (None for one over its bound), in order."""
        if not lines or self.state in (State.CLOSING, State.CLOSED):
            return
        if self.inbox is None:
            handled = self._handle(lines)
            if handled == len(lines):
                return
            self.inbox = deque()
            lines = lines[handled:]
        self.inbox.extend(lines)
        self.inbox_bytes += sum(map(_queued_cost, lines))
        if self._drain_call is None and self.state in _ACCEPTING_INPUT:
            self._drain()
        limit = self.limits.max_recvq
        if limit and self.inbox_bytes > limit and self.state not in (State.CLOSING, State.CLOSED):
            self.log.warn(self.chat.catalog.template("log-dropped-flood"), ip=self.host, max=limit)
            self.inbox = None
            self.inbox_bytes = 0
            self.notice("err-flood")
            self.close()

    def _handle(self, lines: list[bytes | None]) -> int:
        """Handle C{lines} while the state and the flood bucket allow; return how many."""
        bucket = self.bucket
        now = self.clock.seconds() if bucket is not None else 0.0
        for index, line in enumerate(lines):
            if self.state not in _ACCEPTING_INPUT:
                return index if self.state is State.WAITING else len(lines)
            if bucket is not None and not bucket.take(now):
                return index
            self._dispatch(line)
        return len(lines)

    def _drain(self) -> None:
        """Handle queued lines as the flood bucket refills and the session stops waiting."""
        self._drain_call = None
        inbox, bucket, clock = self.inbox, self.bucket, self.clock
        while inbox and self.state in _ACCEPTING_INPUT:
            now = clock.seconds()
            if bucket is not None and not bucket.take(now):
                self._drain_call = clock.callLater(bucket.wait(now), self._drain)
                return
            line = inbox.popleft()
            self.inbox_bytes -= _queued_cost(line)
            self._dispatch(line)
        if not inbox and self.inbox is inbox:
            self.inbox = None
            self.inbox_bytes = 0

    def _dispatch(self, line: bytes | None) -> None:
        if line is None:
            self.handler.line_too_long(self)
            return
        handler = self.handler
        waiting = handler.line(self, handler.decode(line))
        # A Deferred that has fired but waits on another one it chained to is not answered.
        if waiting is not None and (not waiting.called or waiting.paused):
            self.state = State.WAITING
            waiting.addBoth(self._answered)

    def _answered(self, result: object) -> object:
        if self.state is State.WAITING:  # the answer did not move it on (a refusal)
            self.state = State.NICKNAME if self.member is None else State.CHAT
        if self.inbox and self._drain_call is None:
            self._drain()
        return result

    # Ways out

    def close(self, reason: str = "") -> None:
        """Leave the chat (if joined), flush what this connection is owed, then close it; abort
        it if the peer has not taken that within the grace period."""
        if self.state in (State.CLOSING, State.CLOSED):
            return
        self._wind_down(reason)
        self.outlet.release()
        self.transport.loseConnection()
        self._timer = self.clock.callLater(CLOSE_GRACE_SECONDS, self.abort)

    def close_with(self, payload: bytes) -> defer.Deferred[None]:
        """Send C{payload}, close, and fire once the connection is gone (server shutdown)."""
        self._closed = closed = defer.Deferred()
        if self.state is not State.CLOSED:
            self.write(payload)
            self.close()
        return closed

    def abort(self) -> None:
        """Close the connection now, dropping whatever it was still owed."""
        self._timer = None
        if self.state is not State.CLOSED:
            self.transport.abortConnection()

    def drop(self, why: str) -> None:
        """The outlet cannot take more (slow reader, or a failed write): drop the connection."""
        nick = self.member.nick if self.member is not None else "-"
        self.log.warn(
            self.chat.catalog.template(f"log-dropped-{why}"),
            nick=nick,
            ip=self.host,
            max=self.limits.max_sendq,
        )
        if self.state is State.CLOSED:
            return
        self.transport.abortConnection()
        self._wind_down()

    def finish(self) -> None:
        """The connection is gone: release everything it held, exactly once."""
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        self.outlet.closed = True
        self._cancel_timers()
        # Lines still waiting behind the flood limit go with the connection (as on IRC
        # servers: handling them now would let a client flood by hanging up), but a quit
        # among them still says why it left.
        inbox, self.inbox = self.inbox, None
        reason = self.handler.last_words(self, inbox) if inbox else ""
        self.chat.closed(self, reason)
        self.member = None
        self.door.release(self)
        self.chat.release(self.host)
        if self.bucket is not None:
            self.chat.release_flood_bucket(self.host, self.bucket)
            self.bucket = None
        closed, self._closed = self._closed, None
        if closed is not None:
            closed.callback(None)

    def _wind_down(self, reason: str = "") -> None:
        """Closing, by either way: stop the timers, leave the chat, write what is owed."""
        self.state = State.CLOSING
        self._cancel_timers()
        member, self.member = self.member, None
        if member is not None:
            self.chat.disconnect(member.session, reason)
        self.door.release(self)

    def _cancel_timers(self) -> None:
        for call in (self._timer, self._drain_call):
            if call is not None and call.active():
                call.cancel()
        self._timer = self._drain_call = None


def when_ready(
    chat: ChatService, transport: ITransport, admit: Callable[[], None], lost: Callable[[], bool]
) -> None:
    """Call C{admit} for a new connection now, or once the chat has loaded what it keeps (the
    stored bans, accounts and rooms: admission must not run without them, right after a
    start).  Meanwhile nothing is read: what the peer sends waits in the kernel.  A connection
    C{lost} by then is never admitted."""
    ready = chat.ready()
    if ready is None:
        admit()
        return
    transport.pauseProducing()

    def loaded(_: object) -> None:
        if not lost():
            transport.resumeProducing()
            admit()

    ready.addCallback(loaded)


def close_all(
    sessions: list[Session], payload: bytes, flush: Callable[[], None], clock: IReactorTime
) -> defer.Deferred[None]:
    """Server shutdown for one door: tell every session C{payload}, close them all (C{flush}
    writes what they are owed at once), abort those still open after a grace period; fire
    when all are closed or aborted."""
    closing = [session.close_with(payload) for session in sessions]
    flush()
    done: defer.Deferred[None] = defer.Deferred()

    def abort_stragglers() -> None:
        for session in sessions:
            session.abort()
        if not done.called:
            done.callback(None)

    deadline = clock.callLater(SHUTDOWN_GRACE_SECONDS, abort_stragglers)

    def all_closed(_: object) -> None:
        if deadline.active():
            deadline.cancel()
        if not done.called:
            done.callback(None)

    # Closing Deferreds only ever succeed; nothing is cancelled, so nothing is left unhandled
    # for the connections that had to be aborted.
    defer.DeferredList(closing, consumeErrors=True).addCallback(all_closed)
    return done


def _refuse(transport: ITransport, line: bytes) -> None:
    transport.write(line)
    transport.loseConnection()
