"""Platform secrets kept stable across master-secret rotations, and the rotation itself.

The master secret encrypts; it derives nothing that must stay the same. The
secrets that must (the key that pseudonymises visitor IPs: equal IPs give equal
visitors for ever; the prize-code key: its address is published to terminals)
are random values stored in `platform_secrets`, encrypted under the master
secret. A database from before this scheme carries the `legacy-derived` marker
(migration 0010): its values are the ones the platform used to derive from the
master secret, stored on first use, so nothing changes for it.

`rotate` re-encrypts every blob encrypted under the master secret in one
transaction; a check value tells a process started with the wrong (e.g. the
old) secret to stop with one clear line instead of failing at the first
decryption.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from eth_account import Account
from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from couponchain.chain.keys import KeyVault
from couponchain.errors import ConfigurationError
from couponchain.store.db import Database
from couponchain.store.models import (
    Deployment,
    IdempotencyRecord,
    MarketingWebhook,
    Participant,
    PlatformSecret,
)

CHECK = "master-check"
LEGACY = "legacy-derived"
VISITORS = "visitor-pseudonym-key"
_CHECK_VALUE = b"couponchain master secret check v1"
WRONG_SECRET = ("COUPONCHAIN_MASTER_SECRET is not the secret this database is encrypted "
                "with (rotated? see docs/operations.md, 'Rotating the master secret')")

#: Every column encrypted under the master secret: (model, primary key, column).
ENCRYPTED = ((Participant, "id", "encrypted_key"),
             (IdempotencyRecord, "key", "response_body"),
             (MarketingWebhook, "merchant_id", "secret"),
             (PlatformSecret, "name", "value"))


def prize_code_name(chain_id: int, prizes: str) -> str:
    """The name of the prize-code key of one deployment of the prizes contract."""
    return f"prize-code-key:{chain_id}:{prizes.lower()}"


def random_prize_key() -> bytes:
    return bytes(Account.create().key)


class PlatformSecrets:
    """Loads (and on first use makes) the platform's stable secrets."""

    def __init__(self, db: Database, vault: KeyVault) -> None:
        self.db = db
        self.vault = vault

    async def verify_master(self) -> None:
        """Refuse a master secret that does not decrypt this database (one clear line)."""
        async with self.db.session() as s:
            check = await s.get(PlatformSecret, CHECK)
            sample = None
            if check is None:
                sample = (await s.execute(select(Participant.encrypted_key).limit(1))).scalar()
        try:
            if check is not None:
                self.vault.decrypt(check.value)
            elif sample is not None:
                self.vault.decrypt(sample)
        except InvalidToken:
            raise ConfigurationError(WRONG_SECRET, field="master_secret") from None
        if check is None:
            await self._insert(CHECK, _CHECK_VALUE)

    async def value(self, name: str, legacy: Callable[[], bytes],
                    fresh: Callable[[], bytes] = lambda: secrets.token_bytes(32)) -> bytes:
        """The secret `name`: stored, or made now (`legacy()` for a database from
        before stored secrets, else `fresh()`) and stored."""
        async with self.db.session() as s:
            row = await s.get(PlatformSecret, name)
            marked = row is None and await s.get(PlatformSecret, LEGACY) is not None
        if row is not None:
            return self._open(row.value)
        value = legacy() if marked else fresh()
        if not await self._insert(name, value):  # another process stored it first
            async with self.db.session() as s:
                row = await s.get(PlatformSecret, name)
            assert row is not None
            return self._open(row.value)
        return value

    def _open(self, token: bytes) -> bytes:
        try:
            return self.vault.decrypt(token)
        except InvalidToken:
            raise ConfigurationError(WRONG_SECRET, field="master_secret") from None

    async def _insert(self, name: str, value: bytes) -> bool:
        try:
            async with self.db.transaction() as s:
                s.add(PlatformSecret(name=name, value=self.vault.encrypt(value)))
        except IntegrityError:
            return False
        return True


@dataclass(frozen=True)
class Rotation:
    """What a rotation re-encrypted, by table."""

    reencrypted: dict[str, int]


async def rotate(db: Database, old_secret: str, new_secret: str,
                 legacy: dict[str, Callable[[str], bytes]],
                 legacy_prize_key: Callable[[str, int, str], bytes]) -> Rotation:
    """Re-encrypt everything under `new_secret`, in one transaction.

    Secrets still derived the old way (a database upgraded from before stored
    secrets, never started since) are stored first, from `old_secret`, so they
    keep their values: `legacy` maps a secret's name to its old derivation
    from a master secret, `legacy_prize_key(secret, chain id, address)` the
    prize-code key of a deployment. Every process must be stopped: one still
    running would write blobs under the old secret.
    """
    old, new = KeyVault(old_secret), KeyVault(new_secret)
    if old_secret == new_secret:
        raise ConfigurationError("the new master secret is the old one", field="master_secret")
    await PlatformSecrets(db, old).verify_master()  # the old secret is this database's
    counts: dict[str, int] = {}
    async with db.transaction() as s:
        marked = await s.get(PlatformSecret, LEGACY) is not None
        if marked:
            wanted = {name: derive(old_secret) for name, derive in legacy.items()}
            for chain_id, address in (await s.execute(select(
                    Deployment.chain_id, Deployment.address).where(
                    Deployment.name == "prizes"))).tuples():
                wanted[prize_code_name(chain_id, address)] = legacy_prize_key(
                    old_secret, chain_id, address)
            for name, value in wanted.items():
                if await s.get(PlatformSecret, name) is None:
                    s.add(PlatformSecret(name=name, value=old.encrypt(value)))
            await s.execute(delete(PlatformSecret).where(PlatformSecret.name == LEGACY))
            await s.flush()
        for model, key, column in ENCRYPTED:
            table: Table = model.__table__  # type: ignore[assignment]
            rows = (await s.execute(select(table.c[key], table.c[column]))).all()
            changes = []
            for pk, blob in rows:
                if blob is None:
                    continue  # an idempotent request still running: nothing stored yet
                try:
                    plain = old.decrypt(blob)
                except InvalidToken:
                    raise ConfigurationError(
                        f"{table.name} {pk}: not encrypted under the old master secret; "
                        "nothing was changed", field="master_secret") from None
                changes.append({"_pk": pk, "_value": new.encrypt(plain)})
            if changes:
                await s.execute(update(table).where(table.c[key] == bindparam("_pk"))
                                .values({column: bindparam("_value")}), changes)
            counts[table.name] = len(changes)
    return Rotation(counts)
