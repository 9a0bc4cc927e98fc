"""
Registered nicknames: registering, identifying, changing and dropping a password, and which
nicknames look like a registered one.

`Accounts` keeps every registered nickname's name in memory (loaded once at start, kept current
as accounts come and go), so that the nickname prompt knows at once whether to ask for a
password and look-alikes are refused without a database read.  Hashes stay in the store and
are read only to check a password; hashing runs off the reactor thread (`IHasher`, in
production `littlecats.accounts.PasswordHasher`).  Failed logins are limited per address and
per account (`littlecats.accounts.LoginThrottle`).  Refusals are `ChatError`s naming the
catalog line that says why; no password ever reaches a log or an error.
"""

from __future__ import annotations

import math
from typing import Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from littlecats import accounts, confusables, nicknames
from littlecats.core.errors import ChatError
from littlecats.messages import Catalog
from littlecats.storage.interface import Account, IStore

LOAD_RETRY_SECONDS = 5.0


class IHasher(Protocol):
    """What the chat needs of a password hasher."""

    def hash(self, password: str) -> defer.Deferred[str]: ...

    def verify(self, password_hash: str, password: str) -> defer.Deferred[bool]: ...

    def needs_rehash(self, password_hash: str) -> bool: ...


def _password(raw: str) -> str:
    try:
        return accounts.validate_password(raw)
    except accounts.PasswordRejected as rejected:
        raise ChatError(rejected.msgid, **rejected.fields) from None


