"""Server-side login sessions in Redis.

The cookie carries only a hash tag and a random id, ``<tag>.<id>``; the data lives under
``session:{<tag>}:<sha256(cookie)>`` with the idle timeout as TTL, and ``created`` enforces the
absolute timeout.  A signed-in session's tag is its citizen's (``redis_store.user_tag``), so that
in a Redis Cluster their sessions and the index of them share a slot and can be ended together,
atomically; a browser not signed in gets a random tag.  The cookie has
no Max-Age: it ends with the browser.  A login on a shared computer (a town hall, a library)
lasts at most ``SHARED_COMPUTER_MAX_AGE`` in all, whatever the configured timeouts.
``user-sessions:{<tag>}:<user id>`` lists a citizen's signed-in sessions, so a password
reset or the help desk can end them all at once, and the citizen can see and close them
(``/account/sessions``): a signed-in session records the browser's User-Agent (capped), its
client address and its last use (written at most once a minute, so reading pages stays one
EXPIRE).  The account page names a session by a handle, a hash of the storage id, never the
storage id itself.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time

import redis
from flask import Flask, current_app, g, has_request_context, request
from flask import session as flask_session
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from .redis_store import TAG_LENGTH, user_tag

COOKIE_NAME = "idp_session"
# What a browser keeps when it signs in or out: its waiting authorization requests, its
# language, a reminder to check personal details after a recovery, and the offer of a passkey
# after a sign-up or a reset (idp/passkeys.py).
KEPT_ACROSS_LOGIN = ("pending", "lang", "remind_details", "offer_passkey")
SHARED_COMPUTER_MAX_AGE = 30 * 60  # long enough for one errand, short enough for the next person in line
USER_AGENT_KEPT = 300  # characters: enough to name a browser, not a place to store a megabyte per session
LAST_USE_EVERY = 60  # seconds between writes of a session's last use

# KEYS: the user's index, then the key of each session it listed when read. ARGV: the storage id
# of each.  Returns {1, what the live sessions held...}, or false when the index changed since it was
# read (the caller reads it again): every key touched is declared, as a Redis Cluster requires.
_END_ALL = """
if redis.call('SCARD', KEYS[1]) ~= #ARGV then return false end
for i = 1, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then return false end
end
local ended = {1}
for i = 2, #KEYS do
  local data = redis.call('GET', KEYS[i])
  if data then
    redis.call('DEL', KEYS[i])
    table.insert(ended, data)
  end
end
redis.call('DEL', KEYS[1])
return ended
"""

# KEYS: the user's index, the session's key. ARGV: its storage id. What the session held, if it was the user's.
_END_ONE = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return false end
redis.call('SREM', KEYS[1], ARGV[1])
local data = redis.call('GET', KEYS[2])
redis.call('DEL', KEYS[2])
return data
"""
COOKIE_SHAPE = re.compile(rf"([0-9a-f]{{{TAG_LENGTH}}})\.[A-Za-z0-9_-]{{43}}")
CHANGED_RETRIES = 20  # an index that keeps changing while it is read: give up, loudly


def _storage_id(cookie_value: str) -> str:
    # Stored hashed so a read of Redis does not yield cookies to replay.
    return hashlib.sha256(cookie_value.encode()).hexdigest()


def _tag(cookie_value: str) -> str:
    return cookie_value.partition(".")[0]


def _new_cookie(user_id: int | None) -> str:
    tag = user_tag(user_id) if user_id else secrets.token_hex(TAG_LENGTH // 2)
    return f"{tag}.{secrets.token_urlsafe(32)}"


def handle(storage_id: str) -> str:
    """How a page names a session: not the storage id, which is a Redis key."""
    return hashlib.sha256(f"session-handle:{storage_id}".encode()).hexdigest()[:32]


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial: dict | None = None, cookie_value: str | None = None, new: bool = False):
        def on_update(_self):
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.cookie_value = cookie_value
        self.new = new
        self.modified = False
        self.regenerate = False
        self.owner = (initial or {}).get("user_id")  # whose index lists the stored copy


class _Unavailable(ServerSession):
    """Stands in when Redis cannot be read, so the error page can still render."""

    def __init__(self, error: Exception):
        super().__init__({}, new=True)
        self.error = error


