"""Tests for littlecats.limits: token buckets and connection admission, on a test clock."""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock

from littlecats.limits import ConnectionLimiter, TokenBucket


def test_bucket_allows_burst_then_rate():
    """A full bucket allows a burst at once, then one token per 1/rate seconds."""
    bucket = TokenBucket.full(rate=5, burst=10, now=0)
    assert all(bucket.take(0) for _ in range(10))
    assert not bucket.take(0)
    assert bucket.wait(0) == 0.2
    assert not bucket.take(0.19)
    assert bucket.take(0.2)


def test_bucket_never_saves_more_than_burst():
    """Idle time never earns more than the burst."""
    bucket = TokenBucket.full(rate=5, burst=10, now=0)
    assert all(bucket.take(1000) for _ in range(10))
    assert not bucket.take(1000)


def test_zero_rate_is_unlimited():
    """A rate of 0 disables the bucket."""
    bucket = TokenBucket.full(rate=0, burst=0, now=0)
    assert all(bucket.take(0) for _ in range(10_000))
    assert bucket.wait(0) == 0


def test_global_cap():
    """Past max_clients, new connections are refused until one closes."""
    limiter = ConnectionLimiter(MemoryReactorClock(), max_clients=2)
    assert limiter.admit("10.0.0.1") is None
    assert limiter.admit("10.0.0.2") is None
    assert limiter.admit("10.0.0.3") == "err-server-full"
    limiter.release("10.0.0.1")
    assert limiter.admit("10.0.0.3") is None


def test_per_ip_cap_forgets_released_addresses():
    """Past max_per_ip from one address it is refused; others are not; released addresses are
    forgotten."""
    limiter = ConnectionLimiter(MemoryReactorClock(), max_per_ip=2)
    assert limiter.admit("a") is None and limiter.admit("a") is None
    assert limiter.admit("a") == "err-too-many-from-ip"
    assert limiter.admit("b") is None
    limiter.release("a")
    limiter.release("a")
    limiter.release("b")
    assert limiter.per_ip == {} and limiter.total == 0


def test_connect_rate_per_ip():
    """New connections from one address are throttled per minute; the allowance refills."""
    clock = MemoryReactorClock()
    limiter = ConnectionLimiter(clock, connect_rate=3)
    for _ in range(3):
        assert limiter.admit("a") is None
        limiter.release("a")
    assert limiter.admit("a") == "err-connect-rate"
    assert limiter.admit("b") is None
    clock.advance(20)
    assert limiter.admit("a") is None


def test_rate_table_stays_bounded():
    """Addresses whose allowance has refilled are forgotten, so the table cannot grow forever."""
    clock = MemoryReactorClock()
    limiter = ConnectionLimiter(clock, connect_rate=60)
    for i in range(1000):
        limiter.admit(f"10.0.{i // 256}.{i % 256}")
        limiter.release(f"10.0.{i // 256}.{i % 256}")
    clock.advance(120)
    for i in range(1030):
        limiter.admit(f"10.1.{i // 256}.{i % 256}")
        limiter.release(f"10.1.{i // 256}.{i % 256}")
    assert len(limiter.buckets) <= 1100


def test_flood_bucket_survives_reconnect_until_refilled():
    """A closed connection's unfilled flood bucket goes to the next connection from that
    address; once refilled it is forgotten."""
    clock = MemoryReactorClock()
    limiter = ConnectionLimiter(clock)
    bucket = limiter.flood_bucket("a", 5, 10)
    assert all(bucket.take(0) for _ in range(10))
    limiter.keep_flood_bucket("a", bucket)
    assert limiter.flood_bucket("a", 5, 10) is bucket
    assert limiter.flood_bucket("b", 5, 10) is not bucket
    limiter.keep_flood_bucket("a", bucket)
    clock.advance(2)
    limiter.keep_flood_bucket("a", limiter.flood_bucket("a", 5, 10))
    assert limiter.flood_buckets == {}
