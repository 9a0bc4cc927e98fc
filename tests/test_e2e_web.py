"""
End-to-end in a real browser: the chat page of a real `twistd littlecats` process, driven by
Chromium through Playwright, talking with telnet users (plain sockets) in the same rooms.

The server is a subprocess, so the browser never blocks a reactor; Playwright's sync API runs
in the test itself. The browser is Debian's Chromium (`/usr/bin/chromium`): Playwright's wheel
bundles its driver and never downloads a browser. Without either, these tests are skipped,
saying so, unless `LITTLECATS_REQUIRE_BROWSER` is set (`.ci/run` sets it): then they fail.

Every test saves a screenshot in tests/screenshots/ and prints its path; with
`LITTLECATS_UPDATE_SCREENSHOT=1`, the chat test's one also replaces docs/web-screenshot.png.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pexpect
import pytest
from pexpect import fdpexpect

from tests.test_twistd import TIMEOUT, _read_until, _twistd

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - reported by the skip below
    sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
REQUIRE_ENV = "LITTLECATS_REQUIRE_BROWSER"
UPDATE_ENV = "LITTLECATS_UPDATE_SCREENSHOT"
ROOT = Path(__file__).parent.parent
SCREENSHOTS = Path(__file__).parent / "screenshots"
WAIT_MS = 20_000  # for anything the page should show: generous, for a loaded CI machine


def _missing() -> str | None:
    if sync_playwright is None:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no browser: {CHROMIUM} is missing (Debian: apt-get install chromium)"
    return None


MISSING = _missing()
pytestmark = pytest.mark.skipif(
    MISSING is not None and not os.environ.get(REQUIRE_ENV), reason=str(MISSING)
)


# The browser, the server, the telnet users


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module; each test opens its own context (no shared state)."""
    if MISSING is not None:
        pytest.fail(f"{MISSING} ({REQUIRE_ENV} is set, so this is an error)", pytrace=False)
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Server:
    """A `twistd littlecats` subprocess with a telnet and a web listener on 127.0.0.1."""

    def __init__(self, cwd: Path, *args: str, telnet: int = 0, web: int = 0) -> None:
        self.cwd, self.args = cwd, args
        self.telnet, self.web = telnet, web
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = _twistd(
            "--listen", f"tcp:{self.telnet}:interface=127.0.0.1",
            "--web", f"tcp:{self.web}:interface=127.0.0.1",
            *self.args, cwd=self.cwd,
        )  # fmt: skip
        self.telnet = int(_read_until(self.process, r"littlecats-telnet starting on (\d+)")[1])
        self.web = int(_read_until(self.process, r"littlecats-web starting on (\d+)")[1])

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(TIMEOUT)
            self.process.stdout.close()
            self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web}/"


