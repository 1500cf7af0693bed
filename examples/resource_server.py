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
"""

from __future__ import annotations

import argparse

import requests
from flask import Flask, jsonify, request
from jose import jwt
from jose.exceptions import JOSEError

ALGORITHMS = ["RS256", "ES256"]  # what Sésame signs access tokens with


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

    @api.get("/payments")
    def payments():
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        claims = claims_of(token) if scheme.lower() == "bearer" and token else None
        if claims is None:
            return jsonify(error="invalid_token"), 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}
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
