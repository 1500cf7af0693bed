"""The console's pages: the queue of open requests, a request beside the account it most likely
concerns, the search for accounts, and an account opened in full (audited), with its passkeys
(names and dates only, never key material)."""

from __future__ import annotations

import datetime as dt

from flask import abort, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import false, or_, select

from .. import audit_log
from ..account import ACTIVITY
from ..admin.auth import as_id
from ..db import session as db_session
from ..help_desk_actions import search_users
from ..identity import mask_email, name_key, parse_birthdate
from ..models import AuditEvent, HelpRequest, SecondFactor, User, utcnow
from ..passkeys import passkeys_of
from ..users import find_same_person
from . import bp

RECENT_EVENTS = 10
REVIEW_DAYS = 30  # how long a lost mailbox recovered through FranceConnect stays listed for review
SEARCH_SHOWN = 50
QUERY_MAX = 254
STATUSES = {"active": _l("Active"), "pending": _l("Not confirmed yet"), "disabled": _l("Disabled")}
# What an agent reads in an account's recent events; any other event shows its code.
EVENTS = {
    **ACTIVITY,
    "login.failure": _l("Failed sign-in"),
    "login.second_factor_failure": _l("Wrong code at sign-in"),
    "logout": _l("Signed out"),
    "account.updated": _l("Personal details changed"),
    "recovery.password_requested": _l("Reset link asked for"),
    "admin.reset_sent": _l("Reset link sent by the help desk"),
    "admin.user_disabled": _l("Account disabled by the help desk"),
    "admin.user_enabled": _l("Account re-enabled by the help desk"),
    "admin.revoked": _l("Sessions and tokens ended by the help desk"),
    "admin.duplicate_mark_cleared": _l("“Possible duplicate” mark cleared"),
    "admin.help_request_resolved": _l("Help request resolved"),
    "admin.help_request_rejected": _l("Help request rejected"),
    "helpdesk.request_filed": _l("Help request filed"),
    "helpdesk.request_cancelled": _l("Help request cancelled by the account's owner"),
    "helpdesk.request_attached": _l("Help request attached to this account"),
    "helpdesk.account_opened": _l("Account opened in the help desk's console"),
    "second_factor.enrolled": _l("Two-step sign-in was switched on"),
    "second_factor.removed": _l("Two-step sign-in was switched off"),
    "admin.passkey_removed": _l("Passkey removed by the help desk"),
    "passkey.counter_went_back": _l("Passkey refused: its counter went back (it may have been copied)"),
    "account.recovered_federated": _l("Lost mailbox recovered with an identity verified by a provider"),
    "recovery.federated_started": _l("Identity verified by a provider to recover a lost mailbox"),
    "recovery.federated_address_sent": _l("Link sent to a new address, to recover a lost mailbox"),
    "recovery.federated_scheduled": _l("New address and password waiting for the delay"),
    "recovery.federated_cancelled": _l("Waiting change of address cancelled from the account's address"),
    "recovery.federated_failed": _l("Waiting change of address could not be applied"),
    "recovery.federated_refused": _l("Recovery with a verified identity refused: the account changed"),
    "federation.linked": _l("Identity at a provider linked"),
}


@bp.context_processor
def _labels() -> dict:
    return {"status_label": lambda status: STATUSES.get(status, status),
            "event_label": lambda action: EVENTS.get(action, action)}


@bp.get("")
def queue():
    found = db_session().scalars(select(HelpRequest).where(HelpRequest.state == "open")
                                 .order_by(HelpRequest.created_at, HelpRequest.id)).all()
    late_after = current_app.config["IDP_HELPDESK_DELAY_DAYS"]
    rows = [{"request": filed, "age": age_in_days(filed.created_at), "late": age_in_days(filed.created_at) > late_after}
            for filed in found]
    since = utcnow() - dt.timedelta(days=REVIEW_DAYS)
    recovered = db_session().scalars(select(AuditEvent).where(AuditEvent.action == "account.recovered_federated",
                                                              AuditEvent.at >= since)
                                     .order_by(AuditEvent.id.desc()).limit(SEARCH_SHOWN)).all()
    return render_template("helpdesk/queue.html", rows=rows, late_after=late_after, recovered=recovered,
                           review_days=REVIEW_DAYS)


def age_in_days(moment: dt.datetime) -> int:
    return (utcnow() - moment).days


@bp.get("/requests/<int:request_id>")
def help_request(request_id: int):
    filed = find_request(request_id)
    account = likely_account(filed)
    return render_template("helpdesk/request.html", filed=filed, account=account,
                           comparison=compare(filed, account) if account else [],
                           about=about(account) if account else None, others=other_requests(filed, account),
                           age=age_in_days(filed.created_at))


