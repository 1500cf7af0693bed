"""The FAPI 2.0 client of the tests (tests/fapi_client.py) against two providers: Sésame, and a
reference whose behaviour is certified, npm's ``oidc-provider`` in its FAPI 2.0 configuration
(tests/reference/fapi_op.mjs), both on loopback and spoken to over HTTP.  The same client code
runs the whole flow against each (PAR, ``private_key_jwt``, a login in the provider's own pages,
DPoP-bound tokens, userinfo) and meets the same refusals (an unpushed request, a replayed assertion,
a bound token used as a Bearer one).  The reference is installed with npm the first time (about
5 s); without Node.js or the npm registry the test fails and says so."""

from __future__ import annotations

import fcntl
import html
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlparse

import pytest
import requests
from fapi_client import FapiClient
from jose import jwt as jose_jwt

from idp.clients import register

from conftest import free_port
from helpers import PASSWORD, make_user, served

REFERENCE = Path(__file__).parent / "reference"
REDIRECT_URI = "https://rp.example.fr/callback"


class Answer:
    """A requests response as the FAPI client reads it (the Flask test client's names)."""

    def __init__(self, response: requests.Response):
        self.response, self.status_code, self.headers = response, response.status_code, response.headers
        self.location = response.headers.get("Location")

    def get_json(self):
        return self.response.json()


class Browser:
    """One browser (its cookies) and the client's back channel, over HTTP to ``base``."""

    def __init__(self, base: str):
        self.base, self.session = base, requests.Session()

    def post(self, path: str, data=None, headers=None) -> Answer:
        return Answer(self.session.post(urljoin(self.base, path), data=data, headers=headers, allow_redirects=False,
                                        timeout=10))

    def get(self, path: str, headers=None) -> Answer:
        return Answer(self.session.get(urljoin(self.base, path), headers=headers, allow_redirects=False, timeout=10))

    def sign_in(self, url: str, login: str, password: str) -> str:
        """Follow the provider's pages as a citizen would (a login form, a consent form), filling the
        identifier and the password; the URL the provider finally sends the browser to."""
        response = self.session.get(url, allow_redirects=False, timeout=10)
        for _ in range(12):
            if response.status_code in (301, 302, 303):
                target = urljoin(response.url, response.headers["Location"])
                if target.startswith(REDIRECT_URI):
                    return target
                response = self.session.get(target, allow_redirects=False, timeout=10)
                continue
            forms = re.findall(r"<form\b([^>]*)>(.*?)</form>", response.text, re.S)
            chosen = next((form for form in forms if 'name="password"' in form[1]), None) or next(
                (form for form in forms if re.search(r'method="post"', form[0], re.I)), None)
            assert chosen is not None, f"no form to fill at {response.url}: {response.status_code}"
            action = html.unescape(re.search(r'action="([^"]*)"', chosen[0]).group(1))
            fields = {name: html.unescape(value) for name, value in
                      re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', chosen[1])}
            for name in re.findall(r'<input[^>]*?name="([^"]+)"', chosen[1]):
                fields.setdefault(name, "")
            for name in ("login", "username"):
                if name in fields:
                    fields[name] = login
            if "password" in fields:
                fields["password"] = password
            response = self.session.post(urljoin(response.url, action), data=fields, allow_redirects=False,
                                         timeout=10)
        raise AssertionError("the provider never sent the browser back to the service")


def discover(fapi: FapiClient) -> dict:
    document = requests.get(fapi.issuer + "/.well-known/openid-configuration", timeout=10).json()
    for name, member in (("par", "pushed_authorization_request_endpoint"), ("token", "token_endpoint"),
                         ("userinfo", "userinfo_endpoint")):
        fapi.paths[name] = urlparse(document[member]).path
    return document


@pytest.fixture(scope="session")
def reference_installed() -> Path:
    """oidc-provider, installed with npm into tests/reference/node_modules the first time."""
    assert shutil.which("node") and shutil.which("npm"), "the reference needs Node.js and npm"
    with open(REFERENCE / ".install.lock", "w") as lock:  # the suite's workers install it once between them
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (REFERENCE / "node_modules" / "oidc-provider").is_dir():
            installed = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                                       cwd=REFERENCE, capture_output=True, text=True, timeout=300)
            assert installed.returncode == 0, f"npm could not install the reference: {installed.stderr[-2000:]}"
    return REFERENCE


