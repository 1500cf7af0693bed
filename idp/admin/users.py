"""Citizens' accounts for the help desk: find, read, change the address, disable, and revoke.

``{user}`` in a path is the account's id, its identifier, or its e-mail address.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, jsonify, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from .. import audit_log, email_change, mail
from ..credentials import REVOCABLE, revoke_access
from ..db import session as db_session
from ..identity import name_key, parse_birthdate
from ..models import User
from ..oidc.tokens import (
    decode_access_token,
    deny_access_token,
    find_refresh_token,
    revoke_family,
)
from ..one_time_tokens import one_time_tokens
from ..plugins import hooks
from ..users import email_key, find_by_login, set_verified_email, username_key, valid_email
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
    }


@bp.get("/users")
@require_admin
def search():
    query = request.args.get("q", "").strip()
    if not query or len(query) > 254:
        return json_error(400, "invalid_request", "Give q: an identifier, an e-mail address, or a name.")
    birthdate = _date(request.args.get("birthdate"))
    conditions = [User.username_key == username_key(query), User.email_key == email_key(query)]
    if len(words := query.split()) >= 2:  # "given family" or "family given", folded like sign-up
        for cut in range(1, min(len(words), 6)):
            before, after = name_key(" ".join(words[:cut])), name_key(" ".join(words[cut:]))
            conditions += [(User.given_name_key == before) & (User.family_name_key == after),
                           (User.family_name_key == before) & (User.given_name_key == after)]
    elif name_key(query):
        conditions.append(User.family_name_key == name_key(query))
    statement = select(User).where(or_(*conditions))
    if birthdate:
        statement = statement.where(User.birthdate == birthdate)
    users = db_session().scalars(statement.order_by(User.id).limit(SEARCH_LIMIT)).all()
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
    if body is None or not set(body) <= {"email", "disabled", "send_reset", "possible_duplicate_of"} or not body:
        return json_error(400, "invalid_request",
                          "Send a JSON object with email, disabled, send_reset and/or possible_duplicate_of.")
    if any(not isinstance(body[flag], bool) for flag in ("disabled", "send_reset") if flag in body):
        return json_error(400, "invalid_request", "disabled and send_reset must be true or false.")
    if body.get("possible_duplicate_of", None) is not None:
        return json_error(400, "invalid_request", "possible_duplicate_of can only be cleared: send null.")
    if "email" in body:
        refused = change_email(user, body["email"])
        if refused:
            return refused
    if "disabled" in body:
        set_disabled(user, body["disabled"])
    if "possible_duplicate_of" in body:
        clear_duplicate_mark(user)
    if body.get("send_reset"):
        refused = send_reset(user)
        if refused:
            return refused
    return jsonify(as_dict(user))


def change_email(user: User, new_address) -> object | None:
    """The help-desk case: the citizen lost their mailbox. The new address counts as verified (the
    desk checked who they are), and both addresses are told. An error response, or None."""
    new_address, old_address = valid_email(new_address), user.email
    if new_address is None:
        return json_error(400, "invalid_request", "email must be one e-mail address, without a name or a list.")
    if not set_verified_email(db_session(), user, new_address):
        return json_error(409, "conflict", "Another account uses this e-mail address.")
    audit_log.record("admin.email_changed", user_id=user.id)
    if old_address.casefold() != new_address.casefold():
        email_change.tell_old_address(user, old_address, new_address, by_help_desk=True)
        mail.send(new_address, "admin/email_set", _l("Your Sésame account now uses this address"), user=user)
    return None


def set_disabled(user: User, disabled: bool) -> None:
    if disabled and user.status != "disabled":
        user.status = "disabled"
        db_session().commit()
        revoke_access(user)
        audit_log.record("admin.user_disabled", user_id=user.id)
    elif not disabled and user.status == "disabled":
        user.status = "active"
        db_session().commit()
        audit_log.record("admin.user_enabled", user_id=user.id)


def clear_duplicate_mark(user: User) -> None:
    """The help desk checked: the account that signed up through "Ce n'est pas moi" is another person's."""
    if user.possible_duplicate_of is not None:
        other, user.possible_duplicate_of = user.possible_duplicate_of, None
        db_session().commit()
        audit_log.record("admin.duplicate_mark_cleared", user_id=user.id, same_person_as=other)


def send_reset(user: User) -> object | None:
    if hooks().send_reset_link is None:
        return json_error(409, "not_available", "No plugin sends reset links (enable the recovery plugin).")
    hooks().send_reset_link(user)
    audit_log.record("admin.reset_sent", user_id=user.id)
    return None


@bp.post("/users/<reference>/revoke")
@require_admin
def revoke_user(reference: str):
    user = resolve(reference)
    body = json_body() if request.get_data() else {}  # no body: revoke everything
    what = body.get("what", list(REVOCABLE)) if body is not None else None
    if not isinstance(what, list) or not what or not set(what) <= set(REVOCABLE):
        return json_error(400, "invalid_request", f"what must be a list among {', '.join(REVOCABLE)}.")
    revoked = revoke_access(user, set(what))
    audit_log.record("admin.revoked", user_id=user.id, revoked=revoked)
    return jsonify(revoked=revoked)


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
