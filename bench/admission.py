"""
Connection admission through a real `twistd littlecats` with 10 000 server bans against none,
in one run, as ratios.

Server bans (`/gban`) are kept in the database and loaded when the server starts; every new
connection is checked against them (by address) before anything else, and again by nickname
and account at the prompt.  This script builds two SQLite databases in a temporary directory,
through the store's own `save_ban` (so they are exactly what a server that was given the bans
would have kept):

- `bans`: 10 000 server bans, a realistic mix (the one of bench/bans.py): single IPv4 and IPv6
  addresses, IPv4 blocks of every length from /8 to /31 and IPv6 blocks of every length from
  /16 to /127, nickname and `account:` masks; half of them expire (days away); none of them
  covers 127.0.0.0/8, so the benchmark's clients are admitted.  One of the 10 000 is a ban on
  CHECK_HOST (127.0.1.99), outside the addresses lcbench connects from;
- `none`: the same schema, no ban.

Every server is started fresh on one of them (`littlecats_cmd(port, PERF_LIMITS,
db="sqlite:...")`, pinned to CPU 1 like run.py), and its bans are checked before it is measured
(they are loaded after it listens): a client bound to CHECK_HOST must get the `!!! Você está
banido deste servidor` line from the `bans` server and the prompt from the `none` one, and a
client from 127.0.0.1 the prompt from both.  The generators run on CPU 0.  Two cases:

- `admission only, blocks of N` (N = 2000): connections each from its own source address
  (127.2.0.1 onwards, never one twice in a run), 100 in flight, each closing as soon as it has
  the prompt: the admission path (ban check by address, the limiter's bookkeeping, greeting)
  and nothing else.  Both servers are started at once, each warmed up by one untimed block
  (what a fresh server pays once after loading its bans shows there, reported apart), then
  `--blocks` blocks (20) alternate between them (A B, B A, ...).  The generator is Python
  (asyncio protocols) and saturates its CPU before the server does: `admitted/s` and the
  latencies are the generator's, and the figure to read is `srv CPU us/connection`, the
  server's reactor-thread CPU time over the block (/proc/PID/schedstat, in ns) / N;
- `join storm N` (2000 and 5000): run.py's `joinstorm` case, lcbench's join storm (100
  handshakes in flight; each client's nickname is checked against the bans too, then it joins
  the lobby and gets every later join notice: N(N+1)/2 of them, so the storm's time is mostly
  that broadcast), its clients spread over 127.0.0.1..127.0.0.254 (`--src-ips 254`); a fresh
  server for every run, `--repeat` runs (5) per server, alternating (A B, then B A, ...).

Figures, as medians (min..max) with bans and without, and `bans/none` ratios: of the medians,
paired (the median of each repeat's or block's two runs' ratio: they ran one after the other,
so drift cancels out of it best) and of the best runs (run.py's way: noise only makes a figure
worse):

- `admitted/s`: connections admitted (to the prompt, or to the lobby) per second;
- `connect->prompt` / `connect->joined` p50/p99 ms: one client's connect until the prompt / its
  own join notice;
- `all joined s`: from the first connect until every client of the storm has joined;
- `srv CPU`: the server's CPU time over the run;
- at start: seconds from starting the server until it answers the ban check (bans loaded), and
  its CPU seconds and RSS then: what loading 10 000 bans costs, once.

A ratio near 1.00 for the run figures says the ban check does not grow with the number of bans
(bench/bans.py measures the check itself, about a microsecond: below what these end-to-end
figures can resolve, so they bound it rather than measure it).  The goal check asks the
server's figures with bans to be within 10 % of those without (the paired ratio).  Runs whose
generator was saturated (the storms), whose steal was high, or which were incomplete are
flagged.  Every figure (and lcbench's JSON for the storms) goes to
bench/results/admission-*.json.

    .venv/bin/python bench/admission.py                # ~3 min
    .venv/bin/python bench/admission.py --quick        # blocks of 500, storms of 300 and 600
    .venv/bin/python bench/admission.py --repeat 9 --blocks 30
    .venv/bin/python bench/admission.py --clients 0    # the admission-only case alone
    .venv/bin/python bench/admission.py --churn 0 --clients 2000 --repeat 9
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import random
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bans import mask_texts
from common import (
    BENCH,
    HOST,
    PERF_LIMITS,
    Server,
    free_port,
    littlecats_cmd,
    percentile,
    print_table,
    steal_pct,
    steal_snapshot,
)
from run import (
    GEN_CPU,
    SATURATED_GEN_PCT,
    SERVER_CPU,
    build_lcbench,
    cases,
    code_version,
    log_problems,
    run_lcbench,
)

from littlecats.moderation import parse_mask
from littlecats.storage.interface import BanRecord

CHECK_HOST = "127.0.1.99"
"""The address of the one ban the check connects from: in 127.0.0.0/8 (so reachable over the
loopback) but outside lcbench's 127.0.0.1..127.0.0.254, so no storm client is refused."""
BANNED_LINE = "!!! Você está banido deste servidor"
PROMPT_TEXT = "Escolha seu apelido"
PROMPT_BYTES = PROMPT_TEXT.encode()
CHURN_FIRST = int(ipaddress.IPv4Address("127.2.0.1"))
CHURN_IN_FLIGHT = 100
"""Connections of the admission-only case in flight at once (lcbench's join storm: 100 too)."""
CHURN_TIMEOUT = 300.0
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
SRC_IPS = 254
DAY = 86400.0
STEAL_NOISY_PCT = 5.0
CHURN_KEYS = (
    "admitted_per_s", "p50_ms", "p99_ms", "srv_us_per_conn", "srv_cpu_s", "gen_pct",
    "steal_pct", "wall_s",
)  # fmt: skip
GOAL_WITHIN = 0.10
"""The storm figures with bans within 10 % of those without: no growth with the ban count."""


