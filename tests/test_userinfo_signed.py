"""The userinfo answered as a signed JWT for a client that asks so (OpenID Connect Core §5.3.2,
`idp clients add --userinfo-signed-response-alg`), checked by python-jose as a relying party would."""

from __future__ import annotations

import json

import pytest
from jose import jwt as jose_jwt

from helpers import get_code, make_client, make_user, redeem, run_idp_here


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_a_client_that_asks_gets_its_userinfo_signed(client, db, alg):
    make_user(db)
    client_id, secret = make_client(db, userinfo_alg=alg)
    tokens = redeem(client, client_id, secret, get_code(client, client_id)["code"]).get_json()
    answer = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert answer.status_code == 200 and answer.mimetype == "application/jwt"
    signed = answer.get_data(as_text=True)
    kid = jose_jwt.get_unverified_header(signed)["kid"]
    key = next(key for key in client.get("/oauth/jwks").get_json()["keys"] if key["kid"] == kid)
    claims = jose_jwt.decode(signed, key, algorithms=[alg], audience=client_id, issuer="http://localhost:5000")
    assert claims["given_name"] == "Jean" and claims["sub"] == jose_jwt.get_unverified_claims(tokens["id_token"])["sub"]


def test_other_clients_get_json_and_the_cli_records_the_choice(app_config, client, db):
    make_user(db)
    client_id, secret = make_client(db)
    tokens = redeem(client, client_id, secret, get_code(client, client_id)["code"]).get_json()
    answer = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert answer.mimetype == "application/json" and answer.get_json()["given_name"] == "Jean"

    added = run_idp_here(app_config, "clients", "add", "--name", "Service signé", "--redirect-uri",
                         "https://a.fr/cb", "--userinfo-signed-response-alg", "ES256", "--json")
    assert added.returncode == 0, added.stderr
    listed = json.loads(run_idp_here(app_config, "clients", "list", "--json").stdout)
    assert {item["name"]: item["userinfo_alg"] for item in listed} == {"Service régional": None,
                                                                        "Service signé": "ES256"}
    refused = run_idp_here(app_config, "clients", "add", "--name", "x", "--redirect-uri", "https://a.fr/cb",
                           "--userinfo-signed-response-alg", "HS256")
    assert refused.returncode == 2 and "HS256" in refused.stderr
