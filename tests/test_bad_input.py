"""Malformed requests on every endpoint: never a crash, never a stack trace, always the right kind of answer."""

from __future__ import annotations

import base64
import functools
import json
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient
from jose import jwt as jose_jwt
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from helpers import PASSWORD, REDIRECT_URI, csrf_token, get_code, make_client, make_user, pkce_pair, redeem

ISSUER = "http://localhost:5000"
RP, OTHER_RP, PUBLIC_RP = "rp-one", "rp-two", "rp-public"
EVIL = "https://evil.example/cb"
JSON_ENDPOINTS = ("/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/userinfo")
OTHER_JSON = ("/.well-known/openid-configuration", "/oauth/jwks", "/healthz", "/readyz")
# RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1.
OAUTH_ERRORS = {
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
    "invalid_scope", "access_denied", "unsupported_response_type", "server_error", "temporarily_unavailable",
    "invalid_token", "insufficient_scope", "unsupported_token_type",
}
FORM = "application/x-www-form-urlencoded"
NOT_UTF8 = b'{"alg": "\xff"}'


@dataclass
class World:
    """A browser and three registered relying parties; the citizen is made only when a case needs one."""

    browser: FlaskClient
    db: Session
    secret: str
    other_secret: str

    def citizen(self) -> World:
        make_user(self.db)
        return self

    def get(self, path, **kwargs):
        return self.browser.get(path, **kwargs)

    def post(self, path, **kwargs):
        return self.browser.post(path, **kwargs)

    def csrf(self) -> str:
        return csrf_token(self.browser.get("/login").data)

    def basic(self, client_id=RP, secret=None) -> dict:
        raw = f"{client_id}:{self.secret if secret is None else secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def world(client, db) -> World:
    _, secret = make_client(db, client_id=RP, grant_types=["authorization_code", "refresh_token",
                                                           "client_credentials"])
    _, other_secret = make_client(db, client_id=OTHER_RP)
    make_client(db, client_id=PUBLIC_RP, public=True)
    return World(client, db, secret, other_secret)


@functools.cache
def foreign_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def b64url(data: dict | list | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def access_claims(**extra) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "sub": "someone", "aud": RP, "client_id": RP, "scope": "openid profile",
            "iat": now, "exp": now + 600, "jti": "forged-jti", **extra}


def foreign_jwt(w: World, typ="at+jwt") -> str:
    """A well-formed access token, signed by a key that is not ours but naming our key id."""
    kid = w.get("/oauth/jwks").get_json()["keys"][0]["kid"]
    return jose_jwt.encode(access_claims(), foreign_key_pem(), algorithm="RS256", headers={"kid": kid, "typ": typ})


def unsigned_jwt() -> str:
    return f"{b64url({'alg': 'none', 'typ': 'at+jwt'})}.{b64url(access_claims())}."


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def authorize(**params) -> str:
    base = {"response_type": "code", "client_id": RP, "redirect_uri": REDIRECT_URI, "scope": "openid",
            "state": "st"}
    return "/oauth/authorize?" + urlencode({k: v for k, v in {**base, **params}.items() if v is not None})


def public_code(w: World) -> str:
    """A real authorization code of the public client (PKCE), after a real login."""
    _, challenge = pkce_pair()
    return get_code(w.citizen().browser, PUBLIC_RP, code_challenge=challenge, code_challenge_method="S256")["code"]


def login_form(w: World, **fields) -> dict:
    return {"csrf_token": w.csrf(), "username": "jean.dupont", "password": PASSWORD, **fields}


def case(name, send, *, no_location=False, status=None):
    """``no_location``: unknown client or redirect URI, so an error page and no redirect; ``status``: when RFCs say."""
    return pytest.param(send, no_location, 400 if no_location else status, id=name)