def _raise_if_unavailable() -> None:
    if isinstance(flask_session._get_current_object(), _Unavailable):  # type: ignore[attr-defined]
        raise flask_session.error


class RedisSessionInterface(SessionInterface):
    def __init__(self, client: redis.Redis, keys, idle_timeout: int, max_age: int):
        self.redis = client
        self.keys = keys
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self._end_all = client.register_script(_END_ALL)
        self._end_one = client.register_script(_END_ONE)

    def open_session(self, app: Flask, request) -> ServerSession:
        cookie_value = request.cookies.get(COOKIE_NAME)
        if cookie_value and COOKIE_SHAPE.fullmatch(cookie_value):
            try:
                raw = self.redis.get(self._key(cookie_value))
            except redis.RedisError as error:
                return _Unavailable(error)
            if raw:
                data = json.loads(raw)
                if time.time() - data.get("created", 0) < self._max_age(data):
                    return ServerSession(data, cookie_value)
        return ServerSession({"created": int(time.time())}, new=True)

    def save_session(self, app: Flask, session: ServerSession, response) -> None:
        if isinstance(session, _Unavailable) or g.get("storage_down"):
            return  # the storage is down: the answer is the "service unavailable" page, no session
        secure = app.config["IDP_ISSUER"].startswith("https://")
        if session.regenerate and session.cookie_value:
            self._forget(session)
            if not session:  # signed out: the browser forgets the cookie too
                response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="Lax", secure=secure)
                return
        if not session and not session.cookie_value:
            return
        user_id = session.get("user_id")
        if user_id and session.cookie_value and _tag(session.cookie_value) != user_tag(user_id):
            # Signed in without a new cookie: a new one, under the citizen's tag, so that ending
            # their sessions finds this one.
            self._forget(session)
            session.modified = True
        _note_use(session)
        fresh = session.cookie_value is None
        if fresh:
            if not session.modified:
                return
            session.cookie_value = _new_cookie(user_id)
        key = self._key(session.cookie_value)
        ttl = min(self.idle_timeout, max(1, int(self._max_age(session) - (time.time() - session.get("created", 0)))))
        if session.modified or session.regenerate:
            # An existing session is written only while it still exists (XX): a request that raced a
            # sign-in, a sign-out or "end everywhere" (a page's script, a second tab) must not bring the
            # ended session back.
            written = self.redis.set(key, json.dumps(dict(session)), ex=ttl, xx=not fresh)
            if written and session.get("user_id") and session.owner != session["user_id"]:
                self._index(session, ttl)
        else:
            self.redis.expire(key, ttl)
        if fresh:
            # Only a new session sends its cookie: a slower request of the page answering after a
            # sign-in must not set the browser's cookie back to the session the sign-in ended.
            response.set_cookie(
                COOKIE_NAME, session.cookie_value, httponly=True, samesite="Lax", secure=secure, path="/"
            )
        response.vary.add("Cookie")

    def _max_age(self, data) -> int:
        """How long this session may live in all: shorter when signed in on a shared computer."""
        if data.get("shared_computer"):
            return min(self.max_age, SHARED_COMPUTER_MAX_AGE)
        return self.max_age

    def _key(self, cookie_value: str) -> str:
        return self.keys.tagged("session", _tag(cookie_value), _storage_id(cookie_value))

    def _session_key(self, user_id: int, storage_id: str) -> str:
        """The key of a signed-in session of ``user_id`` (under the citizen's tag)."""
        return self.keys.tagged("session", user_tag(user_id), storage_id)

    def _user_index(self, user_id: int) -> str:
        return self.keys.tagged("user-sessions", user_tag(user_id), user_id)

    def _forget(self, session: ServerSession) -> None:
        storage_id = _storage_id(session.cookie_value)
        if session.owner and _tag(session.cookie_value) == user_tag(session.owner):
            pipe = self.redis.pipeline(transaction=True)  # one slot: the citizen's
            pipe.delete(self._key(session.cookie_value))
            pipe.srem(self._user_index(session.owner), storage_id)
            pipe.execute()
        else:
            self.redis.delete(self._key(session.cookie_value))
        session.cookie_value = None
        session.owner = None

    def _index(self, session: ServerSession, ttl: int) -> None:
        index = self._user_index(session["user_id"])
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(index, _storage_id(session.cookie_value))
        pipe.expire(index, self.max_age)  # outlives every session it lists
        pipe.execute()
        session.owner = session["user_id"]

    def end_all_for_user(self, user_id: int) -> list[dict]:
        """End every signed-in session of a citizen, on every instance; what the live ones held."""
        index = self._user_index(user_id)
        for _ in range(CHANGED_RETRIES):
            storage_ids = sorted(self.redis.smembers(index))
            ended = self._end_all(keys=[index, *(self._session_key(user_id, sid) for sid in storage_ids)],
                                  args=storage_ids)
            if ended:
                return [json.loads(data) for data in ended[1:]]
        raise redis.RedisError(f"the sessions of user {user_id} kept changing while being ended")

    def sessions_of(self, user_id: int) -> dict[str, dict]:
        """The live signed-in sessions of a citizen, by storage id."""
        storage_ids = sorted(self.redis.smembers(self._user_index(user_id)))
        pipe = self.redis.pipeline(transaction=False)
        for sid in storage_ids:
            pipe.get(self._session_key(user_id, sid))
        records = pipe.execute() if storage_ids else []
        found = {sid: json.loads(raw) for sid, raw in zip(storage_ids, records, strict=True) if raw}
        return {sid: data for sid, data in found.items()
                if data.get("user_id") == user_id and time.time() - data.get("created", 0) < self._max_age(data)}

    def end_one(self, user_id: int, storage_id: str) -> dict | None:
        """End one session of a citizen, if it is theirs; what it held."""
        data = self._end_one(keys=[self._user_index(user_id), self._session_key(user_id, storage_id)],
                             args=[storage_id])
        return json.loads(data) if data else None


