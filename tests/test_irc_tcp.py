"""
The IRC door over real TCP on port 0: an IRC client and a telnet client talk through one
server built by `makeService`, over plain TCP and over TLS (`ssl:`), and many lines arrive
whole and in order.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer, endpoints, reactor, ssl

from littlecats.doors.irc.message import parse
from littlecats.tap import Options, makeService
from tests.helpers import LineClient
from tests.test_tls import certificate  # noqa: F401  (the fixture)


def _start(args: list[str]):
    options = Options()
    options.parseOptions(
        [*args, "--db", "memory:", "--flood-rate", "0", "--server-name", "irc.test"]
    )
    top = makeService(options, reactor=reactor)
    top.privilegedStartService()
    top.startService()
    ports = {}
    for service in top:
        if service.name and service.name.split()[0] in ("listen", "irc"):
            port = pytest_twisted.blockon(service._waitingForPort)
            kind = service.name.split()[0]
            if kind == "irc" and service.name.split()[1].startswith("ssl:"):
                kind = "ircs"
            ports[kind] = port.getHost().port
    return top, ports


@pytest.fixture
def server(certificate):  # noqa: F811
    key, cert, _ = certificate
    top, ports = _start(
        [
            "--listen", "tcp:0:interface=127.0.0.1",
            "--irc", "tcp:0:interface=127.0.0.1",
            "--irc", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}",
        ]
    )  # fmt: skip
    clients: list[LineClient] = []
    yield ports, clients
    for client in clients:
        client.transport.loseConnection()
    pytest_twisted.blockon(defer.maybeDeferred(top.stopService))


async def _irc(endpoint, clients: list, nick: str) -> LineClient:
    client = await endpoints.connectProtocol(endpoint, LineClient())
    clients.append(client)
    client.say(f"NICK {nick}")
    client.say(f"USER {nick} 0 * :{nick}")
    client.say("JOIN #lobby")
    await client.wait_for(" 366 ")
    return client


async def _telnet(port: int, clients: list, nick: str) -> LineClient:
    client = await endpoints.connectProtocol(
        endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", port), LineClient()
    )
    clients.append(client)
    await client.wait_for("apelido")
    client.say(nick)
    await client.wait_for(nick)
    return client


@pytest_twisted.ensureDeferred
async def test_irc_and_telnet_chat_over_tcp_and_lines_arrive_whole_in_order(server):
    ports, clients = server
    ana = await _irc(
        endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", ports["irc"]), clients, "ana"
    )
    bia = await _telnet(ports["listen"], clients, "bia")
    await ana.wait_for("bia!telnet@littlecats JOIN #lobby")
    ana.say("PRIVMSG #lobby :olá do irc")
    assert await bia.wait_for("olá do irc") == "<ana> olá do irc"
    for n in range(200):
        bia.say(f"linha {n}")
    for n in range(200):
        message = parse(await ana.lines.get().addTimeout(10, reactor))
        assert message.source == "bia!telnet@littlecats"
        assert message.params == ("#lobby", f"linha {n}")


@pytest_twisted.ensureDeferred
async def test_irc_over_tls(server, certificate):  # noqa: F811
    ports, clients = server
    options = ssl.optionsForClientTLS(
        "localhost", trustRoot=ssl.Certificate.loadPEM(certificate[2])
    )
    endpoint = endpoints.wrapClientTLS(
        options, endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", ports["ircs"])
    )
    ana = await _irc(endpoint, clients, "ana")
    bia = await _irc(
        endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", ports["irc"]), clients, "bia"
    )
    await ana.wait_for("bia!~bia@littlecats JOIN #lobby")
    bia.say("PRIVMSG ana :segredo")
    assert await ana.wait_for("segredo") == ":bia!~bia@littlecats PRIVMSG ana :segredo"
