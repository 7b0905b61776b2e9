"""The reconciler: makes the node hold everything the journal holds.

The journal (`chain_txs`) is the source of truth, not the node. A Hardhat or
anvil node keeps no state across restarts, geth may lose the last blocks it
sealed when killed (its database writes them a moment later), and any node may
drop a transaction, so whenever the node comes (back) up:

1. confirmed journal transactions the node does not know are replayed in chain
   order at their recorded timestamps (dev nodes), which reproduces the same
   state, addresses and outcomes: on Hardhat and anvil each in its own block after
   `evm_setNextBlockTimestamp`; on geth the transactions of each journaled block
   together in one block sealed with `testing_commitBlockV1` at that block's time.
   The node holds a prefix of the journal, found by bisection, so only what it
   lacks is replayed: nothing at all after geth stopped cleanly;
2. signed but unconfirmed transactions are broadcast again in journal order;
3. the journal rows are updated with where each transaction now sits.

Re-sending a transaction the node already has is harmless (same hash, same
nonce), so a replay never applies anything twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from couponchain.chain.geth import seal_attributes
from couponchain.chain.rpc import RpcClient, RpcError
from couponchain.errors import ChainUnavailable
from couponchain.store.db import Database
from couponchain.store.models import ChainTx

log = logging.getLogger(__name__)

CHUNK = 500
#: Longest wait, after a replay into geth, for the wall clock to pass the replayed
#: chain's time: geth seals its next block at max(now, its last block's time at
#: start + 1), which must be later than the head the replay left.
MAX_CLOCK_WAIT = 30.0


@dataclass
class ReplayReport:
    """What the last reconciliation did."""

    replayed: int = 0
    rebroadcast: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Row:
    id: int
    tx_hash: str
    raw: bytes
    timestamp: int | None
    account: str
    nonce: int
    block: int | None = None


async def earliest_timestamp(db: Database) -> int | None:
    """The first journaled block's timestamp, or None for an empty journal."""
    async with db.session() as s:
        return (
            await s.execute(
                select(ChainTx.block_timestamp)
                .where(ChainTx.block_timestamp.is_not(None))
                .order_by(ChainTx.block_number, ChainTx.tx_index).limit(1)
            )
        ).scalar()


