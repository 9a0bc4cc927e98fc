"""
Real IRC clients for the end-to-end tests: Debian's irssi and WeeChat, each running in a
detached tmux server of its own, typed into with `tmux send-keys` and read with
`tmux capture-pane`; and plain-socket users (telnet-like, or bare IRC) for the server's side.

Every client gets an isolated home in a temporary directory (irssi: `--home` with a config
file written here; WeeChat: `--dir` with its settings given by `-r` commands) and knows one
server, tagged `lc`: HOST:PORT, no TLS, no SASL, no proxy, no autojoin, no reconnection, and
nothing connected at startup (irssi `--noconnect`, WeeChat `-a`) until the test types
`/connect lc`.  It runs with a UTF-8 locale, a minimal environment (no proxy variables reach
it) and a 200x50 screen, so that lines are not wrapped.  The tmux server has its own socket
(`tmux -L` with a unique name, in a directory of its own) and its own configuration (status
line off, panes kept after their program exits so that the last screen can still be read), and
is killed by L{IrcClient.close}, which the tests call in a C{finally}.

What a client shows is polled: L{Tmux.wait_for} captures the screen every 50 ms until a regular
expression matches or the deadline passes, then fails with the last screen in the message.
Nothing here sleeps to synchronise.

Both clients have the same small vocabulary (L{IrcClient}): C{start}, C{connect}, C{type} (a
line, as if typed and Enter pressed), C{join} (type `/join #channel` and wait until the client
shows itself in it), C{show} (bring a channel's or a query's window to the screen, once the
client has one), C{exited}, and regular expressions for what its default theme prints for a
message, an action, a join, a part, a quit and a change of nickname, so that a test reads the
same for both.

The programs are Debian's `tmux`, `irssi` and `weechat-curses` packages; L{missing} says which
are absent.  `.ci/run` installs them and sets C{LITTLECATS_REQUIRE_IRC_CLIENTS}, which turns
the tests' skip into a failure.
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

WIDTH, HEIGHT = 200, 50
POLL = 0.05  # seconds between two captures of a screen
WAIT = 30.0  # for anything a client or the server should show: generous, for a loaded CI
REQUIRE_ENV = "LITTLECATS_REQUIRE_IRC_CLIENTS"
PACKAGES = {"tmux": "tmux", "irssi": "irssi", "weechat": "weechat-curses"}  # Debian's
LOCALE = "C.UTF-8"

TMUX_CONF = """\
set -g status off
set -g remain-on-exit on
set -g history-limit 10000
set -g escape-time 0
set -g default-terminal "tmux-256color"
"""


def missing(*programs: str) -> str | None:
    """Why the named programs cannot run here (and what to install), or None."""
    absent = [name for name in programs if shutil.which(name) is None]
    if not absent:
        return None
    packages = " ".join(PACKAGES.get(name, name) for name in absent)
    return f"{', '.join(absent)} not installed (Debian: apt-get install {packages})"


class Timeout(AssertionError):
    """What was waited for did not come; the message shows what came instead."""


def compact(screen: str) -> str:
    """A screen for a message: each run of empty lines (bar separators aside) made one line."""
    out: list[str] = []
    empty = 0
    for line in screen.splitlines():
        if not line.strip(" │|"):
            empty += 1
            continue
        if empty:
            out.append(f"({empty} empty lines)" if empty > 1 else "")
            empty = 0
        out.append(line)
    return "\n".join(out)


class Tmux:
    """One program in a detached tmux server of its own, on a WIDTH x HEIGHT screen."""

    def __init__(self, directory: Path, command: list[str], env: dict[str, str]) -> None:
        self.name = f"lc-{uuid.uuid4().hex[:12]}"
        # The server's socket lives in a short directory of its own: a socket's path is
        # limited to about 100 bytes, which pytest's temporary directories can exceed.
        self.sockets = tempfile.mkdtemp(prefix="lc-tmux-")
        self.conf = directory / "tmux.conf"
        self.conf.write_text(TMUX_CONF)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "TMUX_TMPDIR": self.sockets,
            "LANG": LOCALE,
            "LC_ALL": LOCALE,
            "TERM": "xterm-256color",  # tmux's own; the program gets default-terminal
            **env,
        }
        self.command = command
        self.target = "main:0.0"

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["tmux", "-u", "-L", self.name, "-f", str(self.conf), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def start(self) -> None:
        # -e: the program's environment, whatever the tmux server's global one
        env: list[str] = []
        for key in ("HOME", "LANG", "LC_ALL"):
            env += ["-e", f"{key}={self.env[key]}"]
        self.tmux(
            "new-session", "-d", "-s", "main", "-x", str(WIDTH), "-y", str(HEIGHT),
            *env, "--", *self.command,
        )  # fmt: skip

    def screen(self) -> str:
        """The visible screen as text (no colours), trailing blanks removed."""
        result = self.tmux("capture-pane", "-p", "-J", "-t", self.target, check=False)
        if result.returncode != 0:
            return f"(capture-pane failed: {result.stderr.strip()})"
        return "\n".join(line.rstrip() for line in result.stdout.splitlines()).rstrip("\n")

    def dead(self) -> bool:
        """Whether the program has exited (its pane is kept: remain-on-exit)."""
        result = self.tmux("display-message", "-p", "-t", self.target, "#{pane_dead}", check=False)
        return result.returncode != 0 or result.stdout.strip() == "1"

    def line(self, text: str) -> None:
        """Type C{text} literally (-l: no key names) and press Enter."""
        if text:
            self.tmux("send-keys", "-t", self.target, "-l", "--", text)
        self.tmux("send-keys", "-t", self.target, "Enter")

    def wait_for(self, pattern: str, timeout: float = WAIT) -> re.Match:
        """Poll the screen until C{pattern} (re.MULTILINE) matches; fail showing the screen."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            match = regex.search(screen)
            if match:
                return match
            if time.monotonic() >= deadline:
                raise Timeout(
                    f"{pattern!r} was not shown within {timeout:g} s; the screen:\n"
                    f"{compact(screen)}"
                )
            time.sleep(POLL)

    def kill(self) -> None:
        try:
            self.tmux("kill-server", check=False)
        finally:
            shutil.rmtree(self.sockets, ignore_errors=True)


