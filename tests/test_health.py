"""Liveness and readiness probes, and what citizens, relying parties and the help desk's program see when
storage is down."""

from __future__ import annotations

import re

import pytest

from conftest import PG_URL, free_port
from helpers import REDIRECT_URI, get_code, make_client, make_user, redeem

RFC6749_ERROR = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §5.2: the characters of an error code


def assert_no_stack_trace(response) -> None:
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "site-packages" not in body and '.py"' not in body


def test_healthz_is_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_checks_database_and_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok"}


SESSION_COOKIE = f"{'0' * 16}.{'A' * 43}"  # of the shape the provider gives (idp/sessions.py)


@pytest.fixture
def without_redis(build_app):
    """The provider started while nothing listens on its Redis port (the client connects lazily)."""
    return build_app(IDP_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client()


def test_readyz_names_redis_when_it_is_down(without_redis):
    response = without_redis.get("/readyz")
    assert response.status_code == 503 and response.mimetype == "application/json"
    checks = response.get_json()["checks"]
    assert checks["database"] == "ok" and checks["redis"] != "ok"


@pytest.mark.parametrize(("method", "cookie"), [
    ("get", None),  # a first visit
    ("get", SESSION_COOKIE),  # a returning citizen
    ("post", SESSION_COOKIE),  # the form loaded before the outage, submitted during it
], ids=["first-visit", "get-a-session-from-before-the-outage", "post-a-session-from-before-the-outage"])
def test_login_page_says_unavailable_when_redis_is_down(without_redis, method, cookie, caplog):
    if cookie:
        without_redis.set_cookie("idp_session", cookie)
    response = getattr(without_redis, method)("/login", data={"username": "jean.dupont", "password": "x"})
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert "Service momentanément indisponible" in response.get_data(as_text=True)
    assert_no_stack_trace(response)
    # An outage is said in one line, not as a bug: no traceback in the log either.
    assert "storage unavailable: ConnectionError" in caplog.text
    assert not [record for record in caplog.records if record.exc_info], caplog.text


@pytest.fixture
def without_database(build_app):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x"
    return build_app(IDP_DATABASE_URL=url, IDP_DB_AUTO_UPGRADE=False).test_client()


def test_readyz_names_the_database_when_it_is_down(without_database):
    response = without_database.get("/readyz")
    assert response.status_code == 503 and response.mimetype == "application/json"
    checks = response.get_json()["checks"]
    assert checks["redis"] == "ok" and checks["database"] != "ok"


def test_token_endpoint_answers_a_json_error_when_the_database_is_down(without_database):
    response = without_database.post("/oauth/token", data={"grant_type": "client_credentials"},
                                     auth=("some-client", "some-secret"))
    assert response.status_code == 503 and response.mimetype == "application/json"
    assert RFC6749_ERROR.fullmatch(response.get_json()["error"]), response.get_json()
    assert_no_stack_trace(response)


def test_login_page_says_unavailable_when_the_database_is_down(without_database):
    page = without_database.get("/login")
    response = without_database.post("/login", data={"username": "jean.dupont", "password": "x",
                                                     "csrf_token": re.search(r'value="([^"]+)"', page.text)[1]})
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert "Service momentanément indisponible" in response.get_data(as_text=True)
    assert_no_stack_trace(response)


# What relying parties and the help desk's program get while Redis is down ------------------------------------------

@pytest.fixture
def issued(app, db):
    """Before the outage: a citizen's tokens, a relying party's credentials and the help desk's token."""
    make_user(db)
    browser = app.test_client()
    client_id, secret = make_client(db)
    code = get_code(browser, client_id)["code"]
    tokens = redeem(browser, client_id, secret, code).get_json()
    second_code = get_code(browser, client_id)["code"]  # issued, not yet redeemed when Redis goes away
    admin_id, admin_secret = make_client(db, name="Assistance", redirect_uris=[], grant_types=["client_credentials"],
                                         scope="idp:admin")
    admin = browser.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "idp:admin"},
                         auth=(admin_id, admin_secret)).get_json()["access_token"]
    return {"client": (client_id, secret), "tokens": tokens, "code": second_code, "admin": admin,
            "admin_client": (admin_id, admin_secret)}


