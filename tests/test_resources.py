"""Resource servers (issue 15, idp/resources.py): regional APIs registered with their own scopes,
access tokens meant for one of them (RFC 8707 ``resource``, RFC 9068 JWTs with ``aud``), checked by
python-jose as an independent verifier, and by a small resource server written for the tests that
accepts only the tokens meant for it, offline and by introspection."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from urllib.parse import urlparse

import pytest
import requests
from jose import jwt as jose_jwt
from joserfc import jwt as joserfc_jwt

from idp import resources
from idp.clients import ClientSpecError, register

from conftest import free_port
from helpers import (
    REDIRECT_URI,
    ROOT,
    authorize_url,
    csrf_token,
    jose_claims,
    login,
    make_client,
    make_user,
    query,
    redeem,
    run_idp_here,
    served,
)

PAYMENTS = "https://paiements.region.example.fr/api"
GRANTS = "https://aides.region.example.fr/api"


@pytest.fixture
def apis(db):
    """Two regional APIs: payments (ES256 tokens of 5 minutes) and grants (RS256, the default)."""
    payments, payments_secret = resources.add(
        db, identifier=PAYMENTS, scope="payments:read payments:write", name="Paiements",
        descriptions=["payments:read=Voir vos paiements"], access_token_alg="ES256", access_token_ttl=300)
    grants, grants_secret = resources.add(db, identifier=GRANTS, scope="grants:read", name="Aides")
    return {PAYMENTS: (payments.client_id, payments_secret), GRANTS: (grants.client_id, grants_secret)}


def token(browser, client_id, secret, **data):
    return browser.post("/oauth/token", data={"grant_type": "client_credentials", **data}, auth=(client_id, secret))


def service(db, scope="payments:read payments:write grants:read"):
    return make_client(db, name="Traitement de nuit", redirect_uris=[], grant_types=["client_credentials"],
                       scope=scope)


# Registering ------------------------------------------------------------------------------------------------------

def test_a_resource_is_added_with_its_introspection_credentials_listed_and_removed(app_config, db):
    added = run_idp_here(app_config, "resources", "add", "--identifier", PAYMENTS, "--scope",
                         "payments:read payments:write", "--name", "Paiements", "--scope-description",
                         "payments:read=Voir vos paiements", "--access-token-alg", "ES256", "--json")
    assert added.returncode == 0, added.stderr
    answer = json.loads(added.stdout)
    assert answer["identifier"] == PAYMENTS and answer["client_id"] and len(answer["client_secret"]) >= 40

    listed = run_idp_here(app_config, "resources", "list", "--json")
    assert json.loads(listed.stdout) == [{
        "identifier": PAYMENTS, "name": "Paiements", "scopes": ["payments:read", "payments:write"],
        "scope_descriptions": {"payments:read": "Voir vos paiements"}, "access_token_alg": "ES256",
        "access_token_ttl": None, "private": False, "client_id": answer["client_id"]}]
    assert answer["client_secret"] not in listed.stdout + run_idp_here(app_config, "resources", "list").stdout

    assert run_idp_here(app_config, "resources", "remove", PAYMENTS).returncode == 0
    assert resources.listed(db) == []
    gone = run_idp_here(app_config, "resources", "remove", PAYMENTS)
    assert gone.returncode == 1 and gone.stderr.strip() == f"Error: no resource '{PAYMENTS}'"


@pytest.mark.parametrize(("options", "said"), [
    (("--identifier", "paiements", "--scope", "a:read"), "absolute http(s) URI without a fragment"),
    (("--identifier", "https://api.example.fr/#x", "--scope", "a:read"), "without a fragment"),
    (("--identifier", "http://api.example.fr/", "--scope", "a:read"), "https:// URI"),
    (("--identifier", GRANTS, "--scope", "payments:read"), "already belongs to " + PAYMENTS),
    (("--identifier", GRANTS, "--scope", "openid grants:read"), "'openid' is the provider's own scope"),
    (("--identifier", GRANTS, "--scope", 'a"b'), "a scope is 1 to 64 printable characters"),
    (("--identifier", PAYMENTS, "--scope", "other:read"), "already exists"),
    (("--identifier", "https://g.example.fr/", "--scope", "g:read", "--scope-description", "g:write=Écrire"),
     "a description is"),
    (("--identifier", "https://g.example.fr/", "--scope", "g:read", "--access-token-ttl", "5"), "30 to 86400 seconds"),
])
def test_a_resource_that_cannot_work_is_refused_in_one_line(app_config, apis, options, said):
    refused = run_idp_here(app_config, "resources", "add", *options)
    assert refused.returncode == 2 and said in refused.stderr, refused.stderr


def test_clients_may_be_given_the_provider_s_and_the_resources_scopes_only(app_config, db, apis):
    with pytest.raises(ClientSpecError, match="unknown scope 'api'"):
        register(db, name="x", redirect_uris=[REDIRECT_URI], scope="openid api")
    refused = run_idp_here(app_config, "clients", "add", "--name", "x", "--redirect-uri", REDIRECT_URI,
                           "--scope", "openid api")
    assert refused.returncode == 2 and "unknown scope 'api'" in refused.stderr

    client_id, _ = make_client(db, scope="openid")
    updated = run_idp_here(app_config, "clients", "update", client_id, "--scope", "openid payments:read")
    assert updated.returncode == 0, updated.stderr
    assert json.loads(run_idp_here(app_config, "clients", "list", "--json").stdout)[-1]["scope"] == \
        "openid payments:read"
    assert run_idp_here(app_config, "clients", "update", client_id, "--scope", "nope").returncode == 2


# Tokens for an API ------------------------------------------------------------------------------------------------

def test_a_service_gets_a_token_for_one_api_with_that_api_s_scopes_algorithm_and_lifetime(client, db, apis):
    client_id, secret = service(db)
    answer = token(client, client_id, secret, resource=PAYMENTS)
    assert answer.status_code == 200, answer.data
    issued = answer.get_json()
    assert issued["scope"] == "payments:read payments:write" and issued["expires_in"] == 300
    assert jose_jwt.get_unverified_header(issued["access_token"])["alg"] == "ES256"
    claims = jose_claims(client, issued["access_token"], audience=PAYMENTS)
    assert claims["aud"] == PAYMENTS and claims["scope"] == "payments:read payments:write"
    assert claims["exp"] - claims["iat"] == 300
    with pytest.raises(jose_jwt.JWTClaimsError):
        jose_claims(client, issued["access_token"], audience=GRANTS)  # not the grants API's

    # Without resource, the scopes decide when they are all one API's.
    issued = token(client, client_id, secret, scope="grants:read").get_json()
    claims = jose_claims(client, issued["access_token"], audience=GRANTS)
    assert (claims["aud"], claims["scope"]) == (GRANTS, "grants:read")
    assert jose_jwt.get_unverified_header(issued["access_token"])["alg"] == "RS256"


@pytest.mark.parametrize(("data", "error"), [
    ({"resource": "https://inconnu.example.fr/api"}, "invalid_target"),
    ({"resource": GRANTS, "scope": "payments:read"}, "invalid_scope"),  # none of that API's scopes
    ({"scope": "payments:read grants:read"}, "invalid_target"),  # two APIs: which one?
    ({"resource": [PAYMENTS, GRANTS]}, "invalid_request"),  # one at a time (Authlib refuses a repeated one)
    ({"scope": "payments:delete"}, "invalid_scope"),  # no such scope
])
def test_an_unknown_resource_or_scope_is_refused_with_its_error(client, db, apis, data, error):
    client_id, secret = service(db)
    refused = token(client, client_id, secret, **data)
    assert refused.status_code == 400 and refused.get_json()["error"] == error, refused.get_json()


def consented_code(browser, client_id: str, **params) -> str:
    """The code flow of a service asking for an API's scopes: sign in, allow on the consent page."""
    answer = browser.get(authorize_url(client_id, **params))
    if answer.status_code == 302 and urlparse(answer.location).path == "/login":
        answer = browser.get(login(browser, "jean.dupont", rid=query(answer.location)["rid"]).location)
    if answer.status_code == 200:  # the consent page
        answer = browser.post("/oauth/consent", data={"csrf_token": csrf_token(answer.data), "allow": "1",
                                                     "rid": rid_in(answer.data)})
        answer = browser.get(answer.location)
    assert answer.status_code == 302 and answer.location.startswith(REDIRECT_URI), answer.data
    return query(answer.location)["code"]


