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


def test_a_server_ban_by_address_closes_the_flooder_and_refuses_them_before_any_nickname():
    chat = Harness(operators=("op",))
    op = operator(chat)
    flooder = chat.join("flooder", host="203.0.113.9")
    ana = chat.join("ana", host="198.51.100.1")
    chat.clear()
    op.line("/gban 203.0.113.0/24 2h spam no saguão")
    assert flooder.lines() == ["!!! op baniu você do servidor: spam no saguão"]
    assert flooder.closed
    assert op.lines() == [
        "*** flooder saiu do chat dos Little Cats. (banido por op)",
        "*** 203.0.113.0/24 está banido do servidor (1 conexões encerradas).",
    ]
    assert ana.lines() == ["*** flooder saiu do chat dos Little Cats. (banido por op)"]
    again = chat.connect(host="203.0.113.77")
    lines = again.lines()
    assert len(lines) == 1 and again.closed
    assert re.fullmatch(
        r"!!! Você está banido deste servidor até [\d/]+ [\d:]+\. Motivo: spam no saguão",
        lines[0],
    ), lines[0]
    assert not chat.connect(host="203.0.114.1").closed


def test_a_server_ban_expires_on_time_without_a_restart():
    chat = Harness(operators=("op",))
    op = operator(chat)
    op.line("/gban 203.0.113.9 10m")
    assert chat.connect(host="203.0.113.9").closed
    chat.clock.advance(599)
    assert chat.connect(host="203.0.113.9").closed
    chat.clock.advance(1)
    assert not chat.connect(host="203.0.113.9").closed
    op.raw()
    op.line("/gbans")
    assert op.lines() == ["*** Não há banimentos no servidor."]
    assert chat.store.bans().result == []
    op.line("/modlog 1")
    assert op.lines()[1].endswith(" - gban-expired 203.0.113.9 em -: -")


def test_a_server_ban_lasts_across_a_restart_until_lifted():
    from littlecats.storage.memory import MemoryStore

    store = MemoryStore()
    first = Harness(operators=("op",), store=store)
    op = operator(first)
    op.line("/gban 2001:db8::/32 ataques")
    assert op.lines() == ["*** 2001:db8::/32 está banido do servidor (0 conexões encerradas)."]
    second = Harness(operators=("op",), store=store)
    second.service.startService()
    refused = second.connect(host="2001:db8:1::5")
    assert refused.closed
    assert refused.lines() == [
        "!!! Você está banido deste servidor até o banimento ser retirado. Motivo: ataques"
    ]
    op2 = second.connect()
    op2.raw()
    op2.line("op")
    op2.line("senha-do-op")
    op2.raw()
    op2.line("/gbans")
    assert op2.lines() == [
        "*** Banimentos do servidor (1):",
        "***   2001:db8::/32 por op, até o banimento ser retirado: ataques",
    ]
    op2.line("/ungban 2001:DB8::/32")
    assert op2.lines() == ["*** O banimento de 2001:db8::/32 foi retirado."]
    assert not second.connect(host="2001:db8:1::5").closed
    assert store.bans().result == []


def test_server_bans_by_nickname_and_account():
    chat = Harness(operators=("op",))
    op = operator(chat)
    registered = chat.join("bob")
    registered.line("/register senha-do-bob")
    chat.clear()
    op.line("/gban account:bob")
    assert registered.closed
    client = chat.connect()
    client.raw()
    client.line("bob")
    client.line("senha-do-bob")
    assert client.lines()[-2:] == [
        "!!! Você está banido deste servidor até o banimento ser retirado. Motivo: não informado",
        "Escolha seu apelido:",
    ]
    op.line("/gban troll 1d")
    client.line("troll")
    assert client.lines()[0].startswith("!!! Você está banido deste servidor até ")
    client.line("outro")
    assert client.lines()[0] == "*** O cliente outro entrou no chat dos Little Cats."


