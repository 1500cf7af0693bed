"""OpenID Connect endpoints: discovery, keys, authorization, consent, tokens, userinfo,
revocation, introspection and RP-initiated logout.  An authorization request that needs
the citizen waits in the session (see ``pending``)."""

from __future__ import annotations

import json
import re
import time

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, MissingAuthorizationError
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
    RequestURINotSupportedError,
)
from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from joserfc import jwt

from .. import audit_log, resources
from ..db import session as db_session
from ..forms import ConsentForm, LogoutForm
from ..login_state import current_user
from ..plugins import hooks
from ..ratelimit import limiter
from ..sessions import end as end_session
from ..theme import brand_name
from . import acr, backchannel, dpop, par, pending, verified_claims
from .claims import COVERED_BY, SCOPE_CLAIMS, requested_claims, subject_for, user_claims, user_for_subject
from .client_auth import ALGS as CLIENT_ASSERTION_ALGS
from .context import provider
from .server import audit_refusal

bp = Blueprint("oidc", __name__)
CORS_ENDPOINTS = {"oidc.discovery", "oidc.jwks", "oidc.token", "oidc.userinfo", "oidc.revoke"}


SCOPE_LABELS = {
    "openid": _l("That you are signed in, under an identifier for this service"),
    "profile": _l("Your name, first name and date of birth"),
    "email": _l("Your e-mail address"),
    "address": _l("Your postal address"),
    "phone": _l("Your phone number"),
}


@bp.app_context_processor
def scope_helpers():
    return {"scope_label": lambda scope: SCOPE_LABELS.get(scope, scope)}


def server():
    return current_app.extensions["idp.oauth"]


@bp.after_request
def allow_cross_origin(response):
    # Browser-based relying parties call these directly; no cookies are involved.
    if request.endpoint in CORS_ENDPOINTS:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, DPoP"
    return response


@bp.get("/.well-known/openid-configuration")
def discovery():
    # The same document for every request: built once per process, again if what it depends on changes.
    depends_on = (provider().issuer, hooks().signup_url, tuple(_scopes_supported()))
    cached = current_app.extensions.get("idp.discovery")
    if cached is None or cached[0] != depends_on:
        cached = current_app.extensions["idp.discovery"] = (depends_on, json.dumps(metadata()))
    response = current_app.response_class(cached[1], mimetype="application/json")
    response.cache_control.public = True  # public and the same for everyone, like the keys
    response.cache_control.max_age = 300
    return response


def _scopes_supported() -> list[str]:
    """The provider's scopes, then the resources' (a private resource's left out)."""
    return [*server().scopes_supported, *resources.public_scopes(db_session())]


def metadata() -> dict:
    issuer = provider().issuer
    client_auth = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
    signing = list(CLIENT_ASSERTION_ALGS)  # private_key_jwt (idp/oidc/client_auth.py)
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        "scopes_supported": _scopes_supported(),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "userinfo_signing_alg_values_supported": ["RS256", "ES256"],
        "token_endpoint_auth_methods_supported": client_auth,
        "token_endpoint_auth_signing_alg_values_supported": signing,
        "revocation_endpoint_auth_methods_supported": client_auth,
        "revocation_endpoint_auth_signing_alg_values_supported": signing,
        "introspection_endpoint_auth_methods_supported": client_auth[:3],
        "introspection_endpoint_auth_signing_alg_values_supported": signing,
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": list(dpop.ALGS),
        "prompt_values_supported": ["none", "login", "consent", *(["create"] if hooks().signup_url else [])],
        "acr_values_supported": acr.SUPPORTED,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
                             *[c for claims in SCOPE_CLAIMS.values() for c in claims]],
        "claims_parameter_supported": True,  # for verified_claims (OpenID Connect for Identity Assurance)
        # OpenID Connect for Identity Assurance: its trust framework and claims say it is supported
        # (no verified_claims_supported: the registry and the certification suite know no such name).
        "trust_frameworks_supported": ["eidas"],
        "claims_in_verified_claims_supported": list(verified_claims.VERIFIABLE),
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "pushed_authorization_request_endpoint": f"{issuer}/oauth/par",
        "require_pushed_authorization_requests": False,
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "ui_locales_supported": ["fr", "en"],
    }


@bp.get("/oauth/jwks")
def jwks():
    response = jsonify(provider().signing_keys.public_jwks())
    response.cache_control.public = True
    response.cache_control.max_age = 300
    return response


