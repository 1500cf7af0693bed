"""Passkeys in the rest of the citizen's journeys (issue 18, items 2, 4, 5 and 6): the name guessed
from the authenticator, the offer after a sign-up's or a reset's first sign-in, the reset mail that
lists them, the export, a disputed change of address, the account's deletion, and ``acr_values``
asking for two factors.  The ceremonies are answered by tests/soft_authenticator.py."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from soft_authenticator import SoftAuthenticator
from sqlalchemy import select
from test_passkeys import ORIGIN, RP_ID, add_passkey, post_json, sign_in_with

from idp.models import Passkey, User

from helpers import (
    PASSWORD,
    authorize_url,
    csrf_token,
    deliver,
    jose_claims,
    link_in,
    login,
    make_client,
    make_user,
    passkey_offer_skipped,
    query,
    redeem,
)

NEW_PASSWORD = "a quiet walk by the canal at noon"
GOOGLE = uuid.UUID("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4").bytes
TWO_FACTORS, ONE_FACTOR = "urn:sesame:acr:2fa", "urn:sesame:acr:1fa"


@pytest.fixture
def smtp_app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url), smtp


@pytest.fixture
def citizen(db):
    return make_user(db, given_name="Jean", family_name="Dupont")


def text(response) -> str:
    return response.get_data(as_text=True)


def signed_in_browser(app, username="jean.dupont", password=PASSWORD):
    browser = app.test_client()
    assert login(browser, username, password).status_code == 303
    return browser


def names(db) -> list[str]:
    db.expire_all()
    return [row.name for row in db.scalars(select(Passkey).order_by(Passkey.id))]


def test_a_known_authenticator_names_the_passkey_and_an_unknown_one_gets_the_date(app, db, citizen):
    browser = signed_in_browser(app)
    assert add_passkey(browser, SoftAuthenticator(ORIGIN, RP_ID, aaguid=GOOGLE)).status_code == 200
    assert add_passkey(browser, SoftAuthenticator(ORIGIN, RP_ID)).status_code == 200
    google, unknown = names(db)
    assert google == "Google Password Manager"
    assert re.fullmatch(r"Clé d’accès du \d\d/\d\d/20\d\d", unknown), unknown


def reset_then_sign_in(app, smtp, browser=None, rid=None):
    """Forgot the password, chose a new one from the mailed link, signed in with it: the sign-in's answer."""
    browser = browser or app.test_client()
    page = browser.get("/recovery/password")
    browser.post("/recovery/password", data={"csrf_token": csrf_token(page.data), "login": "jean.dupont"})
    deliver(app)
    reset_mail = smtp.wait_for(1)[-1]
    link = link_in(smtp.text(reset_mail), "/recovery/reset/")
    page = browser.get(link)
    chosen = browser.post(link, data={"csrf_token": csrf_token(page.data), "new_password": NEW_PASSWORD,
                                      "new_password_confirm": NEW_PASSWORD})
    assert chosen.status_code == 303, text(chosen)
    return browser, login(browser, password=NEW_PASSWORD, rid=rid), reset_mail


def test_after_a_reset_the_first_sign_in_offers_a_passkey_in_one_click(smtp_app, db, citizen):
    app, smtp = smtp_app
    client_id, _secret = make_client(db)
    browser = app.test_client()
    rid = query(browser.get(authorize_url(client_id)).location)["rid"]
    browser, signed, _mail = reset_then_sign_in(app, smtp, browser, rid)
    assert signed.location == "/account/passkeys/offer"
    page = browser.get(signed.location)
    assert "<h1>La prochaine fois, rien à retenir</h1>" in text(page)
    assert 'name="current_password"' not in text(page)  # the password was typed a moment ago

    authenticator = SoftAuthenticator(ORIGIN, RP_ID)
    options = post_json(browser, "/account/passkeys/options", {}, page="/account/passkeys/offer")
    assert options.status_code == 200, options.get_json()
    added = post_json(browser, "/account/passkeys/verify", authenticator.create(options.get_json()), page="/account")
    assert added.status_code == 200 and query(added.get_json()["next"])["resume"] == rid  # on to the service
    assert len(names(db)) == 1

    # The offer is used: a second passkey needs the password again, as for any session.
    again = post_json(browser, "/account/passkeys/options", {}, page="/account")
    assert again.status_code == 403 and again.get_json()["error"] == "password"
    # And the next sign-in, anywhere, offers nothing more.
    assert login(app.test_client(), password=NEW_PASSWORD).location == "/"


