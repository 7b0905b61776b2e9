"""Self-custody for consumers (issue 23): a consumer whose chain key the server never sees.

A consumer registers an address it holds the key of, proving it with an `OwnKey`
EIP-712 signature (domain/intents.py), either

- by switching to it (`adopt`): a consumer created custodial, which holds nothing
  yet on its custodial account, moves to its own address; the server forgets the
  custodial key (the participant row keeps no key at all), or
- when a merchant or the platform creates it (`register`): the new consumer has
  no custodial key ever.

Either way the platform registers the address as a consumer in the registry
(the registry lets the platform register consumers) and the participant row says
`custody = "own"`, which the pages show. From then on the server cannot sign for
it (`ParticipantService.signer` refuses): its consents and purchases are signed
in its browser (static/device-key.js) or wallet and only relayed here
(services/self_custody_relay.py).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import delete, func, select

from couponchain.chain.gateway import Call
from couponchain.domain import eip712, intents
from couponchain.domain.op_keys import op_key
from couponchain.domain.roles import Role
from couponchain.errors import Conflict, ContractRevert, Forbidden, InvalidInput
from couponchain.services.credentials import API_KEY, new_credential
from couponchain.services.participants import (
    ADDRESS,
    CREATORS,
    CUSTODIAL,
    OWN_KEY,
    ZERO,
    Caller,
)
from couponchain.store.models import (
    CouponRecord,
    Credential,
    Participant,
    PayoutBalance,
    PrizeAward,
    PromotionCoupon,
    ReferralHolding,
)

#: What a custodial account may not hold when it switches: anything the new
#: address could not act on (the custodial key signs for it, and is forgotten).
_HOLDINGS = (
    (CouponRecord, CouponRecord.owner, "edition coupons"),
    (PromotionCoupon, PromotionCoupon.holder, "promotion coupons"),
    (PrizeAward, PrizeAward.consumer, "prize awards"),
    (ReferralHolding, ReferralHolding.account, "product units"),
)


class SelfCustodyService:
    """Registers consumers' own addresses; stateless (built per request from the runtime)."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    def ownership_message(self, account: str, participant: str, expiry: int) -> dict[str, Any]:
        """The `OwnKey` typed data the holder of `account` signs (see domain/intents.py)."""
        return intents.own_key_message(account, participant, expiry, self.rt.chain_id)

    def check_proof(self, account: str, participant: str, expiry: int, signature: bytes) -> str:
        """The checksummed `account`, once its holder's `OwnKey` signature checks out."""
        if not ADDRESS.match(account) or int(account, 16) == 0:
            raise InvalidInput("must be a non-zero chain address (0x and 40 hex digits)",
                               field="address")
        now = int(time.time())
        if not now <= expiry <= now + intents.MAX_PROOF_LIFETIME:
            raise InvalidInput(f"must lie between now and {intents.MAX_PROOF_LIFETIME} s ahead "
                               "(sign a fresh proof)", field="expiry")
        signer = eip712.recover_typed(self.ownership_message(account, participant, expiry),
                                      signature)
        if signer.lower() != account.lower():
            raise InvalidInput("the proof is not signed by the key of this address",
                               field="signature")
        return to_checksum_address(account)

    async def adopt(self, caller: Caller, account: str, expiry: int,
                    signature: bytes) -> dict[str, Any]:
        """Move a consumer from its custodial key to its own `account`.

        Refused unless the caller is a custodial consumer whose custodial account
        holds nothing (coupons, awards, units, payouts or credit would stay where
        only the forgotten key could move them).
        """
        if caller.role != Role.CONSUMER:
            raise Forbidden("only a consumer may hold its own key (for now)", field="address")
        address = self.check_proof(account, caller.id, expiry, signature)
        row = await self.rt.participants.get(caller.id)
        if row.custody == OWN_KEY:
            if row.address == address:  # a retry of a switch that went through
                return self._public(row)
            raise Conflict("this consumer already signs with its own key", field="address")
        await self._check_free(address)
        await self._check_empty(row.address)
        op = await self._register_on_chain(address, f"own-key:{caller.id}:{address}")
        async with self.rt.db.transaction() as s:
            stored = await s.get(Participant, caller.id)
            stored.address, stored.custody, stored.encrypted_key = address, OWN_KEY, b""
        self.rt.participants.forget(caller.id)
        row = await self.rt.participants.get(caller.id)
        return {**self._public(row), "previous_address": caller.address,
                "tx_hash": op.tx_hash, "block_number": op.block_number}

    async def register(self, caller: Caller, name: str, account: str, expiry: int,
                       signature: bytes, idempotency_key: str | None) -> dict[str, Any]:
        """Create a consumer that signs with its own `account` (a platform or a merchant
        creates it, as custodial consumers); returns it with its first API key."""
        if caller.role not in CREATORS[Role.CONSUMER]:
            raise Forbidden(f"a {caller.role.label} may not create a consumer")
        address = self.check_proof(account, "", expiry, signature)
        creation_key = op_key(caller.id, idempotency_key)
        async with self.rt.db.transaction() as s:
            row = None
            if creation_key:
                row = (await s.execute(select(Participant).where(
                    Participant.creation_key == creation_key))).scalar()
            if row is None:
                await self._check_free(address)
                row = Participant(id=uuid.uuid4().hex, role=int(Role.CONSUMER), name=name,
                                  address=address, merchant_id=None, encrypted_key=b"",
                                  created_by=caller.id, creation_key=creation_key,
                                  custody=OWN_KEY)
                s.add(row)
                await s.flush()
                key, api_key = new_credential(row.id, API_KEY, "initial", created_by=caller.id)
                s.add(key)
            else:
                api_key = None
        if api_key is None:
            api_key = await self.rt.credentials.rekey(row.id, "initial", created_by=caller.id)
        try:
            op = await self._register_on_chain(row.address, f"register:{row.id}")
        except ContractRevert:  # e.g. the address is registered on chain already
            async with self.rt.db.transaction() as s:
                await s.execute(delete(Credential).where(Credential.participant_id == row.id))
                await s.execute(delete(Participant).where(Participant.id == row.id))
            raise
        return {**self._public(row), "api_key": api_key, "tx_hash": op.tx_hash,
                "block_number": op.block_number}

    # -- helpers -----------------------------------------------------------------

    async def _register_on_chain(self, address: str, op_key: str) -> Any:
        # The platform registers the address: a consumer's own key has no gas
        # and no registry role, and the registry lets the platform add consumers.
        platform = await self.rt.participants.signer(self.rt.platform.caller.id)
        op = await self.rt.gateway.submit(
            platform, Call("registry", "register_batch",
                           item=(address, int(Role.CONSUMER), ZERO),
                           kind="register consumer (own key)"),
            op_key=op_key)
        await self.rt.indexer.wait_for(op.block_number)
        return op

    async def _check_free(self, address: str) -> None:
        async with self.rt.db.session() as s:
            taken = (await s.execute(select(Participant.id).where(
                Participant.address == address))).scalar()
        if taken is not None:
            raise Conflict("this address is already a participant's", field="address")

    async def _check_empty(self, address: str) -> None:
        """Refuse while the custodial account holds anything the switch would strand."""
        async with self.rt.db.session() as s:
            for model, column, what in _HOLDINGS:
                count = (await s.execute(select(func.count()).select_from(model)
                                         .where(column == address))).scalar_one()
                if count:
                    raise Conflict(f"your custodial account holds {count} {what}: a switch "
                                   "to your own key is possible only before you hold anything",
                                   field="address")
            owed = (await s.execute(select(PayoutBalance).where(
                PayoutBalance.account == address))).scalars().all()
        if any(int(b.credited) > int(b.withdrawn) for b in owed) or \
                await self.rt.view("token", "balanceOf", address):
            raise Conflict("your custodial account holds credit or payouts: withdraw or "
                           "spend them first, then switch to your own key", field="address")

    @staticmethod
    def _public(row: Participant) -> dict[str, Any]:
        return {"id": row.id, "role": Role(row.role).label, "name": row.name,
                "address": row.address, "merchant_id": row.merchant_id,
                "custody": row.custody or CUSTODIAL}
