"""Nouvel utilisateur: sign-up as a citizen and a relying party live it, with mails read from a
real SMTP sink: the account a person already has is found, an address is never confirmed to a
stranger, the new account waits for its address to be verified, and prompt=create comes back
to the service with what the citizen entered."""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from idp.jobs import Worker
from idp.models import User
from idp.passwords import verify_password

from helpers import (
    REDIRECT_URI,
    TOKEN,
    authorize_url,
    csrf_token,
    deliver,
    jose_claims,
    link_in,
    login,
    make_client,
    make_user,
    passkey_offer_skipped,
    query,
    redeem,
    served,
)

ISSUER = "http://localhost:5000"
NEW_PASSWORD = "a walk along the river at dawn"
VERIFY_PATH = "/signup/verify/"
SENT = "Check your mailbox"
LINK_GONE = "This link no longer works"
ALREADY = "An account already exists for you. It was created with the e-mail address beginning {}."
USERNAME_TAKEN = "This identifier is already taken: choose another."
VERIFY_SUBJECT = "Confirm your e-mail address for Sésame"
IN_USE_SUBJECT = "Someone tried to sign up with your address"
CONFIRMED = "Your e-mail address is confirmed. Sign in to continue."
CATALOG = Path(__file__).resolve().parent.parent / "idp/translations/fr/LC_MESSAGES/messages.po"
BIRTHDATE = dt.date(1990, 3, 4)
NEWCOMER = {"given_name": "Camille", "family_name": "Martin", "birthdate": "1992-05-17",
            "email": "camille.martin@example.org", "username": "camille.martin"}


@pytest.fixture
def app(build_app, smtp):
    """Mails go to the real SMTP sink; every other setting is the default."""
    return build_app(IDP_SMTP_URL=smtp.url)


# What the citizen does, and what can be seen of it -------------------------------------------------------------

def sign_up(browser, lang="en", rid=None, environ=None, **typed):
    """Open "Nouvel utilisateur ?", fill in the form (NEWCOMER unless told), submit, and let the worker
    run the job that follows; the answer."""
    args = "&".join(f"{k}={v}" for k, v in (("rid", rid), ("lang", lang)) if v)
    page = browser.get("/signup" + (f"?{args}" if args else ""), environ_base=environ or {})
    assert page.status_code == 200, page.data
    form = {"csrf_token": csrf_token(page.data), **NEWCOMER, "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD, **({"rid": rid} if rid else {}), **typed}
    answer = browser.post("/signup", data={k: v for k, v in form.items() if v is not None},
                          environ_base=environ or {})
    if answer.status_code == 200:
        deliver(browser.application)  # the account is made (or the owner told) by the worker, just after
    return answer


def text(response) -> str:
    return response.get_data(as_text=True)


def alert(page: str) -> str | None:
    """The text of the red alert at the top of the form, if any."""
    found = re.search(r'<div class="error" role="alert">(.*?)</div>', page, re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))).strip() if found else None


def summary(page: str) -> str | None:
    """The heading of the error summary at the top of the form, if any."""
    found = re.search(r'<div class="error error-summary"[^>]*>\s*<h2[^>]*>(.*?)</h2>', page, re.S)
    return html.unescape(found.group(1)) if found else None


def field_errors(page: str) -> list[str]:
    return [html.unescape(message) for message in re.findall(r'<p class="field-error">(.*?)</p>', page, re.S)]


def field_value(page: str, name: str) -> str | None:
    """What an input of the form holds, as the browser shows it."""
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
    value = re.search(r'value="([^"]*)"', tag)
    return html.unescape(value.group(1)) if value else None


def main_content(page: str) -> str:
    return re.search(r"<main>(.*)</main>", page, re.S).group(1)


def accounts(db) -> list[User]:
    db.rollback()  # a fresh look at what the requests committed
    return list(db.scalars(select(User).order_by(User.id)))


def account(db, username: str) -> User | None:
    db.rollback()
    return db.scalar(select(User).where(User.username_key == username.casefold()))


def count_accounts(db) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(User))


def mails(app, smtp, expected: int) -> list:
    """Run the queued jobs (as the worker does); exactly ``expected`` mails reached the sink."""
    deliver(app)
    if expected:
        smtp.wait_for(expected)
    assert len(smtp.messages) == expected, [(m["To"], m["Subject"]) for m in smtp.messages]
    return list(smtp.messages)


