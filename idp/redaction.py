"""Keeps one-time tokens out of access logs: the development server and gunicorn log each
request's path, and recovery links carry their token in the path."""

from __future__ import annotations

import logging
import re

TOKEN_IN_PATH = re.compile(r"(/(?:reset|not-me|verify)/)[A-Za-z0-9_-]{16,}")
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = TOKEN_IN_PATH.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def init_app() -> None:
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
            logger.addFilter(RedactTokens())
