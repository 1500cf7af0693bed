"""Who is signed in on this request, and where a signed-out citizen goes back to after signing in."""

from __future__ import annotations

from flask import g, redirect, request, session, url_for

from .db import session as db_session
from .models import User


def current_user() -> User | None:
    if "current_user" not in g:
        user_id = session.get("user_id")
        user = db_session().get(User, user_id) if user_id else None
        g.current_user = user if user is not None and user.is_active else None
    return g.current_user


def sign_in_first():
    """The answer to a signed-out browser on a signed-in page: the login form, which brings the
    citizen back to this page afterwards."""
    here = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
    return redirect(url_for("login.login", next=here))


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this site, else None: the login's ``next`` is typed by
    whoever made the link, so anything a browser could read as another site is refused
    (``//evil.fr``, ``/\\evil.fr``, a scheme, and tabs or line breaks, which browsers drop)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 for c in target):
        return None
    return target
