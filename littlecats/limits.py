"""
Rate and count limits, as pure bookkeeping: token buckets and per-address connection counts.

Nothing here touches a socket or schedules a call; time comes from the `IReactorTime` it is
given, so tests drive it with `MemoryReactorClock`.  Every per-address limit counts an IPv6
client by its /64 (see `address_key`), since one host usually holds a whole /64.  Every
structure is bounded and cheap to keep bounded: counts vanish when they reach 0, and buckets
that hold nothing worth remembering (full ones) are swept lazily, only once a table has
doubled since the last sweep, so admission costs O(1) amortised however many addresses call.
"""

from __future__ import annotations

from collections.abc import Callable
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton

import attrs
from twisted.internet.interfaces import IReactorTime

SWEEP_FLOOR = 1024
"""No per-address table is swept for idle entries before it holds this many."""

_V4_MAPPED = bytes(10) + b"\xff\xff"
"""The first 12 bytes of an IPv4-mapped IPv6 address (C{::ffff:0:0/96})."""
_NO_HOST = bytes(8)
"""The host half of a /64's network address."""


def address_key(host: str) -> str:
    """The key every per-address limit counts C{host} under.

    An IPv4 address (or anything that is not an IP address) is its own key; an IPv6 address
    counts as its /64, e.g. C{"2001:db8:1:2::/64"}, because a single client is routinely given
    a whole /64 and could otherwise take a fresh address for every connection.  An IPv4-mapped
    IPv6 address (C{"::ffff:1.2.3.4"}) counts as the IPv4 address it carries.  Every spelling
    of one /64 (any case, leading zeros, C{::} anywhere, a zone as in C{"fe80::1%eth0"}) gives
    the same key: the /64's compressed text form (RFC 5952, as L{ipaddress} writes it).

    It runs on every connection (admission, its release, the flood bucket), so it parses with
    C{inet_pton} and writes with C{inet_ntop}: about a microsecond for an IPv6 address, where
    L{ipaddress} took 20 to 40.
    """
    if ":" not in host:  # IPv4 (or not an address): no need to parse, on every connection
        return host
    address, percent, zone = host.partition("%")
    if percent and (not zone or "%" in zone):  # what ipaddress refuses as a zone
        return host
    try:
        packed = inet_pton(AF_INET6, address)
    except (OSError, ValueError):  # not an address (ValueError: an embedded NUL)
        return host
    if packed[:12] == _V4_MAPPED:
        return inet_ntop(AF_INET, packed[12:])
    return inet_ntop(AF_INET6, packed[:8] + _NO_HOST) + "/64"


def _sweep(table: dict[str, TokenBucket], idle: Callable[[str, TokenBucket], bool]) -> int:
    """Drop C{table}'s idle entries; return the size at which it is next worth sweeping.

    Waiting until the table doubles means each sweep's scan is paid for by at least as many
    inserts, however few entries it manages to drop.
    """
    for key in [k for k, b in table.items() if idle(k, b)]:
        del table[key]
    return max(SWEEP_FLOOR, 2 * len(table))


@attrs.define
class TokenBucket:
    """C{rate} tokens a second, at most C{burst} saved up; C{rate} 0 means unlimited."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate, burst, burst, now)

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        if not self.rate:
            return True
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0 if one is now)."""
        if not self.rate:
            return 0.0
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.burst


