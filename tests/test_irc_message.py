"""IRC message syntax: parsing never raises on what a client sends but says what is not a
message; formatting never yields more than one line, whatever the pieces hold."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from littlecats.doors.irc.message import (
    MAX_BODY_BYTES,
    MAX_TAGS_BYTES,
    Malformed,
    Message,
    decode,
    escape_tag_value,
    format_message,
    parse,
    split_line,
    unescape_tag_value,
)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("NICK ana", Message("NICK", ("ana",))),
        ("privmsg #lobby :olá, gente", Message("PRIVMSG", ("#lobby", "olá, gente"))),
        ("USER ana 0 * :Ana Maria", Message("USER", ("ana", "0", "*", "Ana Maria"))),
        (":ana!a@h PRIVMSG bia :oi", Message("PRIVMSG", ("bia", "oi"), "ana!a@h")),
        ("JOIN :", Message("JOIN", ("",))),
        ("CAP LS 302", Message("CAP", ("LS", "302"))),
        ("  PING   a  b ", Message("PING", ("a", "b"))),
        ("TOPIC #a ::-)", Message("TOPIC", ("#a", ":-)"))),
        (
            "@time=2026-12-01T10:00:00.000Z;+draft/x=a\\sb\\:c;flag :s PRIVMSG #a :hi",
            Message(
                "PRIVMSG",
                ("#a", "hi"),
                "s",
                {"time": "2026-12-01T10:00:00.000Z", "+draft/x": "a b;c", "flag": ""},
            ),
        ),
    ],
)
def test_parse(line, message):
    assert parse(line) == message


@pytest.mark.parametrize("line", ["", "   ", ":ana!a@h", ":ana!a@h   ", "@a=b", "@a=b :x"])
def test_lines_without_a_command_are_malformed_not_errors(line):
    with pytest.raises(Malformed):
        parse(line)


def test_tag_escapes_round_trip_and_odd_escapes_are_tolerated():
    for value in ["", "plain", "a b;c\\d", "line\r\nbreak", "ação ✓"]:
        assert unescape_tag_value(escape_tag_value(value)) == value
    assert unescape_tag_value("a\\b") == "ab"
    assert unescape_tag_value("trailing\\") == "trailing"


def test_format_puts_a_trailing_parameter_last_only_when_needed():
    assert format_message("PRIVMSG", ["#a", "oi gente"], "ana!a@h") == (
        ":ana!a@h PRIVMSG #a :oi gente\r\n"
    )
    assert format_message("JOIN", ["#a"], "ana!a@h") == ":ana!a@h JOIN #a\r\n"
    assert format_message("PART", ["#a", ""]) == "PART #a :\r\n"
    assert format_message("X", [":smile"]) == "X ::smile\r\n"
    assert format_message("X", ["a b", "c"]) == "X ab c\r\n"  # only the last may hold spaces
    tagged = format_message("PRIVMSG", ["#a", "x"], "s", {"time": "T", "msgid": "1 2;3"})
    assert tagged == "@time=T;msgid=1\\s2\\:3 :s PRIVMSG #a x\r\n"


def test_nothing_in_any_piece_can_inject_a_second_line():
    line = format_message(
        "PRIVMSG",
        ["#a\r\nQUIT", "hi\r\nQUIT :x\x00"],
        "ev\nil!a@h",
        {"k\r\n": "v\r\nQUIT"},
    )
    assert line.count("\r\n") == 1 and line.endswith("\r\n")
    assert "\n" not in line[:-2] and "\r" not in line[:-2] and "\x00" not in line
    assert parse(line[:-2]).command == "PRIVMSG"


def test_long_messages_are_cut_to_the_limits_on_a_character_boundary():
    body = format_message("PRIVMSG", ["#a", "ç" * 600], "s")
    assert len(body.encode()) == MAX_BODY_BYTES or len(body.encode()) == MAX_BODY_BYTES - 1
    assert body.endswith("\r\n") and body.encode().decode() == body
    tagged = format_message("PRIVMSG", ["#a", "x"], None, {"big": "y" * 10000})
    tags, body = split_line(tagged.encode())
    assert len(tags) + 1 <= MAX_TAGS_BYTES and body == b"PRIVMSG #a x\r\n"


def test_decode_is_strict_utf8():
    assert decode("olá".encode()) == "olá"
    with pytest.raises(Malformed):
        decode(b"ol\xe1")


@given(st.text(max_size=300))
def test_parse_never_raises_anything_but_malformed(line):
    with contextlib.suppress(Malformed):
        parse(line)


@given(
    st.text(max_size=40),
    st.lists(st.text(max_size=80), max_size=6),
    st.one_of(st.none(), st.text(max_size=40)),
    st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=4),
)
def test_any_formatted_message_is_one_line(command, params, source, tags):
    line = format_message(command or "X", params, source, tags)
    assert line.endswith("\r\n") and line.count("\n") == 1 and line.count("\r") == 1
    assert "\x00" not in line
