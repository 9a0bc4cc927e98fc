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