def find_request(request_id: int) -> HelpRequest:
    filed = db_session().get(HelpRequest, request_id) if as_id(request_id) is not None else None
    if filed is None:
        abort(404)
    return filed


def find_account(user_id: int) -> User:
    user = db_session().get(User, user_id) if as_id(user_id) is not None else None
    if user is None:
        abort(404)
    return user


def likely_account(filed: HelpRequest) -> User | None:
    """The request's account, else the single one with the declared names and birth date."""
    if filed.user_id is not None:
        return db_session().get(User, filed.user_id)
    same = find_same_person(db_session(), filed.given_name, filed.family_name, filed.birthdate)
    return same[0] if len(same) == 1 else None


def compare(filed: HelpRequest, user: User) -> list[dict]:
    """Declared and on the account, field by field; names folded as sign-up folds them."""
    rows = [("given_name", filed.given_name, user.given_name, name_key(filed.given_name) == user.given_name_key),
            ("family_name", filed.family_name, user.family_name,
             name_key(filed.family_name) == user.family_name_key),
            ("birthdate", _date(filed.birthdate), _date(user.birthdate), filed.birthdate == user.birthdate)]
    if filed.username:
        rows.append(("username", filed.username, user.username, filed.username.casefold() == user.username_key))
    return [{"field": field, "declared": declared, "account": held, "same": same}
            for field, declared, held, same in rows]


def _date(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def about(user: User) -> dict:
    """What helps the agent judge: the masked address, the account's age, its last sign-in, its recent events."""
    db = db_session()
    events = db.scalars(select(AuditEvent).where(AuditEvent.user_id == user.id)
                        .order_by(AuditEvent.id.desc()).limit(RECENT_EVENTS)).all()
    last_login = db.scalar(select(AuditEvent.at).where(AuditEvent.user_id == user.id,
                                                       AuditEvent.action == "login.success")
                           .order_by(AuditEvent.id.desc()).limit(1))
    return {"masked_email": mask_email(user.email), "age": age_in_days(user.created_at), "last_login": last_login,
            "events": events, "actors": actors(events), "second_factor": db.get(SecondFactor, user.id) is not None}


def actors(events: list[AuditEvent]) -> dict[str, str]:
    """Who did each event, by identifier when it was a person ("user:12" -> "anne.martin")."""
    ids = {int(event.actor[5:]) for event in events if (event.actor or "").startswith("user:")}
    found = db_session().execute(select(User.id, User.username).where(User.id.in_(ids))).all() if ids else []
    return {f"user:{user_id}": username for user_id, username in found}


def other_requests(filed: HelpRequest, user: User | None) -> list[HelpRequest]:
    """Other open requests for the same person: for the same account, or with the same names and birth date."""
    same_account = HelpRequest.user_id == user.id if user is not None else false()
    candidates = db_session().scalars(select(HelpRequest).where(
        HelpRequest.state == "open", HelpRequest.id != filed.id,
        or_(HelpRequest.birthdate == filed.birthdate, same_account)).order_by(HelpRequest.id)).all()
    same_names = (name_key(filed.given_name), name_key(filed.family_name))
    return [other for other in candidates
            if (user is not None and other.user_id == user.id)
            or (name_key(other.given_name), name_key(other.family_name)) == same_names]


@bp.get("/users")
def users():
    """Search by identifier, e-mail address or names; results show no full address. ``request`` carries the
    request to attach, when the agent came from one."""
    query = request.args.get("q", "").strip()
    typed_date = request.args.get("birthdate", "").strip()
    filed = find_request(request.args["request"]) if request.args.get("request") else None
    birthdate = parse_birthdate(typed_date) if typed_date else None
    error = None
    if len(query) > QUERY_MAX or "\x00" in query or (typed_date and birthdate is None):
        error = "unreadable"
    found = search_users(query, birthdate, SEARCH_SHOWN) if query and error is None else []
    results = [{"user": user, "masked_email": mask_email(user.email)} for user in found]
    status = 400 if error else 200
    return render_template("helpdesk/users.html", q=query[:QUERY_MAX], birthdate=typed_date[:10], results=results,
                           searched=bool(query) and error is None, error=error, filed=filed), status


@bp.get("/users/<int:user_id>")
def account(user_id: int):
    user = find_account(user_id)
    audit_log.record("helpdesk.account_opened", user_id=user.id)
    return render_template("helpdesk/account.html", user=user, about=about(user),
                           birthdate=_date(user.birthdate), passkeys=passkeys_of(user))
