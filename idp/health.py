"""Liveness and readiness probes."""

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from .db import session as db_session

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks = {}
    try:
        db_session().execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = type(exc).__name__
    try:
        current_app.extensions["idp"].redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = type(exc).__name__
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ready" if ready else "unavailable", checks=checks), 200 if ready else 503
