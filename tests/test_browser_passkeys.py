"""Passkeys in Debian's Chromium, with its virtual authenticator (the DevTools WebAuthn domain: a
platform authenticator with resident keys and user verification): the citizen adds one on "Mes
clés d'accès", then signs in at a service with it alone; python-jose reads ``amr`` in the ID token.
The provider is served as localhost, a secure context where WebAuthn works without TLS.

The negative paths too: a cancelled ceremony, a removed passkey, a closed account's passkey, a refused
password on "Mes clés d'accès": each says so in French, puts the focus where the citizen types next,
and leaves the password form working."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import delete, select, update

from idp.models import Passkey, User

from a11y import assert_accessible
from conftest import CHROMIUM, CHROMIUM_ARGS, FIREFOX, free_port
from firefox_bidi import Marionette
from helpers import PASSWORD, jose_claims, make_client, make_user, redeem, relying_party, served

PLATFORM_AUTHENTICATOR = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
                          "hasUserVerification": True, "isUserVerified": True, "automaticPresenceSimulation": True}
NO_AUTOFILL = "PublicKeyCredential.isConditionalMediationAvailable = function () { return Promise.resolve(false); };"


@pytest.fixture
def chromium_webauthn():
    """A French page of Debian's Chromium with JavaScript on, and a function that plugs a virtual
    authenticator into it (PLATFORM_AUTHENTICATOR, with these options changed)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="fr-FR")
        page = context.new_page()
        devtools = context.new_cdp_session(page)
        devtools.send("WebAuthn.enable")

        def plug(**options) -> str:
            return devtools.send("WebAuthn.addVirtualAuthenticator",
                                 {"options": {**PLATFORM_AUTHENTICATOR, **options}})["authenticatorId"]

        yield page, plug
        browser.close()


@pytest.fixture
def chromium_with_authenticator(chromium_webauthn):
    page, plug = chromium_webauthn
    plug()
    return page


@pytest.fixture
def live(build_app, db):
    """Jean Dupont's account, and the provider served as localhost: its base URL."""
    make_user(db)
    port = free_port()
    app = build_app(IDP_ISSUER=f"http://localhost:{port}")
    with served(app, port):
        yield f"http://localhost:{port}"


def sign_in_with_the_password(page, idp: str) -> None:
    page.fill("#username", "jean.dupont")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("main form[action='/login'] button[type=submit]")
    assert not page.url.startswith(f"{idp}/login"), page.locator("main").inner_text()


def add_a_passkey(page, idp: str) -> None:
    page.goto(f"{idp}/login")
    sign_in_with_the_password(page, idp)
    page.goto(f"{idp}/account/passkeys")
    page.fill("#current_password", PASSWORD)
    with page.expect_navigation():
        page.click("[data-passkey-register]")
    assert page.locator("[data-passkey]").count() == 1, page.locator("main").inner_text()