# The databases


def ban_records(count: int, seed: int) -> list[BanRecord]:
    """C{count} server bans: C{count - 1} of the mix of bench/bans.py, none covering
    127.0.0.0/8, and one on L{CHECK_HOST}; stored under their masks' canonical text."""
    rng = random.Random(seed)
    now = time.time()
    masks = []
    seen = set()
    for text in mask_texts(rng, count + count // 10 + 200):
        mask = parse_mask(text)
        value = mask.value
        if mask.kind == "ip" and value.version == 4 and value in LOOPBACK:
            continue
        if mask.kind == "cidr" and value.version == 4 and value.overlaps(LOOPBACK):
            continue
        if str(mask) not in seen:
            seen.add(str(mask))
            masks.append(mask)
        if len(masks) == count - 1:
            break
    else:
        raise SystemExit(f"could not make {count - 1} distinct masks")
    records = [
        BanRecord(
            "", str(mask), "op", "bench: spam",
            now - rng.uniform(0, 30) * DAY,
            rng.choice([None, now + rng.uniform(2, 30) * DAY]),
        )
        for mask in masks
    ]  # fmt: skip
    records.append(BanRecord("", str(parse_mask(CHECK_HOST)), "op", "bench: check", now, None))
    return records


def write_databases(databases: dict[Path, list[BanRecord]]) -> None:
    """Create every database (schema by C{open_store}) and save its bans with C{save_ban},
    on a reactor run here once (nothing else in this process uses Twisted's reactor)."""
    from twisted.internet import defer, reactor
    from twisted.python.failure import Failure

    from littlecats.storage import open_store

    outcome: list[object] = []

    async def fill() -> None:
        for path, records in databases.items():
            store = open_store(f"sqlite:{path}", reactor)
            try:
                for start in range(0, len(records), 500):
                    chunk = records[start : start + 500]
                    saves = [store.save_ban(record) for record in chunk]
                    await defer.gatherResults(saves, consumeErrors=True)
            finally:
                await store.close()

    def done(result: object) -> None:
        outcome.append(result)
        reactor.stop()

    reactor.callWhenRunning(lambda: defer.ensureDeferred(fill()).addBoth(done))
    reactor.run(installSignalHandlers=False)
    if outcome and isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    for path, records in databases.items():
        with sqlite3.connect(path) as db:
            (stored,) = db.execute("SELECT count(*) FROM bans WHERE scope = ''").fetchone()
        if stored != len(records):
            raise SystemExit(f"{path}: {stored} bans stored, {len(records)} expected")


# The ban check


def first_words(port: int, source: str, timeout: float = 5.0) -> str:
    """What the server says to a client bound to C{source} before it must answer: its text up
    to the prompt, or everything until it closes the connection."""
    with socket.socket() as s:
        s.settimeout(timeout)
        s.bind((source, 0))
        s.connect((HOST, port))
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(4096)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            text = data.decode(errors="replace")
            if PROMPT_TEXT in text or BANNED_LINE in text:
                return text
        return data.decode(errors="replace")


def check_bans(server: Server, banned: bool, timeout: float = 60.0) -> str:
    """Wait until the server answers as its database says (bans are loaded after it listens):
    CHECK_HOST refused with the banned line if C{banned}, else given the prompt, and 127.0.0.1
    given the prompt.  Returns the line CHECK_HOST got."""
    deadline = time.monotonic() + timeout
    while True:
        words = first_words(server.port, CHECK_HOST)
        if (BANNED_LINE in words) == banned and (banned or PROMPT_TEXT in words):
            break
        if time.monotonic() > deadline or not server.alive():
            raise SystemExit(
                f"{server.name}: {CHECK_HOST} got {words!r}, expected "
                f"{'the banned line' if banned else 'the prompt'}\n{server.stderr()}"
            )
        time.sleep(0.05)
    control = first_words(server.port, "127.0.0.1")
    if PROMPT_TEXT not in control:
        raise SystemExit(f"{server.name}: 127.0.0.1 got {control!r}, expected the prompt")
    wanted = BANNED_LINE if banned else PROMPT_TEXT
    return next(ln for ln in words.splitlines() if wanted in ln).strip()


# Admission alone: connect, prompt, close


def churn_source(i: int) -> str:
    """The source address of admission-only connection C{i}: 127.2.0.1 onwards, one per
    connection of the whole run (outside lcbench's 127.0.0.1..254 and CHECK_HOST)."""
    return str(ipaddress.IPv4Address(CHURN_FIRST + i))


def main_thread_cpu_ns(pid: int) -> int:
    """CPU time of C{pid}'s main thread (the reactor's) in ns, from /proc/PID/schedstat: finer
    than /proc/PID/stat's 10 ms ticks, which a block of 2000 admissions (~0.15 s) needs."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


class _Prompted(asyncio.Protocol):
    """One admission-only client: waits for the prompt, then closes; C{done} gets the seconds
    from connect to prompt, or a failure's text."""

    def __init__(self, t0: float, done: asyncio.Future) -> None:
        self.t0, self.done, self.data = t0, done, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data
        if PROMPT_BYTES in self.data and not self.done.done():
            self.done.set_result(time.perf_counter() - self.t0)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(f"closed: {self.data[-120:]!r}")


async def _churn(port: int, first: int, count: int, in_flight: int) -> dict:
    """C{count} connections, each from its own address (connection C{first} onwards), at most
    C{in_flight} at once, each waiting for the prompt and closing; their connect-to-prompt times
    and the wall time.  (Plain protocols rather than streams: the generator is the bottleneck,
    the less it does the better.)"""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(in_flight)
    times: list[float] = []
    failures: list[str] = []

    async def one(i: int) -> None:
        async with gate:
            done = loop.create_future()
            t0 = time.perf_counter()
            try:
                await loop.create_connection(
                    lambda: _Prompted(t0, done), HOST, port, local_addr=(churn_source(first + i), 0)
                )
            except OSError as e:
                failures.append(f"connect: {e}")
                return
            result = await done
            (times if isinstance(result, float) else failures).append(result)

    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), CHURN_TIMEOUT)
    return {"wall_s": time.perf_counter() - t0, "times": times, "failures": failures}


