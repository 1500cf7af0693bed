"""Account takeover, tried as an attacker would (issue 9, items 1 to 3 and 8): a borrowed session
redirecting the account's mail, a sign-up made with someone else's address, a help-desk request
filed in someone else's name, and identifiers tested in bulk at sign-up.  Mails are read from a
real SMTP sink; Redis and the database are real."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from idp.models import HelpRequest, User, utcnow
from idp.one_time_tokens import one_time_tokens

from helpers import PASSWORD, csrf_token, deliver, link_in, login, make_client, make_user

THIEF_ADDRESS = "voleur@example.net"
LATER_ADDRESS = "voleur.bis@example.net"
OWNER_ADDRESS = "jean.dupont@example.fr"
THIEF_PASSWORD = "the thief chose this one carefully"
OWNER_PASSWORD = "a walk along the river at dawn"
CANCEL_PATH = "/account/email/cancel/"
HELP_CANCEL_PATH = "/recovery/help/cancel/"
RESET_PATH = "/recovery/reset/"
VERIFY_PATH = "/signup/verify/"
HELP_DESK = "assistance@region.example"
LOGIN_FORM = '<form method="post" action="/login"'


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url, IDP_HELPDESK_EMAIL=HELP_DESK)


@pytest.fixture
def owner(db):
    return make_user(db, birthdate=dt.date(1970, 3, 2))


def text(response) -> str:
    return response.get_data(as_text=True)


def heading(response) -> str:
    return re.search(r"<h1>(.*?)</h1>", text(response), re.S).group(1).strip()


def signed_in(app, username="jean.dupont", password=PASSWORD):
    browser = app.test_client()
    assert login(browser, username, password).status_code == 303
    assert browser.get("/account?lang=en").status_code == 200
    return browser


def reread(db, user_id: int) -> User:
    db.rollback()
    db.expire_all()
    return db.get(User, user_id)


def mails_to(app, smtp, address: str) -> list:
    deliver(app)
    return [mail for mail in smtp.messages if mail["To"] == address]


def details(user: User, **changes) -> dict:
    fields = {"given_name": user.given_name, "family_name": user.family_name, "birthdate": "1970-03-02",
              "email": user.email, **changes}
    return {k: v for k, v in fields.items() if v is not None}


def ask_new_address(browser, user: User, address: str, current_password: str | None = PASSWORD, **changes):
    page = browser.get("/account")
    form = {"csrf_token": csrf_token(page.data), **details(user, email=address, **changes)}
    if current_password is not None:
        form["current_password"] = current_password
    return browser.post("/account", data=form)


def change_address(app, smtp, browser, user: User, address: str, password: str = PASSWORD) -> None:
    """Ask for ``address`` with the password, and open the link mailed there: the address changes."""
    assert ask_new_address(browser, user, address, password).status_code == 303
    (confirm,) = mails_to(app, smtp, address)
    link = link_in(smtp.text(confirm), "/account/email/")
    done = browser.post(link, data={"csrf_token": csrf_token(browser.get(link).data)})
    assert done.status_code == 303, done.data


def cancel_link(app, smtp, address: str) -> str:
    """The "it was not me" link of the newest change-of-address notice mailed to ``address``."""
    notices = [mail for mail in mails_to(app, smtp, address) if CANCEL_PATH in smtp.text(mail)]
    assert notices, [mail["Subject"] for mail in smtp.messages]
    link = link_in(smtp.text(notices[-1]), CANCEL_PATH)
    assert link in smtp.html(notices[-1])
    return link


def use_link(browser, link: str):
    return browser.post(link, data={"csrf_token": csrf_token(browser.get(link).data)})


def choose_password(browser, link: str, password: str = OWNER_PASSWORD):
    page = browser.get(link)
    assert page.status_code == 200, page.data
    return browser.post(link, data={"csrf_token": csrf_token(page.data), "new_password": password,
                                    "new_password_confirm": password})


# 1. A borrowed session cannot redirect the account's mail ------------------------------------------------------

@pytest.mark.parametrize(("typed", "message"), [
    (None, "Enter your current password to change your name, date of birth, e-mail address or phone number."),
    ("", "Enter your current password to change your name, date of birth, e-mail address or phone number."),
    ("not the password of this account", "Your current password is not that one."),
])
def test_changing_the_address_needs_the_current_password(app, db, smtp, owner, typed, message):
    thief = signed_in(app)

    refused = ask_new_address(thief, owner, THIEF_ADDRESS, typed, locality="Nantes")

    assert refused.status_code == 400
    assert heading(refused) == "My personal details"
    field_error = re.search(r'name="current_password".*?<p class="field-error">(.*?)</p>', text(refused), re.S)
    assert field_error and field_error.group(1) == message  # tied to its field
    assert 'value="voleur@example.net"' in text(refused) and 'value="Nantes"' in text(refused)  # nothing typed lost
    user = reread(db, owner.id)
    assert (user.email, user.locality) == (OWNER_ADDRESS, None)  # nothing saved
    assert deliver(app) == 0 and smtp.messages == []  # no link mailed to the thief


@pytest.mark.parametrize("changes", [{"given_name": "Jeanne"}, {"family_name": "Martin"},
                                     {"birthdate": "1971-03-02"}, {"phone_number": "06 12 34 56 78"}])
def test_what_the_help_desk_checks_needs_the_current_password_too(app, db, smtp, owner, changes):
    thief = signed_in(app)
    page = thief.get("/account")

    refused = thief.post("/account", data={"csrf_token": csrf_token(page.data), **details(owner, **changes)})

    assert refused.status_code == 400 and heading(refused) == "My personal details"
    assert re.search(r'name="current_password".*?<p class="field-error">Enter your current password', text(refused),
                     re.S)
    user = reread(db, owner.id)
    assert (user.given_name, user.family_name, user.birthdate, user.phone_number) == (
        "Jean", "Dupont", dt.date(1970, 3, 2), None)
    saved = thief.post("/account", data={"csrf_token": csrf_token(page.data), **details(owner, **changes),
                                         "current_password": PASSWORD})
    assert saved.status_code == 303


def test_the_other_details_still_change_without_the_password(app, db, owner):
    browser = signed_in(app)
    page = browser.get("/account")

    saved = browser.post("/account", data={"csrf_token": csrf_token(page.data), **details(owner, locality="Rennes")})

    assert saved.status_code == 303
    assert reread(db, owner.id).locality == "Rennes"


def test_the_old_address_can_undo_a_change_even_after_the_password_changed_too(app, db, smtp, owner):
    thief = signed_in(app)
    change_address(app, smtp, thief, owner, THIEF_ADDRESS)
    # The thief also sets a password of their own: that drops the account's links, not this one.
    page = thief.get("/account/password")
    changed = thief.post("/account/password", data={"csrf_token": csrf_token(page.data), "current_password": PASSWORD,
                                                   "new_password": THIEF_PASSWORD,
                                                   "new_password_confirm": THIEF_PASSWORD})
    assert changed.status_code == 303
    link = cancel_link(app, smtp, OWNER_ADDRESS)
    owner_browser = app.test_client()

    for _ in range(2):  # a mail scanner opening the link changes nothing
        shown = owner_browser.get(link + "?lang=en")
        assert shown.status_code == 200 and heading(shown) == "You did not change your e-mail address?"
    assert reread(db, owner.id).email == THIEF_ADDRESS
    told_thief = len(mails_to(app, smtp, THIEF_ADDRESS))

    undone = use_link(owner_browser, link)

    assert undone.status_code == 200 and heading(undone) == "Your account is secured"
    user = reread(db, owner.id)
    assert (user.email, user.email_verified, user.password_hash) == (OWNER_ADDRESS, True, None)
    assert thief.get("/account").status_code == 302  # the thief's session is over
    for password in (PASSWORD, THIEF_PASSWORD):
        failed = login(app.test_client(), OWNER_ADDRESS, password)
        assert failed.status_code == 401 and LOGIN_FORM in text(failed)
    (reset,) = [mail for mail in mails_to(app, smtp, OWNER_ADDRESS) if RESET_PATH in smtp.text(mail)]
    assert choose_password(owner_browser, link_in(smtp.text(reset), RESET_PATH)).status_code == 303
    assert login(app.test_client(), OWNER_ADDRESS, OWNER_PASSWORD).status_code == 303
    assert len(mails_to(app, smtp, THIEF_ADDRESS)) == told_thief  # nothing more went to the thief
    gone = owner_browser.get(link)
    assert gone.status_code == 410 and heading(gone) == "This link no longer works"


@pytest.fixture
def chained(app, smtp, owner) -> tuple[str, str]:
    """The thief changes the address twice (owner's → thief's → another): the owner's "not me" link,
    and the one mailed to the thief's first address."""
    thief = signed_in(app)
    change_address(app, smtp, thief, owner, THIEF_ADDRESS)
    change_address(app, smtp, thief, owner, LATER_ADDRESS)
    return cancel_link(app, smtp, OWNER_ADDRESS), cancel_link(app, smtp, THIEF_ADDRESS)


