"""Signing in on a shared computer (a town hall, a library, France Services): the box on the login
form makes the session end with the browser and after 30 minutes in all, whatever the configured
timeouts; the next person finds no identifier typed in; the sign-out page says to close the browser."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from idp.sessions import SHARED_COMPUTER_MAX_AGE

from conftest import free_port
from helpers import PASSWORD, authorize_url, csrf_token, login, make_client, make_user, query, redeem, served, signed_in

SHARED = {"shared_computer": "y"}
LABEL = "Ordinateur partagé\u00a0: ne pas garder ma session ouverte"
CLOSE = "Vous êtes sur un ordinateur partagé\u00a0: fermez maintenant le navigateur"


def stored_session(redis) -> tuple[str, dict]:
    [key] = redis.keys("idp:session:*")
    return key, json.loads(redis.get(key))


def signed_in_since(redis, seconds: int) -> None:
    """Age the browser's session as if it had signed in ``seconds`` ago (its idle time untouched)."""
    key, data = stored_session(redis)
    redis.set(key, json.dumps({**data, "created": int(time.time()) - seconds}), keepttl=True)


def sign_out(browser):
    return browser.post("/logout", data={"csrf_token": csrf_token(browser.get("/").data)})


@pytest.fixture
def long_sessions(build_app, db):
    """A deployment whose citizens stay signed in for hours: the box must still cap the session."""
    app = build_app(IDP_SESSION_IDLE_TIMEOUT=4 * 3600, IDP_SESSION_MAX_AGE=10 * 3600)
    make_user(db)
    return app


def test_the_login_form_offers_the_box_labelled_in_french(client):
    page = client.get("/login").get_data(as_text=True)

    [box] = re.findall(r'<input[^>]*name="shared_computer"[^>]*>', page)
    assert 'type="checkbox"' in box and 'id="shared_computer"' in box and "checked" not in box
    assert re.search(rf'<label for="shared_computer"[^>]*>{LABEL}</label>', page)


def test_ticked_the_session_ends_30_minutes_after_login_even_in_use(long_sessions, redis):
    browser = long_sessions.test_client()
    assert login(browser, **SHARED).status_code == 303
    assert 0 < redis.ttl(stored_session(redis)[0]) <= SHARED_COMPUTER_MAX_AGE == 1800

    signed_in_since(redis, SHARED_COMPUTER_MAX_AGE - 60)
    assert signed_in(browser)  # used a minute ago: still there
    signed_in_since(redis, SHARED_COMPUTER_MAX_AGE + 1)

    assert not signed_in(browser)


def test_not_ticked_the_session_keeps_the_configured_timeouts(long_sessions, redis):
    browser = long_sessions.test_client()
    assert login(browser).status_code == 303
    assert redis.ttl(stored_session(redis)[0]) > SHARED_COMPUTER_MAX_AGE

    signed_in_since(redis, SHARED_COMPUTER_MAX_AGE + 1)

    assert signed_in(browser)


def test_ticked_the_cookie_ends_with_the_browser(client, db):
    make_user(db)

    answer = login(client, **SHARED)

    [cookie] = [c for c in answer.headers.getlist("Set-Cookie") if c.startswith("idp_session=")]
    assert "max-age" not in cookie.lower() and "expires" not in cookie.lower()


def test_a_new_password_keeps_the_shared_computer_cap(long_sessions, redis):
    browser = long_sessions.test_client()
    assert login(browser, **SHARED).status_code == 303
    page = browser.get("/account/password")
    new = "velours clairière horloge pivoine"
    changed = browser.post("/account/password", data={
        "csrf_token": csrf_token(page.data), "current_password": PASSWORD, "new_password": new,
        "new_password_confirm": new})
    assert changed.status_code == 303, changed.data
    assert signed_in(browser)  # under a new session...

    signed_in_since(redis, SHARED_COMPUTER_MAX_AGE + 1)

    assert not signed_in(browser)  # ...which is still the shared computer's


def test_ticked_the_sign_out_page_says_to_close_the_browser(client, db):
    make_user(db)
    assert login(client, **SHARED).status_code == 303

    page = sign_out(client).get_data(as_text=True)

    assert "<h1>Votre session est fermée" in page and CLOSE in page


def test_ticked_a_service_signing_the_citizen_out_also_says_to_close_the_browser(client, db):
    make_user(db)
    client_id, secret = make_client(db)
    rid = query(client.get(authorize_url(client_id)).location)["rid"]
    back = client.get(login(client, rid=rid, **SHARED).location)
    id_token = redeem(client, client_id, secret, query(back.location)["code"]).get_json()["id_token"]

    page = client.get(f"/oauth/logout?id_token_hint={id_token}").get_data(as_text=True)

    assert "<h1>Votre session est fermée" in page and CLOSE in page


def test_not_ticked_the_sign_out_page_does_not_speak_of_sharing(client, db):
    make_user(db)
    assert login(client).status_code == 303

    page = sign_out(client).get_data(as_text=True)

    assert "<h1>Votre session est fermée" in page and CLOSE not in page


def test_the_next_person_finds_no_identifier_typed_in(client, db):
    make_user(db)
    assert login(client, **SHARED).status_code == 303
    sign_out(client)

    page = client.get("/login").get_data(as_text=True)

    [identifier] = re.findall(r'<input[^>]*name="username"[^>]*>', page)
    assert re.search(r'value="([^"]*)"', identifier).group(1) == "" and "jean.dupont" not in page


def test_in_a_browser_the_box_is_labelled_and_reached_with_the_keyboard(browser, build_app, db):
    make_user(db)
    port = free_port()
    with served(build_app(IDP_ISSUER=f"http://127.0.0.1:{port}"), port) as idp:
        browser.goto(f"{idp}/login")
        box = browser.get_by_label(LABEL)
        browser.focus("#password")
        browser.keyboard.press("Tab")

        expect(box).to_be_focused()
        browser.keyboard.press("Space")
        assert box.is_checked()
        browser.fill("#username", "jean.dupont")
        browser.fill("#password", PASSWORD)
        browser.click("button[type=submit]")
        browser.click("text=Se déconnecter")

        assert CLOSE in browser.locator("main").inner_text()
