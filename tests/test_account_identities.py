"""Mes identités reliées (/account/identities): the identities tied to the account, and untying one,
with the password when the account has one, and never the last way in."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from idp.models import AuditEvent
from idp.upstream_identities import identities_of, link

from helpers import PASSWORD, csrf_token, login, make_user

FC = "https://fcp.integ01.dev-franceconnect.fr/api/v1"
PAGE = "/account/identities"


def text(response) -> str:
    return response.get_data(as_text=True)


def untie(browser, identity: int, password: str | None = None):
    page = browser.get(PAGE)
    form = {"csrf_token": csrf_token(page.data), "identity": str(identity)}
    if password is not None:
        form["current_password"] = password
    return browser.post(PAGE, data=form)


def test_a_tied_identity_is_listed_and_untied_with_the_password(app, client, db):
    citizen = make_user(db)
    tie = link(db, citizen, FC, "sub-1", "franceconnect")
    assert login(client).status_code == 303
    assert 'href="/account/identities"' in text(client.get("/account"))
    page = text(client.get(PAGE))
    assert "<h1>Mes identités reliées</h1>" in page and "franceconnect, reliée le" in page
    assert 'id="current_password"' in page

    missing = untie(client, tie.id)
    assert missing.status_code == 400
    assert "Saisissez votre mot de passe actuel pour délier une identité." in text(missing)
    wrong = untie(client, tie.id, "not the password at all")
    assert wrong.status_code == 400 and "Ce n’est pas votre mot de passe actuel." in text(wrong)
    assert identities_of(db, citizen) != []

    done = untie(client, tie.id, PASSWORD)
    assert done.status_code == 303
    db.expire_all()
    assert identities_of(db, citizen) == []
    assert "L’identité est déliée" in text(client.get(done.location))
    assert db.scalars(select(AuditEvent.action).where(AuditEvent.action == "federation.untied")).all() == [
        "federation.untied"]
    assert 'href="/account/identities"' not in text(client.get("/account"))


def test_the_last_way_in_is_never_untied_nor_someone_elses_identity(app, db):
    only_identity = make_user(db, username="sans.mdp", email="sans@example.fr", password=None)
    mine = link(db, only_identity, FC, "sub-1", "franceconnect")
    other = make_user(db, username="autre", email="autre@example.fr")
    theirs = link(db, other, FC, "sub-2", "franceconnect")
    browser = app.test_client()
    with browser.session_transaction() as session:  # signed in as FranceConnect would sign it in
        session["user_id"] = only_identity.id
    page = text(browser.get(PAGE))
    assert 'id="current_password"' not in page  # no password to ask for

    refused = untie(browser, mine.id)
    assert refused.status_code == 409 and "Votre compte n’aurait plus aucun moyen de connexion" in text(refused)
    not_mine = untie(browser, theirs.id)
    assert not_mine.status_code == 409 and "Cette identité n’est pas reliée à votre compte." in text(not_mine)
    db.expire_all()
    assert len(identities_of(db, only_identity)) == 1 and len(identities_of(db, other)) == 1


def test_signed_out_and_forged_requests_change_nothing(app, client, db):
    citizen = make_user(db)
    tie = link(db, citizen, FC, "sub-1", "franceconnect")
    away = client.get(PAGE)
    assert away.status_code == 302 and away.location.startswith("/login")
    assert login(client).status_code == 303
    forged = client.post(PAGE, data={"identity": str(tie.id), "current_password": PASSWORD})  # no CSRF token
    assert forged.status_code == 400 and "<h1>" in text(forged)
    assert len(identities_of(db, citizen)) == 1


def test_names_and_birth_date_verified_upstream_are_read_only_on_the_account_page(app, client, db):
    citizen = make_user(db, given_name="Camille", family_name="Martin", birthdate=dt.date(1990, 5, 17))
    citizen.identity_verified_by = "franceconnect"
    db.commit()
    assert login(client).status_code == 303
    page = text(client.get("/account"))
    assert "viennent de franceconnect, qui les a vérifiés" in page
    assert re.search(r'<input[^>]*name="given_name"[^>]*readonly', page)

    form = {"csrf_token": csrf_token(page), "given_name": "Mallory", "family_name": "Martin",
            "birthdate": "01/01/1970", "email": citizen.email, "phone_number": "06 12 34 56 78",
            "current_password": PASSWORD}
    saved = client.post("/account", data=form)
    assert saved.status_code == 303, text(saved)
    db.expire_all()
    assert (citizen.given_name, citizen.birthdate, citizen.phone_number) == (
        "Camille", dt.date(1990, 5, 17), "06 12 34 56 78")  # the phone changed; the verified identity did not
