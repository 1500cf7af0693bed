"""RP-initiated logout (/oauth/logout) and the IdP's own logout (/logout)."""

import base64
import json
from urllib.parse import urlencode

import pytest
from jose import jwt as jose_jwt
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import RSAKey

from helpers import REDIRECT_URI, authorize_url, csrf_token, get_code, make_client, make_user, query, redeem

ISSUER = "http://localhost:5000"
BYE = "https://rp.example.fr/bye"
SIGNED_OUT = "<h1>Votre session est fermée</h1>"
UNKNOWN_RETURN = "Le service a demandé à vous renvoyer vers une adresse qu’il n’a pas enregistrée"


@pytest.fixture
def rp(db):
    """A citizen and a relying party that registered a post-logout redirect URI: (client_id, secret)."""
    make_user(db)
    return make_client(db, post_logout_redirect_uris=[BYE])


def sign_in(browser, client_id, secret, username=None) -> str:
    """Log in through the code flow; return the ID token."""
    callback = get_code(browser, client_id, username=username)
    return redeem(browser, client_id, secret, callback["code"]).get_json()["id_token"]


def logout_url(**params) -> str:
    return "/oauth/logout?" + urlencode({k: v for k, v in params.items() if v is not None})


def signed_in(browser, client_id) -> bool:
    """What the relying party learns with prompt=none: a code while the IdP session lasts."""
    response = browser.get(authorize_url(client_id, prompt="none"))
    assert response.status_code == 302 and response.location.startswith(REDIRECT_URI), response.location
    params = query(response.location)
    assert "code" in params or params["error"] == "login_required", params
    return "code" in params


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# with a valid id_token_hint


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_valid_hint_and_registered_uri_redirects_there_with_state_and_ends_the_session(client, rp, method):
    id_token = sign_in(client, *rp)
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": BYE, "state": "bye-42"}
    response = client.get(logout_url(**params)) if method == "GET" else client.post("/oauth/logout", data=params)

    assert response.status_code in (302, 303)
    assert response.location.startswith(BYE + "?")
    assert query(response.location) == {"state": "bye-42"}
    assert not signed_in(client, rp[0])
    assert client.get("/").location.startswith("/login")


def test_valid_hint_with_client_id_of_its_audience_redirects(client, rp):
    id_token = sign_in(client, *rp)
    response = client.get(logout_url(id_token_hint=id_token, client_id=rp[0], post_logout_redirect_uri=BYE))
    assert response.status_code == 302 and response.location == BYE
    assert not signed_in(client, rp[0])


@pytest.mark.parametrize("uri", ["https://evil.example/bye", REDIRECT_URI, BYE + "/", BYE + "?next=x"])
def test_unregistered_post_logout_redirect_uri_is_never_followed(client, rp, uri):
    """The OpenID Foundation's modules ask for an error or a confirmation, never the redirect."""
    id_token = sign_in(client, *rp)
    response = client.get(logout_url(id_token_hint=id_token, post_logout_redirect_uri=uri, state="s"))
    told_and_never_sent(client, rp, response)


def told_and_never_sent(client, rp, response) -> None:
    """The confirmation page, saying the return address is unknown; confirming ends the session here."""
    assert response.status_code == 200 and "Location" not in response.headers
    html = response.get_data(as_text=True)
    assert "Se déconnecter de Sésame\u00a0?" in html and UNKNOWN_RETURN in html
    assert signed_in(client, rp[0])  # nothing ends before the citizen confirms
    confirmed = client.post("/logout", data={"csrf_token": csrf_token(html)})
    assert confirmed.status_code == 200 and "Location" not in confirmed.headers  # signed out, sent nowhere
    assert SIGNED_OUT in confirmed.get_data(as_text=True)
    assert not signed_in(client, rp[0])


def test_hint_of_another_client_does_not_redirect_to_this_clients_uri(client, db, rp):
    other_id, other_secret = make_client(db, name="Autre service")
    id_token = sign_in(client, other_id, other_secret)
    response = client.get(logout_url(id_token_hint=id_token, post_logout_redirect_uri=BYE))
    told_and_never_sent(client, (other_id, other_secret), response)


def test_hint_whose_audience_is_not_the_client_id_is_refused(client, db, rp):
    other_id, _ = make_client(db, name="Autre service", post_logout_redirect_uris=[BYE])
    id_token = sign_in(client, *rp)
    response = client.get(logout_url(id_token_hint=id_token, client_id=other_id, post_logout_redirect_uri=BYE))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert signed_in(client, rp[0])


