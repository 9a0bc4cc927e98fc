"""
What the chat core tells the doors: one frozen value per thing that happened.

Events carry nicknames and text, never bytes or wire syntax; each door renders them in its
own format and language.  A private message is two events, one for each side, because the
two sides read different lines.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Joined:
    nick: str


@attrs.frozen
class Left:
    nick: str
    reason: str = ""


@attrs.frozen
class Said:
    nick: str
    text: str


@attrs.frozen
class Acted:
    nick: str
    text: str


@attrs.frozen
class Renamed:
    old: str
    new: str


@attrs.frozen
class PrivateReceived:
    """Delivered to the recipient of a private message."""

    sender: str
    text: str


@attrs.frozen
class PrivateSent:
    """Delivered back to the sender of a private message."""

    recipient: str
    text: str


@attrs.frozen
class ShuttingDown:
    """The server is stopping; every connection is told before it is closed."""


Event = Joined | Left | Said | Acted | Renamed | PrivateReceived | PrivateSent | ShuttingDown
