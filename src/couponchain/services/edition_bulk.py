"""Bulk sales of one edition: all or nothing across many transactions (DESIGN §2.1).

Up to `CHUNK` sales fit one `record_sales` transaction, which the contract
applies whole or not at all. A larger request (up to 10,000 sales) first books
its whole count with one `reserve` transaction: refused whole, with nothing
written, when the pieces are not there. Then its chunks consume the
reservation with `record_reserved_sales`, which the contract never refuses
for capacity, whatever other requests, terminals or API processes sell in
between. The invariant `sold + reserved <= cap` is the contract's, so it holds
across processes.

Recovery:
- The reservation key is derived from the request's Idempotency-Key, and each
  transaction has an operation key in the gateway's journal: a retry after a
  crash half-way finds its reservation and its journaled chunks, and records
  exactly the chunks that are missing.
- A request that fails for good (the contract refuses a chunk, or there is no
  Idempotency-Key to retry with) releases what is left of its reservation.
- An abandoned reservation (a crash that is never retried) expires after
  `RESERVATION_SECONDS`; anyone may release it then, and a request short of
  capacity releases the expired reservations of its edition first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from eth_abi import encode
from eth_utils import keccak
from sqlalchemy import select

from couponchain.chain.gateway import Call, OpResult
from couponchain.domain.edition_slots import serial_text
from couponchain.domain.op_keys import op_key, request_part
from couponchain.errors import Conflict, ContractRevert, CouponChainError
from couponchain.services import edition_views
from couponchain.store.models import ChainOp

if TYPE_CHECKING:
    from couponchain.services.editions import EditionService
    from couponchain.services.participants import Caller

log = logging.getLogger(__name__)

#: Sales per `record_sales` call: about 28k gas each, so 400 stay well inside the
#: 16M gas a transaction may use (EIP-7825). A bulk request of at most this many
#: is one transaction, hence atomic on chain without a reservation.
CHUNK = 400
#: Lifetime of a bulk request's reservation: 10,000 sales take 25 chunks, a few
#: seconds on the embedded node and minutes on a slow chain; a client retrying
#: after a crash has the rest of the ten minutes to find its reservation.
RESERVATION_SECONDS = 600
CAP_EXCEEDED = "editions: cap exceeded"
#: Seconds to wait for the read models to take a bulk request's sales: a base
#: plus a generous allowance per sale (PostgreSQL indexes a few hundred a second
#: on two shared cores).
INDEX_WAIT = 30.0
INDEX_PER_SALE = 0.01

#: One sale as the contract takes it: buyer, price, channel, order reference hash.
Item = tuple[str, int, int, bytes]


def reservation_key(caller_id: str, edition_id: int, idempotency_key: str | None) -> bytes:
    """The key of a bulk request's reservation: from its Idempotency-Key, so a
    retry finds the same reservation; random without one."""
    if idempotency_key is None:
        return os.urandom(32)
    return keccak(text=f"couponchain/sales:bulk/{caller_id}/{edition_id}/{idempotency_key}")


def reservation_id(holder: str, key: bytes) -> bytes:
    """The contract's id of `holder`'s reservation under `key`."""
    return keccak(encode(["address", "bytes32"], [holder, key]))


def chunks(items: Sequence[Any], size: int = CHUNK) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class BulkSeller:
    """Sends one validated bulk request to the chain."""

    def __init__(self, service: EditionService) -> None:
        self.svc = service
        self.rt = service.rt

    async def send(self, caller: Caller, edition_id: int, items: list[Item],
                   idempotency_key: str | None) -> dict[str, Any]:
        """Record `items` in order; all of them, or (as far as capacity goes) none."""
        parts = chunks(items)
        op_keys = [request_part(idempotency_key, "bulk", n) for n in range(len(parts))]
        if len(parts) == 1:
            return await self._respond(edition_id, [await self._send_alone(
                caller, edition_id, items, op_keys[0])])
        signer = await self.rt.participants.signer(caller.id)
        key = reservation_key(caller.id, edition_id, idempotency_key)
        held = reservation_id(signer.address, key)
        journaled = await self._journaled(caller, op_keys)
        await self._reserve(caller, edition_id, len(items), key, idempotency_key)
        # A retry: what is left of the reservation must cover the chunks still
        # missing (none missing: every chunk returns its first outcome).
        missing = sum(len(c) for c, k in zip(parts, op_keys, strict=True) if k not in journaled)
        if journaled and missing:
            problem = await self._short_reservation(held, missing, len(items))
            if problem is not None:
                await self._release(caller, held, idempotency_key)
                raise problem
        # The chunks go together, in order: they share blocks (on a chain sealing
        # a block a second, 10,000 sales take one or two, not 25).
        calls = [(Call("editions", "record_reserved_sales", fixed=(held, *_columns(part)),
                       kind=f"record {len(part)} reserved sales"),
                  op_key(caller.id, chunk_key, "sales"))
                 for part, chunk_key in zip(parts, op_keys, strict=True)]
        outcomes = await self.rt.gateway.submit_in_order(signer, calls)
        results = [o for o in outcomes if isinstance(o, OpResult)]
        failed = [(n, o) for n, o in enumerate(outcomes) if isinstance(o, BaseException)]
        if failed:
            exc = failed[0][1]
            final = idempotency_key is None or (
                isinstance(exc, CouponChainError) and exc.status < 500)
            if final:  # nobody will come back for it: give the pieces back now
                await self._release(caller, held, idempotency_key)
            if isinstance(exc, ContractRevert) and results:
                done = sum(len(parts[n]) for n, o in enumerate(outcomes)
                           if isinstance(o, OpResult))
                chunks_failed = ", ".join(str(n + 1) for n, _ in failed)
                raise Conflict(
                    f"{exc.reason}: {done} of {len(items)} sales were recorded "
                    f"(transactions {', '.join(r.tx_hash for r in results)}) and those of "
                    f"chunks {chunks_failed} of {len(parts)} were not; the rest of the "
                    "reservation was released") from exc
            raise exc
        return await self._respond(edition_id, results)

    async def _send_alone(self, caller: Caller, edition_id: int, items: list[Item],
                          op_key: str | None) -> OpResult:
        call = Call("editions", "record_sales", fixed=(edition_id, *_columns(items)),
                    kind=f"record {len(items)} sales")
        try:
            return await self.svc._submit(caller, call, op_key, "sales")
        except ContractRevert as exc:
            if exc.reason != CAP_EXCEEDED:
                raise
            raise await self._short(edition_id, len(items)) from exc

    async def _reserve(self, caller: Caller, edition_id: int, count: int, key: bytes,
                       idempotency_key: str | None) -> OpResult:
        await self.free_expired(caller, edition_id, count)
        expires = await self._now() + RESERVATION_SECONDS
        call = Call("editions", "reserve", fixed=(edition_id, count, key, expires),
                    kind=f"reserve {count} pieces")
        try:
            return await self.svc._submit(caller, call, _bulk_key(idempotency_key), "reserve")
        except ContractRevert as exc:
            if exc.reason != CAP_EXCEEDED:
                raise
            raise await self._short(edition_id, count) from exc

    async def _short(self, edition_id: int, count: int) -> ContractRevert:
        remaining = int(await self.rt.view("editions", "remaining", edition_id))
        refused = ContractRevert(CAP_EXCEEDED, field="sales")
        refused.message = (f"{count} sales do not fit: {remaining} pieces are left; "
                           "nothing was recorded")
        return refused

    async def _short_reservation(self, held: bytes, missing: int, total: int) -> Conflict | None:
        """Why a retried request's reservation cannot take its missing sales, if so."""
        _edition, _holder, left, expires, released = await self.rt.view(
            "editions", "reservation", held)
        if missing <= left and not released and expires > await self._now():
            return None
        state = "was released" if released else (
            "expired" if left >= missing else f"has {left} pieces left")
        return Conflict(f"this request's reservation {state}: {total - missing} of its {total} "
                        f"sales were recorded by an earlier attempt and {missing} cannot be")

    async def _release(self, caller: Caller, held: bytes, idempotency_key: str | None) -> None:
        call = Call("editions", "release", fixed=(held,), kind="release reservation")
        try:
            await self.svc._submit(caller, call, _bulk_key(idempotency_key), "release")
        except Exception:  # it expires anyway; the request's own error matters more
            log.exception("could not release reservation 0x%s", held.hex())

    async def free_expired(self, caller: Caller, edition_id: int, count: int) -> None:
        """Release the edition's expired reservations when `count` would not fit
        without their pieces (anyone may, once they expired)."""
        edition = await self.svc.record(edition_id)
        if edition.cap - edition.sold - edition.reserved >= count:
            return
        now = await self._now()
        for row in await edition_views.reservations_of(self.rt.db, edition_id,
                                                       expired_at=now):
            call = Call("editions", "release", fixed=(bytes.fromhex(row.id[2:]),),
                        kind="release expired reservation")
            with contextlib.suppress(ContractRevert):  # released by someone else meanwhile
                await self.svc._submit(caller, call, None, "release")

    async def _journaled(self, caller: Caller, keys: list[str | None]) -> set[str | None]:
        """The chunk keys whose operations are already in the gateway's journal."""
        op_keys = {op_key(caller.id, k, "sales"): k for k in keys if k is not None}
        if not op_keys:
            return set()
        async with self.rt.db.session() as s:
            found = (await s.execute(select(ChainOp.op_key).where(
                ChainOp.op_key.in_(list(op_keys)), ChainOp.status != "failed"))).scalars()
            return {op_keys[k] for k in found if k is not None}

    async def _now(self) -> int:
        """The chain's time (its latest block), which expiry is measured in."""
        block = await self.rt.rpc.call("eth_getBlockByNumber", "latest", False)
        chain_time = int(block["timestamp"], 16) if isinstance(block, dict) else 0
        return max(chain_time, int(time.time()))

    async def _respond(self, edition_id: int, results: list[OpResult]) -> dict[str, Any]:
        coupons: list[dict[str, Any]] = []
        edition = await self.svc.record(edition_id)
        for result in results:
            for e in await result.events():
                if e.name == "CouponSold":
                    coupons.append({"serial": serial_text(edition.prefix, int(e.args["serial"])),
                                    "coupon_id": int(e.args["coupon_id"]),
                                    "owner": e.args["buyer"]})
        last = results[-1]
        # The read models take their time over thousands of sales (each one is
        # a coupon, a history row and a counter update): allow for it.
        await self.rt.indexer.wait_for(last.block_number,
                                       timeout=INDEX_WAIT + len(coupons) * INDEX_PER_SALE)
        return {"edition_id": edition_id, "recorded": len(coupons), "coupons": coupons,
                "transactions": [r.tx_hash for r in results],
                "tx_hash": last.tx_hash, "block_number": last.block_number}


def _columns(items: Sequence[Item]) -> tuple[list[Any], ...]:
    return tuple(list(col) for col in zip(*items, strict=True))


def _bulk_key(idempotency_key: str | None) -> str | None:
    return request_part(idempotency_key, "bulk")
