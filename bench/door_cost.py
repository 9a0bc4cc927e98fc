"""
What one line costs each door, in the server process alone: the IRC door against the telnet
door, on the same rooms, in the same process and the same run.

lcbench (bench/run.py --scenario irc) measures the doors over real sockets, where the kernel's
work, the generator's, and CPU stolen by the hypervisor move the figures by tens of percent
from one run to the next on this machine.  This script takes those out: it builds the real
chat core with its real telnet and IRC doors (tests.helpers.Harness, StringTransport
connections, the fan-out flushed by hand), puts the same number of members of each door in
the same number of rooms, has one member per room say a line, flushes, and counts the
process's CPU time (time.process_time: CPU stolen by the hypervisor is not in it).  Rounds
alternate between the doors, and each door's figure is its median round.

    .venv/bin/python bench/door_cost.py                  # 100 rooms of 10, ~20 s
    .venv/bin/python bench/door_cost.py --rooms 1 --members 1000

Both doors do the same work for a line: the IRC senders asked for echo-message, so, as every
telnet sender, each gets its own line back.  What it does not count: the socket writes (the
kernel's work, and the same number of writes on both doors, one per connection per flush).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.irc_helpers import IRCHarness


def build(rooms: int, members: int) -> tuple[IRCHarness, list, list]:
    """The chat with C{rooms} rooms of C{members} telnet users and as many of IRC users;
    the first member of each room is its sender."""
    h = IRCHarness(lang="en")
    irc_senders, telnet_senders = [], []
    for room in range(rooms):
        for member in range(members):
            client = h.register(f"i{room}x{member}", caps="echo-message", join=f"#i{room}")
            if member == 0:
                irc_senders.append((client, f"#i{room}"))
    for room in range(rooms):
        for member in range(members):
            client = h.join(f"t{room}x{member}")
            client.line(f"/join #t{room}")
            if member == 0:
                telnet_senders.append(client)
    for client in h.ircs:
        client.transport.clear()
    for client in h.clients:
        client.transport.clear()
    return h, irc_senders, telnet_senders


def irc_round(h: IRCHarness, senders: list, lines: int) -> float:
    started = time.process_time()
    for n in range(lines):
        for client, room in senders:
            client.protocol.dataReceived(
                f"PRIVMSG {room} :LCB:{n}: a line of the bench\r\n".encode()
            )
        h.flush()
    spent = time.process_time() - started
    for client in h.ircs:
        client.transport.clear()
    return spent / (lines * len(senders))


def telnet_round(h: IRCHarness, senders: list, lines: int) -> float:
    started = time.process_time()
    for n in range(lines):
        for client in senders:
            client.protocol.dataReceived(f"LCB:{n}: a line of the bench\r\n".encode())
        h.flush()
    spent = time.process_time() - started
    for client in h.clients:
        client.transport.clear()
    return spent / (lines * len(senders))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--lines", type=int, default=50, help="lines per sender per round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per door (median kept)")
    args = parser.parse_args()
    h, irc_senders, telnet_senders = build(args.rooms, args.members)
    irc, telnet = [], []
    irc_round(h, irc_senders, 5)  # warm up both paths
    telnet_round(h, telnet_senders, 5)
    for n in range(args.rounds):
        rounds = [(irc, irc_round, irc_senders), (telnet, telnet_round, telnet_senders)]
        for figures, run, senders in rounds if n % 2 == 0 else reversed(rounds):
            figures.append(run(h, senders, args.lines))
    irc_us, telnet_us = statistics.median(irc) * 1e6, statistics.median(telnet) * 1e6
    deliveries = args.members  # per line: every member of the room, the sender's echo included
    print(
        f"{args.rooms} rooms of {args.members} members per door, {args.lines} lines per sender "
        f"per round, median of {args.rounds} rounds (CPU time of this process)"
    )
    per = "us per delivery"
    print(f"  telnet door: {telnet_us:7.2f} us per line, {telnet_us / deliveries:6.3f} {per}")
    print(f"  IRC door:    {irc_us:7.2f} us per line, {irc_us / deliveries:6.3f} {per}")
    print(
        f"  IRC / telnet: {irc_us / telnet_us:.2f} (the issue's goal: throughput >= 0.8 x telnet, "
        f"so cost <= {1 / 0.8:.2f} x)"
    )
    print(
        f"  rounds: IRC {', '.join(f'{x * 1e6:.1f}' for x in irc)}; "
        f"telnet {', '.join(f'{x * 1e6:.1f}' for x in telnet)}"
    )


if __name__ == "__main__":
    main()
