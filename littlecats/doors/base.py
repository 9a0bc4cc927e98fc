"""
What every door's renderer shares: its sessions, its fan-out, and the `IDoor` calls that move
rendered payloads into it.  A door subclasses `FanoutDoor` and says how an event looks on its
wire (`render`) and how a reply to one session does (`notice`); membership, sending,
publishing and shutdown are the same for all.  No chat state lives in a door: the core keeps
members and rooms, and a door only mirrors membership as fan-out subscriptions.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime

from littlecats.core import events
from littlecats.core.chat import ChatService
from littlecats.core.events import Envelope, SessionId
from littlecats.fanout import Fanout
from littlecats.limits import Limits
from littlecats.messages import Catalog
from littlecats.session import ILineHandler, Session, close_all


class FanoutDoor:
    """A door's sessions and fan-out; subclasses render."""

    # What a subclass defines: how an event looks on its wire, made once for every session of
    # the door, and how a reply (catalog message C{msgid}) to one session does.
    render: Callable[[events.Event], bytes]
    notice: Callable[..., bytes]
    ident: str
    """What its members show as in other doors' hostmasks (IRC's `nick!ident@host`)."""

    def __init__(
        self,
        chat: ChatService,
        catalog: Catalog,
        clock: IReactorTime,
        limits: Limits,
        handler: ILineHandler,
    ) -> None:
        self.chat = chat
        self.catalog = catalog
        self.clock = clock
        self.limits = limits
        self.handler = handler
        self.fanout = Fanout(clock)

    @property
    def sessions(self) -> dict[SessionId, Session]:
        """This door's open sessions (the core keeps the registry)."""
        return {sid: s for sid, s in self.chat.sessions.items() if s.door is self}  # type: ignore[misc]

    def _local(self, session: SessionId) -> Session | None:
        local = self.chat.sessions.get(session)
        return local if local is not None and local.door is self else None  # type: ignore[return-value]

    # What sessions ask of their door

    def release(self, session: Session) -> None:
        """C{session} is closing: it leaves the fan-out, and what it is owed is written now."""
        self.fanout.remove(session.outlet)

    def write(self, session: Session, data: bytes) -> None:
        """C{data} for C{session} alone, in its place among what its rooms receive."""
        self.fanout.send(session.outlet, data)

    def hide_input(self, session: Session, hidden: bool) -> None:
        """Stop showing what the user types (a password), or show it again: nothing to do
        unless the door's clients echo locally (telnet)."""

    # IDoor

    def subscribe(self, room: str | None, session: SessionId) -> None:
        local = self._local(session)
        if local is not None:
            self.fanout.subscribe(room, local.outlet)

    def unsubscribe(self, room: str | None, session: SessionId) -> None:
        local = self._local(session)
        if local is not None:
            self.fanout.unsubscribe(room, local.outlet)

    def publish(self, envelope: Envelope) -> None:
        if envelope.room not in self.fanout.channels:  # no subscriber here
            return
        excluded = self._local(envelope.exclude) if envelope.exclude is not None else None
        self.fanout.publish(
            envelope.room,
            self.render(envelope.event),
            excluded.outlet if excluded is not None else None,
        )

    def send(self, session: SessionId, event: events.Event) -> None:
        local = self._local(session)
        if local is not None:
            self.fanout.send(local.outlet, self.render(event))

    def shutdown(self, event: events.Event) -> defer.Deferred[None]:
        """Tell every session, close them all, and abort those still open after a grace
        period; fire when all are closed or aborted."""
        sessions = list(self.sessions.values())
        return close_all(sessions, self.render(event), self.fanout.flush, self.clock)
