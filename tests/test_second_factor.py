"""Two-step sign-in (TOTP): enrolment on /account/totp, the second login step on /login/totp,
recovery codes, no code twice, throttling, and what a borrowed session cannot do."""

from __future__ import annotations

import html
import re
import time

import pytest
from sqlalchemy import select

from idp import totp
from idp.models import AuditEvent, RecoveryCode, SecondFactor

from helpers import (
    PASSWORD,
    authorize_url,
    csrf_token,
    deliver,
    jose_claims,
    login,
    make_client,
    make_user,
    query,
    redeem,
    signed_in,
)


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url)


@pytest.fixture
def citizen(db):
    return make_user(db)


def text(response) -> str:
    return response.get_data(as_text=True)


def signed_in_browser(app):
    browser = app.test_client()
    assert login(browser).status_code == 303
    return browser


def enrol(app, browser) -> tuple[str, list[str]]:
    """Switch two-step sign-in on as a citizen would: read the key, type the app's code."""
    page = browser.get("/account/totp?lang=en")
    assert page.status_code == 200
    secret = re.search(r'data-totp-secret="([A-Z2-7]+)"', text(page)).group(1)
    assert "<svg" in text(page)  # the QR code, drawn on the server
    done = browser.post("/account/totp", data={"csrf_token": csrf_token(page.data),
                                               "code": totp.code_at(secret, totp.current_step())})
    assert done.status_code == 200, text(done)
    assert "<h1>Two-step sign-in is on</h1>" in text(done)
    codes = re.findall(r"<code>([2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4})</code>", text(done))
    assert len(codes) == 10
    return secret, codes


def type_code(browser, code: str):
    page = browser.get("/login/totp?lang=en")
    assert page.status_code == 200, page.location
    return browser.post("/login/totp", data={"csrf_token": csrf_token(page.data), "code": code})


def actions(db, user_id: int) -> list[str]:
    db.rollback()
    return list(db.scalars(select(AuditEvent.action).where(AuditEvent.user_id == user_id).order_by(AuditEvent.id)))


def test_enrolment_stores_the_secret_and_hashed_codes_and_tells_the_citizen(app, db, smtp, citizen):
    browser = signed_in_browser(app)
    secret, codes = enrol(app, browser)
    db.rollback()
    factor = db.get(SecondFactor, citizen.id)
    assert factor.totp_secret == secret
    stored = db.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == citizen.id)).all()
    assert len(stored) == 10 and not any(code.replace("-", "") in h for code in codes for h in stored)
    assert "second_factor.enrolled" in actions(db, citizen.id)
    deliver(app)
    notice = smtp.wait_for(1)[0]
    assert notice["To"] == citizen.email
    assert "Double authentification activée" in notice["Subject"] or "switched on" in notice["Subject"]
    assert "Two-step sign-in is on" in text(browser.get("/account/totp?lang=en"))
    assert "10 recovery codes left." in text(browser.get("/account/totp?lang=en"))


def test_a_wrong_first_code_is_refused_on_its_field_and_nothing_is_stored(app, db, citizen):
    browser = signed_in_browser(app)
    page = browser.get("/account/totp?lang=en")
    secret = re.search(r'data-totp-secret="([A-Z2-7]+)"', text(page)).group(1)
    wrong = f"{(int(totp.code_at(secret, totp.current_step())) + 1) % 10**6:06d}"
    answer = browser.post("/account/totp", data={"csrf_token": csrf_token(page.data), "code": wrong})
    assert answer.status_code == 400
    assert "This code is not right." in text(answer)
    assert 'data-totp-secret="' + secret in text(answer)  # the same key: the app already holds it
    db.rollback()
    assert db.get(SecondFactor, citizen.id) is None


def test_with_a_second_factor_the_password_alone_does_not_sign_in(app, db, citizen):
    secret, _codes = enrol(app, signed_in_browser(app))
    browser = app.test_client()
    answer = login(browser)
    assert answer.status_code == 303 and answer.location.endswith("/login/totp")
    assert not signed_in(browser)
    assert browser.get("/account").status_code == 302
    step = totp.current_step() + 1  # the enrolment used up the current step
    done = type_code(browser, totp.code_at(secret, step))
    assert done.status_code == 303, text(done)
    assert signed_in(browser)
    db.rollback()
    success = db.scalars(select(AuditEvent).where(AuditEvent.user_id == citizen.id,
                                                  AuditEvent.action == "login.success")
                         .order_by(AuditEvent.id.desc())).first()
    assert success.details["amr"] == ["pwd", "otp"]


