"""Access tokens (RFC 9068 JWTs), refresh-token families, and the revocation state.

Access tokens are not stored: a revoked one is denied by its ``jti`` in Redis until
it expires.  Refresh tokens are stored as SHA-256 in SQL, grouped in a family that
rotation extends; reuse of a rotated token revokes the family and the access tokens
it issued (``family-at:<family>`` remembers their ``jti``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from flask import g
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from sqlalchemy import select, update

from ..db import session as db_session
from ..models import RefreshToken, epoch, utcnow
from .claims import subject_for
from .context import provider

ACCESS_TOKEN_ALG = "RS256"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class AccessTokenGenerator(JWTBearerTokenGenerator):
    """Signs access tokens with the current key of the client's algorithm (``access_token_alg``,
    RS256 unless the client chose ES256) and the subject the client sees."""

    def __init__(self, issuer: str, ttl: int):
        super().__init__(
            issuer,
            alg=ACCESS_TOKEN_ALG,
            refresh_token_generator=lambda *args, **kwargs: secrets.token_urlsafe(32),
            expires_generator=lambda client, grant_type: ttl,
        )
        self.ttl = ttl

    def generate(self, grant_type, client, user=None, scope=None, expires_in=None, include_refresh_token=True):
        """The token response, for the audience the grant chose (idp/resources.py): an API's token
        carries that API's scopes only, and lives as long as the API says."""
        scope = self.get_allowed_scope(client, scope)
        target = g.get("token_target")
        if target is not None:
            # Narrowed here, after what the client may have (an empty scope passed on would mean "all").
            scope = target.scope if target.identifier else " ".join(
                name for name in scope.split() if name in target.scope.split())
            expires_in = target.ttl or expires_in
        token = {"token_type": "DPoP" if g.get("dpop_jkt") else "Bearer",  # RFC 9449: bound to the proof's key
                 "access_token": self.access_token_generator(client=client, grant_type=grant_type, user=user,
                                                             scope=scope)}
        expires_in = expires_in or self._get_expires_in(client, grant_type)
        if expires_in:
            token["expires_in"] = expires_in
        if include_refresh_token and self.refresh_token_generator:
            token["refresh_token"] = self.refresh_token_generator(client=client, grant_type=grant_type, user=user,
                                                                  scope=scope)
        if scope:
            token["scope"] = scope
        return token

    def access_token_generator(self, client, grant_type, user, scope):
        # The claims of RFC 9068 §2.2, as Authlib's generator writes them, with the key of the
        # algorithm of the client or of the resource, and the key object kept imported (no JWKS
        # import per token).
        target = g.get("token_target")
        alg = (target and target.alg) or getattr(client, "access_token_alg", None) or ACCESS_TOKEN_ALG
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "exp": now + ((target and target.ttl) or self.ttl),
            "client_id": client.get_client_id(),
            "iat": now,
            "jti": secrets.token_urlsafe(16),
            "scope": scope,
            "sub": subject_for(user, client) if user else client.get_client_id(),
            "aud": (target and target.identifier) or client.get_client_id(),
        }
        if jkt := g.get("dpop_jkt"):
            claims["cnf"] = {"jkt": jkt}  # RFC 9449 §6: the key the token is bound to
        key = provider().signing_keys.signing_key(alg)
        return jwt.encode({"alg": alg, "typ": "at+jwt", "kid": key.kid}, claims, key, algorithms=[alg])


class VerifiedTokens:
    """Access tokens whose signature this process already checked, so that a resource server
    introspecting the same token on every call it serves (and userinfo) does not pay for the
    signature again: the claims are kept, keyed by a digest of the whole token, until the token
    expires, at most ``size`` of them, and all forgotten when the key set changes.  Revocation
    is not kept: it is asked of Redis every time."""

    def __init__(self, size: int = 20000):
        self.size = size
        self._claims: OrderedDict[bytes, dict] = OrderedDict()
        self._keys_version: object = None
        self._lock = threading.Lock()

    def get(self, digest: bytes, keys_version: object) -> dict | None:
        with self._lock:
            if keys_version != self._keys_version:
                self._claims.clear()
                self._keys_version = keys_version
                return None
            claims = self._claims.get(digest)
            if claims is not None:
                self._claims.move_to_end(digest)
            return claims

    def put(self, digest: bytes, keys_version: object, claims: dict) -> None:
        with self._lock:
            if keys_version != self._keys_version:
                return
            self._claims[digest] = claims
            while len(self._claims) > self.size:
                self._claims.popitem(last=False)


_verified = VerifiedTokens()


def decode_access_token(token_string: str) -> dict | None:
    """The claims of a valid, unexpired access token we issued, else None."""
    ctx = provider()
    keys_version = ctx.signing_keys.version()
    digest = hashlib.sha256(f"{ctx.issuer}\0{token_string}".encode()).digest()  # one cache, many apps in tests
    claims = _verified.get(digest, keys_version)
    if claims is None:
        try:
            token = jwt.decode(token_string, ctx.signing_keys.verification_keys(), algorithms=["RS256", "ES256"])
        except (JoseError, ValueError):
            return None
        claims = token.claims
        if token.header.get("typ") != "at+jwt" or claims.get("iss") != ctx.issuer:
            return None
        if not isinstance(claims.get("exp"), int) or "jti" not in claims:
            return None
        _verified.put(digest, keys_version, claims)
    if claims["exp"] <= time.time():
        return None
    return dict(claims)  # a copy: callers may not change what the next request reads


def own_token_claims(token_string: str) -> dict:
    """Claims of a token this provider signed a moment ago in this request: no need to verify it again."""
    return json.loads(extract_compact(token_string.encode()).payload)


