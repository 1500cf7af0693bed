"""Passkeys (issue 18, idp/passkeys.py), their two ceremonies through the JSON steps, answered by a
software authenticator (tests/soft_authenticator.py): adding one needs the password, signing in with
one needs nothing else and counts as two factors, and every ceremony refuses a replay, a removed
passkey, a counter that goes back and another origin."""

from __future__ import annotations

import re

import pytest
from soft_authenticator import SoftAuthenticator
from sqlalchemy import select

from idp.models import AuditEvent, Passkey, SecondFactor

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
    query,
    redeem,
    signed_in,
)

ORIGIN, RP_ID = "http://localhost:5000", "localhost"


def post_json(browser, path: str, body: dict, page: str = "/login"):
    """A page's script posting JSON, with the page's CSRF token in the header Flask-WTF reads."""
    token = csrf_token(browser.get(page).data)
    return browser.post(path, json=body, headers={"X-CSRFToken": token})


def add_passkey(browser, authenticator: SoftAuthenticator, password: str = PASSWORD):
    options = post_json(browser, "/account/passkeys/options", {"current_password": password}, page="/account")
    if options.status_code != 200:
        return options
    return post_json(browser, "/account/passkeys/verify", authenticator.create(options.get_json()), page="/account")


@pytest.fixture
def smtp_app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url), smtp


@pytest.fixture
def citizen(db):
    return make_user(db, given_name="Jean", family_name="Dupont")


@pytest.fixture
def enrolled(app, citizen):
    """A passkey added by the citizen, signed in with the password; its authenticator."""
    browser = app.test_client()
    assert login(browser, "jean.dupont").status_code == 303
    authenticator = SoftAuthenticator(ORIGIN, RP_ID)
    added = add_passkey(browser, authenticator)
    assert added.status_code == 200, added.get_json()
    return authenticator


def sign_in_with(browser, authenticator: SoftAuthenticator, rid: str | None = None, **answer_options):
    options = post_json(browser, "/login/passkey/options", {})
    assert options.status_code == 200, options.data
    assert options.get_json()["publicKey"]["userVerification"] == "required"
    answer = authenticator.get(options.get_json(), **answer_options)
    return post_json(browser, "/login/passkey/verify", {"credential": answer, "rid": rid}), answer


def audited(db, action: str) -> list[AuditEvent]:
    db.rollback()
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_adding_a_passkey_needs_the_password_and_makes_a_discoverable_verified_credential(app, db, citizen):
    browser = app.test_client()
    login(browser, "jean.dupont")
    authenticator = SoftAuthenticator(ORIGIN, RP_ID)

    refused = add_passkey(browser, authenticator, password="not the password")
    assert refused.status_code == 403 and refused.get_json()["error"] == "password"
    assert db.scalars(select(Passkey)).all() == []  # a stolen session adds nothing

    options = post_json(browser, "/account/passkeys/options", {"current_password": PASSWORD}, page="/account")
    public_key = options.get_json()["publicKey"]
    assert public_key["rp"] == {"id": "localhost", "name": "Sésame"}
    assert public_key["authenticatorSelection"]["residentKey"] == "required"
    assert public_key["authenticatorSelection"]["userVerification"] == "required"
    assert public_key.get("attestation", "none") == "none"
    assert "jean" not in public_key["user"]["id"].lower()  # the handle says nothing of the citizen
    added = post_json(browser, "/account/passkeys/verify", authenticator.create(options.get_json()), page="/account")
    assert added.status_code == 200, added.get_json()
    [row] = db.scalars(select(Passkey)).all()
    assert row.user_id == citizen.id and row.name.startswith("Clé d’accès du ")

    again = post_json(browser, "/account/passkeys/options", {"current_password": PASSWORD}, page="/account")
    excluded = again.get_json()["publicKey"]["excludeCredentials"]
    assert [item["id"] for item in excluded] == [row.credential_id]  # the same authenticator is not added twice


def test_a_passkey_alone_signs_in_at_a_service_as_two_factors(app, db, citizen, enrolled):
    db.add(SecondFactor(user_id=citizen.id, totp_secret="JBSWY3DPEHPK3PXP", last_step=None))
    db.commit()  # a second factor on the account: the passkey skips it
    client_id, secret = make_client(db)
    browser = app.test_client()
    rid = query(browser.get(authorize_url(client_id)).location)["rid"]

    done, _ = sign_in_with(browser, enrolled, rid=rid)

    assert done.status_code == 200, done.get_json()
    back = browser.get(done.get_json()["redirect"])
    assert back.status_code == 302 and "code=" in back.location
    issued = redeem(browser, client_id, secret, query(back.location)["code"]).get_json()
    claims = jose_claims(browser, issued["id_token"], audience=client_id)
    assert claims["amr"] == ["hwk", "user"] and "pwd" not in claims["amr"]


def test_a_synced_passkey_is_a_software_key(app, db, citizen):
    browser = app.test_client()
    login(browser, "jean.dupont")
    synced = SoftAuthenticator(ORIGIN, RP_ID, synced=True)
    assert add_passkey(browser, synced).status_code == 200
    done, _ = sign_in_with(app.test_client(), synced)
    assert done.status_code == 200
    [success] = [e for e in audited(db, "login.success") if e.details.get("amr") != ["pwd"]]
    assert success.details["amr"] == ["swk", "user"]


