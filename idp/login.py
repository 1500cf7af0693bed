"""The login page, the IdP logout, and the signed-in home page."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy.exc import DBAPIError

from . import audit_log, login_throttle, upstreams
from .db import session as db_session
from .digests import typed_login
from .forms import LoginForm, LogoutForm
from .login_state import current_user, local_path
from .models import SecondFactor, User
from .oidc import acr, backchannel, pending
from .passwords import hash_password, needs_rehash, verify_password
from .plugins import hooks
from .ratelimit import login_attempts
from .sessions import begin_login, end
from .users import find_by_login

FEDERATED = "federated"  # in the session of a sign-in through an upstream: its name and ID token

bp = Blueprint("login", __name__)


@bp.route("/login", methods=["GET", "POST"])
@login_attempts
def login():
    form = LoginForm(rid=request.args.get("rid"))
    if request.method == "GET":
        hint = pending.get(form.rid.data).get("params", {}).get("login_hint")
        form.username.data = request.args.get("username") or hint
        form.next.data = local_path(request.args.get("next"))
        return _login_page(form)
    if not form.validate_on_submit():
        return _login_page(form, status=400)  # each empty field says what to type
    login_name = form.username.data.strip()
    user = find_by_login(db_session(), login_name)
    attempt = login_throttle.for_login(user, login_name, request.remote_addr)
    if wait := login_throttle.wait(attempt):
        return _too_many_failures(wait)
    # Checked whether or not an account matches (the dummy hash then): the same time for both.
    right = verify_password(user.password_hash if user else None, form.password.data)
    over_ceiling = login_throttle.over_ceiling(attempt)  # refused as a wrong password: it cannot be seen
    if not right or over_ceiling:
        _failed(attempt, user, login_name, counted=not right, over_ceiling=over_ceiling)
        return _login_page(form, _("Incorrect identifier or password."), status=401)
    # Said only to whoever typed the right password: it tells nothing to someone guessing.
    if user.status == "disabled":
        return _login_page(form, _("This account is disabled. Contact the help desk."), status=403)
    if user.status == "pending":  # the password was right: say how to finish, not just "no"
        told = [message for hook in hooks().pending_login if (message := hook(user))]
        return _login_page(form, " ".join(told) or _("Your e-mail address is not confirmed yet."), status=403)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(form.password.data)
        db_session().commit()
    if db_session().get(SecondFactor, user.id) is not None:
        from .second_factor import ask_for_code

        login_throttle.password_right(attempt)  # the address becomes known only once the code is right too
        return ask_for_code(user, shared_computer=form.shared_computer.data, rid=form.rid.data,
                            next_path=local_path(form.next.data))
    login_throttle.succeeded(attempt)
    return complete_login(user, ["pwd"], shared_computer=form.shared_computer.data, rid=form.rid.data,
                          next_path=local_path(form.next.data))


def complete_login(user: User, amr: list[str], *, shared_computer: bool, rid: str | None, next_path: str | None,
                   kept: dict | None = None):
    """Every factor checked: sign in, and go back where the citizen was going.  ``kept`` goes into the
    new session (a sign-in through an upstream provider keeps what logging out there will need)."""
    from .federation_views import take_link_offer
    from .passkeys import offer_after_login

    language = str(get_locale())[:8]
    if user.locale != language:  # the "locale" claim: the language the citizen last used here
        user.locale = language
        db_session().commit()
    take_link_offer(user)  # before begin_login, which keeps none of the session's other keys
    begin_login(session, user.id, amr, shared_computer=shared_computer)
    session.update(kept or {})
    audit_log.record("login.success", user_id=user.id, amr=amr,
                     client_id=pending.get(rid).get("params", {}).get("client_id"))
    destination = pending.resume_url(rid) or local_path(next_path) or url_for("login.home")
    return redirect(offer_after_login(user, amr, destination) or destination, 303)


def _failed(attempt: login_throttle.Attempt, user: User | None, typed: str, *, counted: bool,
            over_ceiling: bool) -> None:
    """Count a wrong password and record it: the account when one matches, else a keyed hash of the name."""
    if counted:
        login_throttle.failed(attempt)
    details = {"over_ceiling": True} if over_ceiling else {}
    if user is None:
        details["typed_hmac"] = typed_login(typed)
    audit_log.record("login.failure", user_id=user.id if user else None, **details)


def _too_many_failures(wait: int):
    page = render_template("errors/error.html", title=_("Too many attempts"),
                           message=_("Too many failed sign-ins for this account. Wait a few minutes, "
                                     "or reset your password."))
    return page, 429, {"Retry-After": str(wait)}


def _login_page(form: LoginForm, error: str | None = None, status: int = 200):
    links = [link for hook in hooks().login_links for link in hook()]
    from .federation_views import link_offer

    asked = pending.get(form.rid.data).get("params", {}).get("acr_values")
    return render_template("login/login.html", form=form, error=error, links=links, upstreams=_upstreams(),
                           link_offer=link_offer(), two_factors_asked=acr.wants_two_factors(asked)), status


def _upstreams() -> list:
    """The providers' buttons; none while the database is away (the form still shows, and its POST
    answers the readable 503)."""
    try:
        return upstreams.listed(db_session())
    except DBAPIError as error:
        db_session().rollback()
        current_app.logger.warning("login page without its providers' buttons: %s", type(error).__name__)
        return []


@bp.get("/")
def home():
    user = current_user()
    if user is None:
        return redirect(url_for("login.login"))
    return render_template("login/home.html", user=user, form=LogoutForm())


@bp.post("/logout")
def logout():
    from .federation_views import leave_upstream

    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("login.home"), 303)
    target = session.get("logout_redirect")
    shared_computer = session.get("shared_computer", False)
    federated = session.get(FEDERATED)
    user = current_user()
    backchannel.notify(session.get("user_id"), session.get("sid"), session.get("clients", []))
    end(session)
    if user is not None:
        audit_log.record("logout", user_id=user.id)
    if upstream_logout := leave_upstream(federated, target, shared_computer):
        return upstream_logout  # signed out here already; the provider, then the page or the service
    if target:
        return redirect(target, 303)
    return render_template("login/logged_out.html", shared_computer=shared_computer)
