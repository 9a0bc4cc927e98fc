"""
A web page's connection, driven in memory: the real twisted.web site and Autobahn's handshake
over a StringTransport, frames encoded and decoded here (RFC 6455), time on the harness's clock.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import struct
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from littlecats.doors.web.protocol import WebFactory
from littlecats.doors.web.site import WebSite
from tests.helpers import Harness

_ports = itertools.count(50000)

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def client_frame(payload: bytes, opcode: int = TEXT, fin: bool = True) -> bytes:
    """A frame as a browser sends it: masked."""
    mask = os.urandom(4)
    size = len(payload)
    head = bytes(((0x80 if fin else 0) | opcode,))
    if size < 126:
        head += bytes((0x80 | size,))
    elif size < 1 << 16:
        head += bytes((0x80 | 126,)) + struct.pack(">H", size)
    else:
        head += bytes((0x80 | 127,)) + struct.pack(">Q", size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def parse_frames(data: bytes) -> list[tuple[int, bytes]]:
    """The server's frames in C{data} (unmasked, complete)."""
    frames = []
    while data:
        opcode, size, offset = data[0] & 0x0F, data[1] & 0x7F, 2
        assert not data[1] & 0x80, "a server never masks"
        if size == 126:
            size, offset = struct.unpack(">H", data[2:4])[0], 4
        elif size == 127:
            size, offset = struct.unpack(">Q", data[2:10])[0], 10
        assert len(data) >= offset + size, "a frame was cut"
        frames.append((opcode, data[offset : offset + size]))
        data = data[offset + size :]
    return frames


class WebHarness(Harness):
    """The chat with its telnet door and its web door."""

    def __init__(self, origins: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.web = WebFactory(self.service, self.catalog, self.clock, self.limits, origins)
        self.site = WebSite(self.web)
        self.pages: list[WebClient] = []

    def open(self, host: str = "127.0.0.1", origin: str | None = "same") -> WebClient:
        page = WebClient(self, host, origin)
        self.pages.append(page)
        return page

    def enter(self, nick: str, host: str = "127.0.0.1") -> WebClient:
        """A page that has opened and chosen C{nick}; what it received so far is read."""
        page = self.open(host)
        page.send({"type": "nick", "nick": nick})
        page.events()
        return page

    def flush(self) -> None:
        self.web.door.fanout.flush()
        self.factory.door.fanout.flush()


class WebClient:
    """One browser connection to the web door."""

    def __init__(self, harness: WebHarness, host: str, origin: str | None) -> None:
        self.harness = harness
        self.transport = StringTransport(
            hostAddress=IPv4Address("TCP", "127.0.0.1", 8080),
            peerAddress=IPv4Address("TCP", host, next(_ports)),
        )
        self.channel = harness.site.buildProtocol(self.transport.getPeer())
        # A TCP connection knows its protocol: Autobahn's resource hands the connection over
        # from the HTTP channel to the WebSocket by replacing it.
        self.transport.protocol = self.channel
        self.channel.makeConnection(self.transport)
        key = base64.b64encode(os.urandom(16)).decode()
        headers = [
            "GET /ws HTTP/1.1",
            "Host: localhost:8080",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if origin == "same":
            headers.append("Origin: http://localhost:8080")
        elif origin is not None:
            headers.append(f"Origin: {origin}")
        self.channel.dataReceived(("\r\n".join(headers) + "\r\n\r\n").encode())
        response = self.transport.value()
        head, _, rest = response.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.transport.clear()
        self._pending = rest
        self.protocol = self.transport.protocol if self.status == 101 else None

    def send(self, message: dict[str, Any] | str | bytes, opcode: int = TEXT) -> None:
        if isinstance(message, dict):
            message = json.dumps(message)
        if isinstance(message, str):
            message = message.encode()
        self.send_raw(client_frame(message, opcode))

    def send_raw(self, data: bytes) -> None:
        self.transport.protocol.dataReceived(data)

    def frames(self) -> list[tuple[int, bytes]]:
        """Every frame received since the last read (after the turn's flush)."""
        self.harness.flush()
        data, self._pending = self._pending + self.transport.value(), b""
        self.transport.clear()
        return parse_frames(data)

    def messages(self) -> list[list[dict[str, Any]]]:
        """The text messages received since the last read, each a list of events."""
        return [json.loads(body) for opcode, body in self.frames() if opcode == TEXT]

    def events(self) -> list[dict[str, Any]]:
        """Every event received since the last read, in order."""
        return [event for message in self.messages() for event in message]

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The events of type C{kind} received since the last read (the others are read too)."""
        return [event for event in self.events() if event["type"] == kind]

    @property
    def session(self):
        return self.protocol.session

    def lost(self) -> None:
        """The connection is gone (play the kernel)."""
        self.transport.protocol.connectionLost(Failure(ConnectionDone()))
