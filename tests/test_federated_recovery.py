"""A lost mailbox recovered through a provider that verifies identities (idp/federated_recovery.py),
end to end against the loopback upstream (a second Sésame, tests/upstream_provider.py): the help
page's button, the new address proved by its link, the new password, everything ended, the old
address told; the delay for accounts whose identity was only typed, and its cancel link; every other
case to the help desk, the identity attached."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select
from test_federation_pages import come_back, start, upstream_subject

from idp import federated_recovery
from idp.models import AuditEvent, FederatedRecovery, HelpRequest, User
from idp.upstream_identities import link, tied_account

from helpers import PASSWORD, csrf_token, deliver, link_in, login, make_user, signed_in
from upstream_provider import BORN, sign_in_upstream

OLD, NEW = "camille@ancienne.example", "camille@nouvelle.example"
NEW_PASSWORD = "une toute nouvelle phrase de passe"
CONFIRM_PATH = "/recovery/federated/confirm/"
CANCEL_PATH = "/recovery/federated/cancel/"


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url)


@pytest.fixture
def verifying(provider, db):
    """The upstream, marked as verifying identities (FranceConnect is)."""
    served_app, record = provider
    record.verifies_identity = True
    db.commit()
    return served_app, record


def text(response) -> str:
    return response.get_data(as_text=True)


def heading(response) -> str:
    return re.search(r"<h1>(.*?)</h1>", text(response), re.S).group(1).strip()


def camille(db, **fields) -> User:
    values = {"username": "camille", "email": OLD, "given_name": "Camille", "family_name": "Martin",
              "birthdate": BORN, **fields}
    return make_user(db, **values)


def reread(db, user_id: int) -> User:
    db.rollback()
    db.expire_all()
    return db.get(User, user_id)


def audited(db, action: str) -> list[dict]:
    db.rollback()
    db.expire_all()
    return [event.details for event in db.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def prove_identity(client, served_app):
    """From the help page: the citizen signs in at the provider to recover; Sésame's answer."""
    page = client.get("/recovery/help")
    assert 'name="purpose" value="recover"' in text(page)
    started = client.post("/federation/fc/login", data={"csrf_token": csrf_token(page.data), "purpose": "recover"})
    assert started.status_code == 303, text(started)
    return come_back(client, sign_in_upstream(served_app, started.location))


def ask_for_new_address(app, smtp, client, served_app, address=NEW) -> str:
    """The provider's identity, then the new address typed; the link mailed to it (a path)."""
    back = prove_identity(client, served_app)
    assert back.status_code == 303 and back.location == "/recovery/federated", back.location
    page = client.get(back.location)
    assert heading(page) == "Votre nouvelle adresse électronique"
    assert "fc a vérifié votre identité, et elle correspond à un compte." in text(page)
    sent = client.post("/recovery/federated", data={"csrf_token": csrf_token(page.data), "new_email": address})
    assert sent.status_code == 200 and heading(sent) == "Consultez votre nouvelle messagerie", text(sent)
    deliver(app)
    mail = smtp.wait_for(1)[-1]
    assert mail["To"] == address and mail["Subject"] == "Confirmez votre nouvelle adresse pour Sésame"
    return link_in(smtp.text(mail), CONFIRM_PATH)


def choose_password(app, link: str):
    """The link opened in another browser (the new mailbox may be on a phone); the password chosen."""
    browser = app.test_client()
    page = browser.get(link)
    assert page.status_code == 200 and heading(page) == "Choisissez un nouveau mot de passe", text(page)
    return page, browser.post(link, data={"csrf_token": csrf_token(page.data), "new_password": NEW_PASSWORD,
                                          "new_password_confirm": NEW_PASSWORD})


