"""Authlib grants and extensions, with the places where its defaults fall short overridden.

- Authorization codes live in Redis for ``IDP_AUTH_CODE_TTL`` under their SHA-256 and
  are redeemed with GETDEL, so two concurrent redemptions cannot both win; a replayed
  code revokes the tokens it issued.
- PKCE accepts S256 only and is required for public clients.
- Refresh tokens rotate on every use; a reused one revokes its whole family.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass, field

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, OpenIDToken
from authlib.oidc.core.util import create_half_hash
from flask import g, session
from flask import request as flask_request
from joserfc import jwt

from .. import resources
from ..db import session as db_session
from ..models import User, epoch
from . import acr, dpop, verified_claims
from .claims import requested_claims, user_claims
from .context import provider
from .tokens import (
    claim_refresh_token,
    deny_access_token,
    find_refresh_token,
    own_token_claims,
    revoke_family,
    sha256,
)

FAPI2_CODE_TTL = 60  # seconds at most for a fapi2 client's code (FAPI 2.0 Security Profile)
CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


@dataclass
class AuthorizationCode:
    """What a code stands for, as stored in Redis (Authlib's AuthorizationCodeMixin)."""

    client_id: str
    redirect_uri: str
    scope: str
    user_id: int
    auth_time: int
    amr: list[str] = field(default_factory=list)
    sid: str | None = None
    nonce: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    verified: dict | None = None  # verified_claims asked for, per target (idp/oidc/verified_claims.py)
    resources: list[str] | None = None  # RFC 8707: the resources the authorization request named
    acr: str | None = None  # the class the sign-in met, when the request had acr_values (idp/oidc/acr.py)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str]:
        return self.amr


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    @staticmethod
    def validate_authorization_redirect_uri(request, client):
        redirect_uri = request.payload.redirect_uri
        if not redirect_uri:
            raise InvalidRequestError("Missing 'redirect_uri' in request.")
        if not client.check_redirect_uri(redirect_uri):
            raise InvalidRequestError("The 'redirect_uri' is not registered for this client.")
        return redirect_uri

    def save_authorization_code(self, code: str, request) -> None:
        data = request.payload.data
        record = AuthorizationCode(
            client_id=request.client.client_id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            user_id=request.user.id,
            auth_time=session["auth_time"],
            amr=session.get("amr", []),
            sid=session.get("sid"),
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            verified=verified_claims.requested(data.get("claims")) or None,  # checked at /oauth/authorize
            resources=flask_request.values.getlist("resource") or None,  # checked at /oauth/authorize
            acr=acr.of(session.get("amr")) if data.get("acr_values") else None,
        )
        ctx = provider()
        ttl = ctx.config["IDP_AUTH_CODE_TTL"]
        if request.client.is_fapi2:
            ttl = min(ttl, FAPI2_CODE_TTL)
        ctx.redis.set(ctx.keys("code", sha256(code)), json.dumps(asdict(record)), ex=ttl)

    def query_authorization_code(self, code: str, client) -> AuthorizationCode | None:
        ctx = provider()
        code_hash = sha256(code)
        raw = ctx.redis.getdel(ctx.keys("code", code_hash))
        if raw is None:
            revoke_code_issue(code_hash)
            return None
        record = AuthorizationCode(**json.loads(raw))
        # From here on a replay of this code finds the marker and revokes what it issued.  The marker
        # lives as long as an access token: replays race the client within seconds, and a marker kept
        # for the refresh tokens' 30 days would grow Redis with every login.
        ctx.redis.set(ctx.keys("code-issued", code_hash), "{}", ex=ctx.config["IDP_ACCESS_TOKEN_TTL"])
        self.request.code_hash = code_hash
        return record if record.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code) -> None:
        pass  # consumed by GETDEL in query_authorization_code

    def validate_token_request(self):
        super().validate_token_request()
        dpop.require_for(self.request.client)
        code = self.request.authorization_code
        choose_target(code.scope, code.resources)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        user = db_session().get(User, authorization_code.user_id)
        return user if user is not None and user.is_active else None


def remember_code_issue(code_hash: str, family_id: str | None, jti: str, exp: int) -> None:
    ctx = provider()
    key = ctx.keys("code-issued", code_hash)
    ctx.redis.set(key, json.dumps({"family_id": family_id, "jti": jti, "exp": exp}), keepttl=True)


def revoke_code_issue(code_hash: str) -> None:
    """A code was presented again: revoke the tokens its first redemption issued."""
    ctx = provider()
    raw = ctx.redis.get(ctx.keys("code-issued", code_hash))
    if not raw:
        return
    issued = json.loads(raw)
    if issued.get("jti"):
        deny_access_token(issued["jti"], issued["exp"])
    if issued.get("family_id"):
        revoke_family(issued["family_id"])


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only; required for public clients, optional for confidential ones."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if data.get("code_challenge") and not data.get("code_challenge_method"):
            raise InvalidRequestError("Missing 'code_challenge_method': only S256 is supported.")
        if self.required and grant.request.client.is_public and not data.get("code_challenge"):
            raise InvalidRequestError("Public clients must send a PKCE 'code_challenge' (S256).")
        super().validate_code_challenge(grant, redirect_uri)


