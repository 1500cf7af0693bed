"""The federation routes (issue 14, item 2): ``/federation/<name>/login`` sends the browser to the
upstream provider, ``/federation/<name>/callback`` takes its answer (idp/federation.py checks it).

The state is tied to the browser that started: its hash waits in the browser's session, so a
callback carried to another browser (someone else's code, to sign a victim in as the attacker) is
refused.  An identity tied to an account signs its citizen in.  An identity tied to none is compared
with the accounts (idp/upstream_identities.py): when exactly one has its names and birth date, the
browser is sent to the login form, and signing in to that account there (password, second factor)
ties the identity to it, or a link mailed to the account's address and opened in the same browser
does; none matching: sign-up, filled in; several: the help desk.  Every failure
ends on a page in the citizen's language that offers the ordinary login, and is audited.
"""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlparse

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from . import audit_log, federated_recovery, mail, second_factor
from .db import session as db_session
from .federation import FederationError, begin, finish
from .forms import ConfirmForm
from .login import FEDERATED, complete_login
from .models import Upstream, User
from .oidc import pending
from .oidc.tokens import sha256
from .one_time_tokens import one_time_tokens
from .ratelimit import allow, limiter
from .theme import brand_name
from .upstream_identities import LinkError, link, match, tied_account
from .upstreams import UpstreamError, metadata, redirect_uris

bp = Blueprint("federation", __name__, url_prefix="/federation")
AMR = ["fed"]  # signed in through another provider (RFC 8176 registers no value for it)
LINK_OFFER = "federation_link"  # in the browser's session: an identity to tie at the next sign-in
LINK_OFFER_TTL = 600  # seconds: the sign-in that follows the provider's
LOGOUT_TTL = 600  # seconds for the provider's sign-out to send the browser back
LINK_BY_MAIL = "fed-link"  # one-time token: the mailed link that ties an identity instead of the password
SIGNUP_OFFER = "federation_signup"  # in the browser's session: an identity to create an account from
# What sign-up takes from the provider: the names and birth date (locked), the address (a suggestion),
# and the birthplace and birth country it keeps.
VERIFIED_CLAIMS = ("given_name", "family_name", "birthdate", "email", "birthplace", "birthcountry")


def _upstream(name: str) -> Upstream:
    upstream = db_session().get(Upstream, name) if len(name) <= 40 else None
    if upstream is None:
        abort(404)
    return upstream


_digest = sha256  # of a random state or link: stored and compared, never the value itself


def _store():
    provider = current_app.extensions["idp"]
    return provider.redis, provider.keys


def _login_link(rid: str | None) -> str:
    return url_for("login.login", rid=rid) if pending.get(rid) else url_for("login.login")


@bp.route("/<name>/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IDP_LOGIN_RATE_LIMIT"])
def start(name: str):
    upstream = _upstream(name)
    rid = request.values.get("rid")
    rid = rid if pending.get(rid) else None
    # From the help page: a lost mailbox, recovered with a verified identity (idp/federated_recovery.py).
    purpose = "recover" if request.values.get("purpose") == "recover" and upstream.verifies_identity else "login"
    callback = redirect_uris(current_app.config["IDP_ISSUER"], upstream.name)["redirect_uri"]
    try:
        url = begin(*_store(), metadata, upstream, callback, rid=rid, purpose=purpose)
    except FederationError as error:
        return _failure(upstream, error, rid)
    session["federation_state"] = _digest(parse_qs(urlparse(url).query)["state"][0])
    return redirect(url, 303)


@bp.get("/<name>/callback")
def callback(name: str):
    upstream = _upstream(name)
    state = request.args.get("state", "")
    if not state or session.pop("federation_state", None) != _digest(state):
        return _failure(upstream, FederationError("state", "the state was not started by this browser"), None)
    try:
        identity = finish(*_store(), metadata, upstream, request.args.to_dict())
    except FederationError as error:
        return _failure(upstream, error, None)
    if identity.purpose == "recover":
        return federated_recovery.arrived(upstream, identity)
    user = tied_account(db_session(), identity.issuer, identity.subject)
    if user is not None and user.is_active:
        return complete_login(user, AMR, shared_computer=False, rid=identity.rid, next_path=None,
                              kept={FEDERATED: {"upstream": upstream.name, "id_token": identity.id_token}})
    if user is not None:  # created from this identity, its address not confirmed yet; or disabled
        message = (_("Your account is waiting for its e-mail address to be confirmed: open the link we sent.")
                   if user.status == "pending" else _("This account is disabled. Contact the help desk."))
        return render_template("errors/error.html", title=_("Sign-in with %(provider)s failed",
                                                            provider=upstream.label),
                               message=message, back=_login_link(identity.rid)), 403
    found = match(db_session(), identity.claims)
    audit_log.record("federation.unlinked", upstream=upstream.name, match=found.outcome)
    if found.outcome == "one":
        # One account has these names and this birth date: whoever signs in to it now, with its
        # password (and its second factor), ties the identity to it (login.complete_login).
        session[LINK_OFFER] = {"issuer": identity.issuer, "subject": identity.subject, "upstream": upstream.name,
                               "label": upstream.label, "user_id": found.accounts[0].id,
                               "until": time.time() + LINK_OFFER_TTL,
                               **{name: str(identity.claims[name])[:100] for name in ("birthplace", "birthcountry")
                                  if identity.claims.get(name)}}
        return redirect(_login_link(identity.rid), 303)
    if found.outcome == "none" and "signup.signup" in current_app.view_functions:
        # Nobody has these names and this birth date: sign-up, with them filled in and locked.
        session[SIGNUP_OFFER] = {
            "issuer": identity.issuer, "subject": identity.subject, "upstream": upstream.name,
            "label": upstream.label, "until": time.time() + LINK_OFFER_TTL,
            **{name: str(identity.claims[name])[:100] for name in VERIFIED_CLAIMS if identity.claims.get(name)}}
        return redirect(url_for("signup.signup", rid=identity.rid if pending.get(identity.rid) else None), 303)
    if found.outcome == "several":
        message = _("Several accounts match your %(provider)s identity. Sign in with your identifier and "
                    "password, or ask the help desk.", provider=upstream.label)
    else:
        message = _("Your %(provider)s identity is not linked to an account yet. Sign in with your identifier "
                    "and password.", provider=upstream.label)
    page = render_template("errors/error.html", title=_("Account not linked yet"), message=message,
                           back=_login_link(identity.rid))
    return page, 200


