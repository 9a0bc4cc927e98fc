"""
The message catalog: every user-visible string, by message id, in Portuguese or English.

Strings live in gettext catalogs (`locale/<lang>/LC_MESSAGES/littlecats.po`), compiled to `.mo`
when the package is built.  Message ids are symbolic (`joined`, `err-nick-taken`), so a missing
translation is an error here rather than a silently English line.  Templates use Python format
fields; user text is only ever passed as a field value, never as a template.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from pathlib import Path

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "littlecats"
PAGE_DOMAIN = "web"
"""The web page's own strings (`locale/<lang>/LC_MESSAGES/web.po`, message ids `web-*`)."""
LANGUAGES = ("pt", "en")
DEFAULT_LANGUAGE = "pt"


class CatalogMissing(RuntimeError):
    """The compiled catalog for a language is not installed."""


class Catalog:
    """The templates of one language, looked up by message id."""

    def __init__(self, language: str = DEFAULT_LANGUAGE, domain: str = DOMAIN) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}; choose one of {LANGUAGES}")
        try:
            translations = gettext.translation(domain, LOCALE_DIR, languages=[language])
        except FileNotFoundError:
            raise CatalogMissing(
                f"no compiled catalog for {language!r} under {LOCALE_DIR}; "
                "install the package (pip install -e .) to build it"
            ) from None
        self.language = language
        self._templates: dict[str, str] = {
            msgid: template
            for msgid, template in translations._catalog.items()  # type: ignore[attr-defined]
            if msgid
        }
        # Wire lines are rendered once per event on the delivery path: keep them ready.
        self._lines = {msgid: template + "\r\n" for msgid, template in self._templates.items()}

    def ids(self) -> frozenset[str]:
        """Every message id this catalog holds."""
        return frozenset(self._templates)

    def template(self, msgid: str) -> str:
        """The raw template of C{msgid}; a template is never formatted with user text in it."""
        return self._templates[msgid]

    def text(self, msgid: str, **fields: object) -> str:
        """The message C{msgid} with its fields filled in."""
        return self._templates[msgid].format(**fields)

    def formatter(self, msgid: str) -> Callable[..., str]:
        """The C{str.format} of C{msgid}'s wire line (CRLF included), for the delivery path,
        where each saved call counts; encode what it returns as UTF-8."""
        return self._lines[msgid].format

    def line(self, msgid: str, **fields: object) -> bytes:
        """The message as one wire line: UTF-8, CRLF-terminated."""
        return self._lines[msgid].format(**fields).encode()


def page_messages(language: str) -> dict[str, str]:
    """What the web page renders with, in C{language}: the chat's messages (those users read;
    not the server's log lines) and the page's own (L{PAGE_DOMAIN})."""
    chat = Catalog(language)
    messages = {
        msgid: chat.template(msgid)
        for msgid in sorted(chat.ids())
        if not msgid.startswith("log-") and msgid != "time-format"
    }
    page = Catalog(language, PAGE_DOMAIN)
    messages.update((msgid, page.template(msgid)) for msgid in sorted(page.ids()))
    return messages
