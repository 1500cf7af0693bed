"""Registering relying parties: one path for the CLI, the demo and the tests."""

from __future__ import annotations

import secrets
from urllib.parse import urlparse

from sqlalchemy.orm import Session

from .models import Client, hash_client_secret

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")


class ClientSpecError(ValueError):
    """A client registration that cannot work; the message says why."""


def check(*, redirect_uris, post_logout_redirect_uris=(), backchannel_logout_uri=None, public=False,
          grant_types=DEFAULT_GRANT_TYPES, subject_type="public") -> None:
    extra = [backchannel_logout_uri] if backchannel_logout_uri else []
    for uri in (*redirect_uris, *post_logout_redirect_uris, *extra):
        parsed = urlparse(uri)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.fragment:
            raise ClientSpecError(f"{uri!r} must be an absolute http(s) URL without fragment")
    unknown = set(grant_types) - set(GRANT_TYPES)
    if unknown:
        raise ClientSpecError(f"unknown grant type {sorted(unknown)[0]!r}")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientSpecError("--redirect-uri is required with the authorization_code grant")
    if public and "client_credentials" in grant_types:
        raise ClientSpecError("a --public client cannot use client_credentials")
    if subject_type == "pairwise" and len({urlparse(u).hostname for u in redirect_uris}) > 1:
        raise ClientSpecError("a pairwise client's redirect URIs must share one host (its sector)")


def new_client_id() -> str:
    """144 random bits, URL-safe, never starting with '-' (``idp clients remove ID`` would read an option)."""
    while (client_id := secrets.token_urlsafe(18)).startswith("-"):
        pass
    return client_id


def register(db: Session, *, name: str, redirect_uris=(), post_logout_redirect_uris=(),
             backchannel_logout_uri: str | None = None, public: bool = False, scope: str = "openid profile email",
             grant_types=DEFAULT_GRANT_TYPES, id_token_alg: str = "RS256", subject_type: str = "public",
             client_id: str | None = None) -> tuple[Client, str | None]:
    """Create a client; return it with its secret (None for a public client), shown once."""
    check(redirect_uris=redirect_uris, post_logout_redirect_uris=post_logout_redirect_uris,
          backchannel_logout_uri=backchannel_logout_uri, public=public, grant_types=grant_types,
          subject_type=subject_type)
    secret = None if public else secrets.token_urlsafe(32)
    client = Client(
        client_id=client_id or new_client_id(), name=name,
        secret_hash=hash_client_secret(secret) if secret else None,
        redirect_uris=list(redirect_uris), post_logout_redirect_uris=list(post_logout_redirect_uris),
        backchannel_logout_uri=backchannel_logout_uri, grant_types=list(grant_types), scope=scope,
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        id_token_signed_response_alg=id_token_alg, subject_type=subject_type,
    )
    db.add(client)
    db.commit()
    return client, secret
