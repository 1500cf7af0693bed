"""The homonym's way out: two people share names and a birth date. Under the red hint, "Ce n'est
pas moi : créer mon compte" posts the same sign-up form again with not_me=1; the account is made
as any sign-up is (pending, verified by mail), recorded in the audit log, and marked for the help
desk as a possible duplicate, which the admin API shows and clears. not_me skips the hint and
nothing else, and answers the same whether or not anyone matches, so it is no oracle."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import select

from idp.models import User

from helpers import csrf_token, deliver, link_in, make_client
from test_admin_api import Admin
from test_signup import (
    ALREADY,
    BIRTHDATE,
    NEW_PASSWORD,
    NEWCOMER,
    SENT,
    USERNAME_TAKEN,
    VERIFY_PATH,
    VERIFY_SUBJECT,
    account,
    alert,
    audit_events,
    existing_person,
    field_errors,
    field_value,
    french,
    mails,
    main_content,
    sign_up,
    text,
)

BUTTON = "It's not me: create my account"
SAME_PERSON = {"given_name": "elodie", "family_name": "DUPONT", "birthdate": "04/03/1990"}
NOT_ME_BUTTON = re.compile(r'<button type="submit" form="signup-form" name="not_me" value="1"[^>]*>([^<]*)</button>')


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url)


@pytest.fixture
def admin(app, db) -> Admin:
    client_id, secret = make_client(db, name="Assistance régionale", redirect_uris=[],
                                    grant_types=["client_credentials"], scope="idp:admin")
    return Admin(app, client_id, secret)


def not_me(browser, **typed):
    """The citizen answers the red hint: the same form, again, with not_me=1."""
    return sign_up(browser, not_me="1", **{**SAME_PERSON, **typed})


# The button ---------------------------------------------------------------------------------------------------------

def test_the_button_is_under_the_red_hint_and_submits_the_sign_up_form(client, db):
    existing_person(db)

    page = text(sign_up(client, **SAME_PERSON))

    assert alert(page).startswith(ALREADY.format("jea•••@o•••.fr"))
    hint = re.search(r'<div class="error" role="alert">(.*?)</div>', page, re.S).group(1)
    assert [label.strip() for label in NOT_ME_BUTTON.findall(hint)] == [BUTTON]
    assert '<form id="signup-form" method="post" action="/signup"' in page
    assert 'name="not_me" type="hidden"' not in page  # the choice is the button's, not yet the form's


@pytest.mark.parametrize("typed", [{}, {"email": "not an address"}], ids=["blank-form", "form-with-an-error"])
def test_no_button_without_the_hint(client, db, typed):
    existing_person(db)
    page = text(client.get("/signup?lang=en")) if not typed else text(sign_up(client, **typed))

    assert "<h1>Create your Sésame account</h1>" in page
    assert NOT_ME_BUTTON.search(page) is None and BUTTON not in page.replace("&#39;", "'")


def test_the_button_in_french(client, db, app):
    existing_person(db)

    page = text(sign_up(client, lang=None, **SAME_PERSON))

    label = french(app, BUTTON)
    assert label == "Ce n’est pas moi\u00a0: créer mon compte"
    assert [found.strip() for found in NOT_ME_BUTTON.findall(page)] == [label]


# What it does -------------------------------------------------------------------------------------------------------

def test_not_me_makes_a_pending_account_marked_for_the_help_desk_and_mails_the_link(client, db, smtp, app, caplog):
    caplog.set_level(logging.INFO, logger="idp.audit")
    owner = existing_person(db)

    answer = not_me(client)

    assert answer.status_code == 200, answer.data
    assert SENT in text(answer) and "•••" not in text(answer)
    created = account(db, NEWCOMER["username"])
    assert (created.status, created.email_verified, created.possible_duplicate_of) == ("pending", False, owner.id)
    assert (created.given_name, created.family_name, created.birthdate) == ("elodie", "DUPONT", BIRTHDATE)
    (mail,) = mails(app, smtp, 1)  # the new address only: the other account's owner is not told
    assert (mail["To"], mail["Subject"]) == (NEWCOMER["email"], VERIFY_SUBJECT)
    marked = audit_events(caplog, "signup.possible_duplicate")
    assert [(event["user_id"], event["details"]) for event in marked] == [(created.id, {"same_person_as": [owner.id]})]
    assert [event["details"] for event in audit_events(caplog, "signup.requested")] == [
        {"username": NEWCOMER["username"], "not_me": True}]
    assert audit_events(caplog, "signup.hint_shown") == []


def test_the_mark_survives_the_verification(client, db, smtp, app):
    owner = existing_person(db)
    not_me(client)
    link = link_in(smtp.text(mails(app, smtp, 1)[0]), VERIFY_PATH)
    page = client.get(link)

    confirmed = client.post(link, data={"csrf_token": csrf_token(page.data), "password": NEW_PASSWORD})

    assert confirmed.status_code == 303, confirmed.data
    verified = account(db, NEWCOMER["username"])
    assert (verified.status, verified.email_verified, verified.possible_duplicate_of) == ("active", True, owner.id)


def test_not_me_without_anyone_matching_makes_an_ordinary_unmarked_account(client, db, smtp, app, caplog):
    caplog.set_level(logging.INFO, logger="idp.audit")
    existing_person(db)

    answer = not_me(client, given_name="Paul")

    assert answer.status_code == 200, answer.data
    created = account(db, NEWCOMER["username"])
    assert (created.status, created.possible_duplicate_of) == ("pending", None)
    assert mails(app, smtp, 1)[0]["To"] == NEWCOMER["email"]
    assert audit_events(caplog, "signup.possible_duplicate") == []


@pytest.mark.parametrize("value", ["", "0", "yes", "true", "11"])
def test_any_other_not_me_value_is_an_ordinary_sign_up_that_gets_the_hint(client, db, value):
    existing_person(db)

    answer = sign_up(client, not_me=value, **SAME_PERSON)

    assert answer.status_code == 409
    assert alert(text(answer)).startswith(ALREADY.format("jea•••@o•••.fr"))
    assert account(db, NEWCOMER["username"]) is None


def test_not_me_is_kept_in_the_form_while_it_is_corrected(client, db, smtp, app):
    owner = existing_person(db)

    corrected = not_me(client, password="", password_confirm="")  # the hint page does not keep passwords

    assert corrected.status_code == 400
    page = text(corrected)
    assert "•••" not in page and NOT_ME_BUTTON.search(page) is None
    assert field_value(page, "not_me") == "1" and field_value(page, "given_name") == "elodie"
    assert len(field_errors(page)) == 2 and account(db, NEWCOMER["username"]) is None

    again = not_me(client)  # as the page's own button sends it, with the hidden not_me

    assert again.status_code == 200, again.data
    assert account(db, NEWCOMER["username"]).possible_duplicate_of == owner.id


def test_when_the_other_account_goes_the_mark_goes_with_it(client, db, smtp, app):
    owner = existing_person(db)
    not_me(client)
    db.rollback()

    db.delete(db.get(User, owner.id))
    db.commit()

    assert account(db, NEWCOMER["username"]).possible_duplicate_of is None


# Attacks: no oracle, nothing skipped --------------------------------------------------------------------------------

def test_not_me_answers_the_same_whether_or_not_someone_matches_even_past_the_hint_limits(build_app, smtp, db):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_SIGNUP_HINT_RATE_LIMIT="1 per hour",
                    IDP_SIGNUP_HINT_PERSON_RATE_LIMIT="1 per day")
    owner = existing_person(db)
    browser = app.test_client()
    assert sign_up(browser, **SAME_PERSON).status_code == 409
    assert sign_up(browser, **SAME_PERSON).status_code == 429  # the hint's limit is reached

    matching = not_me(browser, email="a1@example.org", username="homonym1")
    nobody = not_me(browser, given_name="Personne", email="a2@example.org", username="homonym2")

    assert (matching.status_code, nobody.status_code) == (200, 200)
    assert main_content(text(matching)) == main_content(text(nobody))
    assert SENT in text(matching) and "•••" not in text(matching) and "jea" not in main_content(text(matching))
    assert (account(db, "homonym1").possible_duplicate_of, account(db, "homonym2").possible_duplicate_of) == (owner.id, None)


@pytest.mark.parametrize(("typed", "status", "expected"), [
    ({"password": "password1234567", "password_confirm": "password1234567"}, 400, "field-error"),
    ({"password": "elodie dupont 1990", "password_confirm": "elodie dupont 1990"}, 400, "field-error"),
    ({"password_confirm": "another passphrase entirely"}, 400, "The two passwords differ."),
    ({"email": "jeanne.martin@orange"}, 400, "Enter a valid e-mail address."),
    ({"birthdate": "31/02/1990"}, 400, "This date does not exist: check the day and the month."),
    ({"username": "elodie.dupont"}, 409, USERNAME_TAKEN),
], ids=["common-password", "own-names-as-password", "passwords-differ", "bad-address", "bad-date", "identifier-taken"])
def test_not_me_skips_nothing_the_ordinary_sign_up_requires(client, db, smtp, app, typed, status, expected):
    existing_person(db)

    answer = not_me(client, **typed)

    assert answer.status_code == status, answer.data
    assert "<h1>Create your Sésame account</h1>" in text(answer)
    assert expected in text(answer).replace("&#39;", "'")
    assert "•••" not in text(answer)
    assert [user.username for user in db.scalars(select(User))] == ["elodie.dupont"]
    mails(app, smtp, 0)


def test_not_me_without_the_form_token_is_refused(client, db, smtp, app):
    existing_person(db)
    form = {**NEWCOMER, **SAME_PERSON, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "not_me": "1"}

    answer = client.post("/signup?lang=en", data=form)

    assert answer.status_code == 400
    assert "This form has expired" in text(answer)
    assert deliver(app) == 0 and account(db, NEWCOMER["username"]) is None


def test_not_me_with_an_address_in_use_tells_its_owner_and_makes_no_account(client, db, smtp, app):
    owner = existing_person(db)

    answer = not_me(client, email=owner.email)

    assert answer.status_code == 200 and SENT in text(answer)
    (mail,) = mails(app, smtp, 1)
    assert mail["To"] == owner.email and mail["Subject"] == "Someone tried to sign up with your address"
    assert account(db, NEWCOMER["username"]) is None


def test_not_me_counts_against_the_sign_up_limit(build_app, smtp, db):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_SIGNUP_RATE_LIMIT="2/minute")
    existing_person(db)
    browser = app.test_client()

    answers = [not_me(browser, email=f"n{n}@example.org", username=f"homonym{n}") for n in range(3)]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert account(db, "homonym2") is None


# The help desk's side: the admin API --------------------------------------------------------------------------------

def test_the_admin_api_shows_the_mark_and_clears_it(client, db, smtp, app, admin):
    owner = existing_person(db)
    not_me(client)
    created = account(db, NEWCOMER["username"])

    assert admin.user(created.id)["possible_duplicate_of"] == owner.id
    assert admin.user(owner.username)["possible_duplicate_of"] is None
    found = admin.get("/admin/api/users", q="Élodie Dupont").get_json()["users"]
    assert {user["username"]: user["possible_duplicate_of"] for user in found} == {
        "elodie.dupont": None, NEWCOMER["username"]: owner.id}

    cleared = admin.patch(f"/admin/api/users/{created.id}", {"possible_duplicate_of": None})

    assert cleared.status_code == 200, cleared.data
    assert cleared.get_json()["possible_duplicate_of"] is None
    assert account(db, NEWCOMER["username"]).possible_duplicate_of is None
    events = admin.events(action="admin.duplicate_mark_cleared")
    assert [(event["user_id"], event["details"]) for event in events] == [(created.id, {"same_person_as": owner.id})]
    assert events[0]["actor"] == f"admin:{admin.client_id}"


@pytest.mark.parametrize("value", [1, "1", True, 0, [], {}])
def test_the_admin_api_only_clears_the_mark(client, db, smtp, app, admin, value):
    owner = existing_person(db)
    not_me(client)
    created = account(db, NEWCOMER["username"])

    refused = admin.patch(f"/admin/api/users/{created.id}", {"possible_duplicate_of": value})

    assert refused.status_code == 400, refused.data
    assert refused.get_json()["error"] == "invalid_request"
    assert "possible_duplicate_of" in refused.get_json()["error_description"]
    assert account(db, NEWCOMER["username"]).possible_duplicate_of == owner.id


def test_the_openapi_description_names_the_mark(client):
    document = client.get("/admin/api/openapi.json").get_json()

    user = document["components"]["schemas"]["User"]["properties"]
    assert user["possible_duplicate_of"]["type"] == ["integer", "null"]
    patch = document["paths"]["/admin/api/users/{user}"]["patch"]["requestBody"]["content"]["application/json"]
    assert patch["schema"]["properties"]["possible_duplicate_of"]["type"] == "null"
