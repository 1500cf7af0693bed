"""Mes sessions as a citizen lives it: every device signed in, named in plain words, with its
client address and last use; "Fermer" signs that device out (its services hear of it by
back-channel logout), and a handle of someone else's session closes nothing."""

from __future__ import annotations

import json
import re

import pytest

from idp.sessions import handle

from helpers import (
    LogoutEndpoint,
    deliver,
    get_code,
    jose_claims,
    login,
    logout_token,
    make_client,
    make_user,
    redeem,
    served,
    session_index,
    session_key,
    signed_in,
    submit,
)

PAGE = "/account/sessions"
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Mobile Safari/537.36")
EDGE_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0")
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.5 Mobile/15E148 Safari/604.1")


@pytest.fixture
def citizen(db):
    return make_user(db)


def device(app, user_agent: str, address: str):
    """A browser of its own: its User-Agent, and the address the provider sees it come from."""
    browser = app.test_client()
    browser.environ_base.update({"HTTP_USER_AGENT": user_agent, "REMOTE_ADDR": address})
    return browser


def handles(page: str) -> list[str]:
    return re.findall(r'name="session" value="([^"]+)"', page)


def stored(redis, user_id: int) -> dict[str, dict]:
    return {sid: json.loads(redis.get(session_key(user_id, sid))) for sid in redis.smembers(session_index(user_id))}


@pytest.mark.parametrize(("user_agent", "shown"), [
    (FIREFOX_LINUX, "Firefox sur Linux"), (CHROME_ANDROID, "Chrome sur Android"),
    (EDGE_WINDOWS, "Edge sur Windows"), (SAFARI_IPHONE, "Safari sur iPhone"), ("curl/8.5.0", "Appareil inconnu"),
])
def test_a_device_is_named_in_plain_words(app, citizen, user_agent, shown):
    browser = device(app, user_agent, "192.0.2.10")
    login(browser)
    page = browser.get(PAGE).get_data(as_text=True)
    assert f"{shown} — Cette session</h2>" in page


def test_the_page_lists_every_device_with_its_address_and_last_use(app, citizen):
    laptop = device(app, FIREFOX_LINUX, "192.0.2.10")
    phone = device(app, CHROME_ANDROID, "2001:db8::7")
    login(laptop)
    login(phone)

    page = laptop.get(PAGE).get_data(as_text=True)

    assert "<h1>Mes sessions</h1>" in page
    assert "Firefox sur Linux — Cette session</h2>" in page
    assert "Chrome sur Android</h2>" in page and "Chrome sur Android — Cette session" not in page
    assert page.index("Firefox sur Linux") < page.index("Chrome sur Android")  # this session first
    assert "Adresse\u00a0: 192.0.2.10" in page and "Adresse\u00a0: 2001:db8::7" in page
    assert page.count("Dernière utilisation\u00a0:") == 2 and "(heure de Paris)" in page
    assert len(handles(page)) == 2


def test_the_page_holds_no_cookie_and_no_storage_id(app, redis, citizen):
    laptop = device(app, FIREFOX_LINUX, "192.0.2.10")
    login(laptop)
    page = laptop.get(PAGE).get_data(as_text=True)
    cookie = laptop.get_cookie("idp_session").value
    [storage_id] = stored(redis, citizen.id)
    assert cookie not in page and storage_id not in page
    assert handles(page) == [handle(storage_id)]


def test_the_address_and_last_use_follow_the_device(app, redis, citizen):
    laptop = device(app, FIREFOX_LINUX, "192.0.2.10")
    login(laptop)
    [(storage_id, record)] = stored(redis, citizen.id).items()
    assert (record["ip"], record["device"]) == ("192.0.2.10", FIREFOX_LINUX)
    redis.set(session_key(citizen.id, storage_id), json.dumps({**record, "seen": record["seen"] - 3600}), keepttl=True)

    laptop.environ_base["REMOTE_ADDR"] = "198.51.100.4"  # the same laptop, on another network
    laptop.get("/")

    record = stored(redis, citizen.id)[storage_id]
    assert record["ip"] == "198.51.100.4"
    assert record["seen"] >= record["created"]


def test_a_huge_user_agent_is_kept_short(app, redis, citizen):
    laptop = device(app, "Firefox/128.0 " + "A" * 20000, "192.0.2.10")
    login(laptop)
    [record] = stored(redis, citizen.id).values()
    assert len(record["device"]) == 300
    assert "Firefox — Cette session</h2>" in laptop.get(PAGE).get_data(as_text=True)


def test_closing_another_device_signs_it_out_and_tells_its_services(app, db, redis, citizen):
    receiver = LogoutEndpoint()
    with served(receiver) as url:
        client_id, secret = make_client(db, name="Transports scolaires", backchannel_logout_uri=f"{url}/bc")
        laptop = device(app, FIREFOX_LINUX, "192.0.2.10")
        phone = device(app, CHROME_ANDROID, "2001:db8::7")
        login(laptop)
        tokens = redeem(phone, client_id, secret, get_code(phone, client_id)["code"]).get_json()
        phones = jose_claims(phone, tokens["id_token"], audience=client_id)
        page = laptop.get(PAGE).get_data(as_text=True)
        phone_handle = handles(page)[1]

        answer = submit(laptop, PAGE, session=phone_handle)

        assert answer.status_code == 303
        assert "La session est fermée\u00a0: cet appareil est déconnecté." in laptop.get(PAGE).get_data(as_text=True)
        assert not signed_in(phone)
        assert signed_in(laptop)
        assert redis.scard(session_index(citizen.id)) == 1
        deliver(app)
        [call] = receiver.calls
        claims = logout_token(laptop, call, client_id)
        assert (claims["sub"], claims["sid"]) == (phones["sub"], phones["sid"])


def test_closing_this_session_signs_this_browser_out(app, citizen):
    laptop = device(app, FIREFOX_LINUX, "192.0.2.10")
    login(laptop)
    [mine] = handles(laptop.get(PAGE).get_data(as_text=True))

    answer = submit(laptop, PAGE, session=mine)

    assert answer.status_code == 200
    assert "<h1>Votre session est fermée</h1>" in answer.get_data(as_text=True)
    assert not signed_in(laptop)


def test_another_citizens_session_cannot_be_closed(app, db, redis, citizen):
    marie_id = make_user(db, username="marie.curie", email="marie@example.fr").id
    marie, jean = device(app, SAFARI_IPHONE, "192.0.2.20"), device(app, FIREFOX_LINUX, "192.0.2.10")
    login(marie, "marie.curie")
    login(jean)
    [maries] = stored(redis, marie_id)

    for posted in (handle(maries), maries):  # her session's handle, or its storage id
        answer = submit(jean, PAGE + "?lang=en", session=posted)
        assert answer.status_code == 404
        assert ("This session is not one of yours, or it has already ended: nothing was closed."
                in answer.get_data(as_text=True))

    assert signed_in(marie) and signed_in(jean)


def test_the_form_needs_its_csrf_token(app, citizen):
    laptop = device(app, FIREFOX_LINUX, "192.0.2.10")
    login(laptop)
    [mine] = handles(laptop.get(PAGE).get_data(as_text=True))
    answer = laptop.post(PAGE + "?lang=en", data={"session": mine})
    assert answer.status_code == 400
    assert "This form has expired" in answer.get_data(as_text=True)
    assert signed_in(laptop)


def test_signed_out_the_page_asks_to_sign_in_and_comes_back(client):
    answer = client.get(PAGE)
    assert answer.status_code == 302
    assert answer.location.startswith("/login?next=/account/sessions")
