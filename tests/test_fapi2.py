"""FAPI 2.0 clients (issue 19, item 2), first part: ``private_key_jwt`` (RFC 7523 as FAPI 2.0
restricts it), PAR required, PKCE S256 required, codes of at most 60 s, ES256 ID tokens, and
DPoP-bound tokens (RFC 9449).  The client is tests/fapi_client.py, written with joserfc."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from fapi_client import FapiClient
from jose import jwt as jose_jwt
from joserfc.jwk import ECKey, thumbprint
from werkzeug.wrappers import Request, Response

from idp.cli import main
from idp.clients import ClientSpecError, register
from idp.oidc import client_auth
from idp.oidc.tokens import sha256

from helpers import REDIRECT_URI, jose_claims, login, make_user, query, served

ISSUER = "http://localhost:5000"


@pytest.fixture
def citizen(db):
    return make_user(db)


@pytest.fixture
def fapi(db):
    client = FapiClient(ISSUER, REDIRECT_URI)
    registered, secret = register(db, name="Aides régionales", redirect_uris=[REDIRECT_URI], profile="fapi2",
                                  jwks=client.jwks(), scope="openid profile")
    assert secret is None and registered.token_endpoint_auth_method == "private_key_jwt"
    assert registered.id_token_signed_response_alg == "ES256"  # FAPI 2.0: never RS256
    client.client_id = registered.client_id
    return client


def sign_in_through_par(browser, fapi, **params):
    """PAR, the browser at /oauth/authorize with the request_uri, the citizen's login: the callback."""
    pushed, verifier = fapi.push(browser, **params)
    assert pushed.status_code == 201, pushed.get_json()
    uri = pushed.get_json()["request_uri"]
    back = browser.get(f"/oauth/authorize?client_id={fapi.client_id}&request_uri={uri}")
    if back.location.startswith("/login?rid="):  # not signed in yet in this browser
        signed = login(browser, rid=query(back.location)["rid"])
        back = browser.get(signed.location)
    assert back.status_code == 302 and back.location.startswith(REDIRECT_URI + "?"), back.location
    return query(back.location), verifier


def test_a_fapi2_client_signs_a_citizen_in_with_par_and_private_key_jwt(client, db, citizen, fapi):
    callback, verifier = sign_in_through_par(client, fapi)
    assert callback["iss"] == ISSUER
    issued = fapi.redeem(client, callback["code"], verifier)
    assert issued.status_code == 200, issued.get_json()
    tokens = issued.get_json()
    assert jose_jwt.get_unverified_header(tokens["id_token"])["alg"] == "ES256"
    claims = jose_claims(client, tokens["id_token"], audience=fapi.client_id)
    assert claims["sub"] == citizen.sub and claims["amr"] == ["pwd"]


def token_error(answer) -> str:
    assert answer.status_code in (400, 401), answer.get_json()
    return answer.get_json()["error"]


def test_a_refresh_and_a_service_s_own_token_authenticate_with_the_key_too(client, db, citizen, fapi):
    callback, verifier = sign_in_through_par(client, fapi)
    refresh = fapi.redeem(client, callback["code"], verifier).get_json()["refresh_token"]
    refreshed = client.post("/oauth/token", headers={"DPoP": fapi.proof("POST", "/oauth/token")},
                            data=fapi.authenticated({"grant_type": "refresh_token", "refresh_token": refresh}))
    assert refreshed.status_code == 200 and refreshed.get_json()["refresh_token"] != refresh
    batch = FapiClient(ISSUER, REDIRECT_URI)
    registered, _ = register(db, name="Versements", grant_types=["client_credentials"], jwks=batch.jwks(),
                             scope="openid")
    batch.client_id = registered.client_id
    own = client.post("/oauth/token", data=batch.authenticated({"grant_type": "client_credentials"}))  # no DPoP
    assert own.status_code == 200 and own.get_json()["token_type"] == "Bearer"


@pytest.mark.parametrize(("options", "why"), [
    ({"audience": ISSUER + "/oauth/token"}, "aud"),  # FAPI 2.0: the issuer alone
    ({"audience": [ISSUER, "https://other.example"]}, "aud"),
    ({"lifetime": 3600}, "exp"),  # a day-long assertion is a bearer secret
    ({"lifetime": -120}, "expired"),
    ({"key": ECKey.generate_key("P-256", parameters={"kid": "not-registered"})}, "key"),
])
def test_a_bad_assertion_is_invalid_client(client, db, citizen, fapi, options, why):
    callback, verifier = sign_in_through_par(client, fapi)
    assert token_error(fapi.redeem(client, callback["code"], verifier, **options)) == "invalid_client", why


