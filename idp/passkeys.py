"""Passkeys (issue 18): WebAuthn discoverable credentials, verified by the ``fido2`` library.

Both ceremonies are two JSON steps.  The first answers the options, with a random challenge kept in
Redis for five minutes under a key that only this browser's session knows (``passkey-state:``); the
second takes it once (GETDEL), so a replayed answer finds nothing.  The library checks the origin
(the issuer's), the RP ID hash (the issuer's host name), the user-presence and user-verification
flags and the signature; here the counter is checked too: one that does not go forward refuses the
sign-in and is audited.

- Adding (``/account/passkeys/options`` and ``/verify``): the account's password goes with the first
  step, so a stolen session adds nothing; resident key and user verification required, attestation
  ``none``, the account's passkeys excluded.
- Signing in (``/login/passkey/options`` and ``/verify``): no identifier, the browser offers the
  passkeys it holds; the sign-in is two factors (``amr`` ``hwk`` or ``swk`` with ``user``), skips the
  TOTP step, and carries on to the relying party as a password sign-in does.

- The offer: the first sign-in after a sign-up's confirmation or a reset (the flag ``offer_passkey``)
  lands on a page where one click adds a passkey, without the password typed a moment ago (five
  minutes, once, this browser), then goes on where it was going.
- Disputed changes (``remove_added_since``): "Ce n'était pas moi" and the old address's link after a
  change of address remove the passkeys added since.

The browser's half is idp/passkey_script.py; names from the AAGUID, idp/passkey_names.py; the help
desk's list and removal, idp/help_desk_actions.py (the console and the admin API); the ``acr`` a
passkey meets, idp/oidc/acr.py.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from urllib.parse import urlparse

from fido2.server import Fido2Server
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestedCredentialData,
    AuthenticationResponse,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    RegistrationResponse,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from . import audit_log, mail
from .account import current_password_refused
from .db import session as db_session
from .devmail import local_time
from .forms import PasskeyForm
from .login import complete_login
from .login_state import current_user, sign_in_first
from .models import Passkey, User, utcnow
from .oidc import pending
from .oidc.tokens import sha256
from .passkey_names import provider_name
from .plugins import hooks
from .ratelimit import limiter, login_attempts
from .theme import brand_name

bp = Blueprint("passkeys", __name__)
STATE_TTL = 300  # seconds for a ceremony: five minutes
CEREMONY = "passkey_ceremony"  # in the browser's session: which ceremony, and its state's key
MAX_CREDENTIAL_ID = 1023  # bytes (WebAuthn Level 3 caps credential ids)
OFFER = "passkey_offer"  # in the session: the offer after a sign-up or a reset, until when, and where next
OFFER_TTL = 300  # seconds after that sign-in during which one click adds a passkey without the password


class PasskeyError(Exception):
    """A ceremony that cannot go on; ``kind`` names it for the page and the audit."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


def rp_id() -> str:
    return urlparse(current_app.config["IDP_ISSUER"]).hostname


def _server() -> Fido2Server:
    issuer = urlparse(current_app.config["IDP_ISSUER"])
    origin = f"{issuer.scheme}://{issuer.netloc}"  # what the browser writes in clientDataJSON
    return Fido2Server(PublicKeyCredentialRpEntity(id=rp_id(), name=brand_name()), attestation="none",
                       verify_origin=lambda seen: seen == origin)


def _store():
    provider = current_app.extensions["idp"]
    return provider.redis, provider.keys


def _keep(kind: str, state: dict) -> None:
    """The ceremony's state, in Redis under a key only this browser's session holds."""
    handle = secrets.token_urlsafe(32)
    redis, keys = _store()
    redis.set(keys("passkey-state", sha256(handle)),
              json.dumps({"kind": kind, "challenge": state["challenge"],
                          "user_verification": str(state["user_verification"].value)}), ex=STATE_TTL)
    session[CEREMONY] = handle


def _take(kind: str) -> dict:
    """The ceremony's state, once; PasskeyError("expired") when none waits for this browser."""
    handle = session.pop(CEREMONY, None)
    redis, keys = _store()
    raw = redis.getdel(keys("passkey-state", sha256(handle))) if handle else None
    state = json.loads(raw) if raw else None
    if state is None or state["kind"] != kind:
        raise PasskeyError("expired", "no ceremony waits for this browser, or it was used")
    return {"challenge": state["challenge"], "user_verification": UserVerificationRequirement.REQUIRED}


