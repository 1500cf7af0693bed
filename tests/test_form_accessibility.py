"""Forms for everyone (RGAA 4.1 themes 11 and 13): every form page, in its error state, ties each
error to its field, sums the errors up first with links to the fields, says "Error:" in its title,
marks required and optional fields, and gives every field its autocomplete purpose; the "show
password" button is the one script the CSP allows, by its hash."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from conftest import free_port
from helpers import PASSWORD, csrf_token, deliver, link_in, login, make_user, served

NBSP = "\u00a0"
TITLE_PREFIX = {"en": "Error: ", "fr": f"Erreur{NBSP}: "}
SUMMARY = {"en": re.compile(r"The form contains (\d+) errors?"),
           "fr": re.compile(r"Le formulaire contient (\d+) erreurs?")}
OPTIONAL = {"en": "(optional)", "fr": "(facultatif)"}
REQUIRED_NOTE = {"en": "All fields are required unless marked optional.",
                 "fr": "Tous les champs sont obligatoires sauf mention contraire."}
GENERIC = ["This field is required.", "Ce champ est requis.", "Please correct the fields marked below."]
TYPED_INPUTS = {"text", "email", "password", "tel", "search", "url", "number", "date"}
# The purposes of HTML's autofill list this site's fields have; "webauthn" may follow "username".
AUTOCOMPLETE = {"username", "current-password", "new-password", "given-name", "family-name", "bday", "email",
                "tel", "street-address", "postal-code", "address-level2"}


@dataclass
class Page:
    """What a form page holds, as a screen reader or a browser's autofill reads it."""

    title: str = ""
    ids: set[str] = field(default_factory=set)
    inputs: list[dict] = field(default_factory=list)  # attributes of each input and textarea in a form
    labels: dict[str, str] = field(default_factory=dict)  # field id: label text
    texts: dict[str, str] = field(default_factory=dict)  # element id: its text
    summary_heading: str | None = None
    summary_links: list[str] = field(default_factory=list)
    summary_items: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    text: str = ""


class Reader(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.page, self._open, self._forms, self._in_summary = Page(), [], 0, 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.page.ids.add(attrs["id"])
        if tag == "form":
            self._forms += 1
        if tag in ("input", "textarea", "select") and self._forms:
            self.page.inputs.append({"tag": tag, **attrs})
        if "error-summary" in (attrs.get("class") or ""):
            self._in_summary = 1
        elif self._in_summary and tag == "div":
            self._in_summary += 1
        if self._in_summary and tag == "a":
            self.page.summary_links.append(attrs.get("href", ""))
        if tag == "li" and self._in_summary:
            self.page.summary_items.append("")
        if tag not in ("input", "br", "meta", "link", "img"):
            self._open.append((tag, attrs))

    def handle_endtag(self, tag):
        if tag == "form":
            self._forms -= 1
        if self._in_summary and tag == "div":
            self._in_summary -= 1
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        self.page.text += data
        for tag, attrs in self._open:
            if "id" in attrs:
                self.page.texts[attrs["id"]] = self.page.texts.get(attrs["id"], "") + data
            if tag == "label" and "for" in attrs:
                self.page.labels[attrs["for"]] = self.page.labels.get(attrs["for"], "") + data
        tag, attrs = self._open[-1] if self._open else ("", {})
        if tag == "title":
            self.page.title += data
        elif tag == "script":
            self.page.scripts.append(data)
        elif self._in_summary and tag == "h2":
            self.page.summary_heading = data.strip()
        if self._in_summary and self.page.summary_items and any(t == "li" for t, _ in self._open):
            self.page.summary_items[-1] += data


def read(response) -> Page:
    return Reader(response.get_data(as_text=True)).page


def typed_inputs(page: Page) -> list[dict]:
    """The fields a citizen types in: not the hidden ones, the boxes to tick or the buttons."""
    return [i for i in page.inputs if i["tag"] == "textarea" or i.get("type", "text") in TYPED_INPUTS]


def visible_inputs(page: Page) -> list[dict]:
    return [i for i in typed_inputs(page) if "hidden" not in i]


# How each form page is reached, then refused ------------------------------------------------------------------

@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url)


@pytest.fixture
def citizen(db):
    return make_user(db)


def refuse(browser, path: str, lang: str, **typed):
    """Open the form at ``path`` in ``lang`` and send it with ``typed`` (empty fields by default)."""
    page = browser.get(f"{path}?lang={lang}")
    assert page.status_code == 200, page.data
    return browser.post(path, data={"csrf_token": csrf_token(page.data), **typed})


def signed_in_browser(app):
    browser = app.test_client()
    assert login(browser).status_code == 303
    return browser


