"""The recovery journeys as a citizen lives them: ask for a link, read the mail from a real
SMTP sink, open the link, choose a password, sign in again and carry on to the service."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from flask_babel import force_locale, gettext
from sqlalchemy import select

from idp.models import AuditEvent, User
from idp.one_time_tokens import one_time_tokens, token_hash

from helpers import (
    PASSWORD,
    TOKEN,
    authorize_url,
    csrf_token,
    deliver,
    everything_in,
    get_code,
    link_in,
    login,
    make_client,
    make_user,
    passkey_offer_skipped,
    query,
    redeem,
    served,
    signed_in,
)

ISSUER = "http://localhost:5000"
NEW_PASSWORD = "a walk along the river at dawn"
RESET_PATH = "/recovery/reset/"
NOT_ME_PATH = "/recovery/not-me/"
SPAM_HINT = "look in your spam or junk folder"
LINK_GONE = "This link no longer works"
CHANGED = "Your password has been changed. Sign in with your new password."
CATALOG = Path(__file__).resolve().parent.parent / "idp/translations/fr/LC_MESSAGES/messages.po"


@pytest.fixture
def app(build_app, smtp):
    """Mails go to the real SMTP sink; every other setting is the default."""
    return build_app(IDP_SMTP_URL=smtp.url)


@pytest.fixture
def citizen(db):
    return make_user(db)


# What the citizen does -------------------------------------------------------------------------------------------

def ask_reset(browser, login_name="jean.dupont", rid=None, lang=None):
    """Open "forgot your password?", type an identifier or address, submit; the answer."""
    args = "&".join(f"{k}={v}" for k, v in (("rid", rid), ("lang", lang)) if v)
    page = browser.get("/recovery/password" + (f"?{args}" if args else ""))
    assert page.status_code == 200, page.data
    form = {"csrf_token": csrf_token(page.data), "login": login_name, **({"rid": rid} if rid else {})}
    return browser.post("/recovery/password", data=form)


def ask_identifier(browser, address, lang="en"):
    page = browser.get(f"/recovery/identifier?lang={lang}")
    return browser.post("/recovery/identifier", data={"csrf_token": csrf_token(page.data), "email": address})


def choose_password(browser, link, password=NEW_PASSWORD, confirm=None):
    """Open the mailed link and submit a new password; the POST's answer."""
    page = browser.get(link)
    assert page.status_code == 200, page.data
    form = {"csrf_token": csrf_token(page.data), "new_password": password,
            "new_password_confirm": password if confirm is None else confirm}
    return browser.post(link, data=form)


def mailed_reset_link(app, smtp, count=1) -> str:
    """Run the queued jobs, wait for the ``count``-th mail and return its reset link (a path)."""
    deliver(app)
    return link_in(smtp.text(smtp.wait_for(count)[count - 1]), RESET_PATH)


def prefilled(login_page: str) -> str | None:
    """What the login form's identifier field already holds."""
    field = re.search(r'<input[^>]*name="username"[^>]*>', login_page).group(0)
    value = re.search(r'value="([^"]*)"', field)
    return value.group(1) if value else None


def text(response) -> str:
    return response.get_data(as_text=True)


def french(app, message, **variables) -> str:
    """``message`` as the French catalog says it (and a check that the catalog does say it)."""
    if "Sésame" in message:  # the default brand, a parameter of the sentence
        message, variables = message.replace("Sésame", "%(brand)s"), {**variables, "brand": "Sésame"}
    with app.test_request_context(), force_locale("fr"):
        translated = gettext(message, **variables)
    assert translated != (message % variables if variables else message), f"{message!r}: no French in {CATALOG}"
    return translated


# The login page --------------------------------------------------------------------------------------------------

def test_login_page_offers_recovery_in_french_carrying_the_pending_request(client, db):
    client_id, _secret = make_client(db)
    to_login = client.get(authorize_url(client_id))
    assert to_login.status_code == 302 and urlparse(to_login.location).path == "/login"
    rid = query(to_login.location)["rid"]

    page = text(client.get(f"/login?rid={rid}"))

    assert '<html lang="fr"' in page
    assert "Mot de passe oublié ?" in page and "Identifiant oublié ?" in page
    assert f'href="/recovery/password?rid={rid}"' in page
    assert f'href="/recovery/identifier?rid={rid}"' in page
    form = text(client.get(f"/recovery/password?rid={rid}"))
    assert f'name="rid" type="hidden" value="{rid}"' in form
    assert f'href="/login?rid={rid}"' in form  # "Retour" from the form too


