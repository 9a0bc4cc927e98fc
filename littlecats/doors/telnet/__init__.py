"""
The telnet door, for telnet, netcat and the bundled client: `nvt` turns the byte stream into
lines, `protocol` adapts a connection to a `Session`, `door` renders events as text lines.
"""
