"""
What a line from the server means: classification of received text into kinds with fields.

The server's own message templates (the `littlecats` catalogs, in every language) are turned
into patterns, so the client recognises a join, a private message or a user list whatever the
server's language, and keeps the server's text verbatim: a `Line` holds the text as received
(already sanitised), its `Kind`, the fields the template named (`nick`, `text`, `old`, ...)
and where the nickname fields sit in the text, for colouring.  Pure: no sockets, no terminal.
"""

from __future__ import annotations

import enum
import re
import string

import attrs

from littlecats.messages import LANGUAGES, Catalog


class Kind(enum.Enum):
    """The kinds of line the client tells apart."""

    PUBLIC = "public"
    ACTION = "action"
    PRIVATE_IN = "private-from"
    PRIVATE_OUT = "private-to"
    JOINED = "joined"
    LEFT = "left"
    RENAMED = "renamed"
    USERS = "users"
    USERS_MORE = "users-more"
    ALONE = "alone"
    GOODBYE = "goodbye"
    PROMPT = "nick-prompt"
    NOTICE = "notice"
    ERROR = "error"
    TEXT = "text"
    LOCAL = "local"
    """Said by the client itself (connection state, hints), never received."""


NICK_FIELDS = frozenset({"nick", "old", "new"})

# Template message id -> kind, most specific first: "left-reason" before "left".
_TEMPLATES = (
    ("public", Kind.PUBLIC),
    ("action", Kind.ACTION),
    ("private-from", Kind.PRIVATE_IN),
    ("private-to", Kind.PRIVATE_OUT),
    ("joined", Kind.JOINED),
    ("left-reason", Kind.LEFT),
    ("left", Kind.LEFT),
    ("renamed", Kind.RENAMED),
    ("users", Kind.USERS),
    ("alone", Kind.ALONE),
    ("goodbye", Kind.GOODBYE),
    ("nick-prompt", Kind.PROMPT),
)
# A nickname never holds spaces or the brackets that surround it in the templates.
_FIELD_PATTERNS = {
    "nick": r"[^\s<>\[\]]+",
    "old": r"[^\s<>\[\]]+",
    "new": r"[^\s<>\[\]]+?",
    "count": r"\d+",
}
_ANY = r".*"
_NICK_LIST = re.compile(r"[^\s,]+(?:, [^\s,]+)*")


@attrs.frozen
class Line:
    """One line as the client understood it."""

    kind: Kind
    text: str
    fields: dict[str, str] = attrs.field(factory=dict)
    spans: tuple[tuple[str, int, int], ...] = ()
    """(field, start, end) of each nickname field within C{text}."""

    @property
    def nick(self) -> str | None:
        """The nickname the line is from or about, if it names one."""
        return self.fields.get("nick")

    def nicks(self) -> list[str]:
        """The nicknames of a user-list line."""
        listed = self.fields.get("nicks", "")
        return [nick for nick in listed.split(", ") if nick]


def _pattern(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if field is not None:
            parts.append(f"(?P<{field}>{_FIELD_PATTERNS.get(field, _ANY)})")
    return re.compile("".join(parts))


class Classifier:
    """Tells the kind of each received line; remembers just enough to spot a user list's tail."""

    def __init__(self, languages: tuple[str, ...] = LANGUAGES) -> None:
        self._patterns: list[tuple[Kind, re.Pattern[str]]] = []
        more: list[re.Pattern[str]] = []
        for language in languages:
            catalog = Catalog(language)
            for msgid, kind in _TEMPLATES:
                self._patterns.append((kind, _pattern(catalog.template(msgid))))
            more.append(_pattern(catalog.template("users-more")))
        self._more = more
        self._in_user_list = False

    def classify(self, text: str) -> Line:
        """The L{Line} for one received, sanitised line."""
        after_list, self._in_user_list = self._in_user_list, False
        if after_list:
            for pattern in self._more:
                match = pattern.fullmatch(text)
                if match and _NICK_LIST.fullmatch(match.group("nicks")):
                    self._in_user_list = True
                    return _line(Kind.USERS_MORE, text, match)
        for kind, pattern in self._patterns:
            match = pattern.fullmatch(text)
            if match:
                self._in_user_list = kind is Kind.USERS
                return _line(kind, text, match)
        if text.startswith("!!!"):
            return Line(Kind.ERROR, text)
        if text.startswith("***"):
            return Line(Kind.NOTICE, text)
        return Line(Kind.TEXT, text)


def _line(kind: Kind, text: str, match: re.Match[str]) -> Line:
    fields = match.groupdict()
    spans = tuple(
        (name, match.start(name), match.end(name)) for name in fields if name in NICK_FIELDS
    )
    return Line(kind, text, fields, spans)
