"""
Tests of rendering: colours by line kind and nickname, NO_COLOR, wrapping by display width.
"""

from __future__ import annotations

import pytest

from littlecats.client.__main__ import language
from littlecats.client.lines import Classifier, Kind, Line
from littlecats.client.render import (
    KIND_STYLES,
    Palette,
    Segment,
    ansi,
    colour_wanted,
    plain,
    styled,
    wrap,
)
from littlecats.client.width import text_width

SAMPLES = {
    Kind.PUBLIC: "<bob> hello",
    Kind.ACTION: "* bob waves",
    Kind.PRIVATE_IN: "[private from bob] psst",
    Kind.PRIVATE_OUT: "[private to bob] hi",
    Kind.JOINED: "*** bob joined the Little Cats chat.",
    Kind.LEFT: "*** bob left the Little Cats chat.",
    Kind.RENAMED: "*** bob is now known as rob.",
    Kind.USERS: "*** Connected users (2): ana, bob",
    Kind.ALONE: "*** No other users are connected.",
    Kind.GOODBYE: "*** Goodbye, bob!",
    Kind.ROOM_JOINED: "*** bob joined #cats.",
    Kind.ROOM_LEFT: "*** bob left #cats.",
    Kind.TOPIC: "*** Topic of #cats: naps",
    Kind.TOPIC_NONE: "*** #cats has no topic.",
    Kind.TOPIC_SET: "*** bob set the topic of #cats to: naps",
    Kind.NAMES: "*** In #cats (2): ana, bob",
    Kind.ROOMS: "*** Rooms (1):",
    Kind.ROOMS_ENTRY: "***   #cats (2): naps",
    Kind.PROMPT: "Choose your nickname:",
    Kind.TEXT: "plain words",
    Kind.NOTICE: "*** Welcome",
    Kind.ERROR: "!!! nope",
    Kind.HISTORY: "[2026-12-01 17:22] <bob> hello",
    Kind.HISTORY_ACTION: "[2026-12-01 17:22] * bob waves",
    Kind.HISTORY_START: "*** Earlier in #cats (2):",
    Kind.HISTORY_END: "*** End of #cats's history.",
    Kind.PASSWORD_PROMPT: "The nickname ana is registered; type its password:",
    Kind.IDENTIFIED: "*** You are identified as ana.",
    Kind.GHOSTED: "!!! The nickname ana was identified from another connection; "
    "this one is being closed.",
}


@pytest.mark.parametrize(("kind", "text"), SAMPLES.items())
def test_every_kind_renders_its_text_verbatim_with_its_style(kind, text):
    """Every kind of line keeps its exact text, in the colour of its kind."""
    line = Classifier().classify(text)
    assert line.kind is kind
    segments = styled(line, Palette())
    assert plain(segments) == text
    if kind in KIND_STYLES:
        assert any(KIND_STYLES[kind] in segment.style for segment in segments)


def test_nickname_colour_is_stable_and_ignores_case():
    """A nickname always gets the same colour, whatever its case, and colours vary across nicks."""
    palette = Palette()
    assert palette.nick("Bob") == palette.nick("bob") == Palette().nick("BOB")
    assert len({palette.nick(f"user{i}") for i in range(40)}) > 3


def test_nickname_is_coloured_inside_the_line():
    """In a public line the nickname has its own colour and the text none."""
    segments = styled(Classifier().classify("<bob> hi"), Palette())
    assert Segment("bob", Palette().nick("bob")) in segments
    assert segments[-1] == Segment("> hi", "")


def test_rooms_have_their_own_stable_colour_inside_the_line():
    """A room is coloured apart from the nickname beside it, the same whatever its case."""
    palette = Palette()
    assert palette.room("#Cats") == palette.room("#cats") != palette.nick("#cats")
    segments = styled(Classifier().classify("*** bob joined #cats."), palette)
    base = KIND_STYLES[Kind.ROOM_JOINED]
    assert Segment("bob", f"{base};{palette.nick('bob')}") in segments
    assert Segment("#cats", f"{base};{palette.room('#cats')}") in segments
    assert Palette(colour=False).room("#cats") == ""


def test_no_colour_palette_emits_no_escapes():
    """With colour off every line renders as plain text, escape-free."""
    for text in SAMPLES.values():
        rendered = ansi(styled(Classifier().classify(text), Palette(colour=False)))
        assert rendered == text


def test_mentions_of_my_nickname_stand_out():
    """A public line that mentions my nickname is highlighted."""
    segments = styled(Classifier().classify("<bob> hey ANA, look"), Palette(), me="ana")
    assert segments[-1].style == Palette().mention()


def test_local_lines_have_their_own_style():
    """The client's own messages are styled apart from the server's."""
    segments = styled(Line(Kind.LOCAL, "-!- Connected"), Palette())
    assert segments == [Segment("-!- Connected", KIND_STYLES[Kind.LOCAL])]


@pytest.mark.parametrize(
    ("environ", "flag", "expected"),
    [({}, False, True), ({"NO_COLOR": "1"}, False, False), ({"NO_COLOR": ""}, False, True),
     ({}, True, False)],
)
def test_no_color_environment_and_flag(environ, flag, expected):
    """NO_COLOR (when non-empty) and --no-color both turn colour off."""
    assert colour_wanted(flag, environ) is expected


def test_wrap_breaks_at_spaces_and_indents_continuations():
    """Long lines wrap at a space where possible, continuation rows indented, nothing lost."""
    segments = [Segment("12:00 ", ""), Segment("<bob> " + "word " * 12, "")]
    rows = wrap(segments, 24, indent=6)
    assert all(text_width(plain(row)) <= 24 for row in rows)
    assert all(plain(row).startswith("      ") for row in rows[1:])
    assert "".join(plain(row).strip() for row in rows).count("word") == 12


def test_wrap_counts_wide_characters_as_two_columns():
    """Wide characters wrap by display width, never overflowing a row."""
    rows = wrap([Segment("日本語" * 10, "1")], 9)
    assert all(text_width(plain(row)) <= 9 for row in rows)
    assert "".join(plain(row) for row in rows) == "日本語" * 10


def test_language_follows_option_then_locale():
    """--lang wins, then the locale's language, then the project default."""
    assert language(["--lang", "en"], {"LANG": "pt_BR.UTF-8"}) == "en"
    assert language(["--lang=pt"], {}) == "pt"
    assert language([], {"LANG": "en_GB.UTF-8"}) == "en"
    assert language([], {"LANG": "C.UTF-8"}) == "pt"


def test_history_is_dimmed_to_the_last_segment():
    """Every part of a history line is dim, its nickname too (in its own colour); the same
    words said now are not."""
    palette = Palette()
    for text in ("[2026-12-01 17:22] <bob> hey ana", "[01/12/2026 17:22] * bob waves"):
        line = Classifier().classify(text)
        segments = styled(line, palette, me="ana")
        assert plain(segments) == text
        assert all(segment.style.split(";")[0] == "2" for segment in segments)
        assert Segment("bob", f"{KIND_STYLES[line.kind]};{palette.nick('bob')}") in segments
    live = styled(Classifier().classify("<bob> hey ana"), palette, me="ana")
    assert not any(segment.style.startswith("2") for segment in live)


def test_a_kept_private_message_looks_like_a_private_message():
    """A message kept while away is styled as a private message."""
    line = Classifier().classify("[private from bob, 2026-12-01 17:24] psst")
    assert line.kind is Kind.PRIVATE_IN
    assert styled(line, Palette())[0].style == KIND_STYLES[Kind.PRIVATE_IN]
