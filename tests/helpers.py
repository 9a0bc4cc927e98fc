"""
Test helpers: a chat server driven through StringTransport, and a client on the far end of it.

`Harness` builds the real core and telnet factory; `FakeClient` is one connection whose
output can be read as text lines, as a telnet user would see them.  `LineClient` is a user
over real TCP, for integration tests.
"""

from __future__ import annotations

import itertools
import re

import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.protocols.basic import LineOnlyReceiver

from littlecats.accounts import LoginThrottle
from littlecats.core import ChatService
from littlecats.core.history import History
from littlecats.core.identity import Accounts
from littlecats.doors.telnet.protocol import ChatProtocol, TelnetFactory
from littlecats.limits import ConnectionLimiter, Limits
from littlecats.messages import Catalog
from littlecats.storage.memory import MemoryStore
from littlecats.storage.writer import HistoryWriter

_ports = itertools.count(40000)
TIMEOUT = 10


class LineClient(LineOnlyReceiver):
    """A user over real TCP: collects every line received; tests wait for the next ones."""

    delimiter = b"\r\n"

    def connectionMade(self) -> None:
        self.lines: defer.DeferredQueue = defer.DeferredQueue()
        self.closed: defer.Deferred = defer.Deferred()

    def lineReceived(self, line: bytes) -> None:
        self.lines.put(line.decode("utf-8"))

    def connectionLost(self, reason=None) -> None:
        self.closed.callback(None)

    def say(self, text: str) -> None:
        self.sendLine(text.encode("utf-8"))

    async def expect(self, count: int) -> list[str]:
        """The next C{count} lines (fails the test after a timeout rather than hanging)."""
        return [await self.lines.get().addTimeout(TIMEOUT, reactor) for _ in range(count)]

    async def wait_for(self, text: str) -> str:
        """Skip lines until one contains C{text}; return it."""
        while True:
            line = await self.lines.get().addTimeout(TIMEOUT, reactor)
            if text in line:
                return line


class FakeClient:
    """One connection to the server, seen from the user's side."""

    def __init__(self, factory: TelnetFactory, host: str = "127.0.0.1") -> None:
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", host, next(_ports)))
        self.protocol: ChatProtocol = factory.buildProtocol(self.transport.getPeer())
        self.protocol.makeConnection(self.transport)

    def send(self, data: bytes | str) -> None:
        """Bytes as the user's terminal sends them (str is encoded as UTF-8)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.protocol.dataReceived(data)

    def line(self, text: str) -> None:
        """Type one line and press Enter (CRLF)."""
        self.send(text.encode("utf-8") + b"\r\n")

    def raw(self) -> bytes:
        """Everything received since the last read, and forget it."""
        self.protocol.factory.door.fanout.flush()
        data = self.transport.value()
        self.transport.clear()
        return data

    def lines(self) -> list[str]:
        """The lines received since the last read, as a telnet client shows them (option
        negotiations, such as the password prompt's echo, consumed)."""
        data = re.sub(rb"\xff[\xfb-\xfe].", b"", self.raw(), flags=re.DOTALL)
        assert data == b"" or data.endswith(b"\r\n"), data
        return data.decode("utf-8").split("\r\n")[:-1] if data else []

    def drop(self) -> None:
        """The connection is lost without a word."""
        self.protocol.connectionLost(None)

    def close_if_asked(self) -> None:
        """Play the kernel: if the server asked to close, the connection is lost."""
        if self.transport.disconnecting:
            self.protocol.connectionLost(None)

    @property
    def session(self):
        """The server's session for this connection."""
        return self.protocol.session

    @property
    def closed(self) -> bool:
        return self.transport.disconnecting


class SlowBans(MemoryStore):
    """A store whose reading of the bans waits until the test fires C{held} (the moments right
    after a start, while doors must hold new connections)."""

    held: defer.Deferred | None = None

    def bans(self):
        answer = super().bans()
        self.held = defer.Deferred()
        return self.held.addCallback(lambda _: answer)


class InlineHasher:
    """argon2id with the cheapest parameters, on the test's own thread: every Deferred it
    returns has fired, so protocol tests need no reactor."""

    def __init__(self) -> None:
        self._argon2 = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        self.hashed = 0
        self.verified = 0

    def hash(self, password: str) -> defer.Deferred:
        self.hashed += 1
        return defer.succeed(self._argon2.hash(password))

    def verify(self, password_hash: str, password: str) -> defer.Deferred:
        self.verified += 1
        try:
            return defer.succeed(self._argon2.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return defer.succeed(False)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._argon2.check_needs_rehash(password_hash)


class Harness:
    """A chat service with its telnet door, in one language, on a clock the test drives.

    Flood control and the per-IP limits are off unless a test asks for them, so tests can type
    as fast, and connect as often from one address, as they like.
    """

    def __init__(
        self,
        lang: str = "pt",
        lobby: str = "#lobby",
        quiet_above: int = 0,
        backend: object = None,
        history: int = 0,
        store: object = None,
        hasher: object = None,
        operators: tuple[str, ...] = (),
        **limits: float,
    ) -> None:
        self.clock = MemoryReactorClock()
        self.store = store if store is not None else MemoryStore()
        self.hasher = hasher if hasher is not None else InlineHasher()
        self.throttle = LoginThrottle(self.clock)
        self.writer = HistoryWriter(self.store, self.clock) if history else None
        self.catalog = Catalog(lang)
        self.limits = Limits(**{"flood_rate": 0, "connect_rate": 0, "max_per_ip": 0, **limits})
        limiter = ConnectionLimiter(
            self.clock,
            max_clients=self.limits.max_clients,
            max_per_ip=self.limits.max_per_ip,
            connect_rate=self.limits.connect_rate,
        )
        self.service = ChatService(
            self.catalog,
            limiter,
            quiet_above=quiet_above,
            lobby=lobby,
            backend=backend,
            store=self.store,
            accounts=Accounts(self.store, self.hasher, self.throttle, self.clock),
            history=History(self.store, self.writer, self.clock, history) if history else None,
            clock=self.clock,
            operators=operators,
        )
        self.factory = TelnetFactory(self.service, self.catalog, self.clock, self.limits)
        self.clients: list[FakeClient] = []

    def connect(self, host: str = "127.0.0.1") -> FakeClient:
        client = FakeClient(self.factory, host)
        self.clients.append(client)
        return client

    def clear(self) -> None:
        """Discard what every client has received so far."""
        for client in self.clients:
            client.raw()

    def join(self, nick: str, host: str = "127.0.0.1") -> FakeClient:
        """A client that has connected and chosen C{nick}; its output so far is discarded."""
        client = self.connect(host)
        client.line(nick)
        client.raw()
        return client