class IdToken:
    """ID token claims and signature, shared by the code and refresh grants."""

    def process_token(self, grant, response):
        """An ID token whenever the grant is an ``openid`` one: a code exchanged for an API's token
        (RFC 8707) still signs the citizen in."""
        _, token, _ = response
        if "openid" in _granted_scope(grant.request, token).split():
            token["id_token"] = self.encode_id_token(token, grant.request)
        return token

    def encode_id_token(self, token: dict, request) -> str:
        ctx = provider()
        client = request.client
        origin = request.authorization_code or request.refresh_token_record
        alg = client.id_token_signed_response_alg or "RS256"
        now = int(time.time())
        claims = user_claims(request.user, client, _granted_scope(request, token))
        claims.update(iss=ctx.issuer, aud=client.client_id, iat=now,
                      exp=now + ctx.config["IDP_ID_TOKEN_TTL"], auth_time=origin.auth_time)
        if getattr(origin, "nonce", None):
            claims["nonce"] = origin.nonce
        if getattr(origin, "amr", None):
            claims["amr"] = origin.amr
        if getattr(origin, "acr", None):
            claims["acr"] = origin.acr
        if origin.sid:
            claims["sid"] = origin.sid
        asked = _verified_asked(ctx, origin)
        claims.update({name: value for name, value in requested_claims(
            request.user, client, verified_claims.plain(asked.get("id_token"))).items() if name not in claims})
        if verified := verified_claims.release(request.user, asked.get("id_token"), token["scope"]):
            claims["verified_claims"] = verified
        if asked.get("userinfo"):
            verified_claims.remember_for_userinfo(ctx.redis, ctx.keys, own_token_claims(token["access_token"])["jti"],
                                                  asked["userinfo"], ctx.config["IDP_ACCESS_TOKEN_TTL"])
        claims["at_hash"] = create_half_hash(token["access_token"], alg).decode()
        key = ctx.signing_keys.signing_key(alg)
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key)


def _granted_scope(request, token: dict) -> str:
    """The code's scope for a code exchange (its access token may be an API's, with that API's scopes
    only); the token's for a refresh (which may narrow it)."""
    code = request.authorization_code
    return code.scope if code is not None else token.get("scope", "")


def _verified_asked(ctx, origin) -> dict:
    """The verified claims the relying party asked for at the authorization (kept with the code, then
    with the refresh token's family for its rotations)."""
    if isinstance(origin, AuthorizationCode):
        return origin.verified or {}
    return verified_claims.asked_for_family(ctx.redis, ctx.keys, getattr(origin, "family_id", None)) or {}


class OpenIDCodeExtension(IdToken, OpenIDCode):
    def exists_nonce(self, nonce, request) -> bool:
        return False  # nonce replay is the relying party's check; we only echo it


class OpenIDRefreshExtension(IdToken, OpenIDToken):
    """Refreshing an `openid` grant returns a fresh ID token, as Keycloak does."""


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def validate_token_request(self):
        super().validate_token_request()
        dpop.require_for(self.request.client)  # before the claim: a refused request burns nothing
        row = self.request.refresh_token.row
        choose_target(self.request.payload.scope or row.scope, row.resources)
        # Claimed only once every check passed, so a refused request does not burn the token.
        if not claim_refresh_token(row):
            revoke_family(row.family_id)  # another request used it a moment ago
            raise InvalidGrantError()
        self.request.refresh_token_record = row

    def authenticate_refresh_token(self, refresh_token: str):
        row = find_refresh_token(refresh_token)
        if row is None or row.client_id != self.request.client.client_id:
            return None  # unknown, or another client's: never burn it on its behalf
        if row.revoked_at is not None or epoch(row.expires_at) <= time.time() or not row.user.is_active:
            return None
        if row.used_at is not None:
            revoke_family(row.family_id)  # a rotated token came back: assume theft
            return None
        return RefreshTokenView(row)

    def authenticate_user(self, refresh_token):
        return refresh_token.row.user

    def revoke_old_credential(self, refresh_token) -> None:
        pass  # marked used atomically in validate_token_request


@dataclass
class RefreshTokenView:
    row: object

    def check_client(self, client) -> bool:
        return self.row.client_id == client.client_id

    def get_scope(self) -> str:
        return self.row.scope


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def validate_token_request(self):
        super().validate_token_request()
        dpop.require_for(self.request.client)
        choose_target(self.request.client.get_allowed_scope(self.request.payload.scope), None)


def choose_target(granted: str, authorized: list[str] | None) -> None:
    """Whom the access token of this token request is for (idp/resources.py), from its ``resource``
    and the scope granted; kept for the token generator, which sees neither."""
    asked = flask_request.form.getlist("resource")
    if not asked and not any(scope not in resources.PROVIDER_SCOPES for scope in granted.split()) \
            and not authorized:
        g.token_target = resources.Target(None, granted)  # the provider's own scopes: no SQL to read
        return
    g.token_target = resources.target(db_session(), asked, granted, authorized)


def new_family_id() -> str:
    return secrets.token_hex(16)
