"""Mes infos personnelles: the signed-in citizen's details and password.

What is saved here is what relying parties receive as claims.  A new e-mail address, name,
birth date or phone number needs the current password (a borrowed session must not
redirect the account's mail, nor change what the help desk checks a person against); a new
address replaces the old one only once a link mailed to it is used; the old address is told, with
a link that undoes the change (``email_change``).  A new password ends every other session
and refresh token of the citizen.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from . import audit_log, email_change, login_throttle, mail, password_policy
from .credentials import set_password
from .db import session as db_session
from .forms import AccountForm, ConfirmForm, PasswordChangeForm
from .login_state import current_user, sign_in_first
from .models import AuditEvent, Client, Upstream, User
from .one_time_tokens import one_time_tokens
from .passwords import verify_password
from .sessions import begin_login, sign_out_keeping_requests
from .theme import brand_name
from .users import email_key, set_verified_email

bp = Blueprint("account", __name__)
EMAIL_CHANGE = "email-change"  # one-time token purpose
ACTIVITY = {
    "login.success": _l("Signed in"),
    "authorization.granted": _l("Signed in to a service"),
    "password.changed": _l("Password changed"),
    "account.email_changed": _l("E-mail address changed"),
    "admin.email_changed": _l("E-mail address changed by the help desk"),
    "account.email_change_cancelled": _l("Change of e-mail address undone"),
    "account.service_removed": _l("Access removed from a service"),
    "account.session_closed": _l("Session closed"),
    "account.exported": _l("Personal data downloaded"),
    "passkey.added": _l("Passkey added"),
    "passkey.removed": _l("Passkey removed"),
    "passkey.removed_disputed": _l("Passkeys removed after a disputed change"),
}
NAMES_SERVICE = ("authorization.granted", "account.service_removed")  # the line reads "...: <service>"
ACTIVITY_SHOWN = 10
PARIS = ZoneInfo("Europe/Paris")  # the citizens' time, whatever the server's
DETAILS = ("given_name", "family_name", "birthdate", "phone_number", "street_address", "postal_code", "locality")
# What the help desk checks a person against, and a way to reach them: a borrowed session must not change them.
GUARDED = ("given_name", "family_name", "birthdate", "phone_number")


@bp.route("/account", methods=["GET", "POST"])
def details():
    user = current_user()
    if user is None:
        return sign_in_first()
    if user.identity_verified_by and request.method == "POST":  # verified upstream: not the form's to change
        posted = request.form.copy()
        for name, value in _verified_identity(user).items():
            posted.setlist(name, [value])
        form = AccountForm(formdata=posted, obj=user)
    else:
        form = AccountForm(obj=user)
    if request.method == "GET" or not form.validate_on_submit():
        return _details_page(form, user, status=400 if request.method == "POST" else 200)
    new_address = email_key(form.email.data) != user.email_key
    guarded = new_address or any(_typed(form, field) != getattr(user, field) for field in GUARDED)
    if guarded and (refused := _check_current_password(user, form.current_password)):
        return _details_page(form, user, status=refused)
    for field in DETAILS:
        setattr(user, field, _typed(form, field))
    db_session().commit()
    audit_log.record("account.updated", user_id=user.id)
    if new_address:
        _ask_to_confirm(user, form.email.data.strip())
        flash(_("Your details are saved. We have sent a link to %(address)s: your e-mail address changes once "
                "you open it.", address=form.email.data.strip()))
    else:
        flash(_("Your details are saved."))
    return redirect(url_for("account.details"), 303)


def _typed(form: AccountForm, field: str):
    value = getattr(form, field).data
    return (value.strip() or None) if isinstance(value, str) else value  # empty: stored as nothing, not released


def _check_current_password(user: User, field) -> int | None:
    """The status to answer when ``field`` is not the account's password (the error is on the field)."""
    if not field.data:
        field.errors = [_("Enter your current password to change your name, date of birth, e-mail address or "
                          "phone number.")]
        return 400
    if refused := current_password_refused(user, field.data):
        field.errors = [refused[1]]
        return refused[0]
    return None


def current_password_refused(user: User, typed: str) -> tuple[int, str] | None:
    """(status, message) when ``typed`` is not the account's password, or it may not be tried now;
    None when it is.  Guessing here counts as at login (``login_throttle``)."""
    attempt = login_throttle.for_account_page(user, request.remote_addr)
    if login_throttle.wait(attempt) or login_throttle.over_ceiling(attempt):
        return 429, _("Too many failed attempts. Wait a few minutes.")
    if not verify_password(user.password_hash, typed):
        login_throttle.failed(attempt)
        return 400, _("Your current password is not that one.")
    return None


def _verified_identity(user: User) -> dict[str, str]:
    """The names and birth date an upstream provider verified, as the form writes them."""
    return {"given_name": user.given_name, "family_name": user.family_name,
            "birthdate": user.birthdate.strftime("%d/%m/%Y") if user.birthdate else ""}