def reset_link(app, smtp) -> str:
    browser = app.test_client()
    page = browser.get("/recovery/password")
    browser.post("/recovery/password", data={"csrf_token": csrf_token(page.data), "login": "jean.dupont"})
    deliver(app)
    return link_in(smtp.text(smtp.wait_for(1)[0]), "/recovery/reset/")


def verify_link(app, smtp) -> str:
    browser = app.test_client()
    page = browser.get("/signup")
    answer = browser.post("/signup", data={
        "csrf_token": csrf_token(page.data), "given_name": "Camille", "family_name": "Martin",
        "birthdate": "17/05/1992", "email": "camille.martin@example.org", "username": "camille.martin",
        "password": "a walk along the river at dawn", "password_confirm": "a walk along the river at dawn"})
    assert answer.status_code == 200, answer.data
    deliver(app)
    return link_in(smtp.text(smtp.wait_for(1)[0]), "/signup/verify/")


def form_page(app, smtp, name: str) -> tuple:
    """(browser, path) of the form page ``name``."""
    if name == "account":
        return signed_in_browser(app), "/account"
    if name == "account password":
        return signed_in_browser(app), "/account/password"
    if name == "reset":
        return app.test_client(), reset_link(app, smtp)
    if name == "signup verify":
        return app.test_client(), verify_link(app, smtp)
    return app.test_client(), {"login": "/login", "recovery password": "/recovery/password",
                               "recovery identifier": "/recovery/identifier", "signup": "/signup",
                               "help": "/recovery/help"}[name]


# Empty where the form requires something: each page's refusal, and the fields it names.
REFUSALS = {
    "login": ({"username": "", "password": ""}, {"username", "password"}),
    "recovery password": ({"login": ""}, {"login"}),
    "recovery identifier": ({"email": ""}, {"email"}),
    "signup": ({}, {"given_name", "family_name", "birthdate", "email", "username", "password", "password_confirm"}),
    "help": ({}, {"given_name", "family_name", "birthdate", "new_email"}),
    "reset": ({}, {"new_password", "new_password_confirm"}),
    "signup verify": ({"password": ""}, {"password"}),
    "account": ({"given_name": "", "family_name": "", "email": ""}, {"given_name", "family_name", "email"}),
    "account password": ({}, {"current_password", "new_password", "new_password_confirm"}),
}


@pytest.fixture(params=list(REFUSALS))
def refused(request, app, smtp, citizen):
    """(language, page) of each form page sent empty, in French and in English in turn."""
    name = request.param
    browser, path = form_page(app, smtp, name)
    typed, _ = REFUSALS[name]
    results = {}
    for lang in ("fr", "en"):
        answer = refuse(browser, path, lang, **typed)
        assert answer.status_code == 400, (name, lang, answer.status_code)
        results[lang] = read(answer)
    return name, results


def test_the_title_says_error_in_both_languages(refused):
    name, pages = refused
    for lang, page in pages.items():
        assert page.title.startswith(TITLE_PREFIX[lang]), (name, page.title)


def test_each_error_is_tied_to_its_field_and_says_what_to_do(refused):
    name, pages = refused
    for lang, page in pages.items():
        invalid = {i["id"] for i in page.inputs if i.get("aria-invalid") == "true"}
        assert invalid == REFUSALS[name][1], (name, lang)
        for attrs in page.inputs:
            if attrs.get("aria-invalid") != "true":
                continue
            described = attrs.get("aria-describedby", "").split()
            assert set(described) <= page.ids, (name, attrs["id"], described)
            assert f"{attrs['id']}-error" in described, (name, attrs["id"])
            message = page.texts[f"{attrs['id']}-error"].strip()
            assert message and message not in GENERIC, (name, attrs["id"], message)
            if f"{attrs['id']}-hint" in page.ids:
                assert f"{attrs['id']}-hint" in described, (name, attrs["id"])
        assert not [generic for generic in GENERIC if generic in page.text], name


def test_the_summary_counts_the_errors_and_links_to_each_field(refused):
    name, pages = refused
    for lang, page in pages.items():
        counted = SUMMARY[lang].fullmatch(page.summary_heading or "")
        assert counted, (name, lang, page.summary_heading)
        assert int(counted.group(1)) == len(page.summary_items) == len(page.summary_links), name
        field_ids = {i["id"] for i in page.inputs if "id" in i}
        targets = [link.removeprefix("#") for link in page.summary_links]
        assert all(link.startswith("#") for link in page.summary_links) and set(targets) <= field_ids, targets
        assert set(targets) == REFUSALS[name][1], name


def test_the_summary_is_the_first_thing_after_the_heading(app, smtp, citizen):
    browser, path = form_page(app, smtp, "signup")
    html = refuse(browser, path, "fr").get_data(as_text=True)
    after_heading = html.split("</h1>", 1)[1].lstrip()
    assert after_heading.startswith('<div class="error error-summary" role="alert" tabindex="-1" autofocus'), \
        after_heading[:200]


