"""Plugins: found through the ``idp.plugins`` entry points, enabled by name in ``IDP_PLUGINS``.

A plugin is an object (or module) with ``init_app(app, hooks)``.  It may register
blueprints and add to the hooks below; the core never imports a plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from flask import Flask, current_app

from .config import ConfigError


@dataclass
class Hooks:
    """What a plugin can add to.  Events are called in the request (or job) that caused them."""

    #: callables returning ``[(url, label), ...]`` shown under the login form (they may read ``rid``)
    login_links: list[Callable[[], list[tuple[str, str]]]] = field(default_factory=list)
    #: ``f(user, reason)`` once a citizen's password changed and everything it protected was revoked
    password_changed: list[Callable[[Any, str], None]] = field(default_factory=list)
    #: ``f(user)`` when a citizen's sessions and tokens are revoked; returns ``{"what": count}`` it revoked
    user_revoked: list[Callable[[Any], dict[str, int]]] = field(default_factory=list)
    #: ``f(rid) -> url`` of the sign-up page; set, ``prompt=create`` is supported and advertised
    signup_url: Callable[[str | None], str] | None = None
    #: ``f(user)`` when a pending account (e-mail not confirmed) signs in with the right password;
    #: returns a message for the login page (say what was sent, and where)
    pending_login: list[Callable[[Any], str | None]] = field(default_factory=list)
    #: ``f(user)`` mails the citizen a link to choose a new password (the help desk asks for it)
    send_reset_link: Callable[[Any], None] | None = None
    #: ``f(user, since) -> url`` of a new "it was not me" link for a notice (a passkey added or removed)
    not_me_link: Callable[..., str] | None = None
    enabled: list[str] = field(default_factory=list)


def hooks() -> Hooks:
    return current_app.extensions["idp.hooks"]


def load(app: Flask, names: list[str]) -> None:
    app.extensions["idp.hooks"] = registry = Hooks()
    available = {ep.name: ep for ep in entry_points(group="idp.plugins")}
    for name in names:
        if name not in available:
            known = ", ".join(sorted(available)) or "none"
            raise ConfigError(f"IDP_PLUGINS: no plugin named {name!r} is installed (installed: {known})")
        try:
            plugin = available[name].load()
            plugin.init_app(app, registry)
        except ConfigError:
            raise
        except Exception as exc:  # a broken plugin must stop the start with one clear line
            raise ConfigError(f"IDP_PLUGINS: plugin {name!r} failed to load: {type(exc).__name__}: {exc}") from exc
        registry.enabled.append(name)
