"""The help desk and passkeys (issue 18, item 4): the admin API lists a citizen's passkeys without
their key material and removes one (audited, the citizen mailed); the console shows them on the
account page and removes one with a reason; and an agent may sign in to the console with a passkey
instead of the app's code, with or without TOTP.  Passkeys are made and used by the software
authenticator (tests/soft_authenticator.py), through the same JSON steps as a browser."""

from __future__ import annotations

import re

import pytest
from soft_authenticator import SoftAuthenticator
from sqlalchemy import select

from idp import totp
from idp.models import AuditEvent, Passkey, SecondFactor, User, UserRole

from helpers import PASSWORD, csrf_token, deliver, login, make_client, make_user, signed_in

ORIGIN, RP_ID = "http://localhost:5000", "localhost"
AGENT = "agent.martin"
PUBLIC_FIELDS = {"id", "name", "created_at", "last_used_at", "aaguid", "backup_eligible", "backed_up", "transports"}


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url)


# Passkeys made through the JSON steps, as a page's script would ------------------------------------------------------

def post_json(browser, path: str, body: dict, page: str = "/login"):
    token = csrf_token(browser.get(page).data)
    return browser.post(path, json=body, headers={"X-CSRFToken": token})


def add_passkey(browser, authenticator: SoftAuthenticator) -> int:
    """Add a passkey in a browser signed in as its owner; its id."""
    options = post_json(browser, "/account/passkeys/options", {"current_password": PASSWORD}, page="/account")
    assert options.status_code == 200, options.data
    added = post_json(browser, "/account/passkeys/verify", authenticator.create(options.get_json()), page="/account")
    assert added.status_code == 200, added.data
    return added.get_json()["id"]


def sign_in_with(browser, authenticator: SoftAuthenticator):
    options = post_json(browser, "/login/passkey/options", {})
    assert options.status_code == 200, options.data
    return post_json(browser, "/login/passkey/verify", {"credential": authenticator.get(options.get_json())})


def name_passkey(db, passkey_id: int, name: str) -> None:
    db.rollback()
    row = db.get(Passkey, passkey_id)
    row.name = name
    db.commit()


def fresh(db) -> None:
    db.rollback()
    db.expire_all()


def events(db, action: str) -> list[AuditEvent]:
    fresh(db)
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def text(response) -> str:
    return response.get_data(as_text=True)


def heading(response) -> str:
    return re.search(r"<h1>(.*?)</h1>", text(response), re.S).group(1).strip()


@pytest.fixture
def citizen(db) -> User:
    return make_user(db, given_name="Jean", family_name="Dupont")


@pytest.fixture
def citizen_key(app, db, citizen) -> tuple[int, SoftAuthenticator]:
    """The citizen's passkey, added by them, named "Téléphone de Jean"; its id and authenticator."""
    browser = app.test_client()
    assert login(browser, "jean.dupont").status_code == 303
    authenticator = SoftAuthenticator(ORIGIN, RP_ID)
    passkey_id = add_passkey(browser, authenticator)
    name_passkey(db, passkey_id, "Téléphone de Jean")
    return passkey_id, authenticator


@pytest.fixture
def stranger_key(app, db) -> int:
    """Another citizen's passkey: not one the help desk may remove through Jean's account."""
    make_user(db, username="marie.curie", email="marie.curie@example.fr", given_name="Marie", family_name="Curie")
    browser = app.test_client()
    assert login(browser, "marie.curie").status_code == 303
    return add_passkey(browser, SoftAuthenticator(ORIGIN, RP_ID))


# The admin API ----------------------------------------------------------------------------------------------------

def service_token(app, db, scope: str) -> tuple[str, str]:
    client_id, secret = make_client(db, name=f"Programme {scope}", redirect_uris=[],
                                    grant_types=["client_credentials"], scope=scope)
    answer = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials", "scope": scope},
                                    auth=(client_id, secret))
    assert answer.status_code == 200, answer.data
    return client_id, answer.get_json()["access_token"]


@pytest.fixture
def admin(app, db) -> tuple[str, dict]:
    client_id, token = service_token(app, db, "idp:admin")
    return client_id, {"Authorization": f"Bearer {token}"}


def test_the_api_lists_a_citizen_s_passkeys_without_their_key_material(app, db, admin, citizen, citizen_key):
    passkey_id, _ = citizen_key
    row = db.get(Passkey, passkey_id)
    answer = app.test_client().get("/admin/api/users/jean.dupont/passkeys", headers=admin[1])

    assert answer.status_code == 200 and answer.mimetype == "application/json"
    [listed] = answer.get_json()["passkeys"]
    assert set(listed) == PUBLIC_FIELDS
    assert listed["id"] == passkey_id and listed["name"] == "Téléphone de Jean"
    assert listed["last_used_at"] is None and listed["created_at"].endswith("Z")
    assert listed["aaguid"] == "00000000-0000-0000-0000-000000000000"
    assert (listed["backup_eligible"], listed["backed_up"], listed["transports"]) == (False, False, ["internal"])
    for secret in (row.public_key, row.credential_id):
        assert secret not in text(answer)
    assert "sign_count" not in text(answer)
    by_id = app.test_client().get(f"/admin/api/users/{citizen.id}/passkeys", headers=admin[1])
    assert by_id.get_json() == answer.get_json()


