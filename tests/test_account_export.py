"""Télécharger mes données (RGPD art. 15 and 20): one JSON file of the account, its services and
authorizations, its sessions, its help requests and its activity; no secret in it; each download
throttled, recorded and shown to the citizen."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from sqlalchemy import select

from idp.models import AuditEvent, HelpRequest, User

from helpers import get_code, login, make_client, make_user, redeem

PAGE = "/account/export"


@pytest.fixture
def citizen(db):
    user = make_user(db, birthdate=dt.date(1987, 11, 3))
    user.phone_number, user.street_address, user.postal_code, user.locality = (
        "06 12 34 56 78", "12 rue de la Paix", "35000", "Rennes")
    db.commit()
    return user


def test_the_file_holds_the_account_its_services_sessions_and_activity(app, client, db, citizen):
    client.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0"
    client_id, secret = make_client(db, name="Transports scolaires")
    redeem(client, client_id, secret, get_code(client, client_id)["code"])
    db.add(HelpRequest(given_name="Jean", family_name="Dupont", birthdate=dt.date(1987, 11, 3),
                       new_email="jean.nouveau@example.fr", message="J’ai perdu ma boîte", user_id=citizen.id))
    db.commit()

    answer = client.get(PAGE)

    assert answer.status_code == 200
    assert answer.mimetype == "application/json"
    assert answer.headers["Content-Disposition"] == 'attachment; filename="mes-donnees-sesame.json"'
    assert "no-store" in answer.headers["Cache-Control"]
    data = json.loads(answer.data)
    account = data["account"]
    assert (account["username"], account["email"], account["given_name"], account["family_name"]) == (
        "jean.dupont", "jean.dupont@example.fr", "Jean", "Dupont")
    assert (account["birthdate"], account["phone_number"], account["street_address"], account["postal_code"],
            account["locality"]) == ("1987-11-03", "06 12 34 56 78", "12 rue de la Paix", "35000", "Rennes")
    assert account["sub"] == citizen.sub and account["has_password"] is True
    assert [service["name"] for service in data["services"]] == ["Transports scolaires"]
    [authorization] = data["authorizations"]
    assert authorization["client_id"] == client_id and "openid" in authorization["scope"]
    [session] = data["sessions"]
    assert session["device"] == "Firefox sur Linux" and session["ip"] == "127.0.0.1" and session["current"]
    assert [request["message"] for request in data["help_requests"]] == ["J’ai perdu ma boîte"]
    actions = [event["action"] for event in data["activity"]]
    assert actions[:2] == ["login.success", "authorization.granted"] and actions[-1] == "account.exported"


def test_the_file_holds_no_secret_and_no_one_elses_data(app, client, db, redis, citizen):
    make_user(db, username="marie.curie", email="marie@example.fr", given_name="Marie", family_name="Curie")
    client_id, secret = make_client(db)
    tokens = redeem(client, client_id, secret, get_code(client, client_id)["code"]).get_json()

    body = client.get(PAGE).get_data(as_text=True)

    password_hash = db.scalar(select(User.password_hash).where(User.id == citizen.id))
    cookie = client.get_cookie("idp_session").value
    storage_id = hashlib.sha256(cookie.encode()).hexdigest()
    secrets = [password_hash, "$argon2", tokens["access_token"], tokens["refresh_token"], tokens["id_token"],
               hashlib.sha256(tokens["refresh_token"].encode()).hexdigest(), cookie, storage_id, secret]
    assert [value for value in secrets if value in body] == []
    assert "password_hash" not in body and "token_hash" not in body
    assert "marie" not in body.lower() and "Curie" not in body


def test_each_download_is_recorded_and_shown_in_the_activity(client, db, citizen):
    login(client)
    client.get(PAGE)
    row = db.scalar(select(AuditEvent).where(AuditEvent.action == "account.exported"))
    assert (row.user_id, row.actor, row.ip) == (citizen.id, f"user:{citizen.id}", "127.0.0.1")
    assert "Données personnelles téléchargées" in client.get("/account").get_data(as_text=True)


def test_downloads_are_throttled_per_account(client, db, citizen):
    login(client)
    assert all(client.get(PAGE).status_code == 200 for _ in range(10))
    answer = client.get(PAGE)
    assert answer.status_code == 429
    assert "Trop de tentatives" in answer.get_data(as_text=True)


def test_signed_out_the_download_asks_to_sign_in_and_comes_back(client):
    answer = client.get(PAGE)
    assert answer.status_code == 302
    assert answer.location.startswith("/login?next=/account/export")
