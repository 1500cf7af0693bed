"""The audit log: what citizens, the help desk and the recovery pages do is stored in SQL (who, what,
whom, when, from which address; never a secret), exported by `idp audit export` as a deployer runs it,
and shown to each citizen as their own recent activity on /account."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
from urllib.parse import urlencode

import pytest
from sqlalchemy import select, text

from idp.models import AuditEvent, User

from helpers import (
    PASSWORD,
    csrf_token,
    deliver,
    get_code,
    idp_env,
    link_in,
    login,
    make_client,
    make_user,
    redeem,
)

IDP = os.path.join(os.path.dirname(sys.executable), "idp")
NEW_PASSWORD = "a walk along the river at dawn"
WRONG_PASSWORD = "Zebra-guess-4711-wrong"
SIGNUP_PASSWORD = "lanterns over the quiet harbour"
RESET_PASSWORD = "seven swans above the frozen lake"
CITIZEN_ADDRESS = "203.0.113.7"
NEWCOMER = {"given_name": "Camille", "family_name": "Martin", "birthdate": "1992-05-17",
            "email": "camille.martin@example.org", "username": "camille.martin"}


@pytest.fixture
def app(build_app, smtp):
    """Mails go to the real SMTP sink."""
    return build_app(IDP_SMTP_URL=smtp.url)


@pytest.fixture
def citizen(db):
    return make_user(db)


@pytest.fixture
def browser(app):
    """The citizen's browser, from an address of its own."""
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = CITIZEN_ADDRESS
    return browser


