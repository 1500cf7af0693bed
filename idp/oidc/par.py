"""Pushed authorization requests (RFC 9126), at ``/oauth/par``.

A client sends its authorization request's parameters straight to the provider, authenticated as at
the token endpoint, and gets back a ``request_uri`` that names them::

    POST /oauth/par  (client authentication; response_type, redirect_uri, scope, state, PKCE…)
      ──▶ the request checked as /oauth/authorize would (client, redirect URI, scope, PKCE S256,
          the claims and resource parameters, the length caps): 400 with a JSON error, or
      ──▶ 201 {"request_uri": "urn:ietf:params:oauth:request_uri:<random>", "expires_in": 60}
    GET /oauth/authorize?client_id=…&request_uri=urn:…   (the browser)
      ──▶ the parameters taken from Redis once (GETDEL), for that client only, and used instead
          of the query's; a used, expired, forged or another client's request_uri gets the
          error page (no redirect URI can be trusted without them)

While the citizen signs in or consents, the request waits in the browser's server-side session
(``pending``) marked as pushed: the resume URL carries its id, never the parameters, so the browser
cannot change what the client pushed.  Redis holds the parameters under a hash of the handle
(``par:<sha256>``), for ``TTL`` seconds.
"""

from __future__ import annotations

import json
import secrets

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import InvalidRequestURIError, RequestNotSupportedError
from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.datastructures import CombinedMultiDict, ImmutableMultiDict

from .. import resources
from ..db import session as db_session
from . import pending, verified_claims
from .context import provider
from .grants import CLIENT_AUTH_METHODS
from .server import audit_refusal
from .tokens import sha256

bp = Blueprint("par", __name__)
PREFIX = "urn:ietf:params:oauth:request_uri:"
TTL = 60  # seconds a pushed request waits for the browser (RFC 9126 suggests 5 to 600)


@bp.post("/oauth/par")
def push():
    server = current_app.extensions["idp.oauth"]
    oauth_request = server.create_oauth2_request(request)
    if "client_id" not in request.form and request.authorization:  # named by the Basic credentials only
        real = request._get_current_object()
        real.form = ImmutableMultiDict([*request.form.items(multi=True),
                                        ("client_id", request.authorization.username or "")])
        real.values = CombinedMultiDict([real.args, real.form])
    try:
        client = server.authenticate_client(oauth_request, CLIENT_AUTH_METHODS, "par")
        _check(server, oauth_request, client)
    except OAuth2Error as error:
        audit_refusal(error, getattr(oauth_request, "client", None))
        error.redirect_uri = None  # the client is waiting for JSON, not the browser for a redirect
        status, body, headers = error()
        return jsonify(dict(body)), status, {**dict(headers), "Cache-Control": "no-store"}
    handle = secrets.token_urlsafe(32)
    params = {name: request.form.getlist(name) for name in request.form if name not in _CREDENTIALS}
    ctx = provider()
    ctx.redis.set(ctx.keys("par", sha256(handle)), json.dumps({"client_id": client.client_id, "params": params}),
                  ex=TTL)
    return jsonify(request_uri=PREFIX + handle, expires_in=TTL), 201, {"Cache-Control": "no-store"}


_CREDENTIALS = ("client_secret", "client_assertion", "client_assertion_type")  # never kept with the request


def _check(server, oauth_request, client) -> None:
    """The pushed parameters must make an authorization request that /oauth/authorize would accept."""
    form = request.form
    if not form.get("client_id"):
        raise InvalidRequestError("Send 'client_id' with the request, as at the authorization endpoint.")
    if "request_uri" in form:
        raise InvalidRequestError("'request_uri' cannot be pushed.")
    if "request" in form:
        raise RequestNotSupportedError("Request objects are not supported: push the parameters themselves.")
    if form.get("client_id", client.client_id) != client.client_id:
        raise InvalidRequestError("'client_id' is not the authenticated client's.")
    if name := pending.too_long(form):
        raise InvalidRequestError(f"'{name}' is longer than {pending.PARAMETERS[name]} characters.")
    if client.is_fapi2 and (form.get("code_challenge_method") != "S256" or not form.get("code_challenge")):
        raise InvalidRequestError("A fapi2 client must send PKCE: code_challenge, code_challenge_method S256.")
    grant = server.get_authorization_grant(oauth_request)
    grant.validate_no_multiple_request_parameter(oauth_request)
    grant.validate_authorization_request()
    try:
        verified_claims.requested(form.get("claims"))
    except ValueError as error:
        raise InvalidRequestError(str(error)) from None
    if named := form.getlist("resource"):
        resources.check_requested(db_session(), named)


def take(handle: str, client_id: str | None) -> dict | None:
    """The parameters pushed under ``handle`` for ``client_id``, once; None when there are none."""
    ctx = provider()
    raw = ctx.redis.getdel(ctx.keys("par", sha256(handle)))
    found = json.loads(raw) if raw else None
    if found is None or found["client_id"] != client_id:
        return None
    return found["params"]


def substitute() -> None:
    """At /oauth/authorize: a pushed request's parameters replace the query's (``g.pushed`` says so);
    InvalidRequestURIError when the request_uri names nothing (used, expired, forged, another
    client's)."""
    resume = request.values.get("resume")
    waiting = pending.get(resume)
    if waiting.get("pushed"):
        params = waiting["params"]
    else:
        uri = request.args.get("request_uri", "")
        if not uri.startswith(PREFIX):
            return
        params = take(uri[len(PREFIX):], request.args.get("client_id"))
        if params is None:
            error = InvalidRequestURIError("The request_uri is unknown, used or expired: push the request again.")
            audit_refusal(error)
            raise error
    items = [(name, value) for name, values in params.items()
             for value in (values if isinstance(values, list) else [values])]
    if resume:
        items.append(("resume", resume))
    real = request._get_current_object()
    real.args = ImmutableMultiDict(items)
    real.values = CombinedMultiDict([real.args, real.form])
    g.pushed = True


def require_for_fapi2(grant) -> None:
    """FAPI 2.0: a fapi2 client's authorization requests come through PAR, or get no code."""
    if grant.request.client.is_fapi2 and not g.get("pushed"):
        error = InvalidRequestError("This client's authorization requests must be pushed first (PAR, RFC 9126).",
                                    redirect_uri=grant.redirect_uri)
        audit_refusal(error, grant.request.client)
        raise error