def test_an_account_whose_identity_was_verified_is_recovered_at_once(app, verifying, client, db, smtp):
    served_app, record = verifying
    citizen = camille(db)
    link(db, citizen, record.issuer, upstream_subject(served_app, "camille.martin"), "fc")
    elsewhere = app.test_client()
    assert login(elsewhere, "camille").status_code == 303  # a session the change must end

    mailed = ask_for_new_address(app, smtp, client, served_app)
    assert reread(db, citizen.id).email == OLD  # nothing changes before the new address is proved
    page, done = choose_password(app, mailed)
    assert "Une fois confirmé, vous serez déconnecté partout" in text(page)

    assert done.status_code == 303 and done.location.startswith("/login?username=camille"), done.location
    user = reread(db, citizen.id)
    assert (user.email, user.email_verified, user.identity_verified_by) == (NEW, True, "fc")
    assert login(app.test_client(), "camille", NEW_PASSWORD).status_code == 303
    assert login(app.test_client(), "camille", PASSWORD).status_code == 401  # the old password is gone
    assert not signed_in(elsewhere)
    assert app.test_client().get(mailed).status_code == 410  # the link worked once
    assert audited(db, "account.recovered_federated") == [{"upstream": "fc", "waited": False}]
    assert [r.state for r in db.scalars(select(FederatedRecovery))] == ["done"]

    deliver(app)
    told = next(mail for mail in smtp.messages if mail["To"] == OLD)
    assert told["Subject"] == "L’adresse électronique de votre compte Sésame a été changée"
    assert "a prouvé son identité avec fc" in smtp.text(told)
    # The old address's "it was not me" freezes the account, as after a help-desk change.
    cancel = link_in(smtp.text(told), "/account/email/cancel/")
    owner = app.test_client()
    page = owner.get(cancel)
    frozen = owner.post(cancel, data={"csrf_token": csrf_token(page.data)})
    assert frozen.status_code == 200, text(frozen)
    assert reread(db, citizen.id).status == "disabled"


def due_now(db) -> None:
    db.rollback()
    for recovery in db.scalars(select(FederatedRecovery).where(FederatedRecovery.state == "scheduled")):
        recovery.due_at = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    db.commit()


def run_due(app) -> None:
    """The worker's periodic run over the recoveries that are due."""
    app.extensions["idp.jobs"].enqueue(federated_recovery.APPLY, {})
    deliver(app)


def test_a_self_declared_account_changes_only_after_the_delay_and_its_address_is_told_at_once(
        app, verifying, client, db, smtp):
    served_app, record = verifying
    citizen = camille(db)  # names typed at sign-up, never verified
    page, done = choose_password(app, ask_for_new_address(app, smtp, client, served_app))
    assert "prennent effet dans 3\u00a0jours" in text(page) or "prennent effet dans 3 jours" in text(page)

    assert done.status_code == 200 and heading(done) == "Votre demande est enregistrée"
    assert "le compte utilisera camille@nouvelle.example" in text(done)
    assert reread(db, citizen.id).email == OLD
    assert login(app.test_client(), "camille").status_code == 303  # the owner still signs in as before
    deliver(app)
    pending = next(mail for mail in smtp.messages if mail["To"] == OLD)
    assert pending["Subject"] == "Une demande de changement d’adresse pour votre compte Sésame"
    assert "cam•••@n•••.example" in smtp.text(pending) and NEW not in smtp.text(pending)
    assert link_in(smtp.text(pending), CANCEL_PATH)
    run_due(app)
    assert reread(db, citizen.id).email == OLD  # not due yet

    due_now(db)
    run_due(app)

    user = reread(db, citizen.id)
    assert (user.email, user.identity_verified_by) == (NEW, "fc")
    assert tied_account(db, record.issuer, upstream_subject(served_app, "camille.martin")).id == citizen.id
    assert login(app.test_client(), "camille", NEW_PASSWORD).status_code == 303
    assert audited(db, "account.recovered_federated") == [{"upstream": "fc", "waited": True}]
    deliver(app)
    outcome = [smtp.text(mail) for mail in smtp.messages if mail["To"] == NEW]
    assert any("Votre compte Sésame utilise désormais cette adresse." in body for body in outcome)


def test_the_old_address_cancels_a_waiting_recovery(app, verifying, client, db, smtp):
    served_app, _ = verifying
    citizen = camille(db)
    choose_password(app, ask_for_new_address(app, smtp, client, served_app))
    deliver(app)
    cancel = link_in(smtp.text(next(mail for mail in smtp.messages if mail["To"] == OLD)), CANCEL_PATH)
    owner = app.test_client()
    page = owner.get(cancel)
    assert heading(page) == "Vous n’avez pas demandé à changer d’adresse\u00a0?"

    done = owner.post(cancel, data={"csrf_token": csrf_token(page.data)})

    assert done.status_code == 200 and heading(done) == "La demande est annulée"
    due_now(db)
    run_due(app)
    user = reread(db, citizen.id)
    assert user.email == OLD and login(app.test_client(), "camille").status_code == 303
    assert [r.state for r in db.scalars(select(FederatedRecovery))] == ["cancelled"]
    assert owner.get(cancel).status_code == 410
    assert audited(db, "recovery.federated_cancelled")


