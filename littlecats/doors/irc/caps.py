"""
IRCv3 capability negotiation (`CAP`), as pure logic: what a client asked, what it has, and the
replies, for the IRC door's protocol to send.

Capabilities are all-or-nothing per request (`CAP REQ :a b -c` is acknowledged whole or refused
whole), `CAP LS 302` gets values (`sasl=PLAIN`) and continuation lines when the list is long,
and a client that starts negotiating before it registers is held until `CAP END` (the door
asks `holding`).  See https://ircv3.net/specs/extensions/capability-negotiation.
"""

from __future__ import annotations

from collections.abc import Mapping

from littlecats.doors.irc.message import MAX_BODY_BYTES

SUPPORTED: Mapping[str, str] = {
    "away-notify": "",
    "batch": "",
    "draft/chathistory": "",
    "echo-message": "",
    "message-tags": "",
    "multi-prefix": "",
    "sasl": "PLAIN",
    "server-time": "",
    "userhost-in-names": "",
}
"""What the door offers, with each capability's value for `CAP LS 302`."""

ERR_INVALIDCAPCMD = "410"


class Capabilities:
    """One connection's negotiation."""

    __slots__ = ("enabled", "holding", "version")

    def __init__(self) -> None:
        self.enabled: set[str] = set()
        self.holding = False
        """Registration waits: the client negotiates and has not sent `CAP END` yet."""
        self.version = 0

    def handle(
        self, target: str, params: tuple[str, ...], registered: bool, invalid: str
    ) -> list[tuple[str, tuple[str, ...]]]:
        """The replies (command and parameters, sent from the server) to C{CAP params}, for
        client C{target} (its nickname, or `*` before it has one); C{invalid} is the text of
        ERR_INVALIDCAPCMD, from the door's catalog."""
        if not params:
            return [(ERR_INVALIDCAPCMD, (target, "", invalid))]
        sub = params[0].upper()
        if sub == "LS":
            if not registered:
                self.holding = True
            version = params[1] if len(params) > 1 else ""
            self.version = max(self.version, int(version) if version.isdigit() else 0)
            return self._list(target, "LS", self._offer())
        if sub == "LIST":
            return self._list(target, "LIST", sorted(self.enabled))
        if sub == "REQ":
            if not registered:
                self.holding = True
            wanted = params[1].split() if len(params) > 1 else []
            changes = []
            for item in wanted:
                name = item[1:] if item.startswith("-") else item
                if name not in SUPPORTED:
                    return [("CAP", (target, "NAK", " ".join(wanted)))]
                changes.append((name, not item.startswith("-")))
            for name, on in changes:
                (self.enabled.add if on else self.enabled.discard)(name)
            return [("CAP", (target, "ACK", " ".join(wanted)))]
        if sub == "END":
            self.holding = False
            return []
        return [(ERR_INVALIDCAPCMD, (target, params[0], invalid))]

    def _offer(self) -> list[str]:
        if self.version >= 302:
            return [f"{name}={value}" if value else name for name, value in SUPPORTED.items()]
        return list(SUPPORTED)

    def _list(self, target: str, sub: str, items: list[str]) -> list[tuple[str, tuple[str, ...]]]:
        """C{items} in as many lines as they need: every line but the last marked `*` (the
        302 form; older clients get one line)."""
        if self.version < 302:
            return [("CAP", (target, sub, " ".join(items)))]
        # Room for the prefix, the command and the target in MAX_BODY_BYTES: 100 is ample.
        room = MAX_BODY_BYTES - 100 - len(target.encode())
        lines: list[list[str]] = [[]]
        used = 0
        for item in items:
            if lines[-1] and used + 1 + len(item) > room:
                lines.append([])
                used = 0
            lines[-1].append(item)
            used += len(item) + 1
        replies = [("CAP", (target, sub, "*", " ".join(line))) for line in lines[:-1]]
        return [*replies, ("CAP", (target, sub, " ".join(lines[-1])))]