def churn(server: Server, first: int, count: int, in_flight: int) -> dict:
    """Run L{_churn} against C{server} (this process pinned to the generator's CPU meanwhile);
    its figures, with the server's and this process's CPU time over it."""
    affinity = os.sched_getaffinity(0)
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {GEN_CPU})
    try:
        cpu0, gen0, steal0 = server.cpu_s(), time.process_time(), steal_snapshot()
        main0 = main_thread_cpu_ns(server.pid)
        result = asyncio.run(_churn(server.port, first, count, in_flight))
        main_ns = main_thread_cpu_ns(server.pid) - main0
        srv_cpu, gen_cpu = server.cpu_s() - cpu0, time.process_time() - gen0
        steal = steal_pct(steal0, steal_snapshot())
    finally:
        os.sched_setaffinity(0, affinity)
    times = sorted(result["times"])
    wall = result["wall_s"]
    return {
        "admitted": len(times),
        "failures": len(result["failures"]),
        "first_failure": result["failures"][0] if result["failures"] else "",
        "wall_s": wall,
        "admitted_per_s": len(times) / wall if wall else None,
        "p50_ms": percentile(times, 50) * 1e3,
        "p99_ms": percentile(times, 99) * 1e3,
        "srv_cpu_s": srv_cpu,
        "srv_us_per_conn": main_ns / len(times) / 1e3 if times else None,
        "gen_pct": 100 * gen_cpu / wall if wall else 0.0,
        "steal_pct": steal,
    }


