"""Participants: creation (chain account, first API key, registry entry) and
authentication (an API key or a page session, to the participant it names)."""

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
from couponchain.domain.op_keys import op_key, platform_key
from couponchain.domain.roles import Role
from couponchain.errors import ContractRevert, Forbidden, InvalidInput, NotFound, Unauthorized
from couponchain.services.credentials import API_KEY, CredentialStore, Grant, new_credential
from couponchain.store.db import Database
from couponchain.store.models import Credential, Participant, ParticipantRecord

ZERO = "0x0000000000000000000000000000000000000000"
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
#: `Participant.custody`: the server keeps the key, or the participant does.
CUSTODIAL, OWN_KEY = "custodial", "own"

#: Which roles may create participants of each role (the registry enforces the same).
#: A terminal only by its own merchant, whose key signs the registration: the
#: platform key cannot bind a terminal to a merchant (issue 23).
CREATORS: dict[Role, set[Role]] = {
    Role.MERCHANT: {Role.PLATFORM},
    Role.TERMINAL: {Role.MERCHANT},
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

    def __init__(self, db: Database, vault: KeyVault, gateway: Gateway, indexer: Any,
                 credentials: CredentialStore) -> None:
        self.db = db
        self.vault = vault
        self.gateway = gateway
        self.indexer = indexer
        self.credentials = credentials
        #: Participants by id: what a participant is never changes (but for the
        #: platform's account after a key rotation, which calls `forget`), so this
        #: cache cannot go stale (whether its key is still valid is checked every time).
        self._callers: dict[str, Caller] = {}
        self._signers: dict[str, LocalAccount] = {}

    async def ensure_platform(self, admin_key: str | None) -> tuple[Caller, str | None]:
        """The platform participant and an API key of it when one can be shown.

        On the first start the platform is created with a new key, returned to
        be shown once. `admin_key` (dev mode only) is registered as a key of the
        platform, so tests and demos sign in with a known one. Otherwise None:
        a lost admin key is replaced with `couponchain keys create-admin`.
        """
        shown: str | None = None
        async with self.db.transaction() as s:
            row = (await s.execute(
                select(Participant).where(Participant.role == int(Role.PLATFORM)))).scalar()
            if row is None:
                row, shown = await self._new_row(s, Role.PLATFORM, "Platform", None, None, None)
            if admin_key:
                digest = hash_api_key(admin_key)
                known = (await s.execute(select(Credential.participant_id).where(
                    Credential.secret_hash == digest))).scalar()
                if known is None:
                    key, _token = new_credential(row.id, API_KEY, "admin key (dev mode)")
                    key.secret_hash = digest
                    s.add(key)
                elif known != row.id:
                    raise Forbidden("COUPONCHAIN_ADMIN_KEY is another participant's key",
                                    field="admin_key")
                shown = admin_key
        return _caller(row), shown

    async def _new_row(self, s: Any, role: Role, name: str, merchant_id: str | None,
                 created_by: str | None, creation_key: str | None) -> tuple[Participant, str]:
        """A new participant and its first API key, added to the session `s`; the key."""
        pid = uuid.uuid4().hex
        account = self.vault.new_account()
        row = Participant(
            id=pid, role=int(role), name=name, address=account.address, merchant_id=merchant_id,
            encrypted_key=self.vault.encrypt_key(account.private_key), created_by=created_by,
            creation_key=creation_key,
        )
        key, token = new_credential(pid, API_KEY, "initial", created_by=created_by)
        s.add(row)
        await s.flush()  # the participant before its key (no ORM relationship orders them)
        s.add(key)
        return row, token

    async def authenticate(self, api_key: str | None) -> Caller:
        """The participant a live API key belongs to."""
        return await self.caller((await self.credentials.check(api_key)).participant_id)

    async def grant(self, token: str | None, kind: str = API_KEY) -> tuple[Caller, Grant]:
        """The participant a live credential of `kind` belongs to, and the grant."""
        grant = await self.credentials.check(token, kind)
        return await self.caller(grant.participant_id), grant

    async def caller(self, participant_id: str) -> Caller:
        """A participant as a caller (cached: a participant never changes)."""
        caller = self._callers.get(participant_id)
        if caller is None:  # a point read (`read`): many new callers may come at once
            row = await self.db.read(lambda s: s.get(Participant, participant_id))
            if row is None:
                raise Unauthorized("the participant of this key no longer exists")
            caller = self._callers[participant_id] = _caller(row)
        return caller

    def forget(self, participant_id: str) -> None:
        """Drop the cached caller and signer of a participant whose chain account
        changed (the platform's, after a key rotation)."""
        self._callers.pop(participant_id, None)
        self._signers.pop(participant_id, None)

    async def may_manage(self, caller: Caller, participant_id: str) -> bool:
        """Whether `caller` may create, list and revoke the keys of `participant_id`:
        its own; a merchant, its terminals'; the platform, anyone's."""
        if caller.id == participant_id or caller.role == Role.PLATFORM:
            return True
        if caller.role != Role.MERCHANT:
            return False
        try:
            owner = await self.caller(participant_id)
        except Unauthorized:
            return False
        return owner.role == Role.TERMINAL and owner.merchant_id == caller.id

    async def signer(self, participant_id: str) -> LocalAccount:
        """The participant's chain account, decrypted once and kept in memory."""
        account = self._signers.get(participant_id)
        if account is None:
            row = await self.db.read(lambda s: s.get(Participant, participant_id))
            if row is None:
                raise NotFound(f"participant {participant_id} does not exist", field="id")
            if row.custody == OWN_KEY:  # self-custody (services/self_custody.py)
                raise Forbidden(f"participant {participant_id} signs with its own key, which "
                                "the server never holds: sign in its browser or wallet",
                                field="custody")
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
        if role == Role.TERMINAL and caller.role != Role.MERCHANT:
            raise Forbidden("a terminal is created by its own merchant only (the merchant's "
                            "key registers it on chain): sign in as the merchant",
                            field="merchant_id")
        if caller.role not in CREATORS[role]:
            raise Forbidden(f"a {caller.role.label} may not create a {role.label}")
        merchant = await self._merchant_for(caller, role, merchant_id)
        creation_key = op_key(caller.id, idempotency_key)
        api_key: str | None = None
        async with self.db.transaction() as s:
            row = None
            if creation_key:
                row = (await s.execute(select(Participant).where(
                    Participant.creation_key == creation_key))).scalar()
            if row is None:
                row, api_key = await self._new_row(s, role, name, merchant.id if merchant else None,
                                             caller.id, creation_key)
        if api_key is None:  # a retry: the first key was never shown, or shown and lost
            api_key = await self.credentials.rekey(row.id, "initial", created_by=caller.id)
        try:
            result = await self.gateway.submit(
                await self.signer(caller.id),
                Call("registry", "register_batch",
                     item=(row.address, int(role), merchant.address if merchant else ZERO),
                     kind=f"register {role.label}"),
                op_key=platform_key("register", row.id),
            )
        except ContractRevert:
            async with self.db.transaction() as s:
                await s.execute(delete(Credential).where(Credential.participant_id == row.id))
                await s.execute(delete(Participant).where(Participant.id == row.id))
            raise
        await self.indexer.wait_for(result.block_number)
        return {
            **self.public(row), "api_key": api_key,
            "tx_hash": result.tx_hash, "block_number": result.block_number,
        }

    async def _merchant_for(self, caller: Caller, role: Role,
                            merchant_id: str | None) -> Participant | None:
        if role != Role.TERMINAL:
            if merchant_id:
                raise InvalidInput(f"a {role.label} is not bound to a merchant",
                                   field="merchant_id")
            return None
        # Only a merchant gets here (CREATORS): its terminals are its own.
        if merchant_id not in (None, caller.id):
            raise Forbidden("a merchant creates terminals for itself only",
                            field="merchant_id")
        return await self.get(caller.id)

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

    async def terminals_of(self, merchant_id: str, limit: int,
                           after: str | None) -> list[Participant]:
        """A merchant's terminals, by id, `limit` after the cursor `after`."""
        query = select(Participant).where(Participant.role == int(Role.TERMINAL),
                                          Participant.merchant_id == merchant_id)
        if after:
            query = query.where(Participant.id > after)
        async with self.db.session() as s:
            return list((await s.execute(query.order_by(Participant.id).limit(limit))).scalars())

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
                "address": row.address, "merchant_id": row.merchant_id,
                "custody": row.custody or CUSTODIAL}


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
