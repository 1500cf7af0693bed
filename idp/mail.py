"""The one mailer: mails are rendered from the theme, queued as jobs, delivered by the worker.

``send()`` renders ``templates/mail/<name>.txt`` and ``.html`` in the citizen's
language and queues the result; the ``mail.deliver`` job hands it to the transport:
the SMTP server of ``IDP_SMTP_URL``, or, when that is unset, the development mailbox
(kept in Redis, listed at ``/dev/mail``).  A queued mail lives only until delivered,
so a link it carries does not linger in Redis.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from urllib.parse import unquote, urljoin, urlparse

import redis
from flask import Flask, current_app, render_template, url_for
from flask_babel import force_locale, get_locale

from .config import ConfigError
from .jobs import PermanentFailure, jobs
from .users import valid_email

DELIVER = "mail.deliver"
SMTP_TIMEOUT = 30
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
DEV_MAILBOX_KEPT = 200
DEV_MAILBOX_TTL = 7 * 86400


def send(to: str, template: str, subject: str, lang: str | None = None, expires_at: int | None = None,
         **context) -> str:
    """Render ``mail/<template>`` for ``to`` in ``lang`` and queue it; the job id.

    ``subject`` may be a lazy string: it is rendered in ``lang`` too.  ``expires_at``
    drops the mail if it could not go out before the link it carries stops working.
    """
    lang = lang or str(get_locale() or current_app.config["IDP_DEFAULT_LOCALE"])
    with force_locale(lang):
        message = {
            "to": to,
            "subject": str(subject),
            "text": render_template(f"mail/{template}.txt", **context),
            "html": render_template(f"mail/{template}.html", subject=str(subject), **context),
            "lang": lang,
            "date": formatdate(localtime=False),
            "message_id": make_msgid(domain=_sender_domain()),
        }
    return jobs().enqueue(DELIVER, message, expires_at=expires_at)


def link(endpoint: str, **values) -> str:
    """An absolute link for a mail, always under ``IDP_ISSUER`` whatever host the request came by."""
    return urljoin(current_app.config["IDP_ISSUER"] + "/", url_for(endpoint, **values))


class NotOneAddress(PermanentFailure):
    """A recipient that is not exactly one bare address: such a mail is never sent."""


def recipient(to: str) -> str:
    """``to`` as the one address a mail goes to.  Forms, the admin API and the CLI check every
    address already; this holds even for one stored before they did, or queued by mistake."""
    address = valid_email(to)
    if address is None:
        raise NotOneAddress("the recipient is not one bare e-mail address")  # the address itself stays out of logs
    return address


def build(message: dict, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = recipient(message["to"])
    mail["Subject"] = message["subject"]
    mail["Date"] = message["date"]
    mail["Message-ID"] = message["message_id"]
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    mail.set_content(message["text"])
    mail.add_alternative(message["html"], subtype="html")
    mail["Content-Language"] = message["lang"]  # after the parts: set_content drops Content-* headers
    return mail


def _sender_domain() -> str:
    address = parseaddr(current_app.config["IDP_MAIL_FROM"])[1]
    return address.rpartition("@")[2] or "localhost"


class SmtpTransport:
    """``smtp://``, ``smtp+starttls://`` or ``smtps://``, with optional ``user:password@``."""

    def __init__(self, url: str):
        parts = urlparse(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or DEFAULT_PORTS[self.scheme]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else ""

    def deliver(self, mail: EmailMessage) -> None:
        context = ssl.create_default_context()
        if self.scheme == "smtps":
            connection = smtplib.SMTP_SSL(self.host, self.port, timeout=SMTP_TIMEOUT, context=context)
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT)
        with connection as smtp:
            if self.scheme == "smtp+starttls":
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password)
            try:
                smtp.send_message(mail, to_addrs=[str(mail["To"])])  # the envelope: that one address, nobody else
            except smtplib.SMTPRecipientsRefused as error:
                codes = [code for code, _ in error.recipients.values()]
                if all(code >= 500 for code in codes):
                    raise PermanentFailure(f"recipient refused ({', '.join(map(str, codes))})") from None
                raise


class DevMailbox:
    """Development only: keeps the last mails in Redis for ``/dev/mail`` instead of sending them."""

    def __init__(self, client: redis.Redis, keys):
        self.redis = client
        self.key = keys("dev-mailbox")

    def deliver(self, mail: EmailMessage) -> None:
        entry = {
            "to": mail["To"], "subject": mail["Subject"], "date": mail["Date"], "message_id": mail["Message-ID"],
            "text": mail.get_body(("plain",)).get_content(),
            "html": mail.get_body(("html",)).get_content(),
        }
        pipe = self.redis.pipeline()
        pipe.lpush(self.key, json.dumps(entry))
        pipe.ltrim(self.key, 0, DEV_MAILBOX_KEPT - 1)
        pipe.expire(self.key, DEV_MAILBOX_TTL)
        pipe.execute()

    def mails(self) -> list[dict]:
        return [json.loads(raw) for raw in self.redis.lrange(self.key, 0, -1)]


def transport():
    return current_app.extensions["idp.mail"]


def _deliver(message: dict) -> None:
    started = time.monotonic()
    transport().deliver(build(message, current_app.config["IDP_MAIL_FROM"]))
    current_app.logger.info("mail %s delivered in %.0f ms", message["message_id"],
                            (time.monotonic() - started) * 1000)


def init_app(app: Flask, client: redis.Redis, keys, sends_mail: bool = True) -> None:
    """The transport.  In production without ``IDP_SMTP_URL`` there is none: the server and the
    worker refuse to start, while an app built with ``sends_mail=False`` (a command that only
    manages clients or accounts) gets no transport; a mail it queued would wait for the worker."""
    url = app.config["IDP_SMTP_URL"]
    if url:
        app.extensions["idp.mail"] = SmtpTransport(url)
    elif app.config["IDP_ENV"] == "production":
        if not sends_mail:
            return
        raise ConfigError("IDP_SMTP_URL: required in production, or mails would reach nobody "
                          "(set IDP_ENV=development to keep them in the development mailbox)")
    else:
        app.extensions["idp.mail"] = DevMailbox(client, keys)
    app.extensions["idp.jobs"].handle(DELIVER, _deliver)
