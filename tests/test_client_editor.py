"""
Tests of the input line: key decoding, display width, editing, history and completion.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from littlecats.client.editor import LineEditor
from littlecats.client.keys import Key, KeyDecoder
from littlecats.client.width import clusters, text_width, truncate


def decode_bytewise(data: bytes) -> list:
    decoder = KeyDecoder()
    keys: list = []
    for i in range(len(data)):
        keys += decoder.feed(data[i : i + 1])
    return keys


def test_keys_survive_any_fragmentation():
    """Characters and escape sequences split across reads are decoded whole."""
    data = "olá😀\x1b[D\x1b[3~\x1bOH\x1b[1;5C\x7f\r".encode()
    assert decode_bytewise(data) == [
        "o",
        "l",
        "á",
        "😀",
        Key.LEFT,
        Key.DELETE,
        Key.HOME,
        Key.WORD_RIGHT,
        Key.BACKSPACE,
        Key.ENTER,
    ]


def test_unknown_sequences_and_controls_are_dropped():
    """Unknown escape sequences and stray control characters never reach the line."""
    assert KeyDecoder().feed(b"\x1b[99za\x00\x1b[200~b\x07") == ["a", "b"]


def test_lone_escape_then_a_letter_types_the_letter():
    """Escape followed by an unbound key does not swallow that key."""
    decoder = KeyDecoder()
    assert decoder.feed(b"\x1b") == []
    assert decoder.feed(b"x") == ["x"]


def test_display_width_of_wide_and_combining_characters():
    """CJK and emoji take two columns, combining marks none, ASCII one."""
    assert text_width("abc") == 3
    assert text_width("日本") == 4
    assert text_width("😀") == 2
    assert text_width("e\u0301") == 1
    assert list(clusters("e\u0301👍🏽x")) == ["e\u0301", "👍🏽", "x"]
    assert truncate("日本語", 5) == "日本"


def typed(text: str) -> LineEditor:
    editor = LineEditor()
    editor.insert(text)
    return editor


def test_editing_moves_and_deletes_whole_characters():
    """Left, right, home, end, backspace and delete work on whole characters, emoji included."""
    editor = typed("a😀b")
    editor.key(Key.LEFT)
    editor.key(Key.BACKSPACE)
    assert editor.text == "ab"
    editor.key(Key.HOME)
    editor.key(Key.DELETE)
    editor.insert("é")
    editor.key(Key.END)
    editor.insert("!")
    assert editor.text == "éb!"


def test_combining_mark_typed_after_a_letter_joins_it():
    """A combining accent typed after a letter is one character with it for the cursor."""
    editor = typed("e\u0301")
    assert editor.chars == ["e\u0301"]
    editor.key(Key.BACKSPACE)
    assert editor.text == ""


def test_kill_keys():
    """Ctrl-U, Ctrl-K and Ctrl-W remove to the start, to the end and the word before."""
    editor = typed("one two three")
    editor.key(Key.KILL_WORD)
    assert editor.text == "one two "
    editor.key(Key.WORD_LEFT)
    editor.key(Key.KILL_END)
    assert editor.text == "one "
    editor.key(Key.KILL_START)
    assert editor.text == ""


def test_history_browses_back_and_returns_to_the_draft():
    """Up recalls earlier lines, Down walks forward and back to the unsent draft."""
    editor = LineEditor()
    for line in ("first", "second"):
        editor.insert(line)
        assert editor.key(Key.ENTER) == line
    editor.insert("draft")
    editor.key(Key.UP)
    assert editor.text == "second"
    editor.key(Key.UP)
    editor.key(Key.UP)
    assert editor.text == "first"
    editor.key(Key.DOWN)
    editor.key(Key.DOWN)
    assert editor.text == "draft"


def test_tab_completes_and_cycles_nicknames():
    """Tab completes a nickname prefix ignoring case, and cycles on repeated presses."""
    names = ["bob", "Bianca", "ana"]
    editor = typed("b")
    editor.key(Key.TAB, names)
    assert editor.text == "Bianca: "
    editor.key(Key.TAB, names)
    assert editor.text == "bob: "
    mid = typed("hi an")
    mid.key(Key.TAB, names)
    assert mid.text == "hi ana "


def test_tab_completes_room_names_after_a_hash():
    """Tab completes '#ga' to a room ignoring case, and cycles through the rooms that match."""
    names, rooms = ["gabi"], ["#gatos", "#Galos", "#lobby"]
    editor = typed("/join #ga")
    editor.key(Key.TAB, names, rooms)
    assert editor.text == "/join #Galos "
    editor.key(Key.TAB, names, rooms)
    assert editor.text == "/join #gatos "
    plain = typed("ga")
    plain.key(Key.TAB, names, rooms)
    assert plain.text == "gabi: "


def test_room_at_the_start_of_a_line_is_not_addressed_like_a_nickname():
    """A room completed at the start of a line is followed by a space, not by ': '."""
    editor = typed("#lo")
    editor.key(Key.TAB, ["lola"], ["#lobby"])
    assert editor.text == "#lobby "


def test_tab_completes_commands():
    """Tab after a leading slash completes a command name."""
    editor = typed("/ni")
    editor.key(Key.TAB)
    assert editor.text == "/nick "
    rooms = typed("/jo")
    rooms.key(Key.TAB)
    assert rooms.text == "/join "


def test_view_keeps_the_cursor_visible_on_a_long_line():
    """On a line wider than the screen the window scrolls so the cursor stays in view."""
    editor = typed("日本語" * 20)
    shown, cursor = editor.view(20)
    assert text_width(shown) <= 19
    assert 0 <= cursor <= 19
    editor.key(Key.HOME)
    shown, cursor = editor.view(20)
    assert shown.startswith("日本語") and cursor == 0


@given(st.lists(st.sampled_from(["a", "é", "日", "😀", "e\u0301", " "]), max_size=40),
       st.lists(st.sampled_from(list(Key)), max_size=40), st.integers(4, 80))
def test_view_always_fits_and_holds_the_cursor(pieces, keys, columns):
    """Whatever is typed and pressed, the visible part fits the width and shows the cursor."""
    editor = typed("".join(pieces))
    for key in keys:
        editor.key(key, ["ana", "bob"])
    shown, cursor = editor.view(columns)
    assert text_width(shown) <= columns - 1
    assert 0 <= cursor <= text_width(shown)


def test_secret_line_shows_nothing_and_stays_out_of_history():
    """A password being typed shows nothing, and once submitted is not in the history."""
    editor = LineEditor()
    editor.insert("chat line")
    editor.key(Key.ENTER)
    editor.conceal(True)
    editor.insert("s3cret pw")
    assert editor.view(40) == ("", 0)
    editor.key(Key.UP)  # no browsing: the history would show through
    editor.key(Key.TAB, ["s3cret-nick"])  # no completion either
    assert editor.text == "s3cret pw"
    assert editor.key(Key.ENTER) == "s3cret pw"
    assert editor.history == ["chat line"]
    assert "s3cret" not in "".join(editor._draft)


def test_concealing_drops_what_was_typed_either_way():
    """Nothing typed before becomes part of a password, and no password is left behind."""
    editor = typed("half a line")
    editor.conceal(True)
    assert editor.text == ""
    editor.insert("s3cret")
    editor.conceal(False)
    assert editor.text == ""
    assert editor.view(40) == ("", 0)
    editor.insert("shown")
    assert editor.view(40) == ("shown", 5)


def test_command_lines_with_passwords_stay_out_of_history():
    """/register, /password, /unregister and /nick NEW PASSWORD are sent but never recalled."""
    editor = LineEditor()
    for line in (
        "/register s3cret1",
        "/PASSWORD s3cret1 s3cret2",
        "/unregister s3cret2",
        "/nick ana s3cret3",
        "/nick bia",
        "hello",
    ):
        editor.insert(line)
        assert editor.key(Key.ENTER) == line
    assert editor.history == ["/nick bia", "hello"]


def test_tab_completes_the_account_commands():
    """The new commands complete like the others."""
    completions = (("/reg", "/register "), ("/unr", "/unregister "), ("/his", "/history "))
    for prefix, command in completions:
        editor = typed(prefix)
        editor.key(Key.TAB)
        assert editor.text == command