def test_login_page_without_a_pending_request_links_plainly(client):
    page = text(client.get("/login"))
    assert 'href="/recovery/password"' in page and 'href="/recovery/identifier"' in page


# Asking for a link -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["jean.dupont", " Jean.Dupont ", "JEAN.Dupont@Example.FR"])
def test_forgot_password_mails_a_link_by_identifier_or_address(app, client, smtp, citizen, typed):
    answer = ask_reset(client, typed, lang="en")

    assert answer.status_code == 200
    page = text(answer)
    assert '<html lang="en"' in page and "Check your mailbox" in page and SPAM_HINT in page
    assert 'href="/login">Back</a>' in page
    deliver(app)
    [mail] = smtp.wait_for(1)
    assert mail["To"] == "jean.dupont@example.fr"
    assert mail["Subject"] == "Reset your Sésame password"
    body = smtp.text(mail)
    assert body.splitlines()[0] == "Your identifier: jean.dupont"
    link = re.search(r"\S+/recovery/reset/\S+", body).group(0)
    assert re.fullmatch(ISSUER + r"/recovery/reset/" + TOKEN, link)
    assert "The link works once, for 30 minutes." in body
    assert "If you did not ask for it, ignore this e-mail: nothing will change and your password stays the same." \
        in body
    assert f'href="{link}"' in smtp.html(mail)
    assert "Your identifier: jean.dupont" in smtp.html(mail)
    assert client.get(urlparse(link).path).status_code == 200


def test_the_mail_is_in_french_by_default(app, client, smtp, citizen):
    assert ask_reset(client).status_code == 200
    deliver(app)
    [mail] = smtp.wait_for(1)

    assert mail["Subject"] == french(app, "Reset your Sésame password")
    body = smtp.text(mail)
    assert body.splitlines()[0] == french(app, "Your identifier: %(username)s", username="jean.dupont")
    assert french(app, "The link works once, for %(minutes)d minutes. Only the most recent link we sent works.",
                  minutes=30) in body
    assert link_in(body, RESET_PATH)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_mail_says_its_language(app, client, smtp, citizen, lang):
    ask_reset(client, lang=lang)
    deliver(app)
    assert smtp.wait_for(1)[0]["Content-Language"] == lang


def test_the_neutral_answer_is_the_same_for_known_and_unknown_accounts(app, client, smtp, citizen):
    queue = app.extensions["idp.jobs"]
    page = client.get("/recovery/password")
    token = csrf_token(page.data)

    known = client.post("/recovery/password", data={"csrf_token": token, "login": "jean.dupont"})
    assert queue.pending() == 1
    unknown = client.post("/recovery/password", data={"csrf_token": token, "login": "marie.curie"})
    assert queue.pending() == 2  # a job either way: the answer does not wait for the lookup

    assert known.status_code == unknown.status_code == 200
    assert known.data == unknown.data
    assert without_date(known.headers) == without_date(unknown.headers)
    assert int(known.headers["X-RateLimit-Remaining"]) - int(unknown.headers["X-RateLimit-Remaining"]) == 1
    assert deliver(app) >= 2
    assert len(smtp.messages) == 1 and smtp.messages[0]["To"] == "jean.dupont@example.fr"


def without_date(headers) -> list[tuple[str, str]]:
    # The rate-limit headers count this address's attempts (checked apart), whatever was typed.
    return [(k, v) for k, v in headers.items() if k not in ("Date", "X-RateLimit-Remaining", "X-RateLimit-Reset")]


def test_an_unknown_account_gets_no_mail(app, client, smtp, citizen):
    for typed in ("marie.curie", "marie.curie@example.fr"):
        assert ask_reset(client, typed).status_code == 200
    assert deliver(app) == 2
    assert smtp.messages == []


