"""The help desk's console (``/helpdesk``): agents of the reception service answer lost-mailbox
requests in a browser.  Agents are ordinary accounts with the role ``helpdesk``.

Every console page meets the guard first (``guard.py``), in this order::

    outside IDP_ADMIN_NETWORKS ──> 404, as an unknown path
    signed out ──> the login page, and back here after
    no role helpdesk ──> 403, "the console is for the help desk"
    login 12 hours old or more ──> sign in again
    neither TOTP nor a passkey ──> enrolment (/account/totp), then back here
    signed in without the code or a passkey ──> sign in again
    idle 15 minutes in the console ──> sign in again
    ──> the page (``views.py``); actions (``actions.py``) each confirmed with a reason,
        audited with the agent as the actor, counted against IDP_HELPDESK_ACTION_RATE_LIMIT

A passkey signed in with user verification (``amr`` ``hwk`` or ``swk``) counts as two factors: it
stands in for the code, and an agent with a passkey needs no TOTP.  The account page lists the
citizen's passkeys (names and dates, never key material) and removes one as any other action.

The actions themselves are the admin API's (``idp.help_desk_actions``).
"""

from __future__ import annotations

from flask import Blueprint, Flask, request

from ..admin_networks import refuse_outside

bp = Blueprint("console", __name__, url_prefix="/helpdesk")

from . import actions, guard, views  # noqa: E402, F401  (they add their routes to bp)

bp.before_request(guard.admit)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # First of every hook, before the CSRF check: from outside, a forged POST learns nothing either.
    app.before_request_funcs.setdefault(None, []).insert(0, _only_from_admin_networks)


def _only_from_admin_networks() -> None:
    if request.path == bp.url_prefix or request.path.startswith(bp.url_prefix + "/"):
        refuse_outside()