@bp.route("/oauth/authorize", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IDP_AUTHORIZE_RATE_LIMIT"])
def authorize():
    user = current_user()
    try:
        par.substitute()  # a pushed request (RFC 9126): its parameters, not the query's
        grant = server().get_consent_grant(end_user=user)
        _refuse_request_objects(grant)
        par.require_for_fapi2(grant)
        _refuse_too_long()
        _check_claims_request(grant)
        _check_resources(grant)
        max_age = _max_age()
    except OAuth2Error as error:
        return authorization_error(error)
    prompts = set(request.values.get("prompt", "").split())
    pending_id = request.values.get("resume")
    if "create" in prompts and not pending.logged_in_since(pending_id):
        return _sign_up(prompts, grant)
    if _needs_login(user, prompts, max_age, pending_id) or _needs_second_factor(user, pending_id):
        if "none" in prompts:
            return authorization_error(LoginRequiredError(redirect_uri=grant.redirect_uri))
        return redirect(url_for("login.login", rid=pending.remember(pending_id)))
    asked = grant.client.get_allowed_scope(grant.request.scope).split()
    apis = _apis_asked(asked)
    new_for_apis = apis and not _consented_before(user, grant.client.client_id, apis)
    if new_for_apis and "none" in prompts:
        return authorization_error(ConsentRequiredError(redirect_uri=grant.redirect_uri))
    if ("consent" in prompts or new_for_apis) and not pending.get(pending_id).get("consented"):
        form = ConsentForm(rid=pending.remember(pending_id))
        return render_template("oidc/consent.html", form=form, client=grant.client,
                               scopes=_consented_scopes(grant.client, asked), apis=_apis_described(apis))
    response = server().create_authorization_response(grant=grant, grant_user=user)
    pending.forget(pending_id)
    if response.status_code == 302 and "code=" in response.location:
        _remember_service(user, grant.client.client_id, sorted(apis))
    if request.method == "POST":
        response.status_code = 303
    return response


def _consented_scopes(client, asked: list[str]) -> list[str]:
    """What the consent page names: the provider's scopes asked, and those that cover the claims asked one
    by one with the ``claims`` parameter (they are released too: claims.requested_claims)."""
    wanted = verified_claims.requested(request.values.get("claims"))
    by_claims = {COVERED_BY[name] for names in wanted.values() for name in verified_claims.plain(names)}
    allowed = set(client.get_allowed_scope(" ".join(sorted(by_claims))).split())
    return [scope for scope in resources.PROVIDER_SCOPES if scope in asked or scope in allowed & by_claims]


def _refuse_request_objects(grant) -> None:
    """Request objects (OpenID Connect Core §6) are not supported: said so, as discovery says, rather
    than ignored (the parameters they carry could differ from those outside)."""
    if "request" in request.values:
        raise RequestNotSupportedError("Request objects are not supported: send the parameters in the query.",
                                       redirect_uri=grant.redirect_uri)
    if "request_uri" in request.values:
        raise RequestURINotSupportedError("'request_uri' is not supported: send the parameters in the query.",
                                          redirect_uri=grant.redirect_uri)


def _check_resources(grant) -> None:
    """RFC 8707: each ``resource`` named must be a registered resource."""
    named = request.values.getlist("resource")
    if named:
        try:
            resources.check_requested(db_session(), named)
        except resources.InvalidTargetError as error:
            raise resources.InvalidTargetError(error.description, redirect_uri=grant.redirect_uri) from None


def _check_claims_request(grant) -> None:
    """The claims parameter (OpenID Connect Core §5.5) must be the JSON object it describes."""
    try:
        verified_claims.requested(request.values.get("claims"))
    except ValueError as error:
        raise InvalidRequestError(str(error), redirect_uri=grant.redirect_uri) from None


def _remember_service(user, client_id: str, api_scopes: list[str]) -> None:
    """This session signed in to ``client_id``: back-channel logout will tell it when the session ends.
    The APIs' scopes granted go with the audit event: the account's list of services shows them, and
    a later request for them is not asked again."""
    services = set(session.get("clients", []))
    if client_id not in services:
        session["clients"] = sorted(services | {client_id})
    audit_log.record("authorization.granted", user_id=user.id, client_id=client_id,
                     **({"api_scopes": api_scopes} if api_scopes else {}))


def _apis_asked(scopes: list[str]) -> dict[str, object]:
    """The scopes asked that are resources', each with its resource (no SQL for the provider's own)."""
    if all(scope in resources.PROVIDER_SCOPES for scope in scopes):
        return {}
    return resources.scope_owners(db_session(), scopes)


def _consented_before(user, client_id: str, apis: dict) -> bool:
    from ..account_services import granted_api_scopes  # the account's list of services reads the same

    return set(apis) <= set(granted_api_scopes(user.id, client_id))


def _apis_described(apis: dict) -> list[dict]:
    """For the consent page: each API by name, with the plain words of each scope asked."""
    by_resource: dict[str, dict] = {}
    for scope, resource in apis.items():
        entry = by_resource.setdefault(resource.identifier, {"name": resource.name, "scopes": []})
        entry["scopes"].append(resource.scope_descriptions.get(scope) or scope)
    return list(by_resource.values())


def _sign_up(prompts: set[str], grant):
    """OpenID Connect Prompt Create 1.0: straight to sign-up, then back here once signed in."""
    if hooks().signup_url is None or "none" in prompts:
        return authorization_error(InvalidRequestError("prompt=create is not available with these prompts.",
                                                       redirect_uri=grant.redirect_uri))
    return redirect(hooks().signup_url(pending.remember(request.values.get("resume"))))


def _needs_login(user, prompts: set[str], max_age: int | None, pending_id: str | None) -> bool:
    if user is None:
        return True
    if pending.logged_in_since(pending_id):
        return False
    too_old = max_age is not None and time.time() - session["auth_time"] > max_age
    return "login" in prompts or too_old


def _needs_second_factor(user, pending_id: str | None) -> bool:
    """acr_values asks for two factors, and this browser's sign-in (made before the request) proved one."""
    return (user is not None and acr.wants_two_factors(request.values.get("acr_values"))
            and acr.of(session.get("amr")) != acr.TWO_FACTORS and not pending.logged_in_since(pending_id))


def _refuse_too_long() -> None:
    """A request that will wait in the session must stay small (see ``pending``)."""
    if name := pending.too_long(request.values):
        raise InvalidRequestError(f"'{name}' is longer than {pending.PARAMETERS[name]} characters.",
                                  redirect_uri=request.values.get("redirect_uri"))


def _max_age() -> int | None:
    raw = request.values.get("max_age")
    if raw is None or raw == "":
        return None
    if not re.fullmatch(r"[0-9]{1,10}", raw):
        # Reached only after the client and its redirect_uri were validated.
        raise InvalidRequestError("'max_age' must be a number of seconds.",
                                  redirect_uri=request.values.get("redirect_uri"))
    return int(raw)


def authorization_error(error: OAuth2Error):
    """Errors go back to the client only when its redirect URI is known good (RFC 6749 §4.1.2.1)."""
    if error.redirect_uri:
        error.state = request.values.get("state")
        _status, _body, headers = error()
        location = add_params_to_uri(dict(headers)["Location"], {"iss": provider().issuer})
        return redirect(location, 303 if request.method == "POST" else 302)
    return render_template(
        "errors/error.html",
        title=_("This sign-in request cannot be served"),
        message=_("The service that sent you here made a request we cannot accept. "
                  "Go back to the service and try again."),
        detail=protocol_error_detail(error), code=error.error,
    ), 400


# What the protocol errors that reach a person mean, in their language; the code stays, for the service.
PROTOCOL_ERRORS = {
    "invalid_client": _l("The service is not registered with %(brand)s."),
    "invalid_request": _l("The request is incomplete or malformed, or its return address is not one the "
                          "service registered."),
    "unauthorized_client": _l("The service is not allowed to make this kind of request."),
    "unsupported_response_type": _l("The service asked for a kind of answer %(brand)s does not give."),
    "invalid_scope": _l("The service asked for information it may not receive."),
}


def protocol_error_detail(error: OAuth2Error) -> str:
    """The protocol's own English description on English pages; elsewhere what the code means."""
    if str(get_locale()) == "en" and error.description:
        return error.description
    return str(PROTOCOL_ERRORS.get(error.error, _("The request was refused."))) % {"brand": brand_name()}


@bp.post("/oauth/consent")
def consent():
    form = ConsentForm()
    pending_id = form.rid.data
    params = pending.get(pending_id).get("params")
    if not form.validate_on_submit() or params is None:
        return render_template("errors/error.html", title=_("This page has expired"),
                               message=_("Go back to the service and sign in again.")), 400
    if form.allow.data:
        pending.mark_consented(pending_id)
        return redirect(pending.resume_url(pending_id), 303)
    pending.forget(pending_id)
    denied = {"error": "access_denied", "state": params.get("state"), "iss": provider().issuer}
    return redirect(add_params_to_uri(params["redirect_uri"], {k: v for k, v in denied.items() if v}), 303)


@bp.before_request
def refuse_repeated_parameters():
    """RFC 6749 §3.2: a parameter sent twice to the token endpoints is an invalid request."""
    if request.endpoint in {"oidc.token", "oidc.revoke", "oidc.introspect"}:
        repeated = sorted({key for key in request.form if len(request.form.getlist(key)) > 1})
        if repeated:
            return jsonify(error="invalid_request", error_description=f"Parameter '{repeated[0]}' is repeated."), \
                400, {"Cache-Control": "no-store"}
    return None


@bp.post("/oauth/token")
def token():
    try:
        dpop.at_token_endpoint()  # RFC 9449: a proof binds the access token to the client's key
    except OAuth2Error as error:
        audit_refusal(error)
        status, body, headers = error()
        return jsonify(dict(body)), status, {**dict(headers), "Cache-Control": "no-store"}
    return server().create_token_response()


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo():
    try:
        token = _userinfo_token()
    except OAuth2Error as error:
        return bearer_error(error)
    client = provider().clients(token["client_id"])
    user = user_for_subject(token["sub"], client)
    if user is None or not user.is_active:
        return bearer_error(InvalidTokenError("The account is no longer active."))
    claims = user_claims(user, client, token["scope"])
    asked = verified_claims.asked_at_userinfo(provider().redis, provider().keys, token.get("jti"))
    claims.update({name: value for name, value in requested_claims(user, client, verified_claims.plain(asked)).items()
                   if name not in claims})
    if verified := verified_claims.release(user, asked, token["scope"]):
        claims["verified_claims"] = verified
    alg = client.userinfo_signed_response_alg
    if not alg:
        return jsonify(claims)
    # OpenID Connect Core §5.3.2: signed, it names who signed it and for whom.
    key = provider().signing_keys.signing_key(alg)
    signed = jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"},
                        {**claims, "iss": provider().issuer, "aud": client.client_id}, key, algorithms=[alg])
    return Response(signed, mimetype="application/jwt")


