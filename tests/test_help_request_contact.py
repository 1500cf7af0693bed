"""The help request keeps its promise of a call or a letter: /recovery/help takes an optional phone
number and an optional postal address (all three parts, the postal code five digits), stores them
with the request, and shows them to the help desk in its mail and in the admin API; errors are
tied to their fields and nothing typed is lost."""

from __future__ import annotations

import re

import pytest
from test_admin_api import Admin
from test_helpdesk import HELP_DESK, FormOnPage, ask_for_help, filed, help_desk_mail, page_text

from helpers import make_client

CONTACT = {"phone_number": "06 12 34 56 78", "street_address": "12 rue de la Monnaie", "postal_code": "35 000",
           "locality": "Rennes"}
AUTOCOMPLETE = {"phone_number": "tel", "street_address": "street-address", "postal_code": "postal-code",
                "locality": "address-level2"}


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url, IDP_HELPDESK_EMAIL=HELP_DESK)


def test_phone_and_address_are_stored_and_mailed_to_the_help_desk(app, client, db, smtp):
    response = ask_for_help(client, **CONTACT)

    assert response.status_code == 200, response.data
    (request,) = filed(db)
    assert (request.phone_number, request.street_address, request.postal_code, request.locality) == (
        "06 12 34 56 78", "12 rue de la Monnaie", "35000", "Rennes")
    mail = help_desk_mail(app, smtp)
    lines = smtp.text(mail).splitlines()
    assert "Numéro de téléphone: 06 12 34 56 78" in lines
    assert "Adresse postale: 12 rue de la Monnaie, 35000 Rennes" in lines
    assert "<td>12 rue de la Monnaie<br>35000 Rennes</td>" in smtp.html(mail)


def test_without_them_the_request_is_filed_and_the_mail_says_none(app, client, db, smtp):
    response = ask_for_help(client, phone_number="", street_address="  ", postal_code="", locality="")

    assert response.status_code == 200, response.data
    (request,) = filed(db)
    assert (request.phone_number, request.street_address, request.postal_code, request.locality) == (None,) * 4
    lines = smtp.text(help_desk_mail(app, smtp)).splitlines()
    assert "Numéro de téléphone: —" in lines and "Adresse postale: —" in lines


def test_the_fields_are_marked_optional_with_their_autocomplete(client):
    page = page_text(client.get("/recovery/help"))

    for label in ("Numéro de téléphone (facultatif)", "Numéro et voie (facultatif)", "Code postal (facultatif)",
                  "Commune (facultatif)"):
        assert f">{label}</label>" in page, label
    inputs = {name: re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0) for name in AUTOCOMPLETE}
    for name, token in AUTOCOMPLETE.items():
        assert f'autocomplete="{token}"' in inputs[name], inputs[name]
    assert 'type="tel"' in inputs["phone_number"]


@pytest.mark.parametrize(("typed", "errors"), [
    ({"phone_number": "appelez-moi"}, {"phone_number": ["Saisissez un numéro de téléphone, par exemple "
                                                        "06 12 34 56 78."]}),
    ({"phone_number": "0" * 33}, {"phone_number": None}),
    ({"postal_code": "3500"}, {"postal_code": ["Saisissez un code postal à cinq chiffres, par exemple 35000."]}),
    ({"postal_code": "35OOO"}, {"postal_code": ["Saisissez un code postal à cinq chiffres, par exemple 35000."]}),
    ({"postal_code": "", "locality": ""}, {
        "postal_code": ["Saisissez aussi le code postal, pour qu’un courrier puisse vous parvenir."],
        "locality": ["Saisissez aussi la commune, pour qu’un courrier puisse vous parvenir."]}),
    ({"street_address": ""}, {
        "street_address": ["Saisissez aussi le numéro et la voie, pour qu’un courrier puisse vous parvenir."]}),
    ({"street_address": "x" * 201}, {"street_address": None}),
    ({"locality": "Ren\x00nes"}, {"locality": ["Ce champ contient des caractères non autorisés."]}),
], ids=["phone-words", "phone-too-long", "postal-code-four-digits", "postal-code-letters", "street-alone",
        "no-street", "street-too-long", "nul-character"])
def test_bad_contact_details_are_refused_at_their_field_with_everything_kept(client, db, typed, errors):
    sent = {**CONTACT, **typed}

    response = ask_for_help(client, **sent)

    assert response.status_code == 400
    form = FormOnPage(page_text(response))
    assert "<h1>Je n’ai plus accès à mon adresse électronique</h1>" in page_text(response)
    assert set(form.errors) == set(errors)
    for name, messages in errors.items():
        assert messages is None or form.errors[name] == messages, form.errors
    typed_back = {name: value.replace(" ", "") if name == "postal_code" else value  # the code, spaces dropped
                  for name, value in sent.items() if "\x00" not in value}
    assert {name: form.values[name] for name in typed_back} == typed_back  # nothing typed is lost
    assert form.values["new_email"] == "elodie.nouvelle@laposte.example"
    assert filed(db) == []


def test_the_admin_api_shows_them_and_the_openapi_description_names_them(app, client, db):
    client_id, secret = make_client(db, name="Assistance", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin")
    admin = Admin(app, client_id, secret)
    ask_for_help(client, **CONTACT)
    (request,) = filed(db)

    shown = admin.help_request(request.id)
    listed = admin.get("/admin/api/help-requests").get_json()["help_requests"][0]

    expected = {"phone_number": "06 12 34 56 78", "street_address": "12 rue de la Monnaie", "postal_code": "35000",
                "locality": "Rennes"}
    assert {name: shown[name] for name in expected} == expected == {name: listed[name] for name in expected}
    schema = client.get("/admin/api/openapi.json").get_json()["components"]["schemas"]["HelpRequest"]["properties"]
    assert all(schema[name] == {"type": ["string", "null"]} for name in expected)
