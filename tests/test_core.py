"""Tests for littlecats.core: members, rooms and who is told what, with no door and no sockets."""

from __future__ import annotations

import pytest
from twisted.internet import defer
from twisted.python.failure import Failure
from zope.interface import implementer
from zope.interface.verify import verifyObject

from littlecats.core import ChatError, ChatService, Member, Room, SessionId, events
from littlecats.core.events import Envelope
from littlecats.core.interfaces import IBackend, IDoor, ISession
from littlecats.core.local import LocalBackend
from littlecats.messages import Catalog

# Doubles


@implementer(IDoor)
class RecordingDoor:
    """A door that records, per session, every event it would have delivered."""

    def __init__(self) -> None:
        # An ordered set of subscribers per room key (None: the whole server).
        self.subscriptions: dict[str | None, dict[SessionId, None]] = {}
        self.inboxes: dict[SessionId, list] = {}
        self.published: list[Envelope] = []
        self.shutdowns: list = []

    def subscribe(self, room, session):
        self.subscriptions.setdefault(room, {})[session] = None

    def unsubscribe(self, room, session):
        self.subscriptions.get(room, {}).pop(session, None)

    def publish(self, envelope):
        self.published.append(envelope)
        for session in self.subscriptions.get(envelope.room, {}):
            if session != envelope.exclude:
                self.inboxes.setdefault(session, []).append(envelope.event)

    def send(self, session, event):
        self.inboxes.setdefault(session, []).append(event)

    def shutdown(self, event):
        self.shutdowns.append(event)
        return defer.succeed(None)

    def take(self, session: SessionId) -> list:
        """What C{session} was delivered since the last take."""
        return self.inboxes.pop(session, [])

    def clear(self) -> None:
        self.inboxes.clear()

    def subscribed(self, room: str | None, session: SessionId) -> bool:
        return session in self.subscriptions.get(room, {})


@implementer(ISession)
class FakeSession:
    """One connection as the core sees it; records what the core asks of it."""

    def __init__(self, service: ChatService, door: RecordingDoor, port: int) -> None:
        self.id = service.new_session_id()
        self.door = door
        self.host = "127.0.0.1"
        self.port = port
        self.closes: list[str] = []

    def close(self, reason=""):
        self.closes.append(reason)


class RecordingBackend(LocalBackend):
    """The in-process backend, noting every event it hands back to the core."""

    def __init__(self) -> None:
        super().__init__()
        self.handed: list = []

    def publish(self, envelope):
        self.handed.append(envelope.event)
        super().publish(envelope)

    def unicast(self, to, event):
        self.handed.append(event)
        super().unicast(to, event)


class HoldingBackend(LocalBackend):
    """A backend that, while C{holding}, keeps published envelopes until the test hands them
    back: a bus that has not answered yet."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = False
        self.held: list[Envelope] = []

    def publish(self, envelope):
        if self.holding:
            self.held.append(envelope)
        else:
            super().publish(envelope)

    def hand_back(self) -> None:
        held, self.held = self.held, []
        for envelope in held:
            super().publish(envelope)


class SlowClaimBackend(LocalBackend):
    """A backend whose nickname claims are answered only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.slow = True
        self.pending: list[tuple[str, SessionId, defer.Deferred]] = []
        self.released: list[tuple[str, SessionId]] = []

    def claim(self, key, owner):
        if not self.slow:
            return super().claim(key, owner)
        answer: defer.Deferred[bool] = defer.Deferred()
        self.pending.append((key, owner, answer))
        return answer

    def answer(self, ok: bool) -> None:
        key, owner, answer = self.pending.pop(0)
        if ok:
            self.claims[key] = owner
        answer.callback(ok)

    def release(self, key, owner):
        self.released.append((key, owner))
        super().release(key, owner)


# Helpers


def entered(joining):
    """The room a join_room Deferred fired with (the in-process backend fires at once)."""
    results: list = []
    joining.addBoth(results.append)
    (room,) = results
    assert isinstance(room, Room), room
    return room


