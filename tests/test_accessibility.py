"""Accessibility proven, not claimed: axe-core (every WCAG 2.0/2.1/2.2 A and AA rule and the best
practices, any impact) on every page a citizen can reach, in each of its states, in French and
in English, in Debian's Chromium with JavaScript on (axe needs it; the pages do not).

The catalogue is ``PAGES``: one line a page state, ``Page(name, open, shows)``, where ``open``
is a path, or a function of a ``Visit`` that brings the browser to that state, and ``shows``
a selector that only that state displays (so that a wrong page cannot pass for it). Each line
runs once per language, as its own test: ``test_axe_finds_nothing[signup/errors-fr]``.
A page behind sign-in adds ``signed_in=True``; one that needs settings, ``settings={...}``. Examples:

    Page("account-services/signed-in", "/account/services", "main h1", signed_in=True),
    Page("accessibility-statement/plain", "/accessibilite", "main h1"),
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import update

from idp import federated_recovery, resources, upstreams
from idp.email_change import CANCEL as EMAIL_CANCEL
from idp.models import AuditEvent, FederatedRecovery, Passkey, utcnow
from idp.one_time_tokens import one_time_tokens
from idp.upstream_identities import link
from plugins.recovery.requests import NOT_ME
from plugins.recovery.signup import VERIFY

from a11y import assert_accessible
from conftest import CHROMIUM, CHROMIUM_ARGS, free_port, sqlite_database
from helpers import PASSWORD, ROOT, authorize_url, deliver, link_in, make_client, make_user, served

LANGUAGES = {"fr": "fr-FR", "en": "en-GB"}  # sent as Accept-Language by the browser
LOGO = "https://transports.example.fr/logo.png"
NEW_PASSWORD = "lanterne verte sous la pluie"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain PNG of one colour, standing in for a service's logo (the tests have no network)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class Visit:
    """A citizen's browser on the provider, and what the catalogue's steps need to reach a state."""

    def __init__(self, page, app, base: str, db):
        self.page, self.app, self.base, self.db = page, app, base, db
        self.citizen = make_user(db, birthdate=dt.date(1975, 6, 21))

    def goto(self, path: str):
        return self.page.goto(self.base + path)

    def fill(self, **fields: str) -> None:
        for name, value in fields.items():
            self.page.fill(f"main [name={name}]", value)

    def submit(self, form: str = "main form") -> None:
        """Press the form's (first) button and wait for the page it leads to."""
        with self.page.expect_navigation():
            self.page.locator(f"{form} [type=submit]").first.click()

    def sign_in(self, username: str = "jean.dupont", password: str = PASSWORD, shared_computer: bool = False) -> None:
        self.goto("/login")
        self.fill(username=username, password=password)
        if shared_computer:
            self.page.check("main [name=shared_computer]")
        self.submit()
        assert self.page.locator("main form[action='/logout']").count() == 1, \
            "the sign-in did not succeed: " + self.page.locator("main").inner_text()[:600]

    def service(self) -> str:
        """A registered relying party with a name, a logo and a privacy policy; its client_id."""
        client_id, _secret = make_client(self.db, name="Transports scolaires", logo_uri=LOGO,
                                         policy_uri="https://transports.example.fr/confidentialite")
        return client_id

    def mailed_link(self, path: str) -> str:
        """The link to ``path`` in the newest mail the provider sent (kept by its development mailbox)."""
        deliver(self.app)
        with self.app.app_context():
            mails = self.app.extensions["idp.mail"].mails()
        return next(link_in(mail["text"], path) for mail in mails if path in mail["text"])

    def token(self, purpose: str, **data) -> str:
        """A one-time link's token for the citizen, as the provider mails them."""
        with self.app.app_context():
            return one_time_tokens().issue(self.citizen.id, purpose, 3600, data=data, kept=purpose == EMAIL_CANCEL)


def signed_in_to_a_service(v: Visit):
    """The citizen signs in to a service (its consent given), then opens "Mes services"."""
    back = v.base + "/callback-of-the-service"  # a page of ours (its 404): the tests have no network
    client_id, _secret = make_client(v.db, name="Transports scolaires", redirect_uris=[back])
    v.goto(authorize_url(client_id, redirect_uri=back))
    if v.page.locator("main button[name=allow]").count():
        v.submit("main form")
    assert v.page.url.startswith(back + "?code="), v.page.url
    v.goto("/account/services")


