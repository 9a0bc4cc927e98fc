"""
End-to-end with the programs people use: a real `twistd littlecats`, reached with `telnet` and
`nc` (netcat) on pseudo-terminals, moving between rooms and chatting.

`.ci/run` installs both; where they are missing these tests are skipped, saying so.
"""

from __future__ import annotations

import shutil

import pexpect
import pytest

from tests.test_twistd import TIMEOUT, server  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(
    not (shutil.which("telnet") and shutil.which("nc")),
    reason="telnet and nc (Debian: telnet, netcat-openbsd) are not installed",
)


def _spawn(program: str, port: int) -> pexpect.spawn:
    child = pexpect.spawn(program, ["127.0.0.1", str(port)], encoding="utf-8", timeout=TIMEOUT)
    child.expect("Escolha seu apelido:")
    return child


def test_rooms_through_real_telnet_and_netcat(server):  # noqa: F811
    """A telnet user and a netcat user meet in a room, talk there, and part."""
    _process, port = server
    telnet = _spawn("telnet", port)
    netcat = None
    try:
        telnet.sendline("ana")
        telnet.expect_exact("*** O cliente ana entrou no chat dos Little Cats.")
        telnet.sendline("/join #gatos")
        telnet.expect_exact("*** Na sala #gatos (1): ana")
        netcat = _spawn("nc", port)
        netcat.sendline("bia")
        netcat.expect_exact("*** O cliente bia entrou no chat dos Little Cats.")
        telnet.expect_exact("*** O cliente bia entrou no chat dos Little Cats.")
        netcat.sendline("/join #GATOS")
        netcat.expect_exact("*** Na sala #gatos (2): ana, bia")
        telnet.expect_exact("*** bia entrou na sala #gatos.")
        telnet.sendline("miau, olá")
        netcat.expect_exact("<ana> miau, olá")
        netcat.sendline("/me ronrona")
        telnet.expect_exact("* bia ronrona")
        netcat.sendline("/rooms")
        netcat.expect_exact("***   #gatos (2)")
        netcat.sendline("/part")
        netcat.expect_exact("*** Na sala #lobby (1): bia")
        telnet.expect_exact("*** bia saiu da sala #gatos.")
        netcat.sendline("/quit")
        netcat.expect_exact("*** Até logo, bia!")
        telnet.expect_exact("*** bia saiu do chat dos Little Cats.")
    finally:
        for child in (telnet, netcat):
            if child is not None:
                child.close(force=True)


def test_passwords_typed_in_real_telnet_are_not_shown_and_netcat_sees_no_negotiation(server):  # noqa: F811
    """A registered nickname's password is hidden as it is typed in telnet (the server turns
    the terminal's echo off, then on again); netcat still works, with clean text."""
    _process, port = server
    telnet = _spawn("telnet", port)
    netcat = None
    try:
        telnet.sendline("ana")
        telnet.expect_exact("*** O cliente ana entrou no chat dos Little Cats.")
        telnet.sendline("/register segredo-da-ana")
        telnet.expect_exact("agora é seu")
        telnet.sendline("/quit")
        telnet.expect_exact("*** Até logo, ana!")
        telnet.close(force=True)

        telnet = _spawn("telnet", port)
        telnet.sendline("ana")
        telnet.expect_exact("O apelido ana é registrado; digite a senha:")
        telnet.sendline("segredo-da-ana")
        telnet.expect_exact("*** Você se identificou como ana.")
        assert "segredo-da-ana" not in telnet.before
        telnet.sendline("visível de novo")  # echo is back on: the terminal shows what is typed
        telnet.expect_exact("visível de novo")
        telnet.expect_exact("<ana> visível de novo")

        netcat = _spawn("nc", port)
        netcat.sendline("ana")
        netcat.expect_exact("O apelido ana é registrado; digite a senha:")
        netcat.sendline("segredo-da-ana")
        netcat.expect_exact("*** Você se identificou como ana.")
        assert "\ufffd" not in netcat.before and "\xff" not in netcat.before
        telnet.expect_exact("foi identificado em outra conexão")
    finally:
        for child in (telnet, netcat):
            if child is not None:
                child.close(force=True)
