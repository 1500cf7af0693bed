"""An e-mail address is one bare address, wherever it enters (forms, the admin API, the command
line), and the mailer never sends to anything else: a list or a display name would expand to other
recipients (``victim@corp.fr,attacker``, ``x<attacker@evil.com>``)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from idp import create_app, mail
from idp.config import ConfigError
from idp.models import User
from idp.users import valid_email

from helpers import PASSWORD, csrf_token, deliver, login, make_client, make_user

ROOT = Path(__file__).resolve().parent.parent
NEW_PASSWORD = "Quartz lanterne boréale 47 !"
FRENCH_ERROR = "Saisissez une adresse électronique valide."
NOT_ONE_ADDRESS = [
    "victim@corp.fr,attacker",
    "victim@corp.fr, attacker@evil.com",
    "victim@corp.fr;attacker@evil.com",
    "victim@corp.fr attacker@evil.com",
    "x<attacker@evil.com>",
    "Jean Dupont <jean.dupont@example.fr>",
    '"attacker@evil.com"@corp.fr',
    "victim@corp.fr\r\nBcc: attacker@evil.com",
    "jean@[192.0.2.7]",
    "jean@localhost",
    "jean.dupont@",
    "@example.fr",
    "jean@@example.fr",
    "a" * 250 + "@x.fr",
    "",
]


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url)


# The one check -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", NOT_ONE_ADDRESS)
def test_anything_but_one_bare_address_is_refused(typed):
    assert valid_email(typed) is None


@pytest.mark.parametrize(("typed", "kept"), [
    ("jean.dupont@example.fr", "jean.dupont@example.fr"),
    ("  Jean.Dupont@Example.FR ", "Jean.Dupont@example.fr"),  # the domain is case-blind, the mailbox may not be
    ("jeanne+sesame@mail.example.co.uk", "jeanne+sesame@mail.example.co.uk"),
    ("élodie@exemple.fr", "élodie@exemple.fr"),  # internationalised (RFC 6531): kept, sent with SMTPUTF8
    ("marc@élysée.fr", "marc@élysée.fr"),
])
def test_one_address_is_kept_normalised(typed, kept):
    assert valid_email(typed) == kept


# Where addresses enter ----------------------------------------------------------------------------------------

def sign_up(browser, email: str):
    page = browser.get("/signup")
    form = {"csrf_token": csrf_token(page.data), "given_name": "Camille", "family_name": "Martin",
            "birthdate": "1992-05-17", "email": email, "username": "camille.martin",
            "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    return browser.post("/signup", data=form)


@pytest.mark.parametrize("typed", ["victim@corp.fr,attacker", "x<attacker@evil.com>"])
def test_sign_up_refuses_a_list_or_a_display_name_and_mails_nobody(app, db, smtp, typed):
    answer = sign_up(app.test_client(), typed)
    deliver(app)

    assert answer.status_code == 400
    assert FRENCH_ERROR in answer.get_data(as_text=True)
    assert db.scalars(select(User)).all() == []
    assert smtp.messages == []


def test_sign_up_with_an_internationalised_address_mails_that_address(app, db, smtp):
    answer = sign_up(app.test_client(), "élodie@exemple.fr")
    deliver(app)

    assert answer.status_code == 200
    [message] = smtp.wait_for(1)
    assert message["To"] == "élodie@exemple.fr"


@pytest.mark.parametrize("typed", ["victim@corp.fr,attacker", "x<attacker@evil.com>"])
def test_the_help_form_refuses_a_list_or_a_display_name(app, db, typed):
    browser = app.test_client()
    page = browser.get("/recovery/help")
    answer = browser.post("/recovery/help", data={
        "csrf_token": csrf_token(page.data), "given_name": "Jean", "family_name": "Dupont",
        "birthdate": "1980-05-17", "new_email": typed, "message": ""})

    assert answer.status_code == 400
    assert FRENCH_ERROR in answer.get_data(as_text=True)


def test_the_account_page_refuses_a_list_as_the_new_address(app, db):
    make_user(db)
    browser = app.test_client()
    login(browser)
    page = browser.get("/account")
    answer = browser.post("/account", data={
        "csrf_token": csrf_token(page.data), "given_name": "Jean", "family_name": "Dupont",
        "email": "jean.dupont@example.fr,attacker", "current_password": PASSWORD})

    assert answer.status_code == 400
    assert FRENCH_ERROR in answer.get_data(as_text=True)
    db.expire_all()
    assert db.scalar(select(User.email)) == "jean.dupont@example.fr"


def admin_token(browser, db) -> str:
    client_id, secret = make_client(db, name="Assistance", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin")
    response = browser.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "idp:admin"},
                            auth=(client_id, secret))
    return response.get_json()["access_token"]


@pytest.mark.parametrize("typed", ["victim@corp.fr,attacker", "x<attacker@evil.com>", ["a@x.fr"]])
def test_the_admin_api_refuses_a_list_or_a_display_name(app, db, smtp, typed):
    user_id = make_user(db).id
    browser = app.test_client()
    token = admin_token(browser, db)

    answer = browser.patch(f"/admin/api/users/{user_id}", json={"email": typed},
                           headers={"Authorization": f"Bearer {token}"})
    deliver(app)

    assert answer.status_code == 400
    assert answer.get_json()["error"] == "invalid_request"
    db.expire_all()
    assert db.scalar(select(User.email)) == "jean.dupont@example.fr"
    assert smtp.messages == []


def test_the_admin_api_keeps_the_address_normalised(app, db):
    user_id = make_user(db).id
    browser = app.test_client()
    answer = browser.patch(f"/admin/api/users/{user_id}", json={"email": " Jeanne.Dupont@Orange.FR "},
                           headers={"Authorization": f"Bearer {admin_token(browser, db)}"})

    assert answer.status_code == 200, answer.data
    assert answer.get_json()["email"] == "Jeanne.Dupont@orange.fr"


def run_cli(app_config, *args: str) -> subprocess.CompletedProcess:
    """`idp ...` from this checkout, with the settings of the `app` fixture."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("IDP_")}
    env.update({name: str(value) for name, value in app_config.items()})
    return subprocess.run([sys.executable, "-c", "from idp.cli import main; main()", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("typed", ["victim@corp.fr,attacker", "x<attacker@evil.com>"])
def test_the_command_line_refuses_a_list_or_a_display_name(app_config, app, db, typed):
    result = run_cli(app_config, "users", "add", "--username", "camille", "--email", typed,
                     "--given-name", "Camille", "--family-name", "Martin")

    assert result.returncode == 2, result.stderr
    assert "--email" in result.stderr and "one e-mail address" in result.stderr
    assert db.scalars(select(User)).all() == []


# The mailer, whatever it is given ----------------------------------------------------------------------------

@pytest.mark.parametrize("to", ["victim@corp.fr,attacker@evil.com", "x<attacker@evil.com>",
                                "victim@corp.fr\nBcc: attacker@evil.com"])
def test_the_mailer_never_sends_to_anything_but_one_bare_address(app, smtp, to):
    with app.test_request_context():
        mail.send(to, "recovery/identifier", "Votre identifiant", user=None)
    deliver(app)

    assert smtp.messages == []
    [dropped] = app.extensions["idp.jobs"].dead()
    assert dropped["reason"] == "the recipient is not one bare e-mail address"
    assert "evil" not in dropped["reason"]


def test_the_mailer_sends_to_the_one_address_it_is_given(app, smtp):
    with app.test_request_context():
        mail.send("Jean.Dupont@Example.FR", "recovery/identifier", "Votre identifiant",
                  user=User(username="jean.dupont"))
    deliver(app)

    [message] = smtp.wait_for(1)
    assert message["To"] == "Jean.Dupont@example.fr"


@pytest.mark.parametrize("configured", ["desk@region.fr,attacker@evil.com", "Assistance <desk@region.fr>"])
def test_the_help_desk_address_must_be_one_bare_address_or_the_start_stops(app_config, configured):
    with pytest.raises(ConfigError, match=r"^IDP_HELPDESK_EMAIL: must be one e-mail address"):
        create_app({**app_config, "IDP_HELPDESK_EMAIL": configured})