def test_bad_masks_and_durations_are_refused_and_nothing_is_banned():
    chat = Harness(operators=("op",))
    op = operator(chat)
    for line, expected in [
        ("/gban", "!!! Uso: /gban MÁSCARA [DURAÇÃO] [motivo]"),
        (
            "/gban 0.0.0.0/0",
            "!!! 0.0.0.0/0 é amplo demais: um bloco CIDR precisa de pelo menos "
            "/8 (baniria gente demais).",
        ),
        ("/gban 10.0.0.300", "!!! 10.0.0.300 não é um endereço IP válido."),
        (
            "/gban troll 10x",
            "!!! 10x não é uma duração: use um número e uma unidade, como 30s, "
            "10m, 2h, 7d, 1w ou 1h30m.",
        ),
        ("/ungban 10.0.0.1", "!!! 10.0.0.1 não está banido."),
        ("/ungban", "!!! Uso: /ungban MÁSCARA"),
    ]:
        op.line(line)
        assert op.lines() == [expected], line
    assert len(chat.service.moderation.gbans) == 0
    ana = chat.join("ana")
    for command in ("gban 10.0.0.1", "ungban 10.0.0.1", "gbans"):
        ana.line(f"/{command}")
        assert ana.lines() == [f"!!! Só operadores do servidor podem usar /{command.split()[0]}."]


def test_a_ban_the_database_cannot_store_changes_nothing():
    from twisted.internet import defer

    from littlecats.storage.memory import MemoryStore

    class Broken(MemoryStore):
        def save_ban(self, ban):
            return defer.fail(OSError("disk full"))

    chat = Harness(operators=("op",), store=Broken())
    op = operator(chat)
    troll = chat.join("troll", host="203.0.113.9")
    op.raw()
    op.line("/gban 203.0.113.9")
    assert op.lines() == ["!!! O banimento não pôde ser guardado no banco de dados; nada mudou."]
    assert not troll.closed
    assert not chat.connect(host="203.0.113.9").closed


OWNED = (
    "*** A sala #gatos é sua: ela fica guardada mesmo vazia. /op, /deop e /drop são seus; "
    "/help mostra os comandos de moderação."
)


def test_an_identified_creator_owns_the_room_which_lasts_when_empty_and_across_restarts():
    from littlecats.storage.memory import MemoryStore

    store = MemoryStore()
    first = Harness(store=store)
    ana = operator(first, "ana", "senha-da-ana")
    ana.line("/join #gatos")
    assert OWNED in ana.lines()
    ana.line("/topic hora da ração")
    ana.line("/part")
    ana.raw()
    ana.line("/rooms")
    assert "***   #gatos (0): hora da ração" in ana.lines()
    second = Harness(store=store)
    second.service.startService()
    bob = second.join("bob")
    bob.line("/rooms")
    assert "***   #gatos (0): hora da ração" in bob.lines()
    bob.line("/join #gatos")
    lines = bob.lines()
    assert "*** Tópico de #gatos: hora da ração" in lines
    assert OWNED not in lines
    assert second.service.rooms["#gatos"].owner == "ana"


def test_an_unregistered_creator_operates_its_room_while_in_it_and_the_room_vanishes_when_empty():
    """As on IRC: nobody owns the room, its creator operates it (and may op others) while it is
    in it, and the room and its operators go when it empties."""
    chat = Harness()
    bob = chat.join("bob")
    bob.line("/join #gatos")
    assert OWNED not in bob.lines()
    bob.line("/op bob")
    assert bob.lines() == ["!!! bob já é operador(a) da sala #gatos."]
    carl = chat.join("carl")
    carl.line("/join #gatos")
    carl.line("/mode +m")
    assert carl.lines()[-1] == "!!! Só operadores da sala #gatos podem usar /mode."
    bob.line("/op carl")
    assert "*** bob fez de carl operador(a) da sala #gatos." in carl.lines()
    bob.line("/part")
    carl.line("/mode +m")
    assert carl.lines()[-1] == "*** carl mudou os modos da sala #gatos: +m"
    bob.line("/join #gatos")
    bob.line("/op bob")
    assert bob.lines()[-1] == "!!! Só operadores da sala #gatos podem usar /op."
    carl.line("/part")
    bob.line("/part")
    assert "#gatos" not in chat.service.rooms