class Reconciler:
    """Brings a node up to date with the journal; one run at a time."""

    def __init__(self, db: Database, rpc: RpcClient, *, replay_timestamps: bool) -> None:
        self.db = db
        self.rpc = rpc
        self.replay_timestamps = replay_timestamps
        self.last = ReplayReport()
        self.runs = 0
        #: Transactions replayed into a node that lost them, over this process's life.
        self.replayed_total = 0
        self.progress: Callable[[int, int], None] | None = None
        #: Stops the node cleanly for its supervisor to start again (set by the runtime
        #: for the embedded node): see `_seal_blocks`.
        self.restart_node: Callable[[], Awaitable[None]] | None = None
        #: Seals the pool's transactions into a block (set by a gateway that seals
        #: geth's blocks on request): rebroadcast transactions wait for it.
        self.seal: Callable[[], Awaitable[None]] | None = None
        self._lock = asyncio.Lock()

    async def run(self) -> ReplayReport:
        """Wait for the node, then replay and rebroadcast what it lacks.

        A node that stops answering midway (restarted, or killed again) is waited
        for and reconciled from the start: every step may be repeated.
        """
        async with self._lock:
            while True:
                try:
                    return await self._run_once()
                except ChainUnavailable as exc:
                    log.warning("reconciling: %s; waiting for the node", exc)
                    await asyncio.sleep(0.2)

    async def _run_once(self) -> ReplayReport:
        started = time.perf_counter()
        await self._wait_for_node()
        confirmed, pending = await self._journal()
        start = await self._first_missing(confirmed)
        replay = confirmed[start:] if start is not None else []
        if replay:
            log.warning("node lacks %d journaled transactions; replaying", len(replay))
            if self.replay_timestamps and await self._is_geth():
                if await self._seal_blocks(replay):
                    # The node is restarting; its supervisor runs us again once it is
                    # up (waiting for it here would hold up that very restart).
                    return self._report(len(replay), 0, started)
            else:
                await self._send(replay, with_timestamps=self.replay_timestamps)
                if self.replay_timestamps:
                    await self._catch_up_clock(replay[-1].timestamp)
        if pending:
            await self._send(pending, with_timestamps=False)
            if self.seal is not None:
                await self.seal()
        await self._record(replay + pending)
        return self._report(len(replay), len(pending), started)

    def _report(self, replayed: int, rebroadcast: int, started: float) -> ReplayReport:
        self.last = ReplayReport(replayed, rebroadcast, time.perf_counter() - started)
        self.replayed_total += replayed
        self.runs += 1
        return self.last

    async def _wait_for_node(self) -> None:
        delay = 0.05
        while True:
            try:
                await self.rpc.call("eth_blockNumber")
                return
            except ChainUnavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _journal(self) -> tuple[list[_Row], list[_Row]]:
        async with self.db.session() as s:
            done = (
                await s.execute(
                    select(ChainTx.id, ChainTx.tx_hash, ChainTx.raw, ChainTx.block_timestamp,
                           ChainTx.account, ChainTx.nonce, ChainTx.block_number)
                    .where(ChainTx.status.in_(("confirmed", "reverted")))
                    .order_by(ChainTx.block_number, ChainTx.tx_index)
                )
            ).tuples().all()
            signed = (
                await s.execute(
                    select(ChainTx.id, ChainTx.tx_hash, ChainTx.raw, ChainTx.block_timestamp,
                           ChainTx.account, ChainTx.nonce)
                    .where(ChainTx.status == "signed").order_by(ChainTx.id)
                )
            ).tuples().all()
        return [_Row(*r) for r in done], [_Row(*r) for r in signed]

    async def _has(self, row: _Row) -> bool:
        try:
            return await self.rpc.call("eth_getTransactionReceipt", row.tx_hash) is not None
        except RpcError as exc:
            # geth, just started, answers so for a hash it has not indexed (yet, or
            # ever: on a chain of its genesis alone it never finishes). Its account
            # nonces say the same for a journaled transaction: mined iff the node's
            # nonce of the account is past it.
            if "indexing is in progress" not in exc.rpc_message:
                raise
        count = await self.rpc.call("eth_getTransactionCount", row.account, "latest")
        return int(count, 16) > row.nonce

    async def _first_missing(self, rows: list[_Row]) -> int | None:
        """Index of the first confirmed row the node lacks (the node holds a prefix)."""
        if not rows or await self._has(rows[-1]):
            return None
        lo, hi = 0, len(rows) - 1  # rows[hi] is missing
        while lo < hi:
            mid = (lo + hi) // 2
            if await self._has(rows[mid]):
                lo = mid + 1
            else:
                hi = mid
        return lo

    async def _send(self, rows: list[_Row], *, with_timestamps: bool) -> None:
        for offset in range(0, len(rows), CHUNK):
            calls: list[tuple[str, list[Any]]] = []
            for row in rows[offset : offset + CHUNK]:
                if with_timestamps and row.timestamp:
                    calls.append(("evm_setNextBlockTimestamp", [row.timestamp]))
                calls.append(("eth_sendRawTransaction", ["0x" + row.raw.hex()]))
            replies = await self.rpc.batch(calls)
            for reply in replies:
                if isinstance(reply, RpcError) and not (reply.tx_already_in_node
                                                          or reply.nonce_too_low):
                    log.warning("replay: %s", reply)
            if self.progress:
                self.progress(min(offset + CHUNK, len(rows)), len(rows))

    async def _is_geth(self) -> bool:
        try:
            version = await self.rpc.call("web3_clientVersion")
        except RpcError:
            return False
        return str(version).startswith("Geth/")

    async def _seal_blocks(self, rows: list[_Row]) -> bool:
        """Replay into geth: each journaled block's transactions in one block sealed at
        that block's recorded time (`testing_commitBlockV1`, dev mode only). True when
        the node was then told to restart."""
        head = await self.rpc.call("eth_getBlockByNumber", "latest", False)
        parent_time = int(head["timestamp"], 16)
        groups: list[list[_Row]] = []
        for row in rows:
            if groups and groups[-1][0].block == row.block:
                groups[-1].append(row)
            else:
                groups.append([row])
        log.info("replay: %d blocks from %s (%s) after head %s", len(groups), groups[0][0].block,
                 groups[0][0].tx_hash, int(head["number"], 16))
        for done, group in enumerate(groups, start=1):
            stamp = group[0].timestamp or int(time.time())
            if stamp <= parent_time:
                # Blocks must be later than their parent; a journal written on a
                # node allowing equal times (Hardhat) lands one second later.
                log.warning("replay: block %s at %d moved to %d", group[0].block, stamp,
                            parent_time + 1)
                stamp = parent_time + 1
            await self.rpc.call("testing_commitBlockV1", seal_attributes(stamp),
                                ["0x" + row.raw.hex() for row in group], "0x")
            parent_time = stamp
            if self.progress:
                self.progress(min(done * len(rows) // len(groups), len(rows)), len(rows))
        wait = parent_time + 1 - time.time()
        if self.seal is not None:
            return False  # the gateway seals after this head and paces its clock
        if wait > 0 and self.restart_node is not None:
            # geth's sealer took its clock from the head it started on; the replayed
            # head is later than the wall clock (blocks come faster than one a second
            # under load, each a second after its parent), so it would refuse to seal
            # until the wall clock passed. Started again, it begins from the new head.
            log.warning("the replayed chain leads the wall clock by %.0f s; restarting "
                        "the node so that it seals after the replayed head", wait)
            await self.restart_node()
            return True
        if wait > MAX_CLOCK_WAIT:
            log.warning("the replayed chain's clock leads the wall clock by %.0f s: geth seals "
                        "no new block until it has passed", wait)
        elif wait > 0:
            await asyncio.sleep(wait)
        return False

    async def _catch_up_clock(self, last: int | None) -> None:
        """After replaying old timestamps, let new blocks carry the real time again."""
        # The node keeps the distance between the last pinned block's time and
        # the moment it mined it. Pinning the next block to now would date it
        # whenever the next transaction comes, and the clock would then run
        # behind by however long the chain stayed idle after the restart; so
        # move the clock itself forward to now (the pending block is its time).
        try:
            pending = await self.rpc.call("eth_getBlockByNumber", "pending", False)
            behind = max(int(time.time()), last or 0) - int(pending["timestamp"], 16)
            if behind > 0:
                await self.rpc.call("evm_increaseTime", behind)
        except RpcError as exc:
            log.warning("could not reset the node's clock: %s", exc)

    async def _record(self, rows: list[_Row]) -> None:
        """Store where each replayed or rebroadcast transaction now sits."""
        for offset in range(0, len(rows), CHUNK):
            chunk = rows[offset : offset + CHUNK]
            receipts = await self.rpc.batch(
                [("eth_getTransactionReceipt", [r.tx_hash]) for r in chunk]
            )
            numbers = sorted({r["blockNumber"] for r in receipts if isinstance(r, dict)})
            blocks = await self.rpc.batch([("eth_getBlockByNumber", [n, False]) for n in numbers])
            stamps = {n: int(b["timestamp"], 16) for n, b in zip(numbers, blocks, strict=True)
                      if isinstance(b, dict)}
            async with self.db.transaction() as s:
                for row, receipt in zip(chunk, receipts, strict=True):
                    if not isinstance(receipt, dict):
                        continue
                    await s.execute(
                        update(ChainTx).where(ChainTx.id == row.id).values(
                            status="confirmed" if int(receipt["status"], 16) else "reverted",
                            block_number=int(receipt["blockNumber"], 16),
                            tx_index=int(receipt["transactionIndex"], 16),
                            block_timestamp=stamps.get(receipt["blockNumber"], row.timestamp),
                        )
                    )

