"""The help desk's console in Debian's Chromium with JavaScript off, French first: an agent enrols
TOTP (sent there by the console), signs in with the code, opens a request a citizen filed at
/recovery/help, compares it with the account and resolves it; the citizen receives the reset link
at the new address and signs in. Then a rejection, mailed to the citizen; the refusals (a citizen's
account, a stale login, a stranger's network); and axe on every console page. Provider, SMTP sink and
browser are real, on loopback."""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import urlparse

from sqlalchemy import select

from idp import totp
from idp.models import HelpRequest, SecondFactor, User, UserRole

from conftest import free_port
from helpers import PASSWORD, deliver, make_user, screenshot, served

NEW_PASSWORD = "lanterne verte sous la pluie"
AGENT = "agent.martin"
N = "\u00a0"


def new_page(browser):
    """Another person's browser: a context of its own (no shared cookies), JavaScript off, French."""
    return browser.context.browser.new_context(java_script_enabled=False, locale="fr-FR").new_page()


def make_agent(db, enrolled: bool) -> str | None:
    agent = make_user(db, username=AGENT, email="anne.martin@region.example", given_name="Anne", family_name="Martin")
    db.add(UserRole(user_id=agent.id, role="helpdesk"))
    secret = totp.new_secret() if enrolled else None
    if secret:
        db.add(SecondFactor(user_id=agent.id, totp_secret=secret, last_step=None))
    db.commit()
    return secret


def file_help_request(page, idp: str, new_email: str) -> None:
    """The citizen who lost their mailbox fills in the help form."""
    page.goto(f"{idp}/recovery/help")
    page.fill("input[name=given_name]", "Elodie")
    page.fill("input[name=family_name]", "Martin Lefevre")
    page.fill("input[name=birthdate]", "14/07/1984")
    page.fill("input[name=new_email]", new_email)
    page.fill("textarea[name=message]", "Ma messagerie a été fermée.")
    page.click("button[type=submit]")
    assert page.locator("h1").count() == 1


def sign_in(page, secret: str, step_ahead: int = 1) -> None:
    """The login page, then the code page (a code of the next step: the enrolment used this one)."""
    assert page.locator("h1").inner_text() == "Se connecter"
    page.fill("#username", AGENT)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Double authentification"
    page.fill("input[name=code]", totp.code_at(secret, totp.current_step() + step_ahead))
    page.click("button[type=submit]")


def open_request(page, idp: str, request_id: int) -> None:
    page.goto(f"{idp}/helpdesk")
    assert page.locator("h1").inner_text() == "Demandes ouvertes"
    page.get_by_role("link", name=f"Demande n°{N}{request_id}").click()
    assert page.locator("h1").inner_text() == f"Demande n°{N}{request_id}"


def confirm(page, action: str, reason: str) -> None:
    page.get_by_role("link", name=action).click()
    assert page.locator("h1").inner_text() == action
    page.get_by_label("Motif").fill(reason)
    page.get_by_role("button", name="Confirmer").click()