def test_undoing_the_first_change_drops_the_links_of_later_ones(app, db, owner, chained):
    owners_link, thiefs_link = chained

    assert use_link(app.test_client(), owners_link).status_code == 200

    thief = app.test_client()
    shown = thief.get(thiefs_link)
    assert shown.status_code == 410 and heading(shown) == "Ce lien ne fonctionne plus"
    refused = thief.post(thiefs_link, data={"csrf_token": csrf_token(thief.get("/login").data)})
    assert refused.status_code == 410 and heading(refused) == "Ce lien ne fonctionne plus"
    assert reread(db, owner.id).email == OWNER_ADDRESS


def test_undoing_a_later_change_leaves_the_first_owner_their_link(app, db, owner, chained):
    owners_link, thiefs_link = chained

    assert use_link(app.test_client(), thiefs_link).status_code == 200
    assert reread(db, owner.id).email == THIEF_ADDRESS

    assert use_link(app.test_client(), owners_link).status_code == 200
    assert reread(db, owner.id).email == OWNER_ADDRESS


def test_a_sign_up_squatting_the_old_address_does_not_keep_it_from_its_owner(app, db, smtp, owner):
    thief = signed_in(app)
    change_address(app, smtp, thief, owner, THIEF_ADDRESS)
    make_user(db, username="squatter", email=OWNER_ADDRESS, status="pending", email_verified=False)

    assert use_link(app.test_client(), cancel_link(app, smtp, OWNER_ADDRESS)).status_code == 200

    assert reread(db, owner.id).email == OWNER_ADDRESS
    assert account(db, "squatter") is None


