"""Refresh tokens: issued by grant type, rotated on every use, bound to their client, revoked as a family."""

import datetime as dt
import hashlib
import time

from idp.models import RefreshToken

from helpers import get_code, jose_claims, make_client, make_user, redeem


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def signed_in(client, db, **client_fields) -> tuple[str, str, dict]:
    """A citizen signs in through a confidential client; return its id, secret and first tokens."""
    make_user(db)
    client_id, secret = make_client(db, **client_fields)
    response = redeem(client, client_id, secret, get_code(client, client_id)["code"])
    assert response.status_code == 200, response.data
    return client_id, secret, response.get_json()


def refresh(browser, client_id, secret, refresh_token, **extra):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return browser.post("/oauth/token", data=data, auth=(client_id, secret))


def assert_invalid_grant(response):
    assert response.status_code == 400, response.data
    assert response.get_json()["error"] == "invalid_grant"


def test_refresh_token_is_issued_to_a_client_registered_for_the_grant(client, db):
    _, _, tokens = signed_in(client, db)
    assert tokens["refresh_token"]


def test_no_refresh_token_without_the_refresh_token_grant(client, db):
    _, _, tokens = signed_in(client, db, grant_types=["authorization_code"])
    assert "refresh_token" not in tokens
    assert tokens["access_token"] and tokens["id_token"]


def test_every_use_rotates_the_refresh_token(client, db):
    client_id, secret, first = signed_in(client, db)

    response = refresh(client, client_id, secret, first["refresh_token"])

    assert response.status_code == 200, response.data
    assert response.headers["Cache-Control"] == "no-store"
    second = response.get_json()
    assert second["refresh_token"] and second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert client.get("/oauth/userinfo", headers=bearer(second["access_token"])).status_code == 200
    assert_invalid_grant(refresh(client, client_id, secret, first["refresh_token"]))


def test_reusing_a_rotated_token_revokes_the_whole_family(client, db):
    client_id, secret, first = signed_in(client, db)
    second = refresh(client, client_id, secret, first["refresh_token"]).get_json()
    third = refresh(client, client_id, secret, second["refresh_token"]).get_json()
    assert client.get("/oauth/userinfo", headers=bearer(third["access_token"])).status_code == 200

    assert_invalid_grant(refresh(client, client_id, secret, first["refresh_token"]))  # stolen copy replayed

    assert_invalid_grant(refresh(client, client_id, secret, third["refresh_token"]))
    for tokens in (first, second, third):
        assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 401


def test_refresh_token_is_bound_to_its_client_and_not_burned_by_another(client, db):
    client_id, secret, tokens = signed_in(client, db)
    other_id, other_secret = make_client(db, name="Autre service")

    assert_invalid_grant(refresh(client, other_id, other_secret, tokens["refresh_token"]))

    response = refresh(client, client_id, secret, tokens["refresh_token"])
    assert response.status_code == 200, response.data


def test_refreshed_openid_grant_returns_a_new_id_token_with_the_original_auth_time(client, db):
    client_id, secret, first = signed_in(client, db)
    original = jose_claims(client, first["id_token"], audience=client_id)
    time.sleep(1.1)

    tokens = refresh(client, client_id, secret, first["refresh_token"]).get_json()

    claims = jose_claims(client, tokens["id_token"], audience=client_id, access_token=tokens["access_token"])
    assert claims["auth_time"] == original["auth_time"]
    assert claims["sub"] == original["sub"] and claims["aud"] == client_id and claims["iss"] == original["iss"]
    assert claims["iat"] > original["iat"]
    assert claims["email"] == "jean.dupont@example.fr"


def test_a_narrower_scope_can_be_asked(client, db):
    client_id, secret, first = signed_in(client, db)

    response = refresh(client, client_id, secret, first["refresh_token"], scope="openid email")

    assert response.status_code == 200, response.data
    tokens = response.get_json()
    assert tokens["scope"] == "openid email"
    info = client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).get_json()
    assert set(info) == {"sub", "email", "email_verified"}


def test_after_a_narrower_refresh_the_original_scope_can_still_be_asked(client, db):
    """RFC 6749 §6: the new refresh token's scope MUST be identical to the one presented."""
    client_id, secret, first = signed_in(client, db)
    narrow = refresh(client, client_id, secret, first["refresh_token"], scope="openid email").get_json()

    response = refresh(client, client_id, secret, narrow["refresh_token"], scope="openid profile email")

    assert response.status_code == 200, response.data
    assert set(response.get_json()["scope"].split()) == {"openid", "profile", "email"}


def test_a_wider_scope_is_refused(client, db):
    client_id, secret, first = signed_in(client, db)  # the client may ask `phone`, the citizen did not grant it

    response = refresh(client, client_id, secret, first["refresh_token"], scope="openid profile email phone")

    assert response.status_code == 400, response.data
    assert response.get_json()["error"] == "invalid_scope"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_refused_wider_scope_does_not_burn_the_refresh_token(client, db):
    client_id, secret, first = signed_in(client, db)
    assert refresh(client, client_id, secret, first["refresh_token"], scope="openid phone").status_code == 400

    response = refresh(client, client_id, secret, first["refresh_token"])

    assert response.status_code == 200, response.data
    assert client.get("/oauth/userinfo", headers=bearer(first["access_token"])).status_code == 200


def test_refresh_token_of_a_disabled_user_fails(client, db):
    client_id, secret, tokens = signed_in(client, db)
    user = db.query(RefreshToken).one().user
    user.status = "disabled"
    db.commit()

    assert_invalid_grant(refresh(client, client_id, secret, tokens["refresh_token"]))


def test_expired_refresh_token_fails(client, db):
    client_id, secret, tokens = signed_in(client, db)
    token_hash = hashlib.sha256(tokens["refresh_token"].encode()).hexdigest()
    row = db.query(RefreshToken).filter_by(token_hash=token_hash).one()
    row.expires_at = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    db.commit()

    assert_invalid_grant(refresh(client, client_id, secret, tokens["refresh_token"]))


def test_refresh_token_needs_the_client_secret(client, db):
    client_id, _, tokens = signed_in(client, db)

    response = refresh(client, client_id, "not-the-secret", tokens["refresh_token"])

    assert response.status_code == 401
    assert response.get_json()["error"] == "invalid_client"