def test_the_offer_is_for_the_sign_in_just_made_and_skipping_it_goes_on(smtp_app, db, citizen, monkeypatch):
    app, smtp = smtp_app
    browser, signed, _mail = reset_then_sign_in(app, smtp)
    assert passkey_offer_skipped(browser, signed) == "/"
    assert browser.get("/").status_code == 200

    later = time.time() + 301  # five minutes on, the offer no longer adds without the password
    monkeypatch.setattr(time, "time", lambda: later)
    refused = post_json(browser, "/account/passkeys/options", {}, page="/account")
    assert refused.status_code == 403 and refused.get_json()["error"] == "password"
    assert names(db) == []


def test_a_session_without_the_offer_cannot_skip_the_password(app, db, citizen):
    browser = signed_in_browser(app)  # an ordinary sign-in: no sign-up or reset just before
    assert browser.get("/account/passkeys/offer").location == "/"
    refused = post_json(browser, "/account/passkeys/options", {}, page="/account")
    assert refused.status_code == 403 and refused.get_json()["error"] == "password"


def test_a_reset_keeps_the_passkeys_and_its_mail_lists_them(smtp_app, db, citizen):
    app, smtp = smtp_app
    assert add_passkey(signed_in_browser(app), SoftAuthenticator(ORIGIN, RP_ID, aaguid=GOOGLE)).status_code == 200
    deliver(app)
    smtp.wait_for(1)  # the notice of the passkey added
    _browser, signed, reset_mail = reset_then_sign_in(app, smtp)
    body = smtp.text(reset_mail)
    assert "Vos clés d’accès restent valables" in body and "- Google Password Manager" in body
    assert "http://localhost:5000/account/passkeys" in body and "/account/passkeys" in smtp.html(reset_mail)
    assert names(db) == ["Google Password Manager"]  # kept
    assert signed.location == "/"  # the account has a passkey already: nothing to offer


def test_the_export_lists_passkeys_without_key_material(app, db, citizen):
    browser = signed_in_browser(app)
    assert add_passkey(browser, SoftAuthenticator(ORIGIN, RP_ID, aaguid=GOOGLE)).status_code == 200
    exported = json.loads(browser.get("/account/export").data)
    [item] = exported["passkeys"]
    assert set(item) == {"name", "added_at", "last_used_at", "synced"}
    assert item["name"] == "Google Password Manager" and item["last_used_at"] is None
    row = db.scalars(select(Passkey)).one()
    assert row.public_key not in json.dumps(exported) and row.credential_id not in json.dumps(exported)


def test_a_disputed_change_of_address_removes_the_passkeys_added_since(smtp_app, db, citizen):
    app, smtp = smtp_app
    before = SoftAuthenticator(ORIGIN, RP_ID, aaguid=GOOGLE)
    assert add_passkey(signed_in_browser(app), before).status_code == 200
    time.sleep(1.1)  # the change comes a second later, as in life
    admin = app.test_client()
    client_id, secret = make_client(db, name="Assistance", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin")
    token = admin.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "idp:admin"},
                       auth=(client_id, secret)).get_json()["access_token"]
    changed = admin.patch(f"/admin/api/users/{citizen.id}", json={"email": "voleur@example.net"},
                          headers={"Authorization": f"Bearer {token}"})
    assert changed.status_code == 200, changed.data
    thief = SoftAuthenticator(ORIGIN, RP_ID)
    assert add_passkey(signed_in_browser(app, "voleur@example.net"), thief).status_code == 200
    assert len(names(db)) == 2
    deliver(app)
    notice = [mail for mail in smtp.wait_for(3) if "/account/email/cancel/" in smtp.text(mail)][-1]
    link = link_in(smtp.text(notice), "/account/email/cancel/")

    owner = app.test_client()
    undone = owner.post(link, data={"csrf_token": csrf_token(owner.get(link).data)})

    assert undone.status_code == 200 and "Votre compte est sécurisé" in text(undone)
    assert names(db) == ["Google Password Manager"]  # the thief's passkey is gone, the owner's stays
    refused, _ = sign_in_with(app.test_client(), thief)
    assert refused.get_json()["error"] == "unknown"


