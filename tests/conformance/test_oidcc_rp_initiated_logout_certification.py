"""oidcc-rp-initiated-logout-certification-test-plan (OIDCCRpInitiatedLogoutTestPlan): discovery, static
client with client_secret_basic, its post_logout_redirect_uri registered (the suite's
…/post_logout_redirect). Each module signs in, then sends the browser to end_session_endpoint."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlencode, urlparse

from conformance_fixtures import app, citizen, database_url, module, second_client, static_client  # noqa: F401
from conformance_suite import ISSUER, POST_LOGOUT_REDIRECT_URI, USER_INTERFACE_ERRORS, random_vschar
from jose import jwt as jose_jwt

from helpers import csrf_token


def sign_in_and_end_session(module, **change):
    """AbstractOIDCCRpInitiatedLogout: a flow with a 128-character state, then
    end_session_endpoint?id_token_hint&post_logout_redirect_uri&state (CreateEndSessionEndpointRequest),
    changed as the module says (a value None removes it). Returns the ID token and the OP's answer."""
    tokens = module.code_flow(module.authorization_request(state_length=128))
    if not module.check(
        isinstance(module.server.get("end_session_endpoint"), str),
        "CheckDiscEndSessionEndpoint",
        "no end_session_endpoint",
    ):
        module.finish()
    params = {
        "id_token_hint": tokens.id_token,
        "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI,
        "state": random_vschar(50),
    }
    params.update(change)
    params = {k: v for k, v in params.items() if v is not None}
    url = module.server["end_session_endpoint"] + (f"?{urlencode(params)}" if params else "")
    return tokens, params, module.get(url)


def logged_out_by_prompt_none(module) -> None:
    """The second authorization, prompt=none: it must fail with an error needing a user interface."""
    request = module.authorization_request(prompt="none", state_length=128)
    callback = module.front_channel(request, user_signs_in=False)
    params = module.error_response_checks(request, callback)
    module.check(
        params.get("error") in USER_INTERFACE_ERRORS,
        "CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface",
        f"after the logout, prompt=none answered {params.get('error')!r} {params.get('code', '')[:8]}",
    )


def post_logout_redirect(module, response, params: dict, expect_state: bool = True) -> None:
    """OIDCCRpInitiatedLogout.validateLogoutResults: the OP redirects to the post_logout_redirect_uri,
    with the state (CheckPostLogoutState) and nothing else (CheckForUnexpectedParametersInPostLogoutRedirect,
    WARNING); then the user is logged out."""
    location = response.location or ""
    if not (response.status_code in (302, 303) and location.split("?")[0] == POST_LOGOUT_REDIRECT_URI):
        module.stop(
            "handlePostLogoutRedirect",
            f"the OP answered {response.status_code} {location!r}, not the post_logout_redirect_uri",
        )
    query = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
    if expect_state:
        module.check(query.get("state") == params.get("state"), "CheckPostLogoutState", f"state {query.get('state')!r}")
    else:
        module.check("state" not in query, "CheckNoPostLogoutState", f"state {query.get('state')!r}")
    unexpected = sorted(set(query) - {"state"})
    module.check(
        not unexpected, "CheckForUnexpectedParametersInPostLogoutRedirect", f"unexpected {unexpected}", "WARNING"
    )
    logged_out_by_prompt_none(module)


