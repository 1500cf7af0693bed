"""OpenID Connect Back-Channel Logout 1.0 as a relying party lives it: a real HTTP endpoint of the
service's own receives a signed logout token whenever the citizen's session with Sésame ends, and
checks it with python-jose against the published keys."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from urllib.parse import parse_qs, urlencode

import pytest

from idp.jobs import Worker

from helpers import (
    LogoutEndpoint,
    csrf_token,
    deliver,
    get_code,
    jose_claims,
    link_in,
    logout_token,
    make_client,
    make_user,
    redeem,
    served,
)

ISSUER = "http://localhost:5000"
JOB = "backchannel.logout"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
NEW_PASSWORD = "a walk along the river at dawn"

QUEUE = "idp:jobs:{jobs}"  # the queue's keys (idp/jobs.py)
JOB_KEY = "idp:job:{{jobs}}:{}"


@pytest.fixture
def app(build_app, smtp):
    """Mails (the password reset scenario) go to the real SMTP sink."""
    return build_app(IDP_SMTP_URL=smtp.url)


@pytest.fixture
def endpoint():
    """The relying party's endpoint behind a real HTTP server; ``.url`` is its base URL."""
    receiver = LogoutEndpoint()
    with served(receiver) as url:
        receiver.url = url
        yield receiver


@pytest.fixture
def citizen(db):
    return make_user(db)


def sign_in(browser, client_id: str, secret: str) -> dict:
    """The code flow, as the relying party runs it; the ID token's claims, as it checks them."""
    code = get_code(browser, client_id)["code"]
    id_token = redeem(browser, client_id, secret, code).get_json()["id_token"]
    return {**jose_claims(browser, id_token, audience=client_id), "id_token": id_token}


def queued(redis) -> list[str]:
    """The names of the jobs waiting in the queue (layout: idp/jobs.py)."""
    return sorted(redis.hget(JOB_KEY.format(job_id), "name") for job_id in redis.zrange(QUEUE, 0, -1))


def admin_token(browser, db) -> str:
    client_id, secret = make_client(db, name="Assistance", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin")
    answer = browser.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "idp:admin"},
                          auth=(client_id, secret))
    assert answer.status_code == 200, answer.data
    return answer.get_json()["access_token"]


# How a session ends -----------------------------------------------------------------------------------------------

def idp_logout(app, browser, db, smtp, signed_in):
    """The citizen presses "Se déconnecter" on Sésame's home page."""
    home = browser.get("/")
    assert home.status_code == 200
    return browser.post("/logout", data={"csrf_token": csrf_token(home.data)})


def rp_initiated_logout(app, browser, db, smtp, signed_in):
    """The service sends the citizen to the end-session endpoint with its ID token."""
    return browser.get("/oauth/logout?" + urlencode({"id_token_hint": signed_in["id_token"]}))


def password_reset(app, browser, db, smtp, signed_in):
    """On another device, the citizen resets a forgotten password."""
    phone = app.test_client()
    form = phone.get("/recovery/password?lang=en")
    asked = phone.post("/recovery/password", data={"csrf_token": csrf_token(form.data), "login": "jean.dupont"})
    assert asked.status_code == 200
    deliver(app)  # the request's job and its mail; the session still lives
    link = link_in(smtp.text(smtp.wait_for(1)[0]), "/recovery/reset/")
    page = phone.get(link)
    return phone.post(link, data={"csrf_token": csrf_token(page.data), "new_password": NEW_PASSWORD,
                                  "new_password_confirm": NEW_PASSWORD})


def admin_revocation(app, browser, db, smtp, signed_in):
    """The help desk revokes everything the citizen holds."""
    token = admin_token(app.test_client(), db)
    return app.test_client().post("/admin/api/users/jean.dupont/revoke", headers={"Authorization": f"Bearer {token}"})


def admin_disables(app, browser, db, smtp, signed_in):
    """The help desk disables the account."""
    token = admin_token(app.test_client(), db)
    return app.test_client().patch("/admin/api/users/jean.dupont", json={"disabled": True},
                                   headers={"Authorization": f"Bearer {token}"})


SESSION_ENDS = [idp_logout, rp_initiated_logout, password_reset, admin_revocation, admin_disables]


