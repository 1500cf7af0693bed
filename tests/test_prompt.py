"""Authorization request parameters: prompt, max_age, login_hint, ui_locales, and what is refused."""

import re
import time
from urllib.parse import urlparse

import pytest

from helpers import (
    REDIRECT_URI,
    authorize_url,
    csrf_token,
    get_code,
    jose_claims,
    login,
    make_client,
    make_user,
    query,
    redeem,
)

ISSUER = "http://localhost:5000"


@pytest.fixture
def rp(db):
    """A citizen and a confidential relying party: (client_id, secret)."""
    make_user(db)
    return make_client(db)


def auth_time_of(browser, client_id, secret, callback) -> int:
    tokens = redeem(browser, client_id, secret, callback["code"]).get_json()
    return jose_claims(browser, tokens["id_token"], audience=client_id)["auth_time"]


def login_page_rid(response) -> str:
    assert response.status_code == 302, response.data
    assert urlparse(response.location).path == "/login", response.location
    return query(response.location)["rid"]


def log_in_and_continue(browser, rid):
    """Sign in on the login page of a pending request; return the answer of the resumed authorization."""
    response = login(browser, rid=rid)
    assert response.status_code == 303, response.data
    return browser.get(response.location)


def error_callback(response, error, state) -> dict:
    """The error redirect back to the relying party (RFC 6749 §4.1.2.1, RFC 9207)."""
    assert response.status_code in (302, 303), response.data
    assert response.location.startswith(REDIRECT_URI + "?"), response.location
    params = query(response.location)
    assert params["error"] == error
    assert params["state"] == state
    assert params["iss"] == ISSUER
    assert "code" not in params
    return params


def consent_rid(html: str) -> str:
    return re.search(r'name="rid" type="hidden" value="([^"]+)"', html).group(1)


# prompt=none


def test_prompt_none_without_session_is_login_required(client, rp):
    response = client.get(authorize_url(rp[0], prompt="none", state="st-none"))
    error_callback(response, "login_required", "st-none")


def test_prompt_none_with_session_issues_a_code_without_login_page(client, rp):
    client_id, secret = rp
    get_code(client, client_id)
    response = client.get(authorize_url(client_id, prompt="none", state="st-sso"))
    assert response.status_code == 302 and response.location.startswith(REDIRECT_URI + "?"), response.location
    callback = query(response.location)
    assert callback["state"] == "st-sso" and callback["iss"] == ISSUER
    assert redeem(client, client_id, secret, callback["code"]).status_code == 200


@pytest.mark.parametrize("signed_in", [False, True])
def test_prompt_none_with_another_value_is_invalid_request(client, rp, signed_in):
    if signed_in:
        get_code(client, rp[0])
    response = client.get(authorize_url(rp[0], prompt="none login", state="st-mix"))
    error_callback(response, "invalid_request", "st-mix")


# prompt=login and max_age


def test_prompt_login_shows_the_login_page_again_and_auth_time_is_the_new_login(client, rp):
    client_id, secret = rp
    first = auth_time_of(client, client_id, secret, get_code(client, client_id))
    time.sleep(1.1)

    rid = login_page_rid(client.get(authorize_url(client_id, prompt="login", state="st-again")))
    page = client.get(f"/login?rid={rid}")
    assert page.status_code == 200 and "Se connecter" in page.get_data(as_text=True)
    before_second_login = int(time.time())
    response = log_in_and_continue(client, rid)

    assert response.status_code == 302 and response.location.startswith(REDIRECT_URI + "?"), response.location
    callback = query(response.location)
    assert callback["state"] == "st-again"
    second = auth_time_of(client, client_id, secret, callback)
    assert second > first
    assert second >= before_second_login


def resume(browser, client_id, rid, **params):
    """Come back to a pending request, as the login page would send the citizen, without logging in."""
    return browser.get(authorize_url(client_id, **params) + f"&resume={rid}")