@pytest.fixture
def start_server(tmp_path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(*args: str, **ports: int) -> Server:
        server = Server(tmp_path, *args, **ports)
        servers.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def server(start_server) -> Server:
    return start_server("--db", "memory:", "--flood-rate", "0")


class Telnet:
    """A telnet user on a plain socket, read with pexpect (what netcat users see)."""

    def __init__(self, port: int, nick: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.settimeout(None)  # pexpect selects before reading
        self.child = fdpexpect.fdspawn(
            self.sock, encoding="utf-8", codec_errors="replace", timeout=TIMEOUT
        )
        self.expect("Escolha seu apelido:")
        self.say(nick)

    def say(self, line: str) -> None:
        self.child.sendline(line)

    def expect(self, text: str) -> None:
        self.child.expect_exact(text)

    def close(self) -> None:
        self.sock.detach()  # the descriptor is pexpect's to close
        self.child.close()


@pytest.fixture
def telnet() -> Iterator[Callable[[int, str], Telnet]]:
    users: list[Telnet] = []

    def connect(port: int, nick: str) -> Telnet:
        user = Telnet(port, nick)
        users.append(user)
        user.expect(f"*** O cliente {nick} entrou no chat dos Little Cats.")
        return user

    try:
        yield connect
    finally:
        for user in users:
            user.close()


class Problems:
    """What went wrong in a page: console errors, uncaught exceptions, CSP violations."""

    def __init__(self) -> None:
        self.console: list[str] = []
        self.exceptions: list[str] = []

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append(message.text)


# Records CSP violations from inside the page (an init script is not subject to the CSP).
CSP_PROBE = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture
def open_page(browser) -> Iterator[Callable[..., tuple[Page, Problems]]]:
    """A new page in a new browser context (Portuguese, desktop size unless told)."""
    contexts = []

    def open_(
        locale: str = "pt-BR", viewport: tuple[int, int] = (1280, 800), **options: object
    ) -> tuple[Page, Problems]:
        context = browser.new_context(
            locale=locale, viewport={"width": viewport[0], "height": viewport[1]}, **options
        )
        contexts.append(context)
        context.add_init_script(CSP_PROBE)
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        problems = Problems()
        page.on("console", problems.on_console)
        page.on("pageerror", lambda error: problems.exceptions.append(str(error)))
        return page, problems

    try:
        yield open_
    finally:
        for context in contexts:
            context.close()


def enter(page: Page, url: str, nick: str) -> None:
    """Open the page and choose C{nick}; return once in the lobby."""
    page.goto(url)
    page.get_by_test_id("nick-input").fill(nick)
    page.get_by_test_id("nick-submit").click()
    expect(page.get_by_test_id("tab-#lobby")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("status")).to_contain_text(f"Conectado como {nick}")


def say(page: Page, text: str) -> None:
    """Type C{text} in the message box and press Enter."""
    box = page.get_by_test_id("message-input")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def rows(page: Page, text: str):  # -> Locator
    """The rows of the open conversation that contain C{text}."""
    return page.get_by_test_id("messages").get_by_test_id("message").filter(has_text=text)


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def assert_clean(page: Page, problems: Problems, console: bool = True) -> None:
    """No uncaught exception, no CSP violation and (unless told) no console error."""
    assert problems.exceptions == []
    assert page.evaluate("window.__csp") == []
    if console:
        assert problems.console == []


# The tests


def test_chat_both_ways_in_the_lobby_and_a_second_room(server, open_page, telnet):
    """A browser user and a telnet user talk in the lobby, then both enter #gatos (the
    browser through its join control) and talk there; each sees the other's lines."""
    page, problems = open_page()
    enter(page, server.url, "gata")
    ana = telnet(server.telnet, "ana")
    expect(rows(page, "O cliente ana entrou no chat dos Little Cats.")).to_have_count(1)
    expect(page.get_by_test_id("members")).to_contain_text("ana")

    ana.say("oi, alguém no navegador?")
    expect(rows(page, "oi, alguém no navegador?")).to_contain_text("ana")
    say(page, "oi ana, daqui do navegador!")
    ana.expect("<gata> oi ana, daqui do navegador!")

    ana.say("/join #gatos")
    ana.expect("*** Na sala #gatos (1): ana")
    ana.say("/topic Gatos e seus humanos")
    page.get_by_test_id("join-input").fill("#gatos")
    page.get_by_test_id("join-submit").click()
    expect(page.get_by_test_id("tab-#gatos")).to_have_attribute("aria-selected", "true")
    ana.expect("*** gata entrou na sala #gatos.")
    expect(page.get_by_test_id("topic")).to_have_text("Gatos e seus humanos")
    expect(page.get_by_test_id("members").get_by_role("listitem")).to_have_count(2)

    ana.say("miau! bem-vinda, gata")
    expect(rows(page, "miau! bem-vinda, gata")).to_have_class(re.compile(r"\bmentioned\b"))
    ana.say("/me se espreguiça no sofá")
    expect(rows(page, "se espreguiça no sofá")).to_contain_text("ana")
    say(page, "ronron, que bom te ver por aqui")
    ana.expect("<gata> ronron, que bom te ver por aqui")
    say(page, "/me traz um novelo de lã")
    ana.expect("* gata traz um novelo de lã")

    # Meanwhile in the lobby and in private: unread counts on those tabs.
    bia = telnet(server.telnet, "bia")
    bia.say("alguém viu o novelo azul?")
    bia.say("/msg gata depois me conta de #gatos")
    bia.expect("[privado para gata] depois me conta de #gatos")
    expect(page.get_by_test_id("tab-#lobby")).to_contain_text("1")
    expect(page.get_by_test_id("tab-@bia")).to_contain_text("1")

    # The lobby's tab kept its own lines; #gatos' did not leak into it.
    page.get_by_test_id("tab-#lobby").click()
    expect(page.get_by_test_id("tab-#lobby")).not_to_contain_text("1")
    expect(rows(page, "alguém viu o novelo azul?")).to_have_count(1)
    expect(rows(page, "oi ana, daqui do navegador!")).to_have_count(1)
    expect(rows(page, "miau! bem-vinda")).to_have_count(0)
    page.get_by_test_id("tab-#gatos").click()
    expect(rows(page, "traz um novelo de lã")).to_have_count(1)
    say(page, "bia, o novelo azul está aqui em #gatos")
    ana.expect("<gata> bia, o novelo azul está aqui em #gatos")

    path = screenshot(page, "web-chat")
    if os.environ.get(UPDATE_ENV) == "1":
        shutil.copyfile(path, ROOT / "docs" / "web-screenshot.png")

    # Closing the room's tab leaves the room.
    page.get_by_test_id("close-#gatos").click()
    ana.expect("*** gata saiu da sala #gatos.")
    expect(page.get_by_test_id("tab-#gatos")).to_have_count(0)
    expect(page.get_by_test_id("tab-#lobby")).to_have_attribute("aria-selected", "true")
    assert_clean(page, problems)


def test_private_messages_both_ways(server, open_page, telnet):
    """Clicking a telnet user in the member list opens a private tab that talks to them; a
    telnet user's /msg opens a private tab in the browser, with an unread badge."""
    page, problems = open_page()
    enter(page, server.url, "gata")
    bia = telnet(server.telnet, "bia")
    page.get_by_test_id("members").get_by_test_id("member-bia").click()
    expect(page.get_by_test_id("tab-@bia")).to_have_attribute("aria-selected", "true")
    say(page, "oi bia, só pra você")
    bia.expect("[privado de gata] oi bia, só pra você")
    expect(rows(page, "oi bia, só pra você")).to_contain_text("gata")
    bia.say("/msg gata recebi, obrigada!")
    expect(rows(page, "recebi, obrigada!")).to_contain_text("bia")

    caio = telnet(server.telnet, "caio")
    caio.say("/msg gata psiu, aqui é o caio")
    caio.expect("[privado para gata] psiu, aqui é o caio")
    tab = page.get_by_test_id("tab-@caio")
    expect(tab).to_contain_text("1")  # unread
    expect(tab).to_have_attribute("aria-selected", "false")
    tab.click()
    expect(rows(page, "psiu, aqui é o caio")).to_contain_text("caio")
    say(page, "oi caio!")
    caio.expect("[privado de gata] oi caio!")
    expect(page.get_by_test_id("tab-#lobby")).not_to_contain_text("psiu")

    screenshot(page, "web-private")
    assert_clean(page, problems)


def test_history_on_entry_and_scrolling_up_for_older_lines(start_server, open_page, telnet):
    """The last lines said before arriving are shown, marked as earlier; scrolling up to the
    top of the list loads the older ones, above them, until the beginning."""
    server = start_server("--db", "memory:", "--history", "5", "--flood-rate", "0")
    ana = telnet(server.telnet, "ana")
    for n in range(1, 21):
        ana.say(f"linha {n:02}")
    ana.expect("<ana> linha 20")

    page, problems = open_page()
    enter(page, server.url, "gata")
    expect(rows(page, "Antes de você chegar em #lobby (5):")).to_have_count(1)
    earlier = page.get_by_test_id("messages").locator(".msg.earlier")
    expect(earlier).to_have_count(5)
    expect(earlier.first).to_contain_text("linha 16")
    expect(earlier.last).to_contain_text("linha 20")
    expect(rows(page, "linha 15")).to_have_count(0)
    ana.say("agora ao vivo")
    expect(rows(page, "agora ao vivo")).not_to_have_class(re.compile(r"\bearlier\b"))

    # Scroll up at the top of the list (the wheel, as a user would).
    page.get_by_test_id("messages").hover()
    page.mouse.wheel(0, -3000)
    expect(earlier).to_have_count(20)
    expect(earlier.first).to_contain_text("linha 01")
    texts = earlier.all_inner_texts()
    assert [t.split("linha ")[1] for t in texts] == [f"{n:02}" for n in range(1, 21)]
    page.mouse.wheel(0, -3000)
    expect(page.get_by_test_id("messages")).to_contain_text("Início do histórico de #lobby.")
    expect(earlier).to_have_count(20)

    screenshot(page, "web-history")
    assert_clean(page, problems)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reconnects_after_a_server_restart(start_server, tmp_path, open_page, telnet):
    """When the server restarts, the page says it is reconnecting, comes back under the same
    nickname, enters the rooms it had open again, and the chat goes on."""
    ports = {"telnet": _free_port(), "web": _free_port()}
    args = ("--db", f"sqlite:{tmp_path / 'chat.db'}", "--flood-rate", "0")
    server = start_server(*args, **ports)
    page, problems = open_page()
    enter(page, server.url, "gata")
    page.get_by_test_id("join-input").fill("#gatos")
    page.get_by_test_id("join-input").press("Enter")
    expect(page.get_by_test_id("tab-#gatos")).to_have_attribute("aria-selected", "true")
    say(page, "antes de reiniciar")

    server.stop()
    status = page.get_by_test_id("status")
    expect(status).to_contain_text("reconectando em")
    server = start_server(*args, **ports)
    expect(status).to_contain_text("Conectado como gata")
    expect(page.get_by_test_id("tab-#gatos")).to_have_attribute("aria-selected", "true")
    expect(rows(page, "Reconectado.")).to_have_count(1)
    expect(rows(page, "antes de reiniciar")).to_have_count(1)  # not repeated by the replay

    ana = telnet(server.telnet, "ana")
    ana.say("/join #gatos")
    ana.expect("*** Na sala #gatos (2): ana, gata")
    ana.say("voltamos!")
    expect(rows(page, "voltamos!")).to_contain_text("ana")
    say(page, "de volta, e ainda em #gatos")
    ana.expect("<gata> de volta, e ainda em #gatos")

    screenshot(page, "web-reconnect")
    # The browser logs the refused connections while the server was down: only those.
    assert_clean(page, problems, console=False)
    assert all("WebSocket" in line for line in problems.console), problems.console


HOSTILE = [
    "<img src=x onerror=\"document.title='pwned'\">",
    "<script>document.title='pwned'</script>",
]


def test_hostile_text_is_shown_as_text(server, open_page, telnet):
    """HTML in chat lines, actions and private messages is shown literally: nothing runs,
    nothing is fetched, the page reports no error and no CSP violation."""
    page, problems = open_page()
    enter(page, server.url, "gata")
    ana = telnet(server.telnet, "ana")
    for text in HOSTILE:
        ana.say(text)
        expect(rows(page, text)).to_have_count(1)
    ana.say("/me <b onmouseover=alert(1)>negrito</b>")
    expect(rows(page, "<b onmouseover=alert(1)>negrito</b>")).to_have_count(1)
    ana.say("/msg gata <svg onload=\"document.title='pwned'\"></svg>")
    page.get_by_test_id("tab-@ana").click()
    expect(rows(page, "<svg onload=")).to_have_count(1)

    messages = page.get_by_test_id("messages")
    assert messages.locator("img, script, svg, b").count() == 0
    page.get_by_test_id("tab-#lobby").click()
    assert page.get_by_test_id("messages").locator("img, script, svg, b").count() == 0
    rows(page, "negrito").hover()
    assert page.title() == "Little Cats"
    screenshot(page, "web-hostile")
    assert_clean(page, problems)


def test_registered_nickname_asks_for_its_password(server, open_page, telnet):
    """A nickname registered over telnet: the page asks for its password, refuses a wrong
    one, and with the right one is in, closing the telnet connection that held it."""
    ana = telnet(server.telnet, "ana")
    ana.say("/register senha-secreta")
    ana.expect("agora é seu")

    page, problems = open_page()
    page.goto(server.url)
    page.get_by_test_id("nick-input").fill("ana")
    page.get_by_test_id("nick-submit").click()
    password = page.get_by_test_id("password-input")
    expect(password).to_be_visible()
    expect(password).to_have_attribute("type", "password")
    password.fill("errada-demais")
    page.get_by_test_id("nick-submit").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("Senha incorreta.")
    password.fill("senha-secreta")
    password.press("Enter")
    expect(page.get_by_test_id("status")).to_contain_text("Conectado como ana")
    expect(page.get_by_test_id("messages")).to_contain_text("Você se identificou como ana.")
    ana.expect("foi identificado em outra conexão")
    ana.child.expect(pexpect.EOF)
    screenshot(page, "web-registered")

    # Identified again elsewhere, the page is told why, and does not reconnect.
    again = Telnet(server.telnet, "ana")
    try:
        again.expect("O apelido ana é registrado; digite a senha:")
        again.say("senha-secreta")
        again.expect("*** Você se identificou como ana.")
        status = page.get_by_test_id("status")
        expect(status).to_contain_text("foi identificado em outra conexão")
        expect(status).to_have_attribute("data-state", "stopped")
        expect(page.get_by_test_id("reconnect-now")).to_be_visible()
    finally:
        again.close()
    assert_clean(page, problems)


def test_english_and_the_language_switch(server, open_page, telnet):
    """A browser that prefers English gets the page and the chat's lines in English; the
    PT/EN switch changes them, lines already shown included, and is remembered."""
    page, problems = open_page(locale="en-US")
    page.goto(server.url)
    expect(page.get_by_test_id("login")).to_contain_text("Join the Little Cats chat")
    expect(page.locator("label[for=nick-input]")).to_have_text("Nickname")
    page.get_by_test_id("nick-input").fill("gata")
    page.get_by_test_id("nick-input").press("Enter")
    expect(page.get_by_test_id("status")).to_contain_text("Connected as gata")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    telnet(server.telnet, "ana")
    expect(rows(page, "ana joined the Little Cats chat.")).to_have_count(1)
    expect(page.get_by_test_id("send")).to_contain_text("Send")

    page.get_by_test_id("lang-switch").click()
    expect(page.get_by_test_id("status")).to_contain_text("Conectado como gata")
    expect(rows(page, "O cliente ana entrou no chat dos Little Cats.")).to_have_count(1)
    expect(page.get_by_test_id("send")).to_contain_text("Enviar")
    expect(page.locator("html")).to_have_attribute("lang", "pt")
    page.reload()
    expect(page.get_by_test_id("login")).to_contain_text("Entre no chat dos Little Cats")
    page.get_by_test_id("lang-switch").click()
    expect(page.get_by_test_id("login")).to_contain_text("Join the Little Cats chat")

    screenshot(page, "web-english")
    assert_clean(page, problems)


def test_phone_sized_screen(server, open_page, telnet):
    """On a phone-sized screen the room list and members fold behind buttons; a message can
    still be sent, and the room list opened."""
    page, problems = open_page(viewport=(390, 844), is_mobile=True, has_touch=True)
    enter(page, server.url, "gata")
    ana = telnet(server.telnet, "ana")
    expect(page.get_by_test_id("sidebar")).to_be_hidden()
    expect(page.get_by_test_id("members")).to_be_hidden()
    say(page, "mandando do celular")
    ana.expect("<gata> mandando do celular")
    ana.say("chegou!")
    expect(rows(page, "chegou!")).to_have_count(1)
    screenshot(page, "web-phone")

    page.get_by_test_id("members-toggle").click()
    expect(page.get_by_test_id("members")).to_contain_text("ana")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("members")).to_be_hidden()

    page.get_by_test_id("sidebar-toggle").click()
    expect(page.get_by_test_id("sidebar")).to_be_visible()
    page.get_by_test_id("room-list-toggle").click()
    expect(page.get_by_test_id("rooms").get_by_test_id("room-#lobby")).to_contain_text("2")
    screenshot(page, "web-phone-rooms")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("sidebar")).to_be_hidden()
    assert_clean(page, problems)
