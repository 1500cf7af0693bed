"""Throttling on the shared Redis: per client address (Flask-Limiter decorators) and per
name typed or account (``allow``); failed sign-ins have their own policy, in ``login_throttle``."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many

from .digests import keyed_hash

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


def _login_limit() -> str:
    return current_app.config["IDP_LOGIN_RATE_LIMIT"]


# The sign-in attempts of a client address, whatever the way (the password form, a passkey's answer):
# one budget of IDP_LOGIN_RATE_LIMIT, so a second door gives no second allowance.
login_attempts = limiter.shared_limit(_login_limit, scope="login-attempts", methods=["POST"])


def init_app(app: Flask, storage_uri: str, storage_options: dict) -> None:
    app.config["RATELIMIT_STORAGE_URI"] = storage_uri
    prefix = app.config["IDP_REDIS_PREFIX"] + "limits"
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {**storage_options, "key_prefix": prefix}
    app.config.setdefault("RATELIMIT_ENABLED", True)
    # Flask-Limiter adds each app's storage options to the previous app's (one limiter, and tests and
    # commands build several apps): a sentinel app's options would reach a plain Redis app's storage.
    limiter._storage_options = {}
    limiter.init_app(app)

    @app.errorhandler(429)
    def too_many_requests(_error):
        if request.is_json:  # a page's script (the passkeys'): it shows the sentence where the citizen looks
            return jsonify(error="too_many_attempts", message=_("Too many attempts. Please wait a few minutes "
                                                                "before trying again.")), 429
        return render_template("errors/error.html", title=_("Too many attempts"),
                               message=_("Please wait a few minutes before trying again.")), 429


def allow(limit: str, scope: str, key: str) -> bool:
    """Count one attempt of ``scope`` for ``key`` (an address, an account); False once over ``limit``
    (every one of its rates, e.g. ``10/minute;60/hour``).

    ``key`` is stored as a keyed hash: it may be what a citizen typed."""
    digest = keyed_hash(key)
    return all([limiter.limiter.hit(rate, scope, digest) for rate in parse_many(limit)])  # count every rate


def over(limit: str, scope: str, key: str) -> bool:
    """Whether ``key`` already used up ``limit`` in ``scope``, without counting an attempt."""
    digest = keyed_hash(key)
    return not all([limiter.limiter.test(rate, scope, digest) for rate in parse_many(limit)])


def clear(limit: str, scope: str, key: str) -> None:
    """Start ``key``'s count in ``scope`` afresh."""
    digest = keyed_hash(key)
    for rate in parse_many(limit):
        limiter.limiter.clear(rate, scope, digest)