def french(app, message, **variables) -> str:
    """``message`` as the French catalog says it (and a check that the catalog does say it)."""
    if "Sésame" in message:  # the default brand, a parameter of the sentence
        message, variables = message.replace("Sésame", "%(brand)s"), {**variables, "brand": "Sésame"}
    with app.test_request_context(), force_locale("fr"):
        translated = gettext(message, **variables)
    assert translated != (message % variables if variables else message), f"{message!r}: no French in {CATALOG}"
    return translated


def audit_events(caplog, action: str) -> list[dict]:
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "idp.audit"]
    return [event for event in events if event["action"] == action]


def existing_person(db, **fields):
    """The account a person already has: Élodie Dupont, born 1990-03-04 (unless told)."""
    fields = {"username": "elodie.dupont", "email": "jeanne.martin@orange.fr", "given_name": "Élodie",
              "family_name": "Dupont", "birthdate": BIRTHDATE, **fields}
    return make_user(db, **fields)


# Finding the account a person already has --------------------------------------------------------------------

@pytest.mark.parametrize(("stored", "typed"), [
    (("Élodie", "Dupont"), ("elodie", "Dupont")),
    (("Élodie", "Dupont"), ("ÉLODIE", "dupont")),
    (("Jean-Pierre", "Dupont"), ("jean pierre", "Dupont")),
    (("Jean-Pierre", "Dupont"), ("Jean Pierre", "DUPONT")),
    (("Pierre", "D'Artagnan"), ("Pierre", "dartagnan")),
    (("Pierre", "D'Artagnan"), ("Pierre", "D’Artagnan")),
    (("Pierre", "D'Artagnan"), ("Pierre", "d artagnan")),
    (("Léa", "Martin"), ("  léa ", "  MARTIN  ")),
], ids=["accent", "accent-and-case", "hyphen", "hyphen-case", "apostrophe", "typographic-apostrophe",
        "apostrophe-as-space", "spaces-and-case"])
def test_the_same_person_written_differently_finds_the_existing_account(client, db, smtp, app, stored, typed):
    existing_person(db, given_name=stored[0], family_name=stored[1])

    answer = sign_up(client, given_name=typed[0], family_name=typed[1], birthdate="1990-03-04")

    assert answer.status_code == 409, answer.data
    assert alert(text(answer)).startswith(ALREADY.format("jea•••@o•••.fr"))
    assert [user.username for user in accounts(db)] == ["elodie.dupont"]
    mails(app, smtp, 0)


@pytest.mark.parametrize("typed", [
    {"given_name": "Élodie", "family_name": "Dupont", "birthdate": "1990-03-05"},
    {"given_name": "Élodie", "family_name": "Dupond", "birthdate": "1990-03-04"},
    {"given_name": "Élodia", "family_name": "Dupont", "birthdate": "1990-03-04"},
    {"given_name": "Dupont", "family_name": "Élodie", "birthdate": "1990-03-04"},
], ids=["other-birthdate", "other-family-name", "other-given-name", "names-swapped"])
def test_another_person_gets_an_account_of_their_own(client, db, smtp, app, typed):
    existing_person(db)

    answer = sign_up(client, **typed)

    assert answer.status_code == 200, answer.data
    assert SENT in text(answer) and "•••" not in text(answer)
    created = account(db, "camille.martin")
    assert created is not None and created.status == "pending" and created.email_verified is False
    assert (created.given_name, created.family_name, created.birthdate.isoformat()) == (
        typed["given_name"], typed["family_name"], typed["birthdate"])
    assert mails(app, smtp, 1)[0]["To"] == "camille.martin@example.org"


# The hint: the beginning of the address the account was created with ------------------------------------------

