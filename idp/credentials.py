"""Changing a citizen's password, and revoking everything their old one protected.

One place for both, so a reset, the account page and the help desk all end the same
things: every signed-in session (on every instance, and the services it signed in to hear
of it by back-channel logout), every access token, every refresh token, every outstanding
one-time link, and whatever plugins own.
"""

from __future__ import annotations

from . import audit_log
from .db import session as db_session
from .models import User, utcnow
from .oidc import backchannel
from .oidc.tokens import revoke_user_access_tokens, revoke_user_refresh_tokens
from .one_time_tokens import one_time_tokens
from .passwords import hash_password
from .plugins import hooks
from .sessions import end_all_for_user


def revoke_access(user: User) -> dict[str, int]:
    """End the citizen's sessions and tokens everywhere; what was revoked, with counts."""
    ended = end_all_for_user(user.id)
    backchannel.notify_ended(ended)  # the services those sessions signed in to hear of it
    revoked = {
        "access_tokens": revoke_user_access_tokens(user.id),
        "sessions": len(ended),
        "refresh_tokens": revoke_user_refresh_tokens(user.id),
        "one_time_tokens": one_time_tokens().revoke_user(user.id),
    }
    for hook in hooks().user_revoked:
        for what, count in (hook(user) or {}).items():
            revoked[what] = revoked.get(what, 0) + count
    return revoked


def set_password(user: User, new_password: str | None, reason: str) -> dict[str, int]:
    """Replace the password (None: sign-in by password is off until a reset), then revoke access."""
    user.password_hash = hash_password(new_password) if new_password else None
    user.password_changed_at = utcnow()
    db_session().commit()
    revoked = revoke_access(user)
    audit_log.record("password.changed", user_id=user.id, reason=reason, revoked=revoked)
    for hook in hooks().password_changed:
        hook(user, reason)
    return revoked
