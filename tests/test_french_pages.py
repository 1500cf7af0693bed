"""No English left in French pages: every page a citizen can reach, in its ordinary and its
error states, signed out and in, shows none of the catalog's English sentences.  Text that a
page marks as English (``lang="en"``: the language switch, a protocol code) is not French
text and is left out."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from helpers import PASSWORD, authorize_url, csrf_token, login, make_client, make_user

CATALOG = Path(__file__).resolve().parent.parent / "idp/translations/fr/LC_MESSAGES/messages.po"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def english_sentences() -> set[str]:
    """Runs of at least four words from every English message the French catalog translates."""
    with open(CATALOG, "rb") as po:
        catalog = read_po(po, locale="fr")
    found = set()
    for message in catalog:
        if not message.id or not message.string or message.string == message.id:
            continue
        english = message.id if isinstance(message.id, str) else message.id[0]
        for run in re.split(r"%\(\w+\)[sd]|%[sd]", english):
            run = run.strip(" .,:;!?()\"'")
            if len(run.split()) >= 4:
                found.add(run)
    return found


ENGLISH = english_sentences()


class FrenchText(HTMLParser):
    """The text a person reads, without what is marked English, scripts or styles."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        if self.skipping or tag in {"script", "style"} or dict(attrs).get("lang", "fr").startswith("en"):
            self.skipping.append(tag)

    def handle_endtag(self, tag):
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def french_text(page: str) -> str:
    parser = FrenchText()
    parser.feed(page)
    return re.sub(r"\s+", " ", html.unescape(" ".join(parser.parts)))


def assert_french(response) -> None:
    page = response.get_data(as_text=True)
    assert '<html lang="fr"' in page, page[:200]
    text = french_text(page)
    left = sorted(sentence for sentence in ENGLISH if sentence in text)
    assert not left, f"{response.request.path}: English left in a French page: {left}"


def test_the_catalog_gives_sentences_to_look_for():
    assert "Enter your identifier or your e-mail address" in ENGLISH and len(ENGLISH) > 150


SIGNED_OUT = [("/login", 200), ("/recovery/password", 200), ("/recovery/identifier", 200), ("/recovery/help", 200),
              ("/signup", 200), ("/dev/mail", 200), ("/no/such/page", 404), ("/recovery/reset/" + "x" * 43, 410),
              ("/signup/verify/" + "x" * 43, 410), ("/account/email/cancel/" + "x" * 43, 410),
              ("/recovery/help/cancel/" + "x" * 43, 410)]


@pytest.mark.parametrize(("path", "status"), SIGNED_OUT)
def test_signed_out_pages_are_all_french(client, path, status):
    page = client.get(path)
    assert page.status_code == status  # the page itself, not an error page that happens to be French
    assert_french(page)


FORMS = [
    ("/login", {"username": "", "password": ""}),
    ("/login", {"username": "personne", "password": "not the password at all"}),
    ("/recovery/password", {"login": ""}),
    ("/recovery/identifier", {"email": "pas une adresse"}),
    ("/signup", {"given_name": "", "family_name": "", "birthdate": "demain", "email": "x", "username": "é",
                 "password": "court", "password_confirm": "autre"}),
    ("/recovery/help", {"given_name": "", "family_name": "", "birthdate": "", "new_email": ""}),
]


@pytest.mark.parametrize(("path", "typed"), FORMS, ids=[f"{path}-{n}" for n, (path, _) in enumerate(FORMS)])
def test_forms_in_error_are_all_french(client, db, path, typed):
    page = client.get(path)
    answer = client.post(path, data={"csrf_token": csrf_token(page.data), **typed})
    assert answer.status_code in (400, 401), answer.status_code
    assert_french(answer)


def test_an_expired_form_is_told_in_french(client):
    expired = client.post("/login", data={"username": "x", "password": "y"})
    assert expired.status_code == 400 and "Ce formulaire a expiré" in expired.get_data(as_text=True)
    assert_french(expired)