# One case


def start_server(name: str, db: Path, banned: bool) -> tuple[Server, dict]:
    """A fresh server on C{db}, its bans checked; and what its start cost."""
    port = free_port()
    server = Server(
        f"littlecats-{name}", littlecats_cmd(port, PERF_LIMITS, db=f"sqlite:{db}"), port,
        SERVER_CPU,
    )  # fmt: skip
    t0 = time.monotonic()
    try:
        server.start(timeout=60)
        check_line = check_bans(server, banned)
    except BaseException:
        server.stop()
        raise
    start = {
        "ready_s": time.monotonic() - t0,
        "start_cpu_s": server.cpu_s(),
        "start_rss_mb": server.rss_kb() / 1024,
        "check": check_line,
        "code": code_version(),
    }
    return server, start


def flag(summary: dict, raw_outer: dict, problems: dict, generator_bound: bool = False) -> None:
    """The notes every run gets: a dead server, errors in its log, a saturated generator
    (unless the case is C{generator_bound} by design), high steal."""
    notes = summary["notes"]
    if not raw_outer.get("server_alive", True):
        notes.append("server died")
    if problems["count"]:
        notes.append(f"server log: {problems['count']} error lines")
    if summary["gen_pct"] >= SATURATED_GEN_PCT and not generator_bound:
        notes.append("GENERATOR SATURATED")
    if summary["steal_pct"] > STEAL_NOISY_PCT:
        notes.append(f"steal {summary['steal_pct']:.0f}%")


def run_storm(binary: Path, name: str, db: Path, case: dict, max_runtime: float):
    """Start a server on C{db}, check its bans, run lcbench's C{case}; (summary, raw)."""
    server, start = start_server(name, db, name == "bans")
    try:
        raw = run_lcbench(binary, server, case, max_runtime)
    finally:
        server.stop()
    log = server.log()
    raw["outer"]["log_problems"] = problems = log_problems(log)
    raw["outer"]["log_tail"] = log[-3000:]
    join = raw.get("join", {})
    gen = raw.get("generator", {})
    wall = gen.get("wall_s_total") or 0
    summary = {
        **start,
        "all_joined_s": join.get("all_joined_s"),
        "admitted_per_s": join.get("joins_per_s"),
        "p50_ms": join.get("handshake_ms", {}).get("p50"),
        "p99_ms": join.get("handshake_ms", {}).get("p99"),
        "srv_cpu_s": raw["outer"]["server_cpu_s"],
        "all_notices_s": join.get("all_notices_s"),
        "gen_pct": 100 * gen.get("cpu_s_total", 0) / wall if wall else 0.0,
        "steal_pct": max(join.get("steal_pct", [0.0]) or [0.0]),
        "notes": [],
    }
    if not join.get("complete") or not join.get("settle_complete"):
        summary["notes"].append(
            f"INCOMPLETE joined={join.get('joined')}/{case['clients']} "
            f"refused={join.get('refused')} notices={join.get('notices')}"
            f"/{join.get('notices_expected')}"
        )
    if raw.get("errors", {}).get("count"):
        summary["notes"].append("errors: " + str(raw["errors"].get("first", ""))[:80])
    flag(summary, raw["outer"], problems)
    return summary, raw