def service_removed(v: Visit):
    signed_in_to_a_service(v)
    v.submit("main form[action='/account/services']")


def delete_errors(v: Visit):
    v.goto("/account/delete")
    v.fill(current_password="not the password at all")
    v.submit("main form[action='/account/delete']")


def account_deleted(v: Visit):
    v.goto("/account/delete")
    v.fill(current_password=PASSWORD)
    v.page.check("main [name=confirm]")
    v.submit("main form[action='/account/delete']")


def help_contact_errors(v: Visit):
    asked(v, "/recovery/help", given_name="Jean", family_name="Dupont", birthdate="21/06/1975",
          new_email="jean@laposte.net", phone_number="call me", postal_code="4400")


def signup_not_me(v: Visit):
    signup_existing_account(v)
    v.fill(password=NEW_PASSWORD, password_confirm=NEW_PASSWORD)
    with v.page.expect_navigation():
        v.page.click("main button[name=not_me]")


def totp_enrolled(v: Visit):
    """Two-step sign-in switched on from the account page: the page of recovery codes."""
    from idp import totp

    v.goto("/account/totp")
    secret = v.page.get_attribute("main [data-totp-secret]", "data-totp-secret")
    v.fill(code=totp.code_at(secret, totp.current_step()))
    v.submit("main form[action='/account/totp']")
    return secret


def totp_errors(v: Visit):
    v.goto("/account/totp")
    v.fill(code="12")
    v.submit("main form[action='/account/totp']")


def totp_login_step(v: Visit, wrong: bool = False):
    totp_enrolled(v)
    v.submit("main form[action='/logout']") if v.goto("/").ok else None
    v.goto("/login")
    v.fill(username="jean.dupont", password=PASSWORD)
    v.submit()
    if wrong:
        v.fill(code="000000")
        v.submit()


@dataclass(frozen=True)
class Page:
    name: str  # "page/state"
    open: str | Callable[[Visit], object]  # a path, or the steps that bring the page to its state
    shows: str = "main h1"  # a selector only this state shows
    signed_in: bool = False
    settings: dict = field(default_factory=dict, hash=False)  # the provider's settings this state needs


def login_error(v: Visit):
    v.goto("/login")
    v.fill(username="jean.dupont", password="not the password at all")
    v.submit()


def login_for_a_service(v: Visit):
    v.goto(authorize_url(v.service()))


def login_with_franceconnect(v: Visit):
    upstreams.add(v.db, name="franceconnect", issuer=FC_ISSUER,
                  client_id="sesame", client_secret="secret", style="franceconnect")
    v.goto("/login")


FC_ISSUER = "https://fcp.integ01.dev-franceconnect.fr/api/v1"


def help_with_franceconnect(v: Visit):
    upstreams.add(v.db, name="franceconnect", issuer=FC_ISSUER, client_id="sesame", client_secret="secret",
                  style="franceconnect")
    v.goto("/recovery/help")


def recovery_password_page(v: Visit):
    """The link a recovery with FranceConnect mailed to the new address: the new password to choose."""
    token = v.token(federated_recovery.NEW_ADDRESS, email="jean@laposte.net", issuer=FC_ISSUER, subject="sub-1",
                    upstream="franceconnect", label="FranceConnect", birthplace=None, birthcountry=None, rid=None)
    v.goto(f"/recovery/federated/confirm/{token}")


def recovery_password_chosen(v: Visit, password: str = NEW_PASSWORD):
    recovery_password_page(v)
    v.fill(new_password=password, new_password_confirm=password)
    v.submit()


def recovery_waiting(v: Visit) -> str:
    """A recovery waiting for its delay; the old address's cancel link (a path)."""
    waiting = FederatedRecovery(user_id=v.citizen.id, new_email="jean@laposte.net", password_hash="x",
                                upstream="franceconnect", issuer=FC_ISSUER, subject="sub-1",
                                due_at=utcnow() + dt.timedelta(days=3))
    v.db.add(waiting)
    v.db.commit()
    return f"/recovery/federated/cancel/{v.token(federated_recovery.CANCEL, recovery_id=waiting.id)}"


