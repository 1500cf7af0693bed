"""A lost mailbox recovered in self-service through an upstream provider that verifies identities
(FranceConnect; issue 14, item 5).

From the help page ("Je n'ai plus accès à cette adresse"), the citizen signs in at the provider.
Its verified identity must point to exactly one active account, and no other provider's identity
may be tied to that account; every other case goes to the help desk, the identity attached.

    provider's identity ──▶ one account ──(new address typed)──▶ a link mailed to the new address
      link opened ──(new password chosen)──▶
        identity already verified on the account (or tied to it): applied now
        names only typed at sign-up: scheduled, applied after IDP_FEDERATED_RECOVERY_DELAY,
          the old address told at once with a link that cancels it
      applied ──▶ the new address (verified), the new password, every session, token and link
        ended, the identity tied, the old address told with the "ce n'était pas moi" link (which
        freezes the account, as after a help-desk change), audited "recovered with <provider>"
        and listed in the help desk's console for review

A homonym (same names, same birth date) who signs in at the provider cannot quietly take a
self-declared account: its rightful owner hears of it at the address they use, and has the delay to
cancel.  Nothing changes before the new address proved it receives mail.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import format_date, format_time, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Regexp

from . import audit_log, mail, password_policy
from .credentials import set_password
from .db import session as db_session
from .email_change import free_from_pending_account, tell_old_address
from .forms import ConfirmForm, Form, NewPasswordForm, at_most, email_address
from .identity import mask_email
from .models import FederatedRecovery, Upstream, User, utcnow
from .oidc import pending
from .one_time_tokens import one_time_tokens
from .passwords import hash_password
from .ratelimit import allow, limiter
from .sessions import sign_out_keeping_requests
from .theme import brand_name
from .upstream_identities import LinkError, identities_of, link, match, tied_account
from .users import find_by_email, set_verified_email

bp = Blueprint("federated_recovery", __name__)
OFFER = "federated_recovery"  # in the browser's session: the account the identity may recover
HELP_OFFER = "federated_help"  # in the browser's session: the identity the help form is filled in from
OFFER_TTL = 600  # seconds from the provider's answer to the new address typed
NEW_ADDRESS = "fed-recover"  # one-time token: the new address's link
CANCEL = "fed-recover-cancel"  # one-time token: the old address's link, while a recovery waits
DUE_EVERY = 300  # seconds between the worker's runs over the recoveries that are due
DUE_PER_RUN = 200
APPLY = "federated-recovery-due"  # the periodic job
IDENTITY_CLAIMS = ("given_name", "family_name", "birthdate")


class NewAddressForm(Form):
    new_email = StringField(_l("New e-mail address"),
                            validators=[DataRequired(_l("Enter your new e-mail address, for example name@example.fr.")),
                                        at_most(254), email_address],
                            render_kw={"autocomplete": "email", "type": "email", "autocapitalize": "none",
                                       "spellcheck": "false"})
    rid = HiddenField(validators=[Regexp(r"^[A-Za-z0-9_-]{0,32}$")])


def verifying_upstreams() -> list[Upstream]:
    """The providers a lost mailbox can be recovered with, for the help page's buttons."""
    return list(db_session().scalars(select(Upstream).where(Upstream.verifies_identity.is_(True))
                                     .order_by(Upstream.created_at, Upstream.name)))


def _account_for(identity) -> tuple[User | None, str]:
    """The account this verified identity may recover, or None and why not (for the audit)."""
    db = db_session()
    user = tied_account(db, identity.issuer, identity.subject)
    if user is None:
        found = match(db, identity.claims)
        if found.outcome != "one":
            return None, found.outcome
        user = found.accounts[0]
    if user.status != "active":
        return None, user.status
    if any((tie.issuer, tie.subject) != (identity.issuer, identity.subject) for tie in identities_of(db, user)):
        return None, "other-identity"  # another identity signs in to it: that one's holder must be asked
    return user, "one"


