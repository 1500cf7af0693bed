"""Failed sign-ins: growing delays per name typed and client address, a ceiling per account.

The policy (SECURITY.md has it in full):

- **Delays, per (name typed, client address).**  Each identifier or e-mail address typed
  gets ``IDP_LOGIN_FREE_FAILURES`` wrong passwords from one client address; each further
  one closes that pair for ``IDP_LOGIN_DELAY`` seconds, doubled at every failure up to
  ``IDP_LOGIN_DELAY_MAX`` (429).  Names that match no account count the same way, and an
  account's identifier and its address have a counter each: the 429 tells neither that an
  account exists nor that two names are one account's.
- **Ceiling, per account.**  Every wrong password of an account, from every address and
  through either name, counts towards ``IDP_LOGIN_ACCOUNT_RATE_LIMIT``.  Past it the password
  is still checked (the same time) but refused with the ordinary "incorrect" answer, so the
  ceiling cannot be seen or used to link names; client addresses that signed in to the
  account since its password was set (for ``IDP_LOGIN_KNOWN_ADDRESS_TTL``) are exempt, so a
  stranger cannot lock the owner out of their usual places.
- **A new password** (a reset above all) clears the ceiling, the pairs of the address it was
  set from, and the known addresses.  A sign-in clears its own pair.

The account page's current-password check counts in the same places, under a name of its own.
Every Redis key is a keyed hash: Redis holds neither what was typed nor the client address.
Both a known and an unknown name go through the same Redis calls, so timing tells nothing either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flask import current_app

from .digests import keyed_hash, typed_login
from .models import User
from .oidc.context import provider
from .ratelimit import allow, clear, over

CEILING = "login-account"  # limiter scope of the per-account ceiling
FORGOTTEN_AFTER = 86400  # a pair's failures are forgotten a day after its last one (or the longest delay)
NAMES = ("username", "email", "account", "totp")  # what is typed: a name at login, the account page, a code


@dataclass(frozen=True)
class Attempt:
    """A password typed by ``address`` for ``subject`` (an account, or a name that matches none)."""

    subject: str
    name: str  # which of the account's names was typed ("" when none matches)
    address: str
    generation: str  # when the account's password was set: known addresses are per password

    @property
    def pair(self) -> str:
        return keyed_hash(f"{self.subject}|{self.name}|{self.address}")


def for_login(user: User | None, typed: str, address: str | None) -> Attempt:
    if user is None:  # counted under the name, normalised as the account lookup does
        return Attempt(f"name:{typed_login(typed)}", "", address or "", "")
    return _for_user(user, "email" if "@" in typed else "username", address)


def for_account_page(user: User, address: str | None) -> Attempt:
    return _for_user(user, "account", address)


def for_second_factor(user: User, address: str | None) -> Attempt:
    """A code typed after the right password: throttled as passwords are, under the same ceiling."""
    return _for_user(user, "totp", address)


def _for_user(user: User, name: str, address: str | None) -> Attempt:
    return Attempt(f"user:{user.id}", name, address or "", str(user.password_changed_at))


def wait(attempt: Attempt) -> int:
    """Seconds before this name may be tried again from this address (0: now)."""
    return max(math.ceil(_redis().pttl(_key("login-delay", attempt.pair)) / 1000), 0)


def over_ceiling(attempt: Attempt) -> bool:
    """The account had too many wrong passwords, and this address never signed in to it."""
    known = _redis().exists(_known_key(attempt))  # asked even when over: the same calls for every name
    return over(_config("IDP_LOGIN_ACCOUNT_RATE_LIMIT"), CEILING, attempt.subject) and not known


def failed(attempt: Attempt) -> None:
    """Count a wrong password: towards this pair's delay and the account's ceiling."""
    longest = _config("IDP_LOGIN_DELAY_MAX")
    failures_key = _key("login-failures", attempt.pair)
    with _redis().pipeline() as pipe:
        failures, _ = pipe.incr(failures_key).expire(failures_key, max(FORGOTTEN_AFTER, 2 * longest)).execute()
    beyond = failures - _config("IDP_LOGIN_FREE_FAILURES")
    if beyond >= 0:
        delay = min(_config("IDP_LOGIN_DELAY") * 2 ** min(beyond, 32), longest)
        _redis().set(_key("login-delay", attempt.pair), "1", ex=delay)
    allow(_config("IDP_LOGIN_ACCOUNT_RATE_LIMIT"), CEILING, attempt.subject)


def password_right(attempt: Attempt) -> None:
    """The right password, a second factor still to come: this pair starts afresh, but the address
    is not yet one the account uses (that would lift the ceiling off guesses of the code)."""
    _redis().delete(_key("login-failures", attempt.pair), _key("login-delay", attempt.pair))


def succeeded(attempt: Attempt) -> None:
    """Signed in: this pair starts afresh, and this address is now one the account uses."""
    password_right(attempt)
    _redis().set(_known_key(attempt), "1", ex=_config("IDP_LOGIN_KNOWN_ADDRESS_TTL"))


def forget(user: User, address: str | None) -> None:
    """A new password: the ceiling and the pairs of ``address`` start afresh (known addresses
    were the old password's)."""
    subject = f"user:{user.id}"
    clear(_config("IDP_LOGIN_ACCOUNT_RATE_LIMIT"), CEILING, subject)
    if address is not None:
        pairs = [Attempt(subject, name, address, "").pair for name in NAMES]
        _redis().delete(*(_key(kind, pair) for pair in pairs for kind in ("login-failures", "login-delay")))


def _known_key(attempt: Attempt) -> str:
    return _key("login-known", keyed_hash(f"{attempt.subject}|{attempt.generation}|{attempt.address}"))


def _key(kind: str, digest: str) -> str:
    # Tagged by the digest: a pair's failures and delay share a slot in a Redis Cluster, and one DEL
    # ends both.
    return provider().keys.tagged(kind, digest)


def _redis():
    return provider().redis


def _config(name: str):
    return current_app.config[name]
