"""Merchants' spending caps for promotion incentives (issue 23, "least authority").

A merchant pays each write-off's incentive out of its approval of the
promotions contract in the settlement token. That approval used to be
2**256 - 1, given by the platform on the merchant's first write-off: the
contract could then take the merchant's whole balance. The merchant now sets
the approval itself, as a cap (`set_cap`); every incentive uses it up, and a
write-off whose incentive is more than what is left is refused on chain with
"promotions: incentive cap exceeded". The chain keeps what is left (the
token's `allowance`); the row in `incentive_caps` keeps the figure the
merchant chose, so the console shows both.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from couponchain.chain.gateway import Call
from couponchain.domain.op_keys import op_key
from couponchain.domain.roles import Role
from couponchain.errors import Forbidden, InvalidInput, NotFound
from couponchain.services.participants import Caller
from couponchain.store.models import IncentiveCap, Participant, utcnow

#: The largest cap a merchant may set: any finite figure, never the "unlimited"
#: 2**256 - 1 that the token treats as an approval no spending reduces.
MAX_CAP = 2**128 - 1


class IncentiveCaps:
    """Reads and sets a merchant's cap; writes are signed with the merchant's key."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    @property
    def _promotions(self) -> str:
        return self.rt.gateway.contracts["promotions"][0]  # type: ignore[no-any-return]

    async def left(self, merchant: str) -> int:
        """What is left of a merchant's cap, from the chain (its token approval)."""
        return int(await self.rt.view("token", "allowance", merchant, self._promotions))

    async def get(self, merchant_id: str) -> dict[str, Any]:
        """The merchant's cap as it set it, what is left of it, and when it was set."""
        merchant = await self._merchant(merchant_id)
        async with self.rt.db.session() as s:
            row = await s.get(IncentiveCap, merchant.address)
        left = await self.left(merchant.address)
        cap = None if row is None else int(row.cap)
        return {"merchant_id": merchant.id, "merchant": merchant.address, "cap": cap,
                "left": left, "used": None if cap is None else max(cap - left, 0),
                "set_at": None if row is None else row.set_at.isoformat() + "Z",
                "tx_hash": None if row is None else row.tx_hash}

    async def set_cap(self, caller: Caller, merchant_id: str, cap: int,
                      idempotency_key: str | None) -> dict[str, Any]:
        """Approve the promotions contract for `cap` (the merchant itself only).

        The approval replaces what was left: setting 100 leaves 100 whatever
        was spent before. 0 stops every write-off that charges an incentive.
        """
        merchant = await self._merchant(merchant_id)
        if caller.role != Role.MERCHANT or caller.id != merchant.id:
            raise Forbidden("only the merchant itself sets its incentive cap")
        if not 0 <= cap <= MAX_CAP:
            raise InvalidInput(f"must be 0 to {MAX_CAP} (a cap, never unlimited)", field="cap")
        key = op_key(caller.id, idempotency_key, "incentive-cap")
        op = await self.rt.gateway.submit(
            await self.rt.participants.signer(caller.id),
            Call("token", "approve", fixed=(self._promotions, cap), kind="set incentive cap"),
            op_key=key)
        async with self.rt.db.transaction() as s:
            row = await s.get(IncentiveCap, merchant.address)
            if row is None:
                s.add(IncentiveCap(merchant=merchant.address, cap=str(cap), tx_hash=op.tx_hash))
            else:
                row.cap, row.tx_hash, row.set_at = str(cap), op.tx_hash, utcnow()
        return {**await self.get(merchant.id), "block_number": op.block_number}

    async def _merchant(self, merchant_id: str) -> Participant:
        async with self.rt.db.session() as s:
            row = (await s.execute(select(Participant).where(
                Participant.id == merchant_id))).scalar_one_or_none()
        if row is None or row.role != Role.MERCHANT:
            raise NotFound(f"merchant {merchant_id} does not exist", field="merchant_id")
        return row  # type: ignore[no-any-return]
