"""Je n'ai plus accès à mon adresse: a citizen who lost their mailbox files a request at
/recovery/help; it is stored for the help desk, mailed to it through a real SMTP sink, and the
citizen is told its number and what happens next."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from idp.models import HelpRequest

from helpers import csrf_token, deliver, make_user

HELP_DESK = "assistance@region.example"
DETAILS = {
    "given_name": "Élodie",
    "family_name": "Martin-Lefèvre",
    "birthdate": "1984-07-14",
    "username": "",
    "new_email": "elodie.nouvelle@laposte.example",
    "message": "J'ai perdu l'accès à ma messagerie professionnelle.\r\nJ'utilise le service des transports.",
}
BIRTHDATE = dt.date(1984, 7, 14)
STRONG_PASSWORD = "Quartz lanterne boréale 47 !"  # passes the policy, for the sign-up form


@pytest.fixture
def app(build_app, smtp):
    """Mails go to the real SMTP sink; the help desk has an address."""
    return build_app(IDP_SMTP_URL=smtp.url, IDP_HELPDESK_EMAIL=HELP_DESK)


# What the citizen does and sees ----------------------------------------------------------------------------------

def ask_for_help(browser, query="", csrf=True, **typed):
    """Open the help form, fill it in (``DETAILS`` changed by ``typed``; None leaves a field out), submit."""
    page = browser.get("/recovery/help" + (f"?{query}" if query else ""))
    assert page.status_code == 200, page.data
    form = {name: value for name, value in {**DETAILS, **typed}.items() if value is not None}
    if csrf:
        form["csrf_token"] = csrf_token(page.data)
    return browser.post("/recovery/help", data=form)


class FormOnPage(HTMLParser):
    """The values a form shows (inputs and textareas) and the error under each field."""

    def __init__(self, html: str):
        super().__init__()
        self.values: dict[str, str] = {}
        self.errors: dict[str, list[str]] = {}
        self.links: dict[str, str] = {}
        self._textarea = self._last_field = self._error = self._link = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name"):
            self.values[attrs["name"]] = attrs.get("value") or ""
            self._last_field = attrs["name"]
        elif tag == "textarea":
            self._textarea = self._last_field = attrs["name"]
            self.values[self._textarea] = ""
        elif tag == "p" and "field-error" in (attrs.get("class") or ""):
            self._error = self._last_field
            self.errors.setdefault(self._error, []).append("")
        elif tag == "a":
            self._link = attrs.get("href")
            self.links[self._link] = ""

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data
        if self._error:
            self.errors[self._error][-1] += data
        if self._link is not None:
            self.links[self._link] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            # HTML drops the newline right after <textarea>: WTForms writes one.
            self.values[self._textarea] = re.sub(r"^\r?\n", "", self.values[self._textarea])
            self._textarea = None
        elif tag == "p":
            self._error = None
        elif tag == "a":
            self._link = None


def page_text(response) -> str:
    return response.get_data(as_text=True)


def filed(db) -> list[HelpRequest]:
    db.rollback()  # a fresh look at what the requests committed
    return list(db.scalars(select(HelpRequest).order_by(HelpRequest.id)))


def help_desk_mail(app, smtp):
    """The one mail the help desk received (the account's owner may be told too: see test_takeover)."""
    deliver(app)
    smtp.wait_for(1)
    (mail,) = [message for message in smtp.messages if message["To"] == app.config["IDP_HELPDESK_EMAIL"]]
    return mail


# A request is filed -----------------------------------------------------------------------------------------------

def test_request_is_stored_open_with_what_was_typed(client, db):
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=5)

    response = ask_for_help(client, username="  elodie.martin ", given_name="  Élodie ")

    assert response.status_code == 200, response.data
    (request,) = filed(db)
    assert request.state == "open"
    assert (request.given_name, request.family_name, request.birthdate) == ("Élodie", "Martin-Lefèvre", BIRTHDATE)
    assert request.username == "elodie.martin"
    assert request.new_email == "elodie.nouvelle@laposte.example"
    assert request.message.replace("\r\n", "\n") == DETAILS["message"].replace("\r\n", "\n")
    assert request.lang == "fr"
    assert request.user_id is None  # nobody with these details
    assert before <= request.created_at <= dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(seconds=5)
    assert (request.closed_at, request.closed_by, request.reason) == (None, None, None)