class IrcClient:
    """A real IRC client in tmux; a subclass knows its program and its default theme."""

    program: str
    ready: str  # shown once the program has started and taken its settings

    def __init__(self, directory: Path, nick: str, host: str, port: int) -> None:
        self.home = directory / f"{self.program}-{uuid.uuid4().hex[:6]}"
        self.home.mkdir(parents=True)
        self.nick, self.host, self.port = nick, host, port
        self.tmux = Tmux(self.home, self.command(), {"HOME": str(self.home)})

    def __repr__(self) -> str:
        return f"<{self.program} {self.nick} -> {self.host}:{self.port}>"

    # The program

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.tmux.start()
        self.wait_for(self.ready)
        complaint = re.search(r"Unknown settings.*|=!= .*", self.screen())
        if complaint:  # a setting given here is not one of this version's
            raise AssertionError(f"{self!r} refused its configuration: {complaint.group()}")

    def connect(self) -> None:
        """Connect to the one server it knows, `lc`."""
        self.type("/connect lc")

    def close(self) -> None:
        self.tmux.kill()

    # Driving it

    def type(self, text: str) -> None:
        """Type a line (a message or a /command) in the current window and press Enter."""
        self.tmux.line(text)

    def join(self, channel: str) -> re.Match:
        """Type `/join C{channel}`, bring its window to the screen, and wait for the client's
        own join there; the match is that line."""
        self.type(f"/join {channel}")
        self.show(channel)
        return self.wait_for(self.joined(self.nick, channel))

    def show(self, name: str, timeout: float = WAIT) -> None:
        """Bring the window of channel or query C{name} to the screen, once there is one."""
        listed = self.listed(name)
        if listed is not None:
            self.wait_for(listed, timeout)
        shown = self.shown(name)
        deadline = time.monotonic() + timeout
        with_switch = 0.0  # the first look is at the screen as it is
        while True:
            try:
                self.tmux.wait_for(shown, with_switch)
                return
            except Timeout:
                if time.monotonic() >= deadline:
                    screen = compact(self.screen())
                    raise Timeout(
                        f"{self!r}: no window for {name}; the screen:\n{screen}"
                    ) from None
            self.type(self.switch(name))
            with_switch = 0.5

    def wait_for(self, pattern: str, timeout: float = WAIT) -> re.Match:
        """Wait until C{pattern} is on the screen (re.MULTILINE)."""
        try:
            return self.tmux.wait_for(pattern, timeout)
        except Timeout as error:
            raise Timeout(f"{self!r}: {error}") from None

    def count(self, pattern: str) -> int:
        """How many times C{pattern} is on the screen now."""
        return len(re.findall(pattern, self.screen(), re.MULTILINE))

    def screen(self) -> str:
        return self.tmux.screen()

    def exited(self, timeout: float = WAIT) -> bool:
        """Whether the program exits within C{timeout}."""
        deadline = time.monotonic() + timeout
        while not self.tmux.dead():
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)
        return True

    # What it shows (regular expressions, with nick and text escaped)

    def listed(self, name: str) -> str | None:
        """Shown once there is a window for C{name}, whichever is current (None: no such)."""
        return None

    def shown(self, name: str) -> str:
        """Shown while the window of C{name} is the current one."""
        raise NotImplementedError

    def switch(self, name: str) -> str:
        """The command that makes C{name}'s window the current one."""
        raise NotImplementedError

    def message(self, nick: str, text: str) -> str:
        raise NotImplementedError

    def action(self, nick: str, text: str) -> str:
        raise NotImplementedError

    def joined(self, nick: str, channel: str) -> str:
        raise NotImplementedError

    def parted(self, nick: str, channel: str) -> str:
        raise NotImplementedError

    def quit(self, nick: str) -> str:
        raise NotImplementedError

    def renamed(self, old: str, new: str) -> str:
        raise NotImplementedError


