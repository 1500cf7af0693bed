"""What production refuses or puts right at start: a plain-http issuer off the host itself, and an
instance folder (database, keys, secret, embedded Redis) that others could read."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from idp import config, create_app
from idp.config import ConfigError
from idp.redis_store import stop_embedded


def production(tmp_path, issuer: str, env: str = "production") -> dict:
    return config.load({"IDP_INSTANCE_DIR": str(tmp_path), "IDP_ENV": env, "IDP_ISSUER": issuer}, environ={})


@pytest.mark.parametrize("issuer", ["http://sesame.example.fr", "http://10.0.0.5:8000", "http://localhost.evil.fr",
                                    "http://0.0.0.0:8000"])
def test_production_refuses_a_plain_http_issuer_off_loopback(tmp_path, issuer):
    with pytest.raises(ConfigError, match=r"^IDP_ISSUER: production needs an https:// issuer"):
        production(tmp_path, issuer)


@pytest.mark.parametrize("issuer", ["https://sesame.example.fr", "http://localhost:5000", "http://127.0.0.1:8000",
                                    "http://127.8.9.10", "http://[::1]:5000"])
def test_production_accepts_https_and_the_host_itself(tmp_path, issuer):
    assert production(tmp_path, issuer)["IDP_ISSUER"] == issuer


@pytest.mark.parametrize("env", ["development", "testing"])
def test_outside_production_a_plain_http_issuer_is_allowed(tmp_path, env):
    assert production(tmp_path, "http://sesame.example.fr", env)["IDP_ISSUER"] == "http://sesame.example.fr"


def modes(folder: Path) -> dict[str, int]:
    """Mode of every folder and regular file under ``folder`` (sockets aside), by relative path."""
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        if path.is_dir() or path.is_file():
            found[str(path.relative_to(folder))] = stat.S_IMODE(path.stat().st_mode)
    return found


def test_an_existing_instance_folder_is_made_private_at_start(tmp_path):
    """An operator made the folder with a loose umask and copied an old database and Redis files in."""
    folder = tmp_path / "instance"
    (folder / "redis").mkdir(parents=True)
    os.chmod(folder, 0o755)  # noqa: S103 - the loose folder we put right
    os.chmod(folder / "redis", 0o755)  # noqa: S103
    for name in ("idp.sqlite3", "redis/old-appendonly.aof", "notes.txt"):
        (folder / name).write_text("")
        os.chmod(folder / name, 0o644)
    old_umask = os.umask(0o022)
    try:
        app = create_app({"IDP_INSTANCE_DIR": str(folder), "IDP_ENV": "testing"})  # embedded Redis, SQLite inside
    finally:
        os.umask(old_umask)
    try:
        assert app.test_client().get("/readyz").status_code == 200
        found = modes(folder)
        assert {"idp.sqlite3", "secret_key", "jwks.private.json", "redis/redis.conf", "redis/redis.pid",
                "redis/redis.log", "redis/old-appendonly.aof", "notes.txt"} <= set(found)
        loose = {path: oct(mode) for path, mode in found.items()
                 if mode != (0o700 if (folder / path).is_dir() else 0o600)}
        assert loose == {}
    finally:
        app.extensions["idp.engine"].dispose()
        stop_embedded(folder)


def test_the_embedded_redis_writes_its_later_files_for_its_owner_only(tmp_path):
    """Files Redis makes after the start (a rewritten append-only file) are private too: its umask."""
    folder = tmp_path / "instance"
    old_umask = os.umask(0o022)
    try:
        app = create_app({"IDP_INSTANCE_DIR": str(folder), "IDP_ENV": "testing"})
    finally:
        os.umask(old_umask)
    try:
        embedded = app.extensions["idp"].redis
        aof = folder / "redis" / "appendonly.aof"
        first = aof.stat().st_ino
        embedded.bgrewriteaof()  # writes a new file and renames it over the old one
        deadline = time.monotonic() + 10
        while aof.stat().st_ino == first or embedded.info("persistence")["aof_rewrite_in_progress"]:
            assert time.monotonic() < deadline, "the append-only file was not rewritten"
            time.sleep(0.05)
        assert oct(stat.S_IMODE(aof.stat().st_mode)) == oct(0o600)
    finally:
        app.extensions["idp.engine"].dispose()
        stop_embedded(folder)