def test_a_code_is_never_accepted_twice(app, citizen):
    secret, _codes = enrol(app, signed_in_browser(app))
    code = totp.code_at(secret, totp.current_step() + 1)
    first = app.test_client()
    login(first)
    assert type_code(first, code).status_code == 303
    second = app.test_client()
    login(second)
    again = type_code(second, code)
    assert again.status_code == 401
    assert "This code is not right, or it was already used." in text(again)
    assert not signed_in(second)


def test_the_enrolment_code_itself_cannot_sign_in_again(app, citizen):
    browser = signed_in_browser(app)
    page = browser.get("/account/totp")
    secret = re.search(r'data-totp-secret="([A-Z2-7]+)"', text(page)).group(1)
    code = totp.code_at(secret, totp.current_step())
    assert browser.post("/account/totp", data={"csrf_token": csrf_token(page.data), "code": code}).status_code == 200
    other = app.test_client()
    login(other)
    assert type_code(other, code).status_code == 401


def test_a_recovery_code_signs_in_once(app, db, citizen):
    _secret, codes = enrol(app, signed_in_browser(app))
    browser = app.test_client()
    login(browser)
    assert type_code(browser, codes[4].lower()).status_code == 303
    assert signed_in(browser)
    assert "second_factor.recovery_code_used" in actions(db, citizen.id)
    assert "9 recovery codes left." in text(browser.get("/account/totp?lang=en"))
    other = app.test_client()
    login(other)
    assert type_code(other, codes[4]).status_code == 401


def test_a_relying_partys_request_resumes_after_the_code_and_its_id_token_says_otp(app, db, citizen):
    client_id, client_secret = make_client(db)
    secret, _codes = enrol(app, signed_in_browser(app))
    browser = app.test_client()
    started = browser.get(authorize_url(client_id))
    rid = query(started.location)["rid"]
    assert login(browser, rid=rid).location.endswith("/login/totp")
    resumed = type_code(browser, totp.code_at(secret, totp.current_step() + 1))
    assert resumed.status_code == 303
    back = browser.get(resumed.location)
    assert back.status_code == 302 and "code=" in back.location, back.location
    tokens = redeem(browser, client_id, client_secret, query(back.location)["code"]).get_json()
    assert jose_claims(browser, tokens["id_token"], audience=client_id)["amr"] == ["pwd", "otp"]


def test_wrong_codes_are_throttled_like_passwords(build_app, smtp, db):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_LOGIN_FREE_FAILURES=2)
    citizen = make_user(db)
    secret, _codes = enrol(app, signed_in_browser(app))
    browser = app.test_client()
    login(browser)
    for _ in range(2):  # the free failures; then a delay, as after wrong passwords
        assert type_code(browser, "000000" if totp.code_at(secret, totp.current_step()) != "000000"
                         else "111111").status_code == 401
    refused = type_code(browser, totp.code_at(secret, totp.current_step() + 1))
    assert refused.status_code == 429
    assert "Too many wrong codes. Wait a few minutes." in text(refused)
    assert not signed_in(browser)
    assert actions(db, citizen.id).count("login.second_factor_failure") == 2


def test_the_right_password_alone_does_not_lift_the_ceiling_off_guesses_of_the_code(build_app, smtp, db):
    """An address that signed in to the account is exempt from the per-account ceiling; one that
    only typed the password (a thief's) is not, so guesses of the code still meet the ceiling."""
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_LOGIN_ACCOUNT_RATE_LIMIT="3 per day")
    make_user(db)
    secret, _codes = enrol(app, signed_in_browser(app))
    thief = app.test_client()
    thief.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    assert login(thief).location.endswith("/login/totp")
    wrong = "000000" if totp.code_at(secret, totp.current_step()) != "000000" else "111111"
    for _ in range(3):
        assert type_code(thief, wrong).status_code == 401
    refused = type_code(thief, totp.code_at(secret, totp.current_step() + 1))
    assert refused.status_code == 429
    assert "Too many wrong codes. Wait a few minutes." in text(refused)
    assert not signed_in(thief)


def test_without_a_pending_second_step_the_code_page_sends_to_the_login_form(app, citizen):
    browser = app.test_client()
    answer = browser.get("/login/totp")
    assert answer.status_code == 303 and answer.location.startswith("/login")


def test_the_second_step_expires(app, citizen):
    _secret, _codes = enrol(app, signed_in_browser(app))
    browser = app.test_client()
    login(browser)
    with browser.session_transaction() as state:
        state["second_step"] = {**state["second_step"], "until": int(time.time()) - 1}
    answer = browser.get("/login/totp")
    assert answer.status_code == 303 and answer.location.startswith("/login")
    assert not signed_in(browser)


