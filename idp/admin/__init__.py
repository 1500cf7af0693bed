"""The help desk's JSON API under ``/admin/api/``, for clients holding a token with scope
``idp:admin`` obtained through ``client_credentials``.  Described in ``openapi.py``."""

from __future__ import annotations

from flask import Flask

from . import audit, help_requests, openapi, users
from .auth import guard

BLUEPRINTS = (users.bp, help_requests.bp, audit.bp, openapi.bp)


def init_app(app: Flask, csrf) -> None:
    for blueprint in BLUEPRINTS:
        csrf.exempt(blueprint)  # bearer tokens, no cookies: nothing to forge across sites
        app.register_blueprint(blueprint)
    # First of every hook (the language choice reads form fields): nothing reads a stranger's body.
    app.before_request_funcs.setdefault(None, []).insert(0, guard)