def focused(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.name")


def told_and_ready_to_type(page) -> str:
    """The login page after a failed ceremony: its sentence, the identifier field focused and described
    by it, the page still the login form."""
    status = page.locator("[data-passkey-status]")
    status.wait_for(state="visible", timeout=5000)
    assert page.locator("h1").inner_text() == "Se connecter"
    assert page.locator("main form[action='/login'] #password").is_visible()
    assert focused(page) == "username"
    assert status.get_attribute("id") in page.get_attribute("#username", "aria-describedby").split()
    return status.inner_text()


def test_a_citizen_adds_a_passkey_then_signs_in_at_a_service_with_it_alone(chromium_with_authenticator, build_app,
                                                                           db):
    page = chromium_with_authenticator
    make_user(db)
    port = free_port()
    idp = f"http://localhost:{port}"
    app = build_app(IDP_ISSUER=idp)
    with served(app, port), served(relying_party) as rp:
        client_id, secret = make_client(db, redirect_uris=[f"{rp}/callback"])
        page.goto(f"{idp}/login")
        page.fill("#username", "jean.dupont")
        page.fill("#password", PASSWORD)
        page.click("main form[action='/login'] button[type=submit]")

        page.goto(f"{idp}/account/passkeys")
        assert page.locator("[data-passkey]").count() == 0
        page.fill("#current_password", PASSWORD)
        with page.expect_navigation():
            page.click("[data-passkey-register]")
        assert page.locator("[data-passkey]").count() == 1, page.locator("main").inner_text()
        assert "Votre clé d’accès est ajoutée" in page.locator("main").inner_text()
        assert_accessible(page)

        authorize = (f"{idp}/oauth/authorize?response_type=code&client_id={client_id}"
                     f"&redirect_uri={rp}/callback&scope=openid&state=abc")

        def signed_in_at_the_service() -> list[str]:
            received = parse_qs(urlparse(page.url).query)
            assert received["state"] == ["abc"]
            issued = redeem(app.test_client(), client_id, secret, received["code"][0],
                            redirect_uri=f"{rp}/callback").get_json()
            return jose_claims(app.test_client(), issued["id_token"], audience=client_id, issuer=idp)["amr"]

        # The browser's autofill (conditional mediation): the virtual authenticator answers it at once,
        # as a citizen picking the account in the identifier field's list would.
        page.context.clear_cookies()  # signed out: only the passkey is left
        page.goto(authorize)
        page.wait_for_url(f"{rp}/callback**")
        assert signed_in_at_the_service() == ["hwk", "user"]

        # The button, where the browser offers no autofill.
        page.context.clear_cookies()
        page.context.add_init_script("PublicKeyCredential.isConditionalMediationAvailable = "
                                     "function () { return Promise.resolve(false); };")
        page.goto(authorize)
        assert page.locator("h1").inner_text() == "Se connecter"
        button = page.locator("[data-passkey-login]")
        assert button.is_visible()  # the script showed it: this browser has WebAuthn
        with page.expect_navigation(url=f"{rp}/callback**"):
            button.click()
        assert signed_in_at_the_service() == ["hwk", "user"]


def test_a_cancelled_ceremony_says_so_and_the_password_form_still_signs_in(chromium_webauthn, live):
    page, plug = chromium_webauthn
    plug()  # holds no passkey for this site: the browser's request ends as a cancel does (NotAllowedError)
    page.context.add_init_script(NO_AUTOFILL)
    page.goto(f"{live}/login")
    page.click("[data-passkey-login]")
    said = told_and_ready_to_type(page)
    assert said.startswith("La connexion avec une clé d’accès a été annulée ou a pris trop de temps."), said
    assert "\u2019" in said and "'" not in said  # French typography, from the catalogue
    page.keyboard.type("jean.dupont")  # straight into the identifier field
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("main form[action='/login'] button[type=submit]")
    assert page.url == f"{live}/", page.locator("main").inner_text()


# The browser's autofill request giving up by itself (no passkey chosen), at a moment of its own.
AUTOFILL_GIVES_UP = """
(function () {
  var get = navigator.credentials.get.bind(navigator.credentials);
  navigator.credentials.get = function (request) {
    if (request && request.mediation === "conditional") {
      window.autofillGaveUp = new Promise(function (resolve) { window.giveUp = resolve; });
      return window.autofillGaveUp.then(function () {
        throw new DOMException("The operation either timed out or was not allowed.", "NotAllowedError");
      });
    }
    return get(request);
  };
})();
"""


def test_the_autofill_giving_up_while_the_citizen_types_says_nothing_and_takes_no_focus(chromium_webauthn, live):
    """Found in loaded CI runs: the autofill's own NotAllowedError moved the focus to the identifier in the
    middle of typing the password, which then went into the wrong field."""
    page, plug = chromium_webauthn
    plug()
    page.context.add_init_script(AUTOFILL_GIVES_UP)
    page.goto(f"{live}/login")
    page.fill("#username", "jean.dupont")
    page.focus("#password")
    page.wait_for_function("typeof window.giveUp === 'function'")
    page.evaluate("window.giveUp()")  # the browser gives up while the password field has the focus
    page.wait_for_timeout(100)
    assert focused(page) == "password" and page.locator("[data-passkey-status]").is_hidden()
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.click("main form[action='/login'] button[type=submit]")
    assert page.url == f"{live}/", page.locator("main").inner_text()


def test_a_removed_passkey_or_a_closed_accounts_gets_the_login_page_back_with_one_sentence(chromium_webauthn,
                                                                                          live, db):
    page, plug = chromium_webauthn
    plug()
    add_a_passkey(page, live)
    db.execute(delete(Passkey))  # removed (from another browser, say): the authenticator still holds it
    db.commit()
    page.context.clear_cookies()
    page.goto(f"{live}/login")  # the autofill's request: the virtual authenticator answers with it at once
    said = told_and_ready_to_type(page)
    assert said == "Cette clé d’accès n’est pas, ou plus, reliée à un compte. Connectez-vous avec votre identifiant."
    assert page.url == f"{live}/login"
    assert "Traceback" not in page.content() and page.locator("[data-passkey-status]").count() == 1

    # A closed account's passkey, through the button this time.  The autofill goes off first: the virtual
    # authenticator would otherwise pick the removed passkey again while the password is being typed, and its
    # refusal, rightly, puts the focus in the identifier field.
    page.context.add_init_script(NO_AUTOFILL)
    add_a_passkey(page, live)
    db.execute(update(User).values(status="closed"))
    db.commit()
    page.context.clear_cookies()
    page.goto(f"{live}/login")
    assert page.locator("[data-passkey-status]").is_hidden()
    page.click("[data-passkey-login]")
    assert told_and_ready_to_type(page) == said


def test_the_passkey_list_names_each_and_a_refused_password_is_marked(chromium_webauthn, live, db):
    page, plug = chromium_webauthn
    plug()
    page.goto(f"{live}/login")
    sign_in_with_the_password(page, live)
    page.goto(f"{live}/account/passkeys")
    page.fill("#current_password", "not the password")
    page.click("[data-passkey-register]")
    status = page.locator("[data-passkey-status]")
    status.wait_for(state="visible", timeout=5000)
    assert "mot de passe" in status.inner_text()
    assert focused(page) == "current_password"
    assert page.get_attribute("#current_password", "aria-invalid") == "true"
    assert status.get_attribute("id") in page.get_attribute("#current_password", "aria-describedby").split()
    assert_accessible(page)

    page.fill("#current_password", PASSWORD)
    with page.expect_navigation():
        page.click("[data-passkey-register]")
    listed = page.locator("[data-passkey]")
    assert listed.count() == 1
    name = db.scalar(select(Passkey.name))  # as the provider named it (the authenticator's model, or the date)
    assert name and listed.locator("h2").inner_text() == name
    assert listed.locator("input[name=name]").input_value() == name
    assert_accessible(page)


@pytest.fixture
def firefox_webauthn(tmp_path):
    """Debian's firefox-esr with JavaScript on and a virtual authenticator, over Marionette (its BiDi
    has no WebAuthn commands)."""
    firefox = Marionette(FIREFOX, tmp_path / "firefox-profile")
    try:
        firefox.add_virtual_authenticator()
        yield firefox
    finally:
        firefox.close()


SHOWN = "return !document.querySelector(arguments[0]).hidden"


def test_in_firefox_the_password_still_signs_in_and_a_passkey_is_added_used_then_refused_once_removed(
        firefox_webauthn, live, db):
    firefox = firefox_webauthn
    firefox.goto(f"{live}/login")
    assert firefox.run(SHOWN, "[data-passkey-login]")  # the script runs, and Firefox has WebAuthn
    firefox.fill("#username", "jean.dupont")
    firefox.fill("#password", PASSWORD)
    firefox.click("main form[action='/login'] button[type=submit]")
    assert firefox.url == f"{live}/"

    firefox.goto(f"{live}/account/passkeys")
    assert firefox.run(SHOWN, "[data-passkey-register]")
    firefox.fill("#current_password", PASSWORD)
    firefox.click("[data-passkey-register]")
    added = firefox.wait_for("var s = document.querySelector('[data-passkey-status]');"
                             " return document.querySelector('[data-passkey]') ? 'added' : !s.hidden && s.innerText")
    assert added == "added", added  # else what the page said

    firefox.delete_cookies()
    firefox.goto(f"{live}/login")
    firefox.click("[data-passkey-login]")
    firefox.wait_for("return location.pathname === '/'")
    assert "jean.dupont" in firefox.run("return document.querySelector('main').innerText")

    db.execute(delete(Passkey))
    db.commit()
    firefox.delete_cookies()
    firefox.goto(f"{live}/login")
    firefox.click("[data-passkey-login]")
    said = firefox.wait_for("var s = document.querySelector('[data-passkey-status]'); return !s.hidden && s.innerText")
    assert said == "Cette clé d’accès n’est pas, ou plus, reliée à un compte. Connectez-vous avec votre identifiant."
    assert firefox.run("return document.activeElement.name") == "username"
    assert firefox.url == f"{live}/login"


def test_the_readme_screenshots_of_passkeys(live, db):
    """The README's passkey screenshots, taken as test_accessibility.py takes the others (its ``shoot``,
    1280 × 800, French) but with JavaScript on, where the button shows: the login page for a service,
    and "Mes clés d'accès" with one passkey, its dates fixed so that each run takes the same picture."""
    from playwright.sync_api import sync_playwright
    from test_accessibility import FIXED_TIME, LOGO, browsing, shoot

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browsing(chromium, "fr", viewport={"width": 1280, "height": 800})
            page = context.new_page()
            devtools = context.new_cdp_session(page)
            devtools.send("WebAuthn.enable")
            devtools.send("WebAuthn.addVirtualAuthenticator", {"options": PLATFORM_AUTHENTICATOR})
            page.add_init_script(NO_AUTOFILL)  # the picture shows the button, not an autofill's sign-in
            client_id, _secret = make_client(db, name="Transports scolaires", logo_uri=LOGO,
                                             policy_uri="https://transports.example.fr/confidentialite",
                                             redirect_uris=[f"{live}/callback"])
            page.goto(f"{live}/oauth/authorize?response_type=code&client_id={client_id}"
                      f"&redirect_uri={live}/callback&scope=openid&state=abc")
            assert page.locator("[data-passkey-login]").is_visible()
            assert page.locator(f"main img[src='{LOGO}']").count() == 1
            shoot(page, "passkey-login")

            add_a_passkey(page, live)
            db.execute(update(Passkey).values(created_at=FIXED_TIME, last_used_at=FIXED_TIME, name="Mon téléphone"))
            db.commit()
            page.reload()
            assert page.locator("[data-passkey] h2").inner_text() == "Mon téléphone"
            shoot(page, "passkeys-list")
        finally:
            chromium.close()


def test_after_a_reset_one_click_adds_a_passkey_and_goes_on(chromium_with_authenticator, build_app, db):
    from idp.one_time_tokens import one_time_tokens
    from plugins.recovery.requests import RESET

    page = chromium_with_authenticator
    user = make_user(db)
    port = free_port()
    idp = f"http://localhost:{port}"
    app = build_app(IDP_ISSUER=idp)
    with app.app_context():
        token = one_time_tokens().issue(user.id, RESET, 600)
    new_password = "a quiet walk by the canal at noon"
    with served(app, port):
        page.goto(f"{idp}/recovery/reset/{token}")
        page.fill("#new_password", new_password)
        page.fill("#new_password_confirm", new_password)
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        page.fill("#password", new_password)  # the identifier is filled in already
        with page.expect_navigation():
            page.click("main form[action='/login'] button[type=submit]")
        assert page.locator("h1").inner_text() == "La prochaine fois, rien à retenir"
        assert page.locator("#current_password").count() == 0  # typed a moment ago, at this sign-in
        with page.expect_navigation():
            page.click("[data-passkey-register]")
        assert urlparse(page.url).path == "/"  # where the sign-in was going
        assert "Votre clé d’accès est ajoutée" in page.locator("main").inner_text()
        db.expire_all()
        assert len(db.scalars(select(Passkey)).all()) == 1
