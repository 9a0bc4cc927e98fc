"""
The IRC door, in memory: real IRC lines in and out over StringTransport, time on
MemoryReactorClock, telnet users in the same rooms.
"""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from littlecats.doors.irc import protocol
from littlecats.doors.irc.message import parse
from tests.irc_helpers import SERVER, IRCHarness, numeric


@pytest.fixture
def h() -> IRCHarness:
    return IRCHarness(lang="en")


# Registration


def test_registration_sends_the_welcome_and_joining_the_lobby_sends_join_and_names(h):
    ana = h.open()
    ana.send("NICK ana\r\nUSER ana 0 * :Ana Real\r\n")
    messages = ana.messages()
    commands = [m.command for m in messages]
    assert commands[:4] == ["001", "002", "003", "004"]
    assert all(m.source == SERVER for m in messages if m.command.isdigit())
    assert messages[0].params == ("ana", "Welcome to the Little Cats chat, ana!~ana@littlecats")
    isupport = " ".join(" ".join(m.params[1:-1]) for m in numeric(messages, "005"))
    for token in ("CASEMAPPING=rfc8265", "CHANTYPES=#", "NICKLEN=24", "CHANNELLEN=33",
                  "TOPICLEN=300", "PREFIX=(ov)@+", "CHANMODES=b,k,,imst", "UTF8ONLY"):  # fmt: skip
        assert token in isupport.split(), token
    for code in ("251", "254", "255", "375", "372", "376"):
        assert numeric(messages, code), code
    assert commands[-1] == "376"  # IRC users join the channels they choose
    ana.send("JOIN #lobby\r\n")
    join, names, end = ana.messages()
    assert join.source == "ana!~ana@littlecats" and join.params == ("#lobby",)
    assert names.params == ("ana", "=", "#lobby", "ana")
    assert end.command == "366"


def test_irssi_order_cap_then_join_before_nick_gets_451_and_registration_waits_for_cap_end(h):
    ana = h.open()
    ana.send("CAP LS 302\r\nJOIN :\r\nNICK ana\r\nUSER ana 0 * :Ana\r\n")
    messages = ana.messages()
    assert [m.command for m in messages] == ["CAP", "451"]
    assert messages[1].params == ("*", "You have not registered")
    assert not ana.closed
    ana.send("CAP REQ :server-time\r\nCAP END\r\n")
    commands = ana.commands()
    assert commands[0] == "CAP" and commands[1] == "001"
    assert "ana" in h.service.members


def test_anything_but_registration_before_registering_gets_451_never_a_disconnect(h):
    ana = h.open()
    ana.send("PRIVMSG #lobby :hi\r\nWHOIS x\r\nPING tok\r\n")
    messages = ana.messages()
    assert [m.command for m in messages] == ["451", "451", "PONG"]
    assert messages[2].params == (SERVER, "tok")
    assert not ana.closed


def test_unknown_commands_get_421(h):
    ana = h.register("ana")
    ana.send("FROBNICATE x\r\n")
    [reply] = ana.messages()
    assert reply.command == "421" and reply.params[1] == "FROBNICATE"


def test_a_nickname_in_use_gets_433_and_another_one_works(h):
    h.join("bia")
    ana = h.open()
    ana.send("NICK bia\r\nUSER ana 0 * :Ana\r\n")
    [taken] = ana.messages()
    assert taken.command == "433" and taken.params[:2] == ("*", "bia")
    ana.send("NICK ana\r\n")
    assert ana.commands()[0] == "001"


def test_an_invalid_nickname_gets_432(h):
    ana = h.open()
    ana.send("NICK [ana]\r\n")
    [bad] = ana.messages()
    assert bad.command == "432" and bad.params[1] == "[ana]"


def test_unicode_nicknames_and_channels_work(h):
    gata = h.register("Gatão")
    bia = h.join("bia")
    gata.messages()
    gata.send("JOIN #café\r\nPRIVMSG #lobby :olá\r\n")
    assert gata.messages()[0] == parse(":Gatão!~Gato@littlecats JOIN #café")
    assert "<Gatão> olá" in bia.lines()
    assert "#café" in h.service.rooms


def test_pass_is_the_password_of_a_registered_nickname(h):
    h.service.startService()
    h.service.accounts.register("ana", "ana", "segredo12")
    ana = h.open()
    ana.send("NICK ana\r\nUSER ana 0 * :Ana\r\n")
    [refused] = ana.messages()
    assert refused.command == "433"
    again = h.open()
    again.send("PASS segredo12\r\nNICK ana\r\nUSER ana 0 * :Ana\r\n")
    assert again.commands()[0] == "001"
    assert h.service.members["ana"].account == "ana"


# Messages between doors


