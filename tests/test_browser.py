"""A citizen's browser, Debian's Chromium (Playwright) and Debian's firefox-esr (WebDriver BiDi),
with JavaScript off (every page must work without it), against the provider served over real
HTTP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from test_federation_pages import upstream_subject

from idp import upstreams
from idp.upstream_identities import link

from conftest import BROWSERS, free_port
from helpers import PASSWORD, make_client, make_user, relying_party, screenshot, served
from upstream_provider import BORN


@pytest.fixture
def live(build_app):
    """The provider (its issuer being its own URL) and a relying party, both over real HTTP."""
    port = free_port()
    with served(build_app(IDP_ISSUER=f"http://127.0.0.1:{port}"), port) as idp, served(relying_party) as rp:
        yield idp, rp


@pytest.mark.parametrize("browser", BROWSERS, indirect=True)
def test_a_citizen_signs_in_without_javascript_and_returns_to_the_service(browser, live, db):
    idp, rp = live
    make_user(db)
    client_id, _ = make_client(db, redirect_uris=[f"{rp}/callback"])
    page = browser
    page.goto(f"{idp}/oauth/authorize?response_type=code&client_id={client_id}"
              f"&redirect_uri={rp}/callback&scope=openid&state=abc")

    assert page.locator("h1").inner_text() == "Se connecter"
    page.fill("#username", "jean.dupont")
    page.fill("#password", "not the password at all")
    page.click("button[type=submit]")
    assert page.locator("[role=alert] li").inner_text() == "Identifiant ou mot de passe incorrect."
    assert page.input_value("#username") == "jean.dupont"  # bad input never loses what was typed
    screenshot(page, "login-error")

    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")

    assert page.url.startswith(f"{rp}/callback?")
    received = parse_qs(urlparse(page.url).query)
    assert received["state"] == ["abc"] and received["iss"] == [idp] and received["code"]


@pytest.mark.parametrize("browser", BROWSERS, indirect=True)
def test_the_login_page_switches_to_english(browser, live):
    idp, _ = live
    browser.goto(f"{idp}/login")
    browser.click("text=English")
    assert browser.locator("h1").inner_text() == "Sign in"
    assert browser.locator("label[for=username]").inner_text() == "Identifier or e-mail address"
    screenshot(browser, "login-en")


@pytest.mark.parametrize("browser", BROWSERS, indirect=True)
def test_a_citizen_signs_in_with_franceconnect_and_returns_to_the_service(browser, build_app, db, upstream):
    """The journey through the provider set up as FranceConnect (tests/upstream_provider.py), JavaScript
    off, in both browsers.  Sésame is reached as localhost and the provider as 127.0.0.1: cookies are
    per host, not per port, and the two must not share theirs."""
    issuer, counted, _keys = upstream
    port = free_port()
    idp = f"http://localhost:{port}"
    upstream_db = counted.app.extensions["idp.db"].session_factory()
    try:
        make_user(upstream_db, username="camille.martin", email="camille.martin@example.fr", given_name="Camille",
                  family_name="Martin", birthdate=BORN)
        fc_client, fc_secret = make_client(upstream_db, redirect_uris=[f"{idp}/federation/fc/callback"],
                                           scope="openid profile email", userinfo_alg="ES256")
    finally:
        upstream_db.close()
    counted.acr = "eidas1"
    upstreams.add(db, name="fc", issuer=issuer, client_id=fc_client, client_secret=fc_secret,
                  scope="openid profile email", acr_values="eidas1", style="franceconnect")
    citizen = make_user(db, username="camille", email="camille@example.fr", given_name="Camille",
                        family_name="Martin", birthdate=BORN)
    link(db, citizen, issuer, upstream_subject(counted.app, "camille.martin"), "fc")
    with served(build_app(IDP_ISSUER=idp), port), served(relying_party) as rp:
        client_id, _ = make_client(db, redirect_uris=[f"{rp}/callback"])
        page = browser
        page.goto(f"{idp}/oauth/authorize?response_type=code&client_id={client_id}"
                  f"&redirect_uri={rp}/callback&scope=openid&state=abc")
        assert page.locator("h1").inner_text() == "Se connecter"
        page.click("button.franceconnect")

        assert page.url.startswith(f"{issuer}/login"), page.url  # at the provider, which asks who it is
        page.fill("#username", "camille.martin")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")

        assert page.url.startswith(f"{rp}/callback?"), page.url  # back at the service, signed in here
        received = parse_qs(urlparse(page.url).query)
        assert received["state"] == ["abc"] and received["code"]


def test_without_javascript_the_passkey_button_stays_hidden(browser, live):
    """The button is the script's to show, where WebAuthn works; the theme's button rules must not show it."""
    idp, _ = live
    browser.goto(f"{idp}/login")
    assert browser.locator("[data-passkey-login]").count() == 1
    assert not browser.locator("[data-passkey-login]").is_visible()
    assert browser.get_by_role("button", name="Se connecter", exact=True).is_visible()
