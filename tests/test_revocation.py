"""Token revocation (RFC 7009) and introspection (RFC 7662), as relying parties and resource servers see them."""

import math
import secrets
import time

import pytest

from helpers import get_code, jose_claims, make_client, make_user, pkce_pair, redeem

ISSUER = "http://localhost:5000"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def signed_in(browser, db, **client_fields) -> tuple[str, str | None, dict]:
    """A citizen signs in through a new client (PKCE when public); return its id, secret and tokens."""
    client_id, secret = make_client(db, name=f"Service {secrets.token_hex(3)}", **client_fields)
    verifier, challenge = pkce_pair()
    code = get_code(browser, client_id, code_challenge=challenge, code_challenge_method="S256")["code"]
    response = redeem(browser, client_id, secret, code, code_verifier=verifier)
    assert response.status_code == 200, response.data
    return client_id, secret, response.get_json()


def revoke(browser, client_id, secret, token, hint=None):
    data = {"token": token, **({"token_type_hint": hint} if hint else {})}
    return browser.post("/oauth/revoke", data=data, auth=(client_id, secret))


def introspect(browser, client_id, secret, token):
    response = browser.post("/oauth/introspect", data={"token": token}, auth=(client_id, secret))
    assert response.status_code == 200, response.data
    return response.get_json()


def refresh(browser, client_id, secret, refresh_token):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return browser.post("/oauth/token", data=data, auth=(client_id, secret))


@pytest.fixture(autouse=True)
def citizen(db):
    return make_user(db)


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_a_revoked_access_token_is_inactive_at_once(client, db, hint):
    client_id, secret, tokens = signed_in(client, db)
    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 200

    response = revoke(client, client_id, secret, tokens["access_token"], hint)

    assert response.status_code == 200, response.data
    assert introspect(client, client_id, secret, tokens["access_token"]) == {"active": False}
    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 401


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_a_revoked_refresh_token_fails_and_takes_its_grants_access_tokens(client, db, hint):
    client_id, secret, tokens = signed_in(client, db)

    assert revoke(client, client_id, secret, tokens["refresh_token"], hint).status_code == 200

    response = refresh(client, client_id, secret, tokens["refresh_token"])
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
    assert introspect(client, client_id, secret, tokens["refresh_token"]) == {"active": False}
    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 401


@pytest.mark.parametrize("token", ["never-issued-" + "x" * 30, "not.a.jwt"])
def test_revoking_an_unknown_token_answers_200(client, db, token):
    client_id, secret = make_client(db)
    response = client.post("/oauth/revoke", data={"token": token}, auth=(client_id, secret))
    assert response.status_code == 200, response.data


@pytest.mark.parametrize("credentials", ["none", "client_id only", "wrong secret (basic)", "wrong secret (post)"])
def test_revocation_needs_client_authentication(client, db, credentials):
    client_id, secret, tokens = signed_in(client, db)
    data, auth = {"token": tokens["access_token"]}, None
    if credentials == "client_id only":
        data["client_id"] = client_id
    elif credentials == "wrong secret (basic)":
        auth = (client_id, secret + "x")
    elif credentials == "wrong secret (post)":
        data.update(client_id=client_id, client_secret=secret + "x")

    response = client.post("/oauth/revoke", data=data, auth=auth)

    assert response.status_code == 401, response.data
    assert response.get_json()["error"] == "invalid_client"
    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 200


def test_a_public_client_revokes_its_own_tokens_with_its_client_id(client, db):
    client_id, secret, tokens = signed_in(client, db, public=True)
    assert secret is None

    for token in (tokens["access_token"], tokens["refresh_token"]):
        response = client.post("/oauth/revoke", data={"token": token, "client_id": client_id})
        assert response.status_code == 200, response.data

    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 401
    response = client.post("/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client_id})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_client_cannot_revoke_another_clients_token(client, db, kind):
    client_id, secret, tokens = signed_in(client, db)
    other_id, other_secret = make_client(db, name="Autre service")

    response = revoke(client, other_id, other_secret, tokens[kind])

    assert response.status_code == 400, response.data
    assert introspect(client, client_id, secret, tokens[kind])["active"] is True
    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 200


def test_introspection_of_a_live_access_token(client, db, citizen):
    client_id, secret, tokens = signed_in(client, db)
    claims = jose_claims(client, tokens["access_token"], audience=client_id)

    body = introspect(client, client_id, secret, tokens["access_token"])

    assert body["active"] is True
    assert body["client_id"] == client_id and body["sub"] == citizen.sub and body["iss"] == ISSUER
    assert set(body["scope"].split()) == {"openid", "profile", "email"}
    assert body["jti"] == claims["jti"] and body["exp"] == claims["exp"] and body["iat"] == claims["iat"]
    assert body["token_type"].lower() == "bearer"


def test_introspection_of_a_live_refresh_token(client, db, citizen):
    client_id, secret, tokens = signed_in(client, db)

    body = introspect(client, client_id, secret, tokens["refresh_token"])

    assert body["active"] is True
    assert body["client_id"] == client_id and body["sub"] == citizen.sub
    assert body["exp"] > time.time()


@pytest.mark.parametrize(("kind", "hint"), [("access_token", "refresh_token"), ("refresh_token", "access_token")])
def test_introspection_searches_past_a_wrong_hint(client, db, kind, hint):
    """RFC 7662 §2.1: a hint that does not match the token only orders the search."""
    client_id, secret, tokens = signed_in(client, db)
    response = client.post("/oauth/introspect", data={"token": tokens[kind], "token_type_hint": hint},
                           auth=(client_id, secret))
    assert response.status_code == 200, response.data
    assert response.get_json()["active"] is True


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_a_client_cannot_introspect_another_clients_token(client, db, kind):
    _, _, tokens = signed_in(client, db)
    other_id, other_secret = make_client(db, name="Autre service")

    assert introspect(client, other_id, other_secret, tokens[kind]) == {"active": False}


@pytest.mark.parametrize("credentials", ["none", "public client_id", "wrong secret"])
def test_introspection_needs_client_authentication(client, db, credentials):
    client_id, secret, tokens = signed_in(client, db)
    public_id, _ = make_client(db, name="Appli mobile", public=True)
    data, auth = {"token": tokens["access_token"]}, None
    if credentials == "public client_id":
        data["client_id"] = public_id
    elif credentials == "wrong secret":
        auth = (client_id, secret + "x")

    response = client.post("/oauth/introspect", data=data, auth=auth)

    assert response.status_code == 401, response.data
    assert response.get_json()["error"] == "invalid_client"
    assert "active" not in response.get_json()


def test_the_denylist_entry_lives_no_longer_than_the_token(client, db, redis):
    client_id, secret, tokens = signed_in(client, db)
    exp = jose_claims(client, tokens["access_token"], audience=client_id)["exp"]
    assert not [key for key in redis.scan_iter() if "at-denied" in key]

    assert revoke(client, client_id, secret, tokens["access_token"]).status_code == 200

    [key] = [key for key in redis.scan_iter() if "at-denied" in key]
    remaining = exp - time.time()
    assert remaining - 5 <= redis.ttl(key) <= math.ceil(remaining)


def test_revocation_is_visible_on_every_instance(build_app, client, db):
    client_id, secret, tokens = signed_in(client, db)
    other_instance = build_app().test_client()
    assert other_instance.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 200

    assert revoke(client, client_id, secret, tokens["access_token"]).status_code == 200

    assert other_instance.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 401
    assert introspect(other_instance, client_id, secret, tokens["access_token"]) == {"active": False}
