"""Tests for littlecats.moderation.masks and .durations: reading MASK and DURATION (good and bad
inputs, canonical forms), and what each kind of mask matches."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from littlecats.moderation import (
    MAX_DURATION,
    DurationRejected,
    Mask,
    MaskRejected,
    durations,
    format_duration,
    host_key,
    looks_like_duration,
    masks,
    parse_duration,
    parse_mask,
)

FAST = settings(max_examples=300, derandomize=True, database=None, deadline=None)


# -- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("7d", 7 * 86400),
        ("1w", 7 * 86400),
        ("1h30m", 5400),
        ("1H30M", 5400),
        ("1w2d3h4m5s", 7 * 86400 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5),
        ("  15m ", 900),
        ("90m", 5400),
        ("0h5m", 300),
        ("007s", 7),
        ("3650d", MAX_DURATION),
        ("520w10d", MAX_DURATION),
    ],
)
def test_parse_duration(text, seconds):
    """Every unit, any case, combinations with the largest unit first, surrounding blanks."""
    assert parse_duration(text) == seconds
    assert isinstance(parse_duration(text), float)


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_no_duration_is_until_lifted(text):
    """No duration at all is None: the ban lasts until lifted."""
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "msgid"),
    [
        ("0s", "err-duration-zero"),
        ("0h0m", "err-duration-zero"),
        ("-5m", "err-duration-negative"),
        ("-90", "err-duration-negative"),
        ("90", "err-duration-unit"),
        ("10x", "err-duration-invalid"),
        ("10 m", "err-duration-invalid"),
        ("1.5h", "err-duration-invalid"),
        ("h", "err-duration-invalid"),
        ("forever", "err-duration-invalid"),
        ("+5m", "err-duration-invalid"),
        ("1h30", "err-duration-invalid"),
        ("３０m", "err-duration-invalid"),  # fullwidth digits: not ASCII
        ("1y", "err-duration-invalid"),
        ("30m1h", "err-duration-order"),
        ("1h1h", "err-duration-order"),
        ("3651d", "err-duration-long"),
        ("3650d1s", "err-duration-long"),
        ("99999999999999999999999w", "err-duration-long"),
        ("9" * 5000 + "s", "err-duration-long"),  # past int()'s digit limit: still ours
    ],
)
def test_parse_duration_refuses(text, msgid):
    """Zero, negative, unitless, garbage, disordered and too long: each with its own reason."""
    with pytest.raises(DurationRejected) as caught:
        parse_duration(text)
    assert caught.value.msgid == msgid
    assert caught.value.fields["text"] == text.strip()
    assert isinstance(caught.value, ValueError)
    assert str(caught.value)  # an English reason, for logs


def test_duration_too_long_says_the_limit():
    """The reason for a too long duration carries the limit, in days."""
    with pytest.raises(DurationRejected) as caught:
        parse_duration("11000d")
    assert caught.value.fields == {"text": "11000d", "days": 3650}
    assert "3650 days" in str(caught.value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),
        (5400, "1h30m"),
        (86400, "1d"),
        (7 * 86400, "1w"),
        (8 * 86400 + 1, "1w1d1s"),
        (0.2, "1s"),
        (59.5, "1m"),
        (MAX_DURATION, "521w3d"),
    ],
)
def test_format_duration(seconds, text):
    """The compact form, largest units first; a fraction of a second counts as a whole one."""
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [-1, float("nan"), float("inf")])
def test_format_duration_refuses_nonsense(seconds):
    with pytest.raises(ValueError):
        format_duration(seconds)


@FAST
@given(st.integers(min_value=1, max_value=MAX_DURATION))
def test_duration_round_trip(seconds):
    """format_duration gives back text that parse_duration reads as the same duration."""
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        *[("10m", True), ("10x", True), ("-5m", True), ("90", True), ("+1h", True)],
        *[("spam", False), ("", False), ("-", False), ("m10", False), ("٣m", False)],
    ],
)
def test_looks_like_duration(word, expected):
    """A word starting with a digit is meant as a duration, so a typo is refused rather than
    read as the reason of a ban without end."""
    assert looks_like_duration(word) is expected


def test_every_duration_msgid_has_an_english_reason():
    for msgid in durations._ENGLISH:
        assert str(DurationRejected(msgid, {"text": "x", "days": 1}))


# -- masks: parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "canonical"),
    [
        ("alice", "nick", "alice"),
        ("Alice", "nick", "alice"),
        ("  ÁLVARO ", "nick", "álvaro"),
        ("Straße", "nick", "strasse"),
        ("nick:Bob", "nick", "bob"),
        ("NICK:bob", "nick", "bob"),
        ("nick:10.0.0.1", "nick", "nick:10.0.0.1"),
        ("nick:1.2", "nick", "nick:1.2"),
        ("j.r.r", "nick", "j.r.r"),
        ("account:Bob", "account", "account:bob"),
        ("Account:BOB", "account", "account:bob"),
        ("account:10.0.0.1", "account", "account:10.0.0.1"),
        ("203.0.113.7", "ip", "203.0.113.7"),
        ("2001:DB8::7", "ip", "2001:db8::7"),
        ("2001:0db8:0000:0000:0000:0000:0000:0007", "ip", "2001:db8::7"),
        ("2001:db8:0:0:1:0:0:1", "ip", "2001:db8::1:0:0:1"),
        ("::1", "ip", "::1"),
        ("::ffff:203.0.113.7", "ip", "203.0.113.7"),
        ("::FFFF:cb00:7107", "ip", "203.0.113.7"),
        ("203.0.113.7/32", "ip", "203.0.113.7"),
        ("2001:db8::7/128", "ip", "2001:db8::7"),
        ("::ffff:203.0.113.7/128", "ip", "203.0.113.7"),
        ("203.0.113.0/24", "cidr", "203.0.113.0/24"),
        ("10.1.2.3/8", "cidr", "10.0.0.0/8"),
        ("10.0.0.0/255.255.0.0", "cidr", "10.0.0.0/16"),
        ("203.0.113.9/31", "cidr", "203.0.113.8/31"),
        ("2001:DB8:1:2:3:4:5:6/48", "cidr", "2001:db8:1::/48"),
        ("2001:db8::/32", "cidr", "2001:db8::/32"),
        ("2001::/16", "cidr", "2001::/16"),
        ("2001:db8::1/127", "cidr", "2001:db8::/127"),
        ("::ffff:10.1.2.3/104", "cidr", "10.0.0.0/8"),
        ("::ffff:10.1.2.3/120", "cidr", "10.1.2.0/24"),
    ],
)
def test_parse_mask(text, kind, canonical):
    """Each kind, with its canonical text; that text reads back as the same mask."""
    mask = parse_mask(text)
    assert mask.kind == kind
    assert str(mask) == canonical
    assert parse_mask(canonical) == mask
    assert hash(parse_mask(canonical)) == hash(mask)


def test_mask_values():
    """The values are ipaddress objects for addresses and blocks, fold keys for names."""
    assert parse_mask("::ffff:1.2.3.4").value == ipaddress.IPv4Address("1.2.3.4")
    assert parse_mask("2001:db8::1").value == ipaddress.IPv6Address("2001:db8::1")
    assert parse_mask("10.9.8.7/8").value == ipaddress.IPv4Network("10.0.0.0/8")
    assert parse_mask("2001:db8::/32").value == ipaddress.IPv6Network("2001:db8::/32")
    assert parse_mask("ALICE").value == "alice"
    assert parse_mask("account:ALICE") == Mask("account", "alice")


def test_same_people_same_mask():
    """Spellings of the same mask are equal; different kinds never are."""
    assert parse_mask("Alice") == parse_mask("nick:ALICE")
    assert parse_mask("10.0.0.1") == parse_mask("::ffff:10.0.0.1") == parse_mask("10.0.0.1/32")
    assert parse_mask("alice") != parse_mask("account:alice")
    assert parse_mask("10.0.0.1") != parse_mask("nick:10.0.0.1")
    assert len({parse_mask("10.0.0.0/8"), parse_mask("10.200.0.0/8")}) == 1


@pytest.mark.parametrize(
    ("text", "msgid", "fields"),
    [
        ("", "err-mask-empty", {}),
        ("   ", "err-mask-empty", {}),
        ("b@d", "err-mask-invalid", {"text": "b@d"}),
        ("alice!*@*", "err-mask-invalid", {"text": "alice!*@*"}),
        ("ali ce", "err-mask-invalid", {"text": "ali ce"}),
        ("x" * 25, "err-mask-invalid", {"text": "x" * 25}),
        ("nick:", "err-mask-nick", {"text": ""}),
        ("nick:b@d", "err-mask-nick", {"text": "b@d"}),
        ("account:", "err-mask-account", {"text": "account:"}),
        ("account:b@d", "err-mask-account", {"text": "account:b@d"}),
        ("10.0.0.300", "err-mask-ip", {"text": "10.0.0.300"}),
        ("010.0.0.1", "err-mask-ip", {"text": "010.0.0.1"}),
        ("10.0.0", "err-mask-ip", {"text": "10.0.0"}),
        ("1.2", "err-mask-ip", {"text": "1.2"}),
        ("2001:db8::g", "err-mask-ip", {"text": "2001:db8::g"}),
        ("2001:db8:::1", "err-mask-ip", {"text": "2001:db8:::1"}),
        ("fe80::1%eth0", "err-mask-ip", {"text": "fe80::1%eth0"}),
        ("host:1", "err-mask-ip", {"text": "host:1"}),
        ("10.0.0.0/33", "err-mask-cidr", {"text": "10.0.0.0/33"}),
        ("10.0.0.0/x", "err-mask-cidr", {"text": "10.0.0.0/x"}),
        ("evil.example/24", "err-mask-cidr", {"text": "evil.example/24"}),
        ("2001:db8::/129", "err-mask-cidr", {"text": "2001:db8::/129"}),
        ("fe80::%eth0/64", "err-mask-cidr", {"text": "fe80::%eth0/64"}),
        ("0.0.0.0/0", "err-mask-cidr-wide", {"text": "0.0.0.0/0", "min": 8}),
        ("10.0.0.0/7", "err-mask-cidr-wide", {"text": "10.0.0.0/7", "min": 8}),
        ("::/0", "err-mask-cidr-wide", {"text": "::/0", "min": 16}),
        ("2000::/15", "err-mask-cidr-wide", {"text": "2000::/15", "min": 16}),
        ("::ffff:0:0/96", "err-mask-cidr-wide", {"text": "::ffff:0:0/96", "min": 104}),
        ("::ffff:10.0.0.0/100", "err-mask-cidr-wide", {"text": "::ffff:10.0.0.0/100", "min": 104}),
    ],
)
def test_parse_mask_refuses(text, msgid, fields):
    """Each refusal carries its catalog id and the fields to fill it in."""
    with pytest.raises(MaskRejected) as caught:
        parse_mask(text)
    assert caught.value.msgid == msgid
    assert caught.value.fields == fields
    assert isinstance(caught.value, ValueError)
    assert str(caught.value)


def test_every_mask_msgid_has_an_english_reason():
    for msgid in masks._ENGLISH:
        assert str(MaskRejected(msgid, {"text": "x", "min": 8}))


ipv4_networks = st.builds(
    lambda n, length: ipaddress.IPv4Network((n, length), strict=False),
    st.integers(0, 2**32 - 1),
    st.integers(8, 31),
)
ipv6_networks = st.builds(
    lambda n, length: ipaddress.IPv6Network((n, length), strict=False),
    st.integers(0, 2**128 - 1),
    st.integers(16, 127),
).filter(lambda net: not net.subnet_of(ipaddress.IPv6Network("::ffff:0:0/96")))


@FAST
@given(st.one_of(st.ip_addresses(), ipv4_networks, ipv6_networks))
def test_addresses_round_trip(value):
    """Any address or block reads back as itself (compressed, lowercase) and its canonical text
    reads as the same mask; mapped IPv6 addresses come back as IPv4."""
    text = str(value)
    for spelling in (text, text.upper(), f" {text} "):
        mask = parse_mask(spelling)
        assert parse_mask(str(mask)) == mask
    if isinstance(value, ipaddress.IPv6Address) and value.ipv4_mapped is not None:
        assert mask == Mask("ip", value.ipv4_mapped)
    elif isinstance(value, ipaddress.IPv6Address | ipaddress.IPv4Address):
        assert mask == Mask("ip", value)
        assert str(mask) == text
    else:
        assert mask == Mask("cidr", value)
        assert str(mask) == text


@FAST
@given(st.text(min_size=1, max_size=30))
def test_any_text_is_a_mask_or_a_reason(text):
    """Whatever an operator types, parse_mask gives a mask that round-trips, or a reason."""
    try:
        mask = parse_mask(text)
    except MaskRejected as e:
        assert e.msgid in masks._ENGLISH
    else:
        assert parse_mask(str(mask)) == mask


# -- masks: matching ---------------------------------------------------------------------------


def test_host_key():
    """Client addresses as (version, integer); mapped IPv6 is IPv4; anything else is None."""
    assert host_key("10.0.0.1") == (4, 0x0A000001)
    assert host_key("::ffff:10.0.0.1") == (4, 0x0A000001)
    assert host_key("::ffff:a00:1") == (4, 0x0A000001)
    assert host_key("2001:db8::1") == (6, 0x20010DB8 << 96 | 1)
    assert host_key("fe80::1%eth0") == (6, 0xFE80 << 112 | 1)
    for junk in (None, "", "localhost", "10.0.0.256", "10.0.0.1\0", "unix:/tmp/x", "::g"):
        assert host_key(junk) is None


def test_nick_mask_matches_the_nick_key():
    mask = parse_mask("Alice")
    assert mask.matches("alice", None, None)
    assert mask.matches("alice", "bob", "10.0.0.1")
    assert not mask.matches("bob", "alice", "10.0.0.1")
    assert not mask.matches(None, None, "alice")


def test_account_mask_matches_the_account():
    mask = parse_mask("account:Alice")
    assert mask.matches(None, "alice", None)
    assert mask.matches("bob", "alice", "10.0.0.1")
    assert not mask.matches("alice", None, "10.0.0.1")
    assert not mask.matches("alice", "bob", None)


def test_ip_mask_matches_the_address():
    v4, v6 = parse_mask("203.0.113.7"), parse_mask("2001:db8::7")
    assert v4.matches(None, None, "203.0.113.7")
    assert v4.matches(None, None, "::ffff:203.0.113.7")  # a dual-stack listener's report
    assert not v4.matches(None, None, "203.0.113.8")
    assert not v4.matches(None, None, "::cb00:7107")  # IPv4-compatible is not mapped
    assert not v4.matches(None, None, None)
    assert v6.matches(None, None, "2001:db8::7")
    assert v6.matches(None, None, "2001:DB8:0::7")
    assert v6.matches(None, None, "2001:db8::7%eth0")
    assert not v6.matches(None, None, "2001:db8::8")
    assert not v6.matches(None, None, "203.0.113.7")
    assert not v4.matches("203.0.113.7", "203.0.113.7", "localhost")


def test_cidr_mask_matches_the_block():
    v4, v6 = parse_mask("203.0.113.0/24"), parse_mask("2001:db8::/32")
    for inside in ("203.0.113.0", "203.0.113.255", "::ffff:203.0.113.77"):
        assert v4.matches(None, None, inside)
    for outside in ("203.0.112.255", "203.0.114.0", "2001:db8::1", "::cb00:7101"):
        assert not v4.matches(None, None, outside)
    for inside in ("2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:1::9"):
        assert v6.matches(None, None, inside)
    for outside in ("2001:db9::", "2001:db7:ffff::", "32.1.13.184", "::ffff:32.1.13.184"):
        assert not v6.matches(None, None, outside)


def test_wide_ipv6_block_never_matches_ipv4_clients():
    """An IPv6 block spanning ::ffff:0:0/96 does not ban IPv4 clients: they are matched by IPv4
    entries only."""
    mask = parse_mask("::/16")
    assert mask.matches(None, None, "::1")
    assert not mask.matches(None, None, "::ffff:1.2.3.4")
    assert not mask.matches(None, None, "1.2.3.4")


@FAST
@given(st.one_of(ipv4_networks, ipv6_networks), st.ip_addresses())
def test_cidr_matches_like_ipaddress(network, address):
    """Block matching agrees with ipaddress's own containment (mapped clients as IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        plain = address.ipv4_mapped
    else:
        plain = address
    expected = plain.version == network.version and plain in network
    assert parse_mask(str(network)).matches(None, None, str(address)) is expected