def run_churn_case(dbs: dict[str, Path], case: dict, blocks: int, record: dict) -> dict:
    """Both servers started at once (each checked, then warmed up by one untimed block), then
    C{blocks} blocks of C{case["clients"]} admissions on each, alternating A B, B A, ...:
    drift cancels out of each pair, and what a fresh server pays once after loading its bans
    (the warm-up block, reported apart) stays out of the blocks.  Returns the runs by server."""
    n = case["clients"]
    runs: dict[str, list[dict]] = {"bans": [], "none": []}
    servers: dict[str, Server] = {}
    starts: dict[str, dict] = {}
    first = 0
    try:
        for name in ("bans", "none"):
            servers[name], starts[name] = start_server(name, dbs[name], name == "bans")
        for name in ("bans", "none"):
            warm = churn(servers[name], first, n, CHURN_IN_FLIGHT)
            first += n
            starts[name]["warmup_us_per_conn"] = warm["srv_us_per_conn"]
            print(f"  {case['label']}, {name:4}: start {starts[name]['ready_s']:.2f} s, "
                  f"CPU {starts[name]['start_cpu_s']:.2f} s, "
                  f"{starts[name]['start_rss_mb']:.1f} MB; check: "
                  f"{starts[name]['check'][:40]!r}; warm-up block "
                  f"{fmt(warm['srv_us_per_conn'])} us/connection", flush=True)  # fmt: skip
        for i in range(blocks):
            for name in ("bans", "none") if i % 2 == 0 else ("none", "bans"):
                block = churn(servers[name], first, n, CHURN_IN_FLIGHT)
                first += n
                summary = {
                    **{k: block[k] for k in CHURN_KEYS},
                    "code": starts[name]["code"],
                    "notes": [],
                }
                if block["failures"]:
                    summary["notes"].append(
                        f"INCOMPLETE {block['failures']} failed: {block['first_failure'][:80]}"
                    )
                flag(summary, {"server_alive": servers[name].alive()}, {"count": 0}, True)
                runs[name].append(summary)
                record["runs"].append(
                    {"server": name, "case": case, "block": i, "summary": summary}
                )  # fmt: skip
                print(f"  {case['label']}, {name:4}, block {i + 1}: "
                      f"{fmt(block['srv_us_per_conn'])} us/connection, "
                      f"{fmt(block['admitted_per_s'])}/s, gen {block['gen_pct']:.0f}% "
                      f"{'; '.join(summary['notes'])}", flush=True)  # fmt: skip
    finally:
        for server in servers.values():
            server.stop()
    for name, server in servers.items():
        problems = log_problems(server.log())
        starts[name]["log_problems"] = problems
        if problems["count"]:
            runs[name][-1]["notes"].append(f"server log: {problems['count']} error lines")
    record.setdefault("churn_starts", {}).update(starts)
    case["starts"] = starts
    return runs


# Reporting

FIGURES = {
    "churn": [
        ("admitted/s", "admitted_per_s", "higher"),
        ("connect->prompt p50 ms", "p50_ms", "lower"),
        ("connect->prompt p99 ms", "p99_ms", "lower"),
        ("srv CPU us/connection (reactor thread)", "srv_us_per_conn", "lower"),
        ("srv CPU s (all threads, 10 ms ticks)", "srv_cpu_s", "lower"),
        ("generator CPU %", "gen_pct", None),
    ],
    "storm": [
        ("all joined s", "all_joined_s", "lower"),
        ("admitted/s", "admitted_per_s", "higher"),
        ("connect->joined p50 ms", "p50_ms", "lower"),
        ("connect->joined p99 ms", "p99_ms", "lower"),
        ("srv CPU s (storm)", "srv_cpu_s", "lower"),
        ("all notices s", "all_notices_s", "lower"),
    ],
}
START_FIGURES = [
    ("start: until bans checked s", "ready_s", "lower"),
    ("start: srv CPU s", "start_cpu_s", "lower"),
    ("start: srv RSS MB", "start_rss_mb", "lower"),
]
GOAL_FIGURES = {
    # the Python generator is saturated before the server: only the server's CPU counts
    "churn": ("srv_us_per_conn",),
    "storm": ("all_joined_s", "admitted_per_s", "srv_cpu_s"),
}


