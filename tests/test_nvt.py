"""Tests for the NVT decoder: telnet bytes in, chat lines and negotiation refusals out."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from littlecats.doors.telnet.nvt import (
    DO,
    DONT,
    EC,
    EL,
    IAC,
    SB,
    SE,
    TOO_LONG,
    WILL,
    WONT,
    LineDecoder,
)

FAST = settings(max_examples=300, derandomize=True, database=None, deadline=None)

NOP, GA, AYT, IP, EOF = 241, 249, 246, 244, 236
ECHO, SGA, TTYPE, NAWS, LINEMODE = 1, 3, 24, 31, 34


def cmd(*codes: int) -> bytes:
    """An IAC command: IAC followed by C{codes}."""
    return bytes((IAC, *codes))


def feed_chunks(chunks, max_length=2048):
    """Feed C{chunks} to a fresh decoder; return all lines and all replies, checking the bound."""
    decoder = LineDecoder(max_length)
    lines, replies = [], b""
    for chunk in chunks:
        got, reply = decoder.feed(chunk)
        lines += got
        replies += reply
        assert len(decoder._buffer) <= max_length
    return lines, replies


def feed_whole(data, max_length=2048):
    return feed_chunks([data], max_length)


def feed_bytewise(data, max_length=2048):
    return feed_chunks([data[i : i + 1] for i in range(len(data))], max_length)


def every_way(data, max_length=2048):
    """Feed C{data} whole and byte by byte, check both agree, and return the result."""
    whole = feed_whole(data, max_length)
    assert feed_bytewise(data, max_length) == whole
    return whole


# --- line ends -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"hello\n", [b"hello"]),
        (b"hello\r\n", [b"hello"]),
        (b"hello\r\x00", [b"hello"]),
        (b"hello\r", [b"hello"]),  # bare CR: the line does not wait for more
        (b"hello", []),  # no line end yet
        (b"one\ntwo\r\nthree\r\x00four\rfive", [b"one", b"two", b"three", b"four"]),
        (b"\n", [b""]),
        (b"\r\n\r\n", [b"", b""]),
        (b"\r\r\n", [b"", b""]),  # CR, then CR LF
        (b"\r\x00\n", [b"", b""]),  # CR NUL, then LF
        (b"\r\n\n", [b"", b""]),  # CR LF, then LF
        (b"\n\r", [b"", b""]),  # LF then CR: two line ends
        (b"a\r\rb\n", [b"a", b"", b"b"]),
        (b"a\x00b\n", [b"a\x00b"]),  # a NUL not after CR is data (text rules drop it)
        (b"\r\n\x00", [b""]),  # only the byte right after CR is swallowed
        ("olá 李雷\r\n".encode(), ["olá 李雷".encode()]),
        (b"\xe9t\xe9\n", [b"\xe9t\xe9"]),  # bytes are passed through undecoded
    ],
)
def test_every_telnet_and_netcat_line_end_ends_a_line(data, lines):
    """LF, CR LF, CR NUL and bare CR each end exactly one line, whole or byte by byte."""
    assert every_way(data) == (lines, b"")


def test_bare_cr_line_is_delivered_immediately():
    """A line ended by CR is delivered at once, without waiting to see what follows."""
    decoder = LineDecoder()
    assert decoder.feed(b"hi\r") == ([b"hi"], b"")


@pytest.mark.parametrize("follower", [b"\n", b"\x00"])
def test_lf_or_nul_after_cr_in_the_next_chunk_is_swallowed(follower):
    """A CR LF or CR NUL split across two reads still ends only one line."""
    decoder = LineDecoder()
    assert decoder.feed(b"hi\r") == ([b"hi"], b"")
    assert decoder.feed(follower + b"there\n") == ([b"there"], b"")


def test_lf_after_cr_is_swallowed_across_an_empty_read():
    """An empty read between CR and LF does not turn the LF into an extra empty line."""
    decoder = LineDecoder()
    assert decoder.feed(b"hi\r") == ([b"hi"], b"")
    assert decoder.feed(b"") == ([], b"")
    assert decoder.feed(b"\n") == ([], b"")


def test_lf_after_cr_is_swallowed_across_a_negotiation():
    """A negotiation arriving between CR and LF does not turn the LF into an extra empty line."""
    data = b"hi\r" + cmd(DO, ECHO) + b"\nthere\n"
    assert every_way(data) == ([b"hi", b"there"], cmd(WONT, ECHO))
    assert feed_chunks([b"hi\r", cmd(DO, ECHO), b"\n"]) == ([b"hi"], cmd(WONT, ECHO))


def test_only_one_lf_after_cr_is_swallowed():
    """CR then LF in the next read ends one line; a second LF ends another (empty) one."""
    assert feed_chunks([b"a\r", b"\n", b"\n"]) == ([b"a", b""], b"")


def test_partial_line_is_kept_across_reads():
    """A line that arrives in pieces is delivered whole once its end arrives."""
    decoder = LineDecoder()
    assert decoder.feed(b"hel") == ([], b"")
    assert decoder.feed(b"lo wor") == ([], b"")
    assert decoder.feed(b"ld\nnext") == ([b"hello world"], b"")
    assert decoder.feed(b"\r") == ([b"next"], b"")


def test_multibyte_character_split_across_reads_is_reassembled():
    """A UTF-8 character split across two reads arrives whole in the line."""
    raw = "João\n".encode()
    assert feed_chunks([raw[:3], raw[3:]]) == ([raw[:-1]], b"")


# --- negotiation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "replies"),
    [
        (cmd(DO, ECHO), cmd(WONT, ECHO)),
        (cmd(DO, SGA), cmd(WONT, SGA)),
        (cmd(DO, LINEMODE), cmd(WONT, LINEMODE)),
        (cmd(WILL, TTYPE), cmd(DONT, TTYPE)),
        (cmd(WILL, NAWS), cmd(DONT, NAWS)),
        (cmd(WILL, 0), cmd(DONT, 0)),
        (cmd(DO, IAC), cmd(WONT, IAC)),  # option 255 (EXOPL) is refused like any other
        (cmd(WONT, ECHO), b""),  # already off: no reply, no loop
        (cmd(DONT, ECHO), b""),
        (cmd(DO, ECHO) + cmd(WILL, NAWS) + cmd(WONT, 5), cmd(WONT, ECHO) + cmd(DONT, NAWS)),
        (cmd(DO, ECHO) * 3, cmd(WONT, ECHO) * 3),
    ],
)
def test_every_offered_option_is_refused(data, replies):
    """DO x gets WONT x, WILL x gets DONT x, and WONT/DONT get no reply at all."""
    assert every_way(data) == ([], replies)


def test_decoder_never_starts_a_negotiation():
    """Plain text gets no negotiation bytes back."""
    assert every_way(b"hello\r\nworld\n") == ([b"hello", b"world"], b"")


def test_negotiation_inside_a_line_does_not_touch_the_text():
    """A refusal-worthy request sent mid-line is answered and removed from the line."""
    data = b"he" + cmd(DO, ECHO) + b"llo" + cmd(WILL, NAWS) + b"\r\n"
    assert every_way(data) == ([b"hello"], cmd(WONT, ECHO) + cmd(DONT, NAWS))


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"a" + cmd(IAC) + b"b\n", b"a\xffb"),  # escaped 0xFF is data
        (cmd(IAC) * 2 + b"\n", b"\xff\xff"),
        (b"abc" + cmd(EC) + b"\n", b"abc\x08"),  # erase character: a backspace
        (b"abc" + cmd(EL) + b"\n", b"abc\x15"),  # erase line: a Ctrl-U
        (b"a" + cmd(NOP) + b"b\n", b"ab"),
        (b"a" + cmd(GA) + b"b\n", b"ab"),
        (b"a" + cmd(AYT) + b"b\n", b"ab"),
        (b"a" + cmd(IP) + b"b\n", b"ab"),
        (b"a" + cmd(EOF) + b"b\n", b"ab"),  # Ctrl-D in some clients
        (b"a" + cmd(SE) + b"b\n", b"ab"),  # stray SE
        (b"a" + cmd(0x41) + b"b\n", b"ab"),  # unknown command byte
        (b"a" + cmd(0x0D) + b"b\n", b"ab"),  # a command byte is never a line end
        (b"a" + cmd(0x0A) + b"b\n", b"ab"),
    ],
)
def test_commands_never_reach_the_text(data, line):
    """IAC commands are consumed; only IAC IAC, EC and EL leave (meaningful) bytes behind."""
    assert every_way(data) == ([line], b"")


@pytest.mark.parametrize(
    "sub",
    [
        cmd(SB, NAWS, 0, 80, 0, 24) + cmd(SE),
        cmd(SB, TTYPE, 0) + b"XTERM-256COLOR" + cmd(SE),
        cmd(SB, NAWS, 0, IAC, IAC, 0, 24) + cmd(SE),  # escaped 255 inside
        cmd(SB, TTYPE) + b"with\r\nline ends\n" + cmd(SE),  # no line ends inside
        cmd(SB, TTYPE) + cmd(IAC) + bytes((SE,)) + cmd(SE),  # IAC IAC SE is not the end
        cmd(SB, TTYPE) + cmd(NOP) + cmd(SE),
        cmd(SB) + cmd(SE),
        cmd(SB, TTYPE) + b"x" * 10_000 + cmd(SE),  # longer than any line: still skipped
    ],
)
def test_subnegotiations_are_skipped_whole(sub):
    """Subnegotiation payloads, whatever they hold, never reach the chat text."""
    assert every_way(b"be" + sub + b"fore\n", max_length=100) == ([b"before"], b"")


def test_subnegotiation_payload_is_not_buffered():
    """A huge subnegotiation does not grow the decoder's memory."""
    decoder = LineDecoder(max_length=16)
    decoder.feed(cmd(SB, TTYPE))
    for _ in range(100):
        assert decoder.feed(b"y" * 1000) == ([], b"")
        assert decoder._buffer == b""
    assert decoder.feed(cmd(SE) + b"ok\n") == ([b"ok"], b"")


