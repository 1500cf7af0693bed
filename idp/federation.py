"""Sésame as a careful relying party of an upstream provider (issue 14, item 2): the authorization
code flow with ``state``, ``nonce`` and PKCE S256 where the provider offers it, ``acr_values`` sent
and the ``acr`` returned checked, the ID token verified (signature, ``iss``, ``aud``, ``exp``,
``nonce``), the userinfo read as JSON or as a signed JWT (``application/jwt``, as FranceConnect
answers), and RFC 9207's ``iss`` checked where the provider sends it.

``begin`` keeps what the callback must check under ``fed-state:<sha256(state)>`` in Redis for ten
minutes, with the relying party's pending request (``rid``); ``finish`` takes it with GETDEL, so a
state works once.  Every failure is a ``FederationError`` whose ``kind`` says what went wrong
(the page shown to the citizen and the audit event name it); its text is for the log.

The routes are in idp/federation_views.py, the lost-mailbox recovery in idp/federated_recovery.py.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from .models import Upstream
from .oidc.tokens import sha256
from .upstreams import FETCH_TIMEOUT, Metadata, UpstreamError

STATE_TTL = 600  # seconds from the button to the callback: a citizen may type a password upstream
LEEWAY = 60  # seconds of clock difference tolerated on exp and iat
ASYMMETRIC = ("RS256", "ES256")
KINDS = ("refused", "state", "unreachable", "token", "acr", "claims")


class FederationError(Exception):
    """A sign-in with an upstream that cannot go on; ``kind`` is one of KINDS."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Identity:
    """Who the upstream says the citizen is: its issuer and subject, and the claims of the ID token
    and the userinfo together (the userinfo's win); the ID token, for a logout upstream."""

    issuer: str
    subject: str
    claims: dict
    id_token: str
    rid: str | None
    purpose: str = "login"  # or "recover": a lost mailbox (idp/federated_recovery.py)


def _state_key(keys, state: str) -> str:
    return keys("fed-state", sha256(state))


def begin(redis, keys, metadata: Metadata, upstream: Upstream, redirect_uri: str, rid: str | None = None,
          purpose: str = "login") -> str:
    """Where to send the citizen's browser: the upstream's authorization endpoint, with a new state;
    ``purpose`` comes back with the identity."""
    try:
        discovery = metadata.discovery(upstream.issuer)
    except UpstreamError as error:
        raise FederationError("unreachable", str(error)) from None
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    params = {"response_type": "code", "client_id": upstream.client_id, "redirect_uri": redirect_uri,
              "scope": upstream.scope, "state": state, "nonce": nonce}
    record = {"upstream": upstream.name, "nonce": nonce, "rid": rid, "redirect_uri": redirect_uri, "purpose": purpose}
    if "S256" in discovery.get("code_challenge_methods_supported", []):
        verifier = generate_token(64)
        params.update(code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
        record["verifier"] = verifier
    if upstream.acr_values:
        params["acr_values"] = upstream.acr_values
    redis.set(_state_key(keys, state), json.dumps(record), ex=STATE_TTL)
    request = requests.Request("GET", discovery["authorization_endpoint"], params=params).prepare()
    return request.url


def finish(redis, keys, metadata: Metadata, upstream: Upstream, answer: dict) -> Identity:
    """The callback's query (``answer``) checked and turned into the verified identity."""
    state = answer.get("state") or ""
    raw = redis.getdel(_state_key(keys, state)) if state else None
    if raw is None:
        raise FederationError("state", "unknown, expired or already used state")
    record = json.loads(raw)
    if record["upstream"] != upstream.name:
        raise FederationError("state", f"the state was issued for {record['upstream']!r}")
    try:
        discovery = metadata.discovery(upstream.issuer)
    except UpstreamError as error:
        raise FederationError("unreachable", str(error)) from None
    iss_expected = "iss" in answer or discovery.get("authorization_response_iss_parameter_supported")
    if iss_expected and answer.get("iss") != upstream.issuer:  # RFC 9207: a mix-up, or a stripped iss
        raise FederationError("token", f"the authorization response names issuer {answer.get('iss')!r}")
    if "error" in answer:
        raise FederationError("refused", f"{answer['error']}: {answer.get('error_description', '')}"[:300])
    if not answer.get("code"):
        raise FederationError("refused", "no code in the authorization response")

    tokens = _exchange(discovery, upstream, answer["code"], record)
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise FederationError("token", "the token response holds no ID token")
    claims = verify(metadata, discovery, upstream, id_token, nonce=record["nonce"])
    if upstream.acr_values and claims.get("acr") not in upstream.acr_values.split():
        raise FederationError("acr", f"asked for {upstream.acr_values!r}, got {claims.get('acr')!r}")
    userinfo = _userinfo(metadata, discovery, upstream, tokens.get("access_token"))
    if userinfo.get("sub") != claims["sub"]:
        raise FederationError("claims", "the userinfo's sub is not the ID token's")
    return Identity(upstream.issuer, claims["sub"], {**claims, **userinfo}, id_token, record.get("rid"),
                    record.get("purpose", "login"))


def _exchange(discovery: dict, upstream: Upstream, code: str, record: dict) -> dict:
    methods = discovery.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    session = OAuth2Session(upstream.client_id, upstream.client_secret, token_endpoint_auth_method=method,
                            redirect_uri=record["redirect_uri"])
    extra = {"code_verifier": record["verifier"]} if "verifier" in record else {}
    try:
        return dict(session.fetch_token(discovery["token_endpoint"], grant_type="authorization_code", code=code,
                                        timeout=FETCH_TIMEOUT, **extra))
    except requests.RequestException as error:
        raise FederationError("unreachable", f"token endpoint: {type(error).__name__}") from None
    except Exception as error:  # Authlib's OAuthError and friends: the provider refused the code
        raise FederationError("refused", f"token endpoint: {type(error).__name__}: {error}"[:300]) from None
    finally:
        session.close()


def _key_for(metadata: Metadata, discovery: dict, upstream: Upstream, token: str):
    try:
        header = jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError) as error:
        raise FederationError("token", f"not a signed JWT ({type(error).__name__})") from None
    alg = header.get("alg")
    if alg in ASYMMETRIC:
        try:
            return alg, metadata.key(upstream.issuer, header.get("kid"))
        except UpstreamError as error:
            raise FederationError("token", str(error)) from None
    # A symmetric signature with the client secret, only where the provider says it signs so
    # (FranceConnect's first version did): never on the token's word alone.
    if alg == "HS256" and "HS256" in discovery.get("id_token_signing_alg_values_supported", []):
        return alg, OctKey.import_key(upstream.client_secret)
    raise FederationError("token", f"signature algorithm {alg!r} not accepted")