@pytest.mark.parametrize(("address", "masked"), [
    ("jeanne.martin@orange.fr", "jea•••@o•••.fr"),
    ("ab@gmail.com", "a•••@g•••.com"),
    ("a@b.fr", "•••@b•••.fr"),
    ("elodie.dupont@mail.example.gouv.fr", "elo•••@m•••.fr"),
], ids=["long", "two-letters", "one-letter", "subdomains"])
def test_hint_shows_the_masked_address_and_the_ways_back_in(client, db, smtp, app, caplog, address, masked):
    caplog.set_level(logging.INFO, logger="idp.audit")
    owner = existing_person(db, email=address)

    answer = sign_up(client, given_name="Elodie", family_name="DUPONT", birthdate="1990-03-04",
                     email="elodie.new@example.org", username="elodie.new")

    page = text(answer)
    assert answer.status_code == 409, page
    assert alert(page) == ALREADY.format(masked) + (
        " Forgot your password? · I no longer have access to this address"
        " Not you? Someone else may have the same names and date of birth. Type your password twice again in the"
        " form below, then choose: It's not me: create my account")
    local = address.split("@")[0]
    assert address not in page and (len(local) < 4 or local not in page)
    assert 'href="/recovery/password"' in page and 'href="/recovery/help"' in page
    # Nothing was created, nothing was mailed, and what was typed is still in the form.
    assert [user.username for user in accounts(db)] == ["elodie.dupont"]
    assert {name: field_value(page, name) for name in ("given_name", "family_name", "birthdate", "email", "username")} \
        == {"given_name": "Elodie", "family_name": "DUPONT", "birthdate": "1990-03-04",
            "email": "elodie.new@example.org", "username": "elodie.new"}
    mails(app, smtp, 0)
    # The operator can see every display of the hint.
    shown = audit_events(caplog, "signup.hint_shown")
    assert [event["user_id"] for event in shown] == [owner.id]
    assert shown[0]["ip"] == "127.0.0.1"
    assert address not in caplog.text


def test_hint_links_carry_the_pending_authorization_request(client, db):
    existing_person(db)
    client_id, _secret = make_client(db)
    rid = query(client.get(authorize_url(client_id, prompt="create")).location)["rid"]

    page = text(sign_up(client, rid=rid, given_name="Élodie", family_name="Dupont", birthdate="1990-03-04"))

    assert f'href="/recovery/password?rid={rid}"' in page and f'href="/recovery/help?rid={rid}"' in page
    assert field_value(page, "rid") == rid


def test_hint_in_french_by_default(client, db, app):
    existing_person(db)

    answer = sign_up(client, lang=None, given_name="Élodie", family_name="Dupont", birthdate="1990-03-04")

    assert answer.status_code == 409
    expected = french(app, ALREADY.replace("{}", "%(address)s"), address="jea•••@o•••.fr")
    assert expected.startswith("Un compte existe déjà")
    assert alert(text(answer)).startswith(expected)
    assert french(app, "Forgot your password?") in text(answer)


def test_hint_is_throttled_per_client_address(build_app, smtp, db):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_SIGNUP_HINT_RATE_LIMIT="2 per hour")
    people = [existing_person(db, username=f"person{n}", email=f"person{n}@orange.fr", given_name=f"Personne{n}")
              for n in range(3)]
    client = app.test_client()

    answers = [sign_up(client, given_name=person.given_name, family_name="Dupont", birthdate="1990-03-04")
               for person in people]

    assert [answer.status_code for answer in answers] == [409, 409, 429]
    assert "per•••@o•••.fr" not in text(answers[2])
    assert count_accounts(db) == 3
    # Another client address still gets its answer.
    elsewhere = sign_up(client, environ={"REMOTE_ADDR": "198.51.100.7"}, given_name="Personne2",
                        family_name="Dupont", birthdate="1990-03-04")
    assert elsewhere.status_code == 409 and "per•••@o•••.fr" in text(elsewhere)


def test_hint_is_throttled_per_person_whatever_the_client_address(build_app, smtp, db):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_SIGNUP_HINT_PERSON_RATE_LIMIT="2 per day")
    existing_person(db)
    existing_person(db, username="paul.dupont", email="paul@orange.fr", given_name="Paul")
    client = app.test_client()
    # The same person, written three ways, from three addresses.
    typed = [("Élodie", "Dupont"), ("elodie", "DUPONT"), ("ELODIE", " dupont ")]

    answers = [sign_up(client, environ={"REMOTE_ADDR": f"203.0.113.{n}"}, given_name=given, family_name=family,
                       birthdate="1990-03-04") for n, (given, family) in enumerate(typed, start=1)]

    assert [answer.status_code for answer in answers] == [409, 409, 429]
    assert "jea•••@o•••.fr" not in text(answers[2])
    assert count_accounts(db) == 2
    # Another person is not held back by Élodie's limit.
    other = sign_up(client, environ={"REMOTE_ADDR": "203.0.113.9"}, given_name="Paul", family_name="Dupont",
                    birthdate="1990-03-04")
    assert other.status_code == 409 and "pa•••@o•••.fr" in text(other)


