"""
The IRC door (issue 12, in progress): IRC clients in the same rooms as every other door.
So far: the message syntax (`message`), the line framing (`framing`) and capability
negotiation (`caps`), on which the protocol will be built.
"""
