"""
The web door over real TCP on port 0: a WebSocket client (Autobahn's) and a telnet client talk
through one server built by `makeService`, over plain TCP and over TLS (`wss:`), and a
slow page's backpressure reaches the server as its socket fills.
"""

from __future__ import annotations

import json

import pytest
import pytest_twisted
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer, endpoints, reactor, ssl

from littlecats.tap import Options, makeService
from tests.helpers import TIMEOUT, LineClient
from tests.test_tls import certificate  # noqa: F401  (the fixture)


class Page(WebSocketClientProtocol):
    """A page: every event received, in order, for the test to wait on."""

    def onOpen(self) -> None:
        self.events: defer.DeferredQueue = defer.DeferredQueue()
        self.closed: defer.Deferred = defer.Deferred()
        self.factory.opened.callback(self)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        for event in json.loads(payload):
            self.events.put(event)

    def onClose(self, wasClean: bool, code: int, reason: str) -> None:
        if hasattr(self, "closed") and not self.closed.called:
            self.closed.callback(code)

    def tell(self, message: dict) -> None:
        self.sendMessage(json.dumps(message).encode())

    async def wait_for(self, kind: str, **fields: object) -> dict:
        while True:
            event = await self.events.get().addTimeout(TIMEOUT, reactor)
            if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                return event


def _start(args: list[str]):
    options = Options()
    options.parseOptions([*args, "--db", "memory:", "--flood-rate", "0"])
    top = makeService(options, reactor=reactor)
    top.privilegedStartService()
    top.startService()
    ports = {}
    for service in top:
        if service.name and service.name.split()[0] in ("listen", "web"):
            port = pytest_twisted.blockon(service._waitingForPort)
            ports[service.name.split()[0]] = port.getHost().port
    return top, ports


async def _page(url: str, endpoint, origin: str | None = None) -> Page:
    factory = WebSocketClientFactory(url, origin=origin)
    factory.protocol = Page
    factory.opened = defer.Deferred()
    await endpoint.connect(factory)
    return await factory.opened.addTimeout(TIMEOUT, reactor)


@pytest.fixture
def server():
    top, ports = _start(
        [
            "--listen",
            "tcp:0:interface=127.0.0.1",
            "--web",
            "tcp:0:interface=127.0.0.1",
        ]
    )
    yield top, ports
    pytest_twisted.blockon(defer.maybeDeferred(top.stopService))


@pytest_twisted.ensureDeferred
async def test_a_page_and_a_telnet_user_chat_over_real_tcp(server):
    top, ports = server
    url = f"ws://127.0.0.1:{ports['web']}/ws"
    page = await _page(url, endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", ports["web"]))
    await page.wait_for("hello")
    page.tell({"type": "nick", "nick": "ana"})
    await page.wait_for("welcome", nick="ana")
    telnet = await endpoints.connectProtocol(
        endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", ports["listen"]), LineClient()
    )
    await telnet.wait_for("Escolha seu apelido:")
    telnet.say("bia")
    await page.wait_for("connected", nick="bia")
    page.tell({"type": "line", "room": "#lobby", "text": "olá, bia"})
    assert "<ana> olá, bia" in await telnet.wait_for("olá, bia")
    telnet.say("olá, ana")
    said = await page.wait_for("said", nick="bia")
    assert said["text"] == "olá, ana"
    # A big room's worth of lines in one go arrives whole and in order.
    for n in range(200):
        telnet.say(f"linha {n}")
    for n in range(200):
        assert (await page.wait_for("said", nick="bia"))["text"] == f"linha {n}"
    # Shutdown: the page is told, then closed with the WebSocket's normal close.
    stopping = defer.maybeDeferred(top.stopService)
    await page.wait_for("shutdown")
    assert await page.closed.addTimeout(TIMEOUT, reactor) == 1000
    await stopping
    telnet.transport.abortConnection()
    await telnet.closed


@pytest.fixture
def tls_server(certificate):  # noqa: F811
    key, cert, _pem = certificate
    top, ports = _start(["--web", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"])
    yield top, ports
    pytest_twisted.blockon(defer.maybeDeferred(top.stopService))


@pytest_twisted.ensureDeferred
async def test_a_page_over_tls(tls_server, certificate):  # noqa: F811
    """An HTTPS listener serves the WebSocket as wss: (the page's own origin is https)."""
    _top, ports = tls_server
    pem = certificate[2]
    endpoint = endpoints.wrapClientTLS(
        ssl.optionsForClientTLS("localhost", trustRoot=ssl.Certificate.loadPEM(pem)),
        endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", ports["web"]),
    )
    page = await _page(
        f"wss://localhost:{ports['web']}/ws",
        endpoint,
        origin=f"https://localhost:{ports['web']}",
    )
    await page.wait_for("hello")
    page.tell({"type": "nick", "nick": "ana"})
    await page.wait_for("welcome", nick="ana")
    page.tell({"type": "line", "room": "#lobby", "text": "segura"})
    assert (await page.wait_for("said"))["text"] == "segura"
    page.sendClose(1000)
    await page.closed.addTimeout(TIMEOUT, reactor)