def test_an_assertion_works_once(client, db, citizen, fapi):
    callback, verifier = sign_in_through_par(client, fapi)
    first = fapi.redeem(client, callback["code"], verifier, jti="only-once")
    assert first.status_code == 200
    callback, verifier = sign_in_through_par(client, fapi)
    assert token_error(fapi.redeem(client, callback["code"], verifier, jti="only-once")) == "invalid_client"


def test_the_key_s_own_kid_signing_with_another_key_is_refused(client, db, citizen, fapi):
    impostor = ECKey.generate_key("P-256", parameters={"kid": fapi.key.kid})  # the right kid, the wrong key
    callback, verifier = sign_in_through_par(client, fapi)
    assert token_error(fapi.redeem(client, callback["code"], verifier, key=impostor)) == "invalid_client"


def test_a_secret_is_no_way_in_for_a_client_with_keys(client, db, fapi):
    answer = client.post("/oauth/par", data={"response_type": "code", "client_id": fapi.client_id},
                         auth=(fapi.client_id, "anything"))
    assert answer.status_code == 401 and answer.get_json()["error"] == "invalid_client"


def test_without_par_a_fapi2_client_gets_no_code(client, db, citizen, fapi):
    _verifier, challenge = fapi.pkce()
    login(client)
    answer = client.get(f"/oauth/authorize?response_type=code&client_id={fapi.client_id}&redirect_uri={REDIRECT_URI}"
                        f"&scope=openid&state=s&code_challenge={challenge}&code_challenge_method=S256")
    assert answer.status_code == 302 and answer.location.startswith(REDIRECT_URI + "?")
    callback = query(answer.location)
    assert callback["error"] == "invalid_request" and "code" not in callback
    from sqlalchemy import select

    from idp.models import AuditEvent

    db.expire_all()
    [refused] = db.scalars(select(AuditEvent).where(AuditEvent.action == "oauth.refused")).all()
    assert refused.client_id == fapi.client_id and refused.details["endpoint"] == "/oauth/authorize"


def test_a_fapi2_push_needs_pkce_s256(client, db, fapi):
    pushed, _verifier = fapi.push(client, code_challenge=None, code_challenge_method=None)
    assert pushed.status_code == 400 and pushed.get_json()["error"] == "invalid_request"


def test_a_fapi2_code_lives_sixty_seconds_at_most(app, client, db, citizen, fapi):
    callback, verifier = sign_in_through_par(client, fapi)
    ctx = app.extensions["idp"]
    key = ctx.keys("code", sha256(callback["code"]))
    assert 0 < ctx.redis.ttl(key) <= 60
    ctx.redis.pexpire(key, 1)  # its minute is up
    time.sleep(0.05)
    assert token_error(fapi.redeem(client, callback["code"], verifier)) == "invalid_grant"


def test_keys_published_at_a_jwks_uri_are_fetched_again_for_a_new_kid(client, db, citizen, monkeypatch):
    fapi = FapiClient(ISSUER, REDIRECT_URI)
    published = {"jwks": fapi.jwks()}

    @Request.application
    def keys_server(_request):
        return Response(json.dumps(published["jwks"]), mimetype="application/json")

    monkeypatch.setattr(client_auth, "REFETCH_EVERY", 0)
    with served(keys_server) as base:
        registered, _ = register(db, name="Aides", redirect_uris=[REDIRECT_URI], profile="fapi2",
                                 jwks_uri=f"{base}/jwks.json", scope="openid")
        fapi.client_id = registered.client_id
        callback, verifier = sign_in_through_par(client, fapi, scope="openid")
        assert fapi.redeem(client, callback["code"], verifier).status_code == 200
        rotated = ECKey.generate_key("P-256", parameters={"kid": "rotated", "alg": "ES256"})
        published["jwks"] = fapi.jwks(rotated)  # the client rotates: a new key, under a new kid
        fapi.key = rotated
        callback, verifier = sign_in_through_par(client, fapi, scope="openid")
        assert fapi.redeem(client, callback["code"], verifier).status_code == 200


