"""Audit events: who did what to whom, from where, when; never a secret or a token.

Each event is a row of ``audit_events`` (written in a transaction of its own, so it is
kept whatever the caller's transaction does) and a JSON line on the ``idp.audit`` logger, whose
record also carries the event's who and where as ``extra["audit"]`` (keys of their own in
``IDP_LOG_FORMAT=json``, see ``idp/logs.py``).
The help desk reads them through the admin API, deployers with ``idp audit export``, and
citizens see their own recent activity on ``/account``.
"""

from __future__ import annotations

import json
import logging

from flask import current_app, g, has_request_context, request
from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError

from . import metrics
from .login_state import current_user
from .models import AuditEvent, utcnow

logger = logging.getLogger("idp.audit")


def record(action: str, *, user_id: int | None = None, client_id: str | None = None, ip: str | None = None,
           **details: object) -> None:
    """Record ``action`` done by the current actor (an admin client, a signed-in citizen, or nobody);
    ``ip`` is the client address when the event is recorded away from its request (in a job)."""
    row = {"at": utcnow(), "action": action, "actor": _actor(), "user_id": user_id, "client_id": client_id,
           "ip": ip or (request.remote_addr if has_request_context() else None),
           "details": json.loads(json.dumps(details, default=str))}
    fields = {"event": action, "actor": row["actor"], "user_id": user_id, "client_id": client_id, "ip": row["ip"]}
    logger.info(json.dumps({**row, "at": row["at"].isoformat() + "Z"}, ensure_ascii=False), extra={"audit": fields})
    metrics.count_event(action)
    try:
        with current_app.extensions["idp.engine"].begin() as connection:
            connection.execute(insert(AuditEvent).values(**row))
    except SQLAlchemyError as error:  # the log line above still holds the event
        logger.error("audit event %s not stored: %s", action, type(error).__name__)


def _actor() -> str | None:
    if not has_request_context():
        return None
    if admin := g.get("admin_client"):
        return f"admin:{admin}"
    user = current_user()
    return f"user:{user.id}" if user else None
