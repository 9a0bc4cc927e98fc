"""
An irctest controller for Little Cats: runs the IRC conformance suite progval/irctest against a
real `twistd littlecats` process.

irctest imports this module by name (`pytest --controller littlecats_controller`, with this
directory on PYTHONPATH; see run.sh and README.md here) and calls
`get_irctest_controller_class()`.  For each test the controller starts

    twistd -n --pidfile= littlecats --irc tcp:PORT:interface=127.0.0.1
        --listen tcp:PORT2:interface=127.0.0.1 --server-name My.Little.Server
        --db memory: --lang en --operator operuser --flood-rate 0 --max-per-ip 0
        --connect-rate 0 ...

in a temporary directory (an `ssl:` endpoint with a fresh self-signed certificate instead when a
test asks for TLS), waits for the `littlecats-... starting on PORT` lines of both listeners in
its log (no probing connection, so none counts in LUSERS), and registers irctest's operator
account (`operuser` / `operpassword`) before the test runs.  Accounts are registered nicknames:
`registerUser` connects to the telnet listener, takes the nickname and sends
`/register PASSWORD`, waiting for the confirmation (or an error line) with a deadline.

Environment: `LITTLECATS_TWISTD` (the twistd to run; default: the one beside this Python, then
PATH), `LITTLECATS_IRCTEST_ARGS` (more `twistd littlecats` options, shell-quoted),
`IRCTEST_DEBUG_LOGS=1` (echo the server's log).

Run standalone (`python littlecats_controller.py`) it checks its own plumbing against the
installed Little Cats: a server with the telnet listener only, an account registered through it,
and a second registration of the same name refused.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from irctest.basecontrollers import (
    BaseServerController,
    DirectoryBasedController,
    ProcessStopped,
    TestCaseControllerConfig,
)
from irctest.runner import ImplementationChoice, NotImplementedByController
from irctest.specifications import Capabilities, OptionalBehaviors

from littlecats.accounts import MIN_PASSWORD_CHARS
from littlecats.messages import Catalog

SERVER_NAME = "My.Little.Server"
"""The server name irctest's tests expect (connection_registration, who, time)."""
OPER_ACCOUNT = "operuser"
OPER_PASSWORD = "operpassword"
"""What irctest's tests send to become an IRC operator (`OPER operuser operpassword`)."""
START_TIMEOUT = 60.0
"""Seconds for twistd to start listening."""
REGISTER_TIMEOUT = 30.0
"""Seconds for a whole registration through the telnet door (argon2 hashing included)."""
LISTENING = re.compile(r"\blittlecats-[\w.-]+(?: \(TLS\))? starting on (\d+)\s*$")
"""A listener's start in twistd's log: `littlecats-irc starting on 6667`."""

_CATALOG = Catalog("en")


def _door_caps() -> frozenset[str] | None:
    """The capabilities the IRC door offers (None: this Little Cats has no `caps.py`)."""
    try:
        from littlecats.doors.irc.caps import SUPPORTED
    except ImportError:
        return None
    return frozenset(SUPPORTED)


def find_twistd() -> str:
    """The twistd to run: $LITTLECATS_TWISTD, the one beside this Python, or PATH's."""
    explicit = os.environ.get("LITTLECATS_TWISTD")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "twistd"
    if beside.exists():
        return str(beside)
    found = shutil.which("twistd")
    if found is None:
        raise RuntimeError("no twistd: set LITTLECATS_TWISTD or run from the project's venv")
    return found


def _listen_host(hostname: str) -> str:
    """The address to listen on for irctest's C{hostname} (it hands out C{0.0.0.0}, which its
    clients reach as the local host): loopback, unless a specific address is named."""
    if hostname in ("", "0.0.0.0", "localhost"):
        return "127.0.0.1"
    return socket.gethostbyname(hostname)


def _printable(line: str) -> str:
    """C{line} without the telnet negotiation a password prompt carries."""
    return "".join(c for c in line if c.isprintable() and c != "\ufffd")


class RegistrationFailed(Exception):
    """The telnet door did not confirm a registration."""

    def __init__(self, message: str, line: str = "") -> None:
        super().__init__(message)
        self.line = line
        """The server's refusal, if it gave one."""