def outcome(d: defer.Deferred) -> object:
    """The result (or Failure) a Deferred has already fired with."""
    results: list = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def refusal(d: defer.Deferred) -> ChatError:
    """The ChatError a Deferred has already failed with."""
    failure = outcome(d)
    assert isinstance(failure, Failure), failure
    assert isinstance(failure.value, ChatError), failure
    return failure.value


class Chat:
    """A ChatService with one recording door, and its sessions."""

    def __init__(self, quiet_above: int = 0, backend: IBackend | None = None) -> None:
        self.service = ChatService(Catalog("pt"), quiet_above=quiet_above, backend=backend)
        self.door = RecordingDoor()
        self.service.add_door(self.door)
        self._ports = iter(range(1000, 2000))

    def session(self, door: RecordingDoor | None = None) -> FakeSession:
        """A new connection, opened but not yet in the chat."""
        session = FakeSession(self.service, door or self.door, next(self._ports))
        self.service.open(session)
        return session

    def connect(self, nick: str, door: RecordingDoor | None = None) -> Member:
        """A new connection that entered the chat as C{nick}."""
        member = outcome(self.service.connect(self.session(door), nick))
        assert isinstance(member, Member), member
        return member

    def take(self, member: Member) -> list:
        return self.door.take(member.session)

    def clear(self) -> None:
        self.door.clear()


@pytest.fixture
def chat() -> Chat:
    return Chat()


def in_room(chat: Chat, room: str, *nicks: str) -> list[Member]:
    """Members C{nicks}, connected and in C{room} (and the lobby), with their inboxes empty."""
    members = [chat.connect(nick) for nick in nicks]
    for member in members:
        chat.service.join_room(member, room)
    chat.clear()
    return members


def test_doubles_honour_the_interfaces(chat):
    """The door and session doubles provide what the core relies on, and the door leaves out
    an envelope's excluded session."""
    session = chat.session()
    assert verifyObject(IDoor, chat.door)
    assert verifyObject(ISession, session)
    other = chat.session()
    chat.door.subscribe("#r", session.id)
    chat.door.subscribe("#r", other.id)
    chat.door.publish(Envelope(events.Said("#r", "x", "oi"), "#r", exclude=other.id))
    assert chat.door.take(session.id) == [events.Said("#r", "x", "oi")]
    assert chat.door.take(other.id) == []


# Connecting and leaving


def test_connect_announced_to_everyone_including_newcomer(chat):
    """A newcomer's arrival is told to every member, itself included."""
    ana = chat.connect("ana")
    assert chat.take(ana) == [events.Connected(ana.session, "ana", "ana", ana.host, ana.port)]
    bia = chat.connect("bia")
    expected = [events.Connected(bia.session, "bia", "bia", "127.0.0.1", bia.port)]
    assert chat.take(ana) == expected
    assert chat.take(bia) == expected


def test_connect_lands_in_the_lobby_silently(chat):
    """A newcomer is in the lobby at once, and nobody is told of it beyond the arrival."""
    ana = chat.connect("ana")
    bia = chat.connect("bia")
    lobby = chat.service.rooms["#lobby"]
    assert list(lobby.members) == [ana.session, bia.session]
    assert list(bia.rooms) == ["#lobby"]
    assert chat.door.subscribed("#lobby", bia.session)
    delivered = chat.take(ana) + chat.take(bia)
    assert not any(isinstance(event, events.RoomJoined) for event in delivered)
    chat.service.say(ana, lobby, "oi")
    assert chat.take(bia) == [events.Said("#lobby", "ana", "oi")]


