"""What the help desk may do to a citizen's account or to a help request, written once for both
of its doors: the JSON admin API (``idp.admin``) and the agents' console (``idp.helpdesk``).

Each action does its work, records it in the audit log (the actor is whoever is on the request:
an admin client or the signed-in agent; ``reason`` is kept with the event when given) and
returns; an action that cannot be done raises :class:`Refused`, which each door turns into its
own answer (a JSON error, a page)."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from . import audit_log, email_change, mail
from .credentials import REVOCABLE, revoke_access
from .db import session as db_session
from .identity import name_key
from .models import HelpRequest, Passkey, User, utcnow
from .passkeys import tell_removed
from .plugins import hooks
from .theme import brand_name
from .users import email_key, set_verified_email, username_key, valid_email

SEARCH_LIMIT = 50


class Refused(Exception):
    """An action that cannot be done: ``status`` and ``code`` for the API, ``description`` in English
    for programs, ``message`` translated for the agents' pages."""

    def __init__(self, status: int, code: str, description: str, message):
        super().__init__(description)
        self.status, self.code, self.description, self.message = status, code, description, message


def _why(reason: str | None) -> dict:
    return {"reason": reason} if reason else {}


# -- accounts ------------------------------------------------------------------------------------

def search_users(query: str, birthdate: dt.date | None = None, limit: int = SEARCH_LIMIT) -> list[User]:
    """Accounts whose identifier, e-mail address or names (folded as at sign-up, either order) are ``query``."""
    conditions = [User.username_key == username_key(query), User.email_key == email_key(query)]
    if len(words := query.split()) >= 2:  # "given family" or "family given", folded like sign-up
        for cut in range(1, min(len(words), 6)):
            before, after = name_key(" ".join(words[:cut])), name_key(" ".join(words[cut:]))
            conditions += [(User.given_name_key == before) & (User.family_name_key == after),
                           (User.family_name_key == before) & (User.given_name_key == after)]
    elif name_key(query):
        conditions.append(User.family_name_key == name_key(query))
    statement = select(User).where(or_(*conditions))
    if birthdate:
        statement = statement.where(User.birthdate == birthdate)
    return list(db_session().scalars(statement.order_by(User.id).limit(limit)))


def change_email(user: User, new_address, reason: str | None = None) -> None:
    """The help-desk case: the citizen lost their mailbox. The new address counts as verified (the
    desk checked who they are), and both addresses are told."""
    new_address, old_address = valid_email(new_address), user.email
    if new_address is None:
        raise Refused(400, "invalid_request", "email must be one e-mail address, without a name or a list.",
                      _l("The new address is not a valid e-mail address."))
    if not set_verified_email(db_session(), user, new_address):
        raise Refused(409, "conflict", "Another account uses this e-mail address.",
                      _l("Another account already uses this e-mail address."))
    audit_log.record("admin.email_changed", user_id=user.id, **_why(reason))
    if old_address.casefold() != new_address.casefold():
        email_change.tell_old_address(user, old_address, new_address, by_help_desk=True)
        mail.send(new_address, "admin/email_set",
                  _l("Your %(brand)s account now uses this address", brand=brand_name()), user=user)


def set_disabled(user: User, disabled: bool, reason: str | None = None) -> None:
    if disabled and user.status != "disabled":
        user.status = "disabled"
        db_session().commit()
        revoke_access(user)
        audit_log.record("admin.user_disabled", user_id=user.id, **_why(reason))
    elif not disabled and user.status == "disabled":
        user.status = "active"
        db_session().commit()
        audit_log.record("admin.user_enabled", user_id=user.id, **_why(reason))


def clear_duplicate_mark(user: User, reason: str | None = None) -> None:
    """The help desk checked: the account that signed up through "Ce n'est pas moi" is another person's."""
    if user.possible_duplicate_of is not None:
        other, user.possible_duplicate_of = user.possible_duplicate_of, None
        db_session().commit()
        audit_log.record("admin.duplicate_mark_cleared", user_id=user.id, same_person_as=other, **_why(reason))


