"""`idp serve --production`: Granian with two worker processes, started as a deployer starts it, over
real HTTP on loopback. Both workers sign with the one key set, keep connections alive, see the
client's address, forget a client removed by another process, and all stop on SIGTERM.

Which worker answered is read from the kernel, not from a log: the server side of our TCP
connection (/proc/net/tcp) is a socket that one worker process holds open (/proc/<pid>/fd)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis as redis_lib
import requests
from click.testing import CliRunner
from jose import jwt as jose_jwt
from sqlalchemy.orm import Session

from idp import db as idp_db
from idp.cli import main
from idp.clients import register
from idp.redis_store import redis_binary

from conftest import free_port
from helpers import IDP, idp_env, metric_sample, run_idp

ADMIN_SCOPE = "idp:admin"


# What the kernel says about processes and connections ------------------------------------------------------------

def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (its children, theirs...), from /proc/<pid>/task/*/children."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            listed = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, listed):
            found += [child, *children(child)]
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has exited)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        if match := re.fullmatch(r"socket:\[(\d+)\]", target):
            inodes.add(match.group(1))
    return inodes


def server_side_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of the loopback connection from ``client_port`` to ``server_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            return inode
    return None


def worker_of(server: dict, connection: http.client.HTTPConnection) -> int:
    """The worker process holding the server's end of this (connected) connection."""
    client_port = connection.sock.getsockname()[1]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        inode = server_side_inode(server["port"], client_port)
        owners = [pid for pid in server["workers"] if inode is not None and inode in socket_inodes(pid)]
        if len(owners) == 1:
            return owners[0]
        time.sleep(0.05)
    raise AssertionError(f"no single worker holds the connection from port {client_port}")


def connect(server: dict, source: str = "127.0.0.1") -> http.client.HTTPConnection:
    connection = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=10, source_address=(source, 0))
    connection.connect()
    return connection


def call(connection: http.client.HTTPConnection, method: str, path: str, body: dict | None = None,
         headers: dict | None = None) -> tuple[int, dict, dict | str]:
    encoded = None
    headers = dict(headers or {})
    if body is not None:
        encoded = "&".join(f"{name}={value}" for name, value in body.items())
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=encoded, headers=headers)
    response = connection.getresponse()
    raw = response.read().decode()
    kept = {name.lower(): value for name, value in response.getheaders()}
    try:
        return response.status, kept, json.loads(raw)
    except ValueError:
        return response.status, kept, raw


