"""Resource servers: the regional APIs that accept our access tokens (issue 15).

A resource is registered with an identifier (an absolute URI, RFC 8707 §2), its own scopes, and
how its tokens are signed and how long they live.  Its scope names are unique across resources
and never the provider's own, so a scope names one resource.  It gets a client of its own, with no
grant, whose credentials it uses at the introspection endpoint: there it sees only the tokens whose
``aud`` is its identifier.

An access token is for one audience (``target``):
- ``resource=<identifier>`` on the token request (or the one resource the authorization named):
  ``aud`` is that identifier and ``scope`` holds only the granted scopes of that resource;
- no ``resource``, and every scope granted is one resource's: that resource;
- otherwise the token is for the provider itself (userinfo), with the provider's scopes only: a
  service that also asked for an API's scopes asks for that API's token with ``resource``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlparse

from authlib.oauth2.rfc6749 import InvalidScopeError, OAuth2Error
from sqlalchemy import select
from sqlalchemy.orm import Session

from .clients import ACCESS_TOKEN_ALGS, new_client_id
from .models import Client, Resource, hash_client_secret

PROVIDER_SCOPES = ("openid", "profile", "email", "address", "phone", "idp:admin")
SCOPE_NAME = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,64}")  # RFC 6749 §3.3's scope-token, capped
MAX_SCOPES = 50


class ResourceError(ValueError):
    """Why a resource cannot be registered, in one line."""


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the resource asked for is unknown, or not one this grant may reach."""

    error = "invalid_target"


@dataclass(frozen=True)
class Target:
    """Whom an access token is for: a resource (its identifier, the token's scope, algorithm and
    lifetime), or the provider itself (``identifier`` None)."""

    identifier: str | None
    scope: str
    alg: str | None = None
    ttl: int | None = None


def check_identifier(identifier: str) -> str:
    parsed = urlparse(identifier)
    if parsed.scheme not in ("https", "http") or not parsed.netloc or parsed.fragment or "#" in identifier:
        raise ResourceError(f"the identifier is an absolute http(s) URI without a fragment (RFC 8707), "
                            f"got {identifier!r}")
    if parsed.scheme == "http" and parsed.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise ResourceError("the identifier is an https:// URI (http only on a loopback host)")
    if len(identifier) > 500:
        raise ResourceError("the identifier is 500 characters at most")
    return identifier


def parse_descriptions(pairs: tuple[str, ...] | list[str], scopes: list[str]) -> dict[str, str]:
    """``--scope-description "payments:read=Voir vos paiements"``, each for a scope of the resource."""
    descriptions = {}
    for pair in pairs:
        scope, sep, text = pair.partition("=")
        if not sep or scope not in scopes or not text.strip():
            raise ResourceError(f"a description is <one of the resource's scopes>=<text>, got {pair!r}")
        descriptions[scope] = text.strip()[:200]
    return descriptions


def add(db: Session, *, identifier: str, scope: str, name: str | None = None, descriptions=(),
        access_token_alg: str = "RS256", access_token_ttl: int | None = None,
        private: bool = False) -> tuple[Resource, str]:
    """Register a resource and the client it introspects with; (the resource, that client's secret)."""
    check_identifier(identifier)
    scopes = list(dict.fromkeys(scope.split()))
    if not scopes or len(scopes) > MAX_SCOPES:
        raise ResourceError(f"a resource has 1 to {MAX_SCOPES} scopes")
    for name_ in scopes:
        if not SCOPE_NAME.fullmatch(name_):
            raise ResourceError(f"a scope is 1 to 64 printable characters without quotes or backslashes, "
                                f"got {name_!r}")
        if name_ in PROVIDER_SCOPES:
            raise ResourceError(f"{name_!r} is the provider's own scope")
    taken = scope_owners(db, scopes)
    if taken:
        first = next(iter(taken))
        raise ResourceError(f"the scope {first!r} already belongs to {taken[first].identifier}")
    if access_token_alg not in ACCESS_TOKEN_ALGS:
        raise ResourceError(f"access tokens are signed with RS256 or ES256, not {access_token_alg!r}")
    if access_token_ttl is not None and not 30 <= access_token_ttl <= 86400:
        raise ResourceError("the access tokens' lifetime is 30 to 86400 seconds")
    if db.get(Resource, identifier) is not None:
        raise ResourceError(f"a resource {identifier} already exists")
    label = (name or urlparse(identifier).hostname or identifier)[:100]
    secret = secrets.token_urlsafe(32)
    client = Client(client_id=new_client_id(), name=f"{label} (introspection)"[:100],
                    secret_hash=hash_client_secret(secret), grant_types=[], scope="", redirect_uris=[],
                    post_logout_redirect_uris=[])
    resource = Resource(identifier=identifier, name=label, scopes=scopes,
                        scope_descriptions=parse_descriptions(descriptions, scopes),
                        access_token_alg=access_token_alg, access_token_ttl=access_token_ttl, private=private,
                        client_id=client.client_id)
    db.add(client)
    db.flush()
    db.add(resource)
    db.commit()
    return resource, secret