def no_redirect_back(module, response, placeholder: str, logged_out: bool) -> None:
    """The placeholder modules: the OP must not call the registered post_logout_redirect_uri (the suite
    fails the module if it does while it waits for the screenshot) and shows an error page or asks the
    user to confirm; with ``logged_out``, the user must end up logged out (ExpectSuccessfulLogoutPage),
    confirming if asked."""

    def went_back(answer) -> bool:
        return answer.status_code in (301, 302, 303, 307) and (answer.location or "").startswith(
            POST_LOGOUT_REDIRECT_URI
        )

    if went_back(response):
        module.stop("handleHttp(post_logout_redirect)", "the OP called the registered post_logout_redirect_uri")
    page = response.get_data(as_text=True)
    asks = 'action="/logout"' in page
    if logged_out and asks:  # the user confirms on the OP's page
        answer = module.post("/logout", data={"csrf_token": csrf_token(page)}, headers=module.referer)
        module.check(
            not went_back(answer),
            "handleHttp(post_logout_redirect)",
            "after the user confirmed, the OP called the post_logout_redirect_uri",
        )
    elif not logged_out:
        module.check(
            asks or response.status_code >= 400,
            placeholder,
            f"neither an error page nor a confirmation: {response.status_code} "
            f"{re.search(r'<h1>(.*?)</h1>', page, re.S).group(1).strip() if '<h1>' in page else ''!r}",
        )
    if logged_out:
        logged_out_by_prompt_none(module)


def test_oidcc_rp_initiated_logout_discovery_endpoint_verification(module):
    """OIDCCRpInitiatedLogoutDiscoveryEndpointVerification: every endpoint in discovery is https
    (CheckDiscEndpointAllEndpointsAreHttps) and end_session_endpoint is there, https (CheckDiscEndSessionEndpoint)."""
    plain = sorted(
        k
        for k, v in module.server.items()
        if k.endswith(("_endpoint", "_uri")) and isinstance(v, str) and not v.startswith("https://")
    )
    module.check(not plain, "CheckDiscEndpointAllEndpointsAreHttps", f"not https: {plain}")
    module.check(
        str(module.server.get("end_session_endpoint", "")).startswith("https://"),
        "CheckDiscEndSessionEndpoint",
        str(module.server.get("end_session_endpoint")),
    )
    module.finish()


def test_oidcc_rp_initiated_logout(module):
    """OIDCCRpInitiatedLogout (OP-RpInitLogout): id_token_hint, post_logout_redirect_uri and state: the OP
    redirects to the post_logout_redirect_uri with the state and nothing else, and a prompt=none
    authorization afterwards fails with login_required (or another error needing the user)."""
    _tokens, params, response = sign_in_and_end_session(module)
    post_logout_redirect(module, response, params)
    module.finish()


def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri(module):
    """OIDCCRpInitiatedLogoutBadLogoutRedirectUri (OP-RpInitLogout-Bad_redirect_uri): a
    post_logout_redirect_uri never registered (…/bad_post_logout_redirect_uri): no redirect (to it or to
    the registered one); an error page or a confirmation (the screenshot)."""
    _t, _p, response = sign_in_and_end_session(
        module,
        post_logout_redirect_uri="https://www.certification.openid.net/test/a/sesame/bad_post_logout_redirect_uri",
    )
    module.check(
        not (response.location or "").startswith("https://www.certification.openid.net"),
        "ExpectPostLogoutRedirectUriNotRegisteredErrorPage",
        f"redirected to {response.location}",
    )
    no_redirect_back(module, response, "ExpectPostLogoutRedirectUriNotRegisteredErrorPage", logged_out=False)
    module.finish()


def test_oidcc_rp_initiated_logout_modified_id_token_hint(module):
    """OIDCCRpInitiatedLogoutModifiedIdTokenHint (OP-RpInitLogout-Modified-id_token_hint): the ID token's
    header changed to alg none and its signature dropped: no redirect; an error page or a confirmation."""
    tokens = module.code_flow(module.authorization_request(state_length=128))
    import base64

    payload = tokens.id_token.split(".")[1]
    header = base64.urlsafe_b64encode(b'{"alg": "none"}').rstrip(b"=").decode()
    params = {
        "id_token_hint": f"{header}.{payload}.",
        "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI,
        "state": random_vschar(50),
    }
    response = module.get(module.server["end_session_endpoint"] + "?" + urlencode(params))
    no_redirect_back(module, response, "ExpectInvalidIdTokenHintErrorPage", logged_out=False)
    module.finish()


