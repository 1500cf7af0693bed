"""Supprimer mon compte (RGPD art. 17), in this order:

1. the password and a ticked box (a wrong password counts as a failed login);
2. the confirmation mail is queued, rendered while the address and names still exist;
3. every session, refresh token, access token and one-time link ends (``revoke_access``);
4. every service the citizen signed in to gets a back-channel logout token without ``sid``,
   its subject worked out now, before the pairwise subjects go with the account;
5. the help requests filed about the account are deleted;
6. the audit rows about the citizen stay, as history of what happened, without personal data:
   the client address is erased, and so are the details that hold what was typed (identifier,
   keyed hashes); ``user_id`` is nulled, and the rows keep a random ``deleted_account`` mark that
   links them to each other.  Not the number: SQLite gives the highest id again to the next
   account, which would then show a stranger's history as its own;
7. the account row goes, and with it its pairwise subjects and refresh tokens (foreign keys
   ``ON DELETE CASCADE``); the identifier and the e-mail address are free again;
8. this browser is signed out and shown "Votre compte est supprimé".
"""

from __future__ import annotations

import secrets

from flask import Blueprint, render_template, request, session
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update

from . import audit_log, login_throttle, mail
from .account import current_password_refused
from .credentials import revoke_access
from .db import session as db_session
from .forms import AccountDeletionForm
from .login_state import current_user, sign_in_first
from .models import AuditEvent, HelpRequest, RefreshToken, User
from .oidc import backchannel
from .sessions import sessions_of, sign_out_keeping_requests
from .theme import brand_name

bp = Blueprint("account_deletion", __name__)
PERSONAL_DETAILS = {"username", "email", "typed_hmac", "ip", "given_name", "family_name", "birthdate"}


@bp.route("/account/delete", methods=["GET", "POST"])
def delete_account():
    user = current_user()
    if user is None:
        return sign_in_first()
    form = AccountDeletionForm()
    if request.method == "GET":
        return render_template("account/delete.html", form=form)
    if not form.validate_on_submit():
        return render_template("account/delete.html", form=form), 400
    if refused := current_password_refused(user, form.current_password.data):
        form.current_password.errors = [refused[1]]
        return render_template("account/delete.html", form=form), refused[0]
    erase(user)
    sign_out_keeping_requests(session)
    return render_template("account/deleted.html")


def erase(user: User) -> dict[str, int]:
    """Steps 2 to 7 above; what was revoked."""
    mail.send(user.email, "account/deleted", _l("Your %(brand)s account is deleted", brand=brand_name()), user=user)
    services = services_signed_in_to(user)
    revoked = revoke_access(user, tell_services=False)
    revoked["logouts"] = backchannel.notify_account_deleted(user, services)
    login_throttle.forget(user, request.remote_addr)
    db = db_session()
    db.execute(delete(HelpRequest).where(HelpRequest.user_id == user.id))
    db.commit()
    audit_log.record("account.deleted", user_id=user.id, revoked=revoked)
    _strip_audit_rows(user.id)
    db.delete(user)
    db.commit()
    return revoked


def services_signed_in_to(user: User) -> set[str]:
    """Every service that may know the citizen: signed in to (audit log), holding a refresh token,
    or listed by an open session."""
    db = db_session()
    granted = db.scalars(select(AuditEvent.client_id).where(
        AuditEvent.user_id == user.id, AuditEvent.action == "authorization.granted",
        AuditEvent.client_id.is_not(None)).distinct())
    holding = db.scalars(select(RefreshToken.client_id).where(RefreshToken.user_id == user.id).distinct())
    in_sessions = {client_id for data in sessions_of(user.id).values() for client_id in data.get("clients", [])}
    return set(granted) | set(holding) | in_sessions


def _strip_audit_rows(user_id: int) -> None:
    db = db_session()
    mark = secrets.token_urlsafe(12)
    for row in db.scalars(select(AuditEvent).where(AuditEvent.user_id == user_id)):
        row.user_id, row.ip = None, None
        if row.actor == f"user:{user_id}":
            row.actor = "deleted-account"
        row.details = {**{key: value for key, value in (row.details or {}).items() if key not in PERSONAL_DETAILS},
                       "deleted_account": mark}
    db.execute(update(AuditEvent).where(AuditEvent.actor == f"user:{user_id}").values(actor="deleted-account"))
    db.commit()