def listed(db: Session) -> list[Resource]:
    return list(db.scalars(select(Resource).order_by(Resource.created_at, Resource.identifier)))


def remove(db: Session, identifier: str) -> bool:
    """Remove a resource and its introspection client; False when there is none."""
    resource = db.get(Resource, identifier)
    if resource is None:
        return False
    client = db.get(Client, resource.client_id)
    db.delete(resource)
    db.flush()  # the resource first: its client's row is what the resource points to
    if client is not None:
        db.delete(client)
    db.commit()
    return True


def scope_owners(db: Session, scopes) -> dict[str, Resource]:
    """The resource each of these scopes belongs to (the provider's scopes and unknown ones left out)."""
    wanted = {scope for scope in scopes if scope not in PROVIDER_SCOPES}
    if not wanted:
        return {}
    return {scope: resource for resource in listed(db) for scope in resource.scopes if scope in wanted}


def unknown_scopes(db: Session, scopes) -> list[str]:
    """The scopes neither the provider nor any resource has."""
    owners = scope_owners(db, scopes)
    return [scope for scope in scopes if scope not in PROVIDER_SCOPES and scope not in owners]


def public_scopes(db: Session) -> list[str]:
    """The resources' scopes that discovery lists (a private resource's are left out)."""
    return [scope for resource in listed(db) if not resource.private for scope in resource.scopes]


def of_client(db: Session, client_id: str) -> Resource | None:
    """The resource that introspects with this client, if it is one."""
    return db.scalar(select(Resource).where(Resource.client_id == client_id))


def check_requested(db: Session, identifiers: list[str]) -> list[str]:
    """The ``resource`` values of an authorization request, each a registered resource."""
    for identifier in identifiers:
        if len(identifier) > 500 or db.get(Resource, identifier) is None:
            raise InvalidTargetError("A resource named is not registered here.")  # nothing echoed (RFC 6749 §5.2)
    return list(dict.fromkeys(identifiers))


def target(db: Session, asked: list[str], granted: str, authorized: list[str] | None) -> Target:
    """Whom the access token of a token request is for (see the module's docstring)."""
    scopes = granted.split()
    if len(asked) > 1:
        raise InvalidTargetError("Ask for one resource at a time.")
    if asked:
        resource = db.get(Resource, asked[0]) if len(asked[0]) <= 500 else None
        if resource is None:
            raise InvalidTargetError("The resource named is not registered here.")
        if authorized and resource.identifier not in authorized:
            raise InvalidTargetError("This resource was not named when access was granted.")
        return _for(resource, scopes)
    owners = scope_owners(db, scopes)
    named = {owners[scope].identifier: owners[scope] for scope in scopes if scope in owners}
    if authorized and len(authorized) == 1 and authorized[0] in named:
        return _for(named[authorized[0]], scopes)
    if len(named) == 1 and len(owners) == len(scopes):
        return _for(next(iter(named.values())), scopes)
    own = [scope for scope in scopes if scope in PROVIDER_SCOPES]
    if named and not own:
        raise InvalidTargetError("These scopes are of several resources: ask for one with resource=.")
    return Target(None, " ".join(own))


def _for(resource: Resource, scopes: list[str]) -> Target:
    mine = [scope for scope in scopes if scope in resource.scopes]
    if not mine:
        raise InvalidScopeError("None of the scopes granted is of the resource named.")
    return Target(resource.identifier, " ".join(mine), resource.access_token_alg, resource.access_token_ttl)
