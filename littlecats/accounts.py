"""
Registered nicknames' passwords: the password rules, argon2id hashing off the reactor thread,
and a throttle on failed logins.

- L{validate_password}: any Unicode text, NFC-normalised, 6 characters to 1024 UTF-8 bytes, not
  blank; otherwise L{PasswordRejected} with the catalog id saying why.
- L{PasswordHasher}: a service hashing and verifying with argon2id on its own small thread pool
  (argon2 releases the GIL, so the reactor keeps running), with a bounded queue: past
  C{max_pending} jobs it refuses at once with L{HasherBusy} rather than letting logins pile up.
- L{LoginThrottle}: token buckets of allowed failures per account and per address (IPv6 by its
  /64, see L{littlecats.limits.address_key}), bounded like L{littlecats.limits.ConnectionLimiter}.

A password is never logged and never kept in an attribute: it lives in the call that hashes or
verifies it, and in the thread pool's job until that job has run.
"""

from __future__ import annotations

import contextlib
import os
import threading
import unicodedata
from collections.abc import Callable

import argon2
import attrs
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from littlecats.limits import SWEEP_FLOOR, TokenBucket, address_key
from littlecats.messages import Catalog

MIN_PASSWORD_CHARS = 6
"""The fewest code points a new password may have (after NFC)."""
MAX_PASSWORD_BYTES = 1024
"""The most UTF-8 bytes a password may have (after NFC).  Also the ceiling L{PasswordHasher.verify}
hashes at all, so lowering it would lock out the accounts whose passwords are longer."""


@attrs.frozen
class PasswordRejected(Exception):
    """A password broke a rule; C{msgid} names the catalog message explaining which."""

    msgid: str
    fields: dict[str, object] = attrs.field(factory=dict)


_polite = threading.local()
HASHER_NICENESS = 10
"""How much lower than the reactor's the hashing threads' CPU priority is (Linux nice)."""


def _yield_to_the_reactor() -> None:
    """Lower the CPU priority of the calling (pool) thread, once: on a machine whose cores are
    all busy, a burst of logins then takes longer, and the reactor's chat does not wait for
    it.  Linux schedules threads as tasks, so a thread's own id can be given a nice value;
    where that is not possible, nothing changes."""
    if getattr(_polite, "done", False):
        return
    _polite.done = True
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHER_NICENESS)


def _encode(password: str) -> bytes | None:
    """C{password}'s UTF-8 bytes, or None if it holds lone surrogates (not Unicode text)."""
    try:
        return password.encode("utf-8")
    except UnicodeEncodeError:
        return None


def validate_password(raw: str) -> str:
    """Return C{raw} NFC-normalised, or raise L{PasswordRejected} saying why it is refused.

    Nothing else is changed (no stripping, no case folding): any Unicode text will do, from
    C{MIN_PASSWORD_CHARS} code points (C{err-password-short}, field C{min}) to
    C{MAX_PASSWORD_BYTES} bytes of UTF-8 (C{err-password-long}, field C{max}).  A blank password
    (empty or all whitespace) is refused as short; a string with lone surrogates, which no
    client can send as UTF-8, with C{err-password-chars}.
    """
    password = unicodedata.normalize("NFC", raw)
    if len(password) < MIN_PASSWORD_CHARS or password.isspace():
        raise PasswordRejected("err-password-short", {"min": MIN_PASSWORD_CHARS})
    encoded = _encode(password)
    if encoded is None:
        raise PasswordRejected("err-password-chars")
    if len(encoded) > MAX_PASSWORD_BYTES:
        raise PasswordRejected("err-password-long", {"max": MAX_PASSWORD_BYTES})
    return password


class HasherBusy(Exception):
    """The hasher refused a job: C{max_pending} jobs are queued or running already, or it has
    been stopped.  Nothing was hashed or verified; the user may try again shortly."""


# OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.  Not argon2-cffi's defaults (RFC 9106's
# "low memory" profile: 64 MiB, 3 passes, parallelism 4): parallelism 4 runs each hash on 4
# threads, so on this 2-core server every login would take both cores (and 64 MiB) for its
# duration, and a handful of logins at once would stall the reactor.  With parallelism 1 on a
# one-thread pool, hashing takes at most one core and 19 MiB, and the reactor keeps the other.
DEFAULT_PARAMETERS = argon2.Parameters(
    type=argon2.Type.ID,
    version=argon2.low_level.ARGON2_VERSION,
    salt_len=16,
    hash_len=32,
    time_cost=2,
    memory_cost=19456,  # KiB
    parallelism=1,
)