def test_optional_fields_may_stay_empty(client, db):
    response = ask_for_help(client, username=None, message=None)

    assert response.status_code == 200, response.data
    (request,) = filed(db)
    assert (request.username, request.message) == (None, "")


def test_citizen_sees_the_number_and_what_happens_next(client, db):
    response = ask_for_help(client)

    (request,) = filed(db)
    text = page_text(response)
    assert "Votre demande a été envoyée" in text
    assert f"Votre demande n°\u00a0{request.id} est parvenue à l’assistance." in text
    assert "La suite\u00a0: un agent vérifie votre identité" in text
    assert FormOnPage(text).links.get("/login") == "Retour"


def test_help_desk_gets_the_details_and_number_in_french(app, client, db, smtp):
    ask_for_help(client)
    (request,) = filed(db)

    mail = help_desk_mail(app, smtp)

    assert mail["To"] == HELP_DESK
    assert mail["Subject"] == f"Demande d’assistance n° {request.id} : messagerie perdue"
    assert mail["Content-Language"] == "fr"
    text = smtp.text(mail)
    assert "Un usager qui n’a plus accès à sa messagerie demande de l’aide." in text
    assert f"Demande n° {request.id}" in text.splitlines()
    for line in ("Prénom: Élodie", "Nom de famille: Martin-Lefèvre", "Date de naissance: 1984-07-14",
                 "Identifiant: —", "Nouvelle adresse électronique: elodie.nouvelle@laposte.example",
                 "Compte correspondant: aucun trouvé, ou plusieurs"):
        assert line in text.splitlines(), (line, text)
    assert "J'ai perdu l'accès à ma messagerie professionnelle." in text
    assert "J'utilise le service des transports." in text
    html = smtp.html(mail)
    assert f"<td>{request.id}</td>" in html
    assert "<td>elodie.nouvelle@laposte.example</td>" in html


def test_english_citizen_reads_english_and_the_help_desk_still_reads_french(app, client, db, smtp):
    response = ask_for_help(client, query="lang=en")

    (request,) = filed(db)
    text = page_text(response)
    assert f"Your request no. {request.id} has reached the help desk." in text
    assert "What happens next: an agent checks your identity" in text
    assert request.lang == "en"  # the help desk answers the citizen in their language
    mail = help_desk_mail(app, smtp)
    assert mail["Subject"] == f"Demande d’assistance n° {request.id} : messagerie perdue"
    assert "Compte correspondant: aucun trouvé, ou plusieurs" in smtp.text(mail)


def test_without_a_help_desk_address_the_request_is_stored_and_nobody_is_mailed(build_app, db, smtp):
    no_desk = build_app(IDP_SMTP_URL=smtp.url)

    response = ask_for_help(no_desk.test_client())

    assert response.status_code == 200, response.data
    (request,) = filed(db)
    assert request.state == "open"
    assert f"Votre demande n°\u00a0{request.id} est enregistrée, mais ce service n’a pas d’adresse d’assistance" \
        in page_text(response)
    assert deliver(no_desk) == 0
    assert smtp.messages == []


def test_each_request_gets_its_own_number(client, db):
    first = ask_for_help(client)
    second = ask_for_help(client, new_email="autre.adresse@laposte.example")

    requests = filed(db)
    assert len(requests) == 2 and requests[0].id != requests[1].id
    assert f"n°\u00a0{requests[0].id} " in page_text(first)
    assert f"n°\u00a0{requests[1].id} " in page_text(second)


