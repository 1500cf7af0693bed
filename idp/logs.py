"""Where the provider's log lines go, and in what shape.

Every logger under ``idp`` (Flask's ``app.logger`` is ``idp``; the audit trail is ``idp.audit``)
writes to the process's stderr from ``create_app`` on, so the first audit line of a process is
not lost before Flask's own handler would be attached on first use.  One handler per process,
however many apps are built (the tests build hundreds): the last app built chooses the format.

``IDP_LOG_FORMAT=text`` writes ``<time> <LEVEL> <logger>: <message>``; ``json`` writes one JSON
object a line, with the audit event's fields on its own keys when the record is one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys

from flask import Flask

FORMATS = ("text", "json")
AUDIT_FIELDS = ("event", "actor", "user_id", "client_id", "ip")  # what audit_log passes as extra["audit"]
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is written (pytest and servers swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _ignored) -> None:
        pass


class JsonLines(logging.Formatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message, audit fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": _utc(record.created), "level": record.levelname, "logger": record.name,
                "message": record.getMessage()}
        audit = getattr(record, "audit", None)
        if audit:
            line.update({field: audit.get(field) for field in AUDIT_FIELDS})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def _utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def handler() -> StderrHandler:
    """The one stderr handler of the ``idp`` loggers, added the first time it is asked for."""
    logger = logging.getLogger("idp")
    found = next((existing for existing in logger.handlers if isinstance(existing, StderrHandler)), None)
    if found is None:
        found = StderrHandler()
        logger.addHandler(found)
    return found


def init_app(app: Flask) -> None:
    logging.getLogger("idp").setLevel(logging.INFO)
    handler().setFormatter(JsonLines() if app.config["IDP_LOG_FORMAT"] == "json" else logging.Formatter(TEXT))