CASES = [
    # discovery and keys
    case("discovery-post", lambda w: w.post("/.well-known/openid-configuration")),
    case("discovery-bad-percent", lambda w: w.get("/.well-known/openid-configuration?x=%ff%fe%00")),
    case("discovery-garbage-basic", lambda w: w.get("/.well-known/openid-configuration",
                                                    headers={"Authorization": "Basic !!"})),
    case("jwks-put", lambda w: w.browser.put("/oauth/jwks")),
    case("jwks-nul-query", lambda w: w.get("/oauth/jwks?kid=%00")),
    # authorization endpoint, GET
    case("authorize-no-parameters", lambda w: w.get("/oauth/authorize"), no_location=True),
    case("authorize-unknown-client", lambda w: w.get(authorize(client_id="nobody")), no_location=True),
    case("authorize-unregistered-redirect", lambda w: w.get(authorize(redirect_uri=EVIL)), no_location=True),
    case("authorize-redirect-with-fragment", lambda w: w.get(authorize(redirect_uri=REDIRECT_URI + "#frag")),
         no_location=True),
    case("authorize-missing-redirect", lambda w: w.get(authorize(redirect_uri=None)), no_location=True),
    case("authorize-10kB-client-id", lambda w: w.get(authorize(client_id="c" * 10_000)), no_location=True),
    case("authorize-nul-client-id", lambda w: w.get(authorize(client_id="rp-one\x00")), no_location=True),
    case("authorize-invalid-utf8-client-id",
         lambda w: w.get(f"/oauth/authorize?response_type=code&client_id=%ff%fe&redirect_uri={REDIRECT_URI}"),
         no_location=True),
    case("authorize-duplicated-client-id",
         lambda w: w.get(authorize() + f"&client_id={OTHER_RP}"), no_location=True),
    case("authorize-duplicated-redirect-uri",
         lambda w: w.get(authorize() + "&" + urlencode({"redirect_uri": EVIL})), no_location=True),
    case("authorize-unknown-client-and-prompt-none", lambda w: w.get(authorize(client_id="nobody", prompt="none")),
         no_location=True),
    case("authorize-duplicated-state", lambda w: w.get(authorize() + "&state=other")),
    case("authorize-unsupported-response-type", lambda w: w.get(authorize(response_type="token"))),
    case("authorize-missing-response-type", lambda w: w.get(authorize(response_type=None))),
    case("authorize-unknown-scope-values", lambda w: w.get(authorize(scope="openid banana x\x00y"))),
    case("authorize-no-openid-scope", lambda w: w.get(authorize(scope="profile"))),
    case("authorize-unknown-prompt", lambda w: w.get(authorize(prompt="whatever"))),
    case("authorize-prompt-none-with-login", lambda w: w.get(authorize(prompt="none login"))),
    case("authorize-negative-max-age", lambda w: w.get(authorize(max_age="-5")), status=302),
    case("authorize-non-ascii-digit-max-age", lambda w: w.get(authorize(max_age="²")), status=302),
    case("authorize-huge-max-age", lambda w: w.get(authorize(max_age="9" * 5000)), status=302),
    case("authorize-5kB-state", lambda w: w.get(authorize(state="s" * 5000))),
    case("authorize-nul-in-state", lambda w: w.get(authorize(state="a\x00b"))),
    case("authorize-plain-pkce", lambda w: w.get(authorize(code_challenge="x" * 43, code_challenge_method="plain"))),
    case("authorize-public-client-without-pkce", lambda w: w.get(authorize(client_id=PUBLIC_RP))),
    case("authorize-garbage-ui-locales", lambda w: w.get(authorize(ui_locales="xx-YY \x00 -- en-"))),
    case("authorize-100kB-login-hint", lambda w: w.get(authorize(login_hint="u" * 100_000))),
    case("authorize-request-object", lambda w: w.get(authorize(request="eyJhbGciOiJub25lIn0.e30."))),
    case("authorize-resume-garbage", lambda w: w.get(authorize(resume="../../x" * 100))),
    # authorization endpoint, POST
    case("authorize-post-json-body", lambda w: w.post("/oauth/authorize", json={
        "response_type": "code", "client_id": RP, "redirect_uri": REDIRECT_URI, "scope": "openid"}),
        no_location=True),
    case("authorize-post-unknown-client", lambda w: w.post("/oauth/authorize", data={
        "response_type": "code", "client_id": "nobody", "redirect_uri": EVIL, "scope": "openid"}), no_location=True),
    case("authorize-post-text-plain", lambda w: w.post(
        "/oauth/authorize", data=f"client_id={RP}&redirect_uri={EVIL}", content_type="text/plain"),
        no_location=True),
    case("authorize-post-invalid-utf8", lambda w: w.post(
        "/oauth/authorize", data=b"response_type=code&client_id=\xff\xfe&redirect_uri=" + EVIL.encode(),
        content_type=FORM), no_location=True),
    # consent
    case("consent-get", lambda w: w.get("/oauth/consent")),
    case("consent-no-csrf", lambda w: w.post("/oauth/consent", data={"rid": "x", "allow": "1"}), status=400),
    case("consent-garbage-csrf", lambda w: w.post("/oauth/consent", data={"rid": "x", "allow": "1",
                                                                          "csrf_token": "garbage"})),
    case("consent-unknown-rid", lambda w: w.post("/oauth/consent", data={"rid": "\x00" * 10, "allow": "1",
                                                                         "csrf_token": w.csrf()})),
    case("consent-json-body", lambda w: w.post("/oauth/consent", json={"rid": "x", "allow": True})),
    # token endpoint
    case("token-get", lambda w: w.get("/oauth/token")),
    case("token-empty-post", lambda w: w.post("/oauth/token")),
    case("token-unknown-grant-type", lambda w: w.post("/oauth/token", data={"grant_type": "password"},
                                                      headers=w.basic())),
    case("token-json-body", lambda w: w.post("/oauth/token", json={"grant_type": "client_credentials"},
                                             headers=w.basic())),
    case("token-text-plain", lambda w: w.post("/oauth/token", data="grant_type=client_credentials",
                                              content_type="text/plain", headers=w.basic())),
    case("token-invalid-utf8-body", lambda w: w.post("/oauth/token", data=b"grant_type=\xff\xfe&code=%ff",
                                                     content_type=FORM, headers=w.basic())),
    case("token-basic-without-colon", lambda w: w.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(RP.encode()).decode()})),
    case("token-basic-invalid-base64", lambda w: w.post("/oauth/token", data={"grant_type": "client_credentials"},
                                                        headers={"Authorization": "Basic %%%not-base64%%%"})),
    case("token-basic-non-ascii", lambda w: w.post("/oauth/token", data={"grant_type": "client_credentials"},
                                                   headers={"Authorization": "Basic é"}), status=401),
    case("token-basic-invalid-utf8", lambda w: w.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()}), status=401),
    case("token-basic-wrong-secret", lambda w: w.post("/oauth/token", data={"grant_type": "client_credentials"},
                                                      headers=w.basic(secret="wrong")), status=401),
    case("token-basic-empty", lambda w: w.post("/oauth/token", data={"grant_type": "client_credentials"},
                                               headers={"Authorization": "Basic"})),
    case("token-bearer-instead-of-basic", lambda w: w.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=bearer("garbage"))),
    case("token-10kB-client-id", lambda w: w.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_id": "c" * 10_000, "client_secret": "s"})),
    case("token-nul-client-id", lambda w: w.post("/oauth/token", data={
        "grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT_URI, "client_id": "rp\x00"})),
    case("token-duplicated-grant-type", lambda w: w.post("/oauth/token", headers=w.basic(), data=MultiDict(
        [("grant_type", "client_credentials"), ("grant_type", "authorization_code")])), status=400),
    case("token-duplicated-code", lambda w: w.post("/oauth/token", headers=w.basic(), data=MultiDict(
        [("grant_type", "authorization_code"), ("code", "a"), ("code", "b"), ("redirect_uri", REDIRECT_URI)])),
        status=400),
    case("token-missing-code", lambda w: w.post("/oauth/token", headers=w.basic(), data={
        "grant_type": "authorization_code", "redirect_uri": REDIRECT_URI})),
    case("token-100kB-nul-code", lambda w: w.post("/oauth/token", headers=w.basic(), data={
        "grant_type": "authorization_code", "code": "\x00" * 100_000, "redirect_uri": REDIRECT_URI})),
    case("token-redirect-uri-with-fragment", lambda w: w.post("/oauth/token", headers=w.basic(), data={
        "grant_type": "authorization_code", "code": "abc", "redirect_uri": REDIRECT_URI + "#f"})),
    case("token-other-client-id-in-body-than-basic", lambda w: w.post("/oauth/token", headers=w.basic(), data={
        "grant_type": "authorization_code", "code": "abc", "redirect_uri": REDIRECT_URI, "client_id": OTHER_RP})),
    case("token-other-client-redeems-code", lambda w: w.post("/oauth/token", headers=w.basic(OTHER_RP, w.other_secret),
                                                             data={"grant_type": "authorization_code",
                                                                   "code": get_code(w.citizen().browser, RP)["code"],
                                                                   "redirect_uri": REDIRECT_URI,
                                                                   "client_id": RP})),
    case("token-short-code-verifier", lambda w: redeem(w.browser, PUBLIC_RP, None, public_code(w),
                                                       code_verifier="too-short"), status=400),
    case("token-long-code-verifier", lambda w: redeem(w.browser, PUBLIC_RP, None, public_code(w),
                                                      code_verifier="v" * 129), status=400),
    case("token-garbage-refresh-token", lambda w: w.post("/oauth/token", headers=w.basic(), data={
        "grant_type": "refresh_token", "refresh_token": "a.b.c\x00", "scope": "openid \x00"})),
    case("token-client-credentials-unknown-scope", lambda w: w.post("/oauth/token", headers=w.basic(), data={
        "grant_type": "client_credentials", "scope": "banana " * 1000}), status=400),
    # userinfo
    case("userinfo-no-authorization", lambda w: w.get("/oauth/userinfo")),
    case("userinfo-bearer-garbage", lambda w: w.get("/oauth/userinfo", headers=bearer("garbage")), status=401),
    case("userinfo-bearer-empty", lambda w: w.get("/oauth/userinfo", headers={"Authorization": "Bearer "})),
    case("userinfo-bearer-10kB", lambda w: w.get("/oauth/userinfo", headers=bearer("A" * 10_000))),
    case("userinfo-bearer-three-garbage-parts", lambda w: w.get("/oauth/userinfo", headers=bearer("%%.$$.!!"))),
    case("userinfo-bearer-json-array-header", lambda w: w.get(
        "/oauth/userinfo", headers=bearer(f"{b64url([1])}.{b64url({})}.{b64url(b'sig')}"))),
    case("userinfo-bearer-invalid-utf8-header", lambda w: w.get(
        "/oauth/userinfo", headers=bearer(f"{b64url(NOT_UTF8)}.{b64url({})}.{b64url(b'sig')}"))),
    case("userinfo-bearer-foreign-key", lambda w: w.get("/oauth/userinfo", headers=bearer(foreign_jwt(w))), status=401),
    case("userinfo-bearer-alg-none", lambda w: w.get("/oauth/userinfo", headers=bearer(unsigned_jwt())), status=401),
    case("userinfo-basic-auth", lambda w: w.get("/oauth/userinfo", headers=w.basic())),
    case("userinfo-token-in-form-body", lambda w: w.post("/oauth/userinfo", data={"access_token": "garbage"})),
    case("userinfo-put", lambda w: w.browser.put("/oauth/userinfo", headers=bearer("garbage"))),
    # revocation
    case("revoke-get", lambda w: w.get("/oauth/revoke")),
    case("revoke-no-auth", lambda w: w.post("/oauth/revoke", data={"token": "abc"})),
    case("revoke-missing-token", lambda w: w.post("/oauth/revoke", headers=w.basic())),
    case("revoke-unknown-hint", lambda w: w.post("/oauth/revoke", headers=w.basic(),
                                                 data={"token": "abc", "token_type_hint": "banana"})),
    case("revoke-json-body", lambda w: w.post("/oauth/revoke", headers=w.basic(), json={"token": "abc"})),
    case("revoke-basic-invalid-utf8", lambda w: w.post(
        "/oauth/revoke", data={"token": "abc"},
        headers={"Authorization": "Basic " + base64.b64encode(b"\xc3(:x").decode()}), status=401),
    case("revoke-foreign-jwt", lambda w: w.post("/oauth/revoke", headers=w.basic(),
                                                data={"token": foreign_jwt(w), "token_type_hint": "access_token"})),
    case("revoke-nul-client-id", lambda w: w.post("/oauth/revoke", data={"token": "abc", "client_id": "\x00"})),
    # introspection
    case("introspect-get", lambda w: w.get("/oauth/introspect")),
    case("introspect-public-client", lambda w: w.post("/oauth/introspect", data={"token": "abc",
                                                                                 "client_id": PUBLIC_RP})),
    case("introspect-garbage-token", lambda w: w.post("/oauth/introspect", headers=w.basic(),
                                                      data={"token": "x.y.z\x00" * 1000})),
    case("introspect-alg-none-token", lambda w: w.post("/oauth/introspect", headers=w.basic(),
                                                       data={"token": unsigned_jwt()})),
    case("introspect-basic-without-colon", lambda w: w.post(
        "/oauth/introspect", data={"token": "abc"},
        headers={"Authorization": "Basic " + base64.b64encode(b"rp-one").decode()})),
    case("introspect-wrong-content-type", lambda w: w.post("/oauth/introspect", headers=w.basic(),
                                                           data="token=abc", content_type="application/xml")),
    # RP-initiated logout
    case("rp-logout-garbage-hint", lambda w: w.get("/oauth/logout?id_token_hint=garbage")),
    case("rp-logout-foreign-hint", lambda w: w.get("/oauth/logout?" + urlencode(
        {"id_token_hint": foreign_jwt(w, typ="JWT"), "post_logout_redirect_uri": EVIL}))),
    case("rp-logout-unregistered-redirect", lambda w: w.get("/oauth/logout?" + urlencode(
        {"client_id": RP, "post_logout_redirect_uri": EVIL, "state": "s" * 5000}))),
    case("rp-logout-unknown-client", lambda w: w.post("/oauth/logout", data={"client_id": "\x00" * 3})),
    case("rp-logout-put", lambda w: w.browser.put("/oauth/logout")),
    # login
    case("login-put", lambda w: w.browser.put("/login")),
    case("login-no-csrf", lambda w: w.post("/login", data={"username": "jean.dupont", "password": PASSWORD}),
         status=400),
    case("login-garbage-csrf", lambda w: w.post("/login", data={"username": "jean.dupont", "password": PASSWORD,
                                                                "csrf_token": "garbage\x00"}), status=400),
    case("login-json-body", lambda w: w.post("/login", json={"username": "jean.dupont", "password": PASSWORD})),
    case("login-missing-password", lambda w: w.post("/login", data=login_form(w, password=None))),
    case("login-100kB-username", lambda w: w.post("/login", data=login_form(w, username="u" * 100_000))),
    case("login-1MB-password", lambda w: w.post("/login", data=login_form(w, password="p" * 1_000_000))),
    case("login-nul-username", lambda w: w.post("/login", data=login_form(w, username="jean\x00dupont"))),
    case("login-invalid-utf8-body", lambda w: w.post(
        "/login", content_type=FORM,
        data=f"csrf_token={w.csrf()}&username=%ff%fe&password=".encode() + b"\xff\xfe")),
    case("login-duplicated-username", lambda w: w.post("/login", data=MultiDict(
        [*login_form(w).items(), ("username", "other")]))),
    case("login-garbage-rid", lambda w: w.post("/login", data=login_form(w, rid="\x00" * 5000))),
    case("login-get-bad-percent", lambda w: w.get("/login?rid=%ff%00&username=%e9")),
    # IdP logout and home
    case("logout-get", lambda w: w.get("/logout")),
    case("logout-no-csrf", lambda w: w.post("/logout")),
    case("logout-garbage-csrf", lambda w: w.post("/logout", data={"csrf_token": "x" * 5000})),
    case("home-post", lambda w: w.post("/")),
    case("home-huge-lang", lambda w: w.get("/?lang=" + "x" * 5000)),
    case("home-garbage-cookie", lambda w: w.get("/", headers={"Cookie": "idp_session=" + "\x7f" * 50})),
    # probes and unknown paths
    case("healthz-post", lambda w: w.post("/healthz")),
    case("readyz-delete", lambda w: w.browser.delete("/readyz")),
    case("unknown-path", lambda w: w.get("/no/such/page")),
    case("unknown-oauth-path", lambda w: w.post("/oauth/nothing-here")),
    case("unknown-path-bad-percent", lambda w: w.get("/%ff%fe%00")),
]


def assert_well_formed(response, path: str, no_location: bool = False) -> None:
    """What every answer to a bad request must look like."""
    body = response.get_data(as_text=True)
    assert response.status_code < 500, body[:500]
    assert "Traceback" not in body and "site-packages" not in body and '.py"' not in body
    if path.startswith(JSON_ENDPOINTS):
        assert response.mimetype == "application/json", body[:500]
        payload = response.get_json()
        assert response.status_code == 200 or payload.get("error") in OAUTH_ERRORS, (response.status_code, payload)
        if path.startswith("/oauth/userinfo") and response.status_code == 401:
            assert response.headers["WWW-Authenticate"].lower().startswith("bearer")  # RFC 6750 §3
    elif path.startswith(OTHER_JSON):
        assert response.mimetype == "application/json", body[:500]
        assert response.status_code == 200 or "error" in response.get_json()
    else:
        assert response.mimetype == "text/html", (response.status_code, response.mimetype)
    location = response.headers.get("Location", "")
    assert not location.startswith(EVIL), location
    if path.startswith("/oauth/authorize"):
        assert not no_location or not location, location
        assert not location or location.startswith((REDIRECT_URI, "/login")), location


@pytest.mark.parametrize(("send", "no_location", "status"), CASES)
def test_bad_request_gets_a_clean_answer(world, send, no_location, status):
    response = send(world)
    assert_well_formed(response, response.request.path, no_location)
    assert status is None or response.status_code == status, response.get_data(as_text=True)[:300]


def test_id_token_is_not_an_access_token_at_userinfo(client, db):
    make_user(db)
    client_id, secret = make_client(db)
    tokens = redeem(client, client_id, secret, get_code(client, client_id)["code"]).get_json()

    response = client.get("/oauth/userinfo", headers=bearer(tokens["id_token"]))

    assert_well_formed(response, "/oauth/userinfo")
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"


def test_wrong_code_verifier_gives_no_tokens(world):
    response = redeem(world.browser, PUBLIC_RP, None, public_code(world), code_verifier="x" * 43)
    assert response.status_code == 400 and response.get_json()["error"] in {"invalid_grant", "invalid_request"}


@pytest.mark.parametrize(("username", "password"), [("u" * 100_000, PASSWORD), ("jean.dupont", "p" * 1_000_000)])
def test_oversized_login_fields_never_sign_in(world, username, password):
    response = world.citizen().post("/login", data=login_form(world, username=username, password=password))
    assert_well_formed(response, "/login")
    assert response.status_code in {400, 401, 413}
    assert world.get("/").status_code == 302  # still not signed in


@pytest.mark.parametrize("forge", [lambda w: unsigned_jwt(), foreign_jwt], ids=["alg-none", "foreign-key"])
def test_forged_access_tokens_are_inactive_at_introspection(world, forge):
    response = world.post("/oauth/introspect", headers=world.basic(), data={"token": forge(world)})
    assert response.status_code == 200 and response.get_json() == {"active": False}
