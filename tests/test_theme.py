"""The theme and the brand: a region's folder is searched first and the bundled theme fills in,
its files are served at /theme/ and nothing else is, and the brand names every page and mail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from idp.config import ConfigError

from helpers import csrf_token, deliver, make_user

README = Path(__file__).resolve().parent.parent / "README.md"
BUNDLED = Path(__file__).resolve().parent.parent / "templates"


@pytest.fixture
def theme(tmp_path) -> Path:
    """A region's theme: its own base.html, one page, a stylesheet and a logo; nothing else."""
    folder = tmp_path / "theme"
    (folder / "pages/fr").mkdir(parents=True)
    (folder / "static").mkdir()
    (folder / "base.html").write_text(
        (BUNDLED / "base.html").read_text().replace("<header>", '<header data-region="occitanie">'))
    (folder / "pages/fr/mentions-legales.html").write_text(
        '{% extends "base.html" %}{% block title %}Mentions légales{% endblock %}'
        "{% block content %}<h1>Mentions légales</h1><p>Éditeur : Région Occitanie</p>{% endblock %}")
    (folder / "static/theme.css").write_text(":root { --brand: #8a1538; }\n")
    (folder / "static/logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (tmp_path / "secret.txt").write_text("outside the theme")
    return folder


def add_citizen(app) -> None:
    session = app.extensions["idp.db"].session_factory()
    try:
        make_user(session)
    finally:
        session.close()


def ask_identifier(app) -> None:
    """The "forgotten identifier" journey, which mails the citizen."""
    client = app.test_client()
    form = client.get("/recovery/identifier")
    client.post("/recovery/identifier", data={"csrf_token": csrf_token(form.data), "email": "jean.dupont@example.fr"})
    deliver(app)


def heading(page) -> str:
    return re.search(r"<h1>(.*?)</h1>", page.get_data(as_text=True), re.S).group(1).strip()


# --- the brand ---------------------------------------------------------------------------------------------------

def test_the_brand_names_every_page_in_its_title_and_header(build_app):
    client = build_app(IDP_BRAND_NAME="Mon compte Occitanie").test_client()
    for path, title in [("/login", "Se connecter"), ("/no/such/page", "Page introuvable")]:
        page = client.get(path).get_data(as_text=True)
        assert f"<title>{title} — Mon compte Occitanie</title>" in page
        assert '<a class="brand" href="/">Mon compte Occitanie</a>' in page
        assert "Sésame" not in page.split("<main")[0]  # nothing of the default brand in the head or header


def test_the_default_brand_is_sesame(client):
    page = client.get("/login").get_data(as_text=True)
    assert "<title>Se connecter — Sésame</title>" in page and '<a class="brand" href="/">Sésame</a>' in page


def test_the_brand_and_theme_defaults_follow_the_design(tmp_path):
    from idp import config

    values = config.load({"IDP_INSTANCE_DIR": str(tmp_path)}, environ={})
    assert values["IDP_BRAND_NAME"] == "Sésame" and values["IDP_THEME_DIR"] is None
    assert values["IDP_ACCESSIBILITY_STATUS"] == "none"  # RGAA: a site never audited is "non conforme"
    assert values["IDP_MAIL_FROM"] == "Sésame <no-reply@localhost>"


def test_the_brand_is_escaped_where_it_is_shown(build_app):
    page = build_app(IDP_BRAND_NAME="<b>Région</b>").test_client().get("/login").get_data(as_text=True)
    assert "<title>Se connecter — &lt;b&gt;Région&lt;/b&gt;</title>" in page and "<b>Région</b>" not in page


def test_brand_and_theme_settings_are_in_the_readme_table():
    table = README.read_text()
    for name in ("IDP_BRAND_NAME", "IDP_ACCESSIBILITY_STATUS", "IDP_THEME_DIR"):
        assert re.search(rf"^\| `{name}` \|", table, re.M), name
    assert "### Theme and branding" in table


def test_mails_are_signed_with_the_brand_and_the_help_contact(build_app, smtp):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_BRAND_NAME="Mon compte Occitanie",
                    IDP_HELPDESK_EMAIL="assistance@occitanie.example.fr", IDP_HELPDESK_PHONE="05 61 00 00 00")
    add_citizen(app)
    ask_identifier(app)
    message = smtp.wait_for(1)[0]
    text, html = smtp.text(message).replace("\r\n", "\n"), smtp.html(message)
    assert "— Mon compte Occitanie\nAssistance\u00a0: assistance@occitanie.example.fr · 05 61 00 00 00" in text
    assert "Sésame" not in text and "Sésame" not in html and "Sésame" not in message["Subject"]
    assert message["Subject"] == "Votre identifiant Mon compte Occitanie"
    assert '<p style="margin:24px 0 0;">— Mon compte Occitanie</p>' in html
    assert 'href="mailto:assistance@occitanie.example.fr"' in html and 'href="tel:0561000000"' in html
    # The sender's display name follows the brand when IDP_MAIL_FROM is not set.
    assert message["From"].addresses[0].display_name == "Mon compte Occitanie"


