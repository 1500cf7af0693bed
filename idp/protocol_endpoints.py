"""The machine-to-machine endpoints, spared the hooks that only pages need.

Relying parties and resource servers call the token, introspection, revocation and userinfo
endpoints on every request they serve; discovery, the keys and the probes are fetched by
machines too.  None of them renders a page, reads a form's CSRF token, has a per-address
rate limit, or remembers a language for the session, so the hooks doing that are skipped
for them (about a third of a token request's time on a trivial endpoint).  What protects
them stays: client authentication, the admin and console network checks, the security
headers, the session store's availability check.
"""

from __future__ import annotations

import functools

from flask import Flask, request
from flask_limiter.util import get_qualified_name

from .ratelimit import limiter

ENDPOINTS = frozenset({
    "oidc.token", "oidc.introspect", "oidc.revoke", "oidc.userinfo", "oidc.jwks", "oidc.discovery",
    "health.healthz", "health.readyz", "metrics.metrics",
})
PAGE_HOOKS = ("_check_request_limit", "remember_choice", "csrf_protect")


def rate_limited(app: Flask) -> set[str]:
    """The protocol endpoints that carry a Flask-Limiter decorator: those keep every hook."""
    decorated = set(limiter.limit_manager._decorated_limits) | set(limiter._marked_for_limiting)
    found = set()
    for endpoint in ENDPOINTS:
        view = app.view_functions.get(endpoint)
        # Flask-Limiter keys its decorated views by module, name and qualified name.
        if view is not None and get_qualified_name(view) in decorated:
            found.add(endpoint)
    return found


def init_app(app: Flask) -> None:
    """Call last, once every blueprint and hook is registered."""
    spared = ENDPOINTS - rate_limited(app)
    if app.config.get("RATELIMIT_DEFAULT") or app.config.get("RATELIMIT_APPLICATION"):
        spared = frozenset()  # a deployment-wide limit applies to every endpoint

    def unless_protocol(hook):
        @functools.wraps(hook)
        def guarded(*args, **kwargs):
            if request.endpoint in spared:
                return args[0] if args else None  # an after_request hook gives the response back
            return hook(*args, **kwargs)
        return guarded

    hooks = app.before_request_funcs.setdefault(None, [])
    hooks[:] = [unless_protocol(hook) if getattr(hook, "__name__", "") in PAGE_HOOKS else hook for hook in hooks]
    after = app.after_request_funcs.setdefault(None, [])
    after[:] = [unless_protocol(hook) if _is_limiter_hook(hook) else hook for hook in after]
    app.extensions["idp.protocol_endpoints"] = spared


def _is_limiter_hook(hook) -> bool:
    func = getattr(hook, "func", hook)  # Flask-Limiter registers a functools.partial
    return "inject_headers" in getattr(func, "__name__", "")
