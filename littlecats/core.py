"""
The chat core: who is connected, and delivery of what they say to whom.

`ChatService` owns the registry of members (unique by folded nickname) and turns every action
into events delivered, in one total order, to the members concerned.  It knows no sockets, no
bytes and no wire format: a member is reached through its door (`IDoor`, which renders an event
once into a payload) and its client (`IChatClient`, which takes that payload).  Doors call the
service; the service never imports a door.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
from twisted.application.service import Service
from twisted.logger import Logger
from zope.interface import Interface

from littlecats import events, nicknames
from littlecats.messages import Catalog


class IChatClient(Interface):
    """One connected member, as the core sees it: something that takes rendered payloads."""

    def send(payload: object) -> None:
        """Queue C{payload} (rendered by this member's door) for the member."""

    def abort() -> None:
        """Drop the member's connection; the door then calls L{ChatService.leave}."""


class IDoor(Interface):
    """A way in (telnet, later others): renders each event once for all its members."""

    def render(event: events.Event) -> object:
        """The payload for C{event}, the same object for every member of this door."""


class ChatError(Exception):
    """An action was refused; C{msgid} and C{fields} name the catalog message saying why."""

    def __init__(self, msgid: str, **fields: object) -> None:
        super().__init__(msgid, fields)
        self.msgid = msgid
        self.fields = fields


@attrs.define(eq=False)
class Member:
    """A member of the chat: the nickname it shows, and how to reach it."""

    nick: str
    key: str
    client: IChatClient
    door: IDoor
    host: str
    port: int


class ChatService(Service):
    """The registry of members and the delivery of events to them."""

    log = Logger()
    name = "chat"

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.members: dict[str, Member] = {}

    # Membership

    def _claim(self, raw: str, current: Member | None = None) -> tuple[str, str]:
        try:
            nick = nicknames.validate(raw)
        except nicknames.NicknameRejected as rejected:
            raise ChatError(rejected.msgid, **rejected.fields) from None
        key = nicknames.fold(nick)
        holder = self.members.get(key)
        if holder is not None and holder is not current:
            raise ChatError("err-nick-taken", nick=nick)
        return nick, key

    def join(self, raw_nick: str, client: IChatClient, door: IDoor, host: str, port: int) -> Member:
        """Register a new member under C{raw_nick} and announce it to everyone, itself included.

        @raise ChatError: the nickname is invalid or taken.
        """
        nick, key = self._claim(raw_nick)
        member = Member(nick=nick, key=key, client=client, door=door, host=host, port=port)
        self.members[key] = member
        self.log.info(self.catalog.template("log-connected"), nick=nick, ip=host, port=port)
        self._broadcast(events.Joined(nick))
        return member

    def leave(self, member: Member, reason: str = "") -> None:
        """Remove C{member} and tell the others; calling it again for the same member is a no-op."""
        if self.members.get(member.key) is not member:
            return
        del self.members[member.key]
        self.log.info(self.catalog.template("log-disconnected"), nick=member.nick)
        self._broadcast(events.Left(member.nick, reason))

    def rename(self, member: Member, raw_nick: str) -> None:
        """Change C{member}'s nickname and tell everyone; the old one is free again.

        @raise ChatError: the new nickname is invalid, taken, or already this member's.
        """
        nick, key = self._claim(raw_nick, current=member)
        if nick == member.nick:
            raise ChatError("err-nick-same", nick=nick)
        old = member.nick
        del self.members[member.key]
        member.nick, member.key = nick, key
        self.members[key] = member
        self.log.info(self.catalog.template("log-renamed"), old=old, new=nick)
        self._broadcast(events.Renamed(old, nick))

    def nicknames(self) -> list[str]:
        """Every connected nickname, sorted without regard to case."""
        return sorted((m.nick for m in self.members.values()), key=nicknames.fold)

    # Messages

    def say(self, member: Member, text: str) -> None:
        """A public line from C{member} to everyone, the sender included."""
        self._broadcast(events.Said(member.nick, text))

    def act(self, member: Member, text: str) -> None:
        """An action (`/me`) from C{member} to everyone."""
        self._broadcast(events.Acted(member.nick, text))

    def whisper(self, member: Member, raw_target: str, text: str) -> None:
        """A private line from C{member} to one other member, echoed back to the sender.

        @raise ChatError: no member has that nickname.
        """
        target = self.members.get(nicknames.fold(raw_target.strip()))
        if target is None:
            raise ChatError("err-no-such-nick", nick=raw_target.strip())
        self._deliver(events.PrivateReceived(member.nick, text), (target,))
        self._deliver(events.PrivateSent(target.nick, text), (member,))

    # Delivery

    def _broadcast(self, event: events.Event) -> None:
        self._deliver(event, list(self.members.values()))

    def _deliver(self, event: events.Event, recipients: Iterable[Member]) -> None:
        """Render C{event} once per door and hand the payload to each recipient in turn.

        A recipient whose client fails is logged, dropped and announced as leaving after
        everyone else has had the event; one failure never stops delivery to the others.
        """
        payloads: dict[IDoor, object] = {}
        failed: list[Member] = []
        for member in recipients:
            door = member.door
            payload = payloads.get(door)
            if payload is None:
                payload = payloads[door] = door.render(event)
            try:
                member.client.send(payload)
            except Exception:
                self.log.failure(self.catalog.template("log-send-failed"), nick=member.nick)
                failed.append(member)
        for member in failed:
            try:
                member.client.abort()
            except Exception:
                self.log.failure("abort failed for {nick}", nick=member.nick)
            self.leave(member)