def test_the_owner_names_and_removes_operators_by_account():
    chat = Harness()
    ana = operator(chat, "ana", "senha-da-ana")
    ana.line("/join #gatos")
    bia = operator(chat, "bia", "senha-da-bia")
    bia.line("/join #gatos")
    carl = chat.join("carl")
    carl.line("/join #gatos")
    chat.clear()
    carl.line("/op carl")
    assert carl.lines() == ["!!! Só o dono da sala #gatos pode usar /op."]
    ana.line("/op carl")
    assert ana.lines() == [
        "!!! carl não está identificado com um apelido registrado: só contas podem ser operadoras."
    ]
    ana.line("/op bia")
    assert ana.lines() == ["*** ana fez de bia operador(a) da sala #gatos."]
    assert carl.lines() == ["*** ana fez de bia operador(a) da sala #gatos."]
    assert chat.store.rooms().result[0].ops == ("bia",)
    ana.line("/op bia")
    assert ana.lines() == ["!!! bia já é operador(a) da sala #gatos."]
    bia.raw()
    bia.line("/deop bia")
    assert bia.lines() == ["!!! Só o dono da sala #gatos pode usar /deop."]
    ana.line("/deop bia")
    assert ana.lines() == ["*** ana tirou bia dos operadores da sala #gatos."]
    ana.line("/deop bia")
    assert ana.lines() == ["!!! bia não é operador(a) da sala #gatos."]
    for line, expected in [("/op", "!!! Uso: /op APELIDO"), ("/deop", "!!! Uso: /deop APELIDO")]:
        ana.line(line)
        assert ana.lines() == [expected]


def test_drop_gives_the_room_up():
    chat = Harness()
    ana = operator(chat, "ana", "senha-da-ana")
    ana.line("/join #gatos")
    ana.raw()
    ana.line("/drop")
    assert ana.lines() == [
        "*** ana liberou a sala #gatos: ela não tem mais dono e some quando ficar vazia."
    ]
    assert chat.store.rooms().result == []
    ana.line("/part")
    assert "#gatos" not in chat.service.rooms


def test_a_server_operator_can_drop_any_owned_room():
    chat = Harness(operators=("op",))
    ana = operator(chat, "ana", "senha-da-ana")
    ana.line("/join #gatos")
    ana.line("/part")
    op = operator(chat)
    op.line("/join #gatos")
    op.raw()
    op.line("/drop")
    assert op.lines()[0].startswith("*** op liberou a sala #gatos")


def owned_room(chat: Harness):
    """ana owns #gatos; troll and bia are in it too."""
    ana = operator(chat, "ana", "senha-da-ana")
    ana.line("/join #gatos")
    troll = chat.join("troll", host="203.0.113.9")
    troll.line("/join #gatos")
    bia = chat.join("bia")
    bia.line("/join #gatos")
    chat.clear()
    return ana, troll, bia


def test_kick_sends_someone_back_to_the_lobby_with_the_reason_shown_to_the_room():
    chat = Harness(history=0)
    ana, troll, bia = owned_room(chat)
    ana.line("/kick troll chega")
    notice = "*** ana expulsou troll da sala #gatos (motivo: chega)."
    assert ana.lines() == [notice]
    assert bia.lines() == [notice]
    assert troll.lines()[0] == notice
    assert troll.session.member.last_room().key == "#lobby"
    troll.line("/join #gatos")  # a kick is not a ban
    assert troll.lines()[0] == "*** troll entrou na sala #gatos."


def test_a_room_ban_sends_out_and_keeps_out_until_it_expires():
    chat = Harness()
    ana, troll, bia = owned_room(chat)
    ana.line("/ban 203.0.113.0/24 10m flood")
    notice = "*** ana baniu 203.0.113.0/24 da sala #gatos (até "
    assert ana.lines()[0].startswith(notice)
    assert troll.lines()[0].startswith(notice)
    assert troll.session.member.last_room().key == "#lobby"
    assert bia.session.member.last_room().key == "#gatos"
    troll.raw()
    troll.line("/join #gatos")
    line = troll.lines()[0]
    assert re.fullmatch(
        r"!!! Você está banido da sala #gatos até [\d/]+ [\d:]+\. Motivo: flood", line
    ), line
    ana.line("/bans")
    assert ana.lines()[0] == "*** Banimentos da sala #gatos (1):"
    chat.clock.advance(600)
    troll.line("/join #gatos")
    assert troll.lines()[0] == "*** troll entrou na sala #gatos."
    assert chat.store.bans().result == []


