"""
What a web page's messages mean: the web door's line handler.

Each WebSocket message is one JSON object (docs/WEB.md) that reached here through the session's
input funnel (flood bucket, bounded inbox) like a telnet line.  `WebCommands` reads it, cleans
every string in it as a telnet line is cleaned, and calls the core.  What the user types in a
room's tab (`line`) means what it means on telnet, through `LineCommands`, with two
differences of policy: a page is in several rooms at once, so the room is the tab's (not the
last entered), `/join` enters a room without leaving the others and `/part` leaves the tab's.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

from littlecats import text
from littlecats.commands import LineCommands, _refused
from littlecats.core.chat import ChatError, ChatService, Member, Room
from littlecats.core.history import MAX_PAGE
from littlecats.session import Session, State

DEFAULT_PAGE = 50
"""Lines a `history` request gets without a count."""


class BadMessage(Exception):
    """A message that is not what docs/WEB.md describes."""


def _string(message: dict[str, Any], field: str, required: bool = True) -> str:
    """Field C{field} of C{message} as clean text ("" when absent and not required)."""
    value = message.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise BadMessage(field)
    return text.sanitise(value).strip()


class WebCommands(LineCommands):
    """The meaning of a web page's messages."""

    def __init__(self, chat: ChatService, max_line_bytes: int) -> None:
        super().__init__(chat, max_line_bytes)
        # The room of the tab a `line` was typed in, while it is being handled (handlers run
        # synchronously; what they chain later captured their room already).
        self._room: Room | None = None
        self._handlers = {
            "nick": self._nick,
            "line": self._line,
            "msg": self._msg,
            "join": self._join,
            "part": self._part,
            "history": self._history,
            "rooms": self._rooms,
            "names": self._names_request,
        }

    # ILineHandler

    def line(self, session: Session, line: str) -> defer.Deferred[object] | None:
        try:
            message = json.loads(line)
            if not isinstance(message, dict):
                raise BadMessage("not an object")
            handler = self._handlers.get(message.get("type"))  # type: ignore[arg-type]
            if handler is None:
                raise BadMessage("type")
            joining = handler == self._nick
            if joining != (session.state is State.NICKNAME) or (
                not joining and session.member is None
            ):
                raise BadMessage("state")
            return handler(session, message)
        except (ValueError, BadMessage):  # json's errors are ValueErrors
            session.notice("err-web-bad-message")
            return None
        except ChatError as refused:
            session.notice(refused.msgid, **refused.fields)
            return None

    # Before joining

    def _nick(self, session: Session, message: dict[str, Any]) -> defer.Deferred[object]:
        nick = _string(message, "nick")
        password = message.get("password")
        if password is not None and not isinstance(password, str):
            raise BadMessage("password")

        def refused(failure: Failure) -> None:
            failure.trap(ChatError)
            error: ChatError = failure.value  # type: ignore[assignment]
            if error.msgid == "err-nick-registered":
                session.door.tell(session, {"type": "password", "nick": error.fields["nick"]})  # type: ignore[attr-defined]
                return
            _refused(session, failure)

        return self.chat.connect(session, nick, password or None).addCallbacks(
            lambda member: session.joined(member), refused
        )

    # In the chat

    def _in_room(self, member: Member, raw_room: str) -> Room:
        """The room C{raw_room} names, which C{member} must be in."""
        room = self.chat.room(raw_room)
        if member.room(room.key) is None:
            raise ChatError("err-not-in-room", room=room.name)
        return room

    def _line(self, session: Session, message: dict[str, Any]) -> defer.Deferred[object] | None:
        member = session.member
        assert member is not None
        typed = _string(message, "text")
        if len(typed.encode()) > self.max_line_bytes:
            self.line_too_long(session)
            return None
        raw_room = _string(message, "room", required=False)
        self._room = self._in_room(member, raw_room) if raw_room else None
        try:
            return super().line(session, typed)
        finally:
            self._room = None

    def current_room(self, member: Member) -> Room:
        """The room of the tab the line was typed in (else the one entered last)."""
        return self._room if self._room is not None else super().current_room(member)

    def _msg(self, session: Session, message: dict[str, Any]) -> defer.Deferred[object] | None:
        member = session.member
        assert member is not None
        to, said = _string(message, "to"), _string(message, "text")
        if not to or not said:
            session.notice("err-usage-msg")
            return None
        if len(said.encode()) > self.max_line_bytes:
            self.line_too_long(session)
            return None
        return self.chat.whisper(member, to, said).addErrback(lambda f: _refused(session, f))

    def _join(self, session: Session, message: dict[str, Any]) -> defer.Deferred[object]:
        member = session.member
        assert member is not None
        return self._enter(
            session, member, _string(message, "room"), _string(message, "key", False)
        )

    def _enter(
        self, session: Session, member: Member, wanted: str, key: str
    ) -> defer.Deferred[object]:
        name, _ = self.chat.room_to_enter(member, wanted, key)
        # The page draws the room from `entered`, which the door sends on subscribing.
        return self.chat.join_room(member, name, key).addErrback(lambda f: _refused(session, f))

    def _part(self, session: Session, message: dict[str, Any]) -> None:
        member = session.member
        assert member is not None
        self._leave(session, member, self._in_room(member, _string(message, "room")))

    def _leave(self, session: Session, member: Member, room: Room) -> None:
        if room.key == self.chat.lobby_key:
            session.notice("err-part-lobby", room=room.name)
            return
        self.chat.part_room(member, room)

    def _history(self, session: Session, message: dict[str, Any]) -> defer.Deferred[object]:
        member = session.member
        assert member is not None
        room = self._in_room(member, _string(message, "room"))
        before, count = message.get("before"), message.get("count", DEFAULT_PAGE)
        if type(before) is not int or before < 0 or type(count) is not int:
            raise BadMessage("before")
        if not 1 <= count <= MAX_PAGE:
            raise ChatError("err-usage-history", max=MAX_PAGE)

        return self.show_earlier(session, member, room, count, before).addErrback(
            lambda f: _refused(session, f)
        )

    def _rooms(self, session: Session, message: dict[str, Any]) -> None:
        member = session.member
        visible = self.chat.moderation.visible
        rooms = [
            {"name": room.name, "count": len(room.members), "topic": room.topic}
            for room in self.chat.room_list()
            if visible(member, room)
        ]
        session.door.tell(session, {"type": "rooms", "rooms": rooms})  # type: ignore[attr-defined]

    def _names_request(self, session: Session, message: dict[str, Any]) -> None:
        room = self.chat.room(_string(message, "room"))
        if not self.chat.moderation.visible(session.member, room):  # a secret room (+s)
            raise ChatError("err-no-such-room", room=room.name)
        nicks = self.chat.nicknames(room.members.values())
        session.door.tell(session, {"type": "names", "room": room.name, "nicks": nicks})  # type: ignore[attr-defined]

    # Typed commands whose policy differs on a page

    def cmd_join(
        self, session: Session, member: Member, argument: str
    ) -> defer.Deferred[object] | None:
        if not argument:
            session.notice("err-usage-join")
            return None
        return self._enter(session, member, *self.room_and_key(argument))

    def cmd_part(self, session: Session, member: Member, argument: str) -> None:
        room = self._in_room(member, argument) if argument else self.current_room(member)
        self._leave(session, member, room)

    commands = {**LineCommands.commands, "join": cmd_join, "part": cmd_part}  # noqa: RUF012
