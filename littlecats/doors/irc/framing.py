"""
IRC line framing: bytes from a client into lines, bounded.

IRC lines end with CR LF; clients also send a bare LF, and a few a bare CR, so each of the
three ends a line (an empty line, such as the LF of a CR LF split over two reads, is nothing).
A line longer than the limit (tags and body: `message.MAX_LINE_BYTES`) is reported once as
None, and its bytes up to the next line end are discarded as they arrive: the buffer never
holds more than the limit.  Bytes are kept as bytes here, so a UTF-8 character split across two
reads is whole by the time the line is decoded (Twisted's IRC class decodes each read and drops
the connection on a split character).
"""

from __future__ import annotations

from littlecats.doors.irc.message import MAX_LINE_BYTES


class LineFramer:
    """Lines out of a byte stream."""

    __slots__ = ("_buffer", "_discarding", "max_length")

    def __init__(self, max_length: int = MAX_LINE_BYTES) -> None:
        self.max_length = max_length
        self._buffer = b""
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """The lines C{data} completes, in order (None for one over the limit)."""
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in data:
            if not self._discarding:
                self._buffer += data
                if len(self._buffer) > self.max_length:
                    self._buffer, self._discarding = b"", True
                    return [None]
            return []
        pieces = (self._buffer + data).split(b"\n")
        rest = pieces.pop()
        if self._discarding:
            del pieces[0]
            self._discarding = False
        lines: list[bytes | None] = [
            None if len(line) > self.max_length else line for line in pieces if line
        ]
        if len(rest) > self.max_length:
            lines.append(None)
            rest, self._discarding = b"", True
        self._buffer = rest
        return lines
