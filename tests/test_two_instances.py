"""Two instances behind one load balancer: each `gunicorn -w 2` on its own port with its own
`idp mail worker`, sharing one Redis, one database (PostgreSQL when IDP_TEST_DATABASE_URL is
set, else one SQLite file) and one signing-key file.  The schema is upgraded once by
`idp db upgrade`; both instances run with IDP_DB_AUTO_UPGRADE=false.

A citizen's browser goes from one to the other as a load balancer would send it; a relying
party exchanges at one what the other issued; a revocation at one holds at the other at once;
`idp keys rotate` on one host is picked up by both without refusing a valid token."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
import requests
from jose import jwt as jose_jwt
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session

from idp import db as idp_db

from conftest import PG_URL, SmtpSink, free_port, redis_server
from helpers import (
    PASSWORD,
    csrf_token,
    idp_env,
    link_in,
    login,
    make_client,
    make_user,
    pkce_pair,
    query,
    run_idp,
)
from helpers import (
    REDIRECT_URI as CALLBACK,
)
from helpers import authorize_url as authorize_path

GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")
NEW_PASSWORD = "a walk along the river at dawn"


class Answer:
    """A requests response with the test client's names (``data``, ``location``), so that the
    journeys of tests/helpers.py run against a real server."""

    def __init__(self, response: requests.Response):
        self.status_code = response.status_code
        self.data = response.content
        self.location = response.headers.get("Location")
        self.headers = response.headers
        self.json = response.json if response.headers.get("Content-Type", "").startswith("application/json") \
            else None

    def get_json(self):
        return self.json()


class Browser:
    """One browser (one cookie jar) sent to ``base``; ``at(other)`` is the same browser at
    another instance, as a load balancer would route its next request."""

    def __init__(self, base: str, http: requests.Session | None = None):
        self.base = base
        self.http = http or requests.Session()

    def at(self, base: str) -> Browser:
        return Browser(base, self.http)

    def _url(self, path: str) -> str:
        absolute = urljoin(self.base + "/", path)
        parsed = urlparse(absolute)  # whatever host a redirect names, this browser asks its instance
        return self.base + parsed.path + (f"?{parsed.query}" if parsed.query else "")

    def get(self, path: str, **kwargs) -> Answer:
        return Answer(self.http.get(self._url(path), allow_redirects=False, timeout=30, **kwargs))

    def post(self, path: str, **kwargs) -> Answer:
        return Answer(self.http.post(self._url(path), allow_redirects=False, timeout=30, **kwargs))


def fresh_database(folder: Path) -> tuple[str, callable]:
    """An empty database (no schema): a new one on the PostgreSQL server, else a SQLite file."""
    if not PG_URL:
        return f"sqlite:///{folder / 'shared.sqlite3'}", lambda: None
    server = make_url(PG_URL)
    name = f"idp_two_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()

    return server.set(database=name).render_as_string(hide_password=False), drop


def wait_healthy(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"{url} exited: {log.read_text()}"
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"{url} is not ready: {log.read_text()}"
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture(scope="module")
def pair(tmp_path_factory, signing_keys_file):
    folder = tmp_path_factory.mktemp("two-instances")
    processes: list[subprocess.Popen] = []
    redis_port = free_port()
    processes.append(subprocess.Popen(
        [redis_server(), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    sink = SmtpSink(free_port())
    sink.start()
    database_url, drop_database = fresh_database(folder)
    keys = folder / "shared-keys" / "jwks.private.json"  # a volume both hosts mount
    keys.parent.mkdir()
    shutil.copy(signing_keys_file, keys)
    ports = [free_port(), free_port()]
    secret_key = secrets.token_urlsafe(32)  # one for both: a form served by one is posted to the other
    issuer = f"http://127.0.0.1:{ports[0]}"  # the load balancer's address: one issuer for both
    envs = [idp_env({"IDP_INSTANCE_DIR": folder / f"host-{n}", "IDP_DATABASE_URL": database_url,
                     "IDP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "IDP_SMTP_URL": sink.url,
                     "IDP_ISSUER": issuer, "IDP_SIGNING_KEYS": keys, "IDP_DB_AUTO_UPGRADE": "false",
                     "IDP_SECRET_KEY": secret_key})
            for n in range(2)]
    try:
        refused = run_idp(envs[0], "clients", "list")
        assert refused.returncode != 0 and refused.stderr.count("\n") == 1, refused.stderr  # one line
        assert "the database has no schema" in refused.stderr and "run `idp db upgrade` once" in refused.stderr
        upgraded = run_idp(envs[0], "db", "upgrade")  # once, for both instances
        assert upgraded.returncode == 0, upgraded.stderr
        engine = idp_db.make_engine(database_url)
        with Session(engine) as db:
            make_user(db)
            make_user(db, username="marie.curie", email="marie.curie@example.fr", given_name="Marie",
                      family_name="Curie")  # her password is reset
            client = make_client(db, name="Transports scolaires")
        engine.dispose()
        urls = []
        for n, (port, env) in enumerate(zip(ports, envs, strict=True)):
            log = folder / f"host-{n}.log"
            with open(log, "w") as output:
                web = subprocess.Popen([GUNICORN, "-w", "2", "-b", f"127.0.0.1:{port}", "idp:create_app()"],
                                       env=env, cwd=folder, stdout=output, stderr=subprocess.STDOUT)
                worker = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "idp"), "mail", "worker"],
                                          env=env, cwd=folder, stdout=output, stderr=subprocess.STDOUT)
            processes += [web, worker]
            urls.append(f"http://127.0.0.1:{port}")
            wait_healthy(urls[-1], web, log)
        yield {"urls": urls, "client": client, "env": envs, "smtp": sink, "keys": keys, "folder": folder}
    finally:
        for process in reversed(processes):
            stop(process)
        sink.stop()
        drop_database()


def test_a_reset_link_issued_through_one_instance_works_through_the_other(pair):
    one, other = pair["urls"]
    smtp = pair["smtp"]
    already = len(smtp.messages)
    browser = Browser(one)
    page = browser.get("/recovery/password")  # the form from one, sent to the other
    sent = browser.at(other).post("/recovery/password", data={"csrf_token": csrf_token(page.data),
                                                               "login": "marie.curie"})
    assert sent.status_code == 200
    [mail] = smtp.wait_for(already + 1, timeout=30)[already:]
    link = link_in(smtp.text(mail), "/recovery/reset/")

    there = browser.at(other)
    form = there.get(link)
    assert form.status_code == 200 and b'name="new_password"' in form.data
    changed = there.post(link, data={"csrf_token": csrf_token(form.data), "new_password": NEW_PASSWORD,
                                     "new_password_confirm": NEW_PASSWORD})
    assert changed.status_code == 303, changed.data
    again = there.post(link, data={"csrf_token": csrf_token(form.data), "new_password": NEW_PASSWORD,
                                   "new_password_confirm": NEW_PASSWORD})
    assert again.status_code == 410 and "<h1>Ce lien ne fonctionne plus</h1>" in again.data.decode()  # used up

    fresh = Browser(one)
    refused = login(fresh, "marie.curie", password=PASSWORD)  # the old password no longer opens it
    assert refused.status_code == 401 and b'name="password"' in refused.data
    assert login(fresh, "marie.curie", password=NEW_PASSWORD).status_code == 303


def code_flow(browser: Browser, client_id: str) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    answer = browser.get(authorize_path(client_id, code_challenge=challenge, code_challenge_method="S256",
                                        nonce="n-0S6_WzA2Mj"))
    if answer.status_code == 302 and urlparse(answer.location).path == "/login":
        signed = login(browser, rid=query(answer.location)["rid"])
        assert signed.status_code == 303, signed.data
        answer = browser.get(signed.location)
    assert answer.status_code == 302 and answer.location.startswith(CALLBACK), answer.location
    return query(answer.location)["code"], verifier


def test_a_code_from_one_instance_is_exchanged_at_the_other(pair):
    one, other = pair["urls"]
    client_id, secret = pair["client"]
    code, verifier = code_flow(Browser(one), client_id)

    tokens = requests.post(f"{other}/oauth/token", auth=(client_id, secret), timeout=30, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier})
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    jwks = requests.get(f"{one}/oauth/jwks", timeout=10).json()
    claims = jose_jwt.decode(body["id_token"], jwks, audience=client_id, issuer=pair["env"][0]["IDP_ISSUER"],
                             access_token=body["access_token"])
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    info = requests.get(f"{one}/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"},
                        timeout=10)
    assert info.status_code == 200 and info.json()["preferred_username"] == "jean.dupont"

    replay = requests.post(f"{one}/oauth/token", auth=(client_id, secret), timeout=30, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, "code_verifier": verifier})
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"


def introspect(url: str, client: tuple[str, str], token: str) -> dict:
    answer = requests.post(f"{url}/oauth/introspect", auth=client, data={"token": token}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_revocation_at_one_instance_holds_at_once_at_the_other(pair):
    one, other = pair["urls"]
    client = tuple(pair["client"])
    code, verifier = code_flow(Browser(one), client[0])
    body = requests.post(f"{one}/oauth/token", auth=client, timeout=30, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
        "code_verifier": verifier}).json()
    for url in (one, other):  # each worker of each instance may keep the verified token: all must see it
        for _ in range(4):
            assert introspect(url, client, body["access_token"])["active"] is True

    revoked = requests.post(f"{one}/oauth/revoke", auth=client, data={"token": body["access_token"]}, timeout=10)
    assert revoked.status_code == 200
    for url in (other, one):
        for _ in range(4):
            assert introspect(url, client, body["access_token"]) == {"active": False}
    info = requests.get(f"{other}/oauth/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"},
                        timeout=10)
    assert info.status_code == 401 and 'error="invalid_token"' in info.headers["WWW-Authenticate"]

    requests.post(f"{other}/oauth/revoke", auth=client, data={"token": body["refresh_token"]}, timeout=10)
    refreshed = requests.post(f"{one}/oauth/token", auth=client, timeout=30, data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_keys_rotated_on_one_host_are_picked_up_by_both_and_no_valid_token_is_refused(pair):
    one, other = pair["urls"]
    client = tuple(pair["client"])
    code, verifier = code_flow(Browser(one), client[0])
    before = requests.post(f"{one}/oauth/token", auth=client, timeout=30, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
        "code_verifier": verifier}).json()
    old_kid = jose_jwt.get_unverified_header(before["access_token"])["kid"]

    rotated = run_idp(pair["env"][0], "keys", "rotate")  # on host one only; the key file is shared
    assert rotated.returncode == 0, rotated.stderr

    for url in (one, other):
        kids = {key["kid"] for key in requests.get(f"{url}/oauth/jwks", timeout=10).json()["keys"]}
        assert old_kid in kids and len(kids) > 1
        for _ in range(4):  # every worker: new tokens carry a new key, the old token still holds
            fresh = requests.post(f"{url}/oauth/token", auth=client, timeout=30, data={
                "grant_type": "refresh_token", "refresh_token": before["refresh_token"]})
            assert fresh.status_code == 200, fresh.text
            before["refresh_token"] = fresh.json()["refresh_token"]
            new_kid = jose_jwt.get_unverified_header(fresh.json()["access_token"])["kid"]
            assert new_kid != old_kid and new_kid in kids
            assert introspect(url, client, before["access_token"])["active"] is True
            info = requests.get(f"{url}/oauth/userinfo",
                                headers={"Authorization": f"Bearer {before['access_token']}"}, timeout=10)
            assert info.status_code == 200
