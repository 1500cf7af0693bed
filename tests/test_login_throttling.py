"""Failed sign-ins as a guesser and as the account's owner live them: growing delays per name typed
and client address, a per-account ceiling nobody can see, no lockout of the owner by a stranger, a
reset that unlocks, nothing that links an identifier to an address, and the same time whether or
not an account matches."""

from __future__ import annotations

import hashlib
import statistics
import time

from idp.config import BY_NAME

from helpers import PASSWORD, csrf_token, deliver, everything_in, link_in, login, make_user

WRONG = "Identifiant ou mot de passe incorrect."
TOO_MANY = "Trop de tentatives"
GUESS = "not the password, a guess"
NEW_PASSWORD = "a walk along the river at dawn"
STRANGER, OWNER_HOME, ELSEWHERE = "198.51.100.66", "203.0.113.7", "192.0.2.44"


def from_address(app, address: str):
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


def text(response) -> str:
    return response.get_data(as_text=True)


def refused_as_wrong(answer) -> bool:
    """The ordinary "incorrect identifier or password" page, exactly as a wrong password gets it."""
    return answer.status_code == 401 and text(answer).count(WRONG) == 1 and "<form" in text(answer)


def reset_password(app, smtp, browser, login_name="jean.dupont") -> None:
    """Ask for a link, open it from the mail, choose ``NEW_PASSWORD``."""
    page = browser.get("/recovery/password")
    assert browser.post("/recovery/password", data={"csrf_token": csrf_token(page.data),
                                                    "login": login_name}).status_code == 200
    deliver(app)
    link = link_in(smtp.text(smtp.wait_for(1)[-1]), "/recovery/reset/")
    form = browser.get(link)
    assert browser.post(link, data={"csrf_token": csrf_token(form.data), "new_password": NEW_PASSWORD,
                                    "new_password_confirm": NEW_PASSWORD}).status_code == 303


# Delays per (name typed, client address) -------------------------------------------------------------------------

def test_after_the_free_failures_that_name_waits_from_that_address_even_with_the_right_password(build_app, db):
    make_user(db)
    app = build_app(IDP_LOGIN_FREE_FAILURES=3, IDP_LOGIN_DELAY=60)
    guesser = from_address(app, STRANGER)
    assert [login(guesser, password=GUESS).status_code for _ in range(3)] == [401, 401, 401]

    held = login(guesser)

    assert held.status_code == 429 and held.mimetype == "text/html"
    assert TOO_MANY in text(held) and int(held.headers["Retry-After"]) > 0
    assert from_address(app, STRANGER).get("/").location == "/login"  # not signed in
    assert login(from_address(app, OWNER_HOME)).status_code == 303  # the owner, elsewhere, is not held


def test_each_further_failure_doubles_the_delay_up_to_the_longest(build_app, db, redis):
    make_user(db)
    app = build_app(IDP_LOGIN_FREE_FAILURES=1, IDP_LOGIN_DELAY=1, IDP_LOGIN_DELAY_MAX=2)
    guesser = from_address(app, STRANGER)

    def held_for(seconds: float) -> bool:
        """Held now, for a delay of more than ``seconds - 1`` and at most ``seconds`` (read from the
        delay's own lifetime in Redis, not waited for on a loaded clock); then its end is brought forward."""
        held = login(guesser, password=GUESS).status_code == 429
        [delay] = redis.keys("idp:login-delay:*")
        left = redis.pttl(delay)
        redis.pexpire(delay, 1)
        time.sleep(0.05)
        return held and (seconds - 1) * 1000 < left <= seconds * 1000

    assert refused_as_wrong(login(guesser, password=GUESS))
    assert held_for(1)
    assert refused_as_wrong(login(guesser, password=GUESS))
    assert held_for(2)  # doubled
    assert refused_as_wrong(login(guesser, password=GUESS))
    assert held_for(2)  # not 4: the longest
    assert refused_as_wrong(login(guesser, password=GUESS))


