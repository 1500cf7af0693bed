"""A refresh rotation is one transaction (idp/oidc/grants.py claims the old token without committing;
server.py commits it with the new one): two uses of one token at once give one new token and a
revoked family, and a rotation that fails half-way burns nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from authlib.oauth2.rfc6749 import InvalidRequestError
from sqlalchemy import func, select

from idp.models import RefreshToken
from idp.oidc import server as server_module
from idp.oidc import tokens as tokens_module

from helpers import get_code, make_client, make_user, redeem, served

RACERS = 2


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def refresh(browser, client_id, secret, refresh_token):
    return browser.post("/oauth/token", auth=(client_id, secret),
                        data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def rows(db) -> int:
    db.rollback()  # a fresh look at what the requests committed
    return db.scalar(select(func.count()).select_from(RefreshToken))


@pytest.fixture
def signed_in(client, db):
    make_user(db)
    client_id, secret = make_client(db)
    response = redeem(client, client_id, secret, get_code(client, client_id)["code"])
    assert response.status_code == 200, response.data
    return client_id, secret, response.get_json()


@pytest.mark.parametrize("round_", range(3))
def test_two_concurrent_refreshes_of_one_token_give_one_winner_and_revoke_the_family(app, client, db, signed_in,
                                                                                    round_):
    client_id, secret, tokens = signed_in
    barrier = threading.Barrier(RACERS)
    answers = []

    def use(base_url):
        barrier.wait(timeout=10)
        response = requests.post(f"{base_url}/oauth/token", auth=(client_id, secret), timeout=30, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        answers.append((response.status_code, response.json()))

    with served(app) as base_url:
        threads = [threading.Thread(target=use, args=(base_url,)) for _ in range(RACERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    assert len(answers) == RACERS
    winners = [body for status, body in answers if status == 200]
    losers = [(status, body.get("error")) for status, body in answers if status != 200]
    assert len(winners) == 1 and winners[0]["refresh_token"], answers
    assert losers == [(400, "invalid_grant")] * (RACERS - 1)

    # Whoever lost saw a reuse: the whole family is revoked, the winner's new tokens included.
    assert rows(db) == 2
    assert db.scalar(select(func.count()).select_from(RefreshToken).where(RefreshToken.revoked_at.is_(None))) == 0
    after = refresh(client, client_id, secret, winners[0]["refresh_token"])
    assert after.status_code == 400 and after.get_json()["error"] == "invalid_grant", after.data
    for access_token in (tokens["access_token"], winners[0]["access_token"]):
        refused = client.get("/oauth/userinfo", headers=bearer(access_token))
        assert refused.status_code == 401, refused.data


@pytest.mark.parametrize("failure", [RuntimeError("the signing service fell over"),
                                     InvalidRequestError("refused half-way")])
def test_a_rotation_that_fails_after_the_claim_burns_nothing(app, client, db, signed_in, monkeypatch, failure):
    client_id, secret, tokens = signed_in
    assert rows(db) == 1

    def broken(*args, **kwargs):
        raise failure

    # The claim is made in validate_token_request; the token is generated after it.
    generator = app.extensions["idp.oauth"]._token_generators["default"]
    assert isinstance(generator, tokens_module.AccessTokenGenerator)
    monkeypatch.setattr(generator, "access_token_generator", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash is a 500, as in production
    answer = refresh(client, client_id, secret, tokens["refresh_token"])
    if isinstance(failure, RuntimeError):
        assert answer.status_code == 500
    else:
        assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_request", answer.data
    monkeypatch.undo()

    assert rows(db) == 1
    row = db.scalar(select(RefreshToken))
    assert row.used_at is None and row.revoked_at is None  # not burned
    again = refresh(client, client_id, secret, tokens["refresh_token"])
    assert again.status_code == 200, again.data
    assert rows(db) == 2
    assert client.get("/oauth/userinfo", headers=bearer(again.get_json()["access_token"])).status_code == 200


def test_the_winners_access_token_is_denied_with_the_family_however_late_its_link(app, client, db, signed_in,
                                                                                  monkeypatch):
    """The loser of a race revokes the family, and the access tokens it issued, as soon as the winner
    commits: the winner's new access token must be known to the family by then. The winner is made
    slow to tell Redis (a loaded Redis, a paused process)."""
    client_id, secret, tokens = signed_in
    real_link = server_module.link_access_token

    def slow_link(*args, **kwargs):
        time.sleep(0.5)
        return real_link(*args, **kwargs)

    monkeypatch.setattr(server_module, "link_access_token", slow_link)
    answers = []

    def use(base_url, delay):
        time.sleep(delay)
        response = requests.post(f"{base_url}/oauth/token", auth=(client_id, secret), timeout=30, data={
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        answers.append((response.status_code, response.json()))

    with served(app) as base_url:
        threads = [threading.Thread(target=use, args=(base_url, delay)) for delay in (0, 0.2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    winners = [body for status, body in answers if status == 200]
    assert len(winners) == 1, answers
    assert sorted(status for status, _ in answers) == [200, 400]
    refused = client.get("/oauth/userinfo", headers=bearer(winners[0]["access_token"]))
    assert refused.status_code == 401, refused.data
