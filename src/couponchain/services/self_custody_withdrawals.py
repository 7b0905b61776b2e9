"""Payout withdrawals a self-custodied consumer signs (issue 23): `promotions.withdraw_for`.

`withdraw()` pays its caller, and a consumer that holds its own key holds no gas
to call it. So, as for its transfers (services/self_custody_transfers.py), the
server hands out the typed data, `Withdraw(account, deadline)` in the promotions
contract's domain, the key signs it where it lives (static/device-key.js), and
the server checks the signature as the chain will and relays it from the
platform's account. The contract pays `account` only: a relayer (or a platform
key in the wrong hands) chooses the moment, never the payee or the amount.

Only promotion payouts: referrals.vy has 88 bytes of code left under EIP-170,
too few for a signed entry point, so an own-key account's referral rebates wait
for a referrals release with room (`withdraw` there still refuses it, field
`custody`).
"""

from __future__ import annotations

import time
from typing import Any

from couponchain.chain.gateway import Call
from couponchain.domain import eip712, intents
from couponchain.domain.op_keys import op_key as make_op_key
from couponchain.domain.roles import Role
from couponchain.errors import Conflict, ContractRevert, Forbidden, InvalidInput
from couponchain.services.participants import OWN_KEY, Caller
from couponchain.services.self_custody_relay import INTENT_LIFETIME, json_safe

#: The contract that pays relayed withdrawals (see the module docstring).
SOURCE = "promotions"
#: Contract reasons and the request field each one is about.
WITHDRAW_FIELDS = {
    "withdrawal not signed by the account": "signature", "withdrawal expired": "deadline",
    "withdrawal lifetime": "deadline",
}


class SelfCustodyWithdrawals:
    """Prepares, checks and relays the payout withdrawals a self-custodied consumer signs."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    async def _own_key(self, caller: Caller) -> None:
        row = await self.rt.participants.get(caller.id)
        if caller.role != Role.CONSUMER or row.custody != OWN_KEY:
            raise Forbidden("this route is for consumers who sign with their own key; a "
                            "custodial account withdraws with POST /v1/payouts/me/withdraw",
                            field="custody")

    async def request(self, caller: Caller) -> dict[str, Any]:
        """The `Withdraw` the consumer signs (ten minutes to sign and relay it)."""
        await self._own_key(caller)
        await self._owed(caller)
        return {"typed_data": json_safe(self._message(
            caller.address, int(time.time()) + INTENT_LIFETIME))}

    async def signed(self, caller: Caller, *, deadline: int, signature: bytes,
                     idempotency_key: str | None) -> dict[str, Any]:
        """Relay a withdrawal the consumer signed; the same answer as a custodial one."""
        await self._own_key(caller)
        key = make_op_key(caller.id, idempotency_key, "withdraw-signed", SOURCE)
        op = await self.rt.gateway.outcome(key) if key else None
        if op is None:
            now = int(time.time())
            if not now < deadline <= now + intents.MAX_INTENT_LIFETIME:
                raise InvalidInput(f"must lie between now and {intents.MAX_INTENT_LIFETIME} s "
                                   "ahead: sign a fresh one", field="deadline")
            if eip712.recover_typed(self._message(caller.address, deadline), signature) \
                    != caller.address:
                raise InvalidInput("the withdrawal is not signed by your key for this "
                                   "deadline", field="signature")
            await self._owed(caller)
            try:
                op = await self.rt.gateway.submit(
                    await self.rt.participants.signer(self.rt.platform.caller.id),
                    Call(SOURCE, "withdraw_for", fixed=(caller.address, deadline, signature),
                         kind="relay a signed withdrawal"),
                    op_key=key)
            except ContractRevert as exc:
                if exc.field is None:
                    exc.field = next((f for r, f in WITHDRAW_FIELDS.items() if r in exc.reason),
                                     None)
                raise
        amount = next(int(e.args["amount"]) for e in await op.events() if e.name == "Withdrawn")
        await self.rt.indexer.wait_for(op.block_number)
        paid = [{"source": SOURCE, "amount": amount, "tx_hash": op.tx_hash,
                 "block_number": op.block_number}]
        return {"withdrawn": paid, "total": amount,
                "token_balance": await self.rt.view("token", "balanceOf", caller.address),
                "tx_hash": op.tx_hash, "block_number": op.block_number}

    async def _owed(self, caller: Caller) -> None:
        if await self.rt.view(SOURCE, "claimable", caller.address) == 0:
            raise Conflict("nothing to withdraw: no promotion payout is credited to this "
                           "account")

    def _message(self, account: str, deadline: int) -> dict[str, Any]:
        return intents.withdraw_message(account, deadline, self.rt.chain_id,
                                        self.rt.gateway.contracts[SOURCE][0])
