"""
Keyboard input of a terminal in raw mode: bytes in, keys out.

`KeyDecoder` turns whatever the terminal sends, in chunks split anywhere, into a list of keys:
a `str` for each typed character (any Unicode, decoded incrementally as UTF-8, so a character
split across reads arrives whole) and a `Key` for editing and control keys, from control bytes
and the common VT/xterm escape sequences (CSI and SS3, with or without modifiers).  Sequences it
does not know are consumed and dropped.  Pure: it reads no file descriptor and draws nothing.
"""

from __future__ import annotations

import codecs
import enum
import unicodedata


class Key(enum.Enum):
    """The non-text keys the line editor understands."""

    ENTER = "enter"
    BACKSPACE = "backspace"
    DELETE = "delete"
    LEFT = "left"
    RIGHT = "right"
    WORD_LEFT = "word-left"
    WORD_RIGHT = "word-right"
    HOME = "home"
    END = "end"
    UP = "up"
    DOWN = "down"
    PAGE_UP = "page-up"
    PAGE_DOWN = "page-down"
    TAB = "tab"
    KILL_START = "kill-start"
    KILL_END = "kill-end"
    KILL_WORD = "kill-word"
    REDRAW = "redraw"
    EOF = "eof"
    """Ctrl-D: leave on an empty line, else delete the character under the cursor."""
    INTERRUPT = "interrupt"
    SUSPEND = "suspend"


CONTROLS = {
    "\r": Key.ENTER,
    "\n": Key.ENTER,
    "\t": Key.TAB,
    "\x7f": Key.BACKSPACE,
    "\x08": Key.BACKSPACE,
    "\x01": Key.HOME,
    "\x05": Key.END,
    "\x02": Key.LEFT,
    "\x06": Key.RIGHT,
    "\x10": Key.UP,
    "\x0e": Key.DOWN,
    "\x04": Key.EOF,
    "\x03": Key.INTERRUPT,
    "\x1a": Key.SUSPEND,
    "\x0b": Key.KILL_END,
    "\x15": Key.KILL_START,
    "\x17": Key.KILL_WORD,
    "\x0c": Key.REDRAW,
}
# Final byte of CSI/SS3 sequences without a number.
FINALS = {
    "A": Key.UP,
    "B": Key.DOWN,
    "C": Key.RIGHT,
    "D": Key.LEFT,
    "H": Key.HOME,
    "F": Key.END,
}
# CSI <number> ~
TILDES = {
    "1": Key.HOME,
    "7": Key.HOME,
    "4": Key.END,
    "8": Key.END,
    "3": Key.DELETE,
    "5": Key.PAGE_UP,
    "6": Key.PAGE_DOWN,
}
# Alt (ESC prefix) and Ctrl/Alt-modified arrows move by word.
ALT = {"b": Key.WORD_LEFT, "f": Key.WORD_RIGHT, "\x7f": Key.KILL_WORD, "\x08": Key.KILL_WORD}
WORD_MOVES = {Key.LEFT: Key.WORD_LEFT, Key.RIGHT: Key.WORD_RIGHT}
MAX_SEQUENCE = 32
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def typeable(char: str) -> bool:
    """Whether C{char} may go into the line being typed (no controls, no bidi overrides)."""
    return unicodedata.category(char) not in _REFUSED_CATEGORIES and char not in _BIDI_CONTROLS


class KeyDecoder:
    """Incremental decoder of terminal input into keys."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes) -> list[str | Key]:
        """Consume C{data}; return the complete keys it finished."""
        chars = self._pending + self._text.decode(data)
        self._pending = ""
        keys: list[str | Key] = []
        i = 0
        while i < len(chars):
            char = chars[i]
            if char != "\x1b":
                if char in CONTROLS:
                    keys.append(CONTROLS[char])
                elif typeable(char):
                    keys.append(char)
                i += 1
                continue
            consumed, key = _escape(chars, i)
            if consumed == 0:
                self._pending = chars[i:]
                break
            if key is not None:
                keys.append(key)
            i += consumed
        return keys


def _escape(chars: str, start: int) -> tuple[int, str | Key | None]:
    """Parse the escape sequence at C{start}: (characters consumed, key); 0 when incomplete."""
    rest = chars[start + 1 :]
    if not rest:
        return 0, None
    introducer = rest[0]
    if introducer == "[":
        for j, char in enumerate(rest[1:], 2):
            if "@" <= char <= "~":
                return j + 1, _csi(rest[1 : j - 1], char)
            if j > MAX_SEQUENCE:
                return j + 1, None
        return 0, None
    if introducer == "O":
        if len(rest) < 2:
            return 0, None
        return 3, FINALS.get(rest[1])
    if introducer == "\x1b":
        return 1, None
    if introducer in ALT:
        return 2, ALT[introducer]
    return 1, None  # a lone Escape: the key after it is typed as usual


def _csi(params: str, final: str) -> Key | None:
    if final == "~":
        return TILDES.get(params.split(";")[0])
    key = FINALS.get(final)
    if key is not None and ";" in params:
        modifier = params.split(";")[1]
        if modifier in ("3", "5"):  # Alt or Ctrl
            return WORD_MOVES.get(key, key)
    return key
