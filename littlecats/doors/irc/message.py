"""
IRC messages: parsing what a client sends and formatting what the server sends, with IRCv3
message tags, on the project's own bounded line framing.

Twisted's `twisted.words.protocols.irc` is not used for this (../shared/DEPENDENCIES.md has
the checked defects): its `parsemsg` knows no tags and raises on `:nick!u@h` alone or a line of
spaces, and its `sendCommand` lets CR and LF through, so one parameter could inject a second
line into another client's stream.  Here parsing never raises on what a client sends (a line
that is not a message is None), and formatting can never produce more than one line: CR, LF
and NUL are removed from every piece, and a parameter that could be read as more than one is
only ever the last.

Sizes (the modern IRC client protocol and the IRCv3 message-tags specification): the message
without its tags is at most 512 bytes with its CRLF; the tags at most 8191 bytes with the `@`
and the space after them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

MAX_BODY_BYTES = 512
"""A message's bytes without its tags, CRLF included."""
MAX_TAGS_BYTES = 8191
"""A message's tag section, its `@` and the space after it included."""
MAX_LINE_BYTES = MAX_TAGS_BYTES + MAX_BODY_BYTES

_TAG_ESCAPES = {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"}
_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_UNSAFE = str.maketrans("", "", "\r\n\x00")


class Message(NamedTuple):
    """One IRC message: its tags, where it comes from, its command and its parameters."""

    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: Mapping[str, str] = {}


class Malformed(ValueError):
    """A line that is not a message, with the reason (for the door's reply)."""


def unescape_tag_value(value: str) -> str:
    """A tag value as sent, unescaped (an unknown escape is the character itself; a lone
    trailing backslash is dropped)."""
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append(_TAG_UNESCAPES.get(following, following))
    return "".join(out)


def escape_tag_value(value: str) -> str:
    """A tag value escaped for the wire (NUL removed: it may not appear at all)."""
    return "".join(_TAG_ESCAPES.get(char, char) for char in value.replace("\x00", ""))


def parse(line: str) -> Message:
    """The message in C{line} (one line, its CRLF already removed).

    @raise Malformed: the line holds no command (empty, only spaces, only tags or a source).
    """
    rest = line.lstrip(" ")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        section, _, rest = rest[1:].partition(" ")
        for item in section.split(";"):
            if not item:
                continue
            key, _, value = item.partition("=")
            if key:
                tags[key] = unescape_tag_value(value)
        rest = rest.lstrip(" ")
    source = None
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    if not rest:
        raise Malformed("no command")
    command, _, rest = rest.partition(" ")
    params: list[str] = []
    while rest:
        rest = rest.lstrip(" ")
        if not rest:
            break
        if rest.startswith(":"):
            params.append(rest[1:])
            break
        param, _, rest = rest.partition(" ")
        params.append(param)
    return Message(command.upper(), tuple(params), source or None, tags)


def format_message(
    command: str,
    params: Sequence[str] = (),
    source: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """One line (CRLF included) for a message; whatever the pieces hold, never two.

    The last parameter is sent as a trailing one (`:` first) when it must be (empty, has a
    space, starts with `:`); any other parameter that would need it has its spaces removed
    and a leading `:` dropped, since only the last may hold them.  The body is cut to
    L{MAX_BODY_BYTES} (on a character boundary) and the tags to L{MAX_TAGS_BYTES}.
    """
    pieces: list[str] = []
    if source:
        pieces.append(":" + source.translate(_UNSAFE).replace(" ", ""))
    pieces.append(command.translate(_UNSAFE).replace(" ", ""))
    last = len(params) - 1
    for index, param in enumerate(params):
        param = param.translate(_UNSAFE)
        if index == last and (not param or " " in param or param.startswith(":")):
            pieces.append(":" + param)
        else:
            pieces.append(param.replace(" ", "").lstrip(":") or "*")
    body = _cut(" ".join(pieces), MAX_BODY_BYTES - 2) + "\r\n"
    if not tags:
        return body
    section = ";".join(
        key.translate(_UNSAFE).replace(" ", "").replace(";", "").replace("=", "")
        + ("=" + escape_tag_value(value) if value else "")
        for key, value in tags.items()
    )
    return "@" + _cut(section, MAX_TAGS_BYTES - 2) + " " + body


def _cut(text: str, limit: int) -> str:
    """C{text} cut to at most C{limit} bytes of UTF-8, on a character boundary."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", "ignore")


def decode(raw: bytes) -> str:
    """A received line as text: strict UTF-8 (the server advertises UTF8ONLY).

    @raise Malformed: the line is not valid UTF-8 (the door refuses it and goes on).
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("invalid utf-8") from None


def split_line(raw: bytes) -> tuple[bytes, bytes]:
    """A received line's tag section and body, to check each against its own size limit."""
    if raw.startswith(b"@"):
        tags, _, body = raw.partition(b" ")
        return tags, body
    return b"", raw
