"""Customer picker (issue 24): a merchant's till finds its customers by name, and a
consumer's wallet shows its customer number as a QR code the till scans.

The search is scoped for privacy (services/customer_lookup.py): a merchant, or
its terminal, finds only consumers who already dealt with it, or one whose exact
full customer number was given.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Response
from pydantic import BaseModel, Field

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import CallerDep, RuntimeDep
from couponchain.api.inputs import Input
from couponchain.domain.roles import Role
from couponchain.errors import Forbidden
from couponchain.services import customer_lookup
from couponchain.web import qr

router = bounded_router(prefix="/v1", tags=["customers"])


class Customer(BaseModel):
    customer_number: str = Field(description="the consumer's participant id, as its wallet "
                                             "shows it (what a top-up or grant takes)")
    name: str = Field(description="the consumer's display name")


class Customers(BaseModel):
    customers: list[Customer] = Field(description="by customer number")
    next_cursor: str | None = Field(description="the cursor of the next page; none on the last")


@router.get("/merchants/{merchant_id}/customers", response_model=Customers,
            summary="Find a customer by name or number (the merchant and its terminals)",
            description=(
                "Only consumers who already dealt with this merchant (topped up at its "
                "till, hold or used its coupons, bought from it, won its prizes) are "
                "found by name or address; any consumer by its exact full customer "
                "number (spaces and dashes allowed), or by the exact phone number or "
                "e-mail it registered for this (matched as a keyed hash; the platform "
                "stores neither). An empty `q` pages through all of the merchant's "
                "customers."))
async def find_customers(
    merchant_id: str, runtime: RuntimeDep, caller: CallerDep,
    q: Annotated[str | None, Query(description=(
        f"a name fragment, a full customer number, an address, or a registered phone "
        f"number or e-mail (at most "
        f"{customer_lookup.MAX_QUERY} characters)"))] = None,
    cursor: Annotated[str | None, Query(max_length=80, description=(
        "the next_cursor of the previous page"))] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    # q's bounds are checked by the service, so the problem names the rule it broke.
    rows, next_cursor = await customer_lookup.search(
        runtime.db, caller, merchant_id, q=q, cursor=cursor, limit=limit,
        platform=runtime.secrets)
    return {"customers": rows, "next_cursor": next_cursor}


@router.get("/customers/me/qr.png", response_class=Response,
            summary="My customer number as a QR code (consumer)",
            responses={200: {"content": {"image/png": {}},
                             "description": "a PNG QR code holding the customer number"}})
async def my_customer_qr(caller: CallerDep) -> Response:
    """The consumer's customer number as a PNG QR code (drawn by segno, as a coupon
    page's QR is), for the wallet page; the till's scanner reads it."""
    if caller.role != Role.CONSUMER:
        raise Forbidden("only consumers have a customer number")
    # no-store: one browser may be signed in as another consumer next.
    return Response(qr.png(caller.id), media_type="image/png",
                    headers={"cache-control": "private, no-store"})


class LookupSet(Input):
    phone: str | None = Field(default=None, max_length=40, description=(
        "a phone number, with + and the country code (7 to 15 digits)"))
    email: str | None = Field(default=None, max_length=customer_lookup.MAX_EMAIL,
                              description="an e-mail address")


class Lookups(BaseModel):
    phone: bool = Field(description="a phone number is registered")
    email: bool = Field(description="an e-mail is registered")


@router.get("/customers/me/lookup", response_model=Lookups,
            summary="Whether my phone number and e-mail are registered for the till (consumer)")
async def my_lookups(runtime: RuntimeDep, caller: CallerDep) -> dict[str, bool]:
    return await customer_lookup.registered(runtime.db, caller)


@router.put("/customers/me/lookup", response_model=Lookups,
            summary="Let a till find me by my phone number or e-mail (consumer)",
            description=("Only a keyed hash (HMAC-SHA256 under a platform secret) of the "
                         "normalised phone number (its digits) or e-mail (lower-cased) "
                         "is stored; a shop's till finds the consumer by typing exactly "
                         "it. Giving one again replaces it."))
async def set_my_lookups(body: LookupSet, runtime: RuntimeDep,
                         caller: CallerDep) -> dict[str, bool]:
    return await customer_lookup.register(runtime.db, runtime.secrets, caller,
                                          phone=body.phone, email=body.email)


@router.delete("/customers/me/lookup/{kind}", response_model=Lookups,
               summary="Stop tills finding me by my phone number or e-mail (consumer)")
async def remove_my_lookup(kind: Literal["phone", "email"], runtime: RuntimeDep,
                           caller: CallerDep) -> dict[str, bool]:
    return await customer_lookup.unregister(runtime.db, caller, kind)
