"""Tests for littlecats.core: the registry and delivery, with no door and no sockets."""

from __future__ import annotations

import pytest
from zope.interface import implementer

from littlecats import events
from littlecats.core import ChatError, ChatService, IChatClient, IDoor
from littlecats.messages import Catalog


@implementer(IDoor)
class CountingDoor:
    """Renders an event as itself, counting renders."""

    def __init__(self) -> None:
        self.renders = 0

    def render(self, event):
        self.renders += 1
        return event


@implementer(IChatClient)
class Inbox:
    def __init__(self, fail: bool = False) -> None:
        self.received: list = []
        self.fail = fail
        self.aborted = False

    def send(self, payload):
        if self.fail:
            raise OSError("connection reset")
        self.received.append(payload)

    def abort(self):
        self.aborted = True


@pytest.fixture
def service() -> ChatService:
    return ChatService(Catalog("pt"))


def _join(service, nick, door, **kw):
    inbox = Inbox(**kw)
    return service.join(nick, inbox, door, "127.0.0.1", 1234), inbox


def test_event_rendered_once_per_door(service):
    """A broadcast is rendered once per door, however many members it reaches."""
    door, other = CountingDoor(), CountingDoor()
    for i in range(10):
        _join(service, f"a{i}", door)
    _join(service, "b", other)
    door.renders = other.renders = 0
    member = next(iter(service.members.values()))
    service.say(member, "oi")
    assert (door.renders, other.renders) == (1, 1)


def test_failing_recipient_does_not_stop_delivery(service):
    """One recipient whose connection fails never stops delivery to the others; it is dropped
    and announced as leaving."""
    door = CountingDoor()
    ana, ana_inbox = _join(service, "ana", door)
    _, broken = _join(service, "broken", door)
    _, cid_inbox = _join(service, "cid", door)
    broken.fail = True
    ana_inbox.received.clear()
    cid_inbox.received.clear()
    service.say(ana, "oi")
    assert broken.aborted
    assert service.nicknames() == ["ana", "cid"]
    expected = [events.Said("ana", "oi"), events.Left("broken")]
    assert ana_inbox.received == expected
    assert cid_inbox.received == expected


def test_leave_twice_announces_once(service):
    """Leaving is idempotent: a member leaves, and is announced, once."""
    door = CountingDoor()
    _, ana_inbox = _join(service, "ana", door)
    bia, _ = _join(service, "bia", door)
    ana_inbox.received.clear()
    service.leave(bia)
    service.leave(bia)
    assert ana_inbox.received == [events.Left("bia")]


def test_stale_member_cannot_remove_new_holder(service):
    """A member that already left cannot remove whoever took its nickname since."""
    door = CountingDoor()
    old, _ = _join(service, "ana", door)
    service.leave(old)
    new, _ = _join(service, "ANA", door)
    service.leave(old)
    assert service.members == {"ana": new}


def test_whisper_reaches_only_the_two(service):
    """A private message is delivered to its recipient and echoed to its sender only."""
    door = CountingDoor()
    ana, ana_inbox = _join(service, "ana", door)
    _, bia_inbox = _join(service, "bia", door)
    _, cid_inbox = _join(service, "cid", door)
    for inbox in (ana_inbox, bia_inbox, cid_inbox):
        inbox.received.clear()
    service.whisper(ana, "Bia", "segredo")
    assert bia_inbox.received == [events.PrivateReceived("ana", "segredo")]
    assert ana_inbox.received == [events.PrivateSent("bia", "segredo")]
    assert cid_inbox.received == []


def test_errors_name_catalog_messages(service):
    """Refusals carry a catalog message id and its fields."""
    door = CountingDoor()
    ana, _ = _join(service, "ana", door)
    with pytest.raises(ChatError) as taken:
        _join(service, "Ana", door)
    assert (taken.value.msgid, taken.value.fields) == ("err-nick-taken", {"nick": "Ana"})
    with pytest.raises(ChatError) as absent:
        service.whisper(ana, "zé", "oi")
    assert absent.value.msgid == "err-no-such-nick"


def test_every_member_sees_the_same_order(service):
    """Interleaved messages from several senders reach every member in one total order."""
    door = CountingDoor()
    members = [_join(service, f"m{i}", door) for i in range(4)]
    for _, inbox in members:
        inbox.received.clear()
    for round_ in range(5):
        for member, _ in members:
            service.say(member, str(round_))
    sequences = [inbox.received for _, inbox in members]
    assert all(seq == sequences[0] for seq in sequences)
    assert len(sequences[0]) == 20
