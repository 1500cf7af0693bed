"""Back-pressure: the job queue has a ceiling (IDP_JOBS_MAX).  Past it, a recovery request still
gets the neutral page, its job is dropped and recorded, and `idp jobs stats` shows it."""

from __future__ import annotations

import json

import pytest

from helpers import csrf_token, deliver, idp_env, make_user, run_idp

CEILING = 3


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url, IDP_JOBS_MAX=CEILING)


def ask_reset(client, login_name: str):
    page = client.get("/recovery/password")
    return client.post("/recovery/password", data={"csrf_token": csrf_token(page.data), "login": login_name})


def fill(queue, count: int) -> None:
    for n in range(count):
        assert queue.enqueue("test.filler", {"n": n}, delay=3600) is not None


def test_a_full_queue_drops_the_reset_job_and_the_citizen_sees_the_same_page(app, db, smtp):
    make_user(db)
    queue = app.extensions["idp.jobs"]
    client = app.test_client()

    queued = ask_reset(client, "jean.dupont")
    assert queue.pending() == 1
    fill(queue, CEILING - 1)
    assert queue.pending() == CEILING

    dropped = ask_reset(client, "jean.dupont")
    assert dropped.status_code == queued.status_code == 200
    assert dropped.data == queued.data  # the neutral page, word for word
    assert queue.pending() == CEILING  # nothing was added past the ceiling

    stats = queue.stats()
    assert stats["dropped"] == 1 and stats["max"] == CEILING and stats["pending"] == CEILING
    [record] = queue.dead()
    assert record["reason"] == "queue full" and record["name"] == "recovery.password"
    assert "jean.dupont" not in json.dumps(record)  # the drop is recorded without its payload


def test_once_the_queue_drains_requests_are_queued_and_mailed_again(app, db, smtp, redis):
    make_user(db)
    queue = app.extensions["idp.jobs"]
    fill(queue, CEILING)
    client = app.test_client()
    ask_reset(client, "jean.dupont")
    assert queue.stats()["dropped"] == 1

    for key in redis.zrange(queue.key("jobs"), 0, -1):  # the fillers come due now
        redis.zadd(queue.key("jobs"), {key: 0})
    queue.handle("test.filler", lambda payload: None)
    deliver(app)
    assert smtp.messages == []  # the dropped request sent nothing

    ask_reset(client, "jean.dupont")
    assert queue.pending() == 1
    deliver(app)
    assert [message["To"] for message in smtp.messages] == ["jean.dupont@example.fr"]


def test_a_periodic_job_past_the_ceiling_is_dropped_too(app):
    queue = app.extensions["idp.jobs"]
    fill(queue, CEILING)
    assert queue.enqueue("test.other", {}) is None
    assert queue.stats() == {"pending": CEILING, "due": 0, "waiting": CEILING, "max": CEILING, "dropped": 1,
                             "dead": 1}


def test_idp_jobs_stats_shows_the_queue(app, app_config):
    queue = app.extensions["idp.jobs"]
    fill(queue, CEILING)
    queue.enqueue("test.other", {})
    env = idp_env({**app_config, "IDP_JOBS_MAX": CEILING})

    printed = run_idp(env, "jobs", "stats", "--json")
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == {"pending": CEILING, "due": 0, "waiting": CEILING, "max": CEILING,
                                          "dropped": 1, "dead": 1}
    text = run_idp(env, "jobs", "stats")
    assert text.returncode == 0, text.stderr
    assert f"queued:   {CEILING} of at most {CEILING} (IDP_JOBS_MAX)" in text.stdout
    assert "dropped:  1 (the queue was full)" in text.stdout


def test_the_ceiling_must_be_a_positive_number(build_app):
    from idp.config import ConfigError

    with pytest.raises(ConfigError, match="IDP_JOBS_MAX: must be at least 1, got 0"):
        build_app(IDP_JOBS_MAX="0")
