"""Tests for littlecats.nicknames: which nicknames are accepted, and which ones collide."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from littlecats.nicknames import (
    MAX_LENGTH,
    NicknameRejected,
    fold,
    normalise,
    validate,
    validate_room,
)

FAST = settings(max_examples=300, derandomize=True, database=None, deadline=None)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


# Nicknames people really use, in the scripts our users write; each is accepted as typed.
VALID = [
    "cat",
    "João",
    "Conceição",
    "José",
    "Ана",
    "Пётр",
    "李雷",
    "देव",
    "हिन्दी",
    "Ελένη",
    "عمر",
    "שרה",
    "ゆき",
    "김민준",
    "Nguyễn",
    "mary_jane",
    "o-gato",
    "dr.who",
    "R2D2",
    "1984",
    "_",
    ".",
    "٣٤",  # Arabic-Indic digits are digits
    "a" * MAX_LENGTH,
]


@pytest.mark.parametrize("nick", VALID)
def test_valid_nicknames_are_accepted_unchanged(nick):
    """Names in any script, with digits and _ - ., are accepted exactly as typed."""
    assert validate(nick) == nick


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("  João  ", "João"),
        ("\tcat\n", "cat"),
        ("\u3000李雷\u3000", "李雷"),  # ideographic space
        ("\xa0Ана\xa0", "Ана"),  # no-break space
    ],
)
def test_surrounding_whitespace_is_stripped(raw, shown):
    """Spaces around a nickname are ignored; the name is shown without them."""
    assert validate(raw) == shown


def test_decomposed_input_is_shown_composed():
    """A name typed in decomposed form (NFD) is shown in its composed (NFC) form."""
    decomposed = nfd("José")
    assert decomposed != "José"
    assert validate(decomposed) == "José"


@pytest.mark.parametrize(
    ("raw", "msgid"),
    [
        ("", "err-nick-empty"),
        ("   ", "err-nick-empty"),
        ("\t\n", "err-nick-empty"),
        ("a" * (MAX_LENGTH + 1), "err-nick-long"),
        ("李" * (MAX_LENGTH + 1), "err-nick-long"),
        ("joão silva", "err-nick-chars"),  # inner space
        ("a\u00a0b", "err-nick-chars"),  # no-break space
        ("cat😀", "err-nick-chars"),  # emoji
        ("😀", "err-nick-chars"),
        ("👍🏽", "err-nick-chars"),  # emoji with skin tone
        ("🇧🇷", "err-nick-chars"),  # flag (regional indicators)
        ("1\ufe0f\u20e3", "err-nick-chars"),  # keycap emoji: digit + VS16 + enclosing keycap
        ("\u2139\ufe0f", "err-nick-chars"),  # a letter turned emoji by VS16
        ("a\ufe0e", "err-nick-chars"),  # text presentation selector
        ("a\u20dd", "err-nick-chars"),  # enclosing circle
        ("a\u200db", "err-nick-chars"),  # zero-width joiner (format)
        ("a\u200bb", "err-nick-chars"),  # zero-width space (format)
        ("a\u202eb", "err-nick-chars"),  # right-to-left override
        ("a\x00b", "err-nick-chars"),  # control
        ("a\x1b[31mb", "err-nick-chars"),  # escape sequence
        ("a\x7fb", "err-nick-chars"),  # DEL
        ("a\x85b", "err-nick-chars"),  # C1 control (NEL)
        ("\u0301a", "err-nick-chars"),  # combining mark first
        ("\u093fदेव", "err-nick-chars"),  # Devanagari vowel sign first
        ("a@b", "err-nick-chars"),
        ("a+b", "err-nick-chars"),
        ("a$", "err-nick-chars"),  # currency symbol
        ("a©", "err-nick-chars"),
        ("#cat", "err-nick-chars"),
        ("a/b", "err-nick-chars"),
        ("a:b", "err-nick-chars"),
        ("a,b", "err-nick-chars"),
        ("Ⅻ", "err-nick-chars"),  # letter number, not a digit
        ("x²", "err-nick-chars"),  # superscript is not a digit
    ],
)
def test_invalid_nicknames_are_rejected_with_the_reason(raw, msgid):
    """Empty, too long, or with spaces, symbols, emoji or controls: refused, saying why."""
    with pytest.raises(NicknameRejected) as info:
        validate(raw)
    assert info.value.msgid == msgid


def test_too_long_rejection_says_the_limit():
    """The too-long refusal tells the user the maximum length."""
    with pytest.raises(NicknameRejected) as info:
        validate("a" * (MAX_LENGTH + 1))
    assert info.value.fields == {"max": MAX_LENGTH}


def test_length_is_counted_after_composition():
    """24 characters typed decomposed are still 24 characters: é made of e + accent counts once."""
    typed = nfd("é" * MAX_LENGTH)
    assert len(typed) == 2 * MAX_LENGTH
    assert validate(typed) == "é" * MAX_LENGTH


def test_length_ignores_surrounding_whitespace():
    """Spaces around a 24-character name do not make it too long."""
    assert validate("  " + "b" * MAX_LENGTH + "  ") == "b" * MAX_LENGTH


def test_combining_marks_that_do_not_compose_count_as_characters():
    """Marks count towards the limit when no composed character exists for them."""
    assert validate("द" + "\u0947" * (MAX_LENGTH - 1)) == "द" + "\u0947" * (MAX_LENGTH - 1)
    with pytest.raises(NicknameRejected):
        validate("द" + "\u0947" * MAX_LENGTH)


def test_normalise_strips_and_composes():
    """normalise() gives the display form: stripped and composed."""
    assert normalise(nfd("  José ")) == "José"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("cat", "CAT"),
        ("João", "JOÃO"),
        ("José", nfd("José")),
        ("JOSÉ", nfd("josé")),
        ("Ана", "АНА"),
        ("Ελένη", "ΕΛΈΝΗ"),
        ("σοφος", "ΣΟΦΟΣ"),
        ("σοφος", "σοφος".replace("ς", "σ")),  # final sigma folds to sigma
        ("STRASSE", "straße"),  # casefold: ß is ss
        ("strasse", "STRAẞE"),  # capital sharp s
        ("fish", "ﬁsh"),  # ligature fi
        ("Ǆemal", "ǆemal"),  # digraph letter, title case
    ],
)
def test_names_differing_only_in_case_or_composition_collide(one, other):
    """Names that differ only by case (Unicode casefold) or composition are the same name."""
    assert fold(one) == fold(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("joão", "joao"),  # accents matter
        ("jose", "josé"),
        ("ı", "i"),  # Turkish dotless i is its own letter under default casefold
        ("İ", "i"),  # capital dotted I folds to i + combining dot, not i
        ("cat", "cat_"),
        ("李雷", "李"),
        ("a", "а"),  # Latin a and Cyrillic а are different letters
    ],
)
def test_different_names_do_not_collide(one, other):
    """Names that differ by more than case or composition stay distinct."""
    assert fold(one) != fold(other)


def test_fold_documented_values():
    """fold() is NFC + casefold + NFC: ß becomes ss, capital dotted I keeps its dot as a mark."""
    assert fold("STRASSE") == fold("straße") == "strasse"
    assert fold("İ") == "i\u0307"
    assert fold(nfd("JOSÉ")) == "josé"


LETTERS_AND_DIGITS = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nd"})
MARKS = frozenset({"Mn", "Mc"})
nickname_chars = st.characters(categories=sorted(LETTERS_AND_DIGITS | MARKS)) | st.sampled_from(
    "_-."
)


@FAST
@given(st.text(nickname_chars, min_size=1, max_size=MAX_LENGTH))
def test_valid_names_round_trip_through_validation(text):
    """Any accepted name is accepted again unchanged, so validation is stable."""
    try:
        shown = validate(text)
    except NicknameRejected:
        return
    assert validate(shown) == shown
    assert shown == unicodedata.normalize("NFC", shown)
    assert 1 <= len(shown) <= MAX_LENGTH


@FAST
@given(st.text())
def test_validate_either_accepts_or_says_why(text):
    """Any input at all is either accepted or refused with one of the known reasons."""
    try:
        shown = validate(text)
    except NicknameRejected as rejected:
        assert rejected.msgid in {"err-nick-empty", "err-nick-long", "err-nick-chars"}
    else:
        assert 1 <= len(shown) <= MAX_LENGTH
        assert unicodedata.category(shown[0]) in LETTERS_AND_DIGITS or shown[0] in "_-."
        assert all(
            unicodedata.category(char) in LETTERS_AND_DIGITS | MARKS or char in "_-."
            for char in shown
        )


@FAST
@given(st.text())
def test_fold_ignores_case_and_composition(text):
    """The collision key is the same for a name in any case and in composed or decomposed form."""
    key = fold(text)
    assert fold(key) == key
    assert fold(text.lower()) == key
    assert fold(nfd(text)) == key
    assert fold(unicodedata.normalize("NFC", text)) == key


@FAST
@given(st.text(nickname_chars.filter(lambda c: c != "ı"), min_size=1, max_size=MAX_LENGTH))
def test_upper_case_names_collide_with_lower_case(text):
    """SHOUTING a name never makes a new name (except the Turkish dotless ı, see casefold)."""
    assert fold(text.upper()) == fold(text)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("#gatos", "#gatos"),
        ("  #Gatos ", "#Gatos"),
        ("#猫", "#猫"),
        ("#a" + "b" * 31, "#a" + "b" * 31),
    ],
)
def test_valid_room_names(raw, shown):
    """A room name is # and 1 to 32 nickname characters, shown trimmed and NFC-normalised."""
    assert validate_room(raw) == shown


@pytest.mark.parametrize(
    ("raw", "msgid"),
    [
        ("gatos", "err-room-hash"),
        ("", "err-room-hash"),
        ("#", "err-room-empty"),
        ("#" + "g" * 33, "err-room-long"),
        ("#a b", "err-room-chars"),
        ("##", "err-room-chars"),
        ("#\u0301a", "err-room-chars"),
        ("#1\ufe0f\u20e3", "err-room-chars"),
    ],
)
def test_invalid_room_names(raw, msgid):
    """A bad room name is refused with the message saying which rule it broke."""
    with pytest.raises(NicknameRejected) as info:
        validate_room(raw)
    assert info.value.msgid == msgid


def test_room_names_fold_like_nicknames():
    """#Gatos, #GATOS and #gatos are one room."""
    assert len({fold(validate_room(name)) for name in ("#Gatos", "#GATOS", "#gatos")}) == 1
