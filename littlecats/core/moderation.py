"""
Moderation in the core: who may moderate, what each action does, and the log of actions.

Every door reaches the same decisions here; a door only renders the events they produce.  Server
operators are the registered accounts named by `--operator` (a member counts as one while it
is identified to such an account).  Every action is logged twice: in the server's log (who,
what, whom, why) and in the store's moderation log, which operators read with `/modlog`.

Refusals are `ChatError`s naming the catalog line that says why; nothing happens then.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure

from littlecats import nicknames
from littlecats.core import events
from littlecats.core.errors import ChatError
from littlecats.core.events import Envelope

if TYPE_CHECKING:
    from littlecats.core.chat import ChatService, Member
    from littlecats.storage.interface import ModAction

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

    def modlog(self, member: Member, count: int) -> defer.Deferred[list[ModAction]]:
        """The C{count} latest moderation actions, newest first (operators only)."""
        try:
            self._require_operator(member, "modlog")
        except ChatError:
            return defer.fail()
        return self.chat.store.recent_actions(count)

    # The log of actions

    def record(self, member: Member, action: str, target: str, scope: str, reason: str) -> None:
        """Log C{member}'s C{action} on C{target} (in room C{scope}, "" for the server), in the
        server's log and in the store; a store that fails is logged, and the action stands."""
        actor = member.nick
        self.log.info(
            self.chat.catalog.template("log-moderation"),
            actor=actor,
            action=action,
            target=target or "-",
            scope=scope or "-",
            reason=reason or "-",
        )

        def failed(failure: Failure) -> None:
            self.log.failure(self.chat.catalog.template("log-modlog-failed"), failure)

        self.chat.store.log_action(
            self.chat.clock.seconds(),  # type: ignore[attr-defined]
            actor,
            action,
            target,
            scope,
            reason,
        ).addErrback(failed)
