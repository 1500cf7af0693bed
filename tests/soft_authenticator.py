"""A software WebAuthn authenticator for the tests: it answers the provider's options the way a
browser and a passkey would (``PublicKeyCredential.toJSON()``), with an ES256 key of its own, so the
provider's ceremonies run end to end without a browser.  The browser tests use Chromium's virtual
authenticator instead."""

from __future__ import annotations

import hashlib
import json
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor, cose
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import AttestedCredentialData, AuthenticatorData

FLAG = AuthenticatorData.FLAG
AAGUID = bytes(16)  # "none" attestation: an unknown model


class SoftAuthenticator:
    def __init__(self, origin: str, rp_id: str, synced: bool = False, aaguid: bytes = AAGUID):
        self.origin, self.rp_id, self.synced, self.aaguid = origin, rp_id, synced, aaguid
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.user_handle: bytes | None = None
        self.counter = 0

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def _flags(self, verified: bool) -> FLAG:
        flags = FLAG.UP | (FLAG.UV if verified else 0)
        return flags | (FLAG.BE | FLAG.BS if self.synced else 0)

    def create(self, options: dict, origin: str | None = None, verified: bool = True) -> dict:
        """The answer to ``navigator.credentials.create`` with these options."""
        public_key = options["publicKey"]
        self.user_handle = websafe_decode(public_key["user"]["id"])
        client_data = self._client_data("webauthn.create", public_key["challenge"], origin)
        credential = AttestedCredentialData.create(self.aaguid, self.credential_id,
                                                   cose.ES256.from_cryptography_key(self.key.public_key()))
        auth_data = AuthenticatorData.create(hashlib.sha256(self.rp_id.encode()).digest(),
                                             self._flags(verified) | FLAG.AT, self.counter, bytes(credential))
        attestation = cbor.encode({"fmt": "none", "attStmt": {}, "authData": bytes(auth_data)})
        return {"id": websafe_encode(self.credential_id), "rawId": websafe_encode(self.credential_id),
                "type": "public-key", "authenticatorAttachment": "platform", "clientExtensionResults": {},
                "response": {"clientDataJSON": websafe_encode(client_data),
                             "attestationObject": websafe_encode(attestation), "transports": ["internal"]}}

    def get(self, options: dict, origin: str | None = None, counter: int | None = None,
            verified: bool = True) -> dict:
        """The answer to ``navigator.credentials.get``: the counter goes up by one, unless given."""
        self.counter = self.counter + 1 if counter is None else counter
        client_data = self._client_data("webauthn.get", options["publicKey"]["challenge"], origin)
        auth_data = bytes(AuthenticatorData.create(hashlib.sha256(self.rp_id.encode()).digest(),
                                                   self._flags(verified), self.counter))
        signature = self.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {"id": websafe_encode(self.credential_id), "rawId": websafe_encode(self.credential_id),
                "type": "public-key", "authenticatorAttachment": "platform", "clientExtensionResults": {},
                "response": {"clientDataJSON": websafe_encode(client_data),
                             "authenticatorData": websafe_encode(auth_data), "signature": websafe_encode(signature),
                             "userHandle": websafe_encode(self.user_handle or b"")}}
