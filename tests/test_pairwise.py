"""Pairwise subjects: each sector (host of a client's redirect URIs) sees its own stable `sub`."""

from urllib.parse import urlparse

import pytest

from helpers import REDIRECT_URI, authorize_url, jose_claims, login, make_client, make_user, query, redeem

OTHER_HOST_URI = "https://mairie.example.org/oidc/callback"
SAME_HOST_URI = "https://rp.example.fr/autre/callback"


@pytest.fixture
def user(db):
    return make_user(db)


def tokens_for(browser, client_id, secret, redirect_uri=REDIRECT_URI, username=None) -> dict:
    """The code flow for a client on any redirect URI, logging in when asked."""
    response = browser.get(authorize_url(client_id, redirect_uri=redirect_uri))
    if urlparse(response.location).path == "/login":
        response = login(browser, username, rid=query(response.location)["rid"])
        response = browser.get(response.location)
    assert response.status_code == 302 and response.location.startswith(redirect_uri + "?"), response.location
    token_response = redeem(browser, client_id, secret, query(response.location)["code"], redirect_uri=redirect_uri)
    assert token_response.status_code == 200, token_response.data
    return token_response.get_json()


def id_sub(browser, client_id, tokens) -> str:
    return jose_claims(browser, tokens["id_token"], audience=client_id, access_token=tokens["access_token"])["sub"]


def test_pairwise_sub_is_not_the_public_one_and_differs_per_sector(client, db, user):
    here = make_client(db, subject_type="pairwise")
    there = make_client(db, subject_type="pairwise", redirect_uris=[OTHER_HOST_URI])
    public = make_client(db)

    sub_here = id_sub(client, here[0], tokens_for(client, *here))
    sub_there = id_sub(client, there[0], tokens_for(client, *there, redirect_uri=OTHER_HOST_URI))

    assert id_sub(client, public[0], tokens_for(client, *public)) == user.sub
    assert sub_here != user.sub and sub_there != user.sub
    assert sub_here != sub_there


def test_pairwise_sub_is_stable_across_logins(app, db, user):
    rp = make_client(db, subject_type="pairwise")
    first_browser, second_browser = app.test_client(), app.test_client()
    first = id_sub(first_browser, rp[0], tokens_for(first_browser, *rp))
    second = id_sub(second_browser, rp[0], tokens_for(second_browser, *rp))
    assert first == second != user.sub


def test_pairwise_clients_on_the_same_host_see_the_same_sub(client, db, user):
    first = make_client(db, subject_type="pairwise")
    second = make_client(db, subject_type="pairwise", redirect_uris=[SAME_HOST_URI], name="Autre service")
    sub_first = id_sub(client, first[0], tokens_for(client, *first))
    sub_second = id_sub(client, second[0], tokens_for(client, *second, redirect_uri=SAME_HOST_URI))
    assert sub_first == sub_second != user.sub


def test_two_citizens_get_different_pairwise_subs(app, db, user):
    rp = make_client(db, subject_type="pairwise")
    make_user(db, username="marie.curie", email="marie.curie@example.fr")
    jean, marie = app.test_client(), app.test_client()
    sub_jean = id_sub(jean, rp[0], tokens_for(jean, *rp))
    sub_marie = id_sub(marie, rp[0], tokens_for(marie, *rp, username="marie.curie"))
    assert sub_jean != sub_marie


def test_userinfo_access_token_and_introspection_use_the_pairwise_sub(client, db, user):
    client_id, secret = make_client(db, subject_type="pairwise")
    tokens = tokens_for(client, client_id, secret)
    sub = id_sub(client, client_id, tokens)

    assert jose_claims(client, tokens["access_token"], audience=client_id)["sub"] == sub
    info = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200
    assert info.get_json()["sub"] == sub
    assert info.get_json()["email"] == "jean.dupont@example.fr"

    for token in (tokens["access_token"], tokens["refresh_token"]):
        answer = client.post("/oauth/introspect", auth=(client_id, secret), data={"token": token})
        assert answer.status_code == 200
        assert answer.get_json()["active"] is True
        assert answer.get_json()["sub"] == sub


def test_another_client_cannot_introspect_to_learn_the_pairwise_sub(client, db, user):
    client_id, secret = make_client(db, subject_type="pairwise")
    snooper = make_client(db, redirect_uris=[OTHER_HOST_URI], name="Curieux")
    tokens = tokens_for(client, client_id, secret)
    answer = client.post("/oauth/introspect", auth=snooper, data={"token": tokens["access_token"]})
    assert answer.status_code == 200
    assert answer.get_json() == {"active": False}


def test_refreshed_id_token_keeps_the_pairwise_sub(client, db, user):
    client_id, secret = make_client(db, subject_type="pairwise")
    tokens = tokens_for(client, client_id, secret)
    refreshed = client.post("/oauth/token", auth=(client_id, secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.data
    assert id_sub(client, client_id, refreshed.get_json()) == id_sub(client, client_id, tokens)
