"""
End-to-end tests of the interactive client in a pseudo-terminal, against a real server.

The server runs in this process on an ephemeral loopback port (the real `makeService` tree);
the client runs as `python -m littlecats.client` under pexpect, driven from a worker thread so
the reactor keeps serving while the test waits on the terminal.  What the client draws is fed
into the `Screen` emulator, and the tests assert on what a person would see.
"""

from __future__ import annotations

import os
import sys
import time

import pexpect
import pytest
import pytest_twisted
from twisted.internet import defer, endpoints, reactor, threads
from twisted.internet.threads import blockingCallFromThread
from twisted.protocols.policies import WrappingFactory

from littlecats.tap import Options, makeService
from tests.helpers import LineClient
from tests.test_client_tui import Screen

TIMEOUT = 10
ROWS, COLUMNS = 12, 60


class Server:
    """A real server tree on a loopback port that can be killed and started again on that port."""

    def __init__(self) -> None:
        self.port = 0
        self.top = None
        self.wrapper: WrappingFactory | None = None

    async def start(self) -> None:
        options = Options()
        options.parseOptions(
            ["--listen", f"tcp:{self.port}:interface=127.0.0.1", "--lang", "en", "--db", "memory:"]
        )
        self.top = makeService(options, reactor=reactor)
        listener = next(s for s in self.top if s.name and s.name.startswith("listen"))
        # Track the server side of every connection, so a "crash" can drop them all.
        self.wrapper = listener.factory = WrappingFactory(listener.factory)
        self.top.privilegedStartService()
        self.top.startService()
        port = await listener._waitingForPort
        self.port = port.getHost().port

    async def stop(self) -> None:
        """Stop as a crash would: every connection dropped, the port closed."""
        for protocol in list(self.wrapper.protocols):
            protocol.transport.abortConnection()
        await defer.maybeDeferred(self.top.stopService)


async def _peer(port: int, nick: str) -> LineClient:
    endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    peer = await endpoints.connectProtocol(endpoint, LineClient())
    peer.say(nick)
    await peer.wait_for(f" {nick} ")
    return peer


class Client:
    """The interactive client in a pseudo-terminal, as seen on its screen."""

    def __init__(self, port: int, nick: str) -> None:
        env = dict(os.environ, TERM="xterm-256color")
        env.pop("NO_COLOR", None)
        env.pop("LITTLECATS_PASSWORD", None)
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "littlecats.client", "127.0.0.1", str(port), "--nick", nick, "--lang", "en"],
            dimensions=(ROWS, COLUMNS),
            env=env,
            timeout=TIMEOUT,
        )
        self.screen = Screen(ROWS, COLUMNS)
        self.raw = b""
        """Everything the client wrote to the terminal."""

    def waitUntil(self, condition, what: str) -> None:
        """Read the terminal until C{condition(screen)} holds, or fail after the timeout."""
        deadline = time.monotonic() + TIMEOUT
        while not condition(self.screen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}:\n{self.screen.text()}")
            try:
                data = self.child.read_nonblocking(65536, timeout=remaining)
            except pexpect.TIMEOUT:
                continue
            self.raw += data
            self.screen.feed(data)

    def waitFor(self, text: str) -> None:
        self.waitUntil(lambda screen: text in screen.text(), repr(text))

    def quit(self) -> int:
        """Ctrl-D on an empty line; the exit status once the client has ended."""
        self.child.send("\x15\x04")
        self.child.expect(pexpect.EOF)
        self.child.close()
        return self.child.exitstatus


@pytest.fixture
def server():
    server = Server()
    pytest_twisted.blockon(defer.ensureDeferred(server.start()))
    yield server
    pytest_twisted.blockon(defer.ensureDeferred(server.stop()))


@pytest_twisted.ensureDeferred
async def test_incoming_message_does_not_break_the_line_being_typed(server):
    """A message arriving mid-typing leaves the half-typed line intact; it is sent whole."""
    bob = await _peer(server.port, "bob")

    def scenario() -> None:
        client = Client(server.port, "ana")
        client.waitFor("ana joined")
        client.child.send("olá, João 日本 half")
        client.waitUntil(lambda s: s.line(-1) == "[ana] olá, João 日本 half", "typed text")
        cursor = client.screen.cursor
        blockingCallFromThread(reactor, bob.say, "hello ana")
        client.waitFor("<bob> hello ana")
        assert client.screen.line(-1) == "[ana] olá, João 日本 half"
        assert client.screen.cursor == cursor
        client.child.send(" done\r")
        line = blockingCallFromThread(reactor, lambda: defer.ensureDeferred(bob.wait_for("<ana>")))
        assert line == "<ana> olá, João 日本 half done"
        assert client.quit() == 0

    await threads.deferToThread(scenario)
    bob.transport.loseConnection()
    await bob.closed