@pytest.fixture
def admin_token(app, db) -> str:
    client_id, secret = make_client(db, name="Assistance", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin")
    response = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials",
                                                            "scope": "idp:admin"}, auth=(client_id, secret))
    return response.get_json()["access_token"]


def test_a_change_by_the_admin_api_sends_a_link_that_freezes_the_account(app, db, smtp, owner, admin_token):
    """The help desk's case: the old mailbox may be the one the citizen lost, so its holder must not
    get the account back; the account is frozen and the help desk told."""
    changed = app.test_client().patch(f"/admin/api/users/{owner.id}", json={"email": THIEF_ADDRESS},
                                      headers={"Authorization": f"Bearer {admin_token}"})
    assert changed.status_code == 200, changed.data
    session = signed_in(app, THIEF_ADDRESS)
    link = cancel_link(app, smtp, OWNER_ADDRESS)
    (notice,) = [mail for mail in mails_to(app, smtp, OWNER_ADDRESS) if CANCEL_PATH in smtp.text(mail)]
    assert "le compte sera bloqué jusqu’à ce que l’assistance ait vérifié de nouveau" in smtp.text(notice)

    frozen = use_link(app.test_client(), link + "?lang=en")

    assert frozen.status_code == 200 and heading(frozen) == "Your account is secured"
    assert "Your account is frozen" in text(frozen)
    user = reread(db, owner.id)
    assert (user.email, user.status) == (THIEF_ADDRESS, "disabled")  # neither address gets it back alone
    assert session.get("/account").status_code == 302
    refused = login(app.test_client(), THIEF_ADDRESS, PASSWORD)
    assert refused.status_code in (401, 403) and LOGIN_FORM in text(refused)
    assert [mail for mail in mails_to(app, smtp, OWNER_ADDRESS) if RESET_PATH in smtp.text(mail)] == []
    (disputed,) = mails_to(app, smtp, HELP_DESK)
    assert f"L’ancienne adresse du compte jean.dupont (n°\u00a0{owner.id})" in smtp.text(disputed)  # in French


def test_a_change_by_a_resolved_help_request_sends_the_same_link(app, db, smtp, owner, admin_token):
    assert ask_for_help(app.test_client()).status_code == 200
    request_id = db.scalar(select(HelpRequest.id))

    resolved = app.test_client().post(f"/admin/api/help-requests/{request_id}/resolve", json={"send_reset": False},
                                      headers={"Authorization": f"Bearer {admin_token}"})
    assert resolved.status_code == 200, resolved.data

    assert use_link(app.test_client(), cancel_link(app, smtp, OWNER_ADDRESS)).status_code == 200
    assert reread(db, owner.id).status == "disabled"


@pytest.mark.parametrize("forged", ["x" * 43, "short"])
def test_a_forged_cancel_link_is_gone(app, db, owner, forged):
    page = app.test_client().get(CANCEL_PATH + forged)
    assert page.status_code == 410 and heading(page) == "Ce lien ne fonctionne plus"