def test_an_agent_enrols_signs_in_with_totp_and_resolves_a_request(browser, live_with_mail, smtp, db):
    app, idp, _rp = live_with_mail
    citizen = make_user(db, username="elodie.martin", email="elodie@ancienne.example", given_name="Élodie",
                        family_name="Martin-Lefèvre", birthdate=dt.date(1984, 7, 14))
    make_agent(db, enrolled=False)
    file_help_request(new_page(browser), idp, "elodie@nouvelle.example")
    (filed,) = db.scalars(select(HelpRequest)).all()
    assert filed.user_id == citizen.id

    agent = browser
    agent.goto(f"{idp}/helpdesk")
    assert agent.locator("h1").inner_text() == "Se connecter"  # one way in: the ordinary login page
    agent.fill("#username", AGENT)
    agent.fill("#password", PASSWORD)
    agent.click("button[type=submit]")
    assert urlparse(agent.url).path == "/account/totp"  # an agent without TOTP enrols first
    screenshot(agent, "helpdesk-1-enrol")
    secret = agent.locator("[data-totp-secret]").get_attribute("data-totp-secret")
    agent.fill("input[name=code]", totp.code_at(secret, totp.current_step()))
    agent.click("button[type=submit]")
    assert agent.locator("h1").inner_text() == "La double authentification est activée"
    agent.get_by_role("link", name=f"Je les ai notés{N}: continuer").click()
    assert agent.locator("h1").inner_text() == "Reconnectez-vous"  # signed in without the code
    agent.get_by_role("link", name="Se connecter").click()
    sign_in(agent, secret)

    assert urlparse(agent.url).path == "/helpdesk"
    assert agent.locator("h1").inner_text() == "Demandes ouvertes"
    screenshot(agent, "helpdesk-2-queue")
    open_request(agent, idp, filed.id)
    rows = {field: agent.locator(f"tr[data-field={field}] td").last.inner_text()
            for field in ("given_name", "family_name", "birthdate")}
    assert rows == {"given_name": "Identique", "family_name": "Identique", "birthdate": "Identique"}
    assert agent.locator("[data-masked-email]").inner_text() == "elo•••@a•••.example"
    screenshot(agent, "helpdesk-3-request")
    confirm(agent, "Traiter la demande", "Identité vérifiée par téléphone, pièce d'identité présentée.")
    assert agent.locator("[role=status]").first.inner_text() == f"C’est fait{N}: Traiter la demande."
    assert "Traitée." in agent.locator("main").inner_text()
    screenshot(agent, "helpdesk-4-resolved")

    deliver(app)
    smtp.wait_for(3)
    new_mails = [m for m in smtp.messages if m["To"] == "elodie@nouvelle.example"]
    reset_text = next(smtp.text(m) for m in new_mails if "/recovery/reset/" in smtp.text(m))
    assert any(m["To"] == "elodie@ancienne.example" for m in smtp.messages)  # the old address is told
    link = re.search(r"https?://\S+/recovery/reset/\S+", reset_text).group(0)
    citizen_page = new_page(browser)
    citizen_page.goto(link)
    assert citizen_page.locator("h1").inner_text() == "Choisissez un nouveau mot de passe"
    citizen_page.fill("#new_password", NEW_PASSWORD)
    citizen_page.fill("#new_password_confirm", NEW_PASSWORD)
    citizen_page.get_by_role("button", name="Changer mon mot de passe").click()
    assert citizen_page.locator("h1").inner_text() == "Se connecter"
    citizen_page.fill("#username", "elodie@nouvelle.example")
    citizen_page.fill("#password", NEW_PASSWORD)
    citizen_page.click("button[type=submit]")
    assert citizen_page.locator("h1").inner_text() == "La prochaine fois, rien à retenir"  # the passkey offer
    citizen_page.click("a[data-passkey-later]")
    assert urlparse(citizen_page.url).path == "/"
    assert citizen_page.locator("form[action='/logout']").count() == 1  # signed in
    db.expire_all()
    assert db.get(User, citizen.id).email == "elodie@nouvelle.example"


