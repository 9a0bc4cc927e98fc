"""IRC line framing: every line ending, split reads, bounded lines."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from littlecats.doors.irc.framing import LineFramer


def test_every_line_ending_ends_a_line_and_empty_lines_are_nothing():
    framer = LineFramer()
    assert framer.feed(b"NICK ana\r\nUSER a 0 * :A\nPING x\r\r\n") == [
        b"NICK ana",
        b"USER a 0 * :A",
        b"PING x",
    ]


def test_a_line_and_a_utf8_character_split_across_reads_arrive_whole():
    framer = LineFramer()
    data = "PRIVMSG #a :olá\r\n".encode()
    cut = data.index("á".encode()) + 1  # inside the two bytes of á
    assert framer.feed(data[:cut]) == []
    assert framer.feed(data[cut:-2]) == []
    assert framer.feed(data[-2:]) == ["PRIVMSG #a :olá".encode()]


def test_an_over_long_line_is_reported_once_and_the_stream_goes_on():
    framer = LineFramer(max_length=10)
    assert framer.feed(b"x" * 8) == []
    assert framer.feed(b"x" * 8) == [None]
    assert framer.feed(b"x" * 100) == []
    assert framer._buffer == b""
    assert framer.feed(b"xx\r\nPING a\r\n") == [b"PING a"]
    assert framer.feed(b"y" * 11 + b"\nok\n" + b"z" * 20) == [None, b"ok", None]
    assert framer.feed(b"z\nfim\n") == [b"fim"]


@given(st.lists(st.binary(max_size=30), max_size=30), st.integers(1, 40))
def test_any_stream_any_split(chunks, limit):
    """Fed in any pieces, the lines are those of the whole stream; the buffer stays bounded."""
    framer = LineFramer(max_length=limit)
    got = []
    for chunk in chunks:
        got += framer.feed(chunk)
        assert len(framer._buffer) <= limit
    *ended, unfinished = (
        b"".join(chunks).replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    )
    expected = [None if len(line) > limit else line for line in ended if line]
    if len(unfinished) > limit:  # reported as soon as it is too long, not when it ends
        expected.append(None)
    assert got == expected