def test_room_lines_cross_doors_both_ways(h):
    ana = h.register("ana")
    bia = h.join("bia")
    ana.messages()
    ana.send("PRIVMSG #lobby :olá gatos\r\n")
    assert bia.lines() == ["<ana> olá gatos"]
    assert ana.lines() == []  # no echo-message: the sender gets nothing back
    bia.line("oi ana")
    assert ana.lines() == [":bia!telnet@littlecats PRIVMSG #lobby :oi ana"]


def test_actions_cross_doors_as_ctcp_action(h):
    ana = h.register("ana")
    bia = h.join("bia")
    ana.messages()
    ana.send("PRIVMSG #lobby :\x01ACTION mia\x01\r\n")
    assert bia.lines() == ["* ana mia"]
    bia.line("/me ronrona")
    assert ana.lines() == [":bia!telnet@littlecats PRIVMSG #lobby :\x01ACTION ronrona\x01"]


def test_echo_message_and_server_time_and_message_tags(h):
    ana = h.register("ana", caps="echo-message server-time message-tags")
    ana.send("PRIVMSG #lobby :eco\r\n")
    [echo] = ana.messages()
    assert echo.command == "PRIVMSG" and echo.params == ("#lobby", "eco")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", echo.tags["time"])
    assert "msgid" not in echo.tags  # history is off in this harness: lines have no id


def test_private_messages_both_ways(h):
    ana = h.register("ana")
    bia = h.join("bia")
    ana.messages()
    ana.send("PRIVMSG bia :psiu\r\n")
    assert bia.lines() == ["[private from ana] psiu"]
    bia.line("/msg ana oi")
    assert ana.lines() == [":bia!telnet@littlecats PRIVMSG ana :oi"]
    ana.send("PRIVMSG ninguem :x\r\n")
    [missing] = ana.messages()
    assert missing.command == "401" and missing.params[1] == "ninguem"


def test_irc_formatting_and_terminal_escapes_never_reach_another_user(h):
    ana = h.register("ana")
    bia = h.join("bia")
    ana.messages()
    ana.send("PRIVMSG #lobby :\x0304,01red\x03 \x02bold\x02 \x1b[2Jclear\r\n")
    assert bia.lines() == ["<ana> red bold clear"]
    bia.line("\x1b]0;title\x07hi \x1b[31mred")
    assert ana.lines() == [":bia!telnet@littlecats PRIVMSG #lobby :hi red"]


def test_no_parameter_can_inject_a_line(h):
    ana = h.register("ana")
    bia = h.register("bia")
    ana.messages()
    bia.send("PRIVMSG #lobby :a\x00b\rPRIVMSG #lobby :c\r\n")
    lines = ana.lines()
    assert lines == [
        ":bia!~bia@littlecats PRIVMSG #lobby :ab",
        ":bia!~bia@littlecats PRIVMSG #lobby :c",
    ]


def test_a_long_line_from_telnet_reaches_irc_whole_in_several_messages(h):
    ana = h.register("ana")
    bia = h.join("bia")
    ana.messages()
    said = " ".join(f"palavra{n}" for n in range(180))  # ~1600 bytes
    bia.line(said)
    raw = ana.raw()
    lines = raw.split(b"\r\n")[:-1]
    assert len(lines) > 3
    # Cut to fit: 512 bytes, plus the source a relayed line may add (as on ergo).
    assert all(len(line) + 2 <= 512 + len(":bia!telnet@littlecats :") for line in lines)
    texts = [parse(line.decode()).params[1] for line in lines]
    assert " ".join(texts) == said


def test_invalid_utf8_is_refused_and_the_connection_goes_on(h):
    ana = h.register("ana")
    ana.send(b"PRIVMSG #lobby :\xff\xfe\r\nPING x\r\n")
    fail, pong = ana.messages()
    assert fail.command == "FAIL" and fail.params[:2] == ("*", "INVALID_UTF8")
    assert pong.command == "PONG"
    assert not ana.closed


def test_an_over_long_line_gets_417_and_the_connection_goes_on(h):
    ana = h.register("ana")
    ana.send("PRIVMSG #lobby :" + "x" * 600 + "\r\nPING y\r\n")
    too_long, pong = ana.messages()
    assert too_long.command == "417" and pong.command == "PONG"


# Channels


