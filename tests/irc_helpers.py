"""
Test helpers for the IRC door: the chat with its telnet and IRC doors, driven through
StringTransport on a clock the test drives, and an IRC client on the far end of it.
"""

from __future__ import annotations

import itertools
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from littlecats.doors.irc.message import Message, parse
from littlecats.doors.irc.protocol import IRCConnection, IRCFactory
from tests.helpers import Harness

SERVER = "irc.test"
_ports = itertools.count(50000)


class IRCHarness(Harness):
    """The chat with its telnet door and its IRC door."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.irc = IRCFactory(self.service, self.catalog, self.clock, self.limits, SERVER)
        self.ircs: list[IRCClient] = []

    def open(self, host: str = "127.0.0.1") -> IRCClient:
        client = IRCClient(self, host)
        self.ircs.append(client)
        return client

    def register(
        self, nick: str, caps: str = "", host: str = "127.0.0.1", join: str = "#lobby"
    ) -> IRCClient:
        """An IRC client that has registered as C{nick} (after asking for C{caps}) and joined
        C{join} (none if empty); what it received so far is read and forgotten."""
        client = self.open(host)
        if caps:
            client.send(f"CAP LS 302\r\nCAP REQ :{caps}\r\n")
        client.send(f"NICK {nick}\r\nUSER {nick} 0 * :{nick} Real\r\n")
        if caps:
            client.send("CAP END\r\n")
        if join:
            client.send(f"JOIN {join}\r\n")
        client.messages()
        return client

    def flush(self) -> None:
        for fanout in self.irc.door.fanouts:
            if fanout is not None:
                fanout.flush()
        self.factory.door.fanout.flush()


class IRCClient:
    """One IRC connection, seen from the client's side."""

    def __init__(self, harness: IRCHarness, host: str) -> None:
        self.harness = harness
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", host, next(_ports)))
        self.protocol: IRCConnection = harness.irc.buildProtocol(self.transport.getPeer())
        self.protocol.makeConnection(self.transport)

    def send(self, data: str | bytes) -> None:
        self.protocol.dataReceived(data.encode() if isinstance(data, str) else data)

    def raw(self) -> bytes:
        self.harness.flush()
        data = self.transport.value()
        self.transport.clear()
        return data

    def lines(self) -> list[str]:
        """The lines received since the last read."""
        data = self.raw()
        assert data == b"" or data.endswith(b"\r\n"), data
        return data.decode().split("\r\n")[:-1] if data else []

    def messages(self) -> list[Message]:
        return [parse(line) for line in self.lines()]

    def commands(self) -> list[str]:
        return [m.command for m in self.messages()]

    @property
    def session(self):
        return self.protocol.session

    @property
    def closed(self) -> bool:
        return self.transport.disconnecting

    def lost(self) -> None:
        self.protocol.connectionLost(None)


def numeric(messages: list[Message], code: str) -> list[Message]:
    """The replies numbered C{code}."""
    return [m for m in messages if m.command == code]
