"""/metrics in one process: what a deployment's Prometheus reads, and only from the operators'
networks.  (Several workers adding up: tests/test_production_server.py.)"""

from __future__ import annotations

import pytest

from helpers import PASSWORD, deliver, login, make_user
from helpers import metric_sample as sample

STRANGER = {"REMOTE_ADDR": "203.0.113.7"}


@pytest.fixture
def app(build_app, smtp):
    return build_app(IDP_SMTP_URL=smtp.url, IDP_JOBS_MAX=2)


def scrape(client) -> str:
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.data
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    assert answer.headers["Cache-Control"] == "no-store"
    return answer.get_data(as_text=True)


def test_requests_are_counted_by_endpoint_method_and_status(app, client):
    before = scrape(client)
    for _ in range(3):
        assert client.get("/login").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    after = scrape(client)
    page = {"endpoint": "login.login", "method": "GET", "status": "200"}
    assert sample(after, "sesame_http_requests_total", **page) - \
        sample(before, "sesame_http_requests_total", **page) == 3
    unknown = {"endpoint": "none", "method": "GET", "status": "404"}
    assert sample(after, "sesame_http_requests_total", **unknown) - \
        sample(before, "sesame_http_requests_total", **unknown) == 1
    assert sample(after, "sesame_http_request_duration_seconds_count", endpoint="login.login") - \
        sample(before, "sesame_http_request_duration_seconds_count", endpoint="login.login") == 3


def test_sign_ins_are_counted_by_outcome(app, client, db):
    make_user(db)
    before = scrape(client)
    login(client, password="not the password at all")
    login(client, password=PASSWORD)
    after = scrape(client)
    for outcome in ("failure", "success"):
        assert sample(after, "sesame_logins_total", outcome=outcome) - \
            sample(before, "sesame_logins_total", outcome=outcome) == 1


def test_the_queue_and_the_mails_are_shown(app, client, smtp):
    queue = app.extensions["idp.jobs"]
    from idp import mail

    with app.test_request_context("/"):
        mail.send("jean.dupont@example.fr", "account/deleted", "Compte supprimé", user=None)
        shown = scrape(client)
        assert sample(shown, "sesame_jobs_queued") == 1 and sample(shown, "sesame_jobs_due") == 1
        assert sample(shown, "sesame_jobs_max") == 2
        deliver(app)
        queue.enqueue("test.filler", {}, delay=3600)
        queue.enqueue("test.filler", {}, delay=3600)
        assert mail.send("jean.dupont@example.fr", "account/deleted", "Compte supprimé", user=None) is None
    shown = scrape(client)
    assert len(smtp.messages) == 1
    assert sample(shown, "sesame_mails_total", outcome="sent") == 1
    assert sample(shown, "sesame_jobs_queued") == 2 and sample(shown, "sesame_jobs_due") == 0
    assert sample(shown, "sesame_jobs_dropped_total") == 1


def test_a_failed_attempt_is_counted_and_the_mail_still_goes_later(build_app, smtp):
    app = build_app(IDP_SMTP_URL="smtp://127.0.0.1:9")  # nothing listens there
    from idp import mail
    from idp.jobs import Worker

    with app.test_request_context("/"):
        mail.send("jean.dupont@example.fr", "account/deleted", "Compte supprimé", user=None)
    assert Worker(app).run_once()
    shown = scrape(app.test_client())
    assert sample(shown, "sesame_mails_total", outcome="failed") == 1
    assert sample(shown, "sesame_mails_total", outcome="sent") == 0
    assert sample(shown, "sesame_jobs_queued") == 1  # kept for a retry


def test_from_outside_the_operators_networks_it_does_not_exist(app, client):
    answer = client.get("/metrics", environ_base=STRANGER)
    unknown = client.get("/no/such/page", environ_base=STRANGER)
    assert answer.status_code == 404
    assert answer.data == unknown.data  # the same page as an unknown path
    assert b"sesame_" not in answer.data