@pytest.mark.parametrize(
    ("nick", "msgid", "fields"),
    [
        ("a b", "err-nick-chars", {}),
        ("  ", "err-nick-empty", {}),
        ("x" * 25, "err-nick-long", {"max": 24}),
        ("Ana", "err-nick-taken", {"nick": "Ana"}),
        (" ANA ", "err-nick-taken", {"nick": "ANA"}),
    ],
)
def test_connect_refusals_name_catalog_messages(chat, nick, msgid, fields):
    """An invalid nickname, or one taken in any case, fails with the catalog message saying
    why, and nobody hears of the attempt."""
    ana = chat.connect("ana")
    chat.clear()
    session = chat.session()
    error = refusal(chat.service.connect(session, nick))
    assert (error.msgid, error.fields) == (msgid, fields)
    assert chat.take(ana) == []
    assert chat.door.take(session.id) == []
    assert list(chat.service.members) == ["ana"]


def test_nickname_freed_by_leaving_can_be_taken_in_another_case(chat):
    """Once its holder leaves, a nickname is free again, in any spelling of its case."""
    ana = chat.connect("ana")
    chat.service.disconnect(ana.session)
    again = chat.connect("ANA")
    assert chat.service.members == {"ana": again}
    assert again.nick == "ANA"


def test_disconnect_twice_announces_once(chat):
    """Leaving is idempotent: a member leaves, and is announced, once, with its reason."""
    ana = chat.connect("ana")
    bia = chat.connect("bia")
    chat.clear()
    chat.service.disconnect(bia.session, "tchau")
    chat.service.disconnect(bia.session, "tchau")
    assert chat.take(ana) == [events.Disconnected(bia.session, "bia", "tchau", rooms=("#lobby",))]
    assert chat.take(bia) == []
    assert list(chat.service.members) == ["ana"]
    assert list(chat.service.rooms["#lobby"].members) == [ana.session]


def test_stale_session_cannot_affect_new_holder_of_its_nickname(chat):
    """A closed session, and the member it was, can no longer remove, close or rename whoever
    took its nickname since."""
    old_session = chat.session()
    old = outcome(chat.service.connect(old_session, "ana"))
    chat.service.closed(old_session)
    bia = chat.connect("bia")
    new = chat.connect("ANA")
    new_session = chat.service.sessions[new.session]
    chat.clear()
    chat.service.disconnect(old.session)
    chat.service.closed(old_session)
    chat.service.close_session(old.session, "kick")
    assert outcome(chat.service.rename(old, "zed")) is None
    with pytest.raises(ChatError):
        chat.service.say(old, chat.service.rooms["#lobby"], "oi")
    assert chat.service.members == {"ana": new, "bia": bia}
    assert new.nick == "ANA" and "#lobby" in new.rooms
    assert new_session.closes == [] and old_session.closes == []
    assert chat.take(bia) == [] and chat.take(new) == []
    assert isinstance(chat.connect("zed"), Member)


def test_late_leave_cannot_remove_new_holder_of_its_nickname():
    """A leave the backend hands back only after someone else took the nickname removes the
    one who left, not the new holder."""
    backend = HoldingBackend()
    chat = Chat(backend=backend)
    old = chat.connect("ana")
    bia = chat.connect("bia")
    backend.holding = True
    chat.service.disconnect(old.session)
    backend.holding = False
    new = chat.connect("Ana")
    chat.clear()
    backend.hand_back()
    assert chat.service.members == {"bia": bia, "ana": new}
    assert chat.service.by_session[new.session] is new
    assert chat.take(bia) == [events.Disconnected(old.session, "ana", rooms=("#lobby",))]
    assert refusal(chat.service.connect(chat.session(), "ANA")).msgid == "err-nick-taken"


def test_close_session_closes_the_local_session(chat):
    """Ending a member's connection asks its session to close, with the reason; an unknown
    session is ignored."""
    ana_session = chat.session()
    outcome(chat.service.connect(ana_session, "ana"))
    bia = chat.connect("bia")
    chat.service.close_session(ana_session.id, "kicked")
    chat.service.close_session(SessionId(0, 999), "kicked")
    assert ana_session.closes == ["kicked"]
    assert chat.service.sessions[bia.session].closes == []


