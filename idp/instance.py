"""The instance folder: created on first start, holding what must never be committed (the
database, the keys, the secret, the embedded Redis).  Only its owner may enter it (0700) or read
anything in it (0600), whoever made the folder and whatever the umask: :func:`make_private`
puts that right at every start."""

from __future__ import annotations

import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def ensure_dir(path: str | Path) -> Path:
    """The folder, made if missing; owner only, even when it already existed."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    folder.chmod(PRIVATE_DIR)
    return folder


def make_private(instance_dir: str | Path) -> None:
    """Owner only, for the folder, its sub-folders and every file in them (sockets keep Redis's own mode)."""
    for folder, subfolders, files in os.walk(instance_dir):
        Path(folder).chmod(PRIVATE_DIR)
        for name in files:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                path.chmod(PRIVATE_FILE)
        subfolders[:] = [name for name in subfolders if not (Path(folder) / name).is_symlink()]


@contextmanager
def locked(instance_dir: str | Path, name: str = "start") -> Iterator[None]:
    """Serialise first-start work between processes (gunicorn workers) on one host."""
    lock_path = ensure_dir(instance_dir) / f".{name}.lock"
    with os.fdopen(os.open(lock_path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_private(path: str | Path, text: str) -> None:
    """Write a secret file readable by its owner only, atomically."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def secret_key(instance_dir: str | Path) -> str:
    """The Flask secret kept in the instance folder, made on first use."""
    path = Path(instance_dir) / "secret_key"
    if not path.exists():
        write_private(path, secrets.token_urlsafe(48))
    return path.read_text().strip()
