"""A newcomer and a citizen in Debian's Chromium and Debian's firefox-esr with JavaScript off,
French first: sign-up sent by a relying party (prompt=create) through the mailed confirmation
back to the service, sign-up that finds the account one already has, and "Mes infos
personnelles". The provider,
the relying party and the SMTP sink are real servers on loopback."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlparse

import pytest
import requests

from conftest import BROWSERS
from helpers import PASSWORD, deliver, make_client, make_user, screenshot

NEW_PASSWORD = "lanterne verte sous la pluie"




def field(browser, label: str):
    return browser.get_by_label(label, exact=True)


def submit(browser, name: str):
    """Click a form's button as a citizen does; return the response of the page it leads to."""
    with browser.expect_navigation() as navigation:
        browser.get_by_role("button", name=name, exact=True).click()
    return navigation.value


@pytest.mark.parametrize("browser", BROWSERS, indirect=True)
def test_a_newcomer_signs_up_from_a_service_confirms_the_address_and_returns_to_it(browser, live_with_mail, smtp, db):
    app, idp, rp = live_with_mail
    client_id, secret = make_client(db, redirect_uris=[f"{rp}/callback"])
    browser.goto(f"{idp}/oauth/authorize?response_type=code&client_id={client_id}"
                 f"&redirect_uri={rp}/callback&scope=openid%20profile%20email&state=xyz&prompt=create")
    assert urlparse(browser.url).path == "/signup"
    rid = parse_qs(urlparse(browser.url).query)["rid"][0]
    assert browser.locator("h1").inner_text() == "Créez votre compte Sésame"
    assert browser.title() == "Nouvel utilisateur ? Créez un compte — Sésame"
    screenshot(browser, "signup-1-form")

    field(browser, "Prénom").fill("Claire")
    field(browser, "Nom de famille").fill("Le Goff")
    birthdate = field(browser, "Date de naissance")
    birthdate.press_sequentially("03/11/1988")  # typed as the hint under the field says
    assert birthdate.input_value() == "03/11/1988", "the date typed as the hint says is not the date in the field"
    field(browser, "Adresse électronique").fill("claire.legoff@example.fr")
    field(browser, "Identifiant").fill("claire.legoff")
    field(browser, "Mot de passe").fill(NEW_PASSWORD)
    field(browser, "Mot de passe, une seconde fois").fill(NEW_PASSWORD)
    sent = submit(browser, "Créer mon compte")

    assert sent.status == 200
    assert browser.locator("h1").inner_text() == "Consultez votre messagerie"
    assert browser.locator("[role=status]").is_visible()
    back = browser.get_by_role("link", name="Retour").get_attribute("href")
    assert urlparse(back).path == "/login" and parse_qs(urlparse(back).query)["rid"] == [rid]
    screenshot(browser, "signup-2-sent")
    assert smtp.messages == []  # the account and its mail come from the job

    assert deliver(app) >= 2  # the sign-up's job, then the mail's
    [mail] = smtp.wait_for(1)
    assert mail["To"] == "claire.legoff@example.fr"
    assert mail["Subject"] == "Confirmez votre adresse électronique pour Sésame"  # in the language of the form
    link = re.search(r"https?://\S+/signup/verify/\S+", smtp.text(mail)).group(0)
    assert link.startswith(f"{idp}/signup/verify/")

    opened = browser.goto(link)
    assert opened.status == 200
    assert browser.locator("h1").inner_text() == "Confirmez votre adresse électronique"
    assert "claire.legoff@example.fr" in browser.locator("main").inner_text()
    screenshot(browser, "signup-3-verify")
    browser.get_by_label("Le mot de passe choisi lors de la création du compte").fill(NEW_PASSWORD)
    submit(browser, "Confirmer mon adresse")

    assert urlparse(browser.url).path == "/login"
    assert parse_qs(urlparse(browser.url).query)["rid"] == [rid]  # the service's request is still pending
    assert browser.locator("h1").inner_text() == "Se connecter"
    assert browser.input_value("#username") == "claire.legoff"  # pre-filled
    assert browser.locator("[role=status]").inner_text() == \
        "Votre adresse électronique est confirmée. Connectez-vous pour continuer."
    screenshot(browser, "signup-4-login")
    browser.fill("#password", NEW_PASSWORD)
    browser.get_by_role("button", name="Se connecter").click()
    assert browser.locator("h1").inner_text() == "La prochaine fois, rien à retenir"  # the passkey offer
    browser.click("a[data-passkey-later]")  # not now: on to the service

    assert browser.url.startswith(f"{rp}/callback?")
    received = parse_qs(urlparse(browser.url).query)
    assert received["state"] == ["xyz"] and received["iss"] == [idp]
    screenshot(browser, "signup-5-callback")
    tokens = requests.post(f"{idp}/oauth/token", auth=(client_id, secret), timeout=10, data={
        "grant_type": "authorization_code", "code": received["code"][0], "redirect_uri": f"{rp}/callback"})
    assert tokens.status_code == 200
    userinfo = requests.get(f"{idp}/oauth/userinfo", timeout=10,
                            headers={"Authorization": f"Bearer {tokens.json()['access_token']}"}).json()
    assert {k: userinfo.get(k) for k in ("given_name", "family_name", "email", "email_verified")} == {
        "given_name": "Claire", "family_name": "Le Goff", "email": "claire.legoff@example.fr",
        "email_verified": True}  # what the newcomer typed is what the service receives