def test_a_login_in_the_same_second_but_before_the_request_does_not_satisfy_prompt_login(client, rp):
    client_id, _secret = rp
    get_code(client, client_id)  # signed in a moment ago: no sleep, most likely the same second
    rid = login_page_rid(client.get(authorize_url(client_id, prompt="login", state="st-same")))

    again = resume(client, client_id, rid, prompt="login", state="st-same")

    assert login_page_rid(again)  # the login page, not a code
    assert "code=" not in again.location


def test_a_login_made_after_the_request_satisfies_prompt_login_at_once(client, rp):
    client_id, secret = rp
    first = auth_time_of(client, client_id, secret, get_code(client, client_id))
    rid = login_page_rid(client.get(authorize_url(client_id, prompt="login", state="st-now")))

    response = log_in_and_continue(client, rid)

    assert response.status_code == 302 and response.location.startswith(REDIRECT_URI + "?"), response.location
    assert query(response.location)["state"] == "st-now"
    assert auth_time_of(client, client_id, secret, query(response.location)) >= first


def test_max_age_older_than_the_session_forces_login(client, rp):
    client_id, secret = rp
    first = auth_time_of(client, client_id, secret, get_code(client, client_id))
    time.sleep(1.1)

    rid = login_page_rid(client.get(authorize_url(client_id, max_age="1")))
    response = log_in_and_continue(client, rid)

    assert response.status_code == 302 and response.location.startswith(REDIRECT_URI + "?"), response.location
    assert auth_time_of(client, client_id, secret, query(response.location)) > first


def test_fresh_session_within_a_large_max_age_needs_no_login(client, rp):
    client_id, secret = rp
    first = auth_time_of(client, client_id, secret, get_code(client, client_id))
    response = client.get(authorize_url(client_id, max_age="3600"))
    assert response.status_code == 302 and response.location.startswith(REDIRECT_URI + "?"), response.location
    assert auth_time_of(client, client_id, secret, query(response.location)) == first


def test_max_age_with_prompt_none_and_a_stale_session_is_login_required(client, rp):
    get_code(client, rp[0])
    time.sleep(1.1)
    response = client.get(authorize_url(rp[0], max_age="1", prompt="none", state="st-stale"))
    error_callback(response, "login_required", "st-stale")


@pytest.mark.parametrize("max_age", ["abc", "-1", "1.5", "1e3", "²"])
def test_max_age_that_is_not_a_number_of_seconds_is_invalid_request(client, rp, max_age):
    response = client.get(authorize_url(rp[0], max_age=max_age, state="st-age"))
    error_callback(response, "invalid_request", "st-age")


# prompt=consent


