"""Mes infos personnelles as a signed-in citizen lives it: read and correct the details that
relying parties receive, change the e-mail address through a link mailed to the new one
(read from a real SMTP sink), and change the password, which signs out everywhere else."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from idp.models import User
from idp.passwords import verify_password
from idp.users import find_same_person

from helpers import (
    PASSWORD,
    TOKEN,
    csrf_token,
    deliver,
    get_code,
    jose_claims,
    link_in,
    login,
    make_client,
    make_user,
    redeem,
)
from helpers import (
    signed_in as is_signed_in,
)

NEW_PASSWORD = "a walk along the river at dawn"
EMAIL_PATH = "/account/email/"
NOT_ME_PATH = "/recovery/not-me/"
RESET_PATH = "/recovery/reset/"
SAVED = "Your details are saved."
REMINDER_FR = "Vérifiez que vos infos personnelles sont à jour."
NEW_ADDRESS = "jeanne.martin@orange.fr"
ALL_SCOPES = "openid profile email address phone"
NEW_DETAILS = {
    "given_name": "Élodie",
    "family_name": "Le Gall-Martin",
    "birthdate": "1984-07-14",
    "email": "jean.dupont@example.fr",
    "phone_number": "+33 6 12 34 56 78",
    "street_address": "12 rue de la Paix",
    "postal_code": "35000",
    "locality": "Rennes",
}


@pytest.fixture
def app(build_app, smtp):
    """Mails go to the real SMTP sink; every other setting is the default."""
    return build_app(IDP_SMTP_URL=smtp.url)


@pytest.fixture
def citizen(db):
    user = make_user(db, birthdate=dt.date(1970, 3, 2))
    user.phone_number, user.street_address, user.postal_code, user.locality = (
        "02 99 00 00 00", "1 place de la Mairie", "29200", "Brest")
    db.commit()
    return user


# What the citizen does -------------------------------------------------------------------------------------------

def text(response) -> str:
    return response.get_data(as_text=True)


def signed_in(app, username="jean.dupont", password=PASSWORD):
    """A browser signed in, its pages in English."""
    browser = app.test_client()
    assert login(browser, username, password).status_code == 303
    assert browser.get("/account?lang=en").status_code == 200
    return browser


def field_value(page: str, name: str) -> str | None:
    """What the form's ``name`` input holds, as the browser shows it."""
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
    value = re.search(r'value="([^"]*)"', tag)
    return html.unescape(value.group(1)) if value else None


def save_details(browser, **changes):
    """Open Mes infos personnelles, change some fields, save; the POST's answer."""
    page = browser.get("/account")
    assert page.status_code == 200, page.data
    form = {"csrf_token": csrf_token(page.data), **NEW_DETAILS, "current_password": PASSWORD, **changes}
    return browser.post("/account", data={k: v for k, v in form.items() if v is not None})


def reread(db, user_id: int) -> User:
    db.rollback()
    db.expire_all()
    return db.get(User, user_id)


def change_password(browser, current=PASSWORD, new=NEW_PASSWORD, confirm=None):
    page = browser.get("/account/password")
    assert page.status_code == 200, page.data
    return browser.post("/account/password", data={
        "csrf_token": csrf_token(page.data), "current_password": current, "new_password": new,
        "new_password_confirm": new if confirm is None else confirm})


# Signed-in only --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/account", "/account/password"])
def test_signed_out_citizens_are_sent_to_the_login_page(client, path):
    answer = client.get(path)
    assert answer.status_code == 302 and answer.location == f"/login?next={path}"  # and back after login


# Reading and saving the details ----------------------------------------------------------------------------------

def test_the_page_shows_the_current_details(app, citizen):
    page = text(signed_in(app).get("/account"))

    assert "My personal details" in page
    assert field_value(page, "given_name") == "Jean"
    assert field_value(page, "family_name") == "Dupont"
    assert field_value(page, "birthdate") == "02/03/1970"  # as French people write it
    assert field_value(page, "email") == "jean.dupont@example.fr"
    assert field_value(page, "phone_number") == "02 99 00 00 00"
    assert field_value(page, "street_address") == "1 place de la Mairie"
    assert field_value(page, "postal_code") == "29200"
    assert field_value(page, "locality") == "Brest"