@pytest.fixture
def reference(reference_installed, tmp_path):
    """oidc-provider on loopback with the test's FAPI client registered; the client."""
    port = free_port()
    fapi = FapiClient(f"http://127.0.0.1:{port}", REDIRECT_URI)
    fapi.client_id = "sesame-tests"
    registration = tmp_path / "client.json"
    registration.write_text(json.dumps({"client_id": fapi.client_id, "redirect_uri": REDIRECT_URI,
                                        "jwks": fapi.jwks()}))
    process = subprocess.Popen(["node", "fapi_op.mjs", str(port), str(registration)], cwd=reference_installed,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(fapi.issuer + "/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            process.terminate()
            raise AssertionError(f"the reference did not start: {process.communicate()[0][-2000:]}")
        yield fapi, ("any.citizen", "any password")  # its development login takes any pair
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def sesame(build_app, db):
    """Sésame on loopback with the same kind of client (fapi2, the test's keys); the client."""
    make_user(db)
    port = free_port()
    fapi = FapiClient(f"http://127.0.0.1:{port}", REDIRECT_URI)
    registered, _ = register(db, name="Aides régionales", redirect_uris=[REDIRECT_URI], profile="fapi2",
                             jwks=fapi.jwks(), scope="openid profile")
    fapi.client_id = registered.client_id
    with served(build_app(IDP_ISSUER=fapi.issuer), port):
        yield fapi, ("jean.dupont", PASSWORD)


@pytest.fixture(params=["sesame", "oidc-provider"])
def provider(request, db, build_app):  # db and build_app named here: the suite parametrizes them per database
    return request.getfixturevalue("sesame" if request.param == "sesame" else "reference")


def test_the_same_fapi2_client_signs_in_at_sesame_and_at_the_reference(provider):
    fapi, (login, password) = provider
    document = discover(fapi)
    assert document["authorization_response_iss_parameter_supported"] is True
    assert "ES256" in document["dpop_signing_alg_values_supported"]
    browser = Browser(fapi.issuer)

    pushed, verifier = fapi.push(browser, scope="openid")
    assert pushed.status_code == 201, pushed.get_json()
    authorize = urlparse(document["authorization_endpoint"]).path
    callback = browser.sign_in(f"{fapi.issuer}{authorize}?" + urlencode(
        {"client_id": fapi.client_id, "request_uri": pushed.get_json()["request_uri"]}), login, password)
    answer = {key: values[0] for key, values in parse_qs(urlparse(callback).query).items()}
    assert answer["iss"] == fapi.issuer and "code" in answer

    issued = fapi.redeem(browser, answer["code"], verifier)
    assert issued.status_code == 200, issued.get_json()
    tokens = issued.get_json()
    assert tokens["token_type"] == "DPoP"
    kid = jose_jwt.get_unverified_header(tokens["id_token"])["kid"]
    key = next(k for k in requests.get(document["jwks_uri"], timeout=10).json()["keys"] if k["kid"] == kid)
    id_token = jose_jwt.decode(tokens["id_token"], key, algorithms=["ES256"], audience=fapi.client_id,
                               issuer=fapi.issuer, access_token=tokens["access_token"])

    access = tokens["access_token"]
    info = browser.get(fapi.paths["userinfo"], headers={
        "Authorization": f"DPoP {access}", "DPoP": fapi.proof("GET", fapi.paths["userinfo"], access)})
    assert info.status_code == 200 and info.get_json()["sub"] == id_token["sub"]
    as_bearer = browser.get(fapi.paths["userinfo"], headers={"Authorization": f"Bearer {access}"})
    assert as_bearer.status_code == 401 and as_bearer.headers["WWW-Authenticate"].startswith("DPoP")


def test_both_refuse_a_replayed_assertion_and_an_unpushed_request(provider):
    fapi, _credentials = provider
    document = discover(fapi)
    browser = Browser(fapi.issuer)
    first, _ = fapi.push(browser, scope="openid", assertion={"jti": "only-once"})
    assert first.status_code == 201, first.get_json()
    replayed, _ = fapi.push(browser, scope="openid", assertion={"jti": "only-once"})
    assert replayed.status_code in (400, 401) and replayed.get_json()["error"] == "invalid_client"

    verifier, challenge = fapi.pkce()
    authorize = urlparse(document["authorization_endpoint"]).path
    unpushed = browser.session.get(f"{fapi.issuer}{authorize}?" + urlencode(
        {"client_id": fapi.client_id, "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid",
         "state": "s", "code_challenge": challenge, "code_challenge_method": "S256"}),
        allow_redirects=False, timeout=10)
    sent_back = unpushed.headers.get("Location", "")
    assert "code=" not in sent_back and (unpushed.status_code == 400 or "error=invalid_request" in sent_back)
    assert verifier
