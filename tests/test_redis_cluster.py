"""Sésame on a Redis Cluster (``IDP_REDIS_URL=redis+cluster://...``): three masters that the test
starts on loopback (tests/local_cluster.py), whatever IDP_TEST_REDIS_CLUSTER says; with it, the
whole Redis-facing suite runs on such a cluster too.

A cluster runs a script, a transaction or a multi-key command only on keys of one slot: a citizen's
sessions and links share their hash tag, the job queue its own, and each script names in KEYS every
key it touches.  Keys written before the tags (an upgrade) are handled: queued jobs move to the new
keys; an old cookie or link is simply unknown."""

from __future__ import annotations

import re
import threading
import time

import pytest
import redis as redis_lib
from redis.cluster import RedisCluster

from idp import jobs as jobs_module
from idp import one_time_tokens as ott_module
from idp import sessions as sessions_module
from idp.jobs import Worker
from idp.redis_store import user_tag

from conftest import redis_server
from helpers import (
    csrf_token,
    deliver,
    get_code,
    link_in,
    login,
    make_client,
    make_user,
    redeem,
    session_index,
    signed_in,
    submit,
)
from local_cluster import LocalCluster, free_node_port

NEW_PASSWORD = "a walk along the river at dawn"
UNAVAILABLE = "Service momentanément indisponible"
LINK_GONE = "Ce lien ne fonctionne plus"
SCRIPTS = {
    "sessions._END_ALL": sessions_module._END_ALL,
    "sessions._END_ONE": sessions_module._END_ONE,
    "one_time_tokens._ISSUE": ott_module._ISSUE,
    "one_time_tokens._CONSUME": ott_module._CONSUME,
    "one_time_tokens._REVOKE_USER": ott_module._REVOKE_USER,
    "jobs._CLAIM": jobs_module._CLAIM,
    "jobs._ENQUEUE": jobs_module._ENQUEUE,
}


@pytest.fixture
def redis_url(single_redis_url):
    """Each test here names its Redis itself: it runs once, whatever IDP_TEST_REDIS_CLUSTER says."""
    return single_redis_url


@pytest.fixture
def app(build_app, redis_cluster, smtp):
    redis_cluster.flush()
    return build_app(IDP_REDIS_URL=redis_cluster.url, IDP_SMTP_URL=smtp.url)


@pytest.fixture
def store(app):
    return app.extensions["idp"].redis


def text(response) -> str:
    return response.get_data(as_text=True)


def every_key(store: RedisCluster) -> list[str]:
    return sorted(store.keys("*", target_nodes=RedisCluster.PRIMARIES))  # every master: KEYS asks one by default


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_names_in_keys_every_key_it_touches(name):
    """Each redis.call's key is one of KEYS: a key built inside the script would be refused by a cluster
    when it is in another slot, and hides what the script touches."""
    calls = re.findall(r"redis\.call\('([A-Z]+)',\s*([^,)]+)", SCRIPTS[name])
    assert calls, "no redis.call found: the pattern no longer reads the scripts"
    for command, key in calls:
        assert re.fullmatch(r"KEYS\[[^\]]+\]", key.strip()), f"{name}: {command} on {key.strip()}, not a declared key"


def test_a_citizens_sessions_and_links_share_a_slot_and_citizens_spread_over_the_masters(app, store, db, smtp):
    citizen = make_user(db)
    laptop, phone = app.test_client(), app.test_client()
    assert login(laptop).status_code == 303 and login(phone).status_code == 303
    assert submit(app.test_client(), "/recovery/password", login="jean.dupont").status_code in (200, 303)
    queue = [key for key in every_key(store) if "{jobs}" in key]
    assert len(queue) >= 2 and len({store.keyslot(key) for key in queue}) == 1, queue
    deliver(app)  # the worker resolves the request: the link is issued, and mailed

    tag = user_tag(citizen.id)
    mine = [key for key in every_key(store) if "{" + tag + "}" in key]
    kinds = {key.split(":")[1] for key in mine}
    assert {"session", "user-sessions", "ott", "ott-user"} <= kinds, mine
    assert len({store.keyslot(key) for key in mine}) == 1, mine

    masters = {store.nodes_manager.get_node_from_slot(store.keyslot(f"x{{{user_tag(user_id)}}}")).port
               for user_id in range(1, 61)}
    assert len(masters) == 3, "sixty citizens' keys all fell on fewer than the three masters"


