"""
Ban lists: the bans of one room (or of the whole server), looked up on every connection or join,
and lifted on time without anyone asking.

Pure bookkeeping: no chat, no sockets, no storage.  Time comes from the C{IReactorTime} a
L{BanList} is given (tests drive it with C{MemoryReactorClock}), and expiry is one
C{callLater} for the earliest expiry of all, kept in a heap, never one timer per ban.

A lookup costs O(1) in the number of bans: one dict lookup per nickname, account and address,
plus one per CIDR prefix length in use in the client's address family, so at most the number of
distinct prefix lengths in use (24 for IPv4, /8 to /31, and 112 for IPv6, /16 to /127: never
more than 162 whatever the number of bans), and in practice far fewer: every 8 bits (/8, /16,
/24 for IPv4; /16, /24 ... /120 for IPv6) a count of the blocks lying under each prefix stops
the scan as soon as no banned block lies under the client's.
"""

from __future__ import annotations

import heapq
import ipaddress
import itertools
from collections.abc import Callable, Iterator
from operator import attrgetter

import attrs
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from littlecats.moderation.masks import MIN_PREFIX_V4, MIN_PREFIX_V6, Mask, host_key

_GATE_STRIDE = 8
"""Bits between two gates (see L{_Family})."""
_COMPACT_FLOOR = 64
"""Stale heap entries (of bans removed or replaced before they expired) are dropped once they
outnumber the timed bans by this many, so the heap stays O(timed bans)."""


@attrs.frozen
class Ban:
    """One ban: who (C{mask}), set by whom (C{setter}: a nickname or account, as the core
    shows it), why (C{reason}, possibly empty), when (C{created}, the clock's seconds) and
    until when (C{expires}, the clock's seconds; None: until lifted)."""

    mask: Mask
    setter: str
    reason: str
    created: float
    expires: float | None = None

    def is_expired(self, now: float) -> bool:
        """Whether this ban has ended at time C{now} (it ends at C{expires} exactly)."""
        return self.expires is not None and self.expires <= now


_Plan = tuple[tuple[int, dict[int, int], tuple[tuple[int, dict[int, Ban]], ...]], ...]


