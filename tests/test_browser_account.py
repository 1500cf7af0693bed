"""My account in Debian's Chromium (JavaScript off): from the account page to "Retirer l'accès" for a
service the citizen signed in to, then to deleting the account, as a person clicks through them."""

from __future__ import annotations

import pytest

from conftest import free_port
from helpers import PASSWORD, make_client, make_user, relying_party, screenshot, served


@pytest.fixture
def live(build_app):
    port = free_port()
    with served(build_app(IDP_ISSUER=f"http://127.0.0.1:{port}"), port) as idp, served(relying_party) as rp:
        yield idp, rp


def test_a_citizen_removes_a_services_access_then_deletes_the_account(browser, live, db):
    idp, rp = live
    make_user(db)
    client_id, _ = make_client(db, name="Transports scolaires", redirect_uris=[f"{rp}/callback"])
    page = browser
    page.goto(f"{idp}/oauth/authorize?response_type=code&client_id={client_id}"
              f"&redirect_uri={rp}/callback&scope=openid&state=abc")
    page.fill("#username", "jean.dupont")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    assert page.url.startswith(f"{rp}/callback?")

    page.goto(f"{idp}/account")
    page.click("text=Mes services")
    assert page.locator("h1").inner_text() == "Mes services"
    assert page.locator("li[data-service] h2").all_inner_texts() == ["Transports scolaires"]
    screenshot(page, "account-services")
    page.click("li[data-service] button")
    assert page.locator("[role=status]").inner_text() == (
        "Transports scolaires n’a plus accès à votre compte. Ce service vous demandera de vous connecter à nouveau.")
    assert page.locator("li[data-service]").count() == 0

    page.goto(f"{idp}/account")
    page.click("text=Mes sessions")
    assert page.locator("li[data-session] h2").inner_text().endswith("— Cette session")

    page.goto(f"{idp}/account")
    page.click("text=Supprimer mon compte")
    page.fill("#current_password", PASSWORD)
    page.click("main form button[type=submit]")
    assert page.locator(".field-error").all_inner_texts() == [
        "Cochez cette case pour confirmer que vous voulez supprimer votre compte."]
    page.fill("#current_password", PASSWORD)
    page.check("#confirm")
    page.click("main form button[type=submit]")
    assert page.locator("h1").inner_text() == "Votre compte est supprimé"
    screenshot(page, "account-deleted")
    page.goto(f"{idp}/account")
    assert page.locator("h1").inner_text() == "Se connecter"
