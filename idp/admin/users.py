"""Citizens' accounts for the help desk: find, read, change the address, disable, revoke, and list or
remove passkeys (never their key material).

``{user}`` in a path is the account's id, its identifier, or its e-mail address.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, jsonify, request
from sqlalchemy import select

from .. import audit_log
from .. import help_desk_actions as actions
from ..credentials import REVOCABLE
from ..db import session as db_session
from ..identity import parse_birthdate
from ..models import Passkey, User
from ..oidc.claims import check_admin_set
from ..oidc.tokens import (
    decode_access_token,
    deny_access_token,
    find_refresh_token,
    revoke_family,
)
from ..one_time_tokens import one_time_tokens
from ..passkeys import passkeys_of
from ..users import find_by_login
from .auth import as_id, json_body, json_error, refuse_nul, require_admin

bp = Blueprint("admin_users", __name__, url_prefix="/admin/api")
bp.before_request(refuse_nul)
SEARCH_LIMIT = 50


def resolve(reference: str) -> User:
    """The account named by an id, an identifier or an e-mail address; 404 otherwise."""
    db = db_session()
    user = db.get(User, user_id) if (user_id := as_id(reference)) is not None else None
    user = user or find_by_login(db, reference)
    if user is None:
        abort(404, "No account matches this id, identifier or e-mail address.")
    return user


def refused_answer(refused: actions.Refused):
    """The API's answer to an action the help desk cannot do."""
    return json_error(refused.status, refused.code, refused.description)


def as_dict(user: User) -> dict:
    return {
        "id": user.id, "sub": user.sub, "username": user.username, "email": user.email,
        "email_verified": user.email_verified, "given_name": user.given_name, "family_name": user.family_name,
        "birthdate": user.birthdate.isoformat() if user.birthdate else None, "phone_number": user.phone_number,
        "street_address": user.street_address, "postal_code": user.postal_code, "locality": user.locality,
        "status": user.status, "has_password": user.password_hash is not None,
        "created_at": user.created_at.isoformat() + "Z",
        "password_changed_at": user.password_changed_at.isoformat() + "Z" if user.password_changed_at else None,
        "possible_duplicate_of": user.possible_duplicate_of,
        "claims": dict(user.profile_claims or {}),
    }


@bp.get("/users")
@require_admin
def search():
    query = request.args.get("q", "").strip()
    if not query or len(query) > 254:
        return json_error(400, "invalid_request", "Give q: an identifier, an e-mail address, or a name.")
    users = actions.search_users(query, _date(request.args.get("birthdate")), SEARCH_LIMIT)
    return jsonify(users=[as_dict(user) for user in users])


def _date(raw: str | None) -> dt.date | None:
    """The search's birth date, typed as a citizen reads it out (03/11/1987) or as ISO 8601 (1987-11-03)."""
    if not raw:
        return None
    if (birthdate := parse_birthdate(raw)) is None:
        abort(400, "birthdate must be a day of the calendar, DD/MM/YYYY or YYYY-MM-DD.")
    return birthdate


@bp.get("/users/<reference>")
@require_admin
def read(reference: str):
    return jsonify(as_dict(resolve(reference)))


@bp.patch("/users/<reference>")
@require_admin
def update(reference: str):
    user = resolve(reference)
    body = json_body()
    if body is None or not set(body) <= {"email", "disabled", "send_reset", "possible_duplicate_of", "claims"} \
            or not body:
        return json_error(400, "invalid_request",
                          "Send a JSON object with email, disabled, send_reset, possible_duplicate_of and/or claims.")
    if "claims" in body:
        try:
            check_admin_set(body["claims"])
        except ValueError as error:
            return json_error(400, "invalid_request", f"{error}.")
    if any(not isinstance(body[flag], bool) for flag in ("disabled", "send_reset") if flag in body):
        return json_error(400, "invalid_request", "disabled and send_reset must be true or false.")
    if body.get("possible_duplicate_of", None) is not None:
        return json_error(400, "invalid_request", "possible_duplicate_of can only be cleared: send null.")
    try:
        if "email" in body:
            actions.change_email(user, body["email"])
        if "disabled" in body:
            actions.set_disabled(user, body["disabled"])
        if "possible_duplicate_of" in body:
            actions.clear_duplicate_mark(user)
        if body.get("send_reset"):
            actions.send_reset(user)
        if "claims" in body:
            actions.set_claims(user, body["claims"])
    except actions.Refused as refused:
        return refused_answer(refused)
    return jsonify(as_dict(user))