class Irssi(IrcClient):
    """irssi 1.x with its default theme; the server is chatnet `lc` of its config file.

    Its defaults otherwise, except a shorter command queue (irssi's own flood protection
    sends a line every 2.2 s past the fifth; here every 0.2 s past the tenth), no autosave,
    no away log, no beeps.  A window it opens by itself (someone's private message) does not
    become the current one (`window_auto_change` off): `show` switches.
    """

    program = "irssi"
    ready = r"^\[\(status\)\]"  # the prompt of the status window

    def config(self) -> str:
        nick = self.nick.replace("\\", "\\\\").replace('"', '\\"')
        return f"""\
servers = (
  {{
    address = "{self.host}";
    chatnet = "lc";
    port = "{self.port}";
    use_tls = "no";
    tls_verify = "no";
    autoconnect = "no";
  }}
);
chatnets = {{ lc = {{ type = "IRC"; }}; }};
channels = ( );
settings = {{
  core = {{
    real_name = "Little Cats test";
    user_name = "gato";
    nick = "{nick}";
    settings_autosave = "no";
    awaylog_level = "none";
  }};
  "fe-common/core" = {{
    autolog = "no";
    beep_msg_level = "none";
    term_charset = "UTF-8";
  }};
  "irc/core" = {{
    alternate_nick = "";
    cmd_queue_speed = "200msec";
    cmds_max_at_once = "10";
  }};
}};
"""

    def command(self) -> list[str]:
        (self.home / "config").write_text(self.config(), encoding="utf-8")
        return ["irssi", f"--home={self.home}", "--noconnect"]

    def shown(self, name: str) -> str:
        # The status bar names the current window's item: [2:lc/#room(+modes)] or [3:lc/nick]
        return rf"^\s*\[[\d:]+\] .*\[\d+:lc/{re.escape(name)}[\](]"

    def switch(self, name: str) -> str:
        return f"/window goto {name}"

    def message(self, nick: str, text: str) -> str:
        return rf"^\d\d:\d\d <[ @%+~&]?{re.escape(nick)}> {re.escape(text)}$"

    def action(self, nick: str, text: str) -> str:
        return rf"^\d\d:\d\d +\* {re.escape(nick)} {re.escape(text)}$"

    def joined(self, nick: str, channel: str) -> str:
        return rf"^\d\d:\d\d -!- {re.escape(nick)} \[[^\]]*\] has joined {re.escape(channel)}$"

    def parted(self, nick: str, channel: str) -> str:
        return rf"^\d\d:\d\d -!- {re.escape(nick)} \[[^\]]*\] has left {re.escape(channel)}\b"

    def quit(self, nick: str) -> str:
        return rf"^\d\d:\d\d -!- {re.escape(nick)} \[[^\]]*\] has quit\b"

    def renamed(self, old: str, new: str) -> str:
        return rf"^\d\d:\d\d -!- {re.escape(old)} is now known as {re.escape(new)}$"


