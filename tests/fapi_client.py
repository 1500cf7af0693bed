"""A FAPI 2.0 relying party written for the tests with joserfc: its keys, its client assertions
(RFC 7523, ``private_key_jwt``), its pushed authorization requests (RFC 9126) and its DPoP proofs
(RFC 9449).  It talks to the
provider through any client with ``post``/``get`` (Flask's test client, or ``requests`` for a
server on loopback)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class FapiClient:
    def __init__(self, issuer: str, redirect_uri: str, alg: str = "ES256"):
        self.issuer, self.redirect_uri, self.alg = issuer, redirect_uri, alg
        self.key = ECKey.generate_key("P-256", parameters={"kid": secrets.token_hex(4), "alg": alg, "use": "sig"})
        self.dpop_key = ECKey.generate_key("P-256")  # another key: the one the tokens are bound to
        self.client_id: str | None = None
        # Where the provider has its endpoints (Sésame's; another provider's from its discovery).
        self.paths = {"par": "/oauth/par", "token": "/oauth/token", "userinfo": "/oauth/userinfo"}

    def jwks(self, *extra: ECKey) -> dict:
        """The public keys to register (or publish at a jwks_uri)."""
        return KeySet([self.key, *extra]).as_dict(private=False)

    def assertion(self, *, audience=None, lifetime: int = 60, jti: str | None = None, key: ECKey | None = None,
                  alg: str | None = None, **claims) -> str:
        now = int(time.time())
        signing = key or self.key
        body = {"iss": self.client_id, "sub": self.client_id, "aud": self.issuer if audience is None else audience,
                "iat": now, "exp": now + lifetime, "jti": jti or secrets.token_urlsafe(16), **claims}
        chosen = alg or self.alg
        return jwt.encode({"alg": chosen, "kid": signing.kid}, body, signing, algorithms=[chosen])

    def authenticated(self, data: dict, **assertion_options) -> dict:
        return {**data, "client_id": self.client_id, "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.assertion(**assertion_options)}

    @staticmethod
    def pkce() -> tuple[str, str]:
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return verifier, challenge

    def push(self, http, scope: str = "openid profile", assertion: dict | None = None, **params):
        """POST the pushed request (PAR); the answer, and the PKCE verifier that goes with it
        (``assertion``: options of the client assertion, such as its ``jti``)."""
        verifier, challenge = self.pkce()
        data = {"response_type": "code", "redirect_uri": self.redirect_uri, "scope": scope,
                "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
                "code_challenge_method": "S256", **params}
        return http.post(self.paths["par"], data=self.authenticated(
            {k: v for k, v in data.items() if v is not None}, **(assertion or {}))), verifier

    def proof(self, method: str, path: str, access_token: str | None = None, *, key: ECKey | None = None,
              url: str | None = None, iat: int | None = None, jti: str | None = None) -> str:
        """A DPoP proof (RFC 9449 §4) for ``method`` on the issuer's ``path``."""
        signing = key or self.dpop_key
        claims = {"htm": method, "htu": url or self.issuer + path, "iat": int(time.time()) if iat is None else iat,
                  "jti": jti or secrets.token_urlsafe(16)}
        if access_token is not None:
            claims["ath"] = base64.urlsafe_b64encode(hashlib.sha256(access_token.encode()).digest()).rstrip(
                b"=").decode()
        return jwt.encode({"typ": "dpop+jwt", "alg": "ES256", "jwk": signing.as_dict(private=False)}, claims, signing)

    def redeem(self, http, code: str, verifier: str, dpop: bool = True, **assertion_options):
        headers = {"DPoP": self.proof("POST", self.paths["token"])} if dpop else {}
        return http.post(self.paths["token"], headers=headers, data=self.authenticated(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
             "code_verifier": verifier}, **assertion_options))