def test_the_brand_replaces_sesame_in_the_pages_sentences(build_app):
    client = build_app(IDP_BRAND_NAME="Mon compte Occitanie").test_client()
    for path in ("/signup", "/oauth/logout", "/oauth/authorize?client_id=nobody&response_type=code"):
        page = client.get(path).get_data(as_text=True)
        assert "Sésame" not in page, path
    assert "<h1>Créez votre compte Mon compte Occitanie</h1>" in client.get("/signup").get_data(as_text=True)


def test_a_mail_without_a_help_desk_is_signed_with_the_brand_alone(build_app, smtp):
    app = build_app(IDP_SMTP_URL=smtp.url)
    add_citizen(app)
    ask_identifier(app)
    text = smtp.text(smtp.wait_for(1)[0]).replace("\r\n", "\n")
    assert text.rstrip().endswith("— Sésame") and "Assistance" not in text


def test_a_set_mail_from_is_kept_as_it_is(build_app):
    app = build_app(IDP_BRAND_NAME="Région", IDP_MAIL_FROM="Ne pas répondre <nepasrepondre@region.example.fr>")
    assert app.config["IDP_MAIL_FROM"] == "Ne pas répondre <nepasrepondre@region.example.fr>"


@pytest.mark.parametrize(("brand", "sender"), [("Sésame", "Sésame <no-reply@localhost>"),
                                               ("Région, Occitanie", '"Région, Occitanie" <no-reply@localhost>')])
def test_the_default_sender_quotes_the_brand_when_it_must(build_app, brand, sender):
    assert build_app(IDP_BRAND_NAME=brand).config["IDP_MAIL_FROM"] == sender


# --- templates: the theme first, the bundled ones after ---------------------------------------------------------

def test_a_theme_overrides_base_html_and_one_page_and_the_rest_falls_back(build_app, theme):
    client = build_app(IDP_THEME_DIR=str(theme)).test_client()
    legal = client.get("/mentions-legales")
    assert legal.status_code == 200 and heading(legal) == "Mentions légales"
    assert "Éditeur : Région Occitanie" in legal.get_data(as_text=True)  # the theme's page
    assert 'data-region="occitanie"' in legal.get_data(as_text=True)  # in the theme's frame
    login = client.get("/login")
    assert heading(login) == "Se connecter"  # a page the theme does not have: the bundled one...
    assert 'data-region="occitanie"' in login.get_data(as_text=True)  # ...in the theme's frame
    data = client.get("/donnees-personnelles")
    assert heading(data) == "Données personnelles" and "à compléter" in data.get_data(as_text=True)


def test_without_a_theme_only_the_bundled_templates_are_used(client):
    legal = client.get("/mentions-legales").get_data(as_text=True)
    assert "Directeur de la publication" in legal and "data-region" not in legal


def test_a_theme_folder_that_does_not_exist_stops_the_start(build_app, tmp_path):
    with pytest.raises(ConfigError, match=r"IDP_THEME_DIR: .* is not a folder"):
        build_app(IDP_THEME_DIR=str(tmp_path / "nowhere"))