def test_rename_is_told_to_everyone_and_frees_the_old_nickname(chat):
    """A new nickname is announced to everyone; the old one is free, the new one taken."""
    ana = chat.connect("ana")
    bia = chat.connect("bia")
    chat.clear()
    assert outcome(chat.service.rename(ana, "Cat")) is None
    expected = [events.Renamed(ana.session, "ana", "Cat", "cat")]
    assert chat.take(ana) == chat.take(bia) == expected
    assert chat.service.members == {"cat": ana, "bia": bia}
    assert refusal(chat.service.rename(bia, "CAT")).msgid == "err-nick-taken"
    assert refusal(chat.service.rename(ana, "Cat")).msgid == "err-nick-same"
    assert isinstance(chat.connect("ana"), Member)


# Rooms


def test_join_room_creates_it_and_tells_its_members_and_the_mover(chat):
    """Entering a room creates it; its members, the mover included, are told; others not."""
    ana, bia, cid = (chat.connect(nick) for nick in ("ana", "bia", "cid"))
    chat.clear()
    room = entered(chat.service.join_room(ana, "#gatos"))
    assert chat.service.rooms["#gatos"] is room
    assert (room.name, list(room.members)) == ("#gatos", [ana.session])
    assert chat.take(ana) == [events.RoomJoined("#gatos", ana.session, "ana")]
    assert chat.take(bia) == chat.take(cid) == []
    chat.service.join_room(bia, "#gatos")
    expected = [events.RoomJoined("#gatos", bia.session, "bia")]
    assert chat.take(ana) == chat.take(bia) == expected
    assert chat.take(cid) == []
    with pytest.raises(ChatError) as already:
        chat.service.join_room(bia, "#Gatos")
    assert (already.value.msgid, already.value.fields) == (
        "err-already-in-room",
        {"room": "#gatos"},
    )


def test_part_room_tells_only_those_left_behind(chat):
    """Leaving a room is told to the members who stay, not the mover, and the mover hears
    the room no more."""
    ana, bia, cid = in_room(chat, "#gatos", "ana", "bia", "cid")
    room = chat.service.rooms["#gatos"]
    chat.service.part_room(cid, room)
    expected = [events.RoomLeft("#gatos", cid.session, "cid")]
    assert chat.take(ana) == chat.take(bia) == expected
    assert chat.take(cid) == []
    assert "#gatos" not in cid.rooms and cid.session not in room.members
    chat.service.say(ana, room, "oi")
    assert chat.take(cid) == []
    with pytest.raises(ChatError) as absent:
        chat.service.part_room(cid, room)
    assert (absent.value.msgid, absent.value.fields) == ("err-not-in-room", {"room": "#gatos"})


def test_rooms_vanish_when_empty(chat):
    """A room exists while it has members: the last one out, by parting or leaving the chat,
    takes it away."""
    ana, bia = in_room(chat, "#gatos", "ana", "bia")
    room = chat.service.rooms["#gatos"]
    chat.service.part_room(ana, room)
    assert "#gatos" in chat.service.rooms
    chat.service.disconnect(bia.session)
    assert "#gatos" not in chat.service.rooms
    assert [r.name for r in chat.service.room_list()] == ["#lobby"]
    chat.service.disconnect(ana.session)
    assert chat.service.rooms == {}
    with pytest.raises(ChatError) as gone:
        chat.service.room("#gatos")
    assert gone.value.msgid == "err-no-such-room"


@pytest.mark.parametrize(
    ("raw", "msgid", "fields"),
    [
        ("gatos", "err-room-hash", {}),
        ("#", "err-room-empty", {}),
        ("#" + "x" * 33, "err-room-long", {"max": 32}),
        ("#ga tos", "err-room-chars", {}),
        ("#gatos!", "err-room-chars", {}),
    ],
)
def test_bad_room_names_are_refused(chat, raw, msgid, fields):
    """A room name breaking a rule is refused with the catalog message saying which."""
    ana = chat.connect("ana")
    with pytest.raises(ChatError) as refused:
        chat.service.join_room(ana, raw)
    assert (refused.value.msgid, refused.value.fields) == (msgid, fields)
    assert list(chat.service.rooms) == ["#lobby"]