def consent_for_an_api(v: Visit):
    """A service asking for a regional API's scope on the citizen's behalf: the consent page names the API."""
    resources.add(v.db, identifier="https://paiements.region.example.fr/api", scope="payments:read",
                  name="Paiements", descriptions=["payments:read=Voir vos paiements"])
    client_id, _secret = make_client(v.db, name="Transports scolaires", scope="openid payments:read")
    v.goto(authorize_url(client_id, scope="openid payments:read"))


def recovery_cancelled(v: Visit):
    v.goto(recovery_waiting(v))
    v.submit()


def passkey_remove_refused(v: Visit):
    """A passkey listed, and its removal refused for a wrong password."""
    v.db.add(Passkey(user_id=v.citizen.id, credential_id="Y3JlZGVudGlhbA", public_key="x", sign_count=0,
                     transports=[], aaguid="00000000-0000-0000-0000-000000000000", backup_eligible=False,
                     backed_up=False, name="Mon téléphone"))
    v.db.commit()
    v.goto("/account/passkeys")
    v.page.fill("main [name=current_password] >> nth=0", "not the password at all")
    v.submit("main li[data-passkey] form:nth-of-type(2)")


def identities_listed(v: Visit):
    link(v.db, v.citizen, "https://fcp.integ01.dev-franceconnect.fr/api/v1", "sub-1", "franceconnect")
    v.goto("/account/identities")


def identities_errors(v: Visit):
    identities_listed(v)
    v.submit()  # without the password


def login_shared_computer(v: Visit):
    v.goto("/login")
    v.page.check("main [name=shared_computer]")


def logged_out(v: Visit, shared_computer: bool = False):
    v.sign_in(shared_computer=shared_computer)
    v.submit("main form[action='/logout']")


def signup_errors(v: Visit):
    v.goto("/signup")
    v.fill(birthdate="31/02/1990", email="not an address", password="short")
    v.submit()


def signup_filled(v: Visit, given_name: str, family_name: str, birthdate: str, username: str):
    v.goto("/signup")
    v.fill(given_name=given_name, family_name=family_name, birthdate=birthdate, username=username,
           email=f"{username}@laposte.net", password=NEW_PASSWORD, password_confirm=NEW_PASSWORD)
    v.submit()


def signup_existing_account(v: Visit):
    signup_filled(v, "jean", "DUPONT", "21/06/1975", "jean.d")


def signup_identifier_taken(v: Visit):
    signup_filled(v, "Claire", "Le Goff", "03/11/1988", "jean.dupont")


def signup_sent(v: Visit):
    signup_filled(v, "Claire", "Le Goff", "03/11/1988", "claire.legoff")


def pending_citizen(v: Visit) -> str:
    v.citizen.status, v.citizen.email_verified = "pending", False
    v.db.commit()
    return f"/signup/verify/{v.token(VERIFY)}"


def verify_errors(v: Visit):
    v.goto(pending_citizen(v))
    v.fill(password="not the password at all")
    v.submit()


def asked(v: Visit, path: str, **fields: str):
    v.goto(path)
    v.fill(**fields)
    v.submit()


def reset_link(v: Visit) -> str:
    asked(v, "/recovery/password", login="jean.dupont")
    return v.mailed_link("/recovery/reset/")


def reset_errors(v: Visit, new_password: str = "password1234567", again: str = "password1234567"):
    v.goto(reset_link(v))
    v.fill(new_password=new_password, new_password_confirm=again)
    v.submit()


def passkey_offer(v: Visit):
    """A reset, then the first sign-in with the new password: the page offering a passkey."""
    reset_errors(v, NEW_PASSWORD, NEW_PASSWORD)
    v.fill(password=NEW_PASSWORD)
    v.submit()


def help_sent(v: Visit):
    asked(v, "/recovery/help", given_name="Jean", family_name="Dupont", birthdate="21/06/1975",
          new_email="jean.dupont@laposte.net")


def help_cancel_link(v: Visit) -> str:
    help_sent(v)
    return v.mailed_link("/recovery/help/cancel/")


def help_cancelled(v: Visit):
    v.goto(help_cancel_link(v))
    v.submit()


def account_errors(v: Visit):
    v.goto("/account")
    v.fill(birthdate="31/02/1990", postal_code="4400", phone_number="call me")
    v.submit()


def account_saved(v: Visit):
    v.goto("/account")
    v.fill(locality="Nantes")
    v.submit()


def password_errors(v: Visit):
    v.goto("/account/password")
    v.fill(current_password="not the password at all", new_password=NEW_PASSWORD, new_password_confirm=NEW_PASSWORD)
    v.submit()