def test_pending_authorization_is_carried_back_to_sign_in(client, db):
    page = client.get("/recovery/help?rid=Abc_123-x")
    assert FormOnPage(page_text(page)).values["rid"] == "Abc_123-x"

    response = ask_for_help(client, query="rid=Abc_123-x", rid="Abc_123-x")

    assert response.status_code == 200, response.data
    assert FormOnPage(page_text(response)).links.get("/login?rid=Abc_123-x") == "Retour"


# Which account the request points to ----------------------------------------------------------------------------

@pytest.fixture
def homonyms(db):
    """Two Élodie Martin-Lefèvre born the same day, and one born another day (no password: not needed)."""
    return [
        make_user(db, username="elodie.martin", email="elodie.martin@orange.example", given_name="Élodie",
                  family_name="Martin-Lefèvre", birthdate=BIRTHDATE, password=None).id,
        make_user(db, username="Elodie.Martin2", email="e.martin@free.example", given_name="Elodie",
                  family_name="MARTIN LEFEVRE", birthdate=BIRTHDATE, password=None).id,
        make_user(db, username="elodie.ml", email="eml@sfr.example", given_name="Élodie",
                  family_name="Martin-Lefèvre", birthdate=dt.date(1990, 3, 2), password=None).id,
    ]


@pytest.mark.parametrize(
    ("typed", "account"),
    [
        ({"birthdate": "1990-03-02"}, 2),  # the only one born that day
        ({"given_name": "ELODIE", "family_name": "martin lefevre", "birthdate": "1990-03-02"}, 2),
        ({"given_name": "Élodie", "family_name": "Martin–Lefèvre", "birthdate": "1990-03-02"}, 2),  # en dash
        ({"birthdate": "1990-03-03"}, None),  # nobody born that day
        ({"family_name": "Martin"}, None),  # part of the name is not the name
        ({}, None),  # two homonyms: the help desk must find out which
        ({"username": "elodie.martin"}, 0),  # the identifier tells the homonyms apart
        ({"username": " ELODIE.MARTIN2 "}, 1),  # typed as the citizen remembers it
        ({"username": "elodie.inconnue"}, None),  # matches neither homonym
    ],
)
def test_request_points_to_the_matching_account(app, client, db, smtp, homonyms, typed, account):
    ask_for_help(client, **typed)

    (request,) = filed(db)
    expected = None if account is None else homonyms[account]
    assert request.user_id == expected
    text = smtp.text(help_desk_mail(app, smtp))
    shown = "aucun trouvé, ou plusieurs" if expected is None else str(expected)
    assert f"Compte correspondant: {shown}" in text.splitlines()


# Bad inputs ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("typed", "field", "error"),
    [
        ({"given_name": ""}, "given_name", None),
        ({"given_name": "   "}, "given_name", None),
        ({"family_name": ""}, "family_name", None),
        ({"birthdate": ""}, "birthdate", "Saisissez votre date de naissance, par exemple 14/07/1984."),
        ({"new_email": ""}, "new_email", None),
        ({"birthdate": "14/07/84"}, "birthdate", None),
        ({"birthdate": "1984-02-30"}, "birthdate", None),
        ({"birthdate": "2999-01-01"}, "birthdate",
         "Une date de naissance ne peut pas être dans le futur : vérifiez l’année."),
        ({"birthdate": "1899-12-31"}, "birthdate", "Saisissez une date de naissance à partir du 1er janvier 1900."),
        ({"new_email": "elodie.nouvelle"}, "new_email", "Saisissez une adresse électronique valide."),
        ({"new_email": "elodie nouvelle@laposte.example"}, "new_email", "Saisissez une adresse électronique valide."),
        ({"new_email": "elodie@laposte"}, "new_email", "Saisissez une adresse électronique valide."),
        ({"message": "x" * 2001}, "message", None),
        ({"given_name": "É" * 101}, "given_name", None),
        ({"username": "u" * 65}, "username", None),
    ],
)
def test_bad_input_is_refused_kept_in_the_form_and_nothing_is_filed(app, client, db, smtp, typed, field, error):
    response = ask_for_help(client, **typed)

    assert response.status_code == 400, response.data
    assert re.search(r"<h2 id=\"error-summary-title\">Le formulaire contient \d+ erreurs?</h2>", page_text(response))
    form = FormOnPage(page_text(response))
    assert form.errors.get(field), form.errors
    assert set(form.errors) == {field}
    if error:
        assert error in form.errors[field]
    typed_in = {**DETAILS, **typed}
    for name in ("given_name", "family_name", "birthdate", "username", "new_email"):
        assert form.values[name] == typed_in[name], name
    assert form.values["message"].replace("\r\n", "\n") == typed_in["message"].replace("\r\n", "\n")
    assert filed(db) == []
    assert deliver(app) == 0 and smtp.messages == []