def test_join_sends_join_topic_names_then_history_with_server_time(h):
    h = IRCHarness(lang="en", history=10)
    bia = h.join("bia")
    bia.line("/join #gatos")
    bia.line("/topic os gatos")
    bia.line("miau")
    ana = h.register("ana", caps="server-time")
    h.clear()
    ana.send("JOIN #gatos\r\n")
    messages = ana.messages()
    assert [m.command for m in messages] == ["JOIN", "332", "333", "353", "366", "PRIVMSG"]
    assert messages[1].params == ("ana", "#gatos", "os gatos")
    assert messages[2].params[:3] == ("ana", "#gatos", "bia")
    assert messages[3].params[-1] == "ana @bia"  # bia made the room: she operates it
    assert messages[5].params == ("#gatos", "miau") and "time" in messages[5].tags
    assert bia.lines() == ["*** ana joined #gatos."]


def test_history_without_server_time_has_the_time_in_the_text(h):
    h = IRCHarness(lang="en", history=10)
    bia = h.join("bia")
    bia.line("antes")
    h.clear()
    ana = h.open()
    ana.send("NICK ana2\r\nUSER a 0 * :A\r\nJOIN #lobby\r\n")
    replayed = [m for m in ana.messages() if m.command == "PRIVMSG"]
    assert len(replayed) == 1
    assert re.fullmatch(r"\[\d\d:\d\d\] antes", replayed[0].params[1])


def test_part_is_told_to_the_mover_and_the_room(h):
    ana = h.register("ana")
    bia = h.join("bia")
    ana.send("JOIN #gatos\r\n")
    bia.line("/join #gatos")
    h.clear()
    ana.messages()
    ana.send("PART #gatos :tchau\r\n")
    assert ana.lines() == [":ana!~ana@littlecats PART #gatos tchau"]
    assert bia.lines() == ["*** ana left #gatos."]


def test_irc_users_choose_their_channels_the_lobby_included(h):
    bia = h.join("bia")
    ana = h.register("ana", join="")
    assert bia.lines() == ["*** ana joined the Little Cats chat."]
    assert "#lobby" not in ana.protocol.channels
    bia.line("ninguém no irc ouve isto")
    assert ana.lines() == []
    bia.lines()
    ana.send("JOIN #lobby\r\n")
    assert bia.lines() == ["*** ana joined #lobby."]
    ana.messages()
    ana.send("PART #lobby :até já\r\n")
    assert ana.lines() == [":ana!~ana@littlecats PART #lobby :até já"]
    assert bia.lines() == ["*** ana left #lobby."]
    assert h.service.members["ana"].rooms == {}


def test_quit_and_nick_reach_only_those_who_share_a_channel(h):
    ana = h.register("ana", join="#gatos")
    ze = h.register("ze", join="#cães")
    lu = h.register("lu", join="#gatos")
    for client in (ana, ze, lu):
        client.messages()
    ana.send("NICK ana2\r\n")
    assert lu.lines() == [":ana!~ana@littlecats NICK ana2"]
    assert ana.lines() == [":ana!~ana@littlecats NICK ana2"]
    assert ze.lines() == []
    ana.send("QUIT :fui\r\n")
    ana.lost()
    assert lu.messages() == [parse(":ana2!~ana@littlecats QUIT :fui")]
    assert ze.lines() == []


def test_telnet_moves_and_quits_are_part_join_and_quit(h):
    ana = h.register("ana")
    bia = h.join("bia")
    ana.messages()
    bia.line("/join #gatos")
    # ana is not in #gatos: she sees bia leave the lobby, not where to.
    assert ana.lines() == [":bia!telnet@littlecats PART #lobby"]
    ana.send("JOIN #gatos\r\n")
    ana.messages()
    bia.line("/quit")
    assert ana.lines() == [":bia!telnet@littlecats QUIT :"]


def test_names_with_multi_prefix_and_userhost_in_names(h):
    ana = h.register("ana", caps="multi-prefix userhost-in-names")
    h.join("bia")
    ana.messages()
    ana.send("NAMES #lobby\r\n")
    names, end = ana.messages()
    assert names.params[-1] == "ana!~ana@littlecats bia!telnet@littlecats"
    assert end.command == "366"


def test_topic_query_and_set(h):
    ana = h.register("ana")
    bia = h.join("bia")
    ana.send("JOIN #gatos\r\nTOPIC #gatos\r\n")
    assert ana.messages()[-1].command == "331"
    ana.send("TOPIC #gatos :gatos e mais gatos\r\n")
    assert ana.lines() == [":ana!~ana@littlecats TOPIC #gatos :gatos e mais gatos"]
    ana.send("TOPIC #gatos\r\n")
    topic, who = ana.messages()
    assert topic.command == "332" and topic.params[-1] == "gatos e mais gatos"
    assert who.command == "333" and who.params[2] == "ana"
    bia.lines()


def test_list_shows_visible_rooms(h):
    ana = h.register("ana")
    bia = h.join("bia")
    bia.line("/join #gatos")
    ana.messages()
    ana.send("LIST\r\n")
    messages = ana.messages()
    assert [m.command for m in messages] == ["321", "322", "322", "323"]
    assert {m.params[1] for m in numeric(messages, "322")} == {"#lobby", "#gatos"}


