"""
The chat core: members, rooms and events, with no sockets, bytes or wire formats.

`chat` holds `ChatService`, the API every door calls; `events` the values it hands doors;
`interfaces` the seams (`IDoor`, `ISession`, `IBackend`); `local` the in-process backend.
"""

from littlecats.core.chat import ChatError, ChatService, Member, Room
from littlecats.core.events import SessionId

__all__ = ["ChatError", "ChatService", "Member", "Room", "SessionId"]
