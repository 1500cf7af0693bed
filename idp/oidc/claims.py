"""The claims a relying party receives, by scope, under the subject it may see.

Every standard claim of OpenID Connect Core §5.4's scopes can be released, each only when the
account holds a value (a claim without one is left out, as §5.3.2 asks):

- what the citizen gives or the provider knows: names, birth date, identifier, addresses, phone;
- ``zoneinfo``, the provider's citizens' time zone (Europe/Paris), and ``locale``, the language
  the citizen last used here; ``phone_number_verified`` is false: no phone number is checked;
- ``ADMIN_SET`` (``middle_name``, ``nickname``, ``profile``, ``picture``, ``website``, ``gender``):
  never asked of citizens (a regional service needs none of them), set where a service does need
  one by the help desk through the admin API (``PATCH /admin/api/users/{user}`` with ``claims``).
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..db import session as db_session
from ..models import Client, PairwiseSubject, User, epoch

SCOPE_CLAIMS = {
    "profile": ("name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile",
                "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number", "phone_number_verified"),
}
ADMIN_SET = {"middle_name": 100, "nickname": 100, "profile": 500, "picture": 500, "website": 500, "gender": 32}
ADMIN_SET_URLS = ("profile", "picture", "website")
ZONEINFO = "Europe/Paris"
COVERED_BY = {claim: scope for scope, members in SCOPE_CLAIMS.items() for claim in members}


def subject_for(user: User, client: Client | None) -> str:
    """The user's `sub` as this client sees it: public, or pairwise per sector."""
    if client is None or client.subject_type != "pairwise":
        return user.sub
    db = db_session()
    sector = client.sector
    found = db.scalar(select(PairwiseSubject.sub).where(
        PairwiseSubject.sector == sector, PairwiseSubject.user_id == user.id))
    if found:
        return found
    db.add(PairwiseSubject(sector=sector, user_id=user.id, sub=secrets.token_urlsafe(32)))
    try:
        db.commit()
    except IntegrityError:  # another request made it first
        db.rollback()
    return subject_for(user, client)


def user_for_subject(sub: str, client: Client | None) -> User | None:
    db = db_session()
    if client is not None and client.subject_type == "pairwise":
        row = db.scalar(select(PairwiseSubject).where(
            PairwiseSubject.sector == client.sector, PairwiseSubject.sub == sub))
        return db.get(User, row.user_id) if row else None
    return db.scalar(select(User).where(User.sub == sub))


def _all_claims(user: User) -> dict:
    address = {
        key: value
        for key, value in (
            ("street_address", user.street_address),
            ("postal_code", user.postal_code),
            ("locality", user.locality),
            ("country", "FR" if (user.street_address or user.postal_code or user.locality) else None),
        )
        if value
    }
    return {
        "name": " ".join(filter(None, (user.given_name, user.family_name))) or None,  # what mod_auth_openidc shows
        "given_name": user.given_name,
        "family_name": user.family_name,
        "birthdate": user.birthdate.isoformat() if user.birthdate else None,
        "preferred_username": user.username,
        "updated_at": epoch(user.updated_at) if user.updated_at else None,
        "email": user.email,
        "email_verified": user.email_verified,
        "address": address or None,
        "phone_number": user.phone_number,
        "phone_number_verified": False if user.phone_number else None,  # never checked here
        "zoneinfo": ZONEINFO,
        "locale": user.locale,
        **{name: (user.profile_claims or {}).get(name) for name in ADMIN_SET},
    }


def user_claims(user: User, client: Client | None, scope: str) -> dict:
    """`sub` plus what each granted scope releases; empty values are left out."""
    scopes = set(scope.split())
    values = _all_claims(user)
    claims = {"sub": subject_for(user, client)}
    for name, members in SCOPE_CLAIMS.items():
        if name in scopes:
            claims.update({m: values[m] for m in members if values[m] is not None})
    return claims


def requested_claims(user: User, client: Client | None, names: list[str]) -> dict:
    """The claims asked one by one with the ``claims`` parameter (OpenID Connect Core §5.5), beyond the
    scopes: each only when the client is registered for the scope that covers it, and has a value."""
    values = _all_claims(user)
    allowed = set((client.get_allowed_scope(" ".join(SCOPE_CLAIMS)) if client is not None else "").split())
    return {name: values[name] for name in names
            if COVERED_BY.get(name) in allowed and values.get(name) is not None}


def check_admin_set(claims) -> dict:
    """The ``claims`` of an admin API PATCH, checked: ValueError says what is wrong.  A null removes one."""
    from ..clients import web_page

    if not isinstance(claims, dict) or not claims or not set(claims) <= set(ADMIN_SET):
        raise ValueError(f"claims is an object whose members are among {', '.join(ADMIN_SET)}")
    for name, value in claims.items():
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip() or len(value) > ADMIN_SET[name]:
            raise ValueError(f"claims.{name} is a string of 1 to {ADMIN_SET[name]} characters, or null")
        if name in ADMIN_SET_URLS and not web_page(value, ("https",)):
            raise ValueError(f"claims.{name} is an https URL")
    return claims


def set_admin_claims(user: User, claims: dict) -> None:
    merged = {**(user.profile_claims or {}), **claims}
    user.profile_claims = {name: value.strip() for name, value in merged.items() if value is not None} or None
