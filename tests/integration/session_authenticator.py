"""A software passkey authenticator for the ceremony tests: it answers WebAuthn
options as a browser with a platform authenticator would (attestation "none",
P-256 / ES256, user present and verified), and can be told to answer wrongly
(another origin, another challenge, an old counter) so the server's checks
are tested against real signatures, not against a stub of py_webauthn."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from couponchain.services.accounts_ceremony import b64url, from_b64url

UP, UV, AT = 0x01, 0x04, 0x40


class SoftAuthenticator:
    """One passkey: a P-256 key, a credential id and a signature counter."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.counter = 0
        self.user_handle: str | None = None

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge,
                           "origin": origin or self.origin, "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any], *, origin: str | None = None,
               challenge: str | None = None, rp_id: str | None = None) -> dict[str, Any]:
        """The answer to `navigator.credentials.create(options)`, as its toJSON()."""
        numbers = self.key.public_key().public_numbers()
        cose = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big")}
        attested = (bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id
                    + cbor2.dumps(cose))
        auth_data = (hashlib.sha256((rp_id or options["rp"]["id"]).encode()).digest()
                     + bytes([UP | UV | AT]) + self.counter.to_bytes(4, "big") + attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.user_handle = options["user"]["id"]
        client = self._client_data("webauthn.create", challenge or options["challenge"], origin)
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
                "type": "public-key", "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(client),
                             "attestationObject": b64url(attestation),
                             "transports": ["internal"]}}

    def get(self, options: dict[str, Any], *, origin: str | None = None,
            challenge: str | None = None, counter: int | None = None) -> dict[str, Any]:
        """The answer to `navigator.credentials.get(options)`, as its toJSON()."""
        self.counter = self.counter + 1 if counter is None else counter
        auth_data = (hashlib.sha256(options["rpId"].encode()).digest() + bytes([UP | UV])
                     + self.counter.to_bytes(4, "big"))
        client = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        signature = self.key.sign(auth_data + hashlib.sha256(client).digest(),
                                  ec.ECDSA(hashes.SHA256()))
        return {"id": b64url(self.credential_id), "rawId": b64url(self.credential_id),
                "type": "public-key", "authenticatorAttachment": "platform",
                "clientExtensionResults": {},
                "response": {"clientDataJSON": b64url(client),
                             "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature),
                             "userHandle": self.user_handle}}


def other_challenge() -> str:
    """A challenge the server never issued."""
    return b64url(os.urandom(32))


__all__ = ["SoftAuthenticator", "other_challenge", "from_b64url"]
