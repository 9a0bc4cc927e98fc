"""
What an IRC client's lines mean: the IRC door's line handler.

Each line reached here through the session's input funnel (flood bucket, bounded inbox, the
registration timeout), like a telnet line.  `IRCCommands` parses it (`message.parse`), cleans
every parameter a user wrote as a telnet line is cleaned (IRC's formatting codes go too: they
would reach telnet terminals raw), and calls the core; what the core refuses comes back as the
numeric an IRC client expects (`ChatError` message ids to numerics: `_NUMERIC`), with the
catalog's sentence as its text.

Registration: NICK and USER in either order, PASS (the password of a registered nickname)
optional, CAP negotiation holding registration until CAP END, SASL PLAIN.  Anything else
before registration gets 451, never a disconnect.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import fnmatch
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from twisted.internet import defer
from twisted.python.failure import Failure
from twisted.words.protocols import irc as numerics

import littlecats
from littlecats import nicknames, text
from littlecats.core import events
from littlecats.core.chat import ChatError, ChatService, Member, Room
from littlecats.core.history import MAX_PAGE
from littlecats.core.moderation import KEY_MAX_LENGTH
from littlecats.doors.irc.caps import SUPPORTED
from littlecats.doors.irc.door import HOST, irc_mask
from littlecats.doors.irc.message import (
    MAX_BODY_BYTES,
    MAX_LINE_BYTES,
    Malformed,
    parse,
    split_line,
)
from littlecats.session import Session, State

if TYPE_CHECKING:
    from littlecats.doors.irc.protocol import IRCConnection

ERR_INPUTTOOLONG = "417"
ERR_INVALIDMODEPARAM = "696"
RPL_TOPICWHOTIME = "333"
RPL_LOGGEDIN = "900"
RPL_SASLSUCCESS = "903"
ERR_SASLFAIL = "904"
ERR_SASLTOOLONG = "905"
ERR_SASLABORTED = "906"
ERR_SASLALREADY = "907"
RPL_SASLMECHS = "908"
RPL_WHOISACCOUNT = "330"
MAX_CHANNELS = 50
"""Channels one IRC user may be in at once (ISUPPORT CHANLIMIT): each is a subscription and a
place in the room's member list."""
NEWEST = 1 << 62
"""A history id above every line's: CHATHISTORY LATEST pages back from it."""
WHO_MAX = 500
"""Replies to one WHO for a mask, at most (`WHO *` on a big server)."""
SASL_CHUNK = 400
SASL_MAX = 4 * SASL_CHUNK
NICKSERV = "nickserv"
_SURROGATES = re.compile("[\udc80-\udcff]")
# IRC's formatting codes: colours (with their numbers), hex colours, bold, italics...
_FORMATTING = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"
    r"|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)
_BEFORE_REGISTRATION = frozenset(
    ("CAP", "NICK", "USER", "PASS", "PING", "PONG", "QUIT", "AUTHENTICATE")
)

# What the core's refusals are as IRC numerics; the others are a NOTICE with the sentence.
_NUMERIC = {
    "err-nick-taken": numerics.ERR_NICKNAMEINUSE,
    "err-nick-registered": numerics.ERR_NICKNAMEINUSE,
    "err-nick-lookalike": numerics.ERR_NICKNAMEINUSE,
    "err-nick-empty": numerics.ERR_NONICKNAMEGIVEN,
    "err-nick-long": numerics.ERR_ERRONEUSNICKNAME,
    "err-nick-chars": numerics.ERR_ERRONEUSNICKNAME,
    "err-no-such-nick": numerics.ERR_NOSUCHNICK,
    "err-no-such-room": numerics.ERR_NOSUCHCHANNEL,
    "err-room-hash": numerics.ERR_NOSUCHCHANNEL,
    "err-room-empty": numerics.ERR_NOSUCHCHANNEL,
    "err-room-long": numerics.ERR_NOSUCHCHANNEL,
    "err-room-chars": numerics.ERR_NOSUCHCHANNEL,
    "err-room-lookalike": numerics.ERR_NOSUCHCHANNEL,
    "err-not-in-room": numerics.ERR_NOTONCHANNEL,
    "err-not-in-this-room": numerics.ERR_USERNOTINCHANNEL,
    "err-not-room-op": numerics.ERR_CHANOPRIVSNEEDED,
    "err-not-owner": numerics.ERR_CHANOPRIVSNEEDED,
    "err-room-not-owned": numerics.ERR_CHANOPRIVSNEEDED,
    "err-kick-lobby": numerics.ERR_CHANOPRIVSNEEDED,
    "err-room-key": numerics.ERR_BADCHANNELKEY,
    "err-room-invite-only": numerics.ERR_INVITEONLYCHAN,
    "err-room-banned": numerics.ERR_BANNEDFROMCHAN,
    "err-muted": numerics.ERR_CANNOTSENDTOCHAN,
    "err-moderated": numerics.ERR_CANNOTSENDTOCHAN,
    "err-mode-unknown": numerics.ERR_UNKNOWNMODE,
    "err-not-operator": numerics.ERR_NOPRIVILEGES,
    "err-password-wrong": numerics.ERR_PASSWDMISMATCH,
}
# What sending to a room refuses with ERR_CANNOTSENDTOCHAN (its sentence says which).
_CANNOT_SEND = ("err-muted", "err-moderated", "err-not-in-room")
# Numerics whose first parameter (after the nickname) is what they are about.
_ABOUT_TARGET = frozenset(
    (
        numerics.ERR_NICKNAMEINUSE,
        numerics.ERR_ERRONEUSNICKNAME,
        numerics.ERR_NOSUCHNICK,
        numerics.ERR_NOSUCHCHANNEL,
        numerics.ERR_NOTONCHANNEL,
        numerics.ERR_CHANOPRIVSNEEDED,
        numerics.ERR_BADCHANNELKEY,
        numerics.ERR_INVITEONLYCHAN,
        numerics.ERR_BANNEDFROMCHAN,
        numerics.ERR_CANNOTSENDTOCHAN,
        numerics.ERR_UNKNOWNMODE,
    )
)