def test_a_disabled_account_gets_no_mail(app, client, smtp, db, citizen):
    citizen.status = "disabled"
    db.commit()
    assert ask_reset(client).status_code == 200
    assert deliver(app) == 1
    assert smtp.messages == []


def test_a_new_request_supersedes_the_earlier_link(app, client, smtp, citizen):
    ask_reset(client)
    first = mailed_reset_link(app, smtp, 1)
    ask_reset(client, "jean.dupont@example.fr")
    second = mailed_reset_link(app, smtp, 2)

    assert first != second
    gone = client.get(first)
    assert gone.status_code == 410
    assert client.get(second).status_code == 200
    assert choose_password(client, second).status_code == 303


def test_without_csrf_token_nothing_is_queued(app, client, citizen):
    client.get("/recovery/password")
    answer = client.post("/recovery/password", data={"login": "jean.dupont"})
    assert answer.status_code == 400
    assert app.extensions["idp.jobs"].pending() == 0


@pytest.mark.parametrize("typed", ["", "   "])
def test_an_empty_login_is_refused_with_a_message(app, client, typed):
    answer = ask_reset(client, typed, lang="en")
    assert answer.status_code == 400
    assert "Enter your identifier or your e-mail address." in text(answer)
    assert app.extensions["idp.jobs"].pending() == 0


def test_the_form_and_the_mail_follow_the_language_chosen(app, client, smtp, citizen):
    form = client.get("/recovery/password?lang=en")
    assert '<html lang="en"' in text(form) and "Forgot your password?" in text(form)
    client.post("/recovery/password", data={"csrf_token": csrf_token(form.data), "login": "jean.dupont"})
    deliver(app)
    [mail] = smtp.wait_for(1)
    assert mail["Subject"] == "Reset your Sésame password"
    assert smtp.text(mail).startswith("Your identifier: jean.dupont")


# The link --------------------------------------------------------------------------------------------------------

def test_opening_the_link_uses_nothing(app, client, smtp, citizen):
    ask_reset(client, lang="en")
    link = mailed_reset_link(app, smtp)
    scanner = app.test_client()  # a mail scanner prefetching the link

    for browser in (scanner, scanner, client):
        page = browser.get(link)
        assert page.status_code == 200
        assert page.headers["Referrer-Policy"] == "no-referrer"
    page = text(client.get(link))
    assert "For the account with identifier jean.dupont." in page
    assert "A phrase of a few words that you will remember makes a good password" in page

    assert choose_password(client, link).status_code == 303


@pytest.mark.parametrize("password, confirm, reason", [
    ("short one", None, "The password must have at least 15 characters (it has 9)."),
    ("1qaz2wsx3edc4rfv", None, "This password appears in lists of passwords stolen from other sites"),
    ("my name is jean.dupont, hello", None, "The password must not contain your identifier or your e-mail address."),
    ("dupont jean 1975 xyz", None, "Your names, birth date, identifier and e-mail address are the first things tried"),
    (NEW_PASSWORD, NEW_PASSWORD + "!", "The two passwords differ."),
])
def test_a_refused_password_says_why_and_keeps_the_link(app, client, smtp, citizen, password, confirm, reason):
    ask_reset(client, lang="en")
    link = mailed_reset_link(app, smtp)

    refused = choose_password(client, link, password, confirm)

    assert refused.status_code == 400
    assert reason in text(refused)
    assert refused.headers["Referrer-Policy"] == "no-referrer"
    assert login(app.test_client(), password=password).status_code == 401
    assert choose_password(client, link).status_code == 303


def test_after_a_reset_the_citizen_signs_in_with_the_new_password_only(app, client, smtp, citizen):
    ask_reset(client, lang="en")
    link = mailed_reset_link(app, smtp)

    done = choose_password(client, link)

    assert done.status_code == 303 and done.location == "/login?username=jean.dupont"
    page = text(client.get(done.location))
    assert prefilled(page) == "jean.dupont"
    assert CHANGED in page
    assert login(app.test_client(), password=PASSWORD).status_code == 401
    assert login(app.test_client(), password=NEW_PASSWORD).status_code == 303

    used = client.get(link)
    assert used.status_code == 410
    assert LINK_GONE in text(used) and 'href="/recovery/password"' in text(used)
    assert choose_password_again(client, link).status_code == 410
    forged = client.get(RESET_PATH + "A" * 43)
    assert forged.status_code == 410
    assert same_page(used, link, forged, RESET_PATH + "A" * 43)
    assert client.get(RESET_PATH + "nonsense").status_code == 410


