"""
Tests for littlecats.accounts: the password rules, the argon2id hasher on its own thread pool
(the real reactor, argon2's cheapest parameters but in the one test of the defaults), and the
failed-login throttle on a test clock.
"""

from __future__ import annotations

import re
import threading

import pytest
import pytest_twisted
from twisted.internet import reactor
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent, globalLogPublisher

from littlecats.accounts import (
    MAX_PASSWORD_BYTES,
    MIN_PASSWORD_CHARS,
    HasherBusy,
    LoginThrottle,
    PasswordHasher,
    PasswordRejected,
    validate_password,
)
from littlecats.limits import SWEEP_FLOOR
from littlecats.messages import Catalog

TIMEOUT = 10
"""Seconds a blocked pool thread waits at most, so that a failing test cannot hang the run."""

COMPOSED = "caf\u00e9-au-lait"
DECOMPOSED = "cafe\u0301-au-lait"


# --- password rules ------------------------------------------------------------------------


def test_six_characters_accepted_five_refused():
    """Six code points are enough; five are refused with the minimum as a field."""
    assert validate_password("abcdef") == "abcdef"
    with pytest.raises(PasswordRejected) as caught:
        validate_password("abcde")
    assert caught.value.msgid == "err-password-short"
    assert caught.value.fields == {"min": MIN_PASSWORD_CHARS}


def test_nfc_normalised_and_counted_in_code_points():
    """A decomposed é becomes the composed one; the length is counted after NFC."""
    assert validate_password(DECOMPOSED) == COMPOSED
    with pytest.raises(PasswordRejected):
        validate_password("e\u0301e\u0301e\u0301")  # 6 code points, 3 after NFC


def test_byte_limit():
    """1024 bytes of UTF-8 are accepted, 1025 refused with the maximum as a field."""
    assert validate_password("a" * MAX_PASSWORD_BYTES) == "a" * 1024
    assert validate_password("é" * 512) == "é" * 512
    with pytest.raises(PasswordRejected) as caught:
        validate_password("a" * 1025)
    assert caught.value.msgid == "err-password-long"
    assert caught.value.fields == {"max": MAX_PASSWORD_BYTES}


def test_300_emoji_refused_by_bytes_not_characters():
    """300 emoji are 300 characters but 1200 bytes: too long."""
    with pytest.raises(PasswordRejected) as caught:
        validate_password("😺" * 300)
    assert caught.value.msgid == "err-password-long"


def test_long_non_ascii_password_kept_as_is():
    """Any script, spaces inside and around: nothing is stripped or folded."""
    password = "  Gato Ação 猫は可愛い пароль " * 4
    password = password[:100]
    assert len(password) == 100
    assert validate_password(password) == password


@pytest.mark.parametrize("blank", ["", " ", "      ", "\t\t\t\t\t\t\t", "\u3000" * 8, "\n" * 10])
def test_blank_refused_as_short(blank):
    """Empty or all-whitespace passwords are refused, however long."""
    with pytest.raises(PasswordRejected) as caught:
        validate_password(blank)
    assert caught.value.msgid == "err-password-short"


def test_lone_surrogate_refused():
    """A string that is not Unicode text cannot be encoded, so it is refused, not crashed on."""
    with pytest.raises(PasswordRejected) as caught:
        validate_password("abcdef\udc80")
    assert caught.value.msgid == "err-password-chars"


# --- hasher --------------------------------------------------------------------------------


@pytest.fixture
def hasher():
    """A started cheap hasher on the real reactor, stopped afterwards."""
    service = PasswordHasher.for_tests(reactor)
    service.startService()
    yield service
    if service.running:
        service.stopService()


class Recording:
    """Wraps an argon2 hasher: records the thread each call ran on."""

    def __init__(self, real):
        self.real = real
        self.threads: list[int] = []

    def hash(self, password):
        self.threads.append(threading.get_ident())
        return self.real.hash(password)

    def verify(self, password_hash, password):
        self.threads.append(threading.get_ident())
        return self.real.verify(password_hash, password)


class Blocking(Recording):
    """Wraps an argon2 hasher: every hash waits for C{release} (after setting C{entered})."""

    def __init__(self, real):
        super().__init__(real)
        self.entered = threading.Event()
        self.release = threading.Event()

    def hash(self, password):
        self.entered.set()
        assert self.release.wait(TIMEOUT)
        return super().hash(password)


@pytest_twisted.ensureDeferred
async def test_hash_then_verify(hasher):
    """The right password verifies; a wrong one is False, not an error."""
    password_hash = await hasher.hash("correct horse")
    assert password_hash.startswith("$argon2id$")
    assert await hasher.verify(password_hash, "correct horse") is True
    assert await hasher.verify(password_hash, "correct horsf") is False
    assert await hasher.verify(password_hash, "") is False


