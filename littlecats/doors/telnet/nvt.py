"""
The telnet network virtual terminal, receiving side: bytes in, lines out.

`LineDecoder` takes whatever a telnet or netcat client sends, in chunks split anywhere, and
yields complete lines (bytes, line end removed) plus the negotiation replies owed to the peer.
It starts one negotiation only, when asked (`offer_echo`, to hide a password as it is typed),
and refuses every other option it is offered (RFC 854/1143): `DO x` gets `WONT x`, `WILL x`
gets `DONT x`; the ECHO option follows RFC 1143's states, so no answer is ever repeated.
Every other IAC command, known or not, is consumed, so none of it reaches chat text;
subnegotiations are skipped whole without being buffered.  `IAC EC` becomes a backspace and
`IAC EL` a Ctrl-U, for `text.apply_edits` to apply.

Line ends: LF, CR LF, CR NUL and a bare CR each end a line (a CR never waits for the next byte).
A line longer than `max_length` bytes is reported once as `TOO_LONG` and discarded up to its
end; the lines after it are unaffected.  Memory per connection is bounded by `max_length`.

Whether the peer speaks telnet (`telnet`): it sent a telnet command, or ended a line with CR LF
or CR NUL as RFC 854 requires (netcat sends a bare LF; Debian's telnet client sends no
negotiation of its own on a port other than 23, so the line end is the only sign it gives).

Pure: no sockets, no Twisted.  Lines come out undecoded; text rules live in `littlecats.text`.
"""

from __future__ import annotations

from typing import Final

IAC: Final = 255
DONT: Final = 254
DO: Final = 253
WONT: Final = 252
WILL: Final = 251
SB: Final = 250
EL: Final = 248
EC: Final = 247
SE: Final = 240
ECHO: Final = 1

TOO_LONG: Final = None
"""Yielded in place of a line that was longer than the limit (and was discarded)."""

_REFUSAL = {DO: WONT, WILL: DONT}

# Our side of the ECHO option (RFC 1143): off, offered (WILL sent), on, withdrawn (WONT sent).
_NO, _WANT_YES, _YES, _WANT_NO = range(4)

# Parser states for IAC sequences that span chunks.
_DATA, _COMMAND, _OPTION, _SUB, _SUB_IAC = range(5)


class LineDecoder:
    """Incremental telnet line decoder for one connection."""

    __slots__ = (
        "_after_cr",
        "_buffer",
        "_discarding",
        "_echo",
        "_pending_verb",
        "_state",
        "max_length",
        "telnet",
    )

    def __init__(self, max_length: int = 2048) -> None:
        self.max_length = max_length
        self._buffer = b""
        self._state = _DATA
        self._pending_verb = 0
        self._after_cr = False
        self._discarding = False
        self._echo = _NO
        self.telnet = False
        """The peer has shown it speaks telnet (a command, or a CR LF line end)."""

    def offer_echo(self, hidden: bool) -> bytes:
        """The negotiation that makes the server echo (C{hidden}: the peer stops showing what
        is typed) or stop echoing; empty if the peer is not known to speak telnet or the
        option is already where it is asked to be."""
        if hidden:
            if not self.telnet or self._echo != _NO:
                return b""
            self._echo = _WANT_YES
            return bytes((IAC, WILL, ECHO))
        if self._echo in (_WANT_YES, _YES):
            self._echo = _WANT_NO
            return bytes((IAC, WONT, ECHO))
        return b""

    def feed(self, data: bytes) -> tuple[list[bytes | None], bytes]:
        """Consume C{data}; return the completed lines (or L{TOO_LONG}) and the replies owed."""
        replies = b""
        if self._state != _DATA or b"\xff" in data:
            data, replies = self._strip_commands(data)
        if self._after_cr and data[:1] in (b"\n", b"\x00"):
            data = data[1:]
            self._after_cr = False
        if b"\r" in data:
            if not self.telnet and (b"\r\n" in data or b"\r\x00" in data or self._after_cr):
                self.telnet = True
            self._after_cr = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r\x00", b"\n").replace(b"\r", b"\n")
        elif data:
            self._after_cr = False
        return self._frame(data), replies

    def _frame(self, data: bytes) -> list[bytes | None]:
        if b"\n" not in data:
            if self._discarding:
                return []
            self._buffer += data
            if len(self._buffer) <= self.max_length:
                return []
            self._buffer = b""
            self._discarding = True
            return [TOO_LONG]
        lines: list[bytes | None] = (self._buffer + data).split(b"\n")
        rest = lines.pop()
        if self._discarding:
            del lines[0]
            self._discarding = False
        limit = self.max_length
        for i, line in enumerate(lines):
            if len(line) > limit:  # type: ignore[arg-type]
                lines[i] = TOO_LONG
        if len(rest) > limit:
            lines.append(TOO_LONG)
            rest = b""
            self._discarding = True
        self._buffer = rest
        return lines

    def _strip_commands(self, data: bytes) -> tuple[bytes, bytes]:
        """Remove IAC sequences from C{data}, resuming any sequence split across chunks."""
        kept = bytearray()
        replies = bytearray()
        state = self._state
        for byte in data:
            if state == _DATA:
                if byte == IAC:
                    state = _COMMAND
                else:
                    kept.append(byte)
            elif state == _COMMAND:
                if byte == IAC:
                    kept.append(IAC)
                    state = _DATA
                    continue
                self.telnet = True
                if byte in (WILL, WONT, DO, DONT):
                    self._pending_verb = byte
                    state = _OPTION
                elif byte == SB:
                    state = _SUB
                else:
                    if byte == EC:
                        kept.append(0x08)
                    elif byte == EL:
                        kept.append(0x15)
                    state = _DATA
            elif state == _OPTION:
                if byte == ECHO:
                    replies += self._echo_answer(self._pending_verb)
                else:
                    refusal = _REFUSAL.get(self._pending_verb)
                    if refusal is not None:
                        replies += bytes((IAC, refusal, byte))
                state = _DATA
            elif state == _SUB:
                if byte == IAC:
                    state = _SUB_IAC
            elif state == _SUB_IAC:
                state = _DATA if byte == SE else _SUB
        self._state = state
        return bytes(kept), bytes(replies)

    def _echo_answer(self, verb: int) -> bytes:
        """RFC 1143 for our side of ECHO: the peer's DO or DONT, given what we asked."""
        echo = self._echo
        if verb == DO:
            if echo == _WANT_YES:
                self._echo = _YES
            elif echo == _NO:
                return bytes((IAC, WONT, ECHO))  # not offered: refused, as any option
            elif echo == _WANT_NO:
                self._echo = _NO
        elif verb == DONT:
            if echo == _YES:
                self._echo = _NO
                return bytes((IAC, WONT, ECHO))
            self._echo = _NO
        elif verb == WILL:
            return bytes((IAC, DONT, ECHO))  # the peer's own echo: refused as before
        return b""
