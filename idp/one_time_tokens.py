"""One-time tokens: the links sent by mail (password reset, e-mail verification, ...).

A token is 256 random bits, given only to the mail.  Redis keeps its SHA-256 under
``ott:<hash>`` with the user, the purpose and a little data, for a TTL chosen per
purpose.  ``ott-user:<user id>`` indexes a user's live tokens (sorted by expiry), so
they can all be dropped at once, older ones of a purpose superseded, and no user holds
more than ``MAX_PER_USER``.  Consuming is one Lua script: two concurrent uses never
both win, and a token of another purpose is never consumed.

A *kept* token (the "ce n'était pas moi" link of an e-mail change, the link that cancels a
help-desk request) is indexed under ``ott-kept:<user id>`` instead: it protects the
account's rightful owner against whoever holds the account now, so a password change or a
revocation, which that person can cause, does not drop it.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass, field

import redis

MAX_PER_USER = 5
MAX_KEPT_PER_USER = 20
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)

# KEYS: index, token key. ARGV: now, expires_at, member, record, ttl, purpose to supersede or "", max, key prefix
_ISSUE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local function drop(member)
  redis.call('DEL', ARGV[8] .. string.sub(member, string.find(member, ':', 1, true) + 1))
  redis.call('ZREM', KEYS[1], member)
end
if ARGV[6] ~= '' then
  for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    if string.sub(member, 1, #ARGV[6] + 1) == ARGV[6] .. ':' then drop(member) end
  end
end
while redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[7]) do
  drop(redis.call('ZRANGE', KEYS[1], 0, 0)[1])
end
redis.call('SET', KEYS[2], ARGV[4], 'EX', ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(last[2])))
"""

# KEYS: token key. ARGV: purpose, index key prefix, hash, kept index key prefix
_CONSUME = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local record = cjson.decode(raw)
if ARGV[1] ~= '' and record.purpose ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
local index = ARGV[2]
if record.kept then index = ARGV[4] end
redis.call('ZREM', index .. record.user_id, record.purpose .. ':' .. ARGV[3])
return raw
"""

# KEYS: index. ARGV: token key prefix. Returns how many live tokens were dropped.
_REVOKE_USER = """
local dropped = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  dropped = dropped + redis.call('DEL', ARGV[1] .. string.sub(member, string.find(member, ':', 1, true) + 1))
end
redis.call('DEL', KEYS[1])
return dropped
"""


@dataclass(frozen=True)
class OneTimeToken:
    """What a valid token stands for."""

    user_id: int
    purpose: str
    expires_at: int
    data: dict = field(default_factory=dict)
    issued_at: float = 0.0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OneTimeTokens:
    """The store; one per app, at ``app.extensions["idp"].one_time_tokens``."""

    def __init__(self, client: redis.Redis, keys):
        self.redis = client
        self.keys = keys
        self._issue = client.register_script(_ISSUE)
        self._consume = client.register_script(_CONSUME)
        self._revoke_user = client.register_script(_REVOKE_USER)

    def issue(self, user_id: int, purpose: str, ttl: int, data: dict | None = None,
              supersede: bool = True, kept: bool = False) -> str:
        """A new token for ``user_id``; with ``supersede`` the user's earlier ones of this purpose stop working.

        A ``kept`` token is never superseded, and outlives ``revoke_user`` (see the module's docstring)."""
        if ":" in purpose:
            raise ValueError("a purpose cannot contain ':'")
        token = secrets.token_urlsafe(32)
        digest = token_hash(token)
        now = time.time()  # to the microsecond: of links issued in the same second, the older goes first
        record = {"user_id": str(user_id), "purpose": purpose, "expires_at": int(now) + ttl, "data": data or {},
                  "issued_at": now}
        if kept:
            record["kept"] = True
        self._issue(
            keys=[self._index(user_id, kept), self.keys("ott", digest)],
            args=[now, now + ttl, f"{purpose}:{digest}", json.dumps(record), ttl,
                  purpose if supersede and not kept else "", MAX_KEPT_PER_USER if kept else MAX_PER_USER,
                  self.keys("ott", "")],
        )
        return token

    def _index(self, user_id: int | str, kept: bool = False) -> str:
        return self.keys("ott-kept" if kept else "ott-user", user_id)

    def peek(self, token: str, purpose: str) -> OneTimeToken | None:
        """The token's meaning without using it up (a GET of the link must not consume it)."""
        if not _TOKEN_SHAPE.fullmatch(token or ""):
            return None
        record = _parse(self.redis.get(self.keys("ott", token_hash(token))))
        return record if record and record.purpose == purpose else None

    def consume(self, token: str, purpose: str) -> OneTimeToken | None:
        """Use the token up; None when it is unknown, expired, used, or of another purpose."""
        if not _TOKEN_SHAPE.fullmatch(token or ""):
            return None
        return _parse(self._use(token, purpose))

    def _use(self, token: str, purpose: str) -> str | None:
        digest = token_hash(token)
        return self._consume(keys=[self.keys("ott", digest)],
                             args=[purpose, self._index(""), digest, self._index("", kept=True)])

    def revoke(self, token: str) -> OneTimeToken | None:
        """Drop one token whatever its purpose (help desk); what it was, or None."""
        if not _TOKEN_SHAPE.fullmatch(token or ""):
            return None
        return _parse(self._use(token, ""))

    def revoke_user(self, user_id: int) -> int:
        """Drop every live token of a user; how many there were."""
        return int(self._revoke_user(keys=[self.keys("ott-user", user_id)], args=[self.keys("ott", "")]))

    def revoke_kept_after(self, user_id: int, purpose: str, issued_at: float) -> int:
        """Drop the user's kept tokens of ``purpose`` issued after ``issued_at``; how many."""
        index = self._index(user_id, kept=True)
        dropped = 0
        for member in self.redis.zrange(index, 0, -1):
            member = member.decode() if isinstance(member, bytes) else member
            kind, _, digest = member.partition(":")
            record = _parse(self.redis.get(self.keys("ott", digest))) if kind == purpose else None
            if record is not None and record.issued_at > issued_at:
                dropped += self.redis.delete(self.keys("ott", digest))
                self.redis.zrem(index, member)
        return dropped

    def outstanding(self, user_id: int) -> int:
        key = self.keys("ott-user", user_id)
        return int(self.redis.zcount(key, time.time(), "+inf"))


def _parse(raw: str | bytes | None) -> OneTimeToken | None:
    if not raw:
        return None
    record = json.loads(raw)
    return OneTimeToken(int(record["user_id"]), record["purpose"], int(record["expires_at"]), record.get("data", {}),
                        float(record.get("issued_at", 0)))


def init_app(app, client: redis.Redis, keys) -> None:
    app.extensions["idp.one_time_tokens"] = OneTimeTokens(client, keys)


def one_time_tokens() -> OneTimeTokens:
    from flask import current_app

    return current_app.extensions["idp.one_time_tokens"]