# Users


def test_who_and_whois(h):
    ana = h.register("ana")
    h.join("bia")
    ana.messages()
    ana.send("WHO #lobby\r\n")
    messages = ana.messages()
    assert [m.command for m in messages] == ["352", "352", "315"]
    assert messages[0].params == (
        "ana",
        "#lobby",
        "~ana",
        "littlecats",
        SERVER,
        "ana",
        "H",
        "0 ana Real",
    )
    ana.send("WHOIS bia\r\n")
    messages = ana.messages()
    assert [m.command for m in messages] == ["311", "319", "312", "318"]
    assert messages[0].params[:4] == ("ana", "bia", "telnet", "littlecats")
    ana.send("WHOIS ninguem\r\n")
    assert ana.commands() == ["401", "318"]


def test_away_with_away_notify_and_rpl_away(h):
    ana = h.register("ana")
    ze = h.register("ze", caps="away-notify")
    lu = h.register("lu", caps="away-notify", join="#outra")  # shares no channel with ana
    ana.messages()
    ana.send("AWAY :almoço\r\n")
    assert ana.commands() == ["306"]
    [away] = ze.messages()
    assert away.source == "ana!~ana@littlecats" and away.params == ("almoço",)
    assert lu.lines() == []
    ze.send("PRIVMSG ana :oi\r\n")
    [away] = ze.messages()
    assert away.command == "301" and away.params[1:] == ("ana", "almoço")
    ana.send("AWAY\r\n")
    assert ana.commands() == ["PRIVMSG", "305"]
    assert ze.lines() == [":ana!~ana@littlecats AWAY"]


def test_nick_change_is_seen_by_everyone(h):
    ana = h.register("ana")
    bia = h.join("bia")
    ana.messages()
    ana.send("NICK ana2\r\n")
    assert ana.lines() == [":ana!~ana@littlecats NICK ana2"]
    assert bia.lines() == ["*** ana is now known as ana2."]
    ana.send("PRIVMSG #lobby :de novo\r\n")
    assert bia.lines() == ["<ana2> de novo"]


def test_quit_says_error_closes_and_others_see_quit(h):
    ana = h.register("ana")
    bia = h.register("bia")
    ana.messages()
    ana.send("QUIT :até logo\r\n")
    assert ana.lines() == ["ERROR :Closing link: até logo"]
    assert ana.closed
    ana.lost()
    assert bia.lines() == [":ana!~ana@littlecats QUIT :até logo"]


# Moderation


def test_channel_modes_and_their_numerics(h):
    bia = h.register("bia")
    bia.send("JOIN #gatos\r\n")
    ana = h.register("ana")
    ana.send("JOIN #gatos\r\nMODE #gatos\r\n")
    assert ana.messages()[-1].command == "324"
    ana.send("MODE #gatos +i\r\n")
    [refused] = ana.messages()
    assert refused.command == "482" and refused.params[1] == "#gatos"
    ana.send("MODE ana\r\nMODE bia +i\r\nMODE ninguem\r\n")
    umode, other, missing = ana.messages()
    assert umode.command == "221" and other.command == "502" and missing.command == "401"


def test_an_operator_sets_modes_kicks_and_bans_with_irc_commands(h):
    h = IRCHarness(lang="en", operators=("op",))
    h.service.startService()
    h.service.accounts.register("op", "op", "segredo12")
    op = h.open()
    op.send("PASS segredo12\r\nNICK op\r\nUSER op 0 * :Op\r\nJOIN #gatos\r\n")
    bia = h.join("bia")
    ze = h.register("ze")
    bia.line("/join #gatos")
    ze.send("JOIN #gatos\r\n")
    h.clear()
    for client in h.ircs:
        client.messages()
    op.send("MODE #gatos +mt\r\n")
    assert ze.lines() == [":op!~op@littlecats MODE #gatos +mt"]
    op.send("KICK #gatos bia :fora\r\n")
    # bia (telnet: one room at a time) is back in the lobby.
    assert ze.messages() == [
        parse(":op!~op@littlecats KICK #gatos bia fora"),
        parse(":bia!telnet@littlecats JOIN #lobby"),
    ]
    op.send("KICK #gatos ze :fora também\r\n")
    assert ze.lines() == [":op!~op@littlecats KICK #gatos ze :fora também"]  # no PART after
    ze.send("JOIN #gatos\r\n")
    ze.messages()
    op.messages()
    op.send("MODE #gatos +b ze!*@*\r\n")
    lines = ze.lines()
    assert lines[0] == ":op!~op@littlecats MODE #gatos +b ze!*@*"
    assert lines[1:] == [":ze!~ze@littlecats PART #gatos"]
    # The ban names a mask: the room is told who it sent out.
    assert op.lines() == [
        ":op!~op@littlecats MODE #gatos +b ze!*@*",
        ":ze!~ze@littlecats PART #gatos",
    ]
    ze.send("JOIN #gatos\r\n")
    [banned] = ze.messages()
    assert banned.command == "474"