def email_cancelled(v: Visit):
    v.goto(f"/account/email/cancel/{v.token(EMAIL_CANCEL, email='jean.dupont@example.fr')}")
    v.submit()


def not_me_done(v: Visit):
    v.goto(f"/recovery/not-me/{v.token(NOT_ME)}")
    v.submit()


def dev_mail_with_mails(v: Visit):
    reset_link(v)
    v.goto("/dev/mail")


UNKNOWN_TOKEN = "x" * 43  # the shape of a token, issued by nobody

PAGES = [
    Page("login/empty", "/login", "main #username"),
    Page("login/error", login_error, "main [role=alert]"),
    Page("login/for-a-service", login_for_a_service, f"main img[src='{LOGO}']"),
    Page("login/shared-computer", login_shared_computer, "main [name=shared_computer]:checked"),
    Page("login/with-franceconnect", login_with_franceconnect, "main button.franceconnect"),
    Page("logged-out/plain", logged_out, "main a.button"),
    Page("logged-out/shared-computer", lambda v: logged_out(v, shared_computer=True), "main [role=status]"),
    Page("home/signed-in", "/", "main form[action='/logout']", signed_in=True),
    Page("signup/empty", "/signup", "main #given_name"),
    Page("signup/errors", signup_errors, "main .field-error"),
    Page("signup/for-a-service", lambda v: v.goto(authorize_url(v.service(), prompt="create")), "main .service"),
    Page("signup/existing-account", signup_existing_account, "main [role=alert] a[href^='/recovery/help']"),
    Page("signup/identifier-taken", signup_identifier_taken, "main .field-error"),
    Page("signup/sent", signup_sent, "main [role=status]"),
    Page("signup-verify/form", lambda v: v.goto(pending_citizen(v)), "main #new_password"),
    Page("signup-verify/errors", verify_errors, "main .field-error"),
    Page("signup-verify/invalid-link", f"/signup/verify/{UNKNOWN_TOKEN}", "main [role=alert]"),
    Page("recovery-password/empty", "/recovery/password", "main [name=login]"),
    Page("recovery-password/errors", lambda v: asked(v, "/recovery/password"), "main [role=alert]"),
    Page("recovery-password/sent", lambda v: asked(v, "/recovery/password", login="jean.dupont"),
         "main [role=status]"),
    Page("recovery-identifier/empty", "/recovery/identifier", "main [name=email]"),
    Page("recovery-identifier/errors", lambda v: asked(v, "/recovery/identifier", email="jean"), "main [role=alert]"),
    Page("recovery-identifier/sent", lambda v: asked(v, "/recovery/identifier", email="jean.dupont@example.fr"),
         "main [role=status]"),
    Page("reset/form", lambda v: v.goto(reset_link(v)), "main #new_password"),
    Page("reset/weak-password", reset_errors, "main [role=alert]"),
    Page("reset/passwords-differ", lambda v: reset_errors(v, NEW_PASSWORD, "something else"), "main .field-error"),
    Page("reset/invalid-link", f"/recovery/reset/{UNKNOWN_TOKEN}", "main [role=alert]"),
    Page("not-me/form", lambda v: v.goto(f"/recovery/not-me/{v.token(NOT_ME)}"), "main form button"),
    Page("not-me/done", not_me_done, "main h1"),
    Page("help/empty", "/recovery/help", "main #new_email"),
    Page("help/errors", lambda v: asked(v, "/recovery/help"), "main .field-error"),
    Page("help/sent", help_sent, "main [role=status]"),
    Page("help/sent-no-help-desk", help_sent, "main [role=status]", settings={"IDP_HELPDESK_EMAIL": None}),
    Page("help/with-franceconnect", help_with_franceconnect, "main button.franceconnect"),
    Page("recovery-federated/expired", "/recovery/federated", "main [role=alert]"),
    Page("recovery-federated/password", recovery_password_page, "main #new_password"),
    Page("recovery-federated/password-errors", lambda v: recovery_password_chosen(v, "short"), "main .field-error"),
    Page("recovery-federated/scheduled", recovery_password_chosen, "main [role=status]"),
    Page("recovery-federated/cancel", lambda v: v.goto(recovery_waiting(v)), "main form button"),
    Page("recovery-federated/cancelled", recovery_cancelled, "main [role=status]"),
    Page("help-cancel/form", lambda v: v.goto(help_cancel_link(v)), "main form button"),
    Page("help-cancel/done", help_cancelled, "main [role=status]"),
    Page("help-cancel/invalid-link", f"/recovery/help/cancel/{UNKNOWN_TOKEN}", "main [role=alert]"),
    Page("account/signed-in", "/account", "main #given_name", signed_in=True),
    Page("account-passkeys/empty", "/account/passkeys", "main #current_password", signed_in=True),
    Page("account-passkeys/wrong-password", passkey_remove_refused, "main [role=alert]", signed_in=True),
    Page("account-passkeys/offer", passkey_offer, "main a[data-passkey-later]"),
    Page("login/two-factors-asked", lambda v: v.goto(authorize_url(v.service(), acr_values="urn:sesame:acr:2fa")),
         "main .notice[role=status]"),
    Page("account-identities/list", identities_listed, "main [data-identity]", signed_in=True),
    Page("account-identities/errors", identities_errors, "main .field-error", signed_in=True),
    Page("account/errors", account_errors, "main .field-error", signed_in=True),
    Page("account/saved", account_saved, "main .success[role=status]", signed_in=True),
    Page("account-password/form", "/account/password", "main #current_password", signed_in=True),
    Page("account-password/errors", password_errors, "main [role=alert]", signed_in=True),
    Page("email-confirm/form", lambda v: v.goto(f"/account/email/{v.token('email-change', email='j@laposte.net')}"),
         "main form button"),
    Page("email-cancel/form", lambda v: v.goto(f"/account/email/cancel/{v.token(EMAIL_CANCEL, email='a@b.fr')}"),
         "main form button"),
    Page("email-cancel/done", email_cancelled, "main [role=status]"),
    Page("email-cancel/invalid-link", f"/account/email/cancel/{UNKNOWN_TOKEN}", "main [role=alert]"),
    Page("consent/form", lambda v: v.goto(authorize_url(v.service(), prompt="consent")), "main button[name=deny]",
         signed_in=True),
    Page("consent/with-an-api", consent_for_an_api, "main ul[data-api]", signed_in=True),
    Page("logout-confirm/form", "/oauth/logout", "main form[action='/logout']", signed_in=True),
    Page("protocol-error/bad-redirect-uri",
         lambda v: v.goto(authorize_url(v.service(), redirect_uri="https://elsewhere.example/cb")), "main code"),
    Page("not-found/plain", "/no/such/page", "main [role=alert]"),
    Page("dev-mail/empty", "/dev/mail", "main .notice"),
    Page("dev-mail/with-mails", dev_mail_with_mails, "main iframe"),
    Page("signup/not-me-sent", signup_not_me, "main [role=status]"),
    Page("help/contact-errors", help_contact_errors, "main #phone_number[aria-invalid=true]"),
    Page("account-services/empty", "/account/services", "main h1", signed_in=True),
    Page("account-services/one-service", signed_in_to_a_service, "main form[action='/account/services']",
         signed_in=True),
    Page("account-services/removed", service_removed, "main .success[role=status]", signed_in=True),
    Page("account-sessions/signed-in", "/account/sessions", "main form[action='/account/sessions']",
         signed_in=True),
    Page("account-delete/form", "/account/delete", "main [name=confirm]", signed_in=True),
    Page("account-delete/errors", delete_errors, "main .error-summary", signed_in=True),
    Page("account-delete/done", account_deleted, "main h1", signed_in=True),
    Page("accessibility-statement/plain", "/accessibilite", "main h1"),
    Page("personal-data/plain", "/donnees-personnelles", "main h1"),
    Page("legal-notice/plain", "/mentions-legales", "main h1"),
    Page("help-and-contact/plain", "/aide-et-contact", "main h1"),
    Page("totp/enrol", "/account/totp", "main [data-totp-secret] ", signed_in=True),
    Page("totp/errors", totp_errors, "main .error-summary", signed_in=True),
    Page("totp/recovery-codes", totp_enrolled, "main ol code", signed_in=True),
    Page("totp/enrolled", lambda v: (totp_enrolled(v), v.goto("/account/totp")), "main form[action$='/remove']",
         signed_in=True),
    Page("login-totp/form", totp_login_step, "main [name=code]", signed_in=True),
    Page("login-totp/wrong-code", lambda v: totp_login_step(v, wrong=True), "main .error-summary", signed_in=True),
]


