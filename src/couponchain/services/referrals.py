"""Peer-to-peer batch sales: products, batches, promotion links, purchases (DESIGN §2.3).

The referrals contract is the authority; this service checks the same rules
first so a bad request gets an error naming its field (and spends no gas),
keeps each product's description (the chain keeps its hash), signs promotion
links with the holder's custodial key, lets the contract charge a consumer's
credit for a purchase (one approval per consumer) and verifies a link for the
purchase page before anyone pays. Reads come from the read models
(`services/referral_views.py`); payouts are the shared pull payouts
(`services/payouts.py`, source "referrals").
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from eth_utils import keccak

from couponchain.chain.gateway import Call, OpResult
from couponchain.domain import links
from couponchain.domain.op_keys import op_key, platform_key
from couponchain.domain.rebates import (
    BPS,
    DEFAULT_PROMOTER_SHARE_BPS,
    MAX_PRICE,
    RebateBounds,
    sale_split,
)
from couponchain.domain.roles import Role
from couponchain.errors import ContractRevert, Forbidden, InvalidInput
from couponchain.services import referral_views as views
from couponchain.services.participants import Caller
from couponchain.store.models import ProductDescription
from couponchain.web import qr

ZERO = "0x0000000000000000000000000000000000000000"
UNLIMITED = 2**256 - 1
#: Units one batch may offer here. The contract takes up to 2**64 - 1, but
#: counters must stay inside the read models' signed 64-bit integers.
MAX_BATCH_UNITS = 10**12
MAX_NAME_BYTES = 64
MAX_DESCRIPTION_BYTES = 4096
DEFAULT_LINK_LIFETIME = 30 * 86_400
MAX_LINK_LIFETIME = 365 * 86_400
#: The contract compares a link's expiry with the block's timestamp, which may
#: trail this clock a little: a link this close to its expiry is refused here.
CLOCK_MARGIN = 10

#: Contract revert reasons and the request field each one is about.
REVERT_FIELDS = {
    "not enough units left": "quantity", "batch sold out": "quantity",
    "batch closed": "id", "current batch still open": "id", "batch already ended": "id",
    "rebate above the platform cap": "rebate_bps", "link expired": "link.expiry",
    "promoter share below the platform minimum": "promoter_share_bps",
    "promoter share above the platform maximum": "promoter_share_bps",
    "promoter share cap above": "max_promoter_share_bps",
    "promoter share minimum above": "min_promoter_share_bps",
    "rebate cap above": "max_rebate_bps",
    "self-referral": "link.promoter", "promoter holds no earlier units": "link.promoter",
    "link not signed by the promoter": "link.signature", "link required after batch 1": "link",
    "batch 1 sells without a link": "link", "exceeds balance": "quantity",
}


class ReferralService:
    """Writes go through the gateway and wait for the read models."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self._approved: set[str] = set()

    @property
    def db(self) -> Any:
        return self.rt.db

    # -- products and batches -----------------------------------------------------

    async def register(self, caller: Caller, name: str, description: str, price: int,
                       circulation: int, idempotency_key: str | None) -> dict[str, Any]:
        """Register a product of the calling merchant with its batch 1 (no rebate)."""
        if caller.role != Role.MERCHANT:
            raise Forbidden("only a merchant registers products (as their originator)")
        _check_text(name, MAX_NAME_BYTES, "name")
        _check_text(description, MAX_DESCRIPTION_BYTES, "description")
        _check_terms(price, circulation)
        content_hash = keccak(text=description)
        async with self.db.transaction() as s:
            if await s.get(ProductDescription, "0x" + content_hash.hex()) is None:
                s.add(ProductDescription(content_hash="0x" + content_hash.hex(),
                                         text=description))
        op = await self._submit(caller, Call("referrals", "register_product", fixed=(
            name, content_hash, price, circulation), kind="register product"),
            idempotency_key, "product")
        product_id = next(int(e.args["product_id"]) for e in await op.events()
                          if e.name == "ProductRegistered")
        await self.rt.indexer.wait_for(op.block_number)
        return {**await views.product_detail(self.db, product_id), **_evidence(op)}

    async def open_batch(self, caller: Caller, product_id: int, price: int, circulation: int,
                         rebate_bps: int, idempotency_key: str | None, *,
                         promoter_share_bps: int = DEFAULT_PROMOTER_SHARE_BPS,
                         ) -> dict[str, Any]:
        """Open the product's next batch once the current one is sold out or closed,
        with the originator's rebate terms (within the platform's bounds)."""
        product = await self._own_product(caller, product_id)
        _check_terms(price, circulation)
        refusal = (await self.rebate_bounds()).refusal(rebate_bps, promoter_share_bps)
        if refusal is not None:
            raise InvalidInput(refusal[1], field=refusal[0])
        current = await views.current_batch(self.db, product)
        if not (current.closed or current.sold == current.circulation):
            raise _refused("referrals: current batch still open", "id",
                           f"batch {current.batch} still has {current.circulation - current.sold}"
                           " units for sale: close it or sell it out first")
        op = await self._submit(caller, Call("referrals", "open_batch", fixed=(
            product_id, price, circulation, rebate_bps, promoter_share_bps),
            kind="open product batch"),
            idempotency_key, "batch")
        return await self._detail_after(product_id, op)

    async def close_batch(self, caller: Caller, product_id: int,
                          idempotency_key: str | None) -> dict[str, Any]:
        """End the current batch before it sells out (its rebate dust goes to the originator)."""
        product = await self._own_product(caller, product_id)
        current = await views.current_batch(self.db, product)
        if current.closed or current.sold == current.circulation:
            raise ContractRevert("referrals: batch already ended", field="id")
        op = await self._submit(caller, Call("referrals", "close_batch", fixed=(product_id,),
                                             kind="close product batch"),
                                idempotency_key, f"close:{current.batch}")
        return await self._detail_after(product_id, op)

    async def _detail_after(self, product_id: int, op: OpResult) -> dict[str, Any]:
        await self.rt.indexer.wait_for(op.block_number)
        return {**await views.product_detail(self.db, product_id), **_evidence(op)}

    async def rebate_bounds(self) -> RebateBounds:
        """The platform's bounds on new batches' terms, as the contract holds them now
        (read each time: the platform may move them)."""
        return RebateBounds(*[int(await self.rt.view("referrals", name)) for name in (
            "max_rebate_bps", "min_promoter_share_bps", "max_promoter_share_bps")])

    async def set_rebate_bounds(self, caller: Caller, bounds: RebateBounds,
                                idempotency_key: str | None) -> dict[str, Any]:
        """The platform sets the bounds on the terms of batches opened from now on."""
        if caller.role != Role.PLATFORM:
            raise Forbidden("only the platform sets the bounds on rebate terms")
        for name in ("max_rebate_bps", "min_promoter_share_bps", "max_promoter_share_bps"):
            if not 0 <= getattr(bounds, name) <= BPS:
                raise InvalidInput(f"must be 0 to {BPS} basis points", field=name)
        if bounds.min_promoter_share_bps > bounds.max_promoter_share_bps:
            raise InvalidInput("must not be above max_promoter_share_bps",
                               field="min_promoter_share_bps")
        op = await self._submit(caller, Call("referrals", "set_rebate_bounds", fixed=(
            bounds.max_rebate_bps, bounds.min_promoter_share_bps,
            bounds.max_promoter_share_bps), kind="set rebate bounds"),
            idempotency_key, "bounds")
        return {**bounds_public(await self.rebate_bounds()), **_evidence(op)}

    # -- promotion links ------------------------------------------------------------

    async def make_link(self, caller: Caller, product_id: int, lifetime: int | None,
                        base_url: str) -> dict[str, Any]:
        """A promotion link signed with the holder's key, as text, URL and QR."""
        if caller.role != Role.CONSUMER:
            raise Forbidden("only a consumer holding units of the product promotes it")
        product = await views.product_row(self.db, product_id)
        lifetime = DEFAULT_LINK_LIFETIME if lifetime is None else lifetime
        if not 60 <= lifetime <= MAX_LINK_LIFETIME:
            raise InvalidInput(f"must be 60 to {MAX_LINK_LIFETIME} seconds",
                               field="lifetime_seconds")
        if await self.rt.view("referrals", "units_of", product_id, caller.address) == 0:
            raise Forbidden(f"you hold no units of product {product_id}: only holders of an "
                            "earlier batch promote it", field="id")
        link = links.Link(product=product_id, promoter=caller.address,
                          expiry=int(time.time()) + lifetime)
        signer = await self.rt.participants.signer(caller.id)
        signed = links.SignedLink(
            link=link, chain_id=self.rt.chain_id, contract=self.address,
            signature=links.sign_link(link, self.rt.chain_id, self.address, signer.key))
        text = links.encode_link(signed)
        path = f"/products/{product_id}/buy?link={quote(text)}"
        url = base_url.rstrip("/") + path
        usable = await self.rt.view("referrals", "holds_earlier_batch", product_id,
                                    caller.address)
        return {
            "product_id": product_id, "product_name": product.name, "promoter": caller.address,
            "link": text, "path": path, "url": url, "expiry": link.expiry,
            "expires_at": views.iso(link.expiry),
            "link_hash": "0x" + links.digest(link, self.rt.chain_id, self.address).hex(),
            "usable_now": bool(usable),
            "current": (await views.product_detail(self.db, product_id))["current"],
            "qr_svg": qr.svg_data_uri(url),
        }

    async def verify_link(self, text: str, product_id: int | None = None,
                          buyer: str | None = None) -> dict[str, Any]:
        """Check a link as the contract would and show what it vouches for.

        Raises `InvalidInput` naming `link` or the part at fault (`link.expiry`,
        `link.signature`, `link.promoter`, `link.product`...).
        """
        signed = links.decode_link(text)
        try:
            links.check_link(signed, chain_id=self.rt.chain_id, contract=self.address,
                             now=int(time.time()) + CLOCK_MARGIN, product=product_id,
                             buyer=buyer)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field=f"link.{exc.field}") from None
        link = signed.link
        product = await views.product_row(self.db, link.product, field="link.product")
        if not await self.rt.view("referrals", "holds_earlier_batch", link.product,
                                  link.promoter):
            raise InvalidInput("the link's promoter holds no units of an earlier batch of "
                               "this product", field="link.promoter")
        detail = await views.product_detail(self.db, link.product)
        async with self.db.session() as s:
            names = await views.participant_names(s, {link.promoter})
        promoter_id, promoter_name = names.get(link.promoter, (None, None))
        return {
            "valid": True,
            "product": {
                "id": product.id, "name": product.name, "content_hash": product.content_hash,
                "originator": product.originator, "originator_id": detail["originator_id"],
                "originator_name": detail["originator_name"], "chain_id": self.rt.chain_id,
                "contract": self.address, "registered_tx": product.tx_hash,
                "current": detail["current"],
            },
            "promoter": {"address": link.promoter, "id": promoter_id, "name": promoter_name},
            "expiry": link.expiry, "expires_at": views.iso(link.expiry),
            "link_hash": "0x" + links.digest(link, self.rt.chain_id, self.address).hex(),
        }

    # -- purchases ----------------------------------------------------------------

    async def purchase(self, caller: Caller, product_id: int, quantity: int,
                       link_text: str | None, idempotency_key: str | None, *,
                       seen_batch: int, max_price: int) -> dict[str, Any]:
        """Buy units of the current batch, paid in credit; batch ≥ 2 through a link.

        `seen_batch` and `max_price` are what the buyer saw: a batch closed and
        reopened since (at another price) is refused with a reason, on chain too.
        """
        if caller.role != Role.CONSUMER:
            raise Forbidden("only a consumer buys products")
        if idempotency_key is not None:  # a retry whose answer was lost: report that purchase
            applied = await self.rt.gateway.outcome(
                op_key(caller.id, idempotency_key, "referrals", "purchase"))
            if applied is not None:
                return await self._purchased(caller, product_id, applied)
        promoter, expiry, signature = await self.purchase_terms(
            caller, product_id, quantity, link_text, seen_batch=seen_batch, max_price=max_price)
        await self._ensure_approved(caller)
        op = await self._submit(caller, Call("referrals", "purchase", fixed=(
            product_id, quantity, seen_batch, max_price, promoter, expiry, signature),
            kind="buy product units"),
            idempotency_key, "purchase")
        return await self._purchased(caller, product_id, op)

    async def purchase_terms(self, caller: Caller, product_id: int, quantity: int,
                             link_text: str | None, *, seen_batch: int,
                             max_price: int) -> tuple[str, int, bytes]:
        """Check a purchase as the contract will (batch, price bound, units left, the
        link, the buyer's balance); the link's (promoter, expiry, signature), or
        (zero address, 0, b"") in batch 1. Shared by custodial and signed purchases."""
        if caller.role != Role.CONSUMER:
            raise Forbidden("only a consumer buys products")
        product = await views.product_row(self.db, product_id)
        batch = await views.current_batch(self.db, product)
        if not 1 <= quantity <= MAX_BATCH_UNITS:
            raise InvalidInput(f"must be 1 to {MAX_BATCH_UNITS}", field="quantity")
        if batch.closed:
            raise _refused("referrals: batch closed", "id",
                           f"batch {batch.batch} of product {product_id} is closed; "
                           "no batch is on sale")
        if batch.batch != seen_batch:
            raise _refused("referrals: batch changed since the buyer saw it", "batch",
                           f"you saw batch {seen_batch}; batch {batch.batch} is on sale now, at "
                           f"{batch.price} a unit; nothing was bought: look at the new terms "
                           "and buy again")
        if int(batch.price) > max_price:
            raise _refused("referrals: price above the buyer's maximum", "max_price",
                           f"batch {batch.batch} sells at {batch.price} a unit, above the "
                           f"{max_price} you accepted; nothing was bought")
        left = batch.circulation - batch.sold
        if quantity > left:
            raise _refused("referrals: not enough units left", "quantity",
                           f"{quantity} units asked for, {left} left in batch {batch.batch}; "
                           "nothing was bought")
        if batch.batch == 1:
            if link_text:
                raise InvalidInput("batch 1 sells without a link: buy without one",
                                   field="link")
            promoter, expiry, signature = ZERO, 0, b""
        else:
            if not link_text:
                raise InvalidInput(f"batch {batch.batch} sells only through a promotion link "
                                   "of a holder of an earlier batch", field="link")
            if links.decode_link(link_text).link.promoter == caller.address:
                raise InvalidInput("self-referral: you cannot buy through your own link",
                                   field="link.promoter")
            await self.verify_link(link_text, product_id=product_id, buyer=caller.address)
            signed = links.decode_link(link_text)
            promoter, expiry = signed.link.promoter, signed.link.expiry
            signature = signed.signature
        amount = sale_split(int(batch.price), quantity, batch.rebate_bps).amount
        balance = await self.rt.view("token", "balanceOf", caller.address)
        if balance < amount:
            raise _refused("token: transfer amount exceeds balance", "quantity",
                           f"{quantity} units cost {amount}; your credit balance is {balance}:"
                           " top it up first")
        return promoter, expiry, signature

    async def current_terms(self, product_id: int) -> dict[str, int]:
        """What a buyer sees now, as `purchase` takes it: `seen_batch` and `max_price`."""
        product = await views.product_row(self.db, product_id)
        batch = await views.current_batch(self.db, product)
        return {"seen_batch": int(batch.batch), "max_price": int(batch.price)}

    async def purchased(self, caller: Caller, product_id: int, op: OpResult) -> dict[str, Any]:
        """A purchase's answer from its `Purchased` event (the read models caught up)."""
        return await self._purchased(caller, product_id, op)

    async def _purchased(self, caller: Caller, product_id: int, op: OpResult) -> dict[str, Any]:
        event = next(e for e in await op.events() if e.name == "Purchased"
                     and e.args["buyer"] == caller.address)
        await self.rt.indexer.wait_for(op.block_number)
        a = event.args
        return {
            "product_id": product_id, "batch": int(a["batch"]), "buyer": caller.address,
            "promoter": None if a["promoter"] == ZERO else a["promoter"],
            "quantity": int(a["quantity"]), "amount": int(a["amount"]),
            "rebate": int(a["rebate"]), "promoter_amount": int(a["promoter_amount"]),
            "holders_amount": int(a["holders_amount"]),
            "originator_amount": int(a["originator_amount"]),
            "link_hash": None if not any(a["link_hash"]) else "0x" + a["link_hash"].hex(),
            "units_held": await self.rt.view("referrals", "units_of", product_id,
                                             caller.address),
            **_evidence(op),
        }

    async def _ensure_approved(self, caller: Caller) -> None:
        """Let the referrals contract charge purchases to the consumer's credit (once)."""
        if caller.address in self._approved:
            return
        if await self.rt.view("token", "allowance", caller.address,
                              self.address) < UNLIMITED // 2:
            await self.rt.gateway.submit(
                await self.rt.participants.signer(caller.id),
                Call("token", "approve", fixed=(self.address, UNLIMITED),
                     kind="approve purchases"),
                op_key=platform_key("approve", "referrals", caller.id))
        self._approved.add(caller.address)

    # -- helpers ------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The referrals contract's address (the links' verifying contract)."""
        return self.rt.gateway.contracts["referrals"][0]  # type: ignore[no-any-return]

    async def _own_product(self, caller: Caller, product_id: int) -> Any:
        if caller.role != Role.MERCHANT:
            raise Forbidden("only the product's originator manages its batches")
        product = await views.product_row(self.db, product_id)
        if product.originator != caller.address:
            raise Forbidden(f"product {product_id} belongs to another originator", field="id")
        return product

    async def _submit(self, caller: Caller, call: Call, idempotency_key: str | None,
                      what: str) -> OpResult:
        key = op_key(caller.id, idempotency_key, "referrals", what)
        try:
            op: OpResult = await self.rt.gateway.submit(
                await self.rt.participants.signer(caller.id), call, op_key=key)
        except ContractRevert as exc:
            if exc.field is None:
                exc.field = next((f for reason, f in REVERT_FIELDS.items()
                                  if reason in exc.reason), None)
            raise
        return op


def bounds_public(bounds: RebateBounds) -> dict[str, int]:
    """The bounds as the API shows them."""
    return {"max_rebate_bps": bounds.max_rebate_bps,
            "min_promoter_share_bps": bounds.min_promoter_share_bps,
            "max_promoter_share_bps": bounds.max_promoter_share_bps}


def _check_text(value: str, limit: int, field: str) -> None:
    if not 1 <= len(value.encode()) <= limit:
        raise InvalidInput(f"must be 1 to {limit} bytes of UTF-8", field=field)


def _check_terms(price: int, circulation: int) -> None:
    if not 1 <= price <= MAX_PRICE:
        raise InvalidInput(f"must be 1 to {MAX_PRICE} (smallest token unit)", field="price")
    if not 1 <= circulation <= MAX_BATCH_UNITS:
        raise InvalidInput(f"must be 1 to {MAX_BATCH_UNITS} units", field="circulation")


def _evidence(op: OpResult) -> dict[str, Any]:
    return {"tx_hash": op.tx_hash, "block_number": op.block_number}



def _refused(reason: str, field: str, message: str) -> ContractRevert:
    """What the contract would revert with, explained for the caller."""
    refused = ContractRevert(reason, field=field)
    refused.message = message
    return refused
