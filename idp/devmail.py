"""``/dev/mail``: the development mailbox, so the recovery journeys can be followed without
an SMTP server.  It exists only when ``IDP_SMTP_URL`` is unset and ``IDP_ENV`` is not
``production``: mails hold one-time links."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from .mail import DevMailbox, transport

bp = Blueprint("devmail", __name__)


@bp.get("/dev/mail")
def mailbox():
    return render_template("dev/mail.html", mails=transport().mails())


def init_app(app: Flask) -> None:
    if isinstance(app.extensions["idp.mail"], DevMailbox) and app.config["IDP_ENV"] != "production":
        app.register_blueprint(bp)
