"""A durable job queue in Redis, and the worker that runs it.

Work that must not slow an answer down, nor be lost while a server is away, goes
here: sending a mail, resolving a recovery request.  A job is the hash ``job:{jobs}:<id>``
(name, JSON payload, attempts, optional expiry) and its id in the sorted set
``jobs:{jobs}``, scored by when it is due.  Every key of the queue has the hash tag
``{jobs}``: in a Redis Cluster they share a slot, so queuing a job is one script and
finishing it one transaction.  A worker claims the earliest due job by pushing its due
time one lease ahead (one Lua call), so a worker that dies mid-job leaves it to
another when the lease ends.  Success deletes the job, and with it whatever token
its payload carried; a failure retries it with exponential back-off.  Jobs whose
expiry has passed, or that fail permanently, are dropped and logged (without payload)
in ``jobs-dead``.

The queue has a ceiling (``IDP_JOBS_MAX``): past it, a new job is not queued but recorded
in ``jobs-dead`` (reason "queue full") and counted in ``jobs-dropped``, so that a flood of
requests (or a worker that is down for long) cannot fill Redis; the caller goes on as if it
had been queued, and the answer a citizen sees stays the same.  ``idp jobs stats`` shows the
queue.

Periodic jobs (``every``) are queued by whichever worker first sees their interval over:
``periodic:<name>`` is set with that interval as TTL, so one run is queued per interval
across every worker.

The queue lives as long as Redis keeps it: the embedded Redis writes an append-only
file, and a production Redis must persist too (see the README).
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable

import redis
from flask import Flask, current_app

from .redis_store import is_cluster

logger = logging.getLogger("idp.jobs")

QUEUE_TAG = "jobs"  # the hash tag of every key of the queue
LEASE = 120  # seconds a claimed job is left to its worker (SMTP timeout is 30); IDP_JOBS_LEASE
MAX_BACKOFF = 300  # seconds between two attempts, at most
DEAD_KEPT = 1000

# KEYS: the queue. ARGV: now, lease end. Returns the claimed id, or false.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #due == 0 then return false end
redis.call('ZADD', KEYS[1], ARGV[2], due[1])
return due[1]
"""


# KEYS: the queue, the job's hash, the wake-up list, the dead list, the drop counter.
# ARGV: the ceiling, the due time, the dead record, how many dead are kept, the job's id, then
# its fields and values.  Queues the job whole (1), or records its drop (0) when the queue is full.
_ENQUEUE = """
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  redis.call('LPUSH', KEYS[4], ARGV[3])
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[4]) - 1)
  redis.call('INCR', KEYS[5])
  return 0
end
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[5])
redis.call('LPUSH', KEYS[3], 1)
redis.call('LTRIM', KEYS[3], 0, 0)
return 1
"""


class PermanentFailure(Exception):
    """The job can never succeed (a mailbox that does not exist): drop it instead of retrying."""


