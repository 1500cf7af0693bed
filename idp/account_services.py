"""Mes services: the services (relying parties) the citizen signed in to, and "Retirer l'accès".

The source of truth is the audit log: every authorization code Sésame gives a service for the
citizen is recorded as ``authorization.granted`` with the service's ``client_id``, in SQL, for as
long as the audit log is kept.  Sessions (Redis, they expire) and refresh tokens (only for
services that asked for them) each know part of it.  A service is listed until the citizen
removes it (``account.service_removed``) and listed again when they next sign in to it.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from . import audit_log
from .account import PARIS
from .credentials import revoke_service
from .db import session as db_session
from .devmail import local_time
from .forms import ServiceRemovalForm
from .login_state import current_user, sign_in_first
from .models import AuditEvent, Client, RefreshToken, User, utcnow

bp = Blueprint("account_services", __name__)
GRANTED, REMOVED = "authorization.granted", "account.service_removed"


def services_of(user: User) -> list[dict]:
    """The services the citizen signed in to and did not remove since, most recent first."""
    db = db_session()
    last = dict(db.execute(
        select(AuditEvent.client_id, func.max(AuditEvent.id)).where(
            AuditEvent.user_id == user.id, AuditEvent.action == GRANTED, AuditEvent.client_id.is_not(None))
        .group_by(AuditEvent.client_id)).all())
    if not last:
        return []
    removed = dict(db.execute(
        select(AuditEvent.client_id, func.max(AuditEvent.id)).where(
            AuditEvent.user_id == user.id, AuditEvent.action == REMOVED, AuditEvent.client_id.in_(list(last)))
        .group_by(AuditEvent.client_id)).all())
    listed = {client_id for client_id, event_id in last.items() if event_id > removed.get(client_id, 0)}
    if not listed:
        return []
    clients = {c.client_id: c for c in db.scalars(select(Client).where(Client.client_id.in_(listed)))}
    moments = dict(db.execute(select(AuditEvent.id, AuditEvent.at).where(
        AuditEvent.id.in_([last[client_id] for client_id in listed]))).all())
    offline = set(db.scalars(select(RefreshToken.client_id).where(
        RefreshToken.user_id == user.id, RefreshToken.client_id.in_(listed), RefreshToken.revoked_at.is_(None),
        RefreshToken.used_at.is_(None), RefreshToken.expires_at > utcnow())))
    found = [{"client_id": client_id, "name": clients[client_id].name,
              "last_sign_in": moments[last[client_id]].replace(tzinfo=dt.UTC).astimezone(PARIS),
              "offline": client_id in offline, "apis": _apis_granted(user.id, client_id)}
             for client_id in listed if client_id in clients]
    return sorted(found, key=lambda service: service["last_sign_in"], reverse=True)


def granted_api_scopes(user_id: int, client_id: str) -> list[str]:
    """The APIs' scopes the citizen granted this service, since they last removed its access."""
    db = db_session()
    removed = db.scalar(select(func.max(AuditEvent.id)).where(
        AuditEvent.user_id == user_id, AuditEvent.client_id == client_id, AuditEvent.action == REMOVED)) or 0
    granted = db.scalars(select(AuditEvent.details).where(
        AuditEvent.user_id == user_id, AuditEvent.client_id == client_id, AuditEvent.action == GRANTED,
        AuditEvent.id > removed))
    return sorted({scope for details in granted for scope in (details or {}).get("api_scopes", [])})


def _apis_granted(user_id: int, client_id: str) -> list[dict]:
    """What the service may do through the regional APIs, in the words given at their registration."""
    scopes = granted_api_scopes(user_id, client_id)
    if not scopes:
        return []
    from .resources import scope_owners

    described: dict[str, dict] = {}
    for scope, resource in scope_owners(db_session(), scopes).items():
        entry = described.setdefault(resource.identifier, {"name": resource.name, "scopes": []})
        entry["scopes"].append(resource.scope_descriptions.get(scope) or scope)
    return list(described.values())


@bp.route("/account/services", methods=["GET", "POST"])
def services():
    user = current_user()
    if user is None:
        return sign_in_first()
    form = ServiceRemovalForm()
    if request.method == "GET":
        return _page(user)
    if not form.validate_on_submit():
        abort(400)
    listed = {service["client_id"]: service for service in services_of(user)}
    service = listed.get(form.client_id.data)
    if service is None:
        return _page(user, not_listed=True, status=404)
    revoked = revoke_service(user, service["client_id"])
    audit_log.record(REMOVED, user_id=user.id, client_id=service["client_id"], revoked=revoked)
    flash(_("%(service)s no longer has access to your account. It will ask you to sign in again.",
            service=service["name"]))
    return redirect(url_for("account_services.services"), 303)


def _page(user: User, not_listed: bool = False, status: int = 200):
    return render_template("account/services.html", services=services_of(user), form=ServiceRemovalForm(),
                           not_listed=not_listed, local_time=local_time), status