def test_an_agent_rejects_a_request_and_the_citizen_is_told_why(browser, live_with_mail, smtp, db):
    app, idp, _rp = live_with_mail
    make_user(db, username="elodie.martin", email="elodie@ancienne.example", given_name="Élodie",
              family_name="Martin-Lefèvre", birthdate=dt.date(1984, 7, 14))
    secret = make_agent(db, enrolled=True)
    file_help_request(new_page(browser), idp, "quelquun@ailleurs.example")
    (filed,) = db.scalars(select(HelpRequest)).all()
    browser.goto(f"{idp}/helpdesk")
    sign_in(browser, secret, step_ahead=0)
    open_request(browser, idp, filed.id)
    confirm(browser, "Refuser la demande", "Nous n'avons pas pu vérifier votre identité par téléphone.")
    assert "Refusée." in browser.locator("main").inner_text()
    screenshot(browser, "helpdesk-5-rejected")
    deliver(app)
    smtp.wait_for(1)
    (rejection,) = [m for m in smtp.messages if m["To"] == "quelquun@ailleurs.example"
                    and "Nous n'avons pas pu vérifier" in smtp.text(m)]
    assert "n'avons pas pu vérifier votre identité" in smtp.text(rejection)


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_violations(page) -> list[str]:
    """What axe-core (every rule of WCAG 2.0 to 2.2 A and AA, and best practices) finds on the page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    return [f"{page.url}: {v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
            for v in results.response["violations"]]


def test_axe_finds_nothing_on_the_console_pages(browser, live_with_mail, db):
    _app, idp, _rp = live_with_mail
    citizen = make_user(db, username="elodie.martin", email="elodie@ancienne.example", given_name="Élodie",
                        family_name="Martin-Lefèvre", birthdate=dt.date(1984, 7, 14))
    twin = make_user(db, username="elodie.bis", email="bis@example.fr", given_name="Élodie",
                     family_name="Martin-Lefèvre", birthdate=dt.date(1984, 7, 14))
    twin.possible_duplicate_of = citizen.id
    db.commit()
    secret = make_agent(db, enrolled=True)
    file_help_request(new_page(browser), idp, "elodie@nouvelle.example")
    filed = db.scalars(select(HelpRequest)).one()
    context = browser.context.browser.new_context(java_script_enabled=True, bypass_csp=True, locale="fr-FR")
    page = context.new_page()
    page.goto(f"{idp}/helpdesk")
    sign_in(page, secret, step_ahead=0)
    found = []
    for lang in ("fr", "en"):
        for path in ("/helpdesk", f"/helpdesk/requests/{filed.id}", f"/helpdesk/requests/{filed.id}/resolve",
                     "/helpdesk/users?q=elodie+martin+lefevre", f"/helpdesk/users?q=elodie&request={filed.id}",
                     "/helpdesk/users?q=x&birthdate=31/02/1990", f"/helpdesk/users/{twin.id}",
                     f"/helpdesk/users/{twin.id}/clear-duplicate"):
            page.goto(f"{idp}{path}{'&' if '?' in path else '?'}lang={lang}")
            found += axe_violations(page)
        page.goto(f"{idp}/helpdesk/requests/{filed.id}/reject?lang={lang}")
        page.get_by_role("button").last.click()  # no reason: the error tied to its field
        found += axe_violations(page)
    assert found == []


def test_the_console_refuses_a_citizen_a_stale_login_and_strangers(browser, live_with_mail, build_app, db):
    app, idp, _rp = live_with_mail
    make_user(db, username="jean.dupont", email="jean@example.fr")
    citizen = new_page(browser)
    citizen.goto(f"{idp}/helpdesk")
    citizen.fill("#username", "jean.dupont")
    citizen.fill("#password", PASSWORD)
    citizen.click("button[type=submit]")
    assert citizen.locator("h1").inner_text() == "La console est réservée à l’assistance"

    secret = make_agent(db, enrolled=True)
    browser.goto(f"{idp}/helpdesk")
    sign_in(browser, secret, step_ahead=0)
    assert browser.locator("h1").inner_text() == "Demandes ouvertes"
    # Thirteen hours later (the session's stored login time, moved back).
    cookie = next(c["value"] for c in browser.context.cookies() if c["name"] == "idp_session")
    interface = app.session_interface
    key = interface._key(cookie)
    stored = json.loads(interface.redis.get(key))
    stored["auth_time"] -= 13 * 3600
    interface.redis.set(key, json.dumps(stored), keepttl=True)
    browser.goto(f"{idp}/helpdesk")
    assert browser.locator("h1").inner_text() == "Reconnectez-vous"
    assert "moins de 12 heures" in browser.locator("[role=status]").inner_text()

    port = free_port()
    elsewhere = build_app(IDP_ISSUER=f"http://127.0.0.1:{port}", IDP_ADMIN_NETWORKS="10.99.0.0/16")
    with served(elsewhere, port) as outside:
        stranger = new_page(browser)
        stranger.goto(f"{outside}/helpdesk")
        assert stranger.locator("h1").inner_text() == "Page introuvable"
