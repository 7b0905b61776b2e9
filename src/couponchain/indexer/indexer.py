"""The indexer: follows contract events into SQL, resumable and idempotent.

It reads logs in ranges of blocks with `eth_getLogs`, stores each event once
per (block hash, log index) and applies the projections in the same database
transaction, so a crash leaves either a whole slice of the range or none of it.
Before each range it checks that the last block it read still has the same
hash; if not (a reorg, or a dev node that restarted and replayed), it finds the
last block that matches. When the node re-made the blocks after it from the same
transactions (geth sealing again, at their recorded times, the blocks a `kill -9`
lost), their events are the same: only the stored block hashes change, and no
read model is rebuilt. Otherwise it rewinds to that block and rebuilds the read
models from the stored events.

Catching up, a range is read in pieces of about `max_events` logs, the next
piece fetched while the last one is stored, so the node serialises logs on one
core while this process decodes and writes on the other. Measured with
bench/indexer.py (210,000 events): 635 events/s before the pieces, the
plain-row inserts and the decoding in `decoding.py`, about 20,000 after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session

from couponchain.chain.contracts import CompiledContract
from couponchain.chain.rpc import RpcClient
from couponchain.errors import ChainUnavailable
from couponchain.indexer.decoding import LogDecoder
from couponchain.indexer.projections import PROJECTIONS, IndexedEvent, Projections
from couponchain.indexer.rows import insert_rows
from couponchain.store.db import Database
from couponchain.store.models import ChainEvent, ChainTx, IndexedBlock

log = logging.getLogger(__name__)

_EVENTS = cast(Table, ChainEvent.__table__)
_EVENT_COLUMNS = ("block_number", "block_hash", "log_index", "tx_hash", "block_timestamp",
                  "contract", "event", "args")
_BLOCKS = cast(Table, IndexedBlock.__table__)

#: Seconds after a rewind the read models may stay held for a chain still replaying.
REBUILD_PATIENCE = 60.0
#: Blocks in the first eth_getLogs of a catch-up, before the density is known.
FIRST_SPAN = 10
#: A range of at most this many blocks (following the head) is read in one request:
#: its logs and every block's hash and timestamp together.
NEAR_HEAD = 16
#: At most this many changed blocks, holding at most this many events, are compared
#: event by event with the stored ones (to keep the read models) instead of rewound.
RECHECK_BLOCKS = 5000
RECHECK_EVENTS = 50_000

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
        #: (number, hash) of the last block stored, so the check before each step
        #: needs no read of the database.
        self._last_stored: tuple[int, str] | None = None
        self._task: asyncio.Task[None] | None = None
        #: Blocks per eth_getLogs, learned from the density of the last piece.
        self._span = min(chunk, FIRST_SPAN)
        #: Blocks whose hashes changed but whose events were the same (kept, not rewound).
        self.rehashed = 0
        #: Until when a node short of the changed blocks may still be replaying them.
        self._recheck_deadline: float | None = None

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
        if self.indexed < 0:
            self.head = int(await self.rpc.call("eth_blockNumber"), 16)
        else:  # the head and the last indexed block, in one request
            head, block = await self.rpc.batch([
                ("eth_blockNumber", []), ("eth_getBlockByNumber", [hex(self.indexed), False])],
                strict=True)
            self.head = int(head, 16)
            if not await self._still_canonical(self.indexed, block):
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
        addresses = list(contracts)
        # The range is read in pieces of about `max_events` logs (the span in blocks
        # is learned from the density of the last piece), and the next piece is
        # fetched while this one is stored: the node works beside the database.
        fetching = asyncio.ensure_future(
            self._fetch(addresses, first, min(last, first + self._span - 1)))
        try:
            while True:
                piece = await fetching
                if piece.last < last:
                    self._span = _next_span(self._span, piece, self.max_events, self.chunk)
                    fetching = asyncio.ensure_future(self._fetch(
                        addresses, piece.last + 1, min(last, piece.last + self._span)))
                for part, part_first, part_last in piece.parts:
                    await self._store(part, part_first, part_last, contracts, piece.blocks)
                if piece.last >= last:
                    break
        finally:
            if not fetching.done():
                fetching.cancel()
                with contextlib.suppress(asyncio.CancelledError, ChainUnavailable):
                    await fetching
        return last >= self.head

    async def _fetch(self, addresses: list[str], first: int, last: int) -> _Piece:
        """The logs of blocks first..last, cut into slices of at most about `max_events`
        at block boundaries (one database transaction each), with their blocks' hashes
        and timestamps."""
        logs: list[dict[str, Any]] = []
        query = {"fromBlock": hex(first), "toBlock": hex(last), "address": addresses}
        known: dict[int, tuple[str, int]] = {}
        if last - first < NEAR_HEAD:  # following the head: one request for everything
            numbers = range(first, last + 1)
            replies = await self.rpc.batch(
                ([("eth_getLogs", [query])] if addresses else [])
                + [("eth_getBlockByNumber", [hex(n), False]) for n in numbers], strict=True)
            if addresses:
                logs = replies.pop(0)
            known = {n: (b["hash"], int(b["timestamp"], 16))
                     for n, b in zip(numbers, replies, strict=True)}
        elif addresses:
            logs = await self.rpc.call("eth_getLogs", query)
        count = len(logs)
        parts: list[tuple[list[dict[str, Any]], int, int]] = []
        part_first = first
        while True:
            part, part_last = _bounded(logs, last, self.max_events)
            parts.append((part, part_first, part_last))
            if part_last >= last:
                break
            logs, part_first = logs[len(part):], part_last + 1
        if known:
            return _Piece(first, last, count, parts, known)
        needed = sorted({int(entry["blockNumber"], 16) for part, _, _ in parts
                         for entry in part} | {part_last for _, _, part_last in parts})
        blocks = await self.rpc.batch([("eth_getBlockByNumber", [hex(n), False])
                                       for n in needed])
        info = {n: (b["hash"], int(b["timestamp"], 16)) for n, b in zip(needed, blocks,
                                                                          strict=True)}
        return _Piece(first, last, count, parts, info)

    async def _store(self, logs: list[dict[str, Any]], first: int, last: int,
                     contracts: dict[str, tuple[str, CompiledContract]],
                     info: dict[int, tuple[str, int]]) -> None:
        """Store blocks first..last (their events in `logs`) and apply the projections."""
        numbers = sorted({int(entry["blockNumber"], 16) for entry in logs} | {last})
        events = LogDecoder(contracts).decode(logs, {n: t for n, (_, t) in info.items()})

        def store(s: Session) -> None:
            s.execute(delete(ChainEvent).where(ChainEvent.block_number.between(first, last)))
            s.execute(delete(IndexedBlock).where(IndexedBlock.number.between(first, last)))
            insert_rows(s, _EVENTS, _EVENT_COLUMNS, [
                (e.block_number, e.block_hash, e.log_index, e.tx_hash, e.timestamp, e.contract,
                 e.name, e.args) for e in events])
            insert_rows(s, _BLOCKS, ("number", "hash"), [(n, info[n][0]) for n in numbers])
            self.projections.apply(s, events)

        await self.db.write(store)  # in the writer thread, committed with other writes
        async with self._progress:
            self.indexed = last
            self._last_stored = (last, info[last][0])
            if self.rebuilding_to is not None and last >= self.rebuilding_to:
                self.rebuilding_to = None
            self._progress.notify_all()

    async def _still_canonical(self, number: int, block: dict[str, Any] | None) -> bool:
        """Whether `block` (the node's block `number`) is the one stored."""
        if self._last_stored is not None and self._last_stored[0] == number:
            stored: str | None = self._last_stored[1]
        else:  # after a start or a rewind
            stored = await self.db.read(lambda s: s.scalar(
                select(IndexedBlock.hash).where(IndexedBlock.number == number)))
        return block is not None and stored is not None and block["hash"] == stored

    async def _last_matching(self) -> int:
        """The last stored block whose hash the node still has (-1: none)."""
        below = self.indexed + 1
        while True:
            async with self.db.session() as s:
                chunk = (await s.execute(
                    select(IndexedBlock.number, IndexedBlock.hash)
                    .where(IndexedBlock.number < below)
                    .order_by(IndexedBlock.number.desc()).limit(500))).tuples().all()
            if not chunk:
                return -1
            blocks = await self.rpc.batch(
                [("eth_getBlockByNumber", [hex(n), False]) for n, _ in chunk])
            match = next((n for (n, h), b in zip(chunk, blocks, strict=True)
                          if isinstance(b, dict) and b["hash"] == h), None)
            if match is not None:
                return match
            below = chunk[-1][0]

    async def _same_events_after(self, keep: int) -> bool | None:
        """Whether the node's blocks keep+1..indexed carry exactly the stored events;
        if so, store their new hashes (events and read models stay). None while the
        node, short of those blocks, may still be replaying them."""
        top = self.indexed
        if top - keep > RECHECK_BLOCKS:
            return False
        events = await self.db.read(lambda s: s.scalar(
            select(func.count()).select_from(_EVENTS).where(_EVENTS.c.block_number > keep)))
        if (events or 0) > RECHECK_EVENTS:
            return False
        head = int(await self.rpc.call("eth_blockNumber"), 16)
        if head < top:
            if self._recheck_deadline is None:
                self._recheck_deadline = time.monotonic() + REBUILD_PATIENCE
            if time.monotonic() < self._recheck_deadline:
                return None
            return False
        self._recheck_deadline = None
        contracts = self.contracts()
        numbers = range(keep + 1, top + 1)
        replies = await self.rpc.batch(
            [("eth_getLogs", [{"fromBlock": hex(keep + 1), "toBlock": hex(top),
                               "address": list(contracts)}])]
            + [("eth_getBlockByNumber", [hex(n), False]) for n in numbers], strict=True)
        logs = replies.pop(0) if contracts else []
        info = {n: (b["hash"], int(b["timestamp"], 16))
                for n, b in zip(numbers, replies, strict=True)}
        fresh = sorted((e.block_number, e.log_index, e.tx_hash, e.timestamp, e.contract,
                        e.name, e.args) for e in LogDecoder(contracts).decode(
                            logs, {n: t for n, (_, t) in info.items()}))
        c = _EVENTS.c

        def compare_and_rehash(s: Session) -> bool:
            stored = sorted(tuple(r) for r in s.execute(
                select(c.block_number, c.log_index, c.tx_hash, c.block_timestamp, c.contract,
                       c.event, c.args).where(c.block_number > keep)).tuples().all())
            if stored != fresh:
                return False
            old = dict(s.execute(select(_BLOCKS.c.number, _BLOCKS.c.hash)
                                 .where(_BLOCKS.c.number > keep)).tuples().all())
            for number, old_hash in old.items():
                new_hash = info[number][0]
                s.execute(_BLOCKS.update().where(_BLOCKS.c.number == number)
                          .values(hash=new_hash))
                for table in [_EVENTS, *self.projections.tables]:
                    if "block_hash" in table.c:
                        s.execute(table.update().where(table.c.block_hash == old_hash)
                                  .values(block_hash=new_hash))
            return True

        if not await self.db.write(compare_and_rehash):
            return False
        self._last_stored = (top, info[top][0])
        self.rehashed += top - keep
        log.warning("blocks %d-%d were sealed again with the same events; kept the read "
                    "models and stored the new hashes", keep + 1, top)
        return True

    async def rewind(self) -> None:
        """Go back to the last block whose hash still matches and rebuild the read models,
        unless the blocks after it were re-made with the same events."""
        keep = await self._last_matching()
        if keep < self.indexed:
            same = await self._same_events_after(keep)
            if same is None or same:
                return  # None: the node is still replaying; look again next step
        log.warning("chain changed below block %d; rewinding the indexer to %d",
                    self.indexed, keep)
        def rewind(s: Session) -> int | None:
            s.execute(delete(ChainEvent).where(ChainEvent.block_number > keep))
            s.execute(delete(IndexedBlock).where(IndexedBlock.number > keep))
            self.rebuild(s)
            # A node still replaying the journal has not reached its old head yet:
            # the read models are whole only once past the journal's last block too.
            return s.scalar(select(func.max(ChainTx.block_number)))

        journaled = await self.db.write(rewind)
        async with self._progress:
            self.indexed = keep
            self._last_stored = None
            target = max(self.head, journaled or 0, self.rebuilding_to or 0)
            if keep < target:
                self.hold_until(target)
        self.rewinds += 1

    def rebuild(self, session: Session) -> None:
        """Empty the read models and replay every stored event through the projections
        (inside a `Database.write` work)."""
        for table in reversed(self.projections.tables):
            session.execute(table.delete())
        last_id = 0
        c = _EVENTS.c
        while True:  # plain rows, not ORM objects: loading those cost more than applying
            rows = (session.execute(
                select(c.id, c.contract, c.event, c.args, c.block_number, c.block_hash,
                       c.log_index, c.tx_hash, c.block_timestamp)
                .where(c.id > last_id).order_by(c.id).limit(5000)
            )).tuples().all()
            if not rows:
                return
            self.projections.apply(session, [IndexedEvent(*r[1:]) for r in rows])
            last_id = max(r[0] for r in rows)


@dataclass(frozen=True)
class _Piece:
    """Blocks first..last as fetched: `count` logs in slices (logs, first, last), and
    each needed block's (hash, timestamp)."""

    first: int
    last: int
    count: int
    parts: list[tuple[list[dict[str, Any]], int, int]]
    blocks: dict[int, tuple[str, int]]


def _next_span(span: int, piece: _Piece, max_events: int, chunk: int) -> int:
    """Blocks to ask for next so that a piece holds about `max_events` logs.

    It at most doubles from one piece to the next: a sparse stretch (deployments,
    quiet hours) says little about the blocks after it, and a piece far over
    `max_events` cannot be stored while the next one is fetched.
    """
    blocks = piece.last - piece.first + 1
    grown = min(chunk, max(span, blocks) * 2)
    if piece.count == 0:
        return grown
    return max(1, min(grown, blocks * max_events // piece.count))


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
