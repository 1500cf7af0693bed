"""The second factor: a TOTP app (RFC 6238), with ten recovery codes.

States of a login with a second factor::

    password right ──> "second step" (the session holds who, for SECOND_STEP_TTL seconds,
                        not yet signed in) ──code right──> signed in, amr ["pwd", "otp"]

Enrolment (``/account/totp``): a fresh secret is kept in the session (not in the
database) while the citizen adds it to their app; the first right code stores it, and ten
recovery codes are shown once.  A borrowed session must not be able to add a factor (that
would lock the owner out) nor remove one: both need the current password, unless the
password was typed in the last ``RECENT_LOGIN`` seconds.  Wrong codes count as wrong
passwords do (``login_throttle``), and a code is never accepted twice: the step stored is
moved forward by one conditional UPDATE, so two concurrent uses cannot both win.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select, update
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from . import audit_log, login_throttle, mail, totp
from .db import session as db_session
from .forms import Form
from .login_state import current_user, local_path, sign_in_first
from .models import RecoveryCode, SecondFactor, User, utcnow
from .ratelimit import limiter

bp = Blueprint("second_factor", __name__)
SECOND_STEP_TTL = 300  # seconds between the right password and the code
RECENT_LOGIN = 600  # a password typed this recently need not be typed again to change the factor
ENROLMENT_KEY = "totp_enrolment"
STEP_KEY = "second_step"
AFTER_ENROLMENT = "after_totp_enrolment"  # a page of ours to go on to once enrolled


class CodeForm(Form):
    code = StringField(_l("Code"), validators=[DataRequired(_l("Enter the 6-digit code shown by your app, "
                                                               "or one of your recovery codes.")), Length(max=64)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric",
                                  "autocapitalize": "none", "spellcheck": "false"})


class EnrolForm(Form):
    code = StringField(_l("Code shown by the app"),
                       validators=[DataRequired(_l("Enter the 6-digit code shown by your app.")), Length(max=64)],
                       render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"})
    current_password = PasswordField(_l("Current password"), validators=[Optional(), Length(max=1024)],
                                     render_kw={"autocomplete": "current-password"})


class RemoveForm(Form):
    current_password = PasswordField(_l("Current password"), validators=[Optional(), Length(max=1024)],
                                     render_kw={"autocomplete": "current-password"})


def enrolled(user: User) -> bool:
    return db_session().get(SecondFactor, user.id) is not None


# -- login, second step ---------------------------------------------------------------------

def ask_for_code(user: User, *, shared_computer: bool, rid: str | None, next_path: str | None):
    """After the right password: remember who is half-way through, and ask for the code."""
    session[STEP_KEY] = {"user_id": user.id, "until": int(time.time()) + SECOND_STEP_TTL,
                         "shared": bool(shared_computer), "rid": rid or "", "next": next_path or ""}
    return redirect(url_for("second_factor.login_code"), 303)


@bp.route("/login/totp", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IDP_LOGIN_RATE_LIMIT"], methods=["POST"])
def login_code():
    from .login import complete_login

    step = session.get(STEP_KEY) or {}
    user = db_session().get(User, step["user_id"]) if step.get("until", 0) > time.time() else None
    if user is None or not user.is_active:
        session.pop(STEP_KEY, None)
        return redirect(url_for("login.login", rid=step.get("rid") or None), 303)
    form = CodeForm()
    if request.method == "GET" or not form.validate_on_submit():
        return _code_page(form, status=400 if request.method == "POST" else 200)
    attempt = login_throttle.for_second_factor(user, request.remote_addr)
    if login_throttle.wait(attempt) or login_throttle.over_ceiling(attempt):
        form.code.errors = [_("Too many wrong codes. Wait a few minutes.")]
        return _code_page(form, status=429)
    used = check_code(user, form.code.data)
    if used is None:
        login_throttle.failed(attempt)
        audit_log.record("login.second_factor_failure", user_id=user.id)
        form.code.errors = [_("This code is not right, or it was already used. Type the code your app shows now.")]
        return _code_page(form, status=401)
    login_throttle.succeeded(attempt)
    session.pop(STEP_KEY, None)
    if used == "recovery":
        audit_log.record("second_factor.recovery_code_used", user_id=user.id, left=recovery_codes_left(user))
    return complete_login(user, ["pwd", "otp"], shared_computer=step["shared"], rid=step["rid"] or None,
                          next_path=step["next"] or None)


def _code_page(form: CodeForm, status: int = 200):
    return render_template("login/totp.html", form=form), status


def check_code(user: User, typed: str) -> str | None:
    """``"totp"`` or ``"recovery"`` when ``typed`` is a code of this account not used before
    (it is then used up); None otherwise."""
    db = db_session()
    factor = db.get(SecondFactor, user.id)
    if factor is None:
        return None
    step = totp.matching_step(factor.totp_secret, typed, factor.last_step)
    if step is not None:
        moved = db.execute(update(SecondFactor).where(
            SecondFactor.user_id == user.id,
            (SecondFactor.last_step.is_(None)) | (SecondFactor.last_step < step)).values(last_step=step)).rowcount
        db.commit()
        return "totp" if moved else None
    codes = db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
                       .order_by(RecoveryCode.id)).all()
    index = totp.matching_recovery_code(typed, [code.code_hash for code in codes])
    if index is None:
        return None
    spent = db.execute(update(RecoveryCode).where(RecoveryCode.id == codes[index].id, RecoveryCode.used_at.is_(None))
                       .values(used_at=utcnow())).rowcount
    db.commit()
    return "recovery" if spent else None


def recovery_codes_left(user: User) -> int:
    return len(db_session().scalars(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))).all())


# -- the account page: enrol, remove -----------------------------------------------------------

@bp.route("/account/totp", methods=["GET", "POST"])
def account():
    user = current_user()
    if user is None:
        return sign_in_first()
    if enrolled(user):
        return _enrolled_page(user, RemoveForm())
    secret = session.get(ENROLMENT_KEY) or totp.new_secret()
    session[ENROLMENT_KEY] = secret
    form = EnrolForm()
    if request.method == "GET" or not form.validate_on_submit():
        return _enrol_page(user, form, secret, status=400 if request.method == "POST" else 200)
    if refused := _password_needed(user, form.current_password):
        return _enrol_page(user, form, secret, status=refused)
    if totp.matching_step(secret, form.code.data, None) is None:
        form.code.errors = [_("This code is not right. Type the 6 digits your app shows now; "
                              "check that the phone's clock is on time.")]
        return _enrol_page(user, form, secret, status=400)
    codes = enrol(user, secret, totp.current_step())
    session.pop(ENROLMENT_KEY, None)
    then = local_path(session.pop(AFTER_ENROLMENT, None))  # the help desk's console sends its agents here first
    return render_template("account/totp_codes.html", codes=codes, then=then)


@bp.post("/account/totp/remove")
def remove():
    user = current_user()
    if user is None:
        return sign_in_first()
    form = RemoveForm()
    if not enrolled(user) or not form.validate_on_submit():
        return redirect(url_for("second_factor.account"), 303)
    if refused := _password_needed(user, form.current_password):
        return _enrolled_page(user, form, status=refused)
    remove_for(user)
    return render_template("account/totp_removed.html")


def remove_for(user: User, reason: str | None = None) -> None:
    """Switch the second factor off (the citizen, or the help desk with ``reason``); the citizen is mailed."""
    db = db_session()
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    removed = db.execute(delete(SecondFactor).where(SecondFactor.user_id == user.id)).rowcount
    db.commit()
    if removed:
        audit_log.record("second_factor.removed", user_id=user.id, **({"reason": reason} if reason else {}))
        _notify(user, "second_factor_removed", _l("Two-step sign-in was switched off"))


def enrol(user: User, secret: str, step: int) -> list[str]:
    """Store the confirmed secret (``step`` used up) and fresh recovery codes; the codes, to show once."""
    db = db_session()
    codes = totp.new_recovery_codes()
    db.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.add(SecondFactor(user_id=user.id, totp_secret=secret, last_step=step))
    db.add_all(RecoveryCode(user_id=user.id, code_hash=totp.hash_recovery_code(code)) for code in codes)
    db.commit()
    audit_log.record("second_factor.enrolled", user_id=user.id)
    _notify(user, "second_factor_added", _l("Two-step sign-in was switched on"))
    return codes


def _password_needed(user: User, field) -> int | None:
    """A status when the current password is needed and not given right (the error on the field)."""
    if not _needs_password():
        return None
    from .account import current_password_refused

    if not field.data:
        field.errors = [_("Enter your current password: you signed in more than 10 minutes ago.")]
        return 400
    if refused := current_password_refused(user, field.data):
        field.errors = [refused[1]]
        return refused[0]
    return None


def _enrol_page(user: User, form: EnrolForm, secret: str, status: int = 200):
    uri = totp.provisioning_uri(secret, user.username, current_app.config.get("IDP_BRAND_NAME", "Sésame"))
    return render_template("account/totp.html", form=form, secret=secret, qr=totp.qr_svg(uri),
                           grouped=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
                           password_needed=_needs_password()), status


def _enrolled_page(user: User, form: RemoveForm, status: int = 200):
    return render_template("account/totp_enrolled.html", form=form, left=recovery_codes_left(user),
                           password_needed=_needs_password()), status


def _needs_password() -> bool:
    return not (time.time() - session.get("auth_time", 0) < RECENT_LOGIN and "pwd" in session.get("amr", []))


def _notify(user: User, template: str, subject) -> None:
    mail.send(user.email, f"account/{template}", subject, user=user)
