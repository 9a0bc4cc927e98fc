"""
The in-process backend: nickname claims in a dict, events handed straight back to the core.

Every Deferred it returns has already fired, and `publish` delivers before it returns, so in one
process the chat behaves as if the core were synchronous, and tests need no reactor.  A cluster
backend (later) keeps this contract with a network in between.
"""

from __future__ import annotations

from twisted.internet import defer
from zope.interface import implementer

from littlecats.core.events import Envelope, Event, SessionId
from littlecats.core.interfaces import IBackend, IEventSink


@implementer(IBackend)
class LocalBackend:
    """One process: this dict is the truth about nicknames, this call stack the sequencer."""

    def __init__(self) -> None:
        self.claims: dict[str, SessionId] = {}
        self._sink: IEventSink | None = None

    def attach(self, sink: IEventSink) -> None:
        self._sink = sink

    def claim(self, key: str, owner: SessionId) -> defer.Deferred[bool]:
        holder = self.claims.setdefault(key, owner)
        return defer.succeed(holder == owner)

    def release(self, key: str, owner: SessionId) -> None:
        if self.claims.get(key) == owner:
            del self.claims[key]

    def locate(self, key: str) -> defer.Deferred[SessionId | None]:
        return defer.succeed(self.claims.get(key))

    def publish(self, envelope: Envelope) -> None:
        assert self._sink is not None, "attach a sink first"
        self._sink.deliver(envelope)

    def unicast(self, to: SessionId, event: Event) -> None:
        assert self._sink is not None, "attach a sink first"
        self._sink.deliver_direct(to, event)
