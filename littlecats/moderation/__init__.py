"""
Moderation's pure pieces, reused by the core: what a ban mask is, how long a ban lasts, and
the lists of bans with their expiry.  No chat, no sockets, no storage.

`masks` reads `MASK` (`parse_mask`, `Mask`); `durations` reads and writes `DURATION`
(`parse_duration`, `format_duration`); `bans` holds `Ban` and `BanList` (O(1) lookups, expiry on
time with one timer).  Refusals raise `MaskRejected` or `DurationRejected`, `ValueError`s whose
`msgid` names the catalog message to show the operator.
"""

from littlecats.moderation.bans import Ban, BanList
from littlecats.moderation.durations import (
    MAX_DURATION,
    DurationRejected,
    format_duration,
    looks_like_duration,
    parse_duration,
)
from littlecats.moderation.masks import Mask, MaskRejected, host_key, parse_mask

__all__ = [
    "MAX_DURATION",
    "Ban",
    "BanList",
    "DurationRejected",
    "Mask",
    "MaskRejected",
    "format_duration",
    "host_key",
    "looks_like_duration",
    "parse_duration",
    "parse_mask",
]
