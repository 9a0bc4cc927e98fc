"""
End-to-end with the IRC clients people use: Debian's irssi and WeeChat, each in a tmux of its
own (tests/irc_clients.py), chatting through a real `twistd littlecats` process with telnet
users on plain sockets, whose lines are the ground truth of what the server delivered.

An IRC client is in no channel once registered: every test has it type `/join #lobby`, as
its users do, while telnet users land in #lobby.

Every test runs once per client.  Where tmux, irssi or WeeChat is missing the test is skipped,
saying what to install, unless `LITTLECATS_REQUIRE_IRC_CLIENTS` is set (`.ci/run` sets it and
installs them): then it fails.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from tests.irc_clients import CLIENTS, REQUIRE_ENV, IrcClient, LineUser, RawIrc, compact, missing
from tests.test_twistd import TIMEOUT, _pending, _read_until, _twistd

LOBBY = "#lobby"
# The end of the welcome burst as the clients show it (the MOTD tells to `/join #lobby`).
REGISTERED = r"Fim do comando /MOTD\.$"


@dataclass
class Server:
    process: subprocess.Popen
    telnet: int
    irc: int


@pytest.fixture
def server(tmp_path) -> Iterator[Server]:
    """`twistd littlecats` with a telnet and an IRC listener on 127.0.0.1 (free ports)."""
    process = _twistd(
        "--listen", "tcp:0:interface=127.0.0.1",
        "--irc", "tcp:0:interface=127.0.0.1",
        "--server-name", "irc.test",
        "--db", "memory:",
        cwd=tmp_path,
    )  # fmt: skip
    try:
        telnet = int(_read_until(process, r"littlecats-telnet starting on (\d+)")[1])
        irc = int(_read_until(process, r"littlecats-irc starting on (\d+)")[1])
        yield Server(process, telnet, irc)
    finally:
        process.terminate()
        try:
            rest, _ = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            rest, _ = process.communicate()
        log = bytes(_pending.pop(process.pid, b"")) + rest
        # what pytest shows of a failed test's output
        print("--- the server's log (the part not read by the test):")
        print(log.decode("utf-8", "replace"))


@pytest.fixture(params=sorted(CLIENTS))
def client_kind(request) -> type[IrcClient]:
    """Each test runs with irssi, then with WeeChat."""
    name = request.param
    absent = missing("tmux", name)
    if absent is not None:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{absent} ({REQUIRE_ENV} is set, so this is an error)", pytrace=False)
        pytest.skip(absent)
    return CLIENTS[name]


@pytest.fixture
def irc(tmp_path, client_kind, server) -> Iterator[Callable[[str], IrcClient]]:
    """Start the client with a nickname and connect it; it is registered, in no channel."""
    clients: list[IrcClient] = []

    def start(nick: str) -> IrcClient:
        client = client_kind(tmp_path, nick, "127.0.0.1", server.irc)
        clients.append(client)
        client.start()
        client.connect()
        client.wait_for(REGISTERED)
        return client

    try:
        yield start
    finally:
        for client in clients:
            try:  # what pytest shows of a failed test's output
                print(f"--- {client!r}, its last screen:\n{compact(client.screen())}")
            finally:
                client.close()


@pytest.fixture
def telnet(server) -> Iterator[Callable[[str], LineUser]]:
    """A telnet user on a plain socket, who has chosen a nickname (in the lobby)."""
    users: list[LineUser] = []

    def connect(nick: str) -> LineUser:
        user = LineUser(server.telnet)
        users.append(user)
        user.expect_exact("Escolha seu apelido:")
        user.send(nick)
        user.expect_exact(f"*** O cliente {nick} entrou no chat dos Little Cats.")
        return user

    try:
        yield connect
    finally:
        for user in users:
            user.close()


def test_lobby(irc, telnet):
    """The client is in no channel until it joins #lobby; joining shows the lobby's recent
    lines, and it talks there with a telnet user."""
    ana = telnet("ana")
    ana.send("alguém aí?")
    ana.expect_exact("<ana> alguém aí?")
    client = irc("gatinha")
    ana.expect_exact("*** O cliente gatinha entrou no chat dos Little Cats.")
    ana.send("/names")  # registered, and not in the lobby
    ana.expect_exact(f"*** Na sala {LOBBY} (1): ana")
    client.join(LOBBY)
    ana.expect_exact(f"*** gatinha entrou na sala {LOBBY}.")
    # the lobby's history, replayed on joining (both clients ask for server-time: bare text)
    client.wait_for(client.message("ana", "alguém aí?"))
    client.type("olá, ana! tudo bem?")
    ana.expect_exact("<gatinha> olá, ana! tudo bem?")
    ana.send("oi, gatinha: tudo ótimo")
    client.wait_for(client.message("ana", "oi, gatinha: tudo ótimo"))
    ana.send("/me ronrona")
    client.wait_for(client.action("ana", "ronrona"))
    client.type("/me se espreguiça")
    ana.expect_exact("* gatinha se espreguiça")
    client.type("último")
    ana.expect_exact("<gatinha> último")
    ana.send("fim")
    client.wait_for(client.message("ana", "fim"))
    # The client showed its own lines once: the server does not echo them back.
    assert client.count(client.message("gatinha", "olá, ana! tudo bem?")) == 1, client.screen()
    assert client.count(client.message("gatinha", "último")) == 1, client.screen()


def test_private_messages(irc, telnet):
    """Private messages both ways between the client, in #lobby, and a telnet user."""
    ana = telnet("ana")
    client = irc("gatinha")
    client.join(LOBBY)
    ana.expect_exact(f"*** gatinha entrou na sala {LOBBY}.")
    ana.send("/msg gatinha psiu, só pra você")
    ana.expect_exact("[privado para gatinha] psiu, só pra você")
    client.show("ana")  # the query the client opened for it
    client.wait_for(client.message("ana", "psiu, só pra você"))
    client.type("segredo guardado")  # typed in the query
    ana.expect_exact("[privado de gatinha] segredo guardado")
    client.show(LOBBY)
    client.type("/msg ana e mais um")
    ana.expect_exact("[privado de gatinha] e mais um")
    client.show("ana")
    client.wait_for(client.message("gatinha", "e mais um"))
    ana.send("no lobby")  # and the lobby still works, for both
    client.show(LOBBY)
    client.wait_for(client.message("ana", "no lobby"))


