"""
Login storm: what 1000 registered users identifying at once do to the chat's latency.

Starts a fresh `twistd littlecats` (pinned to CPU 1, run.py's PERF_LIMITS, `--db
sqlite:<tmpdir>/storm.db`, the default `--history`) whose database already holds N accounts
(`storm0`..`storm<N-1>`, passwords `secret-<i>`).  The accounts are written into the SQLite
file before the server starts, through `littlecats.storage.open_store` (in a child process),
with argon2id hashes made with the server's own `littlecats.accounts.DEFAULT_PARAMETERS`
(one distinct password and hash per account), so every verify costs what it costs in
production; that takes N hashes on both cores (~15 s for 1000) instead of N `/register` lines
through the server's single hashing thread (~30 s).

Then, with the generator pinned to CPU 0: 10 chatters (`chat0`..`chat9`) join the lobby and
each says a line every 100 ms; latency is the time from sending a line to seeing it echoed
back by the server (join notices and the other chatters' lines are not samples; how long the
other chatters took to get each line is shown too).  First 10 s without a storm, then 10 s
from the moment N storm clients all connect at once: each picks its nickname, gets "O apelido
… é registrado; digite a senha:", sends its password, and waits for "*** Você se identificou
como …".  A client refused ("!!! O servidor está ocupado verificando senhas", the hasher's
queue holding max_pending = 256 jobs, or any other "!!! " line) is shown the nickname prompt
again and tries again after --retry-after seconds (x 0.5..1.5 at random).  The chatters go on
until every storm client is identified (or --storm-timeout), so the whole storm is shown as
well as its first 10 s, and then 10 s more (--after) in the lobby that big with no logins: the
control that tells what the lobby's size costs from what the logins cost.  The storm clients
run in a second process (niced, so that the chatters, the instrument, are not delayed by it
on the shared CPU 0); once identified they only read, in batches, what the lobby sends them.

Prints p50/p99 without and with the storm and their ratios, how long until all N were
identified, how many refusals (busy and other) the storm clients got, the server's and the
generator's CPU use and the CPU steal of each phase, and the server log's error lines.
Everything is bounded (--storm-timeout, join and drain timeouts) and the server is always
stopped (SIGTERM, then SIGKILL); the temporary directory is removed.

    .venv/bin/python bench/login_storm.py
    .venv/bin/python bench/login_storm.py --storm 300 --quiet 5 --window 5     # shorter
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import multiprocessing
import os
import random
import re
import selectors
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    PERF_LIMITS,
    ROOT,
    Server,
    free_port,
    littlecats_cmd,
    percentile,
    raise_nofile,
    steal_pct,
    steal_snapshot,
)

GEN_CPU, SERVER_CPU = 0, 1
CHATTERS = 10
CHAT_INTERVAL = 0.1  # s between two lines of one chatter
STORM_NICE = 10
DRAIN_TICK = 0.1  # s between two reads of the identified storm clients

PROMPT = b"Escolha seu apelido:"
PASSWORD_PROMPT = b"registrado; digite a senha:"
IDENTIFIED = b"se identificou como"
BUSY = b"ocupado verificando senhas"
REFUSAL = b"!!! "
MARKER = re.compile(rb"LAT:(\d+):(\d+):(\d+):")
IAC_BYTES = re.compile(rb"\xff[\xfb-\xfe].|\xff[\xf0-\xfa]", re.DOTALL)

ns = time.monotonic_ns


def storm_nick(i: int) -> str:
    return f"storm{i}"


def storm_password(i: int) -> str:
    return f"secret-{i}"


# ------------------------------------------------------------------ accounts, before the server


def _hash(i: int) -> str:
    import argon2

    from littlecats.accounts import DEFAULT_PARAMETERS

    return argon2.PasswordHasher.from_parameters(DEFAULT_PARAMETERS).hash(storm_password(i))


def populate(db_file: str, n: int) -> None:
    """(Child process) Write N accounts with real argon2id hashes into the SQLite file."""
    from concurrent.futures import ProcessPoolExecutor

    sys.path.insert(0, str(ROOT))
    t0 = time.monotonic()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        hashes = list(pool.map(_hash, range(n), chunksize=16))
    hash_s = time.monotonic() - t0

    from twisted.internet import defer, task

    from littlecats.nicknames import fold
    from littlecats.storage import open_store
    from littlecats.storage.interface import Account

    async def write(reactor) -> None:
        store = open_store(f"sqlite:{db_file}", reactor)
        now = time.time()
        created = 0
        for i, password_hash in enumerate(hashes):
            name = storm_nick(i)
            created += bool(
                await store.create_account(Account(fold(name), name, password_hash, now))
            )
        await store.close()
        print(json.dumps({"hash_s": hash_s, "created": created, "hash": hashes[0][:30]}))

    task.react(lambda reactor: defer.Deferred.fromCoroutine(write(reactor)))


def make_accounts(db_file: Path, n: int) -> dict:
    """Run L{populate} in a child process; check the accounts are there."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, __file__, "_populate", str(db_file), str(n)],
        capture_output=True, text=True, timeout=600, check=False, cwd=db_file.parent,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"writing the accounts failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    with contextlib.closing(sqlite3.connect(db_file)) as db:
        out["rows"] = db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]
    out["total_s"] = time.monotonic() - t0
    if out["rows"] != n:
        raise SystemExit(f"expected {n} accounts in {db_file}, found {out['rows']}")
    return out


