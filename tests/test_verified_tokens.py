"""Access tokens whose signature this process already checked (idp/oidc/tokens.py VerifiedTokens): kept to
spare the signature check, never to spare a refusal. Revocation is asked every time, expiry is
checked every time, a change of the key set empties the cache, and a token that differs by one
character is a different token."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import types

import pytest

from idp.oidc import tokens as tokens_module

from helpers import get_code, make_client, make_user, redeem


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def digest(app, token: str) -> bytes:
    return hashlib.sha256(f"{app.config['IDP_ISSUER']}\0{token}".encode()).digest()


def cached(app, token: str) -> bool:
    return digest(app, token) in tokens_module._verified._claims


def introspect(browser, client_id, secret, token) -> dict:
    response = browser.post("/oauth/introspect", data={"token": token}, auth=(client_id, secret))
    assert response.status_code == 200, response.data
    return response.get_json()


def assert_refused_at_userinfo(browser, token: str):
    response = browser.get("/oauth/userinfo", headers=bearer(token))
    assert response.status_code == 401, response.data
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.fixture
def signed_in(client, db):
    """(client_id, secret, tokens) of a citizen signed in through a confidential client."""
    make_user(db)
    client_id, secret = make_client(db)
    response = redeem(client, client_id, secret, get_code(client, client_id)["code"])
    assert response.status_code == 200, response.data
    return client_id, secret, response.get_json()


def test_a_token_introspected_twice_is_active_twice_and_kept(app, client, signed_in):
    client_id, secret, tokens = signed_in
    token = tokens["access_token"]

    first = introspect(client, client_id, secret, token)
    assert cached(app, token)
    second = introspect(client, client_id, secret, token)

    assert first["active"] is True and second == first
    assert client.get("/oauth/userinfo", headers=bearer(token)).status_code == 200


def test_revocation_is_never_cached(app, client, signed_in):
    client_id, secret, tokens = signed_in
    token = tokens["access_token"]
    assert introspect(client, client_id, secret, token)["active"] is True
    assert client.get("/oauth/userinfo", headers=bearer(token)).status_code == 200
    assert cached(app, token)

    revoked = client.post("/oauth/revoke", data={"token": token}, auth=(client_id, secret))
    assert revoked.status_code == 200, revoked.data

    assert introspect(client, client_id, secret, token) == {"active": False}
    assert_refused_at_userinfo(client, token)


def test_an_expired_token_is_refused_though_it_was_cached(app, client, signed_in, monkeypatch):
    client_id, secret, tokens = signed_in
    token = tokens["access_token"]
    assert introspect(client, client_id, secret, token)["active"] is True
    assert cached(app, token)
    exp = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["exp"]

    # The clock of idp.oidc.tokens moves past the token's expiry (no other clock changes).
    monkeypatch.setattr(tokens_module, "time", types.SimpleNamespace(time=lambda: exp + 1))

    assert cached(app, token)  # still kept: the claims are, the expiry is checked on each use
    assert introspect(client, client_id, secret, token) == {"active": False}
    assert_refused_at_userinfo(client, token)

    monkeypatch.setattr(tokens_module, "time", types.SimpleNamespace(time=lambda: exp - 1))
    assert introspect(client, client_id, secret, token)["active"] is True  # one second before: still valid


def test_a_key_rotation_empties_the_cache_and_a_removed_key_ends_its_tokens(app, client, signed_in):
    client_id, secret, tokens = signed_in
    old = tokens["access_token"]
    signing_keys = app.extensions["idp.signing_keys"]
    assert introspect(client, client_id, secret, old)["active"] is True
    assert cached(app, old)
    version = signing_keys.version()

    signing_keys.rotate()

    assert signing_keys.version() != version
    new = client.post("/oauth/token", auth=(client_id, secret), data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).get_json()["access_token"]
    assert introspect(client, client_id, secret, new)["active"] is True
    assert list(tokens_module._verified._claims) == [digest(app, new)]  # nothing from before the rotation
    assert introspect(client, client_id, secret, old)["active"] is True  # checked again: its key is still published
    assert cached(app, old)

    # The retired keys removed from the file (what `idp keys rotate` does once they outlived their tokens).
    stored = json.loads(signing_keys.path.read_text())
    stored["keys"] = [key for key in stored["keys"] if "retired_at" not in key]
    signing_keys.path.write_text(json.dumps(stored))

    assert introspect(client, client_id, secret, old) == {"active": False}
    assert_refused_at_userinfo(client, old)
    assert not cached(app, old)
    assert introspect(client, client_id, secret, new)["active"] is True


def flipped(part: str, at: int) -> str:
    """``part`` with the character at ``at`` replaced by another base64url character."""
    replacement = "A" if part[at] != "A" else "B"
    return part[:at] + replacement + part[at + 1:]


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def test_a_token_altered_by_one_character_is_refused_though_the_original_is_cached(app, client, signed_in):
    client_id, secret, tokens = signed_in
    token = tokens["access_token"]
    assert introspect(client, client_id, secret, token)["active"] is True
    assert cached(app, token)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    other_sub = b64({**claims, "sub": claims["sub"][:-1] + ("0" if claims["sub"][-1] != "0" else "1")})
    altered = [
        f"{header}.{payload}.{flipped(signature, len(signature) // 2)}",
        f"{header}.{flipped(payload, len(payload) // 2)}.{signature}",
        f"{header}.{other_sub}.{signature}",  # one character of the subject, the payload re-encoded
        f"{header}.{payload}.{signature}x",
    ]

    for forged in altered:
        assert forged != token
        assert introspect(client, client_id, secret, forged) == {"active": False}
        assert_refused_at_userinfo(client, forged)
        assert not cached(app, forged)

    assert introspect(client, client_id, secret, token)["active"] is True  # the original still is


def test_the_cache_keeps_at_most_its_size_and_forgets_the_oldest():
    verified = tokens_module.VerifiedTokens(size=2)
    version = ("v", 1)
    assert verified.get(b"a", version) is None  # the first call adopts the key set's version
    for name in (b"a", b"b", b"c"):
        verified.put(name, version, {"exp": int(time.time()) + 60, "name": name})

    assert verified.get(b"a", version) is None
    assert verified.get(b"b", version)["name"] == b"b"
    assert verified.get(b"c", version)["name"] == b"c"
    assert verified.get(b"c", ("v", 2)) is None  # another key set: everything forgotten
    assert verified.get(b"b", ("v", 2)) is None