@pytest.mark.parametrize("browser", BROWSERS, indirect=True)
def test_an_existing_person_sees_the_masked_address_in_red(browser, live_with_mail, smtp, db):
    app, idp, _rp = live_with_mail
    make_user(db, username="elodie.dupont", email="jeanne.martin@orange.fr", given_name="Élodie",
              family_name="Dupont", birthdate=dt.date(1990, 3, 4))
    browser.goto(f"{idp}/signup")
    typed = {"Prénom": "elodie", "Nom de famille": "DUPONT", "Date de naissance": "04/03/1990",
             "Adresse électronique": "elodie.dupont@laposte.net", "Identifiant": "elodie.d"}
    for label, value in typed.items():
        field(browser, label).fill(value)
    field(browser, "Mot de passe").fill(NEW_PASSWORD)
    field(browser, "Mot de passe, une seconde fois").fill(NEW_PASSWORD)
    answer = submit(browser, "Créer mon compte")

    assert answer.status == 409
    assert browser.locator("h1").inner_text() == "Créez votre compte Sésame"
    alert = browser.locator("[role=alert]")
    assert alert.locator("p").first.inner_text() == ("Un compte existe déjà à votre nom. Il a été créé avec "
                                                     "l’adresse électronique commençant par jea•••@o•••.fr.")
    assert "jeanne.martin" not in browser.content() and "orange.fr" not in browser.content()
    assert alert.evaluate("e => getComputedStyle(e).color") == "rgb(206, 5, 0)"  # red, as the design's alerts
    forgot = alert.get_by_role("link", name="Mot de passe oublié ?")
    assert urlparse(forgot.get_attribute("href")).path == "/recovery/password"
    help_link = alert.get_by_role("link", name="Je n’ai plus accès à cette adresse")
    assert urlparse(help_link.get_attribute("href")).path == "/recovery/help"
    for label, value in typed.items():
        assert field(browser, label).input_value() == value, label  # nothing typed is lost
    screenshot(browser, "signup-existing-account")
    assert deliver(app) == 0 and smtp.messages == []  # no account made, nothing mailed

    help_link.click()
    assert urlparse(browser.url).path == "/recovery/help"
    assert browser.locator("h1").inner_text() == "Je n’ai plus accès à mon adresse électronique"
    assert field(browser, "Nouvelle adresse électronique").is_visible()
    screenshot(browser, "signup-help-form")


@pytest.mark.parametrize("browser", BROWSERS, indirect=True)
def test_a_citizen_updates_their_details_and_sees_their_activity(browser, live_with_mail, db):
    _app, idp, rp = live_with_mail
    user = make_user(db, birthdate=dt.date(1975, 6, 21))
    user.phone_number, user.locality = "02 99 00 00 00", "Nantes"
    db.commit()
    client_id, _secret = make_client(db, name="Transports régionaux", redirect_uris=[f"{rp}/callback"])
    browser.goto(f"{idp}/oauth/authorize?response_type=code&client_id={client_id}"
                 f"&redirect_uri={rp}/callback&scope=openid&state=abc")
    browser.fill("#username", "jean.dupont")
    browser.fill("#password", PASSWORD)
    browser.get_by_role("button", name="Se connecter").click()
    assert browser.url.startswith(f"{rp}/callback?")

    browser.goto(f"{idp}/account")
    assert browser.locator("h1").inner_text() == "Mes infos personnelles"
    assert field(browser, "Numéro de téléphone (facultatif)").input_value() == "02 99 00 00 00"
    assert field(browser, "Commune (facultatif)").input_value() == "Nantes"
    field(browser, "Numéro de téléphone (facultatif)").fill("06 12 34 56 78")
    field(browser, "Commune (facultatif)").fill("Rennes")
    field(browser, "Mot de passe actuel").fill(PASSWORD)  # a new phone number needs it
    saved = submit(browser, "Enregistrer")

    assert saved.status == 200 and urlparse(browser.url).path == "/account"
    assert browser.locator("[role=status]").inner_text() == "Vos informations sont enregistrées."
    assert field(browser, "Numéro de téléphone (facultatif)").input_value() == "06 12 34 56 78"
    assert field(browser, "Commune (facultatif)").input_value() == "Rennes"
    assert field(browser, "Prénom").input_value() == "Jean"  # the rest as it was
    assert field(browser, "Date de naissance (facultatif)").input_value() == "21/06/1975"  # as French people write it

    assert browser.get_by_role("heading", name="Activité récente").is_visible()
    activity = browser.locator("ul.activity li").all_inner_texts()
    assert any(re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d — Connexion à un service\u00a0: Transports régionaux", item)
               for item in activity), activity
    assert len([item for item in activity if "Transports régionaux" in item]) == 1  # one sign-in, one line
    screenshot(browser, "signup-account")
    browser.reload()
    assert field(browser, "Commune (facultatif)").input_value() == "Rennes"  # saved, not just shown
