"""Which service the citizen is signing in to: the login, sign-up and recovery pages reached from
a relying party's request name it, show its https logo and link its privacy policy; a page
reached without one names nothing."""

from __future__ import annotations

import html
import re

import pytest

from idp.clients import ClientSpecError
from idp.models import Client

from helpers import authorize_url, make_client, query

LOGO = "https://transports.example.fr/static/logo.png"
POLICY = "https://transports.example.fr/donnees-personnelles"
NAMED = "Vous vous connectez à\u00a0: Transports scolaires"
# Every page that carries the request's rid, from the login page's links.
PAGES = ["/login", "/signup", "/recovery/password", "/recovery/identifier", "/recovery/help"]


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def started_by(client, client_id: str) -> str:
    """Start an authorization request as the relying party's link does; the waiting request's rid."""
    to_login = client.get(authorize_url(client_id))
    assert to_login.status_code == 302, to_login.data
    return query(to_login.location)["rid"]


def images(page: str) -> list[str]:
    return re.findall(r"<img [^>]*>", page)


@pytest.fixture
def transports(db):
    client_id, _ = make_client(db, name="Transports scolaires", logo_uri=LOGO, policy_uri=POLICY,
                               client_uri="https://transports.example.fr/")
    return client_id


@pytest.mark.parametrize("path", PAGES)
def test_pages_reached_from_a_service_name_it_show_its_logo_and_link_its_policy(client, transports, path):
    rid = started_by(client, transports)

    answer = client.get(f"{path}?rid={rid}")

    assert answer.status_code == 200
    page = text(answer)
    assert page.count(NAMED) == 1
    assert images(page) == [f'<img src="{LOGO}" alt="Logo\u00a0: Transports scolaires" '
                            'style="display:block;max-width:100%;height:3rem;width:auto;margin-bottom:.5rem">']
    assert f'<a href="{POLICY}">Politique de confidentialité de ce service</a>' in page
    # The page's CSP lets the browser load the logo, and images from nowhere else.
    assert "img-src 'self' data: https://transports.example.fr;" in answer.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", PAGES)
def test_without_a_request_the_pages_name_no_service(client, transports, path):
    started_by(client, transports)  # waiting in this browser, but the page does not carry its rid

    for answer in (client.get(path), client.get(f"{path}?rid=not-a-request")):
        page = text(answer)
        assert answer.status_code == 200 and "<form" in page
        assert "Vous vous connectez à" not in page and images(page) == []
        assert "img-src 'self' data:;" in answer.headers["Content-Security-Policy"]


def test_a_service_without_logo_or_policy_is_named_as_text(client, db):
    client_id, _ = make_client(db, name="Cantine <b>&</b> périscolaire")

    raw = client.get(f"/login?rid={started_by(client, client_id)}").get_data(as_text=True)

    assert "Vous vous connectez à\u00a0: Cantine &lt;b&gt;&amp;&lt;/b&gt; périscolaire" in raw  # text, never markup
    assert "<b>" not in raw and images(raw) == [] and "Politique de confidentialité" not in raw


def test_a_logo_stored_without_https_is_not_shown(client, db, transports):
    """A row written before the check, or by hand: the page still loads nothing in clear."""
    db.get(Client, transports).logo_uri = "http://transports.example.fr/logo.png"
    db.commit()

    answer = client.get(f"/login?rid={started_by(client, transports)}")

    page = text(answer)
    assert page.count(NAMED) == 1 and images(page) == []
    assert "transports.example.fr" not in answer.headers["Content-Security-Policy"]


@pytest.mark.parametrize("field, uri", [
    ("logo_uri", "http://transports.example.fr/logo.png"),
    ("logo_uri", "data:image/svg+xml,<svg onload=alert(1)>"),
    ("logo_uri", "https://transports.example.fr/logo.png' onerror='alert(1)"),
    ("logo_uri", "https://evil.fr; script-src *"),
    ("logo_uri", "//transports.example.fr/logo.png"),
    ("logo_uri", "/theme/../instance/secret_key"),
    ("logo_uri", "/theme/.hidden.png"),
    ("logo_uri", "/theme/logo.png?x=1"),
    ("logo_uri", "/static/logo.png"),
    ("policy_uri", "javascript:alert(document.cookie)"),
    ("policy_uri", "JavaScript:alert(1)"),
    ("policy_uri", "/donnees-personnelles"),
    ("policy_uri", "https://user:pass@transports.example.fr/"),
    ("client_uri", "ftp://transports.example.fr/"),
    ("client_uri", "https://transports.example.fr:port/"),
])
def test_registration_refuses_what_a_page_should_not_link_or_load(db, field, uri):
    with pytest.raises(ClientSpecError):
        make_client(db, name="Transports scolaires", **{field: uri})
    assert db.query(Client).count() == 0


def test_a_logo_from_the_themes_folder_is_shown_from_this_site(build_app, tmp_path):
    theme = tmp_path / "theme"
    (theme / "static" / "logos").mkdir(parents=True)
    (theme / "static" / "logos" / "transports.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    app = build_app(IDP_THEME_DIR=str(theme))
    browser = app.test_client()
    db = app.extensions["idp.db"].session_factory()
    shown, _ = make_client(db, name="Transports scolaires", logo_uri="/theme/logos/transports.png")
    missing, _ = make_client(db, name="Cantine", logo_uri="/theme/logos/cantine.png")
    db.close()

    answer = browser.get(f"/login?rid={started_by(browser, shown)}")
    [logo] = images(text(answer))
    src = re.search(r'src="([^"]+)"', logo).group(1)
    assert src.startswith("/theme/logos/transports.png?v=")
    assert browser.get(src).status_code == 200
    assert "img-src 'self' data:;" in answer.headers["Content-Security-Policy"]  # nothing from elsewhere
    # A theme without that file: the service is named, no broken image.
    answer = browser.get(f"/login?rid={started_by(browser, missing)}")
    assert "Vous vous connectez à\u00a0: Cantine" in text(answer) and images(text(answer)) == []
