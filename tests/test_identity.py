"""
Registered nicknames over the telnet door: registering, identifying at the prompt, wrong
passwords and their limit, ghosts, changing and dropping a password, hidden password entry,
look-alike nicknames and rooms, and private messages kept for a registered user who is away.
"""

from __future__ import annotations

import pytest
from twisted.logger import globalLogPublisher

from littlecats.doors.telnet.nvt import DO, DONT, ECHO, IAC, WILL, WONT
from littlecats.storage.memory import MemoryStore
from tests.helpers import Harness

PROMPT = "Escolha seu apelido:"


def registered(chat: Harness, nick: str = "ana", password: str = "segredo1"):
    """A client connected as C{nick}, which it has registered with C{password}."""
    client = chat.join(nick)
    client.line(f"/register {password}")
    assert client.lines() == [
        f"*** O apelido {nick} agora é seu: da próxima vez que entrar com ele, "
        "a senha será pedida."
    ]
    return client


def identify(chat: Harness, nick: str, password: str):
    client = chat.connect()
    client.raw()
    client.line(nick)
    assert client.lines() == [f"O apelido {nick} é registrado; digite a senha:"]
    client.line(password)
    return client


def test_register_then_take_the_nickname_back_from_another_terminal():
    chat = Harness()
    ana = registered(chat)
    ana.line("/quit")
    ana.drop()
    bob = chat.join("bob")
    again = identify(chat, "ana", "segredo1")
    assert again.lines() == [
        "*** O cliente ana entrou no chat dos Little Cats.",
        "*** Você se identificou como ana.",
    ]
    assert bob.lines() == ["*** O cliente ana entrou no chat dos Little Cats."]
    assert chat.service.members["ana"].account == "ana"


def test_a_wrong_password_gets_an_error_and_the_nickname_prompt_again():
    chat = Harness()
    registered(chat).drop()
    client = identify(chat, "ana", "errada123")
    assert client.lines() == ["!!! Senha incorreta.", PROMPT]
    client.line("outra")
    assert client.lines()[0] == "*** O cliente outra entrou no chat dos Little Cats."
    assert "ana" not in chat.service.members


def test_binary_junk_and_huge_passwords_are_wrong_passwords_and_the_connection_goes_on():
    chat = Harness()
    registered(chat).drop()
    client = chat.connect()
    client.raw()
    client.line("ana")
    client.raw()
    client.send(b"\x00\x80\xfe\x1b[2J\xc3(\r\n")
    assert client.lines() == ["!!! Senha incorreta.", PROMPT]
    client.line("ana")
    client.raw()
    client.line("x" * 2000)
    assert client.lines() == ["!!! Senha incorreta.", PROMPT]
    assert not client.closed


def test_failed_logins_are_limited_per_account_with_a_time_to_retry():
    chat = Harness()
    registered(chat).drop()
    for _ in range(5):
        assert identify(chat, "ana", "errada123").lines() == ["!!! Senha incorreta.", PROMPT]
    refused = identify(chat, "ana", "segredo1")
    assert refused.lines() == [
        "!!! Tentativas demais com a senha errada; tente de novo em 60 s.",
        PROMPT,
    ]
    chat.clock.advance(60)
    assert identify(chat, "ana", "segredo1").lines()[-1] == "*** Você se identificou como ana."


def test_identifying_closes_the_ghost_holding_the_nickname():
    chat = Harness()
    ghost = registered(chat)
    bob = chat.join("bob")
    chat.clear()
    again = identify(chat, "ana", "segredo1")
    assert ghost.lines() == [
        "!!! O apelido ana foi identificado em outra conexão; esta será encerrada."
    ]
    assert ghost.closed
    assert bob.lines() == [
        "*** ana saiu do chat dos Little Cats. (reconectou)",
        "*** O cliente ana entrou no chat dos Little Cats.",
    ]
    assert again.lines()[-1] == "*** Você se identificou como ana."
    assert chat.service.members["ana"].session == again.session.id


def test_password_change_and_unregister():
    chat = Harness()
    ana = registered(chat)
    ana.line("/password errada123 novasenha")
    assert ana.lines() == ["!!! Senha incorreta."]
    ana.line("/password segredo1 novasenha")
    assert ana.lines() == ["*** Senha alterada."]
    ana.drop()
    assert identify(chat, "ana", "segredo1").lines()[0] == "!!! Senha incorreta."
    ana = identify(chat, "ana", "novasenha")
    assert ana.lines()[-1] == "*** Você se identificou como ana."
    ana.line("/unregister novasenha")
    assert ana.lines() == ["*** O apelido ana não é mais registrado."]
    ana.drop()
    free = chat.connect()
    free.raw()
    free.line("ana")
    assert free.lines()[0] == "*** O cliente ana entrou no chat dos Little Cats."


