"""The `idp` console script against the database, Redis and instance of an app: in this process through
Click's runner, and as a deployer runs it (a process of its own) where the process is what is tested."""

import json
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
from alembic.script import ScriptDirectory
from jose import jwt as jose_jwt
from sqlalchemy import create_engine, inspect, select, text

from idp.db import alembic_config
from idp.models import User

from helpers import (
    IDP,
    PASSWORD,
    authorize_url,
    idp_env,
    jose_claims,
    login,
    make_client,
    make_user,
    query,
    run_idp,
    run_idp_here,
)

CALLBACK = "https://a.fr/cb"


@pytest.fixture
def idp(app_config):
    """Run `idp ...` with the same settings as the `app` fixture, in this process (Click's runner: a
    process of its own costs a second of imports; the tests that need one, the production server's,
    the bad settings', start it); returns what a completed process would."""

    def run(*args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess:
        completed = run_idp_here(app_config, *args, stdin=stdin)
        if ok:
            assert completed.returncode == 0, completed.stderr
        return completed

    return run


def add_client(idp, *args: str) -> tuple[str, str | None]:
    printed = json.loads(idp("clients", "add", "--name", "Service test", *args, "--json").stdout)
    assert set(printed) == {"client_id", "client_secret"}
    return printed["client_id"], printed["client_secret"]


def client_rows(database_url: str) -> list[dict]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(text("SELECT * FROM clients"))]
    finally:
        engine.dispose()


def code_flow_tokens(browser, client_id: str, secret: str, username: str = "jean.dupont"):
    """Log in through the authorization endpoint and redeem the code at the token endpoint."""
    back = browser.get(authorize_url(client_id, redirect_uri=CALLBACK))
    if urlparse(back.location).path == "/login":
        signed_in = login(browser, username, rid=query(back.location)["rid"])
        assert signed_in.status_code == 303, signed_in.data
        back = browser.get(signed_in.location)
    assert back.location.startswith(CALLBACK + "?"), back.location
    return browser.post("/oauth/token", auth=(client_id, secret), data={
        "grant_type": "authorization_code", "code": query(back.location)["code"], "redirect_uri": CALLBACK})


def client_credentials(browser, client_id: str, secret: str):
    return browser.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def test_clients_add_json_prints_the_secret_once_and_stores_it_hashed(idp, database_url):
    client_id, secret = add_client(idp, "--redirect-uri", CALLBACK)

    assert len(secret) >= 32
    rows = client_rows(database_url)
    assert [row["client_id"] for row in rows] == [client_id]
    assert all(secret not in str(value) for value in rows[0].values())


def test_printed_secret_completes_the_code_flow(idp, client, db):
    make_user(db)
    client_id, secret = add_client(idp, "--redirect-uri", CALLBACK)

    response = code_flow_tokens(client, client_id, secret)

    assert response.status_code == 200, response.data
    tokens = response.get_json()
    assert jose_claims(client, tokens["id_token"], audience=client_id)["aud"] == client_id
    assert client_credentials(client, client_id, secret).status_code in (400, 401)  # not one of its grants
    assert code_flow_tokens(client, client_id, secret + "x").status_code == 401


def test_client_credentials_client_needs_no_redirect_uri(idp, client):
    client_id, secret = add_client(idp, "--grant-type", "client_credentials")

    response = client_credentials(client, client_id, secret)

    assert response.status_code == 200, response.data
    claims = jose_claims(client, response.get_json()["access_token"], audience=client_id)
    assert claims["client_id"] == client_id
    assert client_credentials(client, client_id, "not-the-secret").status_code == 401


def test_public_client_gets_no_secret(idp):
    client_id, secret = add_client(idp, "--public", "--redirect-uri", CALLBACK)

    assert secret is None
    listed = json.loads(idp("clients", "list", "--json").stdout)
    assert [(c["client_id"], c["public"]) for c in listed] == [(client_id, True)]


@pytest.mark.parametrize("args, named", [
    (["--name", "X"], "--redirect-uri"),
    (["--name", "X", "--grant-type", "authorization_code", "--grant-type", "refresh_token"], "--redirect-uri"),
    (["--name", "X", "--public", "--grant-type", "client_credentials"], "--public"),
    (["--name", "X", "--redirect-uri", CALLBACK, "--logo-uri", "http://a.fr/logo.png"],
     "--logo-uri 'http://a.fr/logo.png' must be an absolute https URL"),
    (["--name", "X", "--redirect-uri", CALLBACK, "--policy-uri", "javascript:alert(1)"],
     "--policy-uri 'javascript:alert(1)' must be an absolute http(s) URL"),
])
def test_impossible_client_is_refused_in_one_line_with_exit_code_2(idp, database_url, args, named):
    result = idp("clients", "add", *args, ok=False)

    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    [line] = error_lines(result.stderr)
    assert named in line
    assert client_rows(database_url) == []


