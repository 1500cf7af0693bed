"""The mailer, its durable queue and the worker, against the private Redis and a real SMTP server.

What a citizen sees is one mail, in their language, arriving once; what an operator sees is a
queue that survives SMTP outages and worker restarts, drops what can never be sent, and keeps
no mail body (nor the link it carries) in Redis or in the logs once it is done with it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from babel.messages.pofile import read_po
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask_babel import lazy_gettext as _l

from idp import create_app, mail
from idp.config import ConfigError
from idp.jobs import Worker, jobs
from idp.models import User

from conftest import SmtpSink, free_port
from helpers import deliver, idp_env, served

IDP = os.path.join(os.path.dirname(sys.executable), "idp")
FRENCH_CATALOG = Path(__file__).resolve().parent.parent / "idp/translations/fr/LC_MESSAGES/messages.po"
TO = "jean.dupont@example.fr"
SUBJECT = "Your %(brand)s identifier"
SUBJECT_EN = SUBJECT % {"brand": "Sésame"}
PREFIX = "idp:"


# --- helpers of this module -------------------------------------------------------------------------------------

def queue_mail(app, lang: str | None = "en", to: str = TO, expires_at: int | None = None) -> tuple[str, str]:
    """Queue the "forgot your identifier" mail as the recovery plugin does; (job id, the link it carries)."""
    link = f"http://localhost:5000/login?token={secrets.token_urlsafe(16)}"
    user = User(username="jean.dupont", given_name="Jean", email=to)
    with app.test_request_context():
        job_id = mail.send(to, "recovery/identifier", _l(SUBJECT, brand="Sésame"), lang=lang, expires_at=expires_at,
                           user=user, link=link)
    return job_id, link


def attempts(redis, job_id: str) -> int | None:
    value = redis.hget(f"{PREFIX}job:{{jobs}}:{job_id}", "attempts")
    return None if value is None else int(value)


def keys_holding(redis, text: str) -> list[str]:
    """Every Redis key whose name or value contains ``text``."""
    found = []
    for key in redis.scan_iter(count=500):
        kind = redis.type(key)
        if kind == "string":
            values = [redis.get(key) or ""]
        elif kind == "hash":
            values = [f"{k}={v}" for k, v in redis.hgetall(key).items()]
        elif kind == "list":
            values = redis.lrange(key, 0, -1)
        elif kind == "set":
            values = list(redis.smembers(key))
        elif kind == "zset":
            values = redis.zrange(key, 0, -1)
        else:
            values = []
        if text in key or any(text in value for value in values):
            found.append(key)
    return found


def dead(app) -> list[dict]:
    with app.app_context():
        return jobs().dead()


def pending(app) -> int:
    return app.extensions["idp.jobs"].pending()


def settle(sink, count: int, seconds: float = 0.5) -> None:
    """Give a stray delivery time to arrive, then check the sink holds exactly ``count`` mails."""
    time.sleep(seconds)
    assert len(sink.messages) == count, [m["Subject"] for m in sink.messages]


def french(msgid: str) -> str:
    with FRENCH_CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    message = catalog.get(msgid) or catalog.get(msgid.replace("Sésame", "%(brand)s"))  # the default brand
    assert message is not None and message.string and not message.fuzzy, \
        f"{msgid!r} has no French translation in {FRENCH_CATALOG}"
    return message.string.replace("%(brand)s", "Sésame")


class Refusing:
    """An SMTP server that refuses every recipient with ``reply`` (e.g. "550 no such user")."""

    def __init__(self, reply: str):
        self.reply = reply
        self.recipients_offered = 0
        self.received: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.recipients_offered += 1
        return self.reply

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.content)
        return "250 OK"


def running(handler, **smtp_parameters) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **smtp_parameters)
    controller.start()
    return controller


def sesame_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"sesame" and auth_data.password == b"p@ss:word"
    return AuthResult(success=ok, handled=False)  # a refusal: aiosmtpd answers "535 ... invalid"


# --- the mail a citizen receives --------------------------------------------------------------------------------

def test_mail_waits_for_the_worker_then_arrives_once_with_its_headers(build_app, smtp, redis):
    app = build_app(IDP_SMTP_URL=smtp.url)
    _job_id, link = queue_mail(app, lang="en")

    assert pending(app) == 1
    settle(smtp, 0, 0.3)  # queued, not sent: the request that asked for it does not wait on SMTP

    assert deliver(app) == 1
    [message] = smtp.wait_for(1)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["From"] == "Sésame <no-reply@localhost>"
    assert message["To"] == TO
    assert message["Subject"] == SUBJECT_EN
    assert abs(parsedate_to_datetime(message["Date"]).timestamp() - time.time()) < 60
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@localhost>")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "en"
    assert smtp.text(message).startswith("Your identifier: jean.dupont")
    assert link in smtp.text(message)
    assert f'href="{link}"' in smtp.html(message)
    settle(smtp, 1)


def test_delivered_mail_leaves_no_trace_of_its_link_in_redis(build_app, smtp, redis):
    app = build_app(IDP_SMTP_URL=smtp.url)
    job_id, link = queue_mail(app)
    assert keys_holding(redis, link) == [f"{PREFIX}job:{{jobs}}:{job_id}"]  # the scan does see a queued body

    deliver(app)

    smtp.wait_for(1)
    assert not redis.exists(f"{PREFIX}job:{{jobs}}:{job_id}")
    assert redis.zscore(f"{PREFIX}jobs:{{jobs}}", job_id) is None
    assert keys_holding(redis, link) == []
    assert keys_holding(redis, "jean.dupont") == []


def test_custom_sender(build_app, smtp, redis):
    app = build_app(IDP_SMTP_URL=smtp.url, IDP_MAIL_FROM="Région Test <comptes@region.example.fr>")
    queue_mail(app)
    deliver(app)

    [message] = smtp.wait_for(1)
    assert message["From"] == "Région Test <comptes@region.example.fr>"
    assert message["Message-ID"].endswith("@region.example.fr>")


def test_mail_in_french(build_app, smtp, redis):
    subject_fr = french(SUBJECT_EN)
    assert subject_fr != SUBJECT_EN
    app = build_app(IDP_SMTP_URL=smtp.url)
    queue_mail(app, lang="fr")
    deliver(app)

    [message] = smtp.wait_for(1)
    assert message["Subject"] == subject_fr
    assert message["Content-Language"] == "fr"


# --- outages, restarts, dead workers ----------------------------------------------------------------------------

def test_smtp_outage_delays_the_mail_and_loses_none(build_app, smtp, redis):
    app = build_app(IDP_SMTP_URL=smtp.url)
    smtp.stop()
    job_id, _link = queue_mail(app)

    assert Worker(app).run_once() is True
    assert pending(app) == 1
    assert attempts(redis, job_id) == 1
    assert dead(app) == []

    smtp.start()
    assert len(smtp.messages) == 0
    deliver(app, timeout=5)  # the first retry is due about one second later
    smtp.wait_for(1)
    assert not redis.exists(f"{PREFIX}job:{{jobs}}:{job_id}")
    settle(smtp, 1)


def test_job_of_a_worker_that_died_is_run_by_another_after_its_lease(build_app, smtp, redis):
    app = build_app(IDP_SMTP_URL=smtp.url)
    job_id, _link = queue_mail(app)
    with app.app_context():
        claimed = jobs().claim(lease=1)  # a worker takes it, then dies without finishing
    assert claimed is not None and claimed[0] == job_id

    assert Worker(app).run_once() is False  # still leased: nobody else runs it yet
    settle(smtp, 0, 0.2)

    deliver(app, timeout=5)
    smtp.wait_for(1)
    settle(smtp, 1)


def test_mail_past_its_expiry_is_dropped_not_sent(build_app, smtp, redis):
    app = build_app(IDP_SMTP_URL=smtp.url)
    expires_at = int(time.time()) + 1
    job_id, link = queue_mail(app, expires_at=expires_at)
    while time.time() < expires_at:  # the worker was away until the link had stopped working
        time.sleep(0.05)

    deliver(app)

    settle(smtp, 0)
    [entry] = dead(app)
    assert entry["id"] == job_id and entry["name"] == mail.DELIVER
    assert "expired" in entry["reason"]
    assert link not in json.dumps(entry) and TO not in json.dumps(entry)
    assert keys_holding(redis, link) == []


def test_recipient_refused_for_good_is_dropped_after_one_attempt(build_app, redis):
    server = Refusing("550 no such user")
    controller = running(server)
    try:
        app = build_app(IDP_SMTP_URL=f"smtp://127.0.0.1:{controller.port}")
        job_id, link = queue_mail(app)
        assert Worker(app).run_once() is True
        assert Worker(app).run_once() is False  # nothing left to try again
    finally:
        controller.stop()

    assert server.recipients_offered == 1
    assert server.received == []
    assert pending(app) == 0
    [entry] = dead(app)
    assert entry["id"] == job_id and entry["name"] == mail.DELIVER and "550" in entry["reason"]
    assert link not in json.dumps(entry)
    assert keys_holding(redis, link) == []


def test_recipient_refused_for_now_is_retried(build_app, redis):
    server = Refusing("450 mailbox busy, try later")
    controller = running(server)
    try:
        app = build_app(IDP_SMTP_URL=f"smtp://127.0.0.1:{controller.port}")
        job_id, _link = queue_mail(app)
        assert Worker(app).run_once() is True
    finally:
        controller.stop()

    assert pending(app) == 1
    assert attempts(redis, job_id) == 1
    assert dead(app) == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_credentials_from_the_url(build_app, redis):
    sink = SmtpSink(free_port())
    controller = running(sink, auth_required=True, auth_require_tls=False, authenticator=sesame_login)
    try:
        app = build_app(IDP_SMTP_URL=f"smtp://sesame:p%40ss%3Aword@127.0.0.1:{controller.port}")
        queue_mail(app)
        deliver(app)
        [message] = sink.wait_for(1)
    finally:
        controller.stop()
    assert message["To"] == TO


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_wrong_smtp_password_is_retried_not_dropped(build_app, redis):
    sink = SmtpSink(free_port())
    controller = running(sink, auth_required=True, auth_require_tls=False, authenticator=sesame_login)
    try:
        app = build_app(IDP_SMTP_URL=f"smtp://sesame:wrong@127.0.0.1:{controller.port}")
        job_id, _link = queue_mail(app)
        assert Worker(app).run_once() is True
    finally:
        controller.stop()

    assert sink.messages == []
    assert pending(app) == 1
    assert attempts(redis, job_id) == 1
    assert dead(app) == []


# --- `idp mail worker`, as an operator runs it ------------------------------------------------------------------

@pytest.fixture
def worker_env(app_config, tmp_path, smtp):
    """Settings of a production `idp mail worker` on the test's database, Redis and SMTP sink."""
    instance = tmp_path / "worker-instance"
    instance.mkdir()
    shutil.copy(Path(app_config["IDP_INSTANCE_DIR"]) / "jwks.private.json", instance / "jwks.private.json")
    env = idp_env({})
    env.update({"IDP_REDIS_URL": app_config["IDP_REDIS_URL"], "IDP_DATABASE_URL": app_config["IDP_DATABASE_URL"],
                "IDP_DB_AUTO_UPGRADE": "false", "IDP_INSTANCE_DIR": str(instance), "IDP_SMTP_URL": smtp.url,
                "IDP_ENV": "production"})
    return env


