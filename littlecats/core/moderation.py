"""
Moderation in the core: who may moderate, what each action does, and the log of actions.

Every door reaches the same decisions here; a door only renders the events they produce.  Server
operators are the registered accounts named by `--operator` (a member counts as one while it
is identified to such an account).  Every action is logged twice: in the server's log (who,
what, whom, why) and in the store's moderation log, which operators read with `/modlog`.

Refusals are `ChatError`s naming the catalog line that says why; nothing happens then.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from littlecats import nicknames
from littlecats.core import events
from littlecats.core.errors import ChatError
from littlecats.core.events import Envelope
from littlecats.moderation import (
    Ban,
    BanList,
    DurationRejected,
    Mask,
    MaskRejected,
    looks_like_duration,
    parse_duration,
    parse_mask,
)
from littlecats.storage.interface import BanRecord, RoomRecord

if TYPE_CHECKING:
    from littlecats.core.chat import ChatService, Member, Room
    from littlecats.core.interfaces import ISession
    from littlecats.storage.interface import ModAction

ROOM_MODES = "ikmst"
KEY_MAX_LENGTH = 23
"""Characters of a room key (+k), at most: what IRC servers allow."""
"""+i invite-only, +k key, +m moderated, +s secret, +t topic by operators only."""
WALL_MAX_LENGTH = 400
REASON_MAX_LENGTH = 200
MODLOG_DEFAULT = 20
MODLOG_MAX = 200


class Moderation:
    """The moderation rules of one chat."""

    log = Logger()

    def __init__(self, chat: ChatService, operators: Iterable[str] = ()) -> None:
        """
        @param operators: the accounts (nicknames as registered, any case) that are server
            operators.
        """
        self.chat = chat
        self.operators = frozenset(nicknames.fold(name) for name in operators)
        self.gbans = BanList(chat.clock, self._gban_expired)  # type: ignore[arg-type]
        """The server-wide bans (`/gban`), by mask."""
        self._waiting: list[defer.Deferred[None]] | None = None
        self.room_bans: dict[str, BanList] = {}
        """Each room's bans (`/ban`), by room key; only rooms that have some."""
        self.invites: dict[str, set[str]] = {}
        """Who was invited into each invite-only room (accounts, else folded nicknames)."""
        self.voices: dict[str, set[str]] = {}
        """Who may speak in each moderated room besides its operators."""
        self.mutes: dict[str, BanList] = {}
        """Each room's muted members (`/mute`: by account, else by nickname), by room key;
        empty when nobody is muted anywhere, which is all the delivery path checks."""

    def loaded(self) -> defer.Deferred[None] | None:
        """None once the stored rooms are known; else a Deferred firing then."""
        if self._waiting is None:
            return None
        waiter: defer.Deferred[None] = defer.Deferred()
        self._waiting.append(waiter)
        return waiter

    def _rooms_loaded(self) -> None:
        waiting, self._waiting = self._waiting or [], None
        for waiter in waiting:
            waiter.callback(None)

    def start(self) -> None:
        """Load the stored rooms (nickname choices wait for them, so nobody creates a room
        that is someone's) and bans (the expired ones are lifted on the next turn)."""
        self._waiting = []

        def rooms(records: list[RoomRecord]) -> None:
            for record in records:
                room = self.chat.restore_room(record.name, record.key)
                room.owner, room.ops = record.owner, set(record.ops)
                room.topic, room.modes, room.password = record.topic, record.modes, record.password
                room.created = record.created

        def loaded(records: list[BanRecord]) -> None:
            for record in records:
                try:
                    mask = parse_mask(record.mask)
                except MaskRejected:
                    template = self.chat.catalog.template("log-ban-unreadable")
                    self.log.warn(template, mask=record.mask)
                    continue
                ban = Ban(mask, record.setter, record.reason, record.created, record.expires)
                if record.scope:
                    self._room_bans(record.scope).add(ban)
                else:
                    self.gbans.add(ban)

        # Admission waits for both (see ChatService.ready); each failure is logged, and the
        # chat opens with what could be read.
        defer.gatherResults(
            [
                self.chat.store.rooms().addCallbacks(rooms, self._logged("log-rooms-unreadable")),
                self.chat.store.bans().addCallbacks(loaded, self._logged("log-bans-unreadable")),
            ]
        ).addBoth(lambda _: self._rooms_loaded())

    def stop(self) -> None:
        self.gbans.clear()
        for bans in (*self.room_bans.values(), *self.mutes.values()):
            bans.clear()

    # Rooms: who may enter, who may speak

    def _room_bans(self, key: str) -> BanList:
        bans = self.room_bans.get(key)
        if bans is None:
            bans = self.room_bans[key] = BanList(
                self.chat.clock,  # type: ignore[arg-type]
                lambda ban: self._room_ban_expired(key, ban),
            )
        return bans

    def check_room(self, member: Member, name: str, key: str, password: str = "") -> None:
        """Refuse C{member} entering room C{key} if one of its bans names them, or its modes
        keep them out (+k without the key, +i without an invitation); its operators always
        pass.

        @raise ChatError: banned, or kept out.
        """
        room = self.chat.rooms.get(key)
        if room is not None and self.is_room_op(member, room):
            return  # a room's operators are never kept out of it (nor locked out by a typo)
        if room is not None and room.modes:
            if "k" in room.modes and password != room.password:
                raise ChatError("err-room-key", room=room.name)
            invited = self.invites.get(key, ())
            if "i" in room.modes and member.key not in invited and member.account not in invited:
                raise ChatError("err-room-invite-only", room=room.name)
        bans = self.room_bans.get(key)
        if bans is None:
            return
        session = self.chat.sessions.get(member.session)
        host = session.host if session is not None else member.host
        ban = bans.match(member.key, member.account, host)
        if ban is not None:
            raise ChatError(
                "err-room-banned",
                room=name,
                until=self._until(ban),
                reason=self._reason(ban.reason),
            )

    def check_voice(self, member: Member, room: Room) -> None:
        """Refuse a line from C{member} in C{room} if it is muted there.

        @raise ChatError: muted.
        """
        mutes = self.mutes.get(room.key)
        if mutes is not None and mutes.match(member.key, member.account, None) is not None:
            raise ChatError("err-muted", room=room.name)
        if "m" in room.modes and not self.is_room_op(member, room):
            voiced = self.voices.get(room.key, ())
            if member.key not in voiced and member.account not in voiced:
                raise ChatError("err-moderated", room=room.name)

    def forget_room(self, key: str) -> None:
        """Room C{key} is gone (it had no owner): its bans and mutes go with it."""
        for table in (self.room_bans, self.mutes):
            bans = table.pop(key, None)
            if bans is not None:
                bans.clear()
        self.invites.pop(key, None)
        self.voices.pop(key, None)

    def visible(self, member: Member, room: Room) -> bool:
        """Whether C{room} is listed to C{member} (a secret room, +s, only to its members and
        server operators)."""
        return (
            "s" not in room.modes or member.room(room.key) is not None or self.is_operator(member)
        )

    # Modes, invitations, voices

    def modes(self, member: Member, room: Room, argument: str) -> str | None:
        """Change C{room}'s modes as C{argument} says (C{+i}, C{-t}, C{+mt}, C{+k KEY},
        C{-k}...), telling the room; with no argument, return its modes.

        @raise ChatError: not a room operator, an unknown mode, or +k without a key.
        """
        if not argument:
            return room.modes
        self._require_room_op(member, room, "mode")
        change, _, rest = argument.partition(" ")
        sign, letters = change[:1], change[1:]
        if sign not in ("+", "-") or not letters:
            raise ChatError("err-usage-mode")
        for letter in letters:
            if letter not in ROOM_MODES:
                raise ChatError("err-mode-unknown", mode=letter)
        modes = set(room.modes)
        if sign == "+":
            if "k" in letters:
                key = rest.strip()
                if not key or " " in key:
                    raise ChatError("err-mode-key")
                if len(key) > KEY_MAX_LENGTH:
                    raise ChatError("err-mode-key-long", max=KEY_MAX_LENGTH)
                room.password = key
            modes.update(letters)
        else:
            modes.difference_update(letters)
            if "k" in letters:
                room.password = ""
        room.modes = "".join(sorted(modes))
        self.save_room(room)
        self._tell(room, "mode", member.nick, "", change)
        self.record(member, "mode", change, room.name, "")
        return None

    def invite(self, member: Member, room: Room, raw_nick: str) -> str:
        """Let C{raw_nick} into invite-only C{room} (while the room exists); they are told."""
        self._require_room_op(member, room, "invite")
        target = self._present(raw_nick)
        self.invites.setdefault(room.key, set()).add(target.account or target.key)
        self.chat.deliver_direct(target.session, events.Invited(room.name, member.nick))
        self.record(member, "invite", target.nick, room.name, "")
        return target.nick

    def voice(self, member: Member, room: Room, raw_nick: str, on: bool) -> None:
        """Let C{raw_nick} speak in moderated C{room} (C{on}), or no longer."""
        self._require_room_op(member, room, "voice" if on else "devoice")
        target = self._in_room(room, raw_nick)
        voiced = self.voices.setdefault(room.key, set())
        who = target.account or target.key
        if on:
            voiced.add(who)
        else:
            voiced.discard(who)
        action = "voice" if on else "devoice"
        self._tell(room, action, member.nick, target.nick)
        self.record(member, action, target.nick, room.name, "")

    # Room operators' actions

    def kick(self, member: Member, room: Room, raw_nick: str, reason: str) -> None:
        """Send C{raw_nick} out of C{room} (back to the lobby), the reason shown to the room.

        @raise ChatError: not a room operator, nobody of that nickname in the room, or the room
            is the lobby.
        """
        self._require_room_op(member, room, "kick")
        if room.key == self.chat.lobby_key:
            raise ChatError("err-kick-lobby", room=room.name)
        target = self._in_room(room, raw_nick)
        reason = reason[:REASON_MAX_LENGTH]
        self._tell(room, "kick", member.nick, target.nick, self._reason(reason))
        self._send_out(target, room)
        self.record(member, "kick", target.nick, room.name, reason)

    def _in_room(self, room: Room, raw_nick: str) -> Member:
        target = self.chat.members.get(nicknames.fold(raw_nick.strip()))
        if target is None or room.members.get(target.session) is not target:
            raise ChatError("err-not-in-this-room", nick=raw_nick.strip(), room=room.name)
        return target

    def _send_out(self, target: Member, room: Room, quietly: bool = True) -> None:
        """Move C{target} out of C{room} (C{quietly}: a moderation notice named it already;
        a ban names a mask, so the room is told who left); one left in no room at all, and
        living in the lobby, lands there."""
        self.chat.part_room(target, room, quietly=quietly)
        current = self.chat.by_session.get(target.session)
        if current is not None and current.lobby and current.last_room() is None:
            self.chat.join_room(current, self.chat.lobby)

    def ban(self, member: Member, room: Room, argument: str) -> str:
        """Ban C{MASK [DURATION] [reason]} from C{room}: members it matches are sent out, and it
        refuses their joins (stored with an owned room; lifted on time).  Returns the mask.

        @raise ChatError: not a room operator, or a bad mask or duration.
        """
        self._require_room_op(member, room, "ban")
        mask, duration, reason = _ban_arguments(argument)
        now = self.chat.clock.seconds()  # type: ignore[attr-defined]
        expires = None if duration is None else now + duration
        ban = Ban(mask, member.nick, reason, now, expires)
        self._room_bans(room.key).add(ban)
        if room.owner is not None:
            self._store_ban(BanRecord(room.key, str(mask), member.nick, reason, now, expires))
        detail = self.chat.catalog.text(
            "ban-detail", until=self._until(ban), reason=self._reason(reason)
        )
        self._tell(room, "ban", member.nick, str(mask), detail)
        for target in list(room.members.values()):
            if self.is_room_op(target, room):
                continue
            session = self.chat.sessions.get(target.session)
            host = session.host if session is not None else target.host
            if mask.matches(target.key, target.account, host):
                self._send_out(target, room, quietly=False)
        self.record(member, "ban", str(mask), room.name, reason)
        return str(mask)

    def _logged(self, msgid: str, **fields: object) -> Callable[[Failure], None]:
        """An errback logging a store's failure with catalog line C{msgid} (the action
        stands: the chat goes on with what it has in memory)."""

        def failed(failure: Failure) -> None:
            self.log.failure(self.chat.catalog.template(msgid), failure, **fields)

        return failed

    def _store_ban(self, record: BanRecord) -> None:
        self.chat.store.save_ban(record).addErrback(self._logged("log-ban-not-saved"))

    def _delete_ban(self, scope: str, mask: str) -> None:
        self.chat.store.delete_ban(scope, mask).addErrback(self._logged("log-ban-not-saved"))

    def unban(self, member: Member, room: Room, raw_mask: str) -> str:
        """Lift C{room}'s ban on C{raw_mask}; returns the mask's canonical text."""
        self._require_room_op(member, room, "unban")
        mask = _mask(raw_mask.strip())
        bans = self.room_bans.get(room.key)
        if bans is None or bans.remove(mask) is None:
            raise ChatError("err-not-banned-here", mask=str(mask), room=room.name)
        self._delete_ban(room.key, str(mask))
        self._tell(room, "unban", member.nick, str(mask))
        self.record(member, "unban", str(mask), room.name, "")
        return str(mask)

    def bans(self, member: Member, room: Room) -> list[tuple[str, str, str, str]]:
        """C{room}'s bans in force, oldest first, as (mask, setter, until, reason) texts."""
        self._require_room_op(member, room, "bans")
        return [
            (str(ban.mask), ban.setter, self._until(ban), self._reason(ban.reason))
            for ban in self.room_bans.get(room.key, ())
        ]

    def _room_ban_expired(self, key: str, ban: Ban) -> None:
        self._delete_ban(key, str(ban.mask))
        room = self.chat.rooms.get(key)
        self.record(None, "ban-expired", str(ban.mask), room.name if room else key, "")

    def mute(self, member: Member, room: Room, raw_nick: str, raw_duration: str) -> None:
        """Refuse C{raw_nick}'s lines in C{room} (by account if identified, else by nickname)
        until unmuted or for C{raw_duration}; the room is told."""
        self._require_room_op(member, room, "mute")
        target = self._in_room(room, raw_nick)
        duration = None
        if raw_duration:
            try:
                duration = parse_duration(raw_duration)
            except DurationRejected as rejected:
                raise ChatError(rejected.msgid, **rejected.fields) from None
        mask = _member_mask(target)
        now = self.chat.clock.seconds()  # type: ignore[attr-defined]
        mute = Ban(mask, member.nick, "", now, None if duration is None else now + duration)
        mutes = self.mutes.get(room.key)
        if mutes is None:
            mutes = self.mutes[room.key] = BanList(
                self.chat.clock,  # type: ignore[arg-type]
                lambda ban: self._mute_expired(room.key, ban),
            )
        mutes.add(mute)
        self._tell(room, "mute", member.nick, target.nick, self._until(mute))
        self.record(member, "mute", target.nick, room.name, raw_duration)

    def unmute(self, member: Member, room: Room, raw_nick: str) -> None:
        """Let C{raw_nick} speak in C{room} again."""
        self._require_room_op(member, room, "unmute")
        wanted = raw_nick.strip()
        present = self.chat.members.get(nicknames.fold(wanted))
        mutes = self.mutes.get(room.key)
        mask = _member_mask(present) if present is not None else _mask(wanted)
        if mutes is None or mutes.remove(mask) is None:
            raise ChatError("err-not-muted", nick=wanted, room=room.name)
        if not len(mutes):
            self._drop_mutes(room.key, mutes)
        self._tell(room, "unmute", member.nick, present.nick if present is not None else wanted)
        self.record(member, "unmute", wanted, room.name, "")

    def _mute_expired(self, key: str, mute: Ban) -> None:
        mutes = self.mutes.get(key)
        if mutes is not None and not len(mutes):
            self._drop_mutes(key, mutes)
        room = self.chat.rooms.get(key)
        self.record(None, "mute-expired", str(mute.mask), room.name if room else key, "")

    def _drop_mutes(self, key: str, mutes: BanList) -> None:
        if self.mutes.get(key) is mutes:
            del self.mutes[key]
            mutes.clear()

    # Owned rooms

    def room_created(self, room: Room, member: Member) -> None:
        """C{member}, identified, created C{room}: it owns it."""
        room.owner = member.account
        room.created = self.chat.clock.seconds()  # type: ignore[attr-defined]
        self.save_room(room)

    def save_room(self, room: Room) -> None:
        """Store owned C{room} as it is now; a failure is logged (the room goes on)."""
        if room.owner is None:
            return
        record = RoomRecord(
            room.key,
            room.name,
            room.owner,
            room.topic,
            room.modes,
            room.password,
            room.created,
            tuple(sorted(room.ops)),
        )

        self.chat.store.save_room(record).addErrback(
            self._logged("log-room-not-saved", room=room.name)
        )

    def account_gone(self, account: str) -> None:
        """Account C{account} was deleted (the store deleted its rooms and its operator rights
        with it): its rooms have no owner any more, and vanish once empty."""
        for room in list(self.chat.rooms.values()):
            room.ops.discard(account)
            if room.owner == account:
                room.owner, room.ops, room.modes, room.password = None, set(), "", ""
                self.chat.delete_room_if_unused(room)

    def is_room_op(self, member: Member, room: Room) -> bool:
        """Whether C{member} moderates C{room}: its owner, one of its operators, or a server
        operator (who also moderates the lobby)."""
        account = member.account
        if account is not None and (account == room.owner or account in room.ops):
            return True
        return member.session in room.session_ops or self.is_operator(member)

    def require_room_op(self, member: Member, room: Room, command: str) -> None:
        """@raise ChatError: C{member} is not an operator of C{room}."""
        self._require_room_op(member, room, command)

    def _require_room_op(self, member: Member, room: Room, command: str) -> None:
        if not self.is_room_op(member, room):
            raise ChatError("err-not-room-op", room=room.name, command=command)

    def _require_owner(self, member: Member, room: Room, command: str) -> None:
        if room.owner is None:
            raise ChatError("err-room-not-owned", room=room.name)
        if member.account != room.owner and not self.is_operator(member):
            raise ChatError("err-not-owner", room=room.name, command=command)

    def _tell(self, room: Room, action: str, by: str, target: str = "", detail: str = "") -> None:
        self.chat.backend.publish(
            Envelope(events.Moderated(room.name, action, by, target, detail), room.key)
        )

    def _present(self, raw_nick: str) -> Member:
        target = self.chat.members.get(nicknames.fold(raw_nick.strip()))
        if target is None:
            raise ChatError("err-no-such-nick", nick=raw_nick.strip())
        return target

    def op(self, member: Member, room: Room, raw_nick: str) -> None:
        """Make C{raw_nick}'s account an operator of C{room} (the owner only); in a room
        nobody owns, any of its operators makes C{raw_nick} one while it is in it."""
        if room.owner is None:
            self._require_room_op(member, room, "op")
            target = self._in_room(room, raw_nick)
            if target.session in room.session_ops:
                raise ChatError("err-already-op", nick=target.nick, room=room.name)
            room.session_ops.add(target.session)
            self._tell(room, "op", member.nick, target.nick)
            self.record(member, "op", target.nick, room.name, "")
            return
        self._require_owner(member, room, "op")
        target = self._present(raw_nick)
        if target.account is None:
            raise ChatError("err-target-not-identified", nick=target.nick)
        if target.account == room.owner or target.account in room.ops:
            raise ChatError("err-already-op", nick=target.nick, room=room.name)
        room.ops.add(target.account)
        self.save_room(room)
        self._tell(room, "op", member.nick, target.nick)
        self.record(member, "op", target.nick, room.name, "")

    def deop(self, member: Member, room: Room, raw_nick: str) -> None:
        """Take C{raw_nick}'s account (connected, or an account name) off C{room}'s operators."""
        wanted = raw_nick.strip()
        if room.owner is None:
            self._require_room_op(member, room, "deop")
            target = self._in_room(room, wanted)
            if target.session not in room.session_ops:
                raise ChatError("err-not-op", nick=target.nick, room=room.name)
            room.session_ops.discard(target.session)
            self._tell(room, "deop", member.nick, target.nick)
            self.record(member, "deop", wanted, room.name, "")
            return
        self._require_owner(member, room, "deop")
        present = self.chat.members.get(nicknames.fold(wanted))
        account = present.account if present is not None else nicknames.fold(wanted)
        if account is None or account not in room.ops:
            raise ChatError("err-not-op", nick=wanted, room=room.name)
        room.ops.discard(account)
        self.save_room(room)
        self._tell(room, "deop", member.nick, present.nick if present is not None else wanted)
        self.record(member, "deop", wanted, room.name, "")

    def drop(self, member: Member, room: Room) -> None:
        """Give C{room} up: it has no owner, operators, modes or bans any more, and vanishes
        once empty."""
        self._require_owner(member, room, "drop")
        self.chat.store.delete_room(room.key).addErrback(
            self._logged("log-room-not-saved", room=room.name)
        )
        room.owner, room.ops, room.modes, room.password = None, set(), "", ""
        self._tell(room, "drop", member.nick)
        self.record(member, "drop", "", room.name, "")
        self.chat.delete_room_if_unused(room)

    # Who is kept out

    def admission(self, host: str) -> ChatError | None:
        """Why a new connection from C{host} is refused by a server ban, or None."""
        ban = self.gbans.match(None, None, host)
        return None if ban is None else self._banned(ban)

    def check(self, key: str, account: str | None, host: str) -> None:
        """Refuse nickname C{key} (identified to C{account}) from C{host} if a server ban
        names it.

        @raise ChatError: it is banned.
        """
        ban = self.gbans.match(key, account, host)
        if ban is not None:
            raise self._banned(ban)

    def _banned(self, ban: Ban) -> ChatError:
        return ChatError("err-gbanned", until=self._until(ban), reason=self._reason(ban.reason))

    def _until(self, ban: Ban) -> str:
        catalog = self.chat.catalog
        if ban.expires is None:
            return catalog.text("ban-forever")
        when = time.strftime(catalog.template("time-format"), time.localtime(ban.expires))
        return catalog.text("ban-until", time=when)

    def _reason(self, reason: str) -> str:
        return reason or self.chat.catalog.text("ban-no-reason")

    # Who may

    def is_operator(self, member: Member) -> bool:
        """Whether C{member} is identified to a server operator's account."""
        return member.account is not None and member.account in self.operators

    def _require_operator(self, member: Member, command: str) -> None:
        if not self.is_operator(member):
            raise ChatError("err-not-operator", command=command)

    # Server operators' actions

    def kill(self, member: Member, raw_target: str, reason: str) -> None:
        """Disconnect C{raw_target}, telling them and everyone why.

        @raise ChatError: C{member} is not an operator, or nobody has that nickname here.
        """
        self._require_operator(member, "kill")
        reason = reason[:REASON_MAX_LENGTH]
        target = self.chat.members.get(nicknames.fold(raw_target.strip()))
        if target is None or target.session not in self.chat.sessions:
            raise ChatError("err-no-such-nick", nick=raw_target.strip())
        self.chat.deliver_direct(target.session, events.Killed(member.nick, reason))
        why = self.chat.catalog.text("reason-killed", by=member.nick)
        self.chat.close_session(target.session, f"{why}: {reason}" if reason else why)
        self.record(member, "kill", target.nick, "", reason)

    def wall(self, member: Member, text: str) -> None:
        """An announcement from C{member} to everyone connected.

        @raise ChatError: C{member} is not an operator, or the text is too long.
        """
        self._require_operator(member, "wall")
        if len(text) > WALL_MAX_LENGTH:
            raise ChatError("err-wall-long", max=WALL_MAX_LENGTH)
        self.chat.backend.publish(Envelope(events.Wall(member.nick, text), None))
        self.record(member, "wall", "", "", text)

    def gban(self, member: Member, argument: str) -> defer.Deferred[tuple[str, int]]:
        """Ban C{MASK [DURATION] [reason]} from the whole server, lasting across restarts; the
        sessions it matches are told and closed.  Fires with the mask's canonical text and how
        many sessions were closed, once the ban is stored.

        Fails with L{ChatError}: not an operator, a bad mask or duration, or the ban could
        not be stored (then nothing changed).
        """
        try:
            self._require_operator(member, "gban")
            mask, duration, reason = _ban_arguments(argument)
        except ChatError:
            return defer.fail()
        now = self.chat.clock.seconds()  # type: ignore[attr-defined]
        expires = None if duration is None else now + duration
        ban = Ban(mask, member.nick, reason, now, expires)
        record = BanRecord("", str(mask), member.nick, reason, now, expires)

        def stored(_: None) -> tuple[str, int]:
            self.gbans.add(ban)
            self.record(member, "gban", str(mask), "", reason)
            return str(mask), self._close_banned(ban, member.nick)

        return self.chat.store.save_ban(record).addCallbacks(stored, self._ban_not_saved)

    def _close_banned(self, ban: Ban, by: str) -> int:
        """Close every local session C{ban} matches, telling it why; return how many."""
        banned: list[ISession] = []
        for session in list(self.chat.sessions.values()):
            member = self.chat.by_session.get(session.id)
            if member is not None and self.is_operator(member):
                continue  # the operators stay: no cutting yourself off with your own address
            key = member.key if member is not None else None
            account = member.account if member is not None else None
            if ban.mask.matches(key, account, session.host):
                banned.append(session)
        why = self.chat.catalog.text("reason-gbanned", by=by)
        for session in banned:
            self.chat.deliver_direct(session.id, events.Banned(by, ban.reason))
            self.chat.close_session(session.id, why)
        return len(banned)

    def ungban(self, member: Member, raw_mask: str) -> defer.Deferred[str]:
        """Lift the server ban on C{raw_mask}; fires with its canonical text once stored.

        Fails with L{ChatError}: not an operator, a bad mask, no such ban, or the store
        failed.
        """
        try:
            self._require_operator(member, "ungban")
            mask = _mask(raw_mask.strip())
            if self.gbans.get(mask) is None:
                raise ChatError("err-not-banned", mask=str(mask))
        except ChatError:
            return defer.fail()

        def deleted(_: bool) -> str:
            self.gbans.remove(mask)
            self.record(member, "ungban", str(mask), "", "")
            return str(mask)

        return self.chat.store.delete_ban("", str(mask)).addCallbacks(deleted, self._ban_not_saved)

    def _ban_not_saved(self, failure: Failure) -> None:
        """The store refused a server ban change: logged, and refused (nothing changed)."""
        self._logged("log-ban-not-saved")(failure)
        raise ChatError("err-ban-not-saved")

    def gban_list(self, member: Member) -> list[tuple[str, str, str, str]]:
        """The server bans in force, oldest first, as (mask, setter, until, reason) texts."""
        self._require_operator(member, "gbans")
        return [
            (str(ban.mask), ban.setter, self._until(ban), self._reason(ban.reason))
            for ban in self.gbans
        ]

    def _gban_expired(self, ban: Ban) -> None:
        """A server ban's time is up: it is lifted, in the store and the logs."""
        self._delete_ban("", str(ban.mask))
        self.record(None, "gban-expired", str(ban.mask), "", "")

    def modlog(self, member: Member, count: int) -> defer.Deferred[list[ModAction]]:
        """The C{count} latest moderation actions, newest first (operators only)."""
        try:
            self._require_operator(member, "modlog")
        except ChatError:
            return defer.fail()
        return self.chat.store.recent_actions(count)

    # The log of actions

    def record(
        self, member: Member | None, action: str, target: str, scope: str, reason: str
    ) -> None:
        """Log C{member}'s C{action} (None: the server's own, such as an expiry) on C{target}
        (in room C{scope}, "" for the server), in the server's log and in the store; a store
        that fails is logged, and the action stands."""
        actor = member.nick if member is not None else "-"
        self.log.info(
            self.chat.catalog.template("log-moderation"),
            actor=actor,
            action=action,
            target=target or "-",
            scope=scope or "-",
            reason=reason or "-",
        )

        self.chat.store.log_action(
            self.chat.clock.seconds(),  # type: ignore[attr-defined]
            actor,
            action,
            target,
            scope,
            reason,
        ).addErrback(self._logged("log-modlog-failed"))


def _mask(text: str) -> Mask:
    try:
        return parse_mask(text)
    except MaskRejected as rejected:
        raise ChatError(rejected.msgid, **rejected.fields) from None


def _ban_arguments(argument: str) -> tuple[Mask, float | None, str]:
    """C{MASK [DURATION] [reason]}: the mask, the duration (None: until lifted), the reason.

    @raise ChatError: no mask, or a bad mask or duration.
    """
    words = argument.split(None, 2)
    if not words:
        raise ChatError("err-mask-empty")
    mask = _mask(words[0])
    rest = words[1:]
    duration = None
    if rest and looks_like_duration(rest[0]):
        try:
            duration = parse_duration(rest[0])
        except DurationRejected as rejected:
            raise ChatError(rejected.msgid, **rejected.fields) from None
        rest = rest[1:]
    reason = " ".join(rest)[:REASON_MAX_LENGTH]
    return mask, duration, reason


def _member_mask(member: Member) -> Mask:
    """The mask naming C{member} for a mute: its account if identified, else its nickname."""
    return parse_mask(f"account:{member.account}" if member.account else f"nick:{member.key}")
