"""The federation routes (idp/federation_views.py): /federation/<name>/login sends the browser to the
upstream, /federation/<name>/callback signs in the account an identity is tied to; the state belongs
to the browser that started; every failure is a page in French that offers the ordinary login, and
is audited.  The upstream is a second Sésame on loopback (tests/test_federation.py)."""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlparse

import pytest
from sqlalchemy import select

from idp import totp, upstreams
from idp.models import AuditEvent, SecondFactor, User
from idp.upstream_identities import link, linked_account, tied_account

from helpers import authorize_url, csrf_token, deliver, link_in, login, make_client, make_user, query, signed_in
from upstream_provider import BORN, LOGGED_OUT, sign_in_upstream

NOT_LINKED = "Compte pas encore relié"


def text(response) -> str:
    return response.get_data(as_text=True)


def start(browser, rid: str | None = None) -> str:
    """The citizen presses the button: where the browser is sent (the upstream's authorization endpoint)."""
    answer = browser.get("/federation/fc/login" + (f"?rid={rid}" if rid else ""))
    assert answer.status_code == 303, text(answer)
    return answer.location


def come_back(browser, answer: dict):
    return browser.get("/federation/fc/callback?" + urlencode(answer))


def upstream_subject(served_app, username: str) -> str:
    """The ``sub`` the upstream gives its citizen (a public subject: the account's)."""
    upstream_db = served_app.extensions["idp.db"].session_factory()
    try:
        return upstream_db.scalar(select(User.sub).where(User.username == username))
    finally:
        upstream_db.close()


