"""Tests for littlecats.moderation.bans: which ban applies, replacement and removal, expiry on
time with one timer, and a brute-force model of BanList.match."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.testing import MemoryReactorClock

from littlecats.moderation import Ban, BanList, parse_mask

FAST = settings(max_examples=250, derandomize=True, database=None, deadline=None)


def ban(text, expires=None, created=0.0, setter="op", reason=""):
    return Ban(parse_mask(text), setter, reason, created, expires)


class Recorder:
    """An expired callback remembering each ban with the clock's time."""

    def __init__(self, clock):
        self.clock = clock
        self.calls = []

    def __call__(self, expired_ban):
        self.calls.append((self.clock.seconds(), expired_ban))

    @property
    def bans(self):
        return [b for _, b in self.calls]


def make(expired=True):
    clock = MemoryReactorClock()
    recorder = Recorder(clock)
    return clock, recorder, BanList(clock, recorder if expired else None)


def timers(clock):
    """The times of the pending delayed calls (the ban list's timer: at most one)."""
    return [call.getTime() for call in clock.getDelayedCalls()]


# -- matching ----------------------------------------------------------------------------------


def test_empty_list_matches_nothing():
    _, _, bans = make()
    assert bans.match("alice", "alice", "10.0.0.1") is None
    assert bans.match(None, None, None) is None
    assert len(bans) == 0
    assert list(bans) == []


def test_each_kind_matches():
    _, _, bans = make()
    nick, account = ban("Alice"), ban("account:Bob")
    ip4, ip6 = ban("203.0.113.7"), ban("2001:db8::7")
    block4, block6 = ban("198.51.100.0/24"), ban("2001:db8:1::/48")
    for b in (nick, account, ip4, ip6, block4, block6):
        assert bans.add(b) is None
    assert bans.match("alice", None, None) is nick
    assert bans.match(None, "bob", None) is account
    assert bans.match("bob", None, None) is None  # a nickname ban is not an account ban
    assert bans.match(None, "alice", None) is None
    assert bans.match(None, None, "203.0.113.7") is ip4
    assert bans.match(None, None, "::ffff:203.0.113.7") is ip4
    assert bans.match(None, None, "2001:db8::7") is ip6
    assert bans.match(None, None, "2001:db8:0:0::7%eth0") is ip6
    assert bans.match(None, None, "198.51.100.200") is block4
    assert bans.match(None, None, "::ffff:198.51.100.1") is block4
    assert bans.match(None, None, "2001:db8:1:ffff::1") is block6
    for free in ("203.0.113.8", "198.51.101.0", "2001:db8:2::1", "::c633:6401", "localhost"):
        assert bans.match("carol", "carol", free) is None
    assert bans.match(None, None, None) is None


def test_which_ban_applies():
    """Nickname, then account, then exact address, then the most specific block."""
    _, _, bans = make()
    wide, narrow = ban("10.0.0.0/8"), ban("10.1.0.0/16")
    exact, nick, account = ban("10.1.2.3"), ban("alice"), ban("account:alice")
    for b in (wide, narrow, exact, account, nick):
        bans.add(b)
    assert bans.match("alice", "alice", "10.1.2.3") is nick
    assert bans.match("bob", "alice", "10.1.2.3") is account
    assert bans.match("bob", "bob", "10.1.2.3") is exact
    assert bans.match("bob", "bob", "10.1.2.4") is narrow
    assert bans.match("bob", "bob", "10.2.0.1") is wide
    assert bans.match("bob", "bob", "11.0.0.1") is None


def test_ipv6_block_does_not_ban_ipv4_clients():
    """An IPv4 client is matched by IPv4 entries only, even mapped into IPv6."""
    _, _, bans = make()
    bans.add(ban("::/16"))
    bans.add(ban("::ffff:1.2.3.0/120"))  # this one is the IPv4 block 1.2.3.0/24
    assert bans.match(None, None, "::1") == ban("::/16")
    assert bans.match(None, None, "::ffff:1.2.3.4") == ban("1.2.3.0/24")
    assert bans.match(None, None, "::ffff:1.2.4.4") is None
    assert bans.match(None, None, "1.2.4.4") is None


