"""The machine-to-machine endpoints spared the page hooks (idp/protocol_endpoints.py): no per-address
rate limit headers, no session cookie, no language remembered; the pages keep all three, the login
form its rate limit and its CSRF check; and the discovery document, built once, follows what it
depends on."""

from __future__ import annotations

import json

from flask import Flask

from idp.protocol_endpoints import ENDPOINTS, init_app, rate_limited
from idp.ratelimit import limiter
from idp.sessions import COOKIE_NAME

from helpers import authorize_url, csrf_token, get_code, login, make_client, make_user, redeem

DISCOVERY = "/.well-known/openid-configuration"


def ratelimit_headers(response) -> list[str]:
    return [name for name, _value in response.headers if name.lower().startswith("x-ratelimit")]


def sets_cookie(response) -> bool:
    return "Set-Cookie" in response.headers


def session_keys(redis) -> list[str]:
    return redis.keys("idp:session:*")


def test_the_real_app_spares_every_protocol_endpoint(app):
    assert app.extensions["idp.protocol_endpoints"] == ENDPOINTS
    assert rate_limited(app) == set()


def test_the_token_endpoint_sets_no_rate_limit_header_and_no_cookie(client, db, redis):
    client_id, secret = make_client(db, name="Batch", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin")

    answer = client.post("/oauth/token", data={"grant_type": "client_credentials", "ui_locales": "en"},
                         auth=(client_id, secret))

    assert answer.status_code == 200, answer.data
    assert ratelimit_headers(answer) == []
    assert not sets_cookie(answer)
    assert client.get_cookie(COOKIE_NAME) is None
    assert session_keys(redis) == []  # no session, so no language remembered in one


def test_the_other_protocol_endpoints_set_no_rate_limit_header_and_no_cookie(client, db):
    make_user(db)
    client_id, secret = make_client(db)
    tokens = redeem(client, client_id, secret, get_code(client, client_id)["code"]).get_json()
    machine = client.application.test_client()  # a resource server: no cookie of the citizen's
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}

    answers = {
        "token": machine.post("/oauth/token", auth=(client_id, secret), data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "ui_locales": "en"}),
        "userinfo": machine.get("/oauth/userinfo?ui_locales=en", headers=bearer),
        "introspect": machine.post("/oauth/introspect", data={"token": tokens["access_token"], "ui_locales": "en"},
                                   auth=(client_id, secret)),
        "revoke": machine.post("/oauth/revoke", data={"token": tokens["access_token"]}, auth=(client_id, secret)),
        "jwks": machine.get("/oauth/jwks?lang=en"),
        "discovery": machine.get(DISCOVERY + "?lang=en"),
        "healthz": machine.get("/healthz"),
        "readyz": machine.get("/readyz"),
    }

    assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(answers, 200)
    assert {name: ratelimit_headers(answer) for name, answer in answers.items()} == {name: [] for name in answers}
    assert [name for name, answer in answers.items() if sets_cookie(answer)] == []


def test_the_pages_keep_their_hooks(client, redis):
    """What the token endpoint is spared, a page still has: the limiter's headers, the session, the language."""
    authorize = client.get(authorize_url("nobody"))
    assert ratelimit_headers(authorize)  # /oauth/authorize carries a limit

    page = client.get("/login?ui_locales=en")
    assert page.status_code == 200
    assert sets_cookie(page) and client.get_cookie(COOKIE_NAME) is not None
    assert len(session_keys(redis)) == 1
    assert 'lang="en"' in page.get_data(as_text=True)
    assert 'lang="en"' in client.get("/login").get_data(as_text=True)  # the choice was remembered


def test_the_login_form_keeps_its_rate_limit(build_app, db):
    make_user(db)
    browser = build_app(IDP_LOGIN_RATE_LIMIT="3/minute").test_client()
    for number in range(3):
        answer = login(browser, username=f"someone.{number}")
        assert answer.status_code == 401
        assert answer.headers["X-RateLimit-Limit"] == "3"
    refused = login(browser)
    assert refused.status_code == 429 and "Trop de tentatives" in refused.get_data(as_text=True)


def test_the_login_form_keeps_its_csrf_check(client, db):
    make_user(db)
    page = client.get("/login")
    assert csrf_token(page.data)

    refused = client.post("/login", data={"username": "jean.dupont", "password": "correct horse battery staple"})

    assert refused.status_code == 400
    assert "Ce formulaire a expiré" in refused.get_data(as_text=True)


# An endpoint given a Flask-Limiter limit keeps every hook ------------------------------------------------------

def limited_token():
    return {"ok": True}


def unlimited_jwks():
    return {"keys": []}


def test_a_protocol_endpoint_with_a_limit_keeps_its_hooks():
    small = Flask("small")
    small.config.update(RATELIMIT_STORAGE_URI="memory://", RATELIMIT_ENABLED=True)
    limiter.init_app(small)
    small.add_url_rule("/oauth/token", "oidc.token", limiter.limit("2/minute")(limited_token), methods=["POST"])
    small.add_url_rule("/oauth/jwks", "oidc.jwks", unlimited_jwks)

    assert rate_limited(small) == {"oidc.token"}
    init_app(small)

    assert small.extensions["idp.protocol_endpoints"] == ENDPOINTS - {"oidc.token"}
    browser = small.test_client()
    answers = [browser.post("/oauth/token") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[0].headers["X-RateLimit-Limit"] == "2"
    assert ratelimit_headers(browser.get("/oauth/jwks")) == []


# Discovery, built once -------------------------------------------------------------------------------------------

def test_discovery_is_the_same_document_twice(client):
    first, second = client.get(DISCOVERY), client.get(DISCOVERY)

    assert first.status_code == second.status_code == 200
    assert first.data == second.data
    assert first.mimetype == "application/json"
    assert first.headers["Cache-Control"] in ("public, max-age=300", "max-age=300, public")
    assert json.loads(first.data)["issuer"] == "http://localhost:5000"


def test_discovery_follows_the_scopes_the_signup_hook_and_the_issuer(app, client):
    before = client.get(DISCOVERY).get_json()
    server = app.extensions["idp.oauth"]
    hooks = app.extensions["idp.hooks"]
    original_scopes, original_signup = server.scopes_supported, hooks.signup_url
    assert original_signup is not None and "create" in before["prompt_values_supported"]  # the built-in sign-up

    server.scopes_supported = [*original_scopes, "urn:example:extra"]
    assert client.get(DISCOVERY).get_json()["scopes_supported"] == [*original_scopes, "urn:example:extra"]

    hooks.signup_url = None  # a deployment without sign-up
    assert "create" not in client.get(DISCOVERY).get_json()["prompt_values_supported"]
    hooks.signup_url = original_signup
    assert "create" in client.get(DISCOVERY).get_json()["prompt_values_supported"]

    app.extensions["idp"].issuer = "https://connexion.example.fr"
    moved = client.get(DISCOVERY).get_json()
    assert moved["issuer"] == "https://connexion.example.fr"
    assert moved["token_endpoint"] == "https://connexion.example.fr/oauth/token"

    server.scopes_supported = original_scopes
    app.extensions["idp"].issuer = "http://localhost:5000"
    assert client.get(DISCOVERY).get_json() == before
