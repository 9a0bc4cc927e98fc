"""Tests for littlecats.core: the registry and who is told what, with no door and no sockets."""

from __future__ import annotations

import pytest
from twisted.internet import defer
from zope.interface import implementer
from zope.interface.verify import verifyObject

from littlecats import events
from littlecats.core import ChatError, ChatService, IDoor
from littlecats.messages import Catalog


@implementer(IDoor)
class RecordingDoor:
    """A door that records, per connection, every event it would have delivered."""

    def __init__(self) -> None:
        self.attached: list = []
        self.inboxes: dict[str, list] = {}
        self.broadcasts = 0
        self.shutdowns: list = []

    def attach(self, member):
        self.attached.append(member)

    def detach(self, member):
        self.attached.remove(member)

    def broadcast(self, event):
        self.broadcasts += 1
        for member in self.attached:
            self.inboxes.setdefault(member.connection, []).append(event)

    def send(self, event, member):
        self.inboxes.setdefault(member.connection, []).append(event)

    def shutdown(self, event):
        self.shutdowns.append(event)
        return defer.succeed(None)

    def take(self, connection: str) -> list:
        return self.inboxes.pop(connection, [])


@pytest.fixture
def door() -> RecordingDoor:
    return RecordingDoor()


@pytest.fixture
def service(door) -> ChatService:
    service = ChatService(Catalog("pt"))
    service.add_door(door)
    return service


def _join(service, door, nick):
    member = service.join(nick, door, nick, "127.0.0.1", 1234)
    return member


def test_recording_door_provides_idoor(door):
    """The test double honours the door interface the core relies on."""
    assert verifyObject(IDoor, door)


def test_join_announced_to_everyone_including_newcomer(service, door):
    """A newcomer is announced to every member, itself included."""
    _join(service, door, "ana")
    door.take("ana")
    _join(service, door, "bia")
    assert door.take("ana") == door.take("bia") == [events.Joined("bia")]


def test_each_event_broadcast_once_per_door(service, door):
    """A public line is handed to each door once, whatever the number of members."""
    members = [_join(service, door, f"m{i}") for i in range(10)]
    door.broadcasts = 0
    service.say(members[0], "oi")
    assert door.broadcasts == 1


def test_leave_twice_announces_once(service, door):
    """Leaving is idempotent: a member leaves, and is announced, once."""
    _join(service, door, "ana")
    bia = _join(service, door, "bia")
    door.inboxes.clear()
    service.leave(bia)
    service.leave(bia)
    assert door.take("ana") == [events.Left("bia")]
    assert door.take("bia") == []


def test_stale_member_cannot_remove_new_holder(service, door):
    """A member that already left cannot remove whoever took its nickname since."""
    old = _join(service, door, "ana")
    service.leave(old)
    new = service.join("ANA", door, "other", "127.0.0.1", 1)
    service.leave(old)
    assert service.members == {"ana": new}


def test_whisper_reaches_only_the_two(service, door):
    """A private message is delivered to its recipient and echoed to its sender only."""
    ana = _join(service, door, "ana")
    _join(service, door, "bia")
    _join(service, door, "cid")
    door.inboxes.clear()
    service.whisper(ana, "Bia", "segredo")
    assert door.take("bia") == [events.PrivateReceived("ana", "segredo")]
    assert door.take("ana") == [events.PrivateSent("bia", "segredo")]
    assert door.take("cid") == []


def test_errors_name_catalog_messages(service, door):
    """Refusals carry a catalog message id and its fields."""
    ana = _join(service, door, "ana")
    with pytest.raises(ChatError) as taken:
        service.join("Ana", door, "x", "127.0.0.1", 1)
    assert (taken.value.msgid, taken.value.fields) == ("err-nick-taken", {"nick": "Ana"})
    with pytest.raises(ChatError) as absent:
        service.whisper(ana, "zé", "oi")
    assert absent.value.msgid == "err-no-such-nick"
    with pytest.raises(ChatError) as invalid:
        service.rename(ana, "a b")
    assert invalid.value.msgid == "err-nick-chars"


def test_every_member_sees_the_same_order(service, door):
    """Interleaved messages from several senders reach every member in one total order."""
    members = [_join(service, door, f"m{i}") for i in range(4)]
    door.inboxes.clear()
    for round_ in range(5):
        for member in members:
            service.say(member, str(round_))
    sequences = [door.take(f"m{i}") for i in range(4)]
    assert all(seq == sequences[0] for seq in sequences)
    assert len(sequences[0]) == 20


def test_every_door_gets_every_broadcast(service, door):
    """Members behind different doors see each other's messages."""
    other = RecordingDoor()
    service.add_door(other)
    ana = _join(service, door, "ana")
    service.join("bia", other, "bia", "127.0.0.1", 2)
    door.inboxes.clear()
    other.inboxes.clear()
    service.say(ana, "oi")
    assert other.take("bia") == [events.Said("ana", "oi")]


def test_stop_tells_every_door_and_silences_leaves(service, door):
    """Stopping the service tells each door to shut down; the leaves it causes are not announced."""
    ana = _join(service, door, "ana")
    _join(service, door, "bia")
    door.inboxes.clear()
    stopped = service.stopService()
    assert door.shutdowns == [events.ShuttingDown()]
    service.leave(ana)
    assert door.take("bia") == []
    assert stopped.called


def test_quiet_above_limits_join_and_leave_notices(door):
    """In a room larger than --quiet-above, only the newcomer sees its join; leaves are silent."""
    service = ChatService(Catalog("pt"), quiet_above=2)
    service.add_door(door)
    _join(service, door, "ana")
    _join(service, door, "bia")
    door.inboxes.clear()
    cid = _join(service, door, "cid")
    assert door.take("cid") == [events.Joined("cid")]
    assert door.take("ana") == door.take("bia") == []
    service.leave(cid)
    assert door.take("ana") == []
    bia = service.members["bia"]
    service.leave(bia)
    assert door.take("ana") == [events.Left("bia")]