def test_command_split_across_reads_is_resumed():
    """An IAC sequence cut between two reads is still understood."""
    decoder = LineDecoder()
    assert decoder.feed(b"a\xff") == ([], b"")
    assert decoder.feed(bytes((DO,))) == ([], b"")
    assert decoder.feed(bytes((ECHO,)) + b"b\n") == ([b"ab"], cmd(WONT, ECHO))


# --- line length -----------------------------------------------------------------------------


def test_line_of_exactly_the_limit_is_delivered():
    """A line exactly max_length bytes long is an ordinary line."""
    assert every_way(b"x" * 8 + b"\n", max_length=8) == ([b"x" * 8], b"")


def test_line_over_the_limit_is_reported_once_and_discarded():
    """A line one byte too long is reported once as too long, and its text is not delivered."""
    assert every_way(b"x" * 9 + b"\n", max_length=8) == ([TOO_LONG], b"")


def test_lines_after_a_long_line_are_unaffected():
    """After a too-long line, the following lines arrive normally."""
    data = b"ok\n" + b"x" * 50 + b"\r\nnext\rlast\n"
    assert every_way(data, max_length=8) == ([b"ok", TOO_LONG, b"next", b"last"], b"")


def test_long_line_arriving_in_many_reads_is_reported_once():
    """A flood with no line end is reported once, however many reads it takes."""
    decoder = LineDecoder(max_length=8)
    reports = []
    for _ in range(1000):
        lines, _ = decoder.feed(b"flood" * 3)
        reports += lines
        assert len(decoder._buffer) <= 8
    assert reports == [TOO_LONG]
    assert decoder.feed(b"tail\nfine\n") == ([b"fine"], b"")