def test_invite_into_an_invite_only_room(h):
    h = IRCHarness(lang="en", operators=("op",))
    h.service.startService()
    h.service.accounts.register("op", "op", "segredo12")
    op = h.open()
    op.send("PASS segredo12\r\nNICK op\r\nUSER op 0 * :Op\r\nJOIN #gatos\r\nMODE #gatos +i\r\n")
    ze = h.register("ze")
    ze.send("JOIN #gatos\r\n")
    [closed] = ze.messages()
    assert closed.command == "473"
    op.messages()
    op.send("INVITE ze #gatos\r\n")
    assert op.commands() == ["341"]
    assert ze.lines() == [":op!~op@littlecats INVITE ze #gatos"]
    ze.send("JOIN #gatos\r\n")
    assert ze.commands()[0] == "JOIN"


def test_oper_with_an_operator_account(h):
    h = IRCHarness(lang="en", operators=("chefe",))
    h.service.startService()
    h.service.accounts.register("chefe", "chefe", "segredo12")
    ana = h.register("ana")
    ana.send("OPER ninguem x\r\n")
    assert ana.commands() == ["491"]
    ana.send("OPER chefe errada\r\n")
    assert ana.commands() == ["464"]
    h.clock.advance(60)
    ana.send("OPER chefe segredo12\r\n")
    assert ana.commands() == ["381", "MODE"]
    assert h.service.moderation.is_operator(h.service.members["ana"])


# SASL and NickServ


def _plain(account: str, password: str) -> str:
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


def test_sasl_plain_identifies_the_client_to_its_account_whatever_its_nickname(h):
    h.service.startService()
    h.service.accounts.register("ana", "ana", "segredo12")
    ana = h.open()
    ana.send("CAP LS 302\r\nNICK visitante\r\nUSER a 0 * :A\r\nCAP REQ :sasl\r\n")
    ana.messages()
    ana.send("AUTHENTICATE PLAIN\r\n")
    assert ana.lines() == ["AUTHENTICATE +"]
    ana.send(f"AUTHENTICATE {_plain('ana', 'segredo12')}\r\n")
    assert ana.commands() == ["900", "903"]
    ana.send("CAP END\r\n")
    welcome = ana.messages()[0]
    assert welcome.command == "001" and welcome.params[0] == "visitante"
    assert h.service.members["visitante"].account == "ana"
    ana.send("WHOIS visitante\r\n")
    account = numeric(ana.messages(), "330")[0]
    assert account.params[1:3] == ("visitante", "ana")


def test_sasl_with_a_wrong_password_fails_with_904_and_registration_goes_on(h):
    h.service.startService()
    h.service.accounts.register("ana", "ana", "segredo12")
    ana = h.open()
    ana.send("CAP LS 302\r\nCAP REQ :sasl\r\nNICK visitante\r\nUSER a 0 * :A\r\n")
    ana.messages()
    ana.send(f"AUTHENTICATE PLAIN\r\nAUTHENTICATE {_plain('ana', 'errada')}\r\n")
    assert ana.commands() == ["AUTHENTICATE", "904"]
    ana.send("CAP END\r\n")
    assert ana.messages()[0].params[0] == "visitante"


def test_nickserv_register_and_identify(h):
    h.service.startService()
    ana = h.register("ana")
    ana.send("PRIVMSG NickServ :REGISTER segredo12\r\n")
    [told] = ana.messages()
    assert told.command == "NOTICE" and told.source.startswith("NickServ!")
    assert h.service.accounts.registered("ana") == "ana"


# Limits and liveness


def test_a_quiet_client_is_pinged_and_closed_when_it_does_not_answer(h):
    ana = h.register("ana")
    h.clock.advance(protocol.PING_SECONDS)
    assert ana.lines() == [f"PING {SERVER}"]
    ana.send(f"PONG {SERVER}\r\n")
    h.clock.advance(protocol.PING_SECONDS)
    assert ana.lines() == [f"PING {SERVER}"]
    h.clock.advance(protocol.PING_SECONDS)
    assert ana.lines()[-1].startswith("ERROR :Closing link: Ping timeout")
    assert ana.closed


