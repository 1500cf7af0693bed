"""French by default, English on request, and a French catalog that covers every message."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from helpers import make_client, query

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "idp" / "translations" / "fr" / "LC_MESSAGES"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}


def language(response) -> str:
    """The page's language, and a check that its words match it."""
    html = response.get_data(as_text=True)
    lang = html.split('<html lang="', 1)[1].split('"', 1)[0]
    if lang == "fr":
        assert "Se connecter" in html or "Page introuvable" in html, html
    return lang


def test_login_page_is_french_by_default(client):
    page = client.get("/login")
    assert language(page) == "fr"
    text = page.get_data(as_text=True)
    assert "Identifiant ou adresse électronique" in text and "Mot de passe" in text


def test_error_page_is_french_by_default(client):
    page = client.get("/no/such/page")
    assert page.status_code == 404
    assert language(page) == "fr"
    assert "Page introuvable" in page.get_data(as_text=True)


def test_lang_parameter_gives_english(client):
    page = client.get("/login?lang=en")
    assert language(page) == "en"
    assert "Identifier or e-mail address" in page.get_data(as_text=True)


def test_accept_language_gives_english(client):
    page = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert language(page) == "en"
    assert "Sign in" in page.get_data(as_text=True)


def test_ui_locales_of_the_authorization_request_carries_to_the_login_page(client, db):
    client_id, _ = make_client(db)
    start = client.get(f"/oauth/authorize?response_type=code&client_id={client_id}"
                       "&redirect_uri=https://rp.example.fr/callback&scope=openid&ui_locales=en-GB%20fr")
    assert start.status_code == 302
    page = client.get(start.location)
    assert "rid" in query(start.location)
    assert language(page) == "en"
    assert "Sign in" in page.get_data(as_text=True)


def test_language_choice_sticks_for_the_session(client):
    client.get("/login?lang=en")
    assert language(client.get("/login")) == "en"
    assert language(client.get("/no/such/page")) == "en"
    assert language(client.get("/login?lang=fr")) == "fr"
    assert language(client.get("/login", headers={"Accept-Language": "en"})) == "fr"


@pytest.mark.parametrize(("url", "headers"), [
    ("/login?lang=de", {}),
    ("/login", {"Accept-Language": "de-DE,de;q=0.9,es;q=0.5"}),
    ("/login?lang=xx-%00", {"Accept-Language": "zz"}),
])
def test_unsupported_language_falls_back_to_french(client, url, headers):
    page = client.get(url, headers=headers)
    assert page.status_code == 200
    assert language(page) == "fr"


def extracted_msgids() -> set[str]:
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map, options_map, keywords=KEYWORDS):
        ids.add(message[0] if isinstance(message, tuple) else message)
    return ids


def french_catalog():
    with open(CATALOG / "messages.po", "rb") as po:
        return read_po(po, locale="fr")


def test_french_catalog_translates_every_message_of_code_and_templates():
    catalog = french_catalog()
    ids = extracted_msgids()
    assert "Technical detail:" in ids and "Identifier or e-mail address" in ids  # templates and lazy strings
    missing = sorted(i for i in ids if not catalog.get(i) or not catalog.get(i).string or catalog.get(i).fuzzy)
    assert not missing


def test_committed_mo_matches_the_po():
    catalog = french_catalog()
    with open(CATALOG / "messages.mo", "rb") as mo:
        committed = read_mo(mo)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=True)
    compiled.seek(0)
    fresh = read_mo(compiled)
    assert messages(committed) == messages(fresh)


def messages(catalog) -> dict:
    """id -> translation; a plural message's forms as tuples (read_mo gives lists)."""
    def frozen(value):
        return tuple(value) if isinstance(value, list | tuple) else value
    return {frozen(m.id): frozen(m.string) for m in catalog if m.id}
