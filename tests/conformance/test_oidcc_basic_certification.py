"""oidcc-basic-certification-test-plan (OIDCCBasicTestPlan), static client, client_secret_basic,
response_type=code, default response mode: one test per module of the plan that applies to that
configuration (oidcc-idtoken-signature and oidcc-idtoken-unsigned are @VariantNotApplicable for
static clients), plus oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported, which
the plan runs for dynamic clients only but whose behaviour issue 19 asks for."""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import urlencode

import pytest
from conformance_fixtures import app, citizen, database_url, module, second_client, static_client  # noqa: F401
from conformance_suite import (
    REDIRECT_URI,
    USER_INTERFACE_ERRORS,
    Module,
    random_vschar,
    s256,
    shannon_bits,
    unsigned_jwt,
)


@pytest.fixture
def clock(monkeypatch):
    """The suite's waits (WaitForOneSecond, WaitFor2Seconds, WaitFor30Seconds) without the wait: the
    provider's clock (time.time) moves forward instead."""
    real = time.time
    offset = [0.0]
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])

    def wait(seconds: float) -> None:
        offset[0] += seconds

    return wait


def scope_module(module: Module, scope: str) -> None:
    """AbstractOIDCCReturnedClaimsServerTest: skipped when scopes_supported lacks a scope; otherwise the
    happy flow, then userinfo holding every standard claim of the scopes (WARNING otherwise)."""
    missing = [name for name in scope.split() if name not in module.server.get("scopes_supported", scope.split())]
    if missing:
        pytest.skip(f"scopes_supported lacks {missing}: the suite skips the module")
    request = module.authorization_request(scope=scope)
    tokens = module.code_flow(request)
    module.userinfo_checks(module.userinfo(tokens.response["access_token"]), tokens.claims, scope=scope)
    module.finish()


def test_oidcc_server(module):
    """OIDCCServerTest (OP-Response-code): the happy flow with scope=openid. The code is at least 128 bits
    long with more than 96 bits of Shannon entropy; the ID token passes the standard checks (iss, aud, exp,
    iat, nonce, signature by kid, sub); expires_in is in the token response (WARNING); at_hash/c_hash, when
    present, are right; the ID token holds neither `name` nor any claim that was not requested (WARNING);
    userinfo answers 200."""
    request = module.authorization_request()
    tokens = module.code_flow(request)
    module.code_quality(tokens.response["_code"])
    module.check(
        "expires_in" in tokens.response,
        "ExtractExpiresInFromTokenEndpointResponse",
        "no expires_in in the token response",
        "WARNING",
    )
    if "at_hash" in tokens.claims:
        import base64
        import hashlib

        digest = hashlib.sha256(tokens.response["access_token"].encode()).digest()
        expected = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
        module.check(tokens.claims["at_hash"] == expected, "ValidateAtHash", tokens.claims["at_hash"])
    module.check("name" not in tokens.claims, "EnsureIdTokenDoesNotContainName", "name in the ID token", "WARNING")
    module.id_token_has_only_requested_claims(tokens.claims, request["scope"])
    module.finish()


def test_oidcc_response_type_missing(module):
    """OIDCCResponseTypeMissing (OP-Response-Missing): no response_type. The OP either redirects back with
    unsupported_response_type or invalid_request (the generic error-response checks apply), or shows an
    error page (the screenshot placeholder); it never issues a code."""
    request = module.authorization_request()
    del request["response_type"]
    callback = module.front_channel(request)
    if callback.params is not None:
        params = module.error_response_checks(request, callback)
        module.check(
            params.get("error") in ("invalid_request", "unsupported_response_type"),
            "CheckErrorFromAuthorizationEndpointErrorInvalidRequestOrUnsupportedResponseType",
            f"error {params.get('error')!r}",
        )
    else:
        module.check(
            callback.page.status_code >= 400 and callback.login_pages == 0,
            "ExpectResponseTypeMissingErrorPage",
            f"the OP showed {callback.page.status_code} (login pages: {callback.login_pages}), not an error page",
        )
    module.finish()


