"""Who may use the console, checked before every console page (the order is the package's docstring)."""

from __future__ import annotations

import time

from flask import g, redirect, render_template, request, session, url_for

from ..admin_networks import refuse_outside
from ..db import session as db_session
from ..login_state import current_user, sign_in_first
from ..passkeys import passkeys_of
from ..roles import has_role
from ..second_factor import AFTER_ENROLMENT, enrolled
from ..sessions import sign_out_keeping_requests

ROLE = "helpdesk"
LOGIN_MAX_AGE = 12 * 3600  # seconds since the password (and code) were typed
IDLE_LIMIT = 15 * 60  # seconds without a console page
# A session's amr must hold one of these: the app's code, or a passkey (hardware- or software-bound, RFC 8176),
# whose user verification makes it two factors on its own.
SECOND_FACTORS = {"otp", "hwk", "swk"}
SEEN_KEY = "helpdesk_seen"  # when the console last served this session


def admit():
    """None when the agent may see the page; otherwise the answer that stops them."""
    refuse_outside()
    agent = current_user()
    if agent is None:
        return sign_in_first()
    if not has_role(db_session(), agent, ROLE):
        return render_template("helpdesk/not_an_agent.html"), 403
    now = time.time()
    if now - session.get("auth_time", 0) >= LOGIN_MAX_AGE:
        return _sign_in_again("stale")
    if not enrolled(agent) and not passkeys_of(agent):  # a passkey is a second factor too
        session[AFTER_ENROLMENT] = _here()
        return redirect(url_for("second_factor.account"), 303)
    if not SECOND_FACTORS & set(session.get("amr", [])):
        return _sign_in_again("second_factor")
    if now - session.get(SEEN_KEY, now) > IDLE_LIMIT:
        return _sign_in_again("idle")
    session[SEEN_KEY] = int(now)
    g.agent = agent
    return None


def _sign_in_again(why: str):
    """End this session (it may be a forgotten or borrowed one) and say why; the login comes back here."""
    sign_out_keeping_requests(session)
    return render_template("helpdesk/sign_in_again.html", why=why, login=url_for("login.login", next=_here())), 401


def _here() -> str:
    """Where to come back to: this page, unless it was a form's POST (then the queue)."""
    return request.path if request.method == "GET" else url_for("console.queue")