def reach(visit: Visit, state: Page) -> None:
    if state.signed_in:
        visit.sign_in()
    if callable(state.open):
        state.open(visit)
    else:
        visit.goto(state.open)


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def database_url(tmp_path, sqlite_template):
    """SQLite only: what axe reads does not depend on the database, which the other tests cover on both."""
    return sqlite_database(tmp_path, sqlite_template)


HELP_DESK = {"IDP_HELPDESK_EMAIL": "aide@region.example.fr", "IDP_HELPDESK_PHONE": "02 99 00 00 00"}


@pytest.fixture
def provider(build_app):
    """Starts the provider over real HTTP, with a help desk to show and its mails kept in its development
    mailbox (so /dev/mail exists), with these settings changed; returns (app, base URL)."""
    with contextlib.ExitStack() as running:
        def start(host: str = "127.0.0.1", **settings):
            port = free_port()
            app = build_app(**{**HELP_DESK, "IDP_ISSUER": f"http://{host}:{port}", **settings})
            running.enter_context(served(app, port))
            return app, f"http://{host}:{port}"
        yield start


def browsing(chromium, lang: str, viewport: dict | None = None, java_script_enabled: bool = True):
    """A fresh context (JavaScript on, for axe) in ``lang``; the logo of the test service is served locally."""
    context = chromium.new_context(locale=LANGUAGES[lang], viewport=viewport or {"width": 1280, "height": 900},
                                   java_script_enabled=java_script_enabled)
    logo = png(96, 48, (0, 0, 145))
    context.route(LOGO, lambda route: route.fulfill(status=200, content_type="image/png", body=logo))
    return context


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("state", PAGES, ids=[page.name for page in PAGES])
def test_axe_finds_nothing(chromium, provider, db, state: Page, lang: str):
    app, base = provider(**state.settings)
    context = browsing(chromium, lang)
    try:
        visit = Visit(context.new_page(), app, base, db)
        reach(visit, state)
        page = visit.page
        assert page.locator(state.shows).count() >= 1, f"{state.name}: {page.url} shows no {state.shows}:\n" \
                                                       f"{page.locator('main').inner_text()[:600]}"
        assert page.evaluate("document.documentElement.lang") == lang
        assert_accessible(page)
    finally:
        context.close()


