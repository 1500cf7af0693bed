"""What a relying party and a citizen's browser do, written once for every test."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

from jose import jwt as jose_jwt
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from idp.clients import register
from idp.jobs import Worker
from idp.redis_store import user_tag
from idp.users import create

SCREENSHOTS = Path(os.environ.get("IDP_TEST_SCREENSHOTS", "/tmp/sesame-screenshots"))
PASSWORD = "correct horse battery staple"
REDIRECT_URI = "https://rp.example.fr/callback"
IDP = os.path.join(os.path.dirname(sys.executable), "idp")
ROOT = Path(__file__).resolve().parent.parent  # the checkout under test
# A link's token: the citizen's hash tag (16 hex digits), a dot, 256 random bits (idp/one_time_tokens.py).
TOKEN = r"[0-9a-f]{16}\.[A-Za-z0-9_-]{43}"


def session_index(user_id: int, prefix: str = "idp:") -> str:
    """The Redis key listing a citizen's signed-in sessions (idp/sessions.py): under their hash tag."""
    return f"{prefix}user-sessions:{{{user_tag(user_id)}}}:{user_id}"


def session_key(user_id: int, storage_id: str, prefix: str = "idp:") -> str:
    """The Redis key of one of a citizen's signed-in sessions."""
    return f"{prefix}session:{{{user_tag(user_id)}}}:{storage_id}"


def idp_env(settings: dict) -> dict:
    """The environment of a process of ours (`idp`, gunicorn) run with these settings: no stray IDP_*,
    and the code under test first on the path, not whatever copy the virtualenv has installed."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("IDP_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update({name: str(value) for name, value in settings.items()})
    return env


def run_idp(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The `idp` console script, run as a deployer runs it."""
    return subprocess.run([IDP, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)


def run_idp_here(settings: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The `idp` command in this process, through Click's runner, with these settings and no other
    IDP_* variable; what a completed process would return.  A process of its own costs a second of
    imports: tests of the process itself (start-up, signals, servers) use ``run_idp``."""
    from click.testing import CliRunner

    from idp.cli import main

    env = {**{name: None for name in os.environ if name.startswith("IDP_")},
           **{name: str(value) for name, value in settings.items()}}
    result = CliRunner().invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)
    return subprocess.CompletedProcess(["idp", *args], result.exit_code, result.stdout, result.stderr)


def make_user(db, username="jean.dupont", email="jean.dupont@example.fr", password=PASSWORD, **fields):
    fields.setdefault("given_name", "Jean")
    fields.setdefault("family_name", "Dupont")
    user = create(db, username=username, email=email, password=password, **fields)
    db.commit()
    return user


def make_client(db, **fields):
    fields.setdefault("name", "Service régional")
    fields.setdefault("redirect_uris", [REDIRECT_URI])
    fields.setdefault("scope", "openid profile email address phone")
    client, secret = register(db, **fields)
    return client.client_id, secret


def csrf_token(html: bytes | str) -> str:
    text = html.decode() if isinstance(html, bytes) else html
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text).group(1)


def query(location: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def login(browser, username=None, password=PASSWORD, rid=None, **fields):
    """Fill in the login form as a citizen would (``fields``: the other boxes, such as
    ``shared_computer="y"``); return the POST's response."""
    page = browser.get("/login" + (f"?rid={rid}" if rid else ""))
    form = {"csrf_token": csrf_token(page.data), "username": username or "jean.dupont", "password": password,
            **fields}
    if rid:
        form["rid"] = rid
    return browser.post("/login", data=form)


def signed_in(browser) -> bool:
    """What the browser shows at /: the signed-in home page (True) or a redirect to the login form
    (False); any other answer, a crash included, fails the test instead of passing for signed out."""
    home = browser.get("/")
    if home.status_code == 302:
        assert urlparse(home.location).path == "/login", home.location
        return False
    assert home.status_code == 200, home.status_code
    page = home.get_data(as_text=True)
    assert 'action="/logout"' in page and "<h1>" in page, page[:500]
    return True


def authorize_url(client_id: str, **params) -> str:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
              "scope": "openid profile email", "state": "st-" + secrets.token_hex(4), **params}
    return "/oauth/authorize?" + urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)


def get_code(browser, client_id: str, username=None, password=PASSWORD, **params) -> dict:
    """Run the front-channel part of the code flow, logging in when asked; return the callback's parameters."""
    response = browser.get(authorize_url(client_id, **params))
    if response.status_code == 302 and urlparse(response.location).path == "/login":
        rid = query(response.location)["rid"]
        response = login(browser, username, password, rid=rid)
        assert response.status_code == 303, response.data
        response = browser.get(response.location)
    assert response.status_code == 302, response.data
    assert response.location.startswith(REDIRECT_URI), response.location
    return query(response.location)


def redeem(browser, client_id, secret, code, **extra):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **extra}
    if secret is None:
        data["client_id"] = client_id
        return browser.post("/oauth/token", data=data)
    return browser.post("/oauth/token", data=data, auth=(client_id, secret))


