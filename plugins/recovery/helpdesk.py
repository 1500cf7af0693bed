"""Je n'ai plus accès à cette adresse: a citizen who lost their mailbox files a request that
the help desk checks offline, then resolves through the admin API (a new address, verified,
and a reset link sent there).

A citizen may instead sign in at a provider that verifies identities (FranceConnect): when exactly
one account matches, they recover it themselves (idp/federated_recovery.py); otherwise they come
back here with the names and birth date filled in from that identity, locked, and the request is
marked as verified by it for the agent.

    form ──▶ request filed, help desk mailed
      ──(it points to one account)──▶ that account's current address is told at once,
         with a link that cancels the request (someone may be trying to take the account)
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from idp import audit_log, mail
from idp.db import session as db_session
from idp.federated_recovery import HELP_OFFER, help_offer, verifying_upstreams
from idp.forms import ConfirmForm
from idp.models import HelpRequest, User, utcnow
from idp.one_time_tokens import one_time_tokens
from idp.ratelimit import allow, limiter
from idp.theme import brand_name
from idp.users import find_same_person, username_key

from .forms import HelpRequestForm

bp = Blueprint("helpdesk", __name__)
CANCEL = "help-cancel"  # one-time token purpose
VERIFIED = ("given_name", "family_name", "birthdate")  # from a provider that verifies identities: locked
CONTACT = ("phone_number", "street_address", "postal_code", "locality")  # optional, for a call or a letter


@bp.route("/recovery/help", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IDP_HELP_RATE_LIMIT"], methods=["POST"])
def help_request():
    offer = help_offer()
    if offer and request.method == "POST":  # the verified identity, whatever the form says of it
        posted = request.form.copy()
        for name in VERIFIED:
            posted.setlist(name, [offer[name]] if name in offer else [])
        form = HelpRequestForm(formdata=posted, rid=request.args.get("rid"))
    else:
        form = HelpRequestForm(rid=request.args.get("rid"))
    if offer and request.method == "GET":
        form.given_name.data, form.family_name.data = offer.get("given_name"), offer.get("family_name")
        form.birthdate.data = _iso_date(offer.get("birthdate"))
    if request.method == "GET" or not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        if offer:
            for name in VERIFIED:
                form[name].render_kw = {**(form[name].render_kw or {}), "readonly": True}
        return render_template("recovery/help.html", form=form, verified_by=offer["label"] if offer else None,
                               providers=[] if offer else verifying_upstreams()), status
    filed = _file(form, offer["upstream"] if offer else None)
    session.pop(HELP_OFFER, None)
    reached = _tell_help_desk(filed)
    if reached:
        _acknowledge(filed)
    _tell_account_owner(filed)
    audit_log.record("helpdesk.request_filed", request_id=filed.id, user_id=filed.user_id)
    return render_template("recovery/help_sent.html", request_id=filed.id, reached=reached,
                           back=url_for("login.login", rid=form.rid.data or None))


def _iso_date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value or "")
    except ValueError:
        return None


def _file(form: HelpRequestForm, verified_by: str | None) -> HelpRequest:
    db = db_session()
    filed = HelpRequest(given_name=form.given_name.data.strip(), family_name=form.family_name.data.strip(),
                        birthdate=form.birthdate.data, username=_optional(form.username),
                        new_email=form.new_email.data.strip(), message=form.message.data or "",
                        lang=str(get_locale()), user_id=_likely_account(form), identity_verified_by=verified_by,
                        **{name: _optional(form[name]) for name in CONTACT})
    db.add(filed)
    db.commit()
    return filed


def _optional(field) -> str | None:
    return (field.data or "").strip() or None


def _likely_account(form: HelpRequestForm) -> int | None:
    """The account these details point to, when exactly one does (the help desk still checks)."""
    candidates = find_same_person(db_session(), form.given_name.data, form.family_name.data, form.birthdate.data)
    if form.username.data:
        named = [user for user in candidates if user.username_key == username_key(form.username.data)]
        candidates = named or candidates
    return candidates[0].id if len(candidates) == 1 else None


def _tell_help_desk(filed: HelpRequest) -> bool:
    """Mail the request to the help desk; False when none is configured (the page must then not say it was)."""
    address = current_app.config["IDP_HELPDESK_EMAIL"]
    if not address:
        current_app.logger.warning("help request %s filed; IDP_HELPDESK_EMAIL is unset, nobody was mailed", filed.id)
        return False
    mail.send(address, "recovery/help_request", _l("Help request no. %(id)s: lost mailbox", id=filed.id),
              current_app.config["IDP_DEFAULT_LOCALE"], help_request=filed)
    return True


def _acknowledge(filed: HelpRequest) -> None:
    """The new address hears that the request arrived, its number and the delay announced; few per address,
    since anyone can type any address there."""
    if allow(current_app.config["IDP_RECOVERY_ACCOUNT_RATE_LIMIT"], "help-ack", filed.new_email.casefold()):
        mail.send(filed.new_email, "recovery/help_received",
                  _l("Your request to the %(brand)s help desk (no. %(id)s)", brand=brand_name(), id=filed.id),
                  help_request=filed,
                  days=current_app.config["IDP_HELPDESK_DELAY_DAYS"])


def _tell_account_owner(filed: HelpRequest) -> None:
    """The address the account uses now hears of the request at once, with a link that cancels it."""
    user = db_session().get(User, filed.user_id) if filed.user_id else None
    if user is None or not user.email:
        return
    if not allow(current_app.config["IDP_RECOVERY_ACCOUNT_RATE_LIMIT"], "help-notice", str(user.id)):
        audit_log.record("helpdesk.notice_throttled", user_id=user.id, request_id=filed.id)
        return
    ttl = current_app.config["IDP_NOTICE_TOKEN_TTL"]
    token = one_time_tokens().issue(user.id, CANCEL, ttl, data={"request_id": filed.id}, kept=True)
    mail.send(user.email, "recovery/help_request_filed",
              _l("A request to change the address of your %(brand)s account", brand=brand_name()),
              user=user, request_id=filed.id, days=ttl // 86400, link=mail.link("helpdesk.cancel", token=token))


@bp.route("/recovery/help/cancel/<token>", methods=["GET", "POST"])
def cancel(token: str):
    """The account owner's "it was not me": GET shows a button (mail scanners open links), POST cancels."""
    found = one_time_tokens().peek(token, CANCEL)
    filed = db_session().get(HelpRequest, found.data.get("request_id")) if found else None
    if filed is None:
        return render_template("account/link_invalid.html", cancel=True), 410
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("recovery/help_cancel.html", form=form, help_request=filed)
    if one_time_tokens().consume(token, CANCEL) is None:
        return render_template("account/link_invalid.html", cancel=True), 410
    if filed.state != "open":
        return render_template("recovery/help_cancel_done.html", help_request=filed, too_late=True), 409
    filed.state, filed.closed_at, filed.closed_by = "rejected", utcnow(), "owner"
    filed.reason = "Cancelled by the owner of the account: the request was not theirs."
    db_session().commit()
    audit_log.record("helpdesk.request_cancelled", user_id=filed.user_id, request_id=filed.id)
    return render_template("recovery/help_cancel_done.html", help_request=filed, too_late=False)
