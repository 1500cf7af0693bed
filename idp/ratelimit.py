"""Throttling on the shared Redis: per client address (Flask-Limiter decorators) and per
account (failed logins), so a distributed guesser and a single noisy address both stop."""

from __future__ import annotations

import hashlib

from flask import Flask, current_app, render_template
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


def init_app(app: Flask, storage_uri: str) -> None:
    app.config["RATELIMIT_STORAGE_URI"] = storage_uri
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"key_prefix": app.config["IDP_REDIS_PREFIX"] + "limits"}
    app.config.setdefault("RATELIMIT_ENABLED", True)
    limiter.init_app(app)

    @app.errorhandler(429)
    def too_many_requests(_error):
        return render_template("errors/error.html", title=_("Too many attempts"),
                               message=_("Please wait a few minutes before trying again.")), 429


def _account_limit():
    return parse(current_app.config["IDP_LOGIN_ACCOUNT_RATE_LIMIT"])


def account_limit_exceeded(account_key: str) -> bool:
    """``account_key`` names the account (``user:<id>``), or the typed name when none matches."""
    return not limiter.limiter.test(_account_limit(), "login-account", account_key)


def record_failed_login(account_key: str) -> None:
    limiter.limiter.hit(_account_limit(), "login-account", account_key)


def allow(limit: str, scope: str, key: str) -> bool:
    """Count one attempt of ``scope`` for ``key`` (an address, an account); False once over ``limit``.

    ``key`` is stored hashed: it may be what a citizen typed."""
    return limiter.limiter.hit(parse(limit), scope, hashlib.sha256(key.encode()).hexdigest())
