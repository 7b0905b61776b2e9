"""Standing of participants and capabilities (issue 23): merchants suspend,
reinstate and unbind their own terminals; the platform suspends and reinstates
merchants, pauses and unpauses capabilities, and hands its role to a new key in
two steps. Every change is a registry transaction through the durable gateway,
signed by the participant who decides it, with a reason anyone can read.

The rules here mirror the registry's (so a refused request gets a 403 or 409
naming the rule before anything is signed); the contract checks them again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from sqlalchemy import delete, select

from couponchain.chain.gateway import Call, Gateway, OpResult
from couponchain.chain.keys import KeyVault
from couponchain.domain.op_keys import op_key, platform_key
from couponchain.domain.roles import Role, Standing
from couponchain.errors import Conflict, ContractRevert, Forbidden, InvalidInput, NotFound
from couponchain.services.participants import Caller, ParticipantService
from couponchain.store.db import Database
from couponchain.store.models import (
    CapabilityPause,
    Participant,
    ParticipantRecord,
    PlatformRotation,
)

#: The capability contracts the platform may pause, by the name the API uses.
CAPABILITIES = ("editions", "promotions", "referrals", "prizes", "marketing")
#: The registry keeps reasons as `String[200]`: 200 bytes of UTF-8.
MAX_REASON_BYTES = 200


class BlockWaiter(Protocol):
    """What the service needs of the indexer: the read models at a block."""

    async def wait_for(self, block_number: int) -> None: ...


class Account(Protocol):
    """What a standing is read by: a participant row, or an authenticated caller."""

    @property
    def id(self) -> str: ...

    @property
    def address(self) -> str: ...


@dataclass(frozen=True)
class StandingView:
    """A participant's standing as the API shows it."""

    standing: str
    active: bool
    reason: str | None
    changed_by: str | None
    tx_hash: str | None
    merchant_standing: str | None

    def public(self) -> dict[str, Any]:
        return {"standing": self.standing, "active": self.active,
                "standing_reason": self.reason, "standing_changed_by": self.changed_by,
                "standing_tx": self.tx_hash, "merchant_standing": self.merchant_standing}


def check_reason(reason: str, *, required: bool) -> str:
    """A reason the registry accepts: at most 200 bytes, not empty when required."""
    reason = reason.strip()
    if required and not reason:
        raise InvalidInput("give a reason: it is published on chain with the change",
                           field="reason")
    if len(reason.encode()) > MAX_REASON_BYTES:
        raise InvalidInput(f"at most {MAX_REASON_BYTES} bytes in UTF-8", field="reason")
    return reason