def choose_password_again(browser, link):
    """A POST of a used link, with a valid CSRF token of the session."""
    token = csrf_token(browser.get("/recovery/password").data)
    return browser.post(link, data={"csrf_token": token, "new_password": "another fine long phrase",
                                    "new_password_confirm": "another fine long phrase"})


def same_page(first, first_path, second, second_path) -> bool:
    # The page's language links repeat its own path; apart from that the two must be the same bytes.
    return text(first).replace(first_path, "PATH") == text(second).replace(second_path, "PATH")


def test_the_citizen_continues_to_the_relying_party_after_a_reset(app, client, smtp, db, citizen):
    client_id, secret = make_client(db)
    to_login = client.get(authorize_url(client_id, state="state-42"))
    rid = query(to_login.location)["rid"]
    login_page = text(client.get(to_login.location))
    forgot = re.search(r'href="(/recovery/password\?rid=[^"]+)"', login_page).group(1)
    assert query(forgot)["rid"] == rid

    sent = ask_reset(client, rid=rid)
    assert sent.status_code == 200 and "(spam)" in text(sent)
    assert f'href="/login?rid={rid}">Retour</a>' in text(sent)  # back into the pending request
    done = choose_password(client, mailed_reset_link(app, smtp))

    assert done.status_code == 303
    assert query(done.location) == {"username": "jean.dupont", "rid": rid}
    assert prefilled(text(client.get(done.location))) == "jean.dupont"
    signed = login(client, password=NEW_PASSWORD, rid=rid)
    onwards = passkey_offer_skipped(client, signed)
    assert onwards.startswith("/oauth/authorize?") and query(onwards)["resume"] == rid
    back = client.get(onwards)
    assert back.status_code == 302 and back.location.startswith("https://rp.example.fr/callback?")
    callback = query(back.location)
    assert callback["state"] == "state-42"
    assert redeem(client, client_id, secret, callback["code"]).status_code == 200


# What a reset ends -----------------------------------------------------------------------------------------------

def test_a_reset_signs_out_everywhere_and_revokes_tokens(app, smtp, db, citizen):
    laptop, phone, someone = app.test_client(), app.test_client(), app.test_client()
    assert login(laptop).status_code == 303 and login(phone).status_code == 303
    client_id, secret = make_client(db)
    tokens = redeem(laptop, client_id, secret, get_code(laptop, client_id)["code"]).get_json()
    assert "refresh_token" in tokens
    ask_reset(someone, lang="en")
    link = mailed_reset_link(app, smtp)
    with app.app_context():  # another link still outstanding
        other = one_time_tokens().issue(citizen.id, "reset", 1800, supersede=False)
    assert someone.get(RESET_PATH + other).status_code == 200
    assert choose_password(someone, link).status_code == 303

    assert not signed_in(laptop) and not signed_in(phone)
    refreshed = laptop.post("/oauth/token", auth=(client_id, secret),
                            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    introspected = laptop.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=(client_id, secret))
    assert introspected.status_code == 200 and introspected.get_json()["active"] is False
    assert someone.get(RESET_PATH + other).status_code == 410

    deliver(app)
    notice = smtp.wait_for(2)[1]
    assert notice["To"] == "jean.dupont@example.fr"
    assert notice["Subject"] == "Your Sésame password was changed"
    assert smtp.text(notice).startswith("Your identifier: jean.dupont")
    assert re.search(ISSUER + NOT_ME_PATH + TOKEN + r"\s", smtp.text(notice))
    assert link_in(smtp.text(notice), NOT_ME_PATH) in smtp.html(notice)