def _details_page(form: AccountForm, user: User, status: int = 200):
    reminder = session.pop("remind_details", False)
    verified_by = None
    if user.identity_verified_by:
        upstream = db_session().get(Upstream, user.identity_verified_by)
        verified_by = upstream.label if upstream else user.identity_verified_by
        for name in _verified_identity(user):
            field = getattr(form, name)
            field.render_kw = {**(field.render_kw or {}), "readonly": True}
    from .upstream_identities import identities_of

    return render_template("account/details.html", form=form, user=user, reminder=reminder,
                           activity=recent_activity(user), verified_by=verified_by,
                           has_identities=bool(identities_of(db_session(), user))), status


def recent_activity(user: User) -> list[dict]:
    """What the citizen may want to check, as the French state's account pages show it."""
    events = db_session().scalars(
        select(AuditEvent).where(AuditEvent.user_id == user.id, AuditEvent.action.in_(ACTIVITY))
        .order_by(AuditEvent.id.desc()).limit(ACTIVITY_SHOWN)
    ).all()
    names = {client.client_id: client.name for client in db_session().scalars(
        select(Client).where(Client.client_id.in_({event.client_id for event in events if event.client_id})))}
    return [{"at": event.at.replace(tzinfo=dt.UTC).astimezone(PARIS), "what": ACTIVITY[event.action],
             "service": names.get(event.client_id) if event.action in NAMES_SERVICE else None,
             "ip": event.ip} for event in events]


def _ask_to_confirm(user: User, new_address: str) -> None:
    ttl = current_app.config["IDP_VERIFY_TOKEN_TTL"]
    token = one_time_tokens().issue(user.id, EMAIL_CHANGE, ttl, data={"email": new_address})
    mail.send(new_address, "account/email_change",
              _l("Confirm your new e-mail address for %(brand)s", brand=brand_name()),
              user=user, hours=ttl // 3600, link=mail.link("account.confirm_email", token=token))


@bp.route("/account/email/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    found = one_time_tokens().peek(token, EMAIL_CHANGE)  # GET shows a button: mail scanners open links
    user = db_session().get(User, found.user_id) if found else None
    if user is None:
        return render_template("account/link_invalid.html"), 410
    form = ConfirmForm()
    new_address = found.data["email"]
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("account/confirm_email.html", form=form, user=user, address=new_address)
    if one_time_tokens().consume(token, EMAIL_CHANGE) is None:
        return render_template("account/link_invalid.html"), 410
    return _change_email(user, new_address)


def _change_email(user: User, new_address: str):
    old_address = user.email
    if not set_verified_email(db_session(), user, new_address):
        return render_template("account/address_taken.html"), 409
    audit_log.record("account.email_changed", user_id=user.id)
    email_change.tell_old_address(user, old_address, new_address)
    flash(_("Your e-mail address is now %(address)s.", address=new_address))
    return redirect(url_for("account.details") if current_user() else url_for("login.login"), 303)


@bp.route("/account/email/cancel/<token>", methods=["GET", "POST"])
def cancel_email_change(token: str):
    """The old address's "Ce n'était pas moi" link: GET shows a button (mail scanners open links)."""
    found = one_time_tokens().peek(token, email_change.CANCEL)
    user = db_session().get(User, found.user_id) if found else None
    if user is None:
        return render_template("account/link_invalid.html", cancel=True), 410
    form = ConfirmForm()
    address = found.data["email"]
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("account/cancel_email_change.html", form=form, user=user, address=address,
                               by_help_desk=found.data.get("by_help_desk", False))
    used = one_time_tokens().consume(token, email_change.CANCEL)
    if used is None:
        return render_template("account/link_invalid.html", cancel=True), 410
    outcome = email_change.undo(user, used)
    if outcome == email_change.TAKEN:
        return render_template("account/address_taken.html"), 409
    if session.get("user_id"):
        sign_out_keeping_requests(session)  # this browser's session ended with the others
    return render_template("account/email_change_cancelled.html", address=address,
                           frozen=outcome == email_change.FROZEN)


@bp.route("/account/password", methods=["GET", "POST"])
def password():
    user = current_user()
    if user is None:
        return sign_in_first()
    form = PasswordChangeForm()
    if request.method == "GET" or not form.validate_on_submit():
        return _password_page(form, status=400 if request.method == "POST" else 200)
    if refused := current_password_refused(user, form.current_password.data):
        form.current_password.errors = [refused[1]]
        return _password_page(form, status=refused[0])
    form.new_password.errors = password_policy.problems(
        form.new_password.data, user.username, user.email, given_name=user.given_name,
        family_name=user.family_name, birthdate=user.birthdate)
    if form.new_password.errors:
        return _password_page(form, status=400)
    set_password(user, form.new_password.data, reason="account")
    begin_login(session, user.id, ["pwd"])  # this browser stays signed in, under a new session
    flash(_("Your password has been changed. Your other sessions have been signed out."))
    return redirect(url_for("account.details"), 303)


def _password_page(form: PasswordChangeForm, status: int = 200):
    return render_template("account/password.html", form=form, hint=password_policy.hint()), status
