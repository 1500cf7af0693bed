"""Signing keys: a private JWKS file with one RS256 and one ES256 key in use.

``rotate`` adds new keys and retires the old ones; a retired key stays published
in ``/oauth/jwks`` until every token it signed has expired, then is pruned.  Each
process reloads the file when it changes, so gunicorn workers and ``idp keys
rotate`` agree without a restart.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, KeySet, RSAKey

from .instance import write_private

ALGORITHMS = ("RS256", "ES256")
_PUBLIC_MEMBERS = {"kty", "kid", "use", "alg", "n", "e", "crv", "x", "y"}


def _new_key(alg: str, now: int):
    parameters = {"alg": alg, "use": "sig", "iat": now}
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters=parameters, auto_kid=True)
    return ECKey.generate_key("P-256", parameters=parameters, auto_kid=True)


class SigningKeys:
    """The provider's key set, read from ``path`` and kept fresh by modification time."""

    def __init__(self, path: str | Path, retention: int):
        self.path = Path(path)
        self.retention = retention
        self._mtime: tuple | None = None
        self._keys: list[dict[str, Any]] = []
        self._imported: dict[str, Any] = {}  # kid -> joserfc key; importing an RSA key costs ~25 ms

    def ensure(self) -> None:
        """Create the file with one key per algorithm if it does not exist yet."""
        if not self.path.exists():
            now = int(time.time())
            keys = [_new_key(alg, now).as_dict(private=True) for alg in ALGORITHMS]
            write_private(self.path, json.dumps({"keys": keys}, indent=2))

    def _load(self) -> list[dict[str, Any]]:
        stat = os.stat(self.path)
        mtime = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if mtime != self._mtime:
            self._keys = json.loads(self.path.read_text())["keys"]
            self._imported = {key.kid: key for key in KeySet.import_key_set({"keys": self._keys}).keys}
            self._mtime = mtime
        return self._keys

    def version(self) -> tuple | None:
        """Changes whenever the key file does (a rotation, a key removed)."""
        self._load()
        return self._mtime

    def _published(self) -> list[dict[str, Any]]:
        now = time.time()
        return [k for k in self._load() if k.get("retired_at", now) + self.retention >= now]

    def public_jwks(self) -> dict:
        return {"keys": [{m: v for m, v in k.items() if m in _PUBLIC_MEMBERS} for k in self._published()]}

    def verification_keys(self) -> KeySet:
        return KeySet([self._imported[key["kid"]] for key in self._published()])

    def signing_key(self, alg: str):
        """The newest active key for ``alg``; tokens carry its ``kid``."""
        active = [k for k in self._load() if k["alg"] == alg and "retired_at" not in k]
        if not active:
            raise LookupError(f"no active {alg} signing key in {self.path}")
        newest = max(active, key=lambda k: k.get("iat", 0))
        return self._imported[newest["kid"]]

    def rotate(self) -> dict[str, list[str]]:
        """Start signing with new keys; keep the old ones published for ``retention`` seconds."""
        now = int(time.time())
        keys = json.loads(self.path.read_text())["keys"]
        retired, pruned = [], []
        kept = []
        for key in keys:
            if "retired_at" not in key:
                key["retired_at"] = now
                retired.append(key["kid"])
            if key["retired_at"] + self.retention < now:
                pruned.append(key["kid"])
                continue
            kept.append(key)
        added = [_new_key(alg, now).as_dict(private=True) for alg in ALGORITHMS]
        write_private(self.path, json.dumps({"keys": kept + added}, indent=2))
        return {"added": [k["kid"] for k in added], "retired": retired, "pruned": pruned}