# Needed in some cases only: neither "(optional)" nor required, and its hint says when.
CONDITIONAL = {"account": {"current_password"}}


def test_required_and_optional_fields_are_marked(refused):
    name, pages = refused
    for lang, page in pages.items():
        assert REQUIRED_NOTE[lang] in page.text, name
        for attrs in visible_inputs(page):
            label = page.labels[attrs["id"]]
            if attrs["id"] in REFUSALS[name][1]:
                assert "required" in attrs and attrs.get("aria-required") == "true", (name, attrs["id"])
                assert OPTIONAL[lang] not in label, (name, label)
            elif attrs["id"] in CONDITIONAL.get(name, ()):
                assert OPTIONAL[lang] not in label and f'{attrs["id"]}-hint' in attrs.get("aria-describedby", "")
            elif "required" not in attrs:
                assert label.endswith(OPTIONAL[lang]), (name, label)


def test_optional_fields_of_the_account_page_say_so(app, smtp, citizen):
    browser, path = form_page(app, smtp, "account")
    page = read(browser.get(path + "?lang=fr"))
    assert page.labels["phone_number"] == "Numéro de téléphone (facultatif)"
    assert page.labels["given_name"] == "Prénom"
    assert page.title == "Mes infos personnelles — Sésame"  # no error, no prefix


def test_an_error_tied_to_no_field_is_in_the_summary_too(app, citizen):
    page = read(refuse(app.test_client(), "/login", "fr", username="jean.dupont", password="not the password"))
    assert page.title.startswith(TITLE_PREFIX["fr"])
    assert page.summary_heading == "Le formulaire contient 1 erreur"
    assert page.summary_items == ["Identifiant ou mot de passe incorrect."] and page.summary_links == []
    assert not [i for i in page.inputs if i.get("aria-invalid")]


def test_a_refused_new_password_lists_the_policy_problems_at_the_field(app, smtp, citizen):
    link = reset_link(app, smtp)
    page = read(refuse(app.test_client(), link, "en", new_password="short", new_password_confirm="short"))
    assert page.summary_links and set(page.summary_links) == {"#new_password"}
    assert "at least 15 characters" in page.texts["new_password-error"]
    assert page.title.startswith("Error: ")


# Autocomplete on every field of every form --------------------------------------------------------------------

def all_form_pages(app, smtp) -> dict:
    """Every page with a form, as first shown and as refused."""
    pages = {}
    for name, (typed, _) in REFUSALS.items():
        browser, path = form_page(app, smtp, name)
        pages[name] = read(browser.get(path))
        pages[f"{name} refused"] = read(refuse(browser, path, "fr", **typed))
        smtp.messages.clear()
    return pages


def test_every_field_of_every_form_has_its_autocomplete_purpose(app, smtp, citizen):
    pages = all_form_pages(app, smtp)
    fields = 0
    for name, page in pages.items():
        for attrs in typed_inputs(page):
            if attrs["tag"] == "textarea":
                continue  # free text: no purpose in HTML's list
            tokens = attrs.get("autocomplete", "").split()
            assert tokens and tokens[0] in AUTOCOMPLETE and tokens[1:] in ([], ["webauthn"]), \
                (name, attrs.get("name"), attrs.get("autocomplete"))
            fields += 1
    assert fields > 30  # the pages were the form pages, not error pages


@pytest.mark.parametrize("name, expected", [
    ("signup", {"given_name": "given-name", "family_name": "family-name", "birthdate": "bday", "email": "email",
                "username": "username", "password": "new-password", "password_confirm": "new-password"}),
    ("account", {"phone_number": "tel", "street_address": "street-address", "postal_code": "postal-code",
                 "locality": "address-level2", "current_password": "current-password"}),
    ("login", {"username": "username", "password": "current-password"}),
])
def test_each_field_has_the_purpose_of_what_it_asks(app, smtp, citizen, name, expected):
    browser, path = form_page(app, smtp, name)
    page = read(browser.get(path))
    found = {i["name"]: i.get("autocomplete", "").split()[0] for i in visible_inputs(page) if i["name"] in expected}
    assert found == expected


# The "show password" button and the CSP -----------------------------------------------------------------------

def script_sources(csp: str) -> list[str]:
    directive = next(part.strip() for part in csp.split(";") if part.strip().startswith("script-src "))
    return directive.split()[1:]