def test_oidcc_rp_initiated_logout_no_id_token_hint(module):
    """OIDCCRpInitiatedLogoutNoIdTokenHint (OP-RpInitLogout-No-id_token_hint): post_logout_redirect_uri and
    state without id_token_hint: no redirect; an error page or a confirmation (the screenshot)."""
    _t, _p, response = sign_in_and_end_session(module, id_token_hint=None)
    no_redirect_back(module, response, "ExpectIdTokenHintRequiredErrorPage", logged_out=False)
    module.finish()


def test_oidcc_rp_initiated_logout_no_params(module):
    """OIDCCRpInitiatedLogoutNoParams (OP-RpInitLogout-No_params): end_session_endpoint with no parameter:
    the OP logs the user out (after a confirmation if it asks), shows its logged-out page, no redirect."""
    _t, _p, response = sign_in_and_end_session(module, id_token_hint=None, post_logout_redirect_uri=None, state=None)
    no_redirect_back(module, response, "ExpectSuccessfulLogoutPage", logged_out=True)
    module.finish()


def test_oidcc_rp_initiated_logout_no_post_logout_redirect_uri(module):
    """OIDCCRpInitiatedLogoutNoPostLogoutRedirectUri (OP-RpInitLogout-No_post_logout_redirect_uri):
    id_token_hint and state only: the user is logged out, the OP's page shows, no redirect."""
    _t, _p, response = sign_in_and_end_session(module, post_logout_redirect_uri=None)
    no_redirect_back(module, response, "ExpectSuccessfulLogoutPage", logged_out=True)
    module.finish()


def test_oidcc_rp_initiated_logout_no_state(module):
    """OIDCCRpInitiatedLogoutNoState (OP-RpInitLogout-No_state): id_token_hint and
    post_logout_redirect_uri: the OP redirects there without any state (CheckNoPostLogoutState), then
    prompt=none fails."""
    _t, params, response = sign_in_and_end_session(module, state=None)
    post_logout_redirect(module, response, params, expect_state=False)
    module.finish()


def test_oidcc_rp_initiated_logout_only_state(module):
    """OIDCCRpInitiatedLogoutOnlyState (OP-RpInitLogout-Only_state): only state: the user is logged out
    (after a confirmation if asked), no redirect."""
    _t, _p, response = sign_in_and_end_session(module, id_token_hint=None, post_logout_redirect_uri=None)
    no_redirect_back(module, response, "ExpectSuccessfulLogoutPage", logged_out=True)
    module.finish()


def test_oidcc_rp_initiated_logout_query_added_to_post_logout_redirect_uri(module):
    """OIDCCRpInitiatedLogoutQueryAddedToLogoutRedirectUri: the registered post_logout_redirect_uri with
    ?foo=bar added is not registered: no redirect; an error page or a confirmation."""
    _t, _p, response = sign_in_and_end_session(module, post_logout_redirect_uri=POST_LOGOUT_REDIRECT_URI + "?foo=bar")
    no_redirect_back(module, response, "ExpectPostLogoutRedirectUriNotRegisteredErrorPage", logged_out=False)
    module.finish()


def test_oidcc_rp_initiated_logout_bad_id_token_hint(module):
    """OIDCCRpInitiatedLogoutBadIdTokenHint (OP-RpInitLogout-Wrong-id_token_hint): an id_token_hint the
    suite signed (HS256 with the client secret; iss the client, aud the issuer, sub SubjectID): no
    redirect; an error page or a confirmation."""
    module.code_flow(module.authorization_request(state_length=128))
    now = int(time.time())
    fake = jose_jwt.encode(
        {"iss": module.client_id, "sub": "SubjectID", "aud": ISSUER, "nonce": "flibble", "iat": now, "exp": now + 300},
        module.secret,
        algorithm="HS256",
    )
    params = {"id_token_hint": fake, "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI, "state": random_vschar(50)}
    response = module.get(module.server["end_session_endpoint"] + "?" + urlencode(params))
    no_redirect_back(module, response, "ExpectInvalidIdTokenHintErrorPage", logged_out=False)
    module.finish()