def deny_access_token(jti: str, exp: int) -> None:
    ttl = int(exp - time.time())
    if ttl > 0:
        provider().redis.set(provider().keys("at-denied", jti), "1", ex=ttl)


def is_access_token_denied(jti: str) -> bool:
    return bool(provider().redis.exists(provider().keys("at-denied", jti)))


def link_access_token(family_id: str | None, jti: str, exp: int, user_id: int | None = None,
                      client_id: str | None = None) -> None:
    """Remember which family issued an access token, so revoking the family denies it, and a
    citizen's access tokens, so the help desk can deny them all at once, and the citizen those
    of one service ("Retirer l'accès").  One round trip to Redis for all of them."""
    ctx = provider()
    keys = []
    if family_id:
        keys.append(ctx.keys("family-at", family_id))
    if user_id is not None:
        keys.append(ctx.keys("user-at", user_id))
        if client_id:
            keys.append(ctx.keys("user-client-at", user_id, client_id))
    if keys:
        _remember_access_token(keys, jti, exp)


def revoke_user_access_tokens(user_id: int, client_id: str | None = None) -> int:
    """Deny every live access token of a citizen (given to ``client_id`` only, when given); how many
    were not denied yet."""
    ctx = provider()
    key = ctx.keys("user-client-at", user_id, client_id) if client_id else ctx.keys("user-at", user_id)
    denied = 0
    for jti, exp in ctx.redis.zrangebyscore(key, time.time(), "+inf", withscores=True):
        if not is_access_token_denied(jti):
            deny_access_token(jti, int(exp))
            denied += 1
    ctx.redis.delete(key)
    return denied


def _remember_access_token(keys: list[str], jti: str, exp: int) -> None:
    # Not a transaction: each key stands alone, and a cluster keeps them in different slots.
    pipe = provider().redis.pipeline(transaction=False)
    now = time.time()
    for key in keys:
        pipe.zadd(key, {jti: exp})
        pipe.zremrangebyscore(key, 0, now)
        pipe.expireat(key, exp)
    pipe.execute()


def revoke_family(family_id: str) -> int:
    """Revoke every refresh token of a family and the live access tokens it issued."""
    db = db_session()
    result = db.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.commit()
    ctx = provider()
    for jti, exp in ctx.redis.zrangebyscore(ctx.keys("family-at", family_id), time.time(), "+inf", withscores=True):
        deny_access_token(jti, int(exp))
    ctx.redis.delete(ctx.keys("family-at", family_id))
    return result.rowcount


def revoke_user_refresh_tokens(user_id: int, client_id: str | None = None) -> int:
    """Revoke every live refresh token of a citizen (given to ``client_id`` only, when given), and the
    access tokens their families issued; how many live refresh tokens there were."""
    statement = select(RefreshToken.family_id).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None), RefreshToken.used_at.is_(None),
        RefreshToken.expires_at > utcnow())
    if client_id:
        statement = statement.where(RefreshToken.client_id == client_id)
    live = db_session().scalars(statement).all()
    for family_id in set(live):
        revoke_family(family_id)
    return len(live)


def find_refresh_token(token_string: str) -> RefreshToken | None:
    return db_session().scalar(select(RefreshToken).where(RefreshToken.token_hash == sha256(token_string)))


def claim_refresh_token(row: RefreshToken) -> bool:
    """Mark a refresh token used; False when another request used it first (reuse).

    Not committed here: the new token's row is written in the same transaction (``save_token``),
    so a rotation is all or nothing, and the row stays locked until then, so that a concurrent
    use of the same token waits and then finds it used."""
    table = RefreshToken.__table__
    result = db_session().execute(
        table.update().where(table.c.id == row.id, table.c.used_at.is_(None)).values(used_at=utcnow())
    )
    return result.rowcount == 1


@dataclass
class IssuedToken:
    """An access or refresh token as revocation and introspection see it."""

    kind: str  # access_token | refresh_token
    client_id: str
    scope: str
    exp: int
    iat: int
    sub: str
    jti: str | None = None
    family_id: str | None = None
    revoked: bool = False
    aud: str | None = None  # an access token's audience: its client, or the resource it is for
    jkt: str | None = None  # an access token bound to a key (DPoP, RFC 9449): the key's thumbprint

    def check_client(self, client) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.exp <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked


def lookup(token_string: str, hint: str | None = None) -> IssuedToken | None:
    """Find any token we issued, whatever its kind; the hint only orders the search (RFC 7009 §2.1)."""
    finders = [_access_token, _refresh_token]
    if hint == "refresh_token":
        finders.reverse()
    for find in finders:
        if token := find(token_string):
            return token
    return None


def _access_token(token_string: str) -> IssuedToken | None:
    claims = decode_access_token(token_string) if token_string.count(".") == 2 else None
    if claims is None:
        return None
    return IssuedToken(
        "access_token", claims["client_id"], claims.get("scope", ""), claims["exp"], claims["iat"],
        claims["sub"], jti=claims["jti"], revoked=is_access_token_denied(claims["jti"]), aud=claims.get("aud"),
        jkt=(claims.get("cnf") or {}).get("jkt"),
    )


def _refresh_token(token_string: str) -> IssuedToken | None:
    row = find_refresh_token(token_string)
    if row is None:
        return None
    client = provider().clients(row.client_id)
    return IssuedToken(
        "refresh_token", row.client_id, row.scope, epoch(row.expires_at),
        epoch(row.issued_at), subject_for(row.user, client), family_id=row.family_id,
        revoked=row.revoked_at is not None or row.used_at is not None,
    )
