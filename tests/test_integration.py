"""
Integration tests over real TCP on port 0: several clients chatting through the real door.
"""

from __future__ import annotations

import attrs
import pytest
import pytest_twisted
from twisted.internet import defer, endpoints, protocol, reactor

from littlecats.tap import Options, makeService
from tests.helpers import TIMEOUT, LineClient


@attrs.define
class Server:
    """The server under test: its port, its door, and the test's clients (closed after)."""

    port: int
    door: object
    clients: list = attrs.field(factory=list)


@pytest.fixture
def server():
    """A real `makeService` tree listening on an ephemeral loopback port."""
    options = Options()
    # Flood control off: these tests send bursts on purpose (tests/test_hardening.py covers it).
    options.parseOptions(
        ["--listen", "tcp:0:interface=127.0.0.1", "--flood-rate", "0", "--db", "memory:"]
    )
    top = makeService(options, reactor=reactor)
    top.privilegedStartService()
    top.startService()
    listener = next(s for s in top if s.name and s.name.startswith("listen"))
    port = pytest_twisted.blockon(listener._waitingForPort)
    running = Server(port.getHost().port, listener.factory.door)
    yield running
    clients = running.clients
    for client in clients:
        client.transport.abortConnection()
    pytest_twisted.blockon(defer.DeferredList([c.closed for c in clients]))
    pytest_twisted.blockon(defer.maybeDeferred(top.stopService))


async def _connect(server, nick: str | None = None) -> LineClient:
    endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", server.port)
    client = await endpoints.connectProtocol(endpoint, LineClient())
    server.clients.append(client)
    greeting = await client.expect(2)
    assert greeting[-1] == "Escolha seu apelido:"
    if nick is not None:
        client.say(nick)
        joined = await client.expect(1)
        assert joined == [f"*** O cliente {nick} entrou no chat dos Little Cats."]
    return client


@pytest_twisted.ensureDeferred
async def test_three_users_chat(server):
    """Three users over real TCP see joins, public and private messages and a leave, in order."""
    ana = await _connect(server, "ana")
    bia = await _connect(server, "bia")
    assert (await ana.expect(1)) == ["*** O cliente bia entrou no chat dos Little Cats."]
    cid = await _connect(server, "cid")
    await ana.expect(1)
    await bia.expect(1)

    ana.say("olá a todos")
    for client in (ana, bia, cid):
        assert (await client.expect(1)) == ["<ana> olá a todos"]
    bia.say("/msg cid segredo")
    assert (await cid.expect(1)) == ["[privado de bia] segredo"]
    assert (await bia.expect(1)) == ["[privado para cid] segredo"]
    cid.say("/me acena")
    for client in (ana, bia, cid):
        assert (await client.expect(1)) == ["* cid acena"]
    assert ana.lines.pending == []

    cid.transport.loseConnection()
    assert (await ana.expect(1)) == ["*** cid saiu do chat dos Little Cats."]
    assert (await bia.expect(1)) == ["*** cid saiu do chat dos Little Cats."]


@pytest_twisted.ensureDeferred
async def test_many_messages_arrive_complete_and_in_order(server):
    """A burst of messages from two senders reaches everyone complete, in the same order."""
    senders = [(await _connect(server, f"s{i}")) for i in range(2)]
    reader = await _connect(server, "leitor")
    await senders[0].expect(2)
    await senders[1].expect(1)
    for i in range(200):
        senders[i % 2].say(f"msg {i}")
    seen = [(await client.expect(200)) for client in (*senders, reader)]
    assert seen[0] == seen[1] == seen[2]
    for sender in ("s0", "s1"):
        mine = [line for line in seen[2] if line.startswith(f"<{sender}>")]
        assert mine == [f"<{sender}> msg {i}" for i in range(200) if f"s{i % 2}" == sender]


@pytest_twisted.ensureDeferred
async def test_quit_closes_connection(server):
    """/quit says goodbye and the server closes the connection."""
    ana = await _connect(server, "ana")
    ana.say("/quit")
    assert (await ana.expect(1)) == ["*** Até logo, ana!"]
    await ana.closed.addTimeout(TIMEOUT, reactor)


@pytest_twisted.ensureDeferred
async def test_raw_bytes_are_survived(server):
    """Garbage bytes, IAC sequences and invalid UTF-8 never disconnect anyone."""
    ana = await _connect(server, "ana")
    ana.transport.write(bytes(range(256)) + b"\xff\xff\xff\xfa\r\n\xc3(\r\n" + b"x" * 5000 + b"\n")
    ana.say("ainda aqui")
    got = []
    while not got or got[-1] != "<ana> ainda aqui":
        got += await ana.expect(1)
    assert ana.transport.connected


def test_connect_factory_is_quiet():
    """The factory does not log every connection open and close (noisy = False)."""
    from littlecats.doors.telnet.protocol import TelnetFactory

    assert TelnetFactory.noisy is False
    assert protocol.Factory.noisy is True


@pytest_twisted.ensureDeferred
async def test_reader_that_pauses_gets_everything_in_order(server):
    """A user who stops reading for a while (kernel buffers full, partial sends) still receives
    every line, in order, once it reads again."""
    talker = await _connect(server, "talker")
    reader = await _connect(server, "reader")
    await talker.expect(1)
    reader.transport.pauseProducing()
    lines = [f"{i:05d} " + "x" * 480 for i in range(1000)]
    for line in lines:
        talker.say(line)
    assert (await talker.expect(1000)) == [f"<talker> {line}" for line in lines]
    reader.transport.resumeProducing()
    assert (await reader.expect(1000)) == [f"<talker> {line}" for line in lines]


@pytest_twisted.ensureDeferred
async def test_connections_use_the_direct_send_path(server):
    """Real TCP connections take the fan-out's direct-send path (one send per turn) and have a
    bounded kernel send buffer: if a Twisted upgrade changes its transport, this says so."""
    import socket as socketlib

    from littlecats.session import KERNEL_SEND_BUFFER

    await _connect(server, "ana")
    (session,) = server.door.sessions.values()
    assert session.outlet.direct_send
    handle = session.transport.getHandle()
    assert handle.getsockopt(socketlib.SOL_SOCKET, socketlib.SO_SNDBUF) <= 2 * KERNEL_SEND_BUFFER
    assert handle.getsockopt(socketlib.IPPROTO_TCP, socketlib.TCP_NODELAY)


@pytest_twisted.ensureDeferred
async def test_unix_listener_peer_is_refused(tmp_path):
    """On a unix: listener, where a peer has no IP and port, the user gets an error line and
    the connection is closed; the server goes on."""
    path = tmp_path / "chat.sock"
    options = Options()
    options.parseOptions(["--listen", f"unix:{path}", "--db", "memory:"])
    top = makeService(options, reactor=reactor)
    top.privilegedStartService()
    top.startService()
    try:
        endpoint = endpoints.UNIXClientEndpoint(reactor, str(path))
        client = await endpoints.connectProtocol(endpoint, LineClient())
        line = await client.lines.get().addTimeout(TIMEOUT, reactor)
        assert line == (
            "!!! Não foi possível identificar o seu IP e porta; a conexão será encerrada."
        )
        await client.closed.addTimeout(TIMEOUT, reactor)
    finally:
        await defer.maybeDeferred(top.stopService)
