"""Identities at upstream providers tied to Sésame accounts (issue 14, item 4: the rules; the pages
that use them come with the federation routes).

An identity (issuer, subject) is tied to one account at most, and then signs its citizen in.  On
its first use it is compared with the accounts: the names and the birth date it carries, folded as
sign-up folds them (``identity.name_key``), must equal the account's; the e-mail address alone never
makes a match.  One account matching: the citizen proves it is theirs (its password, or a mailed
link) before the tie is made.  None: sign-up, filled in.  Several: the help desk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .identity import name_key
from .models import UpstreamIdentity, User


class LinkError(Exception):
    """Why an identity cannot be tied or untied, in one sentence; ``kind``: "taken", "unknown" (not the
    account's) or "last" (the account's last way in)."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Match:
    """What the accounts say of an upstream identity seen for the first time."""

    outcome: str  # "one" | "none" | "several" | "incomplete" (no names or no birth date to compare)
    accounts: tuple[User, ...] = ()


def tied_account(db: Session, issuer: str, subject: str) -> User | None:
    """The account this identity is tied to, whatever its status."""
    return db.scalar(select(User).join(UpstreamIdentity, UpstreamIdentity.user_id == User.id)
                     .where(UpstreamIdentity.issuer == issuer, UpstreamIdentity.subject == subject))


def linked_account(db: Session, issuer: str, subject: str) -> User | None:
    """The active account this identity signs in to, if it is tied to one."""
    user = tied_account(db, issuer, subject)
    return user if user is not None and user.is_active else None


def _given_name_keys(given_name: str) -> set[str]:
    """FranceConnect sends every given name ("Jean Pierre Marie"); an account holds one or all."""
    names = given_name.split()
    return {name_key(given_name), name_key(names[0])} if names else set()


def _birthdate(claims: dict) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(claims.get("birthdate", "")))
    except ValueError:
        return None


def match(db: Session, claims: dict) -> Match:
    """The accounts (active or waiting for their address to be confirmed) whose family name, given
    name and birth date are the identity's, and whose birthplace and birth country, where an upstream
    verified them, are too."""
    family, given, born = claims.get("family_name"), claims.get("given_name"), _birthdate(claims)
    if not isinstance(family, str) or not isinstance(given, str) or not name_key(family) or born is None:
        return Match("incomplete")
    found = tuple(user for user in db.scalars(select(User).where(
        User.family_name_key == name_key(family), User.given_name_key.in_(_given_name_keys(given)),
        User.birthdate == born, User.status.in_(("active", "pending"))).order_by(User.id).limit(10))
        if _same_where_both_hold(user, claims))[:3]
    return Match({0: "none", 1: "one"}.get(len(found), "several"), found)


def _same_where_both_hold(user: User, claims: dict) -> bool:
    """The birthplace and birth country an upstream verified earlier must be the identity's too,
    when it sends them (FranceConnect's guidance: compare every field both sides hold)."""
    for name in ("birthplace", "birthcountry"):
        kept, sent = getattr(user, name), claims.get(name)
        if kept and sent and str(kept).strip().casefold() != str(sent).strip().casefold():
            return False
    return True


def link(db: Session, user: User, issuer: str, subject: str, upstream: str) -> UpstreamIdentity:
    """Tie the identity to ``user``; LinkError when it is already tied (to this account or another)."""
    tie = UpstreamIdentity(issuer=issuer, subject=subject, user_id=user.id, upstream=upstream)
    db.add(tie)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise LinkError("this identity is already tied to an account", "taken") from None
    return tie


def identities_of(db: Session, user: User) -> list[UpstreamIdentity]:
    return list(db.scalars(select(UpstreamIdentity).where(UpstreamIdentity.user_id == user.id)
                           .order_by(UpstreamIdentity.created_at, UpstreamIdentity.id)))


def unlink(db: Session, user: User, tie_id: int) -> None:
    """Untie one of ``user``'s identities, only if the account keeps another way in: a password, or
    another tied identity.  LinkError otherwise, or when the tie is not the account's."""
    tie = db.get(UpstreamIdentity, tie_id)
    if tie is None or tie.user_id != user.id:
        raise LinkError("no such identity on this account", "unknown")
    others = db.scalar(select(func.count()).select_from(UpstreamIdentity)
                       .where(UpstreamIdentity.user_id == user.id, UpstreamIdentity.id != tie_id))
    if not user.password_hash and not others:
        raise LinkError("the account would keep no way in: choose a password first", "last")
    db.delete(tie)
    db.commit()
