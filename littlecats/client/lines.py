"""
What a line from the server means: classification of received text into kinds with fields.

The server's own message templates (the `littlecats` catalogs, in every language) are turned
into patterns, so the client recognises a join, a private message or a user list whatever the
server's language, and keeps the server's text verbatim: a `Line` holds the text as received
(already sanitised), its `Kind`, the fields the template named (`nick`, `room`, `text`, ...)
and where the nickname and room fields sit in the text, for colouring.  Pure: no sockets, no
terminal.
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
    """A private message to us; one kept while we were away has a C{time} field too."""
    PRIVATE_OUT = "private-to"
    JOINED = "joined"
    LEFT = "left"
    RENAMED = "renamed"
    USERS = "users"
    USERS_MORE = "users-more"
    ALONE = "alone"
    ROOM_JOINED = "room-joined"
    ROOM_LEFT = "room-left"
    TOPIC = "topic"
    TOPIC_NONE = "topic-none"
    TOPIC_SET = "topic-set"
    NAMES = "names"
    NAMES_MORE = "names-more"
    ROOMS = "rooms"
    """The header of the room list; a L{ROOMS_ENTRY} line per room follows."""
    ROOMS_ENTRY = "rooms-entry"
    GOODBYE = "goodbye"
    HISTORY = "history-said"
    """A line said in a room before we entered it (or earlier, on /history): C{time}, C{nick},
    C{text}.  Never someone talking now."""
    HISTORY_ACTION = "history-acted"
    """An action done in a room before we entered it: C{time}, C{nick}, C{text}."""
    HISTORY_START = "history-start"
    """The header of a run of L{HISTORY} and L{HISTORY_ACTION} lines: C{room}, C{count}."""
    HISTORY_END = "history-end"
    PROMPT = "nick-prompt"
    PASSWORD_PROMPT = "password-prompt"
    """The nickname just sent (C{nick}) is registered: the next line sent is its password."""
    IDENTIFIED = "identified"
    GHOSTED = "ghosted"
    """Our nickname was identified from another connection, and the server closes this one."""
    NOTICE = "notice"
    ERROR = "error"
    TEXT = "text"
    LOCAL = "local"
    """Said by the client itself (connection state, hints), never received."""


NICK_FIELDS = frozenset({"nick", "old", "new"})
ROOM_FIELDS = frozenset({"room"})
HISTORY_KINDS = frozenset({Kind.HISTORY, Kind.HISTORY_ACTION, Kind.HISTORY_START, Kind.HISTORY_END})
"""The kinds of a room's replayed history: shown apart, and never acted upon."""