@pytest_twisted.ensureDeferred
async def test_composed_and_decomposed_verify_alike(hasher):
    """A password registered decomposed logs in composed, and the other way round."""
    password_hash = await hasher.hash(validate_password(DECOMPOSED))
    assert await hasher.verify(password_hash, COMPOSED) is True
    other_hash = await hasher.hash(COMPOSED)
    assert await hasher.verify(other_hash, DECOMPOSED) is True


CORRUPT_HASH_LINES = {
    "pt": (
        "Um hash de senha guardado não pôde ser verificado (não é um hash argon2 válido): "
        "contou como senha errada.",
        r"Um hash de senha guardado não pôde ser verificado \(.+\): contou como senha errada\.",
    ),
    "en": (
        "A stored password hash could not be checked (not an encoded argon2 hash): "
        "counted as a mismatch.",
        r"A stored password hash could not be checked \(.+\): counted as a mismatch\.",
    ),
}
"""By language: the line for a hash that is not argon2's at all, and a pattern of the line for
one argon2 cannot decode (with argon2's own reason)."""


@pytest.mark.parametrize("lang", ["pt", "en"])
@pytest_twisted.ensureDeferred
async def test_corrupt_hash_is_a_mismatch_logged_without_the_password(hasher, lang):
    """An invalid stored hash verifies as False, with a log line (in the catalog's language,
    Portuguese by default) that holds no secret."""
    assert hasher.catalog.language == "pt"
    hasher.catalog = Catalog(lang)
    good = await hasher.hash("s3cret-password")
    events: list[dict] = []
    globalLogPublisher.addObserver(events.append)
    try:
        for corrupt in ("", "garbage", good[:-10], good.replace("$v=19$", "$v=19$x"), "$argon2id$"):
            assert await hasher.verify(corrupt, "s3cret-password") is False
    finally:
        globalLogPublisher.removeObserver(events.append)
    lines = [formatEvent(e) for e in events if e.get("log_namespace", "").endswith("Hasher")]
    not_argon2, undecodable = CORRUPT_HASH_LINES[lang]
    assert len(lines) == 5
    assert lines[:2] == [not_argon2] * 2  # "" and "garbage"
    assert all(re.fullmatch(undecodable, line) for line in lines[2:])
    assert not any("s3cret" in line or good[-20:] in line for line in lines)
    assert hasher.needs_rehash("garbage")


def test_the_catalog_can_be_given():
    """The server gives the hasher its own catalog (C{--lang})."""
    assert PasswordHasher(reactor, catalog=Catalog("en")).catalog.language == "en"


@pytest_twisted.ensureDeferred
async def test_hash_refuses_a_password_breaking_the_rules(hasher):
    """Nothing that breaks the rules can be hashed (and so stored)."""
    with pytest.raises(PasswordRejected):
        await hasher.hash("short")
    assert hasher.pending == 0


@pytest_twisted.ensureDeferred
async def test_overlong_password_is_false_without_hashing(hasher):
    """A password past the byte limit cannot match: no job is even queued."""
    password_hash = await hasher.hash("a" * MAX_PASSWORD_BYTES)
    assert await hasher.verify(password_hash, "a" * MAX_PASSWORD_BYTES) is True
    recording = hasher._argon2 = Recording(hasher._argon2)
    assert await hasher.verify(password_hash, "a" * (MAX_PASSWORD_BYTES + 1)) is False
    assert await hasher.verify(password_hash, "a" * 100_000) is False
    assert recording.threads == []


@pytest_twisted.ensureDeferred
async def test_default_parameters():
    """OWASP's argon2id minimum is in every hash; other parameters need a rehash."""
    default = PasswordHasher(reactor)
    default.startService()
    try:
        password_hash = await default.hash("correct horse")
        assert password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert await default.verify(password_hash, "correct horse") is True
        assert not default.needs_rehash(password_hash)
    finally:
        default.stopService()
    cheap = PasswordHasher.for_tests(reactor)
    assert cheap.needs_rehash(password_hash)
    cheap.startService()
    try:
        cheap_hash = await cheap.hash("correct horse")
        assert default.needs_rehash(cheap_hash)
        # A hash made with other parameters still verifies (before its rehash).
        assert await cheap.verify(password_hash, "correct horse") is True
    finally:
        cheap.stopService()


