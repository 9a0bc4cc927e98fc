"""Tests for littlecats.text: decoding received bytes, line editing and sanitising."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from littlecats.text import apply_edits, clean_line, decode, sanitise

FAST = settings(max_examples=300, derandomize=True, database=None, deadline=None)

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
C0 = "".join(map(chr, range(0x20)))
C1 = "".join(map(chr, range(0x80, 0xA0)))
FORBIDDEN = frozenset(C0 + "\x7f" + C1 + BIDI_CONTROLS + "\ufeff")
CP1252_UNDEFINED = b"\x81\x8d\x8f\x90\x9d"


# --- decode ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"hello", "hello"),
        (b"", ""),
        ("João".encode(), "João"),
        ("李雷 देव Ана".encode(), "李雷 देव Ана"),
        ("😀".encode(), "😀"),
        (b"Jo\xe3o", "João"),  # Latin-1 / cp1252 client
        (b"caf\xe9", "café"),
        (b"\x93aspas\x94", "“aspas”"),  # cp1252 smart quotes
        (b"\x80 5", "€ 5"),  # cp1252 euro sign
        (b"\x9b", "›"),  # a raw 0x9B byte is cp1252 ›, not a C1 CSI
        (b"\x81", "\x81"),  # undefined in cp1252: Latin-1
        (b"\x8d\x8f\x90\x9d", "\x8d\x8f\x90\x9d"),
        ("ã".encode() + b" \xe3", "ã ã"),  # UTF-8 and a stray cp1252 byte in one line
        (b"\xe2\x82", "â‚"),  # truncated UTF-8 sequence: each byte on its own
        (b"\xe2\x82x", "â‚x"),
        (b"\xc3", "Ã"),  # lone lead byte at the end
        (b"\xed\xa0\x80", "í\xa0€"),  # encoded surrogate is not UTF-8
        (b"\xc0\xaf", "À¯"),  # overlong encoding is not UTF-8
        (b"\xff\xfe", "ÿþ"),
    ],
)
def test_decode_reads_utf8_and_falls_back_to_cp1252(raw, text):
    """UTF-8 is read as UTF-8; any byte that is not valid UTF-8 is read as cp1252 (or Latin-1)."""
    assert decode(raw) == text


@pytest.mark.parametrize("byte", range(0x80, 0x100))
def test_every_stray_high_byte_becomes_one_character(byte):
    """Each stray non-ASCII byte becomes exactly one character: cp1252, else Latin-1."""
    raw = bytes((byte,))
    expected = chr(byte) if raw in CP1252_UNDEFINED else raw.decode("cp1252")
    assert decode(raw) == expected
    assert decode(b"a" + raw + b"b") == "a" + expected + "b"


@FAST
@given(st.binary(max_size=64))
def test_decode_never_fails(raw):
    """Whatever bytes a client sends, decoding gives text and never an error."""
    assert isinstance(decode(raw), str)


@FAST
@given(st.text(max_size=64))
def test_valid_utf8_round_trips(text):
    """Text sent as valid UTF-8 arrives exactly as it was written."""
    assert decode(text.encode("utf-8")) == text


@FAST
@given(st.text(max_size=16), st.integers(0x80, 0xFF), st.text(max_size=16))
def test_stray_byte_leaves_surrounding_utf8_intact(before, byte, after):
    """A stray non-UTF-8 byte changes only itself: the UTF-8 text around it is unharmed."""
    raw = before.encode() + bytes((byte,)) + after.encode()
    decoded = decode(raw)
    assert decoded.startswith(before)
    assert decoded.endswith(after)
    assert len(decoded) == len(before) + 1 + len(after)


# --- apply_edits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("hello", "hello"),
        ("", ""),
        ("helo\x08lo", "hello"),
        ("helo\x7flo", "hello"),  # DEL works like backspace
        ("abc\x08\x08\x08", ""),
        ("\x08\x08abc", "abc"),  # backspace at the start does nothing
        ("ab\x08\x08\x08\x08c", "c"),
        ("João\x08\x08ão", "João"),
        ("olá mundo\x15tchau", "tchau"),  # Ctrl-U clears the line so far
        ("abc\x15", ""),
        ("\x15\x08x", "x"),
        ("ab\x15cd\x08e", "ce"),
        ("李雷\x08", "李"),  # one backspace removes one character, however wide
    ],
)
def test_backspace_del_and_ctrl_u_edit_the_line(typed, meant):
    """BS and DEL erase the character before; Ctrl-U erases everything typed before it."""
    assert apply_edits(typed) == meant


edit_text = st.text(st.sampled_from("ab\x08\x7f\x15é李") | st.characters(), max_size=40)


@FAST
@given(edit_text)
def test_edits_leave_no_edit_characters(typed):
    """After editing, no backspace, DEL or Ctrl-U remains in the text."""
    assert not set(apply_edits(typed)) & set("\x08\x7f\x15")


@FAST
@given(st.text(st.characters(exclude_characters="\x08\x7f\x15"), max_size=40))
def test_text_without_edits_is_unchanged(typed):
    """Text with no editing keys comes through untouched."""
    assert apply_edits(typed) == typed


@FAST
@given(edit_text, st.characters(exclude_characters="\x08\x7f\x15"), st.sampled_from("\x08\x7f"))
def test_backspace_undoes_the_last_character(typed, char, erase):
    """Typing a character then backspace is the same as not typing it."""
    assert apply_edits(typed + char + erase) == apply_edits(typed)


@FAST
@given(edit_text, edit_text)
def test_ctrl_u_forgets_everything_before_it(before, after):
    """Whatever was typed before Ctrl-U has no effect on the line."""
    assert apply_edits(before + "\x15" + after) == apply_edits(after)


# --- sanitise --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("hello", "hello"),
        ("", ""),
        ("João 李雷 देव", "João 李雷 देव"),
        ("\x1b[31mred\x1b[0m", "red"),  # SGR colour
        ("\x1b[2J\x1b[Hwiped", "wiped"),  # clear screen, cursor home
        ("\x1b[?25lhidden", "hidden"),  # private-mode CSI
        ("\x1b[1;31;42mx", "x"),
        ("\x1b[ q", ""),  # CSI with an intermediate byte
        ("\x9b31mred", "red"),  # 8-bit CSI
        ("a\x1b]0;pwned title\x07b", "ab"),  # OSC ended by BEL
        ("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # OSC 8 hyperlink, ST
        ("a\x9d0;title\x9cb", "ab"),  # 8-bit OSC and ST
        ("a\x1b]0;never ends", "a"),  # unterminated OSC runs to the end
        ("a\x1b]0;two\nlines\x07b", "ab"),  # a string runs across a line break
        ("a\x1bPq#0;1;1\x1b\\b", "ab"),  # DCS (sixel)
        ("a\x90dcs\x9cb", "ab"),  # 8-bit DCS
        ("a\x1b^pm\x1b\\b", "ab"),  # PM
        ("a\x1b_apc\x1b\\b", "ab"),  # APC
        ("a\x1bXsos\x1b\\b", "ab"),  # SOS
        ("a\x98sos\x9cb", "ab"),
        ("a\x9e\x9fz\x9cb", "ab"),
        ("\x1bcreset", "reset"),  # RIS, two-character escape
        ("\x1b(Bascii", "ascii"),  # charset designation with intermediate
        ("\x1b7saved\x1b8", "saved"),
        ("\x1b\x1b[31mx", "x"),  # a stray ESC before a real sequence
        ("end\x1b", "end"),  # lone ESC
        ("\x1b[", ""),  # truncated CSI
        ("bell\x07", "bell"),
        ("a\x00b\x01c\x1fd", "abcd"),
        ("a\rb\nc", "abc"),
        ("a\x7fb", "ab"),
        ("a\x85b\x80c\x9cd", "abcd"),  # C1 controls (NEL, PAD, a stray ST)
        ("a\tb", "a b"),  # tab becomes a space
        ("\t\t", "  "),
        ("\u202eevil\u202c", "evil"),  # right-to-left override
        ("a\u2066b\u2069c", "abc"),  # isolates
        ("a\u200eb\u200fc\u061cd", "abcd"),  # directional marks
        ("\ufeffbom", "bom"),
        ("נשמע עברית", "נשמע עברית"),  # RTL text itself is fine
        ("\u00a0nbsp\u00a0", "\u00a0nbsp\u00a0"),  # printable spaces are kept
    ],
)
def test_escape_sequences_and_controls_are_removed(text, safe):
    """Escape sequences, controls and bidi overrides vanish; the visible text stays."""
    assert sanitise(text) == safe


def is_safe(text: str) -> bool:
    return not set(text) & FORBIDDEN


hostile_text = st.text(
    st.sampled_from(list("\x1b[]P^_X\\\x07\x9b\x9c\x9d\x90\t\r\n;0m? aé李\ufeff"))
    | st.sampled_from(sorted(FORBIDDEN))
    | st.characters(),
    max_size=60,
)


@FAST
@given(hostile_text)
def test_sanitised_text_holds_no_control_characters(text):
    """Whatever is sent, nothing that could drive a terminal survives: no ESC, C0, C1 or bidi."""
    assert is_safe(sanitise(text))


@FAST
@given(hostile_text)
def test_sanitise_is_idempotent(text):
    """Sanitising safe text changes nothing, so cleaning twice is the same as once."""
    once = sanitise(text)
    assert sanitise(once) == once


@FAST
@given(st.text(st.characters(exclude_characters=FORBIDDEN), max_size=60))
def test_text_without_controls_only_loses_its_tabs(text):
    """Ordinary text, any script, is left alone except that tabs become spaces."""
    assert sanitise(text) == text.replace("\t", " ")


# --- clean_line ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "line"),
    [
        (b"  hello  ", "hello"),
        ("  olá, João!  ".encode(), "olá, João!"),
        (b"\x1b[31mred\x1b[0m", "red"),
        (b"\tindented", "indented"),
        (b"a\tb", "a b"),
        (b"caf\xe9", "café"),
        (b"Jos\xc3\xa9\x08e", "Jose"),  # backspace removes a whole UTF-8 character
        (b"Jos\xe9\x7fe", "Jose"),
        (b"secret\x15public", "public"),
        (b"\x1b[2J", ""),
        (b"\x81", ""),  # undefined cp1252 byte is a C1 control: removed
        (b"\x9b31m", "›31m"),  # a raw 0x9B is cp1252 ›, shown, not a CSI
        (b"\xc2\x9b31mred", "red"),  # U+009B sent as UTF-8 is a CSI: removed
        ("\u202egnp.exe".encode(), "gnp.exe"),
        (b"\xef\xbb\xbfhello", "hello"),  # BOM
        (b"  \x1b[0m  ", ""),
        (b"a\x1b[", "a"),
    ],
)
def test_clean_line_is_safe_text(raw, line):
    """A received line becomes safe, edited, stripped text in one step."""
    assert clean_line(raw) == line


@FAST
@given(st.binary(max_size=80))
def test_clean_line_accepts_any_bytes_and_returns_safe_text(raw):
    """Any bytes at all make a safe line: no controls, no surrounding whitespace, never an error."""
    line = clean_line(raw)
    assert is_safe(line)
    assert line == line.strip()


@FAST
@given(hostile_text)
def test_clean_line_of_hostile_utf8_is_safe(text):
    """Escape sequences and controls sent as UTF-8 never reach other users."""
    line = clean_line(text.encode("utf-8", "surrogatepass"))
    assert is_safe(line)
    assert line == line.strip()


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_unicode_line_separators_removed(separator):
    """Unicode line and paragraph separators cannot start a fake new line on a terminal."""
    assert sanitise(f"oi{separator}*** falso") == "oi*** falso"
