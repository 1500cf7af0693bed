"""Registering relying parties: one path for the CLI, the demo and the tests."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlparse

from sqlalchemy.orm import Session

from .models import Client, hash_client_secret

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")
ACCESS_TOKEN_ALGS = ("RS256", "ES256")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")  # and "none": --public
PROFILES = ("fapi2",)
FAPI2_ID_TOKEN_ALGS = ("ES256",)
HOST = re.compile(r"[a-z0-9.-]+")  # a name or IPv4 address; urlparse lowers the case of hostname


class ClientSpecError(ValueError):
    """A client registration that cannot work; the message says why."""


def check(*, redirect_uris, post_logout_redirect_uris=(), backchannel_logout_uri=None, public=False,
          grant_types=DEFAULT_GRANT_TYPES, subject_type="public", client_uri=None, logo_uri=None,
          policy_uri=None) -> None:
    _check_pages(client_uri=client_uri, logo_uri=logo_uri, policy_uri=policy_uri)
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


def _check_pages(*, client_uri, logo_uri, policy_uri) -> None:
    """What the login page links to or shows: web pages only (no ``javascript:``), and a logo only
    over https, so the page the citizen types a password into loads nothing in clear."""
    for option, uri in (("--client-uri", client_uri), ("--policy-uri", policy_uri)):
        if uri is not None and not web_page(uri, ("http", "https")):
            raise ClientSpecError(f"{option} {uri!r} must be an absolute http(s) URL")
    if logo_uri is not None and not web_page(logo_uri, ("https",)) and not theme_file_path(logo_uri):
        raise ClientSpecError(f"--logo-uri {logo_uri!r} must be an absolute https URL, "
                              f"or /theme/<file> for a file of the theme's static/ folder")


THEME_FILE = re.compile(r"/theme/(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}/){0,4}[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


def theme_file_path(uri: str) -> bool:
    """Whether ``uri`` names a file of the theme (``/theme/logos/cantine.svg``): plain names only,
    no ``..``, no hidden file, no query; whether the file exists is checked when it is shown."""
    return THEME_FILE.fullmatch(uri) is not None


def web_page(uri: str, schemes: tuple[str, ...]) -> bool:
    """Whether ``uri`` is an absolute URL of one of ``schemes`` with a plain host name (what a
    CSP source is built from) and nothing a citizen's browser would read otherwise: no user name,
    spaces, quotes or control characters."""
    parsed = urlparse(uri)
    try:
        parsed.port  # noqa: B018 -- raises on a port that is not a number
    except ValueError:
        return False
    return (parsed.scheme in schemes and HOST.fullmatch(parsed.hostname or "") is not None and not parsed.username
            and not any(c.isspace() or c in "\"'<>`\\" or ord(c) < 0x20 or ord(c) == 0x7f for c in uri)
            and len(uri) <= 500)


def new_client_id() -> str:
    """144 random bits, URL-safe, never starting with '-' (``idp clients remove ID`` would read an option)."""
    while (client_id := secrets.token_urlsafe(18)).startswith("-"):
        pass
    return client_id


def check_scope(db: Session, scope: str) -> str:
    """The scope a client may be given: the provider's scopes and the registered resources'."""
    from .resources import unknown_scopes  # resources registers clients of its own

    unknown = unknown_scopes(db, scope.split())
    if unknown:
        raise ClientSpecError(f"unknown scope {unknown[0]!r}: neither the provider's nor a registered resource's "
                              f"(idp resources add)")
    return " ".join(dict.fromkeys(scope.split()))


def update_scope(db: Session, client: Client, scope: str) -> None:
    client.scope = check_scope(db, scope)
    db.commit()


def register(db: Session, *, name: str, redirect_uris=(), post_logout_redirect_uris=(),
             backchannel_logout_uri: str | None = None, public: bool = False, scope: str = "openid profile email",
             grant_types=DEFAULT_GRANT_TYPES, id_token_alg: str = "RS256", subject_type: str = "public",
             client_id: str | None = None, client_uri: str | None = None, logo_uri: str | None = None,
             policy_uri: str | None = None, access_token_alg: str = "RS256",
             userinfo_alg: str | None = None, auth_method: str | None = None, jwks: dict | None = None,
             jwks_uri: str | None = None, profile: str | None = None) -> tuple[Client, str | None]:
    """Create a client; return it with its secret (None for a public client or one with keys), shown once.

    ``profile="fapi2"``: the FAPI 2.0 Security Profile: keys (``jwks`` or ``jwks_uri``) and
    ``private_key_jwt``, ES256 ID tokens, no public client."""
    check(redirect_uris=redirect_uris, post_logout_redirect_uris=post_logout_redirect_uris,
          backchannel_logout_uri=backchannel_logout_uri, public=public, grant_types=grant_types,
          subject_type=subject_type, client_uri=client_uri, logo_uri=logo_uri, policy_uri=policy_uri)
    auth_method = _auth_method(public, auth_method, jwks, jwks_uri, profile)
    if profile == "fapi2" and id_token_alg not in FAPI2_ID_TOKEN_ALGS:
        id_token_alg = "ES256"  # FAPI 2.0 forbids RS256
    if access_token_alg not in ACCESS_TOKEN_ALGS:
        raise ClientSpecError(f"access tokens are signed with RS256 or ES256, not {access_token_alg!r}")
    if userinfo_alg not in (None, *ACCESS_TOKEN_ALGS):
        raise ClientSpecError(f"the userinfo is signed with RS256 or ES256, not {userinfo_alg!r}")
    check_scope(db, scope)
    secret = None if auth_method in ("none", "private_key_jwt") else secrets.token_urlsafe(32)
    client = Client(
        client_id=client_id or new_client_id(), name=name,
        secret_hash=hash_client_secret(secret) if secret else None,
        redirect_uris=list(redirect_uris), post_logout_redirect_uris=list(post_logout_redirect_uris),
        backchannel_logout_uri=backchannel_logout_uri, grant_types=list(grant_types), scope=scope,
        token_endpoint_auth_method=auth_method, jwks=jwks, jwks_uri=jwks_uri, profile=profile,
        id_token_signed_response_alg=id_token_alg, access_token_alg=access_token_alg, subject_type=subject_type,
        client_uri=client_uri, logo_uri=logo_uri, policy_uri=policy_uri, userinfo_signed_response_alg=userinfo_alg,
    )
    db.add(client)
    db.commit()
    return client, secret


def _auth_method(public: bool, auth_method: str | None, jwks: dict | None, jwks_uri: str | None,
                 profile: str | None) -> str:
    """How the client will authenticate, checked against its keys and profile."""
    from .oidc.client_auth import parse_jwks

    if profile not in (None, *PROFILES):
        raise ClientSpecError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    if profile == "fapi2":
        if public:
            raise ClientSpecError("a fapi2 client is confidential: it cannot be --public")
        if auth_method not in (None, "private_key_jwt"):
            raise ClientSpecError("a fapi2 client authenticates with private_key_jwt")
        auth_method = "private_key_jwt"
    if public:
        if auth_method not in (None, "none") or jwks or jwks_uri:
            raise ClientSpecError("a --public client has no secret and no keys")
        return "none"
    auth_method = auth_method or ("private_key_jwt" if jwks or jwks_uri else "client_secret_basic")
    if auth_method not in AUTH_METHODS:
        raise ClientSpecError(f"unknown token endpoint auth method {auth_method!r}")
    if auth_method == "private_key_jwt":
        if bool(jwks) == bool(jwks_uri):
            raise ClientSpecError("private_key_jwt needs the client's keys: --jwks-file or --jwks-uri, one of them")
        if jwks_uri and not web_page(jwks_uri, ("https", "http")):
            raise ClientSpecError(f"--jwks-uri {jwks_uri!r} must be an absolute http(s) URL")
        if jwks:
            try:
                parse_jwks(jwks)
            except (ValueError, TypeError) as error:
                raise ClientSpecError(f"the JWKS cannot be used: {error}") from None
    elif jwks or jwks_uri:
        raise ClientSpecError("keys go with private_key_jwt only")
    return auth_method