@pytest_twisted.ensureDeferred
async def test_work_runs_off_the_reactor_thread(hasher):
    """Hashing and verifying run on the hasher's own pool, never on the reactor thread."""
    recording = hasher._argon2 = Recording(hasher._argon2)
    password_hash = await hasher.hash("correct horse")
    assert await hasher.verify(password_hash, "correct horse")
    assert len(recording.threads) == 2
    assert threading.get_ident() not in recording.threads
    assert hasher.pool is not reactor.getThreadPool()
    assert hasher.pool.max == 1


@pytest_twisted.ensureDeferred
async def test_busy_past_max_pending():
    """Past max_pending jobs, new ones fail at once with HasherBusy, counted; then recover."""
    hasher = PasswordHasher.for_tests(reactor, max_pending=2)
    blocking = hasher._argon2 = Blocking(hasher._argon2)
    hasher.startService()
    try:
        first = hasher.hash("password one")
        second = hasher.hash("password two")
        assert hasher.pending == 2
        with pytest.raises(HasherBusy):
            await hasher.hash("password three")
        with pytest.raises(HasherBusy):
            await hasher.verify("$argon2id$whatever", "password three")
        assert hasher.busy_refusals == 2
        assert hasher.pending == 2
        blocking.release.set()
        assert await hasher.verify(await first, "password one")
        assert await hasher.verify(await second, "password two")
        assert hasher.pending == 0
        assert await hasher.hash("password four")
        assert hasher.busy_refusals == 2
    finally:
        blocking.release.set()
        hasher.stopService()


def test_stopping_twice_is_harmless():
    """A service tree stopped twice (a test's own stop, then its fixture's) stops its children
    twice: the second stop must not raise from the thread pool's team."""
    hasher = PasswordHasher.for_tests(reactor)
    hasher.startService()
    hasher.stopService()
    hasher.stopService()
    assert hasher.pool.joined and not hasher.running


@pytest_twisted.ensureDeferred
async def test_stop_service_stops_the_pool_and_skips_queued_jobs(monkeypatch):
    """Stopping waits for the running hash only; queued and later jobs fail with HasherBusy;
    the pool's threads are gone; starting again makes a new pool."""
    hasher = PasswordHasher.for_tests(reactor)
    blocking = hasher._argon2 = Blocking(hasher._argon2)
    hasher.startService()
    try:
        running = hasher.hash("running password")
        queued = hasher.hash("queued password")
        assert blocking.entered.wait(TIMEOUT)  # the first job is on the pool's thread
        pool = hasher.pool
        threads = list(pool.threads)
        assert threads

        def stop():
            blocking.release.set()  # after the service has marked itself stopped
            ThreadPoolStop()

        ThreadPoolStop = pool.stop
        monkeypatch.setattr(pool, "stop", stop)
        hasher.stopService()
    finally:
        blocking.release.set()
    assert not hasher.running
    assert pool.joined
    assert not any(thread.is_alive() for thread in threads)
    assert (await running).startswith("$argon2id$")
    with pytest.raises(HasherBusy):
        await queued
    with pytest.raises(HasherBusy):
        await hasher.hash("too late password")
    assert hasher.pending == 0
    assert len(blocking.threads) == 1

    hasher.startService()
    try:
        assert hasher.pool is not pool
        assert await hasher.verify(await hasher.hash("again password"), "again password")
    finally:
        hasher.stopService()


# --- throttle ------------------------------------------------------------------------------


def _throttle(**kwargs) -> tuple[LoginThrottle, MemoryReactorClock]:
    clock = MemoryReactorClock()
    return LoginThrottle(clock, **kwargs), clock


def test_five_account_failures_then_wait_a_period():
    """Five failures on one account use its burst: the next try waits one period (60 s)."""
    throttle, clock = _throttle()
    for _ in range(4):
        throttle.failed("10.0.0.1", "ana")
    assert throttle.retry_after("10.0.0.1", "ana") == 0.0
    throttle.failed("10.0.0.1", "ana")
    assert throttle.retry_after("10.0.0.1", "ana") == pytest.approx(60.0)
    # The account is limited from every address; the address still may try other accounts.
    assert throttle.retry_after("10.9.9.9", "ana") == pytest.approx(60.0)
    assert throttle.retry_after("10.0.0.1", "bob") == 0.0
    clock.advance(45)
    assert throttle.retry_after("10.0.0.1", "ana") == pytest.approx(15.0)


