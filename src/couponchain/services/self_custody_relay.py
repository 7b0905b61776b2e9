"""What a self-custodied consumer signs, handed out and relayed (issue 23).

The server prepares the EIP-712 message (the terms it would check anyway: a
fresh nonce, an expiry within the contract's limit), the consumer's key signs it
where it lives (static/device-key.js, or a wallet), and the server checks the
signature the way the contract will before it relays:

- a write-off consent becomes the same `CCP2` code a custodial holder shows; the
  merchant's till submits it (`POST /v1/write-offs`), and the gateway sends it in
  its group-committed `write_off_batch` calls. The contract checks the holder's
  signature, the merchant, the maximum amount and the expiry.
- a purchase intent and its EIP-2612 permit go to
  `referrals.purchase_signed_batch`, sent by the platform's account (a relayer:
  the consumer's key has no gas) in group-committed batches; the contract checks
  the buyer's signature, the nonce, the expiry and the price bound, and takes
  the payment through the permit's exact allowance.

Nothing here ever receives a private key.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from couponchain.chain.gateway import Call, OpResult
from couponchain.domain import consent as consent_rules
from couponchain.domain import eip712, intents, op_keys
from couponchain.domain.roles import Role
from couponchain.errors import ContractRevert, Forbidden, InvalidInput
from couponchain.services import promotion_views
from couponchain.services.participants import OWN_KEY, Caller

#: A purchase intent's default lifetime: long enough to sign and relay.
INTENT_LIFETIME = 600
#: Contract reasons of `purchase_signed_batch` and the request field each is about.
INTENT_FIELDS = {
    "intent expired": "expiry", "intent nonce already used": "nonce",
    "intent not signed by the buyer": "signature", "price above the buyer's maximum":
    "max_price", "batch changed since the buyer saw it": "batch",
    "erc20: invalid signature": "permit_signature", "erc20: expired deadline": "expiry",
}


def json_safe(typed: dict[str, Any]) -> dict[str, Any]:
    """Typed data for a browser: integers as decimal strings (a JS number holds 53 bits)."""
    def safe(values: dict[str, Any]) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v
                for k, v in values.items()}
    return {**typed, "domain": safe(typed["domain"]), "message": safe(typed["message"])}


def _own_key_only(caller: Caller, row_custody: str) -> None:
    if caller.role != Role.CONSUMER or row_custody != OWN_KEY:
        raise Forbidden("this route is for consumers who sign with their own key; a custodial "
                        "account asks the server to sign instead", field="custody")


class SelfCustodyRelay:
    """Prepares, checks and relays self-custodied consumers' signed actions."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    async def _custody(self, caller: Caller) -> None:
        _own_key_only(caller, (await self.rt.participants.get(caller.id)).custody)

    # -- write-off consents --------------------------------------------------------

    async def consent_request(self, caller: Caller, coupon_id: int, lifetime: int | None, *,
                              merchant: str, max_order_amount: int) -> dict[str, Any]:
        """The consent typed data the holder signs (same terms as a custodial consent)."""
        await self._custody(caller)
        consent, merchant_name = await self.rt.promotions.consent_terms(
            caller, coupon_id, lifetime, merchant=merchant, max_order_amount=max_order_amount)
        typed = consent_rules.typed_data(consent, self.rt.chain_id, self._promotions)
        return {"typed_data": json_safe(typed), "merchant_name": merchant_name}

    async def signed_consent(self, caller: Caller, coupon_id: int, *, nonce: int, expiry: int,
                             merchant: str, max_order_amount: int,
                             signature: bytes) -> dict[str, Any]:
        """The code of a consent the holder signed, once it checks out as the contract
        will check it (holder's signature, expiry within the round's limit)."""
        await self._custody(caller)
        row = await self.rt.promotions._active_coupon(coupon_id)
        if row.holder != caller.address:
            raise Forbidden("only the coupon's holder may consent to its write-off", field="id")
        round_row = await self.rt.promotions._round(row.round_id)
        consent = consent_rules.Consent(coupon=coupon_id, nonce=nonce, expiry=expiry,
                                        merchant=merchant, max_amount=max_order_amount)
        consent_rules.check_consent(consent, signature, chain_id=self.rt.chain_id,
                                    contract=self._promotions, holder=caller.address,
                                    now=int(time.time()),
                                    max_lifetime=round_row.max_consent_lifetime)
        if await self.rt.view("promotions", "nonce_used", caller.address, nonce):
            raise InvalidInput("this consent's nonce was used already: sign a fresh one",
                               field="nonce")
        merchant_name = (None if consent.any_merchant
                         else await promotion_views.name_of(self.rt.db, consent.merchant))
        answer: dict[str, Any] = self.rt.promotions.consent_answer(consent, signature,
                                                                  merchant_name)
        return answer

    # -- purchases through a promotion link ------------------------------------------

    async def purchase_request(self, caller: Caller, product_id: int, quantity: int,
                               link_text: str | None, *, seen_batch: int,
                               max_price: int) -> dict[str, Any]:
        """The purchase intent and its permit for the buyer to sign, after the checks a
        custodial purchase gets (batch, price bound, units left, link, balance)."""
        await self._custody(caller)
        promoter, _expiry, _signature = await self.rt.referrals.purchase_terms(
            caller, product_id, quantity, link_text, seen_batch=seen_batch, max_price=max_price)
        intent = intents.PurchaseIntent(
            buyer=caller.address, product=product_id, quantity=quantity, batch=seen_batch,
            max_price=max_price, promoter=promoter, nonce=secrets.randbits(64),
            expiry=int(time.time()) + INTENT_LIFETIME)
        return {"intent": json_safe(self._intent_message(intent)),
                "permit": json_safe(await self._permit_message(intent))}

    async def signed_purchase(self, caller: Caller, product_id: int, quantity: int,
                              link_text: str | None, *, seen_batch: int, max_price: int,
                              nonce: int, expiry: int, signature: bytes,
                              permit_signature: bytes,
                              idempotency_key: str | None) -> dict[str, Any]:
        """Relay a purchase the buyer signed (intent and permit) in the gateway's
        group-committed `purchase_signed_batch`; the same answer as a purchase."""
        await self._custody(caller)
        op_key = op_keys.op_key(caller.id, idempotency_key, "referrals", "signed-purchase")
        if op_key is not None:  # a retry whose answer was lost: report that purchase
            applied = await self.rt.gateway.outcome(op_key)
            if applied is not None:
                return await self._purchased(caller, product_id, applied)
        promoter, link_expiry, link_signature = await self.rt.referrals.purchase_terms(
            caller, product_id, quantity, link_text, seen_batch=seen_batch, max_price=max_price)
        intent = intents.PurchaseIntent(
            buyer=caller.address, product=product_id, quantity=quantity, batch=seen_batch,
            max_price=max_price, promoter=promoter, nonce=nonce, expiry=expiry)
        now = int(time.time())
        if not now < expiry <= now + intents.MAX_INTENT_LIFETIME:
            raise InvalidInput(f"must lie between now and {intents.MAX_INTENT_LIFETIME} s "
                               "ahead: sign a fresh intent", field="expiry")
        if eip712.recover_typed(self._intent_message(intent), signature) != intent.buyer:
            raise InvalidInput("the intent is not signed by the buyer's key", field="signature")
        if await self.rt.view("referrals", "intent_nonce_used", intent.buyer, nonce):
            raise InvalidInput("this intent's nonce was used already: sign a fresh one",
                               field="nonce")
        permit = eip712.recover_typed(await self._permit_message(intent), permit_signature)
        if permit != intent.buyer:
            raise InvalidInput("the permit is not signed by the buyer's key for this "
                               "purchase's amount and the buyer's token nonce",
                               field="permit_signature")
        try:
            # The platform's account relays: the buyer's own key holds no gas.
            op = await self.rt.gateway.submit(
                await self.rt.participants.signer(self.rt.platform.caller.id),
                Call("referrals", "purchase_signed_batch", item=(
                    intent.buyer, product_id, quantity, seen_batch, max_price, promoter,
                    link_expiry, link_signature, nonce, expiry, signature, permit_signature),
                    kind="relay a signed purchase"),
                op_key=op_key)
        except ContractRevert as exc:
            if exc.field is None:
                exc.field = next((f for reason, f in INTENT_FIELDS.items()
                                  if reason in exc.reason), None)
            raise
        return await self._purchased(caller, product_id, op)

    async def _purchased(self, caller: Caller, product_id: int, op: OpResult) -> dict[str, Any]:
        answer: dict[str, Any] = await self.rt.referrals.purchased(caller, product_id, op)
        return answer

    def _intent_message(self, intent: intents.PurchaseIntent) -> dict[str, Any]:
        return intents.purchase_message(intent, self.rt.chain_id, self.rt.referrals.address)

    async def _permit_message(self, intent: intents.PurchaseIntent) -> dict[str, Any]:
        token_nonce = await self.rt.view("token", "nonces", intent.buyer)
        return intents.permit_message(intent, token_nonce, self.rt.chain_id,
                                      self.rt.gateway.contracts["token"][0],
                                      self.rt.referrals.address)

    @property
    def _promotions(self) -> str:
        return self.rt.gateway.contracts["promotions"][0]  # type: ignore[no-any-return]