def test_deleting_the_account_deletes_its_passkeys(app, db, citizen):
    browser = signed_in_browser(app)
    assert add_passkey(browser, SoftAuthenticator(ORIGIN, RP_ID)).status_code == 200
    page = browser.get("/account/delete")
    deleted = browser.post("/account/delete", data={"csrf_token": csrf_token(page.data),
                                                    "current_password": PASSWORD, "confirm": "y"})
    assert deleted.status_code == 200, text(deleted)
    db.expire_all()
    assert db.scalar(select(User).where(User.username == "jean.dupont")) is None
    assert names(db) == []


def id_token_claims(app, db, browser, client_id, secret, location):
    """The ID token's claims, from ``location``: the authorization request resumed after a sign-in,
    or already the service's callback."""
    if location.startswith("/oauth/authorize"):
        location = browser.get(location).location
    assert "code=" in location, location
    issued = redeem(browser, client_id, secret, query(location)["code"]).get_json()
    return jose_claims(browser, issued["id_token"], audience=client_id)


def test_acr_values_asking_two_factors_is_met_by_a_passkey(app, db, citizen):
    client_id, secret = make_client(db)
    authenticator = SoftAuthenticator(ORIGIN, RP_ID)
    browser = signed_in_browser(app)  # signed in with the password alone
    assert add_passkey(browser, authenticator).status_code == 200

    asked = browser.get(authorize_url(client_id, acr_values=TWO_FACTORS))
    assert asked.status_code == 302 and asked.location.startswith("/login?rid=")  # one factor is not enough
    rid = query(asked.location)["rid"]
    page = text(browser.get(asked.location))
    assert "Ce service demande une connexion renforcée" in page and 'name="password"' in page

    done, _ = sign_in_with(browser, authenticator, rid=rid)
    claims = id_token_claims(app, db, browser, client_id, secret, done.get_json()["redirect"])
    assert claims["acr"] == TWO_FACTORS and claims["amr"] == ["hwk", "user"]

    # Already two factors: the same request goes straight through.
    again = browser.get(authorize_url(client_id, acr_values=TWO_FACTORS))
    assert again.status_code == 302 and "code=" in again.location


def test_acr_values_two_factors_without_a_second_factor_gives_one_factor_after_a_fresh_sign_in(app, db, citizen):
    client_id, secret = make_client(db)
    browser = app.test_client()
    rid = query(browser.get(authorize_url(client_id, acr_values=f"{TWO_FACTORS} {ONE_FACTOR}")).location)["rid"]
    signed = login(browser, rid=rid)  # the account has no code and no passkey: the password is all it has
    claims = id_token_claims(app, db, browser, client_id, secret, signed.location)
    assert claims["acr"] == ONE_FACTOR and claims["amr"] == ["pwd"]
    plain = browser.get(authorize_url(client_id))  # no acr_values: no acr claim
    assert "acr" not in id_token_claims(app, db, browser, client_id, secret, plain.location)


def test_discovery_lists_the_acr_values(client):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["acr_values_supported"] == [ONE_FACTOR, TWO_FACTORS] and "acr" in document["claims_supported"]


def test_passkey_answers_and_passwords_share_one_budget_per_address(build_app, db, citizen):
    app = build_app(IDP_LOGIN_RATE_LIMIT="3/minute")
    authenticator = SoftAuthenticator(ORIGIN, RP_ID)
    assert add_passkey(signed_in_browser(app), authenticator).status_code == 200  # one sign-in of three
    browser = app.test_client()
    assert login(browser, password="not the password").status_code == 401
    done, _ = sign_in_with(browser, authenticator)
    assert done.status_code == 200  # the third attempt
    refused, _ = sign_in_with(app.test_client(), authenticator)
    assert refused.status_code == 429 and refused.get_json()["error"] == "too_many_attempts"
    assert refused.get_json()["message"].startswith("Trop de tentatives")
    page = login(app.test_client())
    assert page.status_code == 429 and "Trop de tentatives" in text(page)