@bp.post("/users/<reference>/revoke")
@require_admin
def revoke_user(reference: str):
    user = resolve(reference)
    body = json_body() if request.get_data() else {}  # no body: revoke everything
    what = body.get("what", list(REVOCABLE)) if body is not None else None
    if not isinstance(what, list) or not what or not all(isinstance(item, str) and item in REVOCABLE for item in what):
        return json_error(400, "invalid_request", f"what must be a list among {', '.join(REVOCABLE)}.")
    return jsonify(revoked=actions.revoke(user, set(what)))


def as_dict_passkey(row: Passkey) -> dict:
    """What the help desk may know of a passkey: never its public key, credential id or counter."""
    return {
        "id": row.id, "name": row.name, "created_at": row.created_at.isoformat() + "Z",
        "last_used_at": row.last_used_at.isoformat() + "Z" if row.last_used_at else None, "aaguid": row.aaguid,
        "backup_eligible": row.backup_eligible, "backed_up": row.backed_up, "transports": list(row.transports or []),
    }


@bp.get("/users/<reference>/passkeys")
@require_admin
def passkeys(reference: str):
    return jsonify(passkeys=[as_dict_passkey(row) for row in passkeys_of(resolve(reference))])


@bp.delete("/users/<reference>/passkeys/<passkey_id>")
@require_admin
def remove_passkey(reference: str, passkey_id: str):
    """The citizen lost the device that holds it: the passkey no longer signs in, the citizen is mailed."""
    user = resolve(reference)
    body = json_body() if request.get_data() else {}  # no body: no reason kept
    reason = body.get("reason") if body is not None else None
    if body is None or not set(body) <= {"reason"} or \
            (reason is not None and (not isinstance(reason, str) or len(reason) > 2000)):
        return json_error(400, "invalid_request", 'Send no body, or {"reason": "..."}: it is kept in the audit log.')
    try:
        removed = actions.remove_passkey(user, as_id(passkey_id), (reason or "").strip() or None)
    except actions.Refused as refused:
        return refused_answer(refused)
    return jsonify(removed=as_dict_passkey(removed))


@bp.post("/revoke")
@require_admin
def revoke_token():
    body = json_body()
    token = body.get("token") if body else None
    if not isinstance(token, str) or not token or len(token) > 4096:
        return json_error(400, "invalid_request", 'Send {"token": "..."}: an access, refresh or one-time token.')
    kind, user_id = _revoke_one(token.strip())
    if kind is None:
        return json_error(404, "not_found", "No live token of ours matches.")
    audit_log.record("admin.token_revoked", user_id=user_id, kind=kind)
    return jsonify(revoked={"kind": kind, "user_id": user_id})


def _revoke_one(token: str) -> tuple[str | None, int | None]:
    if token.count(".") == 2 and (claims := decode_access_token(token)):
        deny_access_token(claims["jti"], claims["exp"])
        user = db_session().scalar(select(User).where(User.sub == claims["sub"]))
        return "access_token", user.id if user else None
    if (row := find_refresh_token(token)) is not None:
        revoke_family(row.family_id)
        return "refresh_token", row.user_id
    if (link := one_time_tokens().revoke(token)) is not None:
        return f"one_time_token:{link.purpose}", link.user_id
    return None, None