# ------------------------------------------------------------------ the storm (child process)


class StormClient:
    __slots__ = ("buf", "busy", "i", "identified_at", "other", "retry_at", "sock", "state")

    def __init__(self, i: int) -> None:
        self.i = i
        self.sock: socket.socket | None = None
        self.buf = b""
        self.state = "prompt"  # prompt -> nick -> password -> identified | retry | closed
        self.retry_at = 0.0
        self.identified_at: float | None = None
        self.busy = 0
        self.other = 0


def storm_main(conn: Connection, port: int, n: int, retry_after: float, timeout: float) -> None:
    """(Child process) Wait for "go", connect N clients at once, identify them all, report;
    then keep reading what the lobby sends them until told to close."""
    with contextlib.suppress(OSError):
        os.nice(STORM_NICE)
    raise_nofile()
    rng = random.Random(1)
    conn.recv()  # "go"
    cpu0 = time.process_time()
    t0 = time.monotonic()
    clients = [StormClient(i) for i in range(n)]
    sel = selectors.DefaultSelector()
    refusals: dict[str, int] = {}
    closed_before: list[str] = []
    connect_errors = 0
    for c in clients:
        s = socket.socket()
        s.setblocking(False)
        err = s.connect_ex((HOST, port))
        if err not in (0, 115):  # EINPROGRESS
            connect_errors += 1
            c.state = "closed"
            closed_before.append(f"connect: {os.strerror(err)}")
            s.close()
            continue
        c.sock = s
        sel.register(s, selectors.EVENT_READ, c)
    connected_s = time.monotonic() - t0
    draining: list[StormClient] = []
    drained_bytes = 0
    dropped_after = 0
    pending = sum(c.state != "closed" for c in clients)
    next_drain = time.monotonic() + DRAIN_TICK
    retries: list[tuple[float, int]] = []  # heap of (when, client)
    deadline = t0 + timeout
    report_sent = False
    all_identified_s: float | None = None

    def send(c: StormClient, text: str) -> None:
        try:
            assert c.sock is not None
            c.sock.send(text.encode() + b"\r\n")
        except OSError as e:
            close(c, f"send: {e}")

    def close(c: StormClient, why: str) -> None:
        nonlocal pending
        if c.state == "closed":
            return
        if c.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                sel.unregister(c.sock)
            c.sock.close()
            c.sock = None
        if c.state != "identified":
            closed_before.append(why)
            pending -= 1
        c.state = "closed"

    def on_line(c: StormClient, line: bytes, now: float) -> bool:
        """Handle one line; True once the client is identified (the rest is only drained)."""
        nonlocal pending
        if b"\xff" in line:
            line = IAC_BYTES.sub(b"", line)
        if line.startswith(REFUSAL):
            if BUSY in line:
                c.busy += 1
                key = "busy: " + line.decode(errors="replace").strip()
            else:
                c.other += 1
                key = line.decode(errors="replace").strip()
            refusals[key] = refusals.get(key, 0) + 1
            c.state = "refused"
        elif PROMPT in line:
            if c.state == "prompt":
                c.state = "nick"
                send(c, storm_nick(c.i))
            else:  # refused: ask again later
                c.state = "retry"
                c.retry_at = now + retry_after * rng.uniform(0.5, 1.5)
                heapq.heappush(retries, (c.retry_at, c.i))
        elif PASSWORD_PROMPT in line:
            c.state = "password"
            send(c, storm_password(c.i))
        elif IDENTIFIED in line:
            c.state = "identified"
            c.identified_at = now - t0
            pending -= 1
            return True
        return False

    while True:
        now = time.monotonic()
        if pending == 0 and all_identified_s is None:
            done = [c.identified_at for c in clients if c.identified_at is not None]
            all_identified_s = max(done) if len(done) == n else None
        if not report_sent and (pending == 0 or now >= deadline):
            times = sorted(c.identified_at for c in clients if c.identified_at is not None)
            report = {
                "t0": t0,
                "clients": n,
                "connect_calls_s": connected_s,
                "connect_errors": connect_errors,
                "identified": len(times),
                "all_identified_s": all_identified_s,
                "first_identified_s": times[0] if times else None,
                "identified_p50_s": percentile(times, 50) if times else None,
                "timed_out": pending > 0,
                "busy_lines": sum(c.busy for c in clients),
                "clients_busy": sum(1 for c in clients if c.busy),
                "busy_max_per_client": max((c.busy for c in clients), default=0),
                "other_refusals": sum(c.other for c in clients),
                "refusals": refusals,
                "closed_before_identified": len(closed_before),
                "closed_reasons": sorted(set(closed_before))[:10],
                "cpu_s": time.process_time() - cpu0,
                "wall_s": time.monotonic() - t0,
            }
            conn.send(report)
            report_sent = True
        if report_sent and conn.poll():
            break  # "close"
        # Retries that are due.
        while retries and retries[0][0] <= now:
            c = clients[heapq.heappop(retries)[1]]
            if c.state == "retry":
                c.state = "nick"
                send(c, storm_nick(c.i))
        # Identified clients: read everything waiting, in one pass every DRAIN_TICK.
        if now >= next_drain:
            next_drain = now + DRAIN_TICK
            for c in draining:
                if c.sock is None:
                    continue
                while True:
                    try:
                        data = c.sock.recv(1 << 18)
                    except BlockingIOError:
                        break
                    except OSError:
                        data = b""
                    if not data:
                        dropped_after += 1
                        close(c, "closed after identifying")
                        break
                    drained_bytes += len(data)
        wait = min(next_drain - now, 0.02, retries[0][0] - now if retries else 1.0)
        for key, _mask in sel.select(max(0.0, wait)):
            c = key.data
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                close(c, f"recv: {e}")
                continue
            if not data:
                close(c, "closed by the server before identifying")
                continue
            c.buf += data
            now = time.monotonic()
            while c.state not in ("identified", "closed"):
                cut = c.buf.find(b"\n")
                if cut < 0:
                    break
                line, c.buf = c.buf[:cut], c.buf[cut + 1 :]
                if on_line(c, line, now):
                    c.buf = b""
                    sel.unregister(c.sock)
                    draining.append(c)
                    break
    for c in clients:
        if c.sock is not None:
            c.sock.close()
    conn.send({"drained_bytes": drained_bytes, "dropped_after_identified": dropped_after,
               "cpu_s_total": time.process_time() - cpu0})  # fmt: skip


