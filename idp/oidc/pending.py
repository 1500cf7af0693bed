"""Authorization requests waiting for the citizen (to log in, or to consent).

Each waits in the session under a random id; the login and consent pages carry that id,
and the request resumes at ``/oauth/authorize?…&resume=<id>``.

Anyone can start a request without signing in, so what waits is bounded: only the
parameters the provider understands (``PARAMETERS``), each refused above its length cap,
and at most ``MAX_PENDING`` requests per browser, the oldest dropped first.  One browser
thus holds at most ``MAX_PENDING × sum(PARAMETERS.values())`` characters (about 55 000).

A login counts as fresh for ``prompt=login`` and ``max_age`` when it was made after the
request arrived: the request keeps the ``sid`` of the login the browser had then, and
every login gets a new ``sid`` (``sessions.begin_login``).  No clock is compared, so a
login in the same second as the request, before it, does not count.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlencode

from flask import g, request, session, url_for

MAX_PENDING = 5
MAX_RESOURCES = 5  # resources one request may name (each within the cap below)

# The authorization parameters kept for the resumed request, with the longest value
# accepted (characters).  Caps leave room for what relying parties really send: a
# redirect URI with a long query, a state holding a signed blob, a hint that is an
# e-mail address (254 at most, RFC 5321).  A PKCE challenge is 43 to 128 characters.
PARAMETERS = {
    "response_type": 32,
    "response_mode": 16,
    "client_id": 128,
    "redirect_uri": 2048,
    "scope": 1024,
    "state": 2048,
    "nonce": 512,
    "prompt": 64,
    "max_age": 10,
    "login_hint": 254,
    "ui_locales": 64,
    "code_challenge": 128,
    "code_challenge_method": 16,
    "resource": 500,  # RFC 8707: a registered resource's identifier (idp/resources.py), 500 at most
    "claims": 4096,  # OpenID Connect Core §5.5, for verified_claims (verified_claims.MAX_REQUEST)
    "acr_values": 256,  # space-separated classes (idp/oidc/acr.py)
}


def too_long(values) -> str | None:
    """The first known parameter of ``values`` that is longer than its cap, or None."""
    return next((name for name, cap in PARAMETERS.items() if len(values.get(name, "")) > cap), None)


def get(pending_id: str | None) -> dict:
    return session.get("pending", {}).get(pending_id or "", {})


def logged_in_since(pending_id: str | None) -> bool:
    """Whether the browser signed in after this request arrived."""
    waiting = get(pending_id)
    return bool(waiting) and session.get("sid") is not None and session["sid"] != waiting.get("login")


def remember(pending_id: str | None) -> str:
    """Keep the current authorization request in the session; return its id."""
    pending = dict(session.get("pending", {}))
    if pending_id not in pending:
        pending_id = secrets.token_urlsafe(12)
        params = {name: request.values[name] for name in PARAMETERS if name in request.values}
        if len(named := request.values.getlist("resource")) > 1:  # RFC 8707 lets a request name several
            params["resource"] = named[:MAX_RESOURCES]
        pending[pending_id] = {"params": params, "created": time.time(), "login": session.get("sid"),
                               **({"pushed": True} if g.get("pushed") else {})}
        while len(pending) > MAX_PENDING:
            pending.pop(min(pending, key=lambda k: pending[k]["created"]))
    session["pending"] = pending
    return pending_id


def forget(pending_id: str | None) -> None:
    if pending_id and pending_id in session.get("pending", {}):
        pending = dict(session["pending"])
        pending.pop(pending_id)
        session["pending"] = pending


def resume_url(pending_id: str | None) -> str | None:
    """Where to send the citizen to carry on with a pending authorization request."""
    waiting = get(pending_id)
    if not waiting:
        return None
    if waiting.get("pushed"):  # RFC 9126: the parameters stay here, the browser carries only the id
        return url_for("oidc.authorize") + "?" + urlencode({"client_id": waiting["params"].get("client_id"),
                                                            "resume": pending_id})
    # Built by hand: url_for would read names such as _external among the parameters.
    return url_for("oidc.authorize") + "?" + urlencode({**waiting["params"], "resume": pending_id}, doseq=True)


def mark_consented(pending_id: str) -> None:
    pending = dict(session.get("pending", {}))
    pending[pending_id] = {**pending[pending_id], "consented": True}
    session["pending"] = pending
