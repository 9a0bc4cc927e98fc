"""
The web door's renderer and fan-out: core events become JSON objects, rendered once per event
for every web session, and written through one `Fanout`: everything a connection is owed in a
reactor turn goes out as one WebSocket message holding a JSON array (docs/WEB.md).

A payload here is one event's JSON followed by a comma (`{...},`), so the fan-out's joined bytes
for a turn are an array's elements; `littlecats.doors.web.protocol.WebSocketWire` frames them
(`[` ... `]`) as one text message, once for all the connections that share the turn's bytes.

No chat state lives here, as for telnet: the core keeps members and rooms; the door mirrors
membership as fan-out subscriptions, and tells each page what it needs to draw that the telnet
door says in lines (`welcome`, `entered` with the room's members, `exited`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from littlecats.core import events
from littlecats.core.chat import ChatService
from littlecats.core.events import SessionId
from littlecats.core.interfaces import IDoor
from littlecats.doors.base import FanoutDoor
from littlecats.limits import Limits
from littlecats.messages import Catalog
from littlecats.session import ILineHandler, Session, State

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def payload(event: dict[str, Any]) -> bytes:
    """C{event} as one element of a message's array: its JSON and a comma."""
    return _encode(event).encode() + b","


@implementer(IDoor)
class WebDoor(FanoutDoor):
    """Renders core events as JSON and fans them out to web sessions."""

    ident = "web"

    def __init__(
        self,
        chat: ChatService,
        catalog: Catalog,
        clock: IReactorTime,
        limits: Limits,
        handler: ILineHandler,
    ) -> None:
        super().__init__(chat, catalog, clock, limits, handler)
        # The display name of every room a web session is in, by key: `exited` names the room
        # even when it was deleted with its last member.
        self._room_names: dict[str, str] = {}
        # What the wire framed last: the fan-out hands the same joined bytes to every
        # connection that shares a turn, and they are framed once (see WebSocketWire).
        self.framed: tuple[bytes, bytes] = (b"", b"")
        clock = self.clock

        def now() -> float:  # milliseconds are enough for a page, and shorter on the wire
            return round(clock.seconds(), 3)

        self._renderers: dict[type, Callable[[Any], dict[str, Any]]] = {
            events.Connected: lambda e: {
                "type": "connected",
                "nick": e.nick,
                "lobby": e.lobby,
                "time": now(),
            },
            events.Disconnected: lambda e: {
                "type": "disconnected",
                "nick": e.nick,
                "reason": e.reason,
                "time": now(),
            },
            events.Renamed: lambda e: {
                "type": "renamed",
                "old": e.old,
                "new": e.new,
                "time": now(),
            },
            events.RoomJoined: lambda e: {
                "type": "joined",
                "room": e.room,
                "nick": e.nick,
                "time": now(),
            },
            events.RoomLeft: lambda e: {
                "type": "left",
                "room": e.room,
                "nick": e.nick,
                "time": now(),
            },
            events.Said: lambda e: {
                "type": "said",
                "room": e.room,
                "nick": e.nick,
                "text": e.text,
                "id": e.id,
                "time": now(),
            },
            events.Acted: lambda e: {
                "type": "acted",
                "room": e.room,
                "nick": e.nick,
                "text": e.text,
                "id": e.id,
                "time": now(),
            },
            events.TopicSet: lambda e: {
                "type": "topic",
                "room": e.room,
                "nick": e.nick,
                "topic": e.topic,
                "time": now(),
            },
            events.Moderated: lambda e: {
                "type": "moderated",
                "room": e.room,
                "action": e.action,
                "by": e.by,
                "target": e.target,
                "detail": e.detail,
                "time": now(),
            },
            events.Wall: lambda e: {"type": "wall", "nick": e.nick, "text": e.text, "time": now()},
            events.ShuttingDown: lambda e: {"type": "shutdown", "time": now()},
            events.PrivateReceived: lambda e: {
                "type": "private",
                "from": e.sender,
                "text": e.text,
                "time": now(),
            },
            events.PrivateSent: lambda e: {
                "type": "private-sent",
                "to": e.recipient,
                "text": e.text,
                "time": now(),
            },
            events.PrivateKept: lambda e: {
                "type": "private-kept",
                "to": e.recipient,
                "text": e.text,
                "time": now(),
            },
            events.PrivateDelivered: lambda e: {
                "type": "private-delivered",
                "from": e.sender,
                "text": e.text,
                "time": e.time,
            },
            events.HistoryStart: lambda e: {
                "type": "history-start",
                "room": e.room,
                "count": e.count,
            },
            events.HistoryLine: lambda e: {
                "type": "history",
                "room": e.room,
                "id": e.id,
                "kind": e.kind,
                "nick": e.nick,
                "text": e.text,
                "time": e.time,
            },
            events.HistoryEnd: lambda e: {"type": "history-end", "room": e.room},
            events.Ghosted: lambda e: {"type": "ghosted", "nick": e.nick, "time": now()},
            events.Identified: lambda e: {"type": "identified", "nick": e.nick, "time": now()},
            events.Killed: lambda e: {
                "type": "killed",
                "by": e.by,
                "reason": e.reason,
                "time": now(),
            },
            events.Banned: lambda e: {
                "type": "banned",
                "by": e.by,
                "reason": e.reason,
                "time": now(),
            },
            events.Invited: lambda e: {
                "type": "invited",
                "room": e.room,
                "by": e.by,
                "time": now(),
            },
            events.RoomOwned: lambda e: {"type": "room-owned", "room": e.room, "time": now()},
        }

    def render(self, event: events.Event) -> bytes:
        """The JSON payload for C{event}."""
        return payload(self._renderers[type(event)](event))

    def notice(self, msgid: str, **fields: object) -> bytes:
        """A reply to one session: catalog message C{msgid}, which the page renders."""
        return payload({"type": "notice", "msgid": msgid, "fields": fields})

    def tell(self, session: Session, event: dict[str, Any]) -> None:
        """C{event} for C{session} alone (an answer, or what the page needs to draw)."""
        self.fanout.send(session.outlet, payload(event))

    # IDoor: subscriptions also tell the page what it needs to draw

    def subscribe(self, room: str | None, session: SessionId) -> None:
        local = self._local(session)
        if local is None:
            return
        self.fanout.subscribe(room, local.outlet)
        member = self.chat.by_session.get(session)
        if member is None:
            return
        if room is None:  # arriving: the lobby's recent lines came just before
            self.tell(local, {"type": "welcome", "nick": member.nick, "account": member.account})
            return
        entered = self.chat.rooms.get(room)
        if entered is None:
            return
        self._room_names[room] = entered.name
        # The core sets the member's history cursor on entering, just before subscribing.
        self.tell(
            local,
            {
                "type": "entered",
                "room": entered.name,
                "topic": entered.topic,
                "members": self.chat.nicknames(entered.members.values()),
                "cursor": member.history_from,
                "modes": entered.modes,
            },
        )

    def unsubscribe(self, room: str | None, session: SessionId) -> None:
        local = self._local(session)
        if local is None:
            return
        self.fanout.unsubscribe(room, local.outlet)
        name = self._room_names.get(room) if room is not None else None
        if not self.fanout.subscribers(room) and room is not None:
            self._room_names.pop(room, None)
        if name is not None and local.state is State.CHAT:
            self.tell(local, {"type": "exited", "room": name})