def test_longest_message_is_accepted(client, db):
    response = ask_for_help(client, message="é" * 2000)

    assert response.status_code == 200, response.data
    assert filed(db)[0].message == "é" * 2000


def test_form_without_csrf_token_is_refused_and_nothing_is_filed(app, client, db, smtp):
    response = ask_for_help(client, csrf=False)

    assert response.status_code == 400
    assert "Ce formulaire a expiré" in page_text(response)
    assert filed(db) == []
    assert deliver(app) == 0 and smtp.messages == []


def test_requests_are_throttled_per_address(build_app, db):
    throttled = build_app(IDP_HELP_RATE_LIMIT="2 per hour").test_client()
    assert ask_for_help(throttled).status_code == 200
    assert ask_for_help(throttled, new_email="deux@laposte.example").status_code == 200

    third = ask_for_help(throttled, new_email="trois@laposte.example")

    assert third.status_code == 429
    assert third.mimetype == "text/html"
    assert "Trop de tentatives" in page_text(third)
    assert "Veuillez patienter quelques minutes avant de réessayer." in page_text(third)
    assert [request.new_email for request in filed(db)] == ["elodie.nouvelle@laposte.example",
                                                            "deux@laposte.example"]
    assert throttled.get("/recovery/help").status_code == 200  # reading the form stays possible


# How citizens reach the form -------------------------------------------------------------------------------------

def test_login_page_offers_sign_up(client):
    links = FormOnPage(page_text(client.get("/login"))).links

    assert links.get("/signup") == "Nouvel utilisateur ? Créez un compte"
    assert client.get("/signup").status_code == 200


def test_sign_up_hint_leads_to_the_help_form(app, client, db, smtp):
    owner = make_user(db, username="elodie.martin", email="elodie.martin@orange.example", given_name="Élodie",
                      family_name="Martin-Lefèvre", birthdate=BIRTHDATE, password=None)
    page = client.get("/signup")
    hint = client.post("/signup", data={
        "csrf_token": csrf_token(page.data), "given_name": "elodie", "family_name": "MARTIN LEFEVRE",
        "birthdate": "1984-07-14", "email": "elodie.nouvelle@laposte.example", "username": "elodie.nouvelle",
        "password": STRONG_PASSWORD, "password_confirm": STRONG_PASSWORD,
    })
    assert hint.status_code == 409, hint.data
    links = FormOnPage(page_text(hint)).links
    assert links.get("/recovery/help") == "Je n’ai plus accès à cette adresse"

    form = client.get("/recovery/help")

    assert form.status_code == 200
    assert "Je n’ai plus accès à mon adresse électronique" in page_text(form)
    ask_for_help(client)
    (request,) = filed(db)
    assert request.user_id == owner.id
    assert f"Compte correspondant: {owner.id}" in smtp.text(help_desk_mail(app, smtp)).splitlines()