def take_link_offer(user) -> None:
    """Called once a citizen has signed in with every factor: tie the identity the browser brought
    from an upstream, if it was offered to this very account, and not too long ago."""
    offer = session.pop(LINK_OFFER, None)
    if not offer or offer["user_id"] != user.id or offer["until"] < time.time():
        return
    _tie(user, offer, "password")


def _tie(user, offer: dict, proof: str) -> bool:
    """Tie the offered identity to ``user``, who proved the account is theirs (``proof``); False when
    it was tied meanwhile (another browser)."""
    try:
        link(db_session(), user, offer["issuer"], offer["subject"], offer["upstream"])
    except LinkError:
        return False
    upstream = db_session().get(Upstream, offer["upstream"])
    if upstream is not None and upstream.verifies_identity:
        # The account's names and birth date are the provider's, which took them from the registers.
        user.identity_verified_by = upstream.name
        user.birthplace = offer.get("birthplace") or user.birthplace
        user.birthcountry = offer.get("birthcountry") or user.birthcountry
        db_session().commit()
    audit_log.record("federation.linked", user_id=user.id, upstream=offer["upstream"],
                     **({"proof": proof} if proof != "password" else {}))
    return True


@bp.post("/link/mail")
@limiter.limit(lambda: current_app.config["IDP_RECOVERY_RATE_LIMIT"])
def link_by_mail():
    """Instead of the password: a link mailed to the account's address, to open in this very browser
    (whoever reads another's mail must not tie their identity to it).  Not for an account with a
    second factor: its code would be skipped by the identity's later sign-ins."""
    offer = link_offer()
    user = db_session().get(User, offer["user_id"]) if offer else None
    if user is None or not user.is_active or not user.email:
        return render_template("errors/error.html", title=_("This step has expired"),
                               message=_("Please sign in with %(provider)s again.",
                                         provider=offer["label"] if offer else _("the provider")),
                               back=url_for("login.login")), 410
    if second_factor.enrolled(user):
        return render_template("errors/error.html", title=_("Sign in with your password and your code"),
                               message=_("This account asks for a code at sign-in: link your identity by signing "
                                         "in with the password and the code once."),
                               back=url_for("login.login")), 409
    if not allow(current_app.config["IDP_RECOVERY_ACCOUNT_RATE_LIMIT"], "fed-link", str(user.id)):
        return render_template("errors/error.html", title=_("Too many links"),
                               message=_("Too many links were sent for this account. Wait a few minutes, then "
                                         "try again."), back=url_for("login.login")), 429
    ttl = current_app.config["IDP_RESET_TOKEN_TTL"]
    token = one_time_tokens().issue(user.id, LINK_BY_MAIL, ttl, data={
        name: offer.get(name) for name in ("issuer", "subject", "upstream", "label", "birthplace", "birthcountry")})
    session[LINK_OFFER] = {**offer, "mailed": _digest(token), "until": time.time() + ttl}
    mail.send(user.email, "account/link_identity", _l("Link your %(provider)s identity to your %(brand)s account",
                                                      provider=offer["label"], brand=brand_name()),
              expires_at=int(time.time()) + ttl, user=user, provider=offer["label"], minutes=ttl // 60,
              link=mail.link("federation.link_by_mail_open", token=token))
    audit_log.record("federation.link_mailed", user_id=user.id, upstream=offer["upstream"])
    return render_template("account/link_identity_sent.html", provider=offer["label"], minutes=ttl // 60)


def _link_gone():
    return render_template("errors/error.html", title=_("This link no longer works"),
                           message=_("The link has expired, has already been used, or was replaced by a more recent "
                                     "one. Nothing has changed: start again from the login page."),
                           back=url_for("login.login")), 410


@bp.route("/link/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IDP_RECOVERY_RATE_LIMIT"], methods=["POST"])
def link_by_mail_open(token: str):
    """The mailed link: GET shows a button (mail scanners open links), POST ties."""
    found = one_time_tokens().peek(token, LINK_BY_MAIL)
    user = db_session().get(User, found.user_id) if found else None
    if user is None or not user.is_active:
        return _link_gone()
    offer = session.get(LINK_OFFER)
    if not offer or offer.get("mailed") != _digest(token):
        return render_template("errors/error.html", title=_("Open this link in the same browser"),
                               message=_("Open the link in the browser where you signed in with %(provider)s, "
                                         "or start again from the login page.", provider=found.data["label"]),
                               back=url_for("login.login")), 403
    form = ConfirmForm()
    if request.method == "GET" or not form.validate_on_submit():
        return render_template("account/link_identity.html", form=form, provider=found.data["label"])
    if one_time_tokens().consume(token, LINK_BY_MAIL) is None:
        return _link_gone()
    session.pop(LINK_OFFER, None)
    upstream = db_session().get(Upstream, found.data["upstream"])
    tied = _tie(user, found.data, "mail")
    return render_template("account/link_identity_done.html", tied=tied, provider=found.data["label"],
                           upstream=upstream)


