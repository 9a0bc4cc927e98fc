"""
Slash commands: what a line typed into a line-based door (telnet, netcat, the bundled client,
later SSH) means, turned into calls on the chat core.

`LineCommands` is the `ILineHandler` such doors share: in the nickname state a line is the
nickname wanted; in the chat state it is text for the current room or a `/command`, looked up
by name (`cmd_<name>`).  Replies go to the session alone, as catalog messages; everything
others see goes through the core.  One room at a time, as in talkers, is this module's policy:
`/join` leaves the current room first, and `/part` goes back to the lobby.  The core lets a
member be in several rooms; doors such as IRC will.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from twisted.internet import defer
from twisted.python.failure import Failure

from littlecats import nicknames, text
from littlecats.core.chat import ChatError, ChatService, Member, Room, room_name
from littlecats.core.history import MAX_PAGE
from littlecats.core.moderation import MODLOG_DEFAULT, MODLOG_MAX
from littlecats.session import Session, State

USERS_PER_LINE_CHARS = 400
DEFAULT_PAGE = 20
"""Lines /history shows without a count."""
HELP_LINES = (
    "help-title",
    "help-text",
    "help-slash",
    "help-msg",
    "help-users",
    "help-join",
    "help-part",
    "help-rooms",
    "help-names",
    "help-topic",
    "help-history",
    "help-nick",
    "help-register",
    "help-password",
    "help-unregister",
    "help-room-owner",
    "help-room-op",
    "help-room-modes",
    "help-me",
    "help-quit",
    "help-help",
)

OPERATOR_HELP_LINES = (
    "help-operator",
    "help-kill",
    "help-gban",
    "help-ungban",
    "help-gbans",
    "help-wall",
    "help-modlog",
)

Command = Callable[["LineCommands", Session, Member, str], "defer.Deferred[object] | None"]


def chunk_names(names: Iterable[str], width: int = USERS_PER_LINE_CHARS) -> list[str]:
    """C{names} joined by commas, in pieces of about C{width} characters (at least one)."""
    chunks: list[list[str]] = [[]]
    used = 0
    for name in names:
        if used and used + len(name) > width:
            chunks.append([])
            used = 0
        chunks[-1].append(name)
        used += len(name) + 2
    return [", ".join(chunk) for chunk in chunks]


class LineCommands:
    """The meaning of typed lines, for every line-based door."""

    def __init__(self, chat: ChatService, max_line_bytes: int) -> None:
        self.chat = chat
        self.max_line_bytes = max_line_bytes

    # ILineHandler

    def line(self, session: Session, line: str) -> defer.Deferred[object] | None:
        member = session.member
        if session.state is State.CHAT and member is not None:
            if not line:
                return None
            if line[0] != "/":  # the common case, kept short: text for the room
                try:
                    self.chat.say(member, self.current_room(member), line)
                except ChatError as refused:  # muted (try costs nothing when nothing raises)
                    session.notice(refused.msgid, **refused.fields)
                return None
            return self.chat_line(session, member, line)
        if session.state is State.NICKNAME:
            if session.prompt is not None:
                return self.password(session, line)
            return self.nickname(session, line)
        return None

    def line_too_long(self, session: Session) -> None:
        session.notice("err-line-too-long", max=self.max_line_bytes)

    decode = staticmethod(text.clean_line)

    def last_words(self, session: Session, lines: Iterable[bytes | None]) -> str:
        reason = ""
        for raw in lines:
            if raw is not None and raw[:5].lower() == b"/quit":
                command, _, argument = self.decode(raw).partition(" ")
                if command.casefold() == "/quit":
                    reason = argument.strip()
        return reason

    # Nickname state

    def nickname(self, session: Session, line: str) -> defer.Deferred[object]:
        """The nickname wanted; a registered one is asked for its password first."""

        def refused(failure: Failure) -> None:
            failure.trap(ChatError)
            error: ChatError = failure.value  # type: ignore[assignment]
            if error.msgid == "err-nick-registered":
                session.prompt = error.fields["nick"]
                session.door.hide_input(session, True)
                session.notice("password-prompt", nick=error.fields["nick"])
                return
            _refused(session, failure)
            session.notice("nick-prompt")

        return self.chat.connect(session, line).addCallbacks(self._joined, refused, (session,))

    def password(self, session: Session, line: str) -> defer.Deferred[object]:
        """The password of the registered nickname just chosen (never logged or echoed)."""
        nick, session.prompt = session.prompt, None
        session.door.hide_input(session, False)

        def refused(failure: Failure) -> None:
            failure.trap(ChatError)
            _refused(session, failure)
            session.notice("nick-prompt")

        return self.chat.connect(session, str(nick), password=line).addCallbacks(
            self._joined, refused, (session,)
        )

    def _joined(self, member: Member, session: Session) -> None:
        session.joined(member)
        lobby = member.room(self.chat.lobby_key)
        if lobby is not None and lobby.topic:
            session.notice("topic", room=lobby.name, topic=lobby.topic)

    # Chat state

    def chat_line(
        self, session: Session, member: Member, line: str
    ) -> defer.Deferred[object] | None:
        """A line starting with C{/}: a command, or C{//text} for C{/text} as text."""
        if line.startswith("//"):
            try:
                self.chat.say(member, self.current_room(member), line[1:])
            except ChatError as refused:
                session.notice(refused.msgid, **refused.fields)
            return None
        command, _, argument = line[1:].partition(" ")
        handler = self.commands.get(command.casefold())
        if handler is None:
            session.notice("err-unknown-command", command=command)
            return None
        try:
            result = handler(self, session, member, argument.strip())
        except ChatError as refused:
            session.notice(refused.msgid, **refused.fields)
            return None
        if isinstance(result, defer.Deferred):
            return result.addErrback(lambda failure: _refused(session, failure))
        return None

    def current_room(self, member: Member) -> Room:
        """The one room a member of a line-based door is in: the last it entered."""
        room = member.last_room()
        assert room is not None, "a member of a line-based door is always in a room"
        return room

    def cmd_msg(
        self, session: Session, member: Member, argument: str
    ) -> defer.Deferred[None] | None:
        target, _, message = argument.partition(" ")
        message = message.strip()
        if not target or not message:
            session.notice("err-usage-msg")
            return None
        return self.chat.whisper(member, target, message)

    def cmd_users(self, session: Session, member: Member, argument: str) -> None:
        nicks = self.chat.nicknames()
        if len(nicks) <= 1:
            session.notice("alone")
            return
        _list_nicks(session, "users", nicks)

    def cmd_nick(
        self, session: Session, member: Member, argument: str
    ) -> defer.Deferred[None] | None:
        nick, _, password = argument.partition(" ")
        if password and self.chat.accounts.registered(nicknames.fold(nick)) is None:
            # Not a registered nickname: the words are all the nickname wanted (and a space
            # in it gets the usual explanation), not a nickname and a password.
            nick, password = argument, ""
        if not nick:
            session.notice("err-usage-nick")
            return None
        return self.chat.rename(member, nick, password or None)

    def cmd_register(
        self, session: Session, member: Member, argument: str
    ) -> defer.Deferred[None] | None:
        if not argument:
            session.notice("err-usage-register")
            return None
        nick = member.nick
        return self.chat.register(member, argument).addCallback(
            lambda _: session.notice("registered", nick=nick)
        )

    def cmd_password(
        self, session: Session, member: Member, argument: str
    ) -> defer.Deferred[None] | None:
        old, _, new = argument.partition(" ")
        if not old or not new:
            session.notice("err-usage-password")
            return None
        return self.chat.change_password(member, old, new).addCallback(
            lambda _: session.notice("password-changed")
        )

    def cmd_unregister(
        self, session: Session, member: Member, argument: str
    ) -> defer.Deferred[None] | None:
        if not argument:
            session.notice("err-usage-unregister")
            return None
        nick = member.nick
        return self.chat.unregister(member, argument).addCallback(
            lambda _: session.notice("unregistered", nick=nick)
        )

    def cmd_history(
        self, session: Session, member: Member, argument: str
    ) -> defer.Deferred[None] | None:
        try:
            count = int(argument) if argument else DEFAULT_PAGE
        except ValueError:
            count = 0
        if not 1 <= count <= MAX_PAGE:
            session.notice("err-usage-history", max=MAX_PAGE)
            return None
        return self.show_earlier(session, member, self.current_room(member), count)

    def show_earlier(
        self, session: Session, member: Member, room: Room, count: int, before: int | None = None
    ) -> defer.Deferred[None]:
        """Up to C{count} earlier lines of C{room} for C{member} (see L{ChatService.earlier}),
        or a line saying there are none."""

        def shown(count: int) -> None:
            if not count:
                session.notice("history-none", room=room.name)

        return self.chat.earlier(member, room, count, before).addCallback(shown)

    def cmd_me(self, session: Session, member: Member, argument: str) -> None:
        if not argument:
            session.notice("err-usage-me")
            return
        self.chat.act(member, self.current_room(member), argument)

    def cmd_join(
        self, session: Session, member: Member, argument: str
    ) -> defer.Deferred[None] | None:
        if not argument:
            session.notice("err-usage-join")
            return None
        wanted, password = self.room_and_key(argument)
        # Refused before leaving the room the member is in.
        name, _ = self.chat.room_to_enter(member, wanted, password)
        return self._move(session, member, self.current_room(member), name, password)

    def room_and_key(self, argument: str) -> tuple[str, str]:
        """The room named by C{/join}'s argument, and the key given for it (if any)."""
        wanted, _, key = argument.partition(" ")
        key = key.strip()
        if key and not self._keyed(wanted):
            # Only a room with a key (+k) takes one: otherwise the words are all the room name
            # wanted (and a space in it gets the usual explanation).
            return argument, ""
        return wanted, key

    def _keyed(self, raw_room: str) -> bool:
        """Whether the room C{raw_room} names exists and needs a key to enter."""
        try:
            _, key = room_name(raw_room)
        except ChatError:
            return False
        room = self.chat.rooms.get(key)
        return room is not None and "k" in room.modes

    def cmd_part(
        self, session: Session, member: Member, argument: str
    ) -> defer.Deferred[None] | None:
        here = self.current_room(member)
        if argument:
            name, key = room_name(argument)
            if key != here.key:
                raise ChatError("err-not-in-room", room=name)
        if here.key == self.chat.lobby_key:
            session.notice("err-part-lobby", room=here.name)
            return None
        return self._move(session, member, here, self.chat.lobby)

    def _move(
        self, session: Session, member: Member, here: Room, there: str, password: str = ""
    ) -> defer.Deferred[None]:
        """Leave C{here} for C{there}; once in, show its topic and members (the session
        waits for that, so the lines it types next go to the new room)."""
        self.chat.part_room(member, here)

        def entered(room: Room) -> None:
            if room.topic:
                session.notice("topic", room=room.name, topic=room.topic)
            self._names(session, room)

        return self.chat.join_room(member, there, password).addCallback(entered)

    def cmd_rooms(self, session: Session, member: Member, argument: str) -> None:
        visible = self.chat.moderation.visible
        rooms = [room for room in self.chat.room_list() if visible(member, room)]
        session.notice("rooms", count=len(rooms))
        for room in rooms:
            if room.topic:
                session.notice(
                    "rooms-entry-topic", room=room.name, count=len(room.members), topic=room.topic
                )
            else:
                session.notice("rooms-entry", room=room.name, count=len(room.members))

    def cmd_names(self, session: Session, member: Member, argument: str) -> None:
        room = self.chat.room(argument) if argument else self.current_room(member)
        self._names(session, room)

    def _names(self, session: Session, room: Room) -> None:
        _list_nicks(session, "names", self.chat.nicknames(room.members.values()), room=room.name)

    def cmd_topic(self, session: Session, member: Member, argument: str) -> None:
        room = self.current_room(member)
        if argument:
            self.chat.set_topic(member, room, argument)
        elif room.topic:
            session.notice("topic", room=room.name, topic=room.topic)
        else:
            session.notice("topic-none", room=room.name)

    def cmd_kill(self, session: Session, member: Member, argument: str) -> None:
        nick, _, reason = argument.partition(" ")
        if not nick:
            _not_operator(self.chat, member, "kill")
            session.notice("err-usage-kill")
            return
        self.chat.moderation.kill(member, nick, reason.strip())

    def cmd_wall(self, session: Session, member: Member, argument: str) -> None:
        if not argument:
            _not_operator(self.chat, member, "wall")
            session.notice("err-usage-wall")
            return
        self.chat.moderation.wall(member, argument)

    def cmd_gban(
        self, session: Session, member: Member, argument: str
    ) -> defer.Deferred[None] | None:
        _not_operator(self.chat, member, "gban")
        if not argument:
            session.notice("err-usage-gban")
            return None

        def banned(result: tuple[str, int]) -> None:
            mask, count = result
            session.notice("gban-added", mask=mask, count=count)

        return self.chat.moderation.gban(member, argument).addCallback(banned)

    def cmd_ungban(
        self, session: Session, member: Member, argument: str
    ) -> defer.Deferred[None] | None:
        _not_operator(self.chat, member, "ungban")
        if not argument:
            session.notice("err-usage-ungban")
            return None
        return self.chat.moderation.ungban(member, argument).addCallback(
            lambda mask: session.notice("gban-removed", mask=mask)
        )

    def cmd_gbans(self, session: Session, member: Member, argument: str) -> None:
        _list_bans(session, self.chat.moderation.gban_list(member), "gbans")

    def cmd_op(self, session: Session, member: Member, argument: str) -> None:
        if not argument:
            session.notice("err-usage-op")
            return
        self.chat.moderation.op(member, self.current_room(member), argument)

    def cmd_deop(self, session: Session, member: Member, argument: str) -> None:
        if not argument:
            session.notice("err-usage-deop")
            return
        self.chat.moderation.deop(member, self.current_room(member), argument)

    def cmd_kick(self, session: Session, member: Member, argument: str) -> None:
        nick, _, reason = argument.partition(" ")
        if not nick:
            session.notice("err-usage-kick")
            return
        self.chat.moderation.kick(member, self.current_room(member), nick, reason.strip())

    def cmd_ban(self, session: Session, member: Member, argument: str) -> None:
        if not argument:
            session.notice("err-usage-ban")
            return
        self.chat.moderation.ban(member, self.current_room(member), argument)

    def cmd_unban(self, session: Session, member: Member, argument: str) -> None:
        if not argument:
            session.notice("err-usage-unban")
            return
        self.chat.moderation.unban(member, self.current_room(member), argument)

    def cmd_bans(self, session: Session, member: Member, argument: str) -> None:
        room = self.current_room(member)
        _list_bans(session, self.chat.moderation.bans(member, room), "bans", room=room.name)

    def cmd_mute(self, session: Session, member: Member, argument: str) -> None:
        nick, _, duration = argument.partition(" ")
        if not nick:
            session.notice("err-usage-mute")
            return
        self.chat.moderation.mute(member, self.current_room(member), nick, duration.strip())

    def cmd_unmute(self, session: Session, member: Member, argument: str) -> None:
        if not argument:
            session.notice("err-usage-unmute")
            return
        self.chat.moderation.unmute(member, self.current_room(member), argument)

    def cmd_mode(self, session: Session, member: Member, argument: str) -> None:
        room = self.current_room(member)
        modes = self.chat.moderation.modes(member, room, argument)
        if modes is not None:
            if modes:
                session.notice("modes", room=room.name, modes="+" + modes)
            else:
                session.notice("modes-none", room=room.name)

    def cmd_invite(self, session: Session, member: Member, argument: str) -> None:
        if not argument:
            session.notice("err-usage-invite")
            return
        room = self.current_room(member)
        nick = self.chat.moderation.invite(member, room, argument)
        session.notice("invite-sent", nick=nick, room=room.name)

    def cmd_voice(self, session: Session, member: Member, argument: str, on: bool = True) -> None:
        if not argument:
            session.notice("err-usage-voice" if on else "err-usage-devoice")
            return
        self.chat.moderation.voice(member, self.current_room(member), argument, on)

    def cmd_devoice(self, session: Session, member: Member, argument: str) -> None:
        self.cmd_voice(session, member, argument, on=False)

    def cmd_drop(self, session: Session, member: Member, argument: str) -> None:
        self.chat.moderation.drop(member, self.current_room(member))

    def cmd_modlog(
        self, session: Session, member: Member, argument: str
    ) -> defer.Deferred[None] | None:
        try:
            count = int(argument) if argument else MODLOG_DEFAULT
        except ValueError:
            count = 0
        _not_operator(self.chat, member, "modlog")
        if not 1 <= count <= MODLOG_MAX:
            session.notice("err-usage-modlog", max=MODLOG_MAX)
            return None
        when = session.door.when  # type: ignore[attr-defined]

        def show(actions: list) -> None:
            if not actions:
                session.notice("modlog-none")
                return
            session.notice("modlog", count=len(actions))
            for action in actions:
                session.notice(
                    "modlog-entry",
                    time=when(action.time),
                    actor=action.actor,
                    action=action.action,
                    target=action.target or "-",
                    scope=action.scope or "-",
                    reason=action.reason or "-",
                )

        return self.chat.moderation.modlog(member, count).addCallback(show)

    def cmd_quit(self, session: Session, member: Member, argument: str) -> None:
        session.notice("goodbye", nick=member.nick)
        session.close(argument)

    def cmd_help(self, session: Session, member: Member, argument: str) -> None:
        for msgid in HELP_LINES:
            session.notice(msgid, max=MAX_PAGE)
        if self.chat.moderation.is_operator(member):
            for msgid in OPERATOR_HELP_LINES:
                session.notice(msgid, max=MODLOG_MAX)

    commands: ClassVar[dict[str, Command]] = {
        "msg": cmd_msg,
        "w": cmd_msg,
        "users": cmd_users,
        "list": cmd_users,
        "who": cmd_users,
        "nick": cmd_nick,
        "me": cmd_me,
        "join": cmd_join,
        "part": cmd_part,
        "rooms": cmd_rooms,
        "names": cmd_names,
        "topic": cmd_topic,
        "quit": cmd_quit,
        "help": cmd_help,
        "register": cmd_register,
        "password": cmd_password,
        "unregister": cmd_unregister,
        "history": cmd_history,
        "kill": cmd_kill,
        "wall": cmd_wall,
        "modlog": cmd_modlog,
        "gban": cmd_gban,
        "ungban": cmd_ungban,
        "gbans": cmd_gbans,
        "op": cmd_op,
        "deop": cmd_deop,
        "drop": cmd_drop,
        "kick": cmd_kick,
        "ban": cmd_ban,
        "unban": cmd_unban,
        "bans": cmd_bans,
        "mute": cmd_mute,
        "unmute": cmd_unmute,
        "mode": cmd_mode,
        "invite": cmd_invite,
        "voice": cmd_voice,
        "devoice": cmd_devoice,
    }


def _list_nicks(session: Session, msgid: str, nicks: list[str], **fields: object) -> None:
    """C{msgid}'s line with the first nicknames, then continuation lines for the rest."""
    first, *more = chunk_names(nicks)
    session.notice(msgid, count=len(nicks), nicks=first, **fields)
    for chunk in more:
        session.notice("users-more", nicks=chunk)


def _list_bans(
    session: Session, bans: list[tuple[str, str, str, str]], msgid: str, **fields: object
) -> None:
    """C{msgid}'s header (or C{msgid}-none) then one line per (mask, setter, until, reason)."""
    if not bans:
        session.notice(f"{msgid}-none", **fields)
        return
    session.notice(msgid, count=len(bans), **fields)
    for mask, setter, until, reason in bans:
        session.notice("bans-entry", mask=mask, setter=setter, until=until, reason=reason)


def _not_operator(chat: ChatService, member: Member, command: str) -> None:
    """Refuse C{command} to a member who is not a server operator, before its usage is
    explained (the usage of operator commands is nobody else's business)."""
    if not chat.moderation.is_operator(member):
        raise ChatError("err-not-operator", command=command)


def _refused(session: Session, failure: Failure) -> None:
    """Tell C{session} why the core refused (a L{ChatError}); anything else propagates."""
    failure.trap(ChatError)
    refused: ChatError = failure.value  # type: ignore[assignment]
    session.notice(refused.msgid, **refused.fields)