@pytest.mark.parametrize("path", ["/login", "/signup", "/recovery/password"])
def test_the_csp_allows_the_page_scripts_by_their_hashes_only(client, path):
    from idp.passkey_script import SOURCE as PASSKEYS
    from idp.password_toggle import SOURCE as PASSWORD_TOGGLE

    answer = client.get(path)
    sources = script_sources(answer.headers["Content-Security-Policy"])
    assert sources == [PASSWORD_TOGGLE, PASSKEYS]  # the site's two scripts, nothing else
    for script in read(answer).scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in sources
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]


def test_the_toggle_labels_follow_the_language(client):
    html = client.get("/login?lang=fr").get_data(as_text=True)
    assert 'data-show="Afficher le mot de passe" data-hide="Masquer le mot de passe"' in html
    html = client.get("/login?lang=en").get_data(as_text=True)
    assert 'data-show="Show password" data-hide="Hide password"' in html


@pytest.fixture
def live(build_app, citizen):
    port = free_port()
    with served(build_app(IDP_ISSUER=f"http://127.0.0.1:{port}"), port) as idp:
        yield idp


@pytest.fixture
def js_page(browser):
    """A page of the same Chromium with JavaScript on; console errors (a CSP violation among them) and
    script errors kept. The browser's own request for /favicon.ico (the site has none) is no error of the page."""
    context = browser.context.browser.new_context(java_script_enabled=True, locale="fr-FR")
    page = context.new_page()
    page.console_errors = []

    def console(message) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            page.console_errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    yield page
    context.close()


def test_the_toggle_shows_and_hides_the_password_without_csp_violation(js_page, live):
    page = js_page
    page.goto(f"{live}/login")
    page.fill("#password", PASSWORD)
    toggle = page.get_by_role("button", name="Afficher le mot de passe")
    assert toggle.get_attribute("type") == "button" and toggle.get_attribute("aria-controls") == "password"

    toggle.click()
    assert page.get_attribute("#password", "type") == "text"
    hide = page.get_by_role("button", name="Masquer le mot de passe")
    hide.click()
    assert page.get_attribute("#password", "type") == "password"
    assert page.get_by_role("button", name="Afficher le mot de passe").count() == 1

    page.fill("#username", "jean.dupont")
    page.get_by_role("button", name="Afficher le mot de passe").click()
    page.get_by_role("button", name="Se connecter", exact=True).click()  # the toggle is not a submit button
    assert page.locator("h1").inner_text().startswith("Bonjour")
    assert page.console_errors == []


def test_the_signup_page_gets_one_toggle_per_password_field(js_page, live):
    js_page.goto(f"{live}/signup")
    assert js_page.get_by_role("button", name="Afficher le mot de passe").count() == 2
    assert js_page.console_errors == []


def test_without_javascript_there_is_no_toggle_and_the_form_still_works(browser, live):
    browser.goto(f"{live}/login")
    assert browser.get_by_role("button", name="Afficher le mot de passe").count() == 0
    browser.click("button[type=submit]")
    assert browser.title().startswith(TITLE_PREFIX["fr"])
    assert browser.locator("#username-error").inner_text() == \
        "Saisissez votre identifiant ou votre adresse électronique."


# Odd input ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, name, limit", [("/login", "username", 254), ("/recovery/password", "login", 254),
                                               ("/signup", "given_name", 100)])
def test_a_huge_value_is_refused_at_its_field_saying_how_long_it_may_be(app, path, name, limit):
    page = read(refuse(app.test_client(), path, "fr", **{name: "a" * 5000}))
    assert page.title.startswith(TITLE_PREFIX["fr"])
    assert f"#{name}" in page.summary_links
    assert page.texts[f"{name}-error"].strip() == f"Raccourcissez ce texte à {limit} caractères au plus."


def test_markup_typed_in_a_field_stays_text_and_no_other_script_appears(app):
    typed = '"><script>alert(1)</script><a href="#x" id="password-error">'
    answer = refuse(app.test_client(), "/login", "en", username=typed, password="")
    page = read(answer)
    from idp.passkey_script import SCRIPT as PASSKEYS
    from idp.password_toggle import SCRIPT as PASSWORD_TOGGLE

    assert page.scripts == [PASSKEYS, PASSWORD_TOGGLE]  # the site's own two scripts, byte for byte
    assert page.summary_links == ["#password"]
    (username,) = [i for i in page.inputs if i.get("name") == "username"]
    assert username["value"] == typed and "aria-invalid" not in username


def test_the_summary_takes_the_focus_without_javascript(browser, live):
    browser.goto(f"{live}/signup")
    browser.get_by_role("button", name="Créer mon compte").click()
    summary = browser.get_by_role("alert")
    assert summary.get_by_role("heading").inner_text() == "Le formulaire contient 7 erreurs"
    assert summary.evaluate("element => element === document.activeElement")
    summary.get_by_role("link", name="Saisissez votre prénom.").click()
    assert browser.evaluate("document.activeElement.id") == "given_name"