def arrived(upstream: Upstream, identity):
    """The federation callback, for an identity that came from the help page."""
    rid = identity.rid if pending.get(identity.rid) else None
    user, why = _account_for(identity) if upstream.verifies_identity else (None, "not-verifying")
    if user is None:
        audit_log.record("recovery.federated_to_help_desk", upstream=upstream.name, reason=why)
        verified = {name: str(identity.claims.get(name) or "")[:100] for name in IDENTITY_CLAIMS}
        if all(verified.values()) and _iso_date(verified["birthdate"]):
            # Otherwise the help form stays as typed: locking an empty or unreadable field would trap the citizen.
            session[HELP_OFFER] = {"upstream": upstream.name, "label": upstream.label,
                                   "until": time.time() + OFFER_TTL, **verified}
        return redirect(url_for("helpdesk.help_request", rid=rid), 303)
    session[OFFER] = {"user_id": user.id, "issuer": identity.issuer, "subject": identity.subject,
                      "upstream": upstream.name, "label": upstream.label, "until": time.time() + OFFER_TTL,
                      "birthplace": _short(identity.claims.get("birthplace")),
                      "birthcountry": _short(identity.claims.get("birthcountry"))}
    audit_log.record("recovery.federated_started", user_id=user.id, upstream=upstream.name)
    return redirect(url_for("federated_recovery.new_address", rid=rid), 303)


def _iso_date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _short(value) -> str | None:
    return str(value)[:100] if value else None


def help_offer() -> dict | None:
    """The verified identity a help request is filed with, if the browser brought one lately."""
    offer = session.get(HELP_OFFER)
    return offer if offer and offer["until"] >= time.time() else None


def _offer() -> dict | None:
    offer = session.get(OFFER)
    return offer if offer and offer["until"] >= time.time() else None