def test_account_commands_need_an_account_and_their_arguments():
    chat = Harness()
    bob = chat.join("bob")
    for line, expected in [
        ("/register", "!!! Uso: /register SENHA"),
        ("/password so-uma", "!!! Uso: /password SENHA_ATUAL SENHA_NOVA"),
        ("/unregister", "!!! Uso: /unregister SENHA"),
        ("/password segredo1 novasenha", "!!! Você não está identificado com um apelido "
         "registrado; registre o seu com /register SENHA."),
        ("/unregister segredo1", "!!! Você não está identificado com um apelido "
         "registrado; registre o seu com /register SENHA."),
        ("/register curta", "!!! A senha precisa ter pelo menos 6 caracteres."),
        ("/register " + "é" * 513, "!!! A senha pode ter no máximo 1024 bytes."),
    ]:
        bob.line(line)
        assert bob.lines() == [expected], line
    bob.line("/register segredo1")
    bob.raw()
    bob.line("/register segredo1")
    assert bob.lines() == ["!!! O apelido bob já é registrado."]


def test_long_non_ascii_passwords_are_normalised_to_nfc():
    chat = Harness()
    password = "cafe\u0301 " + "ção🐈" * 100  # decomposed é; 500 bytes of the rest
    registered(chat, "ana", password).drop()
    composed = "café " + "ção🐈" * 100
    assert identify(chat, "ana", composed).lines()[-1] == "*** Você se identificou como ana."


def test_nick_to_a_registered_nickname_needs_its_password_and_closes_the_ghost():
    chat = Harness()
    ana = registered(chat)
    other = chat.join("outra")
    chat.clear()
    other.line("/nick ana")
    assert other.lines() == ["!!! O apelido ana é registrado; para usá-lo: /nick ana SENHA"]
    other.line("/nick ana errada123")
    assert other.lines() == ["!!! Senha incorreta."]
    other.line("/nick ana segredo1")
    assert ana.lines()[0] == (
        "!!! O apelido ana foi identificado em outra conexão; esta será encerrada."
    )
    assert other.lines() == [
        "*** ana saiu do chat dos Little Cats. (reconectou)",
        "*** outra agora se chama ana.",
        "*** Você se identificou como ana.",
    ]


def test_registered_members_keep_their_account_through_a_rename():
    chat = Harness()
    ana = registered(chat)
    ana.line("/nick anab")
    ana.raw()
    ana.line("/nick ana")
    assert ana.lines() == ["*** anab agora se chama ana."]


def test_password_entry_is_hidden_from_telnet_clients_and_restored():
    chat = Harness()
    registered(chat).drop()
    client = chat.connect()
    client.raw()
    client.send(b"ana\r\n")  # a telnet client ends lines with CR LF
    assert client.raw() == bytes((IAC, WILL, ECHO)) + (
        "O apelido ana é registrado; digite a senha:\r\n".encode()
    )
    client.send(bytes((IAC, DO, ECHO)))
    assert client.raw() == b""  # agreed: no answer to the answer
    client.send(b"segredo1\r\n")
    data = client.raw()
    assert data.startswith(bytes((IAC, WONT, ECHO)) + b"*** O cliente")
    assert "*** Você se identificou como ana." in data[3:].decode()
    client.send(bytes((IAC, DONT, ECHO)))
    assert client.raw() == b""


def test_netcat_sees_no_negotiation_at_the_password_prompt():
    chat = Harness()
    registered(chat).drop()
    client = chat.connect()
    client.raw()
    client.send(b"ana\n")  # netcat: a bare LF
    client.send(b"segredo1\n")
    data = client.raw()
    assert b"\xff" not in data
    assert data.decode().splitlines()[-1] == "*** Você se identificou como ana."


def test_passwords_never_reach_the_log():
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        chat = Harness()
        ana = registered(chat, "ana", "PalavraSecreta1")
        ana.line("/password PalavraSecreta1 OutraSecreta2")
        ana.drop()
        identify(chat, "ana", "ErradaSecreta3")
        identify(chat, "ana", "OutraSecreta2")
    finally:
        globalLogPublisher.removeObserver(events.append)
    text = repr(events)
    assert events
    for secret in ("PalavraSecreta1", "OutraSecreta2", "ErradaSecreta3"):
        assert secret not in text


