"""Pull payouts and credit top-ups, shared by every capability that pays out.

Each paying contract (its name is the payout's `source`) keeps a `claimable`
balance per account and pays it with `withdraw()`. The read model lists every
credit and withdrawal; the amounts a participant can withdraw are read from
the contracts themselves, so they are exact at the moment of asking.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from couponchain.chain.gateway import Call
from couponchain.domain.op_keys import op_key
from couponchain.domain.roles import Role
from couponchain.domain.times import iso
from couponchain.errors import Conflict, ContractRevert, Forbidden, InvalidInput
from couponchain.services.participants import Caller
from couponchain.store.models import PayoutBalance, PayoutEntry

#: Contracts that hold pull payouts, in the order they are withdrawn from.
SOURCES: list[str] = ["promotions", "referrals"]
MAX_MINT = 2**128


class PayoutService:
    """Balances, history and withdrawals of one participant; top-ups by the platform."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    def _sources(self) -> list[str]:
        return [s for s in SOURCES if s in self.rt.gateway.contracts]

    async def of(self, caller: Caller, limit: int = 50) -> dict[str, Any]:
        """What the caller may withdraw per source, its token balance and recent entries."""
        address = caller.address
        claimable = {s: await self.rt.view(s, "claimable", address) for s in self._sources()}
        balance = await self.rt.view("token", "balanceOf", address)
        async with self.rt.db.session() as s:
            totals = {b.source: b for b in (await s.execute(select(PayoutBalance).where(
                PayoutBalance.account == address))).scalars()}
            entries = list((await s.execute(select(PayoutEntry).where(
                PayoutEntry.account == address)
                .order_by(PayoutEntry.block_number.desc(), PayoutEntry.log_index.desc(),
                          PayoutEntry.id.desc()).limit(limit))).scalars())
        return {
            "account": address, "token_balance": balance,
            "claimable": claimable, "total_claimable": sum(claimable.values()),
            "earned": {src: int(b.credited) for src, b in totals.items()},
            "withdrawn": {src: int(b.withdrawn) for src, b in totals.items()},
            "entries": [{
                "source": e.source, "part": e.part, "reference": e.reference,
                "amount": int(e.amount), "tx_hash": e.tx_hash, "block_number": e.block_number,
                "at": iso(e.timestamp),
            } for e in entries],
        }

    async def withdraw(self, caller: Caller, idempotency_key: str | None) -> dict[str, Any]:
        """Withdraw everything claimable from every source (one transaction each)."""
        signer = await self.rt.participants.signer(caller.id)
        paid: list[dict[str, Any]] = []
        for source in self._sources():
            if await self.rt.view(source, "claimable", caller.address) == 0:
                continue
            key = op_key(caller.id, idempotency_key, "withdraw", source)
            try:
                op = await self.rt.gateway.submit(
                    signer, Call(source, "withdraw", kind="withdraw payout"), op_key=key)
            except ContractRevert as exc:
                if "nothing to withdraw" in exc.reason and paid:
                    continue  # a concurrent withdrawal took it
                raise
            amount = next(int(e.args["amount"]) for e in await op.events()
                          if e.name == "Withdrawn")
            paid.append({"source": source, "amount": amount, "tx_hash": op.tx_hash,
                         "block_number": op.block_number})
        if not paid:
            raise Conflict("nothing to withdraw: no payout is credited to this account")
        await self.rt.indexer.wait_for(max(p["block_number"] for p in paid))
        return {"withdrawn": paid, "total": sum(p["amount"] for p in paid),
                "token_balance": await self.rt.view("token", "balanceOf", caller.address),
                "tx_hash": paid[-1]["tx_hash"], "block_number": paid[-1]["block_number"]}

    async def top_up(self, caller: Caller, to: str, amount: int,
                     idempotency_key: str | None) -> dict[str, Any]:
        """Create credit tokens for a participant (the platform, e.g. after a payment)."""
        if caller.role != Role.PLATFORM:
            raise Forbidden("only the platform issues credit")
        if not 1 <= amount <= MAX_MINT:
            raise InvalidInput(f"must be 1 to {MAX_MINT}", field="amount")
        (address,) = await self.rt.participants.addresses([to], ["to"])
        key = op_key(caller.id, idempotency_key, "credit")
        op = await self.rt.gateway.submit(
            await self.rt.participants.signer(caller.id),
            Call("token", "mint_batch", item=(address, amount), kind="issue credit"),
            op_key=key)
        return {"to": address, "amount": amount,
                "token_balance": await self.rt.view("token", "balanceOf", address),
                "tx_hash": op.tx_hash, "block_number": op.block_number}