def test_an_unknown_name_is_held_the_same_way(build_app, db):
    make_user(db)
    app = build_app(IDP_LOGIN_FREE_FAILURES=2, IDP_LOGIN_DELAY=60)
    answers = {}
    for name in ("jean.dupont", "nobody.here"):
        guesser = from_address(app, STRANGER)
        answers[name] = [login(guesser, username=name, password=GUESS) for _ in range(3)]
    for name, (first, second, third) in answers.items():
        assert refused_as_wrong(first) and refused_as_wrong(second), name
        assert third.status_code == 429 and TOO_MANY in text(third), name
    assert text(answers["jean.dupont"][2]) == text(answers["nobody.here"][2])


def test_failures_with_the_identifier_do_not_hold_the_address_of_the_same_account(build_app, db):
    """Were they counted together, the 429 on the address would tell that both are one account's."""
    make_user(db)
    app = build_app(IDP_LOGIN_FREE_FAILURES=3, IDP_LOGIN_DELAY=60)
    guesser = from_address(app, STRANGER)
    for _ in range(3):
        assert refused_as_wrong(login(guesser, "jean.dupont", GUESS))
    assert login(guesser, "jean.dupont", GUESS).status_code == 429

    for typed in ("jean.dupont@example.fr", "JEAN.DUPONT@example.fr"):
        assert refused_as_wrong(login(guesser, typed, GUESS))
    assert login(guesser, "jean.dupont@example.fr").status_code == 303


# The per-account ceiling ------------------------------------------------------------------------------------------

def test_a_stranger_failing_as_often_as_the_old_lockout_allowed_does_not_lock_the_owner_out(build_app, db):
    """With the default ceiling: ten failures (the old per-account limit), from ten addresses."""
    make_user(db)
    app = build_app(IDP_LOGIN_ACCOUNT_RATE_LIMIT=BY_NAME["IDP_LOGIN_ACCOUNT_RATE_LIMIT"].default)
    for number in range(10):
        assert refused_as_wrong(login(from_address(app, f"198.51.100.{number}"), password=GUESS))

    assert login(from_address(app, ELSEWHERE)).status_code == 303


def test_over_the_ceiling_the_right_password_looks_wrong_except_from_where_the_owner_signed_in(build_app, db):
    make_user(db)
    app = build_app(IDP_LOGIN_ACCOUNT_RATE_LIMIT="3 per day")
    assert login(from_address(app, OWNER_HOME)).status_code == 303  # the owner's usual place
    for number in range(3):
        assert refused_as_wrong(login(from_address(app, f"198.51.100.{number}"), password=GUESS))

    elsewhere = login(from_address(app, ELSEWHERE))
    unknown = login(from_address(app, ELSEWHERE), username="nobody.here", password=GUESS)

    assert refused_as_wrong(elsewhere) and refused_as_wrong(unknown)
    assert login(from_address(app, OWNER_HOME)).status_code == 303


def test_the_ceiling_counts_every_name_and_cannot_be_seen_through_another_one(build_app, db):
    make_user(db)
    app = build_app(IDP_LOGIN_ACCOUNT_RATE_LIMIT="2 per day")
    for number, typed in enumerate(("jean.dupont", "jean.dupont@example.fr")):
        assert refused_as_wrong(login(from_address(app, f"198.51.100.{number}"), typed, GUESS))

    for typed in ("jean.dupont", "jean.dupont@example.fr"):
        assert refused_as_wrong(login(from_address(app, ELSEWHERE), typed))  # over: even the right one


def test_a_reset_unlocks_the_owner_and_the_address_they_reset_from(build_app, db, smtp):
    make_user(db)
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_LOGIN_ACCOUNT_RATE_LIMIT="4 per day", IDP_LOGIN_FREE_FAILURES=2)
    owner = from_address(app, ELSEWHERE)
    for _ in range(2):  # the owner's own mistakes: this address is held
        assert refused_as_wrong(login(owner, password=GUESS))
    assert login(owner).status_code == 429
    for number in range(2):  # a stranger's: the account is over its ceiling
        assert refused_as_wrong(login(from_address(app, f"198.51.100.{number}"), password=GUESS))
    assert login(from_address(app, OWNER_HOME)).status_code == 401

    reset_password(app, smtp, owner)

    assert login(owner, password=NEW_PASSWORD).status_code == 303
    assert login(from_address(app, OWNER_HOME), password=NEW_PASSWORD).status_code == 303