class _Family:
    """The IP and CIDR bans of one address family, keyed by integers.

    C{blocks[length]} maps C{network >> (bits - length)} to the ban on that block.  The gate
    for a length C{g} (C{min_prefix}, C{min_prefix + 8}, ...) counts, for every C{/g} prefix,
    the blocks of length C{g} or more lying under it: an address whose C{/g} prefix is not
    there is covered by no block that long.  C{plan} lists, shortest first, the gates that
    start a run of lengths in use and those lengths with their tables, rebuilt only when the
    set of lengths in use changes.
    """

    def __init__(self, bits: int, min_prefix: int) -> None:
        self.bits = bits
        self.ips: dict[int, Ban] = {}
        self.blocks: dict[int, dict[int, Ban]] = {}
        self.gates = {g: {} for g in range(min_prefix, bits, _GATE_STRIDE)}
        self.gate_lengths = tuple(self.gates)
        self.plan: _Plan = ()

    def _replan(self) -> None:
        plan = []
        for gate in self.gate_lengths:
            lengths = tuple(
                (self.bits - length, self.blocks[length])
                for length in sorted(self.blocks)
                if gate <= length < gate + _GATE_STRIDE
            )
            if lengths:
                plan.append((self.bits - gate, self.gates[gate], lengths))
        self.plan = tuple(plan)

    def add_block(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network, ban: Ban) -> None:
        length, number = network.prefixlen, int(network.network_address)
        table = self.blocks.get(length)
        if table is None:
            table = self.blocks[length] = {}
            self._replan()
        table[number >> (self.bits - length)] = ban
        for gate in self.gate_lengths:
            if gate > length:
                break
            counts = self.gates[gate]
            key = number >> (self.bits - gate)
            counts[key] = counts.get(key, 0) + 1

    def remove_block(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
        length, number = network.prefixlen, int(network.network_address)
        table = self.blocks[length]
        del table[number >> (self.bits - length)]
        if not table:
            del self.blocks[length]
            self._replan()
        for gate in self.gate_lengths:
            if gate > length:
                break
            counts = self.gates[gate]
            key = number >> (self.bits - gate)
            left = counts[key] - 1
            if left:
                counts[key] = left
            else:
                del counts[key]


class BanList:
    """The bans in force in one place, and their expiry.

    Each mask holds at most one ban.  L{match} says which ban applies to a user, if any: a ban
    on their nickname first, then on their account, then on their exact address, then the
    most specific CIDR block covering it (the longest prefix).  An IPv4 client is matched by
    IPv4 entries and an IPv6 client by IPv6 ones; an IPv4-mapped IPv6 client address
    (C{::ffff:1.2.3.4}, what a dual-stack listener reports) is an IPv4 client.

    A ban whose C{expires} has come is gone at once for L{match}, L{get}, L{__iter__} and
    L{__len__}, even before its timer has run; the timer then drops it and calls
    C{expired(ban)}, once per ban, at the ban's time (or on the reactor's next turn, for a ban
    added already past its time, e.g. loaded after a restart).  A ban removed or replaced never
    reaches C{expired}.  C{expired} may add and remove bans; if it raises, the bans still due
    are dropped on the next turn.
    """

    def __init__(self, clock: IReactorTime, expired: Callable[[Ban], object] | None = None) -> None:
        """
        @param clock: where the time and the expiry timer come from.
        @param expired: called with each ban that ends on its own.
        """
        self._clock = clock
        self._expired = expired
        self._bans: dict[Mask, Ban] = {}
        self._nicks: dict[str, Ban] = {}
        self._accounts: dict[str, Ban] = {}
        self._v4 = _Family(32, MIN_PREFIX_V4)
        self._v6 = _Family(128, MIN_PREFIX_V6)
        self._addressed = 0
        """How many IP and CIDR bans there are (with none, a lookup never parses the host)."""
        self._heap: list[tuple[float, int, Ban]] = []
        self._timed: dict[Mask, tuple[float, int, Ban]] = {}
        """Each timed ban's live heap entry; other heap entries are stale."""
        self._order = itertools.count()
        self._timer: IDelayedCall | None = None
        self._timer_at = 0.0

    def __len__(self) -> int:
        """How many bans are in force (ones whose time has come are not)."""
        return len(self._bans) - self._due(self._clock.seconds())

    def __iter__(self) -> Iterator[Ban]:
        """The bans in force, oldest C{created} first (equal ones in the order added), for
        C{/bans}: a sorted copy, so the list may change while it is read."""
        now = self._clock.seconds()
        live = [ban for ban in self._bans.values() if not ban.is_expired(now)]
        return iter(sorted(live, key=attrgetter("created")))

    def get(self, mask: Mask) -> Ban | None:
        """The ban in force on C{mask}, if any."""
        ban = self._bans.get(mask)
        if ban is None or ban.is_expired(self._clock.seconds()):
            return None
        return ban

    def add(self, ban: Ban) -> Ban | None:
        """Put C{ban} in force; return the ban it replaces (the one on the same mask), if any,
        even one whose time had come but whose timer had not run yet."""
        old = self._bans.pop(ban.mask, None)
        if old is not None:
            self._unindex(old)
        self._bans[ban.mask] = ban
        self._index(ban)
        if ban.expires is not None:
            entry = (ban.expires, next(self._order), ban)
            self._timed[ban.mask] = entry
            heapq.heappush(self._heap, entry)
        self._reschedule()
        return old

    def remove(self, mask: Mask) -> Ban | None:
        """Lift the ban on C{mask}; return it (even one whose time had come but whose timer had
        not run yet), or None if there was none."""
        ban = self._bans.pop(mask, None)
        if ban is not None:
            self._unindex(ban)
            self._reschedule()
        return ban

    def clear(self) -> None:
        """Lift every ban and stop the timer, without calling C{expired} (e.g. for a room
        dropped for good)."""
        for ban in list(self._bans.values()):
            self._unindex(ban)
        self._bans.clear()
        self._heap.clear()
        self._reschedule()

    def match(self, nick_key: str | None, account: str | None, host: str | None) -> Ban | None:
        """The ban that applies to a user, if any (see the class's docstring for which one).

        @param nick_key: their nickname's L{littlecats.nicknames.fold} key (None before they
            chose one, e.g. at connection).
        @param account: the key of the account they identified to, if any.
        @param host: their address as the listener reports it.
        """
        if nick_key is not None and self._nicks:
            ban = self._nicks.get(nick_key)
            if ban is not None and (ban.expires is None or ban.expires > self._clock.seconds()):
                return ban
        if account is not None and self._accounts:
            ban = self._accounts.get(account)
            if ban is not None and (ban.expires is None or ban.expires > self._clock.seconds()):
                return ban
        if not self._addressed:
            return None
        key = host_key(host)
        if key is None:
            return None
        version, number = key
        family = self._v4 if version == 4 else self._v6
        ban = family.ips.get(number)
        if ban is not None and (ban.expires is None or ban.expires > self._clock.seconds()):
            return ban
        found = None
        for gate_shift, gate, lengths in family.plan:
            if number >> gate_shift not in gate:
                break
            for shift, table in lengths:
                ban = table.get(number >> shift)
                if ban is not None and (ban.expires is None or ban.expires > self._clock.seconds()):
                    found = ban
        return found

    def _index(self, ban: Ban) -> None:
        mask = ban.mask
        value = mask.value
        if mask.kind == "nick":
            assert isinstance(value, str)
            self._nicks[value] = ban
        elif mask.kind == "account":
            assert isinstance(value, str)
            self._accounts[value] = ban
        elif isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
            (self._v4 if value.version == 4 else self._v6).ips[int(value)] = ban
            self._addressed += 1
        else:
            assert isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network)
            (self._v4 if value.version == 4 else self._v6).add_block(value, ban)
            self._addressed += 1

    def _unindex(self, ban: Ban) -> None:
        """Take C{ban} (already out of C{_bans}) out of the lookup tables and the timed bans;
        its heap entry, if any, goes stale."""
        mask = ban.mask
        value = mask.value
        self._timed.pop(mask, None)
        if mask.kind == "nick":
            del self._nicks[value]
        elif mask.kind == "account":
            del self._accounts[value]
        elif isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
            del (self._v4 if value.version == 4 else self._v6).ips[int(value)]
            self._addressed -= 1
        else:
            assert isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network)
            (self._v4 if value.version == 4 else self._v6).remove_block(value)
            self._addressed -= 1

    def _live(self, entry: tuple[float, int, Ban]) -> bool:
        return self._timed.get(entry[2].mask) is entry

    def _due(self, now: float) -> int:
        """How many bans still held have reached their time (waiting for the timer): a walk of
        the heap's top, pruned where an entry is later than C{now}, so O(due + stale)."""
        heap, count, stack = self._heap, 0, [0]
        while stack:
            i = stack.pop()
            if i >= len(heap) or heap[i][0] > now:
                continue
            count += self._live(heap[i])
            stack += (2 * i + 1, 2 * i + 2)
        return count

    def _reschedule(self) -> None:
        """Point the one timer at the earliest live expiry (or stop it, if there is none)."""
        heap = self._heap
        while heap and not self._live(heap[0]):
            heapq.heappop(heap)
        if len(heap) > 2 * len(self._timed) + _COMPACT_FLOOR:
            heap[:] = self._timed.values()
            heapq.heapify(heap)
        if not heap:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        at = heap[0][0]
        if self._timer is not None:
            if self._timer_at == at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._clock.callLater(max(0.0, at - self._clock.seconds()), self._fire)

    def _fire(self) -> None:
        """The timer: drop every ban whose time has come, telling C{expired} of each."""
        self._timer = None
        now = self._clock.seconds()
        heap = self._heap
        try:
            while heap and heap[0][0] <= now:
                entry = heapq.heappop(heap)
                if not self._live(entry):
                    continue
                ban = entry[2]
                del self._bans[ban.mask]
                self._unindex(ban)
                if self._expired is not None:
                    self._expired(ban)
        finally:
            self._reschedule()
