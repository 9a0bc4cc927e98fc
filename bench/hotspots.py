"""
Where `twistd littlecats` spends its time under the many-rooms load: starts the server fresh
(pinned to CPU 1, lcbench to CPU 0, the same limits as run.py), joins 1000 clients into 100
rooms of 10 (lcbench --rooms, one sender per room), sends at a fixed open-loop rate, and
profiles the server during the measurement window only (not the join phase):

- `--profiler cprofile`: the server runs under this script's `_serve` mode, which is twistd
  with a `cProfile.Profile` switched on by SIGUSR1 and off (stats saved) by SIGUSR2.  Exact
  call counts and C calls (socket.send, epoll.poll) as their own rows, but with the tracing
  overhead (the server gets slower: compare the deliveries/s it reaches with and without).
- `--profiler py-spy`: samples the running server from outside (`py-spy record --format raw`,
  py-spy on PATH or next to this interpreter; `pip install py-spy` in any venv will do), at
  almost no cost to it.  Time in a C call shows on the Python line that made it; lines that
  call `.send(`, `.recv(` or `.poll(` are counted as those system calls.

`--joinstorm N` profiles a join storm instead (N clients join one room, every join notice to
everyone; lcbench as in run.py's joinstorm), from the first connection to the last notice.

Both print the top functions (self time, and for cProfile cumulative time) and the self time
grouped: system calls, fan-out flush, rendering, input parsing and dispatch, chat core,
Twisted reactor, other.  Loopback only; everything it starts it stops.

    .venv/bin/python bench/hotspots.py --profiler py-spy --rate 200 --duration 15
    .venv/bin/python bench/hotspots.py --profiler cprofile --rate 100 --duration 15
    .venv/bin/python bench/hotspots.py --profiler py-spy --joinstorm 5000
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import linecache
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH,
    HOST,
    PERF_LIMITS,
    ROOT,
    Server,
    free_port,
    raise_nofile,
    twistd,
)

GEN_CPU, SERVER_CPU = 0, 1
SYSCALL_LINE = re.compile(r"\.(send|recv|poll|accept|close|shutdown|setsockopt)\(")

# Self-time groups, by source file (first match wins); C functions get their own rules.
GROUPS = [
    ("fan-out flush", ("littlecats/fanout.py",)),
    ("rendering", ("littlecats/messages.py", "littlecats/doors/telnet/door.py", "gettext")),
    (
        "input parsing and dispatch",
        (
            "littlecats/doors/telnet/nvt.py",
            "littlecats/doors/telnet/protocol.py",
            "littlecats/session.py",
            "littlecats/commands.py",
            "littlecats/limits.py",
            "littlecats/text.py",
            "littlecats/nicknames.py",
        ),
    ),
    ("chat core", ("littlecats/core/", "littlecats.core.")),  # and attrs-generated methods
    ("Twisted reactor", ("twisted/",)),
]


def group_of(filename: str, funcname: str, source_line: str = "") -> str:
    """The group of a function (or, for py-spy, of the line it was on)."""
    if filename == "~":  # a C function, as cProfile names it
        if re.search(r"'(send|sendmsg|sendall)' of '_socket", funcname):
            return "system calls: send"
        if re.search(r"'(recv|recv_into)' of '_socket", funcname):
            return "system calls: recv"
        if "'poll' of 'select.epoll'" in funcname:
            return "system calls: epoll"
        return ""  # another C function: attributed to its caller's group
    match = SYSCALL_LINE.search(source_line)
    if match:
        name = {"send": "send", "recv": "recv", "poll": "epoll"}.get(match.group(1), "other")
        return f"system calls: {name}"
    for group, parts in GROUPS:
        if any(part in filename for part in parts):
            return group
    return "other"


def cprofile_report(path: Path, top: int) -> dict:
    """Top functions and grouped self time of a cProfile stats file."""
    stats = pstats.Stats(str(path))
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1.0

    def label(func: tuple) -> str:
        filename, line, name = func
        if filename == "~":
            return name
        short = filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        return f"{short}:{line}({name})"

    def group(func: tuple, depth: int = 0) -> str:
        filename, _line, name = func
        found = group_of(filename, name)
        if found or depth > 5:
            return found or "other"
        callers = raw[func][4]
        if not callers:
            return "other"
        # A C function other than a system call belongs to the caller that spent most in it.
        caller = max(callers, key=lambda c: callers[c][2] if isinstance(callers[c], tuple) else 0)
        return group(caller, depth + 1)

    groups: collections.Counter[str] = collections.Counter()
    for func, (_cc, _nc, tt, _ct, _callers) in raw.items():
        groups[group(func)] += tt
    by_tt = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    by_ct = sorted(raw.items(), key=lambda kv: kv[1][3], reverse=True)[:top]
    return {
        "total_s": total,
        "groups": {g: (t, 100 * t / total) for g, t in groups.most_common()},
        "top_tottime": [(label(f), v[1], v[2], 100 * v[2] / total) for f, v in by_tt],
        "top_cumtime": [(label(f), v[1], v[3], 100 * v[3] / total) for f, v in by_ct],
    }


FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def pyspy_report(path: Path, top: int) -> dict:
    """Top functions (self and inclusive samples) and grouped self time of py-spy raw output."""
    self_fn: collections.Counter[str] = collections.Counter()
    incl_fn: collections.Counter[str] = collections.Counter()
    groups: collections.Counter[str] = collections.Counter()
    total = 0
    for row in path.read_text().splitlines():
        stack, _, count_s = row.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        total += count
        frames = [FRAME.match(f) for f in stack.split(";")]
        names = []
        for m in frames:
            if m is None:
                continue
            short = m["file"].split("site-packages/")[-1].replace(str(ROOT) + "/", "")
            names.append(f"{short}({m['func']})")
        for name in set(names):
            incl_fn[name] += count
        leaf = next((m for m in reversed(frames) if m is not None), None)
        if leaf is None:
            groups["other"] += count
            continue
        self_fn[names[-1]] += count
        source = linecache.getline(leaf["file"], int(leaf["line"]))
        groups[group_of(leaf["file"], leaf["func"], source)] += count
    total = total or 1
    return {
        "samples": total,
        "groups": {g: (n, 100 * n / total) for g, n in groups.most_common()},
        "top_self": [(n, c, 100 * c / total) for n, c in self_fn.most_common(top)],
        "top_inclusive": [(n, c, 100 * c / total) for n, c in incl_fn.most_common(top)],
    }


def serve(out: str, argv: list[str]) -> None:
    """twistd with a profiler that SIGUSR1 switches on and SIGUSR2 off (saving to C{out})."""
    import cProfile

    from twisted.scripts.twistd import run

    profiler = cProfile.Profile()

    def on(_sig: int, _frame: object) -> None:
        profiler.enable()

    def off(_sig: int, _frame: object) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, on)
    signal.signal(signal.SIGUSR2, off)
    sys.argv = ["twistd", *argv]
    run()


def find_pyspy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not os.access(found, os.X_OK):
        raise SystemExit("py-spy not found: `pip install py-spy` (any venv) and put it on PATH")
    return found


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_serve":
        serve(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiler", choices=("cprofile", "py-spy"), default="py-spy")
    parser.add_argument("--rate", type=float, help="msgs/s per sender (rooms load)")
    parser.add_argument("--joinstorm", type=int, metavar="N", help="profile N clients joining")
    parser.add_argument("--duration", type=float, default=15, help="profiled seconds")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=100, help="rooms, one sender each")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--lcbench", default=str(BENCH / "lcbench"), help="built lcbench binary")
    args = parser.parse_args()
    if (args.rate is None) == (args.joinstorm is None):
        parser.error("give --rate (rooms load) or --joinstorm N")

    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="lc-hotspots-"))
    stats_path, raw_path = tmp / "server.pstats", tmp / "pyspy.txt"
    listen = f"tcp:{port}:interface={HOST}"
    tail = ["littlecats", "--listen", listen, *PERF_LIMITS, "--db", "memory:"]
    options = ["-n", "--pidfile=", "--logfile=-"]
    if args.profiler == "cprofile":
        cmd = [sys.executable, __file__, "_serve", str(stats_path), *options, *tail]
    else:
        cmd = [twistd(), *options, *tail]
    warmup = 3.0
    storm = [
        "taskset", "-c", str(GEN_CPU), args.lcbench, "--port", str(port),
        "--clients", str(args.joinstorm), "--lc-prompt", "Escolha seu apelido", "--senders", "0",
        "--duration", "0", "--settle-quiet", "3", "--settle-timeout", "300", "--max-runtime", "300",
    ]  # fmt: skip
    lcbench = [
        "taskset", "-c", str(GEN_CPU), args.lcbench, "--port", str(port),
        "--clients", str(args.clients), "--lc-prompt", "Escolha seu apelido",
        "--senders", str(args.rooms), "--rooms", str(args.rooms), "--lc-join", "/join #bench%d",
        "--rate", str(args.rate), "--warmup", str(warmup), "--duration", str(args.duration),
        "--drain", "5", "--progress", "0.5", "--max-runtime", "300",
    ]  # fmt: skip
    server = Server("littlecats", cmd, port, cpu=SERVER_CPU)
    pyspy = None
    try:
        server.start()
        if args.joinstorm:
            out, cpu, pyspy = _profile_storm(server, storm, args, raw_path)
            _report(args, stats_path, raw_path, pyspy, f"joinstorm {args.joinstorm}", out, cpu)
            return
        lcbench += ["--server-pid", str(server.pid)]
        gen = subprocess.Popen(
            lcbench, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=raise_nofile,
        )  # fmt: skip
        assert gen.stderr is not None
        # The warmup begins once everyone joined: profile from then on, past the warmup.
        for line in gen.stderr:
            if re.search(r"\] (warmup|measure) ", line):
                break
        time.sleep(warmup)
        cpu0, t0 = server.cpu_s(), time.monotonic()
        if args.profiler == "cprofile":
            os.kill(server.pid, signal.SIGUSR1)
        else:
            pyspy = subprocess.Popen(
                [find_pyspy(), "record", "--pid", str(server.pid), "--format", "raw",
                 "--output", str(raw_path), "--rate", "250", "--duration",
                 str(int(args.duration)), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
        time.sleep(args.duration)
        cpu = (server.cpu_s() - cpu0) / (time.monotonic() - t0)
        if args.profiler == "cprofile":
            os.kill(server.pid, signal.SIGUSR2)
        elif pyspy is not None:
            pyspy.wait(60)
        out, _err = gen.communicate(timeout=400)
    finally:
        if pyspy is not None and pyspy.poll() is None:
            pyspy.kill()
        if args.profiler == "cprofile":
            with contextlib.suppress(OSError):
                os.kill(server.pid, signal.SIGUSR2)
            time.sleep(1)
        server.stop()
    _report(args, stats_path, raw_path, pyspy, "rooms", out, cpu)


def _profile_storm(
    server: Server, storm: list[str], args: argparse.Namespace, raw_path: Path
) -> tuple[str, float, subprocess.Popen | None]:
    """Run the join storm with the profiler on from the first connection to the end."""
    pyspy = None
    cpu0, t0 = server.cpu_s(), time.monotonic()
    if args.profiler == "cprofile":
        os.kill(server.pid, signal.SIGUSR1)
    else:
        pyspy = subprocess.Popen(
            [find_pyspy(), "record", "--pid", str(server.pid), "--format", "raw", "--output",
             str(raw_path), "--rate", "250", "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(1)
    out = subprocess.run(
        [*storm, "--server-pid", str(server.pid)], capture_output=True, text=True,
        preexec_fn=raise_nofile, timeout=400, check=False,
    ).stdout  # fmt: skip
    cpu = (server.cpu_s() - cpu0) / (time.monotonic() - t0)
    if args.profiler == "cprofile":
        os.kill(server.pid, signal.SIGUSR2)
        time.sleep(1)
    elif pyspy is not None:
        pyspy.send_signal(signal.SIGINT)  # py-spy writes its output and exits
        pyspy.wait(60)
    return out, cpu, pyspy


def _report(
    args: argparse.Namespace, stats_path: Path, raw_path: Path,
    pyspy: subprocess.Popen | None, what: str, out: str, cpu: float,
) -> None:  # fmt: skip
    result = json.loads(out)
    if what == "rooms":
        traffic = result.get("traffic", {})
        lat = traffic.get("latency_ms", {})
        print(
            f"load: {args.clients} clients, {args.rooms} rooms, {args.rooms} senders x "
            f"{args.rate:g} msg/s: {traffic.get('deliveries_per_s', 0):,.0f} deliveries/s, p50 "
            f"{lat.get('p50')} ms, p99 {lat.get('p99')} ms, lost {traffic.get('lost_total')}, "
            f"server CPU {100 * cpu:.0f} %, generator CPU {traffic.get('gen_cpu_pct')} %, "
            f"steal {traffic.get('steal_pct')}"
        )
    else:
        join = result.get("join", {})
        print(
            f"load: {what}: joined {join.get('joined')}, all notices "
            f"{join.get('notices')}/{join.get('notices_expected')} in "
            f"{join.get('all_notices_s')} s, server CPU {100 * cpu:.0f} %"
        )
    if args.profiler == "cprofile":
        report = cprofile_report(stats_path, args.top)
        print(f"\ncProfile, {report['total_s']:.2f} s of self time in the profiled window")
        print("\nself time by group:")
        for g, (t, pct) in report["groups"].items():
            print(f"  {pct:5.1f} %  {t:7.2f} s  {g}")
        print("\ntop by tottime:                       calls    tottime  %")
        for name, calls, t, pct in report["top_tottime"]:
            print(f"  {pct:5.1f} %  {t:7.2f} s  {calls:>9}  {name}")
        print("\ntop by cumtime:")
        for name, calls, t, pct in report["top_cumtime"]:
            print(f"  {pct:5.1f} %  {t:7.2f} s  {calls:>9}  {name}")
        print(f"\nstats: {stats_path}")
    else:
        if not raw_path.exists():
            raise SystemExit(f"py-spy wrote nothing: {pyspy.stderr.read() if pyspy else ''}")
        report = pyspy_report(raw_path, args.top)
        print(f"\npy-spy, {report['samples']} samples (250/s, idle time not sampled)")
        print("\nself samples by group:")
        for g, (n, pct) in report["groups"].items():
            print(f"  {pct:5.1f} %  {n:7}  {g}")
        print("\ntop by self samples:")
        for name, n, pct in report["top_self"]:
            print(f"  {pct:5.1f} %  {n:7}  {name}")
        print("\ntop by inclusive samples:")
        for name, n, pct in report["top_inclusive"]:
            print(f"  {pct:5.1f} %  {n:7}  {name}")
        print(f"\nraw stacks: {raw_path}")


if __name__ == "__main__":
    main()
