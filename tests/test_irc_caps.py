"""IRCv3 capability negotiation."""

from __future__ import annotations

from littlecats.doors.irc import caps
from littlecats.doors.irc.caps import Capabilities

INVALID = "the catalog's text for 410"


def test_ls_302_offers_every_capability_with_values_and_holds_registration():
    c = Capabilities()
    [(command, params)] = c.handle("*", ("LS", "302"), registered=False, invalid=INVALID)
    assert command == "CAP" and params[:2] == ("*", "LS")
    offered = params[-1].split()
    assert "sasl=PLAIN" in offered and "server-time" in offered and "echo-message" in offered
    assert c.holding
    assert c.handle("*", ("END",), registered=False, invalid=INVALID) == []
    assert not c.holding


def test_ls_without_302_has_no_values():
    c = Capabilities()
    [(_, params)] = c.handle("*", ("LS",), registered=False, invalid=INVALID)
    assert "sasl" in params[-1].split() and "sasl=PLAIN" not in params[-1]


def test_req_is_all_or_nothing_and_minus_disables():
    c = Capabilities()
    assert c.handle("ana", ("REQ", "server-time echo-message"), True, invalid=INVALID) == [
        ("CAP", ("ana", "ACK", "server-time echo-message"))
    ]
    assert c.enabled == {"server-time", "echo-message"}
    assert c.handle("ana", ("REQ", "multi-prefix bogus"), True, invalid=INVALID) == [
        ("CAP", ("ana", "NAK", "multi-prefix bogus"))
    ]
    assert c.enabled == {"server-time", "echo-message"}
    c.handle("ana", ("REQ", "-echo-message"), True, invalid=INVALID)
    assert c.enabled == {"server-time"}
    assert c.handle("ana", ("LIST",), True, invalid=INVALID) == [
        ("CAP", ("ana", "LIST", "server-time"))
    ]


def test_a_registered_client_is_never_held():
    c = Capabilities()
    c.handle("ana", ("LS", "302"), registered=True, invalid=INVALID)
    c.handle("ana", ("REQ", "server-time"), registered=True, invalid=INVALID)
    assert not c.holding


def test_unknown_or_missing_subcommands_get_410():
    c = Capabilities()
    assert c.handle("*", (), False, invalid=INVALID)[0][0] == caps.ERR_INVALIDCAPCMD
    assert c.handle("*", ("VOAR",), False, invalid=INVALID)[0] == (
        caps.ERR_INVALIDCAPCMD,
        ("*", "VOAR", INVALID),
    )


def test_a_long_list_continues_over_lines_marked_with_a_star(monkeypatch):
    many = {f"vendor.example/cap-{n:03d}": "" for n in range(60)}
    monkeypatch.setattr(caps, "SUPPORTED", many)
    c = Capabilities()
    replies = c.handle("*", ("LS", "302"), registered=False, invalid=INVALID)
    assert len(replies) > 1
    assert all(params[2] == "*" for _, params in replies[:-1])
    assert replies[-1][1][2] != "*"
    listed = [item for _, params in replies for item in params[-1].split()]
    assert listed == list(many)
