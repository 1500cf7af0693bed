"""The audit log for the help desk: newest first, filtered by account, action and date, paged."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify, request
from sqlalchemy import select

from ..db import session as db_session
from ..models import AuditEvent
from .auth import as_id, json_error, refuse_nul, require_admin
from .users import resolve

bp = Blueprint("admin_audit", __name__, url_prefix="/admin/api")
bp.before_request(refuse_nul)
DEFAULT_LIMIT, MAX_LIMIT = 50, 500


@bp.get("/audit")
@require_admin
def events():
    statement = select(AuditEvent).order_by(AuditEvent.id.desc())
    args = request.args
    if args.get("user"):
        statement = statement.where(AuditEvent.user_id == resolve(args["user"]).id)
    if args.get("action"):
        statement = statement.where(AuditEvent.action == args["action"])
    try:
        if args.get("since"):
            since = dt.datetime.fromisoformat(args["since"].replace("Z", "+00:00"))
            if since.tzinfo is not None:  # stored as naive UTC
                since = since.astimezone(dt.UTC).replace(tzinfo=None)
            statement = statement.where(AuditEvent.at >= since)
        if args.get("cursor"):
            if as_id(args["cursor"]) is None:
                raise ValueError(args["cursor"])
            statement = statement.where(AuditEvent.id < as_id(args["cursor"]))
        limit = int(args.get("limit", DEFAULT_LIMIT))
    except ValueError:
        return json_error(400, "invalid_request", "since is an ISO date-time, cursor and limit are numbers.")
    if not 1 <= limit <= MAX_LIMIT:
        return json_error(400, "invalid_request", f"limit must be between 1 and {MAX_LIMIT}.")
    found = db_session().scalars(statement.limit(limit)).all()
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return jsonify(events=[event.as_dict() for event in found], next_cursor=next_cursor)