def test_it_was_not_me_locks_the_password_and_sends_a_new_link(app, client, smtp, citizen):
    ask_reset(client, lang="en")
    choose_password(client, mailed_reset_link(app, smtp))
    assert login(client, password=NEW_PASSWORD).status_code == 303  # the intruder's browser
    deliver(app)
    not_me = link_in(smtp.text(smtp.wait_for(2)[1]), NOT_ME_PATH)
    owner = app.test_client()

    for _ in range(2):  # opening it uses nothing
        page = owner.get(not_me + "?lang=en")
        assert page.status_code == 200 and "You did not change your password?" in text(page)
    done = owner.post(not_me, data={"csrf_token": csrf_token(page.data)})

    assert done.status_code == 200 and "Your account is secured" in text(done)
    assert not signed_in(client)
    assert login(app.test_client(), password=NEW_PASSWORD).status_code == 401
    assert login(app.test_client(), password=PASSWORD).status_code == 401
    assert owner.get(not_me).status_code == 410
    deliver(app)
    mail = smtp.wait_for(3)[2]
    assert mail["Subject"] == "Reset your Sésame password"
    fresh = link_in(smtp.text(mail), RESET_PATH)
    assert choose_password(owner, fresh, "the owner's own long phrase").status_code == 303
    assert login(app.test_client(), password="the owner's own long phrase").status_code == 303


# Expiry and races ------------------------------------------------------------------------------------------------

def test_the_link_lives_as_long_as_configured(build_app, smtp, redis, db):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_RESET_TOKEN_TTL=600)
    make_user(db)
    browser = app.test_client()
    ask_reset(browser, lang="en")
    deliver(app)
    [mail] = smtp.wait_for(1)
    token = link_in(smtp.text(mail), RESET_PATH).removeprefix(RESET_PATH)

    assert "for 10 minutes" in smtp.text(mail)
    assert 595 <= redis.ttl(f"idp:ott:{{{token.partition('.')[0]}}}:{token_hash(token)}") <= 600
    assert token not in everything_in(redis)  # stored hashed; the delivered mail is gone


def test_an_expired_link_says_so(app, client, citizen):
    with app.app_context():
        token = one_time_tokens().issue(citizen.id, "reset", 1)
    assert client.get(RESET_PATH + token).status_code == 200
    time.sleep(1.2)

    expired = client.get(RESET_PATH + token + "?lang=en")

    assert expired.status_code == 410
    assert LINK_GONE in text(expired) and "Ask for a new link" in text(expired)


def test_concurrent_submissions_of_one_link_only_one_wins(build_app, smtp, db, browsers=8):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_RECOVERY_RATE_LIMIT="100/minute")
    make_user(db)
    ask_reset(app.test_client())
    link = mailed_reset_link(app, smtp)
    passwords = [f"concurrent phrase number {i} of many" for i in range(browsers)]
    start = threading.Barrier(browsers)
    statuses: list[int] = [0] * browsers

    with served(app) as base:
        sessions = [requests.Session() for _ in range(browsers)]
        tokens = [csrf_token(session.get(base + link).text) for session in sessions]

        def submit(i: int) -> None:
            form = {"csrf_token": tokens[i], "new_password": passwords[i], "new_password_confirm": passwords[i]}
            start.wait(10)
            statuses[i] = sessions[i].post(base + link, data=form, allow_redirects=False, timeout=30).status_code

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(browsers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for session in sessions:
            session.close()

    assert sorted(statuses) == [303] + [410] * (browsers - 1)
    works = [password for password in passwords if login(app.test_client(), password=password).status_code == 303]
    assert works == [passwords[statuses.index(303)]]


# Forgotten identifier --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("address", ["jean.dupont@example.fr", "Jean.Dupont@EXAMPLE.FR"])
def test_forgot_identifier_mails_it(app, client, smtp, citizen, address):
    answer = ask_identifier(client, address)

    assert answer.status_code == 200
    assert SPAM_HINT in text(answer) and "If an account uses this address" in text(answer)
    deliver(app)
    [mail] = smtp.wait_for(1)
    assert mail["To"] == "jean.dupont@example.fr" and mail["Subject"] == "Your Sésame identifier"
    body = smtp.text(mail)
    assert body.startswith("Your identifier: jean.dupont")
    sign_in = link_in(body, "/login")
    assert query(sign_in) == {"username": "jean.dupont"}
    assert prefilled(text(client.get(sign_in))) == "jean.dupont"
    assert "If you did not ask for it" in body


def test_forgot_identifier_for_an_unknown_address_answers_the_same_and_mails_nothing(app, client, smtp, citizen):
    known = ask_identifier(client, "jean.dupont@example.fr")
    unknown = ask_identifier(client, "marie.curie@example.fr")

    assert known.status_code == unknown.status_code == 200
    assert known.data == unknown.data
    deliver(app)
    assert len(smtp.wait_for(1)) == 1


@pytest.mark.parametrize("address", ["jean.dupont", "", "   "])
def test_forgot_identifier_refuses_what_is_not_an_address(app, client, address):
    answer = ask_identifier(client, address)
    assert answer.status_code == 400
    assert "Enter the e-mail address of your account." in text(answer)
    assert app.extensions["idp.jobs"].pending() == 0


# Throttling ------------------------------------------------------------------------------------------------------

def test_too_many_requests_for_one_account_get_a_readable_page(build_app, smtp, db):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_RECOVERY_ACCOUNT_RATE_LIMIT="2 per minute")
    make_user(db)
    browsers = [app.test_client() for _ in range(3)]

    answers = [ask_reset(browser, "jean.dupont") for browser in browsers]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "Trop de tentatives" in text(answers[2])
    assert '<html lang="fr"' in text(answers[2])
    assert 'msgstr "Trop de tentatives"' in CATALOG.read_text(encoding="utf-8")
    assert app.extensions["idp.jobs"].pending() == 2
    assert ask_reset(browsers[0], "marie.curie").status_code == 200  # other accounts are not held up


