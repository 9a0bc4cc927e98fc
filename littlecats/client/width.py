"""
Display width of text on a terminal: how many columns a character, a cluster or a string takes.

Text is edited and wrapped by user-perceived characters (`clusters`): a base character with the
combining marks, variation selectors, emoji modifiers and zero-width-joined characters that
follow it.  East Asian wide and fullwidth characters, and emoji, take two columns; marks and
joiners take none.  This is an approximation of Unicode's grapheme and width rules that agrees
with common terminals; it holds no terminal state and writes nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator

_ZWJ = "\u200d"
_EMOJI_PRESENTATION = "\ufe0f"


def _extends(char: str) -> bool:
    """Whether C{char} belongs to the cluster before it rather than starting a new one."""
    if char in (_ZWJ, _EMOJI_PRESENTATION, "\ufe0e"):
        return True
    if "\U0001f3fb" <= char <= "\U0001f3ff":  # emoji skin-tone modifiers
        return True
    return unicodedata.category(char) in ("Mn", "Me", "Mc")


def char_width(char: str) -> int:
    """Columns taken by one code point on its own: 0, 1 or 2."""
    if _extends(char) or unicodedata.category(char) in ("Cf", "Cc"):
        return 0
    if unicodedata.east_asian_width(char) in ("W", "F"):
        return 2
    return 1


def cluster_width(cluster: str) -> int:
    """Columns taken by one cluster: its base, widened to two by an emoji presentation selector."""
    width = char_width(cluster[0])
    if _EMOJI_PRESENTATION in cluster and width == 1:
        return 2
    return width


def clusters(text: str) -> Iterator[str]:
    """Split C{text} into user-perceived characters."""
    current = ""
    for char in text:
        if current and (_extends(char) or current.endswith(_ZWJ)):
            current += char
            continue
        if current:
            yield current
        current = char
    if current:
        yield current


def text_width(text: str) -> int:
    """Columns taken by C{text}."""
    return sum(cluster_width(cluster) for cluster in clusters(text))


def truncate(text: str, columns: int) -> str:
    """The longest start of C{text} that fits in C{columns}, never splitting a cluster."""
    kept: list[str] = []
    used = 0
    for cluster in clusters(text):
        width = cluster_width(cluster)
        if used + width > columns:
            break
        kept.append(cluster)
        used += width
    return "".join(kept)