def jose_claims(browser, token: str, audience: str | None = None, access_token: str | None = None,
                issuer="http://localhost:5000") -> dict:
    """Check a token as an independent relying party: python-jose against /oauth/jwks."""
    jwks = browser.get("/oauth/jwks").get_json()
    header = jose_jwt.get_unverified_header(token)
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    options = {"verify_aud": audience is not None, "verify_at_hash": access_token is not None}
    return jose_jwt.decode(token, key, algorithms=[header["alg"]], audience=audience, issuer=issuer,
                           access_token=access_token, options=options)


@contextlib.contextmanager
def served(wsgi_app, port: int = 0):
    """A WSGI app behind a real threaded HTTP server on loopback; yields its base URL."""
    server = make_server("127.0.0.1", port, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def deliver(app, timeout: float = 15) -> int:
    """Run the app's queued jobs (mails included) as the worker would, until none is left."""
    ran = Worker(app).drain(timeout)
    assert app.extensions["idp.jobs"].pending() == 0, "jobs still queued after the drain"
    return ran


def everything_in(redis) -> str:
    """Every Redis key and value, as one text to search."""
    read = {"string": redis.get, "hash": redis.hgetall, "list": lambda k: redis.lrange(k, 0, -1),
            "zset": lambda k: redis.zrange(k, 0, -1), "set": redis.smembers}
    return " ".join(f"{key} {read[redis.type(key)](key)}" for key in redis.keys("*"))


def link_in(text: str, path: str) -> str:
    """The first link in a mail's text whose path starts with ``path``, as a path for the test client."""
    url = re.search(r"https?://\S+" + re.escape(path) + r"\S*", text).group(0)
    return urlparse(url).path + (f"?{urlparse(url).query}" if urlparse(url).query else "")


@Request.application
def relying_party(request: Request) -> Response:
    """Stands in for a regional service's callback page: shows what it received."""
    return Response(f"<h1>callback</h1><p id=query>{request.query_string.decode()}</p>", mimetype="text/html")


def screenshot(browser, name: str) -> None:
    """Keep what the citizen saw, for a person to look at (IDP_TEST_SCREENSHOTS)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    prefix = getattr(browser, "screenshot_prefix", "")  # Firefox's beside Chromium's, not over them
    browser.screenshot(path=str(SCREENSHOTS / f"{prefix}{name}.png"), full_page=True)


BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class LogoutEndpoint:
    """A relying party's back-channel logout URI: keeps every POST it gets; answers 503 to the
    first ``failures`` calls (a service being redeployed), 200 afterwards."""

    def __init__(self, failures: int = 0):
        self.failures = failures
        self.calls: list[dict] = []
        self.lock = threading.Lock()

    @Request.application
    def __call__(self, request: Request) -> Response:
        with self.lock:
            status = 503 if len(self.calls) < self.failures else 200
            self.calls.append({"at": time.monotonic(), "path": request.path, "method": request.method,
                               "content_type": request.mimetype, "form": request.form.to_dict(flat=False),
                               "status": status})
        return Response("", status=status, headers={"Cache-Control": "no-store"})

    def accepted(self, path: str | None = None) -> list[dict]:
        """The calls answered 200 (at ``path`` when given)."""
        return [call for call in self.calls if call["status"] == 200 and path in (None, call["path"])]


def logout_token(browser, call: dict, client_id: str) -> dict:
    """What the relying party does with a POST to its endpoint: check the logout token; its claims."""
    assert call["method"] == "POST" and call["content_type"] == "application/x-www-form-urlencoded"
    assert list(call["form"]) == ["logout_token"] and len(call["form"]["logout_token"]) == 1
    token = call["form"]["logout_token"][0]
    header = jose_jwt.get_unverified_header(token)
    assert header["typ"] == "logout+jwt"
    jwks = browser.get("/oauth/jwks").get_json()
    key = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jose_jwt.decode(token, key, algorithms=[header["alg"]], audience=client_id, issuer="http://localhost:5000")
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert claims["jti"]
    assert "nonce" not in claims
    assert abs(claims["iat"] - time.time()) < 30
    assert time.time() < claims["exp"] <= time.time() + 130  # short-lived: about two minutes
    return claims


def submit(browser, path: str, **fields):
    """What a citizen does on a page of forms: open it, fill in ``fields`` (the CSRF token of the page
    added), send it; the POST's response."""
    page = browser.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return browser.post(path, data={"csrf_token": csrf_token(page.data), **fields})


def metric_sample(text: str, name: str, **labels: str) -> float:
    """One value of a Prometheus text exposition (0 when the series is absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, rest = series.partition("{")
        found = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if metric == name and found == wanted:
            return float(value)
    return 0.0


OFFER_PATH = "/account/passkeys/offer"


def passkey_offer_skipped(browser, signed) -> str:
    """A sign-up's or a reset's first sign-in lands on the page offering a passkey (issue 18): where
    its "not now" link goes, that is where the sign-in was going."""
    assert signed.status_code == 303 and signed.location == OFFER_PATH, signed.location
    page = browser.get(OFFER_PATH).get_data(as_text=True)
    assert "data-passkey-register" in page, page
    return html.unescape(re.search(r'<a href="([^"]+)" data-passkey-later>', page).group(1))
