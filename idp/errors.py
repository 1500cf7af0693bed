"""Every failure answers a readable page (HTML) or a JSON error, never a stack trace.

Redis or the database being unreachable answers 503.
"""

from __future__ import annotations

import logging

import redis
from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

logger = logging.getLogger("idp")
JSON_PREFIXES = ("/oauth/token", "/oauth/userinfo", "/oauth/revoke", "/oauth/introspect", "/oauth/jwks",
                 "/.well-known/", "/admin/api/", "/healthz", "/readyz")


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def _page(status: int, title: str, message: str):
    if wants_json():
        return jsonify(error=title, error_description=message), status
    return render_template("errors/error.html", title=title, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_error):
        return _page(400, _("This form has expired"),
                     _("For your security the form expired. Go back, reload the page and try again."))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if wants_json():
            return jsonify(error=error.name.lower().replace(" ", "_"), error_description=error.description), \
                error.code
        titles = {404: _("Page not found"), 405: _("This action is not allowed here")}
        title = titles.get(error.code, _("The request could not be served"))
        message = _("Check the address, or go back to the service you came from.")
        return render_template("errors/error.html", title=title, message=message), error.code

    @app.errorhandler(redis.RedisError)
    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def unavailable(error):
        logger.error("storage unavailable: %s", type(error).__name__)
        return _page(503, _("Service temporarily unavailable"),
                     _("We cannot serve your request right now. Please try again in a few minutes."))

    @app.errorhandler(Exception)
    def unexpected(error):
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return _page(500, _("Something went wrong"),
                     _("An unexpected error occurred. Please try again; if it persists, contact the help desk."))