def test_long_line_ended_by_cr_then_lf_in_next_read():
    """A too-long line ended by CR LF split across reads leaves no extra empty line."""
    lines, _ = feed_chunks([b"x" * 20 + b"\r", b"\nok\n"], max_length=8)
    assert lines == [TOO_LONG, b"ok"]


def test_escaped_iac_counts_as_one_byte():
    """The length limit counts received characters, so IAC IAC counts once."""
    assert every_way(cmd(IAC) * 4 + b"\n", max_length=4) == ([b"\xff" * 4], b"")


def test_negotiation_does_not_count_towards_the_limit():
    """Negotiation bytes inside a line do not make it too long."""
    data = b"abcd" + cmd(DO, ECHO) * 10 + cmd(SB, TTYPE) + b"z" * 100 + cmd(SE) + b"\n"
    assert every_way(data, max_length=4) == ([b"abcd"], cmd(WONT, ECHO) * 10)


def test_negotiation_is_still_answered_while_a_long_line_is_discarded():
    """Options offered in the middle of a too-long line are still refused."""
    data = b"x" * 20 + cmd(WILL, NAWS) + b"x" * 20 + b"\nok\n"
    assert every_way(data, max_length=8) == ([TOO_LONG, b"ok"], cmd(DONT, NAWS))


# --- properties ------------------------------------------------------------------------------


def reference_decode(data: bytes, max_length: int) -> tuple[list[bytes | None], bytes]:
    """A deliberately naive byte-at-a-time model of the documented NVT behaviour."""
    lines: list[bytes | None] = []
    replies = bytearray()
    line = bytearray()
    too_long = after_cr = False
    state, verb = "data", 0

    def text(byte: int) -> None:
        nonlocal too_long, after_cr
        if byte in (0x0A, 0x00) and after_cr:
            after_cr = False
            return
        after_cr = byte == 0x0D
        if byte in (0x0A, 0x0D):
            if not too_long:
                lines.append(bytes(line))
            line.clear()
            too_long = False
        elif not too_long:
            line.append(byte)
            if len(line) > max_length:
                lines.append(TOO_LONG)
                line.clear()
                too_long = True

    for byte in data:
        if state == "data":
            if byte == IAC:
                state = "command"
            else:
                text(byte)
        elif state == "command":
            state = "data"
            if byte in (WILL, WONT, DO, DONT):
                state, verb = "option", byte
            elif byte == SB:
                state = "sub"
            elif byte in (IAC, EC, EL):
                text({IAC: 0xFF, EC: 0x08, EL: 0x15}[byte])
        elif state == "option":
            if verb in (DO, WILL):
                replies += bytes((IAC, WONT if verb == DO else DONT, byte))
            state = "data"
        elif state == "sub":
            state = "sub-iac" if byte == IAC else "sub"
        else:
            state = "data" if byte == SE else "sub"
    return lines, bytes(replies)


