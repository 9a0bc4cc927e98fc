"""
The input line: text being typed, its cursor, history and completion.

`LineEditor` holds the line as user-perceived characters (clusters, see `width`), so a cursor
step or a backspace moves over a whole accented letter, CJK character or emoji, and `view`
says which part of the line fits a given number of columns and where the cursor falls in it,
by display width.  History keeps what was sent, with the draft kept aside while browsing.
Tab completes the word before the cursor from a list of nicknames (rooms for a word starting
with `#`, commands for one starting with `/` at the start of the line), cycling through the
matches.  A secret line (a password being typed) shows nothing, completes nothing, cannot
browse history and never goes into it; nor does a command line that carries a password
(`/register`, `/password`, `/unregister`, `/nick NEW PASSWORD`).  Pure: keys in, text and
columns out, no terminal I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from littlecats import nicknames
from littlecats.client.keys import Key
from littlecats.client.width import cluster_width, clusters

MAX_HISTORY = 500
COMMANDS = (
    "/help",
    "/history",
    "/join",
    "/list",
    "/me",
    "/msg",
    "/names",
    "/nick",
    "/part",
    "/password",
    "/quit",
    "/register",
    "/rooms",
    "/topic",
    "/unregister",
    "/users",
    "/w",
    "/who",
)
PASSWORD_COMMANDS = frozenset({"/register", "/password", "/unregister"})
"""Commands whose argument is a password (so is the second word of C{/nick})."""


def carries_password(line: str) -> bool:
    """Whether C{line} is a command with a password in it, which history must not keep."""
    command, _, argument = line.strip().partition(" ")
    command = command.casefold()
    if command in PASSWORD_COMMANDS:
        return True
    return command == "/nick" and len(argument.split()) > 1


class LineEditor:
    """One editable line with history and completion."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.cursor = 0
        self.history: list[str] = []
        self._browsing: int | None = None
        self._draft: list[str] = []
        self._completion: tuple[int, list[str], int] | None = None
        self.secret = False
        """The line is a password: not shown, not completed, not kept in history."""

    @property
    def text(self) -> str:
        """The line as typed so far."""
        return "".join(self.chars)

    def set(self, text: str) -> None:
        """Replace the line, cursor at its end."""
        self.chars = list(clusters(text))
        self.cursor = len(self.chars)

    def conceal(self, secret: bool) -> None:
        """Start (or end) a secret line: either way, whatever was typed so far is dropped, so
        nothing typed before becomes part of a password, and no password is left on show."""
        if secret is self.secret:
            return
        self.secret = secret
        self.chars, self.cursor = [], 0
        self._browsing = None
        self._draft = []
        self._completion = None

    # Typing

    def insert(self, typed: str) -> None:
        """Insert C{typed} at the cursor; marks and joiners attach to the character before."""
        self._completion = None
        before = "".join(self.chars[: self.cursor]) + typed
        after = self.chars[self.cursor :]
        self.chars = list(clusters(before))
        self.cursor = len(self.chars)
        self.chars += after

    def key(self, key: Key, names: Iterable[str] = (), rooms: Iterable[str] = ()) -> str | None:
        """Apply an editing key; return the submitted line on Enter, else C{None}.

        Tab completes from C{names} (nicknames) or, for a word starting with C{#}, C{rooms}.
        """
        if key is not Key.TAB:
            self._completion = None
        if key is Key.ENTER:
            return self.submit()
        if self.secret and key in (Key.TAB, Key.UP, Key.DOWN):
            return None
        if key is Key.TAB:
            self.complete(names, rooms)
            return None
        action = getattr(self, f"_key_{key.name}", None)
        if action is not None:
            action()
        return None

    def submit(self) -> str:
        """Take the line for sending, record it in history (unless it is secret or carries a
        password), and start a new one."""
        line = self.text
        keep = line.strip() and not self.secret and not carries_password(line)
        if keep and (not self.history or self.history[-1] != line):
            self.history.append(line)
            del self.history[:-MAX_HISTORY]
        self.chars, self.cursor = [], 0
        self._browsing = None
        return line

    def _key_LEFT(self) -> None:
        self.cursor = max(0, self.cursor - 1)

    def _key_RIGHT(self) -> None:
        self.cursor = min(len(self.chars), self.cursor + 1)

    def _key_HOME(self) -> None:
        self.cursor = 0

    def _key_END(self) -> None:
        self.cursor = len(self.chars)

    def _key_BACKSPACE(self) -> None:
        if self.cursor:
            del self.chars[self.cursor - 1]
            self.cursor -= 1

    def _key_DELETE(self) -> None:
        if self.cursor < len(self.chars):
            del self.chars[self.cursor]

    _key_EOF = _key_DELETE

    def _key_KILL_START(self) -> None:
        del self.chars[: self.cursor]
        self.cursor = 0

    def _key_KILL_END(self) -> None:
        del self.chars[self.cursor :]

    def _wordStart(self) -> int:
        i = self.cursor
        while i and self.chars[i - 1].isspace():
            i -= 1
        while i and not self.chars[i - 1].isspace():
            i -= 1
        return i

    def _key_KILL_WORD(self) -> None:
        start = self._wordStart()
        del self.chars[start : self.cursor]
        self.cursor = start

    def _key_WORD_LEFT(self) -> None:
        self.cursor = self._wordStart()

    def _key_WORD_RIGHT(self) -> None:
        i, end = self.cursor, len(self.chars)
        while i < end and self.chars[i].isspace():
            i += 1
        while i < end and not self.chars[i].isspace():
            i += 1
        self.cursor = i

    def _key_UP(self) -> None:
        if not self.history or self._browsing == 0:
            return
        if self._browsing is None:
            self._draft = self.chars
            self._browsing = len(self.history)
        self._browsing -= 1
        self.set(self.history[self._browsing])

    def _key_DOWN(self) -> None:
        if self._browsing is None:
            return
        self._browsing += 1
        if self._browsing >= len(self.history):
            self._browsing = None
            self.chars = self._draft
            self.cursor = len(self.chars)
        else:
            self.set(self.history[self._browsing])

    # Completion

    def complete(self, names: Iterable[str], rooms: Iterable[str] = ()) -> None:
        """Complete the word before the cursor; pressed again, offer the next match.

        A word starting with C{/} at the start of the line is a command, one starting with C{#}
        a room (no nickname starts with C{#}), anything else a nickname.
        """
        if self.secret:
            return
        if self._completion is not None:
            start, matches, index = self._completion
            index = (index + 1) % len(matches)
        else:
            start = self.cursor
            while start and not self.chars[start - 1].isspace():
                start -= 1
            prefix = "".join(self.chars[start : self.cursor])
            if not prefix:
                return
            if prefix.startswith("/") and start == 0:
                candidates: Iterable[str] = COMMANDS
            elif prefix.startswith("#"):
                candidates = rooms
            else:
                candidates = names
            folded = nicknames.fold(prefix)
            matches = sorted(
                {name for name in candidates if nicknames.fold(name).startswith(folded)},
                key=nicknames.fold,
            )
            if not matches:
                return
            index = 0
        addressed = start == 0 and not matches[index].startswith(("/", "#"))
        suffix = ": " if addressed else " "
        completed = list(clusters(matches[index] + suffix))
        end = self.cursor
        self.chars[start:end] = completed
        self.cursor = start + len(completed)
        self._completion = (start, matches, index)

    # Display

    def view(self, columns: int) -> tuple[str, int]:
        """The part of the line to show in C{columns}, and the cursor column within it.

        The window scrolls sideways so the cursor always shows, with a little context after it.
        """
        if self.secret:
            return "", 0
        columns = max(columns, 2)
        widths = [cluster_width(c) for c in self.chars]
        before = sum(widths[: self.cursor])
        margin = min(columns // 4, 8)
        first = 0
        if before >= columns - 1:
            skip = before - (columns - 1 - margin)
            skipped = 0
            while first < self.cursor and skipped < skip:
                skipped += widths[first]
                first += 1
        shown: list[str] = []
        used = 0
        for cluster, width in zip(self.chars[first:], widths[first:], strict=True):
            if used + width > columns - 1:
                break
            shown.append(cluster)
            used += width
        cursor_column = sum(widths[first : self.cursor])
        return "".join(shown), cursor_column