def test_a_quit_waiting_behind_the_flood_limit_still_says_why_when_the_client_hangs_up():
    h = IRCHarness(lang="en", flood_rate=1, flood_burst=5)
    bia = h.join("bia")
    ana = h.register("ana")
    bia.lines()
    ana.send("PING a\r\nPING b\r\nPING c\r\nPING d\r\nQUIT :até amanhã\r\n")
    ana.lost()  # WeeChat hangs up right after sending QUIT
    assert bia.lines() == ["*** ana left the Little Cats chat. (até amanhã)"]


def test_registration_times_out_like_a_telnet_nickname(h):
    ana = h.open()
    ana.send("NICK ana\r\n")
    h.clock.advance(h.limits.nick_timeout + 1)
    assert ana.closed


def test_an_event_is_rendered_once_per_variant_for_the_whole_door(h):
    plain = [h.register(f"p{n}") for n in range(3)]
    tagged = [h.register(f"t{n}", caps="server-time") for n in range(2)]
    bia = h.join("bia")
    for client in plain + tagged:
        client.messages()
    door = h.irc.door
    calls = []
    render = door.privmsg
    door.privmsg = lambda *args, **kwargs: calls.append(args) or render(*args, **kwargs)
    bia.line("uma vez")
    assert len(calls) == 1
    for client in plain:
        assert client.lines() == [":bia!telnet@littlecats PRIVMSG #lobby :uma vez"]
    for client in tagged:
        [line] = client.messages()
        assert "time" in line.tags and line.params == ("#lobby", "uma vez")


def test_shutdown_tells_every_irc_client(h):
    ana = h.register("ana")
    h.service.stopService()
    lines = ana.lines()
    assert lines[0].startswith(f":{SERVER} NOTICE * :")
    assert lines[1].startswith("ERROR :")


# The remaining commands and numerics


def test_need_more_params_and_reregistration_get_461_and_462(h):
    ana = h.register("ana")
    ana.send("JOIN\r\nKICK #lobby\r\nUSER a 0 * :A\r\nPASS x\r\n")
    assert ana.commands() == ["461", "461", "462", "462"]


def test_privmsg_without_recipient_or_text_gets_411_and_412_and_notice_gets_nothing(h):
    ana = h.register("ana")
    bia = h.join("bia")
    ana.messages()
    ana.send("PRIVMSG\r\nPRIVMSG #lobby\r\nPRIVMSG #lobby :\r\nPRIVMSG #lobby :   \r\n")
    ana.send("NOTICE #nada :x\r\n")
    assert ana.commands() == ["411", "412", "412", "412"]
    assert bia.lines() == []


def test_sending_to_a_channel_one_is_not_in_gets_404_and_a_missing_one_401(h):
    ana = h.register("ana", join="")
    h.register("bia", join="#gatos")
    ana.send("PRIVMSG #gatos :oi\r\nPRIVMSG #nada :oi\r\n")
    cannot, missing = ana.messages()
    assert cannot.command == "404" and cannot.params[1] == "#gatos"
    assert cannot.params[2] == h.irc.door.catalog_text("err-not-in-room", room="#gatos")
    assert missing.command == "401" and missing.params[1] == "#nada"


def test_part_of_a_channel_one_is_not_in_gets_442_and_a_bad_name_403(h):
    ana = h.register("ana")
    h.register("bia", join="#gatos")
    ana.send("PART #gatos\r\nJOIN #\r\nJOIN sem-cerquilha\r\n")
    assert ana.commands() == ["442", "403", "403"]


def test_a_key_and_a_topic_lock(h):
    bia = h.register("bia", join="#gatos")
    bia.send("MODE #gatos +tk segredo\r\n")
    ana = h.register("ana")
    ana.send("JOIN #gatos\r\n")
    assert ana.commands() == ["475"]
    ana.send("JOIN #gatos segredo\r\nTOPIC #gatos :meu\r\n")
    commands = ana.commands()
    assert commands[0] == "JOIN" and commands[-1] == "482"
    ana.send("MODE #gatos +k nova chave\r\nMODE #gatos\r\n")
    refused, modes = ana.messages()
    assert refused.command == "482" and modes.params[2] == "+kt"


def test_join_zero_leaves_every_channel(h):
    ana = h.register("ana")
    ana.send("JOIN #gatos,#cães\r\n")
    ana.messages()
    ana.send("JOIN 0\r\n")
    assert sorted(ana.lines()) == [
        ":ana!~ana@littlecats PART #cães",
        ":ana!~ana@littlecats PART #gatos",
        ":ana!~ana@littlecats PART #lobby",
    ]
    assert h.service.members["ana"].rooms == {}


