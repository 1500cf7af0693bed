"""The authorization code flow end to end, as a relying party and a citizen see it."""

import time

from jose import jwt as jose_jwt

from helpers import REDIRECT_URI, get_code, jose_claims, make_client, make_user, pkce_pair, query, redeem

ISSUER = "http://localhost:5000"


def test_login_then_code_then_tokens_verified_by_an_independent_library(client, db):
    user = make_user(db, birthdate=None)
    client_id, secret = make_client(db)
    before = int(time.time())

    callback = get_code(client, client_id, nonce="n-0S6_WzA2Mj", state="xyz")

    assert callback["state"] == "xyz"
    assert callback["iss"] == ISSUER  # RFC 9207
    response = redeem(client, client_id, secret, callback["code"])
    assert response.status_code == 200, response.data
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.get_json()
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["expires_in"] == 600
    assert tokens["refresh_token"]

    id_token = jose_claims(client, tokens["id_token"], audience=client_id, access_token=tokens["access_token"])
    assert id_token["iss"] == ISSUER
    assert id_token["sub"] == user.sub
    assert id_token["nonce"] == "n-0S6_WzA2Mj"
    assert id_token["amr"] == ["pwd"]
    assert before <= id_token["auth_time"] <= id_token["iat"]
    assert id_token["exp"] > time.time()
    assert id_token["at_hash"]
    assert id_token["given_name"] == "Jean" and id_token["email"] == "jean.dupont@example.fr"
    assert jose_jwt.get_unverified_header(tokens["id_token"])["alg"] == "RS256"

    access = jose_claims(client, tokens["access_token"], audience=client_id)
    assert jose_jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"
    assert access["client_id"] == client_id and access["sub"] == user.sub and access["jti"]
    assert access["exp"] - access["iat"] == 600

    info = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200
    assert info.get_json() == {
        "sub": user.sub, "name": "Jean Dupont", "given_name": "Jean", "family_name": "Dupont",
        "preferred_username": "jean.dupont", "zoneinfo": "Europe/Paris", "locale": "fr",  # the language last used
        "updated_at": info.get_json()["updated_at"], "email": "jean.dupont@example.fr", "email_verified": True,
    }


def test_nonce_is_optional_and_absent_from_the_id_token_when_not_sent(client, db):
    make_user(db)
    client_id, secret = make_client(db)
    callback = get_code(client, client_id)
    tokens = redeem(client, client_id, secret, callback["code"]).get_json()
    assert "nonce" not in jose_claims(client, tokens["id_token"], audience=client_id)


def test_es256_client_gets_es256_id_tokens(client, db):
    make_user(db)
    client_id, secret = make_client(db, id_token_alg="ES256")
    tokens = redeem(client, client_id, secret, get_code(client, client_id)["code"]).get_json()
    assert jose_jwt.get_unverified_header(tokens["id_token"])["alg"] == "ES256"
    claims = jose_claims(client, tokens["id_token"], audience=client_id, access_token=tokens["access_token"])
    assert claims["aud"] == client_id


def test_auth_time_is_the_login_time_not_the_code_time(client, db, app):
    make_user(db)
    client_id, secret = make_client(db)
    first = redeem(client, client_id, secret, get_code(client, client_id)["code"]).get_json()
    login_time = jose_claims(client, first["id_token"], audience=client_id)["auth_time"]
    time.sleep(1.1)
    second = redeem(client, client_id, secret, get_code(client, client_id)["code"]).get_json()  # SSO, no login
    claims = jose_claims(client, second["id_token"], audience=client_id)
    assert claims["auth_time"] == login_time
    assert claims["iat"] > login_time


def test_userinfo_releases_claims_by_scope(client, db):
    import datetime as dt

    user = make_user(db, birthdate=dt.date(1980, 2, 29))
    user.phone_number, user.street_address, user.postal_code, user.locality = (
        "+33612345678", "1 place du Capitole", "31000", "Toulouse")
    db.commit()
    client_id, secret = make_client(db)

    def userinfo(scope):
        tokens = redeem(client, client_id, secret, get_code(client, client_id, scope=scope)["code"]).get_json()
        return client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()

    assert userinfo("openid") == {"sub": user.sub}
    assert set(userinfo("openid email")) == {"sub", "email", "email_verified"}
    assert userinfo("openid address")["address"] == {
        "street_address": "1 place du Capitole", "postal_code": "31000", "locality": "Toulouse", "country": "FR"}
    assert userinfo("openid phone")["phone_number"] == "+33612345678"
    assert userinfo("openid profile")["birthdate"] == "1980-02-29"


def test_scope_is_limited_to_what_the_client_may_ask(client, db):
    make_user(db)
    client_id, secret = make_client(db, scope="openid email")
    tokens = redeem(client, client_id, secret, get_code(client, client_id, scope="openid email phone")["code"])
    assert tokens.get_json()["scope"] == "openid email"


def test_login_post_redirects_with_303_and_the_session_cookie_is_hardened(client, db):
    make_user(db)
    client_id, _ = make_client(db)
    start = client.get(f"/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri={REDIRECT_URI}"
                       "&scope=openid")
    assert start.status_code == 302 and "/login?rid=" in start.location
    from helpers import login

    response = login(client, rid=query(start.location)["rid"])
    assert response.status_code == 303
    assert response.location.startswith("/oauth/authorize?")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # http issuer


def test_public_client_with_pkce_gets_tokens_without_a_secret(client, db):
    make_user(db)
    client_id, secret = make_client(db, public=True)
    assert secret is None
    verifier, challenge = pkce_pair()
    callback = get_code(client, client_id, code_challenge=challenge, code_challenge_method="S256")
    response = redeem(client, client_id, None, callback["code"], code_verifier=verifier)
    assert response.status_code == 200, response.data
    assert jose_claims(client, response.get_json()["id_token"], audience=client_id)


def test_client_secret_post_is_accepted(client, db):
    make_user(db)
    client_id, secret = make_client(db)
    callback = get_code(client, client_id)
    response = client.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI,
        "client_id": client_id, "client_secret": secret})
    assert response.status_code == 200, response.data


def test_unknown_client_or_redirect_uri_shows_an_error_page_and_never_redirects(client, db):
    client_id, _ = make_client(db)
    for url in (
        "/oauth/authorize?response_type=code&client_id=nobody&redirect_uri=https://evil.example/cb&scope=openid",
        f"/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri=https://evil.example/cb"
        "&scope=openid",
        f"/oauth/authorize?response_type=code&client_id={client_id}&redirect_uri={REDIRECT_URI}/extra"
        "&scope=openid",
        f"/oauth/authorize?response_type=code&client_id={client_id}&scope=openid",
    ):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "Location" not in response.headers
        assert "Cette demande de connexion ne peut pas aboutir" in response.get_data(as_text=True)


def test_the_name_claim_joins_the_given_and_family_names_in_the_profile_scope(client, db):
    """mod_auth_openidc and many relying parties show ``name``; it comes with the profile scope only."""
    make_user(db, given_name="Jean-Pierre", family_name="Le Gall")
    client_id, secret = make_client(db)

    def claims(scope):
        tokens = redeem(client, client_id, secret, get_code(client, client_id, scope=scope)["code"]).get_json()
        info = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        return jose_claims(client, tokens["id_token"], audience=client_id), info.get_json()

    for released in claims("openid profile"):
        assert released["name"] == "Jean-Pierre Le Gall"
    for released in claims("openid email"):
        assert "name" not in released
    assert "name" in client.get("/.well-known/openid-configuration").get_json()["claims_supported"]