@pytest.mark.parametrize(
    ("first", "second"),
    [("bob", "bоb"), ("Gato", "Gаto"), ("paypal", "раураl")],
)
def test_look_alike_nicknames_are_refused(first, second):
    chat = Harness()
    chat.join(first)
    client = chat.connect()
    client.raw()
    client.line(second)
    assert client.lines() == [
        f"!!! O apelido {second} se parece demais com {first}, que já existe; escolha outro.",
        PROMPT,
    ]


def test_a_registered_nickname_is_protected_from_look_alikes_while_away():
    chat = Harness()
    registered(chat, "bob").drop()
    client = chat.connect()
    client.raw()
    client.line("bоb")
    assert client.lines()[0].startswith("!!! O apelido bоb se parece demais com bob")
    ana = chat.join("ana")
    ana.line("/nick bоb")
    assert ana.lines()[0].startswith("!!! O apelido bоb se parece demais com bob")


def test_distinct_names_and_case_changes_are_not_look_alikes():
    chat = Harness()
    ana = chat.join("ana")
    chat.join("café")
    cafe = chat.connect()
    chat.clear()
    cafe.raw()
    cafe.line("cafe")
    assert cafe.lines()[0] == "*** O cliente cafe entrou no chat dos Little Cats."
    ana.raw()
    ana.line("/nick Ana")
    assert ana.lines() == ["*** ana agora se chama Ana."]


def test_look_alike_room_names_are_refused():
    chat = Harness()
    ana = chat.join("ana")
    ana.line("/join #gatos")
    bob = chat.join("bob")
    bob.line("/join #gаtos")
    assert bob.lines() == [
        "!!! O nome #gаtos se parece demais com a sala #gatos; entre nela com /join "
        "#gatos ou escolha outro nome."
    ]
    bob.line("/join #Gatos")
    assert bob.lines()[0] == "*** bob entrou na sala #gatos."


def test_a_message_to_an_absent_registered_user_is_kept_and_delivered_once():
    chat = Harness()
    registered(chat, "bob").drop()
    ana = chat.join("ana")
    ana.line("/msg bob oi, bob! 🐈")
    assert ana.lines() == [
        "*** bob não está conectado; a mensagem foi guardada e será entregue quando entrar."
    ]
    chat.clock.advance(3600)
    bob = identify(chat, "bob", "segredo1")
    lines = bob.lines()
    assert lines[-1].startswith("[privado de ana, ")
    assert lines[-1].endswith("] oi, bob! 🐈")
    bob.drop()
    again = identify(chat, "bob", "segredo1")
    assert not any(line.startswith("[privado") for line in again.lines())


def test_kept_messages_are_bounded_per_recipient():
    chat = Harness()
    registered(chat, "bob").drop()
    ana = chat.join("ana")
    for n in range(50):
        ana.line(f"/msg bob {n}")
    ana.raw()
    ana.line("/msg bob mais uma")
    assert ana.lines() == ["!!! Já há 50 mensagens guardadas para bob; esta não foi guardada."]
    ana.line("/msg ninguem oi")
    assert ana.lines() == ["!!! O cliente ninguem não está conectado; nada foi enviado."]


def test_accounts_and_kept_messages_survive_a_restart_on_the_same_store():
    store = MemoryStore()
    first = Harness(store=store)
    registered(first, "bob").drop()
    first.join("ana").line("/msg bob guardada")
    second = Harness(store=store)
    second.service.startService()
    client = second.connect()
    client.raw()
    client.line("bob")
    assert client.lines() == ["O apelido bob é registrado; digite a senha:"]
    client.line("segredo1")
    assert client.lines()[-1].endswith("] guardada")


def test_english():
    chat = Harness(lang="en")
    ana = chat.join("ana")
    ana.line("/register segredo1")
    assert ana.lines() == [
        "*** The nickname ana is now yours: next time you use it, its password will be asked for."
    ]
    ana.drop()
    client = chat.connect()
    client.raw()
    client.line("ana")
    assert client.lines() == ["The nickname ana is registered; type its password:"]
    client.line("nope-nope")
    assert client.lines() == ["!!! Wrong password.", "Choose your nickname:"]