def test_a_room_ban_lasts_across_a_restart_in_an_owned_room_and_unban_lifts_it():
    from littlecats.storage.memory import MemoryStore

    store = MemoryStore()
    first = Harness(store=store)
    ana, _troll, _bia = owned_room(first)
    ana.line("/ban account:bob spam")
    second = Harness(store=store)
    second.service.startService()
    bob = second.join("bob")
    bob.line("/register senha-do-bob")
    bob.raw()
    bob.line("/join #gatos")
    assert bob.lines() == [
        "!!! Você está banido da sala #gatos até o banimento ser retirado. Motivo: spam"
    ]
    ana2 = second.connect()
    ana2.raw()
    ana2.line("ana")
    ana2.line("senha-da-ana")
    ana2.line("/join #gatos")
    ana2.raw()
    ana2.line("/unban account:BOB")
    assert ana2.lines() == ["*** ana retirou o banimento de account:bob da sala #gatos."]
    bob.raw()
    bob.line("/join #gatos")
    assert bob.lines()[0] == "*** bob entrou na sala #gatos."


def test_a_muted_member_cannot_speak_and_the_room_is_told():
    chat = Harness()
    ana, troll, bia = owned_room(chat)
    ana.line("/mute troll 5m")
    notice = "*** ana silenciou troll na sala #gatos (até "
    assert bia.lines()[0].startswith(notice)
    troll.raw()
    troll.line("ainda posso falar?")
    troll.line("/me tenta")
    assert troll.lines() == [
        "!!! Você está silenciado na sala #gatos; sua mensagem não foi enviada.",
        "!!! Você está silenciado na sala #gatos; sua mensagem não foi enviada.",
    ]
    assert bia.lines() == []
    troll.line("/join #outra")
    troll.line("lá eu falo")
    assert troll.lines()[-1] == "<troll> lá eu falo"
    troll.line("/join #gatos")
    troll.raw()
    chat.clock.advance(300)
    troll.line("voltei")
    assert troll.lines() == ["<troll> voltei"]
    ana.line("/mute troll")
    ana.line("/unmute troll")
    assert ana.lines()[-1] == "*** ana devolveu a voz a troll na sala #gatos."
    troll.raw()
    troll.line("obrigado")
    assert troll.lines() == ["<troll> obrigado"]


def test_room_moderation_refusals():
    chat = Harness()
    ana, troll, _bia = owned_room(chat)
    for line, expected in [
        ("/kick ana", "!!! Só operadores da sala #gatos podem usar /kick."),
        ("/ban 10.0.0.1", "!!! Só operadores da sala #gatos podem usar /ban."),
        ("/unban 10.0.0.1", "!!! Só operadores da sala #gatos podem usar /unban."),
        ("/bans", "!!! Só operadores da sala #gatos podem usar /bans."),
        ("/mute ana", "!!! Só operadores da sala #gatos podem usar /mute."),
        ("/unmute ana", "!!! Só operadores da sala #gatos podem usar /unmute."),
    ]:
        troll.line(line)
        assert troll.lines() == [expected], line
    for line, expected in [
        ("/kick", "!!! Uso: /kick APELIDO [motivo]"),
        ("/kick ninguem", "!!! ninguem não está na sala #gatos."),
        ("/ban", "!!! Uso: /ban MÁSCARA [DURAÇÃO] [motivo]"),
        ("/unban 10.0.0.1", "!!! 10.0.0.1 não está banido da sala #gatos."),
        ("/bans", "*** A sala #gatos não tem banimentos."),
        ("/mute", "!!! Uso: /mute APELIDO [DURAÇÃO]"),
        (
            "/mute troll 5x",
            "!!! 5x não é uma duração: use um número e uma unidade, como 30s, "
            "10m, 2h, 7d, 1w ou 1h30m.",
        ),
        ("/unmute troll", "!!! troll não está silenciado na sala #gatos."),
    ]:
        ana.line(line)
        assert ana.lines() == [expected], line


def test_server_operators_moderate_the_lobby_but_nobody_is_kicked_out_of_it():
    chat = Harness(operators=("op",))
    op = operator(chat)
    troll = chat.join("troll")
    chat.clear()
    op.line("/kick troll")
    assert op.lines() == [
        "!!! Ninguém é expulso do saguão #lobby: use /mute, ou /kill sendo operador do servidor."
    ]
    op.line("/mute troll")
    troll.raw()
    troll.line("spam")
    assert troll.lines() == [
        "!!! Você está silenciado na sala #lobby; sua mensagem não foi enviada."
    ]
    ana = chat.join("ana")
    ana.line("/mute troll")
    assert ana.lines() == ["!!! Só operadores da sala #lobby podem usar /mute."]


