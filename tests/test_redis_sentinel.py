"""IDP_REDIS_URL=redis+sentinel://: a master, its replica and three sentinels of our own on loopback.
The master is killed (SIGKILL); once the sentinels promote the replica the provider carries on with
it, sessions included; while there is no master, pages answer the readable 503 and the protocol
endpoints a JSON error."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis as redis_lib

from idp.client_cache import ClientCache
from idp.redis_store import connect

from conftest import free_port, redis_server
from helpers import csrf_token, deliver, get_code, link_in, login, make_client, make_user, redeem, signed_in, submit

pytestmark = pytest.mark.sentinel
MASTER = "sesame"
NEW_PASSWORD = "a walk along the river at dawn"
UNAVAILABLE = "Service momentanément indisponible"


def wait_until(condition, timeout: float = 30, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def answers(client: redis_lib.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis_lib.ConnectionError:
        return False


class SentinelGroup:
    """A master, one replica and three sentinels (quorum 2) on free loopback ports."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self) -> None:
        self.master_port = self._start("master", [])
        self.replica_port = self._start("replica", [f"replicaof 127.0.0.1 {self.master_port}"])
        self.sentinel_ports = [self._start(f"sentinel-{n}", [
            f"sentinel monitor {MASTER} 127.0.0.1 {self.master_port} 2",
            f"sentinel down-after-milliseconds {MASTER} 1000",
            f"sentinel failover-timeout {MASTER} 2000",
        ], sentinel=True) for n in range(3)]
        self.master = self.server(self.master_port)
        self.replica = self.server(self.replica_port)
        self.sentinels = [self.server(port) for port in self.sentinel_ports]
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        self.url = f"redis+sentinel://{hosts}/{MASTER}/1"  # db 1: the URL's /db is honoured
        wait_until(self._watching, what="the sentinels to know the replica and each other")

    @staticmethod
    def server(port: int) -> redis_lib.Redis:
        return redis_lib.Redis(port=port, decode_responses=True, socket_timeout=5)

    def _start(self, name: str, lines: list[str], sentinel: bool = False) -> int:
        port = free_port()
        folder = self.folder / name
        folder.mkdir(parents=True)
        config = folder / "redis.conf"  # sentinels rewrite theirs: a file of their own
        config.write_text("\n".join([f"port {port}", "bind 127.0.0.1", f"dir {folder}",
                                     *([] if sentinel else ['save ""', "appendonly no"]), *lines]) + "\n")
        self.processes[name] = subprocess.Popen([redis_server(), str(config), *(["--sentinel"] if sentinel else [])],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: answers(self.server(port)), timeout=10, what=f"{name} to start")
        return port

    def _watching(self) -> bool:
        if self.replica.info("replication")["master_link_status"] != "up":
            return False
        for sentinel in self.sentinels:
            state = sentinel.sentinel_master(MASTER)
            if state["num-slaves"] != 1 or state["num-other-sentinels"] != 2:
                return False
        return True

    def masters(self) -> set[int]:
        """The master's port, as each sentinel names it."""
        return {int(sentinel.sentinel_get_master_addr_by_name(MASTER)[1]) for sentinel in self.sentinels}

    def kill_master(self) -> None:
        process = self.processes["master"]
        process.kill()  # SIGKILL: no goodbye to the replica or the clients
        process.wait(10)

    def wait_for_failover(self) -> None:
        wait_until(lambda: self.masters() == {self.replica_port}, what="the sentinels to promote the replica")
        wait_until(lambda: self.replica.info("replication")["role"] == "master", what="the replica to be master")

    def replicated(self) -> None:
        """Block until the replica holds every write made so far (replication is asynchronous)."""
        pipe = self.master.pipeline(transaction=False)  # one connection: WAIT counts its own writes
        pipe.set("test:replicated", uuid.uuid4().hex)
        pipe.wait(1, 5000)
        assert pipe.execute()[1] == 1, "the replica did not acknowledge"

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)


@pytest.fixture
def sentinels(tmp_path):
    group = SentinelGroup(tmp_path / "sentinel-group")
    try:
        group.start()
        yield group
    finally:
        group.stop()


@pytest.fixture
def app(build_app, sentinels, smtp):
    return build_app(IDP_REDIS_URL=sentinels.url, IDP_SMTP_URL=smtp.url)


@pytest.fixture
def citizen(db):
    return make_user(db)


def text(response) -> str:
    return response.get_data(as_text=True)


