"""Production: gunicorn with two workers on a fresh instance folder; both sign with the one key set."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from jose import jwt as jose_jwt
from sqlalchemy.orm import Session

from idp import db as idp_db
from idp.clients import register

from conftest import free_port
from helpers import idp_env

GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")


def registered_client(database_url: str) -> tuple[str, str]:
    idp_db.upgrade(database_url)
    engine = idp_db.make_engine(database_url)
    try:
        with Session(engine) as db:
            client, secret = register(db, name="Batch régional", grant_types=["client_credentials"])
            return client.client_id, secret
    finally:
        engine.dispose()


def wait_until(check, timeout: float, process: subprocess.Popen, log) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert process.poll() is None, f"gunicorn exited: {log.read_text()}"
        assert time.monotonic() < deadline, f"gunicorn is not ready: {log.read_text()}"
        time.sleep(0.1)


def healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:  # not listening yet, or too busy starting to answer in time
        return False


def served_by(access_log, path: str) -> Counter:
    """Worker pid -> number of requests to ``path``, from gunicorn's access log."""
    lines = [line.split() for line in access_log.read_text().splitlines()]
    return Counter(pid for pid, _method, logged_path, _status in lines if logged_path == path)


@pytest.fixture
def gunicorn(tmp_path, redis_url, redis, smtp):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{tmp_path / 'idp.sqlite3'}"
    client = registered_client(database_url)
    env = idp_env({})
    env.update(IDP_INSTANCE_DIR=str(tmp_path / "sesame"), IDP_REDIS_URL=redis_url, IDP_DATABASE_URL=database_url,
               IDP_ISSUER=url, IDP_SMTP_URL=smtp.url)  # production requires a mail server
    access_log, log = tmp_path / "access.log", tmp_path / "gunicorn.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [GUNICORN, "-w", "2", "-b", f"127.0.0.1:{port}", "--access-logfile", str(access_log),
             "--access-logformat", "%(p)s %(m)s %(U)s %(s)s", "idp:create_app()"],
            env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: healthy(url), 60, process, log)
        with ThreadPoolExecutor(8) as pool:  # until both workers have answered
            wait_until(lambda: all(pool.map(healthy, [url] * 8)) and len(served_by(access_log, "/healthz")) == 2,
                       30, process, log)
        yield {"url": url, "client": client, "folder": tmp_path, "access_log": access_log}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_two_workers_publish_one_key_set_and_sign_with_it(gunicorn):
    url, (client_id, secret) = gunicorn["url"], gunicorn["client"]

    def fetch_jwks(_):
        return requests.get(f"{url}/oauth/jwks", headers={"Connection": "close"}, timeout=10)

    def fetch_token(_):
        return requests.post(f"{url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret),
                             headers={"Connection": "close"}, timeout=10)

    with ThreadPoolExecutor(8) as pool:
        jwks_responses = list(pool.map(fetch_jwks, range(20)))
        token_responses = list(pool.map(fetch_token, range(20)))

    assert [r.status_code for r in jwks_responses + token_responses] == [200] * 40
    jwks = jwks_responses[0].json()
    assert all(r.json() == jwks for r in jwks_responses)
    assert sorted(key["alg"] for key in jwks["keys"]) == ["ES256", "RS256"]
    for response in token_responses:
        token = response.json()["access_token"]
        kid = jose_jwt.get_unverified_header(token)["kid"]
        key = next(key for key in jwks["keys"] if key["kid"] == kid)
        claims = jose_jwt.decode(token, key, algorithms=["RS256"], issuer=url, audience=client_id)
        assert claims["client_id"] == client_id
    assert len(served_by(gunicorn["access_log"], "/oauth/jwks")) == 2
    assert len(served_by(gunicorn["access_log"], "/oauth/token")) == 2
    key_files = [path.relative_to(gunicorn["folder"]) for path in gunicorn["folder"].rglob("*jwks*")]
    assert [str(path) for path in key_files] == ["sesame/jwks.private.json"]