def test_unicode_nicknames(irc, telnet):
    """A client registered with a Unicode nickname chats with a telnet user who has one; each
    changes it, and the other sees it (they share #lobby)."""
    nandu = telnet("ñandú")
    client = irc("Gatão")
    nandu.expect_exact("*** O cliente Gatão entrou no chat dos Little Cats.")
    client.join(LOBBY)
    nandu.expect_exact(f"*** Gatão entrou na sala {LOBBY}.")
    client.type("olá, ñandú")
    nandu.expect_exact("<Gatão> olá, ñandú")
    nandu.send("saudações, Gatão")
    client.wait_for(client.message("ñandú", "saudações, Gatão"))
    nandu.send("/msg Gatão só entre nós")
    nandu.expect_exact("[privado para Gatão] só entre nós")
    client.show("ñandú")
    client.wait_for(client.message("ñandú", "só entre nós"))
    client.type("combinado, ñandú")
    nandu.expect_exact("[privado de Gatão] combinado, ñandú")
    client.show(LOBBY)
    client.type("/nick Gatãozinho")
    nandu.expect_exact("*** Gatão agora se chama Gatãozinho.")
    client.type("com o nome novo")
    nandu.expect_exact("<Gatãozinho> com o nome novo")
    nandu.send("/nick Ñandúzinho")
    nandu.expect_exact("*** ñandú agora se chama Ñandúzinho.")
    client.wait_for(client.renamed("ñandú", "Ñandúzinho"))
    nandu.send("de nome novo também")
    client.wait_for(client.message("Ñandúzinho", "de nome novo também"))


def test_rooms(irc, telnet, server):
    """The client joins #lobby, then #gatos; a telnet user follows (leaving the lobby: the
    client sees it), they talk there; the client parts with a reason."""
    ana = telnet("ana")
    client = irc("gatinha")
    client.join(LOBBY)
    ana.expect_exact(f"*** gatinha entrou na sala {LOBBY}.")
    client.join("#gatos")
    ana.send("/join #gatos")
    match = ana.expect(r"^\*\*\* Na sala #gatos \(2\): (.*)$")
    assert sorted(match[1].split(", ")) == ["ana", "gatinha"], match.string
    joined = client.wait_for(client.joined("ana", "#gatos"))
    assert "telnet@littlecats" in joined[0], joined[0]  # the door's mask for telnet users
    ana.send("miau em #gatos")
    client.wait_for(client.message("ana", "miau em #gatos"))
    client.type("ronrom em #gatos")
    ana.expect_exact("<gatinha> ronrom em #gatos")
    # An IRC user in #gatos sees the reason the client gives (telnet shows none).
    olho = RawIrc(server.irc, "olho")
    try:
        olho.expect(r"^:\S+ 376 olho ")  # registered
        olho.send("JOIN #gatos")
        olho.expect(r" 366 olho #gatos ")
        client.wait_for(client.joined("olho", "#gatos"))
        client.type("/part #gatos até mais")
        ana.expect_exact("*** gatinha saiu da sala #gatos.")
        olho.expect(r"^:gatinha!\S+ PART #gatos :até mais$")
    finally:
        olho.close()
    # The telnet user left the lobby for #gatos (one room at a time): the client saw it.
    client.show(LOBBY)
    client.wait_for(client.parted("ana", LOBBY))


def test_quit(irc, telnet):
    """A telnet user's arrival and quit show in the client, in #lobby; the client's /quit
    reaches the telnet user."""
    ana = telnet("ana")
    client = irc("gatinha")
    client.join(LOBBY)
    ana.expect_exact(f"*** gatinha entrou na sala {LOBBY}.")
    bia = telnet("bia")
    client.wait_for(client.joined("bia", LOBBY))
    bia.send("/quit")
    bia.expect_exact("*** Até logo, bia!")
    client.wait_for(client.quit("bia"))
    client.type("/quit até amanhã")
    ana.expect_exact("*** gatinha saiu do chat dos Little Cats. (até amanhã)")
    assert client.exited(), client.screen()