class Jobs:
    """The queue of one deployment, and the handlers this process knows; ``app.extensions["idp.jobs"]``."""

    def __init__(self, client: redis.Redis, keys, max_jobs: int = 100_000):
        self.redis = client
        self.keys = keys
        self.max_jobs = max_jobs
        self.handlers: dict[str, Callable[[dict], None]] = {}
        self.periodic: dict[str, int] = {}
        self._claim = client.register_script(_CLAIM)
        self._enqueue = client.register_script(_ENQUEUE)

    def key(self, name: str, *parts: object) -> str:
        """A key of the queue (``jobs``, ``job``, ``jobs-wake``, ``jobs-dead``, ``jobs-dropped``)."""
        return self.keys.tagged(name, QUEUE_TAG, *parts)

    def adopt_legacy(self) -> int:
        """Move the jobs that an earlier version queued under keys without the hash tag (``jobs``,
        ``job:<id>``) to the queue's keys, with the dead list and the drop count: an upgrade loses no
        mail.  A Redis Cluster never held them (clusters came with the tags).  How many jobs moved."""
        if is_cluster(self.redis):
            return 0
        old_queue, moved = self.keys("jobs"), 0
        for job_id, due in self.redis.zrange(old_queue, 0, -1, withscores=True):
            pipe = self.redis.pipeline(transaction=True)
            if self.redis.exists(self.keys("job", job_id)):
                pipe.rename(self.keys("job", job_id), self.key("job", job_id))
                pipe.zadd(self.key("jobs"), {job_id: due})
                moved += 1
            pipe.zrem(old_queue, job_id)
            pipe.execute()
        for raw in self.redis.lrange(self.keys("jobs-dead"), 0, DEAD_KEPT - 1)[::-1]:
            self.redis.lpush(self.key("jobs-dead"), raw)
        self.redis.ltrim(self.key("jobs-dead"), 0, DEAD_KEPT - 1)
        dropped = int(self.redis.get(self.keys("jobs-dropped")) or 0)
        if dropped:
            self.redis.incrby(self.key("jobs-dropped"), dropped)
        self.redis.delete(self.keys("jobs-dead"), self.keys("jobs-dropped"), self.keys("jobs-wake"))
        if moved:
            logger.warning("%d job(s) queued by an earlier version moved to the queue's new keys", moved)
        return moved

    def handle(self, name: str, handler: Callable[[dict], None]) -> None:
        self.handlers[name] = handler

    def every(self, name: str, seconds: int) -> None:
        """Queue the job ``name`` (with an empty payload) once every ``seconds``, from the worker."""
        self.periodic[name] = seconds

    def queue_periodic(self) -> int:
        """Queue each periodic job whose interval is over (once across all workers); how many."""
        queued = 0
        for name, seconds in self.periodic.items():
            if self.redis.set(self.keys("periodic", name), int(time.time()), nx=True, ex=seconds):
                self.enqueue(name, {}, expires_at=int(time.time()) + seconds)
                queued += 1
        return queued

    def enqueue(self, name: str, payload: dict, expires_at: int | None = None, delay: float = 0) -> str | None:
        """Queue a job; its id, or None when the queue is full and the job was dropped (recorded)."""
        job_id = secrets.token_hex(12)
        now = int(time.time())
        fields = {"name": name, "payload": json.dumps(payload), "attempts": 0, "created": now}
        if expires_at:
            fields["expires_at"] = int(expires_at)
        dropped = json.dumps({"id": job_id, "name": name, "attempts": 0, "reason": "queue full", "dropped": now})
        queued = self._enqueue(
            keys=[self.key("jobs"), self.key("job", job_id), self.key("jobs-wake"), self.key("jobs-dead"),
                  self.key("jobs-dropped")],
            args=[self.max_jobs, time.time() + delay, dropped, DEAD_KEPT, job_id,
                  *(item for pair in fields.items() for item in pair)])
        if not queued:
            logger.warning("job %s (%s) dropped: the queue holds IDP_JOBS_MAX=%d jobs", job_id, name, self.max_jobs)
            return None
        return job_id

    def pending(self) -> int:
        return int(self.redis.zcard(self.key("jobs")))

    def stats(self) -> dict:
        """What ``idp jobs stats`` shows: jobs due now, jobs waiting (a retry's back-off, a delay, or
        a worker's lease), the ceiling, jobs dropped because the queue was full, and the dead kept."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcount(self.key("jobs"), "-inf", now)
        pipe.zcard(self.key("jobs"))
        pipe.get(self.key("jobs-dropped"))
        pipe.llen(self.key("jobs-dead"))
        due, pending, dropped, dead = pipe.execute()
        return {"pending": int(pending), "due": int(due), "waiting": int(pending) - int(due),
                "max": self.max_jobs, "dropped": int(dropped or 0), "dead": int(dead)}

    def dead(self) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.key("jobs-dead"), 0, -1)]

    def claim(self, lease: float = LEASE) -> tuple[str, dict] | None:
        now = time.time()
        job_id = self._claim(keys=[self.key("jobs")], args=[now, now + lease])
        if not job_id:
            return None
        job = self.redis.hgetall(self.key("job", job_id))
        if not job:  # finished by a worker whose lease had run out
            self.redis.zrem(self.key("jobs"), job_id)
            return None
        return job_id, job

    def done(self, job_id: str, name: str | None = None) -> None:
        pipe = self.redis.pipeline(transaction=True)  # one slot: the queue's
        pipe.delete(self.key("job", job_id))
        pipe.zrem(self.key("jobs"), job_id)
        pipe.execute()
        self.count(name, "sent" if name == "mail.deliver" else "done")

    def count(self, name: str | None, outcome: str) -> None:
        """The deployment's counters that ``/metrics`` shows (mails sent, failed, dead)."""
        if name:
            self.redis.hincrby(self.keys("metrics"), f"job:{name}:{outcome}", 1)

    def retry(self, job_id: str, attempts: int) -> float:
        delay = min(2 ** (attempts - 1), MAX_BACKOFF) * random.uniform(0.8, 1.2)  # noqa: S311 - jitter
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key("job", job_id), "attempts", attempts)
        pipe.zadd(self.key("jobs"), {job_id: time.time() + delay}, xx=True)
        pipe.execute()
        return delay

    def failed(self, job_id: str, job: dict, attempts: int) -> float:
        """A failed attempt: retried after a back-off; the delay."""
        delay = self.retry(job_id, attempts)
        self.count(job.get("name"), "failed")
        return delay

    def drop(self, job_id: str, job: dict, reason: str) -> None:
        record = {"id": job_id, "name": job.get("name"), "attempts": int(job.get("attempts", 0)),
                  "reason": reason, "dropped": int(time.time())}
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(self.key("jobs-dead"), json.dumps(record))
        pipe.ltrim(self.key("jobs-dead"), 0, DEAD_KEPT - 1)
        pipe.delete(self.key("job", job_id))
        pipe.zrem(self.key("jobs"), job_id)
        pipe.execute()
        self.count(job.get("name"), "dead")
        logger.warning("job %s (%s) dropped: %s", job_id, job.get("name"), reason)

    def wait_for_work(self, timeout: float) -> None:
        """Sleep until a job is queued or ``timeout`` passes."""
        self.redis.blpop([self.key("jobs-wake")], timeout=max(1, round(timeout)))


