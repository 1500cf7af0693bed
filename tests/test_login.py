"""The login page as a citizen sees it: messages, identifiers, throttling, and the session it opens."""

from __future__ import annotations

import json
import time

import argon2
import pytest

from helpers import PASSWORD, csrf_token, login, make_user, signed_in

WRONG = "Identifiant ou mot de passe incorrect."
DISABLED = "Ce compte est désactivé. Contactez l’assistance."
COOKIE = "idp_session"


def cookie(browser) -> str:
    return browser.get_cookie(COOKIE).value


def session_keys(redis) -> list[str]:
    return redis.keys("idp:session:*")


def test_unknown_account_and_wrong_password_get_the_same_message(client, db):
    make_user(db)
    unknown = login(client, username="nobody.here")
    wrong = login(client, password="not the password at all")
    assert unknown.status_code == wrong.status_code == 401
    for page in (unknown, wrong):
        assert page.get_data(as_text=True).count(WRONG) == 1
    assert not signed_in(client)


@pytest.mark.parametrize("username", ["jean.dupont@example.fr", "JEAN.Dupont@Example.FR", "Jean.DUPONT",
                                      " jean.dupont "])
def test_login_with_email_or_identifier_in_any_case(client, db, username):
    make_user(db)
    response = login(client, username=username)
    assert response.status_code == 303
    assert signed_in(client)


def test_login_without_pending_request_lands_on_home_with_first_name(client, db):
    make_user(db, given_name="Amélie")
    response = login(client)
    assert response.status_code == 303 and response.location == "/"
    home = client.get("/").get_data(as_text=True)
    assert "Bonjour Amélie" in home


def test_a_disabled_account_is_said_so_only_to_whoever_types_its_password(client, db):
    """A wrong password gets the answer an unknown account gets; only the right one learns it is disabled
    (that tells nothing to someone guessing, and tells the owner whom to ask)."""
    user = make_user(db)
    user.status = "disabled"
    db.commit()
    wrong = login(client, password="not the password at all")
    unknown = login(client, username="nobody.here", password="not the password at all")
    right = login(client)

    assert wrong.status_code == unknown.status_code == 401
    for page in (wrong, unknown):
        assert page.get_data(as_text=True).count(WRONG) == 1 and DISABLED not in page.get_data(as_text=True)
    assert right.status_code == 403 and DISABLED in right.get_data(as_text=True)
    assert WRONG not in right.get_data(as_text=True) and 'name="password"' in right.get_data(as_text=True)
    assert client.get("/").location == "/login"  # not signed in: home sends to the login form


def test_post_without_csrf_token_shows_expired_form_page_and_does_not_sign_in(client, db):
    make_user(db)
    client.get("/login")
    response = client.post("/login", data={"username": "jean.dupont", "password": PASSWORD})
    assert response.status_code == 400 and response.mimetype == "text/html"
    assert "Ce formulaire a expiré" in response.get_data(as_text=True)
    assert not signed_in(client)


def test_client_address_is_throttled_on_the_fourth_post(build_app, db):
    make_user(db)
    browser = build_app(IDP_LOGIN_RATE_LIMIT="3/minute").test_client()
    for number in range(3):
        assert login(browser, username=f"someone.{number}").status_code == 401
    response = login(browser)
    assert response.status_code == 429 and response.mimetype == "text/html"
    assert "Trop de tentatives" in response.get_data(as_text=True)
    assert not signed_in(browser)


def test_session_cookie_changes_at_login_and_the_old_one_is_worthless(client, db, app):
    make_user(db)
    client.get("/login")
    before = cookie(client)
    assert login(client).status_code == 303
    after = cookie(client)
    assert after != before
    attacker = app.test_client()
    attacker.set_cookie(COOKIE, before)
    assert not signed_in(attacker)
    assert signed_in(client)


def test_session_is_stored_under_a_hash_of_the_cookie(client, db, redis):
    make_user(db)
    login(client)
    value = cookie(client)
    assert session_keys(redis)
    assert not [key for key in redis.keys("*") if value in key]
    assert not [key for key in session_keys(redis) if value in redis.get(key)]


def test_idle_timeout_is_the_ttl_of_the_session(build_app, db, redis):
    make_user(db)
    browser = build_app(IDP_SESSION_IDLE_TIMEOUT=60).test_client()
    login(browser)
    assert signed_in(browser)
    (key,) = session_keys(redis)
    assert 0 < redis.ttl(key) <= 60


def test_absolute_timeout_signs_the_citizen_out(build_app, db, redis):
    make_user(db)
    browser = build_app(IDP_SESSION_IDLE_TIMEOUT=60, IDP_SESSION_MAX_AGE=60).test_client()
    login(browser)
    assert signed_in(browser)
    (key,) = session_keys(redis)
    data = json.loads(redis.get(key))
    data["created"] = int(time.time()) - 61
    redis.set(key, json.dumps(data), keepttl=True)
    assert not signed_in(browser)


def test_logout_from_home_page_ends_the_session(client, db, redis):
    make_user(db)
    login(client)
    (key,) = session_keys(redis)
    home = client.get("/")
    response = client.post("/logout", data={"csrf_token": csrf_token(home.data)})
    assert response.status_code == 200
    assert "Votre session est fermée" in response.get_data(as_text=True)
    assert not redis.exists(key)
    assert client.get_cookie(COOKIE) is None  # the browser forgets the cookie too
    assert not signed_in(client)


def test_weak_password_hash_is_upgraded_at_login(client, db):
    user = make_user(db)
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    user.password_hash = weak
    db.commit()
    assert login(client).status_code == 303
    db.refresh(user)
    assert user.password_hash != weak
    assert "m=19456,t=2" in user.password_hash
    assert argon2.PasswordHasher().verify(user.password_hash, PASSWORD)
