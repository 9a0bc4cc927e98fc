"""The bundled Little Cats client: protocol logic (`protocol`) apart from the terminal UI."""
