"""
The doors: each turns one wire (telnet now; IRC, web and SSH later) into calls on the chat core
and renders the core's events for its own connections.  Doors never talk to each other.
"""