def clean(value: str) -> str:
    """What a user wrote in a parameter, as safe text: no formatting codes, no controls."""
    if value.isprintable():
        return value
    return text.sanitise(_FORMATTING.sub("", value))


Handler = Callable[["IRCCommands", Session, "IRCConnection", tuple[str, ...]], object]


class IRCCommands:
    """The meaning of an IRC client's lines."""

    commands: dict[str, Handler]

    def __init__(self, chat: ChatService) -> None:
        self.chat = chat

    # ILineHandler

    def decode(self, line: bytes) -> str:
        """A line as sent; bytes that are not UTF-8 become lone surrogates, refused in
        L{line} (decoding here never fails, so the funnel's order is kept)."""
        return line.decode("utf-8", "surrogateescape")

    def last_words(self, session: Session, lines: Iterable[bytes | None]) -> str:
        """The reason of a QUIT still waiting behind the flood limit when the client hung up
        (WeeChat closes right after sending QUIT)."""
        reason = ""
        for raw in lines:
            if raw is None or b"QUIT" not in raw[:600].upper():
                continue
            try:
                message = parse(self.decode(raw))
            except Malformed:
                continue
            if message.command == "QUIT" and message.params:
                reason = clean(message.params[0])[:300]
        return reason

    def line_too_long(self, session: Session) -> None:
        wire: IRCConnection = session.wire  # type: ignore[assignment]
        wire.reply(ERR_INPUTTOOLONG, wire.text("irc-input-too-long"))

    def line(self, session: Session, line: str) -> defer.Deferred[object] | None:
        # The common case first, kept short: a plain line to a channel the member is in
        # (`PRIVMSG #room :text`, no tags, no formatting, nothing to clean).  Anything else,
        # or anything the core refuses, takes the general path below.
        if line[:9] == "PRIVMSG #" and session.state is State.CHAT:
            target, colon, said = line[8:].partition(" :")
            if (
                colon
                and said
                and said.isprintable()
                and not said.isspace()
                and target.isprintable()
                and " " not in target
                and "," not in target
                and (len(line) <= 127 or len(line.encode()) <= MAX_BODY_BYTES - 2)
            ):
                member = session.member
                room = member.room(  # type: ignore[union-attr]
                    target.lower() if target.isascii() else nicknames.fold(target)
                )
                if room is not None:
                    try:
                        self.chat.say(member, room, said)  # type: ignore[arg-type]
                        return None
                    except ChatError:
                        pass  # muted: the general path says so, with the numeric
        return self._line(session, line)

    def _line(self, session: Session, line: str) -> defer.Deferred[object] | None:
        wire: IRCConnection = session.wire  # type: ignore[assignment]
        if not line.isascii() and _SURROGATES.search(line):
            wire.send(
                "FAIL", "*", "INVALID_UTF8", wire.text("irc-invalid-utf8"), source=wire.door.server
            )
            return None
        raw = line.encode()
        tags, body = split_line(raw)
        if len(body) > MAX_BODY_BYTES - 2 or len(tags) > MAX_LINE_BYTES - MAX_BODY_BYTES:
            self.line_too_long(session)
            return None
        try:
            message = parse(line)
        except Malformed:
            return None  # not a message (spaces, a source alone): nothing to answer
        command = message.command
        if session.state is State.NICKNAME and command not in _BEFORE_REGISTRATION:
            if command.isdigit() or not command.isalpha():
                return None
            wire.reply(numerics.ERR_NOTREGISTERED, wire.text("irc-not-registered"))
            return None
        handler = self.commands.get(command)
        if handler is None:
            wire.reply(numerics.ERR_UNKNOWNCOMMAND, command, wire.text("irc-unknown-command"))
            return None
        try:
            result = handler(self, session, wire, message.params)
        except ChatError as refused:
            self.refuse(wire, refused, command)
            return None
        if isinstance(result, defer.Deferred):
            return result
        return None

    # Replies

    def refuse(
        self, wire: IRCConnection, refused: ChatError, command: str, target: str = ""
    ) -> None:
        """Tell the client why the core refused, as the numeric its client expects."""
        sentence = wire.door.catalog_text(refused.msgid, **refused.fields)
        numeric = _NUMERIC.get(refused.msgid)
        if numeric is None or (command == "NOTICE" and numeric != numerics.ERR_NICKNAMEINUSE):
            if command != "NOTICE":
                wire.server_notice(sentence)
            return
        if numeric in _ABOUT_TARGET:
            about = target or str(
                refused.fields.get("room")
                or refused.fields.get("nick")
                or refused.fields.get("mode")
                or "*"
            )
            wire.reply(numeric, about, sentence)
        elif numeric == numerics.ERR_USERNOTINCHANNEL:
            wire.reply(
                numeric,
                str(refused.fields.get("nick", "")),
                str(refused.fields.get("room", "")),
                sentence,
            )
        else:
            wire.reply(numeric, sentence)

    def _errback(
        self, wire: IRCConnection, command: str, target: str = ""
    ) -> Callable[[Failure], None]:
        def refused(failure: Failure) -> None:
            failure.trap(ChatError)
            self.refuse(wire, failure.value, command, target)  # type: ignore[arg-type]

        return refused

    def need(self, wire: IRCConnection, command: str, params: tuple[str, ...], count: int) -> bool:
        """Whether C{params} has C{count} parameters; if not, ERR_NEEDMOREPARAMS is sent."""
        if len(params) >= count and all(params[:count]):
            return True
        wire.reply(numerics.ERR_NEEDMOREPARAMS, command, wire.text("irc-need-more-params"))
        return False

    # Registration

    def irc_CAP(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> object:
        before = set(wire.caps.enabled)
        registered = session.state is not State.NICKNAME
        if params and params[0].upper() == "END" and wire.sasl is not None:
            wire.sasl, wire.sasl_buffer = None, ""  # registering ends an unfinished exchange
            wire.reply(ERR_SASLABORTED, wire.text("irc-sasl-aborted"))
        invalid = wire.text("irc-cap-invalid")
        for command, reply in wire.caps.handle(wire.nick, params, registered, invalid):
            wire.send(command, *reply, source=wire.door.server)
        if wire.caps.enabled != before:
            if "sasl" in before and "sasl" not in wire.caps.enabled:
                wire.sasl, wire.sasl_buffer = None, ""
            wire.update_caps()
        return self.try_register(session, wire)

    def irc_PASS(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        if session.state is not State.NICKNAME:
            wire.reply(numerics.ERR_ALREADYREGISTRED, wire.text("irc-already-registered"))
            return
        if self.need(wire, "PASS", params, 1):
            wire.password = params[0]

    def irc_NICK(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> object:
        if not params or not params[0].strip():
            wire.reply(numerics.ERR_NONICKNAMEGIVEN, wire.text("irc-no-nickname"))
            return None
        wanted = clean(params[0]).strip()
        if session.state is State.NICKNAME:
            try:
                nicknames.validate(wanted)
            except nicknames.NicknameRejected as rejected:
                sentence = wire.door.catalog_text(rejected.msgid, **rejected.fields)
                wire.reply(numerics.ERR_ERRONEUSNICKNAME, wanted or "*", sentence)
                return None
            wire.nick = wanted
            return self.try_register(session, wire)
        member = session.member
        assert member is not None
        if wanted == member.nick:
            return None
        return self.chat.rename(member, wanted).addErrback(self._errback(wire, "NICK", wanted))

    def irc_USER(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> object:
        if session.state is not State.NICKNAME or wire.user is not None:
            wire.reply(numerics.ERR_ALREADYREGISTRED, wire.text("irc-already-registered"))
            return None
        if not self.need(wire, "USER", params, 4):
            return None
        user = re.sub(r"[^A-Za-z0-9._-]", "", params[0])[:10] or "user"
        wire.user = user
        wire.realname = clean(params[3])[:100]
        return self.try_register(session, wire)

    def try_register(self, session: Session, wire: IRCConnection) -> defer.Deferred[object] | None:
        """Enter the chat once NICK and USER are in and no negotiation holds it back."""
        if (
            session.state is not State.NICKNAME
            or wire.nick == "*"
            or wire.user is None
            or wire.caps.holding
            or wire.sasl is not None
        ):
            return None
        wanted = wire.nick
        account = wire.account

        def refused(failure: Failure) -> None:
            failure.trap(ChatError)
            error: ChatError = failure.value  # type: ignore[assignment]
            wire.nick = "*"
            numeric = _NUMERIC.get(error.msgid, numerics.ERR_NICKNAMEINUSE)
            if numeric not in (numerics.ERR_NICKNAMEINUSE, numerics.ERR_ERRONEUSNICKNAME):
                # Banned or refused for another reason: the sentence says it.
                wire.server_notice(wire.door.catalog_text(error.msgid, **error.fields))
                return
            sentence = wire.door.catalog_text(error.msgid, **error.fields)
            wire.reply(numeric, wanted, sentence)

        def joined(member: Member) -> None:
            session.joined(member)

        return self.chat.connect(session, wanted, wire.password, account, lobby=False).addCallbacks(
            joined, refused
        )

    def irc_AUTHENTICATE(
        self, session: Session, wire: IRCConnection, params: tuple[str, ...]
    ) -> object:
        if "sasl" not in wire.caps.enabled:
            wire.reply(ERR_SASLFAIL, wire.text("irc-sasl-failed"))
            return None
        if session.state is State.NICKNAME and wire.account is not None:
            wire.reply(ERR_SASLALREADY, wire.text("irc-sasl-already"))
            return None
        if not params or not params[0]:
            return None
        argument = params[0]
        if argument == "*":
            wire.sasl, wire.sasl_buffer = None, ""
            wire.reply(ERR_SASLABORTED, wire.text("irc-sasl-aborted"))
            return self.try_register(session, wire)
        if wire.sasl is None:
            if argument.upper() != "PLAIN":
                wire.reply(RPL_SASLMECHS, SUPPORTED["sasl"], wire.text("irc-sasl-mechanisms"))
                wire.reply(ERR_SASLFAIL, wire.text("irc-sasl-failed"))
                return None
            wire.sasl = "PLAIN"
            wire.send("AUTHENTICATE", "+")
            return None
        if len(argument) > SASL_CHUNK:
            return self._sasl_fail(session, wire, ERR_SASLTOOLONG, "irc-sasl-too-long")
        if argument != "+":
            wire.sasl_buffer += argument
            if len(wire.sasl_buffer) > SASL_MAX:
                return self._sasl_fail(session, wire, ERR_SASLFAIL, "irc-sasl-failed")
            if len(argument) == SASL_CHUNK:
                return None  # more to come
        payload, wire.sasl_buffer = wire.sasl_buffer, ""
        try:
            authzid, authcid, password = (
                base64.b64decode(payload, validate=True).decode().split("\x00")
            )
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return self._sasl_fail(session, wire, ERR_SASLFAIL, "irc-sasl-failed")
        account = nicknames.fold(authcid)
        if (authzid and nicknames.fold(authzid) != account) or self.chat.accounts.registered(
            account
        ) is None:
            return self._sasl_fail(session, wire, ERR_SASLFAIL, "irc-sasl-failed")

        def verified(_: object) -> object:
            wire.sasl = None
            if session.state is State.NICKNAME:
                wire.account = account
            name = self.chat.accounts.registered(account) or authcid
            wire.reply(
                RPL_LOGGEDIN,
                f"{wire.nick}!{wire.ident}@{HOST}",
                name,
                wire.text("irc-sasl-logged-in", account=name),
            )
            wire.reply(RPL_SASLSUCCESS, wire.text("irc-sasl-success"))
            return self.try_register(session, wire)

        def failed(failure: Failure) -> object:
            failure.trap(ChatError)
            return self._sasl_fail(session, wire, ERR_SASLFAIL, "irc-sasl-failed")

        member = session.member
        if member is not None:  # after registration: re-authenticating, as SASL 3.2 allows
            checking = self.chat.identify_member(member, account, password)
        else:
            checking = self.chat.accounts.identify(session.host, account, password)
        return checking.addCallbacks(verified, failed)

    def _sasl_fail(self, session: Session, wire: IRCConnection, numeric: str, msgid: str) -> object:
        wire.sasl, wire.sasl_buffer = None, ""
        wire.reply(numeric, wire.text(msgid))
        return self.try_register(session, wire)

    def irc_PING(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        if not params:
            wire.reply(numerics.ERR_NOORIGIN, wire.text("irc-no-origin"))
            return
        wire.send("PONG", wire.door.server, params[0], source=wire.door.server)

    def irc_PONG(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        """The answer to the server's PING: the connection is alive (any input says so)."""

    def irc_QUIT(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        reason = clean(params[0])[:300] if params else ""
        wire.error(reason or wire.text("irc-quit"))
        session.close(reason)

    # Channels

    def _room(self, raw: str) -> Room:
        """The room C{raw} names, which must exist."""
        return self.chat.room(clean(raw).strip())

    def irc_JOIN(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> object:
        if not self.need(wire, "JOIN", params, 1):
            return None
        member = session.member
        assert member is not None
        if params[0] == "0":
            for room in list(member.rooms.values()):
                self.chat.part_room(member, room)
            return None
        names = params[0].split(",")
        keys = params[1].split(",") if len(params) > 1 else []
        chain: defer.Deferred[object] = defer.succeed(None)
        for index, raw in enumerate(names):
            key = clean(keys[index]) if index < len(keys) else ""
            chain.addCallback(
                lambda _, raw=raw, key=key: self._join(session, wire, clean(raw).strip(), key)
            )
        return chain

    def _join(self, session: Session, wire: IRCConnection, name: str, key: str) -> object:
        member = self.chat.by_session.get(session.id)
        if member is None or not name:
            return None
        if len(member.rooms) >= MAX_CHANNELS:
            wire.reply(numerics.ERR_TOOMANYCHANNELS, name, wire.text("irc-too-many-channels"))
            return None
        try:
            name, _ = self.chat.room_to_enter(member, name, key)
        except ChatError as refused:
            if refused.msgid != "err-already-in-room":
                self.refuse(wire, refused, "JOIN", name)
            return None
        return self.chat.join_room(member, name, key).addErrback(self._errback(wire, "JOIN", name))

    def irc_PART(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        if not self.need(wire, "PART", params, 1):
            return
        member = session.member
        assert member is not None
        reason = clean(params[1]).strip()[:300] if len(params) > 1 else ""
        for raw in params[0].split(","):
            try:
                room = self._room(raw)
                if member.room(room.key) is None:
                    raise ChatError("err-not-in-room", room=room.name)
                wire.parting[room.key] = reason
                self.chat.part_room(member, room, reason=reason)
            except ChatError as refused:
                self.refuse(wire, refused, "PART", raw)

    def irc_PRIVMSG(
        self,
        session: Session,
        wire: IRCConnection,
        params: tuple[str, ...],
        command: str = "PRIVMSG",
    ) -> object:
        if not params or not params[0]:
            if command == "PRIVMSG":
                wire.reply(numerics.ERR_NORECIPIENT, wire.text("irc-no-recipient", command=command))
            return None
        said = clean(params[1]) if len(params) > 1 else ""
        action = False
        if said.startswith("\x01") or (len(params) > 1 and params[1].startswith("\x01")):
            raw = params[1].strip("\x01")
            if not raw.upper().startswith("ACTION"):
                return None  # other CTCP requests: nothing here answers them
            said, action = clean(raw[6:]).strip(), True
        if not said.strip():
            if command == "PRIVMSG":
                wire.reply(numerics.ERR_NOTEXTTOSEND, wire.text("irc-no-text"))
            return None
        member = session.member
        assert member is not None
        waiting = []
        for target in params[0].split(",")[:4]:
            target = clean(target).strip()
            if not target:
                continue
            try:
                if target.startswith("#"):
                    room = self.chat.rooms.get(nicknames.fold(target))
                    if room is None:
                        raise ChatError("err-no-such-nick", nick=target)
                    if action:
                        self.chat.act(member, room, said)
                    else:
                        self.chat.say(member, room, said, notice=command == "NOTICE")
                elif nicknames.fold(target) == NICKSERV and command == "PRIVMSG":
                    result = self.nickserv(session, wire, member, said)
                    if result is not None:
                        waiting.append(result)
                else:
                    away = wire.door.away(self._nick_of(target))
                    d = self.chat.whisper(member, target, said).addErrback(
                        self._errback(wire, command, target)
                    )
                    if away is not None and command == "PRIVMSG":
                        d.addCallback(
                            lambda _, t=target, a=away: wire.reply(
                                numerics.RPL_AWAY, self._nick_of(t), a
                            )
                        )
                    waiting.append(d)
            except ChatError as refused:
                if refused.msgid in _CANNOT_SEND:
                    if command == "PRIVMSG":
                        wire.reply(
                            numerics.ERR_CANNOTSENDTOCHAN,
                            target,
                            wire.door.catalog_text(refused.msgid, **refused.fields),
                        )
                else:
                    self.refuse(wire, refused, command, target)
        if waiting:
            return defer.gatherResults(waiting, consumeErrors=True)
        return None

    def _nick_of(self, raw: str) -> str:
        member = self.chat.members.get(nicknames.fold(raw))
        return member.nick if member is not None else raw

    def irc_NOTICE(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> object:
        return self.irc_PRIVMSG(session, wire, params, "NOTICE")

    def irc_NAMES(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        if not params or not params[0]:
            wire.reply(numerics.RPL_ENDOFNAMES, "*", wire.text("irc-names-end"))
            return
        for raw in params[0].split(","):
            name = clean(raw).strip()
            room = self.chat.rooms.get(nicknames.fold(name))
            if room is None or not self.chat.moderation.visible(session.member, room):
                wire.reply(numerics.RPL_ENDOFNAMES, name, wire.text("irc-names-end"))
                continue
            wire.names(room)

    def irc_TOPIC(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        if not self.need(wire, "TOPIC", params, 1):
            return
        member = session.member
        assert member is not None
        room = self._room(params[0])
        if len(params) == 1:
            if not self.chat.moderation.visible(member, room):
                raise ChatError("err-no-such-room", room=room.name)
            if room.topic:
                wire.topic(room)
            else:
                wire.reply(numerics.RPL_NOTOPIC, room.name, wire.text("irc-no-topic"))
            return
        if member.room(room.key) is None:
            raise ChatError("err-not-in-room", room=room.name)
        self.chat.set_topic(member, room, clean(params[1]).strip())

    def irc_LIST(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        member = session.member
        wanted = None
        if params and params[0]:
            wanted = {nicknames.fold(clean(name).strip()) for name in params[0].split(",")}
        wire.reply(numerics.RPL_LISTSTART, "Channel", wire.text("irc-list-start"))
        for room in self.chat.room_list():
            if (wanted is None or room.key in wanted) and self.chat.moderation.visible(
                member, room
            ):
                wire.reply(numerics.RPL_LIST, room.name, str(len(room.members)), room.topic)
        wire.reply(numerics.RPL_LISTEND, wire.text("irc-list-end"))

    # History (IRCv3 draft/chathistory: BEFORE and LATEST, over the chat's own paging)

    def irc_CHATHISTORY(
        self, session: Session, wire: IRCConnection, params: tuple[str, ...]
    ) -> object:
        member = session.member
        assert member is not None
        sub = params[0].upper() if params else ""
        if sub == "TARGETS":  # private messages are not kept as history here: none to list
            ref = self._batch_ref(wire)
            wire.send("BATCH", "+" + ref, "draft/chathistory-targets", source=wire.door.server)
            wire.send("BATCH", "-" + ref, source=wire.door.server)
            return None
        if sub not in ("BEFORE", "LATEST") or len(params) < 4:
            wire.send(
                "FAIL",
                "CHATHISTORY",
                "INVALID_PARAMS",
                sub or "*",
                wire.text("irc-chathistory-params"),
                source=wire.door.server,
            )
            return None
        target, reference, raw_limit = clean(params[1]).strip(), params[2], params[3]
        room = self.chat.rooms.get(nicknames.fold(target)) if target.startswith("#") else None
        if room is None or member.room(room.key) is None:
            wire.send(
                "FAIL",
                "CHATHISTORY",
                "INVALID_TARGET",
                sub,
                target,
                wire.text("irc-chathistory-target"),
                source=wire.door.server,
            )
            return None
        before = _history_cursor(sub, reference)
        limit = int(raw_limit) if raw_limit.isdigit() else 0
        if before is None or not 1 <= limit <= MAX_PAGE:
            wire.send(
                "FAIL",
                "CHATHISTORY",
                "INVALID_PARAMS",
                sub,
                wire.text("irc-chathistory-params"),
                source=wire.door.server,
            )
            return None
        ref = wire.batches[room.key] = self._batch_ref(wire)

        def sent(count: int) -> None:
            if not count:  # no line: the batch is empty, but there is one
                wire.batches.pop(room.key, None)
                wire.send("BATCH", "+" + ref, "chathistory", room.name, source=wire.door.server)
                wire.send("BATCH", "-" + ref, source=wire.door.server)

        def failed(failure: Failure) -> None:
            failure.trap(ChatError)
            wire.batches.pop(room.key, None)
            error: ChatError = failure.value  # type: ignore[assignment]
            sentence = wire.door.catalog_text(error.msgid, **error.fields)
            wire.send(
                "FAIL",
                "CHATHISTORY",
                "MESSAGE_ERROR",
                sub,
                target,
                sentence,
                source=wire.door.server,
            )

        return self.chat.earlier(member, room, limit, before).addCallbacks(sent, failed)

    def _batch_ref(self, wire: IRCConnection) -> str:
        wire.batch_count += 1
        return f"h{wire.batch_count}"

    # Users

    def _who_line(
        self, wire: IRCConnection, member: Member, channel: str, room: Room | None
    ) -> None:
        door = wire.door
        away = door.away(member.nick)
        flags = "G" if away is not None else "H"
        if self.chat.moderation.is_operator(member):
            flags += "*"
        if room is not None:
            flags += door.prefixes(member, room, "multi-prefix" in wire.caps.enabled)
        ident = door.ident_of(member.nick)
        wire.reply(
            numerics.RPL_WHOREPLY, channel, ident, HOST, door.server, member.nick, flags,
            f"0 {self._realname(member)}",
        )  # fmt: skip

    def _realname(self, member: Member) -> str:
        local = self.chat.sessions.get(member.session)
        realname = getattr(getattr(local, "wire", None), "realname", None)
        return realname if isinstance(realname, str) and realname else member.nick

    def irc_WHO(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        mask = clean(params[0]).strip() if params and params[0] else "*"
        member = session.member
        if mask.startswith("#"):
            room = self.chat.rooms.get(nicknames.fold(mask))
            if room is not None and self.chat.moderation.visible(member, room):
                for other in sorted(room.members.values(), key=lambda m: m.key):
                    self._who_line(wire, other, room.name, room)
        elif "*" in mask or "?" in mask or mask == "0":
            self._who_mask(wire, member, mask)
        else:
            other = self.chat.members.get(nicknames.fold(mask))
            if other is not None:
                self._who_line(wire, other, "*", None)
        wire.reply(numerics.RPL_ENDOFWHO, mask, wire.text("irc-who-end"))

    def _who_mask(self, wire: IRCConnection, member: Member | None, mask: str) -> None:
        """WHO for a glob over nicknames (`*`: everyone): members who are not invisible, or
        who share a room with the asker; at most L{WHO_MAX} of them."""
        pattern = re.compile(
            fnmatch.translate(nicknames.fold(mask if mask != "0" else "*")), re.DOTALL
        )
        door = wire.door
        mine = set(member.rooms) if member is not None else set()
        shown = 0
        for other in sorted(self.chat.members.values(), key=lambda m: m.key):
            if not pattern.match(other.key):
                continue
            local = door.by_nick.get(other.nick)
            hidden = local is not None and local.wire.invisible  # type: ignore[union-attr]
            if hidden and other is not member and not mine.intersection(other.rooms):
                continue
            self._who_line(wire, other, "*", None)
            shown += 1
            if shown >= WHO_MAX:
                return

    def irc_WHOIS(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        if not params or not params[-1]:
            wire.reply(numerics.ERR_NONICKNAMEGIVEN, wire.text("irc-no-nickname"))
            return
        raw = clean(params[-1]).split(",")[0].strip()
        other = self.chat.members.get(nicknames.fold(raw))
        if other is None:
            wire.reply(numerics.ERR_NOSUCHNICK, raw, wire.text("irc-no-such-nick"))
            wire.reply(numerics.RPL_ENDOFWHOIS, raw, wire.text("irc-whois-end"))
            return
        door, nick = wire.door, other.nick
        ident = door.ident_of(nick)
        wire.reply(numerics.RPL_WHOISUSER, nick, ident, HOST, "*", self._realname(other))
        multi = "multi-prefix" in wire.caps.enabled
        visible = [
            door.prefixes(other, room, multi) + room.name
            for room in other.rooms.values()
            if self.chat.moderation.visible(session.member, room)
        ]
        if visible:
            wire.reply(numerics.RPL_WHOISCHANNELS, nick, " ".join(visible))
        wire.reply(numerics.RPL_WHOISSERVER, nick, door.server, wire.text("irc-server-info"))
        away = door.away(nick)
        if away is not None:
            wire.reply(numerics.RPL_AWAY, nick, away)
        if self.chat.moderation.is_operator(other):
            wire.reply(numerics.RPL_WHOISOPERATOR, nick, wire.text("irc-whois-operator"))
        if other.account is not None:
            account = self.chat.accounts.registered(other.account) or other.account
            wire.reply(RPL_WHOISACCOUNT, nick, account, wire.text("irc-whois-account"))
        wire.reply(numerics.RPL_ENDOFWHOIS, nick, wire.text("irc-whois-end"))

    def irc_AWAY(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        message = clean(params[0]).strip()[:300] if params else ""
        wire.away = message or None
        if message:
            wire.reply(numerics.RPL_NOWAWAY, wire.text("irc-now-away"))
        else:
            wire.reply(numerics.RPL_UNAWAY, wire.text("irc-unaway"))
        member = session.member
        assert member is not None
        line = wire.door.line(
            "AWAY", *([message] if message else []), source=wire.door.mask(member.nick)
        ).encode()
        wire.door.tell_with_cap(session, tuple(member.rooms), line, "away-notify")

    def irc_USERHOST(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        if not self.need(wire, "USERHOST", params, 1):
            return
        replies = []
        for raw in params[:5]:
            other = self.chat.members.get(nicknames.fold(clean(raw)))
            if other is not None:
                away = "-" if wire.door.away(other.nick) is not None else "+"
                oper = "*" if self.chat.moderation.is_operator(other) else ""
                replies.append(f"{other.nick}{oper}={away}{wire.door.ident_of(other.nick)}@{HOST}")
        wire.reply(numerics.RPL_USERHOST, " ".join(replies))

    def irc_ISON(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        if not self.need(wire, "ISON", params, 1):
            return
        present = []
        for raw in " ".join(params).split()[:50]:
            other = self.chat.members.get(nicknames.fold(clean(raw)))
            if other is not None:
                present.append(other.nick)
        wire.reply(numerics.RPL_ISON, " ".join(present))

    def irc_MOTD(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        wire.motd()

    def irc_LUSERS(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        wire.lusers()

    def irc_VERSION(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        wire.reply(
            numerics.RPL_VERSION, f"littlecats-{littlecats.__version__}", wire.door.server, ""
        )

    # Moderation

    def irc_MODE(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        if not self.need(wire, "MODE", params, 1):
            return
        member = session.member
        assert member is not None
        target = clean(params[0]).strip()
        if not target.startswith("#"):
            self._user_mode(wire, member, target, params[1:])
            return
        room = self._room(target)
        if len(params) == 1:
            modes = "+" + room.modes
            arguments = (
                [room.password] if "k" in room.modes and member.room(room.key) is not None else []
            )
            wire.reply(numerics.RPL_CHANNELMODEIS, room.name, modes, *arguments)
            if room.created:
                wire.reply("329", room.name, str(int(room.created)))
            return
        self._channel_modes(session, wire, member, room, params[1], list(params[2:]))

    def _user_mode(
        self, wire: IRCConnection, member: Member, target: str, rest: tuple[str, ...]
    ) -> None:
        if nicknames.fold(target) != member.key:
            other = self.chat.members.get(nicknames.fold(target))
            if other is None:
                wire.reply(numerics.ERR_NOSUCHNICK, target, wire.text("irc-no-such-nick"))
            else:
                wire.reply(numerics.ERR_USERSDONTMATCH, wire.text("irc-users-dont-match"))
            return
        if not rest or not rest[0]:
            modes = (
                "+"
                + ("i" if wire.invisible else "")
                + ("o" if self.chat.moderation.is_operator(member) else "")
            )
            wire.reply(numerics.RPL_UMODEIS, modes)
            return
        sign, changed = "+", ""
        for letter in rest[0]:
            if letter in "+-":
                sign = letter
            elif letter == "i":
                if wire.invisible != (sign == "+"):
                    wire.invisible = sign == "+"
                    changed += sign + "i"
            elif letter in "ow":
                continue  # +o comes from OPER; wallops are not sent
            else:
                wire.reply(numerics.ERR_UMODEUNKNOWNFLAG, wire.text("irc-umode-unknown"))
                return
        if changed:
            wire.send("MODE", member.nick, changed, source=wire.door.mask(member.nick))

    def _channel_modes(
        self,
        session: Session,
        wire: IRCConnection,
        member: Member,
        room: Room,
        change: str,
        arguments: list[str],
    ) -> None:
        moderation = self.chat.moderation
        sign = "+"
        # The flag modes are changed together (one MODE line for `+mt`), after the others.
        flags = {"+": "", "-": ""}
        for letter in change:
            if letter in "+-":
                sign = letter
                continue
            on = sign == "+"
            try:
                if letter == "b":
                    if not arguments:
                        self._ban_list(wire, member, room)
                        continue
                    mask = _ban_mask(clean(arguments.pop(0)).strip())
                    if on:
                        moderation.ban(member, room, mask)
                    else:
                        moderation.unban(member, room, mask)
                elif letter in "ov":
                    if not arguments:
                        wire.reply(
                            numerics.ERR_NEEDMOREPARAMS, "MODE", wire.text("irc-need-more-params")
                        )
                        continue
                    nick = clean(arguments.pop(0)).strip()
                    if nicknames.fold(nick) not in self.chat.members:
                        wire.reply(numerics.ERR_NOSUCHNICK, nick, wire.text("irc-no-such-nick"))
                        continue
                    if letter == "o":
                        (moderation.op if on else moderation.deop)(member, room, nick)
                    else:
                        moderation.voice(member, room, nick, on)
                elif letter == "k":
                    if on:
                        if not arguments:
                            wire.reply(
                                numerics.ERR_NEEDMOREPARAMS,
                                "MODE",
                                wire.text("irc-need-more-params"),
                            )
                            continue
                        key = clean(arguments.pop(0))
                        if not key.strip() or " " in key.strip() or len(key) > KEY_MAX_LENGTH:
                            moderation.require_room_op(member, room, "mode")
                            sentence = wire.door.catalog_text(
                                "err-mode-key-long"
                                if len(key) > KEY_MAX_LENGTH
                                else "err-mode-key",
                                max=KEY_MAX_LENGTH,
                            )
                            wire.reply(ERR_INVALIDMODEPARAM, room.name, "k", "*", sentence)
                            continue
                        moderation.modes(member, room, "+k " + key.strip())
                    else:
                        if arguments:
                            arguments.pop(0)
                        moderation.modes(member, room, "-k")
                elif letter in "imst":
                    flags[sign] += letter
                else:
                    wire.reply(
                        numerics.ERR_UNKNOWNMODE,
                        letter,
                        wire.text("irc-unknown-mode", room=room.name),
                    )
            except ChatError as refused:
                self.refuse(wire, refused, "MODE", room.name)
                if refused.msgid in ("err-not-room-op", "err-not-owner", "err-room-not-owned"):
                    return
        for sign, letters in flags.items():
            wanted = "".join(
                dict.fromkeys(m for m in letters if (m in room.modes) != (sign == "+"))
            )
            try:
                if wanted:
                    moderation.modes(member, room, sign + wanted)
                elif letters:
                    moderation.require_room_op(member, room, "mode")
            except ChatError as refused:
                self.refuse(wire, refused, "MODE", room.name)
                return

    def _ban_list(self, wire: IRCConnection, member: Member, room: Room) -> None:
        bans = self.chat.moderation.room_bans.get(room.key)
        if bans is not None and self.chat.moderation.is_room_op(member, room):
            for ban in bans:
                wire.reply(
                    numerics.RPL_BANLIST,
                    room.name,
                    irc_mask(ban.mask),
                    ban.setter,
                    str(int(ban.created)),
                )
        wire.reply(numerics.RPL_ENDOFBANLIST, room.name, wire.text("irc-ban-list-end"))

    def irc_KICK(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        if not self.need(wire, "KICK", params, 2):
            return
        member = session.member
        assert member is not None
        room = self._room(params[0])
        if member.room(room.key) is None:
            raise ChatError("err-not-in-room", room=room.name)
        reason = clean(params[2]).strip() if len(params) > 2 else ""
        reason = reason or member.nick  # IRC's default comment: who kicked
        for nick in params[1].split(","):
            try:
                self.chat.moderation.kick(member, room, clean(nick).strip(), reason)
            except ChatError as refused:
                self.refuse(wire, refused, "KICK", room.name)

    def irc_INVITE(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> None:
        if not self.need(wire, "INVITE", params, 2):
            return
        member = session.member
        assert member is not None
        raw_nick, name = clean(params[0]).strip(), clean(params[1]).strip()
        target = self.chat.members.get(nicknames.fold(raw_nick))
        if target is None:
            wire.reply(numerics.ERR_NOSUCHNICK, raw_nick, wire.text("irc-no-such-nick"))
            return
        room = self.chat.rooms.get(nicknames.fold(name))
        if room is None:
            raise ChatError("err-no-such-room", room=name)
        if member.room(room.key) is None:
            raise ChatError("err-not-in-room", room=room.name)
        if target.room(room.key) is not None:
            wire.reply(
                numerics.ERR_USERONCHANNEL, target.nick, room.name, wire.text("irc-user-on-channel")
            )
            return
        if "i" in room.modes or self.chat.moderation.is_room_op(member, room):
            self.chat.moderation.invite(member, room, target.nick)
        else:  # anyone may invite into a room anyone may enter: it is only a word
            self.chat.deliver_direct(target.session, events.Invited(room.name, member.nick))
        wire.reply(numerics.RPL_INVITING, target.nick, room.name)
        away = wire.door.away(target.nick)
        if away is not None:
            wire.reply(numerics.RPL_AWAY, target.nick, away)

    def irc_OPER(self, session: Session, wire: IRCConnection, params: tuple[str, ...]) -> object:
        if not self.need(wire, "OPER", params, 2):
            return None
        member = session.member
        assert member is not None
        name, password = params[0], params[1]
        if nicknames.fold(name) not in self.chat.moderation.operators:
            wire.reply(numerics.ERR_NOOPERHOST, wire.text("irc-no-oper-host"))
            return None

        def identified(_: str) -> None:
            wire.reply(numerics.RPL_YOUREOPER, wire.text("irc-youre-oper"))
            wire.send("MODE", member.nick, "+o", source=wire.door.server)

        def failed(failure: Failure) -> None:
            failure.trap(ChatError)
            wire.reply(numerics.ERR_PASSWDMISMATCH, wire.text("irc-password-mismatch"))

        return self.chat.identify_member(member, name, password).addCallbacks(identified, failed)

    # NickServ: accounts, for clients without SASL

    def nickserv(
        self, session: Session, wire: IRCConnection, member: Member, said: str
    ) -> defer.Deferred[object] | None:
        command, _, argument = said.strip().partition(" ")
        command = command.upper()
        source = "NickServ!NickServ@" + wire.door.server

        def tell(sentence: str) -> None:
            wire.send("NOTICE", member.nick, sentence, source=source)

        def told(msgid: str, **fields: object) -> Callable[[object], None]:
            return lambda _: tell(wire.door.catalog_text(msgid, **fields))

        def refused(failure: Failure) -> None:
            failure.trap(ChatError)
            error: ChatError = failure.value  # type: ignore[assignment]
            tell(wire.door.catalog_text(error.msgid, **error.fields))

        words = argument.split()
        if command == "REGISTER" and len(words) == 1:
            return self.chat.register(member, words[0]).addCallbacks(
                told("registered", nick=member.nick), refused
            )
        if command == "IDENTIFY" and words:
            account, password = (words[0], words[1]) if len(words) > 1 else (member.nick, words[0])
            return self.chat.identify_member(member, account, password).addCallbacks(
                lambda name: tell(wire.door.catalog_text("identified", nick=name)), refused
            )
        tell(wire.text("irc-nickserv-help"))
        return None

    commands = {  # noqa: RUF012
        name[4:]: method
        for name, method in list(locals().items())
        if name.startswith("irc_") and callable(method)
    }


def _history_cursor(sub: str, reference: str) -> int | None:
    """The history id to page back from for CHATHISTORY C{sub} C{reference}: `*` (LATEST: the
    newest), `msgid=ID`, or `timestamp=ISO8601` (ids are times in microseconds, kept
    increasing); None if it is none of these."""
    if reference == "*":
        return NEWEST if sub == "LATEST" else None
    kind, _, value = reference.partition("=")
    if kind == "msgid" and value.isdigit():
        return int(value)
    if kind == "timestamp":
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return int(moment.timestamp() * 1_000_000)
    return None


def _ban_mask(raw: str) -> str:
    """An IRC ban mask as the chat's masks read it: `nick!*@*` is the nickname, `*!*@ADDRESS`
    the address; anything else as it is (an account:NAME, an address, a CIDR block)."""
    if "!" in raw:
        nick, _, rest = raw.partition("!")
        host = rest.partition("@")[2]
        if nick and nick != "*" and "*" not in nick:
            return nick
        if host and "*" not in host:
            return host
    return raw
