"""OpenID Connect Back-Channel Logout 1.0: when a citizen's session ends (logout,
password reset, help-desk revocation), every relying party that signed in through that
session and registered a ``backchannel_logout_uri`` receives a signed logout token.

The subject is worked out when the job is queued (the account may be deleted by the time it
runs).  Sending is a job, off the request path, retried with back-off like mail: a relying
party that is down learns of the logout when it comes back (within ``DELIVERY_WINDOW``).
"""

from __future__ import annotations

import secrets
import time

import requests
from flask import Flask, current_app
from joserfc import jwt

from ..db import session as db_session
from ..jobs import jobs
from ..models import User
from .claims import subject_for
from .context import provider

JOB = "backchannel.logout"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_TTL = 120
DELIVERY_WINDOW = 3600  # seconds a logout keeps being retried; later it no longer matters
TIMEOUT = 10


def notify(user_id: int | None, sid: str | None, client_ids: list[str]) -> int:
    """Queue a logout token for each service of an ended session that asked for one; how many."""
    user = db_session().get(User, user_id) if user_id and client_ids else None
    return _queue(user, sid, client_ids) if user is not None else 0


def notify_ended(sessions: list[dict]) -> int:
    """``notify`` for session records that were just deleted (every session of a citizen)."""
    return sum(notify(data.get("user_id"), data.get("sid"), data.get("clients", [])) for data in sessions)


def notify_account_deleted(user: User, client_ids: set[str]) -> int:
    """Tell every service the citizen signed in to that the account is gone: one token without ``sid``
    (every session of that subject, §2.4)."""
    return _queue(user, None, sorted(client_ids))


def _queue(user: User, sid: str | None, client_ids: list[str]) -> int:
    # The subject is worked out now: the account may be gone, and its id given to another, when the job runs.
    queued = 0
    for client_id in client_ids:
        client = provider().clients(client_id)
        if client is not None and client.backchannel_logout_uri:
            jobs().enqueue(JOB, {"client_id": client_id, "user_id": user.id, "sid": sid,
                                 "sub": subject_for(user, client)}, expires_at=int(time.time()) + DELIVERY_WINDOW)
            queued += 1
    return queued


def logout_token(subject: str, client, sid: str | None) -> str:
    ctx = provider()
    now = int(time.time())
    claims = {"iss": ctx.issuer, "aud": client.client_id, "iat": now, "exp": now + TOKEN_TTL,
              "jti": secrets.token_urlsafe(16), "sub": subject, "events": {EVENT: {}}}
    if sid:
        claims["sid"] = sid
    alg = client.id_token_signed_response_alg or "RS256"
    key = ctx.signing_keys.signing_key(alg)
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "logout+jwt"}, claims, key)


def deliver(payload: dict) -> None:
    """The job: POST the logout token; anything but 200/204 is retried."""
    client = provider().clients(payload["client_id"])
    if client is None or not client.backchannel_logout_uri:
        return  # the service is gone: nobody left to tell
    subject = payload.get("sub")
    if subject is None:  # a job queued before subjects were worked out at once
        user = db_session().get(User, payload["user_id"])
        if user is None:
            return
        subject = subject_for(user, client)
    response = requests.post(client.backchannel_logout_uri, timeout=TIMEOUT, allow_redirects=False,
                             data={"logout_token": logout_token(subject, client, payload.get("sid"))},
                             headers={"Cache-Control": "no-store"})
    if response.status_code not in (200, 204):
        raise RuntimeError(f"{client.client_id} answered {response.status_code} to the logout token")
    current_app.logger.info("back-channel logout delivered to %s", client.client_id)


def init_app(app: Flask) -> None:
    app.extensions["idp.jobs"].handle(JOB, deliver)