def link_offer() -> dict | None:
    """The identity waiting to be tied, for the login page to say so."""
    offer = session.get(LINK_OFFER)
    return offer if offer and offer["until"] >= time.time() else None


MESSAGES = {
    "refused": lambda: _("The sign-in was cancelled or refused."),
    "state": lambda: _("This sign-in link has expired or was already used. Please start again."),
    "unreachable": lambda: _("The service cannot be reached right now. Please try again in a few minutes."),
    "token": lambda: _("The answer of the service could not be verified."),
    "acr": lambda: _("The service did not confirm the level of assurance asked for."),
    "claims": lambda: _("The service did not send the information needed."),
}


def _failure(upstream: Upstream, error: FederationError, rid: str | None):
    current_app.logger.warning("federation with %s failed: %s", upstream.name, error)
    audit_log.record("federation.failure", upstream=upstream.name, kind=error.kind)
    page = render_template("errors/error.html", title=_("Sign-in with %(provider)s failed", provider=upstream.label),
                           message=MESSAGES[error.kind](), back=_login_link(rid))
    return page, 502 if error.kind == "unreachable" else 400


def leave_upstream(federated: dict | None, target: str | None, shared_computer: bool):
    """After a sign-out here, of a session that began at an upstream provider: the redirect that ends
    it there too (its end_session_endpoint, with the ID token as hint, a state and the registered
    post_logout_redirect_uri), or None when there is nothing to end there or no way to.  What comes
    after (the service's address, or the signed-out page) waits under the state for the way back."""
    upstream = db_session().get(Upstream, federated["upstream"]) if federated else None
    if upstream is None:
        return None
    try:
        endpoint = metadata.discovery(upstream.issuer).get("end_session_endpoint")
    except UpstreamError as error:
        current_app.logger.warning("sign-out at %s skipped: %s", upstream.name, error)
        return None
    if not isinstance(endpoint, str):
        return None
    state = secrets.token_urlsafe(32)
    redis, keys = _store()
    redis.set(keys("fed-logout", _digest(state)), json.dumps({"target": target, "shared": shared_computer}),
              ex=LOGOUT_TTL)
    back = redirect_uris(current_app.config["IDP_ISSUER"], upstream.name)["post_logout_redirect_uri"]
    query = urlencode({"id_token_hint": federated["id_token"], "state": state, "post_logout_redirect_uri": back})
    return redirect(f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", 303)


@bp.get("/<name>/logged-out")
def logged_out(name: str):
    """The provider's way back after its sign-out: on to the service that asked, or the signed-out page."""
    _upstream(name)
    state = request.args.get("state", "")
    redis, keys = _store()
    raw = redis.getdel(keys("fed-logout", _digest(state))) if state else None
    after = json.loads(raw) if raw else {"target": None, "shared": False}
    if after["target"]:
        return redirect(after["target"], 303)
    return render_template("login/logged_out.html", shared_computer=after["shared"])


def signup_offer() -> dict | None:
    """The identity sign-up is filled in from, if the browser brought one lately."""
    offer = session.get(SIGNUP_OFFER)
    return offer if offer and offer["until"] >= time.time() else None


def take_signup_offer() -> dict | None:
    """The identity an account is being created from (sign-up's POST): taken from the session."""
    offer = signup_offer()
    session.pop(SIGNUP_OFFER, None)
    return offer


def tie_new_account(user, federation: dict) -> None:
    """The sign-up job, for an account created from an upstream identity: tie the identity, and keep
    that the provider verified the names and birth date, with the birthplace and country it sent."""
    try:
        link(db_session(), user, federation["issuer"], federation["subject"], federation["upstream"])
    except LinkError:
        return  # tied meanwhile to another account: this one stays self-declared
    user.identity_verified_by = federation["upstream"]
    user.birthplace = federation.get("birthplace")
    user.birthcountry = federation.get("birthcountry")
    db_session().commit()
