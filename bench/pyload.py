"""
A small pure-Python (asyncio) load generator for Little Cats, for when no C compiler is at hand
(bench/run.py with the C lcbench is the real benchmark).  It opens --clients connections to
127.0.0.1, joins them all, then the first --senders send --rate messages/s each on a fixed
open-loop schedule; every message carries "PYL:<sender>:<seq>:<send_ns>:" (monotonic clock, same
host), so each receiver measures latency.  It prints, per rate step: deliveries/s (chat lines
received by someone other than their sender, inside the measure window), latency p50/p90/p99/max
for messages sent inside the window, loss and reordering after a drain, and its own CPU%: one
Python process saturates its core far below what the servers can do (see bench/README.md), so
at >= 90% its figures are a lower bound for the server, flagged as such.  --spawn starts a fresh
server itself (littlecats or the baseline, pinned to CPU 1, this process to CPU 0).  Every run is
bounded (--max-runtime) and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    PERF_LIMITS,
    PROMPT,
    Server,
    baseline_cmd,
    free_port,
    littlecats_cmd,
    percentile,
    raise_nofile,
    steal_pct,
    steal_snapshot,
)

MARK = b"PYL:"
PROMPT_BYTES = PROMPT.encode()
SATURATED_PCT = 90.0


class Stats:
    """What every receiver adds to during one step."""

    def __init__(self, senders: int) -> None:
        self.senders = senders
        self.m0 = self.m1 = 0  # measure window (ns); 0 = not measuring
        self.deliveries = 0
        self.received = 0  # all deliveries since the step began (for loss)
        self.latencies: list[int] = []
        self.reordered = 0


class Client(asyncio.Protocol):
    """One connection: answer the prompt with a nickname, wait for the join notice, count."""

    def __init__(self, index: int, stats_ref: list[Stats], senders: int) -> None:
        self.index = index
        self.nick = f"py{index:05d}".encode()
        self.stats_ref = stats_ref
        self.buffer = b""
        self.state = "prompt"
        self.joined = asyncio.get_running_loop().create_future()
        self.last_seq = [-1] * senders
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(f"{self.nick!r}: closed before joining"))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        lines = (self.buffer + data).split(b"\r\n")
        self.buffer = lines.pop()
        if self.state != "chat":
            lines = self._handshake(lines)
        stats = self.stats_ref[0]
        own, m0, m1 = self.index, stats.m0, stats.m1
        for line in lines:
            at = line.find(MARK)
            if at < 0:
                continue
            sender, seq, sent, _ = line[at + 4 :].split(b":", 3)
            sender_i = int(sender)
            if sender_i == own:
                continue
            seq_i = int(seq)
            stats.received += 1
            if seq_i <= self.last_seq[sender_i]:
                stats.reordered += 1
            self.last_seq[sender_i] = seq_i
            if m0 <= now < m1:
                stats.deliveries += 1
            sent_ns = int(sent)
            if m0 <= sent_ns < m1:
                stats.latencies.append(now - sent_ns)

    def _handshake(self, lines: list[bytes]) -> list[bytes]:
        for i, line in enumerate(lines):
            if self.state == "prompt" and PROMPT_BYTES in line:
                self.transport.write(self.nick + b"\r\n")
                self.state = "joining"
            elif self.state == "joining" and line.startswith(b"*** ") and self.nick in line:
                self.state = "chat"
                self.joined.set_result(None)
                return lines[i + 1 :]
        return []


async def connect_all(port: int, n: int, senders: int, stats_ref: list[Stats], pending: int):
    """Open C{n} clients, at most C{pending} handshakes at a time; return them once joined."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(pending)
    clients: list[Client] = []

    async def one(i: int) -> None:
        async with gate:
            _t, client = await loop.create_connection(
                lambda: Client(i, stats_ref, senders), HOST, port
            )
            clients.append(client)
            await client.joined

    await asyncio.gather(*(one(i) for i in range(n)))
    return sorted(clients, key=lambda c: c.index)


