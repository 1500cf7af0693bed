"""Passkeys in Debian's Chromium, with its virtual authenticator (the DevTools WebAuthn domain: a
platform authenticator with resident keys and user verification): the citizen adds one on "Mes
clés d'accès", then signs in at a service with it alone; python-jose reads ``amr`` in the ID token.
The provider is served as localhost, a secure context where WebAuthn works without TLS."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from a11y import assert_accessible
from conftest import CHROMIUM, CHROMIUM_ARGS, free_port
from helpers import PASSWORD, jose_claims, make_client, make_user, redeem, relying_party, served


@pytest.fixture
def chromium_with_authenticator():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="fr-FR")
        page = context.new_page()
        devtools = context.new_cdp_session(page)
        devtools.send("WebAuthn.enable")
        devtools.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
            "isUserVerified": True, "automaticPresenceSimulation": True}})
        yield page
        browser.close()


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
