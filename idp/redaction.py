"""Keeps tokens out of logs.  The development server and gunicorn log each request's line, and
one-time links carry their token in the path; a logout URL carries an ID token; an unhandled
error logs the path it failed on.

What is redacted, without a list to keep up to date:

- the ``<token>`` part of every route that has one, read from the app's URL rules, so a route
  added tomorrow (``/account/email/cancel/<token>``) is covered the day it is added;
- any path segment shaped like one of our secrets (32 or more URL-safe characters: every token,
  code and secret we issue is at least that long), for paths that are not routes here;
- anything shaped like a JWT, and the values of query parameters that carry secrets;
- the values of the account searches' parameters (``q``, ``birthdate``: the help desk's console and
  the admin API search by a citizen's names, address or birth date): personal data, not secrets,
  but no log needs them.

Authlib's own debug lines, which print whole token responses, are kept off (:func:`init_app`).
"""

from __future__ import annotations

import logging
import re

from flask import Flask

REDACTED = "[redacted]"
LOGGERS = ("werkzeug", "gunicorn.access", "gunicorn.error", "idp")  # "idp" is also Flask's app.logger
SEGMENT = r"[^/?#\s\"']+"
JWT = re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]*")
LONG_SEGMENT = re.compile(r"(?<=/)[\w-]{32,}(?=[/?#\s\"']|$)")
SECRET_PARAMETER = re.compile(
    r"(?<=[?&;])((?:code|token|id_token_hint|access_token|refresh_token|client_secret|password)=)[^&\s\"']+")
PERSONAL_PARAMETER = re.compile(r"(?<=[?&;])((?:q|birthdate)=)[^&\s\"']+")
RULE_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def token_paths(app: Flask) -> list[re.Pattern]:
    """One pattern per route with a ``<token>``: its fixed parts, and groups around what precedes a token."""
    patterns = []
    for rule in app.url_map.iter_rules():
        if "token" not in rule.arguments:
            continue
        parts, last = [], 0
        for variable in RULE_VARIABLE.finditer(rule.rule):
            parts.append(re.escape(rule.rule[last:variable.start()]))
            parts.append(f")({SEGMENT})(" if variable.group(1) == "token" else SEGMENT)
            last = variable.end()
        parts.append(re.escape(rule.rule[last:]))
        patterns.append(re.compile("(" + "".join(parts) + r")(?=[?#\s\"']|$)"))
    return patterns


class RedactTokens(logging.Filter):
    """Rewrites a record's message with every token replaced by ``[redacted]``."""

    def __init__(self):
        super().__init__()
        self.paths: list[re.Pattern] = []

    def learn(self, patterns: list[re.Pattern]) -> None:
        known = {pattern.pattern for pattern in self.paths}
        self.paths += [pattern for pattern in patterns if pattern.pattern not in known]

    def redact(self, text: str) -> str:
        for pattern in self.paths:
            text = pattern.sub(lambda found: found.group(1) + REDACTED + found.group(3), text)
        text = JWT.sub(REDACTED, text)
        text = SECRET_PARAMETER.sub(r"\1" + REDACTED, text)
        text = PERSONAL_PARAMETER.sub(r"\1" + REDACTED, text)
        return LONG_SEGMENT.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


def init_app(app: Flask, *handlers: logging.Handler) -> None:
    """Attach the one filter to each logger that may write a URL and to ``handlers``, and teach it
    this app's routes.  A logger's filter sees only what is logged on it, not what its children
    (``idp.audit``, ``idp.jobs``) pass up: the handler of the ``idp`` loggers is guarded too.

    Authlib logs every token it issues at DEBUG ("Issue token {...}"): its loggers stay at INFO,
    even when a deployer turns the root logger to DEBUG."""
    logging.getLogger("authlib").setLevel(logging.INFO)
    for guarded in (*map(logging.getLogger, LOGGERS), *handlers):
        found = next((existing for existing in guarded.filters if isinstance(existing, RedactTokens)), None)
        if found is None:
            found = RedactTokens()
            guarded.addFilter(found)
        found.learn(token_paths(app))
