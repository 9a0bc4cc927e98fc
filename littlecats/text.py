"""
Text rules: turning a received line into safe text, and nothing else.

Decoding: lines are UTF-8.  A byte that is not part of valid UTF-8 is read as Windows-1252
(what old Windows telnet clients send), and the five bytes cp1252 leaves undefined as Latin-1,
so decoding never fails and valid UTF-8 around a stray byte stays intact.

Editing: backspace (BS) and DEL remove the character before them, and Ctrl-U (NAK) removes
everything before it, as a terminal in character mode meant them to.

Sanitising: ANSI/VT escape sequences, C0 and C1 control characters, Unicode line/paragraph
separators and bidirectional controls are removed, and tabs become spaces, so nobody can write
into another user's terminal.
"""

from __future__ import annotations

import codecs
import re

_FALLBACK_ERRORS = "littlecats-cp1252"


def _cp1252_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    chunk = error.object[error.start : error.end]
    chars = []
    for byte in chunk:
        try:
            chars.append(bytes((byte,)).decode("cp1252"))
        except UnicodeDecodeError:
            chars.append(chr(byte))
    return "".join(chars), error.end


codecs.register_error(_FALLBACK_ERRORS, _cp1252_fallback)

# CSI (ESC [ or 8-bit CSI), OSC/DCS/SOS/PM/APC strings up to their terminator (across line
# breaks, as a terminal reads them), then any other two-character escape.  A lone ESC left over
# is removed with the other control characters.
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f]).*?(?:\x07|\x1b\\|\x9c|$)"
    r"|\x1b[ -/]*[0-~]",
    re.DOTALL,
)

# C0 controls except tab, DEL, C1 controls, the Unicode line and paragraph separators,
# bidirectional marks, embeddings, overrides and isolates, and the BOM / zero-width no-break space.
_CONTROLS = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
_EDITS = re.compile("[\x08\x15\x7f]")


def decode(line: bytes) -> str:
    """Decode a received line: UTF-8, with cp1252 for any byte that is not valid UTF-8."""
    return line.decode("utf-8", _FALLBACK_ERRORS)


def apply_edits(text: str) -> str:
    """Apply backspace and DEL (remove the character before) and Ctrl-U (remove the line so far)."""
    if not _EDITS.search(text):
        return text
    kept: list[str] = []
    for char in text:
        if char == "\x15":
            kept.clear()
        elif char in "\x08\x7f":
            if kept:
                kept.pop()
        else:
            kept.append(char)
    return "".join(kept)


def sanitise(text: str) -> str:
    """Remove escape sequences and control characters; tabs become spaces."""
    if text.isprintable():
        return text
    text = _ESCAPES.sub("", text)
    text = _CONTROLS.sub("", text)
    return text.replace("\t", " ")


def clean_line(line: bytes) -> str:
    """A received line as safe text: decoded, edited, sanitised, surrounding space stripped."""
    text = decode(line)
    if text.isprintable():  # nothing to edit or remove: the common case, one C call
        return text.strip()
    return sanitise(apply_edits(text)).strip()
