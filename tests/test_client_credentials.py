"""The client_credentials grant: a service gets an access token for itself, never a citizen's."""

import pytest
from jose import jwt as jose_jwt

from idp.clients import ClientSpecError, register

from helpers import jose_claims, make_client


@pytest.fixture
def service(db) -> tuple[str, str]:
    return make_client(db, name="Back-office", redirect_uris=[], grant_types=["client_credentials"], scope="idp:admin")


def ask_token(browser, client_id, secret, method="client_secret_basic", **extra):
    data = {"grant_type": "client_credentials", "scope": "idp:admin", **extra}
    if method == "client_secret_post":
        return browser.post("/oauth/token", data={**data, "client_id": client_id, "client_secret": secret})
    return browser.post("/oauth/token", data=data, auth=(client_id, secret))


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_a_service_gets_an_access_token_for_itself(client, service, method):
    client_id, secret = service

    response = ask_token(client, client_id, secret, method)

    assert response.status_code == 200, response.data
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.get_json()
    assert "refresh_token" not in tokens and "id_token" not in tokens
    assert tokens["token_type"].lower() == "bearer" and tokens["scope"] == "idp:admin"
    assert jose_jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"
    claims = jose_claims(client, tokens["access_token"], audience=client_id)
    assert claims["sub"] == client_id and claims["client_id"] == client_id
    assert claims["scope"] == "idp:admin"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_a_wrong_secret_is_refused(client, service, method):
    client_id, secret = service

    response = ask_token(client, client_id, secret + "x", method)

    assert response.status_code == 401, response.data
    assert response.get_json()["error"] == "invalid_client"
    assert "access_token" not in response.get_json()


def test_an_unknown_client_is_refused(client):
    response = ask_token(client, "nobody", "whatever")
    assert response.status_code == 401, response.data
    assert response.get_json()["error"] == "invalid_client"


def test_a_client_not_registered_for_the_grant_is_refused(client, db):
    client_id, secret = make_client(db, scope="openid idp:admin")  # authorization_code + refresh_token

    response = ask_token(client, client_id, secret)

    assert response.status_code == 400, response.data
    assert response.get_json()["error"] == "unauthorized_client"


def test_a_service_token_is_refused_at_userinfo(client, service):
    token = ask_token(client, *service).get_json()["access_token"]

    response = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code in (401, 403), response.data
    assert "error" in response.get_json()


def test_a_public_client_cannot_be_registered_for_client_credentials(db):
    with pytest.raises(ClientSpecError):
        register(db, name="Appli mobile", public=True, grant_types=["client_credentials"], scope="idp:admin")
