"""What the OpenID Foundation's basic plan found missing (issue 19, item 1): claims asked one by
one with the ``claims`` parameter, the access token in userinfo's POST body (RFC 6750 §2.2), and
request objects refused as unsupported rather than ignored.  The modules themselves are in
tests/conformance/; these are the edges around them."""

from __future__ import annotations

import json

import pytest

from helpers import authorize_url, get_code, make_client, make_user, query, redeem


@pytest.fixture
def citizen(db):
    return make_user(db, given_name="Jean", family_name="Dupont")


def tokens(client, db, scope_registered="openid profile email", **params):
    client_id, secret = make_client(db, scope=scope_registered)
    code = get_code(client, client_id, username="jean.dupont", **params)["code"]
    return redeem(client, client_id, secret, code).get_json()


def test_a_claim_asked_one_by_one_comes_beyond_the_scope(client, db, citizen):
    asked = json.dumps({"userinfo": {"name": {"essential": True}}, "id_token": {"family_name": None}})
    issued = tokens(client, db, scope="openid", claims=asked)
    info = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {issued['access_token']}"}).get_json()
    assert info["name"] == "Jean Dupont" and "given_name" not in info and "email" not in info


def test_a_claim_of_a_scope_the_client_is_not_registered_for_is_not_released(client, db, citizen):
    asked = json.dumps({"userinfo": {"name": {"essential": True}, "email": None}})
    issued = tokens(client, db, scope_registered="openid email", scope="openid", claims=asked)
    info = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {issued['access_token']}"}).get_json()
    assert "name" not in info and info["email"] == "jean.dupont@example.fr"


def test_userinfo_takes_the_token_from_a_form_body_but_not_twice(client, db, citizen):
    issued = tokens(client, db)
    token = issued["access_token"]
    body = client.post("/oauth/userinfo", data={"access_token": token})
    assert body.status_code == 200 and body.get_json()["given_name"] == "Jean"
    twice = client.post("/oauth/userinfo", data={"access_token": token}, headers={"Authorization": f"Bearer {token}"})
    assert twice.status_code == 400 and twice.get_json()["error"] == "invalid_request"
    forged = client.post("/oauth/userinfo", data={"access_token": token[:-4] + "AAAA"})
    assert forged.status_code == 401 and forged.get_json()["error"] == "invalid_token"
    assert forged.headers["WWW-Authenticate"].startswith("Bearer")
    in_query = client.get(f"/oauth/userinfo?access_token={token}")  # RFC 6750 §2.3 is not supported
    assert in_query.status_code == 401 and in_query.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize(("parameter", "error"), [("request", "request_not_supported"),
                                                   ("request_uri", "request_uri_not_supported")])
def test_request_objects_are_refused_as_unsupported(client, db, citizen, parameter, error):
    client_id, _secret = make_client(db)
    refused = client.get(authorize_url(client_id, **{parameter: "eyJhbGciOiJub25lIn0.e30."}))
    assert refused.status_code == 302 and refused.location.startswith("https://rp.example.fr/callback?")
    assert query(refused.location)["error"] == error


def test_the_help_desk_sets_the_claims_no_citizen_is_asked_for(client, db, citizen):
    from test_admin_guard import admin_token

    _client_id, token = admin_token(client, db)
    headers = {"Authorization": f"Bearer {token}"}
    bad = client.patch(f"/admin/api/users/{citizen.id}", json={"claims": {"picture": "javascript:alert(1)"}},
                       headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"] == "invalid_request"
    unknown = client.patch(f"/admin/api/users/{citizen.id}", json={"claims": {"shoe_size": "42"}}, headers=headers)
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "invalid_request"
    changed = client.patch(f"/admin/api/users/{citizen.id}", headers=headers,
                           json={"claims": {"nickname": "Jeannot", "picture": "https://photos.example.fr/j.png"}})
    assert changed.status_code == 200 and changed.get_json()["claims"] == {
        "nickname": "Jeannot", "picture": "https://photos.example.fr/j.png"}
    removed = client.patch(f"/admin/api/users/{citizen.id}", json={"claims": {"picture": None}}, headers=headers)
    assert removed.get_json()["claims"] == {"nickname": "Jeannot"}

    issued = tokens(client, db)
    info = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {issued['access_token']}"}).get_json()
    assert info["nickname"] == "Jeannot" and "picture" not in info and info["zoneinfo"] == "Europe/Paris"
    assert info["locale"] == "fr" and "gender" not in info  # only what the account holds


def test_an_unverified_phone_number_says_so(client, db, citizen):
    citizen.phone_number = "+33 6 12 34 56 78"
    db.commit()
    issued = tokens(client, db, scope_registered="openid phone", scope="openid phone")
    info = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {issued['access_token']}"}).get_json()
    assert info["phone_number"] == "+33 6 12 34 56 78" and info["phone_number_verified"] is False


def test_the_consent_page_names_the_scope_of_a_claim_asked_one_by_one(client, db, citizen):
    """A claim asked with ``claims`` is released beyond the scopes: the citizen asked to consent is told."""
    client_id, _secret = make_client(db)
    asked = json.dumps({"userinfo": {"name": {"essential": True}}})
    to_login = client.get(authorize_url(client_id, scope="openid", claims=asked, prompt="consent"))
    from helpers import login

    page = client.get(login(client, rid=query(to_login.location)["rid"]).location)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Vos nom, prénom et date de naissance" in text, text[-3000:]