def test_saving_updates_the_details_and_the_folded_names(app, db, citizen, smtp):
    browser = signed_in(app)

    saved = save_details(browser, given_name="  Élodie ")

    assert saved.status_code == 303 and saved.location == "/account"
    page = text(browser.get(saved.location))
    assert SAVED in page
    assert field_value(page, "given_name") == "Élodie" and field_value(page, "locality") == "Rennes"
    assert SAVED not in text(browser.get("/account"))  # said once
    user = reread(db, citizen.id)
    assert (user.given_name, user.family_name, user.birthdate) == ("Élodie", "Le Gall-Martin", dt.date(1984, 7, 14))
    assert (user.phone_number, user.street_address, user.postal_code, user.locality) == (
        "+33 6 12 34 56 78", "12 rue de la Paix", "35000", "Rennes")
    assert (user.given_name_key, user.family_name_key) == ("elodie", "legallmartin")
    assert user.email == "jean.dupont@example.fr" and user.email_verified is True
    assert [u.id for u in find_same_person(db, "ELODIE", "le gall martin", dt.date(1984, 7, 14))] == [citizen.id]
    assert find_same_person(db, "Jean", "Dupont", dt.date(1970, 3, 2)) == []
    deliver(app)
    assert smtp.messages == []  # same address: nothing to confirm