def test_oidcc_userinfo_get(module):
    """OIDCCUserInfoGet (OP-UserInfo-Endpoint): userinfo by GET with the bearer header: 200, JSON, valid
    standard claims, `sub` the ID token's, updated_at a number."""
    tokens = module.code_flow(module.authorization_request())
    module.userinfo_checks(module.userinfo(tokens.response["access_token"], "GET"), tokens.claims)
    module.finish()


def test_oidcc_userinfo_post_header(module):
    """OIDCCUserInfoPostHeader (OP-UserInfo-Header): userinfo by POST with the bearer header: as GET."""
    tokens = module.code_flow(module.authorization_request())
    module.userinfo_checks(module.userinfo(tokens.response["access_token"], "POST-header"), tokens.claims)
    module.finish()


def test_oidcc_userinfo_post_body(module):
    """OIDCCUserInfoPostBody (OP-UserInfo-Body): userinfo by POST with `access_token` in the form body
    (RFC 6750 §2.2); an HTTP error is UserInfoEndpointWithAccessTokenInBodyNotSupported (WARNING), a
    success must pass the userinfo checks."""
    tokens = module.code_flow(module.authorization_request())
    response = module.userinfo(tokens.response["access_token"], "POST-body")
    if not 200 <= response.status_code < 300:
        module.warn(
            "UserInfoEndpointWithAccessTokenInBodyNotSupported",
            f"userinfo answered {response.status_code} {response.get_data(as_text=True)[:200]!r}",
        )
    else:
        module.userinfo_checks(response, tokens.claims)
    module.finish()


def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(module):
    """OIDCCEnsureRequestWithoutNonceSucceedsForCodeFlow (OP-nonce-NoReq-code): no nonce; the OP must still
    issue a code (the module checks the authorization response only)."""
    request = module.authorization_request(nonce=False)
    callback = module.front_channel(request)
    module.callback_checks(request, callback)
    module.finish()


def test_oidcc_scope_profile(module):
    """OIDCCScopeProfile (OP-scope-profile): scope `openid profile`; userinfo must hold every standard
    claim of `profile` (VerifyScopesReturnedInUserInfoClaims, WARNING)."""
    scope_module(module, "openid profile")


def test_oidcc_scope_email(module):
    """OIDCCScopeEmail (OP-scope-email): scope `openid email`; userinfo holds email and email_verified."""
    scope_module(module, "openid email")


def test_oidcc_scope_address(module):
    """OIDCCScopeAddress (OP-scope-address): scope `openid address`; userinfo holds address."""
    scope_module(module, "openid address")


def test_oidcc_scope_phone(module):
    """OIDCCScopePhone (OP-scope-phone): scope `openid phone`; userinfo holds phone_number and
    phone_number_verified (WARNING otherwise)."""
    scope_module(module, "openid phone")


def test_oidcc_scope_all(module):
    """OIDCCScopeAll (OP-scope-All): scope `openid email phone address profile`; every standard claim of
    each (WARNING otherwise)."""
    scope_module(module, "openid email phone address profile")


def test_oidcc_alternate_happy_flow(module):
    """OIDCCAlternateHappyFlow: as oidcc-scope-email with the scope's order reversed (`email openid`) and
    the query parameters in reverse alphabetical order (RFC 6749 §3.3: order does not matter)."""
    request = module.authorization_request(scope="openid email")
    request["scope"] = " ".join(reversed(request["scope"].split()))
    query = urlencode(sorted(request.items(), reverse=True))
    callback = module.front_channel(request, query=query)
    code = module.callback_checks(request, callback)
    tokens = module.redeem(code, nonce=request["nonce"])
    module.userinfo_checks(module.userinfo(tokens.response["access_token"]), tokens.claims, scope=request["scope"])
    module.finish()


