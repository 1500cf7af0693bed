"""Roles beyond the citizen's.  One exists: ``helpdesk``, the agents of the region's
reception service who answer lost-mailbox requests in the console.  Roles are given and
taken on the command line only (``idp users grant`` / ``revoke-role``), each audited."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import audit_log
from .models import User, UserRole

ROLES = ("helpdesk",)


def has_role(db: Session, user: User, role: str) -> bool:
    return db.scalar(select(UserRole.role).where(UserRole.user_id == user.id, UserRole.role == role)) is not None


def roles_of(db: Session, user: User) -> list[str]:
    return list(db.scalars(select(UserRole.role).where(UserRole.user_id == user.id).order_by(UserRole.role)))


def grant(db: Session, user: User, role: str) -> bool:
    """Give ``role`` to ``user``; False when they had it already."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if has_role(db, user, role):
        return False
    db.add(UserRole(user_id=user.id, role=role))
    db.commit()
    audit_log.record("role.granted", user_id=user.id, role=role)
    return True


def revoke(db: Session, user: User, role: str) -> bool:
    """Take ``role`` from ``user``; False when they did not have it."""
    removed = db.execute(delete(UserRole).where(UserRole.user_id == user.id, UserRole.role == role)).rowcount
    db.commit()
    if removed:
        audit_log.record("role.revoked", user_id=user.id, role=role)
    return bool(removed)