# --- the theme's files ---------------------------------------------------------------------------------------------

def test_the_pages_link_the_themes_stylesheet_and_it_wins(build_app, theme):
    client = build_app(IDP_THEME_DIR=str(theme)).test_client()
    href = re.search(r'<link rel="stylesheet" href="([^"]+)">', client.get("/login").get_data(as_text=True)).group(1)
    assert re.fullmatch(r"/theme/theme\.css\?v=[0-9a-f]{12}", href)
    css = client.get(href)
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert css.get_data(as_text=True) == ":root { --brand: #8a1538; }\n"  # the theme's, not the bundled one


def test_theme_files_are_cacheable_and_run_nothing(build_app, theme):
    client = build_app(IDP_THEME_DIR=str(theme)).test_client()
    logo = client.get("/theme/logo.svg")
    assert logo.status_code == 200 and logo.mimetype == "image/svg+xml"
    assert logo.headers["Cache-Control"] == "public, max-age=86400"
    assert logo.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in logo.headers["Content-Security-Policy"]  # an SVG opened on its own runs no script


def test_a_file_the_theme_lacks_comes_from_the_bundled_theme(build_app, tmp_path):
    (tmp_path / "bare").mkdir()
    css = build_app(IDP_THEME_DIR=str(tmp_path / "bare")).test_client().get("/theme/theme.css")
    assert css.status_code == 200 and "--brand: #000091" in css.get_data(as_text=True)


@pytest.mark.parametrize("path", [
    "/theme/../base.html", "/theme/%2e%2e/base.html", "/theme/..%2fbase.html", "/theme/..%5cbase.html",
    "/theme/../../secret.txt", "/theme/%2e%2e/%2e%2e/secret.txt", "/theme/static/../base.html",
    "/theme//etc/passwd", "/theme/%2fetc%2fpasswd", "/theme/.hidden", "/theme/sub/.git/config",
    "/theme/theme.css%00.html", "/theme/" + "a" * 5000, "/theme/", "/theme/nothing.css",
])
def test_nothing_outside_the_themes_static_folders_is_served(build_app, theme, path):
    (theme / "static/.hidden").write_text("hidden")
    answer = build_app(IDP_THEME_DIR=str(theme)).test_client().get(path, follow_redirects=True)  # "//" is merged first
    assert answer.status_code == 404
    assert "<h1>Page introuvable</h1>" in answer.get_data(as_text=True)  # the site's 404 page, not a file


def test_the_page_csp_allows_the_themes_files_and_nothing_from_elsewhere(client):
    csp = client.get("/login").headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["style-src"] == "'self' 'unsafe-inline'"
    assert directives["img-src"] == "'self' data:"
    assert directives["font-src"] == "'self'"
    from idp.passkey_script import SOURCE as PASSKEYS
    from idp.password_toggle import SOURCE

    assert directives["script-src"] == f"{SOURCE} {PASSKEYS}"  # the site's two scripts' hashes, nothing else


def contrast(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two #rgb or #rrggbb colours."""
    def luminance(colour: str) -> float:
        digits = colour.lstrip("#")
        digits = "".join(c * 2 for c in digits) if len(digits) == 3 else digits
        channels = [int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_bundled_colours_keep_text_at_4_5_to_1_at_least():
    css = (BUNDLED / "static/theme.css").read_text()
    colour = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{3,6})\b", css))
    pairs = [("text", "background"), ("text", "surface"), ("brand", "surface"), ("brand", "background"),
             ("brand-text", "brand"), ("grey", "surface"), ("grey", "background"), ("red", "surface")]
    for text, background in pairs:
        assert contrast(colour[text], colour[background]) >= 4.5, (text, background)
    assert contrast(colour["red"], "#ffe9e9") >= 4.5  # the error box
    assert contrast(colour["focus"], colour["surface"]) >= 3  # the focus outline (WCAG 1.4.11)
