"""
The chat core: who is connected, what they may do, and who hears about it.

`ChatService` owns the registry of members (unique by folded nickname), admits or refuses new
connections (`limits.ConnectionLimiter`), and turns every action into events for the members
concerned, in one total order.  It knows no sockets, no bytes and no wire format: each member
belongs to a door (`IDoor`), which renders an event once and gets it to its own members.
Doors call the service; the service never imports a door.
"""

from __future__ import annotations

import attrs
from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import Interface

from littlecats import events, nicknames
from littlecats.limits import ConnectionLimiter, TokenBucket
from littlecats.messages import Catalog


class IDoor(Interface):
    """A way in (telnet now, others later): delivers events to the members it serves."""

    def attach(member: Member) -> None:
        """C{member} receives this door's broadcasts from now on."""

    def detach(member: Member) -> None:
        """C{member} receives no more broadcasts; what it is already owed still reaches it."""

    def broadcast(event: events.Event) -> None:
        """Render C{event} once and deliver it to every attached member."""

    def send(event: events.Event, member: Member) -> None:
        """Render C{event} for C{member} alone and deliver it."""

    def shutdown(event: events.Event) -> defer.Deferred[None]:
        """Deliver C{event} to every connection, close them all; fire when they are closed."""


class ChatError(Exception):
    """An action was refused; C{msgid} and C{fields} name the catalog message saying why."""

    def __init__(self, msgid: str, **fields: object) -> None:
        super().__init__(msgid, fields)
        self.msgid = msgid
        self.fields = fields


@attrs.define(eq=False)
class Member:
    """A member of the chat: the nickname it shows, and how its door reaches it."""

    nick: str
    key: str
    door: IDoor
    connection: object
    host: str
    port: int


class ChatService(Service):
    """The registry of members, connection admission, and who is told what."""

    log = Logger()
    name = "chat"

    def __init__(
        self,
        catalog: Catalog,
        limiter: ConnectionLimiter | None = None,
        quiet_above: int = 0,
    ) -> None:
        """
        @param quiet_above: with more members than this, join and leave notices go only to
            the member joining (as large chat systems do); 0 announces them always.
        """
        self.catalog = catalog
        self.limiter = limiter
        self.quiet_above = quiet_above
        self.members: dict[str, Member] = {}
        self.doors: list[IDoor] = []
        self.stopping = False

    def add_door(self, door: IDoor) -> None:
        """Serve C{door}'s members: broadcasts reach them and shutdown closes them."""
        self.doors.append(door)

    # Connections

    def admit(self, host: str) -> str | None:
        """Count a new connection from C{host}; or return the catalog id of why it is refused."""
        return None if self.limiter is None else self.limiter.admit(host)

    def release(self, host: str) -> None:
        """A connection that L{admit} counted has closed."""
        if self.limiter is not None:
            self.limiter.release(host)

    def flood_bucket(self, host: str, rate: float, burst: float) -> TokenBucket:
        """The line-rate bucket for a new connection from C{host} (see L{ConnectionLimiter})."""
        if self.limiter is None:
            return TokenBucket.full(rate, burst, 0.0)
        return self.limiter.flood_bucket(host, rate, burst)

    def keep_flood_bucket(self, host: str, bucket: TokenBucket) -> None:
        """A connection from C{host} closed with C{bucket}; a reconnect will get it back."""
        if self.limiter is not None:
            self.limiter.keep_flood_bucket(host, bucket)

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

    def join(self, raw_nick: str, door: IDoor, connection: object, host: str, port: int) -> Member:
        """Register a new member under C{raw_nick} and announce it to everyone, itself included.

        @raise ChatError: the nickname is invalid or taken.
        """
        nick, key = self._claim(raw_nick)
        member = Member(nick=nick, key=key, door=door, connection=connection, host=host, port=port)
        self.members[key] = member
        door.attach(member)
        self.log.info(self.catalog.template("log-connected"), nick=nick, ip=host, port=port)
        if self._quiet():
            door.send(events.Joined(nick), member)
        else:
            self._broadcast(events.Joined(nick))
        return member

    def leave(self, member: Member, reason: str = "") -> None:
        """Remove C{member} and tell the others; calling it again for the same member is a no-op."""
        if self.members.get(member.key) is not member:
            return
        quiet = self._quiet()
        del self.members[member.key]
        member.door.detach(member)
        self.log.info(self.catalog.template("log-disconnected"), nick=member.nick)
        if not (self.stopping or quiet):
            self._broadcast(events.Left(member.nick, reason))

    def _quiet(self) -> bool:
        return bool(self.quiet_above) and len(self.members) > self.quiet_above

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
        target.door.send(events.PrivateReceived(member.nick, text), target)
        member.door.send(events.PrivateSent(target.nick, text), member)

    def _broadcast(self, event: events.Event) -> None:
        for door in self.doors:
            door.broadcast(event)

    # Service

    def stopService(self) -> defer.Deferred[None]:
        """Tell every connection the server is stopping, let their output drain, close them."""
        super().stopService()
        self.stopping = True
        closing = [door.shutdown(events.ShuttingDown()) for door in self.doors]
        return defer.gatherResults(closing).addCallback(lambda _: None)
