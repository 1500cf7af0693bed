"""What the OpenID Foundation's conformance suite does to an OpenID provider, as a relying party of
its own (a "static client" with ``client_secret_basic``, ``response_type=code``, default response
mode), and how it grades: each check is a *condition* whose failure the module counts as a FAILURE
or a WARNING. Here both fail the test: ``Module.finish()`` asserts that none was recorded.

Written from the suite's module and condition classes (openid-certification/conformance-suite,
``src/main/java/net/openid/conformance/openid/`` and ``condition/client/``); the names in
``fail``/``warn`` calls are those conditions', so a failing test names what the suite would log.

The provider runs in the Flask test client under an https issuer (the suite checks that every
endpoint is https); the citizen's browser is that client, with its cookies; what a person does in
the browser during a module (sign in, consent, confirm a logout) is done by filling in the forms.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
import string
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, urlencode, urlparse

from jose import jwk as jose_jwk
from jose import jwt as jose_jwt
from jose.utils import base64url_decode

from helpers import PASSWORD, csrf_token

ISSUER = "https://sesame.example.fr"
# Where the suite's test instance lives: what a deployer registers for the static client.
SUITE = "https://www.certification.openid.net/test/a/sesame"
REDIRECT_URI = f"{SUITE}/callback"
POST_LOGOUT_REDIRECT_URI = f"{SUITE}/post_logout_redirect"
USERNAME = "jean.dupont"

# RFC 8414 / OpenID Connect Discovery / extension names the suite's schema knows
# (src/main/resources/json-schemas/rfc8414/oauth_authorization_server_metadata.json); any other name
# in the discovery document is a WARNING of CheckForUnexpectedParametersInServerMetadata.
KNOWN_METADATA = set(
    [
        "acr_values_supported",
        "attachments_supported",
        "authorization_challenge_endpoint",
        "authorization_details_types_supported",
        "authorization_encryption_alg_values_supported",
        "authorization_encryption_enc_values_supported",
        "authorization_endpoint",
        "authorization_response_iss_parameter_supported",
        "authorization_signing_alg_values_supported",
        "backchannel_authentication_endpoint",
        "backchannel_authentication_request_signing_alg_values_supported",
        "backchannel_logout_session_supported",
        "backchannel_logout_supported",
        "backchannel_token_delivery_modes_supported",
        "backchannel_user_code_parameter_supported",
        "challenge_endpoint",
        "check_session_iframe",
        "claim_types_supported",
        "claims_in_verified_claims_supported",
        "claims_locales_supported",
        "claims_parameter_supported",
        "claims_supported",
        "client_attestation_pop_signing_alg_values_supported",
        "client_attestation_signing_alg_values_supported",
        "client_id_metadata_document_supported",
        "client_registration_types_supported",
        "code_challenge_methods_supported",
        "contacts",
        "description",
        "device_authorization_endpoint",
        "display_name",
        "display_values_supported",
        "documents_check_methods_supported",
        "documents_methods_supported",
        "documents_supported",
        "dpop_signing_alg_values_supported",
        "electronic_records_supported",
        "end_session_endpoint",
        "evidence_supported",
        "federation_registration_endpoint",
        "frontchannel_logout_session_supported",
        "frontchannel_logout_supported",
        "global_token_revocation_endpoint",
        "global_token_revocation_endpoint_auth_methods_supported",
        "grant_management_action_required",
        "grant_management_actions_supported",
        "grant_management_endpoint",
        "grant_types_supported",
        "id_token_encryption_alg_values_supported",
        "id_token_encryption_enc_values_supported",
        "id_token_signing_alg_values_supported",
        "information_uri",
        "introspection_encryption_alg_values_supported",
        "introspection_encryption_enc_values_supported",
        "introspection_endpoint",
        "introspection_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_signing_alg_values_supported",
        "introspection_signing_alg_values_supported",
        "issuer",
        "jwks",
        "jwks_uri",
        "keywords",
        "logo_uri",
        "mtls_endpoint_aliases",
        "op_policy_uri",
        "op_tos_uri",
        "organization_name",
        "organization_uri",
        "pre-authorized_grant_anonymous_access_supported",
        "prompt_values_supported",
        "protected_resources",
        "pushed_authorization_request_endpoint",
        "registration_endpoint",
        "request_authentication_methods_supported",
        "request_authentication_signing_alg_values_supported",
        "request_object_encryption_alg_values_supported",
        "request_object_encryption_enc_values_supported",
        "request_object_signing_alg_values_supported",
        "request_parameter_supported",
        "request_uri_parameter_supported",
        "require_pushed_authorization_requests",
        "require_request_uri_registration",
        "require_signed_request_object",
        "response_modes_supported",
        "response_types_supported",
        "revocation_endpoint",
        "revocation_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
        "scopes_supported",
        "service_documentation",
        "signed_jwks_uri",
        "signed_metadata",
        "status_list_aggregation_endpoint",
        "subject_types_supported",
        "tls_client_certificate_bound_access_tokens",
        "token_endpoint",
        "token_endpoint_auth_methods_supported",
        "token_endpoint_auth_signing_alg_values_supported",
        "transformed_claims_functions_supported",
        "transformed_claims_predefined",
        "trust_frameworks_supported",
        "ui_locales_supported",
        "userinfo_encryption_alg_values_supported",
        "userinfo_encryption_enc_values_supported",
        "userinfo_endpoint",
        "userinfo_signing_alg_values_supported",
    ]
)

# AbstractVerifyScopesReturnedInClaims: every standard claim of each scope asked must be returned.
SCOPE_STANDARD_CLAIMS = {
    "openid": ["sub"],
    "profile": [
        "name",
        "given_name",
        "family_name",
        "middle_name",
        "nickname",
        "profile",
        "picture",
        "website",
        "gender",
        "birthdate",
        "zoneinfo",
        "locale",
        "updated_at",
        "preferred_username",
    ],
    "email": ["email", "email_verified"],
    "address": ["address"],
    "phone": ["phone_number", "phone_number_verified"],
    "offline_access": [],
}
# EnsureIdTokenDoesNotContainNonRequestedClaims: what an ID token may hold besides the scopes' claims.
ID_TOKEN_VALID_CLAIMS = {
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "nbf",
    "jti",
    "sid",
    "s_hash",
    "openbanking_intent_id",
    "txn",
}
ID_TOKEN_NON_IDENTITY = {
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "c_hash",
    "at_hash",
    "s_hash",
    "jti",
    "nbf",
    "verified_claims",
}
# AbstractValidateOpenIdStandardClaims: the types of the standard claims (OpenID Connect Core §5.1).
STRING_CLAIMS = {
    "sub",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
}
BOOLEAN_CLAIMS = {"email_verified", "phone_number_verified"}
ADDRESS_MEMBERS = {"formatted", "street_address", "locality", "region", "postal_code", "country"}
USER_INTERFACE_ERRORS = {"interaction_required", "login_required", "account_selection_required", "consent_required"}
AUTHORIZATION_ERROR_PARAMS = {"error", "error_description", "error_uri", "state", "session_state", "iss"}
VSCHAR = "".join(chr(c) for c in range(0x20, 0x7F))  # RFC 6749 Appendix A: the characters of state, nonce


def random_vschar(length: int) -> str:
    """A state or nonce as the suite makes them (RFC 6749 Appendix A VSCHAR, '+', ' ' and ';' avoided)."""
    alphabet = string.ascii_letters + string.digits + "-._~"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def shannon_bits(value: str) -> float:
    """AbstractEnsureMinimumEntropy: Shannon entropy per character times the length."""
    counts = Counter(value)
    per_char = -sum((n / len(value)) * math.log2(n / len(value)) for n in counts.values())
    return per_char * len(value)


def b64url_json(part: str) -> dict:
    return json.loads(base64url_decode(part.encode()))


@dataclass
class Callback:
    """Where the front channel ended: the redirect URI with parameters, or a page the OP showed."""

    params: dict | None = None  # the callback's query parameters
    location: str | None = None
    page: object | None = None  # the last response when the OP did not redirect back
    login_pages: int = 0  # how many times the OP showed its login form


@dataclass
class Tokens:
    response: dict
    id_token: str | None = None
    claims: dict = field(default_factory=dict)
    header: dict = field(default_factory=dict)


class Module:
    """One run of a conformance module: the suite's relying party, its browser, and its log of
    FAILUREs and WARNINGs."""

    def __init__(
        self, name: str, browser, client_id: str, secret: str, username: str = USERNAME, password: str = PASSWORD
    ):
        self.name = name
        self.browser = browser
        self.client_id = client_id
        self.secret = secret
        self.username = username
        self.password = password
        self.problems: list[str] = []
        self.server: dict = {}
        self.jwks: dict = {}

    # grading ----------------------------------------------------------------------------------------
    def fail(self, condition: str, message: str) -> None:
        self.problems.append(f"FAILURE {condition}: {message}")

    def warn(self, condition: str, message: str) -> None:
        self.problems.append(f"WARNING {condition}: {message}")

    def check(self, ok: bool, condition: str, message: str, level: str = "FAILURE") -> bool:
        if not ok:
            (self.fail if level == "FAILURE" else self.warn)(condition, message)
        return ok

    def stop(self, condition: str, message: str):
        """callAndStopOnFailure: the module ends here, FAILED."""
        self.fail(condition, message)
        self.finish()

    def finish(self) -> None:
        """The module's result: PASSED only without any FAILURE or WARNING."""
        assert not self.problems, f"{self.name}:\n  " + "\n  ".join(self.problems)

    # the browser --------------------------------------------------------------------------------------
    # The browser's Referer on the forms it posts. The OP's pages ask for none (Referrer-Policy:
    # no-referrer); Flask-WTF refuses a form posted over https without one (WTF_CSRF_SSL_STRICT).
    referer: dict = {"Referer": ISSUER + "/login"}

    def get(self, url: str, **kwargs):
        return self.browser.get(url if url.startswith("http") else ISSUER + url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.browser.post(url if url.startswith("http") else ISSUER + url, **kwargs)

    # configure(): discovery, keys, the static client ---------------------------------------------------
    def configure(self) -> dict:
        """AbstractOIDCCServerTest.configure for ServerMetadata=discovery: GetDynamicServerConfiguration,
        CheckServerConfiguration, FetchServerKeys, CheckServerKeysIsValid (WARNING), ValidateJwksSequence,
        CheckForKeyIdInServerJWKs, CheckDistinctKeyIdValueInServerJWKs,
        EnsureServerConfigurationSupportsClientSecretBasic."""
        response = self.get("/.well-known/openid-configuration")
        if response.status_code != 200:
            self.stop("GetDynamicServerConfiguration", f"discovery answered {response.status_code}")
        self.server = json.loads(response.data)
        if self.server.get("issuer") != ISSUER:
            self.stop("GetDynamicServerConfiguration", f"issuer {self.server.get('issuer')!r} is not {ISSUER!r}")
        for name in ("authorization_endpoint", "token_endpoint", "issuer"):
            if not isinstance(self.server.get(name), str):
                self.stop("CheckServerConfiguration", f"{name} missing")
        keys = self.get(self.server["jwks_uri"])
        if keys.status_code != 200:
            self.stop("FetchServerKeys", f"jwks_uri answered {keys.status_code}")
        self.jwks = json.loads(keys.data)
        self.check_jwks(self.jwks)
        methods = self.server.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        self.check(
            "client_secret_basic" in methods,
            "EnsureServerConfigurationSupportsClientSecretBasic",
            f"token_endpoint_auth_methods_supported is {methods}",
        )
        return self.server

    def check_jwks(self, jwks: dict) -> None:
        keys = jwks.get("keys")
        if not isinstance(keys, list) or not keys:
            self.stop("ValidateJwksSequence", "the server JWKS has no 'keys' array")
        kids = [key.get("kid") for key in keys]
        self.check(all(kids), "CheckForKeyIdInServerJWKs", "a key of the server JWKS has no kid")
        self.check(len(set(kids)) == len(kids), "CheckDistinctKeyIdValueInServerJWKs", f"kids repeat: {kids}")
        private = {"d", "p", "q", "dp", "dq", "qi", "k"}
        for key in keys:
            self.check(not private & set(key), "ValidateJwksSequence", f"key {key.get('kid')} has private parts")
            self.check(
                key.get("kty") in ("RSA", "EC", "OKP"),
                "CheckServerKeysIsValid",
                f"key {key.get('kid')} has kty {key.get('kty')}",
                "WARNING",
            )
            if key.get("kty") == "RSA":
                bits = len(base64url_decode(key["n"].encode())) * 8
                self.check(bits >= 2048, "CheckServerKeysIsValid", f"RSA key of {bits} bits", "WARNING")
            try:
                jose_jwk.construct(key, key.get("alg") or ("RS256" if key.get("kty") == "RSA" else "ES256"))
            except Exception as error:
                self.fail("CheckServerKeysIsValid", f"key {key.get('kid')} does not parse: {error}")

    # the authorization request -------------------------------------------------------------------------
    def authorization_request(self, scope: str = "openid", nonce: bool = True, state_length: int = 30, **extra) -> dict:
        """CreateAuthorizationRequestSteps: client_id, redirect_uri, scope, state, nonce, response_type."""
        request = {
            "client_id": self.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": random_vschar(state_length),
        }
        if nonce:
            request["nonce"] = random_vschar(30)
        request["response_type"] = "code"
        request.update({key: value for key, value in extra.items() if value is not None})
        return request

    def front_channel(
        self, request: dict | None, method: str = "GET", user_signs_in: bool = True, query: str | None = None
    ) -> Callback:
        """The browser goes to the authorization endpoint (BuildPlainRedirectToAuthorizationEndpoint, or a
        POST for oidcc-ensure-post-request-succeeds); the user signs in and consents where asked; it ends
        at the redirect URI or on a page of the OP's."""
        endpoint = self.server["authorization_endpoint"]
        if method == "POST":
            response = self.post(endpoint, data=request)
        else:
            response = self.get(f"{endpoint}?{query if query is not None else urlencode(request)}")
        outcome = Callback()
        for _ in range(12):
            if response.status_code in (301, 302, 303, 307):
                location = response.location if response.location.startswith("http") else ISSUER + response.location
                if not location.startswith(ISSUER):
                    outcome.location = location
                    outcome.params = {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
                    return outcome
                if urlparse(location).path == "/login":
                    outcome.login_pages += 1
                    if not user_signs_in:
                        outcome.page = response
                        return outcome
                    response = self.sign_in(location)
                    continue
                response = self.get(location)
                continue
            page = response.get_data(as_text=True)
            if response.status_code == 200 and 'action="/oauth/consent"' in page:
                rid = re.search(r'name="rid" type="hidden" value="([^"]+)"', page).group(1)
                response = self.post(
                    "/oauth/consent",
                    data={"csrf_token": csrf_token(page), "rid": rid, "allow": "Allow"},
                    headers=self.referer,
                )
                continue
            outcome.page = response
            return outcome
        raise AssertionError("the front channel redirected more than 12 times")

    def sign_in(self, login_url: str):
        """What the tester does on the OP's login page: the identifier, the password, "Se connecter"."""
        page = self.get(login_url)
        assert page.status_code == 200, page.status_code
        rid = parse_qs(urlparse(login_url).query).get("rid", [None])[0]
        form = {"csrf_token": csrf_token(page.data), "username": self.username, "password": self.password}
        if rid:
            form["rid"] = rid
        return self.post("/login", data=form, headers=self.referer)

    def callback_checks(self, request: dict, callback: Callback, expect_state: bool = True) -> str | None:
        """onAuthorizationCallbackResponse: ValidateIssIfPresentInAuthorizationResponse,
        CheckIfAuthorizationEndpointError, CheckStateInAuthorizationResponse,
        ExtractAuthorizationCodeFromAuthorizationResponse; the code's length and entropy (OIDCCServerTest)."""
        if callback.params is None:
            self.stop(
                "performRedirect",
                f"the OP did not return to the redirect URI: "
                f"{callback.page.status_code} {callback.page.get_data(as_text=True)[:300]!r}",
            )
        params = callback.params
        if not callback.location.startswith(REDIRECT_URI + "?"):
            self.stop("CheckMatchingCallbackParameters", f"came back to {callback.location}")
        if "iss" in params:
            self.check(params["iss"] == ISSUER, "ValidateIssIfPresentInAuthorizationResponse", f"iss {params['iss']!r}")
        if "error" in params:
            self.stop(
                "CheckIfAuthorizationEndpointError", f"error {params['error']!r}: {params.get('error_description')!r}"
            )
        if expect_state:
            self.check(
                params.get("state") == request.get("state"),
                "CheckStateInAuthorizationResponse",
                f"state {params.get('state')!r}, sent {request.get('state')!r}",
            )
        code = params.get("code")
        if not code:
            self.stop("ExtractAuthorizationCodeFromAuthorizationResponse", f"no code in {params}")
        return code

    def code_quality(self, code: str) -> None:
        self.check(len(code.encode()) * 8 >= 128, "EnsureMinimumAuthorizationCodeLength", f"{code!r} is short")
        self.check(
            shannon_bits(code) > 96,
            "EnsureMinimumAuthorizationCodeEntropy",
            f"{shannon_bits(code):.0f} bits of entropy",
        )

    def error_response_checks(self, request: dict, callback: Callback, expect_state: bool = True) -> dict:
        """performGenericAuthorizationEndpointErrorResponseValidation."""
        if callback.params is None:
            self.stop(
                "performRedirect",
                f"expected an error at the redirect URI, the OP showed "
                f"{callback.page.status_code} {callback.page.get_data(as_text=True)[:200]!r}",
            )
        params = callback.params
        if expect_state:
            self.check(
                params.get("state") == request.get("state"),
                "CheckStateInAuthorizationResponse",
                f"state {params.get('state')!r}, sent {request.get('state')!r}",
            )
        if "iss" in params:
            self.check(params["iss"] == ISSUER, "ValidateIssIfPresentInAuthorizationResponse", params["iss"])
        self.check("error" in params, "EnsureErrorFromAuthorizationEndpointResponse", f"no error in {params}")
        self.check("code" not in params, "RejectAuthCodeInAuthorizationEndpointResponse", "a code came with it")
        unexpected = set(params) - AUTHORIZATION_ERROR_PARAMS
        self.check(
            not unexpected,
            "CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint",
            f"unexpected {sorted(unexpected)}",
            "WARNING",
        )
        description = params.get("error_description", "")
        self.check(
            not re.search(r"[\r\n\t]", description),
            "CheckErrorDescriptionFromAuthorizationEndpointResponseErrorContainsCRLFTAB",
            description,
            "WARNING",
        )
        self.check(
            all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in description),
            "ValidateErrorDescriptionFromAuthorizationEndpointResponseError",
            f"characters outside RFC 6749's set: {description!r}",
        )
        return params

    # the token endpoint ------------------------------------------------------------------------------
    def basic_auth(self) -> dict:
        """AddBasicAuthClientSecretToRequest: RFC 6749 §2.3.1, form-urlencoded id and secret."""
        raw = f"{quote(self.client_id, safe='')}:{quote(self.secret, safe='')}"
        return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}

    def call_token_endpoint(self, form: dict, auth: str = "basic"):
        headers = {}
        if auth == "basic":
            headers = self.basic_auth()
        elif auth == "post":
            form = {**form, "client_id": self.client_id, "client_secret": self.secret}
        return self.post(self.server["token_endpoint"], data=form, headers=headers)

    def redeem(self, code: str, auth: str = "basic", nonce: str | None = None, **extra) -> Tokens:
        """createAuthorizationCodeRequest + requestAuthorizationCode: CheckTokenEndpointHttpStatus200,
        CheckIfTokenEndpointResponseError, CheckForAccessTokenValue, ValidateExpiresIn,
        ExtractIdTokenFromTokenResponse, then PerformStandardIdTokenChecks."""
        response = self.call_token_endpoint(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI, **extra}, auth
        )
        body = response.get_json(silent=True) or {}
        if response.status_code != 200:
            self.stop("CheckTokenEndpointHttpStatus200", f"{response.status_code} {body}")
        if "error" in body:
            self.stop("CheckIfTokenEndpointResponseError", str(body))
        if not body.get("access_token"):
            self.stop("CheckForAccessTokenValue", str(body))
        if "expires_in" in body:
            self.check(
                isinstance(body["expires_in"], int) and body["expires_in"] > 0,
                "ValidateExpiresIn",
                f"expires_in {body['expires_in']!r}",
            )
        if not body.get("id_token"):
            self.stop("ExtractIdTokenFromTokenResponse", "no id_token in the token response")
        tokens = Tokens(response=body, id_token=body["id_token"])
        tokens.header, tokens.claims = self.id_token_checks(body["id_token"], nonce)
        return tokens

    def id_token_checks(self, id_token: str, nonce: str | None) -> tuple[dict, dict]:
        """PerformStandardIdTokenChecks: ValidateIdToken, ValidateIdTokenStandardClaims, ValidateIdTokenNonce,
        ValidateIdTokenACRClaimAgainstRequest, ValidateIdTokenSignature, CheckForSubjectInIdToken,
        EnsureIdTokenUpdatedAtValid."""
        parts = id_token.split(".")
        if len(parts) != 3:
            self.stop("ExtractIdTokenFromTokenResponse", "the id_token is not a compact JWS")
        header, claims = b64url_json(parts[0]), b64url_json(parts[1])
        now = time.time()
        skew = 300
        if claims.get("iss") != ISSUER:
            self.fail("ValidateIdToken", f"iss {claims.get('iss')!r}")
        aud = claims.get("aud")
        if not (aud == self.client_id or (isinstance(aud, list) and self.client_id in aud)):
            self.fail("ValidateIdToken", f"aud {aud!r}")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or exp < now - skew or exp > now + 50 * 365 * 86400:
            self.fail("ValidateIdToken", f"exp {exp!r}")
        if not isinstance(iat, int) or iat > now + skew or iat < now - skew:
            self.fail("ValidateIdToken", f"iat {iat!r}")
        auth_time = claims.get("auth_time")
        if auth_time is not None and not (now - 365 * 86400 <= auth_time <= now + skew):
            self.fail("ValidateIdToken", f"auth_time {auth_time!r}")
        if claims.get("acr") == "":
            self.fail("ValidateIdToken", "acr is an empty string")
        identity = {k: v for k, v in claims.items() if k not in ID_TOKEN_NON_IDENTITY}
        self.standard_claims(identity, "ValidateIdTokenStandardClaims")
        if nonce is None:
            self.check("nonce" not in claims, "ValidateIdTokenNonce", f"nonce {claims.get('nonce')!r} not sent")
        else:
            self.check(claims.get("nonce") == nonce, "ValidateIdTokenNonce", f"nonce {claims.get('nonce')!r}")
        if "acr" in claims:
            self.check(isinstance(claims["acr"], str), "ValidateIdTokenACRClaimAgainstRequest", "acr not a string")
        self.verify_signature(id_token, header, "ValidateIdTokenSignature")
        sub = claims.get("sub")
        if not sub:
            self.fail("CheckForSubjectInIdToken", "no sub")
        else:
            self.check(
                len(sub) <= 255 and all(0x20 <= ord(c) < 0x7F for c in sub), "CheckForSubjectInIdToken", f"sub {sub!r}"
            )
        if "updated_at" in claims:
            self.check(
                isinstance(claims["updated_at"], (int, float)),
                "EnsureIdTokenUpdatedAtValid",
                repr(claims["updated_at"]),
            )
        return header, claims

    def verify_signature(self, token: str, header: dict, condition: str) -> None:
        """AbstractVerifyJwsSignature against the server's JWKS: by kid, the key's algorithm."""
        if header.get("alg") in (None, "none") or header.get("alg", "").startswith("HS"):
            self.fail(condition, f"alg {header.get('alg')!r}")
            return
        keys = [key for key in self.jwks["keys"] if header.get("kid") in (None, key.get("kid"))]
        for key in keys:
            try:
                jose_jwt.decode(
                    token,
                    key,
                    algorithms=[header["alg"]],
                    options={
                        "verify_aud": False,
                        "verify_iat": False,
                        "verify_exp": False,
                        "verify_nbf": False,
                        "verify_iss": False,
                        "verify_sub": False,
                        "verify_jti": False,
                        "verify_at_hash": False,
                    },
                )
                return
            except Exception:  # noqa: S112 - try the next key, as the suite does
                continue
        self.fail(condition, f"no key of the server JWKS verifies the signature (kid {header.get('kid')!r})")

    def standard_claims(self, claims: dict, condition: str) -> None:
        """AbstractValidateOpenIdStandardClaims: the types of OpenID Connect Core §5.1."""
        for name, value in claims.items():
            if name in STRING_CLAIMS and not isinstance(value, str):
                self.fail(condition, f"{name} is not a string: {value!r}")
            if name in BOOLEAN_CLAIMS and not isinstance(value, bool):
                self.fail(condition, f"{name} is not a boolean: {value!r}")
            if name == "updated_at" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                self.fail(condition, f"updated_at is not a number: {value!r}")
            if name == "address" and (
                not isinstance(value, dict)
                or not set(value) <= ADDRESS_MEMBERS
                or not all(isinstance(v, str) for v in value.values())
            ):
                self.fail(condition, f"address is not an address object: {value!r}")

    def id_token_has_only_requested_claims(self, claims: dict, scope: str) -> None:
        """EnsureIdTokenDoesNotContainNonRequestedClaims (WARNING)."""
        allowed = set(ID_TOKEN_VALID_CLAIMS)
        if "openid" in scope.split():
            for name in scope.split():
                allowed.update(SCOPE_STANDARD_CLAIMS.get(name, []))
        extra = sorted(set(claims) - allowed)
        self.check(not extra, "EnsureIdTokenDoesNotContainNonRequestedClaims", f"non-requested {extra}", "WARNING")

    # userinfo ------------------------------------------------------------------------------------------
    def userinfo(self, access_token: str, how: str = "GET"):
        """CallProtectedResource / CallUserInfoEndpoint (GET, bearer header), SetResourceMethodToPost (POST,
        header), CallUserInfoEndpointWithBearerTokenInBody (POST, form body)."""
        endpoint = self.server["userinfo_endpoint"]
        header = {"Authorization": f"Bearer {access_token}"}
        if how == "GET":
            return self.get(endpoint, headers=header)
        if how == "POST-header":
            return self.post(endpoint, headers=header)
        return self.post(endpoint, data={"access_token": access_token})

    def userinfo_checks(self, response, id_token_claims: dict, scope: str | None = None) -> dict:
        """EnsureHttpStatusCodeIs200, EnsureContentTypeJson, ExtractUserInfoFromUserInfoEndpointResponse,
        ValidateUserInfoStandardClaims, EnsureUserInfoContainsSub, EnsureUserInfoUpdatedAtValid,
        VerifyUserInfoAndIdTokenInTokenEndpointSameSub; with ``scope``, VerifyScopesReturnedInUserInfoClaims
        (WARNING)."""
        if response.status_code != 200:
            self.stop(
                "EnsureHttpStatusCodeIs200",
                f"userinfo answered {response.status_code} {response.get_data(as_text=True)[:200]!r}",
            )
        self.check(response.mimetype == "application/json", "EnsureContentTypeJson", response.mimetype)
        info = response.get_json(silent=True)
        if not isinstance(info, dict):
            self.stop("ExtractUserInfoFromUserInfoEndpointResponse", "not a JSON object")
        self.standard_claims(info, "ValidateUserInfoStandardClaims")
        self.check(bool(info.get("sub")), "EnsureUserInfoContainsSub", "no sub")
        if "updated_at" in info:
            self.check(
                isinstance(info["updated_at"], (int, float)), "EnsureUserInfoUpdatedAtValid", repr(info["updated_at"])
            )
        self.check(
            info.get("sub") == id_token_claims.get("sub"),
            "VerifyUserInfoAndIdTokenInTokenEndpointSameSub",
            f"{info.get('sub')!r} != {id_token_claims.get('sub')!r}",
        )
        if scope is not None:
            expected = [claim for name in scope.split() for claim in SCOPE_STANDARD_CLAIMS.get(name, [])]
            missing = sorted(set(expected) - set(info))
            self.check(
                not missing,
                "VerifyScopesReturnedInUserInfoClaims",
                f"userinfo lacks standard claims of scope {scope!r}: {missing}",
                "WARNING",
            )
        return info

    # whole flows ---------------------------------------------------------------------------------------
    def code_flow(self, request: dict, auth: str = "basic", method: str = "GET", **token_extra) -> Tokens:
        """The happy flow of AbstractOIDCCServerTest: authorize, check the callback, redeem, call userinfo
        (requestProtectedResource: EnsureHttpStatusCodeIs200)."""
        callback = self.front_channel(request, method=method)
        code = self.callback_checks(request, callback)
        tokens = self.redeem(code, auth=auth, nonce=request.get("nonce"), **token_extra)
        tokens.response["_code"] = code
        tokens.response["_callback"] = callback
        resource = self.userinfo(tokens.response["access_token"])
        self.check(
            resource.status_code == 200, "EnsureHttpStatusCodeIs200", f"userinfo answered {resource.status_code}"
        )
        return tokens


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def unsigned_jwt(claims: dict) -> str:
    """SerializeRequestObjectWithNullAlgorithm: a JWT with ``alg: none`` and no signature."""

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."