def user_handle(user: User) -> bytes:
    """The WebAuthn user handle: opaque, stable, not personal (RFC: no e-mail, no name)."""
    return bytes.fromhex(sha256(f"sesame-passkey-user:{user.sub}"))[:32]


def _credential(row: Passkey) -> AttestedCredentialData:
    return AttestedCredentialData(websafe_decode(row.public_key))


def passkeys_of(user: User) -> list[Passkey]:
    return list(db_session().scalars(select(Passkey).where(Passkey.user_id == user.id)
                                     .order_by(Passkey.created_at, Passkey.id)))


def remove_added_since(user: User, since: float, why: str) -> int:
    """A disputed change ("Ce n'était pas moi", an address change undone or frozen): the passkeys
    added since it may be the intruder's, so they go; how many went."""
    moment = dt.datetime.fromtimestamp(since, dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=1)
    db = db_session()
    removed = db.execute(delete(Passkey).where(Passkey.user_id == user.id, Passkey.created_at >= moment)).rowcount
    db.commit()
    if removed:
        audit_log.record("passkey.removed_disputed", user_id=user.id, count=removed, why=why)
    return removed


def begin_registration(user: User) -> dict:
    existing = [PublicKeyCredentialDescriptor(type=PublicKeyCredentialType.PUBLIC_KEY,
                                              id=websafe_decode(row.credential_id)) for row in passkeys_of(user)]
    options, state = _server().register_begin(
        PublicKeyCredentialUserEntity(id=user_handle(user), name=user.username,
                                      display_name=" ".join(filter(None, (user.given_name, user.family_name)))
                                      or user.username),
        credentials=existing, resident_key_requirement=ResidentKeyRequirement.REQUIRED,
        user_verification=UserVerificationRequirement.REQUIRED)
    _keep("register", state)
    return dict(options)


def finish_registration(user: User, answer: dict) -> Passkey:
    state = _take("register")
    try:
        response = RegistrationResponse.from_dict(answer)
        data = _server().register_complete(state, response)
    except Exception as error:  # the library's ValueError, or a malformed answer
        raise PasskeyError("refused", f"{type(error).__name__}: {error}"[:300]) from None
    credential = data.credential_data
    if credential is None or len(credential.credential_id) > MAX_CREDENTIAL_ID:
        raise PasskeyError("refused", "no credential, or an id too long")
    transports = answer.get("response", {}).get("transports") or []
    row = Passkey(user_id=user.id, credential_id=websafe_encode(credential.credential_id),
                  public_key=websafe_encode(bytes(credential)), sign_count=data.counter,
                  transports=[str(t)[:16] for t in transports][:8] if isinstance(transports, list) else [],
                  aaguid=str(credential.aaguid), backup_eligible=bool(data.flags & data.FLAG.BE),
                  backed_up=bool(data.flags & data.FLAG.BS),
                  name=(provider_name(str(credential.aaguid))
                        or _("Passkey of %(date)s", date=utcnow().strftime("%d/%m/%Y")))[:64])
    db = db_session()
    db.add(row)
    db.commit()
    audit_log.record("passkey.added", user_id=user.id, passkey=row.id)
    return row


def begin_authentication() -> dict:
    options, state = _server().authenticate_begin(user_verification=UserVerificationRequirement.REQUIRED)
    _keep("login", state)
    return dict(options)