def test_after_a_failover_sessions_sign_in_recovery_and_the_code_flow_work(app, client, db, citizen, sentinels,
                                                                           smtp):
    client_id, secret = make_client(db)
    assert login(client).status_code == 303
    sentinels.replicated()

    sentinels.kill_master()
    sentinels.wait_for_failover()

    account = client.get("/account")  # the session, read from the promoted replica
    assert account.status_code == 200 and 'value="jean.dupont@example.fr"' in text(account)

    newcomer = app.test_client()
    assert login(newcomer).status_code == 303 and signed_in(newcomer)

    asked = submit(app.test_client(), "/recovery/password", login="jean.dupont")
    assert asked.status_code in (200, 303), asked.status_code
    deliver(app)
    link = link_in(smtp.text(smtp.wait_for(1)[0]), "/recovery/reset/")
    reader = app.test_client()
    form = reader.get(link)
    assert form.status_code == 200
    changed = reader.post(link, data={"csrf_token": csrf_token(form.data), "new_password": NEW_PASSWORD,
                                      "new_password_confirm": NEW_PASSWORD})
    assert changed.status_code == 303, text(changed)
    assert login(app.test_client(), password=NEW_PASSWORD).status_code == 303

    code = get_code(client, client_id, password=NEW_PASSWORD)["code"]  # the reset closed its session
    tokens = redeem(client, client_id, secret, code)
    assert tokens.status_code == 200, tokens.get_json()
    assert tokens.get_json()["id_token"]


def test_while_no_master_is_reachable_pages_answer_503_and_protocol_endpoints_json(app, client, db, sentinels,
                                                                                   caplog):
    client_id, secret = make_client(db)
    assert client.get("/login").status_code == 200
    sentinels.replica.config_set("replica-priority", 0)  # never promoted: no master until the test ends

    sentinels.kill_master()
    refused = client.get("/login")  # the sentinels still name the dead master
    assert refused.status_code == 503 and UNAVAILABLE in text(refused)

    wait_until(lambda: all("s_down" in sentinel.sentinel_master(MASTER)["flags"] for sentinel in sentinels.sentinels),
               what="every sentinel to see the master down")
    caplog.clear()
    page = client.get("/login")  # now no sentinel names a master
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert f"<h1>{UNAVAILABLE}</h1>" in text(page)
    assert "MasterNotFoundError" in caplog.text

    token = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert token.status_code == 503 and token.mimetype == "application/json"
    assert token.get_json()["error"] == "temporarily_unavailable"
    ready = app.test_client().get("/readyz")  # a probe, without the citizen's cookie
    assert ready.status_code == 503 and ready.get_json()["checks"]["redis"] == "MasterNotFoundError"


def test_the_client_cache_listener_follows_the_failover(db, sentinels):
    client_id, _ = make_client(db)
    key = f"test-clients-generation-{uuid.uuid4().hex[:8]}"
    cache = ClientCache(connect(sentinels.url), key, listen=True)
    other = ClientCache(connect(sentinels.url), key, listen=False)
    try:
        cache.get(db, client_id)  # starts the listener
        wait_until(lambda: cache._fresh, what="the listener to subscribe")
        sentinels.kill_master()
        sentinels.wait_for_failover()
        wait_until(lambda: sentinels.replica.pubsub_numsub(key) == [(key, 1)], what="the listener on the new master")
        wait_until(lambda: cache._fresh, what="the listener to subscribe again")
        epoch = cache._epoch

        other.announce()

        wait_until(lambda: cache._epoch > epoch, timeout=5, what="the announce to reach the listener")
    finally:
        cache.close()
        other.close()


def test_sessions_and_rate_limits_live_on_the_masters_db_the_url_names(build_app, sentinels, citizen):
    limited = build_app(IDP_REDIS_URL=sentinels.url, IDP_LOGIN_RATE_LIMIT="2/minute").test_client()
    assert [login(limited, password="not the password").status_code for _ in range(2)] == [401, 401]

    held = login(limited, password="not the password")

    assert held.status_code == 429 and "<h1>Trop de tentatives</h1>" in text(held)
    stored = redis_lib.Redis(port=sentinels.master_port, db=1, decode_responses=True).keys("idp:*")
    assert any(key.startswith("idp:limits") for key in stored), stored  # Flask-Limiter's counters
    assert any(key.startswith("idp:session:") for key in stored), stored  # the form's session

    plain = build_app(IDP_LOGIN_RATE_LIMIT="2/minute").test_client()  # the suite's Redis, after a sentinel app
    assert [login(plain, password="not the password").status_code for _ in range(3)] == [401, 401, 429]


def test_a_demoted_master_refusing_writes_answers_503(build_app, sentinels):
    """A connection left on a master the sentinels demoted meets READONLY: through redis+sentinel://
    redis-py asks the sentinels again; reached any other way it is an outage, not a crash."""
    demoted = build_app(IDP_REDIS_URL=f"redis://127.0.0.1:{sentinels.replica_port}/1").test_client()

    page = demoted.get("/login")  # saving the form's session is a write

    assert page.status_code == 503 and f"<h1>{UNAVAILABLE}</h1>" in text(page)
