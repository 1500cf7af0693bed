"""The claims a relying party receives, by scope, under the subject it may see."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..db import session as db_session
from ..models import Client, PairwiseSubject, User, epoch

SCOPE_CLAIMS = {
    "profile": ("name", "given_name", "family_name", "birthdate", "preferred_username", "updated_at"),
    "email": ("email", "email_verified"),
    "address": ("address",),
    "phone": ("phone_number",),
}
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
