"""Mes sessions: the citizen's open login sessions, and "Fermer".

Each is shown by its device (the browser and system its User-Agent names, in plain words),
its client address (no geolocation: the address itself) and its last use, Paris time.  A
session is named in the page by ``sessions.handle`` (a hash of its storage id, which is
itself a hash of the cookie), so the page never holds anything that signs a browser in,
and a handle is looked for only among the signed-in citizen's own sessions.  Closing a
session ends it as signing out there would: its services hear of it by back-channel logout.
"""

from __future__ import annotations

import datetime as dt
import re

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from . import audit_log, sessions
from .devmail import local_time
from .forms import SessionCloseForm
from .login_state import current_user, sign_in_first
from .models import User
from .oidc import backchannel

bp = Blueprint("account_sessions", __name__)
# First match wins: Edge and Opera also say "Chrome", Chrome also says "Safari", Android also says "Linux".
BROWSERS = (("Edg", "Edge"), ("OPR", "Opera"), ("Firefox", "Firefox"), ("FxiOS", "Firefox"),
            ("SamsungBrowser", "Samsung Internet"), ("CriOS", "Chrome"), ("Chromium", "Chromium"),
            ("Chrome", "Chrome"), ("Safari", "Safari"))
SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("CrOS", "ChromeOS"),
           ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"))


def device_name(user_agent: str | None) -> str:
    """« Firefox sur Linux »: what a citizen recognises of a User-Agent."""
    agent = user_agent or ""
    browser = next((name for token, name in BROWSERS if re.search(rf"\b{token}\b", agent)), None)
    system = next((name for token, name in SYSTEMS if token in agent), None)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or _("Unknown device")


def open_sessions(user: User) -> list[dict]:
    """The citizen's live sessions as the page shows them, the current one first, then by last use."""
    here = sessions.storage_id_of(session)
    listed = []
    for storage_id, data in sessions.sessions_of(user.id).items():
        last_use = dt.datetime.fromtimestamp(data.get("seen") or data.get("created", 0), dt.UTC)
        listed.append({"handle": sessions.handle(storage_id), "current": storage_id == here,
                       "device": device_name(data.get("device")), "ip": data.get("ip"), "last_use": last_use,
                       "started": dt.datetime.fromtimestamp(data.get("created", 0), dt.UTC),
                       "shared_computer": bool(data.get("shared_computer"))})
    return sorted(listed, key=lambda item: (not item["current"], -item["last_use"].timestamp()))


@bp.route("/account/sessions", methods=["GET", "POST"])
def list_sessions():
    user = current_user()
    if user is None:
        return sign_in_first()
    if request.method == "GET":
        return _page(user)
    form = SessionCloseForm()
    if not form.validate_on_submit():
        abort(400)
    return close(user, form.session.data)


def close(user: User, wanted: str):
    """End the session whose handle is ``wanted``, if it is one of the citizen's."""
    storage_id = next((sid for sid in sessions.sessions_of(user.id) if sessions.handle(sid) == wanted), None)
    if storage_id is None:
        return _page(user, not_found=True, status=404)
    if storage_id == sessions.storage_id_of(session):  # this browser: as "Se déconnecter"
        backchannel.notify(user.id, session.get("sid"), session.get("clients", []))
        shared_computer = session.get("shared_computer", False)
        sessions.end(session)
        audit_log.record("logout", user_id=user.id)
        return render_template("login/logged_out.html", shared_computer=shared_computer)
    ended = sessions.end_one(user.id, storage_id)
    if ended is not None:
        backchannel.notify_ended([ended])
    audit_log.record("account.session_closed", user_id=user.id)
    flash(_("The session is closed: that device is signed out."))
    return redirect(url_for("account_sessions.list_sessions"), 303)


def _page(user: User, not_found: bool = False, status: int = 200):
    return render_template("account/sessions.html", sessions=open_sessions(user), form=SessionCloseForm(),
                           local_time=local_time, not_found=not_found), status
