"""
End-to-end: accounts, history and kept messages through a real `twistd littlecats`, surviving
a restart, on SQLite (the default) and on PostgreSQL; and a database that cannot be used
stopping the server with a clear message.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.test_twistd import TIMEOUT, User, _read_until, _twistd


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, int]:
    process = _twistd("--listen", "tcp:0:interface=127.0.0.1", *args, cwd=tmp_path)
    port = int(_read_until(process, r"littlecats-telnet starting on (\d+)").group(1))
    return process, port


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    assert process.wait(TIMEOUT) == 0
    process.stdout.close()


def _join(port: int, nick: str) -> User:
    user = User(port)
    user.expect(2)
    user.say(nick)
    return user


def _until(user: User, text: str) -> list[str]:
    """Lines up to and including the first that contains C{text}."""
    lines = []
    while True:
        line = user.expect()[0]
        assert line or lines, "connection closed"
        lines.append(line)
        if text in line:
            return lines


def _scenario(tmp_path: Path, *db: str) -> None:
    """Register, talk, leave a message for an absent friend, restart; everything is there."""
    process, port = _start(tmp_path, *db)
    try:
        ana = _join(port, "ana")
        _until(ana, "entrou no chat")
        ana.say("/register segredo-da-ana")
        _until(ana, "agora é seu")
        bob = _join(port, "bob")
        _until(bob, "entrou no chat")
        bob.say("/register senha-do-bob")
        _until(bob, "agora é seu")
        ana.say("olá, gatos de sempre")
        ana.say("/me ronrona")
        _until(bob, "* ana ronrona")
        bob.say("/quit")
        _until(bob, "Até logo")
        bob.close()
        ana.say("/msg bob volta logo")
        assert "a mensagem foi guardada" in _until(ana, "guardada")[-1]
        ana.close()
    finally:
        _stop(process)

    process, port = _start(tmp_path, *db)
    try:
        bob = User(port)
        bob.expect(2)
        bob.say("bob")
        assert bob.expect() == ["O apelido bob é registrado; digite a senha:"]
        bob.say("senha-do-bob")
        lines = _until(bob, "privado de ana")
        assert lines[0] == "*** Antes de você chegar em #lobby (2):"
        assert re.fullmatch(r"\[[\d/]+ [\d:]+\] <ana> olá, gatos de sempre", lines[1])
        assert re.fullmatch(r"\[[\d/]+ [\d:]+\] \* ana ronrona", lines[2])
        assert "*** O cliente bob entrou no chat dos Little Cats." in lines
        assert "*** Você se identificou como bob." in lines
        assert re.fullmatch(r"\[privado de ana, [\d/]+ [\d:]+\] volta logo", lines[-1])
        impostor = User(port)
        impostor.expect(2)
        impostor.say("ana")
        assert impostor.expect() == ["O apelido ana é registrado; digite a senha:"]
        impostor.say("nao-sei")
        assert impostor.expect(2) == ["!!! Senha incorreta.", "Escolha seu apelido:"]
        impostor.close()
        bob.close()
    finally:
        _stop(process)


def test_everything_survives_a_restart_on_sqlite(tmp_path):
    _scenario(tmp_path)
    assert (tmp_path / "littlecats.db").exists()


def test_everything_survives_a_restart_on_postgresql(tmp_path, postgresql_url):
    _scenario(tmp_path, "--db", postgresql_url)


@pytest.mark.parametrize(
    ("lang", "sentence"),
    [
        ([], "não foi possível abrir sqlite:notes.db ({path}): não é um banco de dados SQLite"),
        (["--lang", "en"], "cannot open sqlite:notes.db ({path}): it is not an SQLite database"),
    ],
    ids=["pt", "en"],
)
def test_a_file_that_is_not_a_database_stops_the_server_with_a_clear_message(
    tmp_path, lang, sentence
):
    (tmp_path / "notes.db").write_text("these are my notes, not a database\n" * 100)
    process = _twistd(*lang, "--db", "sqlite:notes.db", cwd=tmp_path)
    output, _ = process.communicate(timeout=TIMEOUT)
    assert process.returncode != 0
    text = output.decode()
    assert f"littlecats: {sentence.format(path=tmp_path / 'notes.db')}" in text
    assert "Traceback" not in text
    assert (tmp_path / "notes.db").read_text().startswith("these are my notes")


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite:"])
def test_a_bad_db_url_stops_the_server_with_a_clear_message(tmp_path, url):
    process = _twistd("--db", url, cwd=tmp_path)
    output, _ = process.communicate(timeout=TIMEOUT)
    assert process.returncode != 0
    assert "Traceback" not in output.decode()
    assert "littlecats:" in output.decode()


class UserFrom(User):
    """A netcat-like user connecting from a loopback address of its own."""

    def __init__(self, port: int, source: str) -> None:
        import socket

        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=TIMEOUT, source_address=(source, 0)
        )
        self.file = self.sock.makefile("rb")


def test_an_operator_clears_a_flooder_out_and_keeps_them_out_across_a_restart(tmp_path):
    """The issue's story: the operator bans the flooder's address; the flooder is told and
    cut; after a restart the address is still refused before any nickname."""
    process, port = _start(tmp_path, "--operator", "gata")
    try:
        op = _join(port, "gata")
        _until(op, "entrou no chat")
        op.say("/register senha-da-gata")
        _until(op, "agora é seu")
        flooder = UserFrom(port, "127.0.0.2")
        flooder.expect(2)
        flooder.say("flooder")
        _until(flooder, "entrou no chat")
        op.say("/gban 127.0.0.2 spam no saguão")
        assert _until(flooder, "baniu")[-1] == "!!! gata baniu você do servidor: spam no saguão"
        assert flooder.file.readline() == b""
        flooder.close()
        _until(op, "está banido do servidor")
        op.close()
    finally:
        _stop(process)
    process, port = _start(tmp_path, "--operator", "gata")
    try:
        again = UserFrom(port, "127.0.0.2")
        line = again.expect()[0]
        assert line.startswith("!!! Você está banido deste servidor até o banimento ser retirado")
        assert again.file.readline() == b""
        again.close()
        other = UserFrom(port, "127.0.0.3")
        assert other.expect(2)[-1] == "Escolha seu apelido:"
        other.close()
    finally:
        _stop(process)