async def send_loop(client: Client, rate: float, until_ns: int, payload: int, seq: list[int]):
    """Open loop: message k of this sender leaves at start + k/rate, late ones right away."""
    interval = 1e9 / rate
    start = time.monotonic_ns()
    k = 0
    while True:
        due = start + int(k * interval)
        if due >= until_ns:
            return
        delay = (due - time.monotonic_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        if client.lost:
            return
        now = time.monotonic_ns()
        head = b"%s%d:%d:%d:" % (MARK, client.index, seq[client.index], now)
        client.transport.write(head + b"x" * max(0, payload - len(head)) + b"\r\n")
        seq[client.index] += 1
        k += 1


async def run_step(clients, senders, rate, args, stats_ref, seq) -> dict:
    """One rate step on the already joined clients: warmup, measure, drain."""
    stats = Stats(senders)
    stats_ref[0] = stats
    sent_before = sum(seq[:senders])
    t0 = time.monotonic_ns()
    m0 = t0 + int(args.warmup * 1e9)
    m1 = m0 + int(args.duration * 1e9)
    stats.m0, stats.m1 = m0, m1
    cpu0 = wall0 = None
    steal0 = steal_snapshot()

    async def mark_window() -> None:
        nonlocal cpu0, wall0
        await asyncio.sleep(max(0.0, (m0 - time.monotonic_ns()) / 1e9))
        cpu0, wall0 = time.process_time(), time.monotonic()

    marker = asyncio.ensure_future(mark_window())
    await asyncio.gather(
        *(send_loop(c, rate, m1, args.payload, seq) for c in clients[:senders]), marker
    )
    cpu1, wall1 = time.process_time(), time.monotonic()
    sent = sum(seq[:senders]) - sent_before
    expected = sent * (len(clients) - 1)
    drain_end = time.monotonic() + args.drain
    while stats.received < expected and time.monotonic() < drain_end:
        await asyncio.sleep(0.02)
    stats.m0 = stats.m1 = 0
    lat = sorted(stats.latencies)
    gen_pct = 100 * (cpu1 - cpu0) / (wall1 - wall0) if wall1 > wall0 else 0.0
    return {
        "rate_per_sender": rate,
        "offered_deliveries_per_s": rate * senders * (len(clients) - 1),
        "deliveries_per_s": stats.deliveries / args.duration,
        "latency_ms": {f"p{p}": percentile(lat, p) / 1e6 for p in (50, 90, 99)}
        | {"max": (lat[-1] / 1e6) if lat else float("nan"), "count": len(lat)},
        "lost": expected - stats.received,
        "reordered": stats.reordered,
        "gen_cpu_pct": gen_pct,
        "steal_pct": steal_pct(steal0, steal_snapshot()),
        "saturated": gen_pct >= SATURATED_PCT,
    }


async def main_async(args, port: int) -> dict:
    stats_ref = [Stats(args.senders)]
    t0 = time.monotonic()
    clients = await asyncio.wait_for(
        connect_all(port, args.clients, args.senders, stats_ref, args.max_pending),
        timeout=args.join_timeout,
    )
    joined_s = time.monotonic() - t0
    print(f"{len(clients)} clients joined in {joined_s:.2f}s", flush=True)
    await asyncio.sleep(args.settle)
    seq = [0] * len(clients)
    steps = []
    for rate in args.rate:
        step = await run_step(clients, args.senders, rate, args, stats_ref, seq)
        steps.append(step)
        lat = step["latency_ms"]
        print(
            f"rate {rate:g}/s x {args.senders}: {step['deliveries_per_s']:,.0f} deliveries/s "
            f"(offered {step['offered_deliveries_per_s']:,.0f})  p50 {lat['p50']:.1f} ms  "
            f"p99 {lat['p99']:.1f} ms  max {lat['max']:.1f} ms  lost {step['lost']}  "
            f"reordered {step['reordered']}  pyload CPU {step['gen_cpu_pct']:.0f}%  "
            f"steal {step['steal_pct']:.1f}%"
            + ("  [PYLOAD SATURATED: lower bound]" if step["saturated"] else ""),
            flush=True,
        )
    for client in clients:
        client.transport.close()
    await asyncio.sleep(0.1)
    return {"clients": len(clients), "joined_s": joined_s, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, help="server port on 127.0.0.1 (or use --spawn)")
    parser.add_argument(
        "--spawn", choices=("littlecats", "baseline"), help="start a fresh server for this run"
    )
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument(
        "--rate",
        type=lambda s: [float(r) for r in s.split(",")],
        default=[10.0],
        help="msgs/s per sender; a comma list runs one step per rate on the same connections",
    )
    parser.add_argument("--duration", type=float, default=5.0, help="measure seconds per step")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--drain", type=float, default=5.0, help="max wait for late deliveries")
    parser.add_argument("--settle", type=float, default=1.0, help="pause after joining, s")
    parser.add_argument("--payload", type=int, default=64, help="message bytes incl. marker")
    parser.add_argument("--max-pending", type=int, default=100, help="handshakes in flight")
    parser.add_argument("--join-timeout", type=float, default=120.0)
    parser.add_argument("--max-runtime", type=float, default=600.0)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if (args.port is None) == (args.spawn is None):
        parser.error("give exactly one of --port and --spawn")
    if not 0 < args.senders < args.clients + 1:
        parser.error("--senders must be between 1 and --clients")
    raise_nofile()
    server = None
    try:
        if args.spawn:
            port = free_port()
            cmd = littlecats_cmd(port, PERF_LIMITS) if args.spawn == "littlecats" else None
            server = Server(args.spawn, cmd or baseline_cmd(port), port, cpu=1).start()
            if (os.cpu_count() or 1) > 1:
                os.sched_setaffinity(0, {0})
            print(f"spawned {args.spawn} (pid {server.pid}) on port {port}", flush=True)
        else:
            port = args.port
        result = asyncio.run(asyncio.wait_for(main_async(args, port), args.max_runtime))
        if server is not None:
            result["server_rss_kb"] = server.rss_kb()
    finally:
        if server is not None:
            server.stop()
    if args.json:
        with contextlib.suppress(OSError), open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
