"""The footer of every page and the pages behind it: the accessibility statement, personal
data, the legal notice, help and contact; in French by default and in English."""

from __future__ import annotations

import html
import re

import pytest
from test_french_pages import FrenchText, assert_french

from conftest import free_port
from helpers import SCREENSHOTS, login, make_user, served

FOOTER_LINKS = ['<a href="/accessibilite">Accessibilité\u00a0: non conforme</a>',
                '<a href="/mentions-legales">Mentions légales</a>',
                '<a href="/donnees-personnelles">Données personnelles</a>',
                '<a href="/aide-et-contact">Aide et contact</a>']
PAGES = [("/accessibilite", "Déclaration d’accessibilité", "Accessibility statement"),
         ("/donnees-personnelles", "Données personnelles", "Personal data"),
         ("/mentions-legales", "Mentions légales", "Legal notice"),
         ("/aide-et-contact", "Aide et contact", "Help and contact")]


def french_text(page: str) -> str:
    """The text read, its non-breaking spaces kept (``\\s`` would take them for spaces)."""
    parser = FrenchText()
    parser.feed(page)
    return re.sub(r"[ \t\r\n]+", " ", html.unescape(" ".join(parser.parts)))


def heading(page) -> str:
    return re.search(r"<h1>(.*?)</h1>", page.get_data(as_text=True), re.S).group(1).strip()


def footer(page) -> str:
    return re.search(r"<footer>.*</footer>", page.get_data(as_text=True), re.S).group(0)


# --- the footer -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "status"), [("/login", 200), ("/signup", 200), ("/recovery/help", 200),
                                              ("/no/such/page", 404), ("/accessibilite", 200)])
def test_every_page_has_the_footer(client, path, status):
    page = client.get(path)
    assert page.status_code == status
    for link in FOOTER_LINKS:
        assert link in footer(page), (path, link)
    assert '<nav aria-label="Informations sur le site">' in footer(page)


def test_signed_in_pages_have_the_footer_too(client, db):
    make_user(db)
    login(client)
    page = client.get("/")
    assert page.status_code == 200 and heading(page) == "Bonjour Jean"
    for link in FOOTER_LINKS:
        assert link in footer(page)


def test_the_footer_is_english_on_english_pages(client):
    links = footer(client.get("/login?lang=en"))
    for text in ("Accessibility: non-compliant", "Legal notice", "Personal data", "Help and contact"):
        assert f">{text}</a>" in links


@pytest.mark.parametrize(("status", "french"), [("none", "non conforme"), ("partial", "partiellement conforme"),
                                                ("full", "totalement conforme")])
def test_the_deployer_sets_the_conformance_status(build_app, status, french):
    client = build_app(IDP_ACCESSIBILITY_STATUS=status).test_client()
    assert f'<a href="/accessibilite">Accessibilité\u00a0: {french}</a>' in footer(client.get("/login"))
    statement = french_text(client.get("/accessibilite").get_data(as_text=True))
    assert f"est {french} avec le référentiel général" in statement


def test_an_unknown_conformance_status_stops_the_start(build_app):
    from idp.config import ConfigError

    with pytest.raises(ConfigError, match="IDP_ACCESSIBILITY_STATUS: expected one of none, partial, full"):
        build_app(IDP_ACCESSIBILITY_STATUS="conforme")


def test_the_footer_gives_the_help_contact_when_there_is_one(build_app, client):
    assert "help-contact" not in footer(client.get("/login"))  # nothing to show: nothing shown
    with_desk = build_app(IDP_HELPDESK_EMAIL="assistance@region.example.fr", IDP_HELPDESK_PHONE="05 61 00 00 00")
    links = footer(with_desk.test_client().get("/login"))
    assert '<a href="mailto:assistance@region.example.fr">assistance@region.example.fr</a>' in links
    assert '<a href="tel:0561000000">05 61 00 00 00</a>' in links


# --- the pages ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "french", "english"), PAGES)
def test_each_page_is_french_by_default_and_english_on_request(client, path, french, english):
    page = client.get(path)
    assert page.status_code == 200 and heading(page) == french
    assert f"<title>{french} — Sésame</title>" in page.get_data(as_text=True)
    assert_french(page)
    english_page = client.get(f"{path}?lang=en")
    assert english_page.status_code == 200 and heading(english_page) == english
    assert '<html lang="en"' in english_page.get_data(as_text=True)


@pytest.mark.parametrize(("path", "_french", "_english"), PAGES)
def test_the_french_pages_put_a_non_breaking_space_before_double_punctuation(client, path, _french, _english):
    text = french_text(client.get(path).get_data(as_text=True))
    text = re.sub(r"https?://\S+", "", text)
    wrong = [text[max(0, m.start() - 25):m.start() + 1] for m in re.finditer(r"(?<=[^\u00a0\u202f])[:;?!]", text)]
    assert not wrong


def test_the_accessibility_statement_follows_the_rgaa_model(client):
    text = french_text(client.get("/accessibilite").get_data(as_text=True))
    for section in ("État de conformité", "Résultats des tests", "Contenus non accessibles",
                    "Établissement de cette déclaration", "Retour d’information et contact", "Voies de recours"):
        assert section in text, section
    assert "Défenseur des droits" in text and "non conforme" in text
    assert "Aucun audit de conformité n’a encore été réalisé" in text


