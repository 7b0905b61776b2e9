"""Participant keys: chain accounts encrypted at rest, API keys stored hashed.

The master secret never touches the database. Chain keys are encrypted with a
Fernet key derived from it; API keys are derived from it per participant, so a
retried creation can show the same key again while only its hash is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_account import Account
from eth_account.signers.local import LocalAccount


def _derive(master_secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        master_secret.encode()
    )


def hash_api_key(api_key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class NewAccount:
    address: str
    private_key: bytes


class KeyVault:
    """Encrypts chain keys and derives API keys under one master secret."""

    def __init__(self, master_secret: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(master_secret, b"chain-keys")))
        self._api_secret = _derive(master_secret, b"api-keys")
        self._data_secret = _derive(master_secret, b"data")

    @staticmethod
    def new_account() -> NewAccount:
        acct = Account.create()
        return NewAccount(acct.address, bytes(acct.key))

    def encrypt_key(self, private_key: bytes) -> bytes:
        return self._fernet.encrypt(private_key)

    def decrypt_key(self, token: bytes) -> LocalAccount:
        return Account.from_key(self._fernet.decrypt(token))

    def encrypt(self, data: bytes) -> bytes:
        """Encrypt an opaque blob at rest (stored responses that carry secrets)."""
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        return self._fernet.decrypt(token)

    def api_key(self, participant_id: str) -> str:
        """The API key of a participant (shown once, recomputable by the server)."""
        mac = hmac.new(self._api_secret, participant_id.encode(), hashlib.sha256).digest()
        return f"cc_{participant_id}_{base64.urlsafe_b64encode(mac[:24]).decode()}"

    def pseudonym(self, value: str) -> str:
        """A keyed hash of a personal value (visitor IPs), never reversible."""
        return hmac.new(self._data_secret, value.encode(), hashlib.sha256).hexdigest()