def test_the_api_lists_nothing_for_an_account_without_passkeys_and_404_for_no_account(app, admin, citizen):
    assert app.test_client().get("/admin/api/users/jean.dupont/passkeys", headers=admin[1]).get_json() == \
        {"passkeys": []}
    unknown = app.test_client().get("/admin/api/users/nobody.here/passkeys", headers=admin[1])
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "not_found"


def test_the_api_removes_a_passkey_audited_and_the_citizen_is_mailed(app, db, smtp, admin, citizen, citizen_key):
    passkey_id, authenticator = citizen_key
    deliver(app)
    smtp.wait_for(1)  # the notice of the passkey added
    answer = app.test_client().delete(f"/admin/api/users/jean.dupont/passkeys/{passkey_id}", headers=admin[1],
                                      json={"reason": "Téléphone volé, identité vérifiée au guichet"})

    assert answer.status_code == 200, answer.data
    assert set(answer.get_json()["removed"]) == PUBLIC_FIELDS
    assert answer.get_json()["removed"]["id"] == passkey_id
    fresh(db)
    assert db.get(Passkey, passkey_id) is None
    (event,) = events(db, "admin.passkey_removed")
    assert event.actor == f"admin:{admin[0]}" and event.user_id == citizen.id
    assert event.details == {"passkey": passkey_id, "reason": "Téléphone volé, identité vérifiée au guichet"}
    assert events(db, "passkey.removed") == []  # not the citizen's own removal
    deliver(app)
    notice = smtp.wait_for(2)[1]
    assert notice["To"] == "jean.dupont@example.fr"
    assert notice["Subject"] == "Une clé d’accès a été supprimée de votre compte Sésame"
    assert "Téléphone de Jean" in smtp.text(notice)
    refused = sign_in_with(app.test_client(), authenticator)  # the passkey no longer signs in
    assert refused.status_code == 400 and refused.get_json()["error"] == "unknown"


def test_the_api_removes_without_a_reason_too(app, db, admin, citizen_key):
    passkey_id, _ = citizen_key
    answer = app.test_client().delete(f"/admin/api/users/jean.dupont/passkeys/{passkey_id}", headers=admin[1])
    assert answer.status_code == 200, answer.data
    (event,) = events(db, "admin.passkey_removed")
    assert event.details == {"passkey": passkey_id}


@pytest.mark.parametrize("which", ["stranger", "unknown", "not a number"])
def test_the_api_refuses_a_passkey_that_is_not_the_account_s(app, db, admin, citizen_key, stranger_key, which):
    passkey_id = {"stranger": stranger_key, "unknown": 999999, "not a number": "abc"}[which]
    answer = app.test_client().delete(f"/admin/api/users/jean.dupont/passkeys/{passkey_id}", headers=admin[1])

    assert answer.status_code == 404 and answer.mimetype == "application/json"
    assert answer.get_json() == {"error": "not_found", "error_description": "This account has no passkey with this id."}
    fresh(db)
    assert db.get(Passkey, stranger_key) is not None and db.get(Passkey, citizen_key[0]) is not None
    assert events(db, "admin.passkey_removed") == []


@pytest.mark.parametrize("body", [["reason"], {"reason": 12}, {"why": "perdu"}, {"reason": "x" * 2001}])
def test_the_api_refuses_an_odd_body(app, db, admin, citizen_key, body):
    answer = app.test_client().delete(f"/admin/api/users/jean.dupont/passkeys/{citizen_key[0]}", headers=admin[1],
                                      json=body)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_request"
    fresh(db)
    assert db.get(Passkey, citizen_key[0]) is not None


@pytest.mark.parametrize(("method", "path"), [("GET", "/admin/api/users/jean.dupont/passkeys"),
                                              ("DELETE", "/admin/api/users/jean.dupont/passkeys/{id}")])
