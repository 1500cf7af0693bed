"""The Firefox the journeys use (tests/firefox_bidi.py) is the citizen's: page JavaScript off,
French first, no cookie from another test, and its locators and navigations as strict as
Playwright's, so a journey that passes in it passes for the right reason. Against a small
WSGI page served over real HTTP on loopback."""

from __future__ import annotations

import html
from urllib.parse import parse_qs

import pytest

from firefox_bidi import BidiError
from helpers import served

PAGE = """<!doctype html><html lang="fr"><head><title>Essai</title></head><body><main>
<h1>Sans JavaScript</h1><script>document.querySelector("h1").textContent = "Le script a tourné";</script>
<noscript><p id="noscript">JavaScript est désactivé</p></noscript>
<p id="language">{language}</p><p id="cookie">{cookie}</p><p id="said">{said}</p>
<form method="post" action="/said">
  <label for="said-field">Ce que vous dites</label><input id="said-field" name="said" value="déjà là">
  <button type="submit">Envoyer</button> <button type="button">Autre bouton</button>
</form></main></body></html>"""


def little_site(environ, start_response):
    """A page that shows what the browser sent; a POST to /said answers 422 with what was typed."""
    if environ["REQUEST_METHOD"] == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)).decode()
        said, status = parse_qs(body).get("said", [""])[0], "422 Unprocessable Content"
    else:
        said, status = "", "200 OK"
    page = PAGE.format(language=html.escape(environ.get("HTTP_ACCEPT_LANGUAGE", "")),
                       cookie=html.escape(environ.get("HTTP_COOKIE", "")), said=html.escape(said))
    start_response(status, [("Content-Type", "text/html; charset=utf-8"), ("Set-Cookie", "seen=1; Path=/")])
    return [page.encode()]


@pytest.fixture
def site():
    with served(little_site) as url:
        yield url


def test_the_pages_javascript_does_not_run_and_french_comes_first(firefox, site):
    answer = firefox.goto(f"{site}/")
    assert answer.status == 200 and answer.headers["content-type"] == "text/html; charset=utf-8"
    assert firefox.locator("h1").inner_text() == "Sans JavaScript"  # the page's script never ran
    assert firefox.locator("#noscript").is_visible()
    assert firefox.locator("#language").inner_text().startswith("fr-FR")
    assert firefox.title() == "Essai"


def test_each_test_starts_without_the_cookies_of_another(firefox_process, site):
    first = firefox_process.new_page()
    try:
        first.goto(f"{site}/")
        first.goto(f"{site}/")
        assert first.locator("#cookie").inner_text() == "seen=1"  # cookies work within a test
        second = firefox_process.new_page()
        try:
            second.goto(f"{site}/")
            assert second.locator("#cookie").inner_text() == ""
        finally:
            second.close()
    finally:
        first.close()


def test_typing_replaces_the_field_and_a_submit_waits_for_the_answer(firefox, site):
    firefox.goto(f"{site}/")
    firefox.get_by_label("Ce que vous dites", exact=True).fill("Élodie « 04/03/1990 »")
    with firefox.expect_navigation() as navigation:
        firefox.get_by_role("button", name="Envoyer", exact=True).click()
    assert navigation.value.status == 422
    assert firefox.locator("#said").inner_text() == "Élodie « 04/03/1990 »"  # typed over "déjà là"
    assert firefox.url == f"{site}/said"


def test_a_locator_must_find_exactly_one_element(firefox, site):
    firefox.goto(f"{site}/")
    with pytest.raises(BidiError, match="matched 2 elements, not one"):
        firefox.locator("button").click()
    with pytest.raises(BidiError, match="matched 0 elements, not one"):
        firefox.get_by_role("button", name="Envoyer maintenant", exact=True).click()
    assert firefox.locator("button").count() == 2
    assert firefox.locator("button").first.inner_text() == "Envoyer"


def test_a_click_that_does_not_navigate_is_not_taken_for_a_navigation(firefox, site):
    firefox.goto(f"{site}/")
    with pytest.raises(BidiError, match="the action did not navigate"), firefox.expect_navigation():
        firefox.get_by_role("button", name="Autre bouton").click()
    assert firefox.url == f"{site}/"