@pytest.mark.parametrize("end_session", SESSION_ENDS, ids=lambda f: f.__name__)
def test_the_service_receives_one_signed_logout_token_when_the_session_ends(app, client, db, smtp, redis, citizen,
                                                                             endpoint, end_session):
    client_id, secret = make_client(db, backchannel_logout_uri=f"{endpoint.url}/backchannel")
    signed_in = sign_in(client, client_id, secret)
    assert signed_in["sid"]
    assert endpoint.calls == []

    answer = end_session(app, client, db, smtp, signed_in)

    assert answer.status_code in (200, 303), answer.data
    assert endpoint.calls == []  # the answer did not wait for the service: the worker tells it
    assert queued(redis).count(JOB) == 1
    deliver(app)
    assert len(endpoint.calls) == 1
    assert endpoint.calls[0]["path"] == "/backchannel" and endpoint.calls[0]["status"] == 200
    claims = logout_token(client, endpoint.calls[0], client_id)
    assert claims["sub"] == signed_in["sub"] == citizen.sub
    assert claims["sid"] == signed_in["sid"]
    assert client.get("/").status_code == 302  # and the session is over indeed


def test_a_service_without_a_back_channel_uri_gets_nothing_and_nothing_is_queued(app, client, db, redis, citizen,
                                                                                 endpoint):
    client_id, secret = make_client(db)
    signed_in = sign_in(client, client_id, secret)

    answer = rp_initiated_logout(app, client, db, None, signed_in)

    assert answer.status_code == 200
    assert queued(redis) == []
    assert deliver(app) == 0
    assert endpoint.calls == []


def test_two_services_signed_in_through_one_session_each_receive_theirs(app, client, db, redis, citizen, endpoint):
    first = make_client(db, name="Transports scolaires", backchannel_logout_uri=f"{endpoint.url}/transports")
    second = make_client(db, name="Aides au logement", backchannel_logout_uri=f"{endpoint.url}/logement")
    third = make_client(db, name="Bibliothèques")  # registered no back-channel URI
    first_signed_in = sign_in(client, *first)
    second_signed_in = sign_in(client, *second)  # the same session: no second login
    sign_in(client, *third)
    assert first_signed_in["sid"] == second_signed_in["sid"]

    idp_logout(app, client, db, None, first_signed_in)

    assert endpoint.calls == []
    assert queued(redis) == [JOB, JOB]
    deliver(app)
    assert sorted(call["path"] for call in endpoint.calls) == ["/logement", "/transports"]
    for (client_id, _secret), signed_in, path in ((first, first_signed_in, "/transports"),
                                                  (second, second_signed_in, "/logement")):
        [call] = endpoint.accepted(path)
        claims = logout_token(client, call, client_id)
        assert (claims["sub"], claims["sid"]) == (signed_in["sub"], signed_in["sid"])


def test_a_service_that_is_down_receives_the_token_when_it_comes_back(app, client, db, citizen, endpoint):
    endpoint.failures = 2
    client_id, secret = make_client(db, backchannel_logout_uri=f"{endpoint.url}/backchannel")
    signed_in = sign_in(client, client_id, secret)

    idp_logout(app, client, db, None, signed_in)
    assert endpoint.calls == []
    deliver(app, timeout=10)  # waits out the back-off between attempts

    assert [call["status"] for call in endpoint.calls] == [503, 503, 200]
    first_gap = endpoint.calls[1]["at"] - endpoint.calls[0]["at"]
    second_gap = endpoint.calls[2]["at"] - endpoint.calls[1]["at"]
    assert first_gap >= 0.7 and second_gap >= 1.4  # retried with back-off, not hammered
    claims = logout_token(client, endpoint.calls[2], client_id)
    assert (claims["sub"], claims["sid"]) == (signed_in["sub"], signed_in["sid"])
    assert app.extensions["idp.jobs"].dead() == []


def test_a_pairwise_service_receives_the_subject_it_knows(app, client, db, citizen, endpoint):
    client_id, secret = make_client(db, subject_type="pairwise", backchannel_logout_uri=f"{endpoint.url}/bc")
    signed_in = sign_in(client, client_id, secret)
    assert signed_in["sub"] != citizen.sub

    idp_logout(app, client, db, None, signed_in)
    deliver(app)

    [call] = endpoint.calls
    claims = logout_token(client, call, client_id)
    assert claims["sub"] == signed_in["sub"]
    assert claims["sid"] == signed_in["sid"]


def test_discovery_advertises_back_channel_logout_with_sessions(client):
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert metadata["backchannel_logout_supported"] is True
    assert metadata["backchannel_logout_session_supported"] is True


# Delivery: what counts as delivered, retries and their end --------------------------------------------------------

