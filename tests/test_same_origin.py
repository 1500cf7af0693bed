"""Forms posted over https (issue 19's conformance run found it: behind TLS every form answered
"Ce formulaire a expiré"): Flask-WTF's https check wants a Referer, which our pages ask browsers not
to send.  The Origin header does that job instead (idp/same_origin.py)."""

from __future__ import annotations

import pytest

from helpers import PASSWORD, csrf_token, make_user

ISSUER = "https://sesame.example.fr"


@pytest.fixture
def secure(build_app, db):
    make_user(db)
    return build_app(IDP_ISSUER=ISSUER).test_client()


def post_login(browser, **headers):
    page = browser.get("/login", base_url=ISSUER)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    return browser.post("/login", base_url=ISSUER, headers=headers,
                        data={"csrf_token": csrf_token(page.data), "username": "jean.dupont", "password": PASSWORD})


def test_a_form_posted_over_https_from_our_page_works_without_a_referer(secure):
    signed = post_login(secure, Origin=ISSUER)
    assert signed.status_code == 303 and signed.location == "/"


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},
    {"Referer": "https://evil.example/form"},
    {},  # neither: a browser always sends Origin with a POST
    {"Origin": "null"},
])
def test_a_form_posted_over_https_from_elsewhere_is_refused_as_expired(secure, headers):
    refused = post_login(secure, **headers)
    assert refused.status_code == 400
    assert "<h1>Ce formulaire a expiré</h1>" in refused.get_data(as_text=True)


def test_a_referer_of_ours_is_enough_when_origin_is_missing(secure):
    assert post_login(secure, Referer=f"{ISSUER}/login").status_code == 303


def test_protocol_requests_without_a_csrf_token_are_not_concerned(secure):
    answer = secure.post("/oauth/token", base_url=ISSUER, data={"grant_type": "client_credentials"},
                         auth=("nobody", "nothing"))
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"
