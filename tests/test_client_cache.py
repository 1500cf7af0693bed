"""The clients kept in each process (idp/client_cache.py): a removed or changed client is seen at
once by the next request, in the process that changed it; another process hears of it on a Redis
channel, and while it does not listen it reads the generation number instead (never a stale client).
Across real processes: tests/test_production_server.py."""

from __future__ import annotations

import time
import uuid

import pytest
import redis as redis_lib
from click.testing import CliRunner
from jose import jwt as jose_jwt
from sqlalchemy import text, update

from idp.cli import main
from idp.client_cache import ClientCache
from idp.models import Client
from idp.redis_store import connect

from helpers import REDIRECT_URI, authorize_url, get_code, make_client, make_user, redeem

OTHER_URI = "https://rp.example.fr/autre-retour"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def service_token(client, client_id, secret, scope="idp:admin"):
    return client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": scope},
                       auth=(client_id, secret))


def assert_invalid_client(response):
    assert response.status_code == 401, response.data
    assert response.get_json()["error"] == "invalid_client"


def assert_invalid_token(response):
    assert response.status_code == 401, response.data
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


# In one app ------------------------------------------------------------------------------------------------------

def test_a_client_removed_with_the_cli_stops_working_at_once(app, client, db, app_config):
    make_user(db)
    client_id, secret = make_client(db)
    tokens = redeem(client, client_id, secret, get_code(client, client_id)["code"]).get_json()
    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 200
    introspected = client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=(client_id, secret))
    assert introspected.get_json()["active"] is True  # the client is now kept by this app's cache
    assert app.extensions["idp.client_cache"]._clients.get(client_id) is not None

    result = CliRunner().invoke(main, ["clients", "remove", client_id],
                                env={name: str(value) for name, value in app_config.items()})
    assert result.exit_code == 0, result.output
    assert f"Removed client {client_id}." in result.output

    refreshed = client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                  "refresh_token": tokens["refresh_token"]}, auth=(client_id, secret))
    assert_invalid_client(refreshed)
    assert_invalid_token(client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])))
    assert_invalid_client(client.post("/oauth/introspect", data={"token": tokens["access_token"]},
                                      auth=(client_id, secret)))
    assert client_id not in app.extensions["idp.client_cache"]._clients


