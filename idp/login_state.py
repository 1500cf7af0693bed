"""Who is signed in on this request."""

from __future__ import annotations

from flask import g, session

from .db import session as db_session
from .models import User


def current_user() -> User | None:
    if "current_user" not in g:
        user_id = session.get("user_id")
        user = db_session().get(User, user_id) if user_id else None
        g.current_user = user if user is not None and user.is_active else None
    return g.current_user