def finish_authentication(answer: dict) -> tuple[User, list[str]]:
    """The account the passkey signs in to, and the sign-in's ``amr``."""
    state = _take("login")
    raw_id = answer.get("rawId") or answer.get("id")
    if not isinstance(raw_id, str) or len(raw_id) > 2 * MAX_CREDENTIAL_ID:
        raise PasskeyError("refused", "no credential id")
    db = db_session()
    row = db.scalar(select(Passkey).where(Passkey.credential_id == raw_id))
    user = db.get(User, row.user_id) if row is not None else None
    if row is None or user is None or not user.is_active:
        raise PasskeyError("unknown", "a removed passkey, or one of a closed account")
    try:
        response = AuthenticationResponse.from_dict(answer)
        if response.response.user_handle not in (None, user_handle(user)):
            raise ValueError("the user handle is not the account's")
        _server().authenticate_complete(state, [_credential(row)], response)
    except PasskeyError:
        raise
    except Exception as error:
        raise PasskeyError("refused", f"{type(error).__name__}: {error}"[:300]) from None
    counter = response.response.authenticator_data.counter
    if (counter or row.sign_count) and counter <= row.sign_count:
        audit_log.record("passkey.counter_went_back", user_id=user.id, passkey=row.id)
        raise PasskeyError("cloned", f"counter {counter} after {row.sign_count}")
    row.sign_count, row.last_used_at = counter, utcnow()
    db.commit()
    return user, ["swk" if row.backup_eligible else "hwk", "user"]


def _json_error(error: PasskeyError, status: int = 400):
    messages = {
        "expired": _("This sign-in with a passkey has expired. Please try again."),
        "unknown": _("This passkey is not, or no longer, linked to an account. Sign in with your identifier."),
        "refused": _("The passkey could not be checked. Please try again, or sign in with your identifier."),
        "cloned": _("This passkey could not be trusted. Sign in with your identifier and password."),
    }
    current_app.logger.warning("passkey ceremony refused: %s", error)
    return jsonify(error=error.kind, message=messages[error.kind]), status


@bp.post("/login/passkey/options")
@limiter.limit(lambda: current_app.config["IDP_LOGIN_RATE_LIMIT"])
def login_options():
    return jsonify(begin_authentication())


@bp.post("/login/passkey/verify")
@login_attempts
def login_verify():
    answer = request.get_json(silent=True)
    if not isinstance(answer, dict):
        return _json_error(PasskeyError("refused", "not a JSON object"))
    rid = answer.get("rid") if isinstance(answer.get("rid"), str) and pending.get(answer.get("rid")) else None
    try:
        user, amr = finish_authentication(answer.get("credential") if isinstance(answer.get("credential"), dict)
                                          else answer)
    except PasskeyError as error:
        audit_log.record("login.passkey_failure", kind=error.kind)
        return _json_error(error)
    done = complete_login(user, amr, shared_computer=bool(answer.get("shared_computer")), rid=rid, next_path=None)
    return jsonify(redirect=done.location)


def _signed_in_user() -> User | None:
    user = current_user()
    return user if user is not None and user.is_active else None


def offer_after_login(user: User, amr: list[str], destination: str) -> str | None:
    """Right after a sign-up's or a reset's first sign-in with the new password (the flag
    ``offer_passkey`` the confirmation and reset pages set), the page that offers a passkey in one
    click, then ``destination``; None when there is nothing to offer."""
    if not session.pop("offer_passkey", False) or "pwd" not in amr or passkeys_of(user):
        return None
    session[OFFER] = {"until": int(time.time()) + OFFER_TTL, "next": destination}
    return url_for("passkeys.offer")


def _offered() -> dict | None:
    """The offer this session holds, while it is valid: the password was typed at this sign-in."""
    offer = session.get(OFFER)
    return offer if isinstance(offer, dict) and offer.get("until", 0) > time.time() else None


@bp.get("/account/passkeys/offer")
def offer():
    """"Next time, nothing to remember": one button adds a passkey, a link goes on without."""
    user = current_user()
    if user is None:
        return sign_in_first()
    offered = _offered()
    later = offered["next"] if offered else url_for("login.home")
    if offered is None or passkeys_of(user):
        return redirect(later, 303)
    return render_template("account/passkey_offer.html", form=PasskeyForm(), later=later)


@bp.post("/account/passkeys/options")
@limiter.limit(lambda: current_app.config["IDP_LOGIN_RATE_LIMIT"])
def register_options():
    user = _signed_in_user()
    if user is None:
        return jsonify(error="login_required"), 401
    answer = request.get_json(silent=True) or {}
    password = answer.get("current_password") if isinstance(answer, dict) else None
    if not password and _offered():  # the password was typed moments ago, at this very sign-in
        return jsonify(begin_registration(user))
    refused = current_password_refused(user, password[:1024]) if isinstance(password, str) and password else \
        (400, _("Enter your current password to add a passkey."))
    if refused:
        audit_log.record("passkey.password_refused", user_id=user.id)
        return jsonify(error="password", message=refused[1]), 429 if refused[0] == 429 else 403
    return jsonify(begin_registration(user))


