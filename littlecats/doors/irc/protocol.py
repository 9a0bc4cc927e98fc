"""
The IRC door's protocol: a thin adapter from an IRC client's byte stream to a `Session`, and
what the door keeps for one IRC connection (its capabilities, registration, away message and
channels).

`IRCConnection` frames bytes into lines (`framing.LineFramer`: bounded, every line ending, a
UTF-8 character split across reads kept whole) and hands them to its session, whose input
funnel (flood bucket, bounded inbox, receive-queue bound, registration timeout) is every door's;
`littlecats.doors.irc.commands` gives lines their meaning.  Twisted's
`twisted.words.protocols.irc.IRC` is not used: it drops the connection on a UTF-8 character
split across two reads, has no CAP or message tags, and lets CR and LF through in
`sendCommand` (../shared/DEPENDENCIES.md); only its numeric constants are reused.

The server pings a client that has been quiet for `PING_SECONDS`, and closes the connection
if it is still quiet `PING_SECONDS` later (TCP keepalive alone takes minutes to notice).
"""

from __future__ import annotations

import platform
import time

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.python.failure import Failure
from twisted.words.protocols import irc as numerics

import littlecats
from littlecats import nicknames
from littlecats.core import events
from littlecats.core.chat import ChatService, Member, Room
from littlecats.core.history import MAX_PAGE
from littlecats.doors.irc.caps import Capabilities
from littlecats.doors.irc.commands import MAX_CHANNELS, IRCCommands
from littlecats.doors.irc.door import (
    MESSAGE_TAGS,
    SERVER_TIME,
    IRCDoor,
    iso_time,
)
from littlecats.doors.irc.framing import LineFramer
from littlecats.doors.irc.message import format_message
from littlecats.limits import Limits
from littlecats.messages import Catalog
from littlecats.nicknames import MAX_LENGTH, ROOM_MAX_LENGTH
from littlecats.session import Session, State, when_ready

PING_SECONDS = 120.0
"""A client quiet this long is pinged; one still quiet as long again is closed."""
NAMES_PER_LINE = 400
"""Bytes of nicknames in one RPL_NAMREPLY (the line has room for them and its prefix)."""
RPL_WHOISACCOUNT = "330"
RPL_LOCALUSERS = "265"
RPL_GLOBALUSERS = "266"
RPL_CREATIONTIME = "329"
RPL_TOPICWHOTIME = "333"


