"""The help form keeps its promises (issue 10, item 7): the requester's new address gets an
acknowledgement with the number and the delay announced, the help desk's contact is shown,
and with no help desk configured the page does not say the request reached anyone."""

from __future__ import annotations

import re

import pytest

from helpers import csrf_token, deliver, login, make_user

HELP_DESK = "assistance@region.example"
NEW_ADDRESS = "elodie.nouvelle@laposte.example"


def ask_for_help(browser, lang="fr"):
    page = browser.get(f"/recovery/help?lang={lang}")
    return browser.post("/recovery/help", data={
        "csrf_token": csrf_token(page.data), "given_name": "Élodie", "family_name": "Martin",
        "birthdate": "1984-07-14", "new_email": NEW_ADDRESS, "message": ""})


def text(response) -> str:
    return response.get_data(as_text=True)


def test_the_new_address_gets_the_number_and_the_delay(build_app, smtp):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_HELPDESK_EMAIL=HELP_DESK, IDP_HELPDESK_DELAY_DAYS="3")

    answer = ask_for_help(app.test_client())

    assert answer.status_code == 200
    assert re.search(r"<h1>Votre demande a été envoyée</h1>", text(answer))
    number = re.search(r"demande n°\u00a0(\d+) est parvenue à l’assistance. Elle répond sous 3\u00a0jours ouvrés",
                       text(answer)).group(1)
    deliver(app)
    (ack,) = [mail for mail in smtp.wait_for(2) if mail["To"] == NEW_ADDRESS]
    assert ack["Subject"] == f"Votre demande à l’assistance Sésame (n°\u00a0{number})"
    assert "sous 3\u00a0jours ouvrés" in smtp.text(ack) and f"n°\u00a0{number}" in smtp.text(ack)


def test_acknowledgements_to_one_address_are_few(build_app, smtp):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_HELPDESK_EMAIL=HELP_DESK, IDP_RECOVERY_ACCOUNT_RATE_LIMIT="2 per hour")
    for _ in range(4):
        assert ask_for_help(app.test_client()).status_code == 200
    deliver(app)
    smtp.wait_for(6)
    assert len([mail for mail in smtp.messages if mail["To"] == NEW_ADDRESS]) == 2
    assert len([mail for mail in smtp.messages if mail["To"] == HELP_DESK]) == 4


def test_without_a_help_desk_the_page_does_not_say_it_was_sent(build_app, smtp):
    app = build_app(IDP_SMTP_URL=smtp.url)

    answer = ask_for_help(app.test_client())

    assert answer.status_code == 200
    assert "<h1>Votre demande est enregistrée</h1>" in text(answer)
    assert "personne n’en a encore été prévenu" in text(answer)
    assert "est parvenue à l’assistance" not in text(answer) and "envoyée" not in text(answer)
    assert deliver(app) == 0 and smtp.messages == []  # no acknowledgement promising an answer either


@pytest.mark.parametrize("path", ["/recovery/help", "/account"])
def test_the_help_contact_is_shown_and_linked(build_app, smtp, db, path):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_HELPDESK_EMAIL=HELP_DESK, IDP_HELPDESK_PHONE="02 99 00 00 00")
    make_user(db)
    browser = app.test_client()
    if path == "/account":
        assert login(browser).status_code == 303

    page = text(browser.get(path))

    assert f'<a href="mailto:{HELP_DESK}">{HELP_DESK}</a>' in page
    assert '<a href="tel:0299000000">02 99 00 00 00</a>' in page
    assert "Assistance\u00a0:" in page


def test_no_contact_is_shown_when_none_is_configured(build_app, smtp):
    app = build_app(IDP_SMTP_URL=smtp.url)
    page = app.test_client().get("/recovery/help")
    assert page.status_code == 200 and "<h1>Je n’ai plus accès à mon adresse électronique</h1>" in text(page)
    assert 'class="help-contact"' not in text(page)