def test_blocks_of_every_length():
    """Nested blocks of every allowed length, in both families: the longest covering wins, and
    removing lengths (the lookup's plan) keeps the rest working."""
    _, _, bans = make()
    v4 = {n: ban(f"10.255.255.255/{n}") for n in range(8, 32)}
    v6 = {n: ban(f"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/{n}") for n in range(16, 128)}
    for b in [*v4.values(), *v6.values()]:
        bans.add(b)
    assert len(bans) == 24 + 112
    for n in range(31, 7, -1):
        assert bans.match(None, None, "10.255.255.255") is v4[n]
        bans.remove(v4[n].mask)
    assert bans.match(None, None, "10.255.255.255") is None
    for n in range(127, 15, -1):
        assert bans.match(None, None, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff") is v6[n]
        assert bans.match(None, None, "2001:db8::") is (v6[n] if n <= 32 else v6[32])
        bans.remove(v6[n].mask)
    assert bans.match(None, None, "2001:db8::") is None
    assert len(bans) == 0


# -- add, remove, iterate ----------------------------------------------------------------------


def test_add_replaces_the_ban_on_the_same_mask():
    _, _, bans = make()
    first = ban("10.0.0.0/8", reason="spam")
    second = ban("10.9.9.9/8", reason="still spam", created=5)
    assert bans.add(first) is None
    assert bans.add(second) is first
    assert bans.match(None, None, "10.1.1.1") is second
    assert bans.get(parse_mask("10.0.0.0/8")) is second
    assert len(bans) == 1
    assert bans.add(ban("ALICE")) is None
    assert bans.add(ban("alice", reason="again")) == ban("alice")
    assert len(bans) == 2


def test_remove():
    _, _, bans = make()
    b = ban("2001:db8::/32")
    bans.add(b)
    assert bans.remove(parse_mask("2001:db8:0:0:1::/32")) is b
    assert bans.remove(b.mask) is None
    assert bans.match(None, None, "2001:db8::1") is None
    assert bans.get(b.mask) is None
    assert len(bans) == 0
    for text in ("alice", "account:alice", "10.0.0.1", "2001:db8::1", "10.0.0.0/8"):
        bans.add(ban(text))
        assert bans.remove(parse_mask(text)) is not None
    assert bans.match("alice", "alice", "10.0.0.1") is None
    assert bans.match(None, None, "2001:db8::1") is None


def test_iteration_is_in_creation_order():
    """For /bans: oldest first, whatever order they were added in; a replacement takes its own
    creation time."""
    _, _, bans = make()
    made = [ban(f"10.0.0.{i}", created=float(t)) for i, t in enumerate([5, 1, 3, 2, 4])]
    for b in made:
        bans.add(b)
    assert [b.created for b in bans] == [1, 2, 3, 4, 5]
    bans.add(ban("10.0.0.1", created=9.0))  # replaces the one created at 1
    assert [b.created for b in bans] == [2, 3, 4, 5, 9]
    same_time = [ban(f"nick{i}", created=7.0) for i in range(5)]
    for b in same_time:
        bans.add(b)
    assert [b for b in bans if b.created == 7.0] == same_time


def test_clear_lifts_everything_and_stops_the_timer():
    clock, recorder, bans = make()
    bans.add(ban("alice", expires=10))
    bans.add(ban("10.0.0.0/8", expires=20))
    bans.clear()
    assert timers(clock) == []
    assert len(bans) == 0
    assert bans.match("alice", None, "10.0.0.1") is None
    clock.advance(100)
    assert recorder.calls == []
    bans.add(ban("bob", expires=150))
    clock.advance(50)
    assert recorder.bans == [ban("bob", expires=150)]


# -- expiry ------------------------------------------------------------------------------------


def test_expiry_on_time():
    """The callback runs at the ban's time exactly, and the ban is gone from then on."""
    clock, recorder, bans = make()
    b = ban("10.0.0.0/8", expires=60.0)
    bans.add(b)
    assert timers(clock) == [60.0]
    clock.advance(59.999)
    assert bans.match(None, None, "10.1.1.1") is b
    assert recorder.calls == []
    clock.advance(0.001)
    assert recorder.calls == [(60.0, b)]
    assert bans.match(None, None, "10.1.1.1") is None
    assert len(bans) == 0
    assert timers(clock) == []


def test_expired_bans_never_match_before_the_callback():
    """Between a ban's time and its timer running, it matches nothing and is not listed."""
    clock, recorder, bans = make()
    timed = [ban("alice", 10), ban("account:bob", 10), ban("10.0.0.1", 10), ban("10.0.0.0/8", 10)]
    timed.append(ban("2001:db8::/32", 10))
    lasting = ban("11.0.0.0/8")
    for b in [*timed, lasting]:
        bans.add(b)
    clock.rightNow = 10.0  # the time has come, but the reactor has not run the timer yet
    assert bans.match("alice", "bob", "10.0.0.1") is None
    assert bans.match(None, None, "2001:db8::1") is None
    assert bans.match(None, None, "11.0.0.1") is lasting
    assert all(bans.get(b.mask) is None for b in timed)
    assert len(bans) == 1
    assert list(bans) == [lasting]
    assert recorder.calls == []
    clock.advance(0)
    assert recorder.bans == timed
    assert len(bans) == 1


def test_an_expired_exact_ban_falls_back_to_a_block():
    """A lookup that finds an expired ban keeps looking: a block still in force applies."""
    clock, _, bans = make()
    exact, block = ban("10.1.2.3", expires=5), ban("10.1.0.0/16")
    narrow = ban("10.1.2.0/24", expires=5)
    for b in (exact, block, narrow):
        bans.add(b)
    assert bans.match(None, None, "10.1.2.3") is exact
    clock.rightNow = 5.0
    assert bans.match(None, None, "10.1.2.3") is block


def test_many_expiries_fire_in_order_with_one_timer():
    """Bans added in any order expire in the order of their times, each at its time, with never
    more than one timer pending."""
    clock, recorder, bans = make()
    times = [37, 5, 90, 12, 12, 61, 1, 44, 5.5, 80]
    made = [ban(f"10.0.0.{i}", expires=float(t)) for i, t in enumerate(times)]
    for b in made:
        bans.add(b)
        assert len(timers(clock)) == 1
    bans.add(ban("10.0.1.0/24"))  # lasting: no timer of its own
    assert timers(clock) == [1.0]
    for _ in range(100):
        clock.advance(1)
        assert len(timers(clock)) <= 1
    # The clock moves by whole seconds: each ban goes on the first advance reaching its time
    # (the one due at 5.5 at 6), in the order of the times.
    assert [t for t, _ in recorder.calls] == [1, 5, 6, 12, 12, 37, 44, 61, 80, 90]
    assert [b.expires for b in recorder.bans] == sorted(times)
    assert recorder.bans[3:5] == [made[3], made[4]]  # equal times: in the order added
    assert recorder.bans[0] is made[6]


def test_expiry_callbacks_at_their_exact_times():
    clock, recorder, bans = make()
    for i, t in enumerate([3.25, 1.5, 2.0, 2.0]):
        bans.add(ban(f"nick{i}", expires=t))
    while timers(clock):
        clock.advance(timers(clock)[0] - clock.seconds())
    assert [(t, b.expires) for t, b in recorder.calls] == [
        (1.5, 1.5),
        (2.0, 2.0),
        (2.0, 2.0),
        (3.25, 3.25),
    ]
    assert [b.mask.value for b in recorder.bans[1:3]] == ["nick2", "nick3"]  # added order


def test_removing_the_next_ban_reschedules_the_timer():
    clock, recorder, bans = make()
    soon, later = ban("alice", expires=10), ban("bob", expires=30)
    bans.add(later)
    assert timers(clock) == [30]
    bans.add(soon)
    assert timers(clock) == [10]
    assert bans.remove(soon.mask) is soon
    assert timers(clock) == [30]
    clock.advance(29)
    assert recorder.calls == []
    clock.advance(1)
    assert recorder.calls == [(30, later)]
    assert timers(clock) == []


def test_removing_the_last_timed_ban_stops_the_timer():
    clock, recorder, bans = make()
    bans.add(ban("alice", expires=10))
    bans.add(ban("bob"))
    bans.remove(parse_mask("alice"))
    assert timers(clock) == []
    clock.advance(20)
    assert recorder.calls == []
    assert bans.match("bob", None, None) is not None


def test_replacing_changes_the_expiry():
    """A replaced ban's time no longer counts: a lasting replacement never expires, a timed one
    expires at its own time; the replaced ban never reaches the callback."""
    clock, recorder, bans = make()
    bans.add(ban("alice", expires=10))
    bans.add(ban("alice", expires=40, reason="longer"))
    assert timers(clock) == [40]
    bans.add(ban("10.0.0.1", expires=5))
    bans.add(ban("10.0.0.1"))
    assert timers(clock) == [40]
    clock.advance(39)
    assert recorder.calls == []
    assert bans.match(None, None, "10.0.0.1") is not None
    clock.advance(1)
    assert recorder.bans == [ban("alice", expires=40, reason="longer")]
    bans.add(ban("bob", expires=100))
    bans.add(ban("bob", expires=50))  # shorter: the timer moves earlier
    assert timers(clock) == [50]


def test_a_ban_added_past_its_time_expires_on_the_next_turn():
    """E.g. loaded from the database after a restart: it never matches, and the callback tells
    of it on the reactor's next turn."""
    clock, recorder, bans = make()
    clock.advance(100)
    old = ban("alice", expires=50)
    bans.add(old)
    assert bans.match("alice", None, None) is None
    assert len(bans) == 0
    assert timers(clock) == [100]
    clock.advance(0)
    assert recorder.calls == [(100, old)]


def test_without_a_callback_bans_still_expire():
    clock, _, bans = make(expired=False)
    bans.add(ban("alice", expires=1))
    clock.advance(1)
    assert len(bans) == 0
    assert bans.remove(parse_mask("alice")) is None
    assert timers(clock) == []


def test_the_callback_may_change_the_list():
    """Re-entrant: the callback can add (even a ban already due) and remove bans."""
    clock = MemoryReactorClock()
    seen = []

    def expired(b):
        seen.append((clock.seconds(), b.mask.value))
        if b.mask.value == "alice":
            bans.add(ban("bob", expires=clock.seconds() + 5))
            bans.add(ban("carol", expires=clock.seconds()))
            bans.remove(parse_mask("dave"))

    bans = BanList(clock, expired)
    bans.add(ban("alice", expires=10))
    bans.add(ban("dave", expires=12))
    clock.advance(10)
    clock.advance(0)
    assert seen == [(10, "alice"), (10, "carol")]
    clock.advance(5)
    assert seen[-1] == (15, "bob")
    assert len(bans) == 0
    assert timers(clock) == []


def test_a_failing_callback_loses_no_expiry():
    """If the callback raises, the bans still due are dropped on the next turn."""
    clock = MemoryReactorClock()
    seen = []

    def expired(b):
        seen.append(b.mask.value)
        if len(seen) == 1:
            raise RuntimeError("boom")

    bans = BanList(clock, expired)
    for name in ("a1", "a2", "a3"):
        bans.add(ban(name, expires=10))
    with pytest.raises(RuntimeError):
        clock.advance(10)
    assert seen == ["a1"]
    assert len(bans) == 0
    assert timers(clock) == [10]
    clock.advance(0)
    assert seen == ["a1", "a2", "a3"]
    assert timers(clock) == []


def test_stale_timer_entries_are_bounded():
    """Timed bans removed before their time leave no lasting trace."""
    clock, recorder, bans = make()
    bans.add(ban("keeper", expires=10**6))
    for i in range(5000):
        bans.add(ban(f"n{i % 7}", expires=1000 + i))
        bans.remove(parse_mask(f"n{i % 7}"))
    assert len(bans._heap) < 200
    assert timers(clock) == [10**6]
    clock.advance(10**6)
    assert recorder.bans == [ban("keeper", expires=10**6)]


# -- a model -----------------------------------------------------------------------------------

POOL4 = ["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.1.0.1", "10.128.0.0", "11.0.0.1", "192.0.2.255"]
POOL6 = ["2001:db8::1", "2001:db8::2", "2001:db8:0:1::1", "2001:db8:1::1", "2001:db9::1"]
POOL6 += ["2001:db8::ffff:1", "fe80::1"]
NAMES = ["alice", "bob", "carol"]

blocks4 = st.tuples(st.sampled_from(POOL4), st.integers(8, 32)).map(lambda t: f"{t[0]}/{t[1]}")
blocks6 = st.tuples(st.sampled_from(POOL6), st.integers(16, 128)).map(lambda t: f"{t[0]}/{t[1]}")
# one_of favours its first branches; sampled_from(...).flatmap picks each kind evenly.
masks = st.sampled_from(
    [
        st.sampled_from(NAMES),
        st.sampled_from(NAMES).map(lambda n: f"account:{n}"),
        st.sampled_from(POOL4),
        st.sampled_from(POOL6),
        *(blocks4, blocks6) * 3,
    ]
).flatmap(lambda kind: kind.map(parse_mask))
PROBES = [*POOL4, *(f"::ffff:{a}" for a in POOL4[:3]), *POOL6]
"""Checked after every step: the addresses the masks are made of, so blocks nest and overlap."""
hosts = st.one_of(
    st.sampled_from(PROBES),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.sampled_from([None, "localhost"]),
)
halves = st.integers(0, 20).map(lambda n: n / 2)  # exact in binary: no rounding at the edges
adds = st.tuples(st.just("add"), masks, st.one_of(st.none(), halves))
names_or_none = st.one_of(st.none(), st.sampled_from(NAMES))
operations = st.sampled_from(
    [
        adds,
        adds,
        adds,
        st.tuples(st.just("remove"), masks),
        st.tuples(st.just("advance"), halves),
        st.tuples(st.just("jump"), halves),  # time moves; the reactor has not run the timer yet
        st.tuples(st.just("match"), names_or_none, names_or_none, hosts),
    ]
).flatmap(lambda operation: operation)


def best(candidates):
    """The ban BanList.match promises among those matching: nickname, account, address, then
    the longest block."""
    rank = {"nick": 0, "account": 1, "ip": 2, "cidr": 3}

    def key(b):
        value = b.mask.value
        return (rank[b.mask.kind], -value.prefixlen if b.mask.kind == "cidr" else 0)

    return min(candidates, key=key, default=None)


@settings(max_examples=120, derandomize=True, database=None, deadline=None)
@given(st.lists(operations, min_size=10, max_size=40))
def test_banlist_against_a_brute_force_scan(ops):
    """BanList agrees with a plain list scanned with Mask.matches, through additions,
    replacements, removals, expiries and clock advances."""
    clock, recorder, bans = make()
    model = {}  # mask -> (ban, order added)
    expected_expired = []
    order = itertools.count()

    def check(nick, account, host):
        now = clock.seconds()
        live = [b for b, _ in model.values() if not b.is_expired(now)]
        matching = [b for b in live if b.mask.matches(nick, account, host)]
        assert bans.match(nick, account, host) is best(matching)

    for op in ops:
        now = clock.seconds()
        if op[0] == "add":
            _, mask, duration = op
            b = Ban(mask, "op", "", now, None if duration is None else now + duration)
            old = model.pop(mask, (None, None))[0]
            model[mask] = (b, next(order))
            assert bans.add(b) is old
        elif op[0] == "remove":
            assert bans.remove(op[1]) is model.pop(op[1], (None, None))[0]
        elif op[0] == "advance":
            clock.advance(op[1])
            due = [(b, n) for b, n in model.values() if b.is_expired(clock.seconds())]
            for b, _ in sorted(due, key=lambda bn: (bn[0].expires, bn[1])):
                expected_expired.append(b)
                del model[b.mask]
        elif op[0] == "jump":
            clock.rightNow += op[1]
        else:
            check(*op[1:])
        assert recorder.bans == expected_expired
        now = clock.seconds()
        live = [b for b, _ in model.values() if not b.is_expired(now)]
        assert len(bans) == len(live)
        assert list(bans) == sorted(live, key=lambda b: b.created)
        pending = [b.expires for b, _ in model.values() if b.expires is not None]
        if not pending:
            assert timers(clock) == []
        elif min(pending) > now:
            assert timers(clock) == [min(pending)]  # one timer, at the earliest expiry
        else:
            assert len(timers(clock)) == 1 and timers(clock)[0] <= now  # due: runs next turn
        for host in PROBES:
            check(None, None, host)
        check("alice", "bob", POOL4[0])