def test_oidcc_display_page(module):
    """OIDCCDisplayPage (OP-display-page): display=page must not cause an error; the login page shows."""
    request = module.authorization_request(display="page")
    tokens = module.code_flow(request)
    module.check(tokens.response["_callback"].login_pages == 1, "ExpectLoginPage", "no login page was shown")
    module.finish()


def test_oidcc_display_popup(module):
    """OIDCCDisplayPopup (OP-display-popup): display=popup must not cause an error; the login page shows."""
    request = module.authorization_request(display="popup")
    tokens = module.code_flow(request)
    module.check(tokens.response["_callback"].login_pages == 1, "ExpectLoginPage", "no login page was shown")
    module.finish()


def test_oidcc_prompt_login(module, clock):
    """OIDCCPromptLogin (OP-prompt-login): a first authorization, one second later a second with
    prompt=login: the OP must ask the user to sign in again (the screenshot of the second login), and the
    second ID token's auth_time, if present, is later than the first's."""
    first = module.code_flow(module.authorization_request())
    clock(1)
    request = module.authorization_request(prompt="login")
    second = module.code_flow(request)
    module.check(
        second.response["_callback"].login_pages == 1,
        "ExpectSecondLoginPage",
        "prompt=login did not show the login page",
    )
    if "auth_time" in first.claims and "auth_time" in second.claims:
        module.check(
            second.claims["auth_time"] > first.claims["auth_time"],
            "CheckSecondIdTokenAuthTimeIsLaterIfPresent",
            f"{second.claims['auth_time']} <= {first.claims['auth_time']}",
        )
    module.finish()


def test_oidcc_prompt_none_not_logged_in(module):
    """OIDCCPromptNoneNotLoggedIn (OP-prompt-none-NotLoggedIn): prompt=none with no session and a
    128-character state: the OP redirects back with login_required, interaction_required,
    account_selection_required or consent_required, the state intact, nothing unexpected."""
    request = module.authorization_request(prompt="none", state_length=128)
    callback = module.front_channel(request, user_signs_in=False)
    params = module.error_response_checks(request, callback)
    module.check(
        params.get("error") in USER_INTERFACE_ERRORS,
        "CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface",
        f"error {params.get('error')!r}",
    )
    module.finish()


def same_auth_twice(module, first, second) -> None:
    """AbstractOIDCCSameAuthTwiceServerTest: auth_time (if present) and sub equal in both ID tokens."""
    if "auth_time" in first.claims or "auth_time" in second.claims:
        module.check(
            first.claims.get("auth_time") == second.claims.get("auth_time"),
            "CheckIdTokenAuthTimeClaimsSameIfPresent",
            f"{first.claims.get('auth_time')} != {second.claims.get('auth_time')}",
        )
    module.check(
        first.claims["sub"] == second.claims["sub"],
        "CheckIdTokenSubConsistentForSecondAuthorization",
        "the sub changed",
    )


def test_oidcc_prompt_none_logged_in(module):
    """OIDCCPromptNoneLoggedIn (OP-prompt-none-LoggedIn): a first authorization, then one with
    prompt=none: it succeeds without the user, with the same sub and auth_time (if present)."""
    first = module.code_flow(module.authorization_request())
    request = module.authorization_request(prompt="none")
    callback = module.front_channel(request, user_signs_in=False)
    code = module.callback_checks(request, callback)
    second = module.redeem(code, nonce=request["nonce"])
    same_auth_twice(module, first, second)
    module.finish()


