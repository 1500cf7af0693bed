"""Audit events: who did what to whom, from where; never a secret or a token."""

from __future__ import annotations

import json
import logging

from flask import has_request_context, request

logger = logging.getLogger("idp.audit")


def record(action: str, **details: object) -> None:
    event = {"action": action, **details}
    if has_request_context():
        event["ip"] = request.remote_addr
    logger.info(json.dumps(event, default=str, ensure_ascii=False))