def audited(db, action: str) -> list[dict]:
    db.expire_all()
    return [event.details for event in db.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def test_an_identity_tied_to_an_account_signs_it_in_and_carries_on_to_the_service(provider, app, client, db):
    served_app, record = provider
    citizen = make_user(db, username="camille", email="camille@example.fr", given_name="Camille",
                        family_name="Martin")
    rp_id, _ = make_client(db)
    waiting = client.get(authorize_url(rp_id))
    rid = query(waiting.location)["rid"]

    answer = sign_in_upstream(served_app, start(client, rid))
    first = come_back(client, answer)  # tied to no account, and none matches (no birth date here): sign-up
    assert first.status_code == 303 and first.location == f"/signup?rid={rid}" and not signed_in(client)

    assert audited(db, "federation.unlinked") == [{"upstream": "fc", "match": "none"}]  # no birth date here
    link(db, citizen, record.issuer, upstream_subject(served_app, "camille.martin"), "fc")

    back = come_back(client, sign_in_upstream(served_app, start(client, rid)))
    assert back.status_code == 303 and urlparse(back.location).path == "/oauth/authorize", back.location
    assert signed_in(client)
    [success] = [details for details in audited(db, "login.success")]
    assert success["amr"] == ["fed"]


def test_a_callback_carried_to_another_browser_signs_no_one_in(provider, app, client, db):
    """Login CSRF: an attacker's own callback (their code and state) sent to a victim's browser."""
    served_app, _ = provider
    attacker = app.test_client()
    answer = sign_in_upstream(served_app, start(attacker))
    victim = client
    refused = come_back(victim, answer)
    assert refused.status_code == 400
    assert "<h1>Échec de la connexion avec fc</h1>" in text(refused)
    assert "Cette connexion a expiré ou a déjà été utilisée" in text(refused)
    assert not signed_in(victim)
    assert audited(db, "federation.failure") == [{"upstream": "fc", "kind": "state"}]


def test_a_refusal_upstream_is_a_french_page_offering_the_ordinary_login(provider, client, db):
    _, record = provider
    state = query(start(client))["state"]
    refused = come_back(client, {"state": state, "error": "access_denied", "iss": record.issuer})
    assert refused.status_code == 400
    assert "La connexion a été annulée ou refusée." in text(refused) and 'href="/login"' in text(refused)
    assert audited(db, "federation.failure") == [{"upstream": "fc", "kind": "refused"}]


@pytest.mark.parametrize("path", ["/federation/inconnu/login", "/federation/inconnu/callback?state=x",
                                  "/federation/" + "x" * 500 + "/login"])
def test_an_unknown_upstream_is_not_found(client, path):
    answer = client.get(path)
    assert answer.status_code == 404 and "<h1>" in text(answer)


def test_the_login_page_shows_a_button_per_upstream_above_the_form_carrying_the_request(provider, client, db):
    _, record = provider
    upstreams.add(db, name="autre", issuer="https://autre.example.fr", client_id="c", client_secret="s",
                  label="Mon Compte Région")
    rp_id, _ = make_client(db)
    rid = query(client.get(authorize_url(rp_id)).location)["rid"]
    page = text(client.get(f"/login?rid={rid}"))
    assert page.index('action="/federation/fc/login"') < page.index('action="/login"')  # above the form
    assert "S’identifier avec <strong>fc</strong>" not in page  # fc is plain: its own label
    assert ">Se connecter avec fc</button>" in page and ">Se connecter avec Mon Compte Région</button>" in page
    assert page.count(f'<input type="hidden" name="rid" value="{rid}">') == 2

    record.style, record.label = "franceconnect", "FranceConnect"
    db.commit()
    page = text(client.get(f"/login?rid={rid}"))
    assert "S’identifier avec <strong>FranceConnect</strong>" in page
    assert 'href="https://franceconnect.gouv.fr/"' in page and "Qu’est-ce que FranceConnect\u00a0?" in page

    form = page[page.index('action="/federation/fc/login"'):]
    pressed = client.post("/federation/fc/login", data={"csrf_token": csrf_token(form), "rid": rid})
    assert pressed.status_code == 303 and pressed.location.startswith(record.issuer + "/oauth/authorize?")
    forged = client.post("/federation/fc/login", data={"rid": rid})  # from another site: no CSRF token
    assert forged.status_code == 400 and "<h1>" in text(forged)


def test_the_one_account_of_the_same_person_is_linked_by_signing_in_to_it_once(provider, app, client, db):
    served_app, record = provider
    camille = make_user(db, username="camille", email="camille@example.fr", given_name="CAMILLE",
                        family_name="Martin", birthdate=BORN)
    make_user(db, username="someone.else", email="else@example.fr")

    offered = come_back(client, sign_in_upstream(served_app, start(client)))
    assert offered.status_code == 303 and offered.location == "/login"
    page = text(client.get("/login"))
    assert "Nous avons trouvé un compte à votre nom." in page and 'role="status"' in page
    assert "camille@example.fr" not in page and 'value="camille"' not in page  # the account is not named
    assert audited(db, "federation.unlinked") == [{"upstream": "fc", "match": "one"}]

    assert login(client, "someone.else").status_code == 303  # another account signs in: nothing is tied
    assert audited(db, "federation.linked") == []
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").data)})

    come_back(client, sign_in_upstream(served_app, start(client)))
    assert login(client, "camille").status_code == 303
    assert audited(db, "federation.linked") == [{"upstream": "fc"}]

    elsewhere = app.test_client()  # from now on the identity alone signs in
    back = come_back(elsewhere, sign_in_upstream(served_app, start(elsewhere)))
    assert back.status_code == 303 and signed_in(elsewhere)
    assert client.get("/account").status_code == 200 and linked_account(db, record.issuer, upstream_subject(
        served_app, "camille.martin")).id == camille.id
    db.refresh(camille)
    assert camille.identity_verified_by is None  # this provider does not verify identities: names stay typed


def test_tying_to_a_provider_that_verifies_identities_makes_the_names_verified(provider, client, db):
    served_app, record = provider
    record.verifies_identity = True
    db.commit()
    camille = make_user(db, username="camille", email="camille@example.fr", given_name="Camille",
                        family_name="Martin", birthdate=BORN)
    come_back(client, sign_in_upstream(served_app, start(client)))
    assert login(client, "camille").status_code == 303
    db.refresh(camille)
    assert camille.identity_verified_by == "fc"


def test_several_accounts_of_the_same_names_and_birth_date_are_told_to_ask_the_help_desk(provider, client, db):
    served_app, _ = provider
    for number in (1, 2):
        make_user(db, username=f"camille{number}", email=f"camille{number}@example.fr", given_name="Camille",
                  family_name="Martin", birthdate=BORN)
    page = come_back(client, sign_in_upstream(served_app, start(client)))
    assert page.status_code == 200 and "Plusieurs comptes correspondent à votre identité fc." in text(page)
    assert audited(db, "federation.unlinked") == [{"upstream": "fc", "match": "several"}]
    assert not signed_in(client)


def test_signing_out_of_a_session_begun_upstream_signs_out_there_too(provider, app, client, db):
    served_app, record = provider
    citizen = make_user(db, username="camille", email="camille@example.fr", given_name="Camille",
                        family_name="Martin")
    link(db, citizen, record.issuer, upstream_subject(served_app, "camille.martin"), "fc")
    at_upstream = served_app.test_client()  # the citizen's browser, as the provider sees it
    assert come_back(client, sign_in_upstream(served_app, start(client), at_upstream)).status_code == 303
    assert signed_in(client) and signed_in(at_upstream)

    leaving = client.post("/logout", data={"csrf_token": csrf_token(client.get("/").data)})
    assert leaving.status_code == 303 and leaving.location.startswith(record.issuer + "/oauth/logout?")
    assert not signed_in(client)  # signed out here at once, whatever the provider does next
    sent = query(leaving.location)
    assert sent["post_logout_redirect_uri"] == LOGGED_OUT and sent["id_token_hint"].count(".") == 2

    there = at_upstream.get(urlparse(leaving.location).path + "?" + urlparse(leaving.location).query)
    assert there.status_code in (302, 303) and there.location.startswith(LOGGED_OUT), there.location
    assert not signed_in(at_upstream)
    back = client.get(urlparse(there.location).path + "?" + urlparse(there.location).query)
    assert back.status_code == 200 and "<h1>Votre session est fermée</h1>" in text(back)
    again = client.get(urlparse(there.location).path + "?" + urlparse(there.location).query)
    assert again.status_code == 200 and "<h1>Votre session est fermée</h1>" in text(again)  # a spent state


def test_a_person_with_no_account_signs_up_with_the_verified_names_and_birth_date_locked(
        provider, app, client, db, smtp):
    served_app, record = provider
    rp_id, _ = make_client(db)
    rid = query(client.get(authorize_url(rp_id)).location)["rid"]
    arrived = come_back(client, sign_in_upstream(served_app, start(client, rid)))
    assert arrived.status_code == 303 and arrived.location == f"/signup?rid={rid}"
    page = text(client.get(arrived.location))
    assert "viennent de fc, qui les a vérifiés" in page
    for name, value in (("given_name", "Camille"), ("family_name", "Martin"), ("email", "camille.martin@example.fr")):
        assert re.search(rf'<input[^>]*name="{name}"[^>]*value="{re.escape(value)}"', page), name
    assert re.search(r'<input[^>]*name="given_name"[^>]*readonly', page)
    assert re.search(r'<input[^>]*name="birthdate"[^>]*readonly[^>]*value="17/05/1990"', page) or \
        re.search(r'<input[^>]*name="birthdate"[^>]*value="17/05/1990"[^>]*readonly', page)

    sent = client.post(f"/signup?rid={rid}", data={
        "csrf_token": csrf_token(page), "rid": rid, "given_name": "Mallory", "family_name": "Martin",  # tampered
        "birthdate": "01/01/1970", "email": "camille.martin@example.fr", "username": "camille.m",
        "password": "un long chemin de halage au bord du canal", "password_confirm":
        "un long chemin de halage au bord du canal"})
    assert sent.status_code == 200, text(sent)
    deliver(app)
    db.expire_all()
    created = db.scalars(select(User).where(User.username == "camille.m")).one()
    assert (created.given_name, created.family_name, created.birthdate) == ("Camille", "Martin", BORN)
    assert created.identity_verified_by == "fc" and created.status == "pending"
    assert tied_account(db, record.issuer, upstream_subject(served_app, "camille.martin")).id == created.id

    again = come_back(client, sign_in_upstream(served_app, start(client)))  # before the address is confirmed
    assert again.status_code == 403 and "Votre compte attend la confirmation de son adresse" in text(again)


def mailed_links(app, path: str) -> list[str]:
    """The links to ``path`` in the mails kept by the development mailbox, newest first."""
    deliver(app)
    with app.app_context():
        mails = app.extensions["idp.mail"].mails()
    return [link_in(mail["text"], path) for mail in mails if path in mail["text"]]


def offered_a_tie(served_app, client, db, **fields):
    """A citizen back from the provider, one account in their name found: the login page's offer."""
    camille = make_user(db, username="camille", email="camille@example.fr", given_name="Camille",
                        family_name="Martin", birthdate=BORN, **fields)
    assert come_back(client, sign_in_upstream(served_app, start(client))).location == "/login"
    page = client.get("/login")
    assert 'action="/federation/link/mail"' in text(page)
    return camille, page


def test_a_link_mailed_to_the_account_ties_the_identity_when_opened_in_the_same_browser(provider, app, client, db):
    served_app, record = provider
    camille, page = offered_a_tie(served_app, client, db)

    sent = client.post("/federation/link/mail", data={"csrf_token": csrf_token(page.data)})

    assert sent.status_code == 200 and "<h1>Consultez votre messagerie</h1>" in text(sent)
    [mailed] = mailed_links(app, "/federation/link/")
    elsewhere = app.test_client()  # someone else reading the mail (or a scanner): nothing to tie there
    refused = elsewhere.get(mailed)
    assert refused.status_code == 403 and "<h1>Ouvrez ce lien dans le même navigateur</h1>" in text(refused)
    assert tied_account(db, record.issuer, upstream_subject(served_app, "camille.martin")) is None

    page = client.get(mailed)
    assert page.status_code == 200 and "<h1>Relier votre identité fc</h1>" in text(page)
    done = client.post(mailed, data={"csrf_token": csrf_token(page.data)})

    assert done.status_code == 200 and "<h1>Votre identité est reliée</h1>" in text(done)
    assert tied_account(db, record.issuer, upstream_subject(served_app, "camille.martin")).id == camille.id
    assert audited(db, "federation.linked") == [{"upstream": "fc", "proof": "mail"}]
    assert client.post(mailed, data={"csrf_token": csrf_token(page.data)}).status_code == 410  # once
    back = come_back(client, sign_in_upstream(served_app, start(client)))  # the identity now signs in
    assert back.status_code == 303 and signed_in(client)


def test_an_account_with_a_second_factor_is_tied_only_with_its_password_and_code(provider, app, client, db):
    served_app, _ = provider
    camille, page = offered_a_tie(served_app, client, db)
    db.add(SecondFactor(user_id=camille.id, totp_secret=totp.new_secret(), last_step=None))
    db.commit()

    refused = client.post("/federation/link/mail", data={"csrf_token": csrf_token(page.data)})

    assert refused.status_code == 409
    assert "<h1>Connectez-vous avec votre mot de passe et votre code</h1>" in text(refused)
    assert mailed_links(app, "/federation/link/") == []


def test_without_an_offer_no_link_is_mailed(app, client, db):
    page = client.get("/login")
    refused = client.post("/federation/link/mail", data={"csrf_token": csrf_token(page.data)})
    assert refused.status_code == 410 and "<h1>Cette étape a expiré</h1>" in text(refused)
    assert mailed_links(app, "/federation/link/") == []
