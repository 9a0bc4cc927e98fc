"""
Little Cats: a multi-user chat server reachable with telnet, netcat or the bundled client.

The package holds the chat core (`core`: members, rooms, events, the backend seam), the
session every connection is (`session`), the slash commands of line-based doors (`commands`),
the fan-out (`fanout`), the doors (`doors.telnet`), value rules (`nicknames`, `text`), limits
(`limits`), the message catalog (`messages`), the service wiring (`tap`) and the client
(`client`).  docs/ARCHITECTURE.md draws how they fit.
"""

__version__ = "0.2.0"
