"""A citizen who forgot their password, in Debian's Chromium and Debian's firefox-esr with
JavaScript off, from a relying party's sign-in to its callback: ask for a link, read the mail,
choose a new password, sign in with it. The provider, the relying party and the SMTP sink are real
servers on loopback."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from conftest import BROWSERS
from helpers import PASSWORD, deliver, make_client, make_user, screenshot

NEW_PASSWORD = "lanterne verte sous la pluie"




@pytest.mark.parametrize("browser", BROWSERS, indirect=True)
def test_a_citizen_resets_a_forgotten_password_and_returns_to_the_service(browser, live_with_mail, smtp, db):
    app, idp, rp = live_with_mail
    make_user(db)
    client_id, secret = make_client(db, redirect_uris=[f"{rp}/callback"])
    browser.goto(f"{idp}/oauth/authorize?response_type=code&client_id={client_id}"
              f"&redirect_uri={rp}/callback&scope=openid&state=abc")
    assert browser.locator("h1").inner_text() == "Se connecter"
    rid = parse_qs(urlparse(browser.url).query)["rid"][0]
    screenshot(browser, "recovery-1-login")

    browser.get_by_role("link", name="Mot de passe oublié ?").click()
    assert urlparse(browser.url).path == "/recovery/password"
    assert parse_qs(urlparse(browser.url).query)["rid"] == [rid]  # the pending request follows the citizen
    screenshot(browser, "recovery-2-ask")
    browser.fill("input[name=login]", "jean.dupont")
    browser.get_by_role("button", name="Valider").click()

    assert urlparse(browser.url).path == "/recovery/password"
    assert browser.locator("h1").inner_text() == "Consultez votre messagerie"
    assert browser.locator("[role=status]").is_visible()  # the neutral answer
    back = browser.get_by_role("link", name="Retour").get_attribute("href")
    assert urlparse(back).path == "/login" and parse_qs(urlparse(back).query)["rid"] == [rid]
    screenshot(browser, "recovery-3-sent")
    assert smtp.messages == []  # nothing was sent on the request path

    assert deliver(app) >= 2  # the request's job, then the mail's
    [mail] = smtp.wait_for(1)
    assert mail["To"] == "jean.dupont@example.fr"
    assert mail["Subject"] == "Réinitialisez votre mot de passe Sésame"  # in the language the citizen used
    text = smtp.text(mail)
    assert text.splitlines()[0] == "Votre identifiant : jean.dupont"  # the identifier comes first
    link = re.search(r"https?://\S+/recovery/reset/\S+", text).group(0)
    assert link.startswith(f"{idp}/recovery/reset/")

    opened = browser.goto(link)
    assert opened.status == 200 and opened.headers["referrer-policy"] == "no-referrer"
    assert browser.locator("form input[name=username]").get_attribute("value") == "jean.dupont"  # for password managers
    assert browser.locator("h1").inner_text() == "Choisissez un nouveau mot de passe"
    screenshot(browser, "recovery-4-reset")
    browser.fill("#new_password", NEW_PASSWORD)
    browser.fill("#new_password_confirm", NEW_PASSWORD)
    browser.get_by_role("button", name="Changer mon mot de passe").click()

    assert urlparse(browser.url).path == "/login"
    assert browser.locator("h1").inner_text() == "Se connecter"
    assert browser.input_value("#username") == "jean.dupont"  # pre-filled
    assert browser.locator("[role=status]").inner_text() == \
        "Votre mot de passe a été changé. Connectez-vous avec votre nouveau mot de passe."
    screenshot(browser, "recovery-5-login-after-reset")
    browser.fill("#password", PASSWORD)  # the old one no longer works
    browser.click("button[type=submit]")
    assert browser.locator("[role=alert] li").inner_text() == "Identifiant ou mot de passe incorrect."
    browser.fill("#password", NEW_PASSWORD)
    browser.click("button[type=submit]")
    assert browser.locator("h1").inner_text() == "La prochaine fois, rien à retenir"  # the passkey offer
    browser.click("a[data-passkey-later]")  # not now: on to the service

    assert browser.url.startswith(f"{rp}/callback?")
    received = parse_qs(urlparse(browser.url).query)
    assert received["state"] == ["abc"] and received["iss"] == [idp]
    tokens = requests.post(f"{idp}/oauth/token", auth=(client_id, secret), timeout=10, data={
        "grant_type": "authorization_code", "code": received["code"][0], "redirect_uri": f"{rp}/callback"})
    assert tokens.status_code == 200 and tokens.json()["id_token"]  # the service gets its citizen

    reopened = browser.goto(link)  # the mail's link worked once
    assert reopened.status == 410 and browser.locator("h1").inner_text() == "Ce lien ne fonctionne plus"
    screenshot(browser, "recovery-6-link-used")
    browser.get_by_role("link", name="Demander un nouveau lien").click()
    assert urlparse(browser.url).path == "/recovery/password"
