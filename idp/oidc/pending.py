"""Authorization requests waiting for the citizen (to log in, or to consent).

Each waits in the session under a random id, with the time it arrived; the login and
consent pages carry that id, and the request resumes at ``/oauth/authorize?…&resume=<id>``.
A login counts as fresh for ``prompt=login`` and ``max_age`` when it happened after the
request arrived.
"""

from __future__ import annotations

import secrets
import time

from flask import request, session, url_for

MAX_PENDING = 5


def get(pending_id: str | None) -> dict:
    return session.get("pending", {}).get(pending_id or "", {})


def logged_in_since(pending_id: str | None) -> bool:
    started = get(pending_id).get("created")
    return started is not None and session.get("auth_time", 0) >= started


def remember(pending_id: str | None) -> str:
    """Keep the current authorization request in the session; return its id."""
    pending = dict(session.get("pending", {}))
    if pending_id not in pending:
        pending_id = secrets.token_urlsafe(12)
        params = {k: v for k, v in request.values.items() if k != "resume"}
        pending[pending_id] = {"params": params, "created": int(time.time())}
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
    return url_for("oidc.authorize", **waiting["params"], resume=pending_id)


def mark_consented(pending_id: str) -> None:
    pending = dict(session.get("pending", {}))
    pending[pending_id] = {**pending[pending_id], "consented": True}
    session["pending"] = pending
