"""Token revocation (RFC 7009), introspection (RFC 7662), RP-initiated logout, and the
validator that accepts our access tokens at userinfo."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenValidator, InsufficientScopeError, InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint
from joserfc.jws import extract_compact

from .. import resources
from ..db import session as db_session
from .context import provider
from .dpop import refuse_as_bearer
from .tokens import IssuedToken, decode_access_token, deny_access_token, is_access_token_denied, lookup, revoke_family


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]

    def query_token(self, token_string, token_type_hint):
        return lookup(token_string, token_type_hint)

    def revoke_token(self, token: IssuedToken, request) -> None:
        if token.kind == "access_token":
            deny_access_token(token.jti, token.exp)
        else:
            revoke_family(token.family_id)  # RFC 7009 §2.1: the grant's access tokens go too


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def query_token(self, token_string, token_type_hint):
        return lookup(token_string, token_type_hint)

    def check_permission(self, token: IssuedToken, client, request) -> bool:
        # A resource server sees the access tokens meant for it; a client, only its own tokens.
        resource = resources.of_client(db_session(), client.get_client_id()) if not client.grant_types else None
        if resource is not None:
            return token.kind == "access_token" and token.aud == resource.identifier
        return token.check_client(client)

    def introspect_token(self, token: IssuedToken) -> dict:
        body = {
            "active": True,
            "client_id": token.client_id,
            "scope": token.scope,
            "sub": token.sub,
            "exp": token.exp,
            "iat": token.iat,
            "iss": provider().issuer,
            "token_type": ("DPoP" if token.jkt else "Bearer") if token.kind == "access_token" else "refresh_token",
        }
        if token.jkt:
            body["cnf"] = {"jkt": token.jkt}  # the resource checks the DPoP proof against it
        if token.jti:
            body["jti"] = token.jti
        if token.aud:
            body["aud"] = token.aud
        return body


class AccessTokenValidator(BearerTokenValidator):
    """Accepts only our RFC 9068 access tokens (``typ: at+jwt``) that nobody revoked, of a client
    that still exists (``idp clients remove`` ends its tokens at once)."""

    def authenticate_token(self, token_string):
        return decode_access_token(token_string)

    def validate_token(self, token, scopes, request, **kwargs):
        if token is None or is_access_token_denied(token["jti"]) or provider().clients(token["client_id"]) is None:
            raise InvalidTokenError(realm=self.realm, extra_attributes=self.extra_attributes)
        refuse_as_bearer(token)
        if self.scope_insufficient(token.get("scope", ""), scopes):
            raise InsufficientScopeError()


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self):
        return provider().signing_keys.verification_keys()

    def _validate_id_token_hint(self, id_token_hint: str) -> dict:
        # Authlib accepts any JWT we signed; an access token must not pass for an ID token.
        claims = super()._validate_id_token_hint(id_token_hint)
        header = extract_compact(id_token_hint.encode()).protected
        if header.get("typ") == "at+jwt" or claims.get("iss") != provider().issuer:
            raise InvalidRequestError("'id_token_hint' is not an ID token issued here.")
        return claims

    def end_session(self, end_session_request) -> None:
        pass  # the logout view ends the session once it knows the user agreed
