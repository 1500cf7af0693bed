"""The recovery plugin: forgotten password and identifier, "it was not me", sign-up that
finds existing accounts (``signup.py``), and the help desk for a lost mailbox (``helpdesk.py``).

The password journey is a small state machine; each state is a page or a job:

    asked ──(form, neutral page)──▶ queued ──(job: account found)──▶ link mailed
      link mailed ──(GET link: form only)──▶ link opened
      link opened ──(POST: token consumed atomically)──▶ password changed
      password changed ──▶ sessions, refresh tokens and links revoked; notice mailed; /login

An unknown account stops silently at "queued": the page was the same.  Links are
one-time tokens of the core (``idp.one_time_tokens``); mails go through the core's
mailer, so an SMTP outage delays them and loses none.
"""

from __future__ import annotations

from flask import Flask, request, url_for
from flask_babel import gettext as _

from idp.plugins import Hooks

from . import helpdesk, requests, signup
from .views import bp


def init_app(app: Flask, hooks: Hooks) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(signup.bp)
    app.register_blueprint(helpdesk.bp)
    queue = app.extensions["idp.jobs"]
    queue.handle(requests.PASSWORD, requests.password_requested)
    queue.handle(requests.IDENTIFIER, requests.identifier_requested)
    queue.handle(signup.SIGNUP, signup.signup_requested)
    queue.handle(signup.EXPIRE, signup.expire_pending)
    queue.every(signup.EXPIRE, signup.EXPIRE_EVERY)
    hooks.login_links.append(_login_links)
    hooks.password_changed.append(requests.password_changed)
    hooks.pending_login.append(signup.pending_login)
    hooks.signup_url = signup.signup_url
    hooks.send_reset_link = lambda user: requests.send_reset_link(user, None, rid=None)
    hooks.not_me_link = requests.not_me_link


def _login_links() -> list[tuple[str, str]]:
    rid = request.values.get("rid") or None
    return [
        (url_for("recovery.password", rid=rid), _("Forgot your password?")),
        (url_for("recovery.identifier", rid=rid), _("Forgot your identifier?")),
        (url_for("signup.signup", rid=rid), _("New user? Create an account")),
    ]