# ------------------------------------------------------------------ the chatters (main process)


class Chatter:
    def __init__(self, i: int, port: int) -> None:
        self.i = i
        self.nick = f"chat{i}".encode()
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.joined = False
        self.seq = 0


def join_chatters(port: int, timeout: float = 20.0) -> list[Chatter]:
    chatters = [Chatter(i, port) for i in range(CHATTERS)]
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    for c in chatters:
        sel.register(c.sock, selectors.EVENT_READ, c)
    mine = {c.i: b"*** O cliente " + c.nick + b" entrou" for c in chatters}
    sent_nick: set[int] = set()
    while not all(c.joined for c in chatters):
        if time.monotonic() > deadline:
            raise SystemExit("the chatters did not all join within 20 s")
        for key, _ in sel.select(0.5):
            c = key.data
            data = c.sock.recv(65536)
            if not data:
                raise SystemExit(f"chatter {c.i}: closed by the server while joining")
            c.buf += data
            if c.i not in sent_nick and PROMPT in c.buf:
                c.sock.sendall(c.nick + b"\r\n")
                sent_nick.add(c.i)
            if mine[c.i] in c.buf:
                c.joined = True
                c.buf = c.buf[c.buf.rfind(b"\n") + 1 :]
    sel.close()
    for c in chatters:
        c.sock.setblocking(False)
    return chatters


