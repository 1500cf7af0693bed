"""The help desk's JSON API under /admin/api/: who may call it (every operation of the OpenAPI
description), finding and changing accounts, revoking a citizen's access (seen from a second
instance too), help-desk requests and the audit log; against the real Redis, databases and an
SMTP sink."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

import pytest
from jose import jwt as jose_jwt

from idp.admin.openapi import PATHS
from idp.models import Passkey

from helpers import (
    PASSWORD,
    csrf_token,
    deliver,
    get_code,
    link_in,
    login,
    make_client,
    make_user,
    query,
    redeem,
    signed_in,
)

NEW_PASSWORD = "Quartz lanterne boréale 47 !"  # passes the password policy
WRONG_PASSWORD = "not my password at all 123"
ADMIN_IP, CITIZEN_IP = "10.20.30.40", "198.51.100.7"  # the help desk calls from its private network
JEAN_BIRTHDATE = "1980-05-17"
OPERATIONS = [(method.upper(), path) for path, item in PATHS.items() for method in item]
REVOCABLE = ("sessions", "refresh_tokens", "access_tokens", "one_time_tokens")


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url)


# The help desk's program --------------------------------------------------------------------------------------------

class Admin:
    """A help-desk program: a client_credentials token with scope idp:admin, calling from its own address."""

    def __init__(self, app, client_id: str, secret: str):
        self.http = browser_at(app, ADMIN_IP)
        self.client_id, self.secret = client_id, secret
        self.token = service_token(self.http, client_id, secret, "idp:admin")

    def call(self, method: str, path: str, body=None, token: str | None = None, headers=None, **kwargs):
        headers = {"Authorization": f"Bearer {token or self.token}", **(headers or {})}
        if body is not None and "data" not in kwargs:
            kwargs["json"] = body
        return self.http.open(path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **params):
        return self.call("GET", path, query_string=params)

    def post(self, path: str, body=None, **kwargs):
        return self.call("POST", path, body, **kwargs)

    def patch(self, path: str, body=None, **kwargs):
        return self.call("PATCH", path, body, **kwargs)

    def user(self, reference) -> dict:
        response = self.get(f"/admin/api/users/{reference}")
        assert response.status_code == 200, response.data
        return response.get_json()

    def help_request(self, request_id: int) -> dict:
        response = self.get(f"/admin/api/help-requests/{request_id}")
        assert response.status_code == 200, response.data
        return response.get_json()

    def events(self, **params) -> list[dict]:
        response = self.get("/admin/api/audit", limit=500, **params)
        assert response.status_code == 200, response.data
        return response.get_json()["events"]


def browser_at(app, address: str):
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


def service_token(http, client_id: str, secret: str, scope: str) -> str:
    response = http.post("/oauth/token", data={"grant_type": "client_credentials", "scope": scope},
                         auth=(client_id, secret))
    assert response.status_code == 200, response.data
    return response.get_json()["access_token"]


@pytest.fixture
def admin(app, db) -> Admin:
    client_id, secret = make_client(db, name="Assistance régionale", redirect_uris=[],
                                    grant_types=["client_credentials"], scope="idp:admin")
    return Admin(app, client_id, secret)


# Citizens and a relying party ---------------------------------------------------------------------------------------

@pytest.fixture
def jean(db) -> int:
    """An active account whose address was never confirmed (the help desk will vouch for a new one)."""
    return make_user(db, birthdate=dt.date.fromisoformat(JEAN_BIRTHDATE), email_verified=False).id


@pytest.fixture
def marie(db) -> int:
    return make_user(db, username="marie.curie", email="marie.curie@example.fr", given_name="Marie",
                     family_name="Curie", birthdate=dt.date(1967, 11, 7)).id


@pytest.fixture
def rp(db) -> tuple[str, str]:
    return make_client(db, name="Transports régionaux")


def tokens_for(browser, rp, username="jean.dupont", **params) -> dict:
    client_id, secret = rp
    code = get_code(browser, client_id, username, scope=params.pop("scope", "openid email"), **params)["code"]
    response = redeem(browser, client_id, secret, code)
    assert response.status_code == 200, response.data
    return response.get_json()


def introspect(http, rp, token: str) -> dict:
    response = http.post("/oauth/introspect", data={"token": token}, auth=rp)
    assert response.status_code == 200, response.data
    return response.get_json()


def refresh(http, rp, refresh_token: str):
    return http.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token}, auth=rp)


def userinfo(http, access_token: str):
    return http.get("/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def ask_reset_link(app, smtp, login_name="jean.dupont", address="jean.dupont@example.fr") -> str:
    """A citizen asks /recovery/password; the worker mails the link; the link's path."""
    browser = browser_at(app, CITIZEN_IP)
    page = browser.get("/recovery/password")
    response = browser.post("/recovery/password", data={"csrf_token": csrf_token(page.data), "login": login_name})
    assert response.status_code == 200, response.data
    deliver(app)
    (mail,) = mails_to(smtp, address)[-1:]
    return link_in(smtp.text(mail), "/recovery/reset/")


def choose_password(browser, link: str, password: str = NEW_PASSWORD):
    page = browser.get(link)
    assert page.status_code == 200, page.data
    return browser.post(link, data={"csrf_token": csrf_token(page.data), "new_password": password,
                                    "new_password_confirm": password})


def mails_to(smtp, address: str) -> list:
    return [mail for mail in smtp.messages if mail["To"] == address]


