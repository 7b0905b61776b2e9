"""Edition coupons the consumer holds, and redeeming one at the till with the holder's
code (issue 24; services/edition_codes.py)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from couponchain.api import lists
from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, IdempotencyDep, IdempotencyKey, RuntimeDep
from couponchain.api.idempotency import write
from couponchain.api.inputs import Input
from couponchain.api.lists import ListParamsDep
from couponchain.api.routes.editions import CouponChanged, CouponDetail
from couponchain.domain import edition_codes as rules
from couponchain.domain.roles import Role
from couponchain.errors import Forbidden
from couponchain.services.edition_codes import EditionCodes, holdings_base, holdings_spec

router = bounded_router(prefix="/v1", tags=["editions"])


class HeldCoupon(BaseModel):
    serial: str
    coupon_id: int
    edition_id: int
    brand: str
    title: str
    merchant_name: str | None
    status: str = Field(description="active, redeemed or voided")
    price_paid: int = Field(description="smallest token unit")
    list_price: int = Field(description="the edition's list price, smallest token unit")
    valid_from: str
    valid_until: str
    sold_at: str


class HeldPage(BaseModel):
    coupons: list[HeldCoupon]
    next_cursor: int | None = Field(description="pass as `cursor` for the next page")


class CodeCreate(Input):
    lifetime_seconds: int = Field(default=rules.DEFAULT_LIFETIME, ge=1, le=rules.MAX_LIFETIME)


class CodeOut(BaseModel):
    serial: str
    code: str = Field(description="CCE1.<coupon>.<nonce>.<expiry>.<signature>: show as a QR")
    expiry: int = Field(description="epoch seconds")
    expires_at: str
    qr_svg: str = Field(description="the code as an SVG data URI")


class CodeIn(Input):
    code: str = Field(min_length=1, max_length=200, description="the holder's CCE1 code")


class CodeChecked(BaseModel):
    coupon: CouponDetail
    holder_name: str | None
    expires_at: str = Field(description="until when the code may redeem")


@router.get("/customers/me/edition-coupons", response_model=HeldPage,
            responses=lists.CSV_RESPONSE,
            summary="The edition coupons I hold (search by title, brand or prefix; status)")
async def my_edition_coupons(runtime: RuntimeDep, caller: CallerDep,
                             params: ListParamsDep) -> dict[str, Any] | StreamingResponse:
    if caller.role != Role.CONSUMER:
        raise Forbidden("only consumers hold coupons in a wallet")
    return await lists.respond(runtime.db, holdings_spec(runtime.db),
                               holdings_base(caller.address), params, "coupons")


@router.post("/coupons/{serial}/redemption-code", status_code=201, response_model=CodeOut,
             summary="A short-lived code to show at the till (the coupon's holder)",
             description="Signed by the holder's custodial key (EIP-712 `Redemption`). The "
             "editions contract does not check it (its merchant's terminals redeem): the "
             "platform redeems with a code only when the coupon's current holder signed it "
             "and it has not expired.")
async def redemption_code(serial: str, body: CodeCreate, runtime: RuntimeDep,
                          caller: CallerDep) -> dict[str, Any]:
    return await EditionCodes(runtime).issue(caller, serial, body.lifetime_seconds)


class SignedCode(Input):
    nonce: str = Field(pattern=r"^[0-9]{1,78}$", description="the Redemption's nonce, as signed")
    expiry: int = Field(ge=0, le=2**63 - 1, description="the Redemption's expiry, as signed "
                        "(epoch seconds)")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$",
                           description="the holder key's 65-byte (r, s, v) signature, 0x hex")


class RedemptionTypedData(BaseModel):
    typed_data: dict[str, Any] = Field(description="the EIP-712 `Redemption` (eth_signTypedData"
                                       "_v4 shape): sign it with your key, send the signature")


@router.post("/coupons/{serial}/redemption-code-request", response_model=RedemptionTypedData,
             summary="The Redemption a holder with its own key signs (typed data, fresh nonce)")
async def redemption_code_request(serial: str, body: CodeCreate, runtime: RuntimeDep,
                                  caller: CallerDep) -> dict[str, Any]:
    return await EditionCodes(runtime).request(caller, serial, body.lifetime_seconds)


@router.post("/coupons/{serial}/signed-redemption-code", status_code=201,
             response_model=CodeOut,
             summary="The till code of a Redemption its holder signed with its own key",
             description="Checked as the till will check it: signed by the coupon's current "
             f"holder, unexpired, at most {rules.MAX_LIFETIME} seconds ahead.")
async def signed_redemption_code(serial: str, body: SignedCode, runtime: RuntimeDep,
                                 caller: CallerDep) -> dict[str, Any]:
    return await EditionCodes(runtime).signed(
        caller, serial, nonce=int(body.nonce), expiry=body.expiry,
        signature=bytes.fromhex(body.signature[2:]))


@router.post("/edition-codes/check", response_model=CodeChecked, response_model_by_alias=True,
             summary="What a holder's code redeems (the edition's merchant or its terminals)")
async def check_code(body: CodeIn, runtime: RuntimeDep, caller: CallerDep) -> dict[str, Any]:
    return await EditionCodes(runtime).check(caller, body.code)


@router.post("/edition-codes/redeem", response_model=CouponChanged,
             response_model_by_alias=True,
             summary="Redeem the coupon of a holder's code (the edition's merchant or its "
                     "terminals)")
async def redeem_with_code(body: CodeIn, request: Request, runtime: RuntimeDep,
                           caller: CallerDep, idem: IdempotencyDep,
                           key: IdempotencyKey = None) -> JSONResponse:
    return await write(idem, caller.id, key, request, body.model_dump(mode="json"),
                       lambda: EditionCodes(runtime).redeem(caller, body.code, key))