def median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def spread(runs: list[dict], key: str) -> str:
    values = [r[key] for r in runs if r.get(key) is not None]
    return f"{fmt(min(values))}..{fmt(max(values))}" if values else "-"


def paired(runs: dict[str, list[dict]], key: str) -> list[float]:
    """The ratios bans/none of C{key} for each repeat: its two runs were made one after the
    other, so drift cancels out of their ratio better than out of the ratio of medians."""
    return [
        a[key] / b[key]
        for a, b in zip(runs["bans"], runs["none"], strict=True)
        if a.get(key) and b.get(key)
    ]


def best_ratio(runs: dict[str, list[dict]], key: str, better: str | None) -> str:
    """The ratio bans/none of the best runs (as run.py keeps: noise only makes a figure
    worse), or '-' for a figure with no better side."""
    if better is None:
        return "-"
    pick = min if better == "lower" else max
    values = [[r[key] for r in runs[name] if r.get(key)] for name in ("bans", "none")]
    if not all(values):
        return "-"
    return f"{pick(values[0]) / pick(values[1]):.3f}"


def report(n_bans: int, case: dict, runs: dict[str, list[dict]]) -> list[str]:
    """Print the table of one case; return its goal lines."""
    with_, without = runs["bans"], runs["none"]
    unit = "blocks" if case["kind"] == "churn" else "runs"
    print(f"\n{case['label']}: medians of {len(with_)} {unit} each (min..max); ratios bans/none "
          "of the medians, paired (the median, min..max, of each repeat's pair), of the best "
          "runs")  # fmt: skip
    rows = []
    extra = START_FIGURES if case["kind"] == "storm" else []
    for title, key, better in FIGURES[case["kind"]] + extra:
        a, b = median(with_, key), median(without, key)
        pairs = paired(runs, key)
        rows.append(
            [
                title,
                f"{fmt(a)} ({spread(with_, key)})",
                f"{fmt(b)} ({spread(without, key)})",
                f"{a / b:.3f}" if a and b else "-",
                f"{statistics.median(pairs):.3f} ({min(pairs):.2f}..{max(pairs):.2f})"
                if pairs
                else "-",
                best_ratio(runs, key, better),
            ]
        )
    header = ["figure", f"{n_bans} bans", "no bans", "of medians", "paired", "of bests"]
    print_table(header, rows)
    if case["kind"] == "churn":
        a, b = case["starts"]["bans"], case["starts"]["none"]
        for title, key in (
            ("start: until bans checked s", "ready_s"),
            ("start: srv CPU s", "start_cpu_s"),
            ("start: srv RSS MB", "start_rss_mb"),
            ("warm-up block: srv CPU us/connection", "warmup_us_per_conn"),
        ):
            print(f"  {title}: {fmt(a[key])} with bans, {fmt(b[key])} without: "
                  f"{a[key] / b[key]:.3f}")  # fmt: skip
    for name, label in (("bans", f"{n_bans} bans"), ("none", "no bans")):
        for i, r in enumerate(runs[name]):
            if r["notes"]:
                print(f"  note {label} run {i + 1}: {'; '.join(r['notes'])}")
    goals = []
    for _title, key, better in FIGURES[case["kind"]]:
        if key not in GOAL_FIGURES[case["kind"]]:
            continue
        pairs = paired(runs, key)
        if not pairs:
            goals.append(f"{case['label']} {key}: no figure")
            continue
        ratio = statistics.median(pairs)
        worse = (ratio - 1) if better == "lower" else (1 / ratio - 1)
        verdict = "PASS" if worse <= GOAL_WITHIN else "FAIL"
        goals.append(
            f"{case['label']:24} {key:15} bans/none {ratio:.3f} "
            f"(pairs {min(pairs):.2f}..{max(pairs):.2f}) -> {verdict}"
        )
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bans", type=int, default=10_000, help="server bans in the database")
    parser.add_argument(
        "--clients", type=int, action="append",
        help="join storm size (repeatable; default 2000 and 5000, --quick 300 and 600; 0: none)",
    )  # fmt: skip
    parser.add_argument(
        "--churn", type=int,
        help="admissions per block of the admission-only case (default 2000; 0: no such case)",
    )  # fmt: skip
    parser.add_argument(
        "--blocks", type=int, help="blocks per server of the admission-only case (default 20)"
    )
    parser.add_argument("--repeat", type=int, help="storms per server and size (default 5)")
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--lcbench", help="lcbench.c to build, or an lcbench binary")
    parser.add_argument("--max-runtime", type=float, default=300, help="cap per lcbench run, s")
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args()
    sizes = args.clients or ([300, 600] if args.quick else [2000, 5000])
    n_churn = args.churn if args.churn is not None else (500 if args.quick else 2000)
    blocks = args.blocks or (4 if args.quick else 20)
    repeat = args.repeat or (2 if args.quick else 5)
    storm = cases("joinstorm", False)[0]
    todo = [dict(kind="churn", label=f"admission only, blocks of {n_churn}", clients=n_churn)]
    todo = todo[: bool(n_churn)]
    todo += [
        dict(storm, kind="storm", label=f"join storm {n}", clients=n,
             args=[*storm["args"], "--src-ips", str(SRC_IPS)])
        for n in sizes
        if n
    ]  # fmt: skip

    binary = build_lcbench(args.lcbench) if len(todo) > bool(n_churn) else None
    version = code_version()
    results_dir = BENCH / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / ".gitignore").write_text("*\n")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = results_dir / f"admission-{stamp}{'-quick' if args.quick else ''}.json"
    record: dict = {"code": version, "started": stamp, "bans": args.bans, "runs": []}
    print(f"code {version}; servers on CPU {SERVER_CPU}, generators on CPU {GEN_CPU}; "
          f"admission only: {blocks} blocks per server, storms: {repeat} runs per server and "
          "size, alternating", flush=True)  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="lc-admission-") as tmp:
        dbs = {"bans": Path(tmp) / "bans.db", "none": Path(tmp) / "none.db"}
        t0 = time.monotonic()
        records = ban_records(args.bans, args.seed)
        write_databases({dbs["bans"]: records, dbs["none"]: []})
        kinds: dict[str, int] = {}
        for r in records:
            mask = parse_mask(r.mask)
            kind = mask.kind
            if kind in ("ip", "cidr"):
                kind += f"v{mask.value.version}"
            kinds[kind] = kinds.get(kind, 0) + 1
        print(f"databases written in {time.monotonic() - t0:.1f} s: {len(records)} bans "
              f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}), and none",
              flush=True)  # fmt: skip
        record["ban_kinds"] = kinds
        all_goals = []
        for case in todo:
            if case["kind"] == "churn":
                runs = run_churn_case(dbs, case, blocks, record)
                out_path.write_text(json.dumps(record, indent=1))
                all_goals += report(args.bans, case, runs)
                continue
            runs = {"bans": [], "none": []}
            for i in range(repeat):
                for name in ("bans", "none") if i % 2 == 0 else ("none", "bans"):
                    assert binary is not None
                    summary, raw = run_storm(binary, name, dbs[name], case, args.max_runtime)
                    runs[name].append(summary)
                    record["runs"].append(
                        {"server": name, "case": case, "repeat": i, "summary": summary,
                         "lcbench": raw}
                    )  # fmt: skip
                    print(f"  {case['label']}, {name:4}, run {i + 1}: "
                          f"joined {fmt(summary['all_joined_s'])} s, "
                          f"{fmt(summary['admitted_per_s'])}/s, "
                          f"srv CPU {fmt(summary['srv_cpu_s'])} s, "
                          f"gen {summary['gen_pct']:.0f}%, "
                          f"check: {summary['check'][:40]!r} "
                          f"{'; '.join(summary['notes'])}", flush=True)  # fmt: skip
                    out_path.write_text(json.dumps(record, indent=1))
            all_goals += report(args.bans, case, runs)
    versions = sorted({r["summary"]["code"] for r in record["runs"]})
    if versions != [version]:
        print(f"\nCODE CHANGED DURING THE RUN: {', '.join(versions)} (per run in the raw JSON)")
    print(f"\ngoal check ({args.bans} bans within {GOAL_WITHIN:.0%} of none, "
          "median of the paired ratios):")  # fmt: skip
    for line in all_goals:
        print(f"  {line}")
    print(f"raw: {out_path}")


if __name__ == "__main__":
    main()