def test_sign_up_finds_the_person_under_the_new_name(app, citizen):
    assert save_details(signed_in(app)).status_code == 303
    stranger = app.test_client()
    page = stranger.get("/signup?lang=en")
    answer = stranger.post("/signup", data={
        "csrf_token": csrf_token(page.data), "given_name": "elodie", "family_name": "LE GALL MARTIN",
        "birthdate": "1984-07-14", "email": "someone.else@example.org", "username": "elodie.lgm",
        "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})

    assert answer.status_code == 409
    assert "An account already exists for you" in text(answer) and "jea•••@e•••.fr" in text(answer)


FUTURE = (dt.date.today() + dt.timedelta(days=2)).isoformat()


@pytest.mark.parametrize("changes, field, message", [
    ({"given_name": ""}, "given_name", "Enter your given name."),
    ({"given_name": "   "}, "given_name", "Enter your given name."),
    ({"family_name": ""}, "family_name", "Enter your family name."),
    ({"birthdate": "14/07/84"}, "birthdate", None),
    ({"birthdate": "1984-02-30"}, "birthdate", None),
    ({"birthdate": FUTURE}, "birthdate", "A date of birth cannot be in the future: check the year."),
    ({"birthdate": "1850-01-01"}, "birthdate", "Enter a date of birth from 1 January 1900 onwards."),
    ({"phone_number": "abc"}, "phone_number", "Enter a phone number, for example 06 12 34 56 78."),
    ({"given_name": "A" * 101}, "given_name", None),
    ({"family_name": "B" * 101}, "family_name", None),
    ({"street_address": "C" * 201}, "street_address", None),
    ({"postal_code": "1" * 17}, "postal_code", None),
    ({"locality": "D" * 101}, "locality", None),
    ({"phone_number": "0" * 33}, "phone_number", None),
    ({"email": "not-an-address"}, "email", "Enter a valid e-mail address."),
    ({"email": "jean@dupont"}, "email", "Enter a valid e-mail address."),
    ({"email": ""}, "email", "Enter your e-mail address, for example name@example.fr."),
])
def test_refused_details_change_nothing_and_keep_what_was_typed(app, db, smtp, citizen, changes, field, message):
    browser = signed_in(app)

    refused = save_details(browser, **changes)

    assert refused.status_code == 400
    page = text(refused)
    assert re.search(r"<h2 id=\"error-summary-title\">The form contains [12] errors?</h2>", page), page
    assert SAVED not in page
    for name, typed in {**NEW_DETAILS, **changes}.items():
        assert field_value(page, name) == typed, name  # what was typed, not the saved value
    errors = re.search(rf'name="{field}"[^>]*>(.*?)(?:<label|<button)', page, re.S).group(1)
    assert 'class="field-error"' in errors
    if message:
        assert message in errors
    user = reread(db, citizen.id)
    assert (user.given_name, user.family_name, user.birthdate, user.email) == (
        "Jean", "Dupont", dt.date(1970, 3, 2), "jean.dupont@example.fr")
    assert (user.phone_number, user.locality, user.given_name_key) == ("02 99 00 00 00", "Brest", "jean")
    deliver(app)
    assert smtp.messages == []


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_without_a_valid_csrf_token_nothing_is_saved(app, db, smtp, citizen, token):
    browser = signed_in(app)

    refused = save_details(browser, csrf_token=token, email=NEW_ADDRESS)

    assert refused.status_code == 400
    assert "This form has expired" in text(refused)
    user = reread(db, citizen.id)
    assert (user.given_name, user.birthdate, user.email, user.locality) == (
        "Jean", dt.date(1970, 3, 2), "jean.dupont@example.fr", "Brest")
    deliver(app)
    assert smtp.messages == []
    assert field_value(text(browser.get("/account")), "given_name") == "Jean"


def test_optional_fields_can_be_emptied_and_are_then_not_released(app, db, citizen):
    browser = signed_in(app)
    answer = save_details(browser, birthdate="", phone_number="", street_address="", postal_code="", locality="")

    assert answer.status_code == 303
    user = reread(db, citizen.id)
    assert user.birthdate is None and user.given_name == "Élodie"
    assert {user.phone_number or None, user.street_address or None, user.postal_code or None,
            user.locality or None} == {None}
    client_id, secret = make_client(db)
    tokens = redeem(browser, client_id, secret, get_code(browser, client_id, scope=ALL_SCOPES)["code"]).get_json()
    userinfo = browser.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    id_token = jose_claims(browser, tokens["id_token"], audience=client_id)
    for claims in (userinfo.get_json(), id_token):
        assert claims["given_name"] == "Élodie"
        released = {k: claims[k] for k in ("birthdate", "phone_number", "address") if k in claims}
        assert released == {}  # empty values are left out, not released as ""


# Changing the e-mail address -------------------------------------------------------------------------------------


def ask_new_address(app, smtp, browser, address=NEW_ADDRESS) -> str:
    """Save a new address; the confirmation link mailed to it (a path)."""
    saved = save_details(browser, email=address, current_password=PASSWORD)
    assert saved.status_code == 303
    page = text(browser.get(saved.location))
    assert f"We have sent a link to {address}: your e-mail address changes once you open it." in page
    deliver(app)
    mail = smtp.wait_for(1)[0]
    assert mail["To"] == address
    assert mail["Subject"] == "Confirm your new e-mail address for Sésame"
    body = smtp.text(mail)
    assert body.startswith("Your identifier: jean.dupont")
    link = link_in(body, EMAIL_PATH)
    assert re.fullmatch(EMAIL_PATH + TOKEN, link)
    assert link in smtp.html(mail)
    return link


def test_a_new_address_is_used_only_once_confirmed_and_the_old_one_is_told(app, db, smtp, citizen):
    browser = signed_in(app)

    link = ask_new_address(app, smtp, browser)

    user = reread(db, citizen.id)
    assert user.email == "jean.dupont@example.fr" and user.given_name == "Élodie"  # the rest is saved
    assert field_value(text(browser.get("/account")), "email") == "jean.dupont@example.fr"
    for _ in range(2):  # opening the link (a mail scanner, say) uses nothing
        page = browser.get(link)
        assert page.status_code == 200
        assert f"Confirm that {NEW_ADDRESS} is the address of the account jean.dupont." in text(page)
    assert reread(db, citizen.id).email == "jean.dupont@example.fr"

    done = browser.post(link, data={"csrf_token": csrf_token(page.data)})

    assert done.status_code == 303 and done.location == "/account"
    page = text(browser.get(done.location))
    assert f"Your e-mail address is now {NEW_ADDRESS}." in page
    assert field_value(page, "email") == NEW_ADDRESS
    user = reread(db, citizen.id)
    assert user.email == NEW_ADDRESS and user.email_verified is True
    deliver(app)
    told = smtp.wait_for(2)[1]
    assert told["To"] == "jean.dupont@example.fr"
    assert told["Subject"] == "Your Sésame e-mail address was changed"
    assert "was changed to jea•••@o•••.fr." in smtp.text(told)
    assert NEW_ADDRESS not in smtp.text(told) and NEW_ADDRESS not in smtp.html(told)
    assert login(app.test_client(), NEW_ADDRESS, PASSWORD).status_code == 303

    used = browser.get(link)
    assert used.status_code == 410 and "This link no longer works" in text(used)
    again = browser.post(link, data={"csrf_token": csrf_token(browser.get("/account").data)})
    assert again.status_code == 410
    assert browser.get(EMAIL_PATH + "A" * 43).status_code == 410
    deliver(app)
    assert len(smtp.messages) == 2


def test_an_unverified_address_becomes_verified_once_confirmed(app, db, smtp, citizen):
    citizen.email_verified = False
    db.commit()
    browser = signed_in(app)
    assert "Not verified yet" in text(browser.get("/account"))
    link = ask_new_address(app, smtp, browser)
    assert reread(db, citizen.id).email_verified is False

    assert browser.post(link, data={"csrf_token": csrf_token(browser.get(link).data)}).status_code == 303

    assert reread(db, citizen.id).email_verified is True
    assert "Not verified yet" not in text(browser.get("/account"))


def test_an_address_taken_meanwhile_changes_nothing(app, db, smtp, citizen):
    browser = signed_in(app)
    link = ask_new_address(app, smtp, browser)
    make_user(db, username="jeanne.martin", email="Jeanne.Martin@orange.fr")

    page = browser.get(link)
    taken = browser.post(link, data={"csrf_token": csrf_token(page.data)})

    assert taken.status_code == 409
    assert "This address is already used" in text(taken)
    user = reread(db, citizen.id)
    assert user.email == "jean.dupont@example.fr" and user.email_verified is True
    deliver(app)
    assert len(smtp.messages) == 1  # the old address is told nothing: nothing changed


def test_a_later_request_replaces_the_earlier_link(app, db, smtp, citizen):
    browser = signed_in(app)
    first = ask_new_address(app, smtp, browser)
    assert save_details(browser, email="jean.dupont@laposte.net", current_password=PASSWORD).status_code == 303
    deliver(app)
    second = link_in(smtp.text(smtp.wait_for(2)[1]), EMAIL_PATH)

    assert browser.get(first).status_code == 410
    assert browser.post(second, data={"csrf_token": csrf_token(browser.get(second).data)}).status_code == 303
    assert reread(db, citizen.id).email == "jean.dupont@laposte.net"


# What relying parties receive ------------------------------------------------------------------------------------

def test_relying_parties_receive_what_the_citizen_entered(app, db, citizen):
    browser = signed_in(app)
    assert save_details(browser).status_code == 303
    client_id, secret = make_client(db)

    code = get_code(browser, client_id, scope=ALL_SCOPES)["code"]
    tokens = redeem(browser, client_id, secret, code).get_json()
    id_token = jose_claims(browser, tokens["id_token"], audience=client_id)
    userinfo = browser.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})

    assert userinfo.status_code == 200
    expected = {
        "given_name": "Élodie", "family_name": "Le Gall-Martin", "birthdate": "1984-07-14",
        "email": "jean.dupont@example.fr", "email_verified": True, "phone_number": "+33 6 12 34 56 78",
    }
    for claims in (id_token, userinfo.get_json()):
        assert {k: claims.get(k) for k in expected} == expected
        address = claims["address"]
        assert (address["street_address"], address["postal_code"], address["locality"]) == (
            "12 rue de la Paix", "35000", "Rennes")
    assert userinfo.get_json()["sub"] == id_token["sub"]