class WeeChat(IrcClient):
    """WeeChat 3.x or 4.x, its curses UI, with only the plugins this needs (irc, buflist).

    The server `lc` and the settings are given by `-r` commands at startup.  Someone's private
    message gets a buffer listed in the buflist bar on the left, but does not become the
    current one (WeeChat switches only for a /join the user types): `show` switches.  The
    nicklist bar is hidden, so that a line ends where its text does, and prefixes are not
    aligned (`12:34:56 @nick text`); WeeChat's anti-flood delay (2 s between the user's lines)
    is off, and it never reconnects.
    """

    program = "weechat"
    ready = r"irc\.server\.lc\.nicks = "  # the last of its -r commands has run

    def settings(self) -> list[str]:
        # WeeChat 4.0 renamed ssl to tls (on by default) and counts anti-flood in ms
        new = weechat_major() >= 4
        tls = "tls" if new else "ssl"
        flood = (
            ["/set irc.server_default.anti_flood 0"]
            if new
            else [
                "/set irc.server_default.anti_flood_prio_high 0",
                "/set irc.server_default.anti_flood_prio_low 0",
            ]
        )
        return [
            "/set weechat.startup.display_logo off",
            "/set weechat.look.buffer_time_format %H:%M:%S",
            "/set weechat.look.prefix_align none",
            "/set weechat.look.confirm_quit off",
            "/set weechat.bar.nicklist.hidden on",
            "/set weechat.network.proxy_curl ''",
            "/set irc.server_default.autoconnect off",
            "/set irc.server_default.autoreconnect off",
            "/set irc.server_default.autojoin ''",
            "/set irc.server_default.sasl_username ''",
            "/set irc.server_default.sasl_password ''",
            "/set irc.server_default.proxy ''",
            f"/set irc.server_default.{tls} off",
            *flood,
            "/set irc.server_default.username gato",
            "/set irc.server_default.realname 'Little Cats test'",
            f"/server add lc {self.host}/{self.port} -no{tls}",
            f"/set irc.server.lc.nicks {self.nick}",
        ]

    def command(self) -> list[str]:
        commands = ";".join(self.settings())
        return ["weechat", "--dir", str(self.home), "-a", "-P", "irc,buflist", "-r", commands]

    def listed(self, name: str) -> str:
        # buflist: "2.  #lobby│" (channels and queries are indented under their server)
        return rf"^\s*\d+\.\s+{re.escape(name)}\s*│"

    def shown(self, name: str) -> str:
        # the status bar: "[12:34] [3] [irc/lc] 2:#lobby{2}"
        return rf"\[irc/lc\] \d+:{re.escape(name)}(?:\{{|\s|$)"

    def switch(self, name: str) -> str:
        return f"/buffer irc.lc.{name}"

    def message(self, nick: str, text: str) -> str:
        return rf"\d\d:\d\d:\d\d [@%+~&]?{re.escape(nick)} {re.escape(text)}$"

    def action(self, nick: str, text: str) -> str:
        return rf"\d\d:\d\d:\d\d +\* [@%+~&]?{re.escape(nick)} {re.escape(text)}$"

    def joined(self, nick: str, channel: str) -> str:
        return rf"\d\d:\d\d:\d\d --> {re.escape(nick)} \([^)]*\) has joined {re.escape(channel)}$"

    def parted(self, nick: str, channel: str) -> str:
        return rf"\d\d:\d\d:\d\d <-- {re.escape(nick)} \([^)]*\) has left {re.escape(channel)}\b"

    def quit(self, nick: str) -> str:
        return rf"\d\d:\d\d:\d\d <-- {re.escape(nick)} \([^)]*\) has quit\b"

    def renamed(self, old: str, new: str) -> str:
        return rf"\d\d:\d\d:\d\d -- {re.escape(old)} is now known as {re.escape(new)}$"


