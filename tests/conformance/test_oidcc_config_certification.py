"""oidcc-config-certification-test-plan (OIDCCConfigTestPlan): discovery, static client."""

from __future__ import annotations

import json

from conformance_fixtures import app, citizen, database_url, module, second_client, static_client  # noqa: F401
from conformance_suite import ISSUER, KNOWN_METADATA


def test_oidcc_discovery_endpoint_verification(module):
    """OIDCCDiscoveryEndpointVerification (OP-Discovery-*): the discovery document answers 200 in JSON;
    response_types_supported holds code; issuer is the discovery URL's and a valid https URL; every name is
    one the suite's RFC 8414 schema knows (CheckForUnexpectedParametersInServerMetadata, WARNING);
    subject_types_supported, id_token_signing_alg_values_supported (RS256) and userinfo algorithms valid;
    the endpoints and jwks_uri https; the JWKS valid; request_object_signing_alg_values_supported, when
    present, includes RS256 (WARNING); claims_supported present (WARNING); grant_types_supported a non-empty
    array; scopes_supported holds openid (WARNING when absent); locales well-formed and canonically cased
    (WARNING); code_challenge_methods_supported an array."""
    response = module.get("/.well-known/openid-configuration")
    module.check(
        response.status_code == 200, "EnsureDiscoveryEndpointResponseStatusCodeIs200", str(response.status_code)
    )
    module.check(
        response.mimetype == "application/json", "CheckDiscoveryEndpointReturnedJsonContentType", response.mimetype
    )
    server = json.loads(response.data)
    module.check(
        "code" in server.get("response_types_supported", []),
        "OIDCCCheckDiscEndpointResponseTypesSupported",
        str(server.get("response_types_supported")),
    )
    module.check(server.get("issuer") == ISSUER, "CheckDiscEndpointIssuer", str(server.get("issuer")))
    unknown = sorted(set(server) - KNOWN_METADATA)
    module.check(not unknown, "CheckForUnexpectedParametersInServerMetadata", f"unknown names {unknown}", "WARNING")
    subjects = server.get("subject_types_supported")
    module.check(
        isinstance(subjects, list) and set(subjects) <= {"public", "pairwise"} and subjects,
        "CheckDiscEndpointSubjectTypesSupported",
        str(subjects),
    )
    algs = server.get("id_token_signing_alg_values_supported", [])
    module.check(
        "RS256" in algs and "none" not in algs, "OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported", str(algs)
    )
    if "userinfo_signing_alg_values_supported" in server:
        module.check(
            isinstance(server["userinfo_signing_alg_values_supported"], list),
            "OIDCCCheckDiscEndpointUserinfoSigningAlgValuesSupported",
            "not an array",
        )
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        module.check(
            str(server.get(name, "")).startswith("https://"), f"CheckDiscEndpoint{name}", str(server.get(name))
        )
    module.check_jwks(json.loads(module.get(server["jwks_uri"]).data))
    if "request_object_signing_alg_values_supported" in server:
        module.check(
            "RS256" in server["request_object_signing_alg_values_supported"],
            "CheckDiscEndpointRequestObjectSigningAlgValuesSupportedIncludesRS256",
            "no RS256",
            "WARNING",
        )
    module.check(
        isinstance(server.get("claims_supported"), list),
        "OIDCCCheckDiscEndpointClaimsSupported",
        "no claims_supported",
        "WARNING",
    )
    grants = server.get("grant_types_supported")
    module.check(
        grants is None or (isinstance(grants, list) and grants),
        "OIDCCCheckDiscEndpointGrantTypesSupported",
        str(grants),
    )
    scopes = server.get("scopes_supported")
    if scopes is None:
        module.warn("CheckDiscEndpointScopesSupportedContainsOpenId", "no scopes_supported")
    else:
        module.check("openid" in scopes, "CheckDiscEndpointScopesSupportedContainsOpenId", str(scopes))
        module.check(
            all(isinstance(s, str) and s and " " not in s for s in scopes),
            "CheckDiscEndpointScopesSupportedSyntax",
            str(scopes),
        )
    for name in ("ui_locales_supported", "claims_locales_supported"):
        for tag in server.get(name, []):
            parts = tag.split("-")
            module.check(parts[0].isalpha() and 2 <= len(parts[0]) <= 8, "CheckDiscEndpointLocalesSyntax", tag)
            canonical = "-".join(
                [parts[0].lower()] + [p.upper() if len(p) == 2 else p.title() if len(p) == 4 else p for p in parts[1:]]
            )
            module.check(
                tag == canonical, "CheckDiscEndpointLocalesCanonicalCasing", f"{tag} -> {canonical}", "WARNING"
            )
    endpoints = {k: v for k, v in server.items() if k.endswith(("_endpoint", "_uri")) and isinstance(v, str)}
    plain = sorted(k for k, v in endpoints.items() if not v.startswith("https://"))
    module.check(not plain, "CheckDiscEndpointAllEndpointsAreHttps", f"not https: {plain}")
    if "code_challenge_methods_supported" in server:
        module.check(
            isinstance(server["code_challenge_methods_supported"], list),
            "EnsureServerConfigurationCodeChallengeMethodsSupportedIsAnArray",
            "not an array",
        )
    module.finish()
