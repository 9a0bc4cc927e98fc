"""
Hardening, through the telnet door: send queues, flood control, nickname timeout, connection
limits and shutdown, with time driven by MemoryReactorClock (no real sleeping).
"""

from __future__ import annotations

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs

from littlecats.session import CLOSE_GRACE_SECONDS, Session
from tests.helpers import Harness

FLOOD = "!!! Mensagens demais em pouco tempo (flood); a conexão será encerrada."


class TestSendQueue:
    def test_slow_reader_dropped_and_announced(self):
        """A client that stops reading is dropped once its queue passes --max-sendq; everyone
        else sees the normal leave notice and keeps chatting."""
        chat = Harness(max_sendq=10_000)
        ana, slow = chat.join("ana"), chat.join("lento")
        ana.raw()
        slow.session.pauseProducing()  # the transport says: my buffer is full
        for i in range(200):
            ana.line(f"mensagem {i:04d} " + "x" * 40)
            chat.clock.advance(0)
        assert slow.transport.disconnected
        slow.drop()
        lines = ana.lines()
        assert "*** lento saiu do chat dos Little Cats." in lines
        assert len([line for line in lines if line.startswith("<ana>")]) == 200
        assert chat.service.nicknames() == ["ana"]

    def test_reader_that_catches_up_loses_nothing(self):
        """A client that pauses but resumes under the bound receives everything, in order."""
        chat = Harness(max_sendq=1_000_000)
        ana, paused = chat.join("ana"), chat.join("pausa")
        paused.session.pauseProducing()
        for i in range(100):
            ana.line(f"m{i}")
        chat.clock.advance(0)
        assert paused.raw() == b""
        paused.session.resumeProducing()
        assert paused.lines() == [f"<ana> m{i}" for i in range(100)]

    def test_quit_while_paused_still_flushes_goodbye(self):
        """Held output and the goodbye are handed to the transport when a paused client quits."""
        chat = Harness()
        ana, bia = chat.join("ana"), chat.join("bia")
        bia.session.pauseProducing()
        ana.line("oi")
        chat.clock.advance(0)
        bia.line("/quit")
        assert bia.lines() == ["<ana> oi", "*** Até logo, bia!"]


class TestFlood:
    def test_burst_then_fakelag(self):
        """Ten lines (the nickname included) go through at once; the rest are delayed to 5 a
        second, none dropped, none reordered."""
        chat = Harness(flood_rate=5, flood_burst=10)
        ana, bia = chat.join("ana", "10.0.0.1"), chat.join("bia", "10.0.0.2")
        ana.raw()
        bia.send(b"".join(b"l%d\r\n" % i for i in range(15)))
        assert ana.lines() == [f"<bia> l{i}" for i in range(9)]
        chat.clock.advance(0.2)
        assert ana.lines() == ["<bia> l9"]
        chat.clock.advance(1.0)
        assert ana.lines() == [f"<bia> l{i}" for i in range(10, 15)]
        assert not bia.closed

    def test_flooder_does_not_delay_others(self):
        """While one client's lines are held back, another client's lines go straight through."""
        chat = Harness(flood_rate=5, flood_burst=10)
        ana, bia = chat.join("ana", "10.0.0.1"), chat.join("bia", "10.0.0.2")
        bia.send(b"".join(b"f%d\r\n" % i for i in range(40)))
        ana.raw()
        ana.line("ainda falo")
        assert ana.lines() == ["<ana> ainda falo"]

    def test_excess_flood_disconnects(self):
        """Past the receive-queue bound the flooder is told why and disconnected; the others
        see a normal leave."""
        chat = Harness(flood_rate=5, flood_burst=10, max_recvq=1000)
        ana, bia = chat.join("ana", "10.0.0.1"), chat.join("bia", "10.0.0.2")
        ana.raw()
        bia.raw()
        bia.send(b"".join(b"flood %03d\r\n" % i for i in range(200)))
        lines = bia.lines()
        assert lines[-1] == FLOOD
        assert bia.closed
        bia.close_if_asked()
        assert ana.lines()[-1] == "*** bia saiu do chat dos Little Cats."
        assert chat.clock.getDelayedCalls() == []

    def test_empty_lines_count_against_the_bound(self):
        """A flood of empty lines is bounded too: each line costs at least a fixed overhead."""
        chat = Harness(flood_rate=5, flood_burst=10, max_recvq=64 * 1024)
        bia = chat.join("bia")
        bia.send(b"\n" * 100_000)
        assert bia.lines()[-1] == FLOOD
        assert not bia.session.inbox

    def test_reconnecting_does_not_refill_the_burst(self):
        """A flooder that reconnects gets back the bucket it left with, not a fresh burst."""
        chat = Harness(flood_rate=5, flood_burst=10)
        ana = chat.join("ana")
        first = chat.join("bia")  # the nickname used one token
        first.send(b"".join(b"a%d\r\n" % i for i in range(9)))
        first.drop()
        ana.raw()
        second = chat.connect()
        second.send(b"bia\r\nagain\r\n")
        assert ana.lines() == []
        chat.clock.advance(0.2)
        assert ana.lines() == ["*** O cliente bia entrou no chat dos Little Cats."]
        chat.clock.advance(0.2)
        assert ana.lines() == ["<bia> again"]
        third = chat.connect("10.9.9.9")
        third.line("cid")
        assert third.lines()[-1] == "*** O cliente cid entrou no chat dos Little Cats."

    def test_parallel_connections_share_one_burst(self):
        """Several connections from one address share one flood allowance: opening more
        connections buys no extra burst."""
        chat = Harness(flood_rate=5, flood_burst=10)
        watcher = chat.join("eva", "10.1.1.1")
        one, two = chat.join("um", "10.0.0.7"), chat.join("dois", "10.0.0.7")  # 2 tokens
        chat.clear()
        one.send(b"".join(b"um %d\r\n" % i for i in range(6)))
        two.send(b"".join(b"dois %d\r\n" % i for i in range(6)))
        heard = watcher.lines()
        assert heard == [f"<um> um {i}" for i in range(6)] + ["<dois> dois 0", "<dois> dois 1"]
        chat.clock.advance(1.0)
        assert watcher.lines() == [f"<dois> dois {i}" for i in range(2, 6)]

    def test_flood_limits_apply_before_nickname(self):
        """A connection flooding before choosing a nickname is dropped too."""
        chat = Harness(flood_rate=5, flood_burst=10, max_recvq=1000)
        client = chat.connect()
        client.raw()
        client.send(b"x y\r\n" * 1000)
        assert client.lines()[-1] == FLOOD
        assert client.closed


