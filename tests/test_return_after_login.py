"""Back to where the citizen was going: a signed-in page opened while signed out sends to the login
form, which returns there afterwards; only a path on this site is followed (no open redirect)."""

from __future__ import annotations

import html
import re

import pytest

from helpers import PASSWORD, authorize_url, csrf_token, make_client, make_user, query

# What an attacker puts in a link to the login page, hoping to send the citizen to their site after
# the login (a look-alike page asking the password again).
OFF_SITE = [
    "//evil.example",
    "///evil.example",
    "https://evil.example/account",
    "http:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "javascript:alert(document.cookie)",
    "evil.example/account",
    "",
]
# Browsers drop tabs and line breaks from URLs ("/\t/evil" becomes "//evil"): refused by the check,
# and NUL by every form before any view reads it (400, the login form again).
CONTROL = [("/\t/evil.example", 303), ("/\n/evil.example", 303), ("/\r/evil.example", 303),
           ("/account\x85", 303), ("/\x00/account", 400)]


def hidden(page: str, name: str) -> str | None:
    value = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page)
    return html.unescape(value.group(1)) if value and value.group(1) else None  # "" when the form holds none


def next_field(page: str) -> str | None:
    return hidden(page, "next")


def sign_in_from(browser, login_url: str):
    """Open the login page at ``login_url`` and sign in with what its form holds; the POST's answer."""
    page = browser.get(login_url).get_data(as_text=True)
    return browser.post("/login", data={"csrf_token": csrf_token(page), "username": "jean.dupont",
                                        "password": PASSWORD, "next": next_field(page) or "",
                                        "rid": hidden(page, "rid") or ""})


@pytest.mark.parametrize("path", ["/account", "/account/password"])
def test_a_signed_in_page_opened_signed_out_comes_back_after_login(client, db, path):
    make_user(db)

    to_login = client.get(path)
    assert to_login.status_code == 302 and to_login.location == f"/login?next={path}"
    assert next_field(client.get(to_login.location).get_data(as_text=True)) == path
    signed_in = sign_in_from(client, to_login.location)

    assert signed_in.status_code == 303 and signed_in.location == path
    assert client.get(path).status_code == 200


@pytest.mark.parametrize("target", OFF_SITE)
def test_an_off_site_next_is_not_followed(client, db, target):
    make_user(db)
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert next_field(page) is None  # not carried into the form...

    forged = client.post("/login", data={"csrf_token": csrf_token(page), "username": "jean.dupont",
                                         "password": PASSWORD, "next": target})

    assert forged.status_code == 303 and forged.location == "/"  # ...nor followed when posted: the home page


@pytest.mark.parametrize("target, status", CONTROL)
def test_a_next_with_control_characters_is_not_followed(client, db, target, status):
    make_user(db)
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert "<form" in page and next_field(page) is None

    forged = client.post("/login", data={"csrf_token": csrf_token(page), "username": "jean.dupont",
                                         "password": PASSWORD, "next": target})

    assert forged.status_code == status
    if status == 303:
        assert forged.location == "/"
    else:
        assert 'name="password"' in forged.get_data(as_text=True) and forged.location is None


def test_a_waiting_authorization_request_comes_before_next(client, db):
    """A service's request is where the citizen was going: the request resumes, next is dropped."""
    make_user(db)
    client_id, _ = make_client(db)
    rid = query(client.get(authorize_url(client_id)).location)["rid"]

    signed_in = sign_in_from(client, f"/login?rid={rid}&next=/account")

    assert signed_in.status_code == 303 and signed_in.location.startswith("/oauth/authorize?")