def _note_use(session: ServerSession) -> None:
    """Keep a signed-in session's device, address and last use up to date, writing at most once a minute."""
    if not session.get("user_id") or not has_request_context():
        return
    address = request.remote_addr
    if session.get("ip") != address or time.time() - session.get("seen", 0) >= LAST_USE_EVERY:
        session["seen"] = int(time.time())
        session["ip"] = address
        session["device"] = request.headers.get("User-Agent", "")[:USER_AGENT_KEPT]


def begin_login(session: ServerSession, user_id: int, amr: list[str], shared_computer: bool | None = None) -> None:
    """Start a signed-in session under a new cookie (no session fixation); a login says whether
    the computer is shared, a restart (after a password change) keeps what the session said."""
    if shared_computer is None:
        shared_computer = session.get("shared_computer", False)
    kept = {k: session[k] for k in KEPT_ACROSS_LOGIN if k in session}
    session.clear()
    session.update(kept)
    session.update({
        "created": int(time.time()),
        "user_id": user_id,
        "auth_time": int(time.time()),
        "amr": amr,
        "sid": secrets.token_urlsafe(24),
    })
    if shared_computer:
        session["shared_computer"] = True
    session.regenerate = True


def end(session: ServerSession) -> None:
    session.clear()
    session.regenerate = True


def end_all_for_user(user_id: int) -> list[dict]:
    """End every signed-in session of a citizen (password reset, help desk); what they held."""
    return current_app.session_interface.end_all_for_user(user_id)


def sessions_of(user_id: int) -> dict[str, dict]:
    """The citizen's live signed-in sessions, by storage id (``/account/sessions``)."""
    return current_app.session_interface.sessions_of(user_id)


def end_one(user_id: int, storage_id: str) -> dict | None:
    """End one of the citizen's sessions on every instance; what it held, or None if it was not theirs."""
    return current_app.session_interface.end_one(user_id, storage_id)


def storage_id_of(session: ServerSession) -> str | None:
    return _storage_id(session.cookie_value) if session.cookie_value else None


def sign_out_keeping_requests(session: ServerSession) -> None:
    """Sign out this browser but keep its pending authorization requests and language."""
    kept = {k: session[k] for k in KEPT_ACROSS_LOGIN if k in session}
    session.clear()
    session.update(kept)
    session["created"] = int(time.time())
    session.regenerate = True


def init_app(app: Flask, client: redis.Redis, keys) -> None:
    app.session_interface = RedisSessionInterface(
        client, keys, app.config["IDP_SESSION_IDLE_TIMEOUT"], app.config["IDP_SESSION_MAX_AGE"]
    )
    app.before_request(_raise_if_unavailable)