@attrs.define
class ConnectionLimiter:
    """Admission of new connections: a global cap, a per-address cap, a per-address rate; and
    the flood bucket shared by all connections from one address.

    Each limit is disabled by 0.  C{connect_rate} is new connections per address per minute,
    with a burst of the same size.  Callers pass raw host strings; every table is keyed by
    L{address_key}.
    """

    clock: IReactorTime
    max_clients: int = 0
    max_per_ip: int = 0
    connect_rate: float = 0
    total: int = 0
    per_ip: dict[str, int] = attrs.field(factory=dict)
    buckets: dict[str, TokenBucket] = attrs.field(factory=dict)
    """Connect-rate buckets, kept until refilled."""
    flood_buckets: dict[str, TokenBucket] = attrs.field(factory=dict)
    """Flood buckets: shared by open connections, or kept after the last closed until refilled."""
    flood_holders: dict[str, int] = attrs.field(factory=dict)
    """Open connections holding each key's flood bucket; only keys with at least one."""
    _buckets_sweep_at: int = attrs.field(default=SWEEP_FLOOR, init=False)
    _flood_sweep_at: int = attrs.field(default=SWEEP_FLOOR, init=False)

    def admit(self, host: str) -> str | None:
        """Count a new connection from C{host}, or return the catalog id saying why not."""
        key = address_key(host)
        if self.max_clients and self.total >= self.max_clients:
            return "err-server-full"
        if self.max_per_ip and self.per_ip.get(key, 0) >= self.max_per_ip:
            return "err-too-many-from-ip"
        if self.connect_rate:
            now = self.clock.seconds()
            bucket = self.buckets.get(key)
            if bucket is None:
                if len(self.buckets) >= self._buckets_sweep_at:
                    self._buckets_sweep_at = _sweep(self.buckets, lambda k, b: b.is_full(now))
                bucket = self.buckets[key] = TokenBucket.full(
                    self.connect_rate / 60, self.connect_rate, now
                )
            if not bucket.take(now):
                return "err-connect-rate"
        self.total += 1
        self.per_ip[key] = self.per_ip.get(key, 0) + 1
        return None

    def release(self, host: str) -> None:
        """A connection admitted from C{host} has closed."""
        key = address_key(host)
        self.total -= 1
        left = self.per_ip[key] - 1
        if left:
            self.per_ip[key] = left
        else:
            del self.per_ip[key]

    def flood_bucket(self, host: str, rate: float, burst: float) -> TokenBucket:
        """The line-rate bucket for a new connection from C{host}, counting it as a holder.

        Every open connection from one address shares one bucket, so parallel connections buy
        no extra burst; a bucket left unfilled by the last connection to close is handed back,
        so reconnecting buys none either.  Pair every call with L{release_flood_bucket}.
        """
        key = address_key(host)
        now = self.clock.seconds()
        bucket = self.flood_buckets.get(key)
        if bucket is not None and (bucket.rate, bucket.burst) == (rate, burst):
            self.flood_holders[key] = self.flood_holders.get(key, 0) + 1
            return bucket
        if bucket is None and len(self.flood_buckets) >= self._flood_sweep_at:
            self._flood_sweep_at = _sweep(
                self.flood_buckets, lambda k, b: k not in self.flood_holders and b.is_full(now)
            )
        # If the limits changed under a bucket still held, its holders keep it unshared and
        # release_flood_bucket ignores it: the holder count restarts with the new bucket.
        bucket = self.flood_buckets[key] = TokenBucket.full(rate, burst, now)
        self.flood_holders[key] = 1
        return bucket

    def release_flood_bucket(self, host: str, bucket: TokenBucket) -> None:
        """A connection from C{host} holding C{bucket} (from L{flood_bucket}) has closed.

        The last holder's bucket is kept until it refills, unless it is full already.
        """
        key = address_key(host)
        if self.flood_buckets.get(key) is not bucket:
            return
        left = self.flood_holders[key] - 1
        if left:
            self.flood_holders[key] = left
            return
        del self.flood_holders[key]
        if bucket.is_full(self.clock.seconds()):
            del self.flood_buckets[key]


@attrs.frozen
class Limits:
    """Every per-connection and per-server bound, as the operator set them (0 disables one)."""

    max_sendq: int = 1024 * 1024
    flood_rate: float = 5.0
    flood_burst: int = 10
    nick_timeout: float = 60.0
    max_clients: int = 10000
    max_per_ip: int = 16
    connect_rate: float = 60.0
    max_recvq: int = 64 * 1024
    """Bytes of lines held back by flood control before the sender is dropped (not an option)."""
