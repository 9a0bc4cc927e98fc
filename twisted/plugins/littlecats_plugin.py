"""twistd plugin: `twistd littlecats` (options and service live in littlecats.tap)."""

from twisted.application.service import ServiceMaker

littlecats = ServiceMaker(
    "Little Cats",
    "littlecats.tap",
    "A multi-user chat server for telnet, netcat and the littlecats-client.",
    "littlecats",
)
