"""An upstream OpenID Connect provider on loopback for the federation tests: a second Sésame, with a
database, a Redis prefix and keys of its own, served over HTTP (``upstream``); with a citizen, and
Sésame registered as its client (``provider``).  The fixtures are imported by conftest.py."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
from urllib.parse import urlparse

import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from idp import upstreams

from helpers import login, make_client, make_user, query, served


class Counting:
    """The upstream's WSGI app, with the paths it was asked for written down.  With ``acr`` set, its
    ID tokens carry that ``acr`` (FranceConnect answers ``eidas1``), signed again with its own key:
    Sésame, the provider here, has no levels of assurance of its own to claim."""

    def __init__(self, app, keys_file=None):
        self.app, self.paths, self.keys_file, self.acr = app, [], keys_file, None

    def __call__(self, environ, start_response):
        self.paths.append(environ["PATH_INFO"])
        if self.acr is None or environ["PATH_INFO"] != "/oauth/token":
            return self.app(environ, start_response)
        answered = {}
        body = b"".join(self.app(environ, lambda status, headers, exc_info=None: answered.update(
            status=status, headers=headers)))
        tokens = json.loads(body)
        if "id_token" in tokens:
            tokens["id_token"] = self._with_acr(tokens["id_token"])
            body = json.dumps(tokens).encode()
        headers = [(name, value) for name, value in answered["headers"] if name.lower() != "content-length"]
        start_response(answered["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _with_acr(self, id_token: str) -> str:
        header = jws.extract_compact(id_token.encode()).protected
        claims = json.loads(base64.urlsafe_b64decode(id_token.split(".")[1] + "=="))
        keys = KeySet.import_key_set(json.loads(self.keys_file.read_text()))
        key = next(key for key in keys if key.kid == header["kid"])
        return jwt.encode(header, {**claims, "acr": self.acr}, key)


@pytest.fixture
def upstream(build_app, tmp_path, sqlite_template, signing_keys_file):
    """A second Sésame on a loopback port: (its issuer, its counted app, its key file)."""
    from conftest import free_port, sqlite_database  # conftest imports this module: read it once loaded

    folder = tmp_path / "upstream"
    folder.mkdir()
    keys = folder / "jwks.private.json"
    shutil.copy(signing_keys_file, keys)
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    app = build_app(IDP_INSTANCE_DIR=str(folder), IDP_DATABASE_URL=sqlite_database(folder, sqlite_template),
                    IDP_REDIS_PREFIX="upstream:", IDP_ISSUER=issuer)
    counted = Counting(app, keys)
    with served(counted, port):
        yield issuer, counted, keys


CALLBACK = "http://localhost:5000/federation/fc/callback"
LOGGED_OUT = "http://localhost:5000/federation/fc/logged-out"
BORN = dt.date(1990, 5, 17)  # the upstream citizen's birth date


@pytest.fixture
def provider(upstream, db):
    """The upstream, set up as FranceConnect (userinfo as a signed JWT, acr eidas1), with a citizen and
    Sésame registered as its client; Sésame's record of it."""
    issuer, counted, _ = upstream
    served_app = counted.app
    upstream_db = served_app.extensions["idp.db"].session_factory()
    try:
        make_user(upstream_db, given_name="Camille", family_name="Martin", username="camille.martin",
                  email="camille.martin@example.fr", birthdate=BORN)
        # As FranceConnect: the userinfo answered as a signed JWT.
        client_id, secret = make_client(upstream_db, redirect_uris=[CALLBACK], post_logout_redirect_uris=[LOGGED_OUT],
                                        scope="openid profile email", userinfo_alg="ES256")
    finally:
        upstream_db.close()
    # As FranceConnect: eidas1 asked for, and answered.
    counted.acr = "eidas1"
    record = upstreams.add(db, name="fc", issuer=issuer, client_id=client_id, client_secret=secret,
                           scope="openid profile email", acr_values="eidas1")
    return served_app, record


def sign_in_upstream(served_app, url: str, browser=None) -> dict:
    """The citizen at the upstream (in ``browser``, else a new one): its login form, then back to
    Sésame's callback; the callback's query."""
    browser = browser or served_app.test_client()
    parsed = urlparse(url)
    answer = browser.get(f"{parsed.path}?{parsed.query}")
    assert answer.status_code == 302 and urlparse(answer.location).path == "/login", answer.location
    signed_in = login(browser, "camille.martin", rid=query(answer.location)["rid"])
    assert signed_in.status_code == 303, signed_in.data
    back = browser.get(signed_in.location)
    assert back.status_code == 302 and back.location.startswith(CALLBACK), back.location
    return query(back.location)