def test_a_replayed_answer_finds_no_challenge(app, enrolled):
    browser = app.test_client()
    done, answer = sign_in_with(browser, enrolled)
    assert done.status_code == 200
    replayed = post_json(browser, "/login/passkey/verify", {"credential": answer})
    assert replayed.status_code == 400 and replayed.get_json()["error"] == "expired"
    elsewhere = app.test_client()  # nor in another browser, whose session holds no ceremony
    assert post_json(elsewhere, "/login/passkey/verify", {"credential": answer}).get_json()["error"] == "expired"


def test_a_counter_that_goes_back_refuses_the_sign_in_and_is_audited(app, db, enrolled):
    assert sign_in_with(app.test_client(), enrolled, counter=5)[0].status_code == 200
    cloned, _ = sign_in_with(app.test_client(), enrolled, counter=3)
    assert cloned.status_code == 400 and cloned.get_json()["error"] == "cloned"
    assert len(audited(db, "passkey.counter_went_back")) == 1


def test_a_removed_passkey_or_a_closed_account_is_told_in_one_sentence(app, db, citizen, enrolled):
    db.execute(Passkey.__table__.delete())
    db.commit()
    browser = app.test_client()
    refused, _ = sign_in_with(browser, enrolled)
    assert refused.status_code == 400 and refused.get_json()["error"] == "unknown"
    assert "clé d’accès" in refused.get_json()["message"] and not signed_in(browser)


@pytest.mark.parametrize(("change", "kind"), [
    ({"origin": "https://sesame.example.org"}, "refused"),  # a phishing site's origin
    ({"verified": False}, "refused"),  # no fingerprint, face or PIN
])
def test_another_origin_or_no_user_verification_is_refused(app, enrolled, change, kind):
    browser = app.test_client()
    refused, _ = sign_in_with(browser, enrolled, **change)
    assert refused.status_code == 400 and refused.get_json()["error"] == kind
    assert not signed_in(browser)


def test_the_ceremonies_need_the_page_s_csrf_token(app, enrolled):
    browser = app.test_client()
    refused = browser.post("/login/passkey/options", json={})
    assert refused.status_code == 400


def text(response) -> str:
    return response.get_data(as_text=True)


def test_the_login_page_offers_passkeys_without_hiding_the_password_form(client):
    page = text(client.get("/login"))
    assert re.search(r'<button type="button" class="secondary" data-passkey-login hidden>'
                     r"Se connecter avec une clé d’accès</button>", page)  # shown by the script where it works
    assert re.search(r'<input[^>]*autocomplete="username webauthn"[^>]*name="username"', page) or \
        re.search(r'<input[^>]*name="username"[^>]*autocomplete="username webauthn"', page)
    assert 'name="password"' in page


def test_the_passkeys_page_lists_renames_and_removes_with_the_password(app, db, smtp_app, citizen):
    app, smtp = smtp_app
    browser = app.test_client()
    login(browser, "jean.dupont")
    authenticator = SoftAuthenticator(ORIGIN, RP_ID)
    assert add_passkey(browser, authenticator).status_code == 200
    deliver(app)
    added = smtp.wait_for(1)[0]
    assert added["Subject"] == "Une clé d’accès a été ajoutée à votre compte Sésame"
    assert "/recovery/not-me/" in smtp.text(added)

    page = browser.get("/account/passkeys")
    assert page.status_code == 200 and "Votre clé d’accès est ajoutée" in text(page)
    [row] = db.scalars(select(Passkey)).all()
    assert f'data-passkey="{row.id}"' in text(page) and "Pas encore utilisée." in text(page)

    renamed = browser.post("/account/passkeys", data={"csrf_token": csrf_token(page.data), "passkey": row.id,
                                                      "name": "  Mon   téléphone "})
    assert renamed.status_code == 303
    db.refresh(row)
    assert row.name == "Mon téléphone"

    refused = browser.post("/account/passkeys", data={"csrf_token": csrf_token(page.data), "remove": row.id,
                                                      "current_password": "not the password"})
    assert refused.status_code == 400 and "<h1>Mes clés d’accès</h1>" in text(refused)
    assert db.scalars(select(Passkey)).all() != []  # a stolen session removes nothing either
    removed = browser.post("/account/passkeys", data={"csrf_token": csrf_token(page.data), "remove": row.id,
                                                      "current_password": PASSWORD})
    assert removed.status_code == 303
    db.expire_all()
    assert db.scalars(select(Passkey)).all() == []
    deliver(app)
    assert smtp.wait_for(2)[1]["Subject"] == "Une clé d’accès a été supprimée de votre compte Sésame"


def test_it_was_not_me_removes_the_passkey_an_intruder_added(app, db, smtp_app, citizen):
    app, smtp = smtp_app
    intruder = app.test_client()  # a session left open somewhere
    login(intruder, "jean.dupont")
    theirs = SoftAuthenticator(ORIGIN, RP_ID)
    assert add_passkey(intruder, theirs).status_code == 200
    deliver(app)
    not_me = link_in(smtp.text(smtp.wait_for(1)[0]), "/recovery/not-me/")

    owner = app.test_client()
    page = owner.get(not_me)
    owner.post(not_me, data={"csrf_token": csrf_token(page.data)})

    db.expire_all()
    assert db.scalars(select(Passkey)).all() == []
    refused, _ = sign_in_with(app.test_client(), theirs)
    assert refused.get_json()["error"] == "unknown"
