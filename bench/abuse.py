"""
Abuse tests for the hardening work: each part starts a fresh `twistd littlecats` on 127.0.0.1
(pinned to CPU 1), attacks it, prints figures, and kills it.  slow: 50 clients join and never
read (SO_RCVBUF 4 KiB) while ten normal clients exchange 50 MB; shows the server RSS before,
at peak and after, and how many slow readers were dropped once their send queue passed
--max-sendq (run with the default 1 MiB, with 64 KiB and, as a control, with the bound off).
flood: a normal client's latency p50/p99 with no flooder, then while flooders (flood limits on:
--flood-rate 5 --flood-burst 10) flood and reconnect; shows each flooder received a "!!! " line
and then EOF.  churn: 1000 connect/disconnect cycles (some leave before choosing a nickname,
some reset the connection), then checks that a new client can still join and chat, with RSS
and open descriptors before and after.  Nothing here reads littlecats internals: only the wire
and /proc.  Every part is bounded in time and count and stops by itself; --quick shrinks them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    PERF_LIMITS,
    PROMPT,
    Server,
    free_port,
    littlecats_cmd,
    percentile,
    raise_nofile,
)

PROMPT_B = PROMPT.encode()


class LineClient(asyncio.Protocol):
    """A client that joins with C{nick} and hands every later line to C{on_line}."""

    def __init__(self, nick: str, on_line=None) -> None:
        self.nick = nick.encode()
        self.on_line = on_line
        self.buffer = b""
        self.state = "prompt"
        loop = asyncio.get_running_loop()
        self.joined = loop.create_future()
        # A client that leaves before joining is expected here: don't log its unawaited failure.
        self.joined.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.closed = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.lines: list[bytes] = []
        self.bytes_in = 0
        self.close_reason = ""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.close_reason = "EOF" if exc is None else type(exc).__name__
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(f"closed before joining ({self.lines[-3:]})"))
        if not self.closed.done():
            self.closed.set_result(self.close_reason)

    def eof_received(self) -> bool:
        return False

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        lines = (self.buffer + data).split(b"\r\n")
        self.buffer = lines.pop()
        for line in lines:
            if self.state == "prompt" and PROMPT_B in line:
                self.transport.write(self.nick + b"\r\n")
                self.state = "joining"
            elif self.state == "joining" and line.startswith(b"*** ") and self.nick in line:
                self.state = "chat"
                self.joined.set_result(None)
            elif self.state == "prompt" and line.startswith(b"!!! "):
                self.lines.append(line)
            elif self.on_line is not None:
                self.on_line(self, line)
            else:
                self.lines.append(line)

    def say(self, text: bytes) -> None:
        self.transport.write(text + b"\r\n")


async def open_client(port: int, nick: str, on_line=None, local: str | None = None, timeout=10):
    """Connect and join; return the joined L{LineClient}."""
    loop = asyncio.get_running_loop()
    _t, client = await asyncio.wait_for(
        loop.create_connection(
            lambda: LineClient(nick, on_line), HOST, port,
            local_addr=(local, 0) if local else None,
        ),
        timeout,
    )  # fmt: skip
    await asyncio.wait_for(client.joined, timeout)
    return client


async def sample_rss(server: Server, peak: list[int], stop: asyncio.Event) -> None:
    """Keep the highest server RSS (KiB) in C{peak[0]} and the highest total of its kernel
    socket send queues (KiB) in C{peak[1]}, until C{stop} is set."""
    while not stop.is_set():
        peak[0] = max(peak[0], server.rss_kb())
        peak[1] = max(peak[1], kernel_sendq_bytes(server.port) // 1024)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


def start_server(limits: list[str]) -> Server:
    port = free_port()
    return Server("littlecats", littlecats_cmd(port, limits), port, cpu=1).start()


def kernel_sendq_bytes(port: int) -> int:
    """Bytes queued in the kernel on the server's side of its connections (/proc/net/tcp)."""
    total = 0
    with contextlib.suppress(OSError), open("/proc/net/tcp") as f:
        for row in f.readlines()[1:]:
            fields = row.split()
            if int(fields[1].split(":")[1], 16) == port:
                total += int(fields[4].split(":")[0], 16)
    return total


def mb(kb: int) -> str:
    return f"{kb / 1024:.1f} MB"


# ------------------------------------------------------------------------- slow readers


