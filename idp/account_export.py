"""Télécharger mes données: the citizen's data as one JSON file (RGPD art. 15, access, and art. 20,
portability).

It holds the account's personal fields, the passkeys (names and dates), the services signed in
to and the authorizations they hold, the open sessions, the help requests filed about the account, and every audit event
about the citizen.  Never a secret: no password hash, no token or session id, no token hash, no passkey's key or
credential id.
A signed-in session is enough, as with Keycloak's and Ory's account pages; each download is
throttled, recorded in the audit log and shown in the account's recent activity.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, render_template
from flask_babel import gettext as _
from sqlalchemy import select

from . import audit_log, ratelimit
from .account_services import services_of
from .account_sessions import open_sessions
from .admin.users import as_dict
from .db import session as db_session
from .login_state import current_user, sign_in_first
from .models import AuditEvent, HelpRequest, RefreshToken, User, utcnow
from .passkeys import passkeys_of

bp = Blueprint("account_export", __name__)
FILE_NAME = "mes-donnees-sesame.json"
EXPORTS_ALLOWED = "10/hour"  # a citizen needs one; a borrowed session must not pull it in a loop


@bp.get("/account/export")
def export():
    user = current_user()
    if user is None:
        return sign_in_first()
    if not ratelimit.allow(EXPORTS_ALLOWED, "account-export", f"user:{user.id}"):
        return render_template("errors/error.html", title=_("Too many attempts"),
                               message=_("Please wait a few minutes before trying again.")), 429
    audit_log.record("account.exported", user_id=user.id)  # before reading: the file shows it too
    body = json.dumps(everything_about(user), ensure_ascii=False, indent=2, default=str)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="{FILE_NAME}"', "Cache-Control": "no-store"})


def everything_about(user: User) -> dict:
    account = {key: value for key, value in as_dict(user).items() if key != "id"}
    return {"exported_at": _iso(utcnow()), "account": account, "passkeys": _passkeys(user),
            "services": [{**service, "last_sign_in": service["last_sign_in"].isoformat()}
                         for service in services_of(user)],
            "authorizations": _authorizations(user), "sessions": _sessions(user),
            "help_requests": _help_requests(user), "activity": _activity(user)}


def _iso(moment) -> str | None:
    return moment.isoformat() + "Z" if moment else None


def _authorizations(user: User) -> list[dict]:
    """The refresh tokens services hold (without their value or hash)."""
    rows = db_session().scalars(select(RefreshToken).where(RefreshToken.user_id == user.id)
                                .order_by(RefreshToken.id)).all()
    return [{"client_id": row.client_id, "scope": row.scope, "issued_at": _iso(row.issued_at),
             "expires_at": _iso(row.expires_at), "used_at": _iso(row.used_at), "revoked_at": _iso(row.revoked_at)}
            for row in rows]


def _passkeys(user: User) -> list[dict]:
    """Each passkey as the citizen's list shows it: never its public key, credential id or counter."""
    return [{"name": row.name, "added_at": _iso(row.created_at), "last_used_at": _iso(row.last_used_at),
             "synced": row.backed_up} for row in passkeys_of(user)]


def _sessions(user: User) -> list[dict]:
    return [{"device": item["device"], "ip": item["ip"], "started": item["started"].isoformat(),
             "last_use": item["last_use"].isoformat(), "current": item["current"]} for item in open_sessions(user)]


def _help_requests(user: User) -> list[dict]:
    rows = db_session().scalars(select(HelpRequest).where(HelpRequest.user_id == user.id)
                                .order_by(HelpRequest.id)).all()
    return [{"id": row.id, "state": row.state, "given_name": row.given_name, "family_name": row.family_name,
             "birthdate": row.birthdate.isoformat() if row.birthdate else None, "username": row.username,
             "new_email": row.new_email, "message": row.message, "created_at": _iso(row.created_at),
             "closed_at": _iso(row.closed_at), "reason": row.reason} for row in rows]


def _activity(user: User) -> list[dict]:
    rows = db_session().scalars(select(AuditEvent).where(AuditEvent.user_id == user.id)
                                .order_by(AuditEvent.id)).all()
    return [{key: value for key, value in row.as_dict().items() if key not in ("id", "user_id")} for row in rows]
