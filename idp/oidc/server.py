"""The Authlib authorization server, assembled: grants, extensions, endpoints, token storage."""

from __future__ import annotations

import datetime as dt

from authlib.integrations.flask_oauth2 import AuthorizationServer as FlaskAuthorizationServer
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6749 import InvalidScopeError
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask

from ..db import session as db_session
from ..models import RefreshToken, utcnow
from ..resources import PROVIDER_SCOPES, unknown_scopes
from . import dpop, endpoints, grants, verified_claims
from .client_auth import PrivateKeyJWT
from .context import provider
from .tokens import AccessTokenGenerator, link_access_token, own_token_claims, sha256

SCOPES = list(PROVIDER_SCOPES)


class AuthorizationServer(FlaskAuthorizationServer):
    def __init__(self):
        super().__init__(query_client=lambda client_id: provider().clients(client_id), save_token=save_token)

    def create_oauth2_request(self, request):
        oauth_request = super().create_oauth2_request(request)
        oauth_request.refresh_token_record = None  # set by the refresh grant
        return oauth_request

    def validate_requested_scope(self, scope):
        """The provider's scopes and the registered resources' (read from SQL only when asked)."""
        names = (scope or "").split()
        if any(name not in PROVIDER_SCOPES for name in names) and unknown_scopes(db_session(), names):
            raise InvalidScopeError()


class Issuer(IssuerParameter):
    def get_issuer(self) -> str:
        return provider().issuer


def save_token(token: dict, request) -> None:
    """Persist what must outlive the response: the refresh token, and links for revocation."""
    claims = own_token_claims(token["access_token"])
    family_id = None
    if "refresh_token" in token:
        previous = request.refresh_token_record
        family_id = previous.family_id if previous else grants.new_family_id()
    # Linked before the rotation commits: a concurrent use of the old token waits for that commit,
    # then revokes the family, and must find this access token among the family's.
    if family_id is not None or request.user is not None:
        link_access_token(family_id, claims["jti"], claims["exp"],
                          request.user.id if request.user is not None else None, request.client.client_id)
    # What a replay of the code must revoke, also written before the commit: should Redis fail here,
    # no refresh token is stored that nobody holds and no replay could revoke.
    code_hash = getattr(request, "code_hash", None)
    if code_hash:
        grants.remember_code_issue(code_hash, family_id, claims["jti"], claims["exp"])
    if family_id is not None:
        code = getattr(request, "authorization_code", None)
        asked = getattr(code, "verified", None) if request.refresh_token_record is None else \
            verified_claims.asked_for_family(provider().redis, provider().keys, family_id)
        if asked:  # the rotations' ID tokens and userinfo answer what the authorization asked
            verified_claims.remember_for_family(provider().redis, provider().keys, family_id, asked,
                                                provider().config["IDP_REFRESH_TOKEN_TTL"])
        _store_refresh_token(token, request, family_id)


def _store_refresh_token(token: dict, request, family_id: str) -> None:
    previous = request.refresh_token_record
    origin = previous or request.authorization_code
    ttl = provider().config["IDP_REFRESH_TOKEN_TTL"]
    db = db_session()
    now = utcnow()
    # A Core INSERT: nothing reads the new row back in this request, so the ORM's unit of work
    # (a third of a rotation's SQL time) has nothing to do.
    db.execute(RefreshToken.__table__.insert().values(
        token_hash=sha256(token["refresh_token"]),
        family_id=family_id,
        client_id=request.client.client_id,
        user_id=request.user.id,
        # RFC 6749 §6: rotation keeps the grant's scope (the code's: its access token may be an API's).
        scope=previous.scope if previous else origin.scope,
        resources=previous.resources if previous else origin.resources,
        auth_time=origin.auth_time,
        sid=origin.sid,
        issued_at=now,
        expires_at=now + dt.timedelta(seconds=ttl),
    ))
    db.commit()  # with the old token's claim (grants.RefreshTokenGrant): the rotation is one transaction


def _tolerant_basic(query_client, request):
    # Authlib lets a Basic header that is not base64 of UTF-8 escape as ValueError.
    try:
        return authenticate_client_secret_basic(query_client, request)
    except ValueError:  # UnicodeDecodeError included
        return None


class AuditedServer(AuthorizationServer):
    """Every refusal at the token, revocation and introspection endpoints is audited (``oauth.refused``:
    the endpoint, the error code and its description, the client when it is known), never a token."""

    def handle_error_response(self, request, error):
        audit_refusal(error, getattr(request, "client", None))
        return super().handle_error_response(request, error)


def audit_refusal(error, client=None) -> None:
    from flask import request as flask_request

    from .. import audit_log

    audit_log.record("oauth.refused", client_id=client.client_id if client is not None else None,
                     endpoint=flask_request.path, error=error.error,
                     description=str(error.description or "")[:200])


def init_app(app: Flask) -> tuple[AuthorizationServer, ResourceProtector]:
    server = AuditedServer()
    server.init_app(app)
    config = app.config
    server.scopes_supported = SCOPES
    generator = AccessTokenGenerator(config["IDP_ISSUER"], config["IDP_ACCESS_TOKEN_TTL"])
    server.register_token_generator("default", generator)
    server.register_grant(grants.AuthorizationCodeGrant, [
        grants.S256CodeChallenge(required=True), grants.OpenIDCodeExtension(require_nonce=False)])
    server.register_grant(grants.RefreshTokenGrant, [grants.OpenIDRefreshExtension()])
    server.register_grant(grants.ClientCredentialsGrant)
    server.register_extension(Issuer())
    server.register_client_auth_method("client_secret_basic", _tolerant_basic)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT())
    server.register_endpoint(endpoints.Revocation)
    server.register_endpoint(endpoints.Introspection)
    server.register_endpoint(endpoints.EndSession())
    protector = ResourceProtector()
    protector.register_token_validator(endpoints.AccessTokenValidator())
    protector.register_token_validator(dpop.DPoPTokenValidator())
    app.extensions["idp.oauth"] = server
    app.extensions["idp.protector"] = protector
    return server, protector