def test_userhost_ison_motd_lusers_and_version(h):
    ana = h.register("ana")
    h.join("bia")
    ana.messages()
    ana.send("USERHOST bia ninguem\r\nISON bia ninguem ana\r\n")
    userhost, ison = ana.messages()
    assert userhost.command == "302" and userhost.params[1] == "bia=+telnet@littlecats"
    assert ison.command == "303" and ison.params[1] == "bia ana"
    ana.send("MOTD\r\n")
    assert ana.commands()[0] == "375"
    ana.send("LUSERS\r\n")
    lusers = ana.messages()
    assert lusers[0].command == "251" and "2 users" in lusers[0].params[1]
    ana.send("VERSION\r\n")
    assert ana.commands() == ["351"]


def test_list_with_names_and_secret_rooms(h):
    bia = h.register("bia", join="#gatos")
    bia.send("JOIN #segredo\r\nMODE #segredo +s\r\n")
    ana = h.register("ana")
    ana.send("LIST #gatos,#segredo\r\n")
    messages = ana.messages()
    assert [m.command for m in messages] == ["321", "322", "323"]
    assert messages[1].params[1:3] == ("#gatos", "1")
    ana.send("NAMES #segredo\r\nWHOIS bia\r\n")
    messages = ana.messages()
    assert messages[0].command == "366"  # no names for those outside a secret room
    [channels] = numeric(messages, "319")
    assert channels.params[-1] == "@#gatos"  # bia made #gatos; #segredo is not shown


def test_cap_after_registration_changes_how_lines_look(h):
    ana = h.register("ana")
    bia = h.join("bia")
    ana.messages()
    ana.send("CAP REQ :server-time\r\n")
    assert ana.messages()[0].params[1] == "ACK"
    bia.line("agora com hora")
    [line] = ana.messages()
    assert "time" in line.tags and line.params == ("#lobby", "agora com hora")
    ana.send("CAP REQ :-server-time\r\n")
    ana.messages()
    bia.line("sem hora")
    [line] = ana.messages()
    assert not line.tags


def _web_and_irc():
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport

    from littlecats.doors.irc.protocol import IRCFactory
    from tests.web_helpers import WebHarness

    h = WebHarness(lang="en")
    irc = IRCFactory(h.service, h.catalog, h.clock, h.limits, SERVER)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 1234))
    connection = irc.buildProtocol(transport.getPeer())
    connection.makeConnection(transport)

    def read() -> list[str]:
        for fanout in irc.door.fanouts:
            if fanout is not None:
                fanout.flush()
        data = transport.value().decode()
        transport.clear()
        return data.split("\r\n")[:-1]

    return h, connection, read


def test_a_web_page_learns_that_an_irc_user_arrives_in_no_room():
    h, ana, _ = _web_and_irc()
    page = h.enter("bia")
    ana.dataReceived(b"NICK ana\r\nUSER ana 0 * :Ana\r\n")
    [connected] = page.of("connected")
    assert connected["nick"] == "ana" and connected["lobby"] is False
    assert h.service.nicknames(h.service.rooms["#lobby"].members.values()) == ["bia"]


def test_irc_and_web_users_talk_in_a_room_and_privately():
    h, ana, read = _web_and_irc()
    page = h.enter("bia")
    ana.dataReceived(b"NICK ana\r\nUSER ana 0 * :Ana\r\nJOIN #lobby\r\n")
    read()
    page.events()
    ana.dataReceived("PRIVMSG #lobby :olá, página\r\nPRIVMSG bia :psiu\r\n".encode())
    h.flush()
    said = [e for e in page.events() if e["type"] in ("said", "private")]
    assert [(e["type"], e.get("nick") or e.get("from"), e["text"]) for e in said] == [
        ("said", "ana", "olá, página"),
        ("private", "ana", "psiu"),
    ]
    page.send({"type": "line", "room": "#lobby", "text": "oi, irc"})
    page.send({"type": "msg", "to": "ana", "text": "segredo"})
    assert read() == [
        ":bia!web@littlecats PRIVMSG #lobby :oi, irc",
        ":bia!web@littlecats PRIVMSG ana :segredo",
    ]


def test_one_user_is_in_at_most_chanlimit_channels(h):
    from littlecats.doors.irc.commands import MAX_CHANNELS

    ana = h.register("ana", join="")
    names = ",".join(f"#sala{n}" for n in range(MAX_CHANNELS + 2))
    ana.send(f"JOIN {names}\r\n")
    refused = numeric(ana.messages(), "405")
    assert [m.params[1] for m in refused] == [f"#sala{MAX_CHANNELS}", f"#sala{MAX_CHANNELS + 1}"]
    assert len(h.service.members["ana"].rooms) == MAX_CHANNELS