class Answering(http.server.BaseHTTPRequestHandler):
    """A relying party's logout endpoint on http.server: answers the statuses of ``server.statuses`` in turn
    (the last one from then on), and keeps what it was sent in ``server.calls``."""

    def do_POST(self):  # http.server calls it by this name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with self.server.lock:
            status = self.server.statuses[min(len(self.server.calls), len(self.server.statuses) - 1)]
            self.server.calls.append({"path": self.path, "status": status, "form": parse_qs(body),
                                      "method": "POST", "content_type": self.headers.get_content_type()})
        self.send_response(status)
        if status in (301, 302, 303, 307, 308):
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):  # a followed redirect would land here
        with self.server.lock:
            self.server.calls.append({"path": self.path, "status": 200, "method": "GET"})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def relying_party_answering(*statuses: int):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answering)
    server.statuses, server.calls, server.lock = list(statuses), [], threading.Lock()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        server.url = f"http://127.0.0.1:{server.server_port}"
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def logout_job(redis) -> tuple[str, dict]:
    [job_id] = [job_id for job_id in redis.zrange(QUEUE, 0, -1) if redis.hget(JOB_KEY.format(job_id), "name") == JOB]
    return job_id, redis.hgetall(JOB_KEY.format(job_id))


def run_logout_job(app, redis, job_id: str) -> None:
    """Make the job due now (its back-off waited out) and let a worker run it."""
    redis.zadd(QUEUE, {job_id: time.time()}, xx=True)
    assert Worker(app).run_once() is True


def test_a_204_answer_counts_as_delivered(app, client, db, redis, citizen):
    with relying_party_answering(204) as service:
        client_id, secret = make_client(db, backchannel_logout_uri=f"{service.url}/bc")
        signed_in = sign_in(client, client_id, secret)
        idp_logout(app, client, db, None, signed_in)
        deliver(app)

    [call] = service.calls
    assert call["status"] == 204 and call["path"] == "/bc"
    assert logout_token(client, call, client_id)["sid"] == signed_in["sid"]
    assert queued(redis) == [] and app.extensions["idp.jobs"].dead() == []


def test_any_other_answer_is_retried_with_back_off_and_a_redirect_is_not_followed(app, client, db, redis, citizen):
    failures = (500, 302, 400, 404)
    with relying_party_answering(*failures, 200) as service:
        client_id, secret = make_client(db, backchannel_logout_uri=f"{service.url}/bc")
        idp_logout(app, client, db, None, sign_in(client, client_id, secret))
        job_id, _job = logout_job(redis)

        for attempt, status in enumerate(failures, start=1):
            run_logout_job(app, redis, job_id)
            assert [call["status"] for call in service.calls] == list(failures[:attempt])
            assert int(redis.hget(JOB_KEY.format(job_id), "attempts")) == attempt  # kept, to be tried again
            wait = redis.zscore(QUEUE, job_id) - time.time()
            assert 0.75 * 2 ** (attempt - 1) <= wait <= 1.2 * 2 ** (attempt - 1), (status, wait)
            assert Worker(app).run_once() is False  # not before its back-off

        run_logout_job(app, redis, job_id)

    assert [call["status"] for call in service.calls] == [*failures, 200]
    assert all(call["method"] == "POST" and call["path"] == "/bc" for call in service.calls)  # never /elsewhere
    assert not redis.exists(JOB_KEY.format(job_id)) and app.extensions["idp.jobs"].dead() == []


def test_the_retries_stop_an_hour_after_the_logout(app, client, db, redis, citizen):
    with relying_party_answering(503) as service:
        client_id, secret = make_client(db, backchannel_logout_uri=f"{service.url}/bc")
        signed_in = sign_in(client, client_id, secret)
        before = int(time.time())
        idp_logout(app, client, db, None, signed_in)
        after = int(time.time())
        job_id, job = logout_job(redis)
        assert before + 3600 <= int(job["expires_at"]) <= after + 3600  # the delivery window: one hour

        run_logout_job(app, redis, job_id)
        assert len(service.calls) == 1 and redis.exists(JOB_KEY.format(job_id))

        # An hour later (its end moved to now rather than waited for), the next attempt is not made.
        redis.hset(JOB_KEY.format(job_id), "expires_at", int(time.time()))
        run_logout_job(app, redis, job_id)

    assert len(service.calls) == 1
    assert not redis.exists(JOB_KEY.format(job_id)) and queued(redis) == []
    [entry] = app.extensions["idp.jobs"].dead()
    assert entry["id"] == job_id and entry["name"] == JOB and "expired" in entry["reason"]
    assert signed_in["id_token"] not in json.dumps(entry)
