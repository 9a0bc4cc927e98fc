"""
Little Cats: a multi-user chat server reachable with telnet, netcat or the bundled client.

The package holds the chat core (`core`, `events`), value rules (`nicknames`, `text`), the
message catalog (`messages`), the telnet door (`nvt`, `telnet`), the service wiring
(`service`) and the client (`client`).
"""

__version__ = "0.1.0"
