"""
The seams of the core: what a door, a session and a backend promise each other.

`ChatService` (littlecats.core.chat) talks to doors only through `IDoor`, to connections only
through `ISession`, and to the rest of the chat (this process, or later every node of a
cluster) only through `IBackend`.  Nothing here knows a socket, a byte or a wire format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.internet import defer
from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from littlecats.core.events import Envelope, Event, SessionId


class IDoor(Interface):
    """A way in (telnet now; IRC, web and SSH later): renders events for its own sessions."""

    def subscribe(room: str | None, session: SessionId) -> None:
        """C{session} (one of this door's) receives C{room}'s events from now on.

        C{room} is a room's folded key, or None for the events of the whole server.
        """

    def unsubscribe(room: str | None, session: SessionId) -> None:
        """C{session} receives no more of C{room}'s events; what it is owed still reaches it."""

    def publish(envelope: Envelope) -> None:
        """Render C{envelope}'s event once and deliver it to this door's subscribers of its
        room, in the order published, leaving out C{envelope.exclude}."""

    def send(session: SessionId, event: Event) -> None:
        """Render C{event} for one of this door's sessions and deliver it in its place."""

    def shutdown(event: Event) -> defer.Deferred[None]:
        """Deliver C{event} to every connection, close them all; fire when they are closed."""


class ISession(Interface):
    """One connection, of any door, as the core sees it."""

    id = Attribute("The L{SessionId}: serialisable, unique in the whole chat.")
    door = Attribute("The L{IDoor} that renders for this session.")
    host = Attribute("The peer's IP address.")
    port = Attribute("The peer's port.")

    def close(reason: str = "") -> None:
        """Leave the chat (if joined), flush what is owed, and close the connection."""


class IEventSink(Interface):
    """What a backend hands sequenced events back to (the core)."""

    def deliver(envelope: Envelope) -> None:
        """Apply C{envelope} (membership changes) and deliver it to the local doors."""

    def deliver_direct(to: SessionId, event: Event) -> None:
        """Deliver C{event} to the local session C{to}, if it is still here."""


class IBackend(Interface):
    """Where nicknames are claimed and events are ordered: one process now, a cluster later.

    The core changes membership and delivers only what the backend hands back to its sink, so a
    backend spanning several processes can be the per-room sequencer without the core changing.
    """

    def attach(sink: IEventSink) -> None:
        """Hand every published event to C{sink}, in order."""

    def claim(key: str, owner: SessionId) -> defer.Deferred[bool]:
        """Take nickname C{key} for C{owner}; fire True, or False if someone else holds it."""

    def release(key: str, owner: SessionId) -> None:
        """Give C{key} back, if C{owner} still holds it."""

    def locate(key: str) -> defer.Deferred[SessionId | None]:
        """The session holding nickname C{key}, or None."""

    def publish(envelope: Envelope) -> None:
        """Sequence C{envelope} and hand it to every node's sink."""

    def unicast(to: SessionId, event: Event) -> None:
        """Hand C{event} to the sink of the node C{to} is on, in order with C{publish}."""