class Phase:
    """A span of the chatters' run: its samples (by send time) and the server around it."""

    def __init__(self, name: str, start: float, end: float | None) -> None:
        self.name, self.start, self.end = name, start, end
        self.echo: list[float] = []
        self.echo_at: list[tuple[float, float]] = []  # (send time, latency ms)
        self.others: list[float] = []
        self.sent = 0
        self.lost = 0
        self.cpu = self.steal = None

    def holds(self, t: float) -> bool:
        return t >= self.start and (self.end is None or t < self.end)


def chat(
    chatters: list[Chatter], server: Server, storm: Connection, args: argparse.Namespace
) -> tuple[list[Phase], dict, dict]:
    """Chat: warm-up, the quiet window, then the storm's (the storm started at its start),
    until the storm reports and its window is over; then drain."""
    sel = selectors.DefaultSelector()
    for c in chatters:
        sel.register(c.sock, selectors.EVENT_READ, c)
    sel.register(storm, selectors.EVENT_READ, None)
    start = time.monotonic() + 0.05
    next_send = [start + c.i * CHAT_INTERVAL / CHATTERS for c in chatters]
    quiet_start = start + args.warmup
    storm_start = quiet_start + args.quiet
    quiet = Phase("quiet", quiet_start, storm_start)
    window = Phase(f"storm, first {args.window:g} s", storm_start, storm_start + args.window)
    whole = Phase("storm, until all identified", storm_start, None)
    after = Phase("after the storm", float("inf"), float("inf"))
    phases = [quiet, window, whole, after]
    outstanding: dict[tuple[int, int], float] = {}  # (chatter, seq) -> send time (s)
    late: list[float] = []
    report: dict | None = None
    storm_started = False
    stop_sending: float | None = None
    marks: dict[str, tuple[float, tuple[int, int], float]] = {}

    def mark(name: str) -> None:
        marks[name] = (time.monotonic(), steal_snapshot(), server.cpu_s())

    gen_cpu0 = time.process_time()
    while True:
        now = time.monotonic()
        if not storm_started and now >= storm_start:
            mark("quiet_end")
            storm.send("go")
            storm_started = True
            mark("storm")
        if "quiet" not in marks and now >= quiet_start:
            mark("quiet")
        if "window_end" not in marks and now >= storm_start + args.window:
            mark("window_end")
        if whole.end is None and report is not None and now >= storm_start + args.window:
            whole.end = after.start = now
            after.end = now + args.after
            mark("whole_end")
        if whole.end is None and now >= storm_start + args.storm_timeout + 5:
            whole.end = after.start = after.end = now  # the storm did not report: give up
            mark("whole_end")
        if stop_sending is None and after.end is not None and now >= after.end:
            stop_sending = now
            mark("after_end")
        if stop_sending is not None and (not outstanding or now > stop_sending + args.drain):
            break
        if stop_sending is None:
            for c in chatters:
                t = next_send[c.i]
                if now >= t:
                    sent_at = time.monotonic()
                    line = b"LAT:%d:%d:%d: hello" % (c.i, c.seq, ns())
                    try:
                        c.sock.send(line + b"\r\n")
                    except OSError as e:
                        raise SystemExit(f"chatter {c.i}: send failed: {e}") from None
                    outstanding[(c.i, c.seq)] = sent_at
                    for p in phases:
                        if p.holds(sent_at):
                            p.sent += 1
                    late.append(sent_at - t)
                    c.seq += 1
                    next_send[c.i] = t + CHAT_INTERVAL
        wait = max(0.0, min(next_send) - time.monotonic()) if stop_sending is None else 0.05
        for key, _ in sel.select(min(wait, 0.05)):
            c = key.data
            if c is None:
                report = storm.recv()
                sel.unregister(storm)
                continue
            try:
                data = c.sock.recv(1 << 18)
            except BlockingIOError:
                continue
            if not data:
                raise SystemExit(f"chatter {c.i}: closed by the server")
            received = ns()
            c.buf += data
            cut = c.buf.rfind(b"\n")
            if cut < 0:
                continue
            block, c.buf = c.buf[: cut + 1], c.buf[cut + 1 :]
            for m in MARKER.finditer(block):
                sender, seq, sent_ns = int(m[1]), int(m[2]), int(m[3])
                latency_ms = (received - sent_ns) / 1e6
                sent_at = sent_ns / 1e9  # monotonic_ns and monotonic share a clock
                if sender == c.i:
                    outstanding.pop((sender, seq), None)
                    for p in phases:
                        if p.holds(sent_at):
                            p.echo.append(latency_ms)
                            p.echo_at.append((sent_at, latency_ms))
                else:
                    for p in phases:
                        if p.holds(sent_at):
                            p.others.append(latency_ms)
    gen_cpu = time.process_time() - gen_cpu0
    for _key, sent_at in outstanding.items():
        for p in phases:
            if p.holds(sent_at):
                p.lost += 1
    for p, a, b in ((quiet, "quiet", "quiet_end"), (window, "storm", "window_end"),
                    (whole, "storm", "whole_end"), (after, "whole_end", "after_end")):  # fmt: skip
        if a in marks and b in marks:
            (t_a, s_a, c_a), (t_b, s_b, c_b) = marks[a], marks[b]
            p.cpu = 100 * (c_b - c_a) / (t_b - t_a) if t_b > t_a else None
            p.steal = steal_pct(s_a, s_b)
    late.sort()
    gen = {
        "cpu_pct": 100 * gen_cpu / max(1e-9, time.monotonic() - start),
        "send_late_p99_ms": 1000 * percentile(late, 99),
        "send_late_max_ms": 1000 * (late[-1] if late else 0),
    }
    return phases, report or {}, gen