def start_worker(env: dict, tmp_path: Path, name: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"{name}.log"
    with log.open("w") as output:
        process = subprocess.Popen([IDP, "mail", "worker"], env=env, stdout=output, stderr=subprocess.STDOUT,
                                   text=True)
    return process, log


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_worker_restart_during_an_outage_loses_no_mail_and_sends_it_once(build_app, smtp, redis, worker_env,
                                                                         tmp_path):
    app = build_app(IDP_SMTP_URL=smtp.url)
    smtp.stop()
    job_id, _link = queue_mail(app)

    first, first_log = start_worker(worker_env, tmp_path, "first")
    try:
        wait_until(lambda: (attempts(redis, job_id) or 0) >= 1 or first.poll() is not None, 20,
                   "the worker never tried to send the mail")
        assert first.poll() is None, first_log.read_text()
        first.send_signal(signal.SIGTERM)
        assert first.wait(5) == 0, first_log.read_text()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert "Mail worker stopped." in first_log.read_text()
    # The mail is still queued (the worker may also have queued, and not yet run, its periodic job).
    assert attempts(redis, job_id) >= 1 and redis.zscore(f"{PREFIX}jobs:{{jobs}}", job_id) is not None

    smtp.start()
    second, second_log = start_worker(worker_env, tmp_path, "second")
    try:
        smtp.wait_for(1, timeout=20)
        settle(smtp, 1, 2)
        assert pending(app) == 0
        assert second.poll() is None, second_log.read_text()
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            assert second.wait(5) == 0, second_log.read_text()
        finally:
            if second.poll() is None:
                second.kill()
                second.wait()


def test_worker_drain_sends_what_is_queued_and_exits(build_app, smtp, redis, worker_env):
    app = build_app(IDP_SMTP_URL=smtp.url)
    queue_mail(app)
    queue_mail(app, to="marie.curie@example.fr")

    result = subprocess.run([IDP, "mail", "worker", "--drain"], env=worker_env, capture_output=True, text=True,
                            timeout=60)

    assert result.returncode == 0, result.stderr
    assert "0 left" in result.stdout
    assert sorted(message["To"] for message in smtp.wait_for(2)) == [TO, "marie.curie@example.fr"]
    assert pending(app) == 0


def test_worker_drain_gives_up_when_smtp_stays_down(build_app, smtp, redis, worker_env):
    app = build_app(IDP_SMTP_URL=smtp.url)
    smtp.stop()
    job_id, _link = queue_mail(app)

    result = subprocess.run([IDP, "mail", "worker", "--drain", "--timeout", "2"], env=worker_env,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "1 left" in result.stdout, result.stdout + result.stderr
    assert pending(app) == 1 and attempts(redis, job_id) >= 1  # kept for a later run


def test_worker_refuses_an_unsupported_smtp_url(worker_env):
    env = {**worker_env, "IDP_SMTP_URL": "http://mail.example.fr"}
    result = subprocess.run([IDP, "mail", "worker", "--drain"], env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode != 0
    assert "IDP_SMTP_URL" in result.stderr
    assert "Traceback" not in result.stderr


# --- development mailbox and configuration ----------------------------------------------------------------------

@pytest.mark.parametrize("env", ["testing", "development"])
def test_without_smtp_mails_land_in_the_development_mailbox(build_app, redis, env):
    app = build_app(IDP_ENV=env)
    _job_id, link = queue_mail(app)
    browser = app.test_client()
    assert "No mail yet" in browser.get("/dev/mail?lang=en").get_data(as_text=True)

    deliver(app)

    page = browser.get("/dev/mail?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert SUBJECT_EN in html
    assert TO in html
    assert f'href="{link}"' in html


@pytest.mark.parametrize("address", ["192.0.2.7", "10.0.0.5", "2001:db8::1"])
def test_the_development_mailbox_answers_only_to_this_machine(build_app, redis, address):
    app = build_app(IDP_ENV="development")
    queue_mail(app)
    deliver(app)

    page = app.test_client().get("/dev/mail?lang=en", environ_base={"REMOTE_ADDR": address})
    assert page.status_code == 404
    assert "<h1>Page not found</h1>" in page.get_data(as_text=True)
    assert SUBJECT_EN not in page.get_data(as_text=True)
    for loopback in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        mine = app.test_client().get("/dev/mail?lang=en", environ_base={"REMOTE_ADDR": loopback})
        assert SUBJECT_EN in mine.get_data(as_text=True), loopback


def test_behind_a_proxy_the_development_mailbox_judges_the_forwarded_address(build_app, redis):
    app = build_app(IDP_ENV="development", IDP_TRUSTED_PROXIES=1)
    browser = app.test_client()  # the proxy runs on this machine: every request comes from loopback

    stranger = browser.get("/dev/mail?lang=en", headers={"X-Forwarded-For": "192.0.2.7"})
    assert stranger.status_code == 404 and "<h1>Page not found</h1>" in stranger.get_data(as_text=True)
    local = browser.get("/dev/mail?lang=en", headers={"X-Forwarded-For": "127.0.0.1"})
    assert local.status_code == 200 and "No mail yet" in local.get_data(as_text=True)


def keep_mail(app, date: str) -> str:
    """Put one mail with this Date header straight into the development mailbox; its HTML part."""
    html_part = ('<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Objet</title></head>'
                 '<body><p class="corps">Bonjour Jean, <a href="http://localhost:5000/login?a=1&amp;b=2">'
                 'se connecter</a></p></body></html>')
    message = {"to": TO, "subject": "Votre identifiant", "text": "Bonjour Jean, http://localhost:5000/login",
               "html": html_part, "lang": "fr", "date": date, "message_id": "<1@localhost>"}
    with app.app_context():
        mail.transport().deliver(mail.build(message, "Sésame <no-reply@localhost>"))
    return html_part


class Frames(HTMLParser):
    """The ``<iframe>`` elements of a page, their attributes decoded as a browser decodes them."""

    def __init__(self):
        super().__init__()
        self.found: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "iframe":
            self.found.append(dict(attrs))


def frames(page: str) -> list[dict]:
    parser = Frames()
    parser.feed(page)
    return parser.found


def test_the_development_mailbox_shows_the_html_part_in_a_sandboxed_frame_and_the_text_part(build_app, redis):
    app = build_app(IDP_ENV="development")
    html_part = keep_mail(app, "Wed, 02 Dec 2026 14:05:00 -0000")

    page = app.test_client().get("/dev/mail?lang=en").get_data(as_text=True)

    [frame] = frames(page)
    assert frame["sandbox"] == "allow-popups allow-popups-to-escape-sandbox"  # no script, no form, no origin
    assert frame["title"] == "The mail as a mail program shows it"
    assert frame["srcdoc"].rstrip() == html_part.replace("<head>", '<head><base target="_blank">')  # links open outside
    assert '<p class="corps">' not in page  # never as markup of the page itself
    assert "<pre>Bonjour Jean, <a href=\"http://localhost:5000/login\"" in page  # the text part stays


@pytest.mark.parametrize("date, french, english", [
    ("Wed, 02 Dec 2026 14:05:00 -0000", "2 décembre 2026 à 15:05 (heure de Paris)", "December 2, 2026 at 3:05"),
    ("Tue, 14 Jul 2026 21:30:00 +0000", "14 juillet 2026 à 23:30 (heure de Paris)", "July 14, 2026 at 11:30"),
])
def test_the_development_mailbox_gives_dates_and_labels_in_the_page_language_paris_time(build_app, redis, date,
                                                                                        french, english):
    app = build_app(IDP_ENV="development")
    keep_mail(app, date)
    browser = app.test_client()

    page = browser.get("/dev/mail").get_data(as_text=True)
    assert f"À\u00a0: {TO}" in page and french in page
    for english_word in ("To:", date, "Text version", "Paris time"):
        assert english_word not in page
    assert "Version texte" in page and "Le courriel tel qu’une messagerie l’affiche" in page
    page_en = browser.get("/dev/mail?lang=en").get_data(as_text=True)
    assert f"To: {TO}" in page_en and english in page_en and "(Paris time)" in page_en


def test_chromium_renders_the_html_part_of_a_kept_mail_under_the_page_policy(build_app, redis, browser):
    app = build_app(IDP_ENV="development")
    keep_mail(app, "Wed, 02 Dec 2026 14:05:00 -0000")

    with served(app) as base:
        browser.goto(f"{base}/dev/mail")
        shown = browser.frame_locator("iframe").first.locator("p.corps")
        assert shown.inner_text(timeout=5000) == "Bonjour Jean, se connecter"
        assert browser.locator("h1").inner_text() == "Boîte aux lettres de développement"


@pytest.mark.parametrize("env", ["testing", "development", "production"])
def test_no_development_mailbox_when_smtp_is_set(build_app, smtp, redis, env):
    app = build_app(IDP_ENV=env, IDP_SMTP_URL=smtp.url)
    assert app.test_client().get("/dev/mail").status_code == 404


def test_production_requires_an_smtp_server(app_config):
    with pytest.raises(ConfigError, match="IDP_SMTP_URL"):
        create_app({**app_config, "IDP_ENV": "production"})


@pytest.mark.parametrize("url", ["http://mail.example.fr", "smtp-like://127.0.0.1:25", "127.0.0.1:25"])
def test_unsupported_smtp_url_is_refused_at_start(app_config, url):
    with pytest.raises(ConfigError, match="IDP_SMTP_URL"):
        create_app({**app_config, "IDP_SMTP_URL": url})


# --- privacy ----------------------------------------------------------------------------------------------------

def test_mail_never_appears_in_the_logs(build_app, smtp, redis, caplog):
    caplog.set_level(logging.INFO, logger="idp")
    refusing = Refusing("450 mailbox busy, try later")
    controller = running(refusing)
    try:
        failing = build_app(IDP_SMTP_URL=f"smtp://127.0.0.1:{controller.port}", IDP_REDIS_PREFIX="other:")
        _job, failed_link = queue_mail(failing)
        assert Worker(failing).run_once() is True  # a failure is logged
    finally:
        controller.stop()
    app = build_app(IDP_SMTP_URL=smtp.url)
    _job, link = queue_mail(app)
    deliver(app)
    smtp.wait_for(1)

    logged = [record.getMessage() for record in caplog.records]
    assert any("failed" in line for line in logged), logged  # the capture does see the worker
    assert any("delivered" in line for line in logged), logged
    for line in logged:
        assert link not in line and failed_link not in line
        assert "Your identifier" not in line


# --- TLS to the SMTP server: smtp+starttls:// and smtps:// --------------------------------------------------------

def private_ca(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A private certificate authority (its certificate written to ``folder/ca.pem``) and the server context of
    an SMTP server on 127.0.0.1 whose certificate it signed."""
    now = dt.datetime.now(dt.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sésame test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])).issuer_name(ca_name)
              .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


class TlsSink(SmtpSink):
    """The SMTP sink, also noting whether each mail came over TLS."""

    def __init__(self):
        super().__init__(free_port())
        self.over_tls: list[bool] = []

    async def handle_DATA(self, server, session, envelope):
        self.over_tls.append(server.transport.get_extra_info("ssl_object") is not None)
        return await super().handle_DATA(server, session, envelope)


TLS_SCHEMES = {
    # scheme: how the sink's controller speaks TLS
    "smtp+starttls": lambda context: {"tls_context": context, "require_starttls": True},
    "smtps": lambda context: {"ssl_context": context},
}


@pytest.mark.parametrize("scheme", sorted(TLS_SCHEMES))
def test_mail_over_tls_is_delivered_to_a_server_signed_by_a_ca_named_in_ssl_cert_file(build_app, redis, tmp_path,
                                                                                      monkeypatch, scheme):
    ca_file, server_context = private_ca(tmp_path)
    sink = TlsSink()
    controller = running(sink, **TLS_SCHEMES[scheme](server_context))
    try:
        app = build_app(IDP_SMTP_URL=f"{scheme}://127.0.0.1:{controller.port}")

        # Not trusted yet: the certificate is checked, the mail is kept for a retry, nothing is sent.
        job_id, _link = queue_mail(app)
        assert Worker(app).run_once() is True
        assert sink.messages == [] and attempts(redis, job_id) == 1 and dead(app) == []

        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # what the README tells the deployer to set
        app.extensions["idp.jobs"].redis.zadd(f"{PREFIX}jobs:{{jobs}}", {job_id: time.time()}, xx=True)  # due again now
        deliver(app, timeout=5)
        [message] = sink.wait_for(1)
    finally:
        controller.stop()
    assert message["To"] == TO and message["Subject"] == SUBJECT_EN
    assert sink.over_tls == [True]
    assert pending(app) == 0


# --- the worker's back-off, and SIGTERM with a mail in hand ---------------------------------------------------------

def due_in(redis, job_id: str) -> float:
    return redis.zscore(f"{PREFIX}jobs:{{jobs}}", job_id) - time.time()


def test_failed_sends_back_off_doubling_from_one_second_up_to_five_minutes(build_app, smtp, redis):
    app = build_app(IDP_SMTP_URL=smtp.url)
    smtp.stop()
    job_id, _link = queue_mail(app)

    for attempt in range(1, 6):
        assert Worker(app).run_once() is True
        expected = 2 ** (attempt - 1)
        assert attempts(redis, job_id) == attempt
        assert 0.75 * expected <= due_in(redis, job_id) <= 1.2 * expected, attempt  # with ±20 % jitter
        assert Worker(app).run_once() is False  # waiting out its back-off: nobody retries it sooner
        redis.zadd(f"{PREFIX}jobs:{{jobs}}", {job_id: time.time()}, xx=True)  # the back-off is over

    redis.hset(f"{PREFIX}job:{{jobs}}:{job_id}", "attempts", 30)  # a long outage: 2 ** 30 s would be 34 years
    assert Worker(app).run_once() is True
    assert 0.8 * 300 - 1 <= due_in(redis, job_id) <= 1.2 * 300
    assert attempts(redis, job_id) == 31 and dead(app) == []


def test_a_worker_takes_over_a_job_whose_lease_ended_and_the_default_lease_is_two_minutes(build_app, smtp, redis):
    app = build_app(IDP_SMTP_URL=smtp.url)
    job_id, _link = queue_mail(app)
    dying, other = Worker(app, lease=0.3), Worker(app, lease=0.3)
    claimed = dying.queue.claim(dying.lease)  # the first worker takes it, then dies without finishing
    assert claimed is not None and claimed[0] == job_id
    assert other.run_once() is False  # still leased: nobody else runs it yet
    time.sleep(0.35)
    assert other.run_once() is True  # the lease ended: the other worker runs it
    [message] = smtp.wait_for(1)
    assert message["To"] == TO
    assert pending(app) == 0
    settle(smtp, 1, 0.2)

    # A worker as `idp serve` and `idp mail worker` start it leaves a job to others after 2 minutes.
    second_job, _link = queue_mail(app)
    assert Worker(app).lease == 120
    with app.app_context():
        assert jobs().claim()[0] == second_job
    assert 118 <= due_in(redis, second_job) <= 120


class SlowSink(SmtpSink):
    """An SMTP server that takes ``delay`` seconds to accept each mail; ``.started`` is set when one is being
    handed over."""

    def __init__(self, delay: float):
        super().__init__(free_port())
        self.delay = delay
        self.started = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.started.set()
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


def test_sigterm_lets_the_worker_finish_the_mail_in_hand(build_app, redis, worker_env, tmp_path):
    sink = SlowSink(delay=2)
    sink.start()
    try:
        app = build_app(IDP_SMTP_URL=sink.url)
        job_id, _link = queue_mail(app)
        worker, log = start_worker({**worker_env, "IDP_SMTP_URL": sink.url}, tmp_path, "slow")
        try:
            assert sink.started.wait(20), log.read_text()
            assert sink.messages == []  # the mail is in hand, not yet accepted
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(15) == 0, log.read_text()
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        assert len(sink.messages) == 1 and sink.messages[0]["To"] == TO
        assert "Mail worker stopped." in log.read_text()
        assert not redis.exists(f"{PREFIX}job:{{jobs}}:{job_id}")  # done, so never sent again
        assert redis.zscore(f"{PREFIX}jobs:{{jobs}}", job_id) is None
        settle(sink, 1, 0.3)
    finally:
        sink.stop()
