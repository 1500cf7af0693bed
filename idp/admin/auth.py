"""Who may call the admin API: a client holding one of our access tokens with scope
``idp:admin``, issued to the client itself (``client_credentials``), not revoked."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g, jsonify, request

from ..oidc.tokens import decode_access_token, is_access_token_denied

SCOPE = "idp:admin"
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


def require_admin(view: Callable) -> Callable:
    @wraps(view)
    def guarded(*args, **kwargs):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _refused(401, None, "A bearer token with scope idp:admin is required.")
        claims = decode_access_token(token.strip())
        if claims is None or is_access_token_denied(claims["jti"]):
            return _refused(401, "invalid_token", "The access token is invalid, expired or revoked.")
        if SCOPE not in claims.get("scope", "").split() or claims.get("sub") != claims.get("client_id"):
            return _refused(403, "insufficient_scope", "This API needs a client_credentials token with scope "
                                                      "idp:admin.")
        g.admin_client = claims["client_id"]
        return view(*args, **kwargs)

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