def _userinfo_token() -> dict:
    """The access token of a userinfo request: in the Authorization header, or (RFC 6750 §2.2) as
    ``access_token`` in a form-encoded POST body, as some relying-party libraries send it; never both."""
    protector = current_app.extensions["idp.protector"]
    in_body = request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded" \
        and "access_token" in request.form
    if not in_body:
        return protector.acquire_token(["openid"])
    if "Authorization" in request.headers or len(request.form.getlist("access_token")) != 1:
        raise InvalidRequestError("Send the access token once: in the Authorization header or in the body.")
    validator = protector.get_token_validator("bearer")
    token = validator.authenticate_token(request.form["access_token"])
    validator.validate_token(token, ["openid"], request)
    return token


def bearer_error(error: OAuth2Error):
    """RFC 6750 §3: the challenge in WWW-Authenticate, and no error code when no token was sent."""
    if isinstance(error, MissingAuthorizationError):
        body = {"error": "invalid_request", "error_description": "Send an access token: Authorization: Bearer …"}
        return jsonify(body), 401, {"WWW-Authenticate": 'Bearer realm="sesame"'}
    if isinstance(error, dpop.DPoPTokenError):  # a bound token without its key's proof: audited
        audit_refusal(error)
    return jsonify(dict(error.get_body())), error.status_code, dict(error.get_headers())