def test_the_api_refuses_callers_without_an_admin_token(app, db, citizen_key, method, path):
    _, unscoped = service_token(app, db, "profile")
    path = path.format(id=citizen_key[0])
    seen = {}
    for case, headers in {"no token": {}, "garbage": {"Authorization": "Bearer not.a-token.at-all"},
                          "without the scope": {"Authorization": f"Bearer {unscoped}"}}.items():
        answer = app.test_client().open(path, method=method, headers=headers)
        seen[case] = (answer.status_code, answer.get_json()["error"], "passkeys" in answer.get_json())
    assert seen == {"no token": (401, "unauthorized", False), "garbage": (401, "invalid_token", False),
                    "without the scope": (403, "insufficient_scope", False)}
    fresh(db)
    assert db.get(Passkey, citizen_key[0]) is not None


def test_the_openapi_document_describes_both_operations_without_key_material(client):
    document = client.get("/admin/api/openapi.json").get_json()
    assert set(document["paths"]["/admin/api/users/{user}/passkeys"]) == {"get"}
    assert set(document["paths"]["/admin/api/users/{user}/passkeys/{passkey_id}"]) == {"delete"}
    assert set(document["components"]["schemas"]["Passkey"]["properties"]) == PUBLIC_FIELDS


# The console --------------------------------------------------------------------------------------------------------

def make_agent(db, *, with_totp: bool) -> tuple[User, str | None]:
    agent = make_user(db, username=AGENT, email="anne.martin@region.example", given_name="Anne", family_name="Martin")
    db.add(UserRole(user_id=agent.id, role="helpdesk"))
    secret = totp.new_secret() if with_totp else None
    if secret:
        db.add(SecondFactor(user_id=agent.id, totp_secret=secret, last_step=None))
    db.commit()
    return agent, secret


def agent_with_password(app, secret: str | None):
    """The agent's browser, in English, signed in with the password and (when given) the app's code."""
    browser = app.test_client()
    browser.get("/login?lang=en")
    done = login(browser, AGENT)
    assert done.status_code == 303, done.data
    if secret is not None:
        page = browser.get("/login/totp")
        typed = browser.post("/login/totp", data={"csrf_token": csrf_token(page.data),
                                                  "code": totp.code_at(secret, totp.current_step())})
        assert typed.status_code == 303, typed.data
    return browser


def agent_with_passkey(app, authenticator: SoftAuthenticator):
    """The agent's browser, in English, signed in with the passkey alone."""
    browser = app.test_client()
    browser.get("/login?lang=en")
    done = sign_in_with(browser, authenticator)
    assert done.status_code == 200, done.data
    assert "/login/totp" not in done.get_json()["redirect"]
    return browser


def agent_key(app, secret: str | None) -> SoftAuthenticator:
    """A passkey the agent added from a session signed in with the password (and the code)."""
    authenticator = SoftAuthenticator(ORIGIN, RP_ID, synced=True)
    add_passkey(agent_with_password(app, secret), authenticator)
    return authenticator


def test_an_agent_with_totp_who_signs_in_with_a_passkey_reaches_the_console_without_the_code(app, db):
    _, secret = make_agent(db, with_totp=True)
    authenticator = agent_key(app, secret)
    desk = agent_with_passkey(app, authenticator)

    answer = desk.get("/helpdesk")

    assert answer.status_code == 200 and heading(answer) == "Open requests"
    with desk.session_transaction() as session:
        assert session["amr"] == ["swk", "user"]


def test_an_agent_with_a_passkey_and_no_totp_is_not_sent_to_enrolment(app, db):
    agent, _ = make_agent(db, with_totp=False)
    authenticator = agent_key(app, None)
    desk = agent_with_passkey(app, authenticator)

    answer = desk.get("/helpdesk")

    assert answer.status_code == 200 and heading(answer) == "Open requests"
    assert db.get(SecondFactor, agent.id) is None


def test_an_agent_with_a_passkey_signed_in_with_the_password_only_must_sign_in_again(app, db):
    make_agent(db, with_totp=False)
    agent_key(app, None)
    browser = agent_with_password(app, None)  # amr ["pwd"]: neither the code nor a passkey

    answer = browser.get("/helpdesk")

    assert answer.status_code == 401 and heading(answer) == "Sign in again"
    assert "with your app&#39;s code or a passkey" in text(answer).replace("'", "&#39;")
    assert not signed_in(browser)


def test_an_agent_without_totp_nor_passkey_is_still_sent_to_enrolment(app, db):
    make_agent(db, with_totp=False)
    answer = agent_with_password(app, None).get("/helpdesk")
    assert answer.status_code == 303 and answer.location == "/account/totp"


@pytest.fixture
def desk(app, db):
    agent, secret = make_agent(db, with_totp=True)
    return agent, agent_with_password(app, secret)


