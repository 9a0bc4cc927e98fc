"""Entry point of `littlecats-client` and `python -m littlecats.client`."""

import sys


def main() -> int:
    """Run the client."""
    sys.stderr.write("littlecats-client: not yet available; use telnet or netcat for now.\n")
    return 2


if __name__ == "__main__":
    sys.exit(main())