# Template message id -> kind, most specific first: "left-reason" before "left".  A live line
# starts with "<" or "* " (its text may hold anything, "[" included), a private one with
# "[private ...", and a history line with "[{time}] ": the live and private templates go first,
# so a history line is only what none of them matched, and the kept private message (with its
# time) before the plain one.
_TEMPLATES = (
    ("public", Kind.PUBLIC),
    ("action", Kind.ACTION),
    ("private-delivered", Kind.PRIVATE_IN),
    ("private-from", Kind.PRIVATE_IN),
    ("private-to", Kind.PRIVATE_OUT),
    ("history-said", Kind.HISTORY),
    ("history-acted", Kind.HISTORY_ACTION),
    ("history-start", Kind.HISTORY_START),
    ("history-end", Kind.HISTORY_END),
    ("history-none", Kind.NOTICE),
    ("joined", Kind.JOINED),
    ("left-reason", Kind.LEFT),
    ("left", Kind.LEFT),
    ("renamed", Kind.RENAMED),
    ("users", Kind.USERS),
    ("room-joined", Kind.ROOM_JOINED),
    ("room-left", Kind.ROOM_LEFT),
    ("topic", Kind.TOPIC),
    ("topic-none", Kind.TOPIC_NONE),
    ("topic-set", Kind.TOPIC_SET),
    ("names", Kind.NAMES),
    ("rooms", Kind.ROOMS),
    ("rooms-entry-topic", Kind.ROOMS_ENTRY),
    ("rooms-entry", Kind.ROOMS_ENTRY),
    ("alone", Kind.ALONE),
    ("goodbye", Kind.GOODBYE),
    ("nick-prompt", Kind.PROMPT),
    ("password-prompt", Kind.PASSWORD_PROMPT),
    ("identified", Kind.IDENTIFIED),
    ("ghosted", Kind.GHOSTED),
    ("registered", Kind.NOTICE),
    ("password-changed", Kind.NOTICE),
    ("unregistered", Kind.NOTICE),
    ("private-kept", Kind.NOTICE),
    ("err-password-wrong", Kind.ERROR),
    ("err-login-wait", Kind.ERROR),
    ("err-login-busy", Kind.ERROR),
    ("err-nick-registered", Kind.ERROR),
)
# A nickname never holds spaces or the brackets that surround it in the templates; a room name
# is a "#" and no spaces, so it can never be mistaken for the words of another template.
_FIELD_PATTERNS = {
    "nick": r"[^\s<>\[\]]+",
    "old": r"[^\s<>\[\]]+",
    "new": r"[^\s<>\[\]]+?",
    "room": r"#[^\s,]+",
    "count": r"\d+",
    "seconds": r"\d+",
    "time": r"[^\[\]]+",
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
    """(field, start, end) of each nickname and room field within C{text}."""
    msgid: str | None = None
    """The server's message id of the template the line matched, if it matched one."""

    @property
    def nick(self) -> str | None:
        """The nickname the line is from or about, if it names one."""
        return self.fields.get("nick")

    @property
    def room(self) -> str | None:
        """The room the line is about, if it names one."""
        return self.fields.get("room")

    def nicks(self) -> list[str]:
        """The nicknames of a user-list line."""
        listed = self.fields.get("nicks", "")
        return [nick for nick in listed.split(", ") if nick]


def _pattern(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    seen: set[str] = set()
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if field is None:
            continue
        if field in seen:  # the same value again ("/nick {nick} PASSWORD")
            parts.append(f"(?P={field})")
        else:
            seen.add(field)
            parts.append(f"(?P<{field}>{_FIELD_PATTERNS.get(field, _ANY)})")
    return re.compile("".join(parts))


# A list line whose tail may follow on "*** a, b" lines, and the kind of that tail.
_CONTINUED = {Kind.USERS: Kind.USERS_MORE, Kind.NAMES: Kind.NAMES_MORE}


class Classifier:
    """Tells the kind of each received line; remembers just enough to spot a user list's tail."""

    def __init__(self, languages: tuple[str, ...] = LANGUAGES) -> None:
        self._patterns: list[tuple[str, Kind, re.Pattern[str]]] = []
        more: list[re.Pattern[str]] = []
        for language in languages:
            catalog = Catalog(language)
            for msgid, kind in _TEMPLATES:
                self._patterns.append((msgid, kind, _pattern(catalog.template(msgid))))
            more.append(_pattern(catalog.template("users-more")))
        self._more = more
        self._continuation: Kind | None = None
        """The kind a "*** a, b" line has now: the tail of the list just received, if any."""

    def classify(self, text: str) -> Line:
        """The L{Line} for one received, sanitised line."""
        continuation, self._continuation = self._continuation, None
        if continuation is not None:
            for pattern in self._more:
                match = pattern.fullmatch(text)
                if match and _NICK_LIST.fullmatch(match.group("nicks")):
                    self._continuation = continuation
                    return _line(continuation, text, match, "users-more")
        for msgid, kind, pattern in self._patterns:
            match = pattern.fullmatch(text)
            if match:
                self._continuation = _CONTINUED.get(kind)
                return _line(kind, text, match, msgid)
        if text.startswith("!!!"):
            return Line(Kind.ERROR, text)
        if text.startswith("***"):
            return Line(Kind.NOTICE, text)
        return Line(Kind.TEXT, text)


def _line(kind: Kind, text: str, match: re.Match[str], msgid: str) -> Line:
    fields = match.groupdict()
    spans = tuple(
        (name, match.start(name), match.end(name))
        for name in fields
        if name in NICK_FIELDS or name in ROOM_FIELDS
    )
    return Line(kind, text, fields, spans, msgid)
