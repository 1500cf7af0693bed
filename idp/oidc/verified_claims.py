"""OpenID Connect for Identity Assurance 1.0: ``verified_claims`` for the relying parties that ask
for them with the ``claims`` parameter (issue 14, item 7).

Ordinary claims asked one by one in the same parameter (``{"userinfo": {"name": {"essential": true}}}``)
are kept the same way and released beyond the scopes, when the client is registered for the scope
that covers them (``claims.requested_claims``).

An account whose names and birth date FranceConnect verified (``User.identity_verified_by``) may
release them marked as verified::

    "verified_claims": {"verification": {"trust_framework": "eidas", "assurance_level": "low"},
                        "claims": {"given_name": "…", "family_name": "…", "birthdate": "…"}}

FranceConnect is notified under eIDAS at the level "low" (its identities come from the national
registers).  A provider of another style has no trust framework Sésame could name: its accounts
release the plain claims only.  The verified claims go only with the ``profile`` scope, whose
consent covers the names and birth date; the plain claims go as before, whoever asks.

The request is read at the authorization endpoint, kept with the code, and honoured in the ID
token of the code exchange and, for the access token issued with it, at userinfo (Redis
``verified-claims:<jti>``, as long as the token lives).  It is kept with the refresh token's family
too (Redis ``verified-claims-family:<family>``, as long as a refresh token lives), so that the
rotations' ID tokens and access tokens answer the same.
"""

from __future__ import annotations

import json

from ..db import session as db_session
from ..models import Upstream, User
from .claims import COVERED_BY

VERIFIABLE = ("given_name", "family_name", "birthdate", "birthplace", "birthcountry")
PLAIN = "claim:"  # marks a claim asked one by one (``{"userinfo": {"name": null}}``), kept with the verified ones
TARGETS = ("id_token", "userinfo")
MAX_REQUEST = 4096  # characters of the claims parameter


def requested(raw: str | None) -> dict[str, list[str]]:
    """The claims asked for in the ``claims`` parameter, per target: the verified ones by name, the
    ordinary ones (OpenID Connect Core §5.5.1) marked with ``PLAIN``; ValueError when the parameter is
    not the JSON object §5.5 describes."""
    if not raw:
        return {}
    if len(raw) > MAX_REQUEST:
        raise ValueError("the claims parameter is too long")
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise ValueError("the claims parameter is not JSON") from None
    if not isinstance(parsed, dict):
        raise ValueError("the claims parameter is not a JSON object")
    wanted = {}
    for target in TARGETS:
        member = parsed.get(target)
        if member is None:
            continue
        if not isinstance(member, dict):
            raise ValueError(f"claims.{target} is not a JSON object")
        names: set[str] = {PLAIN + name for name in member if name in COVERED_BY}
        asked = member.get("verified_claims")
        for item in [] if asked is None else asked if isinstance(asked, list) else [asked]:
            if not isinstance(item, dict) or not isinstance(item.get("claims"), dict):
                raise ValueError(f"claims.{target}.verified_claims needs a claims object")
            names |= {name for name in item["claims"] if name in VERIFIABLE}
        if names:
            wanted[target] = sorted(names)
    return wanted


def plain(names: list[str] | None) -> list[str]:
    """The ordinary claims among ``names`` (asked one by one, outside ``verified_claims``)."""
    return [name[len(PLAIN):] for name in names or () if name.startswith(PLAIN)]


def release(user: User, names: list[str] | None, scope: str) -> dict | None:
    """The ``verified_claims`` element for ``names``, or None when there is nothing verified to give."""
    if not names or not user.identity_verified_by or "profile" not in scope.split():
        return None
    upstream = db_session().get(Upstream, user.identity_verified_by)
    if upstream is None or upstream.style != "franceconnect":
        return None
    values = {"given_name": user.given_name, "family_name": user.family_name,
              "birthdate": user.birthdate.isoformat() if user.birthdate else None,
              "birthplace": user.birthplace, "birthcountry": user.birthcountry}
    claims = {name: values[name] for name in names if name in VERIFIABLE and values.get(name)}
    if not claims:
        return None
    return {"verification": {"trust_framework": "eidas", "assurance_level": "low"}, "claims": claims}


def remember_for_userinfo(redis, keys, jti: str, names: list[str], ttl: int) -> None:
    redis.set(keys("verified-claims", jti), json.dumps(names), ex=ttl)


def asked_at_userinfo(redis, keys, jti: str | None) -> list[str] | None:
    raw = redis.get(keys("verified-claims", jti)) if jti else None
    return json.loads(raw) if raw else None


def remember_for_family(redis, keys, family_id: str, asked: dict, ttl: int) -> None:
    redis.set(keys("verified-claims-family", family_id), json.dumps(asked), ex=ttl)


def asked_for_family(redis, keys, family_id: str | None) -> dict | None:
    raw = redis.get(keys("verified-claims-family", family_id)) if family_id else None
    return json.loads(raw) if raw else None