def test_room_names_are_unique_ignoring_case_and_keep_the_first_spelling(chat):
    """`#Gatos` and `#gatos` are one room, shown as its first member spelled it."""
    ana = chat.connect("ana")
    bia = chat.connect("bia")
    chat.clear()
    first = entered(chat.service.join_room(ana, "#Gatos"))
    assert entered(chat.service.join_room(bia, "#gatos")) is first
    assert chat.service.room("#GATOS") is first
    assert first.name == "#Gatos"
    assert chat.take(bia) == [events.RoomJoined("#Gatos", bia.session, "bia")]
    assert [r.name for r in chat.service.room_list()] == ["#Gatos", "#lobby"]


def test_room_list_biggest_first_then_by_name(chat):
    """The room list shows the busiest rooms first, equal ones by name."""
    ana, bia, cid, dan = (chat.connect(nick) for nick in ("ana", "bia", "cid", "dan"))
    for member, room in [(ana, "#a"), (bia, "#a"), (cid, "#a"), (ana, "#c"), (dan, "#c")]:
        chat.service.join_room(member, room)
    chat.service.join_room(cid, "#d")
    chat.service.join_room(bia, "#b")
    names = [room.name for room in chat.service.room_list()]
    assert names == ["#lobby", "#a", "#c", "#b", "#d"]


def test_member_in_several_rooms_hears_each(chat):
    """A member in two rooms hears both, in the order things were said; each room's other
    members hear only their own."""
    ana, bia, cid = (chat.connect(nick) for nick in ("ana", "bia", "cid"))
    a = entered(chat.service.join_room(ana, "#a"))
    b = entered(chat.service.join_room(ana, "#b"))
    chat.service.join_room(bia, "#a")
    chat.service.join_room(cid, "#b")
    chat.clear()
    chat.service.say(bia, a, "1")
    chat.service.say(cid, b, "2")
    chat.service.act(ana, a, "3")
    chat.service.say(ana, b, "4")
    assert chat.take(ana) == [
        events.Said("#a", "bia", "1"),
        events.Said("#b", "cid", "2"),
        events.Acted("#a", "ana", "3"),
        events.Said("#b", "ana", "4"),
    ]
    assert chat.take(bia) == [events.Said("#a", "bia", "1"), events.Acted("#a", "ana", "3")]
    assert chat.take(cid) == [events.Said("#b", "cid", "2"), events.Said("#b", "ana", "4")]


# Messages


def test_say_and_act_reach_the_room_in_one_order(chat):
    """Interleaved lines and actions reach every member of the room, senders included, in
    one order; members elsewhere hear none of it."""
    members = in_room(chat, "#gatos", "ana", "bia", "cid")
    outsider = chat.connect("dan")
    chat.clear()
    room = chat.service.rooms["#gatos"]
    for round_ in range(3):
        for member in members:
            chat.service.say(member, room, f"{round_}")
        chat.service.act(members[round_], room, "mia")
    inboxes = [chat.take(member) for member in members]
    assert len(inboxes[0]) == 12
    assert inboxes[0][:4] == [
        events.Said("#gatos", "ana", "0"),
        events.Said("#gatos", "bia", "0"),
        events.Said("#gatos", "cid", "0"),
        events.Acted("#gatos", "ana", "mia"),
    ]
    assert inboxes[1] == inboxes[0] and inboxes[2] == inboxes[0]
    assert chat.take(outsider) == []
    with pytest.raises(ChatError) as absent:
        chat.service.say(outsider, room, "oi")
    assert absent.value.msgid == "err-not-in-room"


def test_topic_is_set_and_told_to_the_room(chat):
    """Setting a topic changes the room's topic and its members see who set it to what."""
    ana, bia = in_room(chat, "#gatos", "ana", "bia")
    outsider = chat.connect("cid")
    chat.clear()
    room = chat.service.rooms["#gatos"]
    chat.service.set_topic(bia, room, "miau " * 60)
    assert room.topic == "miau " * 60
    expected = [events.TopicSet("#gatos", "bia", "miau " * 60)]
    assert chat.take(ana) == chat.take(bia) == expected
    assert chat.take(outsider) == []