def test_prompt_consent_shows_in_french_what_the_service_will_receive(client, rp):
    get_code(client, rp[0])
    page = client.get(authorize_url(rp[0], prompt="consent", scope="openid profile email"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Service régional demande vos informations" in html
    assert "Si vous continuez, ce service recevra" in html
    assert "Votre connexion, sous un identifiant propre à ce service" in html
    assert "Vos nom, prénom et date de naissance" in html
    assert "Votre adresse électronique" in html
    assert "Votre numéro de téléphone" not in html and "Votre adresse postale" not in html
    assert "Autoriser" in html and "Refuser" in html


def test_consent_allowed_after_login_gives_a_code(client, rp):
    client_id, secret = rp
    rid = login_page_rid(client.get(authorize_url(client_id, prompt="consent", state="st-yes")))
    page = log_in_and_continue(client, rid)
    assert page.status_code == 200 and "demande vos informations" in page.get_data(as_text=True)

    html = page.get_data(as_text=True)
    response = client.post("/oauth/consent", data={"csrf_token": csrf_token(html), "rid": consent_rid(html),
                                                   "allow": "1"})
    assert response.status_code == 303
    response = client.get(response.location)

    assert response.status_code == 302 and response.location.startswith(REDIRECT_URI + "?"), response.location
    callback = query(response.location)
    assert callback["state"] == "st-yes" and callback["iss"] == ISSUER
    assert redeem(client, client_id, secret, callback["code"]).status_code == 200


def test_consent_denied_sends_access_denied_back_to_the_service(client, rp):
    get_code(client, rp[0])
    html = client.get(authorize_url(rp[0], prompt="consent", state="st-no")).get_data(as_text=True)
    response = client.post("/oauth/consent", data={"csrf_token": csrf_token(html), "rid": consent_rid(html),
                                                   "deny": "1"})
    error_callback(response, "access_denied", "st-no")


def test_consent_without_csrf_token_is_refused_with_a_readable_page(client, rp):
    get_code(client, rp[0])
    html = client.get(authorize_url(rp[0], prompt="consent")).get_data(as_text=True)
    response = client.post("/oauth/consent", data={"rid": consent_rid(html), "allow": "1"})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Ce formulaire a expiré" in response.get_data(as_text=True)


# login_hint, ui_locales, other parameters


def test_login_hint_prefills_the_identifier(client, rp):
    rid = login_page_rid(client.get(authorize_url(rp[0], login_hint="jean.dupont")))
    html = client.get(f"/login?rid={rid}").get_data(as_text=True)
    field = re.search(r'<input[^>]*name="username"[^>]*>', html).group(0)
    assert 'value="jean.dupont"' in field


def test_login_hint_is_escaped_on_the_login_page(client, rp):
    rid = login_page_rid(client.get(authorize_url(rp[0], login_hint='"><script>alert(1)</script>')))
    html = client.get(f"/login?rid={rid}").get_data(as_text=True)
    assert "<script>alert(1)" not in html


@pytest.mark.parametrize(("ui_locales", "title", "other"), [
    (None, "Se connecter", "Sign in"),
    ("en", "Sign in", "Se connecter"),
    ("en-GB fr", "Sign in", "Se connecter"),
    ("de fr", "Se connecter", "Sign in"),
])
def test_ui_locales_chooses_the_language_of_the_login_page(client, rp, ui_locales, title, other):
    rid = login_page_rid(client.get(authorize_url(rp[0], ui_locales=ui_locales)))
    html = client.get(f"/login?rid={rid}").get_data(as_text=True)
    assert f"<h1>{title}</h1>" in html
    assert other not in html


@pytest.mark.parametrize("extra", [
    {"display": "page"}, {"display": "touch"}, {"claims_locales": "fr-FR en"}, {"acr_values": "eidas1"},
    {"nonce": "n-1", "unknown_parameter": "ignored"},
])
def test_optional_and_unknown_parameters_are_accepted(client, rp, extra):
    client_id, secret = rp
    callback = get_code(client, client_id, **extra)
    assert "error" not in callback
    assert redeem(client, client_id, secret, callback["code"]).status_code == 200


# what Sésame refuses


@pytest.mark.parametrize("response_type", ["token", "id_token", "id_token token", "code token", "code id_token"])
@pytest.mark.parametrize("signed_in", [False, True])
def test_implicit_and_hybrid_response_types_are_unsupported(client, rp, response_type, signed_in):
    if signed_in:
        get_code(client, rp[0])
    response = client.get(authorize_url(rp[0], response_type=response_type, nonce="n-2", state="st-imp"))
    error_callback(response, "unsupported_response_type", "st-imp")
    assert "#" not in response.location
    assert "access_token" not in response.location and "id_token=" not in response.location


@pytest.mark.parametrize("grant_type", ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code"])
def test_unsupported_grant_types_at_the_token_endpoint(client, rp, grant_type):
    response = client.post("/oauth/token", auth=rp, data={
        "grant_type": grant_type, "username": "jean.dupont", "password": "correct horse battery staple"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "unsupported_grant_type"
    assert "access_token" not in response.get_json()
