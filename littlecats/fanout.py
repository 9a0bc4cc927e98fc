"""
Fan-out: getting rendered payloads to many connections with one write per connection per turn.

A door keeps one `Fanout`.  It holds a *channel* per audience (a room, or the whole server),
each with its subscribers (`Outlet`s), and hands the fan-out each payload once, for a channel
(`publish`) or for one outlet (`send`).  Every payload gets the next number of one sequence,
so the order in which things happened is known across channels.  At the end of the reactor
turn, `flush` computes what every outlet is owed and only then writes, once per outlet:

- an outlet subscribed to one busy channel, with nothing else owed, gets that channel's
  payloads joined once and shared by all such outlets (the 1000-member room's fast path);
- any other outlet gets a merge, by sequence number, of its channels' payloads (less those
  that exclude it, and those published before it subscribed) and its own direct lines.

Taking the turn's payloads out of the channels before the first write keeps a turn correct
when a write drops a connection (or a kick closes one) in its middle; each outlet's bytes are
then made just before its write, so a big turn never holds every outlet's copy at once.  An
outlet that unsubscribes in the middle of a turn keeps what it was owed so far as direct
lines, in their place.  The cost of a payload is O(1) when it is published and O(audience)
once per turn, however many the turn held; a subscriber that is late in the turn, or left out
of one of its payloads, costs its own merge, and the others still share.

Each connection's `Outlet` honours its transport's producer signals: while the transport says
its buffer is full, output is held in the outlet, up to `max_held` bytes; past that the outlet
overflows and its owner's `drop` is called (a slow reader is dropped, never allowed to grow
memory).

On a plain TCP transport whose own buffer is empty, an outlet sends straight on the socket and
hands only what the kernel did not take to `transport.write`: the profile of a 1000-member room
showed the transport's write path (register with epoll, wait a turn, send, unregister) costing
three system calls and most of the server's time per recipient per turn, where one `send` does.
The transport stays the owner of the connection: whether the shortcut is safe is checked at
every write (not TLS, started at accept or later; not aborted or closing; nothing buffered), so
anything the transport holds goes first and any error is left for it to discover.

A flush that took more than a millisecond is followed by a pause before the next, so that the
next one carries more: the send system call per connection per flush is the biggest cost.
After a flush that served one big audience the pause is as long as the flush: measured on this
machine (bench/), that took 2000 / 5000 joins with every notice from 0.85-1.04 s / 4.6-5.7 s to
0.71-0.94 s / 3.2-4.4 s and halved the server's CPU at a given load in a 1000-member room,
while a longer one slowed join storms (each newcomer's handshake waits for its notice).  After
a flush that served many busy rooms, each paying a send per member for a few lines, the pause
is three times as long (at most 25 ms): in 100 rooms of 10 at 630k deliveries/s that took the
share of `send` in the server's time from 35 % to 21 %.  The price is latency under load (a
few milliseconds, at most 25 ms), while a quiet server, whose flushes are cheap, never delays
anything.  The pause is shared by every door's fan-out on one reactor (`Pace`): a door with few
connections (a hundred web pages beside nine hundred telnet users) flushes fast, and on its own
pace it would flush every turn, paying a send per connection for one or two lines where the
busy door's connections get ten; sharing the pause gave the web door's deliveries the same
batching (bench/README.md, "Web door").

Payloads are opaque bytes here, channels opaque keys: no wire format, no chat rules.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable
from operator import itemgetter
from typing import Protocol
from weakref import WeakKeyDictionary

import attrs
from twisted.internet import tcp
from twisted.internet.interfaces import IDelayedCall, IReactorTime, ITransport
from twisted.logger import Logger

# What the direct path reads of a Twisted TCP connection to know that a send may skip it.
_CONNECTION_STATE = (
    "socket",
    "dataBuffer",
    "offset",
    "_tempDataLen",
    "connected",
    "disconnecting",
    "TLS",
    "_aborting",
)
_seq = itemgetter(0)


def _can_send_directly(transport: ITransport) -> bool:
    """Whether C{transport} is a Twisted TCP connection whose state this module can read.

    Any other transport (TLS wrapped at accept, a test's StringTransport), or a Twisted whose
    connection no longer keeps its state the way this module reads it, always gets the
    ordinary C{transport.write} path.
    """
    return isinstance(transport, tcp.Connection) and all(
        hasattr(transport, name) for name in _CONNECTION_STATE
    )


class _Owner(Protocol):
    def drop(self, reason: str) -> None: ...


@attrs.define(eq=False)
class Outlet:
    """One connection's output: its channels, its direct lines, its held bytes."""

    transport: ITransport
    owner: _Owner
    """Its C{drop(reason)} is called once when this outlet can no longer be written to."""
    max_held: int = 0
    # A tuple, rebuilt on the rare subscription changes: smaller than a list, and memory per
    # connection matters at 10 000 of them.  The same goes for C{held}, made when needed.
    channels: tuple[Channel, ...] = ()
    # Lines for this connection alone, with their sequence numbers.  An empty tuple (shared)
    # until there is one, since most connections receive channel payloads only.
    direct: list[tuple[int, bytes]] | tuple[()] = ()
    paused: bool = False
    held: list[bytes] | None = None
    held_bytes: int = 0
    closed: bool = False
    direct_send: bool = attrs.field(default=False)

    def __attrs_post_init__(self) -> None:
        self.direct_send = _can_send_directly(self.transport)

    def write(self, data: bytes) -> None:
        """Hand C{data} to the transport, or hold it while the transport is full."""
        if self.closed or not data:
            return
        if not self.paused:
            transport = self.transport
            if (
                self.direct_send
                and not transport.TLS
                and not transport._aborting
                and transport.connected
                and not transport.disconnecting
                and not transport._tempDataLen
                and transport.offset == len(transport.dataBuffer)
            ):
                try:
                    sent = transport.socket.send(data)
                except OSError:
                    sent = 0  # would block, or an error the transport will report itself
                if sent == len(data):
                    return
                data = data[sent:]
            transport.write(data)
            return
        if self.held is None:
            self.held = []
        self.held.append(data)
        self.held_bytes += len(data)
        if self.max_held and self.held_bytes > self.max_held:
            self.closed = True
            self.held, self.held_bytes = None, 0
            self.owner.drop("sendq")

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self.release()

    def release(self) -> None:
        """Give everything held to the transport (resumed, or closing and about to flush)."""
        if self.held and not self.closed:
            self.transport.write(b"".join(self.held))
        self.held, self.held_bytes = None, 0


@attrs.define(eq=False)
class Channel:
    """One audience: its subscribers, and the payloads published to it this turn."""

    key: Hashable
    members: dict[Outlet, None] = attrs.field(factory=dict)
    entries: list[tuple[int, bytes, Outlet | None]] = attrs.field(factory=list)
    """(sequence, payload, the outlet it excludes) for this turn."""
    late: dict[Outlet, int] | None = None
    """Outlets that subscribed this turn, with the sequence number they subscribed at."""
    excluded: set[Outlet] | None = None
    """Outlets that some payload of this turn leaves out."""

    def take(self) -> _Batch:
        """This turn's payloads, as the flush needs them; the channel starts a new turn."""
        batch = (self.entries, self.late, self.excluded, b"".join([e[1] for e in self.entries]))
        self.entries, self.late, self.excluded = [], None, None
        return batch

    def owed(self, outlet: Outlet) -> list[tuple[int, bytes]]:
        """What C{outlet} is owed of this turn's payloads so far."""
        return _share(outlet, self.entries, self.late, self.excluded)


# One dirty channel as the flush sees it: its entries, its late subscribers, the outlets some
# entry leaves out, and all its payloads joined once (what every other subscriber gets).
_Batch = tuple[
    list[tuple[int, bytes, "Outlet | None"]],
    "dict[Outlet, int] | None",
    "set[Outlet] | None",
    bytes,
]


def _share(
    outlet: Outlet,
    entries: list[tuple[int, bytes, Outlet | None]],
    late: dict[Outlet, int] | None,
    excluded: set[Outlet] | None,
) -> list[tuple[int, bytes]]:
    """C{outlet}'s share of C{entries}: those after it subscribed, less those leaving it out."""
    if late and outlet in late:
        entries = entries[bisect_right(entries, late[outlet], key=_seq) :]
    if excluded and outlet in excluded:
        return [(seq, data) for seq, data, skip in entries if skip is not outlet]
    return [(seq, data) for seq, data, _skip in entries]


class Pace:
    """When the next flush may run: one for every fan-out on a reactor (see the module doc)."""

    __slots__ = ("__weakref__", "quiet_until")

    def __init__(self) -> None:
        self.quiet_until = 0.0


_paces: WeakKeyDictionary[IReactorTime, Pace] = WeakKeyDictionary()


class Fanout:
    """The channels, their subscribers, and the once-per-turn flush."""

    log = Logger()
    # A flush slower than this is followed by a pause as long, or SLOW_FLUSH_PAUSE times as
    # long when it served more than MANY_CHANNELS busy rooms (at most MAX_PAUSE_SECONDS), so
    # that the next flush carries more (see the module doc).
    SLOW_FLUSH_SECONDS = 0.001
    SLOW_FLUSH_PAUSE = 3
    MANY_CHANNELS = 8
    MAX_PAUSE_SECONDS = 0.025

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self.channels: dict[Hashable, Channel] = {}
        self._seq = 0
        self._dirty_channels: list[Channel] = []
        self._dirty: list[Outlet] = []
        self._call: IDelayedCall | None = None
        pace = _paces.get(clock)
        if pace is None:
            pace = _paces[clock] = Pace()
        self._pace = pace

    def subscribers(self, key: Hashable) -> int:
        """How many outlets channel C{key} reaches."""
        channel = self.channels.get(key)
        return 0 if channel is None else len(channel.members)

    def subscribe(self, key: Hashable, outlet: Outlet) -> None:
        """C{outlet} receives what is published to C{key} from now on."""
        channel = self.channels.get(key)
        if channel is None:
            channel = self.channels[key] = Channel(key)
        elif outlet in channel.members:
            return
        channel.members[outlet] = None
        outlet.channels = (*outlet.channels, channel)
        if channel.entries:
            if channel.late is None:
                channel.late = {}
            channel.late[outlet] = self._seq

    def unsubscribe(self, key: Hashable, outlet: Outlet) -> None:
        """C{outlet} receives no more of C{key}; what it was owed stays in its place."""
        channel = self.channels.get(key)
        if channel is not None and outlet in channel.members:
            self._leave(channel, outlet)

    def _leave(self, channel: Channel, outlet: Outlet) -> None:
        owed = channel.owed(outlet) if channel.entries else None
        if owed:
            self._direct(outlet).extend(owed)
        del channel.members[outlet]
        outlet.channels = tuple(c for c in outlet.channels if c is not channel)
        if channel.late:
            channel.late.pop(outlet, None)
        if not channel.members and self.channels.get(channel.key) is channel:
            del self.channels[channel.key]

    def remove(self, outlet: Outlet) -> None:
        """C{outlet} is closing: it leaves every channel, and what it is owed is written now."""
        for channel in outlet.channels:
            self._leave(channel, outlet)
        if outlet.direct:
            outlet.write(self._merge(outlet, []))

    def publish(self, key: Hashable, payload: bytes, exclude: Outlet | None = None) -> None:
        """C{payload} for every subscriber of C{key} (but C{exclude}), in publishing order."""
        channel = self.channels.get(key)
        if channel is None:
            return
        self._seq += 1
        if not channel.entries:
            self._dirty_channels.append(channel)
        channel.entries.append((self._seq, payload, exclude))
        if exclude is not None:
            if channel.excluded is None:
                channel.excluded = set()
            channel.excluded.add(exclude)
        if self._call is None:
            self._schedule()

    def send(self, outlet: Outlet, payload: bytes) -> None:
        """C{payload} for C{outlet} alone, after everything published before it."""
        self._seq += 1
        self._direct(outlet).append((self._seq, payload))
        if self._call is None:
            self._schedule()

    def _direct(self, outlet: Outlet) -> list[tuple[int, bytes]]:
        if not outlet.direct:
            self._dirty.append(outlet)
            outlet.direct = []
        return outlet.direct  # type: ignore[return-value]

    def _schedule(self) -> None:
        delay = self._pace.quiet_until - self.clock.seconds()
        self._call = self.clock.callLater(delay if delay > 0 else 0, self.flush)

    def flush(self) -> None:
        """Write everything owed: one write per connection."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        started = self.clock.seconds()
        channels, self._dirty_channels = self._dirty_channels, []
        dirty, self._dirty = self._dirty, []
        # The turn's work is taken out of the channels before the first write, so that a
        # write that drops a connection (and whatever that publishes or unsubscribes) cannot
        # change what this flush owes anyone; new payloads wait for the next flush.
        if len(channels) == 1 and not dirty:
            self._flush_one(channels[0])
        else:
            self._flush_many(channels, dirty)
        ended = self.clock.seconds()
        took = ended - started
        if took > self.SLOW_FLUSH_SECONDS:
            factor = self.SLOW_FLUSH_PAUSE if len(channels) > self.MANY_CHANNELS else 1
            quiet_until = ended + min(factor * took, self.MAX_PAUSE_SECONDS)
            pace = self._pace
            if quiet_until > pace.quiet_until:
                pace.quiet_until = quiet_until

    def _flush_one(self, channel: Channel) -> None:
        """The busy-room case, one dirty channel: its members straight, no bookkeeping of who
        is owed what (in a 1000-member room that bookkeeping was 40 % of the flush's Python)."""
        batch = channel.take()
        _entries, late, excluded, shared = batch
        for outlet in list(channel.members):
            # _owed inlined: a call per member is a third of this loop in a big room.
            if outlet.direct or (late and outlet in late) or (excluded and outlet in excluded):
                self._write(outlet, self._merge(outlet, [batch]))
            else:
                self._write(outlet, shared)

    def _flush_many(self, channels: list[Channel], dirty: list[Outlet]) -> None:
        owed: dict[Outlet, _Batch | list[_Batch]] = {}
        for channel in channels:
            batch = channel.take()
            for outlet in channel.members:
                prior = owed.get(outlet)
                if prior is None:
                    owed[outlet] = batch
                elif type(prior) is list:
                    prior.append(batch)
                else:
                    owed[outlet] = [prior, batch]
        for outlet in dirty:
            if outlet.direct and outlet not in owed:
                owed[outlet] = []
        for outlet, batches in owed.items():
            if type(batches) is tuple:
                self._write(outlet, self._owed(outlet, batches))
            else:
                self._write(outlet, self._merge(outlet, batches))  # type: ignore[arg-type]

    @classmethod
    def _owed(cls, outlet: Outlet, batch: _Batch) -> bytes:
        """What C{outlet}, subscribed to one dirty channel, is owed: the shared bytes, unless it
        has direct lines, subscribed late, or is left out of a payload."""
        _entries, late, excluded, shared = batch
        if outlet.direct or (late and outlet in late) or (excluded and outlet in excluded):
            return cls._merge(outlet, [batch])
        return shared

    def _write(self, outlet: Outlet, data: bytes) -> None:
        try:
            outlet.write(data)
        except Exception:
            self.log.failure("write failed")
            if not outlet.closed:
                outlet.closed = True
                outlet.owner.drop("write-error")

    @staticmethod
    def _merge(outlet: Outlet, batches: list[_Batch]) -> bytes:
        """C{outlet}'s direct lines and its share of C{batches}, in sequence; then forget them."""
        direct, outlet.direct = outlet.direct, ()
        if not direct and len(batches) == 1:
            items = _share(outlet, *batches[0][:3])  # one source, already in order
        else:
            items = list(direct)
            for entries, late, excluded, _shared in batches:
                items.extend(_share(outlet, entries, late, excluded))
            items.sort(key=_seq)
        return b"".join([item[1] for item in items])
