"""The instance folder: created on first start, holding what must never be committed."""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def ensure_dir(path: str | Path) -> Path:
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


@contextmanager
def locked(instance_dir: str | Path, name: str = "start") -> Iterator[None]:
    """Serialise first-start work between processes (gunicorn workers) on one host."""
    lock_path = ensure_dir(instance_dir) / f".{name}.lock"
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_private(path: str | Path, text: str) -> None:
    """Write a secret file readable by its owner only, atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def secret_key(instance_dir: str | Path) -> str:
    """The Flask secret kept in the instance folder, made on first use."""
    path = Path(instance_dir) / "secret_key"
    if not path.exists():
        write_private(path, secrets.token_urlsafe(48))
    return path.read_text().strip()
