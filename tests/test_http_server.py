"""The code flow over real HTTP: Authlib's OAuth 2.0 client as the relying party, requests as the browser."""

import secrets
from urllib.parse import urljoin

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from jose import jwt as jose_jwt

from conftest import free_port
from helpers import PASSWORD, csrf_token, make_client, make_user, query, served


@pytest.fixture
def server(build_app):
    """The provider served over real HTTP on a free port, its issuer being that URL."""
    port = free_port()
    app = build_app(IDP_ISSUER=f"http://127.0.0.1:{port}")
    with served(app, port) as issuer:
        yield issuer, app


@pytest.fixture
def relying_party(server):
    """A citizen and a confidential client registered on the served provider."""
    _issuer, app = server
    db = app.extensions["idp.db"].session_factory()
    try:
        user = make_user(db)
        callback = f"http://127.0.0.1:{free_port()}/cb"
        client_id, secret = make_client(db, redirect_uris=[callback])
        return {"sub": user.sub, "client_id": client_id, "secret": secret, "callback": callback}
    finally:
        db.close()


def sign_in_and_come_back(url: str, callback: str) -> str:
    """What the citizen's browser does: follow the redirects, fill in the login form; return the callback URL."""
    browser = requests.Session()
    response = browser.get(url, allow_redirects=False)
    for _ in range(10):
        location = urljoin(response.url, response.headers["Location"])
        if location.startswith(callback):
            return location
        response = browser.get(location, allow_redirects=False)
        if "/login" in response.url and response.status_code == 200:
            response = browser.post(response.url, allow_redirects=False, data={
                "csrf_token": csrf_token(response.text), "username": "jean.dupont", "password": PASSWORD,
                "rid": query(response.url)["rid"]})
        assert response.status_code in (302, 303), (response.status_code, response.text)
    raise AssertionError("the browser never came back to the relying party")


def verify(token: str, jwks: dict, issuer: str, audience: str, **extra) -> dict:
    header = jose_jwt.get_unverified_header(token)
    key = next(key for key in jwks["keys"] if key["kid"] == header["kid"])
    return jose_jwt.decode(token, key, algorithms=[header["alg"]], issuer=issuer, audience=audience, **extra)


def test_code_flow_with_pkce_refresh_and_userinfo_over_http(server, relying_party):
    issuer, _app = server
    rp = relying_party
    discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    assert discovery["issuer"] == issuer
    jwks = requests.get(discovery["jwks_uri"], timeout=10).json()
    oauth = OAuth2Session(rp["client_id"], rp["secret"], scope="openid profile email", redirect_uri=rp["callback"],
                          code_challenge_method="S256")
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(12)
    url, state = oauth.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier,
                                                nonce=nonce)

    callback = sign_in_and_come_back(url, rp["callback"])

    assert query(callback)["state"] == state and query(callback)["iss"] == issuer
    token = oauth.fetch_token(discovery["token_endpoint"], authorization_response=callback, state=state,
                              code_verifier=verifier)
    id_token = verify(token["id_token"], jwks, issuer, rp["client_id"], access_token=token["access_token"])
    assert id_token["sub"] == rp["sub"] and id_token["nonce"] == nonce
    access = verify(token["access_token"], jwks, issuer, rp["client_id"])
    assert access["sub"] == rp["sub"] and access["client_id"] == rp["client_id"]
    assert jose_jwt.get_unverified_header(token["access_token"])["typ"] == "at+jwt"

    info = oauth.get(discovery["userinfo_endpoint"], timeout=10)
    assert info.status_code == 200
    assert info.json()["sub"] == rp["sub"] and info.json()["email"] == "jean.dupont@example.fr"

    refreshed = oauth.refresh_token(discovery["token_endpoint"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    renewed = verify(refreshed["id_token"], jwks, issuer, rp["client_id"], access_token=refreshed["access_token"])
    assert renewed["sub"] == rp["sub"]
    replay = requests.post(discovery["token_endpoint"], auth=(rp["client_id"], rp["secret"]), timeout=10,
                           data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    after_reuse = requests.post(discovery["token_endpoint"], auth=(rp["client_id"], rp["secret"]), timeout=10,
                                data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]})
    assert after_reuse.status_code == 400  # reuse of a rotated token revoked the whole family


def test_code_verifier_is_checked_over_http(server, relying_party):
    issuer, _app = server
    rp = relying_party
    oauth = OAuth2Session(rp["client_id"], rp["secret"], scope="openid", redirect_uri=rp["callback"],
                          code_challenge_method="S256")
    url, _state = oauth.create_authorization_url(f"{issuer}/oauth/authorize", code_verifier="a" * 50)
    callback = sign_in_and_come_back(url, rp["callback"])

    response = requests.post(f"{issuer}/oauth/token", auth=(rp["client_id"], rp["secret"]), timeout=10, data={
        "grant_type": "authorization_code", "code": query(callback)["code"], "redirect_uri": rp["callback"],
        "code_verifier": "b" * 50})

    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
