"""verified_claims (OpenID Connect for Identity Assurance 1.0) for relying parties that ask with the
claims parameter, from accounts whose identity FranceConnect verified (idp/oidc/verified_claims.py);
checked by python-jose as an independent relying party."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from idp import upstreams

from helpers import REDIRECT_URI, authorize_url, get_code, jose_claims, login, make_client, make_user, query, redeem

ASKED = {"given_name": None, "family_name": None, "birthdate": None, "birthplace": None}
BOTH = json.dumps({"id_token": {"verified_claims": {"verification": {"trust_framework": None}, "claims": ASKED}},
                   "userinfo": {"verified_claims": {"verification": {"trust_framework": None}, "claims": ASKED}}})
VERIFIED = {"verification": {"trust_framework": "eidas", "assurance_level": "low"},
            "claims": {"given_name": "Camille", "family_name": "Martin", "birthdate": "1990-05-17",
                       "birthplace": "35238"}}


@pytest.fixture
def camille(db):
    upstreams.add(db, name="fc", issuer="https://fcp.integ01.dev-franceconnect.fr/api/v1", client_id="c",
                  client_secret="s", style="franceconnect")
    user = make_user(db, username="camille", email="camille@example.fr", given_name="Camille",
                     family_name="Martin", birthdate=dt.date(1990, 5, 17))
    user.identity_verified_by, user.birthplace = "fc", "35238"
    db.commit()
    return user


def tokens(client, db, scope="openid profile", **params) -> tuple[dict, dict]:
    """The code flow for camille; (the ID token's claims, the userinfo)."""
    client_id, secret = make_client(db)
    code = get_code(client, client_id, "camille", scope=scope, **params)["code"]
    issued = redeem(client, client_id, secret, code).get_json()
    id_token = jose_claims(client, issued["id_token"], audience=client_id, access_token=issued["access_token"])
    userinfo = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert userinfo.status_code == 200
    return id_token, userinfo.get_json()


def test_a_relying_party_that_asks_gets_the_claims_marked_verified(client, db, camille):
    id_token, userinfo = tokens(client, db, claims=BOTH)
    assert id_token["verified_claims"] == VERIFIED and userinfo["verified_claims"] == VERIFIED
    assert id_token["given_name"] == userinfo["given_name"] == "Camille"  # the plain claims, as before


def test_the_refreshed_tokens_answer_what_the_authorization_asked(client, db, camille):
    client_id, secret = make_client(db)
    code = get_code(client, client_id, "camille", scope="openid profile", claims=BOTH)["code"]
    issued = redeem(client, client_id, secret, code).get_json()
    for _ in range(2):  # each rotation
        issued = client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": issued["refresh_token"]},
                             auth=(client_id, secret)).get_json()
        id_token = jose_claims(client, issued["id_token"], audience=client_id, access_token=issued["access_token"])
        userinfo = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {issued['access_token']}"})
        assert id_token["verified_claims"] == VERIFIED and userinfo.get_json()["verified_claims"] == VERIFIED

    plain = get_code(client, client_id, "camille", scope="openid profile")["code"]  # asking nothing this time
    issued = redeem(client, client_id, secret, plain).get_json()
    issued = client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
                         auth=(client_id, secret)).get_json()
    assert "verified_claims" not in jose_claims(client, issued["id_token"], audience=client_id)


def test_only_the_target_and_the_claims_asked_for(client, db, camille):
    only_userinfo = json.dumps({"userinfo": {"verified_claims": {"claims": {"birthdate": None, "email": None}}}})
    id_token, userinfo = tokens(client, db, claims=only_userinfo)
    assert "verified_claims" not in id_token
    assert userinfo["verified_claims"]["claims"] == {"birthdate": "1990-05-17"}  # email is never verified here


def test_without_asking_or_without_a_verified_identity_the_claims_stay_plain(client, db, camille):
    id_token, userinfo = tokens(client, db)
    assert "verified_claims" not in id_token and "verified_claims" not in userinfo
    assert userinfo["birthdate"] == "1990-05-17"

    id_token, userinfo = tokens(client, db, scope="openid email", claims=BOTH)  # no consent to the names
    assert "verified_claims" not in id_token and "verified_claims" not in userinfo

    camille.identity_verified_by = None  # typed at sign-up
    db.commit()
    client.post("/logout")
    id_token, userinfo = tokens(client, db, claims=BOTH)
    assert "verified_claims" not in id_token and "verified_claims" not in userinfo


def test_a_provider_of_another_style_gives_no_trust_framework_to_name(client, db, camille):
    upstreams.add(db, name="autre", issuer="https://autre.example.fr", client_id="c", client_secret="s",
                  verifies_identity=True)
    camille.identity_verified_by = "autre"
    db.commit()
    id_token, userinfo = tokens(client, db, claims=BOTH)
    assert "verified_claims" not in id_token and "verified_claims" not in userinfo


@pytest.mark.parametrize("claims", ["{not json", "[]", json.dumps({"userinfo": []}),
                                    json.dumps({"id_token": {"verified_claims": {"verification": {}}}}),
                                    json.dumps({"userinfo": {"verified_claims": {"claims": {}}}}) + " " * 5000])
def test_a_malformed_claims_parameter_is_an_invalid_request(client, db, camille, claims):
    client_id, _ = make_client(db)
    assert login(client, "camille").status_code == 303
    answer = client.get(authorize_url(client_id, claims=claims))
    assert answer.status_code == 302 and answer.location.startswith(REDIRECT_URI)
    assert query(answer.location)["error"] == "invalid_request" and "code" not in query(answer.location)


def test_discovery_says_what_is_supported(client):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["claims_parameter_supported"] is True and "verified_claims_supported" not in document
    assert document["trust_frameworks_supported"] == ["eidas"]
    assert set(document["claims_in_verified_claims_supported"]) == {
        "given_name", "family_name", "birthdate", "birthplace", "birthcountry"}
