"""Self-custody (issue 23): consumers who hold their own key, and what they sign.

Registering: `GET .../own-key/message` gives the `OwnKey` typed data to sign;
`PUT /v1/participants/me/own-key` switches the calling consumer to its own
address; `POST /v1/consumers/own-key` creates a consumer with one (platform or
merchant). Signing: consent and purchase typed data are handed out, signed by
the consumer's key wherever it lives, and relayed (routes below, service
`services/self_custody_relay.py`). No route takes a private key.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import Input
from couponchain.api.routes.promotions import ConsentOut, CouponId
from couponchain.api.routes.referrals import LinkText, ProductId, PurchaseOut
from couponchain.domain import intents
from couponchain.domain.rebates import MAX_PRICE
from couponchain.domain.splits import MAX_ORDER_AMOUNT
from couponchain.services.referrals import MAX_BATCH_UNITS
from couponchain.services.self_custody import SelfCustodyService
from couponchain.services.self_custody_relay import SelfCustodyRelay

router = bounded_router(prefix="/v1", tags=["self-custody"])

AddressIn = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$",
                                 description="a chain address (0x and 40 hex digits)")]
SignatureIn = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{130}$",
                                   description="a 65-byte (r, s, v) signature, 0x hex")]
Expiry = Annotated[int, Field(ge=0, le=2**63 - 1, description="epoch seconds")]


class OwnKeyProof(Input):
    address: AddressIn
    expiry: Expiry = Field(description="the proof's expiry, as signed (at most 600 s ahead)")
    signature: SignatureIn = Field(description="the key's signature of the OwnKey typed data")


class OwnKeyConsumerCreate(OwnKeyProof):
    name: str = Field(min_length=1, max_length=200, description="display name")


class TypedData(BaseModel):
    typed_data: dict[str, Any] = Field(description="EIP-712 message (eth_signTypedData_v4 "
                                       "shape): sign it with the key, send the signature back")


class OwnKeyParticipant(BaseModel):
    id: str
    role: str
    name: str
    address: str
    merchant_id: str | None
    custody: Literal["custodial", "own"]
    previous_address: str | None = None
    api_key: str | None = Field(default=None, description="shown once (a new consumer)")
    tx_hash: str
    block_number: int


def signature_bytes(text: str) -> bytes:
    """A validated 0x-hex signature as bytes."""
    return bytes.fromhex(text[2:])


def _proof_message(runtime: Any, address: str, participant: str) -> dict[str, Any]:
    expiry = int(time.time()) + intents.MAX_PROOF_LIFETIME // 2
    return {"typed_data": SelfCustodyService(runtime).ownership_message(address, participant,
                                                                         expiry)}


@router.get("/participants/me/own-key/message", response_model=TypedData,
            summary="The proof a consumer signs with its own key to switch to it")
async def own_key_message(runtime: RuntimeDep, caller: CallerDep,
                          address: Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")]
                          ) -> dict[str, Any]:
    return _proof_message(runtime, address, caller.id)


@router.get("/own-key/message", response_model=TypedData,
            summary="The proof a new consumer signs with its own key (before it is created)")
async def new_own_key_message(runtime: RuntimeDep,
                              address: Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")]
                              ) -> dict[str, Any]:
    return _proof_message(runtime, address, "")


@router.put("/participants/me/own-key", response_model=OwnKeyParticipant,
            summary="Switch to one's own key (a consumer holding nothing yet)")
async def adopt_own_key(body: OwnKeyProof, runtime: RuntimeDep,
                        caller: CallerDep) -> dict[str, Any]:
    return await SelfCustodyService(runtime).adopt(caller, body.address, body.expiry,
                                                   signature_bytes(body.signature))


@router.post("/consumers/own-key", status_code=201, response_model=OwnKeyParticipant,
             summary="Create a consumer that signs with its own key (platform or merchant)")
async def create_own_key_consumer(body: OwnKeyConsumerCreate, request: Request,
                                  runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                                  key: IdempotencyKey = None) -> JSONResponse:
    async def handler() -> dict[str, Any]:
        return await SelfCustodyService(runtime).register(
            caller, body.name, body.address, body.expiry, signature_bytes(body.signature), key)

    return await write(idem, caller.id, key, request, body.model_dump(), handler, status=201)


# -- what a self-custodied consumer signs ------------------------------------------

Participant = Annotated[str, Field(min_length=1, max_length=42,
                                   description="a participant id or a chain address")]
Decimal = Annotated[str, Field(pattern=r"^[0-9]{1,78}$",
                               description="an unsigned integer as decimal text")]


class ConsentRequest(Input):
    merchant: Participant = Field(description="the merchant (id or address) that may use "
                                  "the consent, with its terminals; \"any\" for any merchant")
    max_order_amount: int = Field(ge=1, le=MAX_ORDER_AMOUNT,
                                  description="the largest order amount it covers")
    lifetime_seconds: int | None = Field(default=None, ge=1, le=300)


class SignedConsent(Input):
    nonce: Decimal = Field(description="the nonce of the consent typed data, as signed")
    expiry: Expiry
    merchant: AddressIn = Field(description="as signed (the zero address: any merchant)")
    max_order_amount: int = Field(ge=1, le=MAX_ORDER_AMOUNT)
    signature: SignatureIn


class ConsentTypedData(TypedData):
    merchant_name: str | None


@router.post("/promotion-coupons/{coupon_id}/consent-request", response_model=ConsentTypedData,
             summary="The consent a holder with its own key signs (typed data, fresh nonce)")
async def consent_request(coupon_id: CouponId, body: ConsentRequest, runtime: RuntimeDep,
                          caller: CallerDep) -> dict[str, Any]:
    return await SelfCustodyRelay(runtime).consent_request(
        caller, coupon_id, body.lifetime_seconds, merchant=body.merchant,
        max_order_amount=body.max_order_amount)


@router.post("/promotion-coupons/{coupon_id}/signed-consent", response_model=ConsentOut,
             summary="The code of a consent its holder signed with its own key")
async def signed_consent(coupon_id: CouponId, body: SignedConsent, runtime: RuntimeDep,
                         caller: CallerDep) -> dict[str, Any]:
    return await SelfCustodyRelay(runtime).signed_consent(
        caller, coupon_id, nonce=int(body.nonce), expiry=body.expiry, merchant=body.merchant,
        max_order_amount=body.max_order_amount, signature=signature_bytes(body.signature))


class PurchaseRequest(Input):
    quantity: int = Field(ge=1, le=MAX_BATCH_UNITS)
    batch: int = Field(ge=1, le=2**63 - 1, description="the batch the buyer saw")
    max_price: int = Field(ge=1, le=MAX_PRICE, description="the unit price the buyer saw")
    link: LinkText | None = Field(default=None,
                                  description="the promotion link (from batch 2 on)")


class SignedPurchase(PurchaseRequest):
    nonce: Decimal = Field(description="the intent's nonce, as signed")
    expiry: Expiry = Field(description="the intent's expiry, as signed (the permit's deadline)")
    signature: SignatureIn = Field(description="the buyer's signature of the Purchase intent")
    permit_signature: SignatureIn = Field(description="the buyer's EIP-2612 permit signature")


class PurchaseTypedData(BaseModel):
    intent: dict[str, Any] = Field(description="the Purchase intent (EIP-712) to sign")
    permit: dict[str, Any] = Field(description="the token permit (EIP-2612) for exactly "
                                   "quantity x max_price to the referrals contract")


@router.post("/products/{product_id}/purchase-intents", response_model=PurchaseTypedData,
             summary="The purchase intent and permit a buyer with its own key signs")
async def purchase_intent(product_id: ProductId, body: PurchaseRequest, runtime: RuntimeDep,
                          caller: CallerDep) -> dict[str, Any]:
    return await SelfCustodyRelay(runtime).purchase_request(
        caller, product_id, body.quantity, body.link, seen_batch=body.batch,
        max_price=body.max_price)


@router.post("/products/{product_id}/signed-purchases", status_code=201,
             response_model=PurchaseOut,
             summary="Relay a purchase its buyer signed with its own key (intent and permit)")
async def signed_purchase(product_id: ProductId, body: SignedPurchase, request: Request,
                          runtime: RuntimeDep, caller: CallerDep, idem: IdempotencyDep,
                          key: IdempotencyKey = None) -> JSONResponse:
    async def handler() -> dict[str, Any]:
        return await SelfCustodyRelay(runtime).signed_purchase(
            caller, product_id, body.quantity, body.link, seen_batch=body.batch,
            max_price=body.max_price, nonce=int(body.nonce), expiry=body.expiry,
            signature=signature_bytes(body.signature),
            permit_signature=signature_bytes(body.permit_signature), idempotency_key=key)

    return await write(idem, caller.id, key, request, body.model_dump(), handler, status=201)