def test_the_account_page_lists_the_citizen_s_passkeys_without_key_material(db, desk, citizen, citizen_key):
    passkey_id, _ = citizen_key
    row = db.get(Passkey, passkey_id)
    page = desk[1].get(f"/helpdesk/users/{citizen.id}")

    assert page.status_code == 200 and heading(page) == "Account jean.dupont"
    html = text(page)
    [listed] = re.findall(rf'<tr data-passkey="{passkey_id}">(.*?)</tr>', html, re.S)
    assert "Téléphone de Jean" in listed and row.created_at.strftime("%d/%m/%Y") in listed and "Never" in listed
    assert f'href="/helpdesk/users/{citizen.id}/remove-passkey?passkey={passkey_id}"' in listed
    for secret in (row.public_key, row.credential_id):
        assert secret not in html


def test_an_account_without_passkeys_says_so(desk, citizen):
    html = text(desk[1].get(f"/helpdesk/users/{citizen.id}"))
    assert "<h2>Passkeys</h2>" in html and "No passkey." in html and "data-passkey" not in html


def test_the_console_removes_a_passkey_with_a_reason_audited_and_the_citizen_is_mailed(app, db, smtp, desk, citizen,
                                                                                      citizen_key):
    agent, browser = desk
    passkey_id, authenticator = citizen_key
    path = f"/helpdesk/users/{citizen.id}/remove-passkey?passkey={passkey_id}"
    confirm = browser.get(path)
    assert confirm.status_code == 200 and heading(confirm) == "Remove the passkey"
    assert re.search(rf'<td data-passkey="{passkey_id}">Téléphone de Jean — added on ', text(confirm))

    missing = browser.post(path, data={"csrf_token": csrf_token(confirm.data), "reason": "  "})
    assert missing.status_code == 400 and "Give the reason for this action" in text(missing)
    fresh(db)
    assert db.get(Passkey, passkey_id) is not None

    done = browser.post(path, data={"csrf_token": csrf_token(confirm.data), "reason": "Téléphone perdu, rappelé"})
    assert done.status_code == 303 and done.location == f"/helpdesk/users/{citizen.id}"
    fresh(db)
    assert db.get(Passkey, passkey_id) is None
    (event,) = events(db, "admin.passkey_removed")
    assert event.actor == f"user:{agent.id}" and event.user_id == citizen.id
    assert event.details == {"passkey": passkey_id, "reason": "Téléphone perdu, rappelé"}
    after = text(browser.get(done.location))
    assert "Done: Remove the passkey." in after and "No passkey." in after
    assert "Passkey removed by the help desk" in after  # the recent events
    deliver(app)
    notice = [m for m in smtp.wait_for(2) if "removed" in m["Subject"] or "supprimée" in m["Subject"]]
    assert [m["To"] for m in notice] == ["jean.dupont@example.fr"]
    assert "Téléphone de Jean" in smtp.text(notice[0])
    assert sign_in_with(app.test_client(), authenticator).get_json()["error"] == "unknown"


def test_the_console_refuses_another_account_s_passkey(db, desk, citizen, citizen_key, stranger_key):
    for passkey in (stranger_key, 999999, "abc"):
        refused = desk[1].get(f"/helpdesk/users/{citizen.id}/remove-passkey?passkey={passkey}")
        assert refused.status_code == 404 and heading(refused) == "Action refused"
        assert "This passkey is not, or no longer, one of this account" in text(refused)
    token = csrf_token(desk[1].get(f"/helpdesk/users/{citizen.id}/revoke").data)  # any of the console's forms
    posted = desk[1].post(f"/helpdesk/users/{citizen.id}/remove-passkey?passkey={stranger_key}",
                          data={"csrf_token": token, "reason": "Par erreur"})
    assert posted.status_code == 404 and heading(posted) == "Action refused"
    fresh(db)
    assert db.get(Passkey, stranger_key) is not None
    assert events(db, "admin.passkey_removed") == []


def test_removing_a_passkey_counts_against_the_agent_s_action_limit(build_app, smtp, db, citizen):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_HELPDESK_ACTION_RATE_LIMIT="1 per hour")
    _, secret = make_agent(db, with_totp=True)
    browser = app.test_client()
    assert login(browser, "jean.dupont").status_code == 303
    passkey_id = add_passkey(browser, SoftAuthenticator(ORIGIN, RP_ID))
    desk = agent_with_password(app, secret)
    page = desk.get(f"/helpdesk/users/{citizen.id}/revoke")
    assert desk.post(f"/helpdesk/users/{citizen.id}/revoke",
                     data={"csrf_token": csrf_token(page.data), "reason": "Appel du citoyen"}).status_code == 303

    path = f"/helpdesk/users/{citizen.id}/remove-passkey?passkey={passkey_id}"
    page = desk.get(path)
    paused = desk.post(path, data={"csrf_token": csrf_token(page.data), "reason": "Téléphone perdu"})

    assert paused.status_code == 429 and heading(paused) == "The console is paused"
    fresh(db)
    assert db.get(Passkey, passkey_id) is not None