def test_a_service_removed_through_the_database_session_stops_at_once(client, db):
    client_id, secret = make_client(db, name="Batch", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin")
    assert service_token(client, client_id, secret).status_code == 200

    db.delete(db.get(Client, client_id))
    db.commit()

    assert_invalid_client(service_token(client, client_id, secret))


@pytest.mark.parametrize("how", ["bulk", "orm"])
def test_a_changed_scope_is_seen_by_the_next_request(client, db, how):
    client_id, secret = make_client(db, name="Batch", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin")
    granted = service_token(client, client_id, secret)
    assert granted.status_code == 200 and granted.get_json()["scope"] == "idp:admin"

    if how == "bulk":
        db.execute(update(Client).where(Client.client_id == client_id).values(scope="openid"))
    else:
        db.get(Client, client_id).scope = "openid"
    db.commit()

    narrowed = service_token(client, client_id, secret)  # Authlib grants what is left of the asked scope
    assert narrowed.status_code == 200, narrowed.data
    assert "scope" not in narrowed.get_json()
    claims = jose_jwt.get_unverified_claims(narrowed.get_json()["access_token"])
    assert claims["scope"] == ""
    assert "idp:admin" not in claims["scope"]


def test_changed_redirect_uris_are_seen_by_the_next_request(client, db):
    client_id, _ = make_client(db)
    assert client.get(authorize_url(client_id, redirect_uri=OTHER_URI)).status_code == 400
    assert client.get(authorize_url(client_id)).status_code == 302  # to the login form: the client is kept

    db.execute(update(Client).where(Client.client_id == client_id).values(redirect_uris=[OTHER_URI]))
    db.commit()

    asked = client.get(authorize_url(client_id, redirect_uri=OTHER_URI))
    assert asked.status_code == 302 and asked.location.startswith("/login?rid="), asked.data
    refused = client.get(authorize_url(client_id, redirect_uri=REDIRECT_URI))
    assert refused.status_code == 400
    assert b"redirect_uri" in refused.data or b"invalid_request" in refused.data


def test_a_rolled_back_change_is_not_announced_and_the_client_still_works(client, db, redis):
    client_id, secret = make_client(db, name="Batch", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin")
    generation = redis.get("idp:clients-generation")

    db.execute(update(Client).where(Client.client_id == client_id).values(scope="openid"))
    db.rollback()

    assert redis.get("idp:clients-generation") == generation
    assert service_token(client, client_id, secret).status_code == 200


# The listener, against the test's Redis -------------------------------------------------------------------------

def wait_for(check, seconds: float = 5):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.02)


def change_scope_behind_the_orm(db, client_id: str, scope: str) -> None:
    """What another process's change looks like here: a row changed in SQL, no event in this process."""
    with db.get_bind().connect() as connection:
        connection.execute(text("UPDATE clients SET scope = :scope WHERE client_id = :id"),
                           {"scope": scope, "id": client_id})
        connection.commit()
    db.rollback()  # end this session's transaction, so that its next read sees the change


def acl(redis, *arguments) -> None:
    """An ACL command on the test's Redis: on every node of a cluster (each keeps its own users)."""
    if isinstance(redis, redis_lib.RedisCluster):
        redis.execute_command("ACL", *arguments, target_nodes=redis_lib.RedisCluster.ALL_NODES)
    else:
        redis.execute_command("ACL", *arguments)


@pytest.fixture
def key() -> str:
    return f"test-clients-generation-{uuid.uuid4().hex[:8]}"


def test_the_listener_forgets_the_clients_when_another_process_announces_a_change(db, redis_url, key):
    client_id, _ = make_client(db)
    cache = ClientCache(connect(redis_url), key, listen=True)
    other = ClientCache(connect(redis_url), key, listen=False)
    try:
        cache.get(db, client_id)  # starts the listener, which forgets everything once subscribed
        wait_for(lambda: cache._fresh)
        first = cache.get(db, client_id)
        assert cache.get(db, client_id) is first  # kept, without asking SQL or Redis

        change_scope_behind_the_orm(db, client_id, "openid email")
        assert cache.get(db, client_id) is first  # nothing was announced: still the kept one
        epoch = cache._epoch

        other.announce()

        wait_for(lambda: cache._epoch > epoch)  # the message reached the listener, which forgot
        wait_for(lambda: cache._fresh)
        fresh = cache.get(db, client_id)
        assert fresh is not first
        assert fresh.scope == "openid email"
        assert cache.get(db, client_id) is fresh
    finally:
        cache.close()
        other.close()


def test_without_a_subscribed_listener_the_generation_is_read_and_no_client_is_stale(db, redis, redis_url, key):
    """A Redis user that may not SUBSCRIBE: the listener never gets subscribed (it retries), so every
    ``get`` compares the generation number, and a change whose message nobody heard is seen."""
    client_id, _ = make_client(db)
    user = f"nosub-{uuid.uuid4().hex[:6]}"
    acl(redis, "SETUSER", user, "on", ">pw", "~*", "&*", "+@all", "-subscribe")
    cache = ClientCache(connect(redis_url.replace("://", f"://{user}:pw@", 1)), key, listen=True)
    other = ClientCache(connect(redis_url), key, listen=False)
    try:
        cache.get(db, client_id)  # starts the listener, which is refused SUBSCRIBE and retries every second
        assert redis.pubsub_numsub(key) == [(key, 0)]
        for round_ in range(5):  # each change read back at once, whenever the listener last retried
            scope = f"openid phone-{round_}"
            kept = cache.get(db, client_id)
            change_scope_behind_the_orm(db, client_id, scope)
            other.announce()  # the message is heard by nobody; the generation went up

            again = cache.get(db, client_id)
            assert again is not kept
            assert again.scope == scope
            assert cache._fresh is False
            assert redis.pubsub_numsub(key) == [(key, 0)]
    finally:
        cache.close()
        other.close()
        acl(redis, "DELUSER", user)


def test_an_unknown_client_is_not_kept(db, redis_url, key):
    cache = ClientCache(connect(redis_url), key, listen=False)
    try:
        assert cache.get(db, "nobody") is None
        assert cache._clients == {}
    finally:
        cache.close()
