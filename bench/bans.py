"""
What a ban check costs at connection admission: `BanList.match(None, None, host)` for random
client addresses, with no bans and with 10 000 bans, in one run, and their ratio; and what
adding 10 000 bans costs.

The 10 000 bans are a mix: IPv4 and IPv6 addresses, IPv4 blocks of every length from /8 to /31
and IPv6 blocks of every length from /16 to /127 (so every prefix length is in use: the most
lengths a lookup can meet), nickname and account masks; half of them expire (days away, so none
does during the run).  Clients are random IPv4 (some as IPv4-mapped IPv6, as a dual-stack
listener reports them) and random global IPv6 (2000::/3) addresses.  Rows:

- `0 bans`: nothing to look up, so the host is not even parsed: a no-op, and the ratio to it
  mostly measures parsing the address (inet_pton), which any list with an IP ban must do;
- `1 IP ban`: the host is parsed and looked up once: the floor of any address check, so the
  ratio of `10000 bans` to it is how the check grows with the number of bans;
- `10000 bans`: random clients, nearly all admitted (the admission path);
- `10000 bans, banned clients`: clients drawn from inside the banned addresses and blocks,
  each check finding a ban (the scan cannot stop early);
- `10000 bans, one /8 and one /16`: adversarial: every block under the same IPv4 /8 or IPv6
  /16 and every client inside it, so no gate stops the scan: the bound of one lookup per
  prefix length in use (24 + 112).
- `for scale`: what `ConnectionLimiter.admit` and `release` (default limits) already cost for
  the same clients, every connection.

Each figure is the best of `--repeat` passes over `--checks` addresses (noise on this shared
machine only makes a figure worse), loop overhead included.  No reactor, no sockets.

    .venv/bin/python bench/bans.py
    .venv/bin/python bench/bans.py --bans 10000 --checks 200000 --repeat 7
"""

from __future__ import annotations

import argparse
import ipaddress
import platform
import random
import sys
import time
from pathlib import Path

from twisted.internet.task import Clock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from littlecats.limits import ConnectionLimiter
from littlecats.moderation import Ban, BanList, parse_mask

DAY = 86400.0


def v4(rng: random.Random) -> int:
    return rng.getrandbits(32)


def v6(rng: random.Random) -> int:
    return (0b001 << 125) | rng.getrandbits(125)  # global unicast, 2000::/3


def mask_texts(rng: random.Random, count: int, v4_top=None, v6_top=None) -> list[str]:
    """C{count} distinct mask texts, the mix of the module's docstring; with C{v4_top} /
    C{v6_top}, every address and block lies under that IPv4 /8 / IPv6 /16."""

    def a4() -> int:
        n = v4(rng)
        return n if v4_top is None else (v4_top << 24) | (n & 0xFFFFFF)

    def a6() -> int:
        n = v6(rng)
        return n if v6_top is None else (v6_top << 112) | (n & (2**112 - 1))

    makers = [
        (0.25, lambda: str(ipaddress.IPv4Address(a4()))),
        (0.15, lambda: str(ipaddress.IPv6Address(a6()))),
        (0.20, lambda: str(ipaddress.IPv4Network((a4(), rng.randint(8, 31)), strict=False))),
        (0.20, lambda: str(ipaddress.IPv6Network((a6(), rng.randint(16, 127)), strict=False))),
        (0.10, lambda: f"cat{rng.getrandbits(40):x}"),
        (0.10, lambda: f"account:user{rng.getrandbits(40):x}"),
    ]
    weights = [w for w, _ in makers]
    texts: dict[str, None] = {}
    # every prefix length at least once, then the random mix
    for length in range(8, 32):
        texts[str(ipaddress.IPv4Network((a4(), length), strict=False))] = None
    for length in range(16, 128):
        texts[str(ipaddress.IPv6Network((a6(), length), strict=False))] = None
    while len(texts) < count:
        texts[rng.choices(makers, weights)[0][1]()] = None
    return list(texts)[:count]


def make_bans(texts: list[str], rng: random.Random) -> list[Ban]:
    return [
        Ban(parse_mask(text), "op", "spam", float(i), rng.choice([None, rng.uniform(1, 30) * DAY]))
        for i, text in enumerate(texts)
    ]


def random_clients(rng: random.Random, count: int) -> list[str]:
    hosts = []
    for _ in range(count):
        pick = rng.random()
        if pick < 0.45:
            hosts.append(str(ipaddress.IPv4Address(v4(rng))))
        elif pick < 0.55:
            hosts.append(f"::ffff:{ipaddress.IPv4Address(v4(rng))}")
        else:
            hosts.append(str(ipaddress.IPv6Address(v6(rng))))
    return hosts


