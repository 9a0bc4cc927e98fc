"""
The web door's WebSocket: a thin adapter from a browser's WebSocket to a `Session`.

Autobahn (pinned exactly in setup.cfg) does the WebSocket itself: the opening handshake inside
twisted.web (`/ws` in `littlecats.doors.web.site`), inbound frames, masks, UTF-8 validation,
the caps on what a client can make the server buffer (`MAX_MESSAGE_BYTES` per message and
per frame: a bigger one, even unfinished, closes the connection with 1009), pings to idle
connections and reaping those that stop answering, and the closing handshake.  Twisted's own
`twisted.web.websocket` was the other candidate: it has no inbound size cap (an unfinished
fragmented message grows without bound), no Origin check and no idle ping
(../shared/DEPENDENCIES.md has the measurements).

Each inbound text message is one line for the session's funnel (flood bucket, bounded inbox,
nickname timeout), exactly as a telnet line.  Outbound, the session and its outlet write to a
`WebSocketWire`, which frames everything a connection is owed in a turn as one text message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import txaio
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IPushProducer,
    IReactorTime,
    ITransport,
)
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from littlecats.core.chat import ChatService
from littlecats.doors.web.commands import WebCommands
from littlecats.doors.web.door import WebDoor, payload
from littlecats.fanout import Outlet
from littlecats.limits import Limits
from littlecats.messages import Catalog
from littlecats.session import Session, when_ready

txaio.use_twisted()

MAX_LINE_BYTES = 2048
"""The longest text a message may carry, as a telnet line."""
MAX_MESSAGE_BYTES = 16 * 1024
"""The biggest WebSocket message (and frame) a client may send: a line and its JSON."""
PING_SECONDS = 30.0
"""A connection silent this long is pinged; one that does not answer within as long again is
closed (a phone that went away without closing, a proxy that dropped it)."""
HANDSHAKE_SECONDS = 10.0
"""The opening and closing handshakes' time limits."""
CLOSE_NORMAL = 1000


def frame(data: bytes) -> bytes:
    """Events joined by the fan-out (C{{...},{...},}) as one WebSocket text message: a JSON
    array in an unmasked final frame (RFC 6455, 5.2; a server never masks)."""
    body = b"[" + data[:-1] + b"]"
    size = len(body)
    if size < 126:
        return bytes((0x81, size)) + body
    if size < 1 << 16:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + body
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + body


class WebSocketWire:
    """What a web session and its outlet write to: each write is one WebSocket message.

    Frames are written here rather than through Autobahn's C{sendMessage} because the fan-out
    hands the same joined bytes to every connection that shares a turn: they are framed once
    (the door remembers the last framing) and each connection's write then costs what a
    telnet connection's does, straight to the socket when its buffer is empty (a plain
    `Outlet` over the TCP transport does that).  No extension is negotiated, so a frame is
    only a header and the payload.  Control frames (pings, the close) are Autobahn's, written
    between whole messages.
    """

    def __init__(self, door: WebDoor, websocket: ChatWebSocket, transport: ITransport) -> None:
        self.door = door
        self.websocket = websocket
        self.transport = transport
        # The session's outlet holds output while this connection's socket is full; this
        # one only writes, straight to the socket when it can (never paused, holds nothing).
        self._out = Outlet(transport, websocket, 0)

    def write(self, data: bytes) -> None:
        if not data:
            return
        door = self.door
        last, framed = door.framed
        if data is not last:
            framed = frame(data)
            door.framed = (data, framed)
        self._out.write(framed)

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        """Close with the WebSocket closing handshake (after what was written)."""
        self.websocket.sendClose(CLOSE_NORMAL)

    def abortConnection(self) -> None:
        self.transport.abortConnection()

    def getPeer(self) -> IAddress:
        return self.transport.getPeer()

    def getHost(self) -> IAddress:
        return self.transport.getHost()

    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None:
        # twisted.web's channel registered itself as the connection's producer while it read
        # the upgrade request, and never unregisters: a second registration would raise.
        self.transport.unregisterProducer()
        self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self.transport.unregisterProducer()


