"""PKCE (RFC 7636): S256 only, required for public clients, checked whenever a challenge was sent."""

import pytest

from helpers import REDIRECT_URI, authorize_url, get_code, make_client, make_user, pkce_pair, query, redeem

ISSUER = "http://localhost:5000"


@pytest.fixture
def public(db):
    make_user(db)
    return make_client(db, public=True)


@pytest.fixture
def confidential(db):
    make_user(db)
    return make_client(db)


def assert_refused_at_authorize(response, state):
    assert response.status_code == 302 and response.location.startswith(REDIRECT_URI + "?"), response.location
    params = query(response.location)
    assert params["error"] == "invalid_request"
    assert params["state"] == state and params["iss"] == ISSUER
    assert "code" not in params


def assert_no_tokens(response, error):
    assert response.status_code == 400, response.data
    body = response.get_json()
    assert body["error"] == error
    assert "access_token" not in body and "id_token" not in body


_, CHALLENGE = pkce_pair()
BAD_CHALLENGES = [
    {"code_challenge": CHALLENGE, "code_challenge_method": "plain"},
    {"code_challenge": CHALLENGE, "code_challenge_method": "s256"},
    {"code_challenge": CHALLENGE, "code_challenge_method": "S512"},
    {"code_challenge": CHALLENGE},  # no method: RFC 7636 would mean plain
    {"code_challenge_method": "S256"},
    {"code_challenge": "too-short", "code_challenge_method": "S256"},
    {"code_challenge": CHALLENGE[:-1] + "/", "code_challenge_method": "S256"},
]


@pytest.mark.parametrize("params", BAD_CHALLENGES)
@pytest.mark.parametrize("kind", ["public", "confidential"])
def test_bad_challenges_are_refused_before_login(client, request, kind, params):
    client_id, _ = request.getfixturevalue(kind)
    response = client.get(authorize_url(client_id, state="st-pkce", **params))
    assert_refused_at_authorize(response, "st-pkce")


def test_bad_challenge_is_refused_for_a_signed_in_citizen_too(client, public):
    _, challenge = pkce_pair()
    get_code(client, public[0], code_challenge=challenge, code_challenge_method="S256")
    response = client.get(authorize_url(public[0], state="st-in", code_challenge=challenge,
                                        code_challenge_method="plain"))
    assert_refused_at_authorize(response, "st-in")


def test_public_client_without_challenge_is_refused(client, public):
    assert_refused_at_authorize(client.get(authorize_url(public[0], state="st-pub")), "st-pub")


@pytest.mark.parametrize("wrong", ["another", "x" * 43, "the challenge itself"])
@pytest.mark.parametrize("kind", ["public", "confidential"])
def test_wrong_verifier_is_invalid_grant(client, request, kind, wrong):
    client_id, secret = request.getfixturevalue(kind)
    _, challenge = pkce_pair()
    verifier = {"another": pkce_pair()[0], "the challenge itself": challenge}.get(wrong, wrong)
    callback = get_code(client, client_id, code_challenge=challenge, code_challenge_method="S256")
    assert_no_tokens(redeem(client, client_id, secret, callback["code"], code_verifier=verifier), "invalid_grant")


@pytest.mark.parametrize("verifier", ["short", "x" * 129, "a b" * 20])
def test_malformed_verifier_gets_no_tokens(client, public, verifier):
    _, challenge = pkce_pair()
    callback = get_code(client, public[0], code_challenge=challenge, code_challenge_method="S256")
    response = redeem(client, public[0], None, callback["code"], code_verifier=verifier)
    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_request", "invalid_grant")
    assert "access_token" not in response.get_json()


def test_the_verifier_cannot_be_retried_on_the_same_code(client, public):
    verifier, challenge = pkce_pair()
    callback = get_code(client, public[0], code_challenge=challenge, code_challenge_method="S256")
    redeem(client, public[0], None, callback["code"], code_verifier=pkce_pair()[0])
    assert_no_tokens(redeem(client, public[0], None, callback["code"], code_verifier=verifier), "invalid_grant")


@pytest.mark.parametrize("kind", ["public", "confidential"])
def test_challenge_sent_but_no_verifier_gets_no_tokens(client, request, kind):
    client_id, secret = request.getfixturevalue(kind)
    _, challenge = pkce_pair()
    callback = get_code(client, client_id, code_challenge=challenge, code_challenge_method="S256")
    response = redeem(client, client_id, secret, callback["code"])
    assert response.status_code == 400
    assert response.get_json()["error"] in ("invalid_request", "invalid_grant")
    assert "access_token" not in response.get_json()


def test_confidential_client_without_pkce_gets_tokens(client, confidential):
    client_id, secret = confidential
    response = redeem(client, client_id, secret, get_code(client, client_id)["code"])
    assert response.status_code == 200, response.data
    assert response.get_json()["id_token"]


def test_confidential_client_with_the_right_verifier_gets_tokens(client, confidential):
    client_id, secret = confidential
    verifier, challenge = pkce_pair()
    callback = get_code(client, client_id, code_challenge=challenge, code_challenge_method="S256")
    response = redeem(client, client_id, secret, callback["code"], code_verifier=verifier)
    assert response.status_code == 200, response.data


def test_verifier_without_a_challenge_is_refused(client, confidential):
    """RFC 9700 §2.1.1: a code_verifier for a code issued without challenge is a downgrade attempt."""
    client_id, secret = confidential
    callback = get_code(client, client_id)
    response = redeem(client, client_id, secret, callback["code"], code_verifier=pkce_pair()[0])
    assert response.status_code == 400
    assert "access_token" not in response.get_json()


def test_discovery_advertises_s256_only(client):
    assert client.get("/.well-known/openid-configuration").get_json()["code_challenge_methods_supported"] == ["S256"]
