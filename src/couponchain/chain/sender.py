"""The sender: broadcasts journaled transactions and learns what became of them.

Every account's committer hands its signed, journaled window to `Sender.enqueue`;
the send loop takes everything waiting, from all accounts, and sends it in one
JSON-RPC batch, then learns each transaction's outcome:

- Hardhat (the test suite's node) mines each transaction as it arrives and says in
  its send reply whether it succeeded; the same request asks for the newest block,
  so usually nothing more is fetched (`fast_confirm`);
- the embedded geth seals nothing by itself: the sender seals the window into one
  block with `testing_commitBlockV1` (`seal_on_request`, see `couponchain.chain.geth`);
- any other node: receipts are polled.

Pacing: a chain whose every block must be at least a second after its parent
(geth's developer mode, any proof-of-stake or BFT chain) runs ahead of the wall
clock whenever it seals more than a block a second, and the contracts judge
consents, links and windows by block time while people and services read the wall
clock. So the sender holds the next window while the chain's clock is more than
`MAX_AHEAD` seconds ahead: the waiting operations join that window, throughput
stays, and the chain's clock stays within the services' `CLOCK_MARGIN` of the wall.

A node that stops answering makes the sender wait for the reconciler (`recover`),
then send again: resending a transaction the node has is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import select, update

from couponchain.chain.geth import seal_pool
from couponchain.chain.reconciler import Reconciler
from couponchain.chain.rpc import RpcClient, RpcError
from couponchain.errors import ChainUnavailable, ConfigurationError
from couponchain.store.db import Database
from couponchain.store.models import ChainTx

__all__ = ["MAX_AHEAD", "SUPERSEDED", "Sender", "SentTx", "call_retrying"]

log = logging.getLogger(__name__)

SUPERSEDED = "nonce taken by a transaction outside the gateway"
#: Seconds the chain's clock may run ahead of the wall clock before the sender
#: holds the next window (a window may add a block of a second; the services
#: allow 10 s of skew, `CLOCK_MARGIN`).
MAX_AHEAD = 2.0


@dataclass
class SentTx:
    """A journaled transaction on its way to the node, and what became of it."""

    tx_id: int
    tx_hash: str
    account: str
    nonce: int
    receipt: dict[str, Any] | None = None
    timestamp: int = 0
    #: Why the node refused the transaction itself (not a contract revert).
    refused: str | None = None
    #: Fetch the full receipt (logs, gas used) even when the send reply says enough.
    needs_receipt: bool = False
    out_of_gas: bool = False
    #: Whether operations of it were journaled under keys (rows in `chain_ops`).
    keyed: bool = False
    #: (block number, index in the block, timestamp) when the send's request found
    #: the transaction mined (`Sender._send`).
    mined_in: tuple[str, str, int] | None = None


async def call_retrying(rpc: RpcClient, method: str, *params: Any) -> Any:
    """`rpc.call`, waiting out a node that does not answer (restarting, say)."""
    while True:
        try:
            return await rpc.call(method, *params)
        except ChainUnavailable:
            await asyncio.sleep(0.2)


class Sender:
    """Broadcasts the journaled windows of every account, in order, and collects outcomes."""

    def __init__(self, db: Database, rpc: RpcClient, chain_id: int, *, dev_node: bool,
                 stats: dict[str, int], recover: Callable[[], Awaitable[None]],
                 signer_of: Callable[[str], LocalAccount]) -> None:
        self.db = db
        self.rpc = rpc
        self.chain_id = chain_id
        self.stats = stats
        self._recover = recover
        self._signer_of = signer_of
        self._queue: asyncio.Queue[tuple[list[SentTx], asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        #: The node tells each outcome in its send reply (see `_confirm_from_replies`);
        #: only a Hardhat node does (checked in `detect_node`).
        self.fast_confirm = dev_node
        #: Seal each window into one block with `testing_commitBlockV1` (the embedded
        #: geth, whose own sealer is off: see `couponchain.chain.geth`).
        self.seal_on_request = dev_node
        #: EIP-1559 fees every transaction offers, in wei a gas (read in `read_fees`).
        self.max_fee = 0
        self.tip = 0
        #: The latest block time seen (epoch seconds), for pacing (see the module doc).
        self.chain_time = 0

    async def detect_node(self, reconciler: Reconciler) -> None:
        """Which of the node's own ways to learn outcomes apply (embedded nodes only)."""
        if not (self.fast_confirm or self.seal_on_request):
            return
        version = str(await call_retrying(self.rpc, "web3_clientVersion"))
        # Outcomes from send replies need a node that mines on send and throws on a
        # failed transaction with its hash: Hardhat's, as node/ configures it.
        self.fast_confirm = self.fast_confirm and version.lower().startswith("hardhat")
        self.seal_on_request = self.seal_on_request and version.startswith("Geth/")
        if self.seal_on_request:
            reconciler.seal = self._seal

    def start(self) -> None:
        """Start the send loop."""
        self._task = asyncio.create_task(self._send_loop(), name="gateway-sender")

    async def stop(self) -> None:
        """Stop the send loop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    def enqueue(self, txs: list[SentTx]) -> asyncio.Future[None]:
        """Queue journaled transactions for the next broadcast; the future is done
        when each has its outcome (`receipt`, or `refused`). Enqueue an account's
        windows in nonce order (the committer holds its journal lock meanwhile)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((txs, done))
        return done

    async def read_fees(self) -> None:
        """The fee the chain asks for: its latest base fee and the tip it suggests.

        A chain without a base fee (the embedded nodes) is paid nothing. One with a
        base fee would be paid 2 x base fee + tip (room for six full blocks of
        rises), but every participant account of the platform starts without
        ether and nothing funds it: refuse to start instead of looping on refusals.
        """
        block = await call_retrying(self.rpc, "eth_getBlockByNumber", "latest", False)
        self.chain_time = int(block["timestamp"], 16)
        base = int(block.get("baseFeePerGas") or "0x0", 16)
        if base == 0:
            self.max_fee = self.tip = 0
            return
        try:
            tip = int(await self.rpc.call("eth_maxPriorityFeePerGas"), 16)
        except RpcError:
            tip = 0
        self.max_fee, self.tip = 2 * base + tip, tip
        raise ConfigurationError(
            f"the chain at {self.rpc.url} charges a base fee of {base} wei per gas and "
            "couponchain's accounts hold no ether to pay it: set COUPONCHAIN_RPC_URL to a "
            "chain without fees (unset it for the embedded node, or run anvil --base-fee 0)",
            field="rpc_url")

    async def _send_loop(self) -> None:
        while True:
            jobs = [await self._queue.get()]
            while not self._queue.empty():
                jobs.append(self._queue.get_nowait())
            txs = [tx for sent, _ in jobs for tx in sent]
            try:
                await self._broadcast(txs)
                for _, done in jobs:
                    done.set_result(None)
            except Exception as exc:
                log.exception("broadcast failed")
                for _, done in jobs:
                    if not done.done():
                        done.set_exception(exc)

    async def _broadcast(self, txs: list[SentTx]) -> None:
        """Send, then wait for every receipt; recover the node when it fails."""
        raws = await self._raw_of(txs)
        while True:
            try:
                await self._pace()
                replies = await self._send(txs, raws)
                refused = [(tx, r) for tx, r in zip(txs, replies, strict=True)
                           if isinstance(r, RpcError) and not r.tx_already_in_node
                           and not r.nonce_too_low]
                if (self.seal_on_request and refused
                        and all(r.tip_below_minimum for _, r in refused)):
                    # The embedded geth forgets its zero minimum tip when it restarts
                    # and answers before its supervisor sets it again: not a refusal.
                    raise ChainUnavailable("geth restarted; its minimum tip is not set yet")
                if refused:
                    await self._replace_refused(refused)
                    raws = await self._raw_of(txs)
                    continue
                low = [tx for tx, r in zip(txs, replies, strict=True)
                       if isinstance(r, RpcError) and r.nonce_too_low]
                await self._drop_superseded(low)
                live = [(tx, r) for tx, r in zip(txs, replies, strict=True) if tx.refused is None]
                if self.fast_confirm:
                    await self._confirm_from_replies(live)
                else:
                    await self._collect_receipts([tx for tx, _ in live])
                self.stats["txs_sent"] += len(txs)
                return
            except ChainUnavailable:
                log.warning("chain node unavailable; waiting to reconcile")
                await self._recover()

    async def _pace(self) -> None:
        """Wait while the chain's clock is more than MAX_AHEAD s ahead of the wall's."""
        ahead = self.chain_time - time.time()
        if ahead > MAX_AHEAD:
            self.stats["paced_ms"] += int((ahead - MAX_AHEAD) * 1000)
            await asyncio.sleep(ahead - MAX_AHEAD)

    async def _seal(self) -> None:
        """Seal the node's pool into one block (geth, see `seal_on_request`)."""
        _, stamp = await seal_pool(self.rpc)
        self.chain_time = max(self.chain_time, stamp)
        self.stats["blocks_sealed"] += 1

    async def _send(self, txs: list[SentTx], raws: list[bytes]) -> list[Any]:
        """Send `txs` in one request; the send replies, in order.

        The embedded node mines each transaction as it arrives, one block each:
        after each send the same request asks for the newest block, and a
        transaction found in it has its position and timestamp without another
        request (`_confirm_from_replies` asks for the others).
        """
        if self.seal_on_request:
            replies = await self.rpc.batch(
                [("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in raws])
            await self._seal()
            return replies
        if not self.fast_confirm:
            return await self.rpc.batch(
                [("eth_sendRawTransaction", ["0x" + raw.hex()]) for raw in raws])
        replies = await self.rpc.batch([call for raw in raws for call in (
            ("eth_sendRawTransaction", ["0x" + raw.hex()]),
            ("eth_getBlockByNumber", ["latest", False]))])
        for tx, block in zip(txs, replies[1::2], strict=True):
            tx.mined_in = None
            if isinstance(block, dict) and tx.tx_hash in block["transactions"]:
                tx.mined_in = (block["number"], hex(block["transactions"].index(tx.tx_hash)),
                               int(block["timestamp"], 16))
        return replies[0::2]

    async def _replace_refused(self, refused: list[tuple[SentTx, RpcError]]) -> None:
        """Put a no-op in place of each transaction the node will never take.

        The node refuses some transactions outright (over its gas cap, say). Its
        nonce must still be used, or every later transaction of that account
        would wait forever; so the journal row becomes a zero-value transfer to
        itself with the same nonce, and the operations it carried fail with the
        node's reason.
        """
        async with self.db.transaction() as s:
            for tx, error in refused:
                if error.rpc_message and "nonce too high" in error.rpc_message.lower():
                    continue  # an earlier gap: fixed by the replacement of that one
                signer = self._signer_of(tx.account)
                filler = signer.sign_transaction({
                    "type": 2, "chainId": self.chain_id, "nonce": tx.nonce, "gas": 21_000,
                    "maxFeePerGas": self.max_fee, "maxPriorityFeePerGas": self.tip,
                    "value": 0, "to": signer.address, "data": b"",
                })
                tx.refused = error.rpc_message or "refused by the node"
                tx.tx_hash = "0x" + filler.hash.hex().removeprefix("0x")
                log.error("node refused transaction %d: %s", tx.tx_id, tx.refused)
                await s.execute(update(ChainTx).where(ChainTx.id == tx.tx_id).values(
                    raw=bytes(filler.raw_transaction), tx_hash=tx.tx_hash, to=signer.address,
                    revert_reason=tx.refused[:500]))

    async def _drop_superseded(self, txs: list[SentTx]) -> None:
        """Journal rows whose nonce another transaction took (a foreign use of the key).

        The node knows the hash of a transaction it mined; if it does not, the
        nonce went to someone else's transaction, so this one can never land:
        it is dropped from the journal and its operations are signed again.
        """
        if not txs:
            return
        known = await self.rpc.batch([("eth_getTransactionByHash", [t.tx_hash]) for t in txs])
        gone = [tx for tx, found in zip(txs, known, strict=True) if not isinstance(found, dict)]
        if not gone:
            return
        async with self.db.transaction() as s:
            for tx in gone:
                tx.refused = SUPERSEDED
                log.warning("nonce %d of %s was taken outside the gateway; re-signing",
                            tx.nonce, tx.account)
                await s.execute(update(ChainTx).where(ChainTx.id == tx.tx_id)
                                .values(status="dropped", revert_reason=SUPERSEDED))

    async def _raw_of(self, txs: list[SentTx]) -> list[bytes]:
        """The transactions as the journal holds them. Read back rather than kept: the
        read also paces the send loop, so that under a burst more operations join
        each window (measured: 3,000 concurrent sales in 38 transactions with it, in
        about 330 without it, and a third fewer sales per second)."""
        async with self.db.session() as s:
            rows = dict(
                (await s.execute(
                    select(ChainTx.id, ChainTx.raw).where(ChainTx.id.in_([t.tx_id for t in txs]))
                )).tuples().all()
            )
        return [rows[t.tx_id] for t in txs]

    async def _confirm_from_replies(self, live: list[tuple[SentTx, Any]]) -> None:
        """Outcomes from the send replies themselves (the embedded node).

        The embedded node mines each transaction as it arrives and throws on a
        failed one (with the mined hash in the error), so a hash reply means mined
        and succeeded: no receipt, whose logs cost the node as much as the
        execution, is needed. Only the position in the chain is fetched.
        """
        light: list[SentTx] = []
        full: list[SentTx] = []
        for tx, reply in live:
            if isinstance(reply, RpcError) and not reply.mined_and_failed:
                full.append(tx)  # already known: its outcome is in its receipt
            elif tx.needs_receipt:
                full.append(tx)
            else:
                failed = isinstance(reply, RpcError)
                tx.out_of_gas = failed and reply.out_of_gas
                tx.receipt = {"transactionHash": tx.tx_hash, "status": "0x0" if failed else "0x1"}
                if tx.mined_in is not None:  # seen in its block by `_send`
                    tx.receipt["blockNumber"], tx.receipt["transactionIndex"], tx.timestamp = (
                        tx.mined_in)
                else:
                    light.append(tx)
        found = await self.rpc.batch([("eth_getTransactionByHash", [t.tx_hash]) for t in light])
        for tx, info in zip(light, found, strict=True):
            if isinstance(info, dict) and info.get("blockNumber"):
                assert tx.receipt is not None
                tx.receipt["blockNumber"] = info["blockNumber"]
                tx.receipt["transactionIndex"] = info["transactionIndex"]
            else:
                tx.receipt = None
                full.append(tx)
        await self._collect_receipts(full, stamp=False)
        await self._stamp([tx for tx, _ in live if not tx.timestamp])

    async def _collect_receipts(self, txs: list[SentTx], stamp: bool = True) -> None:
        delay = 0.005
        missing = list(txs)
        while missing:
            replies = await self.rpc.batch(
                [("eth_getTransactionReceipt", [t.tx_hash]) for t in missing]
            )
            still = []
            for tx, reply in zip(missing, replies, strict=True):
                if isinstance(reply, dict):
                    tx.receipt = reply
                else:
                    still.append(tx)
            progressed, missing = len(still) < len(missing), still
            if missing and self.seal_on_request and progressed:
                # geth keeps one transaction in flight for an account absent from its
                # state (its EIP-7702 limit reads the absent account as delegated) and
                # drops the account's others: now that one is sealed, send them again.
                raws = await self._raw_of(missing)
                await self.rpc.batch([("eth_sendRawTransaction", ["0x" + raw.hex()])
                                      for raw in raws])
                await self._seal()
                continue
            if missing:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
                if delay >= 0.5:
                    # Still nothing: the node may have dropped them; rebroadcast.
                    await self._recover()
        if stamp:
            await self._stamp(txs)

    async def _stamp(self, txs: list[SentTx]) -> None:
        """Block timestamps, which the journal keeps for replays."""
        numbers = sorted({t.receipt["blockNumber"] for t in txs if t.receipt})
        blocks = await self.rpc.batch([("eth_getBlockByNumber", [n, False]) for n in numbers])
        stamps = {n: int(b["timestamp"], 16) for n, b in zip(numbers, blocks, strict=True)
                  if isinstance(b, dict)}
        self.chain_time = max([self.chain_time, *stamps.values()])
        for tx in txs:
            assert tx.receipt is not None
            tx.timestamp = stamps.get(tx.receipt["blockNumber"], 0)