def during_outage(issued) -> dict:
    """Each JSON endpoint, called as its caller calls it: (method, path, keyword arguments)."""
    client_id, secret = issued["client"]
    bearer = {"Authorization": f"Bearer {issued['tokens']['access_token']}"}
    return {
        "token (code)": ("post", "/oauth/token", {"auth": (client_id, secret), "data": {
            "grant_type": "authorization_code", "code": issued["code"], "redirect_uri": REDIRECT_URI}}),
        "token (refresh)": ("post", "/oauth/token", {"auth": (client_id, secret), "data": {
            "grant_type": "refresh_token", "refresh_token": issued["tokens"]["refresh_token"]}}),
        "token (client credentials)": ("post", "/oauth/token", {"auth": issued["admin_client"], "data": {
            "grant_type": "client_credentials", "scope": "idp:admin"}}),
        "userinfo": ("get", "/oauth/userinfo", {"headers": bearer}),
        "introspection": ("post", "/oauth/introspect", {"auth": (client_id, secret), "data": {
            "token": issued["tokens"]["access_token"]}}),
        "revocation": ("post", "/oauth/revoke", {"auth": (client_id, secret), "data": {
            "token": issued["tokens"]["refresh_token"]}}),
        "admin: find an account": ("get", "/admin/api/users", {"query_string": {"q": "jean.dupont"}, "headers": {
            "Authorization": f"Bearer {issued['admin']}"}}),
        "admin: revoke": ("post", "/admin/api/users/jean.dupont/revoke", {"headers": {
            "Authorization": f"Bearer {issued['admin']}"}}),
    }


def test_the_json_endpoints_answer_a_json_503_while_redis_is_down(app, build_app, issued):
    outage = build_app(IDP_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0").test_client()  # same database and keys
    calls = during_outage(issued)
    for name, (method, path, kwargs) in calls.items():
        response = getattr(outage, method)(path, **kwargs)
        assert (response.status_code, response.mimetype) == (503, "application/json"), (name, response.data)
        assert response.get_json()["error"] == "temporarily_unavailable", name
        assert_no_stack_trace(response)

    # Redis was the only reason: the provider on its Redis answers every one of these calls.
    for name, (method, path, kwargs) in calls.items():
        response = getattr(app.test_client(), method)(path, **kwargs)
        assert response.status_code == 200, (name, response.data)



@pytest.mark.skipif(not PG_URL, reason="a PostgreSQL backend to end: IDP_TEST_DATABASE_URL")
def test_a_connection_ended_by_the_server_after_the_answer_is_made_is_dropped_quietly(build_app, postgres_url, caplog):
    """A PostgreSQL restart ends the connection a request used: the answer it already made stands (no
    bare 500 from the server), the connection is dropped, and the next request gets a working one.
    Found by tests/test_soak.py."""
    from flask import current_app
    from sqlalchemy import text as sql

    app = build_app(IDP_DATABASE_URL=postgres_url)

    @app.get("/test-ended-connection")
    def ended():
        db = current_app.extensions["idp.db"]()
        db.execute(sql("SELECT 1"))  # a transaction is open on this connection
        with current_app.extensions["idp.engine"].connect() as other:
            other.execute(sql("SELECT pg_terminate_backend(:pid)"),
                          {"pid": db.execute(sql("SELECT pg_backend_pid()")).scalar()})
        return "made"

    browser = app.test_client()
    answer = browser.get("/test-ended-connection")
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "made")
    assert "database connection lost at the end of a request" in caplog.text
    assert browser.get("/readyz").get_json()["checks"]["database"] == "ok"