class IRCConnection(Protocol):
    """One IRC connection."""

    factory: IRCFactory
    session: Session | None = None
    _lost = False

    def __init__(self) -> None:
        self.framer = LineFramer()
        self.caps = Capabilities()
        self.variant = 0
        self.echo = False
        self.nick = "*"
        """Its nickname once registered; before, the one it asked for (`*`: none yet)."""
        self.user: str | None = None
        self.realname = ""
        self.password: str | None = None
        """What PASS gave: the password of a registered nickname."""
        self.registered = False
        self.away: str | None = None
        self.invisible = False
        self.channels: dict[str, str] = {}
        """The channels it is in: display name by folded key."""
        self.batches: dict[str, str] = {}
        self.batch_count = 0
        """The batch a CHATHISTORY answer for a room (by key) is being sent in."""
        self.parting: dict[str, str] = {}
        """The reason it gave for leaving a channel, until its PART is sent back."""
        self.sasl: str | None = None
        """The SASL mechanism being negotiated (`PLAIN`), or None."""
        self.sasl_buffer = ""
        self.account: str | None = None
        """The key of the account SASL verified, before registration."""
        self.signon = 0.0
        self.last_input = 0.0
        self._ping: IDelayedCall | None = None
        self._pinged = False

    @property
    def ident(self) -> str:
        """The ident its hostmask shows (from USER, not checked: hence the `~`)."""
        return "~" + (self.user or "lc")

    @property
    def door(self) -> IRCDoor:
        return self.factory.door

    # Twisted's side

    def connectionMade(self) -> None:
        when_ready(self.factory.service, self.transport, self._admit, lambda: self._lost)

    def _admit(self) -> None:
        self.session = Session.accept(self.factory.door, self.transport)
        if self.session is None:
            return
        self.session.wire = self
        clock = self.factory.clock
        self.signon = self.last_input = clock.seconds()
        self._ping = clock.callLater(PING_SECONDS, self._check_alive)

    def dataReceived(self, data: bytes) -> None:
        session = self.session
        if session is None:
            return
        self._pinged = False
        self.last_input = self.factory.clock.seconds()
        lines = self.framer.feed(data)
        if lines:
            session.receive(lines)

    def connectionLost(self, reason: Failure) -> None:
        self._lost = True
        if self._ping is not None and self._ping.active():
            self._ping.cancel()
        self._ping = None
        if self.session is not None:
            self.session.finish()

    def _check_alive(self) -> None:
        """Ping a quiet client; close one that did not answer."""
        self._ping = None
        session = self.session
        if session is None or session.state in (State.CLOSING, State.CLOSED):
            return
        clock = self.factory.clock
        quiet = clock.seconds() - self.last_input
        if quiet < PING_SECONDS:
            self._ping = clock.callLater(PING_SECONDS - quiet, self._check_alive)
            return
        if self._pinged:
            reason = self.door.texts.text("irc-ping-timeout", seconds=int(quiet))
            self.error(reason)
            session.close(reason)
            return
        self._pinged = True
        self.send("PING", self.door.server)
        self._ping = clock.callLater(PING_SECONDS, self._check_alive)

    # Lines to this client

    def send(self, command: str, *params: str, source: str | None = None) -> None:
        """One line to this client alone."""
        assert self.session is not None
        self.session.write(format_message(command, params, source).encode())

    def reply(self, numeric: str, *params: str) -> None:
        """A numeric reply from the server, to this client's nickname."""
        assert self.session is not None
        line = format_message(numeric, (self.nick, *params), self.door.server)
        self.session.write(line.encode())

    def text(self, msgid: str, **fields: object) -> str:
        """The IRC catalog's message C{msgid}."""
        return self.door.texts.text(msgid, **fields)

    def server_notice(self, text: str) -> None:
        self.send("NOTICE", self.nick, text, source=self.door.server)

    def error(self, reason: str) -> None:
        """`ERROR`: what an IRC server says last, before it closes the connection."""
        self.send("ERROR", self.text("irc-closing", reason=reason))

    def update_caps(self) -> None:
        """The capabilities changed: how lines are rendered for it, and whether it gets its
        own lines back."""
        enabled = self.caps.enabled
        variant = (SERVER_TIME if "server-time" in enabled else 0) | (
            MESSAGE_TAGS if "message-tags" in enabled else 0
        )
        self.echo = "echo-message" in enabled
        if self.session is not None:
            self.door.change_variant(self.session, variant)
        else:
            self.variant = variant

    # Registration and channels

    def welcome(self, member: Member) -> None:
        """RPL_WELCOME to RPL_ISUPPORT, LUSERS and the MOTD: the client is registered."""
        door = self.door
        self.nick = member.nick
        self.registered = True
        server = door.server
        self.reply(numerics.RPL_WELCOME, self.text("irc-welcome", nick=self.mask(member.nick)))
        self.reply(
            numerics.RPL_YOURHOST,
            self.text("irc-yourhost", server=server, version=littlecats.__version__),
        )
        created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(door.created))
        self.reply(numerics.RPL_CREATED, self.text("irc-created", date=created))
        self.reply(
            numerics.RPL_MYINFO,
            server,
            f"littlecats-{littlecats.__version__}",
            "io",
            "bikmostv",
            "bkov",
        )
        tokens = self.factory.isupport
        for start in range(0, len(tokens), 12):
            self.reply(
                numerics.RPL_ISUPPORT, *tokens[start : start + 12], self.text("irc-isupport")
            )
        self.lusers()
        self.motd()
        if self.invisible:
            self.send("MODE", self.nick, "+i", source=self.nick)

    def mask(self, nick: str) -> str:
        return self.door.mask(nick)

    def lusers(self) -> None:
        chat = self.door.chat
        users = len(chat.members)
        operators = sum(1 for m in chat.members.values() if chat.moderation.is_operator(m))
        unknown = len(chat.sessions) - len(chat.by_session)
        door = self.door
        door.max_clients_seen = max(door.max_clients_seen, users)
        self.reply(numerics.RPL_LUSERCLIENT, self.text("irc-luserclient", users=users))
        if operators:
            self.reply(numerics.RPL_LUSEROP, str(operators), self.text("irc-luserop"))
        if unknown > 0:
            self.reply(numerics.RPL_LUSERUNKNOWN, str(unknown), self.text("irc-luserunknown"))
        self.reply(numerics.RPL_LUSERCHANNELS, str(len(chat.rooms)), self.text("irc-luserchannels"))
        self.reply(numerics.RPL_LUSERME, self.text("irc-luserme", clients=users))
        most = str(door.max_clients_seen)
        self.reply(
            RPL_LOCALUSERS, str(users), most, self.text("irc-localusers", count=users, max=most)
        )
        self.reply(
            RPL_GLOBALUSERS, str(users), most, self.text("irc-globalusers", count=users, max=most)
        )

    def motd(self) -> None:
        self.reply(numerics.RPL_MOTDSTART, self.text("irc-motd-start", server=self.door.server))
        for line in self.text("irc-motd").splitlines():
            self.reply(numerics.RPL_MOTD, "- " + line)
        self.reply(numerics.RPL_ENDOFMOTD, self.text("irc-motd-end"))

    def send_join(self, member: Member, room: Room) -> None:
        """What a client is told entering C{room}: its own JOIN, the topic, the names."""
        now = self.door.clock.seconds()
        tags = f"@time={iso_time(now)} " if self.variant & SERVER_TIME else ""
        assert self.session is not None
        self.session.write((tags + f":{self.mask(member.nick)} JOIN {room.name}\r\n").encode())
        if room.topic:
            self.topic(room)
        self.names(room)

    def topic(self, room: Room) -> None:
        """RPL_TOPIC, and RPL_TOPICWHOTIME when the server knows who set it."""
        self.reply(numerics.RPL_TOPIC, room.name, room.topic)
        if room.topic_by:
            self.reply(RPL_TOPICWHOTIME, room.name, room.topic_by, str(int(room.topic_time)))

    def names(self, room: Room) -> None:
        """RPL_NAMREPLY lines for C{room}, then RPL_ENDOFNAMES."""
        door = self.door
        enabled = self.caps.enabled
        multi, full = "multi-prefix" in enabled, "userhost-in-names" in enabled
        kind = "@" if "s" in room.modes else "="
        entries = [
            door.prefixes(member, room, multi) + (door.mask(member.nick) if full else member.nick)
            for member in sorted(room.members.values(), key=lambda m: m.key)
        ]
        chunk: list[str] = []
        size = 0
        for entry in entries:
            if chunk and size + len(entry.encode()) + 1 > NAMES_PER_LINE:
                self.reply(numerics.RPL_NAMREPLY, kind, room.name, " ".join(chunk))
                chunk, size = [], 0
            chunk.append(entry)
            size += len(entry.encode()) + 1
        if chunk:
            self.reply(numerics.RPL_NAMREPLY, kind, room.name, " ".join(chunk))
        self.reply(numerics.RPL_ENDOFNAMES, room.name, self.text("irc-names-end"))

    # Events for this client alone

    def render_direct(self, event: events.Event) -> bytes:
        """C{event}, delivered to this session alone, as its lines."""
        door = self.door
        kind = type(event)
        nick = self.nick
        when = door.clock.seconds()
        if kind is events.PrivateReceived:
            body = door.privmsg(door.mask(event.sender), nick, event.text)  # type: ignore[union-attr]
        elif kind is events.PrivateSent:
            if not self.echo:
                return b""
            body = door.privmsg(door.mask(nick), event.recipient, event.text)  # type: ignore[union-attr]
        elif kind is events.PrivateDelivered:
            when = event.time  # type: ignore[union-attr]
            body = door.privmsg(door.mask(event.sender), nick, self._dated(event.text, when))  # type: ignore[union-attr]
        elif kind is events.HistoryLine:
            when = event.time  # type: ignore[union-attr]
            ref = self.batches.get(nicknames.fold(event.room)) if self.batches else None  # type: ignore[union-attr]
            if ref is not None:  # a CHATHISTORY answer: tagged whatever the variant
                body = door.privmsg(
                    door.mask(event.nick), event.room, event.text, event.kind == "acted"
                )  # type: ignore[union-attr]
                return door.tagged(body, f"@batch={ref};time={iso_time(when)};msgid={event.id} ")  # type: ignore[union-attr]
            text = self._dated(event.text, when)  # type: ignore[union-attr]
            body = door.privmsg(door.mask(event.nick), event.room, text, event.kind == "acted")  # type: ignore[union-attr]
        elif kind is events.HistoryStart or kind is events.HistoryEnd:
            if not self.batches:
                return b""
            key = nicknames.fold(event.room)  # type: ignore[union-attr]
            if kind is events.HistoryStart:
                ref = self.batches.get(key)
                batch = ("+" + ref, "chathistory", event.room) if ref else ()  # type: ignore[union-attr]
            else:
                ref = self.batches.pop(key, None)
                batch = ("-" + ref,) if ref else ()
            return door.line("BATCH", *batch, source=door.server).encode() if batch else b""
        elif kind is events.RoomJoined or kind is events.Connected:
            if event.session == self.session.id:  # type: ignore[union-attr]
                return b""  # its JOIN went with its subscription
            return door.render(event)
        elif kind is events.Invited:
            body = door.line("INVITE", nick, event.room, source=door.mask(event.by))  # type: ignore[union-attr]
        elif kind in _CLOSING:
            msgid, fields = _CLOSING[kind](event)
            text = door.catalog_text(msgid, **fields)
            body = door.line("NOTICE", nick, text, source=door.server)
            body += door.line("ERROR", self.text("irc-closing", reason=text))
        elif kind in _NOTICES:
            msgid, fields = _NOTICES[kind](event)
            text = door.catalog_text(msgid, **fields)
            body = door.line("NOTICE", nick, text, source=door.server)
        else:
            return door.render(event)
        return door.tagged(body, door.tags(self.variant, event, when))

    def _dated(self, text: str, when: float) -> str:
        """A line said earlier: a client with server-time reads its time in the tag; others
        get it in front of the text."""
        if self.variant & SERVER_TIME:
            return text
        stamp = time.strftime("%H:%M", time.localtime(when))
        return self.text("irc-dated", time=stamp, text=text)


