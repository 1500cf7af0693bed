"""Changing a citizen's password, and revoking everything their old one protected.

One place for both, so a reset, the account page and the help desk all end the same
things: every signed-in session (on every instance, and the services it signed in to hear
of it by back-channel logout), every access token, every refresh token, every outstanding
one-time link, and whatever plugins own.
"""

from __future__ import annotations

from flask import has_request_context, request

from . import audit_log, login_throttle
from .db import session as db_session
from .models import User, utcnow
from .oidc import backchannel
from .oidc.tokens import revoke_user_access_tokens, revoke_user_refresh_tokens
from .one_time_tokens import one_time_tokens
from .passwords import hash_password
from .plugins import hooks
from .sessions import end_all_for_user, sessions_of

REVOCABLE = ("sessions", "refresh_tokens", "access_tokens", "one_time_tokens")


def revoke_access(user: User, what: tuple[str, ...] | set[str] = REVOCABLE, *,
                  tell_services: bool = True) -> dict[str, int]:
    """End the citizen's sessions and tokens everywhere (or only ``what`` of them); what was revoked,
    with counts.  Revoking everything also revokes what plugins own, through their hook.
    ``tell_services=False``: the caller sends the back-channel logouts itself (account deletion)."""
    revoked = {}
    if "sessions" in what:
        ended = end_all_for_user(user.id)
        if tell_services:
            backchannel.notify_ended(ended)  # the services those sessions signed in to hear of it
        revoked["sessions"] = len(ended)
    if "access_tokens" in what:
        revoked["access_tokens"] = revoke_user_access_tokens(user.id)
    if "refresh_tokens" in what:
        revoked["refresh_tokens"] = revoke_user_refresh_tokens(user.id)
    if "one_time_tokens" in what:
        revoked["one_time_tokens"] = one_time_tokens().revoke_user(user.id)
    if set(what) >= set(REVOCABLE):
        for hook in hooks().user_revoked:
            for kind, count in (hook(user) or {}).items():
                revoked[kind] = revoked.get(kind, 0) + count
    return revoked


def revoke_service(user: User, client_id: str) -> dict[str, int]:
    """"Retirer l'accès": end what one service holds for the citizen (its refresh tokens and access
    tokens) and tell it, by back-channel logout, for each session of the citizen that signed in to it.
    The citizen's sessions with Sésame stay open."""
    revoked = {"refresh_tokens": revoke_user_refresh_tokens(user.id, client_id),
               "access_tokens": revoke_user_access_tokens(user.id, client_id)}
    with_it = [data for data in sessions_of(user.id).values() if client_id in data.get("clients", [])]
    revoked["logouts"] = sum(backchannel.notify(user.id, data.get("sid"), [client_id]) for data in with_it)
    return revoked


def set_password(user: User, new_password: str | None, reason: str, *,
                 password_hash: str | None = None) -> dict[str, int]:
    """Replace the password (None: sign-in by password is off until a reset), then revoke access.
    ``password_hash``: the password was chosen earlier and kept hashed (a recovery that waited)."""
    user.password_hash = hash_password(new_password) if new_password else password_hash
    user.password_changed_at = utcnow()
    db_session().commit()
    revoked = revoke_access(user)
    login_throttle.forget(user, request.remote_addr if has_request_context() else None)  # a reset unlocks
    audit_log.record("password.changed", user_id=user.id, reason=reason, revoked=revoked)
    for hook in hooks().password_changed:
        hook(user, reason)
    return revoked