# An address already in use: never confirmed to a stranger -----------------------------------------------------

@pytest.mark.parametrize("typed_address", ["jean.dupont@example.fr", "Jean.Dupont@EXAMPLE.fr"])
def test_address_in_use_looks_like_a_success_and_tells_the_owner(build_app, smtp, db, typed_address):
    app = build_app(IDP_SMTP_URL=smtp.url)
    make_user(db, birthdate=BIRTHDATE)  # jean.dupont, jean.dupont@example.fr
    # A genuine new sign-up, in a browser of its own, for comparison.
    genuine = sign_up(app.test_client(), email="someone.else@example.org", username="someone.else",
                      given_name="Sam", family_name="Leroy")
    assert genuine.status_code == 200
    deliver(app)
    smtp.wait_for(1)
    smtp.messages.clear()

    stranger = sign_up(app.test_client(), email=typed_address)

    assert stranger.status_code == 200, stranger.data
    assert stranger.get_data() == genuine.get_data()
    assert SENT in text(stranger)
    assert account(db, "camille.martin") is None
    assert count_accounts(db) == 2
    (owner_mail,) = mails(app, smtp, 1)  # the stranger gets nothing: no verification mail
    assert owner_mail["To"] == "jean.dupont@example.fr"
    assert owner_mail["Subject"] == IN_USE_SUBJECT
    body = smtp.text(owner_mail)
    assert body.startswith("Your identifier: jean.dupont")
    assert "No account was created." in body
    assert link_in(body, "/recovery/password") == "/recovery/password?login=jean.dupont"
    assert "Camille" not in body and "camille" not in body


def test_address_in_use_by_a_pending_account_makes_no_second_account(client, db, smtp, app):
    assert sign_up(client).status_code == 200
    assert sign_up(client, username="camille.m", given_name="Camille", family_name="Martins").status_code == 200

    assert [user.username for user in accounts(db)] == ["camille.martin"]
    verification, notice = mails(app, smtp, 2)
    assert verification["Subject"] == VERIFY_SUBJECT and notice["Subject"] == IN_USE_SUBJECT


# Identifier already taken ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["jean.dupont", "Jean.Dupont", "JEAN.DUPONT"])
def test_identifier_taken_gets_its_own_message_and_nothing_else(client, db, smtp, app, typed):
    make_user(db, birthdate=BIRTHDATE)

    answer = sign_up(client, username=typed)

    page = text(answer)
    assert answer.status_code == 409, page
    assert field_errors(page) == [USERNAME_TAKEN]
    assert summary(page) == "The form contains 1 error"
    assert "•••" not in page and "jean.dupont@example.fr" not in page and "already exists" not in page
    assert field_value(page, "username") == typed and field_value(page, "email") == NEWCOMER["email"]
    assert [user.username for user in accounts(db)] == ["jean.dupont"]
    mails(app, smtp, 0)


# A new account, waiting for its address ------------------------------------------------------------------------

@pytest.mark.parametrize("lang", [None, "en"], ids=["french-by-default", "english"])
def test_new_account_is_pending_and_gets_a_verification_mail(client, db, smtp, app, lang):
    answer = sign_up(client, lang=lang)

    assert answer.status_code == 200, answer.data
    assert (SENT if lang else french(app, SENT)) in text(answer)
    created = account(db, "camille.martin")
    assert (created.status, created.email_verified, created.email) == ("pending", False, NEWCOMER["email"])
    assert (created.given_name, created.family_name, created.birthdate) == ("Camille", "Martin", dt.date(1992, 5, 17))
    assert created.password_hash and NEW_PASSWORD not in created.password_hash
    (mail,) = mails(app, smtp, 1)
    assert mail["To"] == NEWCOMER["email"]
    assert mail["Subject"] == (VERIFY_SUBJECT if lang else french(app, VERIFY_SUBJECT))
    assert mail["Content-Language"] == (lang or "fr")
    body = smtp.text(mail)
    first_line = "Your identifier: %(username)s"
    assert body.startswith(first_line % {"username": "camille.martin"} if lang
                           else french(app, first_line, username="camille.martin"))
    assert re.fullmatch(r"/signup/verify/" + TOKEN, link_in(body, VERIFY_PATH))


