"""Mes services as a citizen lives it: the services signed in to, by name, and "Retirer l'accès",
which ends that service's refresh and access tokens (as the service itself then sees them) and
tells it by back-channel logout, at a real HTTP endpoint of its own."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.models import AuditEvent

from helpers import (
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
    signed_in,
    submit,
)

PAGE = "/account/services"
REMOVED_EN = "no longer has access to your account"


@pytest.fixture
def endpoint():
    receiver = LogoutEndpoint()
    with served(receiver) as url:
        receiver.url = url
        yield receiver


@pytest.fixture
def citizen(db):
    return make_user(db)


def sign_in_to(browser, client_id: str, secret: str) -> dict:
    """The code flow as the service runs it: its tokens, and the ID token's claims it checked."""
    tokens = redeem(browser, client_id, secret, get_code(browser, client_id)["code"]).get_json()
    return {**tokens, "claims": jose_claims(browser, tokens["id_token"], audience=client_id)}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def refreshed(browser, client_id, secret, tokens) -> int:
    return browser.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                        auth=(client_id, secret)).status_code


def test_the_page_names_the_services_signed_in_to_and_only_those(client, db, citizen):
    transports = make_client(db, name="Transports scolaires")
    make_client(db, name="Aides au logement")  # never used by this citizen
    sign_in_to(client, *transports)

    page = client.get(PAGE).get_data(as_text=True)

    assert "<h1>Mes services</h1>" in page
    assert "<h2 id=\"service-1\">Transports scolaires</h2>" in page
    assert "Aides au logement" not in page
    assert "Retirer l’accès" in page or "Retirer l'accès" in page
    assert "heure de Paris" in page


def test_removing_access_ends_the_services_tokens_and_tells_it(app, client, db, citizen, endpoint):
    transports = make_client(db, name="Transports scolaires", backchannel_logout_uri=f"{endpoint.url}/bc")
    logement = make_client(db, name="Aides au logement", backchannel_logout_uri=f"{endpoint.url}/other")
    kept = sign_in_to(client, *logement)
    removed = sign_in_to(client, *transports)
    assert client.get("/oauth/userinfo", headers=bearer(removed["access_token"])).status_code == 200

    answer = submit(client, PAGE + "?lang=en", client_id=transports[0])

    assert answer.status_code == 303
    page = client.get(answer.location).get_data(as_text=True)
    assert f"Transports scolaires {REMOVED_EN}" in page
    assert "Transports scolaires</h2>" not in page and "Aides au logement</h2>" in page
    assert client.get("/oauth/userinfo", headers=bearer(removed["access_token"])).status_code == 401
    assert refreshed(client, *transports, removed) == 400
    assert client.get("/oauth/userinfo", headers=bearer(kept["access_token"])).status_code == 200
    assert refreshed(client, *logement, kept) == 200
    assert signed_in(client)  # the citizen's session with Sésame stays open
    assert "Access removed from a service: Transports scolaires" in client.get("/account").get_data(as_text=True)
    deliver(app)
    [call] = endpoint.calls
    assert call["path"] == "/bc"
    claims = logout_token(client, call, transports[0])
    assert (claims["sub"], claims["sid"]) == (removed["claims"]["sub"], removed["claims"]["sid"])
    row = db.scalar(select(AuditEvent).where(AuditEvent.action == "account.service_removed"))
    assert (row.user_id, row.client_id, row.actor) == (citizen.id, transports[0], f"user:{citizen.id}")
    assert row.details["revoked"]["refresh_tokens"] == 1


def test_a_service_signs_in_again_after_removal_and_is_listed_again(client, db, citizen):
    transports = make_client(db, name="Transports scolaires")
    sign_in_to(client, *transports)
    submit(client, PAGE, client_id=transports[0])
    assert "Transports scolaires</h2>" not in client.get(PAGE).get_data(as_text=True)

    sign_in_to(client, *transports)

    assert "Transports scolaires</h2>" in client.get(PAGE).get_data(as_text=True)


def test_another_citizens_service_cannot_be_removed_from_here(app, db, citizen):
    make_user(db, username="marie.curie", email="marie@example.fr")
    transports = make_client(db, name="Transports scolaires")
    marie, jean = app.test_client(), app.test_client()
    maries = sign_in_to(marie, *transports) if login(marie, "marie.curie").status_code == 303 else None
    login(jean)

    token = csrf_token(jean.get("/account?lang=en").data)  # Jean's page lists no service, so no form of its own
    answer = jean.post(PAGE, data={"csrf_token": token, "client_id": transports[0]})

    assert answer.status_code == 404
    assert "This service is not among yours: nothing was changed." in answer.get_data(as_text=True)
    assert marie.get("/oauth/userinfo", headers=bearer(maries["access_token"])).status_code == 200
    assert refreshed(marie, *transports, maries) == 200


@pytest.mark.parametrize(("client_id", "status", "shown"), [
    ("", 400, "The request could not be served"),
    ("x" * 65, 400, "The request could not be served"),
    ("nope\u202e", 404, "This service is not among yours: nothing was changed."),
    ("' OR 1=1 --", 404, "This service is not among yours: nothing was changed."),
])
def test_odd_client_ids_are_refused_and_change_nothing(client, db, citizen, client_id, status, shown):
    transports = make_client(db)
    tokens = sign_in_to(client, *transports)
    answer = submit(client, PAGE + "?lang=en", client_id=client_id)
    assert answer.status_code == status
    assert shown in answer.get_data(as_text=True)
    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 200


def test_the_form_needs_its_csrf_token(client, db, citizen):
    transports = make_client(db)
    sign_in_to(client, *transports)
    answer = client.post(PAGE + "?lang=en", data={"client_id": transports[0]})
    assert answer.status_code == 400
    assert "This form has expired" in answer.get_data(as_text=True)
    assert "Service régional</h2>" in client.get(PAGE).get_data(as_text=True)


def test_signed_out_the_page_asks_to_sign_in_and_comes_back(client):
    answer = client.get(PAGE)
    assert answer.status_code == 302
    assert answer.location.startswith("/login?next=/account/services")