class ChatWebSocket(WebSocketServerProtocol):
    """One web page's connection."""

    factory: WebFactory
    session: Session | None = None
    _lost = False

    def onConnect(self, request: ConnectionRequest) -> None:
        origin = request.headers.get("origin")
        if origin is not None and not self.factory.allows(origin, request.headers.get("host")):
            self.factory.log.info(
                self.factory.catalog.template("log-web-origin"), origin=origin, ip=self.peer
            )
            raise ConnectionDeny(ConnectionDeny.FORBIDDEN, "origin not allowed")
        return None

    def onOpen(self) -> None:
        when_ready(self.factory.service, self.transport, self._admit, lambda: self._lost)

    def _admit(self) -> None:
        factory = self.factory
        self.wire = WebSocketWire(factory.door, self, self.transport)
        self.session = Session.accept(factory.door, self.wire)
        if self.session is None:
            return
        self.session.wire = self
        self.session.write(factory.hello)

    def onMessage(self, data: bytes, isBinary: bool) -> None:
        session = self.session
        if session is None:
            return
        if isBinary:
            session.notice("err-web-bad-message")
            return
        session.receive([data])

    def drop(self, reason: str) -> None:
        """The wire's own outlet failed a write: drop the connection as the session would."""
        if self.session is not None:
            self.session.drop(reason)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._lost = True
        super().connectionLost(reason)
        if self.session is not None:
            self.session.finish()


class _Timers:
    """Autobahn's timers (pings, handshake limits) on the clock the door was given, so they
    run on the service's reactor and tests drive them with a fake clock (Autobahn's own
    batching of timers goes through txaio's global loop)."""

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock

    def call_later(self, delay: float, func: Any, *args: Any, **kwargs: Any) -> _Call:
        return _Call(self.clock.callLater(delay, func, *args, **kwargs))


class _Call:
    """A timer Autobahn may cancel after it ran (as txaio's batched calls allow)."""

    __slots__ = ("call",)

    def __init__(self, call: IDelayedCall) -> None:
        self.call = call

    def cancel(self) -> None:
        if self.call.active():
            self.call.cancel()


class WebFactory(WebSocketServerFactory):
    """Builds web connections over one chat service, all sharing one door."""

    protocol = ChatWebSocket
    noisy = False
    log = Logger()

    def __init__(
        self,
        service: ChatService,
        catalog: Catalog,
        clock: IReactorTime,
        limits: Limits | None = None,
        origins: list[str] | tuple[str, ...] = (),
    ) -> None:
        super().__init__(reactor=clock)
        self.setProtocolOptions(
            maxMessagePayloadSize=MAX_MESSAGE_BYTES,
            maxFramePayloadSize=MAX_MESSAGE_BYTES,
            autoPingInterval=PING_SECONDS,
            autoPingTimeout=PING_SECONDS,
            openHandshakeTimeout=HANDSHAKE_SECONDS,
            closeHandshakeTimeout=HANDSHAKE_SECONDS,
            # A client breaking the protocol (a message over the cap) is told why (1009 ...)
            # in a close frame before the connection ends.
            failByDrop=False,
        )
        self._batched_timer = _Timers(clock)
        self.service = service
        self.catalog = catalog
        self.clock = clock
        self.limits = limits if limits is not None else Limits()
        self.origins = frozenset(origin.rstrip("/").lower() for origin in origins)
        self.commands = WebCommands(service, MAX_LINE_BYTES)
        self.door = WebDoor(service, catalog, clock, self.limits, self.commands)
        self.hello = payload(
            {
                "type": "hello",
                "lang": catalog.language,
                "lobby": service.lobby,
                "max_line": MAX_LINE_BYTES,
            }
        )
        service.add_door(self.door)

    def allows(self, origin: str, host: str | None) -> bool:
        """Whether a page from C{origin} may connect: the page's own origin (the request's
        C{Host}), or one named by --web-origin."""
        origin = origin.rstrip("/").lower()
        if origin in self.origins:
            return True
        parts = urlsplit(origin)
        return (
            host is not None and parts.scheme in ("http", "https") and parts.netloc == host.lower()
        )

    def logPrefix(self) -> str:
        return "littlecats-web"
