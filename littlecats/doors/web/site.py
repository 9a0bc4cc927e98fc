"""
What the web listener serves: the page, its files, its catalog and its WebSocket, on twisted.web.

- `/` the page; `/static/NAME` its script, style sheet and icon, read once from the package
  (`static/`): nothing is fetched from another site, so the page works without internet.
- `/i18n/LANG.json` the message catalog the page renders with (`messages.page_messages`).
- `/ws` the WebSocket (`littlecats.doors.web.protocol`, mounted with Autobahn's resource).

Every response from here carries a Content-Security-Policy that allows the page's own origin
only, with no inline script or style; chat text never becomes markup anyway (the page inserts
it as text), so the policy is the second wall, not the first.  Requests are bounded: headers
by twisted.web, bodies (nothing here takes one) by `BoundedRequest`, idle connections by the
site's timeout.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources

from autobahn.twisted.resource import WebSocketResource
from twisted.web import http
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request, Site

from littlecats.doors.web.protocol import WebFactory
from littlecats.messages import LANGUAGES, page_messages

SECURITY_HEADERS = {
    b"Content-Security-Policy": (
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
        b"form-action 'none'; frame-ancestors 'none'"
    ),
    b"X-Content-Type-Options": b"nosniff",
    b"Referrer-Policy": b"no-referrer",
    b"X-Frame-Options": b"DENY",
    b"Cross-Origin-Opener-Policy": b"same-origin",
    b"Cross-Origin-Resource-Policy": b"same-origin",
}
TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".json": b"application/json; charset=utf-8",
    ".png": b"image/png",
}
MAX_BODY_BYTES = 4096
"""Nothing here takes a request body; a client sending a bigger one is cut off."""
IDLE_SECONDS = 30
"""An HTTP connection idle this long is closed (a WebSocket has its own pings)."""


class Asset(Resource):
    """One file's bytes, served with its type, the security headers and an ETag."""

    isLeaf = True

    def __init__(self, body: bytes, content_type: bytes) -> None:
        super().__init__()
        self.body = body
        self.content_type = content_type
        self.etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'

    def render_GET(self, request: Request) -> bytes:
        for name, value in SECURITY_HEADERS.items():
            request.setHeader(name, value)
        request.setHeader(b"Content-Type", self.content_type)
        # Revalidated on every load: a new release's page and script arrive together.
        request.setHeader(b"Cache-Control", b"no-cache")
        if request.setETag(self.etag) == http.CACHED:
            return b""
        return self.body

    render_HEAD = render_GET


class Directory(Resource):
    """Fixed children only: no listing, nothing read from disk after start."""

    def __init__(self, children: dict[bytes, Resource]) -> None:
        super().__init__()
        self.children_by_name = children

    def getChild(self, path: bytes, request: Request) -> IResource:
        return self.children_by_name.get(path) or notFound()


class Root(Directory):
    """The page at `/`, and the rest below it."""

    def __init__(self, page: Resource, children: dict[bytes, Resource]) -> None:
        super().__init__(children)
        self.page = page

    def getChild(self, path: bytes, request: Request) -> IResource:
        if path == b"":
            return self.page
        return super().getChild(path, request)


def static_assets() -> dict[str, bytes]:
    """The page's files, by name, from the package."""
    folder = resources.files("littlecats.doors.web") / "static"
    return {
        item.name: item.read_bytes()
        for item in folder.iterdir()
        if item.is_file() and "." in item.name and not item.name.startswith(".")
    }


def catalogs() -> dict[str, bytes]:
    """The page's catalog in every language, as JSON."""
    return {
        language: json.dumps(
            {"lang": language, "messages": page_messages(language)}, ensure_ascii=False
        ).encode()
        for language in LANGUAGES
    }


class BoundedRequest(Request):
    """A request whose body is refused past L{MAX_BODY_BYTES} (twisted.web would buffer any
    size: in memory, then in a temporary file)."""

    _received = 0

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > MAX_BODY_BYTES:
            self._too_big()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        self._received += len(data)
        if self._received > MAX_BODY_BYTES:
            self._too_big()
            return
        super().handleContentChunk(data)

    def _too_big(self) -> None:
        transport = self.channel.transport
        if transport is not None:
            transport.write(b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n\r\n")
            transport.loseConnection()


class WebSite(Site):
    """The web listener's factory."""

    requestFactory = BoundedRequest
    noisy = False
    displayTracebacks = False

    def __init__(self, factory: WebFactory) -> None:
        files = static_assets()
        page = Asset(files.pop("index.html"), TYPES[".html"])
        static = Directory(
            {
                name.encode(): Asset(body, TYPES.get("." + name.rsplit(".", 1)[1], b"text/plain"))
                for name, body in files.items()
            }
        )
        i18n = Directory(
            {
                f"{lang}.json".encode(): Asset(body, TYPES[".json"])
                for lang, body in catalogs().items()
            }
        )
        ws = WebSocketResource(factory)
        root = Root(page, {b"static": static, b"i18n": i18n, b"ws": ws})
        super().__init__(root, timeout=IDLE_SECONDS)
        self.websockets = factory

    def log(self, request: Request) -> None:
        """No access log: the chat logs who connects, and pages are not worth a line each."""

    def logPrefix(self) -> str:
        return "littlecats-web"