def test_the_journeys_run_on_a_cluster(app, store, db, smtp):
    """Sign in on two devices, a code exchanged and refreshed, a password reset by the mailed link:
    every session ends, the link works once, and the new password signs in."""
    citizen = make_user(db)
    client_id, secret = make_client(db)
    laptop, phone = app.test_client(), app.test_client()
    assert login(phone).status_code == 303
    code = get_code(laptop, client_id)["code"]
    tokens = redeem(laptop, client_id, secret, code)
    assert tokens.status_code == 200, tokens.get_json()
    refreshed = laptop.post("/oauth/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": tokens.get_json()["refresh_token"]},
                            auth=(client_id, secret))
    assert refreshed.status_code == 200, refreshed.get_json()
    assert redeem(laptop, client_id, secret, code).get_json()["error"] == "invalid_grant"  # a code works once
    assert store.scard(session_index(citizen.id)) == 2

    assert submit(app.test_client(), "/recovery/password", login="jean.dupont").status_code in (200, 303)
    deliver(app)
    link = link_in(smtp.text(smtp.wait_for(1)[0]), "/recovery/reset/")
    reader = app.test_client()
    form = reader.get(link)
    assert form.status_code == 200
    fields = {"csrf_token": csrf_token(form.data), "new_password": NEW_PASSWORD,
              "new_password_confirm": NEW_PASSWORD}
    assert reader.post(link, data=fields).status_code == 303
    again = reader.post(link, data=fields)
    assert LINK_GONE in text(again), text(again)

    assert not signed_in(laptop) and not signed_in(phone)
    assert not store.exists(session_index(citizen.id))
    assert login(app.test_client(), password=NEW_PASSWORD).status_code == 303


def test_a_forged_or_old_cookie_and_an_old_link_are_simply_unknown(app, db):
    make_user(db)
    browser = app.test_client()
    assert login(browser).status_code == 303 and signed_in(browser)
    cookie = browser.get_cookie("idp_session").value
    tag, _, secret = cookie.partition(".")

    for forged in (f"{tag}.{'A' * 43}", f"{'0' * 16}.{secret}", secret, "x" * 4000):
        other = app.test_client()
        other.set_cookie("idp_session", forged)
        assert not signed_in(other), forged
    gone = app.test_client().get(f"/recovery/reset/{'A' * 43}")  # a link mailed before the tags
    assert gone.status_code == 410 and LINK_GONE in text(gone)


def test_with_a_master_gone_pages_answer_503_and_protocol_endpoints_json(build_app, db, tmp_path):
    """No replica to take over: once the others see it down, the cluster refuses every command."""
    cluster = LocalCluster(redis_server(), tmp_path / "cluster", [free_node_port() for _ in range(3)])
    try:
        cluster.start()
        app = build_app(IDP_REDIS_URL=cluster.url)
        client_id, secret = make_client(db)
        browser = app.test_client()
        assert browser.get("/login").status_code == 200

        cluster.processes[0].kill()
        cluster.processes[0].wait(10)
        deadline = time.monotonic() + 30
        while cluster.node(cluster.ports[1]).cluster("info")["cluster_state"] == "ok":
            assert time.monotonic() < deadline, "the cluster never noticed its master was gone"
            time.sleep(0.1)

        page = browser.get("/login")
        assert page.status_code == 503 and f"<h1>{UNAVAILABLE}</h1>" in text(page)
        token = browser.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        assert token.status_code == 503 and token.get_json()["error"] == "temporarily_unavailable"
    finally:
        cluster.stop()


def test_jobs_queued_by_an_earlier_version_are_moved_to_the_new_keys_and_run(build_app, single_redis_url):
    app = build_app(IDP_REDIS_URL=single_redis_url)
    plain = redis_lib.Redis.from_url(single_redis_url, decode_responses=True)
    plain.flushdb()  # our own server
    for number in range(3):  # as the version before the hash tags wrote them
        plain.hset(f"idp:job:old{number}", mapping={"name": "test.legacy", "payload": f'{{"n": {number}}}',
                                                    "attempts": 0, "created": int(time.time())})
        plain.zadd("idp:jobs", {f"old{number}": time.time() - 10})
    plain.zadd("idp:jobs", {"vanished": time.time()})  # its hash already gone: dropped from the index
    plain.lpush("idp:jobs-dead", '{"id": "gone", "reason": "expired before it could run"}')
    plain.set("idp:jobs-dropped", 2)

    queue = app.extensions["idp.jobs"]
    ran, done = [], threading.Event()
    queue.handle("test.legacy", lambda payload: (ran.append(payload["n"]), len(ran) == 3 and done.set()))
    worker = Worker(app)
    worker.start_thread()
    try:
        assert done.wait(15), f"the worker ran {ran} of the three old jobs"
    finally:
        worker.stop()
    assert sorted(ran) == [0, 1, 2]
    assert not plain.exists("idp:jobs", "idp:job:old0", "idp:jobs-dead", "idp:jobs-dropped")
    assert queue.stats()["dropped"] == 2 and [job["id"] for job in queue.dead()] == ["gone"]
    assert queue.adopt_legacy() == 0  # done once: nothing left to move
    plain.close()


def test_a_session_signed_in_under_a_cookie_of_another_tag_gets_a_new_cookie_under_the_citizens(app, store, db):
    """Whatever path signs a browser in, its session ends up under the citizen's tag, where ending all
    of the citizen's sessions finds it."""
    citizen = make_user(db)
    browser = app.test_client()
    assert browser.get("/login").status_code == 200
    before = browser.get_cookie("idp_session").value
    with browser.session_transaction() as session:  # signed in without the new cookie a login gives
        session["user_id"] = citizen.id
    after = browser.get_cookie("idp_session").value
    assert after != before and after.partition(".")[0] == user_tag(citizen.id)
    assert store.scard(session_index(citizen.id)) == 1
    with app.app_context():
        assert len(sessions_module.end_all_for_user(citizen.id)) == 1
    assert not signed_in(browser)