class PasswordHasher(Service):
    """argon2id password hashing on a dedicated thread pool, as a service.

    The pool (C{threads} threads, 1 by default so that a 2-core machine keeps a core for the
    reactor) starts with the service and stops with it; it is never the reactor's default pool.
    Jobs submitted before the service starts wait for it; jobs submitted after it stops, or while
    C{max_pending} are queued or running, fail at once with L{HasherBusy} (counted in
    C{busy_refusals}).  Stopping skips the jobs still queued (they fail with L{HasherBusy}) and
    waits only for those running, at most one hash per thread.  Its log lines are in its
    C{catalog}'s language.
    """

    _log = Logger()

    def __init__(
        self,
        reactor: IReactorFromThreads | None = None,
        parameters: argon2.Parameters = DEFAULT_PARAMETERS,
        threads: int = 1,
        max_pending: int = 256,
        catalog: Catalog | None = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor  # type: ignore[assignment]
        self._reactor = reactor
        self._argon2 = argon2.PasswordHasher.from_parameters(parameters)
        self.threads = threads
        self.max_pending = max_pending
        self.catalog = catalog if catalog is not None else Catalog()
        """The language of the log lines (default: Portuguese)."""
        self.pending = 0
        """Jobs queued or running (or finished, their result not yet back in the reactor)."""
        self.busy_refusals = 0
        """Jobs refused with L{HasherBusy} since this hasher was made."""
        self.pool = self._new_pool()
        self._stopped = False

    @classmethod
    def for_tests(
        cls,
        reactor: IReactorFromThreads | None = None,
        threads: int = 1,
        max_pending: int = 256,
    ) -> PasswordHasher:
        """A hasher with argon2's cheapest parameters (8 KiB, 1 pass): for tests only."""
        return cls(reactor, argon2.profiles.CHEAPEST, threads, max_pending)

    def _new_pool(self) -> ThreadPool:
        return ThreadPool(minthreads=0, maxthreads=self.threads, name="littlecats-argon2")

    def startService(self) -> None:
        if self.pool.joined:  # a stopped ThreadPool cannot be restarted
            self.pool = self._new_pool()
        self._stopped = False
        self.pool.start()
        super().startService()

    def stopService(self) -> None:
        super().stopService()
        self._stopped = True  # read by the queued jobs, so that they skip their work
        if not self.pool.joined:  # a service tree stopped twice stops its children twice
            self.pool.stop()

    def _submit(self, work: Callable[..., object], *args: object) -> defer.Deferred:
        if self._stopped or self.pending >= self.max_pending:
            self.busy_refusals += 1
            return defer.fail(HasherBusy())
        self.pending += 1

        def done(result: object) -> object:
            self.pending -= 1
            return result

        job = deferToThreadPool(self._reactor, self.pool, self._unless_stopped, work, *args)
        return job.addBoth(done)

    def _unless_stopped(self, work: Callable[..., object], *args: object) -> object:
        """In a pool thread: C{work(*args)}, unless the service stopped while it was queued."""
        if self._stopped:
            raise HasherBusy()
        _yield_to_the_reactor()
        return work(*args)

    def hash(self, password: str) -> defer.Deferred[str]:
        """The encoded argon2id hash (C{$argon2id$v=19$m=...}) of C{password}, NFC-normalised.

        Fails with L{PasswordRejected} if C{password} breaks L{validate_password}'s rules, so
        that no password that breaks them is ever stored; with L{HasherBusy} as said above.
        """
        try:
            encoded = validate_password(password).encode("utf-8")
        except PasswordRejected:
            return defer.fail()
        return self._submit(self._argon2.hash, encoded)

    def verify(self, password_hash: str, password: str) -> defer.Deferred[bool]:
        """Whether C{password} (NFC-normalised) matches C{password_hash}.

        False, never an error, for a wrong password; also for a password longer than
        C{MAX_PASSWORD_BYTES} (no hash could match it: it is not hashed at all), and for a
        C{password_hash} that is not a valid argon2 hash (logged, without the password or the
        hash).  Fails only with L{HasherBusy}.  The rules of L{validate_password} are not
        applied otherwise: a password made under older rules still verifies.
        """
        encoded = _encode(unicodedata.normalize("NFC", password))
        if encoded is None or len(encoded) > MAX_PASSWORD_BYTES:
            return defer.succeed(False)
        return self._submit(self._verify, password_hash, encoded).addCallback(self._verified)

    def _verify(self, password_hash: str, encoded: bytes) -> bool | str | None:
        """In a pool thread: whether C{encoded} matches; or, if C{password_hash} cannot be
        checked, None (it is not an encoded argon2 hash) or argon2's reason."""
        try:
            return self._argon2.verify(password_hash, encoded)
        except VerifyMismatchError:
            return False
        except InvalidHashError:
            return None
        except VerificationError as error:
            return str(error) or type(error).__name__

    def _verified(self, outcome: bool | str | None) -> bool:
        if outcome is None:
            self._log.warn(self.catalog.template("log-hash-invalid"))
            return False
        if isinstance(outcome, str):
            self._log.warn(self.catalog.template("log-hash-unchecked"), reason=outcome)
            return False
        return outcome

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether C{password_hash} was made with parameters other than this hasher's (or is
        not an argon2 hash at all); rehash the password after its next successful login."""
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except ValueError:  # InvalidHashError included
            return True


@attrs.define
class LoginThrottle:
    """Failed logins allowed per account and per address, as token buckets of failures.

    Each account key (whatever key the caller passes: give the folded nickname, and count
    failures for accounts that do not exist the same way) and each address (by
    L{address_key}) has C{burst} failures in hand, and earns one back every C{period} seconds.
    A burst of 0 disables that limit.  Buckets are kept only until they refill: full ones are
    swept lazily once a table has doubled since its last sweep (O(1) amortised per failure), and
    each table holds at most C{max_entries}, dropping the least recently failed beyond that.
    """

    clock: IReactorTime
    account_burst: int = 5
    account_period: float = 60.0
    address_burst: int = 20
    address_period: float = 30.0
    max_entries: int = 100_000
    accounts: dict[str, TokenBucket] = attrs.field(factory=dict)
    """Buckets by account key, least recently failed first."""
    addresses: dict[str, TokenBucket] = attrs.field(factory=dict)
    """Buckets by L{address_key}, least recently failed first."""
    _accounts_sweep_at: int = attrs.field(default=SWEEP_FLOOR, init=False)
    _addresses_sweep_at: int = attrs.field(default=SWEEP_FLOOR, init=False)

    @staticmethod
    def _wait(table: dict[str, TokenBucket], key: str, now: float) -> float:
        bucket = table.get(key)
        if bucket is None:
            return 0.0
        if bucket.is_full(now):
            del table[key]
            return 0.0
        return bucket.wait(now)

    def retry_after(self, host: str, account: str) -> float:
        """0.0 if a login to C{account} from C{host} may be tried now, else the seconds until
        it may (the longer of the account's and the address's waits)."""
        now = self.clock.seconds()
        return max(
            self._wait(self.accounts, account, now),
            self._wait(self.addresses, address_key(host), now),
        )

    def _fail(
        self, table: dict[str, TokenBucket], key: str, burst: int, period: float, sweep_at: int
    ) -> int:
        """Take a token from C{key}'s bucket, moved to the end; return the new C{sweep_at}."""
        now = self.clock.seconds()
        bucket = table.pop(key, None)
        if bucket is None:
            if len(table) >= sweep_at:
                for stale in [k for k, b in table.items() if b.is_full(now)]:
                    del table[stale]
                sweep_at = max(SWEEP_FLOOR, 2 * len(table))
            while len(table) >= self.max_entries:
                del table[next(iter(table))]
            bucket = TokenBucket.full(1 / period, burst, now)
        bucket.take(now)
        table[key] = bucket
        return sweep_at

    def failed(self, host: str, account: str) -> None:
        """A login to C{account} from C{host} failed: take a token from both buckets."""
        if self.account_burst:
            self._accounts_sweep_at = self._fail(
                self.accounts,
                account,
                self.account_burst,
                self.account_period,
                self._accounts_sweep_at,
            )
        if self.address_burst:
            self._addresses_sweep_at = self._fail(
                self.addresses,
                address_key(host),
                self.address_burst,
                self.address_period,
                self._addresses_sweep_at,
            )

    def succeeded(self, host: str, account: str) -> None:
        """A login to C{account} from C{host} succeeded: forget the account's failures (the
        address's stay, so that guessing many accounts' passwords stays throttled)."""
        self.accounts.pop(account, None)
