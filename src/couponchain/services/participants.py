"""Participants: creation (chain account, API key, registry entry) and authentication."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from sqlalchemy import delete, select

from couponchain.chain.gateway import Call, Gateway
from couponchain.chain.keys import KeyVault, hash_api_key
from couponchain.domain.roles import Role
from couponchain.errors import ContractRevert, Forbidden, InvalidInput, NotFound, Unauthorized
from couponchain.store.db import Database
from couponchain.store.models import Participant, ParticipantRecord

ZERO = "0x0000000000000000000000000000000000000000"
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")

#: Which roles may create participants of each role (the registry enforces the same).
CREATORS: dict[Role, set[Role]] = {
    Role.MERCHANT: {Role.PLATFORM},
    Role.TERMINAL: {Role.PLATFORM, Role.MERCHANT},
    Role.CONSUMER: {Role.PLATFORM, Role.MERCHANT},
}


@dataclass(frozen=True)
class Caller:
    """An authenticated participant."""

    id: str
    role: Role
    name: str
    address: str
    merchant_id: str | None

    @property
    def acts_for_merchant(self) -> str | None:
        """The merchant this caller acts for (itself, or a terminal's merchant)."""
        if self.role == Role.MERCHANT:
            return self.id
        return self.merchant_id if self.role == Role.TERMINAL else None


def _caller(row: Participant) -> Caller:
    return Caller(row.id, Role(row.role), row.name, row.address, row.merchant_id)


class ParticipantService:
    """Creates participants and resolves API keys and signing accounts."""

    def __init__(self, db: Database, vault: KeyVault, gateway: Gateway, indexer: Any) -> None:
        self.db = db
        self.vault = vault
        self.gateway = gateway
        self.indexer = indexer
        self._by_key: dict[str, Caller] = {}
        self._signers: dict[str, LocalAccount] = {}

    async def ensure_platform(self, admin_key: str | None) -> tuple[Caller, str]:
        """The platform participant (created on first start) and its API key."""
        async with self.db.transaction() as s:
            row = (await s.execute(
                select(Participant).where(Participant.role == int(Role.PLATFORM)))).scalar()
            if row is None:
                row = self._new_row(Role.PLATFORM, "Platform", None, None, None)
                s.add(row)
            api_key = admin_key or self.vault.api_key(row.id)
            row.api_key_hash = hash_api_key(api_key)
        self._by_key.clear()
        return _caller(row), api_key

    def _new_row(self, role: Role, name: str, merchant_id: str | None, created_by: str | None,
                 creation_key: str | None) -> Participant:
        pid = uuid.uuid4().hex
        account = self.vault.new_account()
        return Participant(
            id=pid, role=int(role), name=name, address=account.address, merchant_id=merchant_id,
            encrypted_key=self.vault.encrypt_key(account.private_key),
            api_key_hash=hash_api_key(self.vault.api_key(pid)), created_by=created_by,
            creation_key=creation_key,
        )

    async def authenticate(self, api_key: str | None) -> Caller:
        """The participant an API key belongs to."""
        if not api_key:
            raise Unauthorized("an API key is required: Authorization: Bearer <key>")
        digest = hash_api_key(api_key)
        caller = self._by_key.get(digest)
        if caller is None:  # a point read (`read`): many new callers may come at once
            row = await self.db.read(lambda s: s.execute(
                select(Participant).where(Participant.api_key_hash == digest)).scalar())
            if row is None:
                raise Unauthorized("unknown API key")
            caller = self._by_key[digest] = _caller(row)
        return caller

    async def signer(self, participant_id: str) -> LocalAccount:
        """The participant's chain account, decrypted once and kept in memory."""
        account = self._signers.get(participant_id)
        if account is None:
            row = await self.db.read(lambda s: s.get(Participant, participant_id))
            if row is None:
                raise NotFound(f"participant {participant_id} does not exist", field="id")
            account = self._signers[participant_id] = self.vault.decrypt_key(row.encrypted_key)
        return account

    async def get(self, participant_id: str) -> Participant:
        async with self.db.session() as s:
            row = await s.get(Participant, participant_id)
        if row is None:
            raise NotFound(f"participant {participant_id} does not exist", field="id")
        return row

    async def create(
        self, caller: Caller, role: Role, name: str, merchant_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Create a participant: chain account, API key, and registry entry on chain.

        A retry with the same idempotency key reuses the first attempt's account,
        so a crash between the database and the chain never makes two.
        """
        if caller.role not in CREATORS[role]:
            raise Forbidden(f"a {caller.role.label} may not create a {role.label}")
        merchant = await self._merchant_for(caller, role, merchant_id)
        creation_key = f"{caller.id}:{idempotency_key}" if idempotency_key else None
        async with self.db.transaction() as s:
            row = None
            if creation_key:
                row = (await s.execute(select(Participant).where(
                    Participant.creation_key == creation_key))).scalar()
            if row is None:
                row = self._new_row(role, name, merchant.id if merchant else None, caller.id,
                                    creation_key)
                s.add(row)
        try:
            result = await self.gateway.submit(
                await self.signer(caller.id),
                Call("registry", "register_batch",
                     item=(row.address, int(role), merchant.address if merchant else ZERO),
                     kind=f"register {role.label}"),
                op_key=f"register:{row.id}",
            )
        except ContractRevert:
            async with self.db.transaction() as s:
                await s.execute(delete(Participant).where(Participant.id == row.id))
            raise
        await self.indexer.wait_for(result.block_number)
        return {
            **self.public(row), "api_key": self.vault.api_key(row.id),
            "tx_hash": result.tx_hash, "block_number": result.block_number,
        }

    async def _merchant_for(self, caller: Caller, role: Role,
                            merchant_id: str | None) -> Participant | None:
        if role != Role.TERMINAL:
            if merchant_id:
                raise InvalidInput(f"a {role.label} is not bound to a merchant",
                                   field="merchant_id")
            return None
        if caller.role == Role.MERCHANT:
            if merchant_id not in (None, caller.id):
                raise Forbidden("a merchant creates terminals for itself only",
                                field="merchant_id")
            merchant_id = caller.id
        if not merchant_id:
            raise InvalidInput("a terminal needs the merchant it belongs to",
                               field="merchant_id")
        try:
            merchant = await self.get(merchant_id)
        except NotFound:
            raise InvalidInput(f"merchant {merchant_id} does not exist",
                               field="merchant_id") from None
        if merchant.role != Role.MERCHANT:
            raise InvalidInput(f"participant {merchant_id} is not a merchant",
                               field="merchant_id")
        return merchant

    async def addresses(self, values: Sequence[str], fields: Sequence[str],
                        role: Role | None = None) -> list[str]:
        """Chain addresses of participants given by id or by address.

        With `role`, every value must name a participant of that role (an
        address is looked up too); otherwise an unknown address is accepted as
        it is. Errors name the value's field.
        """
        ids = {v for v in values if not ADDRESS.match(v)}
        wanted = {to_checksum_address(v) for v in values if ADDRESS.match(v)}
        by_id: dict[str, tuple[str, int]] = {}
        by_address: dict[str, int] = {}
        async with self.db.session() as s:
            for chunk in _chunks(sorted(ids), 500):
                for pid, address, prole in (await s.execute(
                        select(Participant.id, Participant.address, Participant.role)
                        .where(Participant.id.in_(chunk)))).tuples():
                    by_id[pid] = (address, prole)
            if role is not None:
                for chunk in _chunks(sorted(wanted), 500):
                    by_address.update((await s.execute(
                        select(Participant.address, Participant.role)
                        .where(Participant.address.in_(chunk)))).tuples().all())
        out: list[str] = []
        for value, field in zip(values, fields, strict=True):
            if ADDRESS.match(value):
                if int(value, 16) == 0:
                    raise InvalidInput("must not be the zero address", field=field)
                address = to_checksum_address(value)
                found = by_address.get(address)
            elif value in by_id:
                address, found = by_id[value]
            else:
                raise InvalidInput(f"{value!r} is neither a participant id nor an address",
                                   field=field)
            if role is not None and found != int(role):
                raise InvalidInput(f"{value} is not a {role.label}", field=field)
            out.append(address)
        return out

    async def on_chain(self, address: str) -> ParticipantRecord | None:
        """The registry's record of an address, from the read model."""
        async with self.db.session() as s:
            return await s.get(ParticipantRecord, address)

    async def list(self, role: Role, limit: int, after: str | None) -> list[Participant]:
        """Participants of one role, by id, `limit` after the cursor `after`."""
        query = select(Participant).where(Participant.role == int(role))
        if after:
            query = query.where(Participant.id > after)
        async with self.db.session() as s:
            return list((await s.execute(query.order_by(Participant.id).limit(limit))).scalars())

    @staticmethod
    def public(row: Participant) -> dict[str, Any]:
        """What anyone may see of a participant."""
        return {"id": row.id, "role": Role(row.role).label, "name": row.name,
                "address": row.address, "merchant_id": row.merchant_id}


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
