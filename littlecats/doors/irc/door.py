"""
The IRC door's renderer and fan-outs: core events become IRC lines, rendered once per event for
every IRC session that reads them the same way, and written through the door's fan-outs.

What an IRC line looks like depends on what the client negotiated: `server-time` adds a `time`
tag, `message-tags` a `msgid`.  So the door has one `Fanout` per combination it has sessions
for (at most four, made when first needed), and an event is rendered at most once per
combination: with every client alike, once for the door.  `echo-message` does not change a
line, only who gets it: the sender of a room line who did not ask for its echo is the fan-out's
`exclude`.

IRC clients learn about themselves from the server's lines (their own JOIN, PART, NICK), in an
order they rely on: the welcome before anything else, a JOIN before the channel's names, topic
and lines.  The core delivers a room's recent lines before it subscribes the mover, and
subscribes before it tells the room; so the door holds those lines until the subscription, and
sends the welcome (arriving), or the mover's JOIN with the channel's topic and names (entering
a room), from `subscribe`; the mover's own copy of the room's notice is left out.  Leaving is
told from `unsubscribe` (the core unsubscribes a mover before telling the room), except when a
KICK said it already.

Who is who: every member shows as `nick!ident@littlecats`.  The ident is what an IRC client gave
in USER (`~` first: it is not checked), or the door a member came through (`telnet`, `web`);
the host is never a member's address.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from littlecats import nicknames
from littlecats.core import events
from littlecats.core.chat import ChatService, Member, Room
from littlecats.core.events import Envelope, SessionId
from littlecats.core.interfaces import IDoor
from littlecats.doors.base import FanoutDoor
from littlecats.doors.irc.message import MAX_BODY_BYTES, format_message
from littlecats.fanout import Fanout, Outlet
from littlecats.limits import Limits
from littlecats.messages import Catalog
from littlecats.moderation.masks import MaskRejected, parse_mask
from littlecats.session import ILineHandler, Session, State, close_all

if TYPE_CHECKING:
    from littlecats.doors.irc.protocol import IRCConnection

HOST = "littlecats"
"""The host part of every member's hostmask: never its address."""
REMOTE_IDENT = "~lc"
"""The ident of a member whose door is not known here (a member on another node, later)."""
SERVER_TIME = 1
"""Variant bit: the session asked for `server-time`."""
MESSAGE_TAGS = 2
"""Variant bit: the session asked for `message-tags`."""
ACTION = "\x01ACTION "


def iso_time(seconds: float) -> str:
    """C{seconds} as IRCv3's `server-time` value: UTC, milliseconds, `Z`."""
    whole = int(seconds)
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        + f".{int((seconds - whole) * 1000):03d}Z"
    )