def file_help_request(app, admin, lang="fr", **typed) -> int:
    """A citizen fills in /recovery/help (with its CSRF token); the number the help desk sees."""
    browser = browser_at(app, CITIZEN_IP)
    page = browser.get(f"/recovery/help?lang={lang}")
    form = {"given_name": "Jean", "family_name": "Dupont", "birthdate": JEAN_BIRTHDATE, "username": "",
            "new_email": "jean.perdu@laposte.example", "message": "Ma boîte a été fermée par mon employeur.",
            **typed, "csrf_token": csrf_token(page.data)}
    response = browser.post("/recovery/help", data=form)
    assert response.status_code == 200, response.data
    return admin.get("/admin/api/help-requests").get_json()["help_requests"][0]["id"]


def assert_json_error(response, status: int, error: str | None = None) -> dict:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json", response.data
    body = response.get_json()
    assert body["error"] and body.get("error_description")
    if error:
        assert body["error"] == error, body
    return body


# Who may call the API: every operation of the OpenAPI description ---------------------------------------------------

# A call that would change something, so a refused one can be seen to have changed nothing.
CALLS = {
    ("GET", "/admin/api/users"): ({"query_string": {"q": "jean.dupont"}}, 200),
    ("PATCH", "/admin/api/users/{user}"): ({"json": {"disabled": True}}, 200),
    ("POST", "/admin/api/users/{user}/revoke"): ({}, 200),
    ("POST", "/admin/api/revoke"): ({"json": {"token": "no-such-token"}}, 404),
    ("POST", "/admin/api/help-requests/{request_id}/resolve"): ({"json": {"send_reset": False}}, 200),
    ("POST", "/admin/api/help-requests/{request_id}/reject"): ({"json": {"reason": "Pièces insuffisantes."}}, 200),
}


@pytest.fixture
def target(app, admin, db, jean, rp) -> dict:
    """Path parameters naming things that exist, and the citizen signed in, to see refusals change nothing."""
    citizen = browser_at(app, CITIZEN_IP)
    assert login(citizen).status_code == 303
    passkey = Passkey(user_id=jean, credential_id="Y3JlZGVudGlhbA", public_key="cHVibGljIGtleQ",
                      aaguid="00000000-0000-0000-0000-000000000000", name="Téléphone de Jean")
    db.add(passkey)
    db.commit()
    return {"user": "jean.dupont", "request_id": file_help_request(app, admin), "passkey_id": passkey.id,
            "citizen": citizen}


def call_operation(admin: Admin, method: str, path: str, target: dict, authorization: str | None):
    kwargs, _ = CALLS.get((method, path), ({}, 200))
    headers = {"Authorization": authorization} if authorization else {}
    return admin.http.open(path.format(**target), method=method, headers=headers, **kwargs)


def refusal(response) -> tuple:
    """What a refused caller sees: the status, the JSON error, and the kind of challenge."""
    body = response.get_json(silent=True) or {}
    challenge = response.headers.get("WWW-Authenticate", "")
    code = re.search(r'error="([^"]+)"', challenge)
    return (response.status_code, body.get("error"), bool(body.get("error_description")), challenge.split(" ")[0],
            code.group(1) if code else None)


def assert_untouched(admin: Admin, target: dict) -> None:
    user = admin.user("jean.dupont")
    assert (user["status"], user["email"]) == ("active", "jean.dupont@example.fr")
    assert admin.help_request(target["request_id"])["state"] == "open"
    assert [row["id"] for row in admin.get("/admin/api/users/jean.dupont/passkeys").get_json()["passkeys"]] == \
        [target["passkey_id"]]
    assert signed_in(target["citizen"])