@pytest.mark.parametrize("case", ["several", "other-identity", "none"])
def test_every_other_case_goes_to_the_help_desk_with_the_verified_identity(app, verifying, client, db, case):
    served_app, _ = verifying
    if case != "none":
        citizen = camille(db)
    if case == "several":
        camille(db, username="camille2", email="autre@example.fr")
    if case == "other-identity":
        link(db, citizen, "https://autre-fournisseur.example", "quelqu-un", "autre")

    back = prove_identity(client, served_app)

    assert back.status_code == 303 and back.location == "/recovery/help", back.location
    page = client.get(back.location)
    assert "fc a vérifié votre identité, mais nous ne pouvons pas changer nous-mêmes" in text(page)
    assert re.search(r'<input[^>]*name="given_name"[^>]*readonly', text(page)), "the names are locked"
    assert 'name="purpose"' not in text(page)  # no second try at the provider from here
    filed = client.post("/recovery/help", data={
        "csrf_token": csrf_token(page.data), "given_name": "Quelqu'un", "family_name": "D'autre",
        "birthdate": "01/01/1970", "new_email": NEW})  # the locked fields, forged: the identity wins
    assert filed.status_code == 200, text(filed)
    request = db.scalars(select(HelpRequest)).one()
    assert (request.given_name, request.family_name, request.birthdate) == ("Camille", "Martin", BORN)
    assert request.identity_verified_by == "fc"
    assert audited(db, "recovery.federated_to_help_desk") == [{"upstream": "fc", "reason": case}]
    assert client.get("/recovery/help").get_data(as_text=True).count('name="purpose" value="recover"') == 1


def test_a_provider_that_does_not_verify_identities_offers_no_recovery(provider, app, client, db):
    served_app, _ = provider  # verifies_identity is off
    camille(db)
    assert 'name="purpose"' not in text(client.get("/recovery/help"))
    back = come_back(client, sign_in_upstream(served_app, start(client) + "&purpose=recover"))
    # The purpose is the server's, not the query's: this is an ordinary sign-in, offered to tie.
    assert back.status_code == 303 and back.location == "/login", back.location
    back = come_back(client, sign_in_upstream(served_app, client.get("/federation/fc/login?purpose=recover").location))
    assert back.location == "/login"


def test_the_new_address_step_needs_the_identity_in_this_browser(app, verifying, client, db, smtp):
    served_app, _ = verifying
    camille(db)
    stranger = app.test_client()
    page = stranger.get("/recovery/federated")
    assert page.status_code == 410 and heading(page) == "Cette étape a expiré"

    assert prove_identity(client, served_app).location == "/recovery/federated"
    make_user(db, username="voisin", email="voisin@example.fr")
    page = client.get("/recovery/federated")
    for address, said in (("voisin@example.fr", "Un autre compte utilise cette adresse."),
                          (OLD, "C’est déjà l’adresse du compte."), ("pas-une-adresse", "")):
        refused = client.post("/recovery/federated", data={"csrf_token": csrf_token(page.data), "new_email": address})
        assert refused.status_code == 400 and heading(refused) == "Votre nouvelle adresse électronique"
        assert 'aria-invalid="true"' in text(refused) and said in text(refused)
    deliver(app)
    assert smtp.messages == []


def test_a_change_made_meanwhile_stops_the_recovery(app, verifying, client, db, smtp):
    served_app, _ = verifying
    citizen = camille(db)
    mailed = ask_for_new_address(app, smtp, client, served_app)
    link(db, citizen, "https://autre-fournisseur.example", "quelqu-un", "autre")  # tied meanwhile

    _, blocked = choose_password(app, mailed)

    assert blocked.status_code == 409 and heading(blocked) == "Nous ne pouvons pas terminer ce changement"
    assert reread(db, citizen.id).email == OLD
    assert login(app.test_client(), "camille").status_code == 303
    assert db.scalars(select(FederatedRecovery)).all() == []


def test_an_identity_without_a_birth_date_goes_to_the_help_form_as_typed(app, verifying, client, db):
    """Nothing to lock: the form must stay fillable, and the request is not marked as verified."""
    served_app, _ = verifying
    upstream_db = served_app.extensions["idp.db"].session_factory()
    try:
        upstream_db.scalars(select(User).where(User.username == "camille.martin")).one().birthdate = None
        upstream_db.commit()
    finally:
        upstream_db.close()

    back = prove_identity(client, served_app)

    assert back.location == "/recovery/help"
    page = client.get(back.location)
    assert "readonly" not in text(page) and "a vérifié votre identité" not in text(page)
    assert audited(db, "recovery.federated_to_help_desk") == [{"upstream": "fc", "reason": "incomplete"}]
