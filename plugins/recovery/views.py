"""The citizen's pages of recovery: ask for a link, use it, or say "it was not me".

Every request form answers the same neutral page whatever the account: the lookup,
the link and the mail happen in a job (``requests.py``), off the request path, so
neither the page nor its timing tells whether an account exists.
"""

from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from idp import audit_log, password_policy
from idp.credentials import set_password
from idp.db import session as db_session
from idp.digests import typed_login
from idp.forms import ConfirmForm
from idp.jobs import jobs
from idp.models import User
from idp.one_time_tokens import one_time_tokens
from idp.passkeys import remove_added_since
from idp.ratelimit import allow, limiter
from idp.sessions import sign_out_keeping_requests

from . import requests
from .forms import IdentifierRequestForm, PasswordRequestForm, ResetForm

bp = Blueprint("recovery", __name__)


def _per_address():
    return current_app.config["IDP_RECOVERY_RATE_LIMIT"]


# One count per client address across every recovery form, not one per form.
throttled = limiter.shared_limit(_per_address, scope="recovery", methods=["POST"])


@bp.route("/recovery/password", methods=["GET", "POST"])
@throttled
def password():
    form = PasswordRequestForm(rid=request.args.get("rid"))
    if request.method == "GET":
        form.login.data = request.args.get("login")
        return render_template("recovery/password.html", form=form)
    if not form.validate_on_submit():
        return render_template("recovery/password.html", form=form), 400
    _throttle_account("recovery-login", form.login.data)
    _queue(requests.PASSWORD, login=form.login.data.strip(), rid=form.rid.data)
    audit_log.record("recovery.requested", kind="password", typed_hmac=typed_login(form.login.data))
    return _sent(form.rid.data)


@bp.route("/recovery/identifier", methods=["GET", "POST"])
@throttled
def identifier():
    form = IdentifierRequestForm(rid=request.args.get("rid"))
    if request.method == "GET":
        return render_template("recovery/identifier.html", form=form)
    if form.validate_on_submit() and "@" not in form.email.data:
        form.email.errors = [_("Enter the e-mail address of your account.")]
    if form.errors:
        return render_template("recovery/identifier.html", form=form), 400
    _throttle_account("recovery-email", form.email.data)
    _queue(requests.IDENTIFIER, email=form.email.data.strip(), rid=form.rid.data)
    audit_log.record("recovery.requested", kind="identifier", typed_hmac=typed_login(form.email.data))
    return _sent(form.rid.data, identifier=True)


def _throttle_account(scope: str, typed: str) -> None:
    # Keyed by what was typed, not by the account: the same cost whether one exists.
    if not allow(current_app.config["IDP_RECOVERY_ACCOUNT_RATE_LIMIT"], scope, typed.strip().casefold()):
        abort(429)


def _queue(name: str, **payload) -> None:
    payload["lang"] = str(get_locale())
    jobs().enqueue(name, payload, expires_at=int(time.time()) + current_app.config["IDP_RESET_TOKEN_TTL"])


def _sent(rid: str | None, identifier: bool = False):
    return render_template("recovery/sent.html", back=url_for("login.login", rid=rid or None),
                           identifier=identifier)


@bp.route("/recovery/reset/<token>", methods=["GET", "POST"])
@throttled
def reset(token: str):
    found = one_time_tokens().peek(token, requests.RESET)  # a GET never consumes: mail scanners open links
    user = db_session().get(User, found.user_id) if found else None
    if user is None or user.status == "disabled":
        return _link_invalid()
    form = ResetForm()
    if request.method == "GET" or not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return _reset_page(form, user, status=status)
    form.new_password.errors = password_policy.problems(
        form.new_password.data, user.username, user.email, given_name=user.given_name,
        family_name=user.family_name, birthdate=user.birthdate)
    if form.new_password.errors:
        return _reset_page(form, user, status=400)
    if one_time_tokens().consume(token, requests.RESET) is None:
        return _link_invalid()  # another request used it a moment ago
    if user.status == "pending":  # the link reached the account's address: that verifies it
        user.status, user.email_verified = "active", True
    set_password(user, form.new_password.data, reason="reset")
    if session.get("user_id"):
        sign_out_keeping_requests(session)  # this browser's session was just ended with the others
    session["remind_details"] = True  # after a recovery, ask the citizen to check their details
    session["offer_passkey"] = True  # and offer a passkey at the first sign-in (idp/passkeys.py)
    flash(_("Your password has been changed. Sign in with your new password."))
    rid = found.data.get("rid") or None
    return redirect(url_for("login.login", username=user.username, rid=rid), 303)


def _reset_page(form: ResetForm, user: User, status: int = 200):
    return render_template("recovery/reset.html", form=form, user=user, hint=password_policy.hint()), status


def _link_invalid():
    return render_template("recovery/link_invalid.html"), 410


@bp.route("/recovery/not-me/<token>", methods=["GET", "POST"])
@throttled
def not_me(token: str):
    """From the password-changed notice: lock the password, sign out everywhere, send a new link."""
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        if one_time_tokens().peek(token, requests.NOT_ME) is None:
            return _link_invalid()
        return render_template("recovery/not_me.html", form=form)
    found = one_time_tokens().consume(token, requests.NOT_ME)
    user = db_session().get(User, found.user_id) if found else None
    if user is None:
        return _link_invalid()
    set_password(user, None, reason="not-me")  # whoever changed it must not sign in with it
    remove_added_since(user, found.data.get("since") or found.issued_at, why="not-me")
    requests.send_reset_link(user, str(get_locale()), rid=None)
    audit_log.record("recovery.not_me", user_id=user.id)
    if session.get("user_id"):
        sign_out_keeping_requests(session)
    return render_template("recovery/not_me_done.html")
