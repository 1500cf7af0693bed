"""Ending everything a citizen's password protected: sessions on every instance, refresh
tokens with their access tokens, one-time links (idp.credentials, idp.sessions)."""

from idp.credentials import revoke_access
from idp.db import session as db_session
from idp.models import User
from idp.one_time_tokens import one_time_tokens

from helpers import get_code, login, make_client, make_user, redeem, session_index, signed_in


def test_every_session_of_the_citizen_ends_on_every_instance_and_no_one_elses(build_app, db, redis):
    first, second = build_app(), build_app()  # two instances sharing Redis and the database
    jean = make_user(db)
    make_user(db, username="marie.curie", email="marie@example.fr")
    laptop, phone, marie = first.test_client(), second.test_client(), first.test_client()
    for browser, name in ((laptop, "jean.dupont"), (phone, "jean.dupont"), (marie, "marie.curie")):
        assert login(browser, name).status_code == 303
    assert redis.scard(session_index(jean.id)) == 2

    with second.app_context():
        revoked = revoke_access(db_session().get(User, jean.id))

    assert revoked["sessions"] == 2
    assert not signed_in(laptop) and not signed_in(phone)
    assert signed_in(marie)
    assert not redis.exists(session_index(jean.id))


def test_signing_out_removes_the_session_from_the_index(client, db, redis):
    jean = make_user(db)
    login(client)
    assert redis.scard(session_index(jean.id)) == 1
    assert 0 < redis.ttl(session_index(jean.id)) <= client.application.config["IDP_SESSION_MAX_AGE"]

    page = client.get("/")
    token = page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    client.post("/logout", data={"csrf_token": token})

    assert redis.scard(session_index(jean.id)) == 0


def test_signing_in_again_replaces_the_indexed_session(client, db, redis):
    jean = make_user(db)
    login(client)
    login(client)
    assert redis.scard(session_index(jean.id)) == 1


def test_revoking_counts_sessions_refresh_tokens_and_links(app, client, db):
    jean = make_user(db)
    client_id, secret = make_client(db)
    code = get_code(client, client_id, scope="openid")["code"]
    tokens = redeem(client, client_id, secret, code).get_json()
    with app.app_context():
        one_time_tokens().issue(jean.id, "reset", 600)
        one_time_tokens().issue(jean.id, "not-me", 600)
        revoked = revoke_access(db_session().get(User, jean.id))

    assert revoked == {"access_tokens": 1, "sessions": 1, "refresh_tokens": 1, "one_time_tokens": 2}
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    refused = client.post("/oauth/token", data=refresh,
                          auth=(client_id, secret))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    introspected = client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=(client_id, secret))
    assert introspected.get_json() == {"active": False}
    assert not signed_in(client)


def test_plugins_add_what_they_revoke_through_the_hook(app, db):
    jean = make_user(db)
    app.extensions["idp.hooks"].user_revoked.append(lambda user: {"pending_requests": 3})
    with app.app_context():
        revoked = revoke_access(db_session().get(User, jean.id))
    assert revoked["pending_requests"] == 3