def register_account(
    host: str, port: int, nick: str, password: str, timeout: float = REGISTER_TIMEOUT
) -> None:
    """Register C{nick} with C{password} through the telnet door at C{host}:C{port}, as a user
    does: nickname line, `/register PASSWORD`, `/quit`.

    Waits for each answer (the prompt, the user's own join notice, the confirmation, the
    close) up to a shared deadline;
    raises L{RegistrationFailed} with the server's words if it refuses (a taken or invalid
    nickname, a short password, an account that exists) or does not answer in time.
    """
    deadline = time.monotonic() + timeout
    prompt = _CATALOG.text("nick-prompt")
    joined = _CATALOG.text("joined", nick=nick)
    confirmed = _CATALOG.text("registered", nick=nick)
    password_prompt = _CATALOG.text("password-prompt", nick=nick)
    with socket.create_connection((host, port), timeout=timeout) as conn:
        received = bytearray()

        def wait_for(*wanted: str) -> str:
            """Read until a line (or the unfinished end of the input) holds one of C{wanted}
            or is an error line (`!!! ...`); return it."""
            while True:
                text = received.decode("utf-8", "replace")
                for line in text.splitlines():
                    if line.startswith("!!!") or any(w in line for w in wanted):
                        del received[:]
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RegistrationFailed(f"{nick}: no {wanted!r} in time; got {text!r}")
                conn.settimeout(remaining)
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                if not data:
                    raise RegistrationFailed(f"{nick}: connection closed; got {text!r}")
                received.extend(data)

        line = wait_for(prompt)
        if line.startswith("!!!"):
            raise RegistrationFailed(f"{nick}: refused on connecting: {line}")
        conn.sendall(f"{nick}\r\n".encode())
        line = wait_for(joined, password_prompt)
        if line != joined:
            raise RegistrationFailed(f"{nick}: {_printable(line)}", _printable(line))
        conn.sendall(f"/register {password}\r\n".encode())
        line = wait_for(confirmed)
        if line != confirmed:
            raise RegistrationFailed(f"{nick}: {_printable(line)}", line)
        conn.sendall(b"/quit\r\n")
        # The server closes after handling /quit: the user is gone (not counted by LUSERS)
        # before the test starts.
        while time.monotonic() < deadline:
            conn.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                if not conn.recv(4096):
                    return
            except TimeoutError:
                continue
            except ConnectionResetError:
                return
        raise RegistrationFailed(f"{nick}: registered, but the server did not close after /quit")