class TestNicknameTimeout:
    def test_idle_handshake_is_closed(self):
        """A connection that does not choose a nickname in time is told why and closed."""
        chat = Harness(nick_timeout=60)
        client = chat.connect()
        client.raw()
        chat.clock.advance(59)
        assert not client.closed
        chat.clock.advance(1)
        assert client.lines() == [
            "!!! Tempo esgotado: escolha um apelido em até 60 segundos. Até logo!"
        ]
        assert client.closed

    def test_timer_cancelled_on_join_and_on_drop(self):
        """Joining or leaving cancels the nickname timer: no stray timers remain."""
        chat = Harness(nick_timeout=60)
        chat.join("ana")
        gone = chat.connect()
        gone.drop()
        chat.clock.advance(0)
        assert chat.clock.getDelayedCalls() == []
        chat.clock.advance(120)


class TestConnectionLimits:
    def _connect_from(self, chat: Harness, host: str) -> StringTransport:
        transport = StringTransport(peerAddress=IPv4Address("TCP", host, 5555))
        protocol = chat.factory.buildProtocol(transport.getPeer())
        protocol.makeConnection(transport)
        transport.protocol = protocol
        return transport

    def test_server_full(self):
        """Past --max-clients a newcomer gets one clear line and is closed."""
        chat = Harness(max_clients=2)
        self._connect_from(chat, "10.0.0.1")
        self._connect_from(chat, "10.0.0.2")
        third = self._connect_from(chat, "10.0.0.3")
        assert third.value() == "!!! O servidor está cheio; tente de novo mais tarde.\r\n".encode()
        assert third.disconnecting

    def test_per_ip(self):
        """Past --max-per-ip from one address, that address is refused; others are not."""
        chat = Harness(max_per_ip=2)
        first = self._connect_from(chat, "10.0.0.1")
        self._connect_from(chat, "10.0.0.1")
        refused = self._connect_from(chat, "10.0.0.1")
        assert refused.value() == (
            "!!! Conexões demais a partir do seu IP (máximo de 2).\r\n".encode()
        )
        assert not self._connect_from(chat, "10.0.0.2").disconnecting
        first.protocol.connectionLost(None)
        assert not self._connect_from(chat, "10.0.0.1").disconnecting

    def test_refused_connection_does_not_count(self):
        """A refused connection closing does not free a slot it never held."""
        chat = Harness(max_per_ip=1)
        self._connect_from(chat, "10.0.0.1")
        refused = self._connect_from(chat, "10.0.0.1")
        refused.protocol.connectionLost(None)
        assert chat.service.limiter.per_ip == {"10.0.0.1": 1}

    def test_connect_rate(self):
        """Too many new connections a minute from one address are refused for a while."""
        chat = Harness(connect_rate=2)
        for _ in range(2):
            self._connect_from(chat, "10.0.0.1").protocol.connectionLost(None)
        refused = self._connect_from(chat, "10.0.0.1")
        assert refused.value().startswith("!!! Conexões novas demais".encode())
        chat.clock.advance(30)
        assert not self._connect_from(chat, "10.0.0.1").disconnecting