def test_an_address_known_before_a_reset_is_not_exempt_after_it(build_app, db, smtp):
    """Whoever signed in with the old password (a thief, perhaps) is not spared the ceiling of the new one."""
    make_user(db)
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_LOGIN_ACCOUNT_RATE_LIMIT="2 per day")
    assert login(from_address(app, STRANGER)).status_code == 303
    reset_password(app, smtp, from_address(app, OWNER_HOME))
    for number in range(2):
        assert refused_as_wrong(login(from_address(app, f"198.51.100.{number}"), password=GUESS))

    assert refused_as_wrong(login(from_address(app, STRANGER), password=NEW_PASSWORD))


# The account page counts in the same places -------------------------------------------------------------------

def test_wrong_current_passwords_on_the_account_page_hold_it_then_a_sign_in_there_too(build_app, db):
    make_user(db)
    app = build_app(IDP_LOGIN_FREE_FAILURES=2, IDP_LOGIN_DELAY=60)
    browser = from_address(app, OWNER_HOME)
    assert login(browser).status_code == 303

    def change(current):
        page = browser.get("/account/password")
        return browser.post("/account/password", data={"csrf_token": csrf_token(page.data),
                                                       "current_password": current, "new_password": NEW_PASSWORD,
                                                       "new_password_confirm": NEW_PASSWORD})

    assert [change(GUESS).status_code for _ in range(2)] == [400, 400]
    held = change(PASSWORD)
    assert held.status_code == 429 and "Trop de tentatives échouées. Patientez quelques minutes." in text(held)
    assert login(from_address(app, OWNER_HOME)).status_code == 303  # its own name: the login is not held


# What Redis keeps ---------------------------------------------------------------------------------------------------

def test_redis_keeps_neither_what_was_typed_nor_a_plain_hash_of_it(build_app, db, smtp, redis):
    """People type passwords into the identifier field: counters are kept under keyed hashes."""
    make_user(db)
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_LOGIN_FREE_FAILURES=1)
    typed = ["Zebra-guess-4711-wrong", "jean.dupont", "Mon-Secret@2026.fr"]
    browser = from_address(app, STRANGER)
    for name in typed:
        assert refused_as_wrong(login(browser, name, GUESS))
        for form, field in (("/recovery/password", "login"), ("/recovery/identifier", "email")):
            page = browser.get(form)
            assert browser.post(form, data={"csrf_token": csrf_token(page.data), field: name}).status_code in {200, 400}
    deliver(app)  # the queued requests (which must carry what was typed to the worker) are done

    stored = everything_in(redis).casefold()
    for name in typed:
        for form in (name, name.casefold()):
            assert form.casefold() not in stored
            assert hashlib.sha256(form.encode()).hexdigest() not in stored
    assert STRANGER not in stored.replace(f"limiter/{STRANGER}/", "")  # only Flask-Limiter's per-address counts


# Timing -----------------------------------------------------------------------------------------------------------

def test_an_unknown_name_takes_as_long_as_a_wrong_password(client, db):
    """Both check a password with argon2id (the dummy hash when no account matches); without that, the
    unknown name answers in a tenth of the time.  ``bench/login_timing.py`` measures it under gunicorn."""
    make_user(db)
    times = {"known": [], "unknown": []}
    for _ in range(7):
        for kind, name in (("known", "jean.dupont"), ("unknown", "nobody.here")):
            page = client.get("/login")
            start = time.perf_counter()
            answer = client.post("/login", data={"csrf_token": csrf_token(page.data), "username": name,
                                                 "password": GUESS})
            times[kind].append(time.perf_counter() - start)
            assert refused_as_wrong(answer)
    assert statistics.median(times["unknown"]) > 0.6 * statistics.median(times["known"]), times
