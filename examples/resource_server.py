"""A regional API that accepts only the access tokens meant for it: the resource server's side of
Sésame's resource indicators (RFC 8707) and JWT access tokens (RFC 9068).

Run it beside a provider where it was registered::

    idp resources add --identifier https://paiements.example.fr/api --scope "payments:read" --json
    python examples/resource_server.py --issuer http://localhost:5000 \\
        --identifier https://paiements.example.fr/api --client-id ID --client-secret SECRET

``GET /payments`` with ``Authorization: Bearer <token>`` answers 200 for a token meant for this API
that carries ``payments:read``, 401 for any other token, 403 without the scope.  ``?check=introspection``
asks the provider instead of checking offline: a revoked token is then refused at once, where an
offline check only knows what the token says until it expires.

A token bound to a key (DPoP, RFC 9449: ``cnf.jkt``, as the FAPI 2.0 clients get them) is accepted
only as ``Authorization: DPoP <token>`` with a ``DPoP`` proof of that key for this very request
(``htm``, ``htu``, a fresh ``iat``, ``ath`` the token's hash, a ``jti`` not seen before); presented as
a Bearer token it gets 401 with ``WWW-Authenticate: DPoP``.  The proof is checked with joserfc.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import threading
import time

import requests
from flask import Flask, jsonify, request
from jose import jwt
from jose.exceptions import JOSEError
from joserfc import jwt as proof_jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, thumbprint
from joserfc.jws import extract_compact

ALGORITHMS = ["RS256", "ES256"]  # what Sésame signs access tokens with
PROOF_ALGORITHMS = ["ES256", "PS256", "EdDSA"]  # what Sésame asks of DPoP proofs
PROOF_WINDOW = 60  # seconds a proof's iat may be off this API's clock


class SeenProofs:
    """The jti of the proofs accepted in the last window (one process; a cluster would share them)."""

    def __init__(self):
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_time(self, key: str) -> bool:
        now = time.time()
        with self._lock:
            self._seen = {k: t for k, t in self._seen.items() if now - t < 2 * PROOF_WINDOW}
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


def proof_key(proof: str, method: str, url: str, token: str, seen: SeenProofs) -> str | None:
    """The thumbprint of the key that signed a valid DPoP proof for this request and token; else None."""
    try:
        header = extract_compact(proof.encode()).protected
        if header.get("typ") != "dpop+jwt" or header.get("alg") not in PROOF_ALGORITHMS:
            return None
        claims = proof_jwt.decode(proof, JWKRegistry.import_key(header["jwk"]), algorithms=PROOF_ALGORITHMS).claims
    except (JoseError, ValueError, TypeError, KeyError):
        return None
    token_hash = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()
    if (claims.get("htm"), claims.get("htu"), claims.get("ath")) != (method, url, token_hash):
        return None
    if not isinstance(claims.get("iat"), int) or abs(time.time() - claims["iat"]) > PROOF_WINDOW:
        return None
    jkt = thumbprint(header["jwk"])
    return jkt if seen.first_time(f"{jkt} {claims.get('jti')}") else None


def verify_offline(token: str, issuer: str, identifier: str, keys: dict) -> dict | None:
    """The token's claims if it is an RFC 9068 access token (``typ`` at+jwt) signed by the issuer's
    keys, issued by it (``iss``), meant for this API (``aud``) and not expired (``exp``); else None."""
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError:
        return None
    if header.get("typ") != "at+jwt":
        return None  # an ID token, or another JWT: never an access token
    key = next((k for k in keys["keys"] if k["kid"] == header.get("kid")), None)
    if key is None:
        return None
    try:
        return jwt.decode(token, key, algorithms=ALGORITHMS, audience=identifier, issuer=issuer)
    except JOSEError:
        return None


def introspect(token: str, issuer: str, identifier: str, credentials: tuple[str, str]) -> dict | None:
    """The provider's answer (RFC 7662) when the token is active and meant for this API; else None."""
    answer = requests.post(f"{issuer}/oauth/introspect", data={"token": token}, auth=credentials, timeout=5)
    body = answer.json() if answer.status_code == 200 else {}
    return body if body.get("active") is True and body.get("aud") == identifier else None


def create_app(issuer: str, identifier: str, credentials: tuple[str, str]) -> Flask:
    api = Flask(__name__)
    keys: dict = {}

    def claims_of(token: str) -> dict | None:
        if request.args.get("check") == "introspection":
            return introspect(token, issuer, identifier, credentials)
        if not keys:  # fetched once; a real API fetches them again for an unknown key id
            keys.update(requests.get(f"{issuer}/oauth/jwks", timeout=5).json())
        return verify_offline(token, issuer, identifier, keys)

    seen = SeenProofs()

    @api.get("/payments")
    def payments():
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        claims = claims_of(token) if scheme.lower() in ("bearer", "dpop") and token else None
        if claims is None:
            return jsonify(error="invalid_token"), 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        bound_to = (claims.get("cnf") or {}).get("jkt")
        if bound_to or scheme.lower() == "dpop":
            proof = request.headers.get("DPoP", "")
            proven = proof_key(proof, request.method, request.base_url, token, seen) if proof and bound_to else None
            if scheme.lower() != "dpop" or proven != bound_to:
                return jsonify(error="invalid_dpop_proof" if scheme.lower() == "dpop" else "invalid_token"), 401, {
                    "WWW-Authenticate": f'DPoP algs="{" ".join(PROOF_ALGORITHMS)}"'}
        if "payments:read" not in claims.get("scope", "").split():
            return jsonify(error="insufficient_scope"), 403, {
                "WWW-Authenticate": 'Bearer error="insufficient_scope", scope="payments:read"'}
        return jsonify(payments=[], sub=claims["sub"])

    return api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--identifier", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--port", type=int, default=8001)
    options = parser.parse_args()
    create_app(options.issuer, options.identifier, (options.client_id, options.client_secret)).run(port=options.port)


if __name__ == "__main__":
    main()