@pytest.mark.parametrize(("fields", "message"), [
    ({"profile": "fapi2", "public": True}, "cannot be --public"),
    ({"profile": "fapi2"}, "needs the client's keys"),
    ({"auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}, "public keys"),
    ({"auth_method": "client_secret_basic", "jwks_uri": "https://a.example/jwks"}, "keys go with private_key_jwt"),
])
def test_a_registration_that_cannot_work_says_why(db, fields, message):
    with pytest.raises(ClientSpecError, match=message):
        register(db, name="Service", redirect_uris=[REDIRECT_URI], **fields)
    db.rollback()


def test_the_cli_registers_a_fapi2_client_and_prints_no_secret(app_config, tmp_path, db):
    keys = tmp_path / "jwks.json"
    keys.write_text(json.dumps(FapiClient(ISSUER, REDIRECT_URI).jwks()))
    added = CliRunner().invoke(main, ["clients", "add", "--name", "Aides", "--redirect-uri", REDIRECT_URI,
                                      "--profile", "fapi2", "--jwks-file", str(keys), "--json"],
                               env={name: str(value) for name, value in app_config.items()})
    assert added.exit_code == 0, added.output
    printed = json.loads(added.output)
    assert set(printed) == {"client_id"}


def test_discovery_names_private_key_jwt_and_its_algorithms(client):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert document["token_endpoint_auth_signing_alg_values_supported"] == ["ES256", "PS256", "EdDSA"]


# DPoP (RFC 9449)


def bound_tokens(client, fapi) -> dict:
    callback, verifier = sign_in_through_par(client, fapi)
    issued = fapi.redeem(client, callback["code"], verifier)
    assert issued.status_code == 200, issued.get_json()
    return issued.get_json()


def userinfo(client, fapi, token: str, scheme: str = "DPoP", **proof_options):
    proof = fapi.proof("GET", "/oauth/userinfo", token, **proof_options)
    return client.get("/oauth/userinfo", headers={"Authorization": f"{scheme} {token}", "DPoP": proof})


def test_a_fapi2_token_is_bound_to_the_proof_s_key_and_used_with_a_fresh_proof(client, db, citizen, fapi):
    tokens = bound_tokens(client, fapi)
    assert tokens["token_type"] == "DPoP"
    claims = jose_jwt.get_unverified_claims(tokens["access_token"])
    assert claims["cnf"] == {"jkt": thumbprint(fapi.dpop_key.as_dict(private=False))}
    answer = userinfo(client, fapi, tokens["access_token"])
    assert answer.status_code == 200 and answer.get_json()["sub"] == citizen.sub

    introspected = client.post("/oauth/introspect", data=fapi.authenticated({"token": tokens["access_token"]}))
    assert introspected.get_json()["cnf"] == claims["cnf"] and introspected.get_json()["token_type"] == "DPoP"


def test_without_a_proof_a_fapi2_client_gets_no_token(client, db, citizen, fapi):
    callback, verifier = sign_in_through_par(client, fapi)
    refused = fapi.redeem(client, callback["code"], verifier, dpop=False)
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_dpop_proof"


def dpop_refusal(answer) -> str:
    assert answer.status_code == 401, answer.get_json()
    assert answer.headers["WWW-Authenticate"].startswith("DPoP ")
    return answer.get_json()["error"]


def test_a_bound_token_is_refused_as_bearer_or_with_a_bad_proof(client, db, citizen, fapi):
    token = bound_tokens(client, fapi)["access_token"]
    assert dpop_refusal(client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"})) \
        == "invalid_token"
    assert dpop_refusal(client.post("/oauth/userinfo", data={"access_token": token})) == "invalid_token"
    thief_key = ECKey.generate_key("P-256")
    assert dpop_refusal(userinfo(client, fapi, token, key=thief_key)) == "invalid_dpop_proof"  # another key
    assert dpop_refusal(userinfo(client, fapi, token, url=ISSUER + "/oauth/token")) == "invalid_dpop_proof"  # htu
    assert dpop_refusal(userinfo(client, fapi, token, iat=int(time.time()) - 600)) == "invalid_dpop_proof"  # stale
    proof = fapi.proof("GET", "/oauth/userinfo", "another token")  # ath of another token
    assert dpop_refusal(client.get("/oauth/userinfo", headers={"Authorization": f"DPoP {token}", "DPoP": proof})) \
        == "invalid_dpop_proof"
    once = fapi.proof("GET", "/oauth/userinfo", token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": once}
    assert client.get("/oauth/userinfo", headers=headers).status_code == 200
    assert dpop_refusal(client.get("/oauth/userinfo", headers=headers)) == "invalid_dpop_proof"  # replayed


def test_a_proof_at_the_token_endpoint_works_once_and_must_verify(client, db, citizen, fapi):
    callback, verifier = sign_in_through_par(client, fapi)
    proof = fapi.proof("POST", "/oauth/token", jti="same")
    data = fapi.authenticated({"grant_type": "authorization_code", "code": callback["code"],
                               "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
    assert client.post("/oauth/token", headers={"DPoP": proof}, data=data).status_code == 200
    callback, verifier = sign_in_through_par(client, fapi)
    again = client.post("/oauth/token", headers={"DPoP": proof}, data=fapi.authenticated(
        {"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT_URI,
         "code_verifier": verifier}))
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_dpop_proof"
    forged = proof[:-6] + "AAAAAA"
    assert client.post("/oauth/token", headers={"DPoP": forged}, data={}).get_json()["error"] == "invalid_dpop_proof"


def test_a_refresh_binds_the_new_token_to_the_key_of_its_proof(client, db, citizen, fapi):
    tokens = bound_tokens(client, fapi)
    fapi.dpop_key = ECKey.generate_key("P-256")  # the client moved to another key
    refreshed = client.post("/oauth/token", headers={"DPoP": fapi.proof("POST", "/oauth/token")},
                            data=fapi.authenticated({"grant_type": "refresh_token",
                                                     "refresh_token": tokens["refresh_token"]}))
    assert refreshed.status_code == 200, refreshed.get_json()
    new = refreshed.get_json()["access_token"]
    assert jose_jwt.get_unverified_claims(new)["cnf"]["jkt"] == thumbprint(fapi.dpop_key.as_dict(private=False))
    assert userinfo(client, fapi, new).status_code == 200


def test_discovery_names_the_dpop_algorithms(client):
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "PS256", "EdDSA"]


def test_every_refusal_is_audited_without_the_token(client, db, citizen, fapi):
    from sqlalchemy import select

    from idp.models import AuditEvent

    callback, verifier = sign_in_through_par(client, fapi)
    assert token_error(fapi.redeem(client, callback["code"], verifier, dpop=False)) == "invalid_dpop_proof"
    assert token_error(fapi.redeem(client, callback["code"], verifier, lifetime=3600)) == "invalid_client"
    pushed, _ = fapi.push(client, code_challenge=None, code_challenge_method=None)
    assert pushed.status_code == 400
    db.expire_all()
    refused = {(row.action, row.details.get("endpoint"), row.details.get("error"))
               for row in db.scalars(select(AuditEvent).where(AuditEvent.action.in_(("oauth.refused",
                                                                                     "client.auth_failed"))))}
    assert ("oauth.refused", "/oauth/token", "invalid_dpop_proof") in refused
    assert ("oauth.refused", "/oauth/token", "invalid_client") in refused
    assert ("oauth.refused", "/oauth/par", "invalid_request") in refused
    assert any(action == "client.auth_failed" for action, _endpoint, _error in refused)
    token = bound_tokens(client, fapi)["access_token"]
    assert dpop_refusal(client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"})) == "invalid_token"
    db.expire_all()
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "oauth.refused",
                                               AuditEvent.details["endpoint"].as_string() == "/oauth/userinfo")).all()
    everything = " ".join(str(row.details) for row in db.scalars(select(AuditEvent)))
    assert callback["code"] not in everything and verifier not in everything and token not in everything


@pytest.mark.parametrize(("kind", "alg"), [("RSA", "PS256"), ("OKP", "EdDSA")])
def test_assertions_signed_with_ps256_or_eddsa_are_accepted_and_rs256_is_not(client, db, citizen, kind, alg):
    from joserfc.jwk import OKPKey, RSAKey

    fapi = FapiClient(ISSUER, REDIRECT_URI, alg=alg)
    fapi.key = (RSAKey.generate_key(2048, parameters={"kid": "rsa"}) if kind == "RSA"
                else OKPKey.generate_key("Ed25519", parameters={"kid": "okp"}))
    registered, _ = register(db, name="Aides", redirect_uris=[REDIRECT_URI], profile="fapi2", jwks=fapi.jwks(),
                             scope="openid")
    fapi.client_id = registered.client_id
    callback, verifier = sign_in_through_par(client, fapi, scope="openid")
    assert fapi.redeem(client, callback["code"], verifier).status_code == 200
    if kind == "RSA":  # the same RSA key, with the algorithm FAPI 2.0 forbids
        pushed, _ = fapi.push(client, scope="openid", assertion={"alg": "RS256"})
        assert pushed.status_code in (400, 401) and pushed.get_json()["error"] == "invalid_client"