@pytest.fixture
def idp(app_config):
    """Run `idp ...` with the same settings as the `app` fixture (as tests/test_cli.py does)."""
    env = idp_env({})
    env.update({name: str(value) for name, value in app_config.items()})

    def run(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run([IDP, *args], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result

    return run


# What is stored -------------------------------------------------------------------------------------------------

def stored(app, since_id: int = 0, **where) -> list[dict]:
    """The audit rows as SQL holds them, oldest first (a connection of our own: committed rows only)."""
    table = AuditEvent.__table__
    statement = select(table).where(table.c.id > since_id).order_by(table.c.id)
    for column, value in where.items():
        statement = statement.where(table.c[column] == value)
    with app.extensions["idp.engine"].connect() as connection:
        return [dict(row._mapping) for row in connection.execute(statement)]


def last_id(app) -> int:
    rows = stored(app)
    return rows[-1]["id"] if rows else 0


def raw_table(app) -> str:
    """Every stored value of every audit row, as text, to look for secrets in."""
    with app.extensions["idp.engine"].connect() as connection:
        return "\n".join(" ".join(str(value) for value in row) for row in
                         connection.execute(text("SELECT * FROM audit_events")))


def admin(app, db) -> tuple[str, str]:
    """A help-desk client and its bearer token."""
    client_id, secret = make_client(db, name="Assistance", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin")
    answer = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials", "scope": "idp:admin"},
                                    auth=(client_id, secret))
    assert answer.status_code == 200, answer.data
    return client_id, answer.get_json()["access_token"]


def sign_in_to(browser, client_id: str, secret: str, username=None) -> dict:
    """The code flow with a login on the way; the token response."""
    code = get_code(browser, client_id, username=username)["code"]
    tokens = redeem(browser, client_id, secret, code)
    assert tokens.status_code == 200, tokens.data
    return {**tokens.get_json(), "code": code}


def change_password(browser, current=PASSWORD, new=NEW_PASSWORD):
    page = browser.get("/account/password")
    assert page.status_code == 200, page.data
    return browser.post("/account/password", data={"csrf_token": csrf_token(page.data), "current_password": current,
                                                   "new_password": new, "new_password_confirm": new})


def ask_reset(browser, typed: str):
    page = browser.get("/recovery/password?lang=en")
    return browser.post("/recovery/password", data={"csrf_token": csrf_token(page.data), "login": typed})


def ask_identifier(browser, address: str):
    page = browser.get("/recovery/identifier?lang=en")
    return browser.post("/recovery/identifier", data={"csrf_token": csrf_token(page.data), "email": address})


def sign_up(browser):
    page = browser.get("/signup?lang=en")
    return browser.post("/signup", data={"csrf_token": csrf_token(page.data), **NEWCOMER,
                                         "password": SIGNUP_PASSWORD, "password_confirm": SIGNUP_PASSWORD})


def log_out(browser):
    home = browser.get("/")
    assert home.status_code == 200
    return browser.post("/logout", data={"csrf_token": csrf_token(home.data)})


# Events ---------------------------------------------------------------------------------------------------------

def test_a_sign_in_through_a_service_names_that_service_and_the_client_address(app, db, browser, citizen):
    client_id, secret = make_client(db, name="Transports scolaires")

    sign_in_to(browser, client_id, secret)

    [success] = stored(app, action="login.success")
    assert success["user_id"] == citizen.id
    assert success["client_id"] == client_id  # the authorization request that was waiting
    assert success["actor"] == f"user:{citizen.id}"
    assert success["ip"] == CITIZEN_ADDRESS
    assert isinstance(success["at"], dt.datetime)
    assert abs((success["at"] - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds()) < 60
    [granted] = stored(app, action="authorization.granted")
    assert (granted["user_id"], granted["client_id"], granted["ip"]) == (citizen.id, client_id, CITIZEN_ADDRESS)


def test_a_plain_sign_in_names_no_service(app, browser, citizen):
    assert login(browser).status_code == 303
    [success] = stored(app, action="login.success")
    assert (success["user_id"], success["client_id"]) == (citizen.id, None)


def keyed(app, normalised: str) -> str:
    """HMAC-SHA256 under the instance secret, computed here on our own."""
    return hmac.new(app.config["SECRET_KEY"].encode(), normalised.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("typed", "known"), [("jean.dupont", True), ("jean.dupont@example.fr", True),
                                               ("Nobody.Here", False), (WRONG_PASSWORD, False)])
def test_a_failed_sign_in_keeps_the_account_or_a_keyed_hash_never_what_was_typed(app, browser, citizen, typed,
                                                                                known):
    assert login(browser, typed, WRONG_PASSWORD).status_code == 401

    [failure] = stored(app, action="login.failure")
    assert failure["details"] == ({} if known else {"typed_hmac": keyed(app, typed.casefold())})
    assert failure["user_id"] == (citizen.id if known else None)
    assert failure["ip"] == CITIZEN_ADDRESS
    assert failure["actor"] is None
    table = raw_table(app)
    assert typed not in table and typed.casefold() not in table and WRONG_PASSWORD not in table
    assert hashlib.sha256(typed.casefold().encode()).hexdigest() not in table  # keyed, not a plain hash


def test_behind_a_trusted_proxy_the_address_is_the_citizens_not_the_proxys(build_app, db, smtp):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_TRUSTED_PROXIES=1)
    make_user(db)
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = "10.0.0.2"  # the reverse proxy
    page = browser.get("/login", headers={"X-Forwarded-For": CITIZEN_ADDRESS})
    answer = browser.post("/login", headers={"X-Forwarded-For": CITIZEN_ADDRESS},
                          data={"csrf_token": csrf_token(page.data), "username": "jean.dupont", "password": PASSWORD})
    assert answer.status_code == 303
    [success] = stored(app, action="login.success")
    assert success["ip"] == CITIZEN_ADDRESS


def test_logging_out_is_recorded(app, browser, citizen):
    assert login(browser).status_code == 303
    assert log_out(browser).status_code == 200
    [logout] = stored(app, action="logout")
    assert (logout["user_id"], logout["ip"]) == (citizen.id, CITIZEN_ADDRESS)


def test_a_logout_asked_by_a_service_is_recorded_naming_it_without_the_id_token(app, db, browser, citizen):
    bye = "https://transports.example.fr/au-revoir"
    client_id, secret = make_client(db, name="Transports scolaires", post_logout_redirect_uris=[bye])
    tokens = sign_in_to(browser, client_id, secret)

    answer = browser.get("/oauth/logout?" + urlencode({"id_token_hint": tokens["id_token"],
                                                       "post_logout_redirect_uri": bye, "state": "bye-42"}))

    assert (answer.status_code, answer.location) == (302, bye + "?state=bye-42")
    [logout] = stored(app, action="logout")
    assert (logout["user_id"], logout["client_id"], logout["ip"], logout["details"]) == (citizen.id, client_id,
                                                                                          CITIZEN_ADDRESS, {})
    table = raw_table(app)
    assert tokens["id_token"] not in table and secret not in table


def test_a_logout_left_for_the_citizen_to_confirm_records_nothing_yet(app, db, browser, citizen):
    client_id, secret = make_client(db, name="Transports scolaires")
    sign_in_to(browser, client_id, secret)

    page = browser.get("/oauth/logout?" + urlencode({"client_id": client_id}))

    assert page.status_code == 200 and "Se déconnecter de Sésame\u00a0?" in page.get_data(as_text=True)
    assert stored(app, action="logout") == []


@pytest.mark.parametrize(("ask", "known", "unknown", "kind"), [
    (ask_reset, "jean.dupont", "nobody.here", "password"),
    (ask_identifier, "jean.dupont@example.fr", "nobody@example.fr", "identifier"),
])
def test_a_recovery_request_is_the_same_event_for_known_and_unknown_accounts(app, browser, citizen, ask, known,
                                                                             unknown, kind):
    assert ask(browser, known).status_code == 200
    for_known = stored(app)
    assert ask(browser, unknown).status_code == 200
    for_unknown = stored(app, since_id=for_known[-1]["id"])

    shape = [(e["action"], e["actor"], e["user_id"], e["client_id"], e["ip"], sorted(e["details"]))
             for e in (*for_known, *for_unknown)]
    assert shape == [("recovery.requested", None, None, None, CITIZEN_ADDRESS, ["kind", "typed_hmac"])] * 2
    assert [e["details"]["typed_hmac"] for e in (*for_known, *for_unknown)] == [keyed(app, known),
                                                                                keyed(app, unknown)]
    assert known not in raw_table(app) and unknown not in raw_table(app)
    assert [e["details"]["kind"] for e in (*for_known, *for_unknown)] == [kind, kind]


def test_a_password_change_is_recorded_for_the_citizen_without_the_passwords(app, browser, citizen):
    assert login(browser).status_code == 303
    assert change_password(browser).status_code == 303

    [changed] = stored(app, action="password.changed")
    assert (changed["user_id"], changed["actor"], changed["ip"]) == (citizen.id, f"user:{citizen.id}",
                                                                      CITIZEN_ADDRESS)
    assert changed["details"]["reason"] == "account"
    table = raw_table(app)
    assert PASSWORD not in table and NEW_PASSWORD not in table


def test_a_sign_up_is_recorded_for_the_new_account_with_the_citizens_address(app, db, browser):
    answer = sign_up(browser)
    assert answer.status_code == 200, answer.data
    [requested] = stored(app, action="signup.requested")
    assert (requested["ip"], requested["details"]) == (CITIZEN_ADDRESS, {"username": NEWCOMER["username"]})

    deliver(app)  # the account is made in a job, away from the request

    newcomer = db.scalar(select(User).where(User.username == NEWCOMER["username"]))
    [signup] = stored(app, action="signup")
    assert (signup["user_id"], signup["ip"]) == (newcomer.id, CITIZEN_ADDRESS)
    assert SIGNUP_PASSWORD not in raw_table(app)


def test_help_desk_actions_name_the_admin_client(app, db, citizen):
    admin_id, token = admin(app, db)
    desk = app.test_client()
    desk.environ_base["REMOTE_ADDR"] = "10.4.5.6"  # the help desk's private network
    bearer = {"Authorization": f"Bearer {token}"}

    assert desk.patch("/admin/api/users/jean.dupont", json={"email": "jean.dupont@orange.fr"},
                      headers=bearer).status_code == 200
    assert desk.patch("/admin/api/users/jean.dupont", json={"disabled": True}, headers=bearer).status_code == 200
    assert desk.patch("/admin/api/users/jean.dupont", json={"disabled": False}, headers=bearer).status_code == 200
    assert desk.post("/admin/api/users/jean.dupont/revoke", headers=bearer).status_code == 200

    admin_events = [e for e in stored(app) if e["action"].startswith("admin.")]
    assert [e["action"] for e in admin_events] == ["admin.email_changed", "admin.user_disabled",
                                                   "admin.user_enabled", "admin.revoked"]
    for event in admin_events:
        assert (event["actor"], event["user_id"], event["ip"]) == (f"admin:{admin_id}", citizen.id, "10.4.5.6")


def mailed_links(smtp, paths="recovery/reset|recovery/not-me|signup/verify") -> list[str]:
    """The one-time tokens of every link mailed so far (reset, "not me", verification)."""
    return [link.rsplit("/", 1)[-1] for message in smtp.messages
            for link in re.findall(rf"https?://\S+/(?:{paths})/[\w.-]+", smtp.text(message))]


def test_no_password_and_no_token_is_ever_stored(app, db, smtp, browser, citizen):
    """A day of a citizen, a service and the help desk; then every stored value is searched."""
    client_id, secret = make_client(db, name="Transports scolaires")
    _admin_id, admin_token = admin(app, db)
    bearer = {"Authorization": f"Bearer {admin_token}"}
    desk = app.test_client()

    assert login(app.test_client(), "jean.dupont", WRONG_PASSWORD).status_code == 401
    tokens = sign_in_to(browser, client_id, secret)
    refreshed = browser.post("/oauth/token", auth=(client_id, secret),
                             data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    refreshed = refreshed.get_json()
    for token in (refreshed["access_token"], refreshed["refresh_token"]):
        assert desk.post("/admin/api/revoke", json={"token": token}, headers=bearer).status_code == 200
    assert change_password(browser).status_code == 303  # mails a "not me" link
    assert ask_reset(app.test_client(), "jean.dupont").status_code == 200
    deliver(app)
    smtp.wait_for(2)
    reset = link_in("\n".join(smtp.text(message) for message in smtp.messages), "/recovery/reset/")
    phone = app.test_client()
    page = phone.get(reset)
    assert phone.post(reset, data={"csrf_token": csrf_token(page.data), "new_password": RESET_PASSWORD,
                                   "new_password_confirm": RESET_PASSWORD}).status_code == 303
    assert desk.patch("/admin/api/users/jean.dupont", json={"send_reset": True}, headers=bearer).status_code == 200
    deliver(app)
    revoked = mailed_links(smtp, "recovery/reset")[-1]
    answer = desk.post("/admin/api/revoke", json={"token": revoked}, headers=bearer)
    assert answer.status_code == 200 and answer.get_json()["revoked"]["kind"] == "one_time_token:reset", answer.data
    assert sign_up(app.test_client()).status_code == 200
    deliver(app)

    actions = {e["action"] for e in stored(app)}
    assert {"login.failure", "login.success", "authorization.granted", "admin.token_revoked", "password.changed",
            "recovery.requested", "admin.reset_sent", "signup"} <= actions
    table = raw_table(app)
    links = mailed_links(smtp)
    assert len(links) >= 5  # not me (twice), two resets, the new account's verification
    secrets = {"passwords": [PASSWORD, NEW_PASSWORD, WRONG_PASSWORD, SIGNUP_PASSWORD, RESET_PASSWORD],
               "client secrets": [secret],
               "codes and tokens": [tokens["code"], tokens["access_token"], tokens["refresh_token"],
                                    tokens["id_token"], refreshed["access_token"], refreshed["refresh_token"],
                                    admin_token],
               "mailed one-time tokens": links}
    for what, values in secrets.items():
        for value in values:
            assert value not in table, f"one of the {what} is stored in audit_events"


# `idp audit export` ---------------------------------------------------------------------------------------------

def exported(lines: str) -> list[dict]:
    return [json.loads(line) for line in lines.splitlines()]


def test_audit_export_writes_json_lines_oldest_first_with_filters(app, db, idp, tmp_path, citizen):
    marie = make_user(db, username="marie.curie", email="marie.curie@example.fr", given_name="Marie",
                      family_name="Curie")
    assert login(app.test_client(), "jean.dupont", WRONG_PASSWORD).status_code == 401
    assert login(app.test_client()).status_code == 303
    assert login(app.test_client(), "marie.curie").status_code == 303
    since = (stored(app)[-1]["at"] + dt.timedelta(seconds=1)).replace(microsecond=0)  # --since takes seconds
    while dt.datetime.now(dt.UTC).replace(tzinfo=None) < since + dt.timedelta(milliseconds=50):
        time.sleep(0.05)
    assert login(app.test_client()).status_code == 303
    assert login(app.test_client(), "marie.curie").status_code == 303
    assert login(app.test_client(), "marie.curie", WRONG_PASSWORD).status_code == 401
    every = stored(app)

    output = tmp_path / "audit.jsonl"
    result = idp("audit", "export", "--output", str(output))
    assert result.stdout == ""
    written = exported(output.read_text(encoding="utf-8"))
    assert [e["id"] for e in written] == [e["id"] for e in every]  # oldest first, all of them
    assert [e["action"] for e in written] == ["login.failure", "login.success", "login.success",
                                              "login.success", "login.success", "login.failure"]
    assert set(written[0]) == {"id", "at", "action", "actor", "user_id", "client_id", "ip", "details"}
    assert (written[1]["user_id"], written[1]["actor"], written[1]["ip"]) == (citizen.id, f"user:{citizen.id}",
                                                                             "127.0.0.1")
    assert (written[0]["user_id"], written[0]["details"]) == (citizen.id, {})
    times = [dt.datetime.fromisoformat(e["at"].replace("Z", "+00:00")) for e in written]
    assert times == sorted(times)

    # Each filter alone would let more through: the action 4 events, the account 2, the date 3.
    filtered = idp("audit", "export", "--action", "login.success", "--user", str(marie.id),
                   "--since", since.strftime("%Y-%m-%dT%H:%M:%S"))
    assert [e["id"] for e in exported(filtered.stdout)] == [every[4]["id"]]


# What the citizen sees ------------------------------------------------------------------------------------------

def test_the_account_page_shows_the_citizens_own_recent_activity(app, db, browser, citizen):
    transports = make_client(db, name="Transports scolaires de Bretagne")
    housing = make_client(db, name="Aides au logement")
    make_user(db, username="marie.curie", email="marie.curie@example.fr", given_name="Marie", family_name="Curie")
    neighbour = app.test_client()
    neighbour.environ_base["REMOTE_ADDR"] = "192.0.2.99"
    sign_in_to(neighbour, *housing, username="marie.curie")
    assert change_password(neighbour).status_code == 303

    sign_in_to(browser, *transports)
    assert change_password(browser).status_code == 303

    page = browser.get("/account")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Activité récente" in html
    assert "Connexion à un service\u00a0: Transports scolaires de Bretagne" in html
    assert "Mot de passe changé" in html
    assert CITIZEN_ADDRESS in html
    assert "Aides au logement" not in html and "192.0.2.99" not in html
    assert html.count("Mot de passe changé") == 1  # the neighbour's change is theirs alone