# without a usable id_token_hint: the citizen confirms


def test_without_hint_a_french_confirmation_page_whose_form_ends_the_session(client, rp):
    sign_in(client, *rp)
    page = client.get(logout_url(client_id=rp[0], post_logout_redirect_uri=BYE, state="s"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Se déconnecter de Sésame ?" in html
    assert "Votre session sera fermée sur tous les services qui utilisent Sésame." in html
    assert 'action="/logout"' in html
    assert signed_in(client, rp[0])  # showing the page ends nothing

    response = client.post("/logout", data={"csrf_token": csrf_token(html)})
    assert response.status_code == 200 and "Location" not in response.headers  # no hint: the URI is unproven
    assert SIGNED_OUT in response.get_data(as_text=True)
    assert not signed_in(client, rp[0])


def test_hint_of_another_citizen_asks_for_confirmation(client, app, db, rp):
    make_user(db, username="marie.curie", email="marie.curie@example.fr")
    other_browser = app.test_client()
    other_token = sign_in(other_browser, *rp, username="marie.curie")
    sign_in(client, *rp)

    page = client.get(logout_url(id_token_hint=other_token, post_logout_redirect_uri=BYE))
    assert page.status_code == 200
    assert "Se déconnecter de Sésame ?" in page.get_data(as_text=True)
    assert signed_in(client, rp[0])


def test_an_access_token_is_no_id_token_hint(client, rp):
    """RFC 9068 typ at+jwt keeps access tokens, which resource servers hold, from passing for ID tokens."""
    callback = get_code(client, rp[0])
    access_token = redeem(client, *rp, callback["code"]).get_json()["access_token"]
    response = client.get(logout_url(id_token_hint=access_token, post_logout_redirect_uri=BYE))
    assert response.status_code == 400 and "Location" not in response.headers
    assert "Cette demande de connexion ne peut pas aboutir" in response.get_data(as_text=True)
    assert signed_in(client, rp[0])


def test_logout_post_without_csrf_token_ends_nothing(client, rp):
    sign_in(client, *rp)
    response = client.post("/logout")
    assert response.status_code in (303, 400)
    assert signed_in(client, rp[0])


def test_logout_from_the_home_page(client, rp):
    sign_in(client, *rp)
    html = client.get("/").get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf_token(html)})
    assert response.status_code == 200
    assert SIGNED_OUT in response.get_data(as_text=True)
    assert not signed_in(client, rp[0])


# forged hints


def foreign_key_token(claims: dict, kid: str) -> str:
    key = RSAKey.generate_key(2048, parameters={"kid": kid})
    return joserfc_jwt.encode({"alg": "RS256", "kid": kid}, claims, key)


def forged_hint(kind: str, genuine: str) -> str:
    header = jose_jwt.get_unverified_header(genuine)
    claims = jose_jwt.get_unverified_claims(genuine)
    head, payload, signature = genuine.split(".")
    if kind == "garbage":
        return "garbage"
    if kind == "three dots":
        return "a.b.c"
    if kind == "tampered payload":
        return ".".join([head, b64({**claims, "sub": "someone-else"}), signature])
    if kind == "alg none":
        return ".".join([b64({"alg": "none", "typ": "JWT"}), payload, ""])
    if kind == "foreign key, our kid":
        return foreign_key_token(claims, header["kid"])
    if kind == "foreign key, unknown kid":
        return foreign_key_token(claims, "not-ours")
    if kind == "HS256":
        return jose_jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": header["kid"]})
    raise AssertionError(kind)


FORGERIES = ["garbage", "three dots", "tampered payload", "alg none", "foreign key, our kid",
             "foreign key, unknown kid", "HS256"]


@pytest.mark.parametrize("kind", FORGERIES)
def test_forged_hint_is_refused_without_redirect_and_the_session_lasts(client, rp, kind):
    id_token = sign_in(client, *rp)
    response = client.get(logout_url(id_token_hint=forged_hint(kind, id_token), post_logout_redirect_uri=BYE,
                                      state="s"))
    assert response.status_code == 400, response.data
    assert "Location" not in response.headers
    assert "<h1>" in response.get_data(as_text=True)  # a readable page, not a stack trace
    assert signed_in(client, rp[0])
