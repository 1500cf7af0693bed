"""``/dev/mail``: the development mailbox, so the recovery journeys can be followed without
an SMTP server.  It exists only when ``IDP_SMTP_URL`` is unset and ``IDP_ENV`` is not
``production``, and answers only to the machine itself (a 404 page elsewhere): mails hold
one-time links, and ``idp serve --host 0.0.0.0`` is common.  Behind trusted proxies
(``IDP_TRUSTED_PROXIES``) the client's address is the forwarded one."""

from __future__ import annotations

import ipaddress

from flask import Blueprint, Flask, abort, render_template, request

from .mail import DevMailbox, transport

bp = Blueprint("devmail", __name__)


def is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a dual-stack socket
    return (mapped or ip).is_loopback


@bp.before_request
def only_from_this_machine():
    if not is_loopback(request.remote_addr):
        abort(404)


@bp.get("/dev/mail")
def mailbox():
    return render_template("dev/mail.html", mails=transport().mails())


def init_app(app: Flask) -> None:
    if isinstance(app.extensions["idp.mail"], DevMailbox) and app.config["IDP_ENV"] != "production":
        app.register_blueprint(bp)
