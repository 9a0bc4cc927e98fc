"""Tests for littlecats.limits: token buckets and connection admission, on a test clock."""

from __future__ import annotations

import ipaddress
import random

import pytest
from twisted.internet.testing import MemoryReactorClock

from littlecats.limits import ConnectionLimiter, TokenBucket, address_key


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
    limiter.release_flood_bucket("a", bucket)
    assert limiter.flood_bucket("a", 5, 10) is bucket
    other = limiter.flood_bucket("b", 5, 10)
    assert other is not bucket
    limiter.release_flood_bucket("b", other)
    limiter.release_flood_bucket("a", bucket)
    clock.advance(2)
    limiter.release_flood_bucket("a", limiter.flood_bucket("a", 5, 10))
    assert limiter.flood_buckets == {} and limiter.flood_holders == {}


def test_parallel_connections_share_one_flood_burst():
    """Parallel connections from one address share one flood bucket, so together they get only
    one burst; the spent bucket outlives them, and a full one comes back once time refills it."""
    clock = MemoryReactorClock()
    limiter = ConnectionLimiter(clock)
    first = limiter.flood_bucket("10.0.0.1", 5, 10)
    second = limiter.flood_bucket("10.0.0.1", 5, 10)
    assert first is second
    taken = sum(bucket.take(0) for _ in range(10) for bucket in (first, second))
    assert taken == 10
    limiter.release_flood_bucket("10.0.0.1", first)
    third = limiter.flood_bucket("10.0.0.1", 5, 10)
    assert third is second and not third.take(0)
    limiter.release_flood_bucket("10.0.0.1", second)
    limiter.release_flood_bucket("10.0.0.1", third)
    assert limiter.flood_holders == {}
    again = limiter.flood_bucket("10.0.0.1", 5, 10)
    assert again is first and not again.take(0)
    limiter.release_flood_bucket("10.0.0.1", again)
    clock.advance(2)
    refilled = limiter.flood_bucket("10.0.0.1", 5, 10)
    assert all(refilled.take(2) for _ in range(10)) and not refilled.take(2)
    clock.advance(2)
    limiter.release_flood_bucket("10.0.0.1", refilled)
    assert limiter.flood_buckets == {} and limiter.flood_holders == {}


def test_changed_flood_limits_give_a_fresh_bucket():
    """When the flood limits change, new connections get a full bucket at the new limits, and
    connections still holding the old bucket closing does not disturb the new one."""
    clock = MemoryReactorClock()
    limiter = ConnectionLimiter(clock)
    old = limiter.flood_bucket("a", 5, 10)
    assert all(old.take(0) for _ in range(10))
    new = limiter.flood_bucket("a", 1, 3)
    assert new is not old and (new.rate, new.burst, new.tokens) == (1, 3, 3)
    limiter.release_flood_bucket("a", old)
    assert limiter.flood_bucket("a", 1, 3) is new
    assert limiter.flood_holders == {"a": 2}


def test_address_key():
    """IPv4 addresses and non-addresses count as themselves, IPv6 ones by their /64, and
    IPv4-mapped IPv6 ones as the IPv4 address."""
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("a") == "a"
    assert address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert address_key("2001:DB8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("::ffff:127.0.0.1") == "127.0.0.1"


def test_address_key_ipv4_mapped():
    """Every spelling of an IPv4-mapped IPv6 address counts as the IPv4 address, written as
    IPv4 addresses are; IPv6 addresses merely near the mapped block count as their /64."""
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("::FFFF:c000:207") == "192.0.2.7"
    assert address_key("0:0:0:0:0:ffff:192.0.2.7") == "192.0.2.7"
    assert address_key("::ffff:0.0.0.0") == "0.0.0.0"
    assert address_key("::ffff:192.0.2.7%eth0") == "192.0.2.7"
    assert address_key("::192.0.2.7") == "::/64"  # IPv4-compatible: not mapped
    assert address_key("::fffe:c000:207") == "::/64"
    assert address_key("64:ff9b::192.0.2.7") == "64:ff9b::/64"  # NAT64: its own /64


def test_address_key_one_64_many_spellings():
    """Every spelling of addresses in one /64 gives one key, in the /64's compressed form."""
    spellings = [
        "2001:db8::1",
        "2001:0db8:0:0::2",
        "2001:DB8:0000:0000:FFFF:FFFF:FFFF:FFFF",
        "2001:db8:0:0:1:2:3:4",
        "2001:db8::",
        "2001:db8::1%eth0",
    ]
    assert {address_key(host) for host in spellings} == {"2001:db8::/64"}
    assert address_key("2001:db8:0:1::1") == "2001:db8:0:1::/64" != address_key("2001:db8::1")
    assert address_key("fe80::1%eth0") == address_key("fe80::2%3") == "fe80::/64"
    assert address_key("::1") == address_key("::") == "::/64"
    # the longest run of zeros is the one compressed, the first of equal ones
    assert address_key("0:0:0:1:2:3:4:5") == "0:0:0:1::/64"
    assert address_key("1:0:0:2::") == "1:0:0:2::/64"


def test_address_key_same_as_ipaddress():
    """The key of an IPv6 address is the /64 that ipaddress gives, written as ipaddress writes
    it, for addresses with zero words anywhere."""
    rng = random.Random(64)
    for _ in range(2000):
        words = [rng.choice([0, 0, 1, 0xFFFF, rng.getrandbits(16)]) for _ in range(8)]
        address = ipaddress.IPv6Address(b"".join(w.to_bytes(2, "big") for w in words))
        if address.ipv4_mapped is not None:
            continue
        network = str(ipaddress.IPv6Network((address, 64), strict=False))
        assert address_key(str(address)) == address_key(address.exploded.upper()) == network


@pytest.mark.parametrize(
    "host",
    [
        "",
        "localhost",
        "1.2.3",
        "1::2::3",
        ":1::",
        "12345::",
        "1:2:3:4:5:6:7:8:9",
        "::ffff:1.2.3.4\0",
        "fe80::1%",
        "fe80::1%a%b",
        "g::1",
    ],
)
def test_address_key_keeps_what_is_not_an_address(host):
    """Anything that is not an IP address is its own key."""
    assert address_key(host) == host


def test_per_ip_cap_counts_ipv6_per_64():
    """The per-address cap counts every address of an IPv6 /64 together, and an IPv4-mapped
    address together with its IPv4 address."""
    limiter = ConnectionLimiter(MemoryReactorClock(), max_per_ip=2)
    assert limiter.admit("2001:db8:1:2::1") is None
    assert limiter.admit("2001:db8:1:2:ffff::9") is None
    assert limiter.admit("2001:db8:1:2::3") == "err-too-many-from-ip"
    assert limiter.admit("2001:db8:1:3::1") is None
    limiter.release("2001:db8:1:2::1")
    assert limiter.admit("2001:db8:1:2::3") is None
    assert limiter.admit("127.0.0.1") is None and limiter.admit("::ffff:127.0.0.1") is None
    assert limiter.admit("127.0.0.1") == "err-too-many-from-ip"
    limiter.release("::ffff:127.0.0.1")
    limiter.release("127.0.0.1")
    assert "127.0.0.1" not in limiter.per_ip


def test_connect_rate_counts_ipv6_per_64():
    """The connect rate counts every address of an IPv6 /64 together, and an IPv4-mapped
    address together with its IPv4 address."""
    limiter = ConnectionLimiter(MemoryReactorClock(), connect_rate=2)
    for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "127.0.0.1", "::ffff:127.0.0.1"):
        assert limiter.admit(host) is None
        limiter.release(host)
    assert limiter.admit("2001:db8:1:2::3") == "err-connect-rate"
    assert limiter.admit("::ffff:127.0.0.1") == "err-connect-rate"
    assert limiter.admit("2001:db8:1:3::1") is None