def test_oidcc_max_age_1(module, clock):
    """OIDCCMaxAge1 (OP-Req-max_age=1): a first authorization; two seconds later one with max_age=1: the
    OP must ask the user to sign in again (the screenshot) and the second ID token carries auth_time,
    later than the first's and recent."""
    first = module.code_flow(module.authorization_request())
    clock(2)
    request = module.authorization_request(max_age="1")
    second = module.code_flow(request)
    module.check(
        second.response["_callback"].login_pages == 1, "ExpectSecondLoginPage", "max_age=1 did not show the login page"
    )
    if module.check("auth_time" in second.claims, "CheckIdTokenAuthTimeClaimPresentDueToMaxAge", "no auth_time"):
        if "auth_time" in first.claims:
            module.check(
                second.claims["auth_time"] > first.claims["auth_time"],
                "CheckSecondIdTokenAuthTimeIsLaterIfPresent",
                "auth_time did not move",
            )
        module.check(
            second.claims["auth_time"] >= time.time() - 301,
            "CheckIdTokenAuthTimeIsRecentIfPresent",
            str(second.claims["auth_time"]),
        )
    module.finish()


def test_oidcc_max_age_10000(module):
    """OIDCCMaxAge10000 (OP-Req-max_age=10000): a first authorization with max_age=15000 (auth_time then
    required), a second with max_age=10000 that must not ask the user to sign in; auth_time in both,
    equal; the same sub."""
    first = module.code_flow(module.authorization_request(max_age="15000"))
    module.check("auth_time" in first.claims, "CheckIdTokenAuthTimeClaimPresentDueToMaxAge", "first: no auth_time")
    request = module.authorization_request(max_age="10000")
    callback = module.front_channel(request, user_signs_in=False)
    code = module.callback_checks(request, callback)
    second = module.redeem(code, nonce=request["nonce"])
    module.check("auth_time" in second.claims, "CheckIdTokenAuthTimeClaimPresentDueToMaxAge", "second: no auth_time")
    same_auth_twice(module, first, second)
    module.finish()


def test_oidcc_ensure_request_with_unknown_parameter_succeeds(module):
    """OIDCCEnsureRequestWithUnknownParameterSucceeds (OP-Req-NotUnderstood): extra=foobar is ignored
    (RFC 6749 §3.1) and the flow succeeds."""
    module.code_flow(module.authorization_request(extra="foobar"))
    module.finish()


def test_oidcc_id_token_hint(module):
    """OIDCCIdTokenHint (OP-Req-id_token_hint): a first authorization, then prompt=none with the first ID
    token as id_token_hint: success without the user, the same sub and auth_time (if present)."""
    first = module.code_flow(module.authorization_request())
    request = module.authorization_request(prompt="none", id_token_hint=first.id_token)
    callback = module.front_channel(request, user_signs_in=False)
    code = module.callback_checks(request, callback)
    second = module.redeem(code, nonce=request["nonce"])
    same_auth_twice(module, first, second)
    module.finish()


def test_oidcc_login_hint(module):
    """OIDCCLoginHint (OP-Req-login_hint): login_hint from the test configuration (here the citizen's
    identifier) must not cause an error; the user signs in on a fresh login page."""
    module.code_flow(module.authorization_request(login_hint=module.username))
    module.finish()


def test_oidcc_ui_locales(module):
    """OIDCCUiLocales (OP-Req-ui_locales): ui_locales=se (the suite's value when none is configured) must
    not cause an error."""
    module.code_flow(module.authorization_request(ui_locales="se"))
    module.finish()


def test_oidcc_claims_locales(module):
    """OIDCCClaimsLocales (OP-Req-claims_locales): claims_locales=se must not cause an error."""
    module.code_flow(module.authorization_request(claims_locales="se"))
    module.finish()


def test_oidcc_ensure_request_with_acr_values_succeeds(module):
    """OIDCCEnsureRequestWithAcrValuesSucceeds (OP-Req-acr_values): acr_values = every value of
    acr_values_supported (or `1 2`); the flow succeeds and the ID token's acr is one of them (WARNING)."""
    acr_values = " ".join(module.server.get("acr_values_supported") or ["1", "2"])
    request = module.authorization_request(acr_values=acr_values)
    tokens = module.code_flow(request)
    acr = tokens.claims.get("acr")
    module.check(
        isinstance(acr, str) and acr in acr_values.split(),
        "ValidateIdTokenACRClaimAgainstAcrValuesRequest",
        f"acr {acr!r}, asked {acr_values!r}",
        "WARNING",
    )
    module.finish()