def test_with_scope_openid_only_no_personal_detail_is_released(app, db, citizen):
    browser = signed_in(app)
    assert save_details(browser).status_code == 303
    client_id, secret = make_client(db)

    tokens = redeem(browser, client_id, secret, get_code(browser, client_id, scope="openid")["code"]).get_json()
    id_token = jose_claims(browser, tokens["id_token"], audience=client_id)
    userinfo = browser.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})

    assert userinfo.status_code == 200
    details = {"given_name", "family_name", "birthdate", "email", "email_verified", "address", "phone_number",
               "preferred_username"}
    assert details.isdisjoint(id_token) and details.isdisjoint(userinfo.get_json())
    assert set(userinfo.get_json()) == {"sub"}


# Changing the password -------------------------------------------------------------------------------------------

def test_a_wrong_current_password_changes_nothing(app, smtp, citizen):
    browser = signed_in(app)

    refused = change_password(browser, current="not my password at all")

    assert refused.status_code == 400
    assert "Your current password is not that one." in text(refused)
    assert login(app.test_client(), password=PASSWORD).status_code == 303
    assert login(app.test_client(), password=NEW_PASSWORD).status_code == 401
    assert is_signed_in(browser)
    deliver(app)
    assert smtp.messages == []


@pytest.mark.parametrize("new, confirm, reason", [
    ("short phrase", None, "at least 15 characters"),
    ("aaaaaaaaaaaaaaaaaaaa", None, None),
    ("jean.dupont is my name forever", None, None),
    (NEW_PASSWORD, "a walk along the river at dusk", "The two passwords differ."),
])
def test_a_refused_new_password_says_why(app, smtp, citizen, new, confirm, reason):
    browser = signed_in(app)

    refused = change_password(browser, new=new, confirm=confirm)

    assert refused.status_code == 400
    problems = re.search(r'<div class="error" role="alert">(.*?)</div>|class="field-error">(.*?)</p>',
                         text(refused), re.S)
    assert problems, text(refused)
    if reason:
        assert reason in text(refused)
    assert login(app.test_client(), password=PASSWORD).status_code == 303
    assert login(app.test_client(), password=new).status_code == 401
    deliver(app)
    assert smtp.messages == []