@bp.post("/oauth/revoke")
def revoke():
    return server().create_endpoint_response("revocation")


@bp.post("/oauth/introspect")
def introspect():
    return server().create_endpoint_response("introspection")


@bp.route("/oauth/logout", methods=["GET", "POST"])
def rp_logout():
    from ..federation_views import leave_upstream
    from ..login import FEDERATED

    try:
        logout = server().validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return authorization_error(error)
    user = current_user()
    hint = logout.id_token_claims or {}
    # A return address the service did not register is never followed: the citizen is asked, and told.
    unknown_return = bool(request.values.get("post_logout_redirect_uri")) and not logout.redirect_uri
    if user is not None and (unknown_return or not (logout.client and hint.get("sub") == subject_for(user,
                                                                                                    logout.client))):
        session["logout_redirect"] = logout.redirect_uri
        return render_template("oidc/logout_confirm.html", client=logout.client, logout_form=LogoutForm(),
                               unknown_return=unknown_return)
    backchannel.notify(session.get("user_id"), session.get("sid"), session.get("clients", []))
    shared_computer = session.get("shared_computer", False)
    federated = session.get(FEDERATED)
    end_session(session)
    if user is not None:  # as /logout: a sign-out, here naming the service that asked for it
        audit_log.record("logout", user_id=user.id, client_id=logout.client.client_id)
    if upstream_logout := leave_upstream(federated, logout.redirect_uri, shared_computer):
        return upstream_logout  # as /logout: the provider's sign-out too, then the service
    if logout.redirect_uri:
        return redirect(logout.redirect_uri, 303 if request.method == "POST" else 302)
    return render_template("login/logged_out.html", shared_computer=shared_computer)