def reuse_checks(module, response) -> None:
    """AbstractOIDCCAuthCodeReuse.checkResponse."""
    body = response.get_json(silent=True) or {}
    module.check(response.status_code == 400, "CheckTokenEndpointHttpStatus400", str(response.status_code))
    module.check(
        response.mimetype == "application/json", "CheckTokenEndpointReturnedJsonContentType", response.mimetype
    )
    module.check(
        body.get("error") == "invalid_grant", "CheckErrorFromTokenEndpointResponseErrorInvalidGrant", str(body)
    )
    description = body.get("error_description", "")
    module.check(
        "\n" not in description and "\r" not in description and "\t" not in description,
        "CheckErrorDescriptionFromTokenEndpointResponseErrorContainsCRLFTAB",
        description,
        "WARNING",
    )


def test_oidcc_codereuse(module):
    """OIDCCAuthCodeReuse (OP-OAuth-2nd): the code redeemed a second time at once: 400, JSON,
    invalid_grant; a 200 is ServerAllowedReusingAuthorizationCode (WARNING)."""
    request = module.authorization_request()
    tokens = module.code_flow(request)
    again = module.call_token_endpoint(
        {"grant_type": "authorization_code", "code": tokens.response["_code"], "redirect_uri": REDIRECT_URI}
    )
    if again.status_code == 200:
        module.warn("ServerAllowedReusingAuthorizationCode", "the code was accepted twice")
    else:
        reuse_checks(module, again)
    module.finish()


def test_oidcc_codereuse_30seconds(module, clock):
    """OIDCCAuthCodeReuseAfter30Seconds (OP-OAuth-2nd-30s, OP-OAuth-2nd-Revokes): the code redeemed again
    30 seconds later (the clock moved instead of waiting): 400, JSON, invalid_grant; then the first access
    token should no longer work at userinfo (a 4xx, WARNING otherwise; RFC 6749 §4.1.2)."""
    request = module.authorization_request()
    tokens = module.code_flow(request)
    clock(30)
    again = module.call_token_endpoint(
        {"grant_type": "authorization_code", "code": tokens.response["_code"], "redirect_uri": REDIRECT_URI}
    )
    reuse_checks(module, again)
    resource = module.userinfo(tokens.response["access_token"])
    module.check(
        400 <= resource.status_code < 500,
        "EnsureHttpStatusCodeIs4xx",
        f"the first access token still works at userinfo ({resource.status_code})",
        "WARNING",
    )
    module.finish()


def test_oidcc_ensure_registered_redirect_uri(module):
    """OIDCCEnsureRegisteredRedirectUri (OP-redirect_uri-NotReg): a redirect_uri never registered (the
    registered one plus /<random>): the OP shows an error page (the screenshot) and redirects neither to
    it nor to the registered one."""
    request = module.authorization_request()
    request["redirect_uri"] = f"{REDIRECT_URI}/{secrets.token_hex(5)}"
    callback = module.front_channel(request)
    if callback.location is not None:
        module.fail("ExpectRedirectUriErrorPage", f"the OP redirected to {callback.location}")
    else:
        module.check(
            callback.page.status_code >= 400 and callback.login_pages == 0,
            "ExpectRedirectUriErrorPage",
            f"the OP answered {callback.page.status_code} (login pages: {callback.login_pages})",
        )
    module.finish()


def test_oidcc_ensure_post_request_succeeds(module):
    """OIDCCEnsurePostRequestSucceeds: the authorization request sent as a form POST; the OP must come
    back to the redirect URI (ExpectRedirectUriHasBeenCalled) and the flow complete."""
    module.code_flow(module.authorization_request(), method="POST")
    module.finish()


