"""Universal promotion coupons: rounds, allocation, grants, consent, write-off (DESIGN §2.2).

The promotions contract is the authority; this service checks the same rules
first so a bad request gets an error naming its field, signs consents with the
holder's key, keeps the published evaluation behind each round, and
distributes pools whose rollback window has closed. Reads come from the read
models (`services/promotion_views.py`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from couponchain.chain.gateway import Call, OpResult
from couponchain.domain import consent as consent_rules
from couponchain.domain.evaluation import Evaluation
from couponchain.domain.op_keys import op_key, request_part
from couponchain.domain.roles import Role
from couponchain.domain.splits import MAX_ORDER_AMOUNT, incentive
from couponchain.errors import ContractRevert, Forbidden, InvalidInput, NotFound
from couponchain.loops import BackgroundLoop
from couponchain.services import promotion_views as views
from couponchain.services.incentive_caps import IncentiveCaps
from couponchain.services.participants import Caller
from couponchain.services.promotion_evaluation import RoundEvaluator, RoundRequest
from couponchain.store.models import (
    PromotionAllocation,
    PromotionCoupon,
    PromotionEvaluation,
    PromotionRound,
)
from couponchain.web import qr

log = logging.getLogger(__name__)

#: Coupons one grant call may create (the contract's MAX_BATCH).
GRANT_CALL_MAX = 256
#: Coupons one grant request may create, sent in calls of GRANT_CALL_MAX.
GRANT_REQUEST_MAX = 10_000
ALLOCATIONS_MAX = 256
DEFAULT_CONSENT_LIFETIME = 120
#: Seconds a consent's lifetime stays under the round's limit: the contract
#: measures it from the block's timestamp, which may trail this clock a little.
CLOCK_MARGIN = 10
#: Shortest consent lifetime a round may set (a person must be able to show it).
MIN_CONSENT_LIFETIME = 30
MAX_ROLLBACK_WINDOW = 30 * 86_400
#: Most coupons one round may issue here. The contract takes up to 2**64 - 1,
#: but coupon ids must stay inside the read models' signed 64-bit integers.
MAX_ROUND_COUPONS = 10**12
#: What a holder writes for `merchant` to let any merchant use a consent.
ANY_MERCHANT_WORD = "any"
ACTIVE = 1


class PromotionService:
    """Writes go through the gateway; the distributor runs in the background."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime
        self._grant_locks: dict[tuple[str, int], asyncio.Lock] = {}
        #: Each merchant's spending cap for incentives (its token approval).
        self.caps = IncentiveCaps(runtime)
        self._distributing: set[int] = set()
        self._distributor: BackgroundLoop | None = None

    @property
    def db(self) -> Any:
        return self.rt.db

    # -- rounds ------------------------------------------------------------------

    async def evaluation(self, request: RoundRequest) -> tuple[Evaluation, dict[str, Any]]:
        """Measure the period, add the declared inputs and apply the formula
        (`promotion_evaluation.RoundEvaluator.evaluate`)."""
        return await RoundEvaluator(self.rt).evaluate(request)

    async def preview(self, caller: Caller, request: RoundRequest) -> dict[str, Any]:
        """What a round would issue, without writing anything."""
        self._platform_only(caller)
        result, published = await self.evaluation(request)
        return views.evaluation_public(result, published)

    async def open_round(self, caller: Caller, request: RoundRequest,
                         idempotency_key: str | None) -> dict[str, Any]:
        """Publish the evaluation and open the round with its total on chain."""
        self._platform_only(caller)
        if not 0 <= request.rollback_window <= MAX_ROLLBACK_WINDOW:
            raise InvalidInput(f"must be 0 to {MAX_ROLLBACK_WINDOW} seconds",
                               field="rollback_window_seconds")
        if not MIN_CONSENT_LIFETIME <= request.consent_lifetime \
                <= consent_rules.MAX_CONSENT_LIFETIME:
            raise InvalidInput(f"must be {MIN_CONSENT_LIFETIME} to 300 seconds",
                               field="consent_lifetime_seconds")
        if not 0 <= request.incentive_bps <= 10_000:
            raise InvalidInput("must be 0 to 10000 basis points", field="incentive_bps")
        result, published = await self.evaluation(request)
        if result.total == 0:
            raise InvalidInput("the formula issues 0 coupons for these inputs",
                               field="evaluation")
        if result.total > MAX_ROUND_COUPONS:
            raise InvalidInput(f"the formula issues {result.total} coupons; a round issues at "
                               f"most {MAX_ROUND_COUPONS:,} (lower formula.max_total)",
                               field="formula.max_total")
        key = views.evaluation_key("0x" + result.inputs_hash.hex(),
                                   published["measured"]["hash"])
        async with self.db.transaction() as s:
            if await s.get(PromotionEvaluation, key) is None:
                s.add(PromotionEvaluation(inputs_hash=key, inputs=published,
                                          total=result.total))
        period = published["period"]
        call = Call("promotions", "open_measured_round", fixed=(
            result.inputs_hash, result.total, request.incentive_bps, request.shares.as_tuple(),
            request.rollback_window, request.consent_lifetime, period["from_block"],
            period["to_block"], bytes.fromhex(published["measured"]["hash"][2:])),
            kind="open promotion round")
        op = await self._submit(caller, call, idempotency_key, "round")
        round_id = next(int(e.args["round_id"]) for e in await op.events()
                        if e.name == "RoundOpened")
        await self.rt.indexer.wait_for(op.block_number)
        return {**await views.round_detail(self.db, round_id), **_evidence(op)}

    async def allocate(self, caller: Caller, round_id: int,
                       allocations: Sequence[tuple[str, int]],
                       idempotency_key: str | None) -> dict[str, Any]:
        """Let merchants grant some of the round's coupons (one transaction)."""
        self._platform_only(caller)
        if not 1 <= len(allocations) <= ALLOCATIONS_MAX:
            raise InvalidInput(f"must hold 1 to {ALLOCATIONS_MAX} allocations",
                               field="allocations")
        row = await self._round(round_id)
        merchants = await self.rt.participants.addresses(
            [m for m, _ in allocations],
            [f"allocations.{i}.merchant" for i in range(len(allocations))], role=Role.MERCHANT)
        counts = [c for _, c in allocations]
        for i, count in enumerate(counts):
            if count < 1:
                raise InvalidInput("must be at least 1", field=f"allocations.{i}.count")
        if sum(counts) > row.total - row.allocated:
            raise ContractRevert("promotions: allocation exceeds the round total",
                                 field="allocations")
        op = await self._submit(caller, Call("promotions", "allocate", fixed=(
            round_id, merchants, counts), kind=f"allocate {sum(counts)} coupons"),
            idempotency_key, "allocate")
        await self.rt.indexer.wait_for(op.block_number)
        return {**await views.round_detail(self.db, round_id), **_evidence(op)}

    # -- grants and transfers ------------------------------------------------------

    async def grant(self, caller: Caller, round_id: int, grants: Sequence[tuple[str, int]],
                    idempotency_key: str | None) -> dict[str, Any]:
        """Grant coupons to consumers out of the merchant's allowance.

        Up to 256 coupons are one transaction; a larger request (up to 10,000)
        is sent in calls of 256, under a per-merchant lock after checking the
        allowance, so only this merchant's own requests could compete for it.
        """
        if caller.role != Role.MERCHANT:
            raise Forbidden("only a merchant grants promotion coupons")
        if not grants:
            raise InvalidInput("must hold at least one grant", field="grants")
        await self._round(round_id)
        consumers = await self.rt.participants.addresses(
            [c for c, _ in grants], [f"grants.{i}.consumer" for i in range(len(grants))],
            role=Role.CONSUMER)
        counts = [n for _, n in grants]
        for i, count in enumerate(counts):
            if count < 1:
                raise InvalidInput("must be at least 1", field=f"grants.{i}.count")
        total = sum(counts)
        if total > GRANT_REQUEST_MAX:
            raise InvalidInput(f"one request grants at most {GRANT_REQUEST_MAX} coupons",
                               field="grants")
        lock = self._grant_locks.setdefault((caller.address, round_id), asyncio.Lock())
        async with lock:
            left = await self._allowance_left(round_id, caller.address)
            if total > left:
                refused = ContractRevert("promotions: allowance exceeded", field="grants")
                refused.message = (f"{total} coupons asked for, {left} left in this merchant's "
                                   f"allocation of round {round_id}; nothing was granted")
                raise refused
            calls = _grant_calls(round_id, consumers, counts)
            ops: list[OpResult] = []
            for n, call in enumerate(calls):
                ops.append(await self._submit(caller, call, request_part(idempotency_key, n),
                                              "grant"))
        granted: list[dict[str, Any]] = []
        for op in ops:
            events = [e for e in await op.events() if e.name == "Granted"
                      and e.args["merchant"] == caller.address]
            if len(ops) == 1 and len(calls[0].fixed) == 1:  # merged: only our item's event
                events = [events[op.item_index]]
            granted.extend({"consumer": e.args["consumer"], "first_id": int(e.args["first_id"]),
                            "last_id": int(e.args["last_id"])} for e in events)
        await self.rt.indexer.wait_for(ops[-1].block_number)
        ids = [i for g in granted for i in range(g["first_id"], g["last_id"] + 1)]
        return {"round_id": round_id, "granted": len(ids), "coupon_ids": ids, "ranges": granted,
                "transactions": [op.tx_hash for op in ops], **_evidence(ops[-1])}

    async def _allowance_left(self, round_id: int, merchant: str) -> int:
        async with self.db.session() as s:
            row = await s.get(PromotionAllocation, (round_id, merchant))
        return 0 if row is None else row.allocated - row.granted

    async def transfer(self, caller: Caller, coupon_id: int, to: str,
                       idempotency_key: str | None) -> dict[str, Any]:
        """Pass a coupon to another consumer (its holder only)."""
        op = await self._applied(caller, idempotency_key, "transfer")
        if op is None:
            row = await self._active_coupon(coupon_id)
            if row.holder != caller.address:
                raise Forbidden("only the coupon's holder may transfer it", field="id")
            (receiver,) = await self.rt.participants.addresses([to], ["to"],
                                                               role=Role.CONSUMER)
            if receiver == caller.address:
                raise InvalidInput("must be another consumer", field="to")
            op = await self._submit(caller, Call("promotions", "transfer", fixed=(
                coupon_id, receiver), kind="transfer promotion coupon"), idempotency_key,
                "transfer")
        await self.rt.indexer.wait_for(op.block_number)
        return {"coupon": await views.coupon_detail(self.db, coupon_id), **_evidence(op)}

    # -- consent and write-off -------------------------------------------------------

    async def consent(self, caller: Caller, coupon_id: int, lifetime: int | None, *,
                      merchant: str, max_order_amount: int) -> dict[str, Any]:
        """A signed consent code for the holder to show (as text and as a QR).

        The consent is for `merchant` (an id or address; `"any"` when the
        holder lets any merchant use it) and orders up to `max_order_amount`:
        the contract refuses every other merchant and any larger order. The
        holder's custodial key signs it (a holder with its own key signs the
        same terms itself: services/self_custody_relay.py).
        """
        consent, merchant_name = await self.consent_terms(
            caller, coupon_id, lifetime, merchant=merchant, max_order_amount=max_order_amount)
        signer = await self.rt.participants.signer(caller.id)
        signature = consent_rules.sign_consent(consent, self.rt.chain_id, self._address,
                                               signer.key)
        return self.consent_answer(consent, signature, merchant_name)

    def consent_answer(self, consent: consent_rules.Consent, signature: bytes,
                       merchant_name: str | None) -> dict[str, Any]:
        """A signed consent as the holder shows it: code, QR and what it allows."""
        code = consent_rules.encode_code(consent, signature)
        return {"coupon_id": consent.coupon, "code": code, "nonce": str(consent.nonce),
                "expires_at": views.iso(consent.expiry), "expiry": consent.expiry,
                "merchant": None if consent.any_merchant else consent.merchant,
                "merchant_name": merchant_name, "max_order_amount": consent.max_amount,
                "qr_svg": qr.svg_data_uri(code)}

    async def consent_terms(self, caller: Caller, coupon_id: int, lifetime: int | None, *,
                            merchant: str, max_order_amount: int
                            ) -> tuple[consent_rules.Consent, str | None]:
        """The consent the holder may sign now (fresh nonce, expiry within the round's
        limit), checked as `consent` checks it, and the merchant's name (None: any)."""
        row = await self._active_coupon(coupon_id)
        if row.holder != caller.address:
            raise Forbidden("only the coupon's holder may consent to its write-off", field="id")
        if not 1 <= max_order_amount <= MAX_ORDER_AMOUNT:
            raise InvalidInput(f"must be 1 to {MAX_ORDER_AMOUNT}", field="max_order_amount")
        merchant_name: str | None = None
        if merchant == ANY_MERCHANT_WORD:
            merchant_address = consent_rules.ANY_MERCHANT
        else:
            (merchant_address,) = await self.rt.participants.addresses(
                [merchant], ["merchant"], role=Role.MERCHANT)
            merchant_name = await views.name_of(self.db, merchant_address)
        round_row = await self._round(row.round_id)
        longest = round_row.max_consent_lifetime - CLOCK_MARGIN
        lifetime = min(DEFAULT_CONSENT_LIFETIME, longest) if lifetime is None else lifetime
        if not 1 <= lifetime <= longest:
            raise InvalidInput(f"must be 1 to {longest} seconds (this round's limit less "
                               f"{CLOCK_MARGIN} s for clock skew)", field="lifetime_seconds")
        consent = consent_rules.Consent.new(coupon_id, secrets.randbits(64),
                                            now=int(time.time()), lifetime=lifetime,
                                            merchant=merchant_address,
                                            max_amount=max_order_amount)
        return consent, merchant_name

    async def write_off(self, caller: Caller, code: str, order_amount: int,
                        idempotency_key: str | None) -> dict[str, Any]:
        """Redeem a coupon with its holder's consent; charges the incentive into its pool."""
        merchant_id = caller.acts_for_merchant
        if merchant_id is None:
            raise Forbidden("only a merchant or its terminals write coupons off")
        if not 1 <= order_amount <= MAX_ORDER_AMOUNT:
            raise InvalidInput(f"must be 1 to {MAX_ORDER_AMOUNT}", field="order_amount")
        consent, signature = consent_rules.decode_code(code)
        applied = await self._applied(caller, idempotency_key, "write-off")
        if applied is not None:
            return await self._written_off(applied, consent.coupon, order_amount)
        row = await self._active_coupon(consent.coupon, field="code")
        round_row = await self._round(row.round_id)
        merchant = await self.rt.participants.get(merchant_id)
        consent.allows(merchant.address, order_amount)
        try:
            consent_rules.check_consent(
                consent, signature, chain_id=self.rt.chain_id, contract=self._address,
                holder=row.holder, now=int(time.time()),
                max_lifetime=round_row.max_consent_lifetime)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field="code") from None
        charge = incentive(order_amount, round_row.incentive_bps)
        try:
            op = await self._submit(caller, Call(
                "promotions", "write_off_batch",
                item=(consent.coupon, order_amount, consent.nonce, consent.expiry,
                      consent.merchant, consent.max_amount, signature),
                kind="write off promotion coupon"), idempotency_key, "write-off")
        except ContractRevert as exc:
            if exc.reason == "promotions: incentive cap exceeded":
                left = await self.caps.left(merchant.address)
                refused = ContractRevert(exc.reason, field="order_amount")
                refused.message = (f"this write-off's incentive of {charge} is more than the "
                                   f"{left} left of the merchant's incentive cap; the merchant "
                                   "raises its cap first (PUT /v1/merchants/{id}/incentive-cap)")
                raise refused from None
            if "exceeds balance" not in exc.reason:
                raise
            # The token refused the charge (the balance is the token's to check:
            # reading it first would cost every write-off a call to the node).
            refused = ContractRevert(exc.reason, field="order_amount")
            refused.message = (f"the merchant's credit balance does not cover this write-off's "
                               f"incentive of {charge}; top it up first")
            raise refused from None
        return await self._written_off(op, consent.coupon, order_amount)

    async def _written_off(self, op: OpResult, coupon_id: int,
                           order_amount: int) -> dict[str, Any]:
        event = next(e for e in await op.events() if e.name == "WrittenOff"
                     and int(e.args["coupon_id"]) == coupon_id)
        await self.rt.indexer.wait_for(op.block_number)
        row = await self._coupon(coupon_id, "code")
        round_row = await self._round(row.round_id)
        return {
            "coupon_id": coupon_id, "round_id": row.round_id, "holder": event.args["holder"],
            "merchant": event.args["merchant"], "operator": event.args["operator"],
            "order_amount": order_amount, "incentive": int(event.args["incentive"]),
            "pool": int(event.args["incentive"]),
            "reversible_until": views.iso(op.block_timestamp + round_row.rollback_window),
            **_evidence(op),
        }

    async def reverse(self, caller: Caller, coupon_id: int,
                      idempotency_key: str | None) -> dict[str, Any]:
        """Reverse a write-off inside the round's window (the redeeming merchant or terminals)."""
        row = await self._coupon(coupon_id)
        if row.status != 2:
            raise ContractRevert("promotions: pool already distributed" if row.status == 3
                                 else "promotions: coupon not written off", field="id")
        merchant_id = caller.acts_for_merchant
        merchant = await self.rt.participants.get(merchant_id) if merchant_id else None
        if merchant is None or merchant.address != row.redeemer:
            raise Forbidden("only the redeeming merchant or its terminals may reverse this")
        op = await self._submit(caller, Call("promotions", "reverse_write_off", fixed=(
            coupon_id,), kind="reverse write-off"), idempotency_key, "reverse")
        await self.rt.indexer.wait_for(op.block_number)
        return {"coupon": await views.coupon_detail(self.db, coupon_id), **_evidence(op)}

    # -- distribution --------------------------------------------------------------

    def start(self, interval: float) -> None:
        """Distribute due pools every `interval` seconds in the background."""
        # A failed round (a node restart, a DB hiccup) is logged; the next one retries.
        self._distributor = BackgroundLoop(
            "promotion pool distributor", self.distribute_due, interval, logger=log,
            failed="distributing promotion pools failed; retrying")
        self._distributor.start()

    async def stop(self) -> None:
        """Stop distributing (the round in flight is cancelled)."""
        if self._distributor is not None:
            await self._distributor.stop()
            self._distributor = None

    async def distribute_due(self, limit: int = 2048) -> int:
        """Distribute every pool whose rollback window has closed; returns how many."""
        now = int(time.time())
        async with self.db.session() as s:
            due = (await s.execute(
                select(PromotionCoupon.id).join(
                    PromotionRound, PromotionRound.id == PromotionCoupon.round_id)
                .where(PromotionCoupon.status == 2,
                       PromotionCoupon.written_off_at + PromotionRound.rollback_window < now)
                .order_by(PromotionCoupon.written_off_at).limit(limit))).scalars().all()
        due = [c for c in due if c not in self._distributing]
        if not due:
            return 0
        self._distributing.update(due)
        signer = await self.rt.participants.signer(self.rt.platform.caller.id)
        try:
            outcomes = await asyncio.gather(*[
                self.rt.gateway.submit(signer, Call("promotions", "distribute", item=(c,),
                                                    kind="distribute pool"))
                for c in due], return_exceptions=True)
            done = [o for o in outcomes if isinstance(o, OpResult)]
            for coupon_id, outcome in zip(due, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    log.info("pool of coupon %s not distributed: %s", coupon_id, outcome)
            if done:
                await self.rt.indexer.wait_for(max(o.block_number for o in done))
            return len(done)
        finally:
            self._distributing.difference_update(due)

    # -- helpers -------------------------------------------------------------------

    @property
    def _address(self) -> str:
        return self.rt.gateway.contracts["promotions"][0]  # type: ignore[no-any-return]

    @staticmethod
    def _platform_only(caller: Caller) -> None:
        if caller.role != Role.PLATFORM:
            raise Forbidden("only the platform runs promotion rounds")

    async def _round(self, round_id: int) -> PromotionRound:
        async with self.db.session() as s:
            row = await s.get(PromotionRound, round_id)
        if row is None:
            raise NotFound(f"promotion round {round_id} does not exist", field="round_id")
        return row  # type: ignore[no-any-return]

    async def _coupon(self, coupon_id: int, field: str = "id") -> PromotionCoupon:
        async with self.db.session() as s:
            row = await s.get(PromotionCoupon, coupon_id)
        if row is None:
            raise NotFound(f"promotion coupon {coupon_id} was not granted", field=field)
        return row  # type: ignore[no-any-return]

    async def _active_coupon(self, coupon_id: int, field: str = "id") -> PromotionCoupon:
        row = await self._coupon(coupon_id, field)
        if row.status != ACTIVE:
            raise ContractRevert("promotions: coupon not active", field=field)
        return row

    async def _applied(self, caller: Caller, idempotency_key: str | None,
                       what: str) -> OpResult | None:
        """The operation a retried request applied before its answer was lost, if any."""
        if idempotency_key is None:
            return None
        return await self.rt.gateway.outcome(  # type: ignore[no-any-return]
            op_key(caller.id, idempotency_key, what))

    async def _submit(self, caller: Caller, call: Call, idempotency_key: str | None,
                      what: str) -> OpResult:
        return await self.rt.gateway.submit(  # type: ignore[no-any-return]
            await self.rt.participants.signer(caller.id), call,
            op_key=op_key(caller.id, idempotency_key, what))


def _grant_calls(round_id: int, consumers: list[str], counts: list[int]) -> list[Call]:
    """Calls of at most 256 coupons each, in the request's order.

    A single consumer's grant of up to 256 is an item, so concurrent grants of
    one merchant share a transaction; anything else is one call per chunk.
    """
    if len(consumers) == 1 and counts[0] <= GRANT_CALL_MAX:
        return [Call("promotions", "grant", fixed=(round_id,), item=(consumers[0], counts[0]),
                     kind="grant promotion coupons")]
    calls: list[Call] = []
    chunk: list[tuple[str, int]] = []
    room = GRANT_CALL_MAX
    for consumer, count in zip(consumers, counts, strict=True):
        while count:
            take = min(count, room)
            chunk.append((consumer, take))
            count -= take
            room -= take
            if room == 0:
                calls.append(_grant_call(round_id, chunk))
                chunk, room = [], GRANT_CALL_MAX
    if chunk:
        calls.append(_grant_call(round_id, chunk))
    return calls


def _grant_call(round_id: int, chunk: list[tuple[str, int]]) -> Call:
    return Call("promotions", "grant", fixed=(round_id, [c for c, _ in chunk],
                                              [n for _, n in chunk]),
                kind=f"grant {sum(n for _, n in chunk)} promotion coupons")


def _evidence(op: OpResult) -> dict[str, Any]:
    return {"tx_hash": op.tx_hash, "block_number": op.block_number}
