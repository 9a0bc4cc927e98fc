"""
What a login costs: argon2id with littlecats.accounts' default parameters (19 MiB, t=2, p=1)
on this machine.

Prints the median time of one hash and of one verify (called directly, N runs each), then how
many verifies per second 1 and 2 threads sustain: first as bare threads calling argon2 (argon2
releases the GIL, so 2 threads can use 2 cores), then through `PasswordHasher` itself (its own
thread pool, results back on a running reactor), which is what the chat gets.  Each throughput
line shows the process's CPU use (200 % = both cores) and the CPU steal: the machine is
virtualised and shared (see bench/README.md), so 2 threads reach 2x only when the second core
is free.

    .venv/bin/python bench/login_hash.py
    .venv/bin/python bench/login_hash.py --runs 20 --duration 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from importlib.metadata import version
from pathlib import Path

import argon2
from twisted.internet import defer, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from littlecats.accounts import DEFAULT_PARAMETERS, PasswordHasher

PASSWORD = "correct horse battery staple"


def _steal_ticks() -> int:
    """Total steal ticks over all CPUs (0 where /proc/stat is unavailable)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return 0
    return int(fields[8]) if len(fields) > 8 else 0


def _steal_percent(ticks: int, seconds: float) -> float:
    hz = os.sysconf("SC_CLK_TCK")
    return 100 * ticks / hz / seconds / (os.cpu_count() or 1)


def median_ms(func, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def bare_threads(hasher: argon2.PasswordHasher, password_hash: str, threads: int, duration: float):
    """Verifies per second, C{threads} threads each verifying in a loop for C{duration}."""
    counts = [0] * threads
    stop = threading.Event()

    def loop(slot: int) -> None:
        while not stop.is_set():
            hasher.verify(password_hash, PASSWORD)
            counts[slot] += 1

    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    steal = _steal_ticks()
    cpu = time.process_time()
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    stop.wait(duration)
    stop.set()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    cpu_percent = 100 * (time.process_time() - cpu) / elapsed
    return sum(counts) / elapsed, cpu_percent, _steal_percent(_steal_ticks() - steal, elapsed)


def through_service(password_hash: str, threads: int, duration: float):
    """Verifies per second through PasswordHasher(threads=...) on a running reactor, keeping
    2 x threads verifies in flight for C{duration} seconds."""
    result: list[tuple[float, float, float]] = []

    async def main(reactor) -> None:
        service = PasswordHasher(reactor, threads=threads)
        service.startService()
        done = 0
        deadline = time.perf_counter() + duration
        steal = _steal_ticks()
        cpu = time.process_time()
        start = time.perf_counter()

        async def client() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                assert await service.verify(password_hash, PASSWORD)
                done += 1

        await defer.gatherResults([defer.ensureDeferred(client()) for _ in range(2 * threads)])
        elapsed = time.perf_counter() - start
        cpu_percent = 100 * (time.process_time() - cpu) / elapsed
        service.stopService()
        steal_percent = _steal_percent(_steal_ticks() - steal, elapsed)
        result.append((done / elapsed, cpu_percent, steal_percent))

    try:
        task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
    except SystemExit as exit_:
        if exit_.code:
            raise
    return result[0]


def run_service_in_subprocess(password_hash: str, threads: int, duration: float):
    """A reactor runs once per process: each service measurement gets its own."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--_service",
            str(threads),
            "--duration",
            str(duration),
            "--_hash",
            password_hash,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return tuple(json.loads(out.splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="hashes and verifies timed (10)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per throughput run")
    parser.add_argument("--_service", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--_hash", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args._service:
        print(json.dumps(through_service(args._hash, args._service, args.duration)))
        return

    hasher = argon2.PasswordHasher.from_parameters(DEFAULT_PARAMETERS)
    password_hash = hasher.hash(PASSWORD)
    p = DEFAULT_PARAMETERS
    print(
        f"argon2id m={p.memory_cost} KiB t={p.time_cost} p={p.parallelism}, "
        f"argon2-cffi {version('argon2-cffi')}"
    )
    hash_ms = median_ms(lambda: hasher.hash(PASSWORD), args.runs)
    verify_ms = median_ms(lambda: hasher.verify(password_hash, PASSWORD), args.runs)
    print(f"one hash:   median {hash_ms:6.1f} ms over {args.runs}")
    print(f"one verify: median {verify_ms:6.1f} ms over {args.runs}")
    for threads in (1, 2):
        rate, cpu, steal = bare_threads(hasher, password_hash, threads, args.duration)
        print(
            f"bare threads x{threads}:            {rate:6.1f} verifies/s "
            f"(process CPU {cpu:3.0f}%, steal {steal:.1f}%)"
        )
    for threads in (1, 2):
        rate, cpu, steal = run_service_in_subprocess(password_hash, threads, args.duration)
        print(
            f"PasswordHasher(threads={threads}): {rate:6.1f} verifies/s "
            f"(process CPU {cpu:3.0f}%, steal {steal:.1f}%)"
        )


if __name__ == "__main__":
    main()
