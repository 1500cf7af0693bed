"""One-time tokens: the links sent by mail (password reset, e-mail verification, ...).

A token is ``<tag>.<secret>``: the citizen's hash tag (``redis_store.user_tag``) and 256 random
bits, given only to the mail.  Redis keeps the token's SHA-256 under ``ott:{<tag>}:<hash>`` with the
user, the purpose and a little data, for a TTL chosen per purpose.  ``ott-user:{<tag>}:<user id>``
indexes a user's live tokens (sorted by expiry), so they can all be dropped at once, older ones of a
purpose superseded, and no user holds more than ``MAX_PER_USER``.  A user's tokens and index share the
tag, so each change is one Lua script in one slot, even in a Redis Cluster: two concurrent uses never
both win, and a token of another purpose is never consumed.  The scripts declare every key they touch:
the caller reads the index first and names the keys it lists; a script that finds the index changed
since does nothing and is called again.

A *kept* token (the "ce n'était pas moi" link of an e-mail change, the link that cancels a
help-desk request) is indexed under ``ott-kept:{<tag>}:<user id>`` instead: it protects the
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

from .redis_store import TAG_LENGTH, user_tag

MAX_PER_USER = 5
MAX_KEPT_PER_USER = 20
CHANGED_RETRIES = 20  # an index that keeps changing while it is read: give up, loudly
_TOKEN_SHAPE = re.compile(rf"([0-9a-f]{{{TAG_LENGTH}}})\.[A-Za-z0-9_-]{{43}}")  # tag, secrets.token_urlsafe(32)

# Shared by the scripts that act on a user's index: KEYS[1] is the index and KEYS[2..n+1] the keys of
# the n members ARGV[1..n] it held when the caller read it.  False when it holds anything else now.
_SAME_INDEX = """
local function same_index(n)
  local now = redis.call('ZRANGE', KEYS[1], 0, -1)
  if #now ~= n then return false end
  for i = 1, n do
    if now[i] ~= ARGV[i] then return false end
  end
  return true