def rid_in(html: bytes) -> str:
    return re.search(r'name="rid"[^>]*value="([^"]*)"', html.decode()).group(1)


def test_the_citizen_consents_to_an_api_in_plain_words_once_and_sees_it_on_the_account(client, db, apis):
    make_user(db)
    client_id, _ = make_client(db, name="Transports scolaires", scope="openid profile payments:read")
    answer = client.get(authorize_url(client_id, scope="openid profile payments:read"))
    page = client.get(login(client, "jean.dupont", rid=query(answer.location)["rid"]).location)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h2>En votre nom, avec Paiements</h2>" in html
    assert re.search(r'<ul data-api="Paiements">\s*<li>Voir vos paiements</li>\s*</ul>', html)
    allowed = client.post("/oauth/consent", data={"csrf_token": csrf_token(page.data), "allow": "1",
                                                  "rid": rid_in(page.data)})
    assert client.get(allowed.location).location.startswith(REDIRECT_URI)

    again = client.get(authorize_url(client_id, scope="openid profile payments:read"))
    assert again.status_code == 302 and again.location.startswith(REDIRECT_URI)  # not asked twice
    services = client.get("/account/services").get_data(as_text=True)
    assert "Avec Paiements, il peut\u00a0:" in services and "<li>Voir vos paiements</li>" in services

    page = client.get("/account/services")
    client.post("/account/services", data={"csrf_token": csrf_token(page.data), "client_id": client_id})
    asked = client.get(authorize_url(client_id, scope="openid profile payments:read"))
    assert asked.status_code == 200 and "Paiements" in asked.get_data(as_text=True)  # removed: asked again
    silent = client.get(authorize_url(client_id, scope="openid profile payments:read", prompt="none"))
    assert silent.status_code == 302 and "error=consent_required" in silent.location