def test_topic_too_long_is_refused(chat):
    """A topic over 300 characters is refused with err-topic-long and changes nothing."""
    ana, bia = in_room(chat, "#gatos", "ana", "bia")
    room = chat.service.rooms["#gatos"]
    with pytest.raises(ChatError) as long_:
        chat.service.set_topic(ana, room, "x" * 301)
    assert (long_.value.msgid, long_.value.fields) == ("err-topic-long", {"max": 300})
    assert room.topic == ""
    assert chat.take(ana) == chat.take(bia) == []


def test_whisper_reaches_only_the_two(chat):
    """A private message reaches its recipient, found in any case, and is echoed to its
    sender only."""
    ana, bia, cid = (chat.connect(nick) for nick in ("ana", "bia", "cid"))
    chat.clear()
    published = len(chat.door.published)
    assert outcome(chat.service.whisper(ana, " BIA ", "segredo")) is None
    assert chat.take(bia) == [events.PrivateReceived("ana", "segredo")]
    assert chat.take(ana) == [events.PrivateSent("bia", "segredo")]
    assert chat.take(cid) == []
    assert len(chat.door.published) == published


def test_whisper_to_unknown_nickname_is_refused(chat):
    """A private message to nobody fails with err-no-such-nick naming the nickname."""
    ana = chat.connect("ana")
    chat.clear()
    error = refusal(chat.service.whisper(ana, " zé ", "oi"))
    assert (error.msgid, error.fields) == ("err-no-such-nick", {"nick": "zé"})
    assert chat.take(ana) == []


def test_whisper_to_a_nickname_still_being_claimed_is_refused(chat):
    """A nickname claimed by someone who has not entered the chat yet (the claim answered,
    the arrival not yet delivered) cannot be whispered to."""
    ana = chat.connect("ana")
    chat.clear()
    chat.service.backend.claims["zoe"] = SessionId(1, 7)
    assert refusal(chat.service.whisper(ana, "zoe", "oi")).msgid == "err-no-such-nick"
    assert chat.take(ana) == []


# --quiet-above


def test_quiet_above_limits_connect_and_leave_notices_by_everyone_connected():
    """With more people connected than --quiet-above, only the newcomer hears its arrival
    and leaves are silent; at or below it, everyone hears."""
    chat = Chat(quiet_above=2)
    ana, bia = chat.connect("ana"), chat.connect("bia")
    assert chat.take(ana) == [
        events.Connected(ana.session, "ana", "ana", ana.host, ana.port),
        events.Connected(bia.session, "bia", "bia", bia.host, bia.port),
    ]
    chat.clear()
    cid = chat.connect("cid")
    assert chat.take(cid) == [
        events.Connected(cid.session, "cid", "cid", cid.host, cid.port, events.SELF)
    ]
    assert chat.take(ana) == chat.take(bia) == []
    chat.service.disconnect(cid.session)
    assert chat.take(ana) == chat.take(bia) == []
    chat.service.disconnect(bia.session)
    assert chat.take(ana) == [events.Disconnected(bia.session, "bia", rooms=("#lobby",))]


def test_quiet_above_limits_room_notices_by_the_room():
    """In a room bigger than --quiet-above, only the mover hears its joining and nobody its
    parting, however few are connected elsewhere; a small room hears both."""
    chat = Chat(quiet_above=2)
    ana, bia = in_room(chat, "#gatos", "ana", "bia")
    cid = chat.connect("cid")
    chat.clear()
    room = entered(chat.service.join_room(cid, "#gatos"))
    assert chat.take(cid) == [events.RoomJoined("#gatos", cid.session, "cid", events.SELF)]
    assert chat.take(ana) == chat.take(bia) == []
    chat.service.part_room(cid, room)
    assert chat.take(ana) == chat.take(bia) == chat.take(cid) == []
    chat.service.part_room(bia, room)
    assert chat.take(ana) == [events.RoomLeft("#gatos", bia.session, "bia")]


