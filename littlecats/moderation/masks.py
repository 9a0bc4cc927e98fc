"""
Ban masks: who a ban is about, as an operator types it and as it is stored.

Exactly the four kinds issue 10 names, and no others:

 - a nickname, C{alice}: kept as its L{fold} key (so C{Alice} and C{ALICE} are one mask) after
   the nickname rules (L{validate}); written C{nick:NAME} when the bare name would read as an
   IP address (a nickname may be C{10.0.0.1}: digits and dots are nickname characters);
 - an account, C{account:NAME} (the prefix in any case): a registered nickname's key, folded;
 - an IP address, IPv4 or IPv6 (C{203.0.113.7}, C{2001:db8::7}); an IPv4-mapped IPv6 address
   (C{::ffff:203.0.113.7}, what a dual-stack listener reports) is the IPv4 address it carries;
 - a CIDR block, IPv4 or IPv6 (C{203.0.113.0/24}, C{2001:db8::/32}); host bits are dropped
   (C{10.1.2.3/8} is C{10.0.0.0/8}), an IPv4-mapped block (C{::ffff:10.0.0.0/104}) is the IPv4
   block, and a /32 (IPv4) or /128 (IPv6) is the single address.

IRC-style C{nick!user@host} globs and host names are not masks here: the issue does not ask for
them, the server only ever knows a client's address, and a glob cannot be looked up in O(1).

A CIDR block must be at least a /8 (IPv4) or a /16 (IPv6): one character mistyped in
C{10.0.0.0/8} can give C{10.0.0.0/0}, which would lock everyone out; refusing the few blocks
wider than that (16 million IPv4 addresses, a regional registry's share of IPv6) is kinder than
obeying.  L{parse_mask} raises L{MaskRejected}, whose C{msgid} names the catalog message saying
why a mask is refused; C{str()} of a L{Mask} is its canonical text, which L{parse_mask} reads
back as the same mask.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Literal

import attrs

from littlecats.nicknames import NicknameRejected, fold, validate

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Kind = Literal["nick", "account", "ip", "cidr"]

MIN_PREFIX_V4 = 8
"""The widest IPv4 CIDR block a mask may name (C{/8}: 16 777 216 addresses)."""
MIN_PREFIX_V6 = 16
"""The widest IPv6 CIDR block a mask may name (C{/16})."""

NICK_PREFIX = "nick:"
ACCOUNT_PREFIX = "account:"
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_IPV4_CHARS = frozenset("0123456789.")

_ENGLISH = {
    "err-mask-empty": "say who: a nickname, account:NAME, an IP address or a CIDR block",
    "err-mask-invalid": "{text} is not a mask: give a nickname, account:NAME, an IP address "
    "(203.0.113.7, 2001:db8::7) or a CIDR block (203.0.113.0/24, 2001:db8::/32)",
    "err-mask-nick": "{text} is not a valid nickname",
    "err-mask-account": "{text} does not name a valid account: write account:NAME, like "
    "account:alice",
    "err-mask-ip": "{text} is not a valid IP address",
    "err-mask-cidr": "{text} is not a valid CIDR block (like 203.0.113.0/24 or 2001:db8::/32)",
    "err-mask-cidr-wide": "{text} is too wide: a CIDR block needs at least /{min} "
    "(it would ban too many people)",
}


@attrs.frozen
class MaskRejected(ValueError):
    """A mask broke a rule; C{msgid} names the catalog message explaining which, and C{fields}
    fills it in (C{text}: the mask, or the name after its prefix, as given; C{min}: the
    shortest prefix length allowed, for C{err-mask-cidr-wide}).

    C{str()} of it is the English reason, for logs and tests; operators are shown the
    catalog's line for C{msgid}.
    """

    msgid: str
    fields: dict[str, object] = attrs.field(factory=dict)

    def __str__(self) -> str:
        return _ENGLISH[self.msgid].format(**self.fields)


_inet_pton, _AF_INET, _AF_INET6, _from_bytes = (
    socket.inet_pton,
    socket.AF_INET,
    socket.AF_INET6,
    int.from_bytes,
)


def host_key(host: str | None) -> tuple[int, int] | None:
    """C{(4, n)} or C{(6, n)}: client address C{host} as its IP version and integer value, the
    form every IP and CIDR match compares; None if C{host} is not an IP address.

    An IPv4-mapped IPv6 address (C{::ffff:1.2.3.4}) is the IPv4 address it carries; an IPv6
    zone (C{fe80::1%eth0}) is ignored.  Uses C{inet_pton}, several times faster than
    C{ipaddress} on the path every connection takes.
    """
    if not host:
        return None
    if ":" not in host:
        try:
            return 4, _from_bytes(_inet_pton(_AF_INET, host), "big")
        except (OSError, ValueError):  # ValueError: an embedded NUL
            return None
    if "%" in host:
        host = host.partition("%")[0]
    try:
        value = _from_bytes(_inet_pton(_AF_INET6, host), "big")
    except (OSError, ValueError):
        return None
    if value >> 32 == 0xFFFF:
        return 4, value & 0xFFFFFFFF
    return 6, value


@attrs.frozen
class Mask:
    """Who a ban is about; make one with L{parse_mask}.

    C{value} is, by C{kind}: for C{nick} and C{account}, the L{fold} key (a str); for C{ip}, an
    C{IPv4Address} or C{IPv6Address}; for C{cidr}, an C{IPv4Network} or C{IPv6Network} of
    prefix length 8 to 31 (IPv4) or 16 to 127 (IPv6).  Masks are equal (and hash alike) when
    they ban the same people, whatever the spelling they were parsed from.
    """

    kind: Kind
    value: str | IPAddress | IPNetwork

    def __str__(self) -> str:
        """The canonical text: what L{parse_mask} reads back as this mask."""
        if self.kind == "account":
            return f"{ACCOUNT_PREFIX}{self.value}"
        if self.kind == "nick":
            assert isinstance(self.value, str)
            return f"{NICK_PREFIX}{self.value}" if _reads_as_ip(self.value) else self.value
        return str(self.value)

    def matches(self, nick_key: str | None, account: str | None, host: str | None) -> bool:
        """Whether this mask covers a user.

        @param nick_key: the user's nickname, already L{fold}ed (None before they chose one).
        @param account: the key of the account they identified to, if any.
        @param host: their address as the listener reports it (IPv4, IPv6, IPv4-mapped IPv6).
        """
        if self.kind == "nick":
            return nick_key is not None and nick_key == self.value
        if self.kind == "account":
            return account is not None and account == self.value
        key = host_key(host)
        if key is None:
            return False
        version, number = key
        if isinstance(self.value, IPAddress):
            return self.value.version == version and int(self.value) == number
        assert isinstance(self.value, IPNetwork)
        network = self.value
        shift = network.max_prefixlen - network.prefixlen
        return (
            network.version == version and number >> shift == int(network.network_address) >> shift
        )


def _reads_as_ip(text: str) -> bool:
    """Whether a bare C{text} is taken as an IPv4 address by L{parse_mask} (rather than as a
    nickname): it is only digits and dots, and has a dot."""
    return "." in text and _IPV4_CHARS.issuperset(text)


def _name(name: str, msgid: str, text: str) -> str:
    try:
        return fold(validate(name))
    except NicknameRejected:
        raise MaskRejected(msgid, {"text": text}) from None


def _address(text: str) -> Mask:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise MaskRejected("err-mask-ip", {"text": text}) from None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            raise MaskRejected("err-mask-ip", {"text": text})
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
    return Mask("ip", address)


def _network(text: str) -> Mask:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise MaskRejected("err-mask-cidr", {"text": text}) from None
    if getattr(network.network_address, "scope_id", None) is not None:
        raise MaskRejected("err-mask-cidr", {"text": text})
    minimum = MIN_PREFIX_V4 if network.version == 4 else MIN_PREFIX_V6
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        minimum = _MAPPED.prefixlen + MIN_PREFIX_V4
        if network.prefixlen >= minimum:
            mapped = network.network_address.ipv4_mapped
            assert mapped is not None
            network = ipaddress.IPv4Network((mapped, network.prefixlen - _MAPPED.prefixlen))
            minimum = MIN_PREFIX_V4
    if network.prefixlen < minimum:
        raise MaskRejected("err-mask-cidr-wide", {"text": text, "min": minimum})
    if network.prefixlen == network.max_prefixlen:
        return Mask("ip", network.network_address)
    return Mask("cidr", network)


def parse_mask(text: str) -> Mask:
    """The mask C{text} names, or raise L{MaskRejected} saying why it is refused.

    Read in this order: C{account:NAME} and C{nick:NAME} (prefixes in any case); anything with
    a C{/} is a CIDR block; anything with a C{:}, or made only of digits and dots, is an IP
    address (so C{10.0.0.300} is refused as an address, not banned as a nickname: write
    C{nick:10.0.0.300} for that nickname); anything else is a nickname.
    """
    raw = text.strip()
    if not raw:
        raise MaskRejected("err-mask-empty")
    prefix, colon, rest = raw.partition(":")
    if colon and prefix.lower() + colon == ACCOUNT_PREFIX:
        return Mask("account", _name(rest, "err-mask-account", raw))
    if colon and prefix.lower() + colon == NICK_PREFIX:
        return Mask("nick", _name(rest, "err-mask-nick", rest))
    if "/" in raw:
        return _network(raw)
    if colon or _reads_as_ip(raw):
        return _address(raw)
    return Mask("nick", _name(raw, "err-mask-invalid", raw))