def test_a_citizen_s_service_gets_an_id_token_and_tokens_for_each_api_granted(client, db, apis):
    make_user(db)
    client_id, secret = make_client(db, scope="openid profile payments:read grants:read")
    code = consented_code(client, client_id, scope="openid profile payments:read grants:read",
                          resource=[PAYMENTS, GRANTS])

    issued = redeem(client, client_id, secret, code, resource=PAYMENTS).get_json()

    claims = jose_claims(client, issued["access_token"], audience=PAYMENTS)
    assert claims["scope"] == "payments:read" and issued["scope"] == "payments:read"
    id_token = jose_claims(client, issued["id_token"], audience=client_id, access_token=issued["access_token"])
    assert id_token["given_name"] == "Jean"  # the citizen is signed in as before
    userinfo = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert userinfo.status_code in (401, 403)  # an API's token is not the provider's

    refresh = issued["refresh_token"]
    for resource, scope in ((GRANTS, "grants:read"), (PAYMENTS, "payments:read"), (GRANTS, "grants:read")):
        answer = client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                                   "resource": resource}, auth=(client_id, secret))
        assert answer.status_code == 200, answer.data
        refreshed = answer.get_json()
        assert jose_claims(client, refreshed["access_token"], audience=resource)["scope"] == scope
        refresh = refreshed["refresh_token"]


def test_a_refresh_cannot_reach_an_api_the_authorization_did_not_name(client, db, apis):
    make_user(db)
    client_id, secret = make_client(db, scope="openid payments:read grants:read")
    code = consented_code(client, client_id, scope="openid payments:read grants:read", resource=PAYMENTS)
    issued = redeem(client, client_id, secret, code).get_json()
    assert jose_claims(client, issued["access_token"], audience=PAYMENTS)["scope"] == "payments:read"

    refused = client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"],
                                                "resource": GRANTS}, auth=(client_id, secret))
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_target"
    again = client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"],
                                              "resource": PAYMENTS}, auth=(client_id, secret))
    assert again.status_code == 200  # the refused request did not use the refresh token up