def test_verification_link_is_confirmed_once_by_post(client, db, smtp, app):
    sign_up(client)
    link = link_in(smtp.text(mails(app, smtp, 1)[0]), VERIFY_PATH)

    for _ in range(2):  # a mail scanner opening the link consumes nothing
        page = client.get(link)
        assert page.status_code == 200
        assert "Confirm that camille.martin@example.org is the address of the account camille.martin." in text(page)
        assert "Confirm my address" in text(page)
    assert account(db, "camille.martin").status == "pending"

    confirmed = client.post(link, data={"csrf_token": csrf_token(page.data), "password": NEW_PASSWORD})

    assert confirmed.status_code == 303
    assert confirmed.location == "/login?username=camille.martin"
    login_page = client.get(confirmed.location)
    assert CONFIRMED in text(login_page)
    assert field_value(text(login_page), "username") == "camille.martin"
    verified = account(db, "camille.martin")
    assert (verified.status, verified.email_verified) == ("active", True)
    # The link worked once.
    assert client.get(link).status_code == 410
    again = client.post(link, data={"csrf_token": csrf_token(page.data), "password": NEW_PASSWORD})
    assert again.status_code == 410 and LINK_GONE in text(again)
    assert login(client, "camille.martin", NEW_PASSWORD).status_code == 303


def test_verification_post_without_csrf_consumes_nothing(client, db, smtp, app):
    sign_up(client)
    link = link_in(smtp.text(mails(app, smtp, 1)[0]), VERIFY_PATH)

    refused = client.post(link, data={})

    assert refused.status_code == 400 and "This form has expired" in text(refused)  # the CSRF refusal
    assert account(db, "camille.martin").status == "pending"
    page = client.get(link)
    assert page.status_code == 200
    assert client.post(link, data={"csrf_token": csrf_token(page.data), "password": NEW_PASSWORD}).status_code == 303


@pytest.mark.parametrize("forged", ["forged-token", "x" * 43, "%00", "a" * 500])
def test_forged_verification_link_is_gone(client, db, forged):
    sign_up(client)

    page = client.get(VERIFY_PATH + forged)
    assert page.status_code == 410 and LINK_GONE in text(page)
    assert 'href="/login"' in text(page)
    token = csrf_token(client.get("/signup").data)  # a genuine form token: only the link is forged
    assert client.post(VERIFY_PATH + forged, data={"csrf_token": token}).status_code == 410
    assert account(db, "camille.martin").status == "pending"


# Signing in before verifying ---------------------------------------------------------------------------------

def test_pending_account_with_the_right_password_is_told_and_gets_a_new_link(client, db, smtp, app):
    sign_up(client)
    mails(app, smtp, 1)

    refused = login(client, "camille.martin", NEW_PASSWORD)

    assert refused.status_code == 403
    assert ("Your e-mail address is not confirmed yet. We have sent a new link to cam•••@e•••.org: open it to "
            "activate your account.") in text(refused)
    assert "camille.martin@example.org" not in text(refused)
    assert client.get("/").status_code == 302  # not signed in
    fresh = mails(app, smtp, 2)[1]
    assert fresh["To"] == NEWCOMER["email"] and fresh["Subject"] == VERIFY_SUBJECT
    link = link_in(smtp.text(fresh), VERIFY_PATH)

    # A wrong password learns nothing and sends nothing.
    wrong = login(client, "camille.martin", "not the right password at all")
    assert wrong.status_code == 401 and "Incorrect identifier or password." in text(wrong)
    assert "•••" not in text(wrong) and "not confirmed" not in text(wrong)
    mails(app, smtp, 2)

    page = client.get(link)
    assert client.post(link, data={"csrf_token": csrf_token(page.data), "password": NEW_PASSWORD}).status_code == 303
    signed_in = login(client, "camille.martin", NEW_PASSWORD)
    assert passkey_offer_skipped(client, signed_in) == "/"
    assert client.get("/").status_code == 200


