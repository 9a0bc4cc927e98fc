"""
The IRC door (issue 12, in progress): IRC clients in the same rooms as every other door.
So far: the message syntax (`message`) and the line framing (`framing`), on which the
protocol will be built.
"""