def banned_clients(rng: random.Random, bans: list[Ban], count: int) -> list[str]:
    """Addresses inside the banned addresses and blocks (a random one inside each block)."""
    targets = [b.mask.value for b in bans if b.mask.kind in ("ip", "cidr")]
    hosts = []
    for _ in range(count):
        target = rng.choice(targets)
        if isinstance(target, ipaddress.IPv4Network | ipaddress.IPv6Network):
            host_bits = target.max_prefixlen - target.prefixlen
            target = target.network_address + rng.getrandbits(host_bits)
        hosts.append(str(target))
    return hosts


def per_check(bans: BanList, hosts: list[str], repeat: int) -> float:
    """Best seconds per C{match(None, None, host)} over C{repeat} passes."""
    match = bans.match
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for host in hosts:
            match(None, None, host)
        best = min(best, (time.perf_counter() - start) / len(hosts))
    return best


def per_admission(limiter: ConnectionLimiter, hosts: list[str], repeat: int) -> float:
    """Best seconds per C{admit(host)} and C{release(host)}: what admission costs already."""
    admit, release = limiter.admit, limiter.release
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for host in hosts:
            if admit(host) is None:
                release(host)
        best = min(best, (time.perf_counter() - start) / len(hosts))
    return best


def filled(bans: list[Ban]) -> BanList:
    ban_list = BanList(Clock())
    for ban in bans:
        ban_list.add(ban)
    return ban_list


def timed_fill(bans: list[Ban], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        filled(bans)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bans", type=int, default=10_000, help="bans in the big list")
    parser.add_argument("--checks", type=int, default=100_000, help="addresses per pass")
    parser.add_argument("--repeat", type=int, default=5, help="passes; the best counts")
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    n = args.bans

    start = time.perf_counter()
    texts = mask_texts(rng, n)
    bans = make_bans(texts, rng)
    parse_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for text in texts:
        parse_mask(text)
    parse_only = time.perf_counter() - start
    add_seconds = timed_fill(bans, args.repeat)
    big = filled(bans)
    assert len(big) == n
    adversarial = filled(make_bans(mask_texts(rng, n, v4_top=10, v6_top=0x2001), rng))

    clients = random_clients(rng, args.checks)
    inside = banned_clients(rng, bans, args.checks)
    inside_adversarial = banned_clients(rng, list(adversarial), args.checks)
    one = BanList(Clock())
    one.add(Ban(parse_mask("192.0.2.1"), "op", "", 0.0))
    hits = sum(big.match(None, None, h) is not None for h in clients)
    assert all(big.match(None, None, h) is not None for h in inside[:1000])

    rows = [
        ("0 bans", per_check(BanList(Clock()), clients, args.repeat)),
        ("1 IP ban", per_check(one, clients, args.repeat)),
        (f"{n} bans", per_check(big, clients, args.repeat)),
        (f"{n} bans, banned clients", per_check(big, inside, args.repeat)),
        (f"{n} bans, one /8 and one /16", per_check(adversarial, inside_adversarial, args.repeat)),
    ]
    print(f"python {platform.python_version()}, {args.checks} addresses per pass, best of "
          f"{args.repeat}; {hits} of the random clients were banned")  # fmt: skip
    print(f"{'admission check: match(None, None, host)':44} {'per check':>10}")
    for label, seconds in rows:
        print(f"  {label:42} {seconds * 1e9:7.0f} ns")
    limiter = ConnectionLimiter(Clock(), max_clients=10_000, max_per_ip=16, connect_rate=60)
    print(f"  {'for scale: ConnectionLimiter admit+release':42} "
          f"{per_admission(limiter, clients, args.repeat) * 1e9:7.0f} ns")  # fmt: skip
    zero, single, many = rows[0][1], rows[1][1], rows[2][1]
    print(f"ratio {n} bans / 0 bans:    {many / zero:5.1f}x")
    print(f"ratio {n} bans / 1 IP ban:  {many / single:5.1f}x")
    print(f"ratio banned clients / 0 bans: {rows[3][1] / zero:5.1f}x; "
          f"adversarial / 0 bans: {rows[4][1] / zero:5.1f}x")  # fmt: skip
    print(f"add {n} bans to an empty list: {add_seconds * 1e3:.1f} ms "
          f"({add_seconds / n * 1e6:.2f} us per ban)")  # fmt: skip
    print(f"parse {n} masks: {parse_only * 1e3:.1f} ms ({parse_only / n * 1e6:.2f} us per mask); "
          f"generating them: {parse_seconds * 1e3:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
