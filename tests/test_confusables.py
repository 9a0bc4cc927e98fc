"""Tests for littlecats.confusables: which names count as look-alikes, and the data behind it."""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from littlecats.confusables import DATA_FILE, confusable, read_table, skeleton
from littlecats.nicknames import fold

FAST = settings(max_examples=300, derandomize=True, database=None, deadline=None)
ROOT = Path(__file__).parent.parent
TABLE = read_table()
SOURCES = frozenset(TABLE)
MAP = {ord(source): target for source, target in TABLE.items()}
CODE_POINTS = [chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def reference_skeleton(name: str) -> str:
    """The module docstring's six steps, one whole-string pass each, with no shortcut."""
    text = "".join(
        unicodedata.normalize("NFKC", c)
        if unicodedata.decomposition(c).startswith(("<wide>", "<narrow>"))
        else c
        for c in name
    )
    text = nfd(nfd(text).translate(MAP))
    folded = []
    for c in text:
        f = nfd(c.casefold())
        folded.append(c if any(x in TABLE for x in f) else f)
    return unicodedata.normalize("NFC", "".join(folded))


def case_variants(char: str) -> set[str]:
    return {char, char.lower(), char.upper(), char.casefold(), char.title()}


def _case_split_classes() -> dict[str, set[str]]:
    """The fold() classes of cased characters whose members do not all share one skeleton."""
    classes: dict[str, set[str]] = {}
    for char in CODE_POINTS:
        variants = case_variants(char)
        if len(variants) > 1:
            for variant in variants:
                classes.setdefault(fold(variant), set()).add(variant)
    return {key: names for key, names in classes.items() if len({skeleton(n) for n in names}) > 1}


CASE_SPLIT = _case_split_classes()
# The characters that are members of such a class themselves (not `α`, which is in `ᾳ`'s).
CASE_SPLIT_CHARS = frozenset(n for names in CASE_SPLIT.values() for n in names if len(n) == 1)


LOOK_ALIKE = [
    ("раураl", "paypal"),  # Cyrillic р а у р а
    ("Gаto", "Gato"),  # Cyrillic а
    ("bоb", "bob"),  # Cyrillic о
    ("BOB", "bob"),
    ("ｂｏｂ", "bob"),  # fullwidth
    ("ＢＯＢ", "bob"),
    ("ana", "аnа"),  # Cyrillic а
    ("ΑΒΓ", "ABΓ"),  # Greek Alpha and Beta look like A and B
    ("ВОВ", "BOB"),  # Cyrillic capitals
    ("ΚΑΤΕ", "kate"),  # Greek capitals against a lower-case name: case does not matter
    ("sa𝗆", "sam"),  # mathematical sans-serif m, a letter a nickname may hold
    ("bob𝟏", "bob1"),  # mathematical bold digit one
    ("bob０", "bob0"),  # fullwidth zero
    ("Ιan", "lan"),  # Greek capital Iota is Unicode's `l` (only Latin I was untied from it)
    ("ｶﾞｯﾂ", "ガッツ"),  # halfwidth katakana with a halfwidth voiced mark
    ("#rооm", "#room"),  # room names
]
DIFFERENT = [
    ("café", "cafe"),
    ("rn", "m"),
    ("0", "O"),
    ("b0b", "bob"),
    ("m1", "rnl"),
    ("1", "l"),
    ("I", "l"),
    ("Il", "ll"),
    ("Ian", "lan"),
    ("日本", "日木"),
    ("вов", "bob"),  # small Cyrillic ве is a small capital B, not a b
    ("Ελένη", "Eλενη"),  # accents are kept
    ("ana", "anna"),
    ("bob_", "bob-"),
]


@pytest.mark.parametrize(("a", "b"), LOOK_ALIKE)
def test_look_alikes_are_confusable(a, b):
    """Names that look the same on screen have one skeleton, whatever script they mix."""
    assert skeleton(a) == skeleton(b)
    assert confusable(a, b) and confusable(b, a)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_names_are_not(a, b):
    """Names that can be told apart stay apart, ergo's four untied pairs included."""
    assert skeleton(a) != skeleton(b)
    assert not confusable(a, b)


def test_skeleton_is_folded_and_composed():
    """A skeleton is lower-case NFC text: `BOB` gives `bob`, `ÉCOLE` gives `école`."""
    assert skeleton("BOB") == "bob"
    assert skeleton("ÉCOLE") == "école"
    assert skeleton("Straße") == skeleton("STRASSE") == "strasse"


def test_ascii_letters_digits_and_punctuation_map_to_themselves():
    """After the tweaks, every character an ASCII nickname can hold is its own skeleton."""
    ascii_name_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.#"
    assert not set(ascii_name_chars) & set(TABLE)
    for char in ascii_name_chars:
        assert skeleton(char) == reference_skeleton(char) == char.lower()


@pytest.mark.parametrize("source", ["m", "0", "1", "I"])
def test_ergo_tweaks_are_applied(source):
    """The four mappings ergo drops are not in the table, and nothing maps to their old
    targets by way of them: mathematical and fullwidth forms follow the plain character."""
    assert source not in TABLE
    derived = {"m": "𝐦𝗆ⅿ", "0": "𝟎０", "1": "𝟏１", "I": "𝐈ℐ"}[source]
    for char in derived:
        assert skeleton(char) == skeleton(source)


def test_data_header_names_its_source():
    """The data file says which Unicode file it comes from, where it was taken, its checksum,
    and what was changed."""
    text = resources.files("littlecats").joinpath("data", DATA_FILE).read_text("utf-8")
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    assert re.search(
        r"^# Source: Unicode confusables\.txt, Version: \d+\.\d+\.\d+, Date: \d{4}-\d\d-\d\d",
        header,
        re.M,
    )
    assert re.search(r"^# Taken from: PyPI package \S+ \d", header, re.M)
    assert re.search(r"^# SHA-256 of the original file: [0-9a-f]{64}$", header, re.M)
    for removed in ("006D ; 0072 006E", "0030 ; 004F", "0031 ; 006C", "0049 ; 006C"):
        assert removed in header
    assert "Unicode License" in header
    assert f"# {len(TABLE)} mappings." in header


def test_every_row_is_well_formed_and_every_target_is_a_prototype():
    """One `SOURCE ; TARGET...` line per character; every target is non-empty text of real
    code points that the table does not map again, so one pass reaches the prototype."""
    text = resources.files("littlecats").joinpath("data", DATA_FILE).read_text("utf-8")
    rows = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(rows) == len(TABLE) > 6000
    for row in rows:
        assert re.fullmatch(r"[0-9A-F]{4,6} ; [0-9A-F]{4,6}( [0-9A-F]{4,6})*", row), row
    for source, target in TABLE.items():
        assert target and target != source
        for char in source + target:
            assert ord(char) <= 0x10FFFF and not 0xD800 <= ord(char) < 0xE000
        assert SOURCES.isdisjoint(nfd(target)), (source, target)
        # NFD runs first, so a source with a canonical decomposition could never match.
        assert nfd(source) == source


def test_data_file_is_small():
    """The shipped table stays compact."""
    size = len(resources.files("littlecats").joinpath("data", DATA_FILE).read_bytes())
    assert size < 500_000


def test_idempotent_over_every_code_point():
    """A skeleton is its own skeleton, for every single character."""
    for char in CODE_POINTS:
        once = skeleton(char)
        assert once == char or skeleton(once) == once, (char, once)


@FAST
@given(st.text(max_size=30))
def test_skeleton_of_any_text(text):
    """Any text has a skeleton: it never raises, it is NFC, a fixed point, and it is what the
    documented steps give (the fast paths change nothing)."""
    result = skeleton(text)
    assert unicodedata.is_normalized("NFC", result)
    assert skeleton(result) == result
    assert result == reference_skeleton(text)


# Letters of the scripts our users write, less the case-split ones (their own test is below).
NAME_ALPHABET = st.sampled_from(
    sorted(
        c
        for c in set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
        | {chr(cp) for cp in range(0xC0, 0x250)}  # Latin-1 and Latin Extended-A/B
        | {chr(cp) for cp in range(0x370, 0x530)}  # Greek, Cyrillic
        | set("ßẞſﬀﬁİıǅǈΐΰŉǰ\u0301\u0308\u0345")  # multi-character case folds, marks
        | set("ｂｏＢＯｶﾞ日本木")
        if CASE_SPLIT_CHARS.isdisjoint("".join(case_variants(c)) + nfd(c))
    )
)


@FAST
@given(st.lists(st.tuples(NAME_ALPHABET, st.sampled_from(["", "l", "u", "t", "c"])), max_size=24))
def test_names_differing_only_in_case_share_a_skeleton(chars):
    """Two names that differ only in case have one skeleton, unless a letter in them is one
    whose capital and small forms Unicode's table maps to different shapes."""
    change = {"": str, "l": str.lower, "u": str.upper, "t": str.title, "c": str.casefold}
    a = "".join(char for char, _ in chars)
    b = "".join(change[how](char) for char, how in chars)
    assume(fold(a) == fold(b))  # not always: `ı` upper-cases to `I`, which folds to `i`
    assume(not set(a + b + nfd(a) + nfd(b)) & CASE_SPLIT_CHARS)
    assert skeleton(a) == skeleton(b)


@FAST
@given(st.text(max_size=24), st.sampled_from([str.lower, str.upper, str.casefold, str.swapcase]))
def test_fold_equal_text_shares_a_skeleton(a, change):
    """The same for arbitrary text and whole-name case changes."""
    b = change(a)
    assume(fold(a) == fold(b))
    assume(not set(a + b + nfd(a) + nfd(b)) & CASE_SPLIT_CHARS)
    assert skeleton(a) == skeleton(b)


def test_case_split_letters_are_the_tables_doing():
    """Where case variants of a letter get different skeletons, it is because Unicode's table
    maps that letter in one case (Cyrillic В is B, в is not b), never because of our steps;
    they all collide by fold() anyway."""
    assert skeleton("ВОВ") != skeleton("вов")
    assert fold("ВОВ") == fold("вов")
    assert "в" in CASE_SPLIT and "η" in CASE_SPLIT
    for names in CASE_SPLIT.values():
        assert any(c in TABLE for name in names for c in nfd(name)), names


def test_precomputed_ranges_cover_the_code_space():
    """The first call scans only part of the code space for cased and width characters;
    in this Python's Unicode data there are none anywhere else."""
    cased = [c for c in CODE_POINTS if c.casefold() != c]
    assert max(map(ord, cased)) < 0x20000
    width = [
        c for c in CODE_POINTS if unicodedata.decomposition(c).startswith(("<wide>", "<narrow>"))
    ]
    assert all(0x3000 <= ord(c) < 0x3040 or 0xFF00 <= ord(c) < 0xFFF0 for c in width)


# The generator, on a small raw file in Unicode's format.

RAW = """\ufeff# confusables.txt
# Date: 2030-01-01, 00:00:00 GMT
# Version: 99.0.0
#
0430 ;\t0061 ;\tMA\t# ( а → a ) CYRILLIC SMALL LETTER A → LATIN SMALL LETTER A\t#
006D ;\t0072 006E ;\tMA\t# ( m → rn ) LATIN SMALL LETTER M → R, N\t#
1D426 ;\t0072 006E ;\tMA\t# ( 𝐦 → rn ) MATHEMATICAL BOLD SMALL M → R, N\t# →m→
0030 ;\t004F ;\tMA\t# ( 0 → O ) DIGIT ZERO → LATIN CAPITAL LETTER O\t#
0031 ;\t006C ;\tMA\t# ( 1 → l ) DIGIT ONE → LATIN SMALL LETTER L\t#
0049 ;\t006C ;\tMA\t# ( I → l ) LATIN CAPITAL LETTER I → LATIN SMALL LETTER L\t#
0661 ;\t006C ;\tMA\t# ( ‎١‎ → l ) ARABIC-INDIC DIGIT ONE → LATIN SMALL LETTER L\t# →1→
0399 ;\t006C ;\tMA\t# ( Ι → l ) GREEK CAPITAL LETTER IOTA → LATIN SMALL LETTER L\t#
24D0 ;\t0430 ;\tMA\t# ( ⓐ → а ) CIRCLED LATIN SMALL LETTER A → CYRILLIC SMALL LETTER A\t#
"""


def _generator():
    path = ROOT / "tools" / "confusables_data.py"
    spec = importlib.util.spec_from_file_location("confusables_data", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_applies_the_tweaks(tmp_path):
    """tools/confusables_data.py drops ergo's four mappings, points what Unicode derived
    through them at them, maps a target the table maps again, and records its source."""
    raw = tmp_path / "confusables.txt"
    raw.write_text(RAW, encoding="utf-8")
    out = tmp_path / "out.txt"
    args = [str(raw), "--origin", "PyPI package example 1.0", "--output", str(out)]
    assert _generator().main(args) == 0
    text = out.read_text("utf-8")
    rows = [line for line in text.splitlines() if not line.startswith("#")]
    assert rows == ["0399 ; 006C", "0430 ; 0061", "0661 ; 0031", "24D0 ; 0061", "1D426 ; 006D"]
    assert "Version: 99.0.0, Date: 2030-01-01, 00:00:00 GMT" in text
    assert "# Taken from: PyPI package example 1.0" in text
    assert "# Redirected: 2 rows" in text
    assert "# Closed: 1 targets" in text  # ⓐ -> Cyrillic а -> a, in one step


def test_generator_refuses_a_file_without_the_tweaked_rows(tmp_path, capsys):
    """If a new Unicode version no longer has one of the four mappings, the tool stops."""
    raw = tmp_path / "confusables.txt"
    raw.write_text(RAW.replace("0030 ;\t004F", "0030 ;\t006F"), encoding="utf-8")
    out = tmp_path / "out.txt"
    assert _generator().main([str(raw), "--origin", "x", "--output", str(out)]) == 1
    assert "review the tweaks" in capsys.readouterr().err
    assert not out.exists()