def test_the_operations_tested_are_the_routes_served_and_described(app, admin):
    """The test below takes OPERATIONS from the description: it must list every route of the API."""
    described = admin.http.get("/admin/api/openapi.json").get_json()["paths"]
    assert {(m.upper(), p) for p, item in described.items() for m in item} == set(OPERATIONS)

    def shape(path: str) -> str:
        return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)

    routed = {(method, shape(rule.rule)) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/admin/api/") and rule.rule != "/admin/api/openapi.json"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed == {(method, shape(path)) for method, path in OPERATIONS}


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_only_an_admin_token_opens_the_operation(app, admin, target, db, method, path):
    revoked = service_token(admin.http, admin.client_id, admin.secret, "idp:admin")
    assert admin.call("GET", "/admin/api/users?q=x", token=revoked).status_code == 200
    at_revocation = admin.http.post("/oauth/revoke", data={"token": revoked}, auth=(admin.client_id, admin.secret))
    assert at_revocation.status_code == 200, at_revocation.data  # revoked by its own client
    service = make_client(db, name="Back-office", redirect_uris=[], grant_types=["client_credentials"],
                          scope="profile")
    unscoped = service_token(admin.http, *service, "profile")
    ambitious = make_client(db, name="Service ambitieux", scope="openid email idp:admin")
    citizens = tokens_for(browser_at(app, CITIZEN_IP), ambitious, scope="openid idp:admin")["access_token"]
    assert "idp:admin" in jose_jwt.get_unverified_claims(citizens)["scope"].split()

    seen = {case: refusal(call_operation(admin, method, path, target, authorization)) for case, authorization in {
        "no token": None, "garbage": "Bearer not.a-token.at-all", "revoked": f"Bearer {revoked}",
        "without the scope": f"Bearer {unscoped}", "a citizen's": f"Bearer {citizens}"}.items()}

    assert seen == {
        "no token": (401, "unauthorized", True, "Bearer", None),
        "garbage": (401, "invalid_token", True, "Bearer", "invalid_token"),
        "revoked": (401, "invalid_token", True, "Bearer", "invalid_token"),
        "without the scope": (403, "insufficient_scope", True, "Bearer", "insufficient_scope"),
        "a citizen's": (403, "insufficient_scope", True, "Bearer", "insufficient_scope"),
    }
    assert_untouched(admin, target)
    allowed = call_operation(admin, method, path, target, f"Bearer {admin.token}")
    assert allowed.status_code == CALLS.get((method, path), ({}, 200))[1], allowed.data
    assert allowed.mimetype == "application/json"


def test_an_authorization_header_without_a_bearer_token_is_401(admin):
    headers = ["Basic YWRtaW46c2VjcmV0", "Bearer", "Bearer    ", "Token abc", "bearer", ""]

    statuses = {header: admin.http.get("/admin/api/users?q=x", headers={"Authorization": header}) for header in headers}

    assert {header: response.status_code for header, response in statuses.items()} == dict.fromkeys(headers, 401)
    assert all(response.headers["WWW-Authenticate"].startswith("Bearer ") for response in statuses.values())
    assert all(response.get_json()["error"] for response in statuses.values())


# Finding and reading accounts ---------------------------------------------------------------------------------------

@pytest.fixture
def people(db, jean, marie) -> dict[str, int]:
    return {
        "jean": jean,
        "marie": marie,
        "elodie": make_user(db, username="elodie.ml", email="Elodie.ML@Orange.example", given_name="Élodie",
                            family_name="Martin-Lefèvre", birthdate=dt.date(1984, 7, 14), password=None).id,
        "elodie2": make_user(db, username="elodie.ml2", email="elodie2@example.fr", given_name="Elodie",
                             family_name="Martin Lefevre", birthdate=dt.date(1991, 2, 3), password=None).id,
        "paul": make_user(db, username="paul.martin", email="paul@example.fr", given_name="Paul",
                          family_name="Martin", birthdate=dt.date(1984, 7, 14), password=None).id,
        "anne": make_user(db, username="anne.dlf", email="anne@example.fr", given_name="Anne",
                          family_name="de La Fontaine", birthdate=dt.date(1975, 3, 9), password=None).id,
    }


def found(admin: Admin, **params) -> list[int]:
    response = admin.get("/admin/api/users", **params)
    assert response.status_code == 200, response.data
    return [user["id"] for user in response.get_json()["users"]]


SEARCHES = {
    "jean.dupont": ["jean"],
    "JEAN.Dupont": ["jean"],
    "marie.curie@example.fr": ["marie"],
    "elodie.ml@orange.EXAMPLE": ["elodie"],
    "Élodie Martin-Lefèvre": ["elodie", "elodie2"],
    "elodie martin lefevre": ["elodie", "elodie2"],
    "MARTIN-LEFEVRE Elodie": ["elodie", "elodie2"],
    "martin-lefèvre": ["elodie", "elodie2"],
    "Curie": ["marie"],
    "Marie Curie": ["marie"],
    "Curie Marie": ["marie"],
    "Anne de la Fontaine": ["anne"],
    "nobody.here": [],
}


def test_accounts_are_found_by_identifier_address_or_name_with_accents_folded(admin, people):
    results = {q: found(admin, q=q) for q in SEARCHES}

    assert results == {q: [people[name] for name in who] for q, who in SEARCHES.items()}


def test_a_family_name_of_several_words_is_found_written_before_the_given_name(admin, people):
    """French family names often have several words (de La Fontaine, Le Goff): "Family Given" finds them too."""
    assert found(admin, q="de la Fontaine Anne") == [people["anne"]]
    assert found(admin, q="DE LA FONTAINE anne") == [people["anne"]]


def test_the_birthdate_narrows_a_name_search(admin, people):
    assert found(admin, q="Elodie Martin-Lefevre", birthdate="1991-02-03") == [people["elodie2"]]
    assert found(admin, q="Martin", birthdate="1984-07-14") == [people["paul"]]
    assert found(admin, q="Martin", birthdate="2001-01-01") == []


@pytest.mark.parametrize("typed", ["1991-02-03", "03/02/1991", "3/2/1991", "03-02-1991", "03.02.1991", "03 02 1991"])
def test_the_birthdate_of_a_search_is_read_as_the_citizen_says_it(admin, people, typed):
    assert found(admin, q="Elodie Martin-Lefevre", birthdate=typed) == [people["elodie2"]]


@pytest.mark.parametrize("typed", ["31/02/1991", "03/02/91", "1991/02/03", "3 février 1991"])
def test_a_search_with_a_birthdate_that_is_no_day_is_400(admin, people, typed):
    body = assert_json_error(admin.get("/admin/api/users", q="Elodie Martin-Lefevre", birthdate=typed), 400)

    assert "DD/MM/YYYY or YYYY-MM-DD" in body["error_description"]


def test_a_search_answers_the_accounts_details_and_no_secret(admin, jean):
    (user,) = admin.get("/admin/api/users", q="jean.dupont").get_json()["users"]

    assert user["id"] == jean and user["username"] == "jean.dupont"
    assert (user["email"], user["given_name"], user["family_name"]) == ("jean.dupont@example.fr", "Jean", "Dupont")
    assert user["birthdate"] == JEAN_BIRTHDATE and user["status"] == "active" and user["has_password"] is True
    assert user["email_verified"] is False
    assert not {"password", "password_hash", "secret"} & set(user)


def test_a_search_without_a_usable_query_is_400(admin, jean):
    bad = [{}, {"q": ""}, {"q": "   "}, {"q": "Dupont", "birthdate": "31/02/1980"}, {"q": "x" * 300}]

    for params in bad:
        assert_json_error(admin.get("/admin/api/users", **params), 400)


def test_an_account_is_read_by_id_identifier_or_address(admin, jean):
    references = [str(jean), "jean.dupont", "Jean.Dupont", "jean.dupont@example.fr", "JEAN.DUPONT@EXAMPLE.FR"]

    read = {reference: admin.user(reference) for reference in references}

    assert {reference: (user["id"], user["username"]) for reference, user in read.items()} == dict.fromkeys(
        references, (jean, "jean.dupont"))


def test_an_unknown_account_is_404_json(admin, jean):
    for reference in ["999999", "nobody", "nobody@example.fr", "0"]:
        assert_json_error(admin.get(f"/admin/api/users/{reference}"), 404)


# Changing an account -----------------------------------------------------------------------------------------------

NEW_ADDRESS = "jean.nouveau@laposte.example"


def test_the_help_desk_changes_the_address_and_both_mailboxes_are_told(app, admin, jean, smtp):
    response = admin.patch("/admin/api/users/jean.dupont", {"email": NEW_ADDRESS})

    assert response.status_code == 200, response.data
    assert (response.get_json()["email"], response.get_json()["email_verified"]) == (NEW_ADDRESS, True)
    assert admin.user(jean)["email"] == NEW_ADDRESS and admin.user(NEW_ADDRESS)["id"] == jean
    assert deliver(app) == 2
    (old,) = mails_to(smtp, "jean.dupont@example.fr")
    assert old["Subject"] == "L’adresse électronique de votre compte Sésame a été changée"
    assert "jea•••@l•••.example" in smtp.text(old) and "jean.dupont" in smtp.text(old)
    assert NEW_ADDRESS not in smtp.text(old) and NEW_ADDRESS not in smtp.html(old)
    (new,) = mails_to(smtp, NEW_ADDRESS)
    assert new["Subject"] == "Votre compte Sésame utilise désormais cette adresse"
    assert "jean.dupont" in smtp.text(new)


def test_the_citizen_signs_in_with_the_new_address_and_no_longer_with_the_old(app, admin, jean):
    assert admin.patch("/admin/api/users/jean.dupont", {"email": NEW_ADDRESS}).status_code == 200

    assert login(app.test_client(), NEW_ADDRESS).status_code == 303
    assert login(app.test_client(), "jean.dupont@example.fr").status_code == 401


def test_an_address_used_by_another_account_is_409(app, admin, jean, marie, smtp):
    response = admin.patch("/admin/api/users/jean.dupont", {"email": "Marie.Curie@Example.FR"})

    assert_json_error(response, 409)
    assert admin.user(jean)["email"] == "jean.dupont@example.fr"
    assert deliver(app) == 0 and smtp.messages == []


def test_setting_the_same_address_again_only_marks_it_verified(app, admin, jean, smtp):
    response = admin.patch("/admin/api/users/jean.dupont", {"email": "jean.dupont@example.fr"})

    assert response.status_code == 200, response.data
    assert response.get_json()["email_verified"] is True
    assert deliver(app) == 0 and smtp.messages == []  # nothing changed that the citizen must hear of


BAD_CHANGES = [
    {"email": "pas-une-adresse"}, {"email": "jean@"}, {"email": ""}, {"email": 42}, {"email": None},
    {"email": "deux mots@example.fr"}, {"email": "a@b@example.fr"}, {"email": "x" * 250 + "@example.fr"},
    {"nickname": "JD"}, {"email": NEW_ADDRESS, "nickname": "JD"}, {"email": NEW_ADDRESS, "disabled": "yes"},
    {"disabled": "true"}, {"disabled": 1}, {"disabled": None}, {}, [], "text", 7,
    {"password": "the help desk chose this one"}, {"password_hash": "$argon2id$v=19$m=1,t=1,p=1$x$y"},
]


def test_a_bad_change_is_400_and_changes_nothing(app, admin, jean, smtp):
    answers = [refusal(admin.patch("/admin/api/users/jean.dupont", body))[:3] for body in BAD_CHANGES]

    assert answers == [(400, "invalid_request", True)] * len(BAD_CHANGES)
    user = admin.user(jean)
    assert (user["email"], user["status"]) == ("jean.dupont@example.fr", "active")
    assert deliver(app) == 0 and smtp.messages == []


def test_send_reset_must_be_a_boolean(app, admin, jean, smtp):
    """{"send_reset": "false"} must not send a reset link: the description says boolean."""
    assert_json_error(admin.patch("/admin/api/users/jean.dupont", {"send_reset": "false"}), 400)
    assert deliver(app) == 0 and smtp.messages == []


def test_a_body_that_is_not_json_is_400(admin, jean):
    response = admin.patch("/admin/api/users/jean.dupont", data="email=x@example.fr",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_json_error(response, 400)


def test_a_reset_link_is_sent_to_the_new_address_and_works(app, admin, jean, smtp):
    response = admin.patch("/admin/api/users/jean.dupont", {"email": NEW_ADDRESS, "send_reset": True})
    assert response.status_code == 200, response.data

    deliver(app)
    (reset,) = [mail for mail in mails_to(smtp, NEW_ADDRESS) if "/recovery/reset/" in smtp.text(mail)]
    assert reset["Subject"] == "Réinitialisez votre mot de passe Sésame"
    assert not [mail for mail in mails_to(smtp, "jean.dupont@example.fr") if "/recovery/reset/" in smtp.text(mail)]
    citizen = app.test_client()
    changed = choose_password(citizen, link_in(smtp.text(reset), "/recovery/reset/"))

    assert changed.status_code == 303, changed.data
    assert query(changed.location)["username"] == "jean.dupont"
    assert login(app.test_client(), NEW_ADDRESS, NEW_PASSWORD).status_code == 303


def test_a_disabled_account_is_signed_out_everywhere_and_cannot_sign_in(app, admin, jean, rp):
    citizen = browser_at(app, CITIZEN_IP)
    tokens = tokens_for(citizen, rp)
    assert signed_in(citizen)

    response = admin.patch("/admin/api/users/jean.dupont", {"disabled": True})

    assert response.status_code == 200, response.data
    assert response.get_json()["status"] == "disabled"
    assert not signed_in(citizen)
    assert refresh(app.test_client(), rp, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"
    assert userinfo(app.test_client(), tokens["access_token"]).status_code == 401
    assert login(app.test_client()).status_code == 403
    (event,) = admin.events(action="admin.user_disabled")
    assert (event["user_id"], event["actor"], event["ip"]) == (jean, f"admin:{admin.client_id}", ADMIN_IP)


def test_an_enabled_account_signs_in_again(app, admin, jean):
    assert admin.patch(f"/admin/api/users/{jean}", {"disabled": True}).status_code == 200
    assert login(app.test_client()).status_code == 403

    response = admin.patch(f"/admin/api/users/{jean}", {"disabled": False})

    assert response.status_code == 200 and response.get_json()["status"] == "active"
    assert login(app.test_client()).status_code == 303
    assert [event["action"] for event in admin.events(user=jean) if event["action"].startswith("admin.")] == [
        "admin.user_enabled", "admin.user_disabled"]


# Revoking a citizen's access: the help desk's main tool -------------------------------------------------------------

class Everywhere:
    """Jean signed in on two browsers, a relying party holding his tokens, and a reset link in his mailbox."""

    def __init__(self, app, rp, smtp):
        self.app, self.rp, self.http = app, rp, app.test_client()
        self.laptop, self.phone = browser_at(app, CITIZEN_IP), browser_at(app, CITIZEN_IP)
        self.tokens = tokens_for(self.laptop, rp)
        assert login(self.phone).status_code == 303
        self.reset_link = ask_reset_link(app, smtp)

    def live(self) -> dict[str, bool]:
        """What still works, looked at without using anything up (introspection, GETs)."""
        return {
            "sessions": signed_in(self.laptop) and signed_in(self.phone),
            "access_tokens": introspect(self.http, self.rp, self.tokens["access_token"])["active"],
            "refresh_tokens": introspect(self.http, self.rp, self.tokens["refresh_token"])["active"],
            "one_time_tokens": self.http.get(self.reset_link).status_code == 200,
        }


@pytest.fixture
def everywhere(app, jean, rp, smtp) -> Everywhere:
    seen = Everywhere(app, rp, smtp)
    assert seen.live() == dict.fromkeys(REVOCABLE, True)
    assert not signed_in(app.test_client())  # the check can tell a signed-out browser
    return seen


def test_revoking_everything_says_what_went_and_ends_it_all(admin, everywhere):
    response = admin.post("/admin/api/users/jean.dupont/revoke")

    assert response.status_code == 200, response.data
    revoked = response.get_json()["revoked"]
    assert revoked["access_tokens"] == 1
    assert revoked["sessions"] == 2
    assert revoked["refresh_tokens"] == 1
    assert revoked["one_time_tokens"] == 1
    assert introspect(everywhere.http, everywhere.rp, everywhere.tokens["access_token"]) == {"active": False}
    assert not signed_in(everywhere.laptop) and not signed_in(everywhere.phone)
    expired = everywhere.http.get(everywhere.reset_link)
    assert expired.status_code == 410 and "/recovery/password" in expired.get_data(as_text=True)
    refused = refresh(everywhere.http, everywhere.rp, everywhere.tokens["refresh_token"])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert userinfo(everywhere.http, everywhere.tokens["access_token"]).status_code == 401


def test_revoking_twice_finds_nothing_left(admin, everywhere):
    assert admin.post("/admin/api/users/jean.dupont/revoke").status_code == 200

    again = admin.post("/admin/api/users/jean.dupont/revoke", {})

    assert again.status_code == 200, again.data
    assert all(count == 0 for count in again.get_json()["revoked"].values())


# Revoking a refresh token revokes its grant, so the access tokens it issued go with it (RFC 7009 §2.1).
GONE_WITH = {"sessions": {"sessions"}, "access_tokens": {"access_tokens"},
             "refresh_tokens": {"refresh_tokens", "access_tokens"}, "one_time_tokens": {"one_time_tokens"}}
COUNTS = {"sessions": 2, "access_tokens": 1, "refresh_tokens": 1, "one_time_tokens": 1}


@pytest.mark.parametrize("what", REVOCABLE)
def test_revoking_one_kind_leaves_the_others(admin, everywhere, what):
    response = admin.post("/admin/api/users/jean.dupont/revoke", {"what": [what]})

    assert response.status_code == 200, response.data
    assert response.get_json()["revoked"] == {what: COUNTS[what]}
    assert everywhere.live() == {kind: kind not in GONE_WITH[what] for kind in REVOCABLE}


def test_revoking_only_the_sessions_keeps_the_refresh_token_working(admin, everywhere):
    response = admin.post("/admin/api/users/jean.dupont/revoke", {"what": ["sessions"]})

    assert response.get_json() == {"revoked": {"sessions": 2}}
    assert not signed_in(everywhere.laptop) and not signed_in(everywhere.phone)
    refreshed = refresh(everywhere.http, everywhere.rp, everywhere.tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.data
    assert userinfo(everywhere.http, refreshed.get_json()["access_token"]).status_code == 200


def test_an_unknown_kind_to_revoke_is_400_and_revokes_nothing(admin, everywhere):
    bodies = [{"what": ["everything"]}, {"what": ["sessions", "cookies"]}, {"what": "sessions"}, {"what": []},
              {"what": None}, ["sessions"], "sessions", 3, {"what": [{"sessions": True}]}, {"what": [["sessions"]]}]

    answers = [refusal(admin.post("/admin/api/users/jean.dupont/revoke", body))[:3] for body in bodies]

    assert answers == [(400, "invalid_request", True)] * len(bodies)
    assert everywhere.live() == dict.fromkeys(REVOCABLE, True)


@pytest.mark.parametrize("reference", ["id", "jean.dupont@example.fr", "JEAN.DUPONT"])
def test_the_account_to_revoke_is_named_by_id_or_address_too(app, admin, jean, marie, reference):
    citizen, other = browser_at(app, CITIZEN_IP), app.test_client()
    assert login(citizen).status_code == 303 and login(other, "marie.curie").status_code == 303

    response = admin.post(f"/admin/api/users/{jean if reference == 'id' else reference}/revoke")

    assert response.status_code == 200, response.data
    assert response.get_json()["revoked"]["sessions"] == 1
    assert not signed_in(citizen)
    assert signed_in(other)  # nobody else's


def test_revoking_for_an_unknown_account_is_404(admin, jean):
    assert_json_error(admin.post("/admin/api/users/nobody/revoke"), 404)


def test_a_revocation_through_one_instance_holds_on_another(build_app, app, db, jean, rp, smtp):
    first, second = app, build_app(IDP_SMTP_URL=smtp.url)  # sharing the Redis and the database
    citizen = browser_at(first, CITIZEN_IP)
    tokens = tokens_for(citizen, rp)
    on_first = first.test_client()
    assert userinfo(on_first, tokens["access_token"]).status_code == 200
    assert introspect(on_first, rp, tokens["access_token"])["active"] is True
    assert signed_in(citizen)
    client_id, secret = make_client(db, name="Assistance", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin")
    desk = Admin(second, client_id, secret)

    response = desk.post("/admin/api/users/jean.dupont/revoke")

    assert response.status_code == 200, response.data
    assert response.get_json()["revoked"]["sessions"] == 1
    assert userinfo(on_first, tokens["access_token"]).status_code == 401
    assert introspect(on_first, rp, tokens["access_token"]) == {"active": False}
    assert introspect(on_first, rp, tokens["refresh_token"]) == {"active": False}
    assert not signed_in(citizen)
    assert refresh(on_first, rp, tokens["refresh_token"]).get_json()["error"] == "invalid_grant"


# Revoking one token ------------------------------------------------------------------------------------------------

def test_revoking_an_access_token(app, admin, jean, rp):
    tokens = tokens_for(browser_at(app, CITIZEN_IP), rp)
    assert userinfo(app.test_client(), tokens["access_token"]).status_code == 200

    response = admin.post("/admin/api/revoke", {"token": tokens["access_token"]})

    assert response.status_code == 200, response.data
    assert response.get_json() == {"revoked": {"kind": "access_token", "user_id": jean}}
    assert userinfo(app.test_client(), tokens["access_token"]).status_code == 401
    assert introspect(app.test_client(), rp, tokens["access_token"]) == {"active": False}


def test_revoking_a_refresh_token(app, admin, jean, rp):
    tokens = tokens_for(browser_at(app, CITIZEN_IP), rp)

    response = admin.post("/admin/api/revoke", {"token": tokens["refresh_token"]})

    assert response.status_code == 200, response.data
    assert response.get_json() == {"revoked": {"kind": "refresh_token", "user_id": jean}}
    refused = refresh(app.test_client(), rp, tokens["refresh_token"])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"


def test_revoking_a_reset_link(app, admin, jean, smtp):
    link = ask_reset_link(app, smtp)
    assert app.test_client().get(link).status_code == 200

    response = admin.post("/admin/api/revoke", {"token": link.rsplit("/", 1)[1]})

    assert response.status_code == 200, response.data
    assert response.get_json() == {"revoked": {"kind": "one_time_token:reset", "user_id": jean}}
    assert app.test_client().get(link).status_code == 410
    assert_json_error(admin.post("/admin/api/revoke", {"token": link.rsplit("/", 1)[1]}), 404)  # gone already


def test_revoking_an_unknown_token_is_404_and_a_bad_body_400(admin, jean):
    unknown = ["no-such-token", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo"]
    bad = [{}, {"token": ""}, {"token": 42}, {"token": None}, {"token": ["a"]}, {"token": "x" * 5000}, ["token"],
           "token", None]

    assert [refusal(admin.post("/admin/api/revoke", {"token": token}))[:3] for token in unknown] == [
        (404, "not_found", True)] * len(unknown)
    assert [refusal(admin.post("/admin/api/revoke", body))[:3] for body in bad] == [
        (400, "invalid_request", True)] * len(bad)


# Help-desk requests ------------------------------------------------------------------------------------------------

@pytest.fixture
def filed(app, admin, jean, marie, smtp) -> dict[str, int]:
    """Jean's request (matches his account), then Marie's with a typo in her name (matches none); the
    notice Jean's current address gets at once (tests/test_takeover.py) is delivered and set aside."""
    requests = {
        "jean": file_help_request(app, admin),
        "marie": file_help_request(app, admin, given_name="Marie", family_name="Curi", birthdate="1967-11-07",
                                   username="", new_email="marie.c@laposte.example", lang="en"),
    }
    deliver(app)
    smtp.wait_for(1)
    smtp.messages.clear()
    return requests


def listed(admin: Admin, **params) -> list[int]:
    response = admin.get("/admin/api/help-requests", **params)
    assert response.status_code == 200, response.data
    return [filed["id"] for filed in response.get_json()["help_requests"]]


def test_requests_are_listed_newest_first_and_filtered_by_state(admin, filed):
    assert listed(admin) == [filed["marie"], filed["jean"]]
    assert listed(admin, state="open") == [filed["marie"], filed["jean"]]
    assert listed(admin, state="resolved") == [] and listed(admin, state="rejected") == []


def test_a_bad_listing_filter_is_400(admin, filed):
    for params in [{"state": "closed"}, {"state": "OPEN"}, {"cursor": "abc"}]:
        assert_json_error(admin.get("/admin/api/help-requests", **params), 400)


def test_a_request_reads_as_the_citizen_typed_it(admin, filed, jean):
    request = admin.help_request(filed["jean"])

    assert request["state"] == "open" and request["user_id"] == jean
    assert (request["given_name"], request["family_name"], request["birthdate"]) == ("Jean", "Dupont", JEAN_BIRTHDATE)
    assert request["new_email"] == "jean.perdu@laposte.example"
    assert request["message"] == "Ma boîte a été fermée par mon employeur."
    assert request["closed_at"] is None and request["closed_by"] is None
    assert admin.help_request(filed["marie"])["user_id"] is None


def test_an_unknown_request_is_404_json(admin, filed):
    assert_json_error(admin.get("/admin/api/help-requests/999999"), 404)
    assert_json_error(admin.post("/admin/api/help-requests/999999/resolve"), 404)
    assert_json_error(admin.post("/admin/api/help-requests/999999/reject", {"reason": "Inconnue."}), 404)


def test_resolving_sets_the_new_address_and_mails_a_reset_link_there(app, admin, filed, jean, smtp):
    response = admin.post(f"/admin/api/help-requests/{filed['jean']}/resolve")

    assert response.status_code == 200, response.data
    user = admin.user(jean)
    assert (user["email"], user["email_verified"]) == ("jean.perdu@laposte.example", True)
    request = admin.help_request(filed["jean"])
    assert (request["state"], request["closed_by"], request["user_id"]) == ("resolved", admin.client_id, jean)
    assert request["closed_at"]
    assert listed(admin, state="resolved") == [filed["jean"]] and listed(admin, state="open") == [filed["marie"]]
    deliver(app)
    assert len(mails_to(smtp, "jean.dupont@example.fr")) == 1  # the old address is told
    (reset,) = [mail for mail in mails_to(smtp, "jean.perdu@laposte.example") if "/recovery/reset/" in smtp.text(mail)]
    changed = choose_password(app.test_client(), link_in(smtp.text(reset), "/recovery/reset/"))
    assert changed.status_code == 303, changed.data
    assert login(app.test_client(), "jean.perdu@laposte.example", NEW_PASSWORD).status_code == 303


def test_a_closed_request_cannot_be_resolved_or_rejected_again(app, admin, filed, jean, smtp):
    assert admin.post(f"/admin/api/help-requests/{filed['jean']}/resolve").status_code == 200
    deliver(app)
    mailed = len(smtp.messages)

    assert_json_error(admin.post(f"/admin/api/help-requests/{filed['jean']}/resolve"), 409)
    assert_json_error(admin.post(f"/admin/api/help-requests/{filed['jean']}/reject", {"reason": "Trop tard."}), 409)
    assert admin.help_request(filed["jean"])["state"] == "resolved"
    assert deliver(app) == 0 and len(smtp.messages) == mailed


def test_a_request_matching_no_account_is_resolved_only_for_a_named_account(app, admin, filed, marie, smtp):
    assert_json_error(admin.post(f"/admin/api/help-requests/{filed['marie']}/resolve"), 409)
    assert admin.help_request(filed["marie"])["state"] == "open"

    response = admin.post(f"/admin/api/help-requests/{filed['marie']}/resolve",
                          {"user": "marie.curie", "send_reset": False})

    assert response.status_code == 200, response.data
    assert admin.user(marie)["email"] == "marie.c@laposte.example"
    request = admin.help_request(filed["marie"])
    assert (request["state"], request["user_id"]) == ("resolved", marie)
    deliver(app)
    assert not [mail for mail in smtp.messages if "/recovery/reset/" in smtp.text(mail)]


def test_resolving_with_another_address_uses_it(app, admin, filed, jean):
    response = admin.post(f"/admin/api/help-requests/{filed['jean']}/resolve", {"new_email": "jean.bis@example.fr"})

    assert response.status_code == 200, response.data
    assert admin.user(jean)["email"] == "jean.bis@example.fr"


def test_resolving_with_an_address_of_another_account_is_409_and_leaves_the_request_open(admin, filed, jean, marie):
    response = admin.post(f"/admin/api/help-requests/{filed['jean']}/resolve", {"new_email": "marie.curie@example.fr"})

    assert_json_error(response, 409)
    assert admin.help_request(filed["jean"])["state"] == "open"
    assert admin.user(jean)["email"] == "jean.dupont@example.fr"


@pytest.mark.parametrize(("request_of", "subject"), [
    ("marie", "Your request to the Sésame help desk"),  # filed in English
    ("jean", "Votre demande à l’assistance Sésame"),
])
def test_a_rejected_request_tells_the_citizen_why_in_their_language(app, admin, filed, smtp, request_of, subject):
    reason = "Les pièces fournies ne permettent pas de vous identifier."

    response = admin.post(f"/admin/api/help-requests/{filed[request_of]}/reject", {"reason": reason})

    assert response.status_code == 200, response.data
    request = admin.help_request(filed[request_of])
    assert (request["state"], request["reason"], request["closed_by"]) == ("rejected", reason, admin.client_id)
    assert listed(admin, state="rejected") == [filed[request_of]]
    assert deliver(app) == 1
    (mail,) = mails_to(smtp, request["new_email"])
    assert mail["Subject"] == subject
    assert reason in smtp.text(mail) and str(filed[request_of]) in smtp.text(mail)


def test_rejecting_without_a_reason_is_400(app, admin, filed, smtp):
    bodies = [None, {}, {"reason": ""}, {"reason": "   "}, {"reason": 3}, {"motif": "x"}, {"reason": "x" * 2001},
              ["reason"]]

    answers = [refusal(admin.post(f"/admin/api/help-requests/{filed['jean']}/reject", body))[:3] for body in bodies]

    assert answers == [(400, "invalid_request", True)] * len(bodies)
    assert admin.help_request(filed["jean"])["state"] == "open"
    assert deliver(app) == 0 and smtp.messages == []


# The audit log -----------------------------------------------------------------------------------------------------

class Story:
    """A citizen fails to sign in, signs in to a service, asks for and uses a reset link; the help desk
    revokes a token and disables the account. Everything secret that went by is kept to look for."""

    def __init__(self, app, admin, rp, smtp):
        citizen = browser_at(app, CITIZEN_IP)
        assert login(citizen, "jean.dupont", WRONG_PASSWORD).status_code == 401
        code = get_code(citizen, rp[0], scope="openid email")["code"]
        self.tokens = redeem(citizen, rp[0], rp[1], code).get_json()
        assert admin.post("/admin/api/revoke", {"token": self.tokens["access_token"]}).status_code == 200
        link = ask_reset_link(app, smtp)
        assert choose_password(citizen, link).status_code == 303
        assert admin.patch("/admin/api/users/jean.dupont", {"disabled": True}).status_code == 200
        self.secrets = [PASSWORD, WRONG_PASSWORD, NEW_PASSWORD, code, link.rsplit("/", 1)[1], admin.token,
                        admin.secret, rp[1], self.tokens["access_token"], self.tokens["refresh_token"],
                        self.tokens["id_token"]]


@pytest.fixture
def story(app, admin, jean, rp, smtp, caplog) -> Story:
    caplog.set_level(logging.INFO, logger="idp.audit")
    return Story(app, admin, rp, smtp)


def test_events_are_listed_newest_first_with_who_where_and_which_service(admin, story, jean, rp):
    events = admin.events()

    assert [event["id"] for event in events] == sorted((event["id"] for event in events), reverse=True)
    assert all(event["at"].endswith("Z") for event in events)
    moments = [dt.datetime.fromisoformat(event["at"].removesuffix("Z")) for event in events]
    assert moments == sorted(moments, reverse=True)
    actions = [event["action"] for event in events]
    expected = ["admin.user_disabled", "password.changed", "recovery.password_requested", "recovery.requested",
                "admin.token_revoked", "login.success", "login.failure"]
    assert [action for action in actions if action in expected] == expected
    by_action = {event["action"]: event for event in events}
    failure = by_action["login.failure"]
    assert (failure["ip"], failure["actor"], failure["user_id"], failure["details"]) == (CITIZEN_IP, None, jean, {})
    success = by_action["login.success"]
    assert (success["user_id"], success["client_id"], success["ip"]) == (jean, rp[0], CITIZEN_IP)
    assert success["actor"] == f"user:{jean}"
    asked = by_action["recovery.requested"]
    assert (asked["ip"], asked["details"].get("kind")) == (CITIZEN_IP, "password")
    for action in ("admin.token_revoked", "admin.user_disabled"):
        event = by_action[action]
        assert (event["actor"], event["ip"], event["user_id"]) == (f"admin:{admin.client_id}", ADMIN_IP, jean)


def test_a_failed_login_on_an_existing_account_is_an_event_about_that_account(admin, story, jean):
    """Whom: the help desk asking about Jean's account sees the attempts on it."""
    assert "login.failure" in [event["action"] for event in admin.events(user="jean.dupont")]


def test_no_event_holds_a_password_or_a_token(admin, story, caplog):
    listing = json.dumps(admin.events(), ensure_ascii=False)
    logged = "\n".join(record.getMessage() for record in caplog.get_records("setup") if record.name == "idp.audit")

    assert logged  # the same events went to the idp.audit log
    for secret in story.secrets:
        assert secret not in listing
        assert secret not in logged


def test_events_are_filtered_by_account_and_action(admin, story, jean, marie, app):
    assert login(app.test_client(), "marie.curie").status_code == 303

    about_jean = admin.events(user="jean.dupont")

    assert about_jean and all(event["user_id"] == jean for event in about_jean)
    assert {"login.success", "password.changed", "admin.user_disabled"} <= {event["action"] for event in about_jean}
    assert admin.events(user=str(jean)) == about_jean == admin.events(user="jean.dupont@example.fr")
    assert [event["user_id"] for event in admin.events(user="marie.curie")] == [marie]
    (failure,) = admin.events(action="login.failure")
    assert failure["user_id"] == jean
    assert [event["action"] for event in admin.events(user="jean.dupont", action="login.success")] == ["login.success"]
    assert admin.events(action="no.such.action") == []
    assert_json_error(admin.get("/admin/api/audit", user="nobody"), 404)


def test_events_are_filtered_by_date(admin, story):
    events = admin.events()
    revoked = next(event for event in events if event["action"] == "admin.token_revoked")

    since = admin.events(since=revoked["at"])

    assert since == [event for event in events if event["id"] >= revoked["id"]]
    assert "login.success" not in [event["action"] for event in since]
    moment = dt.datetime.fromisoformat(revoked["at"].replace("Z", "+00:00"))
    in_paris = moment.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat()
    assert admin.events(since=in_paris) == since
    assert admin.events(since="2999-01-01T00:00:00Z") == []
    assert admin.events(since="2000-01-01") == events


def test_paging_walks_every_event_exactly_once(admin, story):
    everything = [event["id"] for event in admin.events()]
    assert len(everything) > 4

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = admin.get("/admin/api/audit", **params).get_json()
        assert len(page["events"]) <= 2
        seen += [event["id"] for event in page["events"]]
        cursor, pages = page["next_cursor"], pages + 1
        if cursor is None:
            break
        assert pages < 100

    assert seen == everything


def test_bad_audit_parameters_are_400(admin, jean):
    bad = [{"since": "hier"}, {"since": "2024-02-30T00:00:00Z"}, {"since": "17/05/2024"}, {"cursor": "abc"},
           {"cursor": "1.5"}, {"limit": "0"}, {"limit": "501"}, {"limit": "-2"}, {"limit": "deux"}]

    assert [refusal(admin.get("/admin/api/audit", **params))[:3] for params in bad] == [
        (400, "invalid_request", True)] * len(bad)
