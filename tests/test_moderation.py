"""
Moderation through the telnet door: server operators (--operator) and what only they can do,
every refusal, and the moderation log.
"""

from __future__ import annotations

import re

from tests.helpers import Harness


def operator(chat: Harness, nick: str = "op", password: str = "senha-do-op"):
    """A client identified to the registered account C{nick}."""
    client = chat.join(nick)
    client.line(f"/register {password}")
    client.raw()
    return client


def test_an_operator_kills_a_flooder_who_is_told_why_and_everyone_sees_it():
    chat = Harness(operators=("op",))
    op = operator(chat)
    troll = chat.join("troll")
    ana = chat.join("ana")
    chat.clear()
    op.line("/kill troll chega de flood")
    assert troll.lines() == ["!!! op desconectou você do chat: chega de flood"]
    assert troll.closed
    expected = "*** troll saiu do chat dos Little Cats. (desconectado por op: chega de flood)"
    assert ana.lines() == [expected]
    assert op.lines() == [expected]
    assert "troll" not in chat.service.members


def test_kill_without_a_reason():
    chat = Harness(operators=("op",))
    op = operator(chat)
    troll = chat.join("troll")
    chat.clear()
    op.line("/kill TROLL")
    assert troll.lines() == ["!!! op desconectou você do chat."]
    assert op.lines() == ["*** troll saiu do chat dos Little Cats. (desconectado por op)"]


def test_only_operators_may_kill_wall_or_read_the_log():
    chat = Harness(operators=("op",))
    ana = chat.join("ana")
    chat.join("bob")
    chat.clear()
    for line, command in [
        ("/kill bob", "kill"),
        ("/kill", "kill"),
        ("/wall olá a todos", "wall"),
        ("/wall", "wall"),
        ("/modlog", "modlog"),
    ]:
        ana.line(line)
        assert ana.lines() == [f"!!! Só operadores do servidor podem usar /{command}."], line
    assert "bob" in chat.service.members


def test_an_unidentified_member_with_an_operators_nickname_is_no_operator():
    chat = Harness(operators=("op",))
    impostor = chat.join("op")  # not registered: not identified to the account
    chat.join("bob")
    impostor.raw()
    impostor.line("/kill bob")
    assert impostor.lines() == ["!!! Só operadores do servidor podem usar /kill."]


def test_operator_usage_and_errors():
    chat = Harness(operators=("op",))
    op = operator(chat)
    for line, expected in [
        ("/kill", "!!! Uso: /kill APELIDO [motivo]"),
        ("/kill ninguem", "!!! O cliente ninguem não está conectado; nada foi enviado."),
        ("/wall", "!!! Uso: /wall texto"),
        ("/wall " + "x" * 401, "!!! O aviso pode ter no máximo 400 caracteres."),
        ("/modlog 0", "!!! Uso: /modlog [N], com N de 1 a 200"),
        ("/modlog muitos", "!!! Uso: /modlog [N], com N de 1 a 200"),
    ]:
        op.line(line)
        assert op.lines() == [expected], line


def test_wall_reaches_everyone_in_every_room():
    chat = Harness(operators=("op",))
    op = operator(chat)
    ana = chat.join("ana")
    ana.line("/join #gatos")
    chat.clear()
    op.line("/wall o servidor reinicia às 22h")
    assert ana.lines() == ["*** Aviso de op: o servidor reinicia às 22h"]
    assert op.lines() == ["*** Aviso de op: o servidor reinicia às 22h"]


def test_the_moderation_log_keeps_who_did_what_to_whom_and_why():
    chat = Harness(operators=("op",))
    op = operator(chat)
    chat.join("troll")
    op.line("/wall atenção")
    op.line("/kill troll spam")
    op.raw()
    op.line("/modlog")
    lines = op.lines()
    assert lines[0] == "*** Últimas ações de moderação (2), da mais recente:"
    assert re.fullmatch(r"\*\*\*   [\d/]+ [\d:]+ op kill troll em -: spam", lines[1]), lines[1]
    assert re.fullmatch(r"\*\*\*   [\d/]+ [\d:]+ op wall - em -: atenção", lines[2]), lines[2]
    op.line("/modlog 1")
    assert len(op.lines()) == 2


def test_operators_see_their_commands_in_help_and_others_do_not():
    chat = Harness(operators=("op",))
    op = operator(chat)
    ana = chat.join("ana")
    op.line("/help")
    assert "*** Comandos de operador:" in op.lines()
    ana.line("/help")
    assert "*** Comandos de operador:" not in ana.lines()


def test_english():
    chat = Harness(lang="en", operators=("op",))
    op = operator(chat)
    troll = chat.join("troll")
    chat.clear()
    op.line("/kill troll bye")
    assert troll.lines() == ["!!! op disconnected you from the chat: bye"]
