"""The console's actions.  Each one is a confirmation page (GET) with a required reason, then the
action (POST, CSRF-checked), done by ``idp.help_desk_actions`` as the admin API does it, audited
with the signed-in agent as the actor.  No agent acts on their own account here, and each agent's
actions count against ``IDP_HELPDESK_ACTION_RATE_LIMIT``: past it the console pauses."""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from .. import audit_log, second_factor
from .. import help_desk_actions as desk
from ..models import HelpRequest, Passkey, User
from ..passkeys import passkeys_of
from ..ratelimit import allow
from . import bp
from .forms import ReasonForm
from .views import find_account, find_request, likely_account

RATE_SCOPE = "helpdesk-action"

ACCOUNT_ACTIONS = {
    "disable": (_l("Disable the account"),
                _l("The citizen can no longer sign in, and every session and token of the account ends.")),
    "enable": (_l("Re-enable the account"), _l("The citizen can sign in again.")),
    "revoke": (_l("End sessions and tokens"),
               _l("Every session of the account ends, and the services lose their access until the citizen "
                  "signs in again.")),
    "remove-second-factor": (_l("Switch off two-step sign-in"),
                             _l("You checked who the citizen is (they lost their phone and their recovery "
                                "codes): their password alone will sign them in again, and they are told by "
                                "mail.")),
    "clear-duplicate": (_l("Clear the “possible duplicate” mark"),
                        _l("You checked that this account belongs to another person than the account it "
                           "resembles.")),
    "remove-passkey": (_l("Remove the passkey"),
                       _l("You checked who the citizen is (they lost the phone, computer or security key that "
                          "holds it): the passkey no longer signs in to the account, and they are told by mail.")),
}
REQUEST_ACTIONS = {
    "resolve": (_l("Resolve the request"),
                _l("The new address becomes the account's verified address, the old address is told (with a "
                   "link to dispute it), and a link to choose a new password is sent to the new address.")),
    "reject": (_l("Reject the request"), _l("The request is closed, and the reason below is mailed to the citizen "
                                            "at the address they gave.")),
    "attach": (_l("Attach the request to this account"),
               _l("The request will concern this account instead.")),
}


@bp.route("/users/<int:user_id>/<action>", methods=["GET", "POST"])
def on_account(user_id: int, action: str):
    if action not in ACCOUNT_ACTIONS:
        abort(404)
    user = find_account(user_id)
    if (refused := _own_account(user)) is not None:
        return refused
    form = ReasonForm()
    back = url_for("console.account", user_id=user.id)
    passkey = _passkey(user) if action == "remove-passkey" else None
    if action == "remove-passkey" and passkey is None:
        return _refused(_("This passkey is not, or no longer, one of this account's."), back, 404)
    if request.method == "GET" or not form.validate_on_submit():
        return _confirm_page(ACCOUNT_ACTIONS[action], form, back, user=user, passkey=passkey)
    if (paused := _paused()) is not None:
        return paused
    reason = form.reason.data.strip()
    if action == "remove-passkey":
        try:
            desk.remove_passkey(user, passkey.id, reason)
        except desk.Refused as refused:  # removed meanwhile, by the citizen or another agent
            return _refused(str(refused.message), back, refused.status)
    elif action in ("disable", "enable"):
        desk.set_disabled(user, action == "disable", reason)
    elif action == "revoke":
        desk.revoke(user, reason=reason)
    elif action == "remove-second-factor":
        second_factor.remove_for(user, reason=reason)
    else:
        desk.clear_duplicate_mark(user, reason)
    flash(_("Done: %(what)s.", what=ACCOUNT_ACTIONS[action][0]))
    return redirect(back, 303)


@bp.route("/requests/<int:request_id>/<action>", methods=["GET", "POST"])
def on_request(request_id: int, action: str):
    if action not in REQUEST_ACTIONS:
        abort(404)
    filed = find_request(request_id)
    user = _target(filed, action)
    back = url_for("console.help_request", request_id=filed.id)
    if user is None and action != "reject":
        return _refused(_("No single account matches this request: search for it and attach the request first."),
                        back, 409)
    if user is not None and (refused := _own_account(user)) is not None:
        return refused
    if filed.state != "open":
        return _refused(_("This request is already closed."), back, 409)
    form = ReasonForm()
    if request.method == "GET" or not form.validate_on_submit():
        return _confirm_page(REQUEST_ACTIONS[action], form, back, user=user, filed=filed)
    if (paused := _paused()) is not None:
        return paused
    try:
        _do(action, filed, user, form.reason.data.strip())
    except desk.Refused as refused:
        return _refused(str(refused.message), back, refused.status)
    flash(_("Done: %(what)s.", what=REQUEST_ACTIONS[action][0]))
    return redirect(back, 303)


def _passkey(user: User) -> Passkey | None:
    """The passkey named by ``?passkey=``, when it is one of the account's."""
    return next((row for row in passkeys_of(user) if row.id == request.args.get("passkey", type=int)), None)


def _target(filed: HelpRequest, action: str) -> User | None:
    """Whose account the action is on: the one chosen in the search (attach), else the likely one."""
    if action == "attach":
        return find_account(request.args.get("user", type=int) or 0)
    return likely_account(filed)


def _do(action: str, filed: HelpRequest, user: User | None, reason: str) -> None:
    agent = f"user:{g.agent.id}"
    if action == "resolve":
        desk.resolve_request(filed, user, agent, reason=reason)
    elif action == "reject":
        desk.reject_request(filed, reason, agent)
    else:
        desk.attach_request(filed, user, reason)


def _own_account(user: User):
    if user.id != g.agent.id:
        return None
    audit_log.record("helpdesk.own_account_refused", user_id=user.id)
    return _refused(_("You cannot act on your own account from the console: ask another agent."),
                    url_for("console.queue"), 403)


def _paused():
    """The agent's action is counted; past the limit, the console pauses and the audit log says so."""
    limit = current_app.config["IDP_HELPDESK_ACTION_RATE_LIMIT"]
    if allow(limit, RATE_SCOPE, str(g.agent.id)):
        return None
    audit_log.record("helpdesk.paused", user_id=g.agent.id, limit=limit)
    return render_template("helpdesk/paused.html", limit=limit), 429


def _confirm_page(what: tuple, form: ReasonForm, cancel: str, **shown):
    title, explanation = what
    status = 400 if request.method == "POST" else 200
    return render_template("helpdesk/confirm.html", title=title, explanation=explanation, form=form,
                           action=request.full_path.rstrip("?"), cancel=cancel, **shown), status


def _refused(message: str, back: str, status: int):
    return render_template("helpdesk/refused.html", message=message, back=back), status
