"""``/admin/api/openapi.json``: the OpenAPI 3.1 description of the admin API (a test checks it
against the routes, and schemathesis fuzzes the API from it)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..oidc.claims import ADMIN_SET, ADMIN_SET_URLS
from ..oidc.context import provider

bp = Blueprint("admin_openapi", __name__, url_prefix="/admin/api")

ERROR = {"$ref": "#/components/schemas/Error"}
USER_REF = {"name": "user", "in": "path", "required": True, "description": "Account id, identifier or e-mail address",
            "schema": {"type": "string", "minLength": 1, "maxLength": 254}}
PASSKEY_ID = {"name": "passkey_id", "in": "path", "required": True, "description": "The passkey's id, as listed",
              "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}}
REQUEST_ID = {"name": "request_id", "in": "path", "required": True,
              "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _answers(ok: dict, *codes: int) -> dict:
    answers = {"200": {"description": "OK", **_json(ok)},
               "401": {"description": "No valid bearer token", **_json(ERROR)},
               "403": {"description": "The token lacks scope idp:admin", **_json(ERROR)}}
    descriptions = {400: "Invalid request", 404: "Not found", 409: "Conflict with the current state"}
    answers.update({str(code): {"description": descriptions[code], **_json(ERROR)} for code in codes})
    return answers


def _operation(summary: str, ok: dict, *codes: int, parameters=(), body: dict | None = None) -> dict:
    operation = {"summary": summary, "parameters": list(parameters), "responses": _answers(ok, *codes)}
    if body is not None:
        operation["requestBody"] = {"required": False, **_json(body)}
    return operation


REVOKED = {"type": "object", "properties": {"revoked": {"type": "object",
                                                        "additionalProperties": {"type": "integer"}}}}
WHAT = {"type": "array", "minItems": 1, "uniqueItems": True,
        "items": {"enum": ["sessions", "refresh_tokens", "access_tokens", "one_time_tokens"]}}

CLAIMS_SET = {"type": "object", "minProperties": 1, "additionalProperties": False,
              "description": "OpenID Connect profile claims never asked of citizens; null removes one",
              "properties": {name: {"type": ["string", "null"], "minLength": 1, "maxLength": length,
                                    **({"format": "uri"} if name in ADMIN_SET_URLS else {})}
                             for name, length in ADMIN_SET.items()}}
PATHS = {
    "/admin/api/users": {"get": _operation(
        "Find accounts by identifier, e-mail address, or name (with birthdate)",
        {"type": "object", "properties": {"users": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}}},
        400, parameters=[
            {"name": "q", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1}},
            {"name": "birthdate", "in": "query", "schema": {"type": "string", "format": "date"},
             "description": "YYYY-MM-DD, or DD/MM/YYYY as a citizen says it (also with -, . or spaces)"}])},
    "/admin/api/users/{user}": {
        "get": _operation("Read an account", {"$ref": "#/components/schemas/User"}, 404, parameters=[USER_REF]),
        "patch": _operation(
            "Change the e-mail address (help-desk case: verified, both addresses told), disable or enable, "
            "send a reset link, clear the possible-duplicate mark, set the other profile claims",
            {"$ref": "#/components/schemas/User"},
            400, 404, 409, parameters=[USER_REF],
            body={"type": "object", "additionalProperties": False, "minProperties": 1, "properties": {
                "email": {"type": "string", "format": "email"}, "disabled": {"type": "boolean"},
                "send_reset": {"type": "boolean"},
                "possible_duplicate_of": {"type": "null", "description": "null clears the mark (checked: "
                                                                         "another person)"},
                "claims": CLAIMS_SET}}),
    },
    "/admin/api/users/{user}/revoke": {"post": _operation(
        "Revoke the account's sessions, refresh tokens, access tokens and one-time links (default: all)",
        REVOKED, 400, 404, parameters=[USER_REF],
        body={"type": "object", "properties": {"what": WHAT}})},
    "/admin/api/users/{user}/passkeys": {"get": _operation(
        "List the account's passkeys (never their public key, credential id or counter)",
        {"type": "object", "properties": {"passkeys": {"type": "array",
                                                       "items": {"$ref": "#/components/schemas/Passkey"}}}},
        404, parameters=[USER_REF])},
    "/admin/api/users/{user}/passkeys/{passkey_id}": {"delete": _operation(
        "Remove one of the account's passkeys (a lost or stolen device): it no longer signs in, the citizen is "
        "told by mail; the reason, if given, is kept in the audit log",
        {"type": "object", "properties": {"removed": {"$ref": "#/components/schemas/Passkey"}}},
        400, 404, parameters=[USER_REF, PASSKEY_ID],
        body={"type": "object", "additionalProperties": False, "properties": {
            "reason": {"type": "string", "maxLength": 2000}}})},
    "/admin/api/revoke": {"post": _operation(
        "Revoke one access, refresh or one-time token",
        {"type": "object", "properties": {"revoked": {"type": "object", "properties": {
            "kind": {"type": "string"}, "user_id": {"type": ["integer", "null"]}}}}}, 400, 404,
        body={"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}})},
    "/admin/api/help-requests": {"get": _operation(
        "List help-desk requests, newest first",
        {"type": "object", "properties": {
            "help_requests": {"type": "array", "items": {"$ref": "#/components/schemas/HelpRequest"}},
            "next_cursor": {"type": ["string", "null"]}}}, 400, parameters=[
            {"name": "state", "in": "query", "schema": {"enum": ["open", "resolved", "rejected"]}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}}])},
    "/admin/api/help-requests/{request_id}": {"get": _operation(
        "Read a help-desk request", {"$ref": "#/components/schemas/HelpRequest"}, 404, parameters=[REQUEST_ID])},
    "/admin/api/help-requests/{request_id}/resolve": {"post": _operation(
        "Resolve: set the new address (verified) and send a reset link there",
        {"type": "object", "properties": {"help_request": {"$ref": "#/components/schemas/HelpRequest"},
                                          "user": {"$ref": "#/components/schemas/User"}}},
        400, 404, 409, parameters=[REQUEST_ID],
        body={"type": "object", "additionalProperties": False, "properties": {
            "new_email": {"type": "string", "format": "email"}, "send_reset": {"type": "boolean"},
            "user": {"type": "string", "description": "Account id, identifier or e-mail, when none matched"}}})},
    "/admin/api/help-requests/{request_id}/reject": {"post": _operation(
        "Reject, with a reason mailed to the citizen",
        {"type": "object", "properties": {"help_request": {"$ref": "#/components/schemas/HelpRequest"}}},
        400, 404, 409, parameters=[REQUEST_ID],
        body={"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string", "minLength": 1}}})},
    "/admin/api/audit": {"get": _operation(
        "Audit events, newest first",
        {"type": "object", "properties": {
            "events": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEvent"}},
            "next_cursor": {"type": ["string", "null"]}}}, 400, 404, parameters=[
            {"name": "user", "in": "query", "schema": {"type": "string"}},
            {"name": "action", "in": "query", "schema": {"type": "string"}},
            {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
            {"name": "cursor", "in": "query", "schema": {"type": "string"}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}}])},
}

NULLABLE_STRING = {"type": ["string", "null"]}
SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "string"}, "error_description": {"type": "string"}}},
    "User": {"type": "object", "properties": {
        "id": {"type": "integer"}, "sub": {"type": "string"}, "username": {"type": "string"},
        "email": {"type": "string"}, "email_verified": {"type": "boolean"}, "given_name": {"type": "string"},
        "family_name": {"type": "string"}, "birthdate": NULLABLE_STRING, "phone_number": NULLABLE_STRING,
        "street_address": NULLABLE_STRING, "postal_code": NULLABLE_STRING, "locality": NULLABLE_STRING,
        "status": {"enum": ["active", "pending", "disabled"]}, "has_password": {"type": "boolean"},
        "created_at": {"type": "string"}, "password_changed_at": NULLABLE_STRING,
        "possible_duplicate_of": {"type": ["integer", "null"],
                                  "description": "Signed up through \"Ce n'est pas moi\" although this account "
                                                 "had the same names and birth date; null once checked"},
        "claims": {"type": "object", "description": "The other profile claims set by the help desk",
                   "additionalProperties": {"type": "string"}}}},
    "HelpRequest": {"type": "object", "properties": {
        "id": {"type": "integer"}, "state": {"enum": ["open", "resolved", "rejected"]},
        "given_name": {"type": "string"}, "family_name": {"type": "string"}, "birthdate": {"type": "string"},
        "username": NULLABLE_STRING, "new_email": {"type": "string"}, "message": {"type": "string"},
        "lang": {"type": "string"}, "user_id": {"type": ["integer", "null"]}, "created_at": {"type": "string"},
        "closed_at": NULLABLE_STRING, "closed_by": NULLABLE_STRING, "reason": NULLABLE_STRING,
        "phone_number": NULLABLE_STRING, "street_address": NULLABLE_STRING,
        "postal_code": NULLABLE_STRING, "locality": NULLABLE_STRING}},
    "Passkey": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "created_at": {"type": "string"},
        "last_used_at": NULLABLE_STRING,
        "aaguid": {"type": "string", "description": "The authenticator's model (all zeros: not said)"},
        "backup_eligible": {"type": "boolean", "description": "Synced (a password manager's or a platform's)"},
        "backed_up": {"type": "boolean"}, "transports": {"type": "array", "items": {"type": "string"}}}},
    "AuditEvent": {"type": "object", "properties": {
        "id": {"type": "integer"}, "at": {"type": "string"}, "action": {"type": "string"},
        "actor": NULLABLE_STRING, "user_id": {"type": ["integer", "null"]}, "client_id": NULLABLE_STRING,
        "ip": NULLABLE_STRING, "details": {"type": "object"}}},
}


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Sésame admin API", "version": "1",
                 "description": "For the help desk. Every call needs a bearer access token with scope idp:admin, "
                                "obtained through client_credentials."},
        "servers": [{"url": provider().issuer}],
        "security": [{"bearer": ["idp:admin"]}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {
            "type": "oauth2", "flows": {"clientCredentials": {
                "tokenUrl": f"{provider().issuer}/oauth/token", "scopes": {"idp:admin": "Help-desk actions"}}}}}},
    }


@bp.get("/openapi.json")
def description():
    return jsonify(document())
