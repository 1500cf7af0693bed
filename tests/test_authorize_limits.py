"""Nobody fills Redis without signing in: what an authorization request may leave in a session,
the cap on request bodies, and the throttle on /oauth/authorize."""

import json
from urllib.parse import urlparse

import pytest

from idp import resources
from idp.oidc.pending import MAX_PENDING, PARAMETERS

from helpers import REDIRECT_URI, authorize_url, csrf_token, make_client, make_user, query

ISSUER = "http://localhost:5000"


@pytest.fixture
def rp(db):
    make_user(db)
    return make_client(db)[0]


def stored_sessions(redis) -> list[str]:
    """The raw session records in Redis, as the server keeps them."""
    return [redis.get(key) for key in redis.scan_iter("idp:session:*")]


def authorize_form(client_id: str, **extra) -> dict:
    return {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
            "scope": "openid profile", "state": "st-limits", **extra}


def to_login_page(response) -> str:
    assert response.status_code in (302, 303), response.data
    assert urlparse(response.location).path == "/login", response.location
    return query(response.location)["rid"]


def test_an_unknown_parameter_is_not_kept_in_the_session(client, redis, rp):
    junk = "j" * 40_000  # under the body cap: only the filter keeps it out
    rid = to_login_page(client.post("/oauth/authorize", data=authorize_form(rp, junk=junk, nonce="n-1")))

    [stored] = stored_sessions(redis)
    assert len(stored) < 2_000
    params = json.loads(stored)["pending"][rid]["params"]
    assert params == authorize_form(rp, nonce="n-1")


def test_the_resumed_request_carries_only_known_parameters(client, rp):
    rid = to_login_page(client.get(authorize_url(rp, junk="x", _external="1", endpoint="e")))
    page = client.get(f"/login?rid={rid}")
    assert page.status_code == 200
    login = client.post("/login", data={"csrf_token": csrf_token(page.data), "username": "jean.dupont",
                                        "password": "correct horse battery staple", "rid": rid})
    resumed = query(login.location)
    assert urlparse(login.location).path == "/oauth/authorize"
    assert set(resumed) == {"response_type", "client_id", "redirect_uri", "scope", "state", "resume"}


@pytest.mark.parametrize("name", ["state", "nonce", "login_hint", "ui_locales"])
def test_a_parameter_longer_than_its_cap_is_an_invalid_request_and_nothing_is_stored(client, redis, rp, name):
    response = client.get(authorize_url(rp, **{name: "x" * (PARAMETERS[name] + 1)}))

    assert response.status_code == 302 and response.location.startswith(REDIRECT_URI + "?"), response.location
    callback = query(response.location)
    assert callback["error"] == "invalid_request" and name in callback["error_description"]
    assert callback["iss"] == ISSUER
    assert stored_sessions(redis) == []


def test_a_parameter_at_its_cap_is_accepted(client, rp):
    to_login_page(client.get(authorize_url(rp, state="s" * PARAMETERS["state"], nonce="n" * PARAMETERS["nonce"])))


def test_one_browser_holds_at_most_a_few_pending_requests_of_bounded_size(client, db, redis, rp):
    longest = {name: "v" * cap for name, cap in PARAMETERS.items()
               if name not in {"response_type", "client_id", "redirect_uri", "max_age", "code_challenge_method",
                               "response_mode", "prompt", "scope", "code_challenge", "claims", "resource"}}
    longest["claims"] = '{"userinfo": {}}'.ljust(PARAMETERS["claims"])  # JSON, as it must be, of the longest length
    longest["resource"] = "https://api.example.fr/".ljust(PARAMETERS["resource"], "v")  # registered, the longest
    resources.add(db, identifier=longest["resource"], scope="api:read")
    for _ in range(3 * MAX_PENDING):
        to_login_page(client.post("/oauth/authorize", data=authorize_form(rp, **longest, junk="j" * 20_000)))

    [stored] = stored_sessions(redis)
    assert len(json.loads(stored)["pending"]) == MAX_PENDING
    assert len(stored) < MAX_PENDING * sum(PARAMETERS.values()) + 2_000


def test_a_body_over_the_cap_answers_a_readable_413_in_french_and_stores_nothing(client, redis, rp):
    response = client.post("/oauth/authorize", data=authorize_form(rp, junk="j" * 4_000_000))

    assert response.status_code == 413
    html = response.get_data(as_text=True)
    assert "<h1>Ce que vous avez envoyé est trop volumineux</h1>" in html
    assert "Aucun formulaire de ce site n’accepte autant de texte." in html
    assert stored_sessions(redis) == []


def test_a_body_over_the_cap_on_a_json_endpoint_answers_a_json_error(client):
    response = client.post("/oauth/token", data={"grant_type": "authorization_code", "code": "c" * 100_000})

    assert response.status_code == 413
    assert response.get_json()["error"] == "invalid_request"


def test_the_largest_form_a_citizen_can_fill_fits_under_the_cap(client):
    """The help form, every field at its longest, in characters that encode the longest."""
    page = client.get("/recovery/help")
    form = {"csrf_token": csrf_token(page.data), "given_name": "é" * 100, "family_name": "ê" * 100,
            "birthdate": "1984-07-14", "username": "u" * 64, "new_email": "jeanne.martin@orange.fr",
            "message": "€" * 2000}
    response = client.post("/recovery/help", data=form)

    assert response.status_code == 200, response.status_code
    assert "<h1>Votre demande est enregistrée</h1>" in response.get_data(as_text=True)  # no help desk configured


def test_authorize_is_throttled_per_client_address(build_app, db, redis):
    make_user(db)
    client_id = make_client(db)[0]
    browser = build_app(IDP_AUTHORIZE_RATE_LIMIT="3/minute").test_client()
    for _ in range(3):
        to_login_page(browser.get(authorize_url(client_id)))

    refused = browser.get(authorize_url(client_id))
    assert refused.status_code == 429
    assert "<h1>Trop de tentatives</h1>" in refused.get_data(as_text=True)
    elsewhere = browser.get(authorize_url(client_id), environ_base={"REMOTE_ADDR": "192.0.2.7"})
    to_login_page(elsewhere)