def test_a_kick_in_the_middle_of_a_busy_turn_keeps_everyone_elses_lines_in_order():
    chat = Harness()
    ana, troll, bia = owned_room(chat)
    bia.line("um")
    troll.line("dois")
    ana.line("/kick troll")
    bia.line("três")
    assert bia.lines() == [
        "<bia> um",
        "<troll> dois",
        "*** ana expulsou troll da sala #gatos (motivo: não informado).",
        "<bia> três",
    ]


def test_kick_order_seen_by_the_operator_too():
    chat = Harness()
    ana, _troll, bia = owned_room(chat)
    bia.line("um")
    ana.line("/kick troll")
    bia.line("dois")
    assert ana.lines() == [
        "<bia> um",
        "*** ana expulsou troll da sala #gatos (motivo: não informado).",
        "<bia> dois",
    ]


def test_a_private_invite_only_room_with_a_locked_topic():
    chat = Harness()
    ana, troll, _bia = owned_room(chat)
    ana.line("/topic só gatos pretos")
    ana.line("/mode +it")
    chat.clear()
    troll.line("/topic spam")
    assert troll.lines() == ["!!! Só operadores da sala #gatos podem usar /topic."]
    carl = chat.join("carl")
    carl.line("/join #gatos")
    assert carl.lines() == ["!!! A sala #gatos é só para convidados (+i)."]
    ana.raw()
    ana.line("/invite carl")
    assert ana.lines() == ["*** carl foi convidado(a) para a sala #gatos."]
    assert carl.lines() == ["*** ana convidou você para a sala #gatos: /join #gatos"]
    carl.line("/join #gatos")
    assert "*** carl entrou na sala #gatos." in carl.lines()
    ana.line("/mode")
    assert ana.lines()[-1] == "*** Modos da sala #gatos: +it"
    ana.line("/mode -it")
    assert ana.lines()[-1] == "*** ana mudou os modos da sala #gatos: -it"
    troll.raw()
    troll.line("/topic agora pode")
    assert troll.lines() == ["*** troll mudou o tópico de #gatos para: agora pode"]


def test_a_keyed_room_needs_its_key_and_the_key_is_never_shown():
    chat = Harness()
    ana, troll, bia = owned_room(chat)
    ana.line("/mode +k miau123")
    assert bia.lines() == ["*** ana mudou os modos da sala #gatos: +k"]
    carl = chat.join("carl")
    carl.line("/join #gatos")
    assert carl.lines() == ["!!! A sala #gatos pede uma senha: /join #gatos SENHA"]
    carl.line("/join #gatos errada")
    assert carl.lines() == ["!!! A sala #gatos pede uma senha: /join #gatos SENHA"]
    carl.line("/join #gatos miau123")
    assert "*** carl entrou na sala #gatos." in carl.lines()
    for line, expected in [
        ("/mode +k", "!!! +k precisa de uma senha sem espaços: /mode +k SENHA"),
        (
            "/mode +x",
            "!!! Modo desconhecido: x. Modos: +i (convidados), +t (tópico), +m "
            "(moderada), +k SENHA, +s (secreta).",
        ),
        ("/mode it", "!!! Uso: /mode [+|-MODOS] [SENHA], como /mode +it ou /mode +k segredo"),
    ]:
        ana.raw()
        ana.line(line)
        assert ana.lines() == [expected], line
    troll.raw()
    troll.line("/mode -k")
    assert troll.lines() == ["!!! Só operadores da sala #gatos podem usar /mode."]


def test_a_moderated_room_lets_only_operators_and_voiced_members_speak():
    chat = Harness()
    ana, troll, bia = owned_room(chat)
    ana.line("/mode +m")
    chat.clear()
    bia.line("posso?")
    assert bia.lines() == [
        "!!! A sala #gatos está moderada (+m): só operadores e quem tem voz falam."
    ]
    ana.line("/voice bia")
    assert troll.lines() == ["*** ana deu voz a bia na sala #gatos."]
    bia.raw()
    bia.line("agora sim")
    assert troll.lines() == ["<bia> agora sim"]
    ana.line("eu sempre posso")
    assert troll.lines() == ["<ana> eu sempre posso"]
    ana.line("/devoice bia")
    bia.raw()
    bia.line("e agora?")
    assert bia.lines()[0].startswith("!!! A sala #gatos está moderada")