def test_clients_add_records_what_the_login_page_shows_of_the_service(idp, client, database_url):
    client_id, _ = add_client(idp, "--redirect-uri", CALLBACK, "--client-uri", "https://a.fr/",
                              "--logo-uri", "https://a.fr/logo.png", "--policy-uri", "https://a.fr/rgpd")

    [row] = client_rows(database_url)
    assert (row["client_uri"], row["logo_uri"], row["policy_uri"]) == (
        "https://a.fr/", "https://a.fr/logo.png", "https://a.fr/rgpd")
    rid = query(client.get(authorize_url(client_id, redirect_uri=CALLBACK)).location)["rid"]
    page = client.get(f"/login?rid={rid}").get_data(as_text=True)
    assert 'src="https://a.fr/logo.png"' in page and 'href="https://a.fr/rgpd"' in page


def test_clients_list_then_remove(idp, client, db):
    make_user(db)
    kept, _ = make_client(db, redirect_uris=[], grant_types=["client_credentials"])
    removed, secret = add_client(idp, "--redirect-uri", CALLBACK)
    issued = code_flow_tokens(client, removed, secret)  # it now owns a refresh token
    assert issued.status_code == 200, issued.data
    tokens = issued.get_json()

    listed = {c["client_id"]: c for c in json.loads(idp("clients", "list", "--json").stdout)}
    assert set(listed) == {kept, removed}
    assert listed[removed]["redirect_uris"] == [CALLBACK] and listed[removed]["public"] is False
    assert listed[kept]["grant_types"] == ["client_credentials"]

    idp("clients", "remove", removed)

    assert [c["client_id"] for c in json.loads(idp("clients", "list", "--json").stdout)] == [kept]
    refresh = client.post("/oauth/token", auth=(removed, secret),
                          data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401, refresh.data
    unknown = idp("clients", "remove", removed, ok=False)
    assert unknown.returncode != 0 and len(error_lines(unknown.stderr)) == 1, unknown.stderr


def add_user(idp, username="marie.curie", email="marie.curie@example.fr", *extra: str, stdin: str | None = None,
             ok: bool = True):
    args = ["users", "add", "--username", username, "--email", email, "--given-name", "Marie",
            "--family-name", "Curie", *extra, "--json"]
    if stdin is not None:
        args.append("--password-stdin")
    return idp(*args, stdin=stdin, ok=ok)


def test_user_added_with_password_stdin_can_log_in(idp, client):
    created = json.loads(add_user(idp, stdin=PASSWORD + "\n").stdout)

    assert created["username"] == "marie.curie" and created["email"] == "marie.curie@example.fr"
    assert created["sub"] and "password" not in json.dumps(created)
    assert login(client, "marie.curie", "wrong password, long enough").status_code == 401
    assert login(client, "marie.curie", PASSWORD).status_code == 303
    assert client.get("/").status_code == 200


@pytest.mark.parametrize("password", [PASSWORD, "no account has this password"])  # 2nd: behind passwords._DUMMY_HASH
def test_user_added_without_password_can_never_log_in(idp, client, password):
    add_user(idp)

    response = login(client, "marie.curie", password)

    assert response.status_code == 401
    assert "Identifiant ou mot de passe incorrect" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still signed out


def test_users_add_refuses_a_too_short_password(idp, db):
    result = add_user(idp, stdin="fourteen chars\n", ok=False)

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert len(error_lines(result.stderr)) == 1
    assert db.scalars(select(User)).all() == []


@pytest.mark.parametrize("username, email", [
    ("marie.curie", "autre@example.fr"),
    ("Marie.Curie", "autre@example.fr"),
    ("autre", "Marie.Curie@Example.fr"),
])
def test_users_add_refuses_a_duplicate_account_clearly(idp, db, username, email):
    make_user(db, username="marie.curie", email="marie.curie@example.fr")

    result = add_user(idp, username, email, ok=False)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    [line] = error_lines(result.stderr)
    assert "already exists" in line
    assert db.scalars(select(User.username)).all() == ["marie.curie"]


def test_users_list_json(idp):
    add_user(idp)
    add_user(idp, "pierre.curie", "pierre.curie@example.fr", "--unverified")

    listed = json.loads(idp("users", "list", "--json").stdout)

    assert [(u["username"], u["email"], u["status"], u["email_verified"]) for u in listed] == [
        ("marie.curie", "marie.curie@example.fr", "active", True),
        ("pierre.curie", "pierre.curie@example.fr", "active", False),
    ]


def test_users_list_shows_the_names_the_help_desk_checks_a_person_against(idp):
    add_user(idp)
    add_user(idp, "pierre.curie", "pierre.curie@example.fr")

    listed = json.loads(idp("users", "list", "--json").stdout)
    printed = idp("users", "list").stdout.splitlines()

    assert [(u["username"], u["given_name"], u["family_name"]) for u in listed] == [
        ("marie.curie", "Marie", "Curie"), ("pierre.curie", "Marie", "Curie")]
    assert [line.split()[1:] for line in printed] == [
        ["marie.curie", "marie.curie@example.fr", "active", "Marie", "Curie"],
        ["pierre.curie", "pierre.curie@example.fr", "active", "Marie", "Curie"]]


def test_commands_that_send_no_mail_run_in_production_without_an_smtp_server(app_config, db):
    env = idp_env({**app_config, "IDP_ENV": "production"})  # its issuer, http://localhost:5000, is loopback
    assert "IDP_SMTP_URL" not in env

    for command in (("clients", "add", "--name", "Cantine", "--redirect-uri", CALLBACK), ("clients", "list"),
                    ("users", "add", "--username", "marie.curie", "--email", "marie.curie@example.fr",
                     "--given-name", "Marie", "--family-name", "Curie"),
                    ("users", "list"), ("keys", "rotate"), ("audit", "export")):
        result = run_idp(env, *command)
        assert result.returncode == 0, (command, result.stderr)
    assert db.scalars(select(User.username)).all() == ["marie.curie"]
    assert "Cantine" in run_idp(env, "clients", "list").stdout

    worker = run_idp(env, "mail", "worker", "--drain", "--timeout", "1")  # it delivers mail: it needs a server
    assert worker.returncode != 0
    assert error_lines(worker.stderr) == [worker.stderr.strip()] and "IDP_SMTP_URL" in worker.stderr


def kids(browser) -> dict[str, str]:
    return {key["kid"]: key["alg"] for key in browser.get("/oauth/jwks").get_json()["keys"]}


def test_keys_rotate_signs_with_new_keys_and_keeps_the_old_ones_published(idp, build_app, client, db):
    make_user(db)
    client_id, secret = add_client(idp, "--redirect-uri", CALLBACK)
    before = kids(client)
    old = code_flow_tokens(client, client_id, secret).get_json()
    assert jose_jwt.get_unverified_header(old["id_token"])["kid"] in before

    rotated = idp("keys", "rotate")

    browser = build_app().test_client()
    after = kids(browser)
    assert len(after) == 4 and set(before) < set(after)
    added = {kid: alg for kid, alg in after.items() if kid not in before}
    assert sorted(added.values()) == ["ES256", "RS256"]
    assert all(kid in rotated.stdout for kid in added)
    assert jose_claims(browser, old["id_token"], audience=client_id)["aud"] == client_id
    assert jose_claims(browser, old["access_token"], audience=client_id)["client_id"] == client_id

    refreshed = browser.post("/oauth/token", auth=(client_id, secret),
                             data={"grant_type": "refresh_token", "refresh_token": old["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.data
    new = refreshed.get_json()
    for token in (new["id_token"], new["access_token"]):
        assert jose_jwt.get_unverified_header(token)["kid"] in added
    assert jose_claims(browser, new["id_token"], audience=client_id, access_token=new["access_token"])
    assert kids(client) == after  # the app already running reloads the key file without a restart


def test_db_upgrade_creates_the_schema_on_an_empty_sqlite_file_and_is_idempotent(tmp_path):
    (tmp_path / "empty.sqlite3").touch()
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    env = idp_env({"IDP_INSTANCE_DIR": tmp_path / "instance", "IDP_DATABASE_URL": url})
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    engine = create_engine(url)
    try:
        for _ in range(2):
            result = run_idp(env, "db", "upgrade")
            assert result.returncode == 0, result.stderr
            assert {"alembic_version", "users", "clients", "refresh_tokens"} <= set(inspect(engine).get_table_names())
            with engine.connect() as conn:
                assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head]
    finally:
        engine.dispose()


ALL_COMMANDS = [
    ("clients", "add", "--name", "X", "--grant-type", "client_credentials"),
    ("keys", "rotate"),
    ("db", "upgrade"),
]
APP_COMMANDS = ALL_COMMANDS[:2]  # `db upgrade` needs neither the instance folder nor the keys


BAD_SETTINGS = [
    ("IDP_ISSUER", "ftp://x", ALL_COMMANDS),
    ("IDP_PASSWORD_MIN_LENGTH", "4", ALL_COMMANDS),
    ("IDP_REDIS_URL", "http://x", ALL_COMMANDS),
    ("IDP_LOG_FORMAT", "JSON", ALL_COMMANDS),
    ("IDP_REDIS_URL", "redis+sentinel://127.0.0.1:26379", ALL_COMMANDS),  # no master name
    ("IDP_DATABASE_URL", "nosuch://x", ALL_COMMANDS),
    ("IDP_DATABASE_URL", "not-a-url", ALL_COMMANDS),
    ("IDP_INSTANCE_DIR", "{tmp}/a-file/instance", APP_COMMANDS),
    ("IDP_SIGNING_KEYS", "{tmp}/a-file/jwks.private.json", APP_COMMANDS),
]


@pytest.mark.parametrize("setting, value, commands", BAD_SETTINGS, ids=[f"{s}={v}" for s, v, _ in BAD_SETTINGS])
def test_a_bad_setting_stops_every_command_with_one_line_naming_it(tmp_path, redis_url, setting, value, commands):
    (tmp_path / "a-file").write_text("not a folder")
    env = idp_env({"IDP_INSTANCE_DIR": tmp_path / "instance", "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
                   "IDP_REDIS_URL": redis_url, "IDP_DB_AUTO_UPGRADE": "false", setting: value.format(tmp=tmp_path)})
    running = [(command, subprocess.Popen([IDP, *command], env=env, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
               for command in commands]
    for command, process in running:
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode != 0, (command, stdout)
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and setting in lines[0], (command, stderr)


def test_a_generated_client_id_never_reads_as_an_option():
    from idp.clients import new_client_id

    assert not any(new_client_id().startswith("-") for _ in range(2000))  # 1 in 64 did before


def test_a_later_rotation_removes_the_keys_whose_tokens_have_all_expired(app_config, build_app):
    """Retired keys stay published for the longest token lifetime (here the ID token's 45 s), then the next
    `idp keys rotate` removes them.  Time is moved by setting back the keys' retirement in the file."""
    lifetimes = {"IDP_ACCESS_TOKEN_TTL": 30, "IDP_ID_TOKEN_TTL": 45}
    env = idp_env({**app_config, **lifetimes})
    browser = build_app(**lifetimes).test_client()
    keys_file = Path(app_config["IDP_INSTANCE_DIR"]) / "jwks.private.json"
    first = set(kids(browser))

    def retired_ago(kid_set, seconds):
        stored = json.loads(keys_file.read_text())
        for key in stored["keys"]:
            if key["kid"] in kid_set:
                key["retired_at"] -= seconds
        keys_file.write_text(json.dumps(stored))

    assert run_idp(env, "keys", "rotate").returncode == 0
    second = set(kids(browser)) - first
    assert len(second) == 2 and set(kids(browser)) == first | second

    retired_ago(first, 30)  # their tokens could still be alive: an ID token lives 45 s (15 s of margin: a slow start)
    kept = run_idp(env, "keys", "rotate")
    assert kept.returncode == 0, kept.stderr
    assert "Removed" not in kept.stdout
    third = set(kids(browser)) - first - second
    assert set(kids(browser)) == first | second | third

    retired_ago(first, 16)  # now retired 46 s ago: every token they signed has expired
    assert set(kids(browser)) == second | third  # no longer published, even before the file is tidied
    pruned = run_idp(env, "keys", "rotate")
    assert pruned.returncode == 0, pruned.stderr
    assert all(kid in pruned.stdout for kid in first) and "Removed" in pruned.stdout
    stored = {key["kid"] for key in json.loads(keys_file.read_text())["keys"]}
    assert not stored & first
    assert second | third <= stored  # retired a moment ago: still published
    assert first.isdisjoint(kids(browser)) and second | third < set(kids(browser))
