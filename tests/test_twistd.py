"""
End-to-end: a real `twistd -n littlecats` process, reached over TCP like a user would.
"""

from __future__ import annotations

import os
import re
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TIMEOUT = 60  # generous: a loaded CI machine can be slow to start a process


def _twistd(*args: str, cwd: Path) -> subprocess.Popen:
    twistd = Path(sys.executable).parent / "twistd"
    return subprocess.Popen(
        [str(twistd), "-n", "--pidfile=", "--logfile=-", "littlecats", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _read_until(process: subprocess.Popen, pattern: str) -> re.Match:
    """Read the server's log until a line matches C{pattern}.

    Reads the raw file descriptor (a buffered reader could hold the wanted line in its buffer
    while select() reports nothing more to read), keeping partial lines between calls.
    """
    fd = process.stdout.fileno()
    pending = _pending.setdefault(process.pid, bytearray())
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + TIMEOUT
    seen = []
    try:
        while True:
            while b"\n" in pending:
                raw, _, rest = bytes(pending).partition(b"\n")
                pending[:] = rest
                line = raw.decode("utf-8", "replace")
                seen.append(line)
                match = re.search(pattern, line)
                if match:
                    return match
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending += chunk
    finally:
        selector.close()
    log = "\n".join(seen)
    raise AssertionError(f"no log line matched {pattern!r}; log was:\n{log}")


_pending: dict[int, bytearray] = {}


class User:
    """A netcat-like user: a socket, read line by line."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.file = self.sock.makefile("rb")

    def say(self, text: str) -> None:
        self.sock.sendall(text.encode("utf-8") + b"\n")

    def expect(self, count: int = 1) -> list[str]:
        return [self.file.readline().decode("utf-8").rstrip("\r\n") for _ in range(count)]

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[subprocess.Popen, int]]:
    process = _twistd("--listen", "tcp:0:interface=127.0.0.1", cwd=tmp_path)
    try:
        port = int(_read_until(process, r"littlecats-telnet starting on (\d+)").group(1))
        yield process, port
    finally:
        process.terminate()
        process.wait(TIMEOUT)
        process.stdout.close()


def test_chat_through_real_twistd(server, tmp_path):
    """Two users chat through a real `twistd littlecats` process, and the join is logged."""
    process, port = server
    ana, bia = User(port), User(port)
    try:
        assert ana.expect(2)[-1] == "Escolha seu apelido:"
        ana.say("ana")
        assert ana.expect() == ["*** O cliente ana entrou no chat dos Little Cats."]
        _read_until(process, r"ana se conectou com o IP 127\.0\.0\.1 por meio da porta \d+\.")
        bia.expect(2)
        bia.say("bia")
        assert bia.expect() == ["*** O cliente bia entrou no chat dos Little Cats."]
        assert ana.expect() == ["*** O cliente bia entrou no chat dos Little Cats."]
        bia.say("olá, ana!")
        assert ana.expect() == ["<bia> olá, ana!"]
        assert bia.expect() == ["<bia> olá, ana!"]
        bia.say("/quit")
        assert bia.expect() == ["*** Até logo, bia!"]
        assert bia.file.readline() == b""
        assert ana.expect() == ["*** bia saiu do chat dos Little Cats."]
    finally:
        ana.close()
        bia.close()
    assert not (tmp_path / "twistd.pid").exists()


def test_port_in_use_exits_nonzero(tmp_path):
    """When the port cannot be bound, twistd littlecats exits non-zero and says why."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _twistd("--listen", f"tcp:{port}:interface=127.0.0.1", cwd=tmp_path)
        output, _ = process.communicate(timeout=TIMEOUT)
    assert process.returncode != 0
    assert b"Address already in use" in output


def test_english_on_request(tmp_path):
    """`--lang en` makes the server speak English."""
    process = _twistd("--listen", "tcp:0:interface=127.0.0.1", "--lang", "en", cwd=tmp_path)
    try:
        port = int(_read_until(process, r"starting on (\d+)").group(1))
        user = User(port)
        assert user.expect(2) == ["*** Welcome to the Little Cats chat!", "Choose your nickname:"]
        user.say("ana")
        assert user.expect() == ["*** ana joined the Little Cats chat."]
        _read_until(process, r"ana connected from IP 127\.0\.0\.1 through port \d+\.")
        user.close()
    finally:
        process.terminate()
        process.wait(TIMEOUT)
        process.stdout.close()


def test_sigterm_tells_everyone_and_exits_zero(tmp_path):
    """On SIGTERM every user is told the server is shutting down, and twistd exits 0."""
    process = _twistd("--listen", "tcp:0:interface=127.0.0.1", cwd=tmp_path)
    try:
        port = int(_read_until(process, r"starting on (\d+)").group(1))
        ana, waiting = User(port), User(port)
        ana.expect(2)
        waiting.expect(2)
        ana.say("ana")
        ana.expect()
        process.terminate()
        notice = "*** O servidor está sendo desligado. Até breve!"
        assert ana.expect() == [notice]
        assert waiting.expect() == [notice]
        assert ana.file.readline() == b"" and waiting.file.readline() == b""
        assert process.wait(TIMEOUT) == 0
        ana.close()
        waiting.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
        process.stdout.close()