class LittleCatsController(BaseServerController, DirectoryBasedController):
    software_name = "Little Cats"
    supported_sasl_mechanisms = frozenset({"PLAIN"})
    supports_sts = False
    # What the door offers, among the capabilities irctest knows: a test that requests one of
    # these fails (instead of being skipped) if the server refuses it.
    capabilities = frozenset(cap for cap in Capabilities if cap.value in (_door_caps() or ()))
    # Claimed behaviours turn irctest's skips into failures. caps.py: `CAP REQ :-name`
    # disables a capability.
    optional_behaviors = (
        frozenset({OptionalBehaviors.CAP_REQ_MINUS}) if _door_caps() is not None else frozenset()
    )
    sync_sleep_time = 0.0

    def __init__(self, test_config: TestCaseControllerConfig) -> None:
        super().__init__(test_config)
        self.telnet_host = "127.0.0.1"
        self.telnet_port = 0
        self._output: collections.deque[str] = collections.deque(maxlen=200)
        self._listening: set[int] = set()
        self._expected: set[int] = set()
        self._changed = threading.Condition()

    # -- starting and stopping ------------------------------------------------------------

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: str | None,
        ssl: bool,
        run_services: bool,
        faketime: str | None,
        websocket_hostname: str | None = None,
        websocket_port: int | None = None,
    ) -> None:
        try:
            self._run(hostname, port, password, ssl, faketime, websocket_port)
        except BaseException:
            # unittest skips tearDown when setUp fails or skips: stop the server, free the
            # ports (the test's own included).
            self.kill()
            raise

    def _run(
        self,
        hostname: str,
        port: int,
        password: str | None,
        ssl: bool,
        faketime: str | None,
        websocket_port: int | None,
    ) -> None:
        if password is not None:
            raise NotImplementedByController("PASS command (no server password)")
        if websocket_port is not None:
            raise NotImplementedByController("Websocket")
        assert self.proc is None
        self.hostname = hostname
        self.port = port
        self.port_open = False
        self.create_config()
        assert self.directory is not None
        host = _listen_host(hostname)
        (_, self.telnet_port) = self.get_hostname_and_port()
        self.telnet_host = host
        if ssl:
            key, cert = self._self_signed()
            irc = f"ssl:{port}:interface={host}:privateKey={key}:certKey={cert}"
        else:
            irc = f"tcp:{port}:interface={host}"
        command = [
            find_twistd(),
            "-n",
            "--pidfile=",
            "littlecats",
            "--irc",
            irc,
            "--listen",
            f"tcp:{self.telnet_port}:interface={host}",
            "--server-name",
            SERVER_NAME,
            "--db",
            "memory:",
            "--lang",
            "en",
            "--operator",
            OPER_ACCOUNT,
            # irctest opens many connections from 127.0.0.1 and sends bursts of lines.
            "--flood-rate",
            "0",
            "--max-per-ip",
            "0",
            "--connect-rate",
            "0",
            "--max-clients",
            "0",
            *shlex.split(os.environ.get("LITTLECATS_IRCTEST_ARGS", "")),
        ]
        if faketime and shutil.which("faketime"):
            command = ["faketime", "-f", faketime, *command]
            self.faketime_enabled = True
        self._start(command, {port, self.telnet_port})
        self.wait_for_port()
        register_account(self.telnet_host, self.telnet_port, OPER_ACCOUNT, OPER_PASSWORD)

    def _start(self, command: list[str], ports: set[int]) -> None:
        self._output.clear()
        self._listening = set()
        self._expected = set(ports)
        self._output.append("$ " + shlex.join(command))
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = self.execute(
            command,
            proc_name="littlecats",
            cwd=self.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(
            target=self._read_log, args=(self.proc,), name="littlecats-log", daemon=True
        ).start()

    def _read_log(self, proc: subprocess.Popen) -> None:
        """Keep the server's last log lines, note its listeners as they start, and echo the
        log with IRCTEST_DEBUG_LOGS."""
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if self.debug_mode:
                with contextlib.suppress(ValueError):  # stdout closed at the end of the session
                    print(f"{time.time():.3f} littlecats {line}", flush=True)
            with self._changed:
                self._output.append(line)
                match = LISTENING.search(line)
                if match:
                    self._listening.add(int(match.group(1)))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def log_tail(self) -> str:
        with self._changed:
            return "\n".join(self._output)

    def wait_for_port(self) -> None:
        """Wait until every listener has logged its start: no probing connection is made."""
        if self.port_open:
            return
        deadline = time.monotonic() + START_TIMEOUT
        with self._changed:
            while not self._expected <= self._listening:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    self._changed.wait(0.5)  # the log's last lines (a usage error)
                    raise ProcessStopped(
                        f"twistd littlecats exited with {self.proc.returncode}:\n"
                        + "\n".join([self._output[0], "...", *list(self._output)[-12:]])
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProcessStopped(
                        f"twistd littlecats did not listen on {sorted(self._expected)} within "
                        f"{START_TIMEOUT:g} s:\n" + "\n".join(self._output)
                    )
                self._changed.wait(min(remaining, 0.5))
        self.port_open = True

    def wait_for_services(self) -> None:
        """Accounts are the server's own: nothing else to wait for."""

    def _self_signed(self) -> tuple[Path, Path]:
        """A fresh key and self-signed certificate in the configuration directory."""
        assert self.directory is not None
        key = self.directory / "tls.key"
        cert = self.directory / "tls.pem"
        subprocess.run(
            [
                getattr(self, "openssl_bin", "openssl"),
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                f"/CN={SERVER_NAME}",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return key, cert

    # -- accounts -------------------------------------------------------------------------

    def registerUser(self, case: Any, username: str, password: str | None = None) -> None:
        """Register C{username} as a Little Cats account (a registered nickname), through the
        telnet door."""
        if password is None:
            raise NotImplementedByController("account registration without a password")
        self.wait_for_port()
        try:
            register_account(self.telnet_host, self.telnet_port, username, password)
        except RegistrationFailed as failed:
            # sasl.py's re-authentication tests register "foo" with the password "bar":
            # shorter than Little Cats accepts, a choice of this server, not a failure.
            if failed.line == _CATALOG.text("err-password-short", min=MIN_PASSWORD_CHARS):
                raise ImplementationChoice(
                    f"passwords have at least {MIN_PASSWORD_CHARS} characters; "
                    f"the test registers {username!r} with {password!r}"
                ) from None
            raise


def get_irctest_controller_class() -> type[LittleCatsController]:
    return LittleCatsController


def _self_check() -> int:
    """Start a telnet-only server (no IRC door needed) and register an account through it."""
    controller = LittleCatsController(TestCaseControllerConfig())
    controller.create_config()
    (hostname, port) = controller.get_hostname_and_port()
    controller.telnet_host = _listen_host(hostname)
    controller.telnet_port = port
    command = [
        find_twistd(),
        "-n",
        "--pidfile=",
        "littlecats",
        "--listen",
        f"tcp:{port}:interface={controller.telnet_host}",
        "--db",
        "memory:",
        "--lang",
        "en",
        "--operator",
        OPER_ACCOUNT,
        "--flood-rate",
        "0",
        "--max-per-ip",
        "0",
        "--connect-rate",
        "0",
    ]
    try:
        controller._start(command, {port})
        controller.wait_for_port()
        started = time.monotonic()
        register_account(controller.telnet_host, port, OPER_ACCOUNT, OPER_PASSWORD)
        register_account(controller.telnet_host, port, "jilles", "é" * 100)
        print(f"registered two accounts in {time.monotonic() - started:.2f} s")
        try:
            register_account(controller.telnet_host, port, "jilles", "sesame")
        except RegistrationFailed as refused:
            print(f"second registration refused, as it should be: {refused}")
        else:
            print("FAIL: a registered nickname was registered again")
            return 1
        try:
            register_account(controller.telnet_host, port, "shorty", "abc")
        except RegistrationFailed as refused:
            print(f"short password refused, as it should be: {refused}")
        else:
            print("FAIL: a 3-character password was accepted")
            return 1
    finally:
        controller.kill()
        print(controller.log_tail())
    print("self-check passed")
    return 0


if __name__ == "__main__":
    sys.exit(_self_check())
