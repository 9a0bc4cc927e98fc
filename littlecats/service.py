"""
The service layer: command-line options, and the service tree built from them.

`Options` is what `twistd littlecats --help` shows; `makeService(options)` returns a
`MultiService` holding the chat core and one listener per `--listen`.  Nothing else lives
here: no chat logic, no wire format.
"""

from __future__ import annotations

from typing import ClassVar

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService
from twisted.internet import endpoints
from twisted.internet.interfaces import IReactorCore
from twisted.internet.testing import MemoryReactor
from twisted.python import usage

from littlecats.core import ChatService
from littlecats.messages import LANGUAGES, Catalog
from littlecats.telnet import TelnetFactory

DEFAULT_LISTEN = "tcp:4000"


class Options(usage.Options):
    synopsis = "[--listen ENDPOINT ...] [--lang pt|en]"
    longdesc = (
        "Little Cats: a multi-user chat server for telnet, netcat and the littlecats-client. "
        "Connect with `telnet localhost 4000`."
    )
    optParameters: ClassVar = [
        ["lang", None, "pt", f"Language of the messages and logs: {' or '.join(LANGUAGES)}."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []

    def opt_listen(self, endpoint: str) -> None:
        """Where to listen, as a Twisted server endpoint string (repeatable; default tcp:4000)."""
        try:
            # Parsed against a reactor that does nothing, so a typo is a usage error up front.
            endpoints.serverFromString(MemoryReactor(), endpoint)
        except (ValueError, TypeError, KeyError) as error:
            raise usage.UsageError(f"--listen {endpoint!r}: {error}") from None
        self["listen"].append(endpoint)

    def postOptions(self) -> None:
        if self["lang"] not in LANGUAGES:
            raise usage.UsageError(f"--lang must be one of: {', '.join(LANGUAGES)}")
        if not self["listen"]:
            self["listen"].append(DEFAULT_LISTEN)


def makeService(options: Options, reactor: IReactorCore | None = None) -> MultiService:
    """The chat service plus one listener per C{--listen}, as one service tree."""
    if reactor is None:
        from twisted.internet import reactor
    catalog = Catalog(options["lang"])
    top = MultiService()
    chat = ChatService(catalog)
    chat.setServiceParent(top)
    factory = TelnetFactory(chat, catalog)
    for description in options["listen"]:
        endpoint = endpoints.serverFromString(reactor, description)
        listener = StreamServerEndpointService(endpoint, factory)
        # Fail at startup (twistd exits non-zero) instead of running on with no listener.
        listener._raiseSynchronously = True
        listener.setName(f"listen {description}")
        listener.setServiceParent(top)
    return top