# 2. A sign-up with someone else's address ----------------------------------------------------------------------

def sign_up_as_thief(app, smtp) -> str:
    """A stranger signs up with the owner's address and a password of their own; the link mailed there."""
    browser = app.test_client()
    page = browser.get("/signup?lang=en")
    answer = browser.post("/signup", data={
        "csrf_token": csrf_token(page.data), "given_name": "Camille", "family_name": "Martin",
        "birthdate": "1992-05-17", "email": "camille.martin@example.org", "username": "camille.martin",
        "password": THIEF_PASSWORD, "password_confirm": THIEF_PASSWORD})
    assert answer.status_code == 200, answer.data
    (verify,) = mails_to(app, smtp, "camille.martin@example.org")
    return link_in(smtp.text(verify), VERIFY_PATH)


def account(db, username: str) -> User | None:
    db.rollback()
    return db.scalar(select(User).where(User.username_key == username))


def test_the_verification_link_alone_does_not_confirm_a_password_chosen_by_someone_else(app, db, smtp):
    link = sign_up_as_thief(app, smtp)
    owner_browser = app.test_client()
    page = owner_browser.get(link + "?lang=en")
    assert page.status_code == 200 and heading(page) == "Confirm your e-mail address"

    for data in ({}, {"password": "I have no idea what they chose"}):
        refused = owner_browser.post(link, data={"csrf_token": csrf_token(page.data), **data})
        assert refused.status_code == 400 and heading(refused) == "Confirm your e-mail address"
        assert account(db, "camille.martin").status == "pending"

    chosen = owner_browser.post(link, data={"csrf_token": csrf_token(page.data), "new_password": OWNER_PASSWORD,
                                            "new_password_confirm": OWNER_PASSWORD})

    assert chosen.status_code == 303 and chosen.location.startswith("/login?username=camille.martin")
    user = account(db, "camille.martin")
    assert (user.status, user.email_verified) == ("active", True)
    thiefs = login(app.test_client(), "camille.martin", THIEF_PASSWORD)
    assert thiefs.status_code == 401 and LOGIN_FORM in text(thiefs)
    assert login(app.test_client(), "camille.martin", OWNER_PASSWORD).status_code == 303
    assert owner_browser.get(link).status_code == 410


def test_a_wrong_password_at_confirmation_uses_nothing_and_says_what_to_do(app, db, smtp):
    link = sign_up_as_thief(app, smtp)
    browser = app.test_client()
    page = browser.get(link + "?lang=en")

    refused = browser.post(link, data={"csrf_token": csrf_token(page.data), "password": "wrong guess, clearly"})

    assert re.search(r'name="password".*?<p class="field-error">This is not the password chosen at sign-up. '
                     r"If you do not know it, choose a new one below.</p>", text(refused), re.S)
    confirmed = browser.post(link, data={"csrf_token": csrf_token(page.data), "password": THIEF_PASSWORD})
    assert confirmed.status_code == 303


def test_a_new_password_at_confirmation_follows_the_policy(app, db, smtp):
    link = sign_up_as_thief(app, smtp)
    browser = app.test_client()
    page = browser.get(link + "?lang=en")

    refused = browser.post(link, data={"csrf_token": csrf_token(page.data), "new_password": "short",
                                       "new_password_confirm": "short"})

    assert refused.status_code == 400
    assert re.search(r'name="new_password".*?<p class="field-error">[^<]*15[^<]*</p>', text(refused), re.S)
    assert account(db, "camille.martin").status == "pending"
    assert browser.get(link).status_code == 200  # the link is still there


def expire(app, db, **accounts: dt.timedelta) -> None:
    for username, age in accounts.items():
        status = "active" if username.startswith("active") else "pending"
        user = make_user(db, username=username, email=f"{username}@example.org", status=status)
        user.created_at = utcnow() - age
    db.commit()


def test_the_worker_deletes_sign_ups_never_confirmed(app, db, smtp):
    week = dt.timedelta(seconds=app.config["IDP_PENDING_ACCOUNT_TTL"])
    expire(app, db, **{"old-pending": week + dt.timedelta(minutes=1), "new-pending": week - dt.timedelta(minutes=5),
                       "active-old": week * 10})
    queue = app.extensions["idp.jobs"]

    assert sorted(queue.periodic) == ["federated-recovery-due", "signup.expire_pending"]
    assert queue.queue_periodic() == 2  # this job and the one that applies waiting recoveries
    assert queue.queue_periodic() == 0  # once per interval, however many workers look
    deliver(app)

    db.rollback()
    assert sorted(db.scalars(select(User.username))) == ["active-old", "new-pending"]


