"""
Shared fixtures: a PostgreSQL server for the storage tests, and a fresh database per test.

Where the server comes from, in order:

 1. C{LITTLECATS_TEST_POSTGRESQL}: the URL of a running server whose user may create
    databases (e.g. C{postgresql://postgres@127.0.0.1:5432/postgres}).  If it cannot be
    reached the tests fail: it was asked for.
 2. A throw-away server: C{initdb} and C{pg_ctl} from C{/usr/lib/postgresql/*/bin} (newest
    first) or the PATH; C{LITTLECATS_TEST_POSTGRESQL_BIN} names another directory to look in
    instead (a directory without them, e.g. C{/nonexistent}, simulates a machine without
    PostgreSQL).  It lives in a temporary directory, listens on 127.0.0.1 on a free port (and
    a unix socket in that directory), runs without fsync, and is stopped and removed at the
    end of the session.  Run as root, the binaries run as the C{postgres} user (else
    C{nobody}): initdb refuses root.
 3. Neither: the PostgreSQL tests are skipped, with the reason in pytest's summary (C{-rs}),
    unless C{LITTLECATS_REQUIRE_POSTGRESQL} is set (CI): then they fail.

Each test that asks for C{postgresql_url} gets a database of its own, C{lc_test_<hex>},
created from C{template0} in UTF-8 and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

PG_URL_ENV = "LITTLECATS_TEST_POSTGRESQL"
PG_REQUIRE_ENV = "LITTLECATS_REQUIRE_POSTGRESQL"
PG_BIN_ENV = "LITTLECATS_TEST_POSTGRESQL_BIN"
NO_POSTGRESQL = f"no PostgreSQL: set {PG_URL_ENV} or install postgresql"


def _without_postgresql(reason: str) -> None:
    """Skip, or fail when CI requires PostgreSQL."""
    if os.environ.get(PG_REQUIRE_ENV):
        pytest.fail(f"{reason} ({PG_REQUIRE_ENV} is set, so this is an error)", pytrace=False)
    pytest.skip(reason)


def _version_key(bindir: str) -> tuple[int, ...]:
    version = Path(bindir).parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def find_postgresql_bin() -> Path | None:
    """The directory holding C{initdb} and C{pg_ctl}, or None."""
    override = os.environ.get(PG_BIN_ENV)
    if override is not None:
        candidates = [override]
    else:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key)[::-1]
        on_path = shutil.which("initdb")
        if on_path:
            candidates.append(os.path.dirname(on_path))
    for candidate in candidates:
        bindir = Path(candidate)
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return bindir
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowAwayPostgreSQL:
    """A PostgreSQL cluster in a temporary directory, for one test session."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="littlecats-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "postgresql.log"
        self.port = _free_port()
        self.user: tuple[int, int] | None = None
        if os.geteuid() == 0:
            account = None
            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    account = pwd.getpwnam(name)
                    break
            if account is None:
                raise RuntimeError("running as root, and there is no postgres or nobody user")
            self.user = (account.pw_uid, account.pw_gid)
            os.chown(self.root, *self.user)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kw = {}
        if self.user is not None:
            kw = {"user": self.user[0], "group": self.user[1], "extra_groups": []}
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **kw,
        )

    def start(self) -> None:
        done = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "--encoding=UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        if done.returncode:
            raise RuntimeError(f"initdb failed: {(done.stdout + done.stderr)[-1500:]}")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        done = self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", options,
            "-w", "-t", "60", "start",
        )  # fmt: skip
        if done.returncode:
            log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {(done.stdout + done.stderr + log)[-1500:]}")

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _admin(url: str):  # -> psycopg.Connection
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=10)


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[str]:
    """The URL of a PostgreSQL server (see the module's docstring), as its superuser."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _without_postgresql("no PostgreSQL: psycopg is not installed")
    url = os.environ.get(PG_URL_ENV)
    if url:
        try:
            _admin(url).close()
        except Exception as e:
            from littlecats.storage.sql import mask_url

            pytest.fail(f"{PG_URL_ENV}={mask_url(url)}: cannot connect: {e}", pytrace=False)
        yield url
        return
    bindir = find_postgresql_bin()
    if bindir is None:
        _without_postgresql(NO_POSTGRESQL)
    server = ThrowAwayPostgreSQL(bindir)
    try:
        server.start()
    except Exception as e:
        server.stop()
        pytest.fail(f"could not start a throw-away PostgreSQL from {bindir}: {e}", pytrace=False)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgresql_url(postgresql_server: str) -> Iterator[str]:
    """The URL of a fresh, empty database on L{postgresql_server}, dropped after the test."""
    name = f"lc_test_{uuid.uuid4().hex[:16]}"
    with _admin(postgresql_server) as admin:
        encoding = "TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
        admin.execute(f"CREATE DATABASE {name} {encoding}")
    try:
        yield urlsplit(postgresql_server)._replace(path=f"/{name}").geturl()
    finally:
        with _admin(postgresql_server) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
