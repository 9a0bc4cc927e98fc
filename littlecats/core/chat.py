"""
The chat core: who is connected, which rooms exist and who is in them, and who hears what.

`ChatService` is the API every door calls.  A command is validated here, then published
through the backend (`IBackend`); membership changes and delivery happen only when the backend
hands the event back (`deliver`), so that a backend spanning several processes can later be
the sequencer without this module changing.  In one process (`LocalBackend`) that happens
before the call returns.  Calls that need an answer from the backend (claiming a nickname,
finding one) return Deferreds; refusals are `ChatError`s, raised at once for what can be
checked locally and as the Deferred's failure otherwise.

The core knows no sockets, no bytes and no wire format: each local session belongs to a door
(`IDoor`), which renders an event once and gets it to its subscribers.  Doors call the service;
the service never imports a door.  A member may be in several rooms (IRC and web users will
be); keeping a telnet user in one room at a time is that door's policy.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

import attrs
from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from littlecats import confusables, nicknames
from littlecats.accounts import LoginThrottle
from littlecats.core import events
from littlecats.core.errors import ChatError
from littlecats.core.events import Envelope, SessionId
from littlecats.core.history import History, HistoryUnavailable
from littlecats.core.identity import Accounts
from littlecats.core.interfaces import IBackend, IDoor, ISession
from littlecats.core.local import LocalBackend
from littlecats.core.moderation import Moderation
from littlecats.limits import ConnectionLimiter, TokenBucket
from littlecats.messages import Catalog
from littlecats.storage.interface import ACTED, SAID, IStore, StoredLine
from littlecats.storage.memory import MemoryStore

DEFAULT_LOBBY = "#lobby"
TOPIC_MAX_LENGTH = 300
KEPT_MESSAGES_MAX = 50
"""Private messages kept for one registered user while away."""


@attrs.define(eq=False)
class Member:
    """A member of the chat, wherever its connection is: plain data, no door objects."""

    session: SessionId
    nick: str
    key: str
    host: str
    port: int
    account: str | None = None
    """The key of the account it identified to (or registered), if any."""
    lobby: bool = True
    """Whether it lives in the lobby: it landed there, and goes back there when sent out of
    its last room (IRC users do not)."""
    history_from: int = 0
    """The id `/history` pages back from, in the room it entered last (an int here rather
    than a registry of cursors: memory per member counts at 10 000 of them; a door whose
    members stay in several rooms will need one per room)."""
    # The rooms it is in, in the order it entered them: a tuple, not a dict, because most
    # members are in one or two rooms and memory per member matters at 10 000 of them.
    _rooms: tuple[Room, ...] = ()

    @property
    def rooms(self) -> dict[str, Room]:
        """The rooms it is in, by folded key, in the order it entered them."""
        return {room.key: room for room in self._rooms}

    def room(self, key: str) -> Room | None:
        """The room C{key} if it is in it."""
        for room in self._rooms:
            if room.key == key:
                return room
        return None

    def last_room(self) -> Room | None:
        """The room it entered last."""
        return self._rooms[-1] if self._rooms else None

    def _enter(self, room: Room) -> None:
        self._rooms = (*self._rooms, room)

    def _leave(self, room: Room) -> None:
        self._rooms = tuple(r for r in self._rooms if r is not room)


@attrs.define(eq=False)
class Room:
    """A room: it exists while it has members, or while it has an owner (an owned room is
    stored, and lasts across restarts and emptiness)."""

    name: str
    key: str
    topic: str = ""
    topic_by: str = ""
    """Who set the topic, and when (the clock's seconds), while the room is in memory."""
    topic_time: float = 0.0
    members: dict[SessionId, Member] = attrs.field(factory=dict)
    owner: str | None = None
    """The account key of its owner: the identified user who created it."""
    ops: set[str] = attrs.field(factory=set)
    """The account keys of its operators (besides the owner)."""
    session_ops: set[SessionId] = attrs.field(factory=set)
    """The members who operate a room nobody owns, while they are in it: whoever created it
    (as on IRC), and whom they opped."""
    modes: str = ""
    password: str = ""
    created: float = 0.0


def room_name(raw: str) -> tuple[str, str]:
    """The display name and folded key of room C{raw}.

    @raise ChatError: the name breaks a rule.
    """
    try:
        name = nicknames.validate_room(raw)
    except nicknames.NicknameRejected as rejected:
        raise ChatError(rejected.msgid, **rejected.fields) from None
    return name, nicknames.fold(name)


def _nickname(raw: str) -> tuple[str, str]:
    try:
        nick = nicknames.validate(raw)
    except nicknames.NicknameRejected as rejected:
        raise ChatError(rejected.msgid, **rejected.fields) from None
    return nick, nicknames.fold(nick)


class ChatService(Service):
    """The registry of members and rooms, connection admission, and who is told what."""

    log = Logger()
    name = "chat"

    def __init__(
        self,
        catalog: Catalog,
        limiter: ConnectionLimiter | None = None,
        quiet_above: int = 0,
        lobby: str = DEFAULT_LOBBY,
        backend: IBackend | None = None,
        node: int = 0,
        store: IStore | None = None,
        accounts: Accounts | None = None,
        history: History | None = None,
        clock: object = None,
        operators: Iterable[str] = (),
    ) -> None:
        """
        @param quiet_above: a join or leave notice whose audience (a room's members, or
            everyone connected for the seed's notices) is larger than this goes only to the
            member joining; 0 announces them always.
        @param lobby: the room everyone lands in.
        @param store: where accounts, history and kept messages live (default: in memory).
        @param accounts: the registered nicknames (default: none, and registering refused).
        @param history: room history (default: none kept).
        @param operators: the registered accounts that are server operators.
        """
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        self.store = store if store is not None else MemoryStore()
        self.accounts = (
            accounts
            if accounts is not None
            else Accounts(self.store, None, LoginThrottle(clock), clock)  # type: ignore[arg-type]
        )
        self.history = (
            history if history is not None else History(self.store, None, clock, 0)  # type: ignore[arg-type]
        )
        self.catalog = catalog
        self.limiter = limiter
        self.quiet_above = quiet_above
        self.lobby, self.lobby_key = room_name(lobby)
        self.backend = backend if backend is not None else LocalBackend()
        self.backend.attach(self)
        self.node = node
        self.members: dict[str, Member] = {}
        """Every member of the chat, by folded nickname."""
        self.by_session: dict[SessionId, Member] = {}
        self.rooms: dict[str, Room] = {}
        # Skeletons (littlecats.confusables) of every member's nickname and every room's
        # name, to refuse look-alikes.
        self._skeletons: dict[str, Member] = {}
        self._room_skeletons: dict[str, str] = {}
        self.history.alive = self.rooms.__contains__
        self.history.catalog = self.accounts.catalog = catalog
        self.sessions: dict[SessionId, ISession] = {}
        """The sessions of this process, joined or not."""
        self.doors: list[IDoor] = []
        self.stopping = False
        self._numbers = itertools.count(1)
        # Callers waiting for a membership change to come back from the backend, by session
        # and room key (a member is in the chat once it has landed in the lobby).
        self._waiting: dict[SessionId, dict[str | None, defer.Deferred[Any]]] = {}
        self._apply: dict[type, Callable[[Envelope], None]] = {
            events.Connected: self._connected,
            events.Disconnected: self._disconnected,
            events.Renamed: self._renamed,
            events.RoomJoined: self._room_joined,
            events.RoomLeft: self._room_left,
            events.Said: self._publish,
            events.Acted: self._publish,
            events.TopicSet: self._topic_set,
            events.Wall: self._publish,
            events.Moderated: self._publish,
        }
        self.moderation = Moderation(self, operators)
        self._mutes = self.moderation.mutes
        self._recording = self.history.enabled

    def ready(self) -> defer.Deferred[None] | None:
        """None once what the chat keeps (registered nicknames, owned rooms, bans) is loaded;
        else a Deferred that fires then (doors hold new connections until it does)."""
        loading = self.accounts.loaded() or self.moderation.loaded()
        if loading is None:
            return None
        return loading.addCallback(lambda _: self.ready())

    def add_door(self, door: IDoor) -> None:
        """Serve C{door}'s sessions: its subscribers get events and shutdown closes them."""
        self.doors.append(door)

    # Connections

    def admit(self, host: str) -> ChatError | None:
        """Count a new connection from C{host}; or return why it is refused (a server ban, or
        a connection limit)."""
        banned = self.moderation.admission(host)
        if banned is not None:
            return banned
        if self.limiter is None:
            return None
        refusal = self.limiter.admit(host)
        return None if refusal is None else ChatError(refusal, max=self.limiter.max_per_ip)

    def release(self, host: str) -> None:
        """A connection that L{admit} counted has closed."""
        if self.limiter is not None:
            self.limiter.release(host)

    def flood_bucket(self, host: str, rate: float, burst: float) -> TokenBucket:
        """The line-rate bucket shared by every connection from C{host}."""
        if self.limiter is None:
            return TokenBucket.full(rate, burst, 0.0)
        return self.limiter.flood_bucket(host, rate, burst)

    def release_flood_bucket(self, host: str, bucket: TokenBucket) -> None:
        """A connection from C{host} that held C{bucket} closed."""
        if self.limiter is not None:
            self.limiter.release_flood_bucket(host, bucket)

    def new_session_id(self) -> SessionId:
        """A fresh id for a connection of this process."""
        return SessionId(self.node, next(self._numbers))

    def open(self, session: ISession) -> None:
        """C{session} has connected: the core may now deliver to it and close it."""
        self.sessions[session.id] = session

    def closed(self, session: ISession, reason: str = "") -> None:
        """C{session} is gone: it leaves the chat if it had joined, and is forgotten."""
        self.disconnect(session.id, reason)
        self.sessions.pop(session.id, None)

    def close_session(self, session: SessionId, reason: str = "") -> None:
        """End C{session}'s connection (kicks and bans will need it)."""
        local = self.sessions.get(session)
        if local is not None:
            local.close(reason)

    # Membership

    def connect(
        self,
        session: ISession,
        raw_nick: str,
        password: str | None = None,
        verified: str | None = None,
        lobby: bool = True,
    ) -> defer.Deferred[Member]:
        """Enter the chat as C{raw_nick}: everyone is told, and the member lands in the lobby,
        after the lobby's recent lines.  A registered nickname needs its C{password}; an old
        session still holding it is then closed (a ghost), and the messages kept for the
        account are delivered.

        C{verified} is the key of an account whose password the door has checked already
        (IRC's SASL, before the nickname is chosen): the member is identified to it, and its
        registered nickname needs no password then.  Without C{lobby} the member lands in no
        room (IRC users join the channels they choose).

        Fails with L{ChatError} if the nickname is invalid, taken, looks like another, or is
        registered and the password is missing or wrong.
        """
        loading = self.accounts.loaded() or self.moderation.loaded()
        if loading is not None:  # just started: wait for the registered nicknames and rooms
            return loading.addCallback(
                lambda _: self.connect(session, raw_nick, password, verified, lobby)
            )
        try:
            nick, key = _nickname(raw_nick)
            self._check_lookalike(nick, key, None)
            self.moderation.check(key, None, session.host)
        except ChatError:
            return defer.fail()
        sid = session.id

        def claim(account: str | None) -> defer.Deferred[Member]:
            if account is not None:
                self.moderation.check(key, account, session.host)
            return self.backend.claim(key, sid).addCallback(claimed, account)

        def claimed(ok: bool, account: str | None) -> Member | defer.Deferred[Member]:
            if not ok:
                raise ChatError("err-nick-taken", nick=nick)
            if sid not in self.sessions:  # it closed while the claim was on its way
                self.backend.release(key, sid)
                raise ChatError("err-nick-taken", nick=nick)
            loading = self.history.ready(self.lobby_key) if lobby else None
            if loading is not None:
                return loading.addCallback(lambda _: enter(account))
            return enter(account)

        def enter(account: str | None) -> Member | defer.Deferred[Member]:
            if sid not in self.sessions:  # it closed while the lobby's lines were loading
                self.backend.release(key, sid)
                raise ChatError("err-nick-taken", nick=nick)
            notice = self._notice(len(self.members) + 1, events.SELF)
            connected = events.Connected(
                sid, nick, key, session.host, session.port, notice, account, lobby
            )
            self.backend.publish(Envelope(connected, None))
            # In one process the member is in already.  A backend that hands events back
            # later can only do so from a later reactor callback, so waiting can start now.
            member = self.by_session.get(sid)
            arrived = defer.succeed(member) if member is not None else self._until(sid, None)
            if account is not None:
                arrived.addCallback(self._deliver_kept)
            return arrived

        if self.accounts.registered(key) is None:
            # An account the door verified stays the member's under another nickname too.
            return claim(verified if verified and self.accounts.registered(verified) else None)
        if verified == key:
            return claim(self._take_from_ghost(key, sid))
        if password is None:
            return defer.fail(ChatError("err-nick-registered", nick=nick))
        return self._identify(session.host, key, password, sid).addCallback(claim)

    def _identify(
        self, host: str, key: str, password: str, sid: SessionId
    ) -> defer.Deferred[str | None]:
        """Check C{password} for account C{key}; on success, close any other session holding
        the nickname (a dropped connection not yet reaped, or another device)."""

        return self.accounts.identify(host, key, password).addCallback(
            lambda _: self._take_from_ghost(key, sid)
        )

    def _take_from_ghost(self, key: str, sid: SessionId) -> str:
        """Account C{key} identified on session C{sid}: close any other session holding the
        nickname; return the key."""
        holder = self.members.get(key)
        if holder is not None and holder.session != sid:
            self.ghost(holder.session, holder.nick)
        return key

    def identify_member(
        self, member: Member, raw_account: str, password: str
    ) -> defer.Deferred[str]:
        """Identify C{member}, keeping its nickname, to account C{raw_account} (IRC's
        `OPER NAME PASSWORD`, and `IDENTIFY` to NickServ); fire with the account's name.

        Fails with L{ChatError}: no such account, a wrong password, or too many tries.
        """
        key = nicknames.fold(raw_account.strip())
        sid = member.session

        def identified(_: object) -> str:
            current = self.by_session.get(sid)
            if current is not None:
                current.account = key
            return self.accounts.registered(key) or key

        if self.accounts.registered(key) is None:
            return defer.fail(ChatError("err-not-registered"))
        return self.accounts.identify(member.host, key, password).addCallback(identified)

    def ghost(self, session: SessionId, nick: str) -> None:
        """Close C{session}, whose nickname C{nick} was just identified elsewhere."""
        self.log.info(self.catalog.template("log-ghosted"), nick=nick)
        self.deliver_direct(session, events.Ghosted(nick))
        self.close_session(session, self.catalog.text("reason-ghost"))

    def _deliver_kept(self, member: Member) -> Member:
        """Deliver the private messages kept for C{member}'s account while it was away."""
        account = member.account

        self.deliver_direct(member.session, events.Identified(member.nick))

        def kept(messages: list) -> None:
            for message in messages:
                self.deliver_direct(
                    member.session,
                    events.PrivateDelivered(message.sender, message.text, message.time),
                )

        def failed(failure: Failure) -> None:
            self.log.failure(self.catalog.template("log-kept-unreadable"), failure, key=account)

        if account is not None:
            self.store.take_messages(account).addCallbacks(kept, failed)
        return member

    def _check_lookalike(self, nick: str, key: str, member: Member | None) -> None:
        """Refuse C{nick} if it looks like (same skeleton, other key) a nickname that is
        connected or registered; C{member} is who is renaming, if anyone."""
        skeleton = confusables.skeleton(nick)
        # A member whose skeleton is its folded key (most names) is found in the registry
        # itself; only the others are kept in _skeletons.
        other = self._skeletons.get(skeleton) or self.members.get(skeleton)
        if other is not None and other is not member and other.key != key:
            raise ChatError("err-nick-lookalike", nick=nick, other=other.nick)
        registered = self.accounts.lookalike(skeleton, key)
        if registered is not None:
            raise ChatError("err-nick-lookalike", nick=nick, other=registered)

    def _until(self, sid: SessionId, room: str | None) -> defer.Deferred[Any]:
        """A Deferred that fires once C{sid}'s entry into C{room} (None: into the chat) comes
        back from the backend, with the room (the member)."""
        waiting: defer.Deferred[Any] = defer.Deferred()
        self._waiting.setdefault(sid, {})[room] = waiting
        return waiting

    def _arrived(self, sid: SessionId, room: str | None, value: object) -> None:
        waiting = self._waiting.get(sid)
        if waiting is not None and room in waiting:
            arrival = waiting.pop(room)
            if not waiting:
                del self._waiting[sid]
            arrival.callback(value)

    def disconnect(self, session: SessionId, reason: str = "") -> None:
        """C{session} leaves the chat, if it is in it; everyone else is told once."""
        member = self.by_session.get(session)
        if member is None:
            return
        self.backend.release(member.key, session)
        notice = events.NOBODY if self.stopping else self._notice(len(self.members), events.NOBODY)
        rooms = tuple(room.key for room in member._rooms)
        self.backend.publish(
            Envelope(events.Disconnected(session, member.nick, reason, notice, rooms), None)
        )

    def rename(
        self, member: Member, raw_nick: str, password: str | None = None
    ) -> defer.Deferred[None]:
        """Change C{member}'s nickname and tell everyone; the old one is free again.  A
        registered nickname (not the member's own account) needs its C{password}, and then
        closes an old session holding it.

        Fails with L{ChatError}: the new nickname is invalid, taken, looks like another, is
        already this member's, or is registered and the password is missing or wrong.
        """
        try:
            nick, key = _nickname(raw_nick)
            if nick == member.nick:
                raise ChatError("err-nick-same", nick=nick)
            self._check_lookalike(nick, key, member)
        except ChatError:
            return defer.fail()
        sid, old_key = member.session, member.key

        def claim(account: str | None) -> defer.Deferred[None]:
            if key == old_key:
                return defer.succeed(True).addCallback(claimed, account)
            return self.backend.claim(key, sid).addCallback(claimed, account)

        def claimed(ok: bool, account: str | None) -> None:
            if not ok:
                raise ChatError("err-nick-taken", nick=nick)
            current = self.by_session.get(sid)
            if current is None:
                self.backend.release(key, sid)
                return
            self.backend.publish(
                Envelope(events.Renamed(sid, current.nick, nick, key, account), None)
            )
            if key != old_key:
                self.backend.release(old_key, sid)
            if account == key and password is not None:
                self.deliver_direct(sid, events.Identified(nick))

        if self.accounts.registered(key) is None or member.account == key:
            return claim(member.account)
        if password is None:
            return defer.fail(ChatError("err-nick-registered", nick=nick))
        return self._identify(member.host, key, password, sid).addCallback(claim)

    def join_room(self, member: Member, raw_room: str, password: str = "") -> defer.Deferred[Room]:
        """C{member} enters room C{raw_room}, creating it; its members, the mover included,
        are told.  Fires with the room once the member is in it.

        @raise ChatError: the name is invalid, or the member is already there.
        """
        name, key = self.room_to_enter(member, raw_room, password)
        ready = self.history.ready(key)
        if ready is None:
            return self._enter(member, name, key)
        sid = member.session
        return ready.addCallback(lambda _: self._enter(self._still(sid), name, key))

    def room_to_enter(self, member: Member, raw_room: str, password: str = "") -> tuple[str, str]:
        """The display name and key of room C{raw_room}, if C{member} may enter it.

        @raise ChatError: the name is invalid or looks like another room's, or the member is
            already there.
        """
        name, key = room_name(raw_room)
        room = self.rooms.get(key)
        if room is not None:
            name = room.name
        elif key == self.lobby_key:
            name = self.lobby  # the lobby keeps the operator's spelling, even recreated
        else:
            other = self._room_skeletons.get(confusables.skeleton(name))
            if other is not None and other in self.rooms:
                raise ChatError("err-room-lookalike", room=name, other=self.rooms[other].name)
        if member.room(key) is not None:
            raise ChatError("err-already-in-room", room=name)
        self.moderation.check_room(member, name, key, password)
        return name, key

    def _still(self, sid: SessionId) -> Member:
        """The member C{sid}, still in the chat after a wait; or the refusal saying it left."""
        member = self.by_session.get(sid)
        if member is None:
            raise ChatError("err-not-connected")
        return member

    def _enter(self, member: Member, name: str, key: str) -> defer.Deferred[Room]:
        room = self.rooms.get(key)
        if room is not None:
            name = room.name
        if member.room(key) is not None:
            raise ChatError("err-already-in-room", room=name)
        notice = self._notice(1 + (len(room.members) if room else 0), events.SELF)
        self.backend.publish(
            Envelope(events.RoomJoined(name, member.session, member.nick, notice), key)
        )
        entered = member.room(key)  # in one process, in already (see connect)
        return defer.succeed(entered) if entered is not None else self._until(member.session, key)

    def part_room(
        self, member: Member, room: Room, quietly: bool = False, reason: str = ""
    ) -> None:
        """C{member} leaves C{room}, saying C{reason} (or nothing); the members who stay are
        told (unless C{quietly}: a moderation notice said it already).

        @raise ChatError: the member is not in it.
        """
        if member.room(room.key) is None:
            raise ChatError("err-not-in-room", room=room.name)
        notice = events.NOBODY if quietly else self._notice(len(room.members), events.NOBODY)
        self.backend.publish(
            Envelope(
                events.RoomLeft(room.name, member.session, member.nick, notice, reason), room.key
            )
        )

    def _notice(self, audience: int, otherwise: str) -> str:
        """Who hears a join or leave notice with C{audience} members: all, or C{otherwise}."""
        if self.quiet_above and audience > self.quiet_above:
            return otherwise
        return events.ALL

    def room(self, raw_room: str) -> Room:
        """The room named C{raw_room}.

        @raise ChatError: the name is invalid, or no such room exists.
        """
        name, key = room_name(raw_room)
        room = self.rooms.get(key)
        if room is None:
            raise ChatError("err-no-such-room", room=name)
        return room

    def nicknames(self, members: Iterable[Member] | None = None) -> list[str]:
        """The nicknames of C{members} (default: everyone), sorted without regard to case."""
        chosen = self.members.values() if members is None else members
        return sorted((m.nick for m in chosen), key=nicknames.fold)

    def room_list(self) -> list[Room]:
        """Every room, biggest first, then by name."""
        return sorted(self.rooms.values(), key=lambda r: (-len(r.members), r.key))

    # Messages

    def say(self, member: Member, room: Room, text: str, notice: bool = False) -> None:
        """A public line from C{member} to C{room}, the sender included (C{notice}: an IRC
        NOTICE, shown by other doors as any line).

        @raise ChatError: the member is not in the room, or may not speak there (muted).
        """
        # The common case costs two truth tests: no room modes and nobody muted anywhere
        # (`_mutes` is the moderation's dict itself), and no history kept.
        if room.modes or self._mutes:
            self.moderation.check_voice(member, room)
        if room.members.get(member.session) is not member:
            raise ChatError("err-not-in-room", room=room.name)
        # Kept first, so that the event carries the line's id (doors hand it to clients that
        # page back or skip what they have seen).
        line_id = self.history.record(room.key, SAID, member.nick, text) if self._recording else 0
        said = events.Said(room.name, member.nick, text, line_id, notice)
        self.backend.publish(Envelope(said, room.key))

    def act(self, member: Member, room: Room, text: str) -> None:
        """An action (`/me`) from C{member} to C{room}."""
        if room.modes or self._mutes:
            self.moderation.check_voice(member, room)
        if room.members.get(member.session) is not member:
            raise ChatError("err-not-in-room", room=room.name)
        line_id = self.history.record(room.key, ACTED, member.nick, text) if self._recording else 0
        self.backend.publish(
            Envelope(events.Acted(room.name, member.nick, text, line_id), room.key)
        )

    def set_topic(self, member: Member, room: Room, topic: str) -> None:
        """C{member} sets C{room}'s topic; its members see who set it to what.

        @raise ChatError: the topic is too long, or the member is not in the room.
        """
        if len(topic) > TOPIC_MAX_LENGTH:
            raise ChatError("err-topic-long", max=TOPIC_MAX_LENGTH)
        if "t" in room.modes:
            self.moderation.require_room_op(member, room, "topic")
        self._to_member_room(member, room, events.TopicSet(room.name, member.nick, topic))

    def _to_member_room(self, member: Member, room: Room, event: events.RoomEvent) -> None:
        if room.members.get(member.session) is not member:
            raise ChatError("err-not-in-room", room=room.name)
        self.backend.publish(Envelope(event, room.key))

    def whisper(self, member: Member, raw_target: str, text: str) -> defer.Deferred[None]:
        """A private line from C{member} to one other member, echoed back to the sender.  To a
        registered user who is not connected, it is kept (up to L{KEPT_MESSAGES_MAX}) and
        delivered when they next identify; the sender is told so.

        Fails with L{ChatError}: no member has that nickname (and none registered it), or
        too many messages are kept for it already.
        """
        wanted = raw_target.strip()
        key = nicknames.fold(wanted)

        def located(target: SessionId | None) -> defer.Deferred[None] | None:
            sender = self.by_session.get(member.session)
            if sender is None:  # it left while the lookup was on its way
                return None
            recipient = self.by_session.get(target) if target is not None else None
            if recipient is None:
                name = self.accounts.registered(key)
                if name is None:
                    raise ChatError("err-no-such-nick", nick=wanted)
                return self._keep(sender, key, name, text)
            self.backend.unicast(target, events.PrivateReceived(sender.nick, text))
            self.backend.unicast(sender.session, events.PrivateSent(recipient.nick, text))
            return None

        return self.backend.locate(key).addCallback(located)

    def _keep(self, sender: Member, key: str, name: str, text: str) -> defer.Deferred[None]:
        now = self.clock.seconds()  # type: ignore[attr-defined]

        def kept(ok: bool) -> None:
            if not ok:
                raise ChatError("err-kept-full", nick=name, max=KEPT_MESSAGES_MAX)
            self.backend.unicast(sender.session, events.PrivateKept(name, text))

        def failed(failure: Failure) -> None:
            self.log.failure(self.catalog.template("log-kept-failed"), failure, key=key)
            raise ChatError("err-kept-failed", nick=name)

        return self.store.keep_message(key, sender.nick, now, text, KEPT_MESSAGES_MAX).addCallbacks(
            kept, failed
        )

    # Accounts

    def register(self, member: Member, password: str) -> defer.Deferred[None]:
        """Register C{member}'s nickname with C{password}; the member is identified to it."""
        sid = member.session

        def registered(_: None) -> None:
            current = self.by_session.get(sid)
            if current is not None and current.key == member.key:
                current.account = current.key

        return self.accounts.register(member.key, member.nick, password).addCallback(registered)

    def change_password(self, member: Member, old: str, new: str) -> defer.Deferred[None]:
        """Change the password of the account C{member} is identified to."""
        if member.account is None:
            return defer.fail(ChatError("err-not-identified"))
        return self.accounts.change_password(member.host, member.account, old, new)

    def unregister(self, member: Member, password: str) -> defer.Deferred[None]:
        """Delete the account C{member} is identified to (and the messages kept for it)."""
        account = member.account
        if account is None:
            return defer.fail(ChatError("err-not-identified"))
        sid = member.session

        def unregistered(_: None) -> None:
            current = self.by_session.get(sid)
            if current is not None and current.account == account:
                current.account = None
            self.moderation.account_gone(account)

        return self.accounts.unregister(member.host, account, password).addCallback(unregistered)

    # History

    def earlier(
        self, member: Member, room: Room, count: int, before: int | None = None
    ) -> defer.Deferred[int]:
        """Deliver to C{member} up to C{count} lines of C{room} said before those it has seen
        (or, given C{before}, before that line id: a door whose client keeps its own cursor
        per room, as the web page does); fire with how many.

        Fails with L{ChatError}: the member is not in the room, or history is off or cannot
        be read now.
        """
        if room.members.get(member.session) is not member:
            return defer.fail(ChatError("err-not-in-room", room=room.name))
        if not self.history.enabled:
            return defer.fail(ChatError("err-history-off"))
        sid, name = member.session, room.name

        def got(lines: list[StoredLine]) -> int:
            if lines and before is None:
                member.history_from = lines[0].id
            self._deliver_lines(sid, name, lines)
            return len(lines)

        def failed(failure: Failure) -> None:
            failure.trap(HistoryUnavailable)
            raise ChatError("err-history-unavailable")

        cursor = member.history_from if before is None else before
        return self.history.earlier(room.key, cursor, count).addCallbacks(got, failed)

    def _deliver_lines(self, sid: SessionId, room: str, lines: list[StoredLine]) -> None:
        """Deliver stored C{lines} of C{room} to session C{sid}, marked as history."""
        if not lines:
            return
        self.deliver_direct(sid, events.HistoryStart(room, len(lines)))
        for line in lines:
            self.deliver_direct(
                sid, events.HistoryLine(room, line.kind, line.nick, line.text, line.time, line.id)
            )
        self.deliver_direct(sid, events.HistoryEnd(room))

    # What the backend hands back (IEventSink)

    def deliver(self, envelope: Envelope) -> None:
        """Apply C{envelope}'s membership change, then deliver it to the local doors."""
        self._apply[type(envelope.event)](envelope)

    def deliver_direct(self, to: SessionId, event: events.Event) -> None:
        """Deliver C{event} to local session C{to}, if it is still here."""
        session = self.sessions.get(to)
        if session is not None:
            session.door.send(to, event)

    def _publish(self, envelope: Envelope) -> None:
        for door in self.doors:
            door.publish(envelope)

    def _local_door(self, sid: SessionId) -> IDoor | None:
        session = self.sessions.get(sid)
        return None if session is None else session.door

    def _notify(self, envelope: Envelope, notice: str, sid: SessionId) -> None:
        """Deliver a join or leave notice to whom C{notice} says."""
        if notice == events.ALL:
            self._publish(envelope)
        elif notice == events.SELF:
            self.deliver_direct(sid, envelope.event)

    def _connected(self, envelope: Envelope) -> None:
        event: events.Connected = envelope.event  # type: ignore[assignment]
        member = Member(
            event.session, event.nick, event.key, event.host, event.port, event.account, event.lobby
        )
        self.members[member.key] = member
        self.by_session[member.session] = member
        self._remember_skeleton(member)
        door = self._local_door(member.session)
        if door is not None:
            # The lobby's recent lines come first: everything live follows them.
            if event.lobby:
                self._replay(member.session, self.lobby, self.lobby_key)
            door.subscribe(None, member.session)
            self.log.info(
                self.catalog.template("log-connected"),
                nick=member.nick,
                ip=member.host,
                port=member.port,
            )
        # Landing in the lobby is part of arriving: no notice of its own (the seed's says it).
        if event.lobby:
            self._enter_room(member, self.lobby, self.lobby_key, door)
        self._notify(envelope, event.notice, member.session)
        self._arrived(member.session, None, member)

    def _disconnected(self, envelope: Envelope) -> None:
        event: events.Disconnected = envelope.event  # type: ignore[assignment]
        member = self.by_session.pop(event.session, None)
        if member is None:
            return
        if self.members.get(member.key) is member:
            del self.members[member.key]
        self._forget_skeleton(member)
        # Whoever waited for this member to enter a room waits no more: it is gone.
        self._waiting.pop(member.session, None)
        door = self._local_door(member.session)
        for room in member._rooms:
            self._remove_from_room(member, room, door)
        if door is not None:
            door.unsubscribe(None, member.session)
            self.log.info(self.catalog.template("log-disconnected"), nick=member.nick)
        self._notify(envelope, event.notice, member.session)

    def _renamed(self, envelope: Envelope) -> None:
        event: events.Renamed = envelope.event  # type: ignore[assignment]
        member = self.by_session.get(event.session)
        if member is None:
            return
        if self.members.get(member.key) is member:
            del self.members[member.key]
        self._forget_skeleton(member)
        member.nick, member.key, member.account = event.new, event.key, event.account
        self.members[member.key] = member
        self._remember_skeleton(member)
        if member.session in self.sessions:
            self.log.info(self.catalog.template("log-renamed"), old=event.old, new=event.new)
        self._publish(envelope)

    def _room_joined(self, envelope: Envelope) -> None:
        event: events.RoomJoined = envelope.event  # type: ignore[assignment]
        key = envelope.room
        member = self.by_session.get(event.session)
        if member is None or key is None or member.room(key) is not None:
            return
        door = self._local_door(member.session)
        if door is not None:
            self._replay(member.session, event.room, key)
        new = key not in self.rooms
        room = self._enter_room(member, event.room, key, door)
        self._notify(envelope, event.notice, member.session)
        if new and room.owner is not None and room.owner == member.account:
            self.deliver_direct(member.session, events.RoomOwned(room.name))
        self._arrived(member.session, key, room)

    def _enter_room(self, member: Member, name: str, key: str, door: IDoor | None) -> Room:
        room = self.rooms.get(key)
        created = room is None
        if room is None:
            room = self._new_room(name, key)
        room.members[member.session] = member
        member._enter(room)
        if door is not None:
            door.subscribe(key, member.session)
        if created and key != self.lobby_key:
            if member.account is not None:
                self.moderation.room_created(room, member)
            else:  # nobody owns it: its creator operates it while it is in it, as on IRC
                room.session_ops.add(member.session)
                room.created = self.clock.seconds()  # type: ignore[attr-defined]
        return room

    def _new_room(self, name: str, key: str) -> Room:
        room = self.rooms[key] = Room(name, key)
        self._room_skeletons.setdefault(confusables.skeleton(name), key)
        return room

    def restore_room(self, name: str, key: str) -> Room:
        """The room C{key}, created empty if it does not exist (an owned room from the store)."""
        room = self.rooms.get(key)
        return room if room is not None else self._new_room(name, key)

    def delete_room_if_unused(self, room: Room) -> None:
        """Forget C{room} if it has neither members nor an owner."""
        if room.members or room.owner is not None or self.rooms.get(room.key) is not room:
            return
        del self.rooms[room.key]
        self.moderation.forget_room(room.key)
        skeleton = confusables.skeleton(room.name)
        if self._room_skeletons.get(skeleton) == room.key:
            del self._room_skeletons[skeleton]
        self.history.forget_room(room.key)

    def _room_left(self, envelope: Envelope) -> None:
        event: events.RoomLeft = envelope.event  # type: ignore[assignment]
        member = self.by_session.get(event.session)
        room = self.rooms.get(envelope.room) if envelope.room is not None else None
        if member is None or room is None or member.room(room.key) is None:
            return
        self._remove_from_room(member, room, self._local_door(member.session))
        self._notify(envelope, event.notice, member.session)

    def _remove_from_room(self, member: Member, room: Room, door: IDoor | None) -> None:
        member._leave(room)
        del room.members[member.session]
        room.session_ops.discard(member.session)
        self.delete_room_if_unused(room)
        if door is not None:
            door.unsubscribe(room.key, member.session)

    def _replay(self, sid: SessionId, name: str, key: str) -> None:
        """Deliver room C{key}'s recent lines to C{sid}, entering it."""
        member = self.by_session[sid]
        lines, member.history_from = self.history.entered(key)
        self._deliver_lines(sid, name, lines)

    def _remember_skeleton(self, member: Member) -> None:
        skeleton = confusables.skeleton(member.nick)
        if skeleton != member.key:
            self._skeletons[skeleton] = member

    def _forget_skeleton(self, member: Member) -> None:
        skeleton = confusables.skeleton(member.nick)
        if self._skeletons.get(skeleton) is member:
            del self._skeletons[skeleton]

    def _topic_set(self, envelope: Envelope) -> None:
        event: events.TopicSet = envelope.event  # type: ignore[assignment]
        room = self.rooms.get(envelope.room) if envelope.room is not None else None
        if room is not None:
            room.topic = event.topic
            room.topic_by, room.topic_time = event.nick, self.clock.seconds()  # type: ignore[attr-defined]
            if room.owner is not None:
                self.moderation.save_room(room)
        self._publish(envelope)

    # Service

    def startService(self) -> None:
        """Learn the registered nicknames and where history ids continue."""
        super().startService()

        def failed(failure: Failure) -> None:
            self.log.failure(self.catalog.template("log-history-id-unreadable"), failure)

        self.accounts.start()
        self.moderation.start()
        if self.history.enabled:
            self.history.start().addErrback(failed)

    def stopService(self) -> defer.Deferred[None]:
        """Tell every connection the server is stopping, let their output drain, close them."""
        super().stopService()
        self.stopping = True
        self.accounts.stop()
        self.moderation.stop()
        closing = [door.shutdown(events.ShuttingDown()) for door in self.doors]
        return defer.gatherResults(closing).addCallback(lambda _: None)
