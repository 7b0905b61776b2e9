"""Transfers by consumers who hold their own key (issue 23): credit, promotion coupons
and promotion payout withdrawals (`services/self_custody_withdrawals.py`).

Each is two calls: the typed data to sign (`...-request`), then the signature,
which the server checks and relays from the platform's account (service
`services/self_custody_transfers.py`). No route takes a private key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import Input
from couponchain.api.routes.payouts import Withdrawn
from couponchain.api.routes.promotions import CouponId, CouponWritten
from couponchain.api.routes.self_custody import (
    Decimal,
    Expiry,
    Participant,
    SignatureIn,
    TypedData,
    signature_bytes,
)
from couponchain.services.payouts import MAX_MINT
from couponchain.services.self_custody_transfers import SelfCustodyTransfers
from couponchain.services.self_custody_withdrawals import SelfCustodyWithdrawals

router = bounded_router(prefix="/v1", tags=["self-custody"])

Recipient = Participant
CreditAmount = Field(ge=1, le=MAX_MINT, description="smallest unit (1 CCC = 1,000,000)")


class CreditTransferRequest(Input):
    to: Recipient = Field(description="the recipient: a participant id or any chain address")
    amount: int = CreditAmount


Nonce32 = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$",
                               description="32 bytes, 0x hex")]


class SignedCreditTransfer(CreditTransferRequest):
    deadline: Expiry = Field(description="the authorization's validBefore, as signed (at "
                             "most an hour ahead)")
    nonce: Nonce32 = Field(description="the authorization's nonce, as signed")
    signature: SignatureIn = Field(description="the owner's EIP-3009 "
                                   "TransferWithAuthorization signature")


class CreditAuthorization(TypedData):
    to: str = Field(description="the recipient's chain address")


class CreditTransferOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    amount: int
    token_balance: int = Field(description="the sender's credit left")
    tx_hash: str = Field(description="the transferWithAuthorization's transaction")
    block_number: int


@router.post("/credit-transfers/authorization-request", response_model=CreditAuthorization,
             summary="The EIP-3009 authorization a consumer with its own key signs to send "
             "credit (recipient and amount fixed by its signature)")
async def credit_authorization_request(body: CreditTransferRequest, runtime: RuntimeDep,
                                caller: CallerDep) -> dict[str, Any]:
    return await SelfCustodyTransfers(runtime).credit_request(caller, body.to, body.amount)


@router.post("/credit-transfers", status_code=201, response_model=CreditTransferOut,
             response_model_by_alias=True,
             summary="Relay a credit transfer its owner signed with its own key "
             "(EIP-3009 transferWithAuthorization)")
async def credit_transfer(body: SignedCreditTransfer, request: Request, runtime: RuntimeDep,
                          caller: CallerDep, idem: IdempotencyDep,
                          key: IdempotencyKey = None) -> JSONResponse:
    async def handler() -> dict[str, Any]:
        return await SelfCustodyTransfers(runtime).signed_credit(
            caller, body.to, body.amount, deadline=body.deadline, nonce=body.nonce.lower(),
            signature=signature_bytes(body.signature), idempotency_key=key)

    return await write(idem, caller.id, key, request, body.model_dump(), handler, status=201)


class CouponTransferRequest(Input):
    to: Recipient = Field(description="the consumer (id or address) it goes to")


class SignedCouponTransfer(CouponTransferRequest):
    nonce: Decimal = Field(description="the transfer's nonce, as signed")
    expiry: Expiry = Field(description="the transfer's expiry, as signed (at most an hour "
                           "ahead)")
    signature: SignatureIn = Field(description="the holder's CouponTransfer signature")


@router.post("/promotion-coupons/{coupon_id}/transfer-request", response_model=TypedData,
             summary="The transfer a holder with its own key signs (typed data, fresh nonce)")
async def coupon_transfer_request(coupon_id: CouponId, body: CouponTransferRequest,
                                  runtime: RuntimeDep, caller: CallerDep) -> dict[str, Any]:
    return await SelfCustodyTransfers(runtime).coupon_request(caller, coupon_id, body.to)


@router.post("/promotion-coupons/{coupon_id}/signed-transfer", response_model=CouponWritten,
             response_model_by_alias=True,
             summary="Relay a coupon transfer its holder signed with its own key")
async def signed_coupon_transfer(coupon_id: CouponId, body: SignedCouponTransfer,
                                 request: Request, runtime: RuntimeDep, caller: CallerDep,
                                 idem: IdempotencyDep,
                                 key: IdempotencyKey = None) -> JSONResponse:
    async def handler() -> dict[str, Any]:
        return await SelfCustodyTransfers(runtime).signed_coupon(
            caller, coupon_id, body.to, nonce=int(body.nonce), expiry=body.expiry,
            signature=signature_bytes(body.signature), idempotency_key=key)

    return await write(idem, caller.id, key, request, body.model_dump(mode="json"), handler)


class SignedWithdrawal(Input):
    deadline: Expiry = Field(description="the withdrawal's deadline, as signed (at most an "
                             "hour ahead)")
    signature: SignatureIn = Field(description="the account's Withdraw signature")


@router.post("/payouts/me/withdraw-request", response_model=TypedData,
             summary="The Withdraw a consumer with its own key signs to be paid its "
             "promotion payouts")
async def withdraw_request(runtime: RuntimeDep, caller: CallerDep) -> dict[str, Any]:
    return await SelfCustodyWithdrawals(runtime).request(caller)


@router.post("/payouts/me/signed-withdraw", response_model=Withdrawn,
             summary="Relay a withdrawal its account signed with its own key "
             "(promotions.withdraw_for: paid to the signer only)")
async def signed_withdraw(body: SignedWithdrawal, request: Request, runtime: RuntimeDep,
                          caller: CallerDep, idem: IdempotencyDep,
                          key: IdempotencyKey = None) -> JSONResponse:
    async def handler() -> dict[str, Any]:
        return await SelfCustodyWithdrawals(runtime).signed(
            caller, deadline=body.deadline, signature=signature_bytes(body.signature),
            idempotency_key=key)

    return await write(idem, caller.id, key, request, body.model_dump(), handler)
