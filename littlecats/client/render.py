"""
How a line looks on a terminal: colour by kind, a stable colour per nickname and per room,
wrapping to width.

`Palette` decides the SGR attributes of each part of a line, or none at all when colour is off
(`--no-color`, or `NO_COLOR` set and non-empty, as https://no-color.org asks).  `styled` cuts a
`Line` into `Segment`s, `wrap` lays segments out in rows of a given width by display columns
(breaking at spaces when it can), and `ansi` turns a row into terminal bytes.  The text always
comes from the server already sanitised, so nothing here can emit a sequence a peer chose.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping

import attrs

from littlecats import nicknames
from littlecats.client.lines import ROOM_FIELDS, Kind, Line
from littlecats.client.width import cluster_width, clusters

# Readable on dark and light backgrounds; red is kept for errors.
NICK_COLOURS = ("32", "33", "34", "35", "36", "92", "93", "94", "95", "96")
KIND_STYLES = {
    Kind.ACTION: "35",
    Kind.PRIVATE_IN: "1;35",
    Kind.PRIVATE_OUT: "35",
    Kind.JOINED: "36",
    Kind.LEFT: "36",
    Kind.RENAMED: "36",
    Kind.USERS: "36",
    Kind.USERS_MORE: "36",
    Kind.ALONE: "36",
    Kind.ROOM_JOINED: "36",
    Kind.ROOM_LEFT: "36",
    Kind.TOPIC: "36",
    Kind.TOPIC_NONE: "36",
    Kind.TOPIC_SET: "36",
    Kind.NAMES: "36",
    Kind.NAMES_MORE: "36",
    Kind.ROOMS: "36",
    Kind.ROOMS_ENTRY: "36",
    Kind.GOODBYE: "36",
    Kind.NOTICE: "36",
    Kind.PROMPT: "1",
    Kind.PASSWORD_PROMPT: "1",
    Kind.IDENTIFIED: "36",
    Kind.GHOSTED: "1;31",
    Kind.ERROR: "1;31",
    Kind.LOCAL: "2;33",
    # A room's earlier lines are dimmed (their nicknames keep their colours, dimmed too), so
    # they never pass for lines said now.
    Kind.HISTORY: "2",
    Kind.HISTORY_ACTION: "2;35",
    Kind.HISTORY_START: "2;36",
    Kind.HISTORY_END: "2;36",
}
TIME_STYLE = "2"
MENTION_STYLE = "1"
ROOM_STYLE = "1"
"""Added to a room's colour, so a room never looks like a nickname of the same colour."""
STATUS_STYLE_COLOUR = "1;37;44"
STATUS_STYLE_PLAIN = "7"


def colour_wanted(no_color_flag: bool, environ: Mapping[str, str]) -> bool:
    """Whether to use colour: not with C{--no-color}, nor when C{NO_COLOR} is set and non-empty."""
    return not no_color_flag and not environ.get("NO_COLOR")


@attrs.frozen
class Segment:
    """A run of text with one set of SGR attributes ("" for none)."""

    text: str
    style: str = ""


@attrs.frozen
class Palette:
    """The attributes for each part of a line; all empty when colour is off."""

    colour: bool = True

    def nick(self, nick: str) -> str:
        """The colour of C{nick}: the same in every session, ignoring case."""
        if not self.colour:
            return ""
        key = nicknames.fold(nick).encode("utf-8")
        return NICK_COLOURS[zlib.crc32(key) % len(NICK_COLOURS)]

    def room(self, room: str) -> str:
        """The colour of C{room}: bold, in a colour that is the same in every session."""
        return f"{ROOM_STYLE};{self.nick(room)}" if self.colour else ""

    def kind(self, kind: Kind) -> str:
        return KIND_STYLES.get(kind, "") if self.colour else ""

    def time(self) -> str:
        return TIME_STYLE if self.colour else ""

    def mention(self) -> str:
        return MENTION_STYLE if self.colour else ""

    def status(self) -> str:
        """The status line stands out even without colour, in reverse video."""
        return STATUS_STYLE_COLOUR if self.colour else STATUS_STYLE_PLAIN


def styled(line: Line, palette: Palette, me: str | None = None) -> list[Segment]:
    """C{line} cut into segments: the kind's style, nicknames and rooms in their own colours."""
    base = palette.kind(line.kind)
    if line.kind is Kind.PUBLIC and me and _mentions(line.fields.get("text", ""), me):
        base = palette.mention()
    segments: list[Segment] = []
    position = 0
    for field, start, end in sorted(line.spans, key=lambda span: span[1]):
        if start > position:
            segments.append(Segment(line.text[position:start], base))
        name = line.text[start:end]
        style = palette.room(name) if field in ROOM_FIELDS else palette.nick(name)
        if base and style:
            style = f"{base};{style}"
        segments.append(Segment(name, style or base))
        position = end
    if position < len(line.text):
        segments.append(Segment(line.text[position:], base))
    return segments


def _mentions(said: str, me: str) -> bool:
    return nicknames.fold(me) in nicknames.fold(said)


def wrap(segments: Iterable[Segment], width: int, indent: int = 0) -> list[list[Segment]]:
    """Lay C{segments} out in rows of at most C{width} columns; continuation rows are indented.

    A row breaks after the last space that fits, or inside a word longer than a row.
    """
    width = max(width, 1)
    indent = min(indent, width // 2)
    cells = [
        (cluster, cluster_width(cluster), segment.style)
        for segment in segments
        for cluster in clusters(segment.text)
    ]
    rows: list[list[tuple[str, int, str]]] = []
    row: list[tuple[str, int, str]] = []
    used = 0
    space_at = -1  # index in row just after the last space
    for cell in cells:
        if used + cell[1] > width and row:
            moved = sum(c[1] for c in row[space_at:]) if space_at > 0 else width
            if cell[0] != " " and indent + moved + cell[1] <= width:
                rows.append(row[:space_at])
                row = row[space_at:]
            else:
                rows.append(row)
                row = []
            row = [(" " * indent, indent, ""), *row] if indent else row
            used = sum(c[1] for c in row)
            space_at = -1
            if cell[0] == " " and len(row) == (1 if indent else 0):
                continue
        row.append(cell)
        used += cell[1]
        if cell[0] == " ":
            space_at = len(row)
    if row or not rows:
        rows.append(row)
    return [_merge(r) for r in rows]


def _merge(cells: list[tuple[str, int, str]]) -> list[Segment]:
    merged: list[Segment] = []
    for text, _width, style in cells:
        if merged and merged[-1].style == style:
            merged[-1] = Segment(merged[-1].text + text, style)
        else:
            merged.append(Segment(text, style))
    return merged


def plain(row: Iterable[Segment]) -> str:
    """The text of a row without any attributes."""
    return "".join(segment.text for segment in row)


def ansi(row: Iterable[Segment]) -> str:
    """A row as terminal text: each styled segment wrapped in SGR set and reset."""
    out: list[str] = []
    for segment in row:
        if segment.style:
            out.append(f"\x1b[{segment.style}m{segment.text}\x1b[0m")
        else:
            out.append(segment.text)
    return "".join(out)