def test_a_new_password_signs_out_everywhere_else(app, db, smtp, citizen):
    laptop, phone = signed_in(app), signed_in(app)
    client_id, secret = make_client(db)
    tokens = redeem(phone, client_id, secret, get_code(phone, client_id)["code"]).get_json()
    assert "refresh_token" in tokens

    changed = change_password(laptop)

    assert changed.status_code == 303 and changed.location == "/account"
    page = laptop.get("/account")
    assert page.status_code == 200
    assert "Your password has been changed. Your other sessions have been signed out." in text(page)
    assert is_signed_in(laptop) and not is_signed_in(phone)
    assert phone.get("/account").location == "/login?next=/account"
    refreshed = phone.post("/oauth/token", auth=(client_id, secret),
                           data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.get_json()["error"] == "invalid_grant"
    assert login(app.test_client(), password=PASSWORD).status_code == 401
    assert login(app.test_client(), password=NEW_PASSWORD).status_code == 303

    deliver(app)
    notice = smtp.wait_for(1)[0]
    assert notice["To"] == "jean.dupont@example.fr"
    assert notice["Subject"] == "Your Sésame password was changed"
    assert smtp.text(notice).startswith("Your identifier: jean.dupont")
    not_me = link_in(smtp.text(notice), NOT_ME_PATH)
    assert re.fullmatch(NOT_ME_PATH + TOKEN, not_me)
    assert app.test_client().get(not_me).status_code == 200


def test_guessing_the_current_password_hits_the_account_limit(build_app, smtp, db, citizen):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_LOGIN_FREE_FAILURES=2)  # then held from this address
    browser = signed_in(app)

    answers = [change_password(browser, current=f"guess number {i}").status_code for i in range(2)]
    blocked = change_password(browser)  # even the right one, now

    assert answers == [400, 400]
    assert blocked.status_code == 429
    assert "Too many failed attempts. Wait a few minutes." in text(blocked)
    db.rollback()
    unchanged = reread(db, citizen.id)
    assert unchanged.password_changed_at is None
    assert verify_password(unchanged.password_hash, PASSWORD) and not verify_password(unchanged.password_hash,
                                                                                        NEW_PASSWORD)
    deliver(app)
    assert smtp.messages == []


# After a recovery ------------------------------------------------------------------------------------------------

def test_after_a_reset_the_citizen_is_asked_once_to_check_their_details(app, smtp, citizen):
    browser = app.test_client()
    page = browser.get("/recovery/password")
    assert browser.post("/recovery/password", data={"csrf_token": csrf_token(page.data),
                                                    "login": "jean.dupont"}).status_code == 200
    deliver(app)
    link = link_in(smtp.text(smtp.wait_for(1)[0]), RESET_PATH)
    form = browser.get(link)
    done = browser.post(link, data={"csrf_token": csrf_token(form.data), "new_password": NEW_PASSWORD,
                                    "new_password_confirm": NEW_PASSWORD})
    assert done.status_code == 303
    assert login(browser, password=NEW_PASSWORD).status_code == 303

    home = browser.get("/")
    assert home.status_code == 200 and REMINDER_FR in text(home)
    assert 'href="/account"' in text(home)
    details = browser.get("/account")
    assert details.status_code == 200 and REMINDER_FR in text(details)

    assert REMINDER_FR not in text(browser.get("/account"))
    assert REMINDER_FR not in text(browser.get("/"))


def test_an_ordinary_sign_in_brings_no_reminder(app, citizen):
    browser = app.test_client()
    assert login(browser).status_code == 303
    assert REMINDER_FR not in text(browser.get("/"))
    assert REMINDER_FR not in text(browser.get("/account"))
