"""Requests filed at ``/recovery/help`` by citizens who lost their mailbox: list, read,
resolve (a new verified address and a reset link sent there) or reject (the reason is mailed)."""

from __future__ import annotations

from flask import Blueprint, abort, g, jsonify, request
from sqlalchemy import select

from .. import help_desk_actions as actions
from ..db import session as db_session
from ..models import HelpRequest
from .auth import as_id, json_body, json_error, refuse_nul, require_admin
from .users import as_dict, refused_answer, resolve

bp = Blueprint("admin_help_requests", __name__, url_prefix="/admin/api")
bp.before_request(refuse_nul)
STATES = ("open", "resolved", "rejected")
PAGE = 100


def as_dict_request(filed: HelpRequest) -> dict:
    return {
        "id": filed.id, "state": filed.state, "given_name": filed.given_name, "family_name": filed.family_name,
        "birthdate": filed.birthdate.isoformat(), "username": filed.username, "new_email": filed.new_email,
        "message": filed.message, "lang": filed.lang, "user_id": filed.user_id,
        "created_at": filed.created_at.isoformat() + "Z",
        "closed_at": filed.closed_at.isoformat() + "Z" if filed.closed_at else None,
        "closed_by": filed.closed_by, "reason": filed.reason, "phone_number": filed.phone_number,
        "street_address": filed.street_address, "postal_code": filed.postal_code, "locality": filed.locality,
    }


@bp.get("/help-requests")
@require_admin
def listing():
    state = request.args.get("state")
    if state is not None and state not in STATES:
        return json_error(400, "invalid_request", f"state must be one of {', '.join(STATES)}.")
    statement = select(HelpRequest).order_by(HelpRequest.id.desc()).limit(PAGE)
    if state:
        statement = statement.where(HelpRequest.state == state)
    cursor = request.args.get("cursor")
    if cursor:
        if as_id(cursor) is None:
            return json_error(400, "invalid_request", "cursor must be the next_cursor of a previous page.")
        statement = statement.where(HelpRequest.id < as_id(cursor))
    found = db_session().scalars(statement).all()
    next_cursor = str(found[-1].id) if len(found) == PAGE else None
    return jsonify(help_requests=[as_dict_request(filed) for filed in found], next_cursor=next_cursor)


def _find(request_id: int) -> HelpRequest:
    filed = db_session().get(HelpRequest, request_id) if as_id(request_id) is not None else None
    if filed is None:
        abort(404, "No help request has this number.")
    return filed


@bp.get("/help-requests/<int:request_id>")
@require_admin
def read(request_id: int):
    return jsonify(as_dict_request(_find(request_id)))


@bp.post("/help-requests/<int:request_id>/resolve")
@require_admin
def resolve_request(request_id: int):
    filed = _find(request_id)
    body = json_body() if request.get_data() else {}
    if body is None or not set(body) <= {"new_email", "send_reset", "user"}:
        return json_error(400, "invalid_request", "Send a JSON object with new_email, send_reset and/or user.")
    if not isinstance(body.get("send_reset", True), bool):
        return json_error(400, "invalid_request", "send_reset must be true or false.")
    if filed.state != "open":
        return json_error(409, "conflict", f"This request is already {filed.state}.")
    reference = body.get("user") or filed.user_id
    if reference is None:
        return json_error(409, "conflict", 'No single account matched this request: say which with "user".')
    user = resolve(str(reference))
    try:
        actions.resolve_request(filed, user, g.admin_client, new_email=body.get("new_email", filed.new_email),
                                reset=body.get("send_reset", True))
    except actions.Refused as refused:
        return refused_answer(refused)
    return jsonify(help_request=as_dict_request(filed), user=as_dict(user))


@bp.post("/help-requests/<int:request_id>/reject")
@require_admin
def reject(request_id: int):
    filed = _find(request_id)
    body = json_body()
    reason = body.get("reason") if body else None
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
        return json_error(400, "invalid_request", 'Send {"reason": "..."}: it is mailed to the citizen.')
    if filed.state != "open":
        return json_error(409, "conflict", f"This request is already {filed.state}.")
    actions.reject_request(filed, reason, g.admin_client)
    return jsonify(help_request=as_dict_request(filed))
