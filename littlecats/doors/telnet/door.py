"""
The telnet door's renderer: core events become text lines (UTF-8, CRLF) in the server's
language, rendered once per event and written through the door's `Fanout` to every telnet
session subscribed to the event's room (`littlecats.doors.base.FanoutDoor` does the rest of
`IDoor` and what a `Session` needs of its door).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from littlecats.core import events
from littlecats.core.chat import ChatService
from littlecats.core.interfaces import IDoor
from littlecats.doors.base import FanoutDoor
from littlecats.limits import Limits
from littlecats.messages import Catalog
from littlecats.session import ILineHandler, Session


@implementer(IDoor)
class TelnetDoor(FanoutDoor):
    """Renders core events as telnet lines and fans them out to telnet sessions."""

    ident = "telnet"

    def __init__(
        self,
        chat: ChatService,
        catalog: Catalog,
        clock: IReactorTime,
        limits: Limits,
        handler: ILineHandler,
    ) -> None:
        super().__init__(chat, catalog, clock, limits, handler)
        # Each template's str.format bound once: rendering is on the delivery path, and
        # Catalog.line's keyword repacking costs as much again.
        f = {msgid: catalog.formatter(msgid) for msgid in catalog.ids()}
        self._renderers: dict[type, Callable[..., bytes]] = {
            events.Connected: lambda e: f["joined"](nick=e.nick).encode(),
            events.Disconnected: lambda e: (
                f["left-reason"](nick=e.nick, reason=e.reason)
                if e.reason
                else f["left"](nick=e.nick)
            ).encode(),
            events.Renamed: lambda e: f["renamed"](old=e.old, new=e.new).encode(),
            events.RoomJoined: lambda e: f["room-joined"](nick=e.nick, room=e.room).encode(),
            events.RoomLeft: lambda e: f["room-left"](nick=e.nick, room=e.room).encode(),
            events.Said: lambda e: f["public"](nick=e.nick, text=e.text).encode(),
            events.Acted: lambda e: f["action"](nick=e.nick, text=e.text).encode(),
            events.TopicSet: lambda e: f["topic-set"](
                nick=e.nick, room=e.room, topic=e.topic
            ).encode(),
            events.PrivateReceived: lambda e: f["private-from"](
                nick=e.sender, text=e.text
            ).encode(),
            events.PrivateSent: lambda e: f["private-to"](nick=e.recipient, text=e.text).encode(),
            events.ShuttingDown: lambda e: f["shutting-down"]().encode(),
            events.PrivateKept: lambda e: f["private-kept"](nick=e.recipient).encode(),
            events.PrivateDelivered: lambda e: f["private-delivered"](
                nick=e.sender, text=e.text, time=self.when(e.time)
            ).encode(),
            events.HistoryStart: lambda e: f["history-start"](room=e.room, count=e.count).encode(),
            events.HistoryLine: lambda e: f[f"history-{e.kind}"](
                nick=e.nick, text=e.text, time=self.when(e.time)
            ).encode(),
            events.HistoryEnd: lambda e: f["history-end"](room=e.room).encode(),
            events.Ghosted: lambda e: f["ghosted"](nick=e.nick).encode(),
            events.Identified: lambda e: f["identified"](nick=e.nick).encode(),
            events.Killed: lambda e: (
                f["killed-reason"](by=e.by, reason=e.reason) if e.reason else f["killed"](by=e.by)
            ).encode(),
            events.Wall: lambda e: f["wall"](nick=e.nick, text=e.text).encode(),
            events.Moderated: lambda e: f[f"mod-{e.action}"](
                room=e.room, by=e.by, target=e.target, detail=e.detail
            ).encode(),
            events.RoomOwned: lambda e: f["room-owned"](room=e.room).encode(),
            events.Invited: lambda e: f["invited"](room=e.room, by=e.by).encode(),
            events.Banned: lambda e: (
                f["banned-reason"](by=e.by, reason=e.reason) if e.reason else f["banned"](by=e.by)
            ).encode(),
        }
        self._time_format = catalog.template("time-format")

    def render(self, event: events.Event) -> bytes:
        """The wire line for C{event}."""
        return self._renderers[type(event)](event)

    def when(self, seconds: float) -> str:
        """A stored line's time, in the server's local time and the catalog's format."""
        return time.strftime(self._time_format, time.localtime(seconds))

    def notice(self, msgid: str, **fields: object) -> bytes:
        """The wire line for catalog message C{msgid}."""
        return self.catalog.line(msgid, **fields)

    def hide_input(self, session: Session, hidden: bool) -> None:
        """Turn the terminal's echo off for a password, or on again (telnet clients only:
        see L{littlecats.doors.telnet.protocol.ChatProtocol.hide_input})."""
        wire = session.wire
        if wire is not None:
            wire.hide_input(hidden)  # type: ignore[attr-defined]