# Byte streams rich in what matters to the decoder: line ends, NULs, IAC and its commands.
LINE_ENDS = [b"\r", b"\n", b"\x00", b"\r\n", b"\r\x00"]
COMMAND_BYTES = [bytes((c,)) for c in (IAC, SE, SB, WILL, WONT, DO, DONT, EC, EL, NOP)]
interesting = st.sampled_from([*LINE_ENDS, *COMMAND_BYTES, b"\xff\xff", b"x", b"ab", b"\xc3\xa9"])
streams = st.lists(interesting | st.binary(max_size=12), max_size=40).map(b"".join)
max_lengths = st.integers(min_value=1, max_value=12)


@st.composite
def split_stream(draw):
    """A byte stream and an arbitrary way of cutting it into reads."""
    data = draw(streams)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in itertools.pairwise(bounds)]


@FAST
@given(split_stream(), max_lengths)
def test_any_fragmentation_gives_the_same_lines_and_replies(split, max_length):
    """However the network cuts the stream (even into empty reads), lines and replies are equal."""
    data, chunks = split
    whole = feed_whole(data, max_length)
    assert feed_chunks(chunks, max_length) == whole
    assert feed_bytewise(data, max_length) == whole


@FAST
@given(streams, max_lengths)
def test_decoder_matches_the_documented_model(data, max_length):
    """The decoder behaves exactly like a naive byte-by-byte reading of the NVT rules."""
    assert feed_whole(data, max_length) == reference_decode(data, max_length)


@FAST
@given(split_stream(), max_lengths)
def test_lines_hold_no_line_ends_and_respect_the_limit(split, max_length):
    """No delivered line contains CR or LF or exceeds max_length; memory stays within it."""
    _, chunks = split
    lines, _ = feed_chunks(chunks, max_length)
    for line in lines:
        if line is not TOO_LONG:
            assert b"\r" not in line
            assert b"\n" not in line
            assert len(line) <= max_length


# Chat text that contains no IAC and no line ends, and negotiation that holds no text.
plain_line = st.binary(max_size=20).map(lambda b: bytes(c for c in b if c not in b"\xff\r\n"))
negotiation = st.one_of(
    st.tuples(st.sampled_from([DO, WILL, WONT, DONT]), st.integers(0, 255)).map(lambda t: cmd(*t)),
    st.integers(0, 255)
    .filter(lambda b: b not in (IAC, SB, EC, EL, DO, WILL, WONT, DONT))
    .map(lambda b: cmd(b)),
    st.binary(max_size=12).map(lambda p: cmd(SB) + p.replace(b"\xff", b"\xff\xff") + cmd(SE)),
)
# Each line comes with negotiations to insert at arbitrary places, line end included.
lines_with_negotiation = st.lists(
    st.tuples(plain_line, st.lists(st.tuples(st.integers(0, 64), negotiation), max_size=4)),
    max_size=6,
)


def refusals(commands: list[bytes]) -> bytes:
    """The replies owed for C{commands}: WONT for each DO, DONT for each WILL."""
    refusal = {DO: WONT, WILL: DONT}
    return b"".join(cmd(refusal[c[1]], c[2]) for c in commands if c[1] in refusal and len(c) == 3)


@FAST
@given(lines_with_negotiation)
def test_negotiation_anywhere_never_changes_the_chat_text(lines):
    """Sprinkling any negotiation anywhere in the stream leaves the lines exactly as typed."""
    stream = b""
    sent = []
    for line, insertions in lines:
        raw = line + b"\r\n"
        start = 0
        for cut, command in sorted((where % (len(raw) + 1), c) for where, c in insertions):
            stream += raw[start:cut] + command
            sent.append(command)
            start = cut
        stream += raw[start:]
    assert every_way(stream) == ([line for line, _ in lines], refusals(sent))


@FAST
@given(st.lists(st.binary(max_size=20), max_size=6))
def test_escaped_iac_arrives_as_one_ff_byte(lines):
    """Any data, with 0xFF escaped as IAC IAC, arrives byte for byte as it was sent."""
    lines = [bytes(c for c in line if c not in b"\r\n") for line in lines]
    stream = b"".join(line.replace(b"\xff", b"\xff\xff") + b"\r\n" for line in lines)
    assert every_way(stream) == (lines, b"")
