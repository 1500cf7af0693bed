"""Upstream OpenID Connect providers (FranceConnect, or any provider set up like it): Sésame is
their relying party, so that a citizen can sign in with an identity the State has verified.

This module keeps their registration (``idp upstreams add|list|remove``, the ``upstreams`` table)
and reads what each one publishes: its discovery document, checked against the issuer it was
registered with (OpenID Connect Discovery 1.0, §4.3), and its signing keys.  Both are kept in the
process; the keys are fetched again when a token names a key id they do not hold (the provider
rotated its keys), at most once every ``KEYS_REFETCH_EVERY`` seconds, so that tokens naming made-up
key ids cannot make Sésame hammer the provider.
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

import requests
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Upstream

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
STYLES = ("franceconnect", "plain")
DEFAULT_SCOPE = "openid given_name family_name birthdate email"
FETCH_TIMEOUT = 5  # seconds: a citizen waits on it
DOCUMENT_MAX = 512 * 1024  # bytes: a discovery document or a JWKS is a few kilobytes
DISCOVERY_TTL = 3600  # seconds a discovery document is kept
KEYS_REFETCH_EVERY = 10  # seconds, at least, between two fetches of one provider's keys


class UpstreamError(Exception):
    """What is wrong with an upstream or what it answered, in one sentence (for the log, the CLI)."""


def check_issuer(issuer: str) -> str:
    """An issuer is an https URL without query or fragment (plain http only on this machine, for
    tests and a local provider); returned without a trailing slash."""
    parsed = urlparse(issuer)
    if parsed.query or parsed.fragment or not parsed.hostname:
        raise UpstreamError(f"the issuer must be an https:// URL without query or fragment, got {issuer!r}")
    if parsed.scheme != "https" and not (parsed.scheme == "http" and _loopback(parsed.hostname)):
        raise UpstreamError(f"the issuer must be an https:// URL (http only on a loopback host), got {issuer!r}")
    return issuer.rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add(db: Session, *, name: str, issuer: str, client_id: str, client_secret: str, scope: str = DEFAULT_SCOPE,
        acr_values: str | None = None, label: str | None = None, style: str = "plain",
        verifies_identity: bool | None = None) -> Upstream:
    """Register an upstream; UpstreamError says what is wrong (nothing is stored then).
    ``verifies_identity`` (default: on for the franceconnect style) lets its identities recover a lost
    mailbox in self-service (idp/federated_recovery.py)."""
    if not NAME.fullmatch(name):
        raise UpstreamError(f"a name is 1 to 40 lower-case letters, digits and '-' (it is part of a URL), "
                            f"got {name!r}")
    if style not in STYLES:
        raise UpstreamError(f"the style is one of {', '.join(STYLES)}, got {style!r}")
    if "openid" not in scope.split():
        raise UpstreamError("the scope must include openid")
    if not client_id.strip() or not client_secret.strip():
        raise UpstreamError("the client id and the client secret must not be empty")
    if db.get(Upstream, name) is not None:
        raise UpstreamError(f"an upstream named {name!r} already exists")
    upstream = Upstream(name=name, issuer=check_issuer(issuer), client_id=client_id.strip(),
                        client_secret=client_secret.strip(), scope=" ".join(scope.split()),
                        acr_values=" ".join(acr_values.split()) if acr_values else None,
                        label=label or ("FranceConnect" if style == "franceconnect" else name), style=style,
                        verifies_identity=style == "franceconnect" if verifies_identity is None else verifies_identity)
    db.add(upstream)
    db.commit()
    return upstream


def listed(db: Session) -> list[Upstream]:
    return list(db.scalars(select(Upstream).order_by(Upstream.created_at, Upstream.name)))


def remove(db: Session, name: str) -> bool:
    upstream = db.get(Upstream, name)
    if upstream is None:
        return False
    db.delete(upstream)
    db.commit()
    return True


def redirect_uris(issuer: str, name: str) -> dict[str, str]:
    """What to register at the upstream for ``name``: where it sends the citizen back, after a sign-in
    and after a sign-out."""
    base = f"{issuer.rstrip('/')}/federation/{name}"
    return {"redirect_uri": f"{base}/callback", "post_logout_redirect_uri": f"{base}/logged-out"}


def fetch_json(url: str) -> dict:
    """GET a JSON document of an upstream: bounded in time and size; UpstreamError otherwise."""
    try:
        with requests.get(url, timeout=FETCH_TIMEOUT, stream=True, allow_redirects=False,
                          headers={"Accept": "application/json"}) as answer:
            if answer.status_code != 200:
                raise UpstreamError(f"{url} answered {answer.status_code}")
            body = answer.raw.read(DOCUMENT_MAX + 1, decode_content=True)
    except requests.RequestException as error:
        raise UpstreamError(f"{url} could not be reached ({type(error).__name__})") from None
    if len(body) > DOCUMENT_MAX:
        raise UpstreamError(f"{url} sent more than {DOCUMENT_MAX} bytes")
    try:
        document = json.loads(body)
    except ValueError:
        raise UpstreamError(f"{url} did not send JSON") from None
    if not isinstance(document, dict):
        raise UpstreamError(f"{url} did not send a JSON object")
    return document


@dataclass
class _Known:
    discovery: dict | None = None
    discovered_at: float = 0.0
    keys: KeySet | None = None
    keys_at: float = float("-inf")
    lock: threading.RLock = field(default_factory=threading.RLock)  # key() asks discovery()


class Metadata:
    """The discovery documents and keys of the upstreams, kept in this process."""

    def __init__(self, fetch=fetch_json, clock=time.monotonic):
        self._fetch = fetch
        self._clock = clock
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def _entry(self, issuer: str) -> _Known:
        with self._lock:
            return self._known.setdefault(issuer, _Known())

    def discovery(self, issuer: str) -> dict:
        """The provider's discovery document, fetched at most once an hour."""
        known = self._entry(issuer)
        with known.lock:
            if known.discovery is None or self._clock() - known.discovered_at > DISCOVERY_TTL:
                document = self._fetch(f"{issuer}/.well-known/openid-configuration")
                if document.get("issuer") != issuer:
                    raise UpstreamError(f"the discovery document of {issuer} names another issuer: "
                                        f"{document.get('issuer')!r}")
                for member in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                    if not isinstance(document.get(member), str):
                        raise UpstreamError(f"the discovery document of {issuer} has no {member}")
                known.discovery, known.discovered_at = document, self._clock()
            return known.discovery

    def key(self, issuer: str, kid: str | None):
        """The provider's key ``kid`` (its only key when ``kid`` is None); the keys are fetched again when
        ``kid`` is not among them, at most once every ``KEYS_REFETCH_EVERY`` seconds."""
        known = self._entry(issuer)
        with known.lock:
            found = _find(known.keys, kid)
            if found is None and self._clock() - known.keys_at >= KEYS_REFETCH_EVERY:
                known.keys = self._keys(issuer)
                known.keys_at = self._clock()
                found = _find(known.keys, kid)
        if found is None:
            raise UpstreamError(f"{issuer} publishes no key {kid!r}")
        return found

    def _keys(self, issuer: str) -> KeySet:
        uri = self.discovery(issuer)["jwks_uri"]
        try:
            return KeySet.import_key_set(self._fetch(uri))
        except (ValueError, KeyError, TypeError) as error:
            raise UpstreamError(f"the keys at {uri} cannot be read ({type(error).__name__})") from None


def _find(keys: KeySet | None, kid: str | None):
    if keys is None:
        return None
    if kid is None:
        return keys.keys[0] if len(keys.keys) == 1 else None
    return next((key for key in keys.keys if key.kid == kid), None)


metadata = Metadata()  # the process's