@pytest_twisted.ensureDeferred
async def test_reconnects_after_a_server_restart_with_the_same_nickname(server):
    """When the server restarts, the client says so, reconnects by itself and rejoins as before."""

    def scenario() -> None:
        client = Client(server.port, "ana")
        client.waitFor("ana joined")
        blockingCallFromThread(reactor, lambda: defer.ensureDeferred(server.stop()))
        client.waitFor("connection to the server dropped")
        client.waitUntil(lambda s: "reconnecting in" in s.line(-2), "the retry in the status")
        blockingCallFromThread(reactor, lambda: defer.ensureDeferred(server.start()))
        client.waitUntil(lambda s: s.text().count("ana joined") == 2, "the rejoin")
        client.waitUntil(lambda s: "online" in s.line(-2), "online status")
        bob = blockingCallFromThread(
            reactor, lambda: defer.ensureDeferred(_peer(server.port, "bob"))
        )
        client.child.send("back again\r")
        line = blockingCallFromThread(reactor, lambda: defer.ensureDeferred(bob.wait_for("<ana>")))
        assert line == "<ana> back again"
        assert client.quit() == 0
        blockingCallFromThread(reactor, bob.transport.loseConnection)

    await threads.deferToThread(scenario)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pty behaviour checked on Linux")
@pytest_twisted.ensureDeferred
async def test_terminal_is_restored_after_quit(server):
    """After /quit the client leaves the alternate screen and exits 0."""

    def scenario() -> None:
        client = Client(server.port, "ana")
        client.waitFor("ana joined")
        client.child.send("/quit bye\r")
        client.child.expect(pexpect.EOF)
        client.child.close()
        assert client.child.exitstatus == 0
        assert b"\x1b[?1049l" in client.child.before

    await threads.deferToThread(scenario)


@pytest_twisted.ensureDeferred
async def test_status_line_follows_the_room_and_tab_completes_it(server):
    """The status line shows the room the user is in, from the lobby to a room joined with a
    Tab-completed name, and the room's lines show up."""
    bob = await _peer(server.port, "bob")
    bob.say("/join #gatinhos")
    await bob.wait_for("In #gatinhos")

    def scenario() -> None:
        client = Client(server.port, "ana")
        client.waitUntil(lambda s: "#lobby" in s.line(-2), "the lobby in the status line")
        client.child.send("/rooms\r")
        client.waitFor("#gatinhos (1)")
        client.child.send("/join #gat\t")
        client.waitUntil(lambda s: s.line(-1).startswith("[ana] /join #gatinhos"), "completion")
        client.child.send("\r")
        client.waitUntil(lambda s: "#gatinhos" in s.line(-2), "the room in the status line")
        blockingCallFromThread(reactor, bob.say, "miau")
        client.waitFor("<bob> miau")
        assert client.quit() == 0

    await threads.deferToThread(scenario)
    bob.transport.loseConnection()
    await bob.closed


@pytest_twisted.ensureDeferred
async def test_password_is_typed_unseen_and_a_ghost_stops_the_client(server):
    """A registered nickname: the client asks for the password on an input line that shows
    nothing of it, joins once it is accepted, and, when the nickname is identified from
    another connection, says so and stays closed instead of reconnecting."""
    secret = "pty-s3cret"
    owner = await _peer(server.port, "ana")
    owner.say(f"/register {secret}")
    await owner.wait_for("is now yours")
    owner.transport.loseConnection()
    await owner.closed

    def scenario() -> None:
        client = Client(server.port, "ana")
        client.waitFor("type its password")
        client.waitUntil(lambda s: s.line(-1) == "[password]", "the password input line")
        client.child.send(secret)
        client.child.send("\r")
        client.waitFor("You are identified as ana.")
        assert secret.encode() not in client.raw
        thief = blockingCallFromThread(
            reactor, lambda: defer.ensureDeferred(_identify(server.port, "ana", secret))
        )
        client.waitUntil(lambda s: "closed" in s.line(-2), "the closed state")
        shown = " ".join(client.screen.text().split())  # long lines wrap
        assert "identified from another connection; this one is being closed." in shown
        assert "not reconnecting" in shown
        assert client.quit() == 0
        blockingCallFromThread(reactor, thief.transport.loseConnection)

    await threads.deferToThread(scenario)


class _EchoOffered(LineClient):
    """A line user whose CR LF makes the server offer to stop echoing the password: the
    offer (IAC WILL ECHO, then IAC WONT ECHO) is left out of the lines."""

    def lineReceived(self, line: bytes) -> None:
        super().lineReceived(line.replace(b"\xff\xfb\x01", b"").replace(b"\xff\xfc\x01", b""))


async def _identify(port: int, nick: str, password: str) -> LineClient:
    """A raw connection that takes the registered C{nick} with its C{password}."""
    endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port)
    peer = await endpoints.connectProtocol(endpoint, _EchoOffered())
    peer.say(nick)
    await peer.wait_for("type its password")
    peer.say(password)
    await peer.wait_for("identified as")
    return peer