def weechat_major() -> int:
    """WeeChat's major version (`weechat --version` prints e.g. 3.8), 0 if unknown."""
    try:
        out = subprocess.run(
            ["weechat", "--version"], capture_output=True, text=True, timeout=WAIT, check=False
        ).stdout
    except OSError:
        return 0
    match = re.match(r"\s*(\d+)\.", out)
    return int(match.group(1)) if match else 0


CLIENTS: dict[str, type[IrcClient]] = {"irssi": Irssi, "weechat": WeeChat}


class LineUser:
    """A user on a plain socket, as netcat would be: what the server sends, line by line.

    C{expect} reads until a line matches, keeping every line read in C{lines}, so that a
    failure shows everything that arrived.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=WAIT)
        self.sock.setblocking(False)
        self.pending = b""
        self.lines: list[str] = []
        self.read = 0  # the lines before this one were looked at by expect
        self.closed = False

    def send(self, text: str) -> None:
        self.sock.setblocking(True)
        try:
            self.sock.sendall(text.encode("utf-8") + b"\r\n")
        finally:
            self.sock.setblocking(False)

    def _fill(self, timeout: float) -> None:
        """Read what arrives within C{timeout} (C{closed} is set at the end of the stream)."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            if not selector.select(max(timeout, 0)):
                return
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.closed = True
            return
        self.pending += chunk
        *complete, self.pending = self.pending.split(b"\n")
        for raw in complete:
            self.received(raw.rstrip(b"\r").decode("utf-8", "replace"))

    def received(self, line: str) -> None:
        self.lines.append(line)

    def expect(self, pattern: str, timeout: float = WAIT) -> re.Match:
        """The first line not yet looked at that C{pattern} matches (re.search)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            while self.read < len(self.lines):
                line = self.lines[self.read]
                self.read += 1
                match = regex.search(line)
                if match:
                    return match
            remaining = deadline - time.monotonic()
            if self.closed or remaining <= 0:
                state = "the connection was closed" if self.closed else f"{timeout:g} s passed"
                shown = "\n".join(self.lines[-40:])
                raise Timeout(f"{pattern!r} not received ({state}); the last lines:\n{shown}")
            self._fill(remaining)

    def expect_exact(self, text: str, timeout: float = WAIT) -> str:
        """The first line not yet looked at that is C{text}."""
        return self.expect(rf"^{re.escape(text)}$", timeout).string

    def wait_closed(self, timeout: float = WAIT) -> bool:
        """Whether the server closes the connection within C{timeout}."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self._fill(deadline - time.monotonic())
        return self.closed

    def close(self) -> None:
        self.sock.close()


class RawIrc(LineUser):
    """A bare IRC connection (it answers PING): the server's side of the story, verbatim."""

    def __init__(self, port: int, nick: str, host: str = "127.0.0.1") -> None:
        super().__init__(port, host)
        self.nick = nick
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :raw user")

    def received(self, line: str) -> None:
        super().received(line)
        if line.startswith("PING"):
            self.send("PONG" + line[4:])