def test_the_catalogue_names_each_state_once():
    names = [page.name for page in PAGES]
    assert len(names) == len(set(names)), sorted(name for name in names if names.count(name) > 1)


def test_axe_reports_a_violation_on_a_broken_page(chromium, provider):
    """The check itself can fail: a field stripped of its label is reported, with its rule and element."""
    _app, base = provider()
    context = browsing(chromium, "fr")
    try:
        page = context.new_page()
        page.goto(f"{base}/login")
        page.evaluate("document.querySelector('label[for=username]').remove()")
        with pytest.raises(AssertionError) as failure:
            assert_accessible(page)
        assert "label (critical)" in str(failure.value) and "#username" in str(failure.value)
    finally:
        context.close()



NARROW = ["login/for-a-service", "signup/existing-account", "account/errors", "help/errors", "dev-mail/with-mails"]


@pytest.mark.parametrize("state", [page for page in PAGES if page.name in NARROW], ids=NARROW)
def test_at_320_px_nothing_scrolls_sideways_and_axe_finds_nothing(chromium, provider, db, state: Page):
    """WCAG 1.4.10 (reflow): at 320 CSS pixels wide, the page fits without a horizontal scroll bar."""
    app, base = provider(**state.settings)
    context = browsing(chromium, "fr", viewport={"width": 320, "height": 640})
    try:
        visit = Visit(context.new_page(), app, base, db)
        reach(visit, state)
        page = visit.page
        assert page.locator(state.shows).count() >= 1, page.locator("main").inner_text()[:600]
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        assert_accessible(page)
    finally:
        context.close()


SHOTS = ROOT / "docs" / "screenshots"  # shown in the README; other browser tests write to IDP_TEST_SCREENSHOTS
FIXED_TIME = dt.datetime(2026, 12, 1, 8, 30)  # UTC: the account page's activity reads the same on every run


def account_with_fixed_activity(v: Visit):
    v.sign_in()
    v.db.execute(update(AuditEvent).values(at=FIXED_TIME, ip="203.0.113.7"))
    v.db.commit()
    v.goto("/account")


