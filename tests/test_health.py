"""Liveness and readiness probes, and what citizens and relying parties see when storage is down."""

from __future__ import annotations

import re

import pytest

from conftest import free_port

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
    ("get", "a-session-from-before-the-outage"),  # a returning citizen
    ("post", "a-session-from-before-the-outage"),  # the form loaded before the outage, submitted during it
])
def test_login_page_says_unavailable_when_redis_is_down(without_redis, method, cookie):
    if cookie:
        without_redis.set_cookie("idp_session", cookie)
    response = getattr(without_redis, method)("/login", data={"username": "jean.dupont", "password": "x"})
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert "Service momentanément indisponible" in response.get_data(as_text=True)
    assert_no_stack_trace(response)


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