def test_the_personal_data_page_gives_the_durations_of_the_settings(build_app):
    client = build_app(IDP_PENDING_ACCOUNT_TTL=3 * 86400, IDP_SESSION_IDLE_TIMEOUT=900,
                       IDP_SESSION_MAX_AGE=8 * 3600, IDP_REFRESH_TOKEN_TTL=14 * 86400).test_client()
    text = french_text(client.get("/donnees-personnelles").get_data(as_text=True))
    # A duration's number and unit stay together: a non-breaking space.
    assert "supprimé au bout de 3\u00a0jours" in text
    assert "après 15\u00a0minutes sans activité, et au plus tard 8\u00a0heures après la connexion" in text
    assert "jeton de renouvellement\u00a0: 2\u00a0semaines" in text
    for right in ("article\u00a015", "article\u00a016", "article\u00a017", "article\u00a018", "article\u00a020",
                  "article\u00a021", "CNIL"):
        assert right in text, right
    english = re.sub(r"[ \t\r\n]+", " ", client.get("/donnees-personnelles?lang=en").get_data(as_text=True))
    assert "deleted after 3\u00a0days" in english and "after 15\u00a0minutes without activity" in english


def test_the_legal_notice_holds_placeholders_for_the_deployer(client):
    text = french_text(client.get("/mentions-legales").get_data(as_text=True))
    for section in ("Éditeur", "Directeur de la publication", "Hébergeur"):
        assert section in text
    assert text.count("à compléter") >= 3


def test_help_and_contact_gives_the_contact_and_the_help_request_form(build_app, client):
    bare = client.get("/aide-et-contact").get_data(as_text=True)
    assert 'href="/recovery/help"' in bare and "Contacter l’assistance" not in bare
    with_desk = build_app(IDP_HELPDESK_EMAIL="assistance@region.example.fr", IDP_HELPDESK_PHONE="05 61 00 00 00")
    page = with_desk.test_client().get("/aide-et-contact").get_data(as_text=True)
    main = page.split("<main")[1].split("</main>")[0]
    assert "Contacter l’assistance" in main and 'href="mailto:assistance@region.example.fr"' in main
    assert 'href="tel:0561000000"' in main


def test_help_and_contact_without_the_recovery_plugin_links_no_missing_page(build_app):
    page = build_app(IDP_PLUGINS="").test_client().get("/aide-et-contact")
    assert heading(page) == "Aide et contact"
    assert "/recovery/" not in page.get_data(as_text=True)


def test_a_theme_with_only_french_pages_serves_them_to_english_readers_too(build_app, tmp_path):
    (tmp_path / "pages/fr").mkdir(parents=True)
    (tmp_path / "pages/fr/aide-et-contact.html").write_text(
        '{% extends "base.html" %}{% block title %}Aide{% endblock %}{% block content %}<h1>Aide</h1>{% endblock %}')
    client = build_app(IDP_THEME_DIR=str(tmp_path)).test_client()
    assert heading(client.get("/aide-et-contact")) == "Aide"
    assert heading(client.get("/aide-et-contact?lang=en")) == "Aide"  # the region's text, not bundled placeholders


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_pages_only_answer_get(client, method):
    answer = getattr(client, method)("/mentions-legales")
    assert answer.status_code == 405


# --- in a browser, at 320 px ------------------------------------------------------------------------------------

@pytest.fixture
def narrow(browser, build_app, tmp_path):
    """Chromium at 320 px wide, with JavaScript on (to measure the page), against a provider whose
    theme changes only its colours (static/brand.css); yields (page, provider URL)."""
    (tmp_path / "static").mkdir()
    (tmp_path / "static/brand.css").write_text(":root { --brand: #8a1538; }\n")
    port = free_port()
    app = build_app(IDP_ISSUER=f"http://127.0.0.1:{port}", IDP_THEME_DIR=str(tmp_path))
    context = browser.context.browser.new_context(viewport={"width": 320, "height": 640}, locale="fr-FR")
    with served(app, port) as idp:
        yield context.new_page(), idp
    context.close()


def test_the_footer_at_320_px_fits_has_large_targets_and_a_visible_focus(narrow):
    page, idp = narrow
    page.goto(f"{idp}/login")
    assert page.locator("h1").inner_text() == "Se connecter"
    assert page.evaluate("document.documentElement.scrollWidth") <= 320  # nothing to scroll sideways
    links = page.locator("footer nav a")
    assert links.all_inner_texts() == ["Accessibilité\u00a0: non conforme", "Mentions légales",
                                       "Données personnelles", "Aide et contact"]
    for box in (links.nth(i).bounding_box() for i in range(links.count())):
        assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 320, box
    for target in ("header a.brand", "header nav a", "button[type=submit]"):
        box = page.locator(target).first.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, (target, box)
    # The stylesheet and the theme's colours loaded under the CSP: the links take the region's colour.
    assert links.first.evaluate("a => getComputedStyle(a).color") == "rgb(138, 21, 56)"
    links.first.focus()
    outline = links.first.evaluate("a => [getComputedStyle(a).outlineStyle, getComputedStyle(a).outlineWidth]")
    assert outline == ["solid", "3px"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "footer-320.png"), full_page=True)
    links.first.click()
    assert page.locator("h1").inner_text() == "Déclaration d’accessibilité"
    for path, french, _english in PAGES:  # long texts, addresses and tables fit too
        page.goto(f"{idp}{path}")
        assert page.locator("h1").inner_text() == french
        assert page.evaluate("document.documentElement.scrollWidth") <= 320, path


def test_the_statement_names_the_site_by_its_issuer_not_by_a_forged_host(client):
    page = client.get("/accessibilite", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert "s’applique à Sésame (http://localhost:5000)" in page and "evil.example" not in page
