"""
End-to-end tests of pipe mode: `python -m littlecats.client` as a subprocess with pipes for
standard input and output, against a real server in this process on a loopback port 0 (or a
hostile one, to prove the client's own defences).
"""

from __future__ import annotations

import os
import sys

import pytest
import pytest_twisted
from twisted.internet import defer, endpoints, protocol, reactor
from twisted.internet.error import ProcessDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from littlecats.client.pipe import PipeView
from littlecats.client.protocol import ChatSession
from littlecats.messages import Catalog
from littlecats.tap import Options, makeService
from tests.test_client_pty import _peer

TIMEOUT = 10


class ClientProcess(protocol.ProcessProtocol):
    """The client subprocess: what it wrote on stdout and stderr, and how it ended."""

    def __init__(self) -> None:
        self.stdout = b""
        self.stderr = b""
        self.ended: defer.Deferred[int] = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self.stdout += data

    def errReceived(self, data: bytes) -> None:
        self.stderr += data

    def processEnded(self, reason) -> None:
        code = 0 if reason.check(ProcessDone) else reason.value.exitCode
        self.code = code
        self.ended.callback(code)


def _spawn(port: int, *args: str) -> ClientProcess:
    client = ClientProcess()
    argv = [sys.executable, "-m", "littlecats.client", "127.0.0.1", str(port), *args]
    reactor.spawnProcess(client, sys.executable, argv, env=dict(os.environ))
    return client


async def _run(port: int, stdin: str, *args: str) -> ClientProcess:
    """Run the client with C{stdin} as its whole input; return once it has exited."""
    client = _spawn(port, *args)
    client.transport.write(stdin.encode("utf-8"))
    client.transport.closeStdin()
    await client.ended.addTimeout(TIMEOUT, reactor)
    return client


@pytest.fixture
def server():
    """A real `makeService` tree listening on an ephemeral loopback port, in Portuguese."""
    options = Options()
    options.parseOptions(["--listen", "tcp:0:interface=127.0.0.1", "--db", "memory:"])
    top = makeService(options, reactor=reactor)
    top.privilegedStartService()
    top.startService()
    listener = next(s for s in top if s.name and s.name.startswith("listen"))
    port = pytest_twisted.blockon(listener._waitingForPort)
    yield port.getHost().port
    pytest_twisted.blockon(defer.maybeDeferred(top.stopService))


@pytest_twisted.ensureDeferred
async def test_pipe_sends_input_prints_everything_and_exits_zero(server):
    """Input lines are sent, every received line is printed as plain text, EOF quits with 0."""
    bob = await _peer(server, "bob")
    client = await _run(server, "olá, João!\n/msg bob psst\n/me waves\n", "--nick", "ana")
    assert client.code == 0
    out = client.stdout.decode("utf-8").splitlines()
    assert out[0] == "*** Bem-vindo ao chat dos Little Cats!"
    assert "Escolha seu apelido:" in out
    assert "*** O cliente ana entrou no chat dos Little Cats." in out
    assert "<ana> olá, João!" in out
    assert "[privado para bob] psst" in out
    assert "* ana waves" in out
    assert out[-1] == "*** Até logo, ana!"
    assert b"\x1b" not in client.stdout
    assert client.stderr == b""
    assert await bob.wait_for("privado de ana") == "[privado de ana] psst"
    bob.transport.loseConnection()
    await bob.closed


@pytest_twisted.ensureDeferred
async def test_pipe_first_input_line_is_the_nickname_without_nick_option(server):
    """Without --nick, the first input line answers the nickname prompt."""
    client = await _run(server, "ana\noi")  # the last line needs no newline
    assert client.code == 0
    out = client.stdout.decode("utf-8").splitlines()
    assert "*** O cliente ana entrou no chat dos Little Cats." in out
    assert "<ana> oi" in out