def test_failures_refill_one_per_period():
    """One failure is earned back each period, up to the burst; refilled buckets are dropped."""
    throttle, clock = _throttle()
    for _ in range(5):
        throttle.failed("10.0.0.1", "ana")
    clock.advance(60)
    assert throttle.retry_after("10.0.0.1", "ana") == 0.0
    throttle.failed("10.0.0.1", "ana")
    assert throttle.retry_after("10.0.0.1", "ana") == pytest.approx(60.0)
    clock.advance(120)
    for _ in range(2):
        throttle.failed("10.0.0.1", "ana")
    assert throttle.retry_after("10.0.0.1", "ana") == pytest.approx(60.0)
    clock.advance(5 * 60)
    assert throttle.retry_after("10.0.0.1", "ana") == 0.0
    assert throttle.accounts == {}
    assert throttle.addresses == {}


def test_success_forgets_the_account_not_the_address():
    """A successful login clears the account's failures; the address's still count."""
    throttle, _clock = _throttle()
    for _ in range(5):
        throttle.failed("10.0.0.1", "ana")
    throttle.succeeded("10.0.0.1", "ana")
    assert throttle.retry_after("10.0.0.1", "ana") == 0.0
    assert "ana" not in throttle.accounts
    assert throttle.addresses["10.0.0.1"].tokens == 15
    throttle.succeeded("10.0.0.1", "nobody")  # nothing to forget: no error


def test_address_limit_across_accounts():
    """Twenty failures from one address, on as many (existing or not) accounts, block it."""
    throttle, clock = _throttle()
    for i in range(19):
        throttle.failed("10.0.0.1", f"no-such-account-{i}")
    assert throttle.retry_after("10.0.0.1", "fresh") == 0.0
    throttle.failed("10.0.0.1", "no-such-account-19")
    assert throttle.retry_after("10.0.0.1", "fresh") == pytest.approx(30.0)
    assert throttle.retry_after("10.0.0.2", "fresh") == 0.0
    clock.advance(30)
    assert throttle.retry_after("10.0.0.1", "fresh") == 0.0


def test_ipv6_counts_by_64():
    """Every address of one IPv6 /64 shares its bucket; the next /64 has its own."""
    throttle, _clock = _throttle()
    for i in range(20):
        throttle.failed(f"2001:db8:0:1::{i + 1:x}", f"account-{i}")
    assert throttle.retry_after("2001:db8:0:1:ffff:ffff:ffff:ffff", "fresh") == pytest.approx(30)
    assert throttle.retry_after("2001:db8:0:2::1", "fresh") == 0.0
    assert list(throttle.addresses) == ["2001:db8:0:1::/64"]


def test_table_bound_drops_least_recently_failed():
    """Past max_entries, the key that failed least recently is forgotten first."""
    throttle, _clock = _throttle(max_entries=3)
    for name in ("a", "b", "c", "a", "d"):
        throttle.failed(f"10.0.0.{ord(name)}", name)
    assert list(throttle.accounts) == ["c", "a", "d"]
    assert len(throttle.addresses) == 3
    for i in range(100):
        throttle.failed(f"10.1.{i}.1", f"user{i}")
    assert len(throttle.accounts) == len(throttle.addresses) == 3
    assert "user99" in throttle.accounts


def test_refilled_entries_swept_once_table_doubles():
    """Full buckets are swept when a table reaches its sweep size, not on every failure."""
    throttle, clock = _throttle()
    count = 2 * SWEEP_FLOOR
    for i in range(count):
        throttle.failed(f"10.{i // 256}.{i % 256}.1", f"user{i}")
    assert len(throttle.accounts) == len(throttle.addresses) == count
    clock.advance(60)  # one failure each: refilled after one period
    throttle.failed("192.0.2.1", "latecomer")
    assert list(throttle.accounts) == ["latecomer"]
    assert list(throttle.addresses) == ["192.0.2.1"]


def test_zero_burst_disables_a_limit():
    """A burst of 0 turns that limit off (no table entries at all)."""
    throttle, _clock = _throttle(address_burst=0)
    for i in range(100):
        throttle.failed("10.0.0.1", f"user{i}")
    assert throttle.addresses == {}
    assert throttle.retry_after("10.0.0.1", "fresh") == 0.0


@pytest_twisted.ensureDeferred
async def test_hashing_threads_run_at_a_lower_cpu_priority_than_the_reactor():
    """A burst of logins must not take the CPU from the chat: the pool's threads are niced."""
    import os

    hasher = PasswordHasher.for_tests()
    hasher.startService()
    seen: list[int] = []

    class Looking:
        def __init__(self, real):
            self.real = real

        def hash(self, password):
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return self.real.hash(password)

    hasher._argon2 = Looking(hasher._argon2)
    try:
        await hasher.hash("segredo-longo")
    finally:
        hasher.stopService()
    assert seen == [os.getpriority(os.PRIO_PROCESS, 0) + 10]