def basic(client_id: str, secret: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def token_request(connection, client_id: str, secret: str, scope: str | None = None):
    body = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return call(connection, "POST", "/oauth/token", body, basic(client_id, secret))


def one_connection_per_worker(server: dict, timeout: float = 30) -> dict[int, http.client.HTTPConnection]:
    """Open connections until each worker holds one; keep one per worker, close the others."""
    kept: dict[int, http.client.HTTPConnection] = {}
    extra = []
    deadline = time.monotonic() + timeout
    while len(kept) < len(server["workers"]):
        assert time.monotonic() < deadline, f"connections reached only workers {sorted(kept)}"
        connection = connect(server)
        status, _, _ = call(connection, "GET", "/healthz")
        assert status == 200
        pid = worker_of(server, connection)
        if pid in kept:
            extra.append(connection)
        else:
            kept[pid] = connection
    for connection in extra:
        connection.close()
    return kept


# The server ------------------------------------------------------------------------------------------------------

def registered(database_url: str, **fields) -> tuple[str, str]:
    engine = idp_db.make_engine(database_url)
    try:
        with Session(engine) as db:
            client, secret = register(db, **fields)
            return client.client_id, secret
    finally:
        engine.dispose()


def healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def smtp_module():
    from conftest import SmtpSink

    sink = SmtpSink(free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def module_redis_url(tmp_path_factory):
    """A redis-server of the module's own: the ``redis`` fixture of other tests empties the
    session's between tests, which would pull the ground from under a server kept for the module."""
    binary = shutil.which("redis-server") or redis_binary()
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis_lib.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis_lib.ConnectionError:
            assert time.monotonic() < deadline, "private redis-server did not start"
            time.sleep(0.05)
    client.close()
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="module")
def production(tmp_path_factory, module_redis_url, smtp_module):
    """`idp serve --production --workers 2`, once for the module (starting it costs seconds)."""
    folder = tmp_path_factory.mktemp("production")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{folder / 'idp.sqlite3'}"
    idp_db.upgrade(database_url)
    # IDP_ENV unset: production, as on a server. Only 127.0.0.1 is an operators' network, so
    # that another loopback address (127.0.0.2) is a stranger's.
    env = idp_env({"IDP_INSTANCE_DIR": folder / "sesame", "IDP_REDIS_URL": module_redis_url,
                   "IDP_DATABASE_URL": database_url, "IDP_ISSUER": url, "IDP_SMTP_URL": smtp_module.url,
                   "IDP_ADMIN_NETWORKS": "127.0.0.1/32"})
    service = registered(database_url, name="Batch régional", grant_types=["client_credentials"],
                         scope=ADMIN_SCOPE)
    log = folder / "serve.log"
    with open(log, "w") as output:
        process = subprocess.Popen([IDP, "serve", "--production", "--workers", "2", "--port", str(port)],
                                   env=env, cwd=folder, stdout=output, stderr=subprocess.STDOUT)
    server = {"url": url, "port": port, "env": env, "database_url": database_url, "service": service,
              "process": process, "log": log, "workers": []}
    try:
        deadline = time.monotonic() + 30
        while not healthy(url):
            assert process.poll() is None, f"idp serve --production exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"idp serve --production is not ready: {log.read_text()}"
            time.sleep(0.1)
        while len(children(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        server["workers"] = children(process.pid)
        assert len(server["workers"]) == 2, (server["workers"], log.read_text())
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        for pid in server["workers"]:  # never leave a worker behind, even when a test failed
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


# The tests run in this order: the last one stops the server. ----------------------------------------------------

def test_it_answers_the_probes_and_says_what_it_runs(production):
    assert requests.get(production["url"] + "/healthz", timeout=10).status_code == 200
    assert requests.get(production["url"] + "/readyz", timeout=10).status_code == 200
    printed = production["log"].read_text()
    assert f"listens on 127.0.0.1 port {production['port']} with 2 worker(s): {production['url']}" in printed


def test_each_worker_signs_tokens_that_verify_against_the_published_keys(production):
    client_id, secret = production["service"]
    connections = one_connection_per_worker(production)
    jwks_seen, tokens = [], []
    for pid, connection in connections.items():
        status, _, jwks = call(connection, "GET", "/oauth/jwks")
        assert status == 200
        jwks_seen.append(jwks)
        status, _, answer = token_request(connection, client_id, secret)
        assert status == 200, answer
        assert worker_of(production, connection) == pid  # answered on the same connection, by that worker
        tokens.append(answer["access_token"])
        connection.close()

    assert jwks_seen[0] == jwks_seen[1]
    assert sorted(key["alg"] for key in jwks_seen[0]["keys"]) == ["ES256", "RS256"]
    for token in tokens:
        header = jose_jwt.get_unverified_header(token)
        assert header["typ"] == "at+jwt"
        key = next(key for key in jwks_seen[0]["keys"] if key["kid"] == header["kid"])
        claims = jose_jwt.decode(token, key, algorithms=["RS256"], issuer=production["url"], audience=client_id)
        assert claims["client_id"] == client_id and claims["sub"] == client_id
    key_files = sorted(str(path.name) for path in (Path(production["env"]["IDP_INSTANCE_DIR"])).glob("*jwks*"))
    assert key_files == ["jwks.private.json"]


def test_a_connection_is_kept_alive_across_requests(production):
    client_id, secret = production["service"]
    with requests.Session() as browser:
        for _ in range(5):
            response = browser.post(production["url"] + "/oauth/token", data={"grant_type": "client_credentials"},
                                    auth=(client_id, secret), timeout=10)
            assert response.status_code == 200, response.text
            assert response.headers.get("Connection", "keep-alive").lower() != "close"
        for _ in range(5):
            assert browser.get(production["url"] + "/oauth/jwks", timeout=10).status_code == 200
            assert browser.get(production["url"] + "/healthz", timeout=10).status_code == 200
        pools = browser.get_adapter(production["url"]).poolmanager.pools
        assert len(pools) == 1
        pool = pools[next(iter(pools.keys()))]
        assert pool.num_requests == 15
        assert pool.num_connections == 1  # fifteen requests, one TCP connection

    connection = connect(production)
    pid = worker_of(production, connection)
    for _ in range(5):
        status, _, answer = token_request(connection, client_id, secret)
        assert status == 200, answer
    assert worker_of(production, connection) == pid
    connection.close()


def test_the_client_address_reaches_the_app(production):
    """The admin API exists only for IDP_ADMIN_NETWORKS (here 127.0.0.1 alone): from 127.0.0.1 it
    answers; from 127.0.0.2 (another loopback address, so a stranger here) it is a 404, as for an
    unknown path. Both hold only if the app sees the real peer address in REMOTE_ADDR."""
    client_id, secret = production["service"]
    connection = connect(production)
    status, _, answer = token_request(connection, client_id, secret, ADMIN_SCOPE)
    assert status == 200, answer
    bearer = {"Authorization": f"Bearer {answer['access_token']}"}

    status, _, found = call(connection, "GET", "/admin/api/users?q=personne", headers=bearer)
    assert status == 200, found
    assert found == {"users": []}
    connection.close()

    stranger = connect(production, source="127.0.0.2")
    status, _, _ = call(stranger, "GET", "/admin/api/users?q=personne", headers=bearer)
    assert status == 404
    status, _, _ = call(stranger, "GET", "/healthz")  # the rest of the provider does answer it
    assert status == 200
    stranger.close()


def test_a_client_removed_by_another_process_is_refused_by_every_worker(production):
    client_id, secret = registered(production["database_url"], name="Service résilié",
                                   grant_types=["client_credentials"])
    for pid, connection in one_connection_per_worker(production).items():
        status, _, answer = token_request(connection, client_id, secret)
        assert status == 200, (pid, answer)  # both workers now hold the client in their cache
        connection.close()

    removed = run_idp(production["env"], "clients", "remove", client_id)  # a process of its own
    assert removed.returncode == 0, removed.stderr
    assert f"Removed client {client_id}." in removed.stdout

    deadline = time.monotonic() + 5  # a bounded wait for the news to travel, not a measure of speed
    refused = {}
    while len(refused) < 2:
        assert time.monotonic() < deadline, f"workers still issuing tokens to a removed client: {refused}"
        connection = connect(production)
        status, _, answer = token_request(connection, client_id, secret)
        if status == 401:
            refused[worker_of(production, connection)] = answer
        connection.close()
        time.sleep(0.05)
    assert all(answer["error"] == "invalid_client" for answer in refused.values())

    answered_by = set()
    for _ in range(10):
        connection = connect(production)
        status, _, answer = token_request(connection, client_id, secret)
        assert (status, answer.get("error")) == (401, "invalid_client"), answer
        answered_by.add(worker_of(production, connection))
        connection.close()
    for pid, connection in one_connection_per_worker(production).items():
        status, _, answer = token_request(connection, client_id, secret)
        assert (status, answer.get("error")) == (401, "invalid_client"), (pid, answer)
        answered_by.add(pid)
        connection.close()
    assert answered_by == set(production["workers"])
    status, _, answer = token_request(connect(production), *production["service"])
    assert status == 200, answer  # the other client was not forgotten for good


def test_metrics_add_up_the_requests_of_every_worker(production):
    """Each worker counts its own requests; /metrics, wherever it lands, shows the sum of all."""
    healthz = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
    watcher = connect(production)
    status, headers, before = call(watcher, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain"), before
    workers = one_connection_per_worker(production)
    _, _, opened = call(watcher, "GET", "/metrics")  # one_connection_per_worker probes /healthz too
    for connection in workers.values():
        for _ in range(5):
            assert call(connection, "GET", "/healthz")[0] == 200
    for connection in workers.values():
        status, _, after = call(connection, "GET", "/metrics")
        assert status == 200
        assert metric_sample(after, "sesame_http_requests_total", **healthz) - \
            metric_sample(opened, "sesame_http_requests_total", **healthz) == 5 * len(workers)
        assert metric_sample(after, "sesame_http_request_duration_seconds_count", endpoint="health.healthz") >= \
            metric_sample(after, "sesame_http_requests_total", **healthz)
        connection.close()
    assert metric_sample(before, "sesame_jobs_max") == 100_000  # the deployment's figures, from Redis
    watcher.close()

    stranger = connect(production, source="127.0.0.2")
    status, _, page = call(stranger, "GET", "/metrics")
    assert status == 404 and "sesame_http_requests_total" not in page
    stranger.close()


def test_sigterm_stops_the_server_and_every_worker(production):
    process, workers = production["process"], production["workers"]
    assert all(alive(pid) for pid in workers)

    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0

    deadline = time.monotonic() + 10  # the workers are the server's children: gone with it
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in workers if alive(pid)] == []
    assert not healthy(production["url"])
    assert "Granian shutdown completed" in production["log"].read_text()


# Refused before anything starts ----------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--workers", "2"], "--workers needs --production"),
    (["--demo", "--production"], "--demo is for the development server, not with --production"),
])
def test_options_that_do_not_go_together_are_a_usage_error(args, message):
    result = CliRunner().invoke(main, ["serve", *args])

    assert result.exit_code == 2, result.output
    assert "Usage: " in result.output and f"Error: {message}" in result.output


def test_a_bad_setting_is_one_line_before_any_worker_starts(tmp_path, redis_url):
    port = free_port()
    env = idp_env({"IDP_INSTANCE_DIR": tmp_path / "sesame", "IDP_REDIS_URL": redis_url,
                   "IDP_DATABASE_URL": f"sqlite:///{tmp_path / 'idp.sqlite3'}",
                   "IDP_ISSUER": f"http://127.0.0.1:{port}"})  # no IDP_SMTP_URL: production cannot mail

    result = subprocess.run([IDP, "serve", "--production", "--workers", "2", "--port", str(port)], env=env,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "IDP_SMTP_URL" in lines[0], result.stderr
    assert not healthy(f"http://127.0.0.1:{port}")