@bp.route("/recovery/federated", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IDP_RECOVERY_RATE_LIMIT"], methods=["POST"])
def new_address():
    """Step 2: the citizen, back from the provider, types the address they can read now."""
    offer = _offer()
    user = db_session().get(User, offer["user_id"]) if offer else None
    if user is None:
        return render_template("recovery/federated_expired.html"), 410
    form = NewAddressForm(rid=request.args.get("rid"))
    if request.method == "GET" or not form.validate_on_submit():
        return _address_page(form, offer, 400 if request.method == "POST" else 200)
    address = form.new_email.data.strip()
    owner = find_by_email(db_session(), address)
    if owner is not None and owner.id == user.id:
        form.new_email.errors = [_("This is already the address of the account. If you can read it, ask for a "
                                   "new password with “Forgot your password?” instead.")]
        return _address_page(form, offer, 400)
    if owner is not None and owner.status != "pending":
        form.new_email.errors = [_("Another account uses this address. Enter another one.")]
        return _address_page(form, offer, 400)
    if not allow(current_app.config["IDP_RECOVERY_ACCOUNT_RATE_LIMIT"], "fed-recover", str(user.id)):
        form.new_email.errors = [_("Too many links were sent for this account. Wait a few minutes, then try again.")]
        return _address_page(form, offer, 429)
    ttl = current_app.config["IDP_VERIFY_TOKEN_TTL"]
    data = {"email": address, **{name: offer[name] for name in (
        "issuer", "subject", "upstream", "label", "birthplace", "birthcountry")}, "rid": form.rid.data or None}
    token = one_time_tokens().issue(user.id, NEW_ADDRESS, ttl, data=data)
    mail.send(address, "recovery/federated_confirm", _l("Confirm your new address for %(brand)s", brand=brand_name()),
              expires_at=int(time.time()) + ttl, user=user, hours=ttl // 3600,
              link=mail.link("federated_recovery.confirm", token=token))
    session.pop(OFFER, None)
    audit_log.record("recovery.federated_address_sent", user_id=user.id, upstream=offer["upstream"])
    return render_template("recovery/federated_sent.html", address=address, hours=ttl // 3600)


def _address_page(form: NewAddressForm, offer: dict, status: int):
    return render_template("recovery/federated_address.html", form=form, provider=offer["label"]), status


@bp.route("/recovery/federated/confirm/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IDP_RECOVERY_RATE_LIMIT"], methods=["POST"])
def confirm(token: str):
    """Step 3, from the new mailbox: the address is proved; the citizen chooses a new password."""
    found = one_time_tokens().peek(token, NEW_ADDRESS)  # a GET never consumes: mail scanners open links
    user = db_session().get(User, found.user_id) if found else None
    if user is None or user.status != "active":
        return render_template("recovery/link_invalid.html"), 410
    form = NewPasswordForm()
    delayed = not _verified(user, found.data)
    if request.method == "GET" or not form.validate_on_submit():
        return _password_page(form, user, found.data, delayed, 400 if request.method == "POST" else 200)
    form.new_password.errors = password_policy.problems(
        form.new_password.data, user.username, found.data["email"], given_name=user.given_name,
        family_name=user.family_name, birthdate=user.birthdate)
    if form.new_password.errors:
        return _password_page(form, user, found.data, delayed, 400)
    if _blocked(user, found.data):
        one_time_tokens().consume(token, NEW_ADDRESS)
        audit_log.record("recovery.federated_refused", user_id=user.id, upstream=found.data["upstream"])
        return render_template("recovery/federated_blocked.html"), 409
    if one_time_tokens().consume(token, NEW_ADDRESS) is None:
        return render_template("recovery/link_invalid.html"), 410  # used a moment ago, in another tab
    recovery = FederatedRecovery(
        user_id=user.id, new_email=found.data["email"], password_hash=hash_password(form.new_password.data),
        upstream=found.data["upstream"], issuer=found.data["issuer"], subject=found.data["subject"],
        birthplace=found.data.get("birthplace"), birthcountry=found.data.get("birthcountry"),
        lang=str(get_locale()), due_at=utcnow() + dt.timedelta(seconds=_delay() if delayed else 0))
    if session.get("user_id"):
        sign_out_keeping_requests(session)
    if delayed:
        _schedule(user, recovery, found.data["label"])
        return render_template("recovery/federated_scheduled.html", due=recovery.due_at, address=recovery.new_email)
    if not apply(user, recovery, found.data["label"]):
        return render_template("recovery/federated_blocked.html"), 409
    flash(_("Your new address and your new password are saved. Sign in with your new password."))
    return redirect(url_for("login.login", username=user.username, rid=found.data.get("rid")), 303)


def _password_page(form, user: User, data: dict, delayed: bool, status: int):
    return render_template("recovery/federated_password.html", form=form, user=user, address=data["email"],
                           delayed=delayed, delay_days=_delay_days(), hint=password_policy.hint()), status


def _delay() -> int:
    return current_app.config["IDP_FEDERATED_RECOVERY_DELAY"]


def _delay_days() -> int:
    return max(1, round(_delay() / 86400))


def _verified(user: User, data: dict) -> bool:
    """The account's identity was verified upstream already, or this very identity is tied to it:
    the recovery applies at once.  Otherwise its names were only typed, and it waits."""
    return bool(user.identity_verified_by) or tied_account(db_session(), data["issuer"], data["subject"]) is user


def _blocked(user: User, data: dict) -> bool:
    """What changed since the provider's answer forbids going on: the account is tied to another
    identity now, or another account took the address."""
    if any((tie.issuer, tie.subject) != (data["issuer"], data["subject"]) for tie in identities_of(db_session(), user)):
        return True
    owner = find_by_email(db_session(), data["email"])
    return owner is not None and owner.id != user.id and owner.status != "pending"


def _schedule(user: User, recovery: FederatedRecovery, label: str) -> None:
    db = db_session()
    for earlier in db.scalars(select(FederatedRecovery).where(FederatedRecovery.user_id == user.id,
                                                              FederatedRecovery.state == "scheduled")):
        earlier.state, earlier.closed_at = "cancelled", utcnow()  # replaced by this one
    db.add(recovery)
    db.commit()
    audit_log.record("recovery.federated_scheduled", user_id=user.id, upstream=recovery.upstream,
                     recovery_id=recovery.id)
    if user.email:
        token = one_time_tokens().issue(user.id, CANCEL, _delay() + 86400, data={"recovery_id": recovery.id},
                                        kept=True)
        mail.send(user.email, "recovery/federated_pending",
                  _l("A request to change the address of your %(brand)s account", brand=brand_name()),
                  user=user, provider=label, new_address=mask_email(recovery.new_email), due=recovery.due_at,
                  link=mail.link("federated_recovery.cancel", token=token))
    mail.send(recovery.new_email, "recovery/federated_outcome",
              _l("Your request to the %(brand)s account", brand=brand_name()), recovery.lang,
              user=user, outcome="scheduled", due=recovery.due_at)


def apply(user: User, recovery: FederatedRecovery, label: str) -> bool:
    """Give the account the new address and password, end everything, tie the identity, tell the old
    address; False, and nothing changed, when another account has taken the address."""
    db = db_session()
    old_address, waited = user.email, recovery.id is not None
    free_from_pending_account(user, recovery.new_email)
    if not set_verified_email(db, user, recovery.new_email):
        _close(recovery, "failed")
        return False
    set_password(user, None, reason="federated-recovery", password_hash=recovery.password_hash)
    with contextlib.suppress(LinkError):  # tied already: it is how this account signs in there
        link(db, user, recovery.issuer, recovery.subject, recovery.upstream)
    user.identity_verified_by = recovery.upstream
    user.birthplace = recovery.birthplace or user.birthplace
    user.birthcountry = recovery.birthcountry or user.birthcountry
    _close(recovery, "done")
    audit_log.record("account.recovered_federated", user_id=user.id, upstream=recovery.upstream,
                     waited=waited)
    if old_address and old_address != recovery.new_email:
        tell_old_address(user, old_address, recovery.new_email, verified_by=label)
    return True


def _close(recovery: FederatedRecovery, state: str) -> None:
    recovery.state, recovery.closed_at = state, utcnow()
    db = db_session()
    if recovery.id is not None:
        db.commit()
    elif state == "done":
        db.add(recovery)  # kept as the record of a recovery applied at once
        db.commit()


def apply_due(_payload: dict | None = None) -> int:
    """The worker's periodic job: apply the recoveries whose delay is over; how many were applied."""
    db = db_session()
    due = list(db.scalars(select(FederatedRecovery).where(FederatedRecovery.state == "scheduled",
                                                          FederatedRecovery.due_at <= utcnow())
                          .order_by(FederatedRecovery.due_at).limit(DUE_PER_RUN)))
    applied = 0
    for recovery in due:
        user = db.get(User, recovery.user_id)
        upstream = db.get(Upstream, recovery.upstream)
        label = upstream.label if upstream else recovery.upstream
        data = {"issuer": recovery.issuer, "subject": recovery.subject, "email": recovery.new_email}
        if user is None or user.status != "active" or _blocked(user, data) or not apply(user, recovery, label):
            if recovery.state == "scheduled":
                _close(recovery, "failed")
            audit_log.record("recovery.federated_failed", user_id=recovery.user_id, recovery_id=recovery.id)
            outcome = "failed"
        else:
            applied += 1
            outcome = "done"
        mail.send(recovery.new_email, "recovery/federated_outcome",
                  _l("Your request to the %(brand)s account", brand=brand_name()), recovery.lang,
                  user=user, outcome=outcome, due=recovery.due_at)
    return applied


@bp.route("/recovery/federated/cancel/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IDP_RECOVERY_RATE_LIMIT"], methods=["POST"])
def cancel(token: str):
    """The old address's "it was not me" while a recovery waits: GET shows a button, POST cancels."""
    found = one_time_tokens().peek(token, CANCEL)
    recovery = db_session().get(FederatedRecovery, found.data.get("recovery_id")) if found else None
    if recovery is None:
        return render_template("account/link_invalid.html", cancel=True), 410
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        if recovery.state != "scheduled":
            return render_template("recovery/federated_cancel_done.html", too_late=True), 409
        return render_template("recovery/federated_cancel.html", form=form, due=recovery.due_at)
    if one_time_tokens().consume(token, CANCEL) is None:
        return render_template("account/link_invalid.html", cancel=True), 410
    if recovery.state != "scheduled":
        return render_template("recovery/federated_cancel_done.html", too_late=True), 409
    _close(recovery, "cancelled")
    audit_log.record("recovery.federated_cancelled", user_id=recovery.user_id, recovery_id=recovery.id)
    user = db_session().get(User, recovery.user_id)
    mail.send(recovery.new_email, "recovery/federated_outcome",
              _l("Your request to the %(brand)s account", brand=brand_name()), recovery.lang,
              user=user, outcome="cancelled", due=recovery.due_at)
    return render_template("recovery/federated_cancel_done.html", too_late=False)


def when(moment: dt.datetime) -> str:
    """A moment (stored in UTC) as pages and mails say it: the day and the time in France."""
    return _("%(date)s at %(time)s", date=format_date(moment, "long"), time=format_time(moment, "HH:mm"))


def init_app(app) -> None:
    app.add_template_filter(when)
    app.register_blueprint(bp)
    queue = app.extensions["idp.jobs"]
    queue.handle(APPLY, apply_due)
    queue.every(APPLY, DUE_EVERY)