# ------------------------------------------------------------------ main


def log_problems(log: str) -> list[str]:
    problem = re.compile(r"#critical\]|#error\]|Traceback|Unhandled", re.IGNORECASE)
    return [line for line in log.splitlines() if problem.search(line)]


def fmt_ms(v: float) -> str:
    return "-" if v != v else f"{v:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--storm", type=int, default=1000, help="storm clients (accounts)")
    parser.add_argument("--quiet", type=float, default=10.0, help="seconds without a storm")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of the storm measured")
    parser.add_argument("--warmup", type=float, default=1.0, help="chat before measuring, s")
    parser.add_argument(
        "--retry-after", type=float, default=2.0,
        help="a refused storm client tries again after this many seconds (x 0.5..1.5)",
    )  # fmt: skip
    parser.add_argument(
        "--storm-timeout", type=float, default=180.0, help="give up on the storm after this long"
    )
    parser.add_argument(
        "--after", type=float, default=10.0,
        help="seconds of chat measured once every storm client is identified (a lobby that "
        "big, no logins: the control for the lobby's size)",
    )  # fmt: skip
    parser.add_argument("--drain", type=float, default=3.0, help="wait for last echoes, s")
    parser.add_argument(
        "--server-cpus", default=str(SERVER_CPU),
        help="taskset CPU list of the server (default 1, as run.py; the generator is on 0)",
    )  # fmt: skip
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lc-login-storm-") as tmp:
        db_file = Path(tmp) / "storm.db"
        print(f"writing {args.storm} accounts into {db_file} ...", flush=True)
        made = make_accounts(db_file, args.storm)
        print(
            f"  {made['rows']} accounts, argon2id hashes with littlecats.accounts."
            f"DEFAULT_PARAMETERS ({made['hash']}...), hashed in {made['hash_s']:.1f} s on "
            f"{os.cpu_count()} processes, written in {made['total_s'] - made['hash_s']:.1f} s",
            flush=True,
        )
        port = free_port()
        cmd = littlecats_cmd(port, PERF_LIMITS, db=f"sqlite:{db_file}")
        server = Server("littlecats", ["taskset", "-c", args.server_cpus, *cmd], port, cpu=None)
        ctx = multiprocessing.get_context("fork")
        parent_end, child_end = ctx.Pipe()
        storm_proc = None
        try:
            server.start()
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, {GEN_CPU})
            raise_nofile()
            storm_proc = ctx.Process(
                target=storm_main,
                args=(child_end, port, args.storm, args.retry_after, args.storm_timeout),
                daemon=True,
            )
            storm_proc.start()
            chatters = join_chatters(port)
            phases, report, gen = chat(chatters, server, parent_end, args)
            parent_end.send("close")
            tail = parent_end.recv() if parent_end.poll(30) else {}
            for c in chatters:
                c.sock.close()
            alive = server.alive()
            rss = server.rss_kb()
        finally:
            if storm_proc is not None:
                storm_proc.join(10)
                if storm_proc.is_alive():
                    storm_proc.kill()
                    storm_proc.join(5)
            server.stop(30.0)
        problems = log_problems(server.log())
        print_report(args, phases, report, tail, gen, server, alive, rss, problems)


