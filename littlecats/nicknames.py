"""
Nickname and room-name rules: what a valid name is, and the key two names collide on.

Pure functions, no state.  A nickname is 1 to 24 characters after NFC normalisation: letters of
any script, digits and `_ - .`, with combining marks allowed after the first character (scripts
such as Devanagari need them).  No spaces, no control or format characters, no symbols, and no
emoji: enclosing marks and the emoji/text presentation selectors (U+FE0E, U+FE0F) are refused,
as they turn a digit or letter into one (`1` U+FE0F U+20E3 is the keycap emoji).
Uniqueness ignores case: two nicknames collide when their `fold()` keys are equal.
A room name is `#` followed by 1 to 32 characters of the same kinds, folded the same way.
"""

from __future__ import annotations

import unicodedata

import attrs

MAX_LENGTH = 24
_PUNCTUATION = frozenset("_-.")
_PRESENTATION_SELECTORS = frozenset("\ufe0e\ufe0f")


@attrs.frozen
class NicknameRejected(Exception):
    """A nickname broke a rule; C{msgid} names the catalog message explaining which."""

    msgid: str
    fields: dict[str, object] = attrs.field(factory=dict)


def normalise(raw: str) -> str:
    """The display form of a nickname: surrounding whitespace stripped, NFC-normalised."""
    return unicodedata.normalize("NFC", raw.strip())


def fold(nick: str) -> str:
    """The key under which nicknames are unique: NFC, Unicode casefold, NFC again."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", nick).casefold())


def _allowed(char: str, first: bool) -> bool:
    if char in _PUNCTUATION:
        return True
    category = unicodedata.category(char)
    if category[0] == "L" or category == "Nd":
        return True
    return category in ("Mn", "Mc") and not first and char not in _PRESENTATION_SELECTORS


def _check(name: str, max_length: int, kind: str) -> None:
    """Raise L{NicknameRejected} (C{err-KIND-...}) if C{name} breaks a rule."""
    if not name:
        raise NicknameRejected(f"err-{kind}-empty")
    if len(name) > max_length:
        raise NicknameRejected(f"err-{kind}-long", {"max": max_length})
    if not all(_allowed(char, i == 0) for i, char in enumerate(name)):
        raise NicknameRejected(f"err-{kind}-chars")


def validate(raw: str) -> str:
    """Return the display form of C{raw}, or raise L{NicknameRejected} saying why."""
    nick = normalise(raw)
    _check(nick, MAX_LENGTH, "nick")
    return nick


ROOM_MAX_LENGTH = 32
ROOM_PREFIX = "#"


def validate_room(raw: str) -> str:
    """Return the display form of room name C{raw} (C{#} and 1 to 32 of the nickname's
    characters), or raise L{NicknameRejected} saying why.  Rooms are unique by L{fold}."""
    name = normalise(raw)
    if not name.startswith(ROOM_PREFIX):
        raise NicknameRejected("err-room-hash")
    _check(name[len(ROOM_PREFIX) :], ROOM_MAX_LENGTH, "room")
    return name