# Stopping


def test_stop_tells_every_door_and_silences_leaves(chat):
    """Stopping tells every door to shut down; the leaves it causes are not announced, but
    do happen."""
    other = RecordingDoor()
    chat.service.add_door(other)
    ana = chat.connect("ana")
    bia = chat.connect("bia", door=other)
    chat.clear()
    other.clear()
    stopped = chat.service.stopService()
    assert chat.door.shutdowns == other.shutdowns == [events.ShuttingDown()]
    assert outcome(stopped) is None
    chat.service.disconnect(ana.session)
    assert other.take(bia.session) == [] and chat.take(ana) == []
    assert list(chat.service.members) == ["bia"]


def test_members_behind_different_doors_hear_each_other(chat):
    """A line said in a room reaches its members whatever door they came in by."""
    other = RecordingDoor()
    chat.service.add_door(other)
    ana = chat.connect("ana")
    bia = chat.connect("bia", door=other)
    chat.clear()
    other.clear()
    chat.service.say(ana, chat.service.rooms["#lobby"], "oi")
    assert other.take(bia.session) == chat.take(ana) == [events.Said("#lobby", "ana", "oi")]


# The backend seam


def test_every_delivered_event_comes_back_from_the_backend():
    """Whatever a door delivers is an event the backend handed back to the core."""
    backend = RecordingBackend()
    chat = Chat(quiet_above=2, backend=backend)
    ana, bia, cid = (chat.connect(nick) for nick in ("ana", "bia", "cid"))
    room = entered(chat.service.join_room(ana, "#gatos"))
    chat.service.join_room(bia, "#gatos")
    chat.service.say(ana, room, "oi")
    chat.service.set_topic(bia, room, "t")
    outcome(chat.service.whisper(cid, "ana", "psst"))
    outcome(chat.service.rename(cid, "cat"))
    chat.service.part_room(bia, room)
    chat.service.disconnect(ana.session)
    delivered = [event for inbox in chat.door.inboxes.values() for event in inbox]
    assert len(delivered) > 10
    assert all(any(event is handed for handed in backend.handed) for event in delivered)


def test_join_waits_for_the_backend():
    """Entering a room changes nothing, and tells nobody, until the backend hands the event
    back; then the mover is in, subscribed, and the room hears it."""
    backend = HoldingBackend()
    chat = Chat(backend=backend)
    (bia,) = in_room(chat, "#gatos", "bia")
    ana = chat.connect("ana")
    chat.clear()
    backend.holding = True
    room = chat.service.rooms["#gatos"]
    joining = chat.service.join_room(ana, "#gatos")
    assert not joining.called
    assert ana.session not in room.members and "#gatos" not in ana.rooms
    assert not chat.door.subscribed("#gatos", ana.session)
    assert chat.take(ana) == chat.take(bia) == []
    backend.hand_back()
    assert entered(joining) is room
    assert list(room.members) == [bia.session, ana.session] and ana.rooms["#gatos"] is room
    assert chat.door.subscribed("#gatos", ana.session)
    expected = [events.RoomJoined("#gatos", ana.session, "ana")]
    assert chat.take(ana) == chat.take(bia) == expected


def test_join_new_room_waits_for_the_backend():
    """Creating a room by entering it waits for the backend too, and then the room exists
    with the mover in it."""
    backend = HoldingBackend()
    chat = Chat(backend=backend)
    ana = chat.connect("ana")
    chat.clear()
    backend.holding = True
    joining = chat.service.join_room(ana, "#gatos")
    assert "#gatos" not in chat.service.rooms and chat.take(ana) == []
    assert not joining.called
    backend.hand_back()
    assert entered(joining) is chat.service.rooms["#gatos"]
    assert list(chat.service.rooms["#gatos"].members) == [ana.session]
    assert chat.take(ana) == [events.RoomJoined("#gatos", ana.session, "ana")]