def set_claims(user: User, claims: dict, reason: str | None = None) -> None:
    """The other profile claims (idp/oidc/claims.py, ADMIN_SET), checked by the caller; audited by name."""
    from .oidc.claims import set_admin_claims

    set_admin_claims(user, claims)
    db_session().commit()
    audit_log.record("admin.claims_changed", user_id=user.id, claims=sorted(claims), **_why(reason))


def send_reset(user: User, reason: str | None = None) -> None:
    if hooks().send_reset_link is None:
        raise Refused(409, "not_available", "No plugin sends reset links (enable the recovery plugin).",
                      _l("No reset link can be sent: the recovery plugin is not enabled."))
    hooks().send_reset_link(user)
    audit_log.record("admin.reset_sent", user_id=user.id, **_why(reason))


def revoke(user: User, what: set[str] | tuple[str, ...] = REVOCABLE, reason: str | None = None) -> dict[str, int]:
    """End the citizen's sessions and tokens (or only ``what`` of them); what was revoked, with counts."""
    revoked = revoke_access(user, set(what))
    audit_log.record("admin.revoked", user_id=user.id, revoked=revoked, **_why(reason))
    return revoked


def remove_passkey(user: User, passkey_id: int | None, reason: str | None = None) -> Passkey:
    """Remove one of the citizen's passkeys (a lost or stolen phone): it no longer signs in, and the
    citizen is told by mail as after removing it themselves.  The removed row, for its name."""
    db = db_session()
    row = db.get(Passkey, passkey_id) if passkey_id is not None else None
    if row is None or row.user_id != user.id:
        raise Refused(404, "not_found", "This account has no passkey with this id.",
                      _l("This passkey is not, or no longer, one of this account's."))
    db.delete(row)
    db.commit()
    audit_log.record("admin.passkey_removed", user_id=user.id, passkey=row.id, **_why(reason))
    tell_removed(user, row)
    return row


# -- help requests -------------------------------------------------------------------------------

def resolve_request(filed: HelpRequest, user: User, closed_by: str, *, new_email: str | None = None,
                    reset: bool = True, reason: str | None = None) -> None:
    """The desk checked who the citizen is: the account gets the new address, verified (the old
    one is told, with its way to dispute it), a reset link goes to the new one, the request closes."""
    _still_open(filed)
    change_email(user, filed.new_email if new_email is None else new_email, reason)
    if reset:
        send_reset(user, reason)
    close(filed, "resolved", closed_by, user=user)
    audit_log.record("admin.help_request_resolved", user_id=user.id, request_id=filed.id, **_why(reason))


def reject_request(filed: HelpRequest, reason: str, closed_by: str) -> None:
    """The desk could not check who the citizen is: the request closes, the reason is mailed to them."""
    _still_open(filed)
    close(filed, "rejected", closed_by, reason=reason.strip())
    mail.send(filed.new_email, "admin/help_rejected", _l("Your request to the %(brand)s help desk", brand=brand_name()),
              filed.lang,
              help_request=filed)
    audit_log.record("admin.help_request_rejected", user_id=filed.user_id, request_id=filed.id, reason=reason.strip())


def attach_request(filed: HelpRequest, user: User, reason: str) -> None:
    """The request concerns this account (found by a search), not the one it pointed to, if any."""
    _still_open(filed)
    before, filed.user_id = filed.user_id, user.id
    db_session().commit()
    audit_log.record("helpdesk.request_attached", user_id=user.id, request_id=filed.id, previous_user_id=before,
                     reason=reason)


def close(filed: HelpRequest, state: str, closed_by: str, user: User | None = None, reason: str | None = None) -> None:
    filed.state, filed.closed_at, filed.closed_by, filed.reason = state, utcnow(), closed_by, reason
    if user is not None:
        filed.user_id = user.id
    db_session().commit()


def _still_open(filed: HelpRequest) -> None:
    if filed.state != "open":
        raise Refused(409, "conflict", f"This request is already {filed.state}.",
                      _l("This request is already closed."))
