"""
Shared helpers for the benchmark and abuse scripts: where things are, how a server under test
is started (fresh, pinned to a CPU, in its own process group, with a raised open-file limit)
and always stopped, and how its RSS, CPU time and open descriptors are read from /proc.

Every littlecats server started through `littlecats_cmd` gets an explicit `--db`: `memory:`
unless the caller names another (never the server's default `sqlite:littlecats.db`, which would
be created in the repository).

Nothing here generates load or knows the chat protocol beyond the wire constants; the scripts
that import it (run.py, pyload.py, abuse.py, login_storm.py) do.  Everything is loopback only
(127.0.0.1).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HOST = "127.0.0.1"

PROMPT = "Escolha seu apelido:"
JOIN_NOTICE = "*** O cliente {nick} entrou no chat dos Little Cats."
GREETING = "*** Bem-vindo ao chat dos Little Cats!"

# Limits that would get in the way of a performance run (0 disables each); --max-sendq keeps
# its default on purpose.
PERF_LIMITS = [
    "--flood-rate", "0",
    "--max-per-ip", "0",
    "--connect-rate", "0",
    "--max-clients", "0",
    "--nick-timeout", "0",
]  # fmt: skip

# The database of every littlecats server a bench starts unless it asks for another: nothing is
# written to disk, nothing is left over from an earlier run.
DB_MEMORY = "memory:"

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def twistd() -> str:
    """The twistd next to the running interpreter (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "twistd"
    if beside.exists():
        return str(beside)
    found = shutil.which("twistd")
    if found is None:
        raise SystemExit("twistd not found: run with the project's venv python")
    return found


def littlecats_cmd(
    port: int, limits: list[str], twistd_path: str | None = None, db: str | None = DB_MEMORY
) -> list[str]:
    """The command line of a foreground `twistd littlecats` on 127.0.0.1:C{port}.

    C{db} is its C{--db} URL: by default C{memory:}, so that a bench never creates the
    server's default C{littlecats.db} in the working directory (the repository) nor reads
    accounts or history left by another run; give C{sqlite:PATH} (a file in a temporary
    directory) to measure a real database, or None for a tree whose server has no C{--db}
    option (run.py's littlecats-before).  C{twistd_path} picks another tree's twistd
    (littlecats-before: an older checkout with its own venv); by default the one next to the
    running interpreter.
    """
    return [
        # --logfile=-, never /dev/null: twistd rotates it
        twistd_path or twistd(), "-n", "--pidfile=", "--logfile=-",
        "littlecats", "--listen", f"tcp:{port}:interface={HOST}", *limits,
        *(["--db", db] if db is not None else []),
    ]  # fmt: skip


def baseline_cmd(port: int) -> list[str]:
    """The command line of the bare-Twisted baseline server on 127.0.0.1:C{port}."""
    return [sys.executable, str(BENCH / "baseline_server.py"), "--port", str(port)]


def free_port() -> int:
    """A TCP port that is free on the loopback right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def raise_nofile() -> None:
    """Raise this process's open-file limit to its hard limit (used as a child's preexec)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """C{cmd} run under `taskset -c cpu` when a CPU is given and taskset and that CPU exist."""
    if cpu is None or shutil.which("taskset") is None or cpu >= (os.cpu_count() or 1):
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


class Server:
    """A server under test: started fresh, in its own process group, killed by L{stop}.

    Its stdout and stderr (twistd's log, with --logfile=-) go to one temporary file that
    lives as long as this object: L{stderr} and L{log} read it back.  It runs in C{cwd}
    (default: the repository root); an older tree's server must run in that tree, so that
    nothing of this one is importable from its working directory.
    """

    def __init__(
        self, name: str, cmd: list[str], port: int, cpu: int | None = 1, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.port = port
        self.cmd = pinned(cmd, cpu)
        self.cwd = cwd or ROOT
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self.killed = False
        # Lives as long as the server (a file, not a pipe, so a chatty server never blocks).
        self._err = tempfile.TemporaryFile()  # noqa: SIM115

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 20.0) -> Server:
        """Start it and wait until it accepts connections."""
        self.proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._err,
            stderr=self._err,
            start_new_session=True,
            preexec_fn=raise_nofile,
            cwd=self.cwd,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"{self.name} exited with {code}: {self.stderr()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            time.sleep(0.3)  # let it account the probe connection and go idle
            return self
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {self.port} within {timeout}s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, term_timeout: float = 5.0) -> int | None:
        """Kill its whole process group: SIGTERM, then SIGKILL after C{term_timeout} s.

        Returns its exit status (negative: the signal that ended it; None: not started, or
        still there after SIGKILL); C{killed} says whether SIGKILL was needed, C{exit_code}
        keeps the status.  A server with something to write on shutdown (littlecats's
        history write-behind) needs the SIGTERM and a C{term_timeout} long enough for it.
        """
        proc, self.proc = self.proc, None
        if proc is None:
            return self.exit_code
        for sig, wait in ((signal.SIGTERM, term_timeout), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            self.killed = sig == signal.SIGKILL
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(wait)
        self.exit_code = proc.poll()
        return self.exit_code

    def stderr(self) -> str:
        """The last 2000 characters the server wrote to stdout or stderr."""
        return self.log()[-2000:]

    def log(self, limit: int = 64 << 20) -> str:
        """Everything (up to C{limit} bytes) the server wrote to stdout and stderr."""
        # pread: the server shares this file's offset, so seeking here would move its writes.
        return os.pread(self._err.fileno(), limit, 0).decode(errors="replace")

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def cpu_s(self) -> float:
        return cpu_seconds(self.pid)

    def fds(self) -> int:
        try:
            return len(os.listdir(f"/proc/{self.pid}/fd"))
        except OSError:
            return -1

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rss_kb(pid: int) -> int:
    """VmRSS of C{pid} in KiB (-1 if it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return -1


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used by C{pid} so far (-1 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return -1.0


def steal_snapshot() -> tuple[int, int]:
    """(total, steal) jiffies over all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values[:8]), values[7] if len(values) > 7 else 0


def steal_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of CPU time stolen by the hypervisor between two L{steal_snapshot}s, in %."""
    total = after[0] - before[0]
    return 100.0 * (after[1] - before[1]) / total if total > 0 else 0.0


def percentile(sorted_values: list[float], pct: float) -> float:
    """The C{pct}th percentile (nearest rank) of an already sorted list; NaN when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def ratio(a: float | None, b: float | None) -> str:
    """C{a}/C{b} formatted for a table, or '-' when either is missing."""
    if not a or not b or a != a or b != b:
        return "-"
    return f"{a / b:.2f}"


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Print a plain fixed-width table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    print(fmt.format(*header))
    print(fmt.format(*("-" * w for w in widths)))
    for row in rows:
        print(fmt.format(*(str(c) for c in row)))