class TestShutdown:
    def test_everyone_told_then_closed(self):
        """On shutdown every connection, joined or not, is told and closed; no leave notices."""
        chat = Harness()
        ana, bia = chat.join("ana"), chat.join("bia")
        pending = chat.connect()
        for client in (ana, bia, pending):
            client.raw()
        done = chat.service.stopService()
        notice = ["*** O servidor está sendo desligado. Até breve!"]
        for client in (ana, bia, pending):
            assert client.lines() == notice
            assert client.closed
        assert not done.called
        for client in (ana, bia, pending):
            client.close_if_asked()
        assert done.called
        assert ana.lines() == bia.lines() == []

    def test_stragglers_aborted_after_grace(self):
        """Connections that do not close within the grace period are aborted."""
        chat = Harness()
        ana = chat.join("ana")
        done = chat.service.stopService()
        chat.clock.advance(3)
        assert ana.transport.disconnected
        assert done.called


class TestClosingDeadline:
    """A closing connection whose peer does not read is aborted after a grace period, so it
    cannot keep its slot, its per-IP count and its held output forever."""

    def _stalled(self, chat: Harness, host: str = "10.0.0.9"):
        client = chat.join("lento", host)
        client.session.pauseProducing()  # the peer stopped reading
        return client

    def _assert_aborted_after_grace(self, chat: Harness, client) -> None:
        assert client.transport.disconnecting
        chat.clock.advance(CLOSE_GRACE_SECONDS - 1)
        assert not client.transport.disconnected
        chat.clock.advance(1)
        assert client.transport.disconnected  # aborted
        client.drop()  # the kernel reports the aborted connection
        assert chat.service.limiter.per_ip == {}
        assert chat.service.limiter.total == 0
        assert chat.clock.getDelayedCalls() == []

    def test_quit_while_not_reading(self):
        """/quit from a peer that stopped reading: closed after the grace period."""
        chat = Harness()
        client = self._stalled(chat)
        client.line("/quit")
        self._assert_aborted_after_grace(chat, client)

    def test_flood_kick_while_not_reading(self):
        """An excess-flood kick of a peer that does not read: closed after the grace period."""
        chat = Harness(flood_rate=5, flood_burst=10, max_recvq=1000)
        client = self._stalled(chat)
        client.send(b"".join(b"flood %03d\r\n" % i for i in range(200)))
        self._assert_aborted_after_grace(chat, client)

    def test_nick_timeout_while_not_reading(self):
        """A connection that never picks a nickname nor reads: closed after the grace period."""
        chat = Harness(nick_timeout=60)
        client = chat.connect("10.0.0.9")
        client.session.pauseProducing()
        chat.clock.advance(60)
        self._assert_aborted_after_grace(chat, client)

    def test_a_peer_that_reads_is_not_aborted(self):
        """A connection that closes normally within the grace period is never aborted."""
        chat = Harness()
        client = chat.join("ana")
        client.line("/quit")
        client.close_if_asked()  # the peer read everything; the kernel closed
        chat.clock.advance(CLOSE_GRACE_SECONDS + 1)
        assert not client.transport.disconnected  # closed, never aborted


class TestShutdownLogs:
    def test_aborted_stragglers_leave_no_failed_deferreds(self, monkeypatch):
        """Aborting connections that did not close in time at shutdown leaves no failure behind
        (each would be logged as "Unhandled error in Deferred")."""
        waiting = []
        close_with = Session.close_with

        def recording(session, payload):
            closed = close_with(session, payload)
            closed.addBoth(waiting.append)
            return closed

        monkeypatch.setattr(Session, "close_with", recording)
        chat = Harness()
        clients = [chat.join("ana"), chat.join("bia")]
        with capturedLogs() as events:
            done = chat.service.stopService()
            chat.clock.advance(3)
            assert done.called
            for client in clients:
                assert client.transport.disconnected  # aborted
                client.drop()  # the kernel reports it
        assert waiting == [None, None]
        assert [event for event in events if "log_failure" in event] == []