def test_flood_bucket_counts_ipv6_per_64():
    """Connections from one IPv6 /64 share a flood bucket; other /64s get their own."""
    limiter = ConnectionLimiter(MemoryReactorClock())
    bucket = limiter.flood_bucket("2001:db8:1:2::1", 5, 10)
    assert limiter.flood_bucket("2001:db8:1:2::2", 5, 10) is bucket
    assert limiter.flood_bucket("2001:db8:1:3::1", 5, 10) is not bucket
    limiter.release_flood_bucket("2001:db8:1:2::2", bucket)
    limiter.release_flood_bucket("2001:db8:1:2::1", bucket)
    assert "2001:db8:1:2::/64" not in limiter.flood_holders


def _count_inspections(monkeypatch: pytest.MonkeyPatch, limit: int) -> list[int]:
    """Count calls to TokenBucket.is_full, failing as soon as they pass C{limit} (so quadratic
    code fails quickly instead of running for minutes)."""
    calls = [0]
    is_full = TokenBucket.is_full

    def counting(self: TokenBucket, now: float) -> bool:
        calls[0] += 1
        assert calls[0] <= limit, "per-address tables inspected more than linearly"
        return is_full(self, now)

    monkeypatch.setattr(TokenBucket, "is_full", counting)
    return calls


def test_admission_of_many_busy_addresses_is_linear(monkeypatch):
    """Admitting many new addresses that all stay busy costs O(1) bucket inspections each,
    not a scan of the whole table per connection."""
    n = 5000
    calls = _count_inspections(monkeypatch, 5 * n)
    limiter = ConnectionLimiter(MemoryReactorClock(), connect_rate=60)
    for i in range(n):
        assert limiter.admit(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}") is None
    assert len(limiter.buckets) == n and calls[0] < 5 * n


def test_kept_flood_buckets_of_many_addresses_are_linear(monkeypatch):
    """Keeping the spent flood buckets of many addresses costs O(1) bucket inspections per
    connection, not a scan of the whole table per connection."""
    n = 5000
    calls = _count_inspections(monkeypatch, 5 * n)
    limiter = ConnectionLimiter(MemoryReactorClock())
    for i in range(n):
        host = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        bucket = limiter.flood_bucket(host, 5, 10)
        assert bucket.take(0)
        limiter.release_flood_bucket(host, bucket)
    assert len(limiter.flood_buckets) == n and calls[0] < 5 * n


def test_flood_table_stays_bounded():
    """Kept flood buckets that have refilled are forgotten, so the table cannot grow forever."""
    clock = MemoryReactorClock()
    limiter = ConnectionLimiter(clock)
    for i in range(1000):
        bucket = limiter.flood_bucket(f"10.0.{i // 256}.{i % 256}", 5, 10)
        assert bucket.take(0)
        limiter.release_flood_bucket(f"10.0.{i // 256}.{i % 256}", bucket)
    assert len(limiter.flood_buckets) == 1000
    clock.advance(2)
    held = [limiter.flood_bucket(f"10.1.0.{i}", 5, 10) for i in range(30)]
    assert len(limiter.flood_buckets) <= 30
    for i, bucket in enumerate(held):
        limiter.release_flood_bucket(f"10.1.0.{i}", bucket)
    assert limiter.flood_buckets == {} and limiter.flood_holders == {}