def jobs() -> Jobs:
    return current_app.extensions["idp.jobs"]


class Worker:
    """Runs the queue's jobs inside ``app``: in a thread for ``idp serve``, or ``idp mail worker``."""

    def __init__(self, app: Flask, lease: float | None = None):
        self.app = app
        self.queue: Jobs = app.extensions["idp.jobs"]
        self.lease = lease if lease is not None else app.config.get("IDP_JOBS_LEASE", LEASE)
        self.stopping = threading.Event()

    def run_once(self) -> bool:
        """Run the earliest due job, if any; True when one was run (whatever its outcome)."""
        claimed = self.queue.claim(self.lease)
        if claimed is None:
            return False
        job_id, job = claimed
        attempts = int(job.get("attempts", 0)) + 1
        if job.get("expires_at") and int(job["expires_at"]) <= time.time():  # nobody tried: attempts stay
            self.queue.drop(job_id, job, "expired before it could run")
            return True
        handler = self.queue.handlers.get(job["name"])
        try:
            if handler is None:
                raise LookupError(f"no handler for {job['name']!r} in this process")
            with self.app.test_request_context("/", base_url=self.app.config["IDP_ISSUER"]):
                handler(json.loads(job["payload"]))
        except PermanentFailure as error:
            self.queue.drop(job_id, {**job, "attempts": attempts}, str(error))
        except Exception as error:
            delay = self.queue.failed(job_id, job, attempts)
            logger.warning("job %s (%s) failed, attempt %d, next in %.0f s: %s: %s",
                           job_id, job["name"], attempts, delay, type(error).__name__, error)
        else:
            self.queue.done(job_id, job["name"])
        return True

    def drain(self, timeout: float = 30) -> int:
        """Run jobs until none is left (waiting out retries) or ``timeout`` passes; how many ran."""
        ran = 0
        deadline = time.monotonic() + timeout
        while self.queue.pending() and time.monotonic() < deadline:
            if self.run_once():
                ran += 1
            else:
                time.sleep(0.05)
        return ran

    def run_forever(self, poll: float = 1.0) -> None:
        adopted = False
        while not self.stopping.is_set():
            try:
                if not adopted:
                    self.queue.adopt_legacy()
                    adopted = True
                self.queue.queue_periodic()
                if not self.run_once():
                    self.queue.wait_for_work(poll)
            except redis.RedisError as error:
                logger.warning("job queue unreachable, retrying: %s", error)
                self.stopping.wait(poll)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="idp-jobs", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopping.set()


def init_app(app: Flask, client: redis.Redis, keys) -> None:
    app.extensions["idp.jobs"] = Jobs(client, keys, app.config["IDP_JOBS_MAX"])
