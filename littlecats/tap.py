"""
The service wiring: command-line options, and the service tree built from them.

`Options` is what `twistd littlecats --help` shows; `makeService(options)` returns a
`MultiService` holding the store (with its history writer), the password hasher, the chat
core (with its backend) and one listener per `--listen` for each door.  Nothing else lives
here: no chat logic, no wire format, no SQL.
"""

from __future__ import annotations

import gc
import resource
from typing import ClassVar
from urllib.parse import urlsplit

from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import MultiService, Service
from twisted.internet import defer, endpoints
from twisted.internet.interfaces import IReactorCore
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor
from twisted.logger import Logger
from twisted.python import usage

from littlecats import nicknames
from littlecats.accounts import LoginThrottle, PasswordHasher
from littlecats.core.chat import DEFAULT_LOBBY, ChatError, ChatService, room_name
from littlecats.core.history import DEFAULT_REPLAY, MAX_PAGE, History
from littlecats.core.identity import Accounts
from littlecats.doors.irc.protocol import IRCFactory
from littlecats.doors.telnet.protocol import TelnetFactory
from littlecats.doors.web.protocol import WebFactory
from littlecats.doors.web.site import WebSite
from littlecats.limits import ConnectionLimiter, Limits
from littlecats.messages import LANGUAGES, Catalog
from littlecats.storage import open_store
from littlecats.storage.interface import IStore, StoreError
from littlecats.storage.writer import HistoryWriter

DEFAULT_LISTEN = "tcp:4000"
DEFAULT_WEB = "tcp:8080"
DEFAULT_DB = "sqlite:littlecats.db"
# Twisted's default backlog (50) drops SYNs in a connection storm; the kernel caps this value
# at net.core.somaxconn.
DEFAULT_BACKLOG = 4096
log = Logger()

_DEFAULTS = Limits()


def _non_negative(kind: type) -> object:
    def coerce(value: str) -> object:
        number = kind(value)
        if number < 0:
            raise ValueError(f"{value} is negative")
        return number

    coerce.coerceDoc = "0 disables it."  # type: ignore[attr-defined]
    return coerce