end
"""

# KEYS: index, each listed token's key (in the index's order), the new token's key.
# ARGV: the n listed members, then n, now, expires_at, member, record, ttl, purpose to supersede or "", max.
# 1 when issued, false when the index changed since it was read.
_ISSUE = _SAME_INDEX + """
local n = tonumber(ARGV[#ARGV - 7])
if not same_index(n) then return false end
local now, expires_at, member, record, ttl, purpose, max = unpack(ARGV, n + 2)
local live = {}
for i = 1, n do
  local member_i = ARGV[i]
  local dropped = redis.call('ZSCORE', KEYS[1], member_i) + 0 <= tonumber(now)
  if not dropped and purpose ~= '' and string.sub(member_i, 1, #purpose + 1) == purpose .. ':' then dropped = true end
  if dropped then
    redis.call('DEL', KEYS[i + 1])
    redis.call('ZREM', KEYS[1], member_i)
  else
    table.insert(live, i)
  end
end
local over = #live - tonumber(max) + 1
for j = 1, over do  -- the oldest first: the index is in order of expiry
  local i = live[j]
  redis.call('DEL', KEYS[i + 1])
  redis.call('ZREM', KEYS[1], ARGV[i])
end
redis.call('SET', KEYS[n + 2], record, 'EX', ttl)
redis.call('ZADD', KEYS[1], expires_at, member)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(last[2])))
return 1
"""

# KEYS: token key, the index its record names. ARGV: purpose or "", the token's member in the index.
_CONSUME = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local record = cjson.decode(raw)
if ARGV[1] ~= '' and record.purpose ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], record.purpose .. ':' .. ARGV[2])
return raw
"""

# KEYS: index, each listed token's key. ARGV: the listed members. How many live tokens were dropped,
# or false when the index changed since it was read.
_REVOKE_USER = _SAME_INDEX + """
if not same_index(#ARGV) then return false end
local dropped = 0
for i = 2, #KEYS do
  dropped = dropped + redis.call('DEL', KEYS[i])
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
    kept: bool = False


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
        tag = user_tag(user_id)
        token = f"{tag}.{secrets.token_urlsafe(32)}"
        digest = token_hash(token)
        now = time.time()  # to the microsecond: of links issued in the same second, the older goes first
        record = {"user_id": str(user_id), "purpose": purpose, "expires_at": int(now) + ttl, "data": data or {},
                  "issued_at": now}
        if kept:
            record["kept"] = True
        index = self._index(user_id, kept)
        arguments = [now, now + ttl, f"{purpose}:{digest}", json.dumps(record), ttl,
                     purpose if supersede and not kept else "", MAX_KEPT_PER_USER if kept else MAX_PER_USER]
        for _ in range(CHANGED_RETRIES):
            members = self.redis.zrange(index, 0, -1)
            if self._issue(keys=[index, *(self._member_key(tag, member) for member in members),
                                 self.keys.tagged("ott", tag, digest)],
                           args=[*members, len(members), *arguments]):
                return token
        raise redis.RedisError(f"the links of user {user_id} kept changing while one was issued")

    def _index(self, user_id: int | str, kept: bool = False) -> str:
        return self.keys.tagged("ott-kept" if kept else "ott-user", user_tag(user_id), user_id)

    def _member_key(self, tag: str, member: str) -> str:
        """The key of the token that an index lists as ``<purpose>:<hash>``."""
        return self.keys.tagged("ott", tag, member.partition(":")[2])

    def _key(self, token: str) -> str | None:
        shape = _TOKEN_SHAPE.fullmatch(token or "")
        return self.keys.tagged("ott", shape.group(1), token_hash(token)) if shape else None

    def peek(self, token: str, purpose: str) -> OneTimeToken | None:
        """The token's meaning without using it up (a GET of the link must not consume it)."""
        key = self._key(token)
        record = _parse(self.redis.get(key)) if key else None
        return record if record and record.purpose == purpose else None

    def consume(self, token: str, purpose: str) -> OneTimeToken | None:
        """Use the token up; None when it is unknown, expired, used, or of another purpose."""
        return _parse(self._use(token, purpose))

    def _use(self, token: str, purpose: str) -> str | None:
        key = self._key(token)
        record = _parse(self.redis.get(key)) if key else None
        if record is None:
            return None
        # The record names the index to clean (its user, kept or not); the script reads it again,
        # atomically: of two concurrent uses, one gets it.
        return self._consume(keys=[key, self._index(record.user_id, record.kept)],
                             args=[purpose, token_hash(token)])

    def revoke(self, token: str) -> OneTimeToken | None:
        """Drop one token whatever its purpose (help desk); what it was, or None."""
        return _parse(self._use(token, ""))

    def revoke_user(self, user_id: int) -> int:
        """Drop every live token of a user; how many there were."""
        index, tag = self._index(user_id), user_tag(user_id)
        for _ in range(CHANGED_RETRIES):
            members = self.redis.zrange(index, 0, -1)
            dropped = self._revoke_user(keys=[index, *(self._member_key(tag, member) for member in members)],
                                        args=members)
            if dropped is not None:
                return int(dropped)
        raise redis.RedisError(f"the links of user {user_id} kept changing while being revoked")

    def revoke_kept_after(self, user_id: int, purpose: str, issued_at: float) -> int:
        """Drop the user's kept tokens of ``purpose`` issued after ``issued_at``; how many."""
        index, tag = self._index(user_id, kept=True), user_tag(user_id)
        dropped = 0
        for member in self.redis.zrange(index, 0, -1):
            member = member.decode() if isinstance(member, bytes) else member
            kind = member.partition(":")[0]
            record = _parse(self.redis.get(self._member_key(tag, member))) if kind == purpose else None
            if record is not None and record.issued_at > issued_at:
                pipe = self.redis.pipeline(transaction=True)  # one slot: the citizen's
                pipe.delete(self._member_key(tag, member))
                pipe.zrem(index, member)
                dropped += pipe.execute()[0]
        return dropped

    def outstanding(self, user_id: int) -> int:
        return int(self.redis.zcount(self._index(user_id), time.time(), "+inf"))


def _parse(raw: str | bytes | None) -> OneTimeToken | None:
    if not raw:
        return None
    record = json.loads(raw)
    return OneTimeToken(int(record["user_id"]), record["purpose"], int(record["expires_at"]), record.get("data", {}),
                        float(record.get("issued_at", 0)), bool(record.get("kept")))


def init_app(app, client: redis.Redis, keys) -> None:
    app.extensions["idp.one_time_tokens"] = OneTimeTokens(client, keys)


def one_time_tokens() -> OneTimeTokens:
    from flask import current_app

    return current_app.extensions["idp.one_time_tokens"]