@pytest_twisted.ensureDeferred
async def test_pipe_quit_command_ends_with_zero(server):
    """A /quit line ends the session cleanly even with input still open afterwards."""
    client = _spawn(server, "--nick", "ana")
    client.transport.write(b"/quit fui\n")
    code = await client.ended.addTimeout(TIMEOUT, reactor)
    assert code == 0
    assert client.stdout.decode("utf-8").splitlines()[-1] == "*** Até logo, ana!"


@pytest_twisted.ensureDeferred
async def test_pipe_refused_nickname_exits_non_zero_with_reason(server):
    """A refused nickname ends the client with status 1 and the server's reason on stderr."""
    bob = await _peer(server, "bob")
    client = await _run(server, "hi\n", "--nick", "BOB", "--lang", "en")
    assert client.code == 1
    assert b"nickname refused" in client.stderr
    assert "bob" in client.stderr.decode("utf-8").casefold()
    bob.transport.loseConnection()
    await bob.closed


@pytest_twisted.ensureDeferred
async def test_pipe_cannot_connect_exits_non_zero_with_message():
    """With nobody listening, the client exits 1 and says it cannot connect."""
    endpoint = endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    port = await endpoint.listen(protocol.Factory.forProtocol(protocol.Protocol))
    number = port.getHost().port
    await port.stopListening()
    client = await _run(number, "hi\n", "--nick", "ana", "--lang", "en")
    assert client.code == 1
    assert b"cannot connect to 127.0.0.1:" in client.stderr
    assert client.stdout == b""


@pytest_twisted.ensureDeferred
async def test_pipe_input_ending_before_a_nickname_exits_non_zero(server):
    """Empty input with no --nick: there is no nickname to give, so the client exits 1."""
    client = await _run(server, "", "--lang", "en")
    assert client.code == 1
    assert b"input ended before a nickname" in client.stderr


class Hostile(protocol.Protocol):
    """A server that sends telnet negotiation, escape sequences, bad UTF-8 and a huge line."""

    def connectionMade(self) -> None:
        self.received = b""
        self.transport.write(
            b"\xff\xfb\x01\xff\xfd\x18*** hi\x1b[2J\x1b]0;pwned\x07 there\r\n"
            b"bad \xe9\xff\xff utf8\r\n"
            + b"x" * 100_000
            + b"\r\nEscolha seu apelido:\r\n"
        )

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if b"ana\r\n" in self.received:
            self.factory.replies.callback(self.received)
            self.transport.write(b"*** O cliente ana entrou no chat dos Little Cats.\r\n")
            self.transport.loseConnection()


@pytest_twisted.ensureDeferred
async def test_hostile_server_cannot_reach_the_terminal():
    """Options refused, escapes stripped, bad UTF-8 and huge lines survived, hang-up reported."""
    factory = protocol.Factory.forProtocol(Hostile)
    factory.replies = defer.Deferred()
    endpoint = endpoints.TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    port = await endpoint.listen(factory)
    try:
        # Input stays open: the client only ends because the server hangs up.
        client = _spawn(port.getHost().port, "--nick", "ana", "--lang", "en")
        await client.ended.addTimeout(TIMEOUT, reactor)
        replies = await factory.replies
    finally:
        await port.stopListening()
    assert replies.startswith(b"\xff\xfe\x01\xff\xfc\x18")  # DONT echo, WONT terminal-type
    out = client.stdout.decode("utf-8")
    assert "\x1b" not in out and "\x07" not in out
    assert "*** hi there" in out
    assert "bad é" in out
    assert "x" * 1000 not in out
    assert "*** O cliente ana entrou no chat dos Little Cats." in out
    assert client.code == 1
    assert b"server closed the connection" in client.stderr


