"""Nouvel utilisateur: sign-up that finds the account a citizen already has.

    form ──(same person found)──▶ hint: masked address, links to recovery and the help desk,
      and "Ce n'est pas moi" ──(the same form again, not_me=1)──▶ new, as below, marked for the help desk
    form ──(identifier taken)──▶ its own message, nothing else
    form ──(address in use)──▶ "check your mailbox"; the owner is told by mail
    form ──(new)──▶ pending account ──(mailed link, POST with the password chosen, or a new one)──▶
      active, e-mail verified ──▶ /login
    pending account ──(IDP_PENDING_ACCOUNT_TTL passes, the worker's sweep)──▶ deleted

The answer for an address already in use is the one for a new account, so the page
never confirms an address to a stranger: both hash the password and queue one job, and
the job creates the account or tells the address's owner.

"Ce n'est pas moi" (``not_me=1``) skips only the hint: the view then does not look for the
same person at all, so its answer is the ordinary one whether or not anyone matches (no
oracle, nothing for the hint's throttles to count); the job looks, and marks the new account
``possible_duplicate_of`` the one found, for the help desk to check.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from idp import audit_log, mail, password_policy
from idp.db import session as db_session
from idp.federation_views import signup_offer, take_signup_offer, tie_new_account
from idp.identity import mask_email, name_key
from idp.jobs import jobs
from idp.models import User, utcnow
from idp.one_time_tokens import one_time_tokens
from idp.passwords import hash_password, verify_password
from idp.ratelimit import allow, limiter
from idp.theme import brand_name
from idp.users import create, find_by_email, find_same_person, username_key

from .forms import SignupForm, SignupNewPasswordForm, SignupPasswordForm

bp = Blueprint("signup", __name__)
VERIFY = "verify"  # one-time token purpose
SIGNUP = "signup.requested"  # job
EXPIRE = "signup.expire_pending"  # periodic job
EXPIRE_EVERY = 3600  # seconds
EXPIRED_PER_RUN = 500
LOCKED = ("given_name", "family_name", "birthdate")  # from an upstream identity: verified, not typed


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IDP_SIGNUP_RATE_LIMIT"], methods=["POST"])
def signup():
    offer = signup_offer()
    if offer and request.method == "POST":  # the verified identity, whatever the form says of it
        posted = request.form.copy()
        for name in LOCKED:
            posted.setlist(name, [_french_date(offer[name]) if name == "birthdate" else offer[name]]
                           if name in offer else [])
        form = SignupForm(formdata=posted, rid=request.args.get("rid"))
    else:
        form = SignupForm(rid=request.args.get("rid"))
    if offer and request.method == "GET":
        for name in ("given_name", "family_name", "email"):
            getattr(form, name).data = offer.get(name)
        form.birthdate.data = _iso_date(offer.get("birthdate"))
    if request.method == "GET" or not form.validate_on_submit():
        return _form(form, status=400 if request.method == "POST" else 200)
    problems = password_policy.problems(form.password.data, form.username.data, form.email.data,
                                        given_name=form.given_name.data, family_name=form.family_name.data,
                                        birthdate=form.birthdate.data)
    if problems:
        form.password.errors = problems
        return _form(form, status=400)
    db = db_session()
    if not form.not_the_same_person and (
            existing := find_same_person(db, form.given_name.data, form.family_name.data, form.birthdate.data)):
        return _existing_account(form, existing)
    if db.scalar(select(User.id).where(User.username_key == username_key(form.username.data))):
        return _username_taken(form)
    return _create(form)


def _form(form: SignupForm, status: int = 200, existing: list[str] | None = None):
    offer = signup_offer()
    if offer:
        for name in LOCKED:
            field = getattr(form, name)
            field.render_kw = {**(field.render_kw or {}), "readonly": True}
    return render_template("recovery/signup.html", form=form, existing=existing or [],
                           hint=password_policy.hint(), verified_by=offer["label"] if offer else None), status


def _french_date(iso: str) -> str:
    """The birth date as the form reads it (it takes ISO 8601 too, but says so in French)."""
    day = _iso_date(iso)
    return day.strftime("%d/%m/%Y") if day else ""


def _iso_date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _existing_account(form: SignupForm, existing: list[User]):
    """Journey 4: show the beginning of the address the account was created with (throttled hard)."""
    person = f"{name_key(form.family_name.data)}|{name_key(form.given_name.data)}|{form.birthdate.data}"
    config = current_app.config
    if not (allow(config["IDP_SIGNUP_HINT_RATE_LIMIT"], "signup-hint-address", request.remote_addr or "")
            and allow(config["IDP_SIGNUP_HINT_PERSON_RATE_LIMIT"], "signup-hint-person", person)):
        abort(429)
    for user in existing:
        audit_log.record("signup.hint_shown", user_id=user.id)
    return _form(form, status=409, existing=[mask_email(user.email) for user in existing])


def _username_taken(form: SignupForm):
    """People need to know, but a stranger must not test identifiers in bulk: throttled per address."""
    if not allow(current_app.config["IDP_SIGNUP_TAKEN_RATE_LIMIT"], "signup-taken-address", request.remote_addr or ""):
        abort(429)
    form.username.errors = [_("This identifier is already taken: choose another.")]
    return _form(form, status=409)


def _create(form: SignupForm):
    """A new account, or a mail to the owner of an address already in use: decided in a job, so
    the answer is the same page after the same work whichever it is."""
    payload = {name: getattr(form, name).data.strip() for name in ("given_name", "family_name", "email", "username")}
    payload.update(birthdate=form.birthdate.data.isoformat(), password_hash=hash_password(form.password.data),
                   rid=form.rid.data or None, lang=str(get_locale()), ip=request.remote_addr,
                   not_me=form.not_the_same_person)
    if offer := take_signup_offer():  # created from an upstream identity: tied to it by the job
        payload["federation"] = {name: offer.get(name) for name in
                                 ("issuer", "subject", "upstream", "birthplace", "birthcountry")}
    jobs().enqueue(SIGNUP, payload)
    audit_log.record("signup.requested", username=payload["username"],
                     **({"not_me": True} if payload["not_me"] else {}))
    return render_template("recovery/signup_sent.html", back=url_for("login.login", rid=form.rid.data or None))


def signup_requested(payload: dict) -> None:
    """The job behind ``_create``."""
    db = db_session()
    owner = find_by_email(db, payload["email"])
    if owner is None:
        birthdate = dt.date.fromisoformat(payload["birthdate"])
        same = find_same_person(db, payload["given_name"], payload["family_name"], birthdate) \
            if payload.get("not_me") else []
        try:
            user = create(db, username=payload["username"], email=payload["email"],
                          given_name=payload["given_name"], family_name=payload["family_name"],
                          birthdate=birthdate, email_verified=False, status="pending")
            user.password_hash = payload["password_hash"]
            user.possible_duplicate_of = same[0].id if same else None
            db.commit()
        except IntegrityError:  # a concurrent sign-up took the address or the identifier a moment ago
            db.rollback()
            owner = find_by_email(db, payload["email"])
            if owner is None:
                _identifier_taken_meanwhile(payload)
                return
        else:
            if payload.get("federation"):
                tie_new_account(user, payload["federation"])
            send_verification(user, payload["rid"], payload["lang"])
            audit_log.record("signup", user_id=user.id, ip=payload["ip"],
                             **({"verified_by": payload["federation"]["upstream"]} if payload.get("federation")
                                else {}))
            if same:
                audit_log.record("signup.possible_duplicate", user_id=user.id, ip=payload["ip"],
                                 same_person_as=[other.id for other in same])
            return
    mail.send(owner.email, "recovery/signup_address_in_use", _l("Someone tried to sign up with your address"),
              payload["lang"], user=owner, link=mail.link("recovery.password", login=owner.username))
    audit_log.record("signup.address_in_use", user_id=owner.id, ip=payload["ip"])


def _identifier_taken_meanwhile(payload: dict) -> None:
    mail.send(payload["email"], "recovery/signup_identifier_taken",
              _l("Your %(brand)s account was not created", brand=brand_name()),
              payload["lang"], given_name=payload["given_name"], username=payload["username"],
              link=mail.link("signup.signup"))


def send_verification(user: User, rid: str | None, lang: str | None = None) -> None:
    ttl = current_app.config["IDP_VERIFY_TOKEN_TTL"]
    token = one_time_tokens().issue(user.id, VERIFY, ttl, data={"rid": rid} if rid else {})
    mail.send(user.email, "recovery/verify", _l("Confirm your e-mail address for %(brand)s", brand=brand_name()),
              lang or str(get_locale()),
              user=user, hours=ttl // 3600, link=mail.link("signup.verify", token=token))


@bp.route("/signup/verify/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IDP_SIGNUP_RATE_LIMIT"], methods=["POST"])
def verify(token: str):
    """The verification link proves control of the mailbox, not knowledge of the password: whoever
    signed up may not be the mailbox's owner.  So a pending account is confirmed with the password
    chosen at sign-up, or with a new one that replaces it."""
    found = one_time_tokens().peek(token, VERIFY)  # GET only shows the forms: mail scanners open links
    user = db_session().get(User, found.user_id) if found else None
    if user is None or user.status == "disabled":
        return render_template("recovery/verify_invalid.html"), 410
    choosing = request.method == "POST" and "new_password" in request.form
    known = SignupPasswordForm(formdata=None) if choosing else SignupPasswordForm()
    chosen = SignupNewPasswordForm() if choosing else SignupNewPasswordForm(formdata=None)
    if request.method == "GET":
        return _verify_page(user, known, chosen)
    form = chosen if choosing else known
    if not form.validate_on_submit() or not _password_accepted(user, known, chosen, choosing):
        return _verify_page(user, known, chosen, status=400)
    if one_time_tokens().consume(token, VERIFY) is None:
        return render_template("recovery/verify_invalid.html"), 410
    if choosing:  # the one chosen at sign-up is discarded: it may be a stranger's
        user.password_hash, user.password_changed_at = hash_password(chosen.new_password.data), utcnow()
    user.email_verified = True
    if user.status == "pending":
        user.status = "active"
    db_session().commit()
    audit_log.record("signup.verified", user_id=user.id, password="new" if choosing else "kept")
    session["offer_passkey"] = True  # the first sign-in then offers a passkey (idp/passkeys.py)
    flash(_("Your e-mail address is confirmed. Sign in to continue."))
    return redirect(url_for("login.login", username=user.username, rid=found.data.get("rid")), 303)


def _password_accepted(user: User, known: SignupPasswordForm, chosen: SignupNewPasswordForm,
                       choosing: bool) -> bool:
    if choosing:
        chosen.new_password.errors = password_policy.problems(
            chosen.new_password.data, user.username, user.email, given_name=user.given_name,
            family_name=user.family_name, birthdate=user.birthdate)
        return not chosen.new_password.errors
    if verify_password(user.password_hash, known.password.data):
        return True
    known.password.errors = [_("This is not the password chosen at sign-up. If you do not know it, "
                               "choose a new one below.")]
    return False


def _verify_page(user: User, known: SignupPasswordForm, chosen: SignupNewPasswordForm, status: int = 200):
    return render_template("recovery/verify.html", user=user, known=known, chosen=chosen,
                           hint=password_policy.hint()), status


def pending_login(user: User) -> str:
    """A pending account signed in with the right password: send a fresh link and say where."""
    if allow(current_app.config["IDP_RECOVERY_ACCOUNT_RATE_LIMIT"], "verify-mail", str(user.id)):
        send_verification(user, request.form.get("rid") or None)
    return _("Your e-mail address is not confirmed yet. We have sent a new link to %(address)s: open it to "
             "activate your account.", address=mask_email(user.email))


def signup_url(rid: str | None) -> str:
    return url_for("signup.signup", rid=rid)


def expire_pending(_payload: dict) -> None:
    """The periodic job: delete the sign-ups never confirmed within ``IDP_PENDING_ACCOUNT_TTL``."""
    db = db_session()
    cutoff = utcnow() - dt.timedelta(seconds=current_app.config["IDP_PENDING_ACCOUNT_TTL"])
    expired = db.scalars(select(User).where(User.status == "pending", User.created_at < cutoff)
                         .order_by(User.id).limit(EXPIRED_PER_RUN)).all()
    for user in expired:
        one_time_tokens().revoke_user(user.id)
        db.delete(user)
    db.commit()
    for user in expired:
        audit_log.record("signup.expired", user_id=user.id)