class StandingService:
    """Suspensions, unbindings, pauses and platform key rotation."""

    def __init__(self, db: Database, vault: KeyVault, gateway: Gateway, indexer: BlockWaiter,
                 participants: ParticipantService,
                 addresses: Callable[[], dict[str, str]]) -> None:
        self.db = db
        self.vault = vault
        self.gateway = gateway
        self.indexer = indexer
        self.participants = participants
        self.addresses = addresses

    # -- reads --------------------------------------------------------------------------

    async def standing(self, row: Account) -> StandingView:
        """A participant's standing from the registry's read model."""
        return (await self.standings([row]))[row.id]

    async def standings(self, rows: Sequence[Account]) -> dict[str, StandingView]:
        """Standings by participant id, read in one query. A terminal of a
        suspended merchant is not active, whatever its own standing."""
        wanted = {r.address for r in rows}
        async with self.db.session() as s:
            records = {r.address: r for r in (await s.execute(select(ParticipantRecord).where(
                ParticipantRecord.address.in_(sorted(wanted))))).scalars()}
            missing = {r.merchant for r in records.values()
                       if r.merchant and r.merchant not in records}
            if missing:
                records.update((r.address, r) for r in (await s.execute(
                    select(ParticipantRecord).where(
                        ParticipantRecord.address.in_(sorted(missing))))).scalars())
        out = {}
        for row in rows:
            record = records.get(row.address)
            own = Standing(record.status) if record is not None else Standing.ACTIVE
            merchant = None
            if record is not None and record.role == Role.TERMINAL and record.merchant:
                merchant = records.get(record.merchant)
            merchant_standing = Standing(merchant.status) if merchant is not None else None
            active = record is not None and own == Standing.ACTIVE and merchant_standing in (
                None, Standing.ACTIVE)
            out[row.id] = StandingView(
                own.label, active, record.status_reason if record else None,
                record.status_by if record else None, record.status_tx if record else None,
                merchant_standing.label if merchant_standing is not None else None)
        return out

    async def pauses(self) -> list[dict[str, Any]]:
        """Every capability with its pause switch and the last reason given."""
        addresses = self.addresses()
        async with self.db.session() as s:
            rows = {r.address: r for r in (await s.execute(select(CapabilityPause))).scalars()}
        out = []
        for name in CAPABILITIES:
            address = addresses.get(name, "")
            row = rows.get(address)
            out.append({"capability": name, "address": address,
                        "paused": bool(row and row.paused),
                        "reason": row.reason if row else None,
                        "changed_by": row.by if row else None,
                        "tx_hash": row.tx_hash if row else None})
        return out

    # -- participants -------------------------------------------------------------------

    async def suspend(self, caller: Caller, participant_id: str, reason: str,
                      idempotency_key: str | None) -> dict[str, Any]:
        """Suspend a merchant (platform) or one of the caller's terminals (merchant)."""
        target = await self._managed(caller, participant_id, "suspend")
        reason = check_reason(reason, required=True)
        await self._expect(target, Standing.ACTIVE, "only an active participant is suspended")
        return await self._change(caller, target, "suspend", reason, idempotency_key)

    async def reinstate(self, caller: Caller, participant_id: str, reason: str,
                        idempotency_key: str | None) -> dict[str, Any]:
        """Lift a suspension, by whoever may suspend the participant."""
        target = await self._managed(caller, participant_id, "reinstate")
        reason = check_reason(reason, required=False)
        await self._expect(target, Standing.SUSPENDED, "only a suspended participant is reinstated")
        return await self._change(caller, target, "reinstate", reason, idempotency_key)

    async def unbind(self, caller: Caller, participant_id: str, reason: str,
                     idempotency_key: str | None) -> dict[str, Any]:
        """Unbind one of the caller's terminals for good (merchant)."""
        target = await self._managed(caller, participant_id, "unbind")
        reason = check_reason(reason, required=True)
        record = await self.participants.on_chain(target.address)
        if record is not None and record.status == Standing.UNBOUND:
            raise Conflict("the terminal is already unbound, for good", field="id")
        return await self._change(caller, target, "unbind", reason, idempotency_key)

    async def _managed(self, caller: Caller, participant_id: str, action: str) -> Participant:
        """The participant `caller` may `action`: the platform its merchants, a
        merchant its own terminals (the registry's rule)."""
        target = await self.participants.get(participant_id)
        if action == "unbind" and target.role != Role.TERMINAL:
            raise InvalidInput(f"only a terminal is unbound; a {Role(target.role).label} is not",
                               field="id")
        if target.role == Role.MERCHANT:
            if caller.role != Role.PLATFORM:
                raise Forbidden(f"only the platform may {action} a merchant", field="id")
        elif target.role == Role.TERMINAL:
            if caller.role != Role.MERCHANT or target.merchant_id != caller.id:
                raise Forbidden(f"only the terminal's own merchant may {action} it", field="id")
        else:
            raise InvalidInput(f"only merchants and terminals are suspended; a "
                               f"{Role(target.role).label} is not", field="id")
        return target

    async def _expect(self, target: Participant, standing: Standing, rule: str) -> None:
        record = await self.participants.on_chain(target.address)
        now = Standing(record.status) if record is not None else Standing.ACTIVE
        if now != standing:
            raise Conflict(f"{rule}; this one is {now.label}", field="id")

    async def _change(self, caller: Caller, target: Participant, function: str, reason: str,
                      idempotency_key: str | None) -> dict[str, Any]:
        op = await self._submit(
            caller, Call("registry", function, fixed=(target.address, reason),
                         kind=f"{function} {Role(target.role).label}"),
            idempotency_key, f"{function}:{target.id}")
        await self.indexer.wait_for(op.block_number)
        view = await self.standing(target)
        return {**self.participants.public(target), **view.public(), **_evidence(op)}

    # -- capabilities -------------------------------------------------------------------

    async def pause(self, caller: Caller, capability: str, reason: str,
                    idempotency_key: str | None) -> dict[str, Any]:
        """Pause a capability contract (platform): it refuses every state change
        but withdrawals of what was already credited."""
        return await self._switch(caller, capability, True,
                                  check_reason(reason, required=True), idempotency_key)

    async def unpause(self, caller: Caller, capability: str, reason: str,
                      idempotency_key: str | None) -> dict[str, Any]:
        """Let a paused capability change state again (platform)."""
        return await self._switch(caller, capability, False,
                                  check_reason(reason, required=False), idempotency_key)

    async def _switch(self, caller: Caller, capability: str, paused: bool, reason: str,
                      idempotency_key: str | None) -> dict[str, Any]:
        verb = "pause" if paused else "unpause"
        if capability not in CAPABILITIES:
            raise NotFound(f"no capability {capability!r}; one of {', '.join(CAPABILITIES)}",
                           field="capability")
        if caller.role != Role.PLATFORM:
            raise Forbidden(f"only the platform may {verb} a capability", field="capability")
        current = next(p for p in await self.pauses() if p["capability"] == capability)
        if current["paused"] == paused:
            raise Conflict(f"{capability} is already {'paused' if paused else 'running'}",
                           field="capability")
        op = await self._submit(
            caller, Call("registry", verb, fixed=(current["address"], reason),
                         kind=f"{verb} {capability}"),
            idempotency_key, f"{verb}:{capability}")
        await self.indexer.wait_for(op.block_number)
        now = next(p for p in await self.pauses() if p["capability"] == capability)
        return {**now, **_evidence(op)}

    # -- platform key rotation ----------------------------------------------------------

    async def propose_platform(self, caller: Caller) -> dict[str, Any]:
        """Step one of a platform key rotation: a new custodial key, proposed on chain
        by the current one. Nothing moves until `accept_platform`."""
        self._check_platform(caller)
        async with self.db.transaction() as s:
            await s.execute(delete(PlatformRotation))
            account = self.vault.new_account()
            s.add(PlatformRotation(candidate=account.address,
                                   encrypted_key=self.vault.encrypt_key(account.private_key)))
        # Keyed by the candidate, not the Idempotency-Key: a retry after a crash
        # makes a new key, and must propose that one (the API layer answers plain
        # retries with the stored response).
        try:
            op = await self.gateway.submit(
                await self.participants.signer(caller.id),
                Call("registry", "propose_platform", fixed=(account.address,),
                     kind="propose platform"),
                op_key=platform_key("propose-platform", account.address))
        except ContractRevert:
            async with self.db.transaction() as s:
                await s.execute(delete(PlatformRotation))
            raise
        return {"candidate": account.address, **_evidence(op)}

    async def accept_platform(self, caller: Caller,
                              idempotency_key: str | None) -> dict[str, Any]:
        """Step two: the proposed key accepts on chain, then signs for the platform
        from here on (same participant, same API keys, new chain account)."""
        self._check_platform(caller)
        rotation = await self._rotation()
        signer = self.vault.decrypt_key(rotation.encrypted_key)
        op = await self.gateway.submit(
            signer, Call("registry", "accept_platform", kind="accept platform"),
            op_key=op_key(caller.id, idempotency_key, "accept-platform")
            or f"accept-platform:{rotation.candidate}")
        previous = caller.address
        async with self.db.transaction() as s:
            row = await s.get(Participant, caller.id)
            assert row is not None  # the caller was authenticated as this participant
            row.address = rotation.candidate
            row.encrypted_key = rotation.encrypted_key
            await s.execute(delete(PlatformRotation))
        self.participants.forget(caller.id)
        await self.indexer.wait_for(op.block_number)
        return {"previous": previous, "platform": rotation.candidate, **_evidence(op)}

    async def cancel_platform_transfer(self, caller: Caller,
                                       idempotency_key: str | None) -> dict[str, Any]:
        """Withdraw a pending proposal; its key is forgotten."""
        self._check_platform(caller)
        rotation = await self._rotation()
        op = await self._submit(
            caller, Call("registry", "cancel_platform_transfer", kind="cancel platform transfer"),
            idempotency_key, "cancel-platform")
        async with self.db.transaction() as s:
            await s.execute(delete(PlatformRotation))
        return {"candidate": rotation.candidate, **_evidence(op)}

    async def pending_platform(self) -> str | None:
        """The proposed next platform account, if a rotation is under way."""
        async with self.db.session() as s:
            return (await s.execute(select(PlatformRotation.candidate))).scalar()

    async def _rotation(self) -> PlatformRotation:
        async with self.db.session() as s:
            row = (await s.execute(select(PlatformRotation))).scalar()
        if row is None:
            raise Conflict("no platform transfer is pending: propose one first",
                           field="candidate")
        return row

    @staticmethod
    def _check_platform(caller: Caller) -> None:
        if caller.role != Role.PLATFORM:
            raise Forbidden("only the platform hands over its role")

    async def _submit(self, caller: Caller, call: Call, idempotency_key: str | None,
                      what: str) -> OpResult:
        signer: LocalAccount = await self.participants.signer(caller.id)
        return await self.gateway.submit(signer, call,
                                         op_key=op_key(caller.id, idempotency_key, what))


def _evidence(op: OpResult) -> dict[str, Any]:
    return {"tx_hash": op.tx_hash, "block_number": op.block_number}