def split_text(text: str, limit: int) -> list[str]:
    """C{text} in pieces of at most C{limit} bytes of UTF-8, cut at a space where one is near,
    else on a character boundary: a long line from another door reaches an IRC client whole,
    as several messages, never cut short."""
    pieces = []
    encoded = text.encode()
    while len(encoded) > limit:
        cut = limit
        while cut > 0 and (encoded[cut] & 0xC0) == 0x80:  # inside a character
            cut -= 1
        space = encoded.rfind(b" ", limit // 2, cut + 1)
        if space > 0:
            cut = space
        pieces.append(encoded[:cut].decode())
        encoded = encoded[cut:].lstrip(b" ")
    pieces.append(encoded.decode())
    return pieces


def _parse_mask(text: str) -> object:
    try:
        return parse_mask(text)
    except MaskRejected:
        return text


def irc_mask(mask: object) -> str:
    """A ban mask as IRC shows it: a nickname as `nick!*@*`, an address or block as
    `*!*@ADDRESS`, an account as `account:NAME`."""
    kind = getattr(mask, "kind", None)
    text = str(mask)
    if kind == "nick":
        return text.removeprefix("nick:") + "!*@*"
    if kind in ("ip", "cidr"):
        return "*!*@" + text
    return text


def _sharing(fanout: Fanout, keys: tuple[str, ...]) -> dict[Outlet, None]:
    """The outlets of C{fanout} subscribed to any of rooms C{keys}, once each."""
    outlets: dict[Outlet, None] = {}
    for key in keys:
        channel = fanout.channels.get(key)
        if channel is not None:
            outlets.update(channel.members)
    return outlets


@implementer(IDoor)
class IRCDoor(FanoutDoor):
    """Renders core events as IRC lines and fans them out to IRC sessions."""

    ident = "irc"

    def __init__(
        self,
        chat: ChatService,
        catalog: Catalog,
        clock: IReactorTime,
        limits: Limits,
        handler: ILineHandler,
        server_name: str,
        texts: Catalog,
    ) -> None:
        super().__init__(chat, catalog, clock, limits, handler)
        self.server = server_name
        self.texts = texts
        """The IRC door's own strings (the `irc` catalog: numerics' texts, the MOTD)."""
        self.created = clock.seconds()
        self.fanouts: list[Fanout | None] = [self.fanout, None, None, None]
        # Local IRC sessions by their display nickname (who sent a line, for echo-message).
        self.by_nick: dict[str, Session] = {}
        # The ident shown in the hostmask of every member seen arriving, by nickname.
        self._idents: dict[str, str] = {}
        # (session, room key) whose member a KICK just told it was sent out: no PART after.
        self._kicked: set[tuple[SessionId, str]] = set()
        # Recent lines of a room the core delivered before the mover's JOIN could be sent.
        self._held: dict[SessionId, list[events.Event]] = {}
        self.max_clients_seen = 0
        self._bodies: dict[type, Callable[[Any], str]] = {
            events.Connected: lambda e: f":{self.mask(e.nick)} JOIN {chat.lobby}\r\n",
            events.Disconnected: lambda e: self.line("QUIT", e.reason, source=self.mask(e.nick)),
            events.Renamed: lambda e: self.line("NICK", e.new, source=self.mask(e.old)),
            events.RoomJoined: lambda e: f":{self.mask(e.nick)} JOIN {e.room}\r\n",
            events.RoomLeft: lambda e: (
                self.line("PART", e.room, e.reason, source=self.mask(e.nick))
                if e.reason
                else f":{self.mask(e.nick)} PART {e.room}\r\n"
            ),
            events.Said: lambda e: self.privmsg(
                self.mask(e.nick), e.room, e.text, command="NOTICE" if e.notice else "PRIVMSG"
            ),
            events.Acted: lambda e: self.privmsg(self.mask(e.nick), e.room, e.text, action=True),
            events.TopicSet: lambda e: self.line(
                "TOPIC", e.room, e.topic, source=self.mask(e.nick)
            ),
            events.Moderated: self._moderated,
            events.Wall: lambda e: self.line(
                "NOTICE", f"${self.server}", e.text, source=self.mask(e.nick)
            ),
            events.ShuttingDown: lambda e: (
                self.line("NOTICE", "*", self.catalog_text("shutting-down"), source=self.server)
                + self.line("ERROR", self.catalog_text("shutting-down"))
            ),
        }

    # Names and lines

    def ident_of(self, nick: str) -> str:
        """The ident member C{nick} shows in its hostmask."""
        return self._idents.get(nick, REMOTE_IDENT)

    def mask(self, nick: str) -> str:
        """The hostmask member C{nick} shows as."""
        return f"{nick}!{self.ident_of(nick)}@{HOST}"

    def line(self, command: str, *params: str, source: str | None = None) -> str:
        """One IRC line (CRLF included) from C{source} (default: none)."""
        return format_message(command, params, source)

    def catalog_text(self, msgid: str, **fields: object) -> str:
        """A chat catalog message as IRC text: without the telnet door's `***`/`!!!` marks."""
        text = self.catalog.text(msgid, **fields)
        return text[4:] if text[:4] in ("*** ", "!!! ", "--- ") else text

    def privmsg(
        self, source: str, target: str, text: str, action: bool = False, command: str = "PRIVMSG"
    ) -> str:
        """C{text} from C{source} to C{target}: one PRIVMSG (or NOTICE) line, or several when
        it is longer than an IRC client could have sent it.  A relayed line may exceed 512
        bytes by its source (`:nick!ident@host `), as on ergo: what an IRC client sent
        arrives whole; a longer line from telnet or the web (up to 2048 bytes) arrives in
        several messages cut at spaces, never cut short."""
        head = f":{source} {command} {target} :" + (ACTION if action else "")
        tail = "\x01\r\n" if action else "\r\n"
        line = head + text + tail
        allowed = MAX_BODY_BYTES + len(source) + 3  # ":" source " ", and a trailing ":"
        if len(line) * 4 <= allowed or len(line.encode()) <= allowed:
            return line
        room = MAX_BODY_BYTES + len(source) + 2 - len(head.encode()) - len(tail)
        return "".join(head + piece + tail for piece in split_text(text, room))

    def _moderated(self, e: events.Moderated) -> str:
        by, room, action = self.mask(e.by), e.room, e.action
        modes = {
            "op": "+o",
            "deop": "-o",
            "voice": "+v",
            "devoice": "-v",
            "ban": "+b",
            "unban": "-b",
        }
        if action in modes:
            target = e.target
            if action in ("ban", "unban"):
                target = irc_mask(_parse_mask(target))
            return self.line("MODE", room, modes[action], target, source=by)
        if action == "mode":
            return self.line("MODE", room, *e.detail.split(" ", 1), source=by)
        if action == "kick":
            return self.line("KICK", room, e.target, e.detail or e.by, source=by)
        text = self.catalog_text(
            f"mod-{action}", room=room, by=e.by, target=e.target, detail=e.detail
        )
        return self.line("NOTICE", room, text, source=self.server)

    # Rendering, once per variant

    def tags(self, variant: int, event: events.Event | None, when: float) -> str:
        """The tag section (with its `@` and space) of C{event}'s lines in C{variant}."""
        pieces = []
        if variant & SERVER_TIME:
            pieces.append("time=" + iso_time(when))
        if variant & MESSAGE_TAGS:
            line_id = getattr(event, "id", 0)
            if line_id:
                pieces.append(f"msgid={line_id}")
        return "@" + ";".join(pieces) + " " if pieces else ""

    def tagged(self, body: str, tags: str) -> bytes:
        """C{body}'s lines, each with C{tags}."""
        if not tags:
            return body.encode()
        if body.count("\n") == 1:
            return (tags + body).encode()
        return "".join(tags + line for line in body.splitlines(keepends=True)).encode()

    def render(self, event: events.Event) -> bytes:
        """C{event}'s lines as a client without tags reads them."""
        return self._bodies[type(event)](event).encode()

    def notice(self, msgid: str, **fields: object) -> bytes:
        """A reply (chat catalog message C{msgid}) to a session whose nickname is not at hand:
        the refusals and limits every door shares (`err-flood`, a refused connection)."""
        return self.line(
            "NOTICE", "*", self.catalog_text(msgid, **fields), source=self.server
        ).encode()

    # Sessions and variants

    def fanout_of(self, session: Session) -> Fanout:
        variant = session.wire.variant  # type: ignore[union-attr]
        fanout = self.fanouts[variant]
        if fanout is None:
            fanout = self.fanouts[variant] = Fanout(self.clock)
        return fanout

    def write(self, session: Session, data: bytes) -> None:
        self.fanout_of(session).send(session.outlet, data)

    def release(self, session: Session) -> None:
        self.fanout_of(session).remove(session.outlet)
        wire: IRCConnection = session.wire  # type: ignore[assignment]
        if wire is not None and self.by_nick.get(wire.nick) is session:
            del self.by_nick[wire.nick]
        self._held.pop(session.id, None)

    def change_variant(self, session: Session, variant: int) -> None:
        """C{session} negotiated other capabilities after registering: its subscriptions move
        to the fan-out of its new variant (what the old one owed it is written first)."""
        wire: IRCConnection = session.wire  # type: ignore[assignment]
        if variant == wire.variant:
            return
        old = self.fanout_of(session)
        if session.outlet.direct or session.outlet.channels:
            # What it is owed, numbered in the old fan-out's sequence, goes out first.
            old.flush()
        keys = [channel.key for channel in session.outlet.channels]
        for key in keys:
            old.unsubscribe(key, session.outlet)
        wire.variant = variant
        new = self.fanout_of(session)
        for key in keys:
            new.subscribe(key, session.outlet)

    # IDoor

    def subscribe(self, room: str | None, session: SessionId) -> None:
        local = self._local(session)
        if local is None:
            return
        self.fanout_of(local).subscribe(room, local.outlet)
        member = self.chat.by_session.get(session)
        if member is None:
            return
        wire: IRCConnection = local.wire  # type: ignore[assignment]
        if room is None:  # arriving: the welcome comes before anything else
            self.by_nick[member.nick] = local
            self._idents[member.nick] = wire.ident
            wire.welcome(member)
            return
        entered = self.chat.rooms.get(room)
        if entered is None:
            return
        wire.channels[room] = entered.name
        wire.send_join(member, entered)
        for event in self._held.pop(session, ()):
            self.send(session, event)

    def unsubscribe(self, room: str | None, session: SessionId) -> None:
        local = self._local(session)
        if local is None:
            return
        self.fanout_of(local).unsubscribe(room, local.outlet)
        if room is None:
            return
        wire: IRCConnection = local.wire  # type: ignore[assignment]
        name = wire.channels.pop(room, None)
        member = self.chat.by_session.get(session)
        if (session, room) in self._kicked:
            self._kicked.discard((session, room))
        elif member is not None and name is not None and local.state is not State.CLOSING:
            # Told to the mover alone: the core unsubscribes it before telling the room.
            tags = self.tags(wire.variant & SERVER_TIME, event=None, when=self.clock.seconds())
            reason = wire.parting.pop(room, "")
            part = self.line(
                "PART", name, *([reason] if reason else []), source=self.mask(member.nick)
            )
            self.write(local, (tags + part).encode())

    def publish(self, envelope: Envelope) -> None:
        event, room, exclude = envelope
        kind = type(event)
        if kind is events.Said and exclude is None:  # the common case, kept short
            sender = self.by_nick.get(event.nick)  # type: ignore[union-attr]
            self._fan(event, room, None if sender is None or sender.wire.echo else sender)  # type: ignore[union-attr]
            return
        skip: Session | None = None
        if kind is events.Said or kind is events.Acted:
            sender = self.by_nick.get(event.nick)  # type: ignore[union-attr]
            if sender is not None and not sender.wire.echo:  # type: ignore[union-attr]
                skip = sender
        elif kind is events.RoomJoined or kind is events.Connected:
            # The mover's own JOIN was sent when it was subscribed.
            skip = self._local(event.session)  # type: ignore[union-attr]
            if kind is events.Connected and event.nick not in self._idents:  # type: ignore[union-attr]
                self._idents[event.nick] = self._session_ident(event.session)  # type: ignore[union-attr]
        elif kind is events.Moderated and event.action == "kick":  # type: ignore[union-attr]
            target = self.by_nick.get(event.target)  # type: ignore[union-attr]
            if target is not None and room is not None:
                self._kicked.add((target.id, room))
        if exclude is not None:
            skip = self._local(exclude)
        if room is None:
            if kind is events.Connected:
                if not event.lobby:  # type: ignore[union-attr]
                    return
                room = self.chat.lobby_key  # arriving is joining the lobby, for those in it
            elif kind is events.Disconnected:
                self._to_sharers(event, event.rooms, None)  # type: ignore[union-attr]
                self._idents.pop(event.nick, None)  # type: ignore[union-attr]
                return
            elif kind is events.Renamed:
                member = self.chat.by_session.get(event.session)  # type: ignore[union-attr]
                keys = tuple(member.rooms) if member is not None else ()
                self._to_sharers(event, keys, self._local(event.session))  # type: ignore[union-attr]
                self._renamed(event)  # type: ignore[arg-type]
                return
        self._fan(event, room, skip)
        if kind is events.RoomJoined and skip is not None and skip.wire.away is not None:  # type: ignore[union-attr]
            self._tell_away(skip, room)  # type: ignore[arg-type]

    def _fan(self, event: events.Event, room: str | None, skip: Session | None) -> None:
        """C{event} rendered once for each variant that has subscribers in C{room}, and
        published there, leaving C{skip} out."""
        body: str | None = None
        when = 0.0
        for variant, fanout in enumerate(self.fanouts):
            if fanout is None or room not in fanout.channels:
                continue
            if body is None:
                body = self._bodies[type(event)](event)
                when = self.clock.seconds()
            if variant:
                payload = self.tagged(body, self.tags(variant, event, when))
            else:
                payload = body.encode()
            leave_out = None
            if skip is not None and skip.wire.variant == variant:  # type: ignore[union-attr]
                leave_out = skip.outlet
            fanout.publish(room, payload, leave_out)

    def _tell_away(self, mover: Session, room: str) -> None:
        """An away IRC user joined C{room}: its away-notify members learn it is away (the
        IRCv3 away-notify specification)."""
        wire: IRCConnection = mover.wire  # type: ignore[assignment]
        line = self.line("AWAY", wire.away or "", source=self.mask(wire.nick)).encode()
        self.tell_with_cap(mover, (room,), line, "away-notify")

    def tell_with_cap(self, about: Session, keys: tuple[str, ...], line: bytes, cap: str) -> None:
        """C{line} (about C{about}) for the IRC sessions in rooms C{keys} that asked for
        capability C{cap}, once each, C{about} left out."""
        for fanout in self.fanouts:
            if fanout is None:
                continue
            for outlet in _sharing(fanout, keys):
                other = outlet.owner
                if other is not about and cap in other.wire.caps.enabled:  # type: ignore[attr-defined]
                    fanout.send(outlet, line)

    def _to_sharers(self, event: events.Event, keys: tuple[str, ...], also: Session | None) -> None:
        """C{event} (a QUIT, a NICK) for the IRC sessions that share one of rooms C{keys}
        with its member, and for C{also}: once each, however many rooms they share."""
        body: str | None = None
        when = self.clock.seconds()
        for variant, fanout in enumerate(self.fanouts):
            if fanout is None:
                continue
            outlets = _sharing(fanout, keys)
            if also is not None and also.wire.variant == variant:  # type: ignore[union-attr]
                outlets[also.outlet] = None
            if not outlets:
                continue
            if body is None:
                body = self._bodies[type(event)](event)
            payload = self.tagged(body, self.tags(variant, event, when))
            for outlet in outlets:
                fanout.send(outlet, payload)

    def _session_ident(self, sid: SessionId) -> str:
        session = self.chat.sessions.get(sid)
        if session is None:
            return REMOTE_IDENT
        ident = getattr(session.wire, "ident", None)  # type: ignore[attr-defined]
        return ident if isinstance(ident, str) else getattr(session.door, "ident", REMOTE_IDENT)

    def _renamed(self, event: events.Renamed) -> None:
        local = self.by_nick.pop(event.old, None)
        if local is not None:
            self.by_nick[event.new] = local
            local.wire.nick = event.new  # type: ignore[union-attr]
        ident = self._idents.pop(event.old, None)
        if ident is not None:
            self._idents[event.new] = ident

    def send(self, session: SessionId, event: events.Event) -> None:
        local = self._local(session)
        if local is None:
            return
        wire: IRCConnection = local.wire  # type: ignore[assignment]
        kind = type(event)
        history = (
            kind is events.HistoryStart or kind is events.HistoryLine or kind is events.HistoryEnd
        )
        if history and nicknames.fold(event.room) not in wire.channels:  # type: ignore[union-attr]
            # A room's recent lines, delivered before the mover's JOIN could be sent.
            self._held.setdefault(session, []).append(event)
            return
        data = wire.render_direct(event)
        if data:
            self.write(local, data)

    def shutdown(self, event: events.Event) -> defer.Deferred[None]:
        sessions = list(self.sessions.values())
        fanouts = [fanout for fanout in self.fanouts if fanout is not None]

        def flush() -> None:
            for fanout in fanouts:
                fanout.flush()

        return close_all(sessions, self.render(event), flush, self.clock)

    # What the commands ask

    def prefixes(self, member: Member, room: Room, multi: bool) -> str:
        """C{member}'s status in C{room} as NAMES and WHO show it (`@`, `+`, both with
        multi-prefix)."""
        moderation = self.chat.moderation
        op = moderation.is_room_op(member, room)
        voiced = self.chat.moderation.voices.get(room.key, ())
        voice = member.key in voiced or (member.account is not None and member.account in voiced)
        if op and voice and multi:
            return "@+"
        return "@" if op else "+" if voice else ""

    def away(self, nick: str) -> str | None:
        """The away message of member C{nick}, if it is an IRC user who set one."""
        local = self.by_nick.get(nick)
        return local.wire.away if local is not None else None  # type: ignore[union-attr]
