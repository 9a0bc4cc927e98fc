"""
The web door: a chat page and its WebSocket (JSON messages, docs/WEB.md), served by twisted.web
in the same process as the other doors.
"""
