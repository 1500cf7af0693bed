"""A citizen's e-mail address changes, and the way its rightful owner undoes a change they
did not make.

Whoever changes the address (the citizen from ``/account``, the help desk through the admin
API), the old address is told, with a "Ce n'était pas moi" link valid
``IDP_NOTICE_TOKEN_TTL`` seconds.  The link is a *kept* one-time token: a password change or a
revocation, which whoever holds the account now can cause, does not drop it.  Using it:

    restore the old address (verified) ──▶ drop the later "not me" links (their addresses came after)
      ──▶ switch the password off, end every session, refresh token and link
      ──▶ mail a reset link to the restored address

so the person who changed the address can neither sign in nor undo the undo.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l

from . import audit_log, mail
from .credentials import set_password
from .db import session as db_session
from .identity import mask_email
from .models import User
from .one_time_tokens import OneTimeToken, one_time_tokens
from .plugins import hooks
from .users import find_by_email, set_verified_email

CANCEL = "email-cancel"  # one-time token purpose


def tell_old_address(user: User, old_address: str, new_address: str) -> None:
    """Mail the old address that the account now uses ``new_address``, with the link that undoes it."""
    ttl = current_app.config["IDP_NOTICE_TOKEN_TTL"]
    token = one_time_tokens().issue(user.id, CANCEL, ttl, data={"email": old_address}, kept=True)
    mail.send(old_address, "account/email_changed", _l("Your Sésame e-mail address was changed"),
              user=user, new_address=mask_email(new_address), days=ttl // 86400,
              link=mail.link("account.cancel_email_change", token=token))


def undo(user: User, link: OneTimeToken) -> bool:
    """Give the account back its old address and lock out whoever changed it; False, and nothing
    changed, when another active account now uses that address."""
    old_address = link.data["email"]
    _free_from_pending_account(user, old_address)
    if not set_verified_email(db_session(), user, old_address):
        return False
    one_time_tokens().revoke_kept_after(user.id, CANCEL, link.issued_at)
    set_password(user, None, reason="email-cancel")  # ends sessions, tokens and links everywhere
    if hooks().send_reset_link is not None:
        hooks().send_reset_link(user)
    audit_log.record("account.email_change_cancelled", user_id=user.id)
    return True


def _free_from_pending_account(user: User, address: str) -> None:
    """An unconfirmed sign-up never proved it owns the address: it cannot keep it from its owner."""
    db = db_session()
    squatter = find_by_email(db, address)
    if squatter is not None and squatter.id != user.id and squatter.status == "pending":
        one_time_tokens().revoke_user(squatter.id)
        db.delete(squatter)
        db.commit()
        audit_log.record("signup.discarded", user_id=squatter.id, reason="address reclaimed by its owner")