def test_pending_account_by_its_address_is_told_too(client, db, smtp, app):
    sign_up(client)

    refused = login(client, "Camille.Martin@example.org", NEW_PASSWORD)

    assert refused.status_code == 403 and "cam•••@e•••.org" in text(refused)
    mails(app, smtp, 2)


# Two people, one address, at the same moment -------------------------------------------------------------------

@pytest.mark.parametrize("racers", [2, 8])
def test_concurrent_sign_ups_with_one_address_make_one_account(app, db, smtp, racers):
    barrier = threading.Barrier(racers)
    answers: list[int | str] = [0] * racers

    def race(base, n):
        with requests.Session() as browser:
            page = browser.get(f"{base}/signup?lang=en", timeout=30)
            form = {"csrf_token": csrf_token(page.text), "given_name": f"Racer{n}", "family_name": f"Family{n}",
                    "birthdate": f"19{70 + n}-01-0{n % 9 + 1}", "email": "shared.address@example.org",
                    "username": f"racer{n}", "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
            barrier.wait(10)
            answer = browser.post(f"{base}/signup", data=form, timeout=60, allow_redirects=False)
            answers[n] = answer.status_code if SENT in answer.text else f"{answer.status_code}: {answer.text[:300]}"

    with served(app) as base:
        threads = [threading.Thread(target=race, args=(base, n)) for n in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)

    assert answers == [200] * racers
    sent = mails(app, smtp, racers)  # one verification, and the owner told of every other attempt
    (created,) = accounts(db)
    assert created.email == "shared.address@example.org" and created.status == "pending"
    assert sorted(mail["Subject"] for mail in sent) == sorted([VERIFY_SUBJECT] + [IN_USE_SUBJECT] * (racers - 1))
    assert all(mail["To"] == "shared.address@example.org" for mail in sent)


# The password policy, and what the form refuses ---------------------------------------------------------------

CONTAINS = "The password must not contain your identifier or your e-mail address."


@pytest.mark.parametrize(("password", "confirm", "typed", "reason"), [
    ("short one", None, {}, "The password must have at least 15 characters (it has 9)."),
    ("Camille.Martin forever and ever", None, {}, CONTAINS),
    ("the cam.mar.1992 walks by the river", None, {"email": "cam.mar.1992@example.org"}, CONTAINS),
    ("aaaaaaaaaaaaaaaaaaaa", None, {}, 'Repeats like "aaa" are easy to guess.'),
    ("yack 1992-05-17 gnou", None, {}, "Your names, birth date, identifier and e-mail address are the first things "
                                      "tried by someone who knows you: leave them out."),
    (NEW_PASSWORD, NEW_PASSWORD + "!", {}, "The two passwords differ."),
], ids=["too-short", "contains-identifier", "contains-address-local-part", "repeated", "own-birth-date",
        "mismatch"])
def test_password_refused_with_the_reason(client, db, smtp, app, password, confirm, typed, reason):
    answer = sign_up(client, password=password, password_confirm=confirm if confirm is not None else password,
                     **typed)

    page = text(answer)
    assert answer.status_code == 400, page
    assert reason in field_errors(page)
    assert not field_value(page, "password") and password not in page  # never echoed back
    assert field_value(page, "email") == typed.get("email", NEWCOMER["email"])
    assert field_value(page, "given_name") == "Camille"
    assert count_accounts(db) == 0
    mails(app, smtp, 0)


TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


@pytest.mark.parametrize(("typed", "kept"), [
    ({"birthdate": "1990-13-45"}, "birthdate"),
    ({"birthdate": TOMORROW}, "birthdate"),
    ({"birthdate": "2999-01-01"}, "birthdate"),
    ({"birthdate": "1850-01-01"}, "birthdate"),
    ({"birthdate": "04/03/90"}, "birthdate"),
    ({"birthdate": ""}, "email"),
    ({"birthdate": None}, "email"),
    ({"email": "camille.example.org"}, "email"),
    ({"email": "camille@@example.org"}, "email"),
    ({"email": "camille martin@example.org"}, "email"),
    ({"username": "camille martin"}, "username"),
    ({"username": "camille@martin"}, "username"),
    ({"username": "ca"}, "username"),
    ({"username": ".camille"}, "username"),
    ({"username": "camillé"}, "username"),
    ({"given_name": "C" * 101}, "family_name"),
    ({"family_name": "M" * 101}, "given_name"),
    ({"given_name": ""}, "family_name"),
    ({"email": "c" * 250 + "@example.org"}, "username"),
    ({"username": "c" * 65}, "email"),
    ({"password": "p" * 2000}, "email"),
    ({"given_name": "Camille\x00"}, "email"),
    ({"family_name": "Mar\x00tin"}, "email"),
    ({"email": "camille\x00@example.org"}, "username"),
    ({"rid": "../../etc"}, "email"),
], ids=lambda value: repr(value)[:40] if isinstance(value, dict) else value)
def test_bad_input_is_refused_with_what_was_typed_kept(client, db, smtp, app, typed, kept):
    answer = sign_up(client, **typed)

    assert answer.status_code == 400, answer.data
    page = text(answer)
    assert re.fullmatch(r"The form contains \d+ errors?", summary(page) or ""), page
    expected = {**NEWCOMER, **{k: v for k, v in typed.items() if v is not None}}[kept]
    assert field_value(page, kept) == expected
    assert count_accounts(db) == 0
    mails(app, smtp, 0)


@pytest.mark.parametrize("token", [None, "forged", ""], ids=["missing", "forged", "empty"])
def test_sign_up_without_the_form_token_is_refused(client, db, smtp, app, token):
    answer = sign_up(client, csrf_token=token)

    assert answer.status_code == 400
    assert "This form has expired" in text(answer)
    assert count_accounts(db) == 0
    mails(app, smtp, 0)


def test_bad_birthdate_says_so(client):
    page = text(sign_up(client, birthdate=TOMORROW))
    assert "A date of birth cannot be in the future: check the year." in field_errors(page)


def test_bad_address_says_so(client):
    page = text(sign_up(client, email="camille.example.org"))
    assert field_errors(page) == ["Enter a valid e-mail address."]


# prompt=create: a relying party sends the citizen straight to sign-up ------------------------------------------

def test_discovery_advertises_prompt_create(client):
    assert "create" in client.get("/.well-known/openid-configuration").get_json()["prompt_values_supported"]


def test_prompt_create_signs_up_verifies_signs_in_and_returns_to_the_service(client, db, smtp, app):
    client_id, secret = make_client(db)
    state = "st-create"

    to_signup = client.get(authorize_url(client_id, prompt="create", state=state, nonce="n-create"))

    assert to_signup.status_code == 302
    assert urlparse(to_signup.location).path == "/signup"
    rid = query(to_signup.location)["rid"]
    assert field_value(text(client.get(to_signup.location)), "rid") == rid
    typed = {"given_name": "Élodie", "family_name": "D’Artagnan", "birthdate": "1988-11-30",
             "email": "Elodie.DArtagnan@example.org", "username": "elodie.dartagnan"}
    sent = sign_up(client, rid=rid, **typed)
    assert sent.status_code == 200 and f'href="/login?rid={rid}"' in text(sent)
    link = link_in(smtp.text(mails(app, smtp, 1)[0]), VERIFY_PATH)
    page = client.get(link)
    confirmed = client.post(link, data={"csrf_token": csrf_token(page.data), "password": NEW_PASSWORD})
    assert confirmed.status_code == 303
    assert query(confirmed.location) == {"username": "elodie.dartagnan", "rid": rid}
    assert CONFIRMED in text(client.get(confirmed.location))

    signed_in = login(client, "elodie.dartagnan", NEW_PASSWORD, rid=rid)
    back = client.get(passkey_offer_skipped(client, signed_in))

    assert back.status_code == 302 and back.location.startswith(REDIRECT_URI + "?"), back.location
    callback = query(back.location)
    assert callback["state"] == state and callback["iss"] == ISSUER
    tokens = redeem(client, client_id, secret, callback["code"]).get_json()
    claims = jose_claims(client, tokens["id_token"], audience=client_id)
    assert claims["nonce"] == "n-create"
    assert {name: claims.get(name) for name in ("given_name", "family_name", "birthdate", "email",
                                                "email_verified")} == {
        "given_name": "Élodie", "family_name": "D’Artagnan", "birthdate": "1988-11-30",
        "email": "Elodie.DArtagnan@example.org", "email_verified": True}


def test_prompt_create_with_none_is_an_error_and_never_a_sign_up(client, db):
    client_id, _secret = make_client(db)

    answer = client.get(authorize_url(client_id, prompt="create none", state="st-bad"))

    assert answer.status_code in (302, 303), answer.data
    assert answer.location.startswith(REDIRECT_URI + "?"), answer.location
    params = query(answer.location)
    assert params["error"] == "invalid_request" and params["state"] == "st-bad" and "code" not in params


# Sign-ups per client address ----------------------------------------------------------------------------------

def test_sign_ups_are_throttled_per_client_address(build_app, smtp, db):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_SIGNUP_RATE_LIMIT="3/minute")
    client = app.test_client()
    for n in range(3):
        answer = sign_up(client, username=f"user{n}", email=f"user{n}@example.org", given_name=f"Prénom{n}")
        assert answer.status_code == 200, answer.data

    fourth = sign_up(client, username="user3", email="user3@example.org", given_name="Prénom3")

    assert fourth.status_code == 429
    assert account(db, "user3") is None and count_accounts(db) == 3
    mails(app, smtp, 3)
    # Someone else, from another address, is not held back.
    other = sign_up(client, environ={"REMOTE_ADDR": "192.0.2.44"}, username="user4", email="user4@example.org",
                    given_name="Prénom4")
    assert other.status_code == 200


