"""Authorization codes: single use, short-lived, bound to client and redirect URI, stored only as a hash."""

import hashlib
import threading
import time

import pytest
import requests

from helpers import REDIRECT_URI, authorize_url, get_code, make_client, make_user, query, redeem, served

CONCURRENT_REDEMPTIONS = 8


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def assert_invalid_grant(response):
    assert response.status_code == 400, response.data
    assert response.get_json()["error"] == "invalid_grant"


def redis_contents(redis) -> list[str]:
    """Every key and every value (whatever its type) in the private Redis, as text."""
    readers = {
        "string": redis.get,
        "hash": lambda key: list(redis.hgetall(key).items()),
        "list": lambda key: redis.lrange(key, 0, -1),
        "set": redis.smembers,
        "zset": lambda key: redis.zrange(key, 0, -1),
    }
    found = []
    for key in redis.scan_iter():
        found += [key, repr(readers.get(redis.type(key), lambda _key: None)(key))]
    return found


@pytest.fixture
def citizen(db):
    return make_user(db)


def test_a_code_is_redeemed_only_once(client, db, citizen):
    client_id, secret = make_client(db)
    code = get_code(client, client_id)["code"]
    assert redeem(client, client_id, secret, code).status_code == 200

    assert_invalid_grant(redeem(client, client_id, secret, code))


def test_a_replayed_code_revokes_what_its_first_redemption_issued(client, db, citizen):
    client_id, secret = make_client(db)
    code = get_code(client, client_id)["code"]
    tokens = redeem(client, client_id, secret, code).get_json()
    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 200

    assert_invalid_grant(redeem(client, client_id, secret, code))

    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 401
    introspection = client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=(client_id, secret))
    assert introspection.status_code == 200
    assert introspection.get_json() == {"active": False}
    assert_invalid_grant(client.post("/oauth/token", auth=(client_id, secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}))


def test_an_expired_code_is_refused(build_app, db, redis, citizen):
    client_id, secret = make_client(db)
    browser = build_app(IDP_AUTH_CODE_TTL=5).test_client()
    code = get_code(browser, client_id)["code"]
    key = f"idp:code:{hashlib.sha256(code.encode()).hexdigest()}"
    assert 0 < redis.pttl(key) <= 5000  # the configured lifetime
    redis.pexpire(key, 1)  # its end, brought forward rather than waited for
    time.sleep(0.05)

    assert_invalid_grant(redeem(browser, client_id, secret, code))


def test_a_code_redeemed_by_another_client_is_refused(client, db, citizen):
    client_id, _ = make_client(db)
    other_id, other_secret = make_client(db, name="Autre service")
    code = get_code(client, client_id)["code"]

    response = redeem(client, other_id, other_secret, code)

    assert_invalid_grant(response)
    assert "access_token" not in response.get_json()


@pytest.mark.parametrize("redirect_uri", [
    "https://rp.example.fr/other-callback",  # registered too, but not the one the code was issued for
    "https://evil.example/callback",
    REDIRECT_URI + "/",
])
def test_a_code_redeemed_with_another_redirect_uri_is_refused(client, db, citizen, redirect_uri):
    client_id, secret = make_client(db, redirect_uris=[REDIRECT_URI, "https://rp.example.fr/other-callback"])
    code = get_code(client, client_id)["code"]

    assert_invalid_grant(redeem(client, client_id, secret, code, redirect_uri=redirect_uri))


def test_codes_are_kept_in_redis_only_as_a_hash(client, db, redis, citizen):
    client_id, _ = make_client(db)
    code = get_code(client, client_id)["code"]

    contents = redis_contents(redis)

    assert not [item for item in contents if code in item]
    assert any(hashlib.sha256(code.encode()).hexdigest() in item for item in contents)


def test_concurrent_redemptions_of_one_code_over_real_http_give_exactly_one_token(app, client, db, citizen):
    client_id, secret = make_client(db)
    code = get_code(client, client_id)["code"]
    barrier = threading.Barrier(CONCURRENT_REDEMPTIONS)
    answers = []

    def redeem_over_http(base_url):
        barrier.wait(timeout=10)
        response = requests.post(f"{base_url}/oauth/token", auth=(client_id, secret), timeout=30, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI})
        answers.append((response.status_code, response.json()))

    with served(app) as base_url:
        threads = [threading.Thread(target=redeem_over_http, args=(base_url,)) for _ in range(CONCURRENT_REDEMPTIONS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

    assert len(answers) == CONCURRENT_REDEMPTIONS
    winners = [body for status, body in answers if status == 200]
    losers = [(status, body.get("error")) for status, body in answers if status != 200]
    assert len(winners) == 1 and winners[0]["access_token"]
    assert losers == [(400, "invalid_grant")] * (CONCURRENT_REDEMPTIONS - 1)


def test_a_code_replayed_after_the_access_token_lifetime_is_merely_refused(build_app, db, redis, citizen):
    """Past the access tokens' life the replay marker is gone: the replay is invalid_grant, and what the first
    redemption issued (its refresh token, the session) goes on working."""
    app = build_app(IDP_ACCESS_TOKEN_TTL=30, IDP_AUTH_CODE_TTL=5)
    browser = app.test_client()
    client_id, secret = make_client(db)
    code = get_code(browser, client_id)["code"]
    tokens = redeem(browser, client_id, secret, code).get_json()
    assert tokens["expires_in"] == 30
    marker = f"idp:code-issued:{hashlib.sha256(code.encode()).hexdigest()}"
    assert 0 < redis.ttl(marker) <= 30  # kept for the access token's life, no longer

    redis.pexpire(marker, 1)  # that life is over (Redis drops the marker as it would 30 s later)
    while redis.exists(marker):
        time.sleep(0.01)

    assert_invalid_grant(redeem(browser, client_id, secret, code))

    refreshed = browser.post("/oauth/token", auth=(client_id, secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.data
    assert browser.get("/oauth/userinfo", headers=bearer(refreshed.get_json()["access_token"])).status_code == 200
    introspection = browser.post("/oauth/introspect", data={"token": tokens["access_token"]},
                                 auth=(client_id, secret))
    assert introspection.get_json()["active"] is True  # not revoked by the replay (only its own life ends it)
    again = browser.get(authorize_url(client_id))  # the session still signs in, no password asked
    assert again.status_code == 302 and again.location.startswith(REDIRECT_URI), again.location
    assert redeem(browser, client_id, secret, query(again.location)["code"]).status_code == 200
