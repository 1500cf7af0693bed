"""Postal codes are French: five digits. Spaces typed inside (``35 000``) are dropped; anything else is
refused with a message that says what to type."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from idp.models import User

from helpers import csrf_token, login, make_user

ASK = "Saisissez un code postal à cinq chiffres, par exemple 35000."


@pytest.fixture
def browser(app, db):
    """Jean Dupont's browser, signed in, his postal code 29200."""
    user = make_user(db)
    user.postal_code = "29200"
    db.commit()
    signed_in = app.test_client()
    assert login(signed_in).status_code == 303
    return signed_in


def save_postal_code(browser, typed: str):
    page = browser.get("/account")
    return browser.post("/account", data={"csrf_token": csrf_token(page.data), "given_name": "Jean",
                                          "family_name": "Dupont", "email": "jean.dupont@example.fr",
                                          "postal_code": typed})


def stored(db) -> str | None:
    db.rollback()
    db.expire_all()
    return db.scalar(select(User.postal_code).where(User.username == "jean.dupont"))


def postal_code_errors(response) -> list[str]:
    after = html.unescape(response.get_data(as_text=True)).split('name="postal_code"', 1)[1].split("<label", 1)[0]
    return re.findall(r'<p class="field-error">(.*?)</p>', after, re.S)


@pytest.mark.parametrize(("typed", "kept"), [("35000", "35000"), ("35 000", "35000"), (" 01 000 ", "01000"),
                                             ("97\u00a0400", "97400")])
def test_a_five_digit_postal_code_is_kept_without_its_spaces(browser, db, typed, kept):
    assert save_postal_code(browser, typed).status_code == 303

    assert stored(db) == kept


def test_no_postal_code_is_no_postal_code(browser, db):
    assert save_postal_code(browser, "  ").status_code == 303

    assert stored(db) is None


@pytest.mark.parametrize("typed", ["3500", "350000", "35O00", "F-35000", "35000 Rennes", "2A004", "35-000",
                                   "٣٥٠٠٠", "1" * 17])
def test_anything_but_five_digits_is_refused_saying_what_to_type(browser, db, typed):
    answer = save_postal_code(browser, typed)

    assert answer.status_code == 400
    assert postal_code_errors(answer) == [ASK]
    assert stored(db) == "29200"