def test_oidcc_server_client_secret_post(module):
    """OIDCCServerTestClientSecretPost (OP-ClientAuth-SecretPost): the happy flow with client_secret_post
    at the token endpoint (EnsureServerConfigurationSupportsClientSecretPost first). The plan lets the
    tester configure a second static client for it; the one static client is used here."""
    methods = module.server.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    module.check("client_secret_post" in methods, "EnsureServerConfigurationSupportsClientSecretPost", str(methods))
    module.code_flow(module.authorization_request(), auth="post")
    module.finish()


def request_object_outcome(module, params: dict, claims: dict, not_supported: str, supported_key: str):
    """AbstractOIDCCRequestObjectServerTest / the request_uri module: the OP refuses with
    ``not_supported`` (the suite skips: acceptable), or processes the request object (the state and
    nonce travelled only inside it), and then discovery must say so (WARNING)."""
    callback = module.front_channel(None, query=urlencode(params))
    if callback.params is not None and callback.params.get("error") == not_supported:
        return None  # fireTestSkipped: permitted behaviour
    module.check(
        module.server.get(supported_key) is True,
        f"CheckDiscEndpoint{supported_key}",
        f"the OP processed it but discovery has {supported_key}={module.server.get(supported_key)!r}",
        "WARNING",
    )
    code = module.callback_checks(claims, callback)
    tokens = module.redeem(code, nonce=claims["nonce"])
    module.check(
        module.userinfo(tokens.response["access_token"]).status_code == 200, "EnsureHttpStatusCodeIs200", "userinfo"
    )
    return tokens


def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(module):
    """OIDCCUnsignedRequestObjectSupportedCorrectlyOrRejectedAsUnsupported (OP-request-Unsigned): the whole
    request in an unsigned (alg none) request object passed by value, with only response_type, client_id,
    scope and redirect_uri repeated outside (state and nonce inside only). Skipped by the suite when
    request_object_signing_alg_values_supported lacks `none`. The OP either answers request_not_supported
    at the redirect URI, or processes the object: the state comes back and the ID token carries the nonce."""
    algs = module.server.get("request_object_signing_alg_values_supported")
    if isinstance(algs, list) and "none" not in algs:
        pytest.skip("request_object_signing_alg_values_supported lacks none: the suite skips the module")
    claims = module.authorization_request()
    outside = {key: claims[key] for key in ("client_id", "redirect_uri", "response_type", "scope")}
    request_object_outcome(
        module,
        {**outside, "request": unsigned_jwt(claims)},
        claims,
        "request_not_supported",
        "request_parameter_supported",
    )
    module.finish()


def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(module):
    """OIDCCRequestUriUnsignedSupportedCorrectlyOrRejectedAsUnsupported (OP-request_uri-Unsigned; in the
    plan for dynamic clients only, here for issue 19's request_uri outside PAR): the request object by
    reference (request_uri pointing at the suite), the OP either answers request_uri_not_supported at the
    redirect URI or fetches and processes it."""
    claims = module.authorization_request()
    outside = {key: claims[key] for key in ("client_id", "redirect_uri", "response_type", "scope")}
    request_uri = f"https://www.certification.openid.net/test/a/sesame/requesturi/{secrets.token_hex(8)}"
    request_object_outcome(
        module,
        {**outside, "request_uri": request_uri},
        claims,
        "request_uri_not_supported",
        "request_uri_parameter_supported",
    )
    module.finish()


def test_oidcc_claims_essential(module):
    """OIDCCClaimsEssential (OP-claims-essential): scope openid and claims={"userinfo": {"name":
    {"essential": true}}}: the flow succeeds, userinfo holds `name` (EnsureUserInfoContainsName, WARNING)
    and the ID token does not (EnsureIdTokenDoesNotContainName, WARNING)."""
    claims = json.dumps({"userinfo": {"name": {"essential": True}}})
    request = module.authorization_request(claims=claims)
    tokens = module.code_flow(request)
    info = module.userinfo_checks(module.userinfo(tokens.response["access_token"]), tokens.claims, scope="openid")
    module.check("name" in info, "EnsureUserInfoContainsName", f"userinfo has {sorted(info)}", "WARNING")
    module.check("name" not in tokens.claims, "EnsureIdTokenDoesNotContainName", "name in the ID token", "WARNING")
    module.finish()


