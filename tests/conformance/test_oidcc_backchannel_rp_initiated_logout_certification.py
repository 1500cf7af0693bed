"""oidcc-backchannel-rp-initiated-logout-certification-test-plan (OIDCCBackchannelRpInitiatedLogoutTestPlan):
discovery, static client with client_secret_basic, its backchannel_logout_uri (the suite's
…/backchannel_logout, here a receiver on loopback) and post_logout_redirect_uri registered."""

from __future__ import annotations

import pytest
from conformance_fixtures import app, citizen, database_url, module, second_client, static_client  # noqa: F401
from conformance_suite import ISSUER, POST_LOGOUT_REDIRECT_URI, REDIRECT_URI, Module, b64url_json
from test_oidcc_rp_initiated_logout_certification import post_logout_redirect, sign_in_and_end_session

from helpers import LogoutEndpoint, deliver, make_client, served

EVENT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture
def receiver():
    endpoint = LogoutEndpoint()
    with served(endpoint) as url:
        endpoint.url = url
        yield endpoint


def test_oidcc_backchannel_logout_discovery_endpoint_verification(module):
    """OIDCCBackchannelLogoutDiscoveryEndpointVerification (OP-BackChannel-Discovery): every endpoint
    https, backchannel_logout_supported and backchannel_logout_session_supported true (sid is required
    for certification), end_session_endpoint present."""
    plain = sorted(
        k
        for k, v in module.server.items()
        if k.endswith(("_endpoint", "_uri")) and isinstance(v, str) and not v.startswith("https://")
    )
    module.check(not plain, "CheckDiscEndpointAllEndpointsAreHttps", f"not https: {plain}")
    module.check(
        module.server.get("backchannel_logout_supported") is True,
        "CheckDiscEndpointBackchannelLogoutSupported",
        str(module.server.get("backchannel_logout_supported")),
    )
    module.check(
        module.server.get("backchannel_logout_session_supported") is True,
        "CheckDiscEndpointBackchannelLogoutSessionSupported",
        str(module.server.get("backchannel_logout_session_supported")),
    )
    module.check(
        str(module.server.get("end_session_endpoint", "")).startswith("https://"),
        "CheckDiscEndSessionEndpoint",
        str(module.server.get("end_session_endpoint")),
    )
    module.finish()


def test_oidcc_backchannel_rp_initiated_logout(app, db, citizen, receiver):
    """OIDCCBackChannelRpInitiatedLogout (OP-BackChannel-RpInitLogout): sign in, then RP-initiated logout
    with id_token_hint, post_logout_redirect_uri and state. The OP POSTs to the backchannel_logout_uri a
    form with logout_token only (CheckForUnexpectedParametersInBackchannelLogoutRequest, WARNING), signed by
    a key of the JWKS, with iss, aud, iat, jti and exactly the back-channel event (ValidateLogoutTokenClaims),
    sub and sid equal to the ID token's when present, no nonce, sub or sid; the browser lands on the
    post_logout_redirect_uri with the state; prompt=none then fails."""
    client_id, secret = make_client(
        db,
        name="Conformance suite",
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[POST_LOGOUT_REDIRECT_URI],
        backchannel_logout_uri=f"{receiver.url}/backchannel_logout",
        scope="openid profile email address phone",
    )
    module = Module("oidcc-backchannel-rp-initiated-logout", app.test_client(), client_id, secret)
    module.configure()
    tokens, params, response = sign_in_and_end_session(module)
    deliver(app)
    calls = receiver.accepted("/backchannel_logout")
    if len(calls) != 1:
        module.stop("handleBackchannelLogout", f"{len(calls)} back-channel logout request(s) arrived")
    call = calls[0]
    module.check(
        call["method"] == "POST" and call["content_type"] == "application/x-www-form-urlencoded",
        "ExtractLogoutTokenFromBackchannelLogoutRequest",
        f"{call['method']} {call['content_type']}",
    )
    unexpected = sorted(set(call["form"]) - {"logout_token"})
    module.check(not unexpected, "CheckForUnexpectedParametersInBackchannelLogoutRequest", str(unexpected), "WARNING")
    token = call["form"]["logout_token"][0]
    header, claims = b64url_json(token.split(".")[0]), b64url_json(token.split(".")[1])
    module.verify_signature(token, header, "ValidateLogoutTokenSignature")
    module.check(claims.get("iss") == ISSUER, "ValidateLogoutTokenClaims", f"iss {claims.get('iss')!r}")
    aud = claims.get("aud")
    module.check(
        aud == client_id or (isinstance(aud, list) and client_id in aud), "ValidateLogoutTokenClaims", f"aud {aud!r}"
    )
    module.check(isinstance(claims.get("iat"), int), "ValidateLogoutTokenClaims", "iat")
    module.check(bool(claims.get("jti")), "ValidateLogoutTokenClaims", "jti missing")
    module.check(claims.get("events") == {EVENT: {}}, "ValidateLogoutTokenClaims", f"events {claims.get('events')!r}")
    if "sub" in claims:
        module.check(claims["sub"] == tokens.claims.get("sub"), "CheckIdTokenSubMatchesLogoutToken", "sub differs")
    if "sid" in claims:
        module.check(
            claims["sid"] == tokens.claims.get("sid"),
            "CheckIdTokenSidMatchesLogoutToken",
            f"{claims['sid']!r} != {tokens.claims.get('sid')!r}",
        )
    module.check("nonce" not in claims, "CheckLogoutTokenNoNonce", "nonce present")
    module.check("sub" in claims or "sid" in claims, "CheckLogoutTokenHasSubOrSid", "neither")
    post_logout_redirect(module, response, params)
    module.finish()