# Behind the answer: the job that makes the account ----------------------------------------------------------------

def post_without_running_the_job(browser, **typed):
    page = browser.get("/signup?lang=en")
    form = {"csrf_token": csrf_token(page.data), **NEWCOMER, "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD, **typed}
    answer = browser.post("/signup", data=form)
    assert answer.status_code == 200 and SENT in text(answer)


def test_the_answer_only_queues_the_work_whether_the_address_is_new_or_in_use(client, db, app):
    existing_person(db, email="camille.martin@example.org", given_name="Other", family_name="Person")
    post_without_running_the_job(client)  # address in use
    post_without_running_the_job(client, email="fresh@example.org", username="fresh.one")  # new

    assert app.extensions["idp.jobs"].pending() == 2  # one job each, nothing else done yet
    assert account(db, "fresh.one") is None


def test_workers_running_sign_ups_for_one_address_at_once_make_one_account(app, db, smtp):
    browser = app.test_client()
    for n in range(6):
        post_without_running_the_job(browser, username=f"racer{n}", given_name=f"Racer{n}",
                                     email="shared.address@example.org")
    workers = [Worker(app) for _ in range(3)]
    threads = [threading.Thread(target=worker.drain, args=(30,)) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    sent = mails(app, smtp, 6)
    assert [user.username for user in accounts(db)] in ([f"racer{n}"] for n in range(6))
    assert sorted(mail["Subject"] for mail in sent) == sorted([VERIFY_SUBJECT] + [IN_USE_SUBJECT] * 5)


def test_an_identifier_taken_between_the_answer_and_the_job_is_told_by_mail(client, db, app, smtp):
    post_without_running_the_job(client, email="first@example.org")
    post_without_running_the_job(app.test_client(), email="second@example.org", given_name="Camilla")

    sent = mails(app, smtp, 2)

    assert [user.email for user in accounts(db)] == ["first@example.org"]
    told = next(mail for mail in sent if mail["To"] == "second@example.org")
    assert told["Subject"] == "Your Sésame account was not created"
    assert "camille.martin" in smtp.text(told) and "/signup" in smtp.text(told)


def test_the_queued_sign_up_job_holds_a_password_hash_never_the_password(client, db, smtp, app, redis):
    """Redis is often shared and dumped to disk: what waits there for the worker has no password in clear."""
    page = client.get("/signup?lang=en")
    answer = client.post("/signup", data={"csrf_token": csrf_token(page.data), **NEWCOMER, "password": NEW_PASSWORD,
                                          "password_confirm": NEW_PASSWORD})
    assert answer.status_code == 200, answer.data

    [job_key] = [key for key in redis.scan_iter("*job:*")]
    job = redis.hgetall(job_key)
    stored = " ".join([job_key, *job.values()])
    assert NEW_PASSWORD not in stored
    assert json.loads(job["payload"])["password_hash"].startswith("$argon2id$")
    deliver(app)
    assert verify_password(account(db, "camille.martin").password_hash, NEW_PASSWORD)  # the hash is the password's
