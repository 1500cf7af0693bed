"""A minimal relying party, to try Sésame by hand after `idp serve --demo`.

It runs the authorization code flow with PKCE, then checks the ID token on its own with
python-jose against the provider's published keys, as any regional service would.
python-jose comes with the quick start's install (the ``demo`` extra: ``pip install -e '.[demo]'``).

    .venv/bin/python examples/demo_rp.py --issuer http://localhost:5000 --client-secret SECRET

It answers at http://localhost:8000/, the host name the provider uses too (``idp serve``):
one name for one machine, so the browser keeps one session with each.  Its own cookie has
its own name: cookies do not tell ports apart.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import secrets
from urllib.parse import urlencode

import requests
from flask import Flask, abort, redirect, request, session
from jose import jwt

HOST, PORT = "localhost", 8000
REDIRECT_URI = f"http://{HOST}:{PORT}/callback"  # as `idp serve --demo` registers it


def make_app(issuer: str, client_id: str, client_secret: str) -> Flask:
    app = Flask(__name__)
    app.secret_key = secrets.token_bytes(32)
    app.config["SESSION_COOKIE_NAME"] = "demo_rp_session"
    meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()

    @app.get("/")
    def index():
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        session.update(verifier=verifier, state=secrets.token_urlsafe(16), nonce=secrets.token_urlsafe(16))
        params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
                  "scope": "openid profile email", "state": session["state"], "nonce": session["nonce"],
                  "code_challenge": challenge, "code_challenge_method": "S256"}
        return redirect(f"{meta['authorization_endpoint']}?{urlencode(params)}")

    @app.get("/callback")
    def callback():
        if request.args.get("state") != session.get("state") or request.args.get("iss") != issuer:
            abort(400, "state or iss mismatch")
        if "error" in request.args:
            return f"<p>Error from the provider: {html.escape(request.args['error'])}</p>"
        tokens = requests.post(meta["token_endpoint"], timeout=10, auth=(client_id, client_secret), data={
            "grant_type": "authorization_code", "code": request.args["code"], "redirect_uri": REDIRECT_URI,
            "code_verifier": session["verifier"]}).json()
        keys = requests.get(meta["jwks_uri"], timeout=10).json()
        claims = jwt.decode(tokens["id_token"], keys, algorithms=["RS256", "ES256"], audience=client_id,
                            issuer=issuer, access_token=tokens["access_token"])
        if claims.get("nonce") != session["nonce"]:
            abort(400, "nonce mismatch")
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in claims.items())
        return f"<h1>Signed in through Sésame</h1><p>ID token checked by python-jose.</p><table>{rows}</table>"

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuer", default="http://localhost:5000")
    parser.add_argument("--client-id", default="demo")
    parser.add_argument("--client-secret", required=True)
    args = parser.parse_args()
    make_app(args.issuer, args.client_id, args.client_secret).run(host=HOST, port=PORT)


if __name__ == "__main__":
    main()