README_SHOTS = [  # (file, state, viewport width)
    ("login", "login/for-a-service", 1280),
    ("forgot-password", "recovery-password/empty", 1280),
    ("red-hint", "signup/existing-account", 1280),
    ("account", account_with_fixed_activity, 1280),
    ("login-320px", "login/for-a-service", 320),
]


@pytest.mark.parametrize(("file", "state", "width"), README_SHOTS, ids=[shot[0] for shot in README_SHOTS])
def test_the_readme_screenshots(chromium, provider, db, file: str, state, width: int):
    """The README's screenshots, taken the same way each run (fixed size, data and clock shown), in
    French with JavaScript off as a citizen may browse; the lead re-takes them by running this test."""
    app, base = provider()
    context = browsing(chromium, "fr", viewport={"width": width, "height": 800 if width > 320 else 640},
                       java_script_enabled=False)
    try:
        visit = Visit(context.new_page(), app, base, db)
        if callable(state):
            state(visit)
        else:
            reach(visit, next(page for page in PAGES if page.name == state))
        shoot(visit.page, file)
    finally:
        context.close()


def shoot(page, file: str) -> None:
    assert page.locator("main h1").count() == 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{file}.png"), animations="disabled", caret="hide")
    assert (SHOTS / f"{file}.png").stat().st_size < 200_000


FRANCECONNECT_SHOTS = ("franceconnect-login", "franceconnect-signup", "franceconnect-recovery")
PASSKEY_SHOTS = ("passkey-login", "passkeys-list")  # taken by tests/test_browser_passkeys.py, JavaScript on


def test_the_readme_screenshots_of_the_franceconnect_journey(chromium, provider, db, upstream):
    """Sign-in with FranceConnect in a real browser, against the loopback provider set up as FranceConnect:
    the button on the login page, the provider's own login, back to a sign-up filled in with the verified
    identity (checked by axe too); then the help page's way out of a lost mailbox."""
    issuer, counted, _keys = upstream
    app, base = provider(host="localhost")  # another host than the provider's: cookies are per host, not port
    upstream_db = counted.app.extensions["idp.db"].session_factory()
    try:
        make_user(upstream_db, username="claire.legoff", email="claire.legoff@laposte.net", given_name="Claire",
                  family_name="Le Goff", birthdate=dt.date(1988, 11, 3))
        client_id, secret = make_client(
            upstream_db, redirect_uris=[f"{base}/federation/franceconnect/callback"],
            post_logout_redirect_uris=[f"{base}/federation/franceconnect/logged-out"], scope="openid profile email",
            userinfo_alg="ES256")
    finally:
        upstream_db.close()
    upstreams.add(db, name="franceconnect", issuer=issuer, client_id=client_id, client_secret=secret,
                  scope="openid profile email", style="franceconnect")
    context = browsing(chromium, "fr", viewport={"width": 1280, "height": 800})
    try:
        visit = Visit(context.new_page(), app, base, db)
        visit.goto(authorize_url(visit.service()))
        shoot(visit.page, "franceconnect-login")
        visit.submit("main form[action='/federation/franceconnect/login']")
        assert visit.page.url.startswith(issuer + "/login"), visit.page.url  # at the provider
        visit.fill(username="claire.legoff", password=PASSWORD)
        visit.submit("main form[action='/login']")
        assert visit.page.url.startswith(base + "/signup"), visit.page.url  # back, with the identity
        assert visit.page.input_value("main [name=family_name]") == "Le Goff"
        assert visit.page.get_attribute("main [name=family_name]", "readonly") is not None
        assert_accessible(visit.page)
        shoot(visit.page, "franceconnect-signup")
        visit.goto("/recovery/help")
        assert visit.page.locator("main button.franceconnect").count() == 1
        shoot(visit.page, "franceconnect-recovery")
    finally:
        context.close()


def test_the_readme_shows_each_screenshot_taken():
    readme = (ROOT / "README.md").read_text()
    shown = set(re.findall(r"\]\((docs/screenshots/[^)]+\.png)\)", readme))
    assert shown == {f"docs/screenshots/{file}.png" for file, _state, _width in README_SHOTS} | {
        f"docs/screenshots/{file}.png" for file in FRANCECONNECT_SHOTS + PASSKEY_SHOTS}
    assert all((ROOT / path).is_file() for path in shown)
