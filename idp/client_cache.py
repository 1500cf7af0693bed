"""Clients, kept in each process: every protocol request authenticates one, and reading it from
SQL was a third of a token request's time.

A change to a client (``idp clients add/remove``, the admin API, a test) is committed to SQL,
then announced: a generation number in Redis goes up and a message goes out on a Redis
channel.  Each process listens on that channel from a thread and forgets its clients when a
message arrives, so a removed client stops working everywhere within the message's transit
(milliseconds), and at once in the process that made the change.  While a process is not
listening (starting, or its connection lost), every request compares the generation number
instead: one Redis ``GET`` per request, never a stale client.  Only clients that exist are
kept, so made-up ``client_id`` values cannot fill the memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import weakref

import redis
from flask import g, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from .models import Client

CHANGED = "idp.clients_changed"
log = logging.getLogger(__name__)
_caches: weakref.WeakSet[ClientCache] = weakref.WeakSet()  # this process's, told at once of its own changes


class ClientCache:
    def __init__(self, client: redis.Redis, key: str, *, listen: bool = True):
        self.redis = client
        self.key = key
        self.channel = key
        self._lock = threading.Lock()
        self._generation: bytes | None = None
        self._clients: dict[str, Client] = {}
        self._epoch = 0  # bumped by every forget(): a client read from SQL before it is not kept
        self._fresh = False  # True while the listener is subscribed and no change was announced since
        self._listen = listen
        self._listener_pid: int | None = None
        self._stop = threading.Event()
        _caches.add(self)

    def get(self, db: Session, client_id: str) -> Client | None:
        self._ensure_listener()
        with self._lock:
            trusted = self._fresh
        if not trusted:
            generation = self._current_generation()
            with self._lock:
                if generation != self._generation:
                    self._clients, self._generation = {}, generation
                    self._epoch += 1
        with self._lock:
            client = self._clients.get(client_id)
            epoch = self._epoch
        if client is not None:
            return client
        client = db.get(Client, client_id)
        if client is None:
            return None
        if client in db.dirty or client in db.new:
            return client  # being changed in this very session: not something to share
        db.expunge(client)  # every column is loaded (expire_on_commit is off): safe to share detached
        with self._lock:
            if epoch == self._epoch:
                self._clients[client_id] = client
        return client

    def _current_generation(self) -> bytes | None:
        memo = g.get("idp_clients_generation", False) if has_app_context() else False
        if memo is False:
            memo = self.redis.get(self.key)
            if has_app_context():
                g.idp_clients_generation = memo
        return memo

    def forget(self) -> None:
        """Drop every kept client and stop trusting the cache until the generation is read again."""
        with self._lock:
            self._clients, self._generation, self._fresh = {}, None, False
            self._epoch += 1
        if has_app_context():
            g.pop("idp_clients_generation", None)

    def announce(self) -> None:
        # Two commands, not a pipeline: a cluster client pipelines no PUBLISH (a change is rare).
        self.redis.incr(self.key)
        self.redis.publish(self.channel, b"changed")

    # The listener: one daemon thread per process (a worker forked from a parent that had one
    # starts its own on first use).
    def _ensure_listener(self) -> None:
        if not self._listen or self._listener_pid == os.getpid():
            return
        with self._lock:
            if self._listener_pid == os.getpid():
                return
            self._listener_pid = os.getpid()
            self._fresh = False
        threading.Thread(target=self._run_listener, name="idp-client-cache", daemon=True).start()

    def _run_listener(self) -> None:
        pid = os.getpid()
        while not self._stop.is_set() and os.getpid() == pid:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=False)
            try:
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self.forget()
                        with self._lock:
                            self._fresh = True  # from now on every change reaches us
                    elif message["type"] == "message":
                        self.forget()
                        with self._lock:
                            self._fresh = True
            except (redis.RedisError, OSError, ValueError) as error:
                self.forget()
                log.warning("client cache: listening for changes failed (%s); retrying", type(error).__name__)
                self._stop.wait(1.0)
            finally:
                with contextlib.suppress(redis.RedisError, OSError):
                    pubsub.close()
        self.forget()

    def close(self) -> None:
        self._stop.set()


def _touches_clients(session: Session) -> bool:
    return any(isinstance(row, Client) for row in (*session.new, *session.dirty, *session.deleted))


@event.listens_for(Session, "after_flush")
def _note_flush(session, _context) -> None:
    if _touches_clients(session):
        session.info[CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk(state) -> None:
    if (state.is_update or state.is_delete) and any(
            getattr(mapper, "class_", None) is Client for mapper in state.all_mappers):
        state.session.info[CHANGED] = True


@event.listens_for(Session, "after_commit")
def _announce(session) -> None:
    if not session.info.pop(CHANGED, False):
        return
    for cache in list(_caches):
        cache.forget()  # this process's caches at once, whatever app made the change
    if has_app_context():
        from flask import current_app

        cache = current_app.extensions.get("idp.client_cache")
        if cache is not None:
            cache.announce()  # the other processes'


@event.listens_for(Session, "after_rollback")
def _forget_note(session) -> None:
    session.info.pop(CHANGED, None)
