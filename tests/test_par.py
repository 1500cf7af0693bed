"""Pushed authorization requests (RFC 9126, issue 19, item 2): a client pushes its parameters to
/oauth/par and the browser carries only the request_uri, usable once, by that client only, within
a minute; what waits while the citizen signs in stays on the server."""

from __future__ import annotations

import base64
import hashlib
import secrets

import pytest

from helpers import REDIRECT_URI, login, make_client, make_user, query, redeem

PREFIX = "urn:ietf:params:oauth:request_uri:"


@pytest.fixture
def citizen(db):
    return make_user(db)


@pytest.fixture
def registered(db):
    return make_client(db)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def push(client, identifier, secret, **params):
    """POST /oauth/par with the client's Basic credentials (``client_id=None`` in params: left out)."""
    body = {"response_type": "code", "client_id": identifier, "redirect_uri": REDIRECT_URI,
            "scope": "openid profile", "state": "pushed-state", **params}
    return client.post("/oauth/par", data={k: v for k, v in body.items() if v is not None}, auth=(identifier, secret))


def test_a_pushed_request_signs_in_with_nothing_but_its_uri_in_the_browser(client, db, citizen, registered):
    client_id, secret = registered
    verifier, challenge = pkce()
    pushed = push(client, client_id, secret, code_challenge=challenge, code_challenge_method="S256")
    assert pushed.status_code == 201 and pushed.headers["Cache-Control"] == "no-store"
    body = pushed.get_json()
    assert body["request_uri"].startswith(PREFIX) and body["expires_in"] == 60

    to_login = client.get(f"/oauth/authorize?client_id={client_id}&request_uri={body['request_uri']}")
    assert to_login.status_code == 302 and to_login.location.startswith("/login?rid=")
    signed = login(client, rid=query(to_login.location)["rid"])
    resume = signed.location
    assert set(query(resume)) == {"client_id", "resume"}  # the pushed parameters stay on the server
    # A browser that adds its own parameters to the resume URL changes nothing.
    back = client.get(resume + "&redirect_uri=https%3A%2F%2Fevil.example%2F&state=forged&scope=openid+email")
    assert back.status_code == 302 and back.location.startswith(REDIRECT_URI + "?"), back.location
    answer = query(back.location)
    assert answer["state"] == "pushed-state" and answer["iss"] == "http://localhost:5000"
    issued = redeem(client, client_id, secret, answer["code"], code_verifier=verifier).get_json()
    assert issued["scope"] == "openid profile" and "id_token" in issued


def error_page(response) -> str:
    assert response.status_code == 400, response.data
    page = response.get_data(as_text=True)
    assert "<h1>Cette demande de connexion ne peut pas aboutir</h1>" in page
    return page


def test_a_request_uri_works_once_and_for_its_client_only(client, db, citizen, registered):
    client_id, secret = registered
    other_id, _other_secret = make_client(db, name="Autre service")
    uri = push(client, client_id, secret).get_json()["request_uri"]
    stolen = client.get(f"/oauth/authorize?client_id={other_id}&request_uri={uri}")
    assert "invalid_request_uri" in error_page(stolen)  # and it is spent: the owner cannot use it either
    assert "invalid_request_uri" in error_page(client.get(f"/oauth/authorize?client_id={client_id}&request_uri={uri}"))
    fresh = push(client, client_id, secret).get_json()["request_uri"]
    assert client.get(f"/oauth/authorize?client_id={client_id}&request_uri={fresh}").status_code == 302
    again = client.get(f"/oauth/authorize?client_id={client_id}&request_uri={fresh}")
    assert "invalid_request_uri" in error_page(again)
    forged = client.get(f"/oauth/authorize?client_id={client_id}&request_uri={PREFIX}{'A' * 43}")
    assert "invalid_request_uri" in error_page(forged)


@pytest.mark.parametrize(("change", "status", "error"), [
    ({"redirect_uri": "https://evil.example/callback"}, 400, "invalid_request"),
    ({"scope": "openid no:such-scope"}, 400, "invalid_scope"),
    ({"response_type": "token"}, 400, "unsupported_response_type"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, 400, "request_not_supported"),
    ({"request_uri": PREFIX + "x"}, 400, "invalid_request"),
    ({"code_challenge": "abc", "code_challenge_method": "plain"}, 400, "invalid_request"),
    ({"claims": "[not json"}, 400, "invalid_request"),
    ({"state": "s" * 3000}, 400, "invalid_request"),
])
def test_a_bad_pushed_request_is_a_json_error_not_a_redirect(client, db, registered, change, status, error):
    client_id, secret = registered
    refused = push(client, client_id, secret, **change)
    assert refused.status_code == status and refused.get_json()["error"] == error, refused.get_json()
    assert "Location" not in refused.headers


def test_pushing_needs_the_client_s_credentials(client, db, registered):
    client_id, _secret = registered
    refused = push(client, client_id, "not the secret")
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    other_id, other_secret = make_client(db, name="Autre service")
    mismatched = client.post("/oauth/par", data={"response_type": "code", "client_id": client_id,
                                                 "redirect_uri": REDIRECT_URI, "scope": "openid"},
                             auth=(other_id, other_secret))
    assert mismatched.status_code in (400, 401) and mismatched.get_json()["error"] in ("invalid_request",
                                                                                       "invalid_client")


def test_the_client_id_may_come_from_the_credentials_alone(client, db, registered):
    client_id, secret = registered
    pushed = push(client, client_id, secret, **{"client_id": None})
    assert pushed.status_code == 201, pushed.get_json()
    uri = pushed.get_json()["request_uri"]
    assert client.get(f"/oauth/authorize?client_id={client_id}&request_uri={uri}").status_code == 302


def test_discovery_names_the_endpoint(client):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["pushed_authorization_request_endpoint"] == "http://localhost:5000/oauth/par"
    assert document["require_pushed_authorization_requests"] is False
