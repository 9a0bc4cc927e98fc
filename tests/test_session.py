"""
Tests for littlecats.session: the lifecycle every door shares, seen through the telnet door.

The chat's answers are made to wait here (a backend whose nickname claims the test answers),
to show what a user sees while the server waits for an asynchronous answer, as it will for a
database login or a cluster-wide nickname claim.
"""

from __future__ import annotations

from twisted.internet import defer

from littlecats.core.local import LocalBackend
from littlecats.session import State
from tests.helpers import Harness


class SlowClaims(LocalBackend):
    """Nickname claims wait until the test answers them."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[tuple[str, object, defer.Deferred]] = []

    def claim(self, key, owner):
        answer: defer.Deferred[bool] = defer.Deferred()
        self.pending.append((key, owner, answer))
        return answer

    def answer(self, ok: bool = True) -> None:
        key, owner, answer = self.pending.pop(0)
        if ok:
            self.claims[key] = owner
        answer.callback(ok)


def test_lines_typed_while_the_nickname_is_claimed_wait_in_order():
    """Lines typed while the server checks a nickname are kept, then handled in order."""
    backend = SlowClaims()
    chat = Harness(backend=backend)
    ana = chat.connect()
    ana.raw()
    ana.send("ana\r\nolá\r\n/me acena\r\n")
    assert ana.session.state is State.WAITING
    assert ana.lines() == []
    backend.answer()
    assert ana.session.state is State.CHAT
    assert ana.lines() == [
        "*** O cliente ana entrou no chat dos Little Cats.",
        "<ana> olá",
        "* ana acena",
    ]


def test_a_refused_claim_asks_again_and_the_next_line_is_the_next_try():
    """When the claim is refused, the line typed meanwhile is the next nickname tried."""
    backend = SlowClaims()
    chat = Harness(backend=backend)
    ana = chat.connect()
    ana.raw()
    ana.send("ana\r\nbia\r\n")
    backend.answer(ok=False)
    assert ana.lines() == ["!!! O apelido ana já está em uso.", "Escolha seu apelido:"]
    assert ana.session.state is State.WAITING  # now claiming "bia"
    backend.answer()
    assert ana.lines() == ["*** O cliente bia entrou no chat dos Little Cats."]


def test_flooding_while_waiting_is_still_bounded():
    """The receive-queue bound holds while the session waits: a flood is cut, not stored."""
    backend = SlowClaims()
    chat = Harness(backend=backend, max_recvq=1000)
    ana = chat.connect()
    ana.raw()
    ana.send(b"ana\r\n" + b"x" * 50 + b"\r\n" * 100)
    assert (
        ana.lines()[-1] == "!!! Mensagens demais em pouco tempo (flood); a conexão será encerrada."
    )
    assert ana.closed


def test_leaving_while_the_claim_is_pending_frees_the_nickname():
    """A connection that drops while its nickname is being claimed never joins, and the
    nickname is free again once the claim comes back."""
    backend = SlowClaims()
    chat = Harness(backend=backend)
    bia = chat.connect()
    bia.send("ana\r\n")
    bia.drop()
    backend.answer()
    assert backend.claims == {}
    assert chat.service.members == {}


def test_finish_releases_everything_once():
    """However a connection ends, its per-IP slot is released exactly once."""
    chat = Harness()
    ana = chat.join("ana")
    ana.line("/quit")
    ana.close_if_asked()
    ana.drop()  # a second connectionLost changes nothing
    assert chat.service.limiter.total == 0
    assert chat.service.sessions == {}
    assert chat.factory.door.sessions == {}