def print_report(args, phases, report, tail, gen, server, alive, rss, problems) -> None:
    _quiet, window, whole, after = phases
    print()
    print(
        f"server on CPU {args.server_cpus}, generator on CPU {GEN_CPU}; "
        f"{CHATTERS} chatters in the lobby, a line each every {CHAT_INTERVAL * 1000:.0f} ms; "
        "latency = send -> own line echoed back (ms); 'others' = send -> seen by the other "
        "chatters"
    )
    header = (
        f"{'phase':<38} {'lines':>6} {'p50':>7} {'p99':>7} {'max':>7} {'lost':>5} "
        f"{'others p50':>10} {'others p99':>10} {'srv CPU%':>8} {'steal%':>6}"
    )
    print(header)
    for p in phases:
        echo, others = sorted(p.echo), sorted(p.others)
        span = f"{p.name} ({(p.end or p.start) - p.start:.1f} s)"
        print(
            f"{span:<38} {len(echo):>6} {fmt_ms(percentile(echo, 50)):>7} "
            f"{fmt_ms(percentile(echo, 99)):>7} {fmt_ms(echo[-1] if echo else float('nan')):>7} "
            f"{p.lost:>5} {fmt_ms(percentile(others, 50)):>10} "
            f"{fmt_ms(percentile(others, 99)):>10} "
            f"{'-' if p.cpu is None else f'{p.cpu:.1f}':>8} "
            f"{'-' if p.steal is None else f'{p.steal:.1f}':>6}"
        )
    if whole.echo_at:
        by_second: dict[int, list[float]] = {}
        for sent_at, latency in whole.echo_at:
            by_second.setdefault(int(sent_at - whole.start), []).append(latency)
        print(
            "storm, echo p99 ms per second from its start: "
            + " ".join(f"{percentile(sorted(v), 99):.0f}" for _, v in sorted(by_second.items()))
        )
    q, w, a, z = (sorted(p.echo) for p in phases)
    for name, s in ((window.name, w), (whole.name, a), (after.name, z)):
        if q and s:
            print(
                f"ratio {name} / quiet: p50 {percentile(s, 50) / percentile(q, 50):.2f}, "
                f"p99 {percentile(s, 99) / percentile(q, 99):.2f}"
            )
    print()
    if not report:
        print("storm: NO REPORT from the storm process")
    else:
        n = report["clients"]
        all_s = report["all_identified_s"]
        print(
            f"storm: {report['identified']}/{n} identified"
            + (f", all in {all_s:.1f} s" if all_s is not None else " (NOT ALL)")
            + (f" (gave up after {args.storm_timeout:g} s)" if report["timed_out"] else "")
            + f"; first after {report['first_identified_s'] or float('nan'):.2f} s, half after "
            f"{report['identified_p50_s'] or float('nan'):.1f} s; all {n} connect() calls made "
            f"in {report['connect_calls_s'] * 1000:.0f} ms ({report['connect_errors']} failed)"
        )
        print(
            f"  busy refusals (hasher queue full): {report['busy_lines']} lines to "
            f"{report['clients_busy']} clients (at most {report['busy_max_per_client']} to one); "
            f"a refused client retried after {args.retry_after:g} s x 0.5..1.5"
        )
        print(
            f"  other refusals: {report['other_refusals']}; closed before identifying: "
            f"{report['closed_before_identified']} {report['closed_reasons'] or ''}"
        )
        for text, count in sorted(report["refusals"].items(), key=lambda kv: -kv[1]):
            print(f"    {count:>6} x {text}")
        print(
            f"  storm process CPU: {report['cpu_s']:.1f} s over {report['wall_s']:.1f} s "
            f"({100 * report['cpu_s'] / max(1e-9, report['wall_s']):.0f} %, niced +{STORM_NICE})"
            + (
                f"; after identifying, read {tail.get('drained_bytes', 0) / 1e6:.1f} MB, "
                f"{tail.get('dropped_after_identified', 0)} dropped by the server"
                if tail
                else ""
            )
        )
    print(
        f"chatters' process CPU: {gen['cpu_pct']:.0f} %; send lateness p99 "
        f"{gen['send_late_p99_ms']:.2f} ms, max {gen['send_late_max_ms']:.2f} ms"
    )
    print(
        f"server: alive at the end {alive}, RSS {rss / 1024:.1f} MB, exit status "
        f"{server.exit_code}{' (SIGKILLed)' if server.killed else ''}; log: "
        + (f"{len(problems)} error lines, first: {problems[0]}" if problems else "no error lines")
    )
    for line in problems[:20]:
        print(f"  | {line}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "_populate":
        populate(sys.argv[2], int(sys.argv[3]))
    else:
        main()