class Accounts:
    """The registered nicknames of the chat."""

    log = Logger()

    def __init__(
        self,
        store: IStore,
        hasher: IHasher | None,
        throttle: accounts.LoginThrottle,
        clock: IReactorTime,
    ) -> None:
        """
        @param hasher: None: accounts are off (registering is refused).
        """
        self.store = store
        self.hasher = hasher
        self.throttle = throttle
        self.clock = clock
        self.catalog = Catalog()
        """The language of the log lines (the chat sets its own)."""
        self._names: dict[str, str] = {}
        self._skeletons: dict[str, str] = {}
        # Those waiting for the names while they load (None: known, nothing loading).
        self._waiting: list[defer.Deferred[None]] | None = None
        self._retry: IDelayedCall | None = None

    def start(self) -> None:
        """Learn every registered nickname (retrying until the store answers); until then
        L{loaded} makes nickname choices wait."""

        def got(names: list[str]) -> None:
            for name in names:
                self._add(nicknames.fold(name), name)
            waiting, self._waiting = self._waiting or [], None
            for waiter in waiting:
                waiter.callback(None)

        def failed(failure: Failure) -> None:
            self.log.failure(
                self.catalog.template("log-accounts-unreadable"),
                failure,
                seconds=LOAD_RETRY_SECONDS,
            )
            self._retry = self.clock.callLater(LOAD_RETRY_SECONDS, self.start)

        self._retry = None
        if self._waiting is None:
            self._waiting = []
        self.store.account_names().addCallbacks(got, failed)

    def stop(self) -> None:
        if self._retry is not None and self._retry.active():
            self._retry.cancel()

    def loaded(self) -> defer.Deferred[None] | None:
        """None once the registered nicknames are known; else a Deferred firing then."""
        if self._waiting is None:
            return None
        waiter: defer.Deferred[None] = defer.Deferred()
        self._waiting.append(waiter)
        return waiter

    def _add(self, key: str, name: str) -> None:
        self._names[key] = name
        self._skeletons[confusables.skeleton(name)] = key

    def _remove(self, key: str) -> None:
        name = self._names.pop(key, None)
        if name is not None:
            skeleton = confusables.skeleton(name)
            if self._skeletons.get(skeleton) == key:
                del self._skeletons[skeleton]

    def registered(self, key: str) -> str | None:
        """The registered name of folded nickname C{key}, or None."""
        return self._names.get(key)

    def lookalike(self, skeleton: str, key: str) -> str | None:
        """A registered nickname other than C{key} whose skeleton is C{skeleton}, or None."""
        other = self._skeletons.get(skeleton)
        return self._names.get(other) if other is not None and other != key else None

    def __len__(self) -> int:
        return len(self._names)

    # Changes

    def register(self, key: str, name: str, raw_password: str) -> defer.Deferred[None]:
        """Register nickname C{name} (folded C{key}) with a password.

        Fails with L{ChatError}: a bad password, the nickname registered already, accounts
        off, or the hasher busy.
        """
        try:
            password = _password(raw_password)
        except ChatError:
            return defer.fail()
        if key in self._names:
            return defer.fail(ChatError("err-already-registered", nick=self._names[key]))

        def store(password_hash: str) -> defer.Deferred[None]:
            account = Account(key, name, password_hash, self.clock.seconds())
            return self.store.create_account(account).addCallback(created)

        def created(ok: bool) -> None:
            if not ok:
                raise ChatError("err-already-registered", nick=name)
            self._add(key, name)
            self.log.info(self.catalog.template("log-account-registered"), nick=name)

        return self._hash(password).addCallback(store)

    def identify(self, host: str, key: str, raw_password: str) -> defer.Deferred[Account]:
        """Check account C{key}'s password, for a connection from C{host}.

        Fails with L{ChatError}: no such account, a wrong password, too many failures (with
        when to retry), or the hasher busy.
        """
        wait = self.throttle.retry_after(host, key)
        if wait > 0:
            return defer.fail(ChatError("err-login-wait", seconds=math.ceil(wait)))
        try:
            password = _password(raw_password)
        except ChatError:
            self.throttle.failed(host, key)
            return defer.fail(ChatError("err-password-wrong"))
        if self.hasher is None:
            return defer.fail(ChatError("err-accounts-off"))
        hasher = self.hasher

        def found(account: Account | None) -> defer.Deferred[Account]:
            if account is None:
                raise ChatError("err-not-registered")
            return _busy_as_error(hasher.verify(account.password_hash, password)).addCallback(
                checked, account
            )

        def checked(ok: bool, account: Account) -> Account:
            if not ok:
                self.throttle.failed(host, key)
                self.log.info(
                    self.catalog.template("log-password-wrong"), nick=account.name, ip=host
                )
                raise ChatError("err-password-wrong")
            self.throttle.succeeded(host, key)
            if hasher.needs_rehash(account.password_hash):
                self._rehash(key, password)
            return account

        return self.store.account(key).addCallback(found)

    def change_password(
        self, host: str, key: str, raw_old: str, raw_new: str
    ) -> defer.Deferred[None]:
        """Replace account C{key}'s password, given the current one."""
        try:
            new = _password(raw_new)
        except ChatError:
            return defer.fail()

        def identified(_: Account) -> defer.Deferred[None]:
            return self._hash(new).addCallback(store)

        def store(password_hash: str) -> defer.Deferred[None]:
            return self.store.set_password(key, password_hash).addCallback(stored)

        def stored(ok: bool) -> None:
            if not ok:
                raise ChatError("err-not-registered")

        return self.identify(host, key, raw_old).addCallback(identified)

    def unregister(self, host: str, key: str, raw_password: str) -> defer.Deferred[None]:
        """Delete account C{key} (and the messages kept for it), given its password."""

        def identified(_: Account) -> defer.Deferred[None]:
            return self.store.delete_account(key).addCallback(deleted)

        def deleted(ok: bool) -> None:
            self._remove(key)
            if not ok:
                raise ChatError("err-not-registered")
            self.log.info(self.catalog.template("log-account-unregistered"), key=key)

        return self.identify(host, key, raw_password).addCallback(identified)

    def _hash(self, password: str) -> defer.Deferred[str]:
        if self.hasher is None:
            return defer.fail(ChatError("err-accounts-off"))
        return _busy_as_error(self.hasher.hash(password))

    def _rehash(self, key: str, password: str) -> None:
        """Store a hash with the current parameters (they changed since it was made)."""

        def failed(failure: Failure) -> None:
            self.log.failure(self.catalog.template("log-rehash-failed"), failure, key=key)

        self._hash(password).addCallback(
            lambda password_hash: self.store.set_password(key, password_hash)
        ).addErrback(failed)


def _busy_as_error(waiting: defer.Deferred[object]) -> defer.Deferred[object]:
    """Turn the hasher's refusal when its queue is full into a line for the user."""

    def busy(failure: Failure) -> None:
        failure.trap(accounts.HasherBusy)
        raise ChatError("err-login-busy")

    return waiting.addErrback(busy)