def test_signed_in_pages_are_all_french(client, db):
    make_user(db)
    assert login(client).status_code == 303
    for path in ("/", "/account", "/account/password"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert_french(page)
    page = client.get("/account")
    refused = client.post("/account", data={"csrf_token": csrf_token(page.data), "given_name": "Jean",
                                            "family_name": "Dupont", "email": "nouvelle@example.fr"})
    assert refused.status_code == 400
    assert_french(refused)
    page = client.get("/account/password")
    wrong = client.post("/account/password", data={"csrf_token": csrf_token(page.data), "current_password": "x",
                                                   "new_password": PASSWORD, "new_password_confirm": PASSWORD})
    assert wrong.status_code == 400
    assert_french(wrong)


def test_a_refused_sign_in_request_is_explained_in_french(client, db):
    unknown = client.get(authorize_url("no-such-client"))
    assert unknown.status_code == 400
    assert_french(unknown)
    assert "Le service n’est pas enregistré auprès de Sésame." in french_text(unknown.get_data(as_text=True))
    client_id, _secret = make_client(db)
    wrong_return = client.get(authorize_url(client_id, redirect_uri="https://elsewhere.example/cb"))
    assert wrong_return.status_code == 400
    assert_french(wrong_return)


def test_the_consent_and_logout_pages_are_french(client, db):
    make_user(db)
    client_id, _secret = make_client(db)
    assert login(client).status_code == 303
    consent = client.get(authorize_url(client_id, prompt="consent"))
    assert consent.status_code == 200
    assert_french(consent)
    logout = client.get("/oauth/logout")
    assert logout.status_code == 200
    assert_french(logout)


def test_english_pages_keep_the_protocols_own_description(client, db):
    unknown = client.get(authorize_url("no-such-client") + "&lang=en")
    assert unknown.status_code == 400
    text = french_text(unknown.get_data(as_text=True).replace('lang="en"', ""))
    assert "Technical detail:" in text and "invalid_client" in text


def test_french_punctuation_takes_a_non_breaking_space():
    """« : ; ? ! » follow a non-breaking space in French (times and URLs aside)."""
    with open(CATALOG, "rb") as po:
        catalog = read_po(po, locale="fr")
    wrong = []
    for message in catalog:
        french = message.string if message.id and isinstance(message.string, str) else ""  # not the header
        for found in re.finditer(r"(?<![\u00a0\u202f])[:;?!]", french):
            at = found.start()
            if french[at:at + 3] == "://" or (0 < at < len(french) - 1 and french[at - 1].isdigit()
                                              and french[at + 1].isdigit()):
                continue
            wrong.append(french[max(0, at - 25):at + 1])
    assert not wrong


def test_the_account_pages_are_all_french(client, db):
    """Mes services, Mes sessions, Supprimer mon compte: ordinary and error states, and the last page."""
    make_user(db)
    client_id, _secret = make_client(db, name="Transports scolaires")
    assert login(client).status_code == 303
    client.get(authorize_url(client_id))  # signed in to a service, so the services page lists one
    for path in ("/account/services", "/account/sessions", "/account/delete"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert_french(page)
    token = csrf_token(client.get("/account/services").data)
    assert_french(client.post("/account/services", data={"csrf_token": token, "client_id": "inconnu"}))
    assert_french(client.post("/account/sessions", data={"csrf_token": token, "session": "0" * 32}))
    refused = client.post("/account/delete", data={"csrf_token": token, "current_password": "x"})
    assert refused.status_code == 400
    assert_french(refused)
    removed = client.post("/account/services", data={"csrf_token": token, "client_id": client_id},
                          follow_redirects=True)
    assert "Transports scolaires n’a plus accès à votre compte." in removed.get_data(as_text=True)
    assert_french(removed)
    deleted = client.post("/account/delete", data={"csrf_token": token, "current_password": PASSWORD, "confirm": "y"})
    assert "<h1>Votre compte est supprimé</h1>" in deleted.get_data(as_text=True)
    assert_french(deleted)
