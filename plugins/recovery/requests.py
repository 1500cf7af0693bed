"""What happens behind the neutral answers, in jobs run by the worker.

Each handler looks the account up, and only when one matches (and may recover) issues
a one-time link and queues the mail; an unknown account simply ends the job.  Mails
go out in the language the citizen used when asking.
"""

from __future__ import annotations

import time

from flask import current_app
from flask_babel import lazy_gettext as _l

from idp import audit_log, mail
from idp.db import session as db_session
from idp.models import User
from idp.one_time_tokens import one_time_tokens
from idp.passkeys import passkeys_of
from idp.ratelimit import allow
from idp.theme import brand_name
from idp.users import find_by_email, find_by_login

PASSWORD = "recovery.password"
IDENTIFIER = "recovery.identifier"
RESET = "reset"  # one-time token purposes
NOT_ME = "not-me"


def _may_recover(user: User | None, kind: str) -> bool:
    """Whether to mail ``user`` this ``kind`` of mail (``password`` or ``identifier``)."""
    if user is None or user.status == "disabled" or not user.email:
        return False
    # A second guard per account and kind (the form's is per typed text): one mailbox, few mails of each.
    if allow(current_app.config["IDP_RECOVERY_ACCOUNT_RATE_LIMIT"], f"recovery-mail-{kind}", str(user.id)):
        return True
    audit_log.record("recovery.throttled", user_id=user.id, kind=kind)  # the help desk can see why none came
    return False


def password_requested(payload: dict) -> None:
    user = find_by_login(db_session(), payload["login"])
    if not _may_recover(user, "password"):
        return
    send_reset_link(user, payload["lang"], payload.get("rid"))
    audit_log.record("recovery.password_requested", user_id=user.id)


def send_reset_link(user: User, lang: str | None, rid: str | None) -> None:
    """A new reset link (earlier ones stop working) mailed to the account's address."""
    ttl = current_app.config["IDP_RESET_TOKEN_TTL"]
    token = one_time_tokens().issue(user.id, RESET, ttl, data={"rid": rid} if rid else {})
    mail.send(user.email, "recovery/reset", _l("Reset your %(brand)s password", brand=brand_name()), lang,
              expires_at=int(time.time()) + ttl, user=user, minutes=ttl // 60,
              link=mail.link("recovery.reset", token=token),
              passkeys=[row.name for row in passkeys_of(user)], passkeys_link=mail.link("passkeys.account"))


def identifier_requested(payload: dict) -> None:
    address = payload["email"]
    user = find_by_email(db_session(), address)
    if not _may_recover(user, "identifier"):
        return
    mail.send(user.email, "recovery/identifier", _l("Your %(brand)s identifier", brand=brand_name()), payload["lang"],
              user=user,
              link=mail.link("login.login", username=user.username, rid=payload.get("rid") or None))
    audit_log.record("recovery.identifier_requested", user_id=user.id)


def not_me_link(user: User, since: float | None = None) -> str:
    """A new "it was not me" link for a notice mailed to the citizen (what it undoes: see views.not_me);
    ``since``: when the disputed change was made, if before now (the passkeys added since go)."""
    token = one_time_tokens().issue(user.id, NOT_ME, current_app.config["IDP_NOTICE_TOKEN_TTL"],
                                    data={"since": since} if since else None)
    return mail.link("recovery.not_me", token=token)


def password_changed(user: User, reason: str) -> None:
    """Tell the citizen, with a link that undoes a change they did not make (a password switched off
    by "not me" needs no notice: whoever switched it off is mailed a reset link)."""
    if user.password_hash is None or not user.email:
        return
    ttl = current_app.config["IDP_NOTICE_TOKEN_TTL"]
    token = one_time_tokens().issue(user.id, NOT_ME, ttl)
    mail.send(user.email, "recovery/password_changed", _l("Your %(brand)s password was changed", brand=brand_name()),
              user=user, days=ttl // 86400, link=mail.link("recovery.not_me", token=token))
