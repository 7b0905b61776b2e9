"""Puts acknowledged prize claims on chain, in the background (DESIGN §2.4).

A terminal's claim is acknowledged as soon as its row is committed in the
prize-claim database: that commit is what makes a code count once (the award
id and the code nonce are unique), and it is durable, so the terminal can hand
the prize over at once instead of waiting for a block. Recording it on chain
follows here: each claim is submitted as a `claim_batch_at` item naming the
terminal that scanned it and carrying the winner's claim signature (from the
code it showed; the contract refuses a claim without it), sent by the
campaign's merchant, so the claims of
all of a merchant's terminals are group-committed into few transactions (one
per terminal would cost a transaction and a block each); the gateway journals
each under the claim's operation key. The row is then settled `recorded`
(with the transaction) or `refused` (with the contract's reason; the contract
stays the final authority, and a refusal is kept and shown rather than
silently deleted).

Nothing is lost between the two steps: a row stays `pending` until settled,
and a sweep resubmits pending rows that have no submission in flight, at
start-up (after a crash of the API process) and whenever the node was away.
A resubmission carries the same operation key, so the gateway returns the
first submission's outcome instead of claiming twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from couponchain.chain.gateway import Call, OpResult
from couponchain.domain.op_keys import platform_key
from couponchain.errors import ContractRevert
from couponchain.loops import BackgroundLoop
from couponchain.store.models import Participant, PrizeClaim

log = logging.getLogger(__name__)

#: A pending claim older than this, with no submission in flight, is resubmitted.
RESUBMIT_AFTER = 10
#: Rows one sweep picks up.
SWEEP_LIMIT = 5_000
#: The longest refusal reason kept with a row.
REASON_MAX = 200


class ClaimRecorder:
    """Submits claim rows to the prizes contract and settles them as outcomes arrive."""

    def __init__(self, runtime: Any, notify: Any) -> None:
        self.rt = runtime
        self._notify = notify
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._settled: list[tuple[int, int, OpResult | ContractRevert]] = []
        self._wake = asyncio.Event()
        self._loops: list[BackgroundLoop] = []
        self._merchants: dict[str, str] = {}

    def start(self, sweep_interval: float) -> None:
        """Settle outcomes as they come, and sweep pending rows every `sweep_interval` s."""
        self._loops = [
            # Woken by each outcome; a failed write (a DB hiccup) is retried a second later
            # with the outcomes put back.
            BackgroundLoop("prize claim settler", self._settle, None, wake=self._wake,
                           retry_after=1, logger=log,
                           failed="settling prize claims failed; retrying"),
            BackgroundLoop("prize claim sweeper", self.sweep, sweep_interval, logger=log,
                           failed="sweeping pending prize claims failed; retrying"),
        ]
        for loop in self._loops:
            loop.start()

    async def stop(self) -> None:
        """Stop both loops and the submissions in flight; settle what already arrived."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*[loop.stop() for loop in self._loops], *tasks,
                             return_exceptions=True)
        self._loops, self._inflight = [], {}
        if self._settled:  # outcomes that arrived before the stop still count
            await self._settle()

    def record(self, rows: Iterable[PrizeClaim]) -> None:
        """Put committed claim rows on chain (a row already on its way is skipped)."""
        for row in rows:
            if row.id not in self._inflight:
                self._inflight[row.id] = asyncio.create_task(
                    self._submit(row.id, row.campaign_id, row.terminal_id, row.terminal,
                                 row.award_id, row.consumer, row.claim_expiry or 0,
                                 bytes(row.claim_signature or b"")),
                    name=f"prize claim {row.id}")

    async def settled(self, claim_ids: Iterable[int], timeout: float = 30) -> None:
        """Wait until none of `claim_ids` is pending (tests and scripts follow a claim)."""
        ids = list(claim_ids)
        deadline = time.monotonic() + timeout
        while True:
            async with self.rt.db.session() as s:
                pending = await s.scalar(select(PrizeClaim.id).where(
                    PrizeClaim.id.in_(ids), PrizeClaim.status == "pending").limit(1))
            if pending is None:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"claim {pending} is still pending after {timeout} s")
            await asyncio.sleep(0.05)

    async def sweep(self) -> int:
        """Resubmit pending claims that have no submission in flight; returns how many."""
        cutoff = int(time.time()) - RESUBMIT_AFTER
        async with self.rt.db.session() as s:
            rows = (await s.execute(select(PrizeClaim).where(
                PrizeClaim.status == "pending", PrizeClaim.claimed_at <= cutoff)
                .order_by(PrizeClaim.id).limit(SWEEP_LIMIT))).scalars().all()
        stale = [r for r in rows if r.id not in self._inflight]
        if stale:
            log.info("resubmitting %d pending prize claims", len(stale))
            self.record(stale)
        return len(stale)

    async def _submit(self, claim_id: int, campaign_id: int, terminal_id: str,
                      terminal: str, award_id: int, consumer: str, expiry: int,
                      signature: bytes) -> None:
        try:
            signer = await self.rt.participants.signer(await self._merchant_of(terminal_id))
            outcome: OpResult | ContractRevert = await self.rt.gateway.submit(
                signer, Call("prizes", "claim_batch_at",
                             item=(award_id, consumer, terminal, expiry, signature),
                             kind="claim prize"),
                op_key=platform_key("prize-claim", claim_id))
        except ContractRevert as exc:
            outcome = exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the node is away: the row stays pending, the sweep retries
            log.warning("claim %s of award %s not on chain yet: %s", claim_id, award_id, exc)
            self._inflight.pop(claim_id, None)
            return
        self._settled.append((claim_id, campaign_id, outcome))
        self._wake.set()

    async def _merchant_of(self, terminal_id: str) -> str:
        """The merchant a claiming terminal (or merchant) belongs to; never changes."""
        merchant_id = self._merchants.get(terminal_id)
        if merchant_id is None:
            row = await self.rt.db.read(lambda s: s.get(Participant, terminal_id))
            merchant_id = row.merchant_id or row.id
            self._merchants[terminal_id] = merchant_id
        return merchant_id

    async def _settle(self) -> None:
        """Write every outcome that arrived, in one transaction."""
        batch, self._settled = self._settled, []
        if not batch:
            return
        recorded = [{"claim": c, "tx": o.tx_hash, "block": o.block_number}
                    for c, _, o in batch if isinstance(o, OpResult)]
        refused = []
        for claim_id, _campaign, outcome in batch:
            if not isinstance(outcome, OpResult):
                log.warning("the prizes contract refused claim %s: %s", claim_id,
                            outcome.reason)
                refused.append({"claim": claim_id, "reason": outcome.reason[:REASON_MAX]})
        table = PrizeClaim.__table__
        pending = (table.c.id == bindparam("claim")) & (table.c.status == "pending")
        def store(s: Session) -> None:  # one statement each (executemany)
            if recorded:
                s.execute(update(table).where(pending).values(  # type: ignore[arg-type]
                    status="recorded", tx_hash=bindparam("tx"),
                    block_number=bindparam("block")), recorded)
            if refused:
                s.execute(update(table).where(pending).values(  # type: ignore[arg-type]
                    status="refused", refusal=bindparam("reason")), refused)

        try:
            await self.rt.db.write(store)
        except BaseException:
            self._settled[:0] = batch
            raise
        for claim_id, _campaign, _outcome in batch:
            self._inflight.pop(claim_id, None)
        # The live views count the chain's claims: wake them once those are indexed.
        blocks = [o.block_number for _, _, o in batch if isinstance(o, OpResult)]
        if blocks:
            await self.rt.indexer.wait_for(max(blocks))
        for campaign_id in {c for _, c, _ in batch}:
            self._notify(campaign_id)
