"""Who may call the admin API: from ``IDP_ADMIN_NETWORKS`` only, a client that still exists and
still holds scope ``idp:admin``, with one of our access tokens carrying that scope, issued to the
client itself (``client_credentials``), not revoked.  All of it is checked before the body is read."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, g, jsonify, request

from ..admin_networks import refuse_outside
from ..oidc.context import provider
from ..oidc.tokens import decode_access_token, is_access_token_denied

SCOPE = "idp:admin"
PREFIX = "/admin/api/"
DESCRIPTION = "admin_openapi.description"  # the OpenAPI document: no token needed, still only from the networks
MAX_BODY = 64 * 1024  # bytes; the largest admin call (a help-desk note) is far below
MAX_ID = 2**31 - 1  # ids are 32-bit integers on every database


def as_id(raw: str | int | None) -> int | None:
    """A row id from a path or query value, or None when it cannot be one."""
    text = str(raw) if raw is not None else ""
    if text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID:
        return int(text)
    return None


def refuse_nul() -> object | None:
    """No column can hold a NUL character (PostgreSQL refuses it outright): refuse it up front."""
    raw = request.get_data(cache=True)
    if any("\x00" in value for value in request.args.values()) or b"\x00" in raw or b"\\u0000" in raw.lower():
        return json_error(400, "invalid_request", "NUL characters are not allowed.")
    return None


def guard() -> object | None:
    """The first thing every admin request meets, before anything reads its body: from outside
    the operators' networks the API does not exist (404); then the bearer token is checked
    (except for the public OpenAPI description); then the body is capped."""
    if not request.path.startswith(PREFIX):
        return None
    refuse_outside()
    if request.endpoint != DESCRIPTION:
        refused = authenticate()
        if refused is not None:
            return refused
    cap_body()
    return None


def cap_body() -> None:
    """Admin calls are small JSON documents: refuse a larger one before reading it, and read a
    chunked one (no Content-Length) only one byte past the cap, enough to know it is too large."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        abort(413)
    request.max_content_length = MAX_BODY + 1  # the stream, made on first read, stops there
    if len(request.get_data(cache=True)) > MAX_BODY:
        abort(413)


def authenticate():
    """Check the bearer token once per request; the refusal to send, or None when it is admitted.

    The token alone is not enough: its client must still exist and still hold the scope, so that
    ``idp clients remove`` or a narrowed scope locks its tokens out at once."""
    if "admin_client" in g:
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _refused(401, None, "A bearer token with scope idp:admin is required.")
    claims = decode_access_token(token.strip())
    if claims is None or is_access_token_denied(claims["jti"]):
        return _refused(401, "invalid_token", "The access token is invalid, expired or revoked.")
    client = provider().clients(claims.get("client_id"))
    if client is None:
        return _refused(401, "invalid_token", "The client of this access token no longer exists.")
    if not _holds_scope(claims.get("scope", "")) or not _holds_scope(client.scope or "") \
            or claims.get("sub") != claims.get("client_id"):
        return _refused(403, "insufficient_scope", "This API needs a client_credentials token with scope "
                                                  "idp:admin.")
    g.admin_client = claims["client_id"]
    return None


def _holds_scope(scope: str) -> bool:
    return SCOPE in scope.split()


def require_admin(view: Callable) -> Callable:
    """Marks an admin view; :func:`guard` has already admitted the request, this says so and keeps
    the view safe if it is ever reached another way."""

    @wraps(view)
    def guarded(*args, **kwargs):
        refused = authenticate()
        return refused if refused is not None else view(*args, **kwargs)

    return guarded


def _refused(status: int, code: str | None, description: str):
    challenge = 'Bearer realm="admin"'
    if code:
        challenge += f', error="{code}", error_description="{description}"'
        if code == "insufficient_scope":
            challenge += f', scope="{SCOPE}"'
    response = jsonify(error=code or "unauthorized", error_description=description)
    response.status_code = status
    response.headers["WWW-Authenticate"] = challenge
    return response


def json_error(status: int, code: str, description: str):
    response = jsonify(error=code, error_description=description)
    response.status_code = status
    return response


def json_body() -> dict | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None
