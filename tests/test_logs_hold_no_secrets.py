"""Every journey, run over real HTTP, leaves no secret in the logs: not a one-time token from a mail,
an authorization code, an access, refresh or ID token, a client secret, nor a password.  Everything
logged is read: every record of every logger (the access log of the served server included) and
whatever reached the process's stdout and stderr."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from idp import redaction

from conftest import free_port
from helpers import (
    PASSWORD,
    REDIRECT_URI,
    TOKEN,
    csrf_token,
    deliver,
    idp_env,
    make_client,
    make_user,
    pkce_pair,
    query,
)

GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")

NEW_PASSWORD = "Quartz lanterne boréale 47 !"
SIGNUP_PASSWORD = "une nouvelle vie au bord du lac 1984"
ADDRESS_CHANGE = "jean.dupont@nouvelle-adresse.fr"
TEST_SIDE = ("urllib3", "mail.log")  # the test's own browser (requests) and SMTP sink (aiosmtpd)
ONE_TIME_LINK = re.compile(r"https?://[^/\s]+(/\S*/(" + TOKEN + r"))(?=\s|$)")


class Citizen:
    """A browser (requests, cookies kept) on the served provider; it remembers every secret it sees."""

    def __init__(self, base: str, secrets: set[str]):
        self.base, self.http, self.secrets = base, requests.Session(), secrets

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.base + path, allow_redirects=False, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.http.post(self.base + path, allow_redirects=False, timeout=10, **kwargs)

    def submit(self, path: str, **fields) -> requests.Response:
        """Open the form at ``path`` and post it with its CSRF token."""
        page = self.get(path)
        assert page.status_code == 200, (path, page.status_code)
        return self.post(path, data={"csrf_token": csrf_token(page.text), **fields})

    def remember(self, answer: requests.Response) -> dict:
        body = answer.json()
        self.secrets.update(str(body[name]) for name in ("access_token", "refresh_token", "id_token") if name in body)
        return body


def mailed_links(app, smtp, count: int, secrets: set[str]) -> list[str]:
    """The one-time links of the mails sent so far (paths), their tokens remembered as secrets."""
    deliver(app)
    links = []
    for message in smtp.wait_for(count):
        for path, token in ONE_TIME_LINK.findall(smtp.text(message)):
            secrets.update((token, token.partition(".")[2]))  # the whole token, and its secret part alone
            links.append(path)
    return links


def link_to(links: list[str], prefix: str) -> str:
    return next(path for path in reversed(links) if path.startswith(prefix))


def sign_in(citizen: Citizen, password: str, username: str = "jean.dupont") -> None:
    answer = citizen.submit("/login", username=username, password=password)
    assert answer.status_code == 303, answer.text


def code_flow(citizen: Citizen, rp: tuple[str, str]) -> None:
    """Authorize (signed in), redeem, refresh, userinfo, introspect, revoke, and log out with the ID token."""
    client_id = rp[0]
    verifier, challenge = pkce_pair()
    back = citizen.get("/oauth/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "state": "st",
        "scope": "openid profile email", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"})
    assert back.status_code == 302 and back.headers["Location"].startswith(REDIRECT_URI), back.text
    code = query(back.headers["Location"])["code"]
    citizen.secrets.update({code, verifier})
    tokens = citizen.remember(citizen.post("/oauth/token", auth=rp, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, "code_verifier": verifier}))
    refreshed = citizen.remember(citizen.post("/oauth/token", auth=rp, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}))
    bearer = {"Authorization": f"Bearer {refreshed['access_token']}"}
    assert citizen.get("/oauth/userinfo", headers=bearer).json()["email"]
    assert citizen.post("/oauth/introspect", auth=rp, data={"token": refreshed["access_token"]}).json()["active"]
    assert citizen.post("/oauth/revoke", auth=rp, data={"token": refreshed["refresh_token"]}).status_code == 200
    assert citizen.get("/oauth/userinfo", headers=bearer).status_code == 401
    logout = citizen.get("/oauth/logout", params={"id_token_hint": tokens["id_token"]})
    assert logout.status_code in (200, 302, 303), logout.text


def admin_calls(citizen: Citizen, admin: tuple[str, str]) -> None:
    token = citizen.remember(citizen.post("/oauth/token", auth=admin,
                                          data={"grant_type": "client_credentials", "scope": "idp:admin"}))
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert citizen.get("/admin/api/users", params={"q": "jean.dupont"}, headers=bearer).status_code == 200
    assert citizen.get("/admin/api/users/jean.dupont", headers=bearer).status_code == 200
    assert citizen.get("/admin/api/audit", headers=bearer).status_code == 200
    revoked = citizen.post("/admin/api/revoke", json={"token": token["access_token"]}, headers=bearer)
    assert revoked.status_code == 200, revoked.text


@pytest.fixture
def everything_logged(caplog, capfd):
    """Every record of every logger of the provider, at DEBUG, and everything written to stdout and
    stderr, as one text."""
    caplog.set_level(logging.DEBUG)

    def collect() -> str:
        out, err = capfd.readouterr()
        ours = [record for record in caplog.records if not record.name.startswith(TEST_SIDE)]
        return "\n".join([*(record.getMessage() for record in ours), out, err])

    return collect


def every_journey(app, base: str, db, smtp) -> set[str]:
    """Every journey a citizen, a relying party and the help desk make, against the provider at
    ``base`` (``app`` runs the queued jobs); every secret seen on the way."""
    secrets = {PASSWORD, NEW_PASSWORD, SIGNUP_PASSWORD}
    make_user(db)
    rp = make_client(db, name="Transports régionaux")
    admin = make_client(db, name="Assistance", redirect_uris=[], grant_types=["client_credentials"], scope="idp:admin")
    secrets.update({rp[1], admin[1]})
    citizen = Citizen(base, secrets)

    sign_in(citizen, PASSWORD)
    code_flow(citizen, rp)

    stranger = Citizen(base, secrets)  # password forgotten: the mailed link, opened then used
    assert stranger.submit("/recovery/password", login="jean.dupont").status_code == 200
    reset = link_to(mailed_links(app, smtp, 1, secrets), "/recovery/reset/")
    chosen = stranger.submit(reset, new_password=NEW_PASSWORD, new_password_confirm=NEW_PASSWORD)
    assert chosen.status_code == 303, chosen.text
    assert stranger.submit("/recovery/identifier", email="jean.dupont@example.fr").status_code == 200

    newcomer = Citizen(base, secrets)  # sign-up, then the verification link
    signed_up = newcomer.submit("/signup", given_name="Camille", family_name="Martin", birthdate="1992-05-17",
                                email="camille.martin@example.org", username="camille.martin",
                                password=SIGNUP_PASSWORD, password_confirm=SIGNUP_PASSWORD)
    assert signed_up.status_code in (200, 303), signed_up.text
    links = mailed_links(app, smtp, 4, secrets)  # reset, password changed, identifier, verification
    confirmed = newcomer.submit(link_to(links, "/signup/verify/"), password=SIGNUP_PASSWORD)
    assert confirmed.status_code in (200, 303), confirmed.text

    owner = Citizen(base, secrets)  # the owner changes the address, then follows the link
    sign_in(owner, NEW_PASSWORD)
    page = owner.get("/account")
    saved = owner.post("/account", data={
        "csrf_token": csrf_token(page.text), "given_name": "Jean", "family_name": "Dupont", "birthdate": "",
        "email": ADDRESS_CHANGE, "current_password": NEW_PASSWORD, "phone_number": "", "street_address": "",
        "postal_code": "", "locality": ""})
    assert saved.status_code == 303, saved.text
    links = mailed_links(app, smtp, 5, secrets)
    changed = owner.submit(link_to(links, "/account/email/"))
    assert changed.status_code in (200, 303), changed.text

    admin_calls(owner, admin)
    not_me = owner.submit(link_to(links, "/recovery/not-me/"))  # last: it locks the password
    assert not_me.status_code == 200, not_me.text
    return secrets


def assert_no_secret_in(logged: str, secrets: set[str]) -> None:
    assert "/recovery/reset/[redacted]" in logged  # the access log was read...
    assert "/account/email/[redacted]" in logged
    leaked = sorted(secret for secret in secrets if secret in logged)
    lines = [line for line in logged.splitlines() if any(secret in line for secret in leaked)]
    assert leaked == [], "\n".join(lines[:40])  # ...and holds none of them


def test_no_journey_leaves_a_secret_in_the_logs(live_with_mail, db, smtp, everything_logged):
    app, base, _rp = live_with_mail

    secrets = every_journey(app, base, db, smtp)

    assert_no_secret_in(everything_logged(), secrets)


@pytest.fixture
def gunicorn(build_app, app_config, smtp, tmp_path):
    """The provider under gunicorn in production, logging at DEBUG with its default access log line
    (query strings included); and an app of the test's own on the same database and Redis, to run
    the queued mails.  Yields (app, URL, the log files)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = {**app_config, "IDP_ISSUER": url, "IDP_SMTP_URL": smtp.url, "IDP_ENV": "production"}
    logs = [tmp_path / "access.log", tmp_path / "error.log"]
    process = subprocess.Popen(
        [GUNICORN, "-w", "1", "-b", f"127.0.0.1:{port}", "--access-logfile", str(logs[0]), "--error-logfile",
         str(logs[1]), "--log-level", "debug", "--capture-output", "idp:create_app()"],
        env=idp_env(settings), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not answers(url):
            assert process.poll() is None and time.monotonic() < deadline, logs[1].read_text()
            time.sleep(0.1)
        yield build_app(IDP_ISSUER=url, IDP_SMTP_URL=smtp.url), url, logs
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_under_gunicorn_no_journey_leaves_a_secret_in_its_logs(gunicorn, db, smtp, everything_logged):
    app, url, logs = gunicorn

    secrets = every_journey(app, url, db, smtp)
    time.sleep(0.5)  # the access log is written after each answer

    assert_no_secret_in("\n".join([everything_logged(), *(log.read_text() for log in logs)]), secrets)


def test_a_route_added_later_with_a_token_is_redacted_without_a_list_to_edit(app, caplog):
    """A plugin's new one-time link, even with a short token, is redacted from the day it is routed."""
    app.add_url_rule("/recovery/help/cancel/<token>", "help_cancel", lambda token: "")
    redaction.init_app(app)  # as create_app does once the plugins are loaded
    caplog.set_level(logging.INFO)

    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", "idp"):
        logging.getLogger(name).info('"GET %s HTTP/1.1" 200', "/recovery/help/cancel/s3cr3t?lang=fr")

    assert [record.getMessage() for record in caplog.records] == [
        '"GET /recovery/help/cancel/[redacted]?lang=fr HTTP/1.1" 200'] * 4