def test_oidcc_ensure_request_object_with_redirect_uri(module):
    """OIDCCEnsureRequestObjectWithRedirectUri: the registered redirect_uri inside an unsigned request
    object, an unregistered one (…/callback_invalid) outside. The OP either uses the request object's
    (and completes the flow) or shows an invalid redirect_uri error page; answering request_not_supported
    at the registered URI is a FAILURE (EnsureOPDoesNotUseDefaultRedirectUriInCaseOfInvalidRedirectUri)."""
    algs = module.server.get("request_object_signing_alg_values_supported")
    if isinstance(algs, list) and "none" not in algs:
        pytest.skip("request_object_signing_alg_values_supported lacks none: the suite skips the module")
    claims = module.authorization_request()
    outside = {key: claims[key] for key in ("client_id", "response_type", "scope")}
    outside["redirect_uri"] = REDIRECT_URI + "_invalid"
    callback = module.front_channel(None, query=urlencode({**outside, "request": unsigned_jwt(claims)}))
    if callback.params is None:
        module.check(
            callback.page.status_code >= 400 and callback.login_pages == 0,
            "ExpectRedirectUriErrorPage",
            f"the OP answered {callback.page.status_code}",
        )
    elif callback.params.get("error") == "request_not_supported":
        module.fail(
            "EnsureOPDoesNotUseDefaultRedirectUriInCaseOfInvalidRedirectUri",
            f"request_not_supported sent to {callback.location}",
        )
    else:
        code = module.callback_checks(claims, callback)
        module.redeem(code, nonce=claims["nonce"])
    module.finish()


def refresh(module: Module, first, client_id, secret, scope: str | None, clock) -> dict:
    """RefreshTokenRequestSteps: grant_type=refresh_token (scope=openid for the first client), one second
    later; 200, JSON, Cache-Control no-store, Bearer, access token entropy and characters, expires_in
    (WARNING), the new ID token against the first (CompareIdTokenClaims)."""
    form = {"grant_type": "refresh_token", "refresh_token": first.response["refresh_token"]}
    if scope:
        form["scope"] = scope
    clock(1)
    saved = module.client_id, module.secret
    module.client_id, module.secret = client_id, secret
    response = module.call_token_endpoint(form)
    module.client_id, module.secret = saved
    body = response.get_json(silent=True) or {}
    if response.status_code != 200 or "error" in body:
        module.stop("CheckTokenEndpointHttpStatus200", f"refresh answered {response.status_code} {body}")
    module.check(
        response.mimetype == "application/json", "CheckTokenEndpointReturnedJsonContentType", response.mimetype
    )
    module.check(
        "no-store" in [p.strip() for p in response.headers.get("Cache-Control", "").split(",")],
        "CheckTokenEndpointCacheHeaders",
        response.headers.get("Cache-Control", "(none)"),
    )
    module.check(body.get("token_type", "").lower() == "bearer", "CheckTokenTypeIsBearer", str(body.get("token_type")))
    access = body.get("access_token", "")
    module.check(shannon_bits(access) > 96, "EnsureMinimumAccessTokenEntropy", "access token")
    module.check(all(0x20 <= ord(c) <= 0x7E for c in access), "EnsureAccessTokenContainsAllowedCharactersOnly", access)
    module.check("expires_in" in body, "ExtractExpiresInFromTokenEndpointResponse", "no expires_in", "WARNING")
    if "refresh_token" in body:
        module.check(len(body["refresh_token"].encode()) * 8 >= 128, "EnsureMinimumRefreshTokenLength", "short")
        module.check(shannon_bits(body["refresh_token"]) > 96, "EnsureMinimumRefreshTokenEntropy", "low")
    if body.get("id_token"):
        from conformance_suite import b64url_json

        second = b64url_json(body["id_token"].split(".")[1])
        for name in ("iss", "sub", "aud"):
            module.check(second.get(name) == first.claims.get(name), "CompareIdTokenClaims", f"{name} changed")
        module.check(second.get("iat", 0) >= first.claims.get("iat", 0), "CompareIdTokenClaims", "iat went back")
        if "auth_time" in second:
            module.check(
                second["auth_time"] == first.claims.get("auth_time"), "CompareIdTokenClaims", "auth_time changed"
            )
        module.check(("azp" in second) <= ("azp" in first.claims), "CompareIdTokenClaims", "azp appeared")
    return body


