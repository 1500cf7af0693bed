"""Mes identités reliées: the identities at upstream providers (FranceConnect) tied to the account,
and "Délier", which unties one only if the account keeps another way in (a password, or another
identity), and asks for the password when the account has one: a session taken over cannot quietly
change how its owner signs in."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from . import audit_log
from .account import current_password_refused
from .db import session as db_session
from .devmail import local_time
from .forms import IdentityUnlinkForm
from .login_state import current_user, sign_in_first
from .models import Upstream, User
from .upstream_identities import LinkError, identities_of, unlink

bp = Blueprint("account_identities", __name__)


@bp.route("/account/identities", methods=["GET", "POST"])
def identities():
    user = current_user()
    if user is None:
        return sign_in_first()
    form = IdentityUnlinkForm()
    if not form.is_submitted():
        return _page(user, form)
    if not form.validate():
        abort(400)
    if user.password_hash:
        if not form.current_password.data:
            form.current_password.errors = [_("Enter your current password to unlink an identity.")]
            return _page(user, form, status=400)
        if refused := current_password_refused(user, form.current_password.data):
            form.current_password.errors = [refused[1]]
            return _page(user, form, status=refused[0])
    try:
        unlink(db_session(), user, int(form.identity.data))
    except LinkError as error:
        refusal = (_("Your account would have no way in left: choose a password first.") if error.kind == "last"
                   else _("This identity is not linked to your account."))
        return _page(user, form, refusal=refusal, status=409)
    audit_log.record("federation.untied", user_id=user.id)
    flash(_("The identity is unlinked: it no longer signs in to your account."))
    return redirect(url_for("account_identities.identities"), 303)


def _page(user: User, form: IdentityUnlinkForm, refusal: str | None = None, status: int = 200):
    labels = {upstream.name: upstream.label for upstream in db_session().query(Upstream)}
    listed = [{"id": tie.id, "label": labels.get(tie.upstream, tie.upstream), "since": tie.created_at}
              for tie in identities_of(db_session(), user)]
    return render_template("account/identities.html", identities=listed, form=form, refusal=refusal,
                           local_time=local_time, has_password=bool(user.password_hash)), status