_CLOSING = {
    events.Ghosted: lambda e: ("ghosted", {"nick": e.nick}),
    events.Killed: lambda e: (
        ("killed-reason", {"by": e.by, "reason": e.reason})
        if e.reason
        else ("killed", {"by": e.by})
    ),
    events.Banned: lambda e: (
        ("banned-reason", {"by": e.by, "reason": e.reason})
        if e.reason
        else ("banned", {"by": e.by})
    ),
}
_NOTICES = {
    events.PrivateKept: lambda e: ("private-kept", {"nick": e.recipient}),
    events.Identified: lambda e: ("identified", {"nick": e.nick}),
    events.RoomOwned: lambda e: ("room-owned", {"room": e.room}),
}


class IRCFactory(Factory):
    """Builds IRC connections over one door and one command handler."""

    protocol = IRCConnection

    def __init__(
        self,
        service: ChatService,
        catalog: Catalog,
        clock: IReactorTime,
        limits: Limits,
        server_name: str | None = None,
    ) -> None:
        self.service = service
        self.clock = clock
        self.server_name = server_name or platform.node() or "littlecats"
        self.handler: IRCCommands = IRCCommands(service)
        texts = Catalog(catalog.language, "irc")
        self.door = IRCDoor(service, catalog, clock, limits, self.handler, self.server_name, texts)
        service.add_door(self.door)
        self.isupport = [
            "AWAYLEN=300",
            "CASEMAPPING=rfc8265",
            f"CHANLIMIT=#:{MAX_CHANNELS}",
            f"CHANNELLEN={ROOM_MAX_LENGTH + 1}",
            "CHANMODES=b,k,,imst",
            f"CHATHISTORY={MAX_PAGE}",
            "CHANTYPES=#",
            "ELIST=",
            "KICKLEN=300",
            "MODES=4",
            "NETWORK=LittleCats",
            f"NICKLEN={MAX_LENGTH}",
            "PREFIX=(ov)@+",
            "TARGMAX=JOIN:,KICK:1,NAMES:1,NOTICE:4,PART:,PRIVMSG:4,WHOIS:1",
            "TOPICLEN=300",
            "UTF8ONLY",
        ]

    def logPrefix(self) -> str:
        return "littlecats-irc"