def verify(metadata: Metadata, discovery: dict, upstream: Upstream, id_token: str, nonce: str) -> dict:
    """The ID token's claims, once its signature, issuer, audience, times and nonce are checked."""
    alg, key = _key_for(metadata, discovery, upstream, id_token)
    try:
        claims = dict(jwt.decode(id_token, key, algorithms=[alg]).claims)
    except (JoseError, ValueError) as error:
        raise FederationError("token", f"bad signature ({type(error).__name__})") from None
    now = time.time()
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    problems = [
        (claims.get("iss") != upstream.issuer, f"issuer {claims.get('iss')!r}"),
        (upstream.client_id not in audiences, f"audience {audience!r}"),
        (len(audiences) > 1 and claims.get("azp") != upstream.client_id, f"azp {claims.get('azp')!r}"),
        (not isinstance(claims.get("exp"), int | float) or claims["exp"] + LEEWAY < now, "expired"),
        (not isinstance(claims.get("iat"), int | float) or claims["iat"] - LEEWAY > now, "issued in the future"),
        (not isinstance(claims.get("sub"), str) or not claims["sub"], "no sub"),
        # As bytes: compare_digest refuses a str with a character outside ASCII.
        (not secrets.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()), "nonce"),
    ]
    for wrong, what in problems:
        if wrong:
            raise FederationError("token", f"ID token: {what}")
    return claims


def _userinfo(metadata: Metadata, discovery: dict, upstream: Upstream, access_token: str | None) -> dict:
    endpoint = discovery.get("userinfo_endpoint")
    if not endpoint or not access_token:
        raise FederationError("claims", "no userinfo endpoint or no access token")
    try:
        answer = requests.get(endpoint, headers={"Authorization": f"Bearer {access_token}"}, timeout=FETCH_TIMEOUT,
                              allow_redirects=False)
    except requests.RequestException as error:
        raise FederationError("unreachable", f"userinfo: {type(error).__name__}") from None
    if answer.status_code != 200:
        raise FederationError("claims", f"userinfo answered {answer.status_code}")
    if answer.headers.get("Content-Type", "").split(";")[0].strip() == "application/jwt":
        alg, key = _key_for(metadata, discovery, upstream, answer.text.strip())
        try:
            claims = dict(jwt.decode(answer.text.strip(), key, algorithms=[alg]).claims)
        except (JoseError, ValueError) as error:
            raise FederationError("token", f"userinfo: bad signature ({type(error).__name__})") from None
        if claims.get("iss", upstream.issuer) != upstream.issuer or claims.get("aud", upstream.client_id) not in (
                upstream.client_id, [upstream.client_id]):
            raise FederationError("token", "userinfo: issued by or for someone else")
        return claims
    try:
        claims = answer.json()
    except ValueError:
        raise FederationError("claims", "userinfo: neither JSON nor a JWT") from None
    if not isinstance(claims, dict):
        raise FederationError("claims", "userinfo: not a JSON object")
    return claims