async def slow_readers(max_sendq: int, total_mb: float, n_slow: int, n_normal: int) -> dict:
    """Slow readers that never read, while normal clients exchange C{total_mb} MB."""
    limits = [*PERF_LIMITS, "--max-sendq", str(max_sendq)]
    server = start_server(limits)
    slow: list[socket.socket] = []
    try:
        port = server.port
        rss_idle = server.rss_kb()
        left: set[bytes] = set()

        def watch(client: LineClient, line: bytes) -> None:
            if line.startswith(b"<"):
                client.received += 1
                progress.set()
            elif b" saiu do chat" in line and line.startswith(b"*** slow"):
                left.add(line.split()[1])

        progress = asyncio.Event()
        normal = []
        for i in range(n_normal):
            client = await open_client(port, f"normal{i}", watch)
            client.received = 0
            normal.append(client)
        for i in range(n_slow):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect((HOST, port))
            s.sendall(f"slow{i:02d}\r\n".encode())
            slow.append(s)
        await asyncio.sleep(1.0)
        rss_joined = server.rss_kb()
        line = b"m" * 1000
        line_bytes = len(b"<normal0> ") + len(line) + 2
        total_msgs = int(total_mb * 1e6 / (line_bytes * n_normal))
        peak, stop = [rss_joined, 0], asyncio.Event()
        sampler = asyncio.ensure_future(sample_rss(server, peak, stop))
        senders = normal[: max(1, n_normal // 2)]
        window = 24  # messages in flight, so the normal readers never lag near --max-sendq
        t0 = time.monotonic()
        deadline = t0 + 120
        sent = 0
        while sent < total_msgs and time.monotonic() < deadline:
            if any(c.closed.done() for c in normal):
                break
            if sent - min(c.received for c in normal) >= window:
                progress.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(progress.wait(), 1.0)
                continue
            senders[sent % len(senders)].say(line)
            sent += 1
            if sent % window == 0:
                await asyncio.sleep(0)
        while min(c.received for c in normal) < sent and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - t0
        await asyncio.sleep(1.0)
        stop.set()
        await sampler
        kernel_kb = kernel_sendq_bytes(port) // 1024
        received_bytes = sum(c.received for c in normal) * line_bytes
        result = {
            "max_sendq": max_sendq,
            "rss_idle_kb": rss_idle,
            "rss_joined_kb": rss_joined,
            "rss_peak_kb": peak[0],
            "rss_after_kb": server.rss_kb(),
            "kernel_sendq_kb": kernel_kb,
            "kernel_peak_kb": peak[1],
            "slow_dropped": len(left),
            "slow": n_slow,
            "normal_dropped": sum(c.closed.done() for c in normal),
            "exchanged_mb": received_bytes / 1e6,
            "seconds": elapsed,
            "fds": server.fds(),
            "alive": server.alive(),
        }
        for c in normal:
            c.transport.close()
        return result
    finally:
        for s in slow:
            s.close()
        server.stop()


def run_slow(quick: bool) -> None:
    total = 10 if quick else 50
    sendqs = [1024 * 1024, 65536] if quick else [1024 * 1024, 65536, 0]
    print(f"\n# slow readers: 50 never-reading clients, 10 normal clients exchange {total} MB")
    print(
        f"{'--max-sendq':>12} {'RSS idle':>9} {'joined':>9} {'peak':>9} {'after':>9} "
        f"{'kern peak':>9} {'kern end':>9} {'slow dropped':>12} {'normal dropped':>14} "
        f"{'MB':>6} {'s':>6} {'MB/s':>6}"
    )
    for q in sendqs:
        r = asyncio.run(slow_readers(q, total, 50, 10))
        label = "0 (off)" if q == 0 else str(q)
        print(
            f"{label:>12} {mb(r['rss_idle_kb']):>9} {mb(r['rss_joined_kb']):>9} "
            f"{mb(r['rss_peak_kb']):>9} {mb(r['rss_after_kb']):>9} "
            f"{mb(r['kernel_peak_kb']):>9} {mb(r['kernel_sendq_kb']):>9} "
            f"{r['slow_dropped']:>6}/{r['slow']:<5} {r['normal_dropped']:>14} "
            f"{r['exchanged_mb']:>6.1f} {r['seconds']:>6.1f} "
            f"{r['exchanged_mb'] / r['seconds']:>6.1f}",
            flush=True,
        )


# ------------------------------------------------------------------------------- flood


async def flood(quick: bool) -> None:
    server = start_server(["--flood-rate", "5", "--flood-burst", "10"])
    try:
        port = server.port
        latencies: dict[str, list[float]] = {"quiet": [], "flood": []}
        phase = ["quiet"]
        relayed = {"flood": 0}

        def observe(client: LineClient, line: bytes) -> None:
            if line.startswith(b"<talker") and b"> t=" in line:
                sent = int(line.split(b"t=", 1)[1].split()[0])
                latencies[phase[0]].append((time.monotonic_ns() - sent) / 1e6)
            elif line.startswith(b"<flood"):
                relayed["flood"] += 1

        # Each person from an address of their own: the flood allowance belongs to an address,
        # shared by all its connections, so five talkers on one address would share 5 lines/s.
        talkers = [
            await open_client(port, f"talker{i}", local=f"127.0.2.{i + 1}") for i in range(5)
        ]
        bob = await open_client(port, "bob", observe, local="127.0.3.1")
        seconds = 3.0 if quick else 10.0
        rate = 4.0  # within --flood-rate 5

        async def talk(until: float) -> None:
            while time.monotonic() < until:
                for talker in talkers:
                    talker.say(b"t=%d hello" % time.monotonic_ns())
                    await asyncio.sleep(1 / rate / len(talkers))

        await talk(time.monotonic() + seconds)
        await asyncio.sleep(0.5)
        phase[0] = "flood"
        cycles: list[dict] = []
        until = time.monotonic() + seconds

        async def flooder(k: int) -> None:
            local = f"127.0.0.{2 + k}"
            n = 0
            while time.monotonic() < until:
                n += 1
                try:
                    client = await open_client(port, f"flood{k}x{n}", local=local)
                except (TimeoutError, OSError, ConnectionError) as error:
                    cycles.append({"refused": str(error)[:60]})
                    await asyncio.sleep(0.5)
                    continue
                t0 = time.monotonic()
                sent = 0
                chunk = b"".join(b"flood %06d %s\r\n" % (i, b"f" * 180) for i in range(100))
                while not client.closed.done() and time.monotonic() < until + 5:
                    client.transport.write(chunk)
                    sent += 100
                    await asyncio.sleep(0.001)
                    if client.transport.get_write_buffer_size() > 1 << 20:
                        await asyncio.sleep(0.05)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(client.closed, 5)
                client.transport.abort()
                bang = [line for line in client.lines if line.startswith(b"!!! ")]
                cycles.append({
                    "lines_sent": sent,
                    "seconds": time.monotonic() - t0,
                    "bang": bang[0].decode(errors="replace") if bang else "",
                    "end": client.close_reason or "still open",
                })  # fmt: skip
                await asyncio.sleep(0.5)

        n_flooders = 2 if quick else 4
        await asyncio.gather(talk(until), *(flooder(k) for k in range(n_flooders)))
        await asyncio.sleep(0.5)
        print(
            f"\n# flood: 5 talkers send {rate:g} msg/s each for {seconds:g} s, bob measures "
            "their latency; "
            f"then {n_flooders} flooders (127.0.0.2..) flood and reconnect for {seconds:g} s "
            "(--flood-rate 5 --flood-burst 10)"
        )
        print(f"{'phase':>7} {'msgs':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        for name, values in latencies.items():
            values.sort()
            print(
                f"{name:>7} {len(values):>5} {percentile(values, 50):>8.2f} "
                f"{percentile(values, 99):>8.2f} {(values or [float('nan')])[-1]:>8.2f}"
            )
        q, f = sorted(latencies["quiet"]), sorted(latencies["flood"])
        if q and f:
            print(
                f"ratio flood/quiet: p50 {percentile(f, 50) / percentile(q, 50):.2f}  "
                f"p99 {percentile(f, 99) / percentile(q, 99):.2f}"
            )
        done = [c for c in cycles if "lines_sent" in c]
        refused = [c for c in cycles if "refused" in c]
        banged = sum(1 for c in done if c["bang"])
        eof = sum(1 for c in done if c["end"] == "EOF")
        print(
            f"flooder connections: {len(done)} (refused {len(refused)}); got a '!!! ' line: "
            f"{banged}; then EOF: {eof}; other ends: "
            f"{sorted({c['end'] for c in done if c['end'] != 'EOF'})}"
        )
        if done:
            secs = sorted(c["seconds"] for c in done)
            print(
                f"flooder lifetime p50 {percentile(secs, 50) * 1000:.0f} ms, max "
                f"{secs[-1] * 1000:.0f} ms; lines written p50 "
                f"{percentile(sorted(c['lines_sent'] for c in done), 50):.0f}; flood lines "
                f"relayed to bob: {relayed['flood']}"
            )
            print(f"first '!!! ' line: {next((c['bang'] for c in done if c['bang']), '-')}")
        print(f"server alive: {server.alive()}")
        for talker in talkers:
            talker.transport.close()
        bob.transport.close()
    finally:
        server.stop()


# ------------------------------------------------------------------------------- churn


async def churn(quick: bool) -> None:
    server = start_server(["--connect-rate", "0", "--max-per-ip", "0"])
    try:
        port = server.port
        seen: list[bytes] = []
        observer = await open_client(port, "observer", lambda c, line: seen.append(line))
        await asyncio.sleep(0.5)
        rss0, fds0 = server.rss_kb(), server.fds()
        cycles = 200 if quick else 1000
        gate = asyncio.Semaphore(20)
        outcome = {"joined": 0, "abandoned": 0, "reset": 0, "errors": 0}
        first_error: list[str] = []
        loop = asyncio.get_running_loop()

        async def one(i: int) -> None:
            async with gate:
                try:
                    # Spread over 250 addresses, as many people would be: the flood allowance
                    # is per address (every connection from one address shares it).
                    local = f"127.0.1.{i % 250 + 1}"
                    if i % 4 == 1:  # leave before choosing a nickname
                        _t, c = await loop.create_connection(
                            lambda: LineClient(f"c{i}"), HOST, port, local_addr=(local, 0)
                        )
                        await asyncio.sleep(0.01)
                        c.transport.close()
                        outcome["abandoned"] += 1
                        return
                    c = await open_client(port, f"c{i}", local=local)
                    if i % 4 == 2:  # reset instead of a clean close
                        sock = c.transport.get_extra_info("socket")
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        c.transport.abort()
                        outcome["reset"] += 1
                    else:
                        c.say(b"/quit" if i % 4 == 3 else b"bye")
                        c.transport.close()
                        outcome["joined"] += 1
                except Exception as error:
                    outcome["errors"] += 1
                    if not first_error:
                        first_error.append(f"{type(error).__name__}: {error}"[:120])

        t0 = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(cycles))), 180)
        elapsed = time.monotonic() - t0
        await asyncio.sleep(1.5)
        rss1, fds1 = server.rss_kb(), server.fds()
        marker = b"still-serving %d" % time.monotonic_ns()
        late = await open_client(port, "latecomer")
        late.say(marker)
        deadline = time.monotonic() + 5
        while not any(marker in line for line in seen) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        ok = any(marker in line for line in seen)
        print(
            f"\n# churn: {cycles} connect/disconnect cycles, 20 at a time "
            "(1/4 leave at the prompt, 1/4 reset after joining, 1/2 join and close or /quit)"
        )
        print(
            f"cycles {cycles} in {elapsed:.1f} s ({cycles / elapsed:.0f}/s): {outcome}"
            + (f"; first error: {first_error[0]}" if first_error else "")
        )
        print(f"server RSS before {mb(rss0)}, after {mb(rss1)} ({(rss1 - rss0) / 1024:+.1f} MB)")
        print(f"server open descriptors before {fds0}, after {fds1}")
        print(f"a new client joined and its line reached the observer: {'yes' if ok else 'NO'}")
        print(f"server alive: {server.alive()}")
        late.transport.close()
        observer.transport.close()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--part", action="append", choices=("slow", "flood", "churn"),
        help="run only this part (repeatable; default: all)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="smaller, shorter versions")
    args = parser.parse_args()
    raise_nofile()
    parts = args.part or ["slow", "flood", "churn"]
    if "slow" in parts:
        run_slow(args.quick)
    if "flood" in parts:
        asyncio.run(asyncio.wait_for(flood(args.quick), 120))
    if "churn" in parts:
        asyncio.run(asyncio.wait_for(churn(args.quick), 300))


if __name__ == "__main__":
    main()