def test_part_say_and_disconnect_wait_for_the_backend():
    """Parting, speaking and leaving take effect only when the backend hands them back, and
    a leave published twice meanwhile is still announced once."""
    backend = HoldingBackend()
    chat = Chat(backend=backend)
    ana, bia, cid = in_room(chat, "#gatos", "ana", "bia", "cid")
    room = chat.service.rooms["#gatos"]
    backend.holding = True
    chat.service.say(ana, room, "oi")
    chat.service.part_room(bia, room)
    chat.service.disconnect(cid.session)
    chat.service.disconnect(cid.session)
    assert list(room.members) == [ana.session, bia.session, cid.session]
    assert "cid" in chat.service.members
    assert chat.take(ana) == []
    backend.hand_back()
    assert list(room.members) == [ana.session]
    assert "cid" not in chat.service.members
    assert chat.take(ana) == [
        events.Said("#gatos", "ana", "oi"),
        events.RoomLeft("#gatos", bia.session, "bia"),
        events.Disconnected(cid.session, "cid", rooms=("#lobby", "#gatos")),
    ]


def test_connect_waits_for_the_backend_to_deliver():
    """Entering the chat completes when the backend hands the arrival back, not before."""
    backend = HoldingBackend()
    chat = Chat(backend=backend)
    backend.holding = True
    session = chat.session()
    results: list = []
    chat.service.connect(session, "ana").addBoth(results.append)
    if results and isinstance(results[0], Failure):
        results[0].raiseException()
    assert results == []
    backend.hand_back()
    assert results == [chat.service.members["ana"]]


def test_connect_waits_for_the_nickname_claim():
    """A connect whose nickname claim is unanswered stays pending, and nobody is told,
    until the claim succeeds."""
    backend = SlowClaimBackend()
    chat = Chat(backend=backend)
    session = chat.session()
    pending = chat.service.connect(session, "Ana")
    assert not pending.called
    assert chat.service.members == {} and chat.door.take(session.id) == []
    backend.answer(True)
    member = outcome(pending)
    assert chat.service.members == {"ana": member}
    assert chat.door.take(session.id) == [
        events.Connected(session.id, "Ana", "ana", session.host, session.port)
    ]


def test_refused_claim_fails_connect():
    """A claim the backend refuses fails the connect with err-nick-taken."""
    backend = SlowClaimBackend()
    chat = Chat(backend=backend)
    session = chat.session()
    pending = chat.service.connect(session, "Ana")
    backend.answer(False)
    error = refusal(pending)
    assert (error.msgid, error.fields) == ("err-nick-taken", {"nick": "Ana"})
    assert chat.service.members == {}


def test_session_closed_while_claiming_gives_the_nickname_back():
    """A connection that closes before its claim is answered never enters the chat, and the
    nickname it won is released."""
    backend = SlowClaimBackend()
    chat = Chat(backend=backend)
    backend.slow = False
    watcher = chat.connect("bia")
    backend.slow = True
    chat.clear()
    session = chat.session()
    pending = chat.service.connect(session, "ana")
    chat.service.closed(session)
    backend.answer(True)
    assert refusal(pending).msgid == "err-nick-taken"
    assert backend.released == [("ana", session.id)] and "ana" not in backend.claims
    assert list(chat.service.members) == ["bia"]
    assert chat.take(watcher) == []


def test_session_ids_name_node_and_number_and_travel_as_ints():
    """A session id tells its node and number, is unique across nodes, and is a plain int on
    the wire (JSON, a Redis field)."""
    import json

    here, there = SessionId(0, 7), SessionId(3, 7)
    assert (here.node, here.number, there.node, there.number) == (0, 7, 3, 7)
    assert here != there and str(there) == "3/7"
    assert json.loads(json.dumps({"to": there}))["to"] == there
    with pytest.raises(ValueError):
        SessionId(0, -1)
