"""
The telnet door's protocol: a thin adapter from a telnet or netcat byte stream to a `Session`.

`ChatProtocol` frames bytes into lines with the NVT decoder (`nvt.LineDecoder`: telnet
commands consumed and refused, every line ending, a bounded line) and hands them to its
session; the session does everything else (admission, the input funnel, states, output,
closing), and `littlecats.commands` gives lines their meaning.  Twisted's `LineReceiver` is not
used: it disconnects on an over-long line, and Twisted's own telnet parser raises on an unknown
`IAC` command (Ctrl-D sends `IAC EOF`) and costs a Python call per byte on the hot path.
`TelnetFactory` builds protocols over one door and one command handler.
"""

from __future__ import annotations

from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from littlecats.commands import LineCommands
from littlecats.core.chat import ChatService
from littlecats.doors.telnet.door import TelnetDoor
from littlecats.doors.telnet.nvt import LineDecoder
from littlecats.limits import Limits
from littlecats.messages import Catalog
from littlecats.session import Session, when_ready

MAX_LINE_BYTES = 2048


class ChatProtocol(Protocol):
    """One telnet connection."""

    factory: TelnetFactory
    session: Session | None = None
    _lost = False

    def connectionMade(self) -> None:
        when_ready(self.factory.service, self.transport, self._admit, lambda: self._lost)

    def _admit(self) -> None:
        factory = self.factory
        self.session = Session.accept(factory.door, self.transport)
        if self.session is None:
            return
        self.session.wire = self
        self.decoder = LineDecoder(MAX_LINE_BYTES)
        # Nothing can be queued for a brand-new connection, so the greeting may skip the
        # fan-out's turn: in a join storm that saves every newcomer a whole reactor turn.
        self.session.outlet.write(factory.greeting)

    def dataReceived(self, data: bytes) -> None:
        session = self.session
        if session is None:
            return
        lines, replies = self.decoder.feed(data)
        if replies:
            session.write(replies)
        if lines:
            session.receive(lines)

    def hide_input(self, hidden: bool) -> None:
        """Stop the peer's terminal echoing what is typed (a password), or restore it.

        Only a client that has shown it speaks telnet is asked (`IAC WILL ECHO`, then
        `IAC WONT ECHO`): netcat would print the negotiation bytes, and without it the line is
        simply shown as typed.  Every prompt ends its line, so the unechoed Enter leaves the
        cursor where the next line belongs.
        """
        session = self.session
        if session is None:
            return
        negotiation = self.decoder.offer_echo(hidden)
        if negotiation:
            session.write(negotiation)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._lost = True
        if self.session is not None:
            self.session.finish()


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
        self.commands = LineCommands(service, MAX_LINE_BYTES)
        self.door = TelnetDoor(service, catalog, clock, self.limits, self.commands)
        self.greeting = catalog.line("greeting") + catalog.line("nick-prompt")
        service.add_door(self.door)

    def logPrefix(self) -> str:
        return "littlecats-telnet"
