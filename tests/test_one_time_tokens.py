"""The one-time token store behind the links sent by mail, against the private Redis:
256-bit tokens kept only as SHA-256, bound to a user and a purpose, expiring, used once."""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time

import pytest

from idp.one_time_tokens import MAX_PER_USER, one_time_tokens
from idp.redis_store import user_tag

from conftest import sqlite_database
from helpers import TOKEN


@pytest.fixture
def database_url(tmp_path, sqlite_template):
    """Nothing here touches SQL: one run on SQLite, not one per database."""
    return sqlite_database(tmp_path, sqlite_template)

RESET = "password-reset"
VERIFY = "email-verify"


def ott_key(app, token: str) -> str:
    """``ott:{<the citizen's tag>}:<sha256>``: the tag is the token's first part."""
    tag, digest = token.partition(".")[0], hashlib.sha256(token.encode()).hexdigest()
    return f"{app.config['IDP_REDIS_PREFIX']}ott:{{{tag}}}:{digest}"


def index_key(app, user_id: int) -> str:
    return f"{app.config['IDP_REDIS_PREFIX']}ott-user:{{{user_tag(user_id)}}}:{user_id}"


def everything_in(redis) -> list[str]:
    """Every key of the Redis and every value it holds, whatever its type."""
    seen = []
    for key in redis.scan_iter("*"):
        seen.append(key)
        kind = redis.type(key)
        if kind == "string":
            seen.append(redis.get(key))
        elif kind == "zset":
            seen += redis.zrange(key, 0, -1)
        elif kind == "hash":
            for field, value in redis.hgetall(key).items():
                seen += [field, value]
        elif kind == "list":
            seen += redis.lrange(key, 0, -1)
        elif kind == "set":
            seen += redis.smembers(key)
        else:
            raise AssertionError(f"{key}: unexpected Redis type {kind}")
    return seen


def test_tokens_are_256_bit_urlsafe_and_unique(app):
    with app.app_context():
        tokens = [one_time_tokens().issue(user_id, RESET, ttl=600) for user_id in range(1, 41)]
    assert len(set(tokens)) == len(tokens)
    for token in tokens:
        assert re.fullmatch(TOKEN, token), token
        assert len(base64.urlsafe_b64decode(token.partition(".")[2] + "=")) == 32


def test_redis_never_holds_the_token_in_clear(app, redis):
    with app.app_context():
        token = one_time_tokens().issue(7, RESET, ttl=600, data={"rid": "abc123"})
    digest = hashlib.sha256(token.encode()).hexdigest()
    stored = everything_in(redis)
    assert stored, "the token left nothing in Redis"
    assert not [item for item in stored if token in item]
    assert any(digest in item for item in stored)
    assert redis.exists(ott_key(app, token))


def test_a_token_is_bound_to_its_purpose(app):
    with app.app_context():
        store = one_time_tokens()
        token = store.issue(7, RESET, ttl=600)
        assert store.peek(token, VERIFY) is None
        assert store.consume(token, VERIFY) is None
        used = store.consume(token, RESET)
    assert used is not None and used.purpose == RESET


def test_a_token_is_bound_to_its_user_and_carries_its_data(app):
    with app.app_context():
        store = one_time_tokens()
        token = store.issue(42, RESET, ttl=600, data={"rid": "r-1"})
        other = store.issue(43, RESET, ttl=600)
        seen = store.peek(token, RESET)
        used = store.consume(token, RESET)
        assert store.consume(other, RESET).user_id == 43
    assert seen == used
    assert used.user_id == 42 and used.data == {"rid": "r-1"}
    assert abs(used.expires_at - (time.time() + 600)) <= 2


@pytest.mark.parametrize("ttl", [60, 1800, 86400])
def test_the_token_key_lives_as_long_as_asked(app, redis, ttl):
    with app.app_context():
        token = one_time_tokens().issue(7, RESET, ttl=ttl)
    assert abs(redis.ttl(ott_key(app, token)) - ttl) <= 1


def test_an_expired_token_no_longer_works(app):
    with app.app_context():
        store = one_time_tokens()
        token = store.issue(7, RESET, ttl=1)
        assert store.peek(token, RESET) is not None
        time.sleep(1.2)
        assert store.peek(token, RESET) is None
        assert store.consume(token, RESET) is None
        assert store.outstanding(7) == 0


def test_peek_does_not_use_the_token_up(app):
    with app.app_context():
        store = one_time_tokens()
        token = store.issue(7, RESET, ttl=600)
        for _ in range(3):
            assert store.peek(token, RESET).user_id == 7
        assert store.consume(token, RESET).user_id == 7


def test_a_token_is_used_once(app, redis):
    with app.app_context():
        store = one_time_tokens()
        token = store.issue(7, RESET, ttl=600)
        assert store.outstanding(7) == 1
        assert store.consume(token, RESET) is not None
        assert store.consume(token, RESET) is None
        assert store.peek(token, RESET) is None
        assert store.outstanding(7) == 0
    assert not redis.exists(ott_key(app, token))