@bp.post("/account/passkeys/verify")
@limiter.limit(lambda: current_app.config["IDP_LOGIN_RATE_LIMIT"])
def register_verify():
    user = _signed_in_user()
    if user is None:
        return jsonify(error="login_required"), 401
    answer = request.get_json(silent=True)
    if not isinstance(answer, dict):
        return _json_error(PasskeyError("refused", "not a JSON object"))
    try:
        row = finish_registration(user, answer)
    except PasskeyError as error:
        return _json_error(error)
    _tell(user, True, _l("A passkey was added to your %(brand)s account", brand=brand_name()), row)
    flash(_("Your passkey is added: next time, sign in with it."))
    offered = session.pop(OFFER, None)
    return jsonify(id=row.id, name=row.name, next=offered["next"] if isinstance(offered, dict) else None)


def _tell(user: User, added: bool, subject, row: Passkey) -> None:
    """The owner hears of a passkey added or removed, with the "it was not me" link of the notices."""
    if not user.email:
        return
    since = row.created_at.replace(tzinfo=dt.UTC).timestamp() if added else None
    link = hooks().not_me_link(user, since) if hooks().not_me_link else None
    mail.send(user.email, "account/passkey_changed", subject, user=user, added=added, passkey=row.name, link=link,
              days=current_app.config["IDP_NOTICE_TOKEN_TTL"] // 86400)


def tell_removed(user: User, row: Passkey) -> None:
    """The owner hears that ``row`` was removed (by the help desk too), as after their own removal."""
    _tell(user, False, _l("A passkey was removed from your %(brand)s account", brand=brand_name()), row)


@bp.route("/account/passkeys", methods=["GET", "POST"])
def account():
    """"Mes clés d'accès": the list (each named, with when it was added and last used), renaming,
    removing (with the password), and adding (the password, then the browser's ceremony)."""
    user = current_user()
    if user is None:
        return sign_in_first()
    form = PasskeyForm()
    if not form.is_submitted():
        return _page(user, form)
    if not form.validate():
        abort(400)
    mine = {row.id: row for row in passkeys_of(user)}
    if form.remove.data:
        row = mine.get(int(form.remove.data))
        if row is None:
            return _page(user, form, refusal=_("This passkey is not one of your account's."), status=404)
        refused = current_password_refused(user, form.current_password.data) if form.current_password.data else \
            (400, _("Enter your current password to remove a passkey."))
        if refused:
            return _page(user, form, refusal=refused[1], status=refused[0], removing=row.id)
        db_session().delete(row)
        db_session().commit()
        audit_log.record("passkey.removed", user_id=user.id, passkey=row.id)
        _tell(user, False, _l("A passkey was removed from your %(brand)s account", brand=brand_name()),
              row)
        flash(_("The passkey “%(name)s” is removed: it no longer signs in to your account.", name=row.name))
        return redirect(url_for("passkeys.account"), 303)
    if form.passkey.data and form.name.data is not None:
        row = mine.get(int(form.passkey.data))
        name = " ".join((form.name.data or "").split())
        if row is None or not name:
            return _page(user, form, refusal=_("Give the passkey a name."), status=400, renaming=row and row.id)
        row.name = name[:64]
        db_session().commit()
        flash(_("The passkey is renamed “%(name)s”.", name=row.name))
        return redirect(url_for("passkeys.account"), 303)
    # The add form, sent without the script (no JavaScript, or no WebAuthn in this browser).
    return _page(user, form, refusal=_("Adding a passkey needs a browser with JavaScript that knows passkeys, "
                                       "such as a recent Firefox or Chromium."), status=400)


def _page(user: User, form: PasskeyForm, refusal: str | None = None, status: int = 200, removing: int | None = None,
          renaming: int | None = None):
    return render_template("account/passkeys.html", form=form, passkeys=passkeys_of(user), refusal=refusal,
                           removing=removing, renaming=renaming, local_time=local_time,
                           has_password=bool(user.password_hash)), status