def test_an_away_user_joining_is_told_away_to_away_notify_members(h):
    ze = h.register("ze", caps="away-notify", join="#gatos")
    lu = h.register("lu", join="#gatos")
    ana = h.register("ana")
    ana.send("AWAY :almoço\r\n")
    for client in (ze, lu, ana):
        client.messages()
    ana.send("JOIN #gatos\r\n")
    assert ze.lines() == [":ana!~ana@littlecats JOIN #gatos", ":ana!~ana@littlecats AWAY almoço"]
    assert lu.lines() == [":ana!~ana@littlecats JOIN #gatos"]


# Whatever a client sends


_WORDS = st.sampled_from(
    ["PRIVMSG", "NOTICE", "JOIN", "PART", "MODE", "KICK", "TOPIC", "WHO", "WHOIS", "NICK",
     "AWAY", "INVITE", "CAP", "AUTHENTICATE", "LIST", "NAMES", "OPER", "USER", "PASS",
     "#lobby", "#gatos", "bia", "ana", ":", "+o", "-b", "+k", "*", "LS", "REQ", "@a=b",
     ":x!y@z", "\x01ACTION", "\x03", "\x1b[2J", "\r", "\x00", "é", "😺", " ", ","]
)  # fmt: skip


@settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    lines=st.lists(
        st.one_of(
            st.lists(_WORDS, max_size=8).map(" ".join).map(str.encode),
            st.binary(max_size=80),
        ),
        max_size=12,
    )
)
def test_nothing_a_client_sends_breaks_the_server_or_reaches_others_raw(lines):
    h = IRCHarness(lang="en")
    bia = h.join("bia")
    watcher = h.register("ze", caps="server-time message-tags echo-message")
    ana = h.register("ana")
    for line in lines:
        ana.send(line + b"\r\n")
    for line in bia.lines():  # whole lines, valid UTF-8, nothing a terminal would obey
        assert not re.search("[\x00-\x1f\x7f-\x9f]", line), line
    for client in (watcher, ana):
        for raw in client.raw().split(b"\r\n")[:-1]:
            assert b"\r" not in raw and b"\n" not in raw and b"\x00" not in raw
            parse(raw.decode())  # every line the server sends is a message
    assert "bia" in h.service.members and "ze" in h.service.members


# CHATHISTORY (draft): BEFORE and LATEST


def test_chathistory_latest_and_before_in_a_batch():
    h = IRCHarness(lang="en", history=50)
    bia = h.join("bia")
    for n in range(6):
        bia.line(f"linha {n}")
    ana = h.register("ana", caps="batch draft/chathistory message-tags server-time")
    ana.send("CHATHISTORY LATEST #lobby * 3\r\n")
    start, *lines, end = ana.messages()
    assert start.command == "BATCH" and start.params[1:] == ("chathistory", "#lobby")
    ref = start.params[0][1:]
    assert end.command == "BATCH" and end.params == ("-" + ref,)
    assert [m.params[1] for m in lines] == ["linha 3", "linha 4", "linha 5"]
    assert all(m.tags["batch"] == ref and "time" in m.tags for m in lines)
    oldest = lines[0].tags["msgid"]
    ana.send(f"CHATHISTORY BEFORE #lobby msgid={oldest} 10\r\n")
    _, *earlier, _ = ana.messages()
    assert [m.params[1] for m in earlier] == ["linha 0", "linha 1", "linha 2"]
    ana.send(f"CHATHISTORY BEFORE #lobby msgid={earlier[0].tags['msgid']} 10\r\n")
    empty = ana.messages()
    assert [m.command for m in empty] == ["BATCH", "BATCH"]
    ana.send("CHATHISTORY BEFORE #lobby timestamp=2099-01-01T00:00:00.000Z 2\r\n")
    _, *latest, _ = ana.messages()
    assert [m.params[1] for m in latest] == ["linha 4", "linha 5"]


def test_chathistory_refuses_what_it_cannot_answer():
    h = IRCHarness(lang="en", history=50)
    h.register("bia", join="#gatos")
    ana = h.register("ana", caps="batch draft/chathistory")
    ana.send("CHATHISTORY LATEST #gatos * 10\r\nCHATHISTORY AFTER #lobby * 10\r\n")
    ana.send("CHATHISTORY LATEST #lobby * 0\r\nCHATHISTORY TARGETS * * 10\r\n")
    target, after, limit, *targets = ana.messages()
    assert target.command == "FAIL" and target.params[:2] == ("CHATHISTORY", "INVALID_TARGET")
    assert after.params[:3] == ("CHATHISTORY", "INVALID_PARAMS", "AFTER")
    assert limit.params[:2] == ("CHATHISTORY", "INVALID_PARAMS")
    assert [m.command for m in targets] == ["BATCH", "BATCH"]
