"""
How long a ban or a mute lasts: C{30s}, C{10m}, C{2h}, C{7d}, C{1w}, or a combination such as
C{1h30m}, read by L{parse_duration} and written back by L{format_duration}.

Pure functions, no state.  A duration is one word: one or more parts, each ASCII digits and a
unit (C{s}, C{m}, C{h}, C{d}, C{w}, any case), the units from the largest to the smallest and
each at most once (C{1d12h}, not C{12h1d} nor C{1h1h}: both are more likely a typo than a
wish).  It is more than zero and at most L{MAX_DURATION} (3650 days, about 10 years); no
duration at all means "until lifted".  Anything else raises L{DurationRejected}, whose
C{msgid} names the catalog message saying why.
"""

from __future__ import annotations

import itertools
import math
import re

import attrs

UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
"""Seconds per unit, from the largest to the smallest (the order parts must come in)."""
MAX_DAYS = 3650
MAX_DURATION = MAX_DAYS * 86400
"""The longest duration accepted, in seconds: 3650 days (about 10 years)."""

_MAX_DIGITS = 12
"""More digits than this in one part is past L{MAX_DURATION} whatever the unit (10**12 s is
31 688 years); checked before converting, so a pasted megabyte of digits costs nothing."""
_SHAPE = re.compile(r"(?:[0-9]+[a-z])+", re.ASCII)
_PART = re.compile(r"([0-9]+)([a-z])", re.ASCII)
_NUMBER = re.compile(r"[0-9]+", re.ASCII)

_ENGLISH = {
    "err-duration-invalid": "{text} is not a duration: use a number and a unit, like 30s, "
    "10m, 2h, 7d, 1w or 1h30m",
    "err-duration-unit": "{text} needs a unit: s, m, h, d or w (like {text}m)",
    "err-duration-order": "{text}: put the units from the largest to the smallest, each once "
    "(like 1d12h)",
    "err-duration-zero": "{text}: a duration must be longer than zero",
    "err-duration-negative": "{text}: a duration cannot be negative",
    "err-duration-long": "{text}: a duration can be at most {days} days (about 10 years); "
    "leave it out for one that lasts until lifted",
}


@attrs.frozen
class DurationRejected(ValueError):
    """A duration broke a rule; C{msgid} names the catalog message explaining which, and
    C{fields} fills it in (C{text}: the word as given; C{days} for C{err-duration-long}).

    C{str()} of it is the English reason, for logs and tests; operators are shown the
    catalog's line for C{msgid}.
    """

    msgid: str
    fields: dict[str, object] = attrs.field(factory=dict)

    def __str__(self) -> str:
        return _ENGLISH[self.msgid].format(**self.fields)


def looks_like_duration(word: str) -> bool:
    """Whether C{word}, the word after a mask in C{/ban MASK [DURATION] [reason]}, is meant as
    a duration rather than as the start of the reason.

    True when it starts with an ASCII digit (or a sign and a digit), so that a mistyped
    duration (C{10x}, C{-5m}, C{90}) is refused with L{parse_duration}'s reason instead of
    silently becoming part of the reason of a ban that never ends.
    """
    if word[:1] in ("-", "+"):
        word = word[1:]
    return word[:1].isascii() and word[:1].isdigit()


def parse_duration(text: str) -> float | None:
    """The number of seconds C{text} stands for; None if it is empty or blank (no duration:
    until lifted).  Raise L{DurationRejected} saying why anything else is refused.

    >>> parse_duration("1h30m")
    5400.0
    """
    word = text.strip()
    if not word:
        return None
    fields: dict[str, object] = {"text": word}
    if not word.isascii():  # digits and units are ASCII; this also keeps lower() to ASCII
        raise DurationRejected("err-duration-invalid", fields)
    lowered = word.lower()
    unsigned = lowered[1:]
    if lowered[:1] == "-" and (_SHAPE.fullmatch(unsigned) or _NUMBER.fullmatch(unsigned)):
        raise DurationRejected("err-duration-negative", fields)
    if _NUMBER.fullmatch(lowered):
        raise DurationRejected("err-duration-unit", fields)
    if not _SHAPE.fullmatch(lowered):
        raise DurationRejected("err-duration-invalid", fields)
    parts = _PART.findall(lowered)
    if any(unit not in UNITS for _, unit in parts):
        raise DurationRejected("err-duration-invalid", fields)
    order = list(UNITS)
    ranks = [order.index(unit) for _, unit in parts]
    if any(a >= b for a, b in itertools.pairwise(ranks)):
        raise DurationRejected("err-duration-order", fields)
    if any(len(digits) > _MAX_DIGITS for digits, _ in parts):
        raise DurationRejected("err-duration-long", {**fields, "days": MAX_DAYS})
    seconds = sum(int(digits) * UNITS[unit] for digits, unit in parts)
    if not seconds:
        raise DurationRejected("err-duration-zero", fields)
    if seconds > MAX_DURATION:
        raise DurationRejected("err-duration-long", {**fields, "days": MAX_DAYS})
    return float(seconds)


def format_duration(seconds: float) -> str:
    """The compact form of C{seconds}, the largest units first: C{5400} gives C{"1h30m"},
    C{604800} gives C{"1w"}, C{0} gives C{"0s"}.

    A fraction of a second counts as a whole one (a ban with 0.2 s left shows C{1s}, not
    C{0s}), so C{parse_duration(format_duration(s)) == s} for every whole C{s} in range.
    Raise C{ValueError} for a negative or non-finite C{seconds} (a caller's bug).
    """
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"not a duration: {seconds!r}")
    left = math.ceil(seconds)
    parts = []
    for unit, size in UNITS.items():
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
