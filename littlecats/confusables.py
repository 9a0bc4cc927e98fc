"""
Look-alike names: the Unicode TR39 confusable skeleton of a nickname or room name.

Two names are confusable when their skeletons are equal: `bоb` with a Cyrillic `о` and `bob`,
`раураl` in Cyrillic and `paypal`, `ｂｏｂ` in fullwidth letters and `bob`.  Pure functions over
a table loaded once, on first use; nothing here knows about connections or storage.

A TR39 skeleton (UTS #39, section 4) is: NFD, each code point replaced by its prototype from
Unicode's `confusables.txt`, NFD again.  Ours, like ergo's (the IRC server), adds a width fold
before and a case fold after, and uses a "tweaked" table; in order:

  1. width fold: fullwidth and halfwidth forms (decomposition `<wide>` or `<narrow>`) become
     their ordinary characters (`ｂ` -> `b`, `ｶ` -> `カ`), as Go's `width.Fold` does: Unicode's
     table maps only some of them;
  2. NFD, so that accents are separate marks and `é` keeps its accent as U+0301;
  3. each code point through the table (`а` -> `a`, `𝐦` -> `m`);
  4. NFD again (a target may hold a precomposed character);
  5. case fold each code point (`str.casefold`), so `BOB` and `bob` match: except a character
     whose folded form the table would map again (`Þ` folds to `þ`, which the table maps to
     `p`): it stays as it is, so the result is a fixed point (`skeleton(skeleton(x)) ==
     skeleton(x)`) and a capital is not judged by its small letter's look (`Þ` is not `p`);
  6. NFC, so the result is the compact form of the same text.

The case fold comes after the table on purpose.  The table maps by shape, and shape depends on
case: Cyrillic `В` looks like `B` but `в` does not look like `b`; Greek `Η` looks like `H`, `η`
like `n`.  Folding first would let `ВОВ` (all Cyrillic) through next to `BOB`.  The price:
two names that differ only in case (`fold()`-equal) can have different skeletons when the
table maps their capital and small letters to different shapes (`ВОВ`: `bob`, `вов`: `ʙoʙ`).
That is harmless as long as each name is checked as it is shown: such names already collide
by `littlecats.nicknames.fold`, and a user who switches to another case of their own nickname
must have the new form checked against the others' skeletons too.  For every other pair of
`fold()`-equal names the skeletons are equal.

The data, `littlecats/data/confusables.txt`, is derived from Unicode's raw `confusables.txt`
by `tools/confusables_data.py`; its header says which Unicode version, from where, the file's
SHA-256, and the tweaks: after ergo it drops `m` -> `rn`, `0` -> `O`, `1` -> `l` and `I` -> `l`
(they make ordinary names collide) and points the characters Unicode derived through those
four at them instead (`𝐦` -> `m`).  To update: run that tool on a newer raw file (its
docstring says how) and run `tests/test_confusables.py`.

ASCII letters, digits and `_ - .` map to themselves after the tweaks, so an ASCII name that
has none of the few ASCII symbols the table maps is its own skeleton, lower-cased: the fast
path.  The table is Unicode's (newer than this Python's `unicodedata` perhaps); characters
this Python does not know are never in a valid nickname and are simply carried along.
"""

from __future__ import annotations

import functools
import unicodedata
from importlib import resources

__all__ = ["DATA_FILE", "confusable", "read_table", "skeleton"]

DATA_FILE = "confusables.txt"

# Every character that case folding changes is below U+20000 (checked by the tests against the
# whole code space); scanning only that far keeps the first call fast.
_CASED_LIMIT = 0x20000
# The blocks holding every <wide> and <narrow> compatibility character (same check).
_WIDTH_BLOCKS = (range(0x3000, 0x3040), range(0xFF00, 0xFFF0))


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def read_table() -> dict[str, str]:
    """The mappings in the packaged data file: source character -> prototype string."""
    data = resources.files("littlecats").joinpath("data", DATA_FILE).read_text("utf-8")
    table: dict[str, str] = {}
    for line in data.splitlines():
        if line and not line.startswith("#"):
            source, _, target = line.partition(";")
            table[chr(int(source, 16))] = "".join(chr(int(h, 16)) for h in target.split())
    return table


@functools.cache
def _tables() -> tuple[dict[int, str], frozenset[str]]:
    """The translation for step 3 to 5 of every code point they change (width-folded
    characters included), and the ASCII characters that are not their own lowercase there."""
    table = read_table()

    def fold_case(char: str) -> str:
        folded = char.casefold()
        if folded == char:
            return char
        folded = _nfd(folded)
        return char if any(c in table for c in folded) else folded

    def after_nfd(char: str) -> str:
        return "".join(fold_case(c) for c in _nfd(table.get(char, char)))

    chars = set(table)
    chars.update(c for c in map(chr, range(_CASED_LIMIT)) if c.casefold() != c)
    translation: dict[int, str] = {}
    for char in chars:
        translation[ord(char)] = after_nfd(char)
    for block in _WIDTH_BLOCKS:
        for char in map(chr, block):
            if unicodedata.decomposition(char).startswith(("<wide>", "<narrow>")):
                plain = _nfd(unicodedata.normalize("NFKC", char))
                translation[ord(char)] = "".join(after_nfd(c) for c in plain)
    translation = {cp: out for cp, out in translation.items() if out != chr(cp)}
    ascii_special = frozenset(
        chr(cp) for cp in range(128) if translation.get(cp, chr(cp)) != chr(cp).lower()
    )
    return translation, ascii_special


def skeleton(name: str) -> str:
    """The confusable skeleton of C{name}: equal for names that look alike (see the module
    docstring for the exact steps).  Defined for any text; never raises."""
    translation, ascii_special = _tables()
    if name.isascii() and ascii_special.isdisjoint(name):
        return name.lower()
    # Width-folded characters have no canonical decomposition, so NFD before folding them is
    # the same as after; the translation does the width fold, the table and the case fold.
    return unicodedata.normalize("NFC", _nfd(name).translate(translation))


def confusable(a: str, b: str) -> bool:
    """Whether names C{a} and C{b} look alike: their skeletons are equal."""
    return a == b or skeleton(a) == skeleton(b)
