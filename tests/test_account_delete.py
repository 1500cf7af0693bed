"""Supprimer mon compte (RGPD art. 17) as a citizen lives it: the password and a ticked box; then
every session and token ends, every service hears of it by back-channel logout at its own HTTP
endpoint, a confirmation reaches the address (a real SMTP sink), the audit rows stay without
personal data, and the identifier and the address are free for a new sign-up."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from idp.models import AuditEvent, HelpRequest, PairwiseSubject, RefreshToken, User

from helpers import (
    PASSWORD,
    LogoutEndpoint,
    csrf_token,
    deliver,
    get_code,
    jose_claims,
    login,
    logout_token,
    make_client,
    make_user,
    redeem,
    served,
    session_index,
    signed_in,
    submit,
)

PAGE = "/account/delete"
NEW_PASSWORD = "a walk along the river at dawn"


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url)


@pytest.fixture
def citizen(db):
    return make_user(db, birthdate=dt.date(1987, 11, 3))


@pytest.fixture
def endpoint():
    receiver = LogoutEndpoint()
    with served(receiver) as url:
        receiver.url = url
        yield receiver


def field_errors(page: str) -> list[str]:
    return re.findall(r'<p class="field-error">(.*?)</p>', page, re.S)


def delete(browser, password=PASSWORD, confirm="y", lang="en"):
    fields = {"current_password": password, **({"confirm": confirm} if confirm else {})}
    return submit(browser, f"{PAGE}?lang={lang}", **fields)


def still_there(db, user_id: int) -> bool:
    db.expire_all()
    return db.get(User, user_id) is not None


def test_the_page_asks_for_the_password_and_a_ticked_box(client, citizen):
    login(client)
    page = client.get(PAGE).get_data(as_text=True)
    assert "<h1>Supprimer mon compte</h1>" in page
    assert 'name="current_password"' in page and 'autocomplete="current-password"' in page
    assert 'type="checkbox"' in page and 'name="confirm"' in page
    assert 'href="/account/export"' in page


def test_a_wrong_password_is_refused_on_its_field_and_counts_as_a_failed_login(build_app, smtp, db, citizen):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_LOGIN_FREE_FAILURES=2)
    browser = app.test_client()
    login(browser)

    answers = [delete(browser, password=f"guess number {i}") for i in range(2)]
    blocked = delete(browser)  # even the right one, now

    assert [answer.status_code for answer in answers] == [400, 400]
    assert field_errors(answers[0].get_data(as_text=True)) == ["Your current password is not that one."]
    assert blocked.status_code == 429
    assert "Too many failed attempts. Wait a few minutes." in blocked.get_data(as_text=True)
    assert still_there(db, citizen.id) and signed_in(browser)


def test_the_box_must_be_ticked(client, db, citizen):
    login(client)
    answer = delete(client, confirm=None)
    assert answer.status_code == 400
    assert field_errors(answer.get_data(as_text=True)) == [
        "Tick this box to confirm that you want to delete your account."]
    assert still_there(db, citizen.id)


def test_the_password_must_be_typed(client, db, citizen):
    login(client)
    answer = delete(client, password="")
    assert answer.status_code == 400
    assert "Enter your current password to delete your account." in field_errors(answer.get_data(as_text=True))
    assert still_there(db, citizen.id)


def test_the_form_needs_its_csrf_token(client, db, citizen):
    login(client)
    answer = client.post(PAGE + "?lang=en", data={"current_password": PASSWORD, "confirm": "y"})
    assert answer.status_code == 400
    assert "This form has expired" in answer.get_data(as_text=True)
    assert still_there(db, citizen.id)


def test_deleting_ends_everything_tells_every_service_and_mails_the_address(app, db, smtp, redis, citizen, endpoint):
    citizen_id = citizen.id
    public = make_client(db, name="Transports scolaires", backchannel_logout_uri=f"{endpoint.url}/transports")
    pairwise = make_client(db, name="Aides au logement", subject_type="pairwise",
                           backchannel_logout_uri=f"{endpoint.url}/logement")
    phone, laptop = app.test_client(), app.test_client()
    earlier = redeem(phone, public[0], public[1], get_code(phone, public[0])["code"]).get_json()
    subjects = {public[0]: jose_claims(phone, earlier["id_token"], audience=public[0])["sub"]}
    tokens = redeem(laptop, pairwise[0], pairwise[1], get_code(laptop, pairwise[0])["code"]).get_json()
    subjects[pairwise[0]] = jose_claims(laptop, tokens["id_token"], audience=pairwise[0])["sub"]
    db.add(HelpRequest(given_name="Jean", family_name="Dupont", birthdate=dt.date(1987, 11, 3),
                       new_email="jean.nouveau@example.fr", user_id=citizen.id))
    db.commit()

    answer = delete(laptop, lang="fr")

    assert answer.status_code == 200
    assert "<h1>Votre compte est supprimé</h1>" in answer.get_data(as_text=True)
    assert not signed_in(laptop) and not signed_in(phone)
    for browser, held in ((phone, earlier), (laptop, tokens)):
        assert browser.get("/oauth/userinfo", headers={"Authorization": f"Bearer {held['access_token']}"}
                           ).status_code == 401
    refreshed = phone.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": earlier[
        "refresh_token"]}, auth=public)
    assert refreshed.status_code == 400
    assert not still_there(db, citizen_id)
    for table in (RefreshToken, PairwiseSubject, HelpRequest):
        assert db.scalar(select(func.count()).select_from(table)) == 0, table
    assert not redis.exists(session_index(citizen_id))
    deliver(app)
    assert sorted(call["path"] for call in endpoint.accepted()) == ["/logement", "/transports"]
    for call in endpoint.accepted():
        client_id = public[0] if call["path"] == "/transports" else pairwise[0]
        claims = logout_token(laptop, call, client_id)
        assert claims["sub"] == subjects[client_id] and "sid" not in claims  # every session of the subject
    [mail] = [message for message in smtp.messages if message["To"] == "jean.dupont@example.fr"]
    assert mail["Subject"] == "Votre compte Sésame est supprimé"
    assert "Votre compte Sésame jean.dupont est supprimé" in smtp.text(mail)


def test_the_audit_rows_stay_without_personal_data(app, client, db, citizen):
    citizen_id = citizen.id
    login(client, password="not the password at all")  # a failure: the row holds a keyed hash of what was typed
    login(client)
    before = db.scalar(select(func.count()).select_from(AuditEvent))
    delete(client)

    rows = db.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert len(rows) == before + 1  # kept, and the deletion recorded
    assert [row.action for row in rows][:2] == ["login.failure", "login.success"]
    assert rows[-1].action == "account.deleted"
    assert all(row.user_id is None and row.ip is None for row in rows)
    assert len({row.details["deleted_account"] for row in rows}) == 1  # still linked to each other
    assert all("typed_hmac" not in row.details for row in rows)
    assert all(row.actor in (None, "deleted-account") for row in rows)
    dumped = " ".join(str(row.as_dict()) for row in rows)
    for personal in ("jean.dupont", "Jean", "Dupont", "1987", "127.0.0.1", f"user:{citizen_id}"):
        assert personal not in dumped, personal


def test_the_identifier_and_the_address_are_free_again(app, client, db, smtp, citizen):
    login(client)
    delete(client)
    deliver(app)

    newcomer = app.test_client()
    page = newcomer.get("/signup?lang=en")
    answer = newcomer.post("/signup", data={
        "csrf_token": csrf_token(page.data), "given_name": "Jean", "family_name": "Dupont", "birthdate": "03/11/1987",
        "email": "jean.dupont@example.fr", "username": "jean.dupont", "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD})
    assert answer.status_code == 200
    assert "Check your mailbox" in answer.get_data(as_text=True)
    deliver(app)
    db.expire_all()
    again = db.scalar(select(User).where(User.username_key == "jean.dupont"))
    assert again is not None and again.email == "jean.dupont@example.fr"
    assert again.status == "pending"  # verified by mail as usual
    # whatever id the database gives it (SQLite may give the same number), none of the old history is its own
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.user_id == again.id, AuditEvent.action.in_(["login.success", "account.deleted"]))) == 0


def test_signed_out_the_page_asks_to_sign_in_and_comes_back(client):
    answer = client.get(PAGE)
    assert answer.status_code == 302
    assert answer.location.startswith("/login?next=/account/delete")
