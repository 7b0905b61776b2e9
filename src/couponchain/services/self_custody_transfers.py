"""Transfers a self-custodied consumer signs: credit (CCC) and promotion coupons (issue 23).

The server cannot send a transaction for a consumer that holds its own key
(`ParticipantService.signer` refuses), and that key holds no gas. So, as for its
purchases (services/self_custody_relay.py), the server hands out the typed data,
the key signs it where it lives (static/device-key.js, or a wallet), and the
server checks the signature as the chain will, then relays it from the
platform's account:

- **Credit.** An EIP-3009 `TransferWithAuthorization(from, to, value,
  validAfter, validBefore, nonce)` of the settlement token: the recipient and
  the exact amount, a random 32-byte nonce, valid from now until a deadline at
  most an hour ahead. The platform relays `token.transferWithAuthorization`
  from its own account, which checks that the owner signed every term: a
  platform key in the wrong hands can relay it or not, never send it elsewhere
  or for more. (Before, an EIP-2612 permit to the relaying account bounded the
  amount only, and `transferFrom` chose the recipient.)
- **Promotion coupons.** A `CouponTransfer(coupon, receiver, nonce, expiry)`
  in the promotions contract's domain, relayed with `promotions.transfer_signed`,
  which checks that the current holder signed every term, the expiry and a
  one-time nonce: nobody can redirect or replay it.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from couponchain.chain.gateway import Call, OpResult
from couponchain.domain import eip712, intents, op_keys
from couponchain.domain.roles import Role
from couponchain.errors import ContractRevert, Forbidden, InvalidInput
from couponchain.services import promotion_views
from couponchain.services.participants import OWN_KEY, ZERO, Caller
from couponchain.services.self_custody_relay import INTENT_LIFETIME, json_safe

#: Contract reasons and the request field each one is about.
CREDIT_FIELDS = {
    "token: invalid signature": "signature", "token: authorization is expired": "deadline",
    "token: authorization is used or canceled": "nonce",
    "erc20: transfer amount exceeds balance": "amount",
    "erc20: transfer to the zero address": "to",
}
COUPON_FIELDS = {
    "transfer not signed by the holder": "signature", "transfer expired": "expiry",
    "transfer lifetime": "expiry", "transfer nonce already used": "nonce",
    "transfer to self": "to", "recipient is not a consumer": "to",
    "transfer limit reached": "id", "coupon not active": "id",
}


def _field_of(exc: ContractRevert, fields: dict[str, str]) -> ContractRevert:
    if exc.field is None:
        exc.field = next((f for reason, f in fields.items() if reason in exc.reason), None)
    return exc


def _check_lifetime(expiry: int, field: str) -> None:
    now = int(time.time())
    if not now < expiry <= now + intents.MAX_INTENT_LIFETIME:
        raise InvalidInput(f"must lie between now and {intents.MAX_INTENT_LIFETIME} s ahead: "
                           "sign a fresh one", field=field)


class SelfCustodyTransfers:
    """Prepares, checks and relays the transfers a self-custodied consumer signs."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    async def _own_key(self, caller: Caller) -> None:
        row = await self.rt.participants.get(caller.id)
        if caller.role != Role.CONSUMER or row.custody != OWN_KEY:
            raise Forbidden("this route is for consumers who sign with their own key",
                            field="custody")

    # -- credit ------------------------------------------------------------------

    async def credit_request(self, caller: Caller, to: str, amount: int) -> dict[str, Any]:
        """The `TransferWithAuthorization` the owner signs to send `amount` of its credit
        to `to` (fresh random nonce, ten minutes to sign and relay it)."""
        await self._own_key(caller)
        recipient = await self._credit_terms(caller, to, amount)
        message = self._authorization(caller.address, recipient, amount,
                                      int(time.time()) + INTENT_LIFETIME,
                                      "0x" + secrets.token_hex(32))
        return {"typed_data": json_safe(message), "to": recipient}

    async def signed_credit(self, caller: Caller, to: str, amount: int, *, deadline: int,
                            nonce: str, signature: bytes,
                            idempotency_key: str | None) -> dict[str, Any]:
        """Relay a credit transfer the owner signed (its EIP-3009 authorization) with
        `token.transferWithAuthorization`, from the platform's account."""
        await self._own_key(caller)
        op_key = op_keys.op_key(caller.id, idempotency_key, "token", "credit-authorization")
        if op_key is not None:  # a retry whose answer was lost: report that transfer
            try:
                moved = await self.rt.gateway.outcome(op_key)
            except ContractRevert as exc:  # that attempt was refused: say why, as then
                raise _field_of(exc, CREDIT_FIELDS) from None
            if moved is not None:
                return await self._credit_answer(caller, to, amount, moved)
        recipient = await self._credit_terms(caller, to, amount)
        _check_lifetime(deadline, "deadline")
        message = self._authorization(caller.address, recipient, amount, deadline, nonce)
        if eip712.recover_typed(message, signature) != caller.address:
            raise InvalidInput("the authorization is not signed by your key for this "
                               "recipient, amount, deadline and nonce", field="signature")
        if await self.rt.view("token", "authorizationState", caller.address,
                              bytes.fromhex(nonce[2:])):
            raise InvalidInput("this authorization was used already: sign a fresh one",
                               field="nonce")
        v, r, s = eip712.split(signature)
        try:
            # The platform's account relays (the owner's key holds no gas); the
            # signature fixes the recipient and amount, so it cannot redirect them.
            moved = await self.rt.gateway.submit(
                await self.rt.participants.signer(self.rt.platform.caller.id),
                Call("token", "transferWithAuthorization",
                     fixed=(caller.address, recipient, amount, 0, deadline,
                            bytes.fromhex(nonce[2:]), v, r, s),
                     kind="relay a credit authorization"),
                op_key=op_key)
        except ContractRevert as exc:
            raise _field_of(exc, CREDIT_FIELDS) from None
        return await self._credit_answer(caller, recipient, amount, moved)

    async def _credit_terms(self, caller: Caller, to: str, amount: int) -> str:
        (recipient,) = await self.rt.participants.addresses([to], ["to"])
        if recipient in (caller.address, ZERO):
            raise InvalidInput("must be another account (a participant or a chain address)",
                               field="to")
        balance = await self.rt.view("token", "balanceOf", caller.address)
        if amount > balance:
            raise InvalidInput(f"exceeds your credit balance ({balance} units)", field="amount")
        return recipient  # type: ignore[no-any-return]

    def _authorization(self, owner: str, to: str, amount: int, deadline: int,
                       nonce: str) -> dict[str, Any]:
        # validAfter 0: valid as soon as signed (the EIP's strict `>` holds for any block).
        return intents.credit_authorization_message(
            owner, to, amount, 0, deadline, nonce, self.rt.chain_id,
            self.rt.gateway.contracts["token"][0])

    async def _credit_answer(self, caller: Caller, to: str, amount: int,
                             moved: OpResult) -> dict[str, Any]:
        (recipient,) = await self.rt.participants.addresses([to], ["to"])
        return {"from": caller.address, "to": recipient, "amount": amount,
                "token_balance": await self.rt.view("token", "balanceOf", caller.address),
                "tx_hash": moved.tx_hash, "block_number": moved.block_number}

    # -- promotion coupons --------------------------------------------------------

    async def coupon_request(self, caller: Caller, coupon_id: int, to: str) -> dict[str, Any]:
        """The `CouponTransfer` the holder signs (fresh nonce, ten minutes to sign it)."""
        await self._own_key(caller)
        receiver = await self._coupon_terms(caller, coupon_id, to)
        transfer = intents.CouponTransfer(coupon=coupon_id, receiver=receiver,
                                          nonce=secrets.randbits(64),
                                          expiry=int(time.time()) + INTENT_LIFETIME)
        return {"typed_data": json_safe(self._coupon_message(transfer))}

    async def signed_coupon(self, caller: Caller, coupon_id: int, to: str, *, nonce: int,
                            expiry: int, signature: bytes,
                            idempotency_key: str | None) -> dict[str, Any]:
        """Relay a transfer the holder signed with `promotions.transfer_signed`; the same
        answer as a custodial transfer."""
        await self._own_key(caller)
        op_key = op_keys.op_key(caller.id, idempotency_key, "promotions", "signed-transfer")
        op = await self.rt.gateway.outcome(op_key) if op_key else None
        if op is None:
            receiver = await self._coupon_terms(caller, coupon_id, to)
            transfer = intents.CouponTransfer(coupon=coupon_id, receiver=receiver, nonce=nonce,
                                              expiry=expiry)
            _check_lifetime(expiry, "expiry")
            if eip712.recover_typed(self._coupon_message(transfer), signature) \
                    != caller.address:
                raise InvalidInput("the transfer is not signed by the holder's key for this "
                                   "coupon, recipient, nonce and expiry", field="signature")
            if await self.rt.view("promotions", "transfer_nonce_used", caller.address, nonce):
                raise InvalidInput("this transfer's nonce was used already: sign a fresh one",
                                   field="nonce")
            try:
                # The platform's account relays: the holder's own key holds no gas.
                op = await self.rt.gateway.submit(
                    await self.rt.participants.signer(self.rt.platform.caller.id),
                    Call("promotions", "transfer_signed",
                         fixed=(coupon_id, receiver, nonce, expiry, signature),
                         kind="relay a signed coupon transfer"),
                    op_key=op_key)
            except ContractRevert as exc:
                raise _field_of(exc, COUPON_FIELDS) from None
        await self.rt.indexer.wait_for(op.block_number)
        return {"coupon": await promotion_views.coupon_detail(self.rt.db, coupon_id),
                "tx_hash": op.tx_hash, "block_number": op.block_number}

    async def _coupon_terms(self, caller: Caller, coupon_id: int, to: str) -> str:
        row = await self.rt.promotions._active_coupon(coupon_id)
        if row.holder != caller.address:
            raise Forbidden("only the coupon's holder may transfer it", field="id")
        (receiver,) = await self.rt.participants.addresses([to], ["to"], role=Role.CONSUMER)
        if receiver == caller.address:
            raise InvalidInput("must be another consumer", field="to")
        return receiver  # type: ignore[no-any-return]

    def _coupon_message(self, transfer: intents.CouponTransfer) -> dict[str, Any]:
        return intents.coupon_transfer_message(transfer, self.rt.chain_id,
                                               self.rt.gateway.contracts["promotions"][0])