def test_too_many_requests_from_one_address_get_a_readable_page(build_app, smtp, db):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_RECOVERY_RATE_LIMIT="3/minute")
    make_user(db)
    browser = app.test_client()

    answers = [ask_reset(browser, name, lang="en") for name in ("jean.dupont", "marie.curie", "paul.martin",
                                                                "jeanne.durand")]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "Too many attempts" in text(answers[3])


def test_too_many_identifier_requests_from_one_address_get_a_readable_page(build_app, smtp, db):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_RECOVERY_RATE_LIMIT="3/minute")
    browser = app.test_client()

    answers = [ask_identifier(browser, f"{name}@example.fr") for name in ("jean", "marie", "paul", "jeanne")]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "Too many attempts" in text(answers[3])


def test_one_account_gets_few_mails_of_each_kind_however_it_is_typed(build_app, smtp, db):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_RECOVERY_ACCOUNT_RATE_LIMIT="2 per minute")
    citizen = make_user(db)
    browser = app.test_client()

    for typed in ("jean.dupont", "jean.dupont@example.fr", "Jean.Dupont", "JEAN.DUPONT@example.fr"):
        assert ask_reset(browser, typed).status_code == 200
    assert ask_identifier(browser, "jean.dupont@example.fr").status_code == 200  # its own count: still mailed
    deliver(app)

    smtp.wait_for(3)
    time.sleep(0.2)  # a fourth would show now
    assert sorted(mail["Subject"] for mail in smtp.messages) == ["Réinitialisez votre mot de passe Sésame"] * 2 + [
        "Your Sésame identifier"]  # the identifier was asked for in English
    db.rollback()  # see what the worker committed
    dropped = db.scalars(select(AuditEvent).where(AuditEvent.action == "recovery.throttled")).all()
    assert [(event.user_id, event.details) for event in dropped] == [(citizen.id, {"kind": "password"})] * 2


def test_a_reset_through_the_mailed_link_also_confirms_a_pending_account(app, client, smtp, db):
    make_user(db, username="camille.martin", email="camille@example.fr", status="pending", email_verified=False,
              password=None)
    ask_reset(client, "camille.martin")

    assert choose_password(client, mailed_reset_link(app, smtp)).status_code == 303

    assert login(client, "camille.martin", NEW_PASSWORD).status_code == 303  # active: the link reached the address
    db.expire_all()
    assert db.scalar(select(User.email_verified).where(User.username == "camille.martin")) is True
