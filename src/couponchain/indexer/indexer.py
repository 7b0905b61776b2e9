"""The indexer: follows contract events into SQL, resumable and idempotent.

It reads logs in ranges of blocks with one `eth_getLogs`, stores each event
once per (block hash, log index) and applies the projections in the same
database transaction, so a crash leaves either the whole range or none of it.
Before each range it checks that the last block it read still has the same
hash; if not (a reorg, or a dev node that restarted and replayed), it rewinds to
the last block that matches and rebuilds the read models from the stored events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, insert, select

from couponchain.chain.contracts import CompiledContract
from couponchain.chain.rpc import RpcClient
from couponchain.errors import ChainUnavailable
from couponchain.indexer.projections import PROJECTIONS, IndexedEvent, Projections, json_safe
from couponchain.store.db import Database
from couponchain.store.models import ChainEvent, ChainTx, IndexedBlock

log = logging.getLogger(__name__)

#: Seconds after a rewind the read models may stay held for a chain still replaying.
REBUILD_PATIENCE = 60.0

ContractsByAddress = Callable[[], dict[str, tuple[str, CompiledContract]]]


class Indexer:
    """Follows the chain; `lag` is how many blocks it is behind the head."""

    def __init__(
        self,
        db: Database,
        rpc: RpcClient,
        contracts: ContractsByAddress,
        projections: Projections = PROJECTIONS,
        *,
        chunk: int = 5000,
        max_events: int = 5000,
        poll_interval: float = 0.25,
    ) -> None:
        self.db = db
        self.rpc = rpc
        self.contracts = contracts
        self.projections = projections
        self.chunk = chunk
        #: Events per database transaction: a range holding more is cut at a block
        #: boundary, so the SQLite write lock is never held for long.
        self.max_events = max_events
        self.poll_interval = poll_interval
        self.head = 0
        self.indexed = -1
        self.rewinds = 0
        #: After a rewind, the chain head the read models must reach to be whole again.
        self.rebuilding_to: int | None = None
        self._rebuild_deadline = 0.0
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @property
    def lag(self) -> int:
        return max(0, self.head - self.indexed)

    async def start(self) -> None:
        async with self.db.session() as s:
            last = (await s.execute(select(func.max(IndexedBlock.number)))).scalar()
        self.indexed = -1 if last is None else last
        self._task = asyncio.create_task(self._run(), name="indexer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def nudge(self) -> None:
        """Something was just written: look now instead of at the next poll."""
        self._wake.set()

    def hold_until(self, block_number: int) -> None:
        """Count the read models as not whole until `block_number` is indexed (at most
        `REBUILD_PATIENCE` seconds once caught up with the chain's head)."""
        self.rebuilding_to = block_number
        self._rebuild_deadline = time.monotonic() + REBUILD_PATIENCE

    async def whole(self, timeout: float) -> bool:
        """Wait while a rewind left the read models behind the chain (a node that
        restarted and replayed: the read models went back to the last block it
        kept, and later rows are missing until re-indexed). True once whole."""
        target = self.rebuilding_to
        if target is None:
            return True
        try:
            await self.wait_for(target, timeout)
        except TimeoutError:
            return False
        return True

    async def wait_for(self, block_number: int, timeout: float = 30.0) -> None:
        """Return once every block up to `block_number` is in the read models."""
        self.nudge()
        async with asyncio.timeout(timeout), self._progress:
            await self._progress.wait_for(lambda: self.indexed >= block_number)

    async def _run(self) -> None:
        while True:
            try:
                caught_up = await self.step()
            except ChainUnavailable:
                caught_up = True
            except Exception:
                log.exception("indexer step failed")
                caught_up = True
            if caught_up:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def step(self) -> bool:
        """Index the next range of blocks; True when caught up with the head."""
        self.head = int(await self.rpc.call("eth_blockNumber"), 16)
        if self.indexed >= 0 and not await self._still_canonical(self.indexed):
            await self.rewind()
        if self.indexed >= self.head:
            if self.rebuilding_to is not None and time.monotonic() > self._rebuild_deadline:
                # The chain stopped short of the journal's last block (it cannot be
                # replayed whole): what is indexed is all there is; stop holding calls.
                log.warning("the chain stopped at block %d, short of block %d; serving "
                            "the read models as they are", self.head, self.rebuilding_to)
                self.rebuilding_to = None
            return True
        first, last = self.indexed + 1, min(self.head, self.indexed + self.chunk)
        contracts = self.contracts()
        logs: list[dict[str, Any]] = []
        if contracts:
            logs = await self.rpc.call("eth_getLogs", {
                "fromBlock": hex(first), "toBlock": hex(last), "address": list(contracts),
            })
        # One database transaction per slice of at most about `max_events` events, cut at
        # block boundaries, so the SQLite write lock is never held for long.
        while True:
            part, part_last = _bounded(logs, last, self.max_events)
            await self._store(part, first, part_last, contracts)
            if part_last >= last:
                break
            logs, first = logs[len(part):], part_last + 1
        return last >= self.head

    async def _store(self, logs: list[dict[str, Any]], first: int, last: int,
                     contracts: dict[str, tuple[str, CompiledContract]]) -> None:
        """Store blocks first..last (their events in `logs`) and apply the projections."""
        numbers = sorted({int(entry["blockNumber"], 16) for entry in logs} | {last})
        blocks = await self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        info = {n: (b["hash"], int(b["timestamp"], 16)) for n, b in zip(numbers, blocks,
                                                                          strict=True)}
        events = self._decode(logs, contracts, info)
        async with self.db.transaction() as s:
            await s.execute(delete(ChainEvent).where(ChainEvent.block_number.between(first, last)))
            await s.execute(delete(IndexedBlock).where(IndexedBlock.number.between(first, last)))
            if events:
                await s.execute(insert(ChainEvent), [
                    {"block_number": e.block_number, "block_hash": e.block_hash,
                     "log_index": e.log_index, "tx_hash": e.tx_hash,
                     "block_timestamp": e.timestamp, "contract": e.contract, "event": e.name,
                     "args": e.args} for e in events
                ])
            await s.execute(insert(IndexedBlock),
                            [{"number": n, "hash": info[n][0]} for n in numbers])
            await self.projections.apply(s, events)
        async with self._progress:
            self.indexed = last
            if self.rebuilding_to is not None and last >= self.rebuilding_to:
                self.rebuilding_to = None
            self._progress.notify_all()

    def _decode(
        self, logs: list[dict[str, Any]], contracts: dict[str, tuple[str, CompiledContract]],
        info: dict[int, tuple[str, int]],
    ) -> list[IndexedEvent]:
        events = []
        for entry in logs:
            name, code = contracts[entry["address"].lower()]
            decoded = code.decode_log(
                [bytes.fromhex(t[2:]) for t in entry["topics"]], bytes.fromhex(entry["data"][2:])
            )
            if decoded is None:
                continue
            number = int(entry["blockNumber"], 16)
            events.append(IndexedEvent(
                contract=name, name=decoded[0],
                args={k: json_safe(v) for k, v in decoded[1].items()},
                block_number=number, block_hash=entry["blockHash"],
                log_index=int(entry["logIndex"], 16), tx_hash=entry["transactionHash"],
                timestamp=info[number][1],
            ))
        events.sort(key=lambda e: (e.block_number, e.log_index))
        return events

    async def _still_canonical(self, number: int) -> bool:
        async with self.db.session() as s:
            stored = (await s.execute(
                select(IndexedBlock.hash).where(IndexedBlock.number == number))).scalar()
        block = await self.rpc.call("eth_getBlockByNumber", hex(number), False)
        return block is not None and stored is not None and block["hash"] == stored

    async def rewind(self) -> None:
        """Go back to the last block whose hash still matches; rebuild the read models."""
        async with self.db.session() as s:
            known = (await s.execute(
                select(IndexedBlock.number, IndexedBlock.hash)
                .order_by(IndexedBlock.number.desc()))).tuples().all()
        keep = -1
        for offset in range(0, len(known), 500):
            chunk = known[offset : offset + 500]
            blocks = await self.rpc.batch(
                [("eth_getBlockByNumber", [hex(n), False]) for n, _ in chunk])
            match = next((n for (n, h), b in zip(chunk, blocks, strict=True)
                          if isinstance(b, dict) and b["hash"] == h), None)
            if match is not None:
                keep = match
                break
        log.warning("chain changed below block %d; rewinding the indexer to %d",
                    self.indexed, keep)
        async with self.db.transaction() as s:
            await s.execute(delete(ChainEvent).where(ChainEvent.block_number > keep))
            await s.execute(delete(IndexedBlock).where(IndexedBlock.number > keep))
            await self.rebuild(s)
            # A node still replaying the journal has not reached its old head yet:
            # the read models are whole only once past the journal's last block too.
            journaled = await s.scalar(select(func.max(ChainTx.block_number)))
        async with self._progress:
            self.indexed = keep
            target = max(self.head, journaled or 0, self.rebuilding_to or 0)
            if keep < target:
                self.hold_until(target)
        self.rewinds += 1

    async def rebuild(self, session: Any) -> None:
        """Empty the read models and replay every stored event through the projections."""
        for table in reversed(self.projections.tables):
            await session.execute(table.delete())
        last_id = 0
        while True:
            rows = (await session.execute(
                select(ChainEvent).where(ChainEvent.id > last_id)
                .order_by(ChainEvent.id).limit(5000)
            )).scalars().all()
            if not rows:
                return
            await self.projections.apply(session, [
                IndexedEvent(r.contract, r.event, r.args, r.block_number, r.block_hash,
                             r.log_index, r.tx_hash, r.block_timestamp) for r in rows
            ])
            last_id = max(r.id for r in rows)


def _bounded(
    logs: list[dict[str, Any]], last: int, max_events: int
) -> tuple[list[dict[str, Any]], int]:
    """At most about `max_events` logs, ending at a whole block (at least one block)."""
    if len(logs) <= max_events:
        return logs, last
    cut_block = int(logs[max_events]["blockNumber"], 16)
    first_block = int(logs[0]["blockNumber"], 16)
    end = max(cut_block - 1, first_block)
    kept = [entry for entry in logs if int(entry["blockNumber"], 16) <= end]
    return kept, end
