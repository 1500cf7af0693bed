"""DPoP (RFC 9449): access tokens bound to a key the client holds.

A client sends, with each token request, a proof: a JWT it signs with its own key, whose header
carries that key's public half.  The access token then names the key (``cnf.jkt``, its RFC 7638
thumbprint) and answers ``token_type: DPoP``; whoever steals the token cannot use it without the key.

- **Proofs** (``check_proof``): ``typ`` ``dpop+jwt``; ``alg`` among ``ALGS``; a public ``jwk`` in the
  header, which verifies the signature; ``htm`` the request's method and ``htu`` its URL under the
  issuer (no query, no fragment); ``iat`` within ``IAT_WINDOW`` seconds of now; a ``jti`` used
  once per key (Redis ``dpop-jti:<hash>``, SET NX, twice the window); at a resource, ``ath`` the
  hash of the access token.  Anything else: ``invalid_dpop_proof`` (400 at the token endpoint, 401
  with ``WWW-Authenticate: DPoP`` at a resource).
- **The token endpoint**: a proof binds the access token (``cnf.jkt``, ``token_type`` DPoP).  A
  ``fapi2`` client must send one.  A refresh binds the new access token to the key of the
  refresh request's proof.
- **Userinfo** (and anything using ``DPoPTokenValidator``): a bound token is accepted only as
  ``Authorization: DPoP <token>`` with a fresh proof of its key; presented as a Bearer token, it
  gets 401 with ``WWW-Authenticate: DPoP``.  Introspection shows ``cnf.jkt`` so that the regional
  APIs check proofs themselves (examples/resource_server.py).
"""

from __future__ import annotations

import base64
import hashlib
import time

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenValidator, InsufficientScopeError
from flask import g, request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, thumbprint
from joserfc.jws import extract_compact

from .context import provider
from .tokens import decode_access_token, is_access_token_denied, sha256

ALGS = ["ES256", "PS256", "EdDSA"]
IAT_WINDOW = 60  # seconds a proof's iat may be off the provider's clock, either way
MAX_PROOF = 8192  # characters of a proof


class InvalidDPoPProofError(OAuth2Error):
    error = "invalid_dpop_proof"
    status_code = 400


class DPoPTokenError(OAuth2Error):
    """At a resource: the challenge names DPoP (RFC 9449 §7.1)."""

    status_code = 401

    def __init__(self, error: str, description: str):
        super().__init__(description=description)
        self.error = error

    def get_headers(self):
        return [*super().get_headers(), ("WWW-Authenticate",
                                         f'DPoP error="{self.error}", algs="{" ".join(ALGS)}"')]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_token_hash(access_token: str) -> str:
    return _b64(hashlib.sha256(access_token.encode()).digest())


def endpoint_url() -> str:
    """The URL a proof's ``htu`` names: the issuer's, whatever host or proxy the request came by."""
    return provider().issuer + request.path


def check_proof(proof: str | None, method: str, url: str, access_token: str | None = None) -> str:
    """The thumbprint of the key that signed this valid, fresh, unused proof; InvalidDPoPProofError."""
    if not proof or len(proof) > MAX_PROOF or "," in proof:
        raise InvalidDPoPProofError(description="Send exactly one DPoP proof.")
    try:
        header = extract_compact(proof.encode()).protected
    except (JoseError, ValueError):
        raise InvalidDPoPProofError(description="The DPoP proof is not a JWS.") from None
    if header.get("typ") != "dpop+jwt" or header.get("alg") not in ALGS:
        raise InvalidDPoPProofError(description=f"A DPoP proof has typ dpop+jwt and an alg among {', '.join(ALGS)}.")
    public = header.get("jwk")
    if not isinstance(public, dict) or any(member in public for member in ("d", "p", "q", "k")):
        raise InvalidDPoPProofError(description="The DPoP proof's header must carry a public jwk.")
    try:
        key = JWKRegistry.import_key(public)
        claims = jwt.decode(proof, key, algorithms=ALGS).claims
    except (JoseError, ValueError, TypeError):
        raise InvalidDPoPProofError(description="The DPoP proof's signature does not verify.") from None
    if claims.get("htm") != method or claims.get("htu") != url:
        raise InvalidDPoPProofError(description=f"The DPoP proof must name {method} {url} (htm, htu).")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or abs(time.time() - iat) > IAT_WINDOW:
        raise InvalidDPoPProofError(description="The DPoP proof is not fresh (iat).")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise InvalidDPoPProofError(description="The DPoP proof is not for this access token (ath).")
    jkt = thumbprint(public)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise InvalidDPoPProofError(description="The DPoP proof needs a jti.")
    ctx = provider()
    if not ctx.redis.set(ctx.keys("dpop-jti", sha256(f"{jkt}\n{jti}")), "1", nx=True, ex=2 * IAT_WINDOW):
        raise InvalidDPoPProofError(description="This DPoP proof was used already (jti).")
    return jkt


def at_token_endpoint() -> None:
    """Before the grant: the proof of a token request, if any, checked; its key kept in ``g.dpop_jkt``."""
    if "DPoP" in request.headers:
        g.dpop_jkt = check_proof(request.headers.get("DPoP"), "POST", endpoint_url())


def require_for(client) -> None:
    """A fapi2 client's tokens are always bound (FAPI 2.0: sender-constrained)."""
    if getattr(client, "is_fapi2", False) and not g.get("dpop_jkt"):
        raise InvalidDPoPProofError(description="This client's tokens must be DPoP-bound: send a DPoP proof.")


class DPoPTokenValidator(BearerTokenValidator):
    """``Authorization: DPoP <token>``: a token bound to a key, with a fresh proof of that key."""

    TOKEN_TYPE = "dpop"

    def authenticate_token(self, token_string):
        claims = decode_access_token(token_string)
        if claims is not None:
            claims = {**claims, "_token_string": token_string}
        return claims

    def validate_token(self, token, scopes, request_, **kwargs):
        if token is None or is_access_token_denied(token["jti"]) or provider().clients(token["client_id"]) is None:
            raise DPoPTokenError("invalid_token", "The access token is not valid.")
        jkt = (token.get("cnf") or {}).get("jkt")
        if not jkt:
            raise DPoPTokenError("invalid_token", "This access token is not DPoP-bound: send it as a Bearer token.")
        try:
            proven = check_proof(request.headers.get("DPoP"), request.method, endpoint_url(), token["_token_string"])
        except InvalidDPoPProofError as error:
            raise DPoPTokenError("invalid_dpop_proof", error.description) from None
        if proven != jkt:
            raise DPoPTokenError("invalid_dpop_proof", "The DPoP proof is signed by another key than the token's.")
        if self.scope_insufficient(token.get("scope", ""), scopes):
            raise InsufficientScopeError()


def refuse_as_bearer(token: dict) -> None:
    """A bound token presented as a Bearer one (header or body) is refused, with the DPoP challenge."""
    if (token.get("cnf") or {}).get("jkt"):
        raise DPoPTokenError("invalid_token", "This access token is DPoP-bound: send it with a DPoP proof.")