# 3. A help-desk request in someone else's name -------------------------------------------------------------------

def ask_for_help(browser, **typed):
    page = browser.get("/recovery/help?lang=en")
    form = {"given_name": "Jean", "family_name": "Dupont", "birthdate": "1970-03-02", "username": "jean.dupont",
            "new_email": THIEF_ADDRESS, "message": "Ma boîte a disparu.", **typed,
            "csrf_token": csrf_token(page.data)}
    return browser.post("/recovery/help", data=form)


def help_cancel_link(app, smtp) -> str:
    (notice,) = [mail for mail in mails_to(app, smtp, OWNER_ADDRESS) if HELP_CANCEL_PATH in smtp.text(mail)]
    assert "Your identifier: jean.dupont" in smtp.text(notice)
    link = link_in(smtp.text(notice), HELP_CANCEL_PATH)
    assert link in smtp.html(notice)
    return link


def test_the_account_address_is_told_at_once_and_can_cancel_the_request(app, db, smtp, owner, admin_token):
    assert ask_for_help(app.test_client()).status_code == 200
    link = help_cancel_link(app, smtp)
    owner_browser = app.test_client()
    shown = owner_browser.get(link + "?lang=en")
    assert shown.status_code == 200 and heading(shown) == "You did not ask the help desk for anything?"

    cancelled = use_link(owner_browser, link)

    assert cancelled.status_code == 200 and heading(cancelled) == "The request is cancelled"
    db.rollback()
    filed = db.scalar(select(HelpRequest))
    assert (filed.state, filed.closed_by) == ("rejected", "owner")
    resolved = app.test_client().post(f"/admin/api/help-requests/{filed.id}/resolve",
                                      headers={"Authorization": f"Bearer {admin_token}"})
    assert resolved.status_code == 409 and resolved.get_json()["error"] == "conflict"
    assert reread(db, owner.id).email == OWNER_ADDRESS
    assert owner_browser.get(link).status_code == 410


def test_the_cancel_link_outlives_a_password_change(app, db, smtp, owner):
    assert ask_for_help(app.test_client()).status_code == 200
    link = help_cancel_link(app, smtp)
    one_time_tokens_revoked = app.test_client()
    with app.app_context():
        one_time_tokens().revoke_user(owner.id)  # what a password change or an admin revocation drops
    assert use_link(one_time_tokens_revoked, link).status_code == 200


def test_a_request_resolved_first_cannot_be_cancelled_after(app, db, smtp, owner, admin_token):
    assert ask_for_help(app.test_client()).status_code == 200
    link = help_cancel_link(app, smtp)
    request_id = db.scalar(select(HelpRequest.id))
    assert app.test_client().post(f"/admin/api/help-requests/{request_id}/resolve", json={"send_reset": False},
                                  headers={"Authorization": f"Bearer {admin_token}"}).status_code == 200

    late = use_link(app.test_client(), link + "?lang=en")

    assert late.status_code == 409 and heading(late) == "The help desk has already handled this request"


def test_a_request_matching_no_account_tells_no_one_but_the_help_desk_and_the_requester(app, db, smtp, owner):
    assert ask_for_help(app.test_client(), family_name="Durand").status_code == 200
    deliver(app)
    assert sorted(mail["To"] for mail in smtp.wait_for(2)) == [HELP_DESK, THIEF_ADDRESS]


# 8. The taken-identifier message is throttled per client address ----------------------------------------------

def test_the_taken_identifier_message_is_throttled_per_client_address(build_app, smtp, db, owner):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_SIGNUP_TAKEN_RATE_LIMIT="2 per hour")

    def try_identifier(address: str):
        browser = app.test_client()
        page = browser.get("/signup?lang=en", environ_base={"REMOTE_ADDR": address})
        return browser.post("/signup", environ_base={"REMOTE_ADDR": address}, data={
            "csrf_token": csrf_token(page.data), "given_name": "Camille", "family_name": "Martin",
            "birthdate": "1992-05-17", "email": "camille.martin@example.org", "username": "jean.dupont",
            "password": OWNER_PASSWORD, "password_confirm": OWNER_PASSWORD})

    for _ in range(2):
        told = try_identifier("198.51.100.7")
        assert told.status_code == 409 and "This identifier is already taken: choose another." in text(told)
    throttled = try_identifier("198.51.100.7")
    assert throttled.status_code == 429 and heading(throttled) == "Too many attempts"
    assert "already taken" not in text(throttled)
    assert try_identifier("198.51.100.8").status_code == 409
