"""Birth dates the French way: ``03/11/1987`` (or with ``-``, ``.`` or spaces) and ``1987-11-03`` are
read wherever a birth date is asked (sign-up, the help form, the account page), and what cannot be a
date of birth is refused with a message that says what to type, in French."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from sqlalchemy import select

from idp.identity import parse_birthdate
from idp.models import HelpRequest, User

from helpers import PASSWORD, csrf_token, deliver, login, make_user

BORN = dt.date(1987, 11, 3)
TYPED_AS_PEOPLE_DO = ["03/11/1987", "3/11/1987", "03-11-1987", "03.11.1987", "03 11 1987", " 3 / 11 / 1987 ",
                      "03111987", "1987-11-03", "1987-11-3"]
TOMORROW = (dt.date.today() + dt.timedelta(days=1)).strftime("%d/%m/%Y")
UNREADABLE = "Saisissez votre date de naissance au format JJ/MM/AAAA, par exemple 14/07/1984."
NO_SUCH_DAY = "Cette date n’existe pas\u00a0: vérifiez le jour et le mois."
FUTURE = "Une date de naissance ne peut pas être dans le futur\u00a0: vérifiez l’année."
TOO_OLD = "Saisissez une date de naissance à partir du 1er janvier 1900."
MISSING = "Saisissez votre date de naissance, par exemple 14/07/1984."
REFUSED = [  # (typed, the French message under the field)
    ("03/11/87", UNREADABLE),
    ("1987/11/03", UNREADABLE),
    ("3 novembre 1987", UNREADABLE),
    ("03/11/1987/", UNREADABLE),
    ("0311198", UNREADABLE),
    ("٠٣/١١/١٩٨٧", UNREADABLE),  # Arabic-Indic digits: not what the hint asks
    ("31/02/1990", NO_SUCH_DAY),
    ("29/02/1990", NO_SUCH_DAY),
    ("03/13/1987", NO_SUCH_DAY),
    ("1987-02-30", NO_SUCH_DAY),
    (TOMORROW, FUTURE),
    ("31/12/1899", TOO_OLD),
    ("1850-01-01", TOO_OLD),
]
HINT_FR = "Format\u00a0: JJ/MM/AAAA, par exemple 14/07/1984."
HINT_EN = "Format: DD/MM/YYYY, for example 14/07/1984."
SIGNUP = {"given_name": "Camille", "family_name": "Martin", "email": "camille.martin@example.org",
          "username": "camille.martin", "password": "a walk along the river at dawn",
          "password_confirm": "a walk along the river at dawn"}
HELP = {"given_name": "Élodie", "family_name": "Martin-Lefèvre", "username": "",
        "new_email": "elodie.nouvelle@laposte.example", "message": "J’ai perdu l’accès à ma messagerie."}


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url, IDP_HELPDESK_EMAIL="assistance@region.example")


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def birthdate_errors(page: str) -> list[str]:
    """The messages shown under the birth date field (the one before the next field's label)."""
    after = page.split('name="birthdate"', 1)[1].split("<label", 1)[0]
    return re.findall(r'<p class="field-error">(.*?)</p>', after, re.S)


def birthdate_input(page: str) -> str:
    return re.search(r'<input[^>]*name="birthdate"[^>]*>', page).group(0)


def post_form(browser, path: str, **fields):
    """Open the page at ``path`` (French, the default), fill in its form, submit it."""
    page = browser.get(path)
    assert page.status_code == 200, page.data
    return browser.post(path, data={"csrf_token": csrf_token(page.data), **fields})


def reread(db, model, **where):
    db.rollback()  # a fresh look at what the requests committed
    db.expire_all()
    return db.scalars(select(model).filter_by(**where)).all()


# One reading of a birth date ------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", TYPED_AS_PEOPLE_DO)
def test_a_birthdate_is_read_day_first_or_year_first(typed):
    assert parse_birthdate(typed) == BORN


@pytest.mark.parametrize("typed", ["", "  ", "03/11/87", "1987/11/03", "31/02/1990", "3.11", "1987-11-03T00:00",
                                   "03//11/1987", "03/11/19870", "+3/11/1987"])
def test_what_is_no_day_of_the_calendar_is_not_read(typed):
    assert parse_birthdate(typed) is None


# Sign-up ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", TYPED_AS_PEOPLE_DO)
def test_sign_up_accepts_the_date_typed_as_people_write_it(app, client, db, typed):
    answer = post_form(client, "/signup", **SIGNUP, birthdate=typed)

    assert answer.status_code == 200, birthdate_errors(text(answer))
    deliver(app)
    (created,) = reread(db, User, username="camille.martin")
    assert created.birthdate == BORN


@pytest.mark.parametrize(("typed", "message"), REFUSED)
def test_sign_up_says_in_french_what_to_type(app, client, db, typed, message):
    answer = post_form(client, "/signup", **SIGNUP, birthdate=typed)

    assert answer.status_code == 400
    page = text(answer)
    assert birthdate_errors(page) == [message]
    assert f'value="{typed}"' in birthdate_input(page)  # kept, to be corrected
    deliver(app)
    assert reread(db, User, username="camille.martin") == []


@pytest.mark.parametrize("typed", ["", "   "])
def test_sign_up_without_a_birthdate_asks_for_it(client, typed):
    answer = post_form(client, "/signup", **SIGNUP, birthdate=typed)

    assert answer.status_code == 400
    assert birthdate_errors(text(answer)) == [MISSING]


# The help form ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["03/11/1987", "03.11.1987", "1987-11-03"])
def test_the_help_form_files_the_date_typed_as_people_write_it(client, db, typed):
    answer = post_form(client, "/recovery/help", **HELP, birthdate=typed)

    assert answer.status_code == 200, birthdate_errors(text(answer))
    (filed,) = reread(db, HelpRequest)
    assert filed.birthdate == BORN


@pytest.mark.parametrize(("typed", "message"), [*REFUSED, ("", MISSING)])
def test_the_help_form_says_in_french_what_to_type(client, db, typed, message):
    answer = post_form(client, "/recovery/help", **HELP, birthdate=typed)

    assert answer.status_code == 400
    assert birthdate_errors(text(answer)) == [message]
    assert reread(db, HelpRequest) == []


# The account page -------------------------------------------------------------------------------------------------

@pytest.fixture
def citizen(db):
    return make_user(db, birthdate=dt.date(1970, 3, 2))


@pytest.fixture
def browser(app, citizen):
    """Jean Dupont's browser, signed in."""
    signed_in = app.test_client()
    assert login(signed_in).status_code == 303
    return signed_in


def save_birthdate(browser, typed: str, current_password: str | None = PASSWORD):
    details = {"given_name": "Jean", "family_name": "Dupont", "email": "jean.dupont@example.fr", "birthdate": typed}
    if current_password is not None:
        details["current_password"] = current_password
    return post_form(browser, "/account", **details)


def test_the_account_page_shows_the_birthdate_the_french_way(browser):
    page = text(browser.get("/account"))

    assert 'value="02/03/1970"' in birthdate_input(page)


@pytest.mark.parametrize("typed", ["03/11/1987", "3-11-1987", "03 11 1987", "1987-11-03"])
def test_the_account_page_saves_the_date_typed_as_people_write_it(browser, db, citizen, typed):
    answer = save_birthdate(browser, typed)

    assert answer.status_code == 303 and answer.location == "/account"
    assert reread(db, User, id=citizen.id)[0].birthdate == BORN
    assert 'value="03/11/1987"' in birthdate_input(text(browser.get("/account")))


def test_the_same_date_typed_another_way_needs_no_password(browser, db, citizen):
    """2/3/1970 is the stored 1970-03-02: nothing guarded changes."""
    answer = save_birthdate(browser, "2/3/1970", current_password=None)

    assert answer.status_code == 303
    assert reread(db, User, id=citizen.id)[0].birthdate == dt.date(1970, 3, 2)


def test_a_new_birthdate_still_needs_the_current_password(browser, db, citizen):
    answer = save_birthdate(browser, "03/11/1987", current_password=None)

    assert answer.status_code == 400
    assert "Saisissez votre mot de passe actuel" in text(answer)
    assert reread(db, User, id=citizen.id)[0].birthdate == dt.date(1970, 3, 2)


@pytest.mark.parametrize(("typed", "message"), REFUSED)
def test_the_account_page_says_in_french_what_to_type(browser, db, citizen, typed, message):
    answer = save_birthdate(browser, typed)

    assert answer.status_code == 400
    assert birthdate_errors(text(answer)) == [message]
    assert reread(db, User, id=citizen.id)[0].birthdate == dt.date(1970, 3, 2)


# What the pages say to type -------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/signup", "/recovery/help", "/account"])
@pytest.mark.parametrize(("lang", "hint", "placeholder"), [("fr", HINT_FR, "JJ/MM/AAAA"),
                                                           ("en", HINT_EN, "DD/MM/YYYY")])
def test_the_hint_and_placeholder_give_the_format_in_the_page_language(app, browser, path, lang, hint, placeholder):
    page = text((browser if path == "/account" else app.test_client()).get(f"{path}?lang={lang}"))

    field = birthdate_input(page)
    assert f'placeholder="{placeholder}"' in field and 'autocomplete="bday"' in field
    assert f'<p class="hint" id="birthdate-hint">{hint}</p>' in page
    assert "YYYY-MM-DD" not in page and "AAAA-MM-JJ" not in page
