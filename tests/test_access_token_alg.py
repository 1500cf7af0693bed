"""Each client's access-token algorithm (migration 0007): RS256 unless the client chose ES256, chosen
with `register(..., access_token_alg=)` or `idp clients add --access-token-alg`; an ES256 token is an
RFC 9068 token like any other, checked by an independent relying party and accepted at userinfo and
introspection."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from alembic import command
from click.testing import CliRunner
from jose import jwt as jose_jwt
from sqlalchemy import inspect, text
from test_migrations import engine, fresh_database_url, revision  # noqa: F401 (fixtures)

from idp import db as idp_db
from idp.cli import main
from idp.clients import ClientSpecError, register
from idp.models import Client

from helpers import get_code, jose_claims, make_client, make_user, redeem


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def checked_access_token(browser, token: str, client_id: str, alg: str) -> dict:
    header = jose_jwt.get_unverified_header(token)
    assert header["alg"] == alg and header["typ"] == "at+jwt"
    published = {key["kid"]: key for key in browser.get("/oauth/jwks").get_json()["keys"]}
    assert published[header["kid"]]["alg"] == alg
    claims = jose_claims(browser, token, audience=client_id)  # python-jose, with the published key
    assert claims["client_id"] == client_id and claims["aud"] == client_id
    return claims


def test_an_es256_clients_access_token_is_es256_and_works_everywhere(client, db):
    make_user(db)
    client_id, secret = make_client(db, access_token_alg="ES256")

    tokens = redeem(client, client_id, secret, get_code(client, client_id)["code"]).get_json()

    claims = checked_access_token(client, tokens["access_token"], client_id, "ES256")
    assert jose_jwt.get_unverified_header(tokens["id_token"])["alg"] == "RS256"  # the ID token keeps its own
    userinfo = client.get("/oauth/userinfo", headers=bearer(tokens["access_token"]))
    assert userinfo.status_code == 200, userinfo.data
    assert userinfo.get_json()["sub"] == claims["sub"]
    introspected = client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=(client_id, secret))
    body = introspected.get_json()
    assert body["active"] is True and body["token_type"] == "Bearer"
    assert (body["client_id"], body["jti"], body["sub"]) == (client_id, claims["jti"], claims["sub"])

    refreshed = client.post("/oauth/token", auth=(client_id, secret),
                            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.data
    checked_access_token(client, refreshed.get_json()["access_token"], client_id, "ES256")


def test_an_es256_service_gets_an_es256_client_credentials_token(client, db):
    client_id, secret = make_client(db, name="Batch", redirect_uris=[], grant_types=["client_credentials"],
                                    scope="idp:admin", access_token_alg="ES256")

    answer = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))

    assert answer.status_code == 200, answer.data
    checked_access_token(client, answer.get_json()["access_token"], client_id, "ES256")


def test_rs256_stays_the_default(client, db):
    make_user(db)
    client_id, secret = make_client(db)
    assert db.get(Client, client_id).access_token_alg == "RS256"

    tokens = redeem(client, client_id, secret, get_code(client, client_id)["code"]).get_json()

    checked_access_token(client, tokens["access_token"], client_id, "RS256")
    assert client.get("/oauth/userinfo", headers=bearer(tokens["access_token"])).status_code == 200


@pytest.mark.parametrize("alg", ["HS256", "none", "es256", "", "PS256"])
def test_register_refuses_an_unknown_algorithm(db, alg):
    with pytest.raises(ClientSpecError, match="RS256 or ES256"):
        register(db, name="Service", redirect_uris=["https://a.fr/cb"], access_token_alg=alg)
    db.rollback()
    assert db.query(Client).count() == 0


def cli(app_config, *args: str):
    return CliRunner().invoke(main, list(args), env={name: str(value) for name, value in app_config.items()})


def test_the_cli_adds_an_es256_client_and_lists_its_algorithm(client, app_config):
    added = cli(app_config, "clients", "add", "--name", "Rapide", "--redirect-uri", "https://a.fr/cb",
                "--grant-type", "client_credentials", "--grant-type", "authorization_code",
                "--access-token-alg", "ES256", "--json")
    default = cli(app_config, "clients", "add", "--name", "Classique", "--redirect-uri", "https://b.fr/cb", "--json")
    assert added.exit_code == 0 and default.exit_code == 0, added.output + default.output
    es256, rs256 = json.loads(added.output), json.loads(default.output)

    listed = cli(app_config, "clients", "list", "--json")

    assert listed.exit_code == 0, listed.output
    algs = {item["client_id"]: item["access_token_alg"] for item in json.loads(listed.output)}
    assert algs == {es256["client_id"]: "ES256", rs256["client_id"]: "RS256"}
    answer = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                         auth=(es256["client_id"], es256["client_secret"]))
    assert answer.status_code == 200, answer.data
    checked_access_token(client, answer.get_json()["access_token"], es256["client_id"], "ES256")


def test_the_cli_refuses_an_unknown_algorithm_with_a_usage_error(app_config, db):
    result = cli(app_config, "clients", "add", "--name", "Faible", "--redirect-uri", "https://a.fr/cb",
                 "--access-token-alg", "HS256")

    assert result.exit_code == 2, result.output
    assert "Invalid value for '--access-token-alg'" in result.output and "HS256" in result.output
    assert db.query(Client).count() == 0


# Migration 0007 --------------------------------------------------------------------------------------------------

def access_token_alg_column(engine) -> dict | None:  # noqa: F811 (engine is the fixture's value)
    return next((column for column in inspect(engine).get_columns("clients") if column["name"] == "access_token_alg"),
                None)


def test_0007_gives_existing_clients_rs256_and_downgrades(fresh_database_url, engine):  # noqa: F811
    idp_db.upgrade(fresh_database_url, "0006")
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO clients (client_id, name, redirect_uris, post_logout_redirect_uris, grant_types, scope, "
            "token_endpoint_auth_method, id_token_signed_response_alg, subject_type, created_at) VALUES ('ancien', "
            "'Ancien service', '[]', '[]', '[\"client_credentials\"]', 'openid', 'client_secret_basic', 'ES256', "
            "'public', :now)"), {"now": now})

    idp_db.upgrade(fresh_database_url, "0007")
    engine.dispose()

    assert revision(engine) == "0007"
    column = access_token_alg_column(engine)
    assert column is not None and column["nullable"] is False
    with engine.connect() as connection:
        assert connection.execute(text("SELECT client_id, id_token_signed_response_alg, access_token_alg "
                                       "FROM clients")).all() == [("ancien", "ES256", "RS256")]

    command.downgrade(idp_db.alembic_config(fresh_database_url), "0006")
    engine.dispose()  # SQLite: forget the table definitions cached by pooled connections

    assert revision(engine) == "0006"
    assert access_token_alg_column(engine) is None
    with engine.connect() as connection:
        assert connection.execute(text("SELECT client_id, id_token_signed_response_alg FROM clients")).all() == [
            ("ancien", "ES256")]

    idp_db.upgrade(fresh_database_url, "0007")
    engine.dispose()
    assert access_token_alg_column(engine) is not None
