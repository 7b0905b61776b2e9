"""Participant keys: chain accounts encrypted at rest under the master secret.

The master secret never touches the database. Chain keys (and every other blob
kept secret at rest) are encrypted with a Fernet key derived from it. API keys
are random and stored as hashes (services/credentials.py); nothing else is
derived from the master secret, so it can be rotated (`rotate-master-secret`).
"""

from __future__ import annotations

import base64
import hashlib
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
    """The stored form of an API key or a session token (SHA-256, hex).

    A plain hash suffices: every key is 32 random bytes (the keys of before
    were 24-byte MACs), so there is nothing to guess at any speed.
    """
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class NewAccount:
    address: str
    private_key: bytes


class KeyVault:
    """Encrypts chain keys and other secrets at rest under one master secret."""

    def __init__(self, master_secret: str) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(master_secret, b"chain-keys")))

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
