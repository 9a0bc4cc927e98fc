"""
The baseline for Little Cats benchmarks: the smallest bare-Twisted broadcast server that speaks
the same wire contract (greeting, the prompt "Escolha seu apelido:", a nickname line, the join
notice "*** O cliente NICK entrou no chat dos Little Cats." to everyone, then every line relayed
as "<NICK> text" to everyone in the sender's room, the sender included; UTF-8, CRLF).

Rooms, as on littlecats's telnet door: everyone starts in the lobby (`#lobby`); `/join #name`
moves a client to room #name (created on first use, forgotten when empty; names compared
without regard to ASCII case), one room at a time, and tells the room's members, the mover
included, "*** NICK entrou na sala #name." (that is the line a load generator waits for).
Nothing else is a command.

Each broadcast is encoded once and the same bytes are written to every member of the room,
one `transport.write` per member per message (no coalescing).  It deliberately has none of
the server's features (no NVT/telnet handling, no sanitising, no flood control, no send-queue
bound, no leave notices, no names list, no other commands): it measures what plain Twisted
costs, so `bench/run.py` can report Little Cats as a ratio against it.
Run: `python bench/baseline_server.py --port 0` (prints the port).
"""

from __future__ import annotations

import argparse
import resource

from twisted.internet import reactor
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver

GREETING = b"*** Bem-vindo ao chat dos Little Cats!\r\nEscolha seu apelido:\r\n"
LOBBY = b"#lobby"


class Chatter(LineReceiver):
    """One connection: the first line is the nickname, every later line is chat or /join."""

    delimiter = b"\n"  # CRLF or a bare LF; the CR is stripped below
    MAX_LENGTH = 16384
    nick: bytes | None = None
    room: bytes = LOBBY.lower()

    def connectionMade(self) -> None:
        self.transport.write(GREETING)

    def connectionLost(self, reason: object = None) -> None:
        self.factory.members.discard(self)
        if self.nick is not None:
            self.factory.nicks.discard(self.nick)
            self.factory.leave(self)

    def lineReceived(self, line: bytes) -> None:
        line = line.rstrip(b"\r")
        if self.nick is None:
            nick = line.strip()
            if not nick or nick in self.factory.nicks:
                self.transport.write(b"!!! Apelido invalido ou em uso.\r\nEscolha seu apelido:\r\n")
                return
            self.nick = nick
            self.factory.nicks.add(nick)
            self.factory.members.add(self)
            self.factory.enter(self, LOBBY)
            self.factory.broadcast(
                self.factory.members, b"*** O cliente %s entrou no chat dos Little Cats.\r\n" % nick
            )
        elif line.startswith(b"/join "):
            name = line[6:].strip()
            if not name.startswith(b"#") or len(name) < 2 or b" " in name:
                self.transport.write(b"!!! Uso: /join #sala\r\n")
                return
            self.factory.leave(self)
            room = self.factory.enter(self, name)
            self.factory.broadcast(room, b"*** %s entrou na sala %s.\r\n" % (self.nick, name))
        elif line:
            self.factory.broadcast(
                self.factory.rooms[self.room], b"<%s> %s\r\n" % (self.nick, line)
            )


class ChatFactory(Factory):
    protocol = Chatter
    noisy = False

    def __init__(self) -> None:
        self.members: set[Chatter] = set()
        self.nicks: set[bytes] = set()
        self.rooms: dict[bytes, set[Chatter]] = {}

    def enter(self, member: Chatter, name: bytes) -> set[Chatter]:
        member.room = name.lower()
        room = self.rooms.setdefault(member.room, set())
        room.add(member)
        return room

    def leave(self, member: Chatter) -> None:
        room = self.rooms.get(member.room)
        if room is not None:
            room.discard(member)
            if not room:
                del self.rooms[member.room]

    def broadcast(self, audience: set[Chatter], payload: bytes) -> None:
        for member in audience:
            member.transport.write(payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=4000, help="TCP port (0 = any free port)")
    parser.add_argument("--interface", default="127.0.0.1", help="address to listen on")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    port = reactor.listenTCP(args.port, ChatFactory(), backlog=4096, interface=args.interface)
    print(f"baseline listening on {args.interface}:{port.getHost().port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
