"""
Entry point of `littlecats-client` and `python -m littlecats.client`: options and wiring.

`parser` reads `[HOST [PORT]] [--nick NICK] [--password-file PATH] [--lang pt|en]
[--no-color]`, with its help in the client's language (`--lang`, else the locale's, else the
project default).  `password` finds the password of a registered nickname: the first line of
`--password-file`, else the environment variable `LITTLECATS_PASSWORD`; never an option's
value, since anyone on the machine can read a process's command line (`ps`).  `main` picks the
mode: the terminal UI (`tui`) when standard input and output are both terminals (and not
`TERM=dumb`), else pipe mode (`pipe`), and runs it on the reactor.  Nothing else lives here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from twisted.internet.task import react

from littlecats import text as texts
from littlecats.client import render
from littlecats.messages import DEFAULT_LANGUAGE, LANGUAGES, Catalog

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 4000
PASSWORD_VARIABLE = "LITTLECATS_PASSWORD"
MAX_PASSWORD_LINE = 65536


def language(argv: Sequence[str], environ: Mapping[str, str]) -> str:
    """The client's language: C{--lang} if given and known, else the locale's, else the default."""
    for i, arg in enumerate(argv):
        value = None
        if arg == "--lang" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--lang="):
            value = arg.partition("=")[2]
        if value in LANGUAGES:
            return value
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        prefix = environ.get(variable, "")[:2]
        if prefix in LANGUAGES:
            return prefix
    return DEFAULT_LANGUAGE


def parser(catalog: Catalog) -> argparse.ArgumentParser:
    """The command line of the client, its help in the catalog's language."""
    text = catalog.text
    parser = argparse.ArgumentParser(
        prog="littlecats-client",
        usage=text("client-help-synopsis"),
        description=text("client-help-longdesc"),
    )
    parser.add_argument("host", nargs="?", default=DEFAULT_HOST, metavar="HOST")
    parser.add_argument(
        "port", nargs="?", default=DEFAULT_PORT, type=_port(catalog), metavar="PORT"
    )
    parser.add_argument("--nick", "-n", metavar="NICK", help=text("client-help-nick"))
    parser.add_argument(
        "--password-file",
        metavar="PATH",
        help=text("client-help-password-file", variable=PASSWORD_VARIABLE),
    )
    parser.add_argument(
        "--lang",
        "-l",
        choices=LANGUAGES,
        default=catalog.language,
        help=text("client-help-lang", languages=", ".join(LANGUAGES)),
    )
    parser.add_argument("--no-color", action="store_true", help=text("client-help-no-color"))
    return parser


def _port(catalog: Catalog) -> Callable[[str], int]:
    def port(value: str) -> int:
        if value.isdigit() and 0 < int(value) < 65536:
            return int(value)
        raise argparse.ArgumentTypeError(catalog.text("client-err-usage-port", port=value))

    return port


class PasswordUnreadable(Exception):
    """The password file cannot be read, or holds no password; the message says which."""


def password(path: str | None, environ: Mapping[str, str], catalog: Catalog) -> str | None:
    """The password to answer a registered nickname's prompt with, if the user gave one: the
    first line of the file at C{path} (without its line end), else C{LITTLECATS_PASSWORD}.

    @raise PasswordUnreadable: C{path} cannot be read or its first line is empty.
    """
    if path is None:
        return environ.get(PASSWORD_VARIABLE) or None
    try:
        with open(path, "rb") as file:
            first = file.readline(MAX_PASSWORD_LINE)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise PasswordUnreadable(
            catalog.text("client-err-password-file", path=path, reason=reason)
        ) from None
    secret = texts.decode(first).rstrip("\r\n")
    if not secret:
        raise PasswordUnreadable(catalog.text("client-err-password-file-empty", path=path))
    return secret


def main(argv: Sequence[str] | None = None) -> int:
    """Run the client; C{--help} and usage errors exit (0 or 2) before connecting."""
    argv = list(sys.argv[1:] if argv is None else argv)
    catalog = Catalog(language(argv, os.environ))
    command_line = parser(catalog)
    options = vars(command_line.parse_args(argv))
    try:
        secret = password(options["password_file"], os.environ, catalog)
    except PasswordUnreadable as unreadable:
        command_line.error(str(unreadable))
    interactive = (
        sys.stdin.isatty() and sys.stdout.isatty() and os.environ.get("TERM", "") != "dumb"
    )
    if interactive:
        from littlecats.client import tui

        colour = render.colour_wanted(options["no_color"], os.environ)
        react(
            lambda reactor: tui.run(
                reactor,
                options["host"],
                options["port"],
                options["nick"],
                catalog,
                colour,
                password=secret,
            )
        )
    else:
        from littlecats.client import pipe

        react(
            lambda reactor: pipe.run(
                reactor,
                options["host"],
                options["port"],
                options["nick"],
                catalog,
                password=secret,
            )
        )
    return 0  # react() exits the process itself


if __name__ == "__main__":
    sys.exit(main())
