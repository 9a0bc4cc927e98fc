"""
Rate and count limits, as pure bookkeeping: token buckets and per-address connection counts.

Nothing here touches a socket or schedules a call; time comes from the `IReactorTime` it is
given, so tests drive it with `MemoryReactorClock`.  Every structure is bounded: the
per-address tables forget an address as soon as it holds nothing worth remembering.
"""

from __future__ import annotations

import attrs
from twisted.internet.interfaces import IReactorTime


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
    """Admission of new connections: a global cap, a per-address cap, a per-address rate.

    Each limit is disabled by 0.  C{connect_rate} is new connections per address per minute,
    with a burst of the same size.
    """

    clock: IReactorTime
    max_clients: int = 0
    max_per_ip: int = 0
    connect_rate: float = 0
    total: int = 0
    per_ip: dict[str, int] = attrs.field(factory=dict)
    buckets: dict[str, TokenBucket] = attrs.field(factory=dict)
    flood_buckets: dict[str, TokenBucket] = attrs.field(factory=dict)

    def admit(self, host: str) -> str | None:
        """Count a new connection from C{host}, or return the catalog id saying why not."""
        if self.max_clients and self.total >= self.max_clients:
            return "err-server-full"
        if self.max_per_ip and self.per_ip.get(host, 0) >= self.max_per_ip:
            return "err-too-many-from-ip"
        if self.connect_rate:
            now = self.clock.seconds()
            bucket = self.buckets.get(host)
            if bucket is None:
                if len(self.buckets) > 1024:
                    self._forget_idle(now)
                bucket = self.buckets[host] = TokenBucket.full(
                    self.connect_rate / 60, self.connect_rate, now
                )
            if not bucket.take(now):
                return "err-connect-rate"
        self.total += 1
        self.per_ip[host] = self.per_ip.get(host, 0) + 1
        return None

    def release(self, host: str) -> None:
        """A connection admitted from C{host} has closed."""
        self.total -= 1
        left = self.per_ip[host] - 1
        if left:
            self.per_ip[host] = left
        else:
            del self.per_ip[host]

    def flood_bucket(self, host: str, rate: float, burst: float) -> TokenBucket:
        """The line-rate bucket for a new connection from C{host}.

        A client that closed with its bucket not yet refilled gets that bucket back, so
        reconnecting never buys a flooder a fresh burst.
        """
        now = self.clock.seconds()
        bucket = self.flood_buckets.pop(host, None)
        if bucket is None or (bucket.rate, bucket.burst) != (rate, burst):
            return TokenBucket.full(rate, burst, now)
        return bucket

    def keep_flood_bucket(self, host: str, bucket: TokenBucket) -> None:
        """Remember C{host}'s bucket after a connection closes, unless it is full anyway."""
        now = self.clock.seconds()
        if bucket.is_full(now):
            return
        if len(self.flood_buckets) > 1024:
            self._forget_idle(now)
        self.flood_buckets[host] = bucket

    def _forget_idle(self, now: float) -> None:
        for table in (self.buckets, self.flood_buckets):
            for host in [h for h, b in table.items() if b.is_full(now)]:
                del table[host]


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
