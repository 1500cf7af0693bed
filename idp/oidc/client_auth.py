"""``private_key_jwt`` (RFC 7523 §2.2), as the FAPI 2.0 Security Profile restricts it.

A client registered with keys (``idp clients add --jwks-file F`` or ``--jwks-uri URL``) has no
secret: at the token, PAR, revocation and introspection endpoints it signs an assertion with its
private key.  Authlib reads it (``JWTBearerClientAssertion``); here it is held to:

- an algorithm among ``ALGS`` (ES256, PS256, EdDSA: never ``none``, HS*, or RS256);
- ``iss`` and ``sub`` the client, ``aud`` the issuer alone (a string, or a list holding only it);
- ``exp`` present and at most ``MAX_LIFETIME`` seconds ahead (an assertion good for a day is a
  bearer secret);
- a ``jti`` used once: Redis ``client-jti:<hash>`` until the assertion expires (SET NX);
- a key of the client's: its registered JWKS, or the one published at its ``jwks_uri``, fetched
  again when the assertion names a key id it does not hold (a rotation), at most every
  ``REFETCH_EVERY`` seconds per client.

Every refusal is ``invalid_client`` with an English description, and is audited
(``client.auth_failed``).
"""

from __future__ import annotations

import json
import threading
import time

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import g
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .. import audit_log
from ..upstreams import UpstreamError, fetch_json
from .context import provider
from .tokens import sha256

ALGS = ["ES256", "PS256", "EdDSA"]
MAX_LIFETIME = 300  # seconds an assertion may still have to live when it arrives
LEEWAY = 30  # seconds of clock skew allowed
REFETCH_EVERY = 10  # seconds, at least, between two fetches of one client's jwks_uri


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self):
        super().__init__(leeway=LEEWAY)

    def __call__(self, query_client, request):
        try:
            return super().__call__(query_client, request)
        except InvalidClientError as error:
            audit_log.record("client.auth_failed", client_id=_named_client(request), method=self.CLIENT_AUTH_METHOD,
                             reason=str(error.description)[:200])
            raise

    def get_audiences(self) -> list[str]:
        return [provider().issuer]

    def extract_assertion(self, assertion: str):
        headers, claims = super().extract_assertion(assertion)
        if headers.get("alg") not in ALGS:
            raise InvalidClientError(description=f"The assertion must be signed with one of {', '.join(ALGS)}.")
        g.client_assertion_kid = headers.get("kid")
        return headers, claims

    def process_assertion_claims(self, assertion, resolve_key):
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ALGS)
        except JoseError as error:
            raise InvalidClientError(description=f"The assertion's signature does not verify ({error.error}).") \
                from None
        except ValueError:  # no key of the client's matches the assertion's kid
            raise InvalidClientError(description="No key of the client's matches the assertion.") from None
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims) -> None:
        audience = claims.get("aud")
        if audience not in (provider().issuer, [provider().issuer]):
            raise InvalidClientError(description="The assertion's 'aud' must be the issuer identifier alone.")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp > time.time() + MAX_LIFETIME + LEEWAY:
            raise InvalidClientError(description=f"The assertion's 'exp' must be at most {MAX_LIFETIME} s ahead.")
        super().verify_claims(claims)

    def validate_jti(self, claims, jti) -> bool:
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return False
        ctx = provider()
        ttl = max(1, int(claims["exp"] - time.time()) + LEEWAY)
        return bool(ctx.redis.set(ctx.keys("client-jti", sha256(f"{claims['sub']}\n{jti}")), "1", nx=True, ex=ttl))

    def resolve_client_public_key(self, client) -> KeySet:
        return client_keys(client, g.get("client_assertion_kid"))


def _named_client(request) -> str | None:
    """The client the assertion named, for the audit, once Authlib found it (None before)."""
    client = getattr(request, "client", None)
    if client is not None:
        return client.client_id
    return None


def parse_jwks(document) -> KeySet:
    """A client's public keys; ValueError when they are not a JWKS of public keys."""
    if isinstance(document, str):
        document = json.loads(document)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
        raise ValueError("a JWKS is a JSON object with a non-empty 'keys' list")
    for key in document["keys"]:
        if not isinstance(key, dict) or any(member in key for member in ("d", "p", "q", "k")):
            raise ValueError("the JWKS must hold public keys only")
    return KeySet.import_key_set(document)


class _Fetched:
    def __init__(self):
        self.keys: KeySet | None = None
        self.at = float("-inf")
        self.lock = threading.Lock()


_fetched: dict[str, _Fetched] = {}
_fetched_lock = threading.Lock()


def client_keys(client, kid: str | None) -> KeySet:
    """The client's keys: registered, or from its jwks_uri (fetched again for an unknown ``kid``)."""
    if client.jwks:
        return parse_jwks(client.jwks)
    if not client.jwks_uri:
        raise InvalidClientError(description="The client has no keys registered.")
    with _fetched_lock:
        entry = _fetched.setdefault(client.jwks_uri, _Fetched())
    with entry.lock:
        known = entry.keys is not None and (kid is None or any(key.kid == kid for key in entry.keys.keys))
        if not known and time.monotonic() - entry.at >= REFETCH_EVERY:
            entry.at = time.monotonic()
            try:
                entry.keys = parse_jwks(fetch_json(client.jwks_uri))
            except (UpstreamError, ValueError) as error:
                raise InvalidClientError(description=f"The client's keys cannot be read: {error}.") from None
        if entry.keys is None:
            raise InvalidClientError(description="The client's keys cannot be read.")
        return entry.keys