def test_concurrent_uses_let_exactly_one_win(app):
    with app.app_context():
        token = one_time_tokens().issue(7, RESET, ttl=600)
    contenders = 16
    start = threading.Barrier(contenders)
    results = []

    def use():
        with app.app_context():
            start.wait()
            results.append(one_time_tokens().consume(token, RESET))

    threads = [threading.Thread(target=use) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == contenders
    winners = [result for result in results if result is not None]
    assert len(winners) == 1 and winners[0].user_id == 7


def test_a_new_link_supersedes_the_earlier_one_of_the_same_purpose(app):
    with app.app_context():
        store = one_time_tokens()
        verify = store.issue(7, VERIFY, ttl=600)
        first = store.issue(7, RESET, ttl=600)
        second = store.issue(7, RESET, ttl=600)
        assert store.peek(first, RESET) is None
        assert store.consume(first, RESET) is None
        assert store.consume(second, RESET) is not None
        assert store.consume(verify, VERIFY) is not None, "another purpose is not superseded"


def test_without_supersede_both_links_work(app):
    with app.app_context():
        store = one_time_tokens()
        first = store.issue(7, RESET, ttl=600, supersede=False)
        second = store.issue(7, RESET, ttl=600, supersede=False)
        assert store.outstanding(7) == 2
        assert store.consume(first, RESET) is not None
        assert store.consume(second, RESET) is not None


def test_a_user_holds_at_most_max_per_user_tokens_and_the_oldest_goes(app):
    with app.app_context():
        store = one_time_tokens()
        for user_id in range(1, 6):  # several users: a lucky ordering cannot hide a wrong choice
            tokens = [store.issue(user_id, RESET, ttl=600, supersede=False) for _ in range(MAX_PER_USER + 1)]
            assert store.outstanding(user_id) == MAX_PER_USER
            live = [token for token in tokens if store.peek(token, RESET) is not None]
            assert live == tokens[1:], f"user {user_id}: the oldest link should be the one dropped"


def test_revoke_user_drops_every_token_and_counts_them(app, redis):
    with app.app_context():
        store = one_time_tokens()
        tokens = {purpose: store.issue(7, purpose, ttl=ttl) for purpose, ttl in [(RESET, 600), (VERIFY, 86400),
                                                                                 ("other", 60)]}
        kept = store.issue(8, RESET, ttl=600)
        assert store.revoke_user(7) == 3
        assert all(store.peek(token, purpose) is None for purpose, token in tokens.items())
        assert store.outstanding(7) == 0
        assert store.revoke_user(7) == 0
        assert store.peek(kept, RESET).user_id == 8
    assert not redis.exists(index_key(app, 7))


@pytest.mark.parametrize("purpose", [RESET, VERIFY])
def test_revoke_drops_one_token_whatever_its_purpose(app, purpose):
    with app.app_context():
        store = one_time_tokens()
        token = store.issue(7, purpose, ttl=600)
        other = store.issue(7, "other", ttl=600)
        revoked = store.revoke(token)
        assert revoked.user_id == 7 and revoked.purpose == purpose
        assert store.peek(token, purpose) is None
        assert store.revoke(token) is None
        assert store.outstanding(7) == 1
        assert store.peek(other, "other") is not None


@pytest.mark.parametrize("token", [
    "",
    None,
    "abc",
    "A" * 42,
    "A" * 44,
    "A" * 42 + "=",
    "A" * 40 + "+/.",
    "A" * 42 + "\x00",
    "\x00" * 43,
    "é" * 43,
    "A" * 1000,
    "*",
])
def test_malformed_tokens_are_refused_quietly(app, redis, token):
    with app.app_context():
        store = one_time_tokens()
        real = store.issue(7, RESET, ttl=600)
        before = sorted(everything_in(redis))
        assert store.peek(token, RESET) is None
        assert store.consume(token, RESET) is None
        assert store.revoke(token) is None
        assert sorted(everything_in(redis)) == before
        assert store.consume(real, RESET) is not None


def test_an_unknown_well_formed_token_is_refused(app):
    with app.app_context():
        store = one_time_tokens()
        store.issue(7, RESET, ttl=600)
        forged = "A" * 43
        assert store.peek(forged, RESET) is None
        assert store.consume(forged, RESET) is None
        assert store.revoke(forged) is None
        assert store.outstanding(7) == 1


def test_the_per_user_index_expires_with_the_longest_token(app, redis):
    with app.app_context():
        store = one_time_tokens()
        store.issue(7, RESET, ttl=600)
        assert 0 < redis.ttl(index_key(app, 7)) <= 601
        store.issue(7, VERIFY, ttl=86400)
        assert 86398 <= redis.ttl(index_key(app, 7)) <= 86401


def test_a_purpose_cannot_hold_the_separator(app, redis):
    with app.app_context(), pytest.raises(ValueError, match="purpose"):
        one_time_tokens().issue(7, "password:reset", ttl=600)
    assert not list(redis.scan_iter("*ott*"))