class Options(usage.Options):
    synopsis = (
        "[--listen ENDPOINT ...] [--web ENDPOINT ...] [--irc ENDPOINT ...] [--lang pt|en] "
        "[--lobby #NAME] [limits]"
    )
    longdesc = (
        "Little Cats: a multi-user chat server for telnet, netcat, the littlecats-client and "
        "the web. Connect with `telnet localhost 4000`, or open http://localhost:8080/."
    )
    optParameters: ClassVar = [
        ["lang", None, "pt", f"Language of the messages and logs: {' or '.join(LANGUAGES)}."],
        ["lobby", None, DEFAULT_LOBBY, "The room everyone lands in (# and 1 to 32 characters)."],
        [
            "server-name",
            None,
            None,
            "The name the server gives itself to IRC clients (prefixes, PONG, WHOIS); "
            "default: the host's name.",
        ],
        [
            "db",
            None,
            DEFAULT_DB,
            "Where accounts, history and kept messages live: sqlite:PATH (relative to the "
            "working directory), postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME, or memory: "
            "(nothing kept across restarts).",
        ],
        [
            "history",
            None,
            DEFAULT_REPLAY,
            f"Lines of a room's history shown on entering it (0 to {MAX_PAGE}); 0 keeps no "
            "history at all.",
            _non_negative(int),
        ],
        [
            "max-sendq",
            None,
            _DEFAULTS.max_sendq,
            "Bytes held for a client that does not read before it is disconnected.",
            _non_negative(int),
        ],
        [
            "flood-rate",
            None,
            _DEFAULTS.flood_rate,
            "Lines per second a client may send (sustained); faster lines are delayed.",
            _non_negative(float),
        ],
        [
            "flood-burst",
            None,
            _DEFAULTS.flood_burst,
            "Lines a client may send at once before --flood-rate applies.",
            _non_negative(int),
        ],
        [
            "nick-timeout",
            None,
            _DEFAULTS.nick_timeout,
            "Seconds a new connection has to choose a nickname.",
            _non_negative(float),
        ],
        [
            "max-clients",
            None,
            _DEFAULTS.max_clients,
            "Connections the server accepts in all.",
            _non_negative(int),
        ],
        [
            "max-per-ip",
            None,
            _DEFAULTS.max_per_ip,
            "Connections accepted from one IP address.",
            _non_negative(int),
        ],
        [
            "connect-rate",
            None,
            _DEFAULTS.connect_rate,
            "New connections per minute from one IP address.",
            _non_negative(float),
        ],
        [
            "quiet-above",
            None,
            0,
            "In a room (or, for connect and leave notices, a server) of more members than "
            "this, join and leave notices go only to the member joining (for very large rooms).",
            _non_negative(int),
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []
        self["web"] = []
        self["irc"] = []
        self["web-origins"] = []
        self["operators"] = []

    def opt_operator(self, account: str) -> None:
        """A registered nickname whose holder is a server operator (repeatable)."""
        try:
            self["operators"].append(nicknames.validate(account))
        except nicknames.NicknameRejected as rejected:
            message = Catalog(self["lang"]).text(rejected.msgid, **rejected.fields).lstrip("! ")
            raise usage.UsageError(f"--operator {account!r}: {message}") from None

    def opt_listen(self, endpoint: str) -> None:
        """Where telnet listens, as a Twisted server endpoint string (repeatable). With no
        --listen and no --web: tcp:4000 for telnet and tcp:8080 for the web."""
        self["listen"].append(_endpoint("--listen", endpoint))

    def opt_web(self, endpoint: str) -> None:
        """Where the web page and its WebSocket listen (repeatable; ssl:8443:privateKey=...
        for HTTPS). Naming any listener replaces the defaults."""
        self["web"].append(_endpoint("--web", endpoint))

    def opt_irc(self, endpoint: str) -> None:
        """Where the IRC door listens (repeatable; tcp:6667, or ssl:6697:privateKey=... for
        TLS). Off unless named; naming any listener replaces the defaults."""
        self["irc"].append(_endpoint("--irc", endpoint))

    def opt_web_origin(self, origin: str) -> None:
        """Another site whose pages may use the WebSocket (repeatable, e.g.
        https://chat.example.org); by default only the page's own origin."""
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise usage.UsageError(f"--web-origin {origin!r}: give scheme://host[:port]")
        self["web-origins"].append(f"{parts.scheme}://{parts.netloc}")

    def postOptions(self) -> None:
        if self["lang"] not in LANGUAGES:
            raise usage.UsageError(f"--lang must be one of: {', '.join(LANGUAGES)}")
        if self["flood-rate"] and not self["flood-burst"]:
            raise usage.UsageError("--flood-burst must be at least 1 when --flood-rate is on")
        try:
            self["lobby"] = room_name(self["lobby"])[0]
        except ChatError as error:
            message = Catalog(self["lang"]).text(error.msgid, **error.fields).lstrip("! ")
            raise usage.UsageError(f"--lobby {self['lobby']!r}: {message}") from None
        if not self["listen"] and not self["web"] and not self["irc"]:
            self["listen"].append(DEFAULT_LISTEN)
            self["web"].append(DEFAULT_WEB)
        if self["history"] > MAX_PAGE:
            raise usage.UsageError(f"--history must be from 0 to {MAX_PAGE}")

    def limits(self) -> Limits:
        """The limits these options set."""
        return Limits(
            max_sendq=self["max-sendq"],
            flood_rate=self["flood-rate"],
            flood_burst=self["flood-burst"],
            nick_timeout=self["nick-timeout"],
            max_clients=self["max-clients"],
            max_per_ip=self["max-per-ip"],
            connect_rate=self["connect-rate"],
        )


def _endpoint(option: str, description: str) -> str:
    """C{description}, checked: a typo is a usage error up front."""
    try:
        # Parsed against a reactor that does nothing.
        endpoints.serverFromString(MemoryReactor(), description)
    except (ValueError, TypeError, KeyError) as error:
        raise usage.UsageError(f"{option} {description!r}: {error}") from None
    return description


def with_backlog(description: str) -> str:
    """C{description} with a large listen backlog if it is a TCP endpoint that sets none."""
    kind = description.split(":", 1)[0]
    if kind in ("tcp", "tcp6") and "backlog=" not in description:
        return f"{description}:backlog={DEFAULT_BACKLOG}"
    return description


def raise_open_file_limit() -> int:
    """Raise this process's open-file limit as far as the hard limit allows; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.warn("could not raise the open-file limit above {soft}", soft=soft)
    return soft


def exit_zero_after_signal(reactor: IReactorCore) -> None:
    """Make a SIGTERM/SIGINT shutdown end in exit status 0.

    For a chat server, stopping on a signal (after telling everyone and flushing) is the normal,
    successful way to stop; but twistd re-raises the signal once the reactor stops, so the
    process would die of it.  The reactor records that signal in C{_exitSignal}
    (L{twisted.internet.base._ISupportsExitSignalCapturing}); forgetting it once shutdown is
    complete makes twistd exit 0.
    """

    def forget() -> None:
        if getattr(reactor, "_exitSignal", None) is not None:
            reactor._exitSignal = None  # type: ignore[attr-defined]

    reactor.addSystemEventTrigger("after", "shutdown", forget)


class StorageService(Service):
    """The store and its history writer: on stopping, the last lines are written before the
    database is closed."""

    def __init__(self, store: IStore, writer: HistoryWriter | None) -> None:
        self.store = store
        self.writer = writer

    def startService(self) -> None:
        super().startService()
        if self.writer is not None:
            self.writer.startService()

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        flushed = (
            defer.maybeDeferred(self.writer.stopService)
            if self.writer is not None
            else defer.succeed(None)
        )
        return flushed.addBoth(lambda _: self.store.close())


def _collect_when_loaded(chat: ChatService) -> None:
    """Once what the chat keeps is loaded (10 000 bans are 44 000 objects), run one full
    collection, while new connections are still held (this runs before they are let in):
    otherwise the first full collection comes later, in the middle of the chat (an 87 ms
    pause measured with 10 000 bans).  Not `gc.freeze()`: it hides those objects from the
    collector's count of long-lived ones, which makes full collections far more frequent
    under load (measured: many small rooms 0.71-0.83 of the old code with it, 0.92 without)."""
    loading = chat.ready()
    if loading is None:
        gc.collect()
    else:
        loading.addCallback(lambda _: gc.collect())


def makeService(options: Options, reactor: IReactorCore | None = None) -> MultiService:
    """The storage, the hasher, the chat service, and one listener per C{--listen}, as one
    service tree.

    @raise SystemExit: the database cannot be used (with the reason, for the operator).
    """
    if reactor is None:
        from twisted.internet import reactor
    catalog = Catalog(options["lang"])
    try:
        store = open_store(options["db"], reactor, catalog)
    except StoreError as error:
        raise SystemExit(f"littlecats: {error}") from None
    raise_open_file_limit()
    exit_zero_after_signal(reactor)
    limits = options.limits()
    top = MultiService()
    # Children stop in reverse order: listeners, chat (users told), hasher, then storage
    # (the history writer's last lines, then the database).
    writer = HistoryWriter(store, reactor, catalog=catalog) if options["history"] else None
    StorageService(store, writer).setServiceParent(top)
    hasher = PasswordHasher(reactor, catalog=catalog)
    hasher.setServiceParent(top)
    limiter = ConnectionLimiter(
        reactor,
        max_clients=limits.max_clients,
        max_per_ip=limits.max_per_ip,
        connect_rate=limits.connect_rate,
    )
    chat = ChatService(
        catalog,
        limiter,
        quiet_above=options["quiet-above"],
        lobby=options["lobby"],
        store=store,
        accounts=Accounts(store, hasher, LoginThrottle(reactor), reactor),
        history=History(store, writer, reactor, options["history"]) if writer else None,
        clock=reactor,
        operators=options["operators"],
    )
    chat.setServiceParent(top)
    if not getattr(reactor, "running", False):  # twistd, not a tree built in a running program
        reactor.callWhenRunning(_collect_when_loaded, chat)
    listeners: list[tuple[str, str, Factory]] = []
    if options["listen"]:
        factory = TelnetFactory(chat, catalog, reactor, limits)
        listeners += [("listen", description, factory) for description in options["listen"]]
    if options["web"]:
        site = WebSite(WebFactory(chat, catalog, reactor, limits, options["web-origins"]))
        listeners += [("web", description, site) for description in options["web"]]
    if options["irc"]:
        irc = IRCFactory(chat, catalog, reactor, limits, options["server-name"])
        listeners += [("irc", description, irc) for description in options["irc"]]
    for option, description, factory in listeners:
        endpoint = endpoints.serverFromString(reactor, with_backlog(description))
        listener = StreamServerEndpointService(endpoint, factory)
        # Fail at startup (twistd exits non-zero) instead of running on with no listener.
        listener._raiseSynchronously = True
        listener.setName(f"{option} {description}")
        listener.setServiceParent(top)
    return top