def test_a_secret_room_is_not_listed_to_non_members():
    chat = Harness()
    ana, _troll, bia = owned_room(chat)
    ana.line("/mode +s")
    carl = chat.join("carl")
    carl.line("/rooms")
    assert not any("#gatos" in line for line in carl.lines())
    bia.raw()
    bia.line("/rooms")
    assert any("#gatos" in line for line in bia.lines())


def test_modes_of_an_owned_room_survive_a_restart():
    from littlecats.storage.memory import MemoryStore

    store = MemoryStore()
    first = Harness(store=store)
    ana, _troll, _bia = owned_room(first)
    ana.line("/mode +ik segredo")
    second = Harness(store=store)
    second.service.startService()
    carl = second.join("carl")
    carl.line("/join #gatos segredo")
    assert carl.lines() == ["!!! A sala #gatos é só para convidados (+i)."]


def test_connections_wait_for_the_stored_bans_after_a_start():
    from littlecats.storage.interface import BanRecord
    from tests.helpers import SlowBans

    store = SlowBans()
    store.save_ban(BanRecord("", "203.0.113.9", "op", "spam", 0.0, None))
    chat = Harness(store=store)
    chat.service.startService()
    banned = chat.connect(host="203.0.113.9")
    welcome = chat.connect(host="198.51.100.1")
    assert banned.raw() == b"" and welcome.raw() == b""
    assert banned.transport.producerState == "paused"
    store.held.callback(None)
    assert banned.lines() == [
        "!!! Você está banido deste servidor até o banimento ser retirado. Motivo: spam"
    ]
    assert banned.closed
    assert welcome.lines()[-1] == "Escolha seu apelido:"
    assert welcome.transport.producerState == "producing"


def test_an_owner_who_unregisters_gives_the_rooms_up():
    chat = Harness()
    ana = operator(chat, "ana", "senha-da-ana")
    ana.line("/join #gatos")
    ana.line("/join #lobby")
    assert chat.service.rooms["#gatos"].owner == "ana"
    ana.line("/unregister senha-da-ana")
    assert "#gatos" not in chat.service.rooms
    assert chat.store.rooms().result == []


def test_more_refusals_for_members_who_are_not_operators():
    chat = Harness()
    _ana, troll, _bia = owned_room(chat)
    for line, expected in [
        ("/drop", "!!! Só o dono da sala #gatos pode usar /drop."),
        ("/invite bia", "!!! Só operadores da sala #gatos podem usar /invite."),
        ("/voice bia", "!!! Só operadores da sala #gatos podem usar /voice."),
        ("/devoice bia", "!!! Só operadores da sala #gatos podem usar /devoice."),
        ("/invite", "!!! Uso: /invite APELIDO"),
        ("/voice", "!!! Uso: /voice APELIDO"),
        ("/devoice", "!!! Uso: /devoice APELIDO"),
    ]:
        troll.line(line)
        assert troll.lines() == [expected], line
    troll.line("/mode")
    assert troll.lines() == ["*** A sala #gatos não tem modos."]


def test_the_owner_is_told_the_room_is_theirs_after_entering_it():
    chat = Harness()
    ana = operator(chat, "ana", "senha-da-ana")
    ana.line("/join #gatos")
    assert ana.lines() == ["*** ana entrou na sala #gatos.", OWNED, "*** Na sala #gatos (1): ana"]


def test_a_room_ban_never_locks_the_rooms_operators_out():
    chat = Harness()
    ana, _troll, bia = owned_room(chat)  # ana and bia both on 127.0.0.1
    ana.line("/ban 127.0.0.1")
    assert bia.session.member.last_room().key == "#lobby"
    assert ana.session.member.last_room().key == "#gatos"
    ana.line("/part")
    ana.raw()
    ana.line("/join #gatos")
    assert "*** ana entrou na sala #gatos." in ana.lines()


def test_a_server_ban_on_the_operators_own_address_does_not_cut_the_operator_off():
    chat = Harness(operators=("op",))
    op = operator(chat)
    other = chat.join("outro")  # also on 127.0.0.1
    op.line("/gban 127.0.0.1 1m")
    assert other.closed and not op.closed