@pytest.mark.parametrize("named", ["https://inconnu.example.fr/", "['\"é\"']"])
def test_an_unknown_resource_at_authorization_is_refused_to_the_service(client, db, apis, named):
    make_user(db)
    client_id, _ = make_client(db, scope="openid payments:read")
    answer = client.get(authorize_url(client_id, scope="openid", resource=named))
    assert answer.status_code == 302 and answer.location.startswith(REDIRECT_URI + "?"), answer.data
    assert "error=invalid_target" in answer.location


def test_discovery_lists_the_resources_scopes_unless_private(client, db, apis):
    scopes = client.get("/.well-known/openid-configuration").get_json()["scopes_supported"]
    assert {"payments:read", "payments:write", "grants:read"} <= set(scopes) and "openid" in scopes
    resources.add(db, identifier="https://interne.region.example.fr/", scope="internal:audit", private=True)
    assert "internal:audit" not in client.get("/.well-known/openid-configuration").get_json()["scopes_supported"]


# The resource server's side ---------------------------------------------------------------------------------------

def resource_server(identifier: str, issuer: str, credentials: tuple[str, str]):
    """The README's example API (examples/resource_server.py), imported as its developers would run it."""
    spec = importlib.util.spec_from_file_location("resource_server", ROOT / "examples" / "resource_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.create_app(issuer, identifier, credentials)


@pytest.fixture
def live(build_app, db, apis):
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    with served(build_app(IDP_ISSUER=issuer), port), served(resource_server(PAYMENTS, issuer, apis[PAYMENTS])) as api:
        yield issuer, api


@pytest.mark.parametrize("check", ["offline", "introspection"])
def test_the_api_accepts_only_tokens_meant_for_it_and_none_once_revoked(live, db, check):
    issuer, api = live
    client_id, secret = service(db)

    def issued(**data) -> str:
        answer = requests.post(f"{issuer}/oauth/token", data={"grant_type": "client_credentials", **data},
                               auth=(client_id, secret), timeout=5)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def call(access_token: str) -> int:
        return requests.get(f"{api}/payments", params={"check": check},
                            headers={"Authorization": f"Bearer {access_token}"}, timeout=5).status_code

    mine = issued(resource=PAYMENTS)
    assert call(mine) == 200
    assert call(issued(resource=GRANTS)) == 401  # meant for the grants API
    assert call(issued(resource=PAYMENTS, scope="payments:write")) == 403  # meant for it, without the scope
    revoked = requests.post(f"{issuer}/oauth/revoke", data={"token": mine}, auth=(client_id, secret), timeout=5)
    assert revoked.status_code == 200
    if check == "introspection":
        assert call(mine) == 401  # at once
    else:
        assert call(mine) == 200 and time.time()  # offline checks cannot know: the token's short life is the bound


@pytest.mark.parametrize("check", ["offline", "introspection"])
def test_the_api_takes_a_dpop_bound_token_only_with_a_proof_of_its_key(live, db, check):
    from fapi_client import FapiClient
    from joserfc.jwk import ECKey

    issuer, api = live
    client_id, secret = service(db)
    holder = FapiClient(issuer, "")  # only its DPoP key and proofs are used here
    answer = requests.post(f"{issuer}/oauth/token", auth=(client_id, secret), timeout=5,
                           headers={"DPoP": holder.proof("POST", "/oauth/token")},
                           data={"grant_type": "client_credentials", "resource": PAYMENTS})
    assert answer.status_code == 200 and answer.json()["token_type"] == "DPoP", answer.text
    bound = answer.json()["access_token"]

    def call(scheme: str, **proof_options):
        headers = {"Authorization": f"{scheme} {bound}"}
        if proof_options.get("key", True) is not None:
            headers["DPoP"] = holder.proof("GET", "", bound, **{"url": f"{api}/payments", **proof_options})
        return requests.get(f"{api}/payments", params={"check": check}, headers=headers, timeout=5)

    assert call("DPoP").status_code == 200
    as_bearer = call("Bearer", key=None)
    assert as_bearer.status_code == 401 and as_bearer.headers["WWW-Authenticate"].startswith("DPoP")
    assert call("DPoP", key=ECKey.generate_key("P-256")).status_code == 401  # a thief's key
    assert call("DPoP", url=f"{api}/other").status_code == 401  # a proof for another URL
    replayed = holder.proof("GET", "", bound, url=f"{api}/payments")
    headers = {"Authorization": f"DPoP {bound}", "DPoP": replayed}
    assert requests.get(f"{api}/payments", params={"check": check}, headers=headers, timeout=5).status_code == 200
    assert requests.get(f"{api}/payments", params={"check": check}, headers=headers, timeout=5).status_code == 401


def test_introspection_by_an_api_sees_only_its_own_tokens(client, db, apis):
    client_id, secret = service(db)
    for_payments = token(client, client_id, secret, resource=PAYMENTS).get_json()["access_token"]
    for_grants = token(client, client_id, secret, resource=GRANTS).get_json()["access_token"]

    def introspect(api: str, value: str) -> dict:
        return client.post("/oauth/introspect", data={"token": value}, auth=apis[api]).get_json()

    seen = introspect(PAYMENTS, for_payments)
    assert seen["active"] is True and seen["aud"] == PAYMENTS and seen["scope"] == "payments:read payments:write"
    assert introspect(PAYMENTS, for_grants) == {"active": False}
    assert introspect(GRANTS, for_grants)["active"] is True
    # The API's credentials get no token of their own.
    refused = token(client, *apis[PAYMENTS], scope="payments:read")
    assert refused.status_code in (400, 401) and refused.get_json()["error"] in ("unauthorized_client",
                                                                                 "invalid_client")


def test_the_example_api_refuses_a_jwt_that_is_not_an_access_token(app, client, apis):
    """An ID token, or any JWT the provider signed, is not an access token: ``typ`` must be at+jwt."""
    module = importlib.util.module_from_spec(
        spec := importlib.util.spec_from_file_location("resource_server", ROOT / "examples" / "resource_server.py"))
    spec.loader.exec_module(module)
    keys = client.get("/oauth/jwks").get_json()
    signing = app.extensions["idp"].signing_keys.signing_key("RS256")
    claims = {"iss": "http://localhost:5000", "aud": PAYMENTS, "sub": "x", "scope": "payments:read",
              "iat": int(time.time()), "exp": int(time.time()) + 60}

    def signed(typ: str) -> str:
        return joserfc_jwt.encode({"alg": "RS256", "kid": signing.kid, "typ": typ}, claims, signing)

    assert module.verify_offline(signed("at+jwt"), "http://localhost:5000", PAYMENTS, keys)["sub"] == "x"
    assert module.verify_offline(signed("JWT"), "http://localhost:5000", PAYMENTS, keys) is None
    assert module.verify_offline(signed("at+jwt"), "http://localhost:5000", GRANTS, keys) is None  # not its aud
    assert module.verify_offline(signed("at+jwt"), "https://ailleurs.example.fr", PAYMENTS, keys) is None
    assert module.verify_offline("not a token", "http://localhost:5000", PAYMENTS, keys) is None


def test_an_api_token_of_a_citizen_is_inactive_once_the_consent_is_removed_or_the_password_reset(client, db, apis):
    citizen = make_user(db)
    client_id, secret = make_client(db, scope="openid payments:read")

    def api_token() -> str:
        code = consented_code(client, client_id, scope="openid payments:read")
        return redeem(client, client_id, secret, code, resource=PAYMENTS).get_json()["access_token"]

    def active(value: str) -> bool:
        return client.post("/oauth/introspect", data={"token": value}, auth=apis[PAYMENTS]).get_json()["active"]

    first = api_token()
    assert active(first)
    page = client.get("/account/services")
    client.post("/account/services", data={"csrf_token": csrf_token(page.data), "client_id": client_id})
    assert not active(first)  # "Retirer l'accès"

    second = api_token()
    assert active(second)
    with client.application.test_request_context():
        from idp.credentials import set_password
        from idp.db import session as app_db

        set_password(app_db().get(type(citizen), citizen.id), "une autre phrase de passe assez longue", "reset")
    assert not active(second)
