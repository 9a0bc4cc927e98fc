"""Tests for littlecats.tap and the twistd plugin: options, service tree, discovery."""

from __future__ import annotations

import pytest
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IServiceMaker
from twisted.internet.testing import MemoryReactor
from twisted.plugin import getPlugins
from twisted.python import usage

from littlecats.core import ChatService
from littlecats.tap import Options, makeService


def _options(*argv: str) -> Options:
    options = Options()
    options.parseOptions(["--db", "memory:", *argv])
    return options


def test_defaults():
    """With no options the server serves telnet on tcp:4000 and the web on tcp:8080, and
    speaks Portuguese."""
    options = _options()
    assert options["listen"] == ["tcp:4000"]
    assert options["web"] == ["tcp:8080"]
    assert options["lang"] == "pt"


def test_listen_is_repeatable():
    """--listen can be given several times; each adds a listener and the defaults (telnet and
    web) are dropped."""
    options = _options("--listen", "tcp:5000", "--listen", "tcp:5001:interface=127.0.0.1")
    assert options["listen"] == ["tcp:5000", "tcp:5001:interface=127.0.0.1"]
    assert options["web"] == []


def test_web_alone_replaces_both_defaults():
    """Naming only a web listener serves the web alone: operators get what they name."""
    options = _options("--web", "tcp:8081", "--web-origin", "https://chat.example.org/")
    assert options["listen"] == []
    assert options["web"] == ["tcp:8081"]
    assert options["web-origins"] == ["https://chat.example.org"]
    top = makeService(options, reactor=MemoryReactor())
    names = [service.name or "" for service in top]
    assert "web tcp:8081" in names
    assert not [name for name in names if name.startswith("listen ")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lang", "fr"], "--lang must be one of: pt, en"),
        (["--listen", "nonsense:1"], "Unknown endpoint type"),
        (["--listen", "tcp:notaport"], "--listen 'tcp:notaport'"),
        (["--web", "tcp:notaport"], "--web 'tcp:notaport'"),
        (["--web-origin", "chat.example.org"], "give scheme://host"),
        (["--web-origin", "https://chat.example.org/page"], "give scheme://host"),
        (["--bogus"], "bogus"),
        (["--lobby", "saguão"], "--lobby 'saguão': O nome de uma sala começa com #"),
        (["--lang", "en", "--lobby", "#a b"], "--lobby '#a b': A room name can only have"),
    ],
)
def test_bad_options_are_usage_errors(argv, message):
    """Bad options give a clear usage error rather than a traceback."""
    with pytest.raises(usage.UsageError, match=message):
        _options(*argv)


def test_lobby_option():
    """--lobby names the room everyone lands in (the default is #lobby)."""
    assert _options()["lobby"] == "#lobby"
    top = makeService(_options("--lobby", "#Saguão"), reactor=MemoryReactor())
    assert top.getServiceNamed("chat").lobby == "#Saguão"


def test_service_tree():
    """makeService builds the chat core plus one listener per --listen, on the given reactor."""
    reactor = MemoryReactor()
    top = makeService(_options("--listen", "tcp:5000", "--listen", "tcp:5001"), reactor=reactor)
    services = list(top)
    assert isinstance(top.getServiceNamed("chat"), ChatService)
    listeners = [s for s in services if isinstance(s, StreamServerEndpointService)]
    assert len(listeners) == 2
    top.privilegedStartService()
    top.startService()
    assert [port[0] for port in reactor.tcpServers] == [5000, 5001]
    top.stopService()


def test_plugin_is_discovered():
    """twistd finds the littlecats plugin through Twisted's plugin system."""
    import twisted.plugins

    makers = {maker.tapname: maker for maker in getPlugins(IServiceMaker, twisted.plugins)}
    assert "littlecats" in makers
    assert makers["littlecats"].options is Options
