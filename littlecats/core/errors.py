"""Refusals the core explains to users."""

from __future__ import annotations


class ChatError(Exception):
    """An action was refused; C{msgid} and C{fields} name the catalog message saying why."""

    def __init__(self, msgid: str, **fields: object) -> None:
        super().__init__(msgid, fields)
        self.msgid = msgid
        self.fields = fields
