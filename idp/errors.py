"""Every failure answers a readable page (HTML) or a JSON error, never a stack trace.

Redis or the database being unreachable answers 503.
"""

from __future__ import annotations

import logging

import redis
from authlib.integrations.flask_oauth2.errors import _HTTPException as AuthlibHTTPException
from flask import Flask, Response, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from redis.exceptions import ClusterError, SlotNotCoveredError, TryAgainError
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

logger = logging.getLogger("idp")
JSON_PREFIXES = ("/oauth/token", "/oauth/userinfo", "/oauth/revoke", "/oauth/introspect", "/oauth/jwks",
                 "/.well-known/", "/admin/api/", "/healthz", "/readyz")


# ReadOnlyError: a demoted master, reached without asking the sentinels (through them redis-py asks
# again); MasterNotFoundError, no master named yet, is a ConnectionError.  A Redis Cluster that lost a
# master (ClusterDownError), that kept redirecting (ClusterError), whose slot is moving (TryAgainError)
# or not served (SlotNotCoveredError) is down too, for now.  A cross-slot error is a bug: a 500.
CLUSTER_DOWN = (ClusterError, TryAgainError, SlotNotCoveredError)
STORAGE_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, *CLUSTER_DOWN, OperationalError,
                InterfaceError)


def wants_json() -> bool:
    return request.path.startswith(JSON_PREFIXES)


def _page(status: int, code: str, title: str, message: str):
    """An HTML page for people, or an RFC 6749 style JSON error for programs."""
    if wants_json():
        return jsonify(error=code, error_description=message), status
    return render_template("errors/error.html", title=title, message=message), status


def _unavailable():
    return _page(503, "temporarily_unavailable", _("Service temporarily unavailable"),
                 _("We cannot serve your request right now. Please try again in a few minutes."))


def _unexpected():
    return _page(500, "server_error", _("Something went wrong"),
                 _("An unexpected error occurred. Please try again; if it persists, contact the help desk."))


def _http_page(code: int) -> tuple[str, str]:
    """Title and message of the page for an HTTP error."""
    elsewhere = _("Check the address, or go back to the service you came from.")
    pages = {
        404: (_("Page not found"), elsewhere),
        405: (_("This action is not allowed here"), elsewhere),
        413: (_("What you sent is too large"),
              _("No form of this site takes that much text. Go back, shorten what you typed and try again.")),
    }
    return pages.get(code, (_("The request could not be served"), elsewhere))


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_error):
        return _page(400, "invalid_request", _("This form has expired"),
                     _("For your security the form expired. Go back, reload the page and try again."))

    @app.errorhandler(InternalServerError)
    def internal_error(error: InternalServerError):
        # Also reached when saving the session fails after the view ran.
        if isinstance(error.original_exception, STORAGE_DOWN):
            logger.error("storage unavailable: %s", type(error.original_exception).__name__)
            g.storage_down = True  # the error page's own response saves no session (sessions.save_session)
            return _unavailable()
        logger.error("unhandled error on %s %s", request.method, request.path, exc_info=error.original_exception)
        return _unexpected()

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if isinstance(error, AuthlibHTTPException):  # Authlib already wrote the protocol's answer
            return Response(error.get_body(), error.code, error.get_headers())
        if wants_json():
            code = "invalid_request" if request.path.startswith("/oauth/") else error.name.lower().replace(" ", "_")
            return jsonify(error=code, error_description=error.description), error.code
        title, message = _http_page(error.code)
        return render_template("errors/error.html", title=title, message=message), error.code

    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    @app.errorhandler(redis.ReadOnlyError)
    @app.errorhandler(ClusterError)
    @app.errorhandler(TryAgainError)
    @app.errorhandler(SlotNotCoveredError)
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def unavailable(error):
        logger.error("storage unavailable: %s", type(error).__name__)
        g.storage_down = True
        return _unavailable()

    flask_logs = app.log_exception

    def log_exception(exc_info) -> None:
        """Storage down is an outage, said in one line above, not a bug: no traceback for it."""
        if not isinstance(exc_info[1], STORAGE_DOWN):
            flask_logs(exc_info)

    app.log_exception = log_exception

    @app.errorhandler(Exception)
    def unexpected(error):
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return _unexpected()
