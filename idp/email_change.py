"""A citizen's e-mail address changes, and the way its rightful owner undoes a change they
did not make.

Whoever changes the address (the citizen from ``/account``, the help desk through the admin
API), the old address is told, with a "Ce n'était pas moi" link valid
``IDP_NOTICE_TOKEN_TTL`` seconds.  The link is a *kept* one-time token: a password change or a
revocation, which whoever holds the account now can cause, does not drop it.  Using it:

    restore the old address (verified) ──▶ drop the later "not me" links (their addresses came after)
      ──▶ switch the password off, end every session, refresh token and link
      ──▶ mail a reset link to the restored address
      (and, first, whatever the link says: the passkeys added since the change are removed)

so the person who changed the address can neither sign in nor undo the undo.

When the help desk made the change (a citizen who lost their mailbox), or the citizen did after
proving who they are at FranceConnect (idp/federated_recovery.py), the old mailbox may
be exactly what the citizen lost: a former employer's, a recycled address.  Giving the
account back to it would hand it over.  There the link *freezes* the account instead (it is
disabled, which ends every session and token, and recovery stops) and tells the help desk,
who checks again who is who.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import lazy_gettext as _l

from . import audit_log, mail
from .credentials import revoke_access, set_password
from .db import session as db_session
from .identity import mask_email
from .models import User
from .one_time_tokens import OneTimeToken, one_time_tokens
from .plugins import hooks
from .theme import brand_name
from .users import find_by_email, set_verified_email

CANCEL = "email-cancel"  # one-time token purpose


RESTORED, FROZEN, TAKEN = "restored", "frozen", "taken"  # what ``undo`` did


def tell_old_address(user: User, old_address: str, new_address: str, by_help_desk: bool = False,
                     verified_by: str | None = None) -> None:
    """Mail the old address that the account now uses ``new_address``, with the link that undoes it.
    ``verified_by`` (a provider's label): the change followed an identity check there, a lost mailbox
    recovered without the help desk; its link freezes the account, as after a help-desk change."""
    ttl = current_app.config["IDP_NOTICE_TOKEN_TTL"]
    by_help_desk = by_help_desk or verified_by is not None
    data = {"email": old_address, **({"by_help_desk": True} if by_help_desk else {})}
    token = one_time_tokens().issue(user.id, CANCEL, ttl, data=data, kept=True)
    mail.send(old_address, "account/email_changed", _l("Your %(brand)s e-mail address was changed", brand=brand_name()),
              user=user, new_address=mask_email(new_address), days=ttl // 86400, by_help_desk=by_help_desk,
              verified_by=verified_by,
              link=mail.link("account.cancel_email_change", token=token))


def undo(user: User, link: OneTimeToken) -> str:
    """Undo the change ``link`` was mailed about: RESTORED, FROZEN (a help-desk change: see the
    module's docstring), or TAKEN (another active account uses the old address; nothing changed)."""
    from .passkeys import remove_added_since

    if link.data.get("by_help_desk"):
        remove_added_since(user, link.issued_at, why="email-change-disputed")  # passkeys are no door back in
        return _freeze(user)
    old_address = link.data["email"]
    free_from_pending_account(user, old_address)
    if not set_verified_email(db_session(), user, old_address):
        return TAKEN
    remove_added_since(user, link.issued_at, why="email-change-disputed")
    one_time_tokens().revoke_kept_after(user.id, CANCEL, link.issued_at)
    set_password(user, None, reason="email-cancel")  # ends sessions, tokens and links everywhere
    if hooks().send_reset_link is not None:
        hooks().send_reset_link(user)
    audit_log.record("account.email_change_cancelled", user_id=user.id)
    return RESTORED


def _freeze(user: User) -> str:
    user.status = "disabled"
    db_session().commit()
    revoke_access(user)
    audit_log.record("account.email_change_disputed", user_id=user.id)
    address = current_app.config["IDP_HELPDESK_EMAIL"]
    if address:
        mail.send(address, "admin/email_change_disputed", _l("A change of address made by the help desk is disputed"),
                  current_app.config["IDP_DEFAULT_LOCALE"], user=user)
    return FROZEN


def free_from_pending_account(user: User, address: str) -> None:
    """An unconfirmed sign-up never proved it owns the address: it cannot keep it from its owner."""
    db = db_session()
    squatter = find_by_email(db, address)
    if squatter is not None and squatter.id != user.id and squatter.status == "pending":
        one_time_tokens().revoke_user(squatter.id)
        db.delete(squatter)
        db.commit()
        audit_log.record("signup.discarded", user_id=squatter.id, reason="address reclaimed by its owner")