def test_help_explains_the_options(capsys):
    """--help describes HOST, PORT, --nick, --lang and --no-color, and exits 0."""
    from littlecats.client.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["--help", "--lang", "en"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    for word in ("HOST", "PORT", "--nick", "--lang", "--no-color", "NO_COLOR", "pipe mode"):
        assert word in help_text


def test_bad_port_is_a_usage_error(capsys):
    """A port that is not a number from 1 to 65535 is refused before connecting, with status 2."""
    from littlecats.client.__main__ import main

    with pytest.raises(SystemExit) as exited:
        main(["localhost", "70000", "--lang", "en"])
    assert exited.value.code == 2
    assert "the port must be a number" in capsys.readouterr().err


# Passwords (issue 9)

SECRET = "s3cret-pw ç"


async def _registered(port: int, nick: str = "ana") -> object:
    """A user connected as C{nick}, which it has just registered with L{SECRET}."""
    peer = await _peer(port, nick)
    peer.say(f"/register {SECRET}")
    await peer.wait_for("agora é seu")
    return peer


@pytest.mark.parametrize("given", ["file", "environment"])
@pytest_twisted.ensureDeferred
async def test_pipe_takes_a_registered_nickname_back_with_its_password(server, tmp_path, given):
    """With the password in a file (or the environment), the client answers the prompt,
    closes the other session holding the nickname, is identified and talks."""
    peer = await _registered(server)
    listener = await _peer(server, "bob")
    env = dict(os.environ)
    env.pop("LITTLECATS_PASSWORD", None)
    if given == "file":
        secret = tmp_path / "password"
        secret.write_text(SECRET + "\r\nsecond line is not the password\n", encoding="utf-8")
        args = ("--nick", "ana", "--password-file", str(secret))
    else:
        env["LITTLECATS_PASSWORD"] = SECRET
        args = ("--nick", "ana")
    client = ClientProcess()
    argv = [sys.executable, "-m", "littlecats.client", "127.0.0.1", str(server), *args]
    reactor.spawnProcess(client, sys.executable, argv, env=env)
    client.transport.write("olá de novo\n".encode())
    client.transport.closeStdin()
    await client.ended.addTimeout(TIMEOUT, reactor)
    assert client.code == 0, client.stderr
    out = client.stdout.decode("utf-8").splitlines()
    assert "O apelido ana é registrado; digite a senha:" in out
    assert "*** Você se identificou como ana." in out
    assert "<ana> olá de novo" in out
    assert SECRET.encode() not in client.stdout + client.stderr
    ghosted = await peer.wait_for("!!!")
    assert ghosted == "!!! O apelido ana foi identificado em outra conexão; esta será encerrada."
    await peer.closed
    assert await listener.wait_for("<ana>") == "<ana> olá de novo"
    listener.transport.loseConnection()
    await listener.closed


@pytest_twisted.ensureDeferred
async def test_pipe_without_a_password_for_a_registered_nickname_exits_non_zero(server):
    """No password given: the prompt cannot be answered (input lines are never taken for
    one), so the client exits 1 and says why."""
    peer = await _registered(server)
    peer.transport.loseConnection()
    await peer.closed
    env = {k: v for k, v in os.environ.items() if k != "LITTLECATS_PASSWORD"}
    client = ClientProcess()
    argv = [sys.executable, "-m", "littlecats.client", "127.0.0.1", str(server)]
    reactor.spawnProcess(client, sys.executable, [*argv, "--lang", "en"], env=env)
    client.transport.write(f"ana\n{SECRET}\n".encode())
    client.transport.closeStdin()
    await client.ended.addTimeout(TIMEOUT, reactor)
    assert client.code == 1
    assert b"the nickname ana is registered and no password was given" in client.stderr
    assert SECRET.encode() not in client.stdout + client.stderr


@pytest_twisted.ensureDeferred
async def test_pipe_wrong_password_exits_non_zero_with_the_reason(server, tmp_path):
    """A refused password ends the client with status 1 and the server's reason."""
    peer = await _registered(server)
    peer.transport.loseConnection()
    await peer.closed
    secret = tmp_path / "password"
    secret.write_text("not the password\n", encoding="utf-8")
    client = await _run(
        server, "hi\n", "--nick", "ana", "--password-file", str(secret), "--lang", "en"
    )
    assert client.code == 1
    assert client.stderr.decode("utf-8").strip() == (
        "littlecats-client: password refused: !!! Senha incorreta."
    )
    assert b"not the password" not in client.stdout + client.stderr


def test_password_comes_from_the_file_first_then_the_environment(tmp_path):
    """The file's first line (without its line end) wins; else LITTLECATS_PASSWORD; else none."""
    from littlecats.client.__main__ import password

    catalog = Catalog("en")
    secret = tmp_path / "password"
    secret.write_bytes(b" with spaces \r\nnext\n")
    environ = {"LITTLECATS_PASSWORD": "from env"}
    assert password(str(secret), environ, catalog) == " with spaces "
    assert password(None, environ, catalog) == "from env"
    assert password(None, {"LITTLECATS_PASSWORD": ""}, catalog) is None
    assert password(None, {}, catalog) is None
    secret.write_bytes(b"no newline")
    assert password(str(secret), {}, catalog) == "no newline"


@pytest.mark.parametrize("content", [None, b"", b"\n", b"\r\nsecret on line two\n"])
def test_unreadable_or_empty_password_file_is_a_usage_error(tmp_path, capsys, content):
    """A missing password file, or one whose first line is empty, stops the client with status
    2 before connecting, naming the file (and never showing what is in it)."""
    from littlecats.client.__main__ import main

    secret = tmp_path / "password"
    if content is not None:
        secret.write_bytes(content)
    with pytest.raises(SystemExit) as exited:
        main(["--password-file", str(secret), "--lang", "en"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert str(secret) in err
    assert "password file" in err
    assert "secret on line two" not in err


def test_help_explains_where_a_password_comes_from_and_why_not_an_option(capsys):
    """--help names --password-file and LITTLECATS_PASSWORD, and why there is no --password."""
    from littlecats.client.__main__ import main

    for language, words in (
        ("en", ("no --password option", "command line", "(ps)")),
        ("pt", ("opção --password", "linha de comando", "(ps)")),
    ):
        with pytest.raises(SystemExit):
            main(["--help", "--lang", language])
        help_text = " ".join(capsys.readouterr().out.split())
        for word in ("--password-file", "LITTLECATS_PASSWORD", *words):
            assert word in help_text, (language, word)


class _Quiet:
    """A view's C{write}: collects what pipe mode would print."""

    def __init__(self) -> None:
        self.data = b""

    def __call__(self, data: bytes) -> None:
        self.data += data


def _pipe_session(password: str | None = None) -> tuple[PipeView, ChatSession, StringTransport]:
    view = PipeView(Catalog("en"), _Quiet())
    session = ChatSession(view, Catalog("en"), Clock(), nick="ana", password=password)
    view.session = session
    transport = StringTransport()
    session.factory().buildProtocol(None).makeConnection(transport)
    return view, session, transport


def test_pipe_view_never_takes_an_input_line_for_a_password():
    """Lines waiting on input are chat: asked for a password, the pipe gives up instead."""
    view, session, transport = _pipe_session()
    view.lineTyped(SECRET)
    session.protocol.dataReceived(
        b"Choose your nickname:\r\nThe nickname ana is registered; type its password:\r\n"
    )
    failures: list[Failure] = []
    session.finished.addErrback(failures.append)
    assert "ana is registered and no password was given" in str(failures[0].value)
    assert SECRET.encode() not in transport.value()


def test_pipe_view_reports_a_refused_password_as_such():
    """A refusal after the password says the password was refused, not the nickname."""
    _view, session, transport = _pipe_session(password=SECRET)
    session.protocol.dataReceived(
        b"Choose your nickname:\r\nThe nickname ana is registered; type its password:\r\n"
    )
    assert transport.value() == f"ana\r\n{SECRET}\r\n".encode()
    session.protocol.dataReceived(b"!!! Too many wrong passwords; try again in 5 s.\r\n")
    session.protocol.dataReceived(b"Choose your nickname:\r\n")
    failures: list[Failure] = []
    session.finished.addErrback(failures.append)
    assert str(failures[0].value) == (
        "littlecats-client: password refused: !!! Too many wrong passwords; try again in 5 s."
    )