def test_oidcc_refresh_token(app, module, second_client, clock):
    """OIDCCRefreshToken: for each of two static clients, a flow (scope openid, plus offline_access and
    prompt=consent when scopes_supported lists it), then the refresh token used (RefreshTokenRequestSteps)
    and the new access token at userinfo; finally client 2's refresh token presented by client 1 must be
    refused: 400, JSON, invalid_grant (RefreshTokenRequestExpectingErrorSteps). Skipped by the suite when no
    refresh token is issued; one issued needs grant_types_supported to list refresh_token (WARNING)."""
    offline = "offline_access" in module.server.get("scopes_supported", [])
    extra = {"prompt": "consent"} if offline else {}
    scope = "openid offline_access" if offline else "openid"
    first = module.code_flow(module.authorization_request(scope=scope, **extra))
    if not first.response.get("refresh_token"):
        pytest.skip("no refresh token issued: the suite skips the module")
    module.check(
        "refresh_token" in module.server.get("grant_types_supported", []),
        "EnsureServerConfigurationSupportsRefreshToken",
        "grant_types_supported lacks refresh_token",
        "WARNING",
    )
    module.check(
        all(0x20 <= ord(c) <= 0x7E for c in first.response["refresh_token"]),
        "EnsureRefreshTokenContainsAllowedCharactersOnly",
        "refresh token characters",
    )
    body = refresh(module, first, module.client_id, module.secret, "openid", clock)
    module.check(module.userinfo(body["access_token"]).status_code == 200, "EnsureHttpStatusCodeIs200", "userinfo")

    client2_id, client2_secret = second_client
    two = Module(module.name, app.test_client(), client2_id, client2_secret)
    two.configure()
    second = two.code_flow(two.authorization_request(scope=scope, nonce=True, **extra))
    body2 = refresh(two, second, client2_id, client2_secret, None, clock)
    module.problems += two.problems
    stolen = module.call_token_endpoint(
        {
            "grant_type": "refresh_token",
            "scope": "openid",
            "refresh_token": body2.get("refresh_token") or second.response["refresh_token"],
        }
    )
    error = stolen.get_json(silent=True) or {}
    module.check(stolen.status_code == 400, "CheckTokenEndpointHttpStatus400", f"{stolen.status_code} {error}")
    module.check(stolen.mimetype == "application/json", "CheckTokenEndpointReturnedJsonContentType", stolen.mimetype)
    module.check(
        error.get("error") == "invalid_grant", "CheckErrorFromTokenEndpointResponseErrorInvalidGrant", str(error)
    )
    module.finish()


def test_oidcc_ensure_request_with_valid_pkce_succeeds(module):
    """OIDCCEnsureRequestWithValidPkceSucceeds: a valid S256 code_challenge, the code_verifier at the token
    endpoint: the flow must succeed."""
    verifier = random_vschar(64)
    request = module.authorization_request(code_challenge=s256(verifier), code_challenge_method="S256")
    module.code_flow(request, code_verifier=verifier)
    module.finish()
