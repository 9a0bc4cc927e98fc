"""
Fan-out: getting rendered payloads to many connections with one write per connection per turn.

A door hands the `Fanout` each broadcast payload once; the fan-out appends it to a shared log
for the current reactor turn and, at the end of the turn, writes the log (joined once) to every
connection in its audience.  Payloads for a single connection (private lines, replies, errors)
are slotted into that connection's stream at the position they were sent, so every connection
sees exactly the order in which things happened.  The cost of a broadcast is therefore O(1) when
it is sent and O(audience) once per turn, however many broadcasts the turn held.

Each connection's `Outlet` honours its transport's producer signals: while the transport says
its buffer is full, output is held in the outlet, up to `max_held` bytes; past that the outlet
overflows and its owner is told through `drop` (a slow reader is dropped, never allowed to
grow memory).

On a plain TCP transport whose own buffer is empty, an outlet sends straight on the socket and
hands only what the kernel did not take to `transport.write`: the profile of a 1000-member room
showed the transport's write path (register with epoll, wait a turn, send, unregister) costing
three system calls and most of the server's time per recipient per turn, where one `send` does.
The transport stays the owner of the connection: anything it has buffered goes first, and any
error is left for it to discover.

A flush that took more than a millisecond (a big audience) is followed by a pause as long as
itself before the next flush, so that the next one carries more.  Measured on this machine
(bench/): 2000 / 5000 joins with every notice went from 0.85-1.04 s / 4.6-5.7 s to
0.71-0.94 s / 3.2-4.4 s and the server's CPU at a given load in a 1000-member room halved; the
price is latency in big rooms (a 1000-member room's p50 rises by a flush or two), while small
rooms, whose flushes are cheap, are never delayed.

Payloads are opaque bytes here: no wire format, no chat rules.
"""

from __future__ import annotations

from collections.abc import Callable
from socket import socket

import attrs
from twisted.internet import tcp
from twisted.internet.interfaces import IDelayedCall, IReactorTime, ITransport
from twisted.logger import Logger

# What the direct path reads of a Twisted TCP connection to know that its buffer is empty.
_BUFFER_STATE = ("socket", "dataBuffer", "offset", "_tempDataLen", "connected", "disconnecting")


def _direct_socket(transport: ITransport) -> socket | None:
    """The socket under C{transport} if it is a Twisted TCP connection we can send on.

    Any other transport, or a Twisted whose connection no longer keeps its buffer the way
    this module reads it, gets the ordinary C{transport.write} path.
    """
    if isinstance(transport, tcp.Connection) and all(
        hasattr(transport, name) for name in _BUFFER_STATE
    ):
        return transport.socket
    return None


@attrs.define(eq=False)
class Outlet:
    """One connection's output: its place in the turn's log, its direct lines, its held bytes."""

    transport: ITransport
    drop: Callable[[str], None]
    """Called once when this outlet can no longer be written to, with the reason."""
    max_held: int = 0
    in_audience: bool = False
    start: int = 0
    # Lines for this connection alone, with their position in the turn's log.  An empty tuple
    # (shared) until there is one, since most connections receive broadcasts only.
    direct: list[tuple[int, bytes]] | tuple[()] = ()
    paused: bool = False
    held: list[bytes] = attrs.field(factory=list)
    held_bytes: int = 0
    closed: bool = False
    socket: socket | None = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        self.socket = _direct_socket(self.transport)

    def write(self, data: bytes) -> None:
        """Hand C{data} to the transport, or hold it while the transport is full."""
        if self.closed or not data:
            return
        if not self.paused:
            sock = self.socket
            transport = self.transport
            if (
                sock is not None
                and not transport._tempDataLen
                and transport.offset == len(transport.dataBuffer)
                and transport.connected
                and not transport.disconnecting
            ):
                try:
                    sent = sock.send(data)
                except OSError:
                    sent = 0  # would block, or an error the transport will report itself
                if sent == len(data):
                    return
                data = data[sent:]
            transport.write(data)
            return
        self.held.append(data)
        self.held_bytes += len(data)
        if self.max_held and self.held_bytes > self.max_held:
            self.closed = True
            self.held, self.held_bytes = [], 0
            self.drop("sendq")

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self.release()

    def release(self) -> None:
        """Give everything held to the transport (resumed, or closing and about to flush)."""
        if self.held and not self.closed:
            self.transport.write(b"".join(self.held))
        self.held, self.held_bytes = [], 0


class Fanout:
    """The turn's shared log, its audience, and the once-per-turn flush."""

    log = Logger()
    # A flush slower than this is followed by a pause as long as itself (see the module doc).
    SLOW_FLUSH_SECONDS = 0.001

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self._log: list[bytes] = []
        self._audience: dict[Outlet, None] = {}
        self._dirty: list[Outlet] = []
        self._call: IDelayedCall | None = None
        self._quiet_until = 0.0

    def __len__(self) -> int:
        return len(self._audience)

    def add(self, outlet: Outlet) -> None:
        """C{outlet} receives every broadcast from now on."""
        outlet.start = len(self._log)
        outlet.in_audience = True
        self._audience[outlet] = None

    def remove(self, outlet: Outlet) -> None:
        """C{outlet} leaves the audience; what it was owed so far is written to it now."""
        if outlet.in_audience:
            outlet.write(self._pending(outlet, self._log))
            outlet.in_audience = False
            del self._audience[outlet]
        elif outlet.direct:
            outlet.write(self._pending(outlet, self._log))

    def broadcast(self, payload: bytes) -> None:
        """C{payload} for everyone in the audience."""
        self._log.append(payload)
        if self._call is None:
            self._schedule()

    def send(self, outlet: Outlet, payload: bytes) -> None:
        """C{payload} for C{outlet} alone, after everything broadcast before it."""
        if not outlet.direct:
            self._dirty.append(outlet)
            outlet.direct = []
        outlet.direct.append((len(self._log), payload))  # type: ignore[union-attr]
        if self._call is None:
            self._schedule()

    def _schedule(self) -> None:
        delay = self._quiet_until - self.clock.seconds()
        self._call = self.clock.callLater(delay if delay > 0 else 0, self.flush)

    def flush(self) -> None:
        """Write everything owed: one write per connection."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        started = self.clock.seconds()
        log, self._log = self._log, []
        dirty, self._dirty = self._dirty, []
        if log:
            blob = b"".join(log)
            for outlet in list(self._audience):
                data = blob if not (outlet.start or outlet.direct) else self._pending(outlet, log)
                outlet.start = 0
                self._write(outlet, data)
        for outlet in dirty:
            if outlet.direct:
                self._write(outlet, self._pending(outlet, log))
        ended = self.clock.seconds()
        took = ended - started
        self._quiet_until = ended + took if took > self.SLOW_FLUSH_SECONDS else 0.0

    def _write(self, outlet: Outlet, data: bytes) -> None:
        try:
            outlet.write(data)
        except Exception:
            self.log.failure("write failed")
            if not outlet.closed:
                outlet.closed = True
                outlet.drop("write-error")

    @staticmethod
    def _pending(outlet: Outlet, log: list[bytes]) -> bytes:
        """What C{outlet} is owed from C{log} and its direct lines, in order; then forget it."""
        pieces: list[bytes] = []
        position = outlet.start if outlet.in_audience else len(log)
        for index, payload in outlet.direct:
            if index > position:
                pieces.extend(log[position:index])
                position = index
            pieces.append(payload)
        if outlet.in_audience:
            pieces.extend(log[position:])
        outlet.direct = ()
        outlet.start = len(log)
        return b"".join(pieces)