def make_login_old(browser) -> None:
    with browser.session_transaction() as state:
        state["auth_time"] = int(time.time()) - 3600


def test_an_old_session_needs_the_password_to_switch_it_on(app, db, citizen):
    browser = signed_in_browser(app)
    make_login_old(browser)
    page = browser.get("/account/totp?lang=en")
    secret = re.search(r'data-totp-secret="([A-Z2-7]+)"', text(page)).group(1)
    code = totp.code_at(secret, totp.current_step())
    missing = browser.post("/account/totp", data={"csrf_token": csrf_token(page.data), "code": code})
    assert missing.status_code == 400
    assert "Enter your current password: you signed in more than 10 minutes ago." in html.unescape(text(missing))
    wrong = browser.post("/account/totp", data={"csrf_token": csrf_token(page.data), "code": code,
                                                "current_password": "not the password at all"})
    assert wrong.status_code == 400 and "Your current password is not that one." in text(wrong)
    db.rollback()
    assert db.get(SecondFactor, citizen.id) is None
    right = browser.post("/account/totp", data={"csrf_token": csrf_token(page.data), "code": code,
                                                "current_password": PASSWORD})
    assert right.status_code == 200 and "Two-step sign-in is on" in text(right)


def test_an_old_session_cannot_switch_it_off_without_the_password(app, db, smtp, citizen):
    browser = signed_in_browser(app)
    enrol(app, browser)
    make_login_old(browser)
    page = browser.get("/account/totp?lang=en")
    refused = browser.post("/account/totp/remove", data={"csrf_token": csrf_token(page.data)})
    assert refused.status_code == 400
    assert "Enter your current password" in text(refused)
    db.rollback()
    assert db.get(SecondFactor, citizen.id) is not None
    removed = browser.post("/account/totp/remove", data={"csrf_token": csrf_token(page.data),
                                                         "current_password": PASSWORD})
    assert removed.status_code == 200 and "<h1>Two-step sign-in is off</h1>" in text(removed)
    db.rollback()
    assert db.get(SecondFactor, citizen.id) is None
    assert db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == citizen.id)).all() == []
    assert "second_factor.removed" in actions(db, citizen.id)
    deliver(app)
    assert len(smtp.wait_for(2)) == 2  # switched on, switched off
    assert login(app.test_client()).location.endswith("/")  # the password alone signs in again


def test_forms_without_csrf_change_nothing(app, db, citizen):
    browser = signed_in_browser(app)
    page = browser.get("/account/totp")
    secret = re.search(r'data-totp-secret="([A-Z2-7]+)"', text(page)).group(1)
    answer = browser.post("/account/totp", data={"code": totp.code_at(secret, totp.current_step())})
    assert answer.status_code == 400
    db.rollback()
    assert db.get(SecondFactor, citizen.id) is None


def test_signed_out_the_enrolment_page_asks_to_sign_in_first(client):
    answer = client.get("/account/totp")
    assert answer.status_code == 302 and answer.location.startswith("/login?next=")


def test_every_two_step_page_is_french(app, citizen):
    from test_french_pages import assert_french

    browser = signed_in_browser(app)
    page = browser.get("/account/totp")
    assert "<h1>Double authentification</h1>" in text(page)
    assert_french(page)
    refused = browser.post("/account/totp", data={"csrf_token": csrf_token(page.data), "code": ""})
    assert refused.status_code == 400 and "Saisissez le code à 6 chiffres" in text(refused)
    assert_french(refused)
    secret = re.search(r'data-totp-secret="([A-Z2-7]+)"', text(page)).group(1)
    codes = browser.post("/account/totp", data={"csrf_token": csrf_token(page.data),
                                                "code": totp.code_at(secret, totp.current_step())})
    assert "Gardez ces dix codes de secours" in text(codes)
    assert_french(codes)
    enrolled = browser.get("/account/totp")
    assert "10 codes de secours restants." in text(enrolled)
    assert_french(enrolled)
    other = app.test_client()
    login(other)
    step = other.get("/login/totp")
    assert step.status_code == 200
    assert_french(step)
    wrong = other.post("/login/totp", data={"csrf_token": csrf_token(step.data), "code": "12"})
    assert wrong.status_code == 401 and "Ce code n’est pas le bon" in html.unescape(text(wrong))
    assert_french(wrong)


def test_the_account_page_links_to_two_step_sign_in(app, citizen):
    page = text(signed_in_browser(app).get("/account"))
    assert '<a href="/account/totp">Double authentification</a>' in page
