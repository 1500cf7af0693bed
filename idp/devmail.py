"""``/dev/mail``: the development mailbox, so the recovery journeys can be followed without
an SMTP server.  It exists only when ``IDP_SMTP_URL`` is unset and ``IDP_ENV`` is not
``production``, and answers only to the machine itself (a 404 page elsewhere): mails hold
one-time links, and ``idp serve --host 0.0.0.0`` is common.  Behind trusted proxies
(``IDP_TRUSTED_PROXIES``) the client's address is the forwarded one."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from babel.dates import format_date, format_time
from flask import Blueprint, Flask, abort, render_template, request
from flask_babel import get_locale, gettext

from .account import PARIS
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


def local_time(when: datetime) -> str:
    """A mail's date as a citizen reads it in the page's language, Paris time:
    « 2 décembre 2026 à 15:05 (heure de Paris) », not the RFC 5322 header."""
    local, locale = when.astimezone(PARIS), get_locale()
    return gettext("%(date)s at %(time)s (Paris time)", date=format_date(local, "long", locale=locale),
                   time=format_time(local, "short", locale=locale))


def framed(html: str) -> str:
    """The HTML part for the page's sandboxed frame, its links opening outside it: inside, the
    provider's pages would refuse to show (framing is denied)."""
    head, found, rest = html.partition("<head>")
    return f'{head}<head><base target="_blank">{rest}' if found else f'<base target="_blank">{html}'


def shown(mail: dict) -> dict:
    """A kept mail as the page shows it: its date readable (``sent``; ``sent_iso`` for ``<time>``)
    and its HTML part ready for the frame."""
    when = parsedate_to_datetime(mail["date"])
    when = when if when.tzinfo else when.replace(tzinfo=UTC)  # the mailer writes UTC as "-0000"
    return {**mail, "sent": local_time(when), "sent_iso": when.isoformat(), "html": framed(mail["html"])}


@bp.get("/dev/mail")
def mailbox():
    return render_template("dev/mail.html", mails=[shown(mail) for mail in transport().mails()])


def init_app(app: Flask) -> None:
    if isinstance(app.extensions.get("idp.mail"), DevMailbox) and app.config["IDP_ENV"] != "production":
        app.register_blueprint(bp)
