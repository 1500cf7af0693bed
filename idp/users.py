"""Finding and creating citizens' accounts."""

from __future__ import annotations

import datetime as dt

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .identity import name_key
from .models import User
from .passwords import hash_password

MAX_EMAIL_LENGTH = 254  # RFC 5321's longest path, less the angle brackets


def valid_email(text: str) -> str | None:
    """``text`` as one bare e-mail address, normalised (domain in lower case), or None.

    Syntax only, no DNS: the mail sent to it proves the rest.  A list (``a@x.fr,b``), a display
    name (``x <a@x.fr>``), quoting or an IP address is refused, so an address can never expand to
    other recipients.  Internationalised addresses (``élodie@exemple.fr``, RFC 6531) are kept."""
    if not isinstance(text, str) or len(text.strip()) > MAX_EMAIL_LENGTH:
        return None
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def username_key(username: str) -> str:
    return username.strip().casefold()


def email_key(email: str) -> str:
    return email.strip().lower()


def find_by_login(db: Session, login: str) -> User | None:
    """The account whose identifier or e-mail address is ``login``."""
    login = login.strip()
    if not login or len(login) > 254 or "\x00" in login:
        return None
    key = email_key(login) if "@" in login else username_key(login)
    column = User.email_key if "@" in login else User.username_key
    return db.scalar(select(User).where(column == key))


def find_by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(User.email_key == email_key(email)))


def set_verified_email(db: Session, user: User, address: str) -> bool:
    """Give the account this address, verified (its owner proved it, or the help desk checked who
    they are); False, and nothing changed, when another account uses it."""
    owner = find_by_email(db, address)
    if owner is not None and owner.id != user.id:
        return False
    user.email, user.email_key, user.email_verified = address, email_key(address), True
    try:
        db.commit()
    except IntegrityError:  # taken a moment ago
        db.rollback()
        return False
    return True


def find_same_person(db: Session, given_name: str, family_name: str, birthdate: dt.date, limit: int = 3) -> list[User]:
    """Accounts of the person with these names and birth date, however the names were written."""
    return list(db.scalars(
        select(User).where(User.family_name_key == name_key(family_name),
                           User.given_name_key == name_key(given_name),
                           User.birthdate == birthdate).order_by(User.id).limit(limit)
    ))


def create(
    db: Session,
    *,
    username: str,
    email: str,
    given_name: str,
    family_name: str,
    birthdate: dt.date | None = None,
    password: str | None = None,
    email_verified: bool = True,
    status: str = "active",
) -> User:
    user = User(
        username=username.strip(),
        username_key=username_key(username),
        email=email.strip(),
        email_key=email_key(email),
        email_verified=email_verified,
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        birthdate=birthdate,
        password_hash=hash_password(password) if password else None,
        status=status,
    )
    db.add(user)
    db.flush()
    return user
