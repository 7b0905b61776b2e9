"""The chain gateway: every write goes through here, durably and in batches.

Path of one operation:

1. `submit` puts it on its account's queue (an operation retried with the same
   key finds its journal row instead and waits for that).
2. The account's committer gathers what arrives within `batch_wait_ms` (up to
   `batch_max`), merges operations that call the same batch entry point into one
   call, signs one transaction per call with consecutive nonces, and commits the
   transactions with their operations to the journal (the outbox) *before* any
   is broadcast.
3. The sender broadcasts everything ready, from all accounts, in one JSON-RPC
   batch, then fetches receipts and block timestamps in one batch each (on the
   embedded node, which mines each transaction as it arrives, the send's batch
   asks for each one's block too, so usually nothing more is fetched).
4. The committer records the outcome; a reverted batch is split so that only the
   operations the contract refuses fail, each with the contract's reason.

If the node stops answering or lost blocks, the reconciler (see
`couponchain.chain.reconciler`) replays the journal before anything else is sent.

Modules: `calls` (what is carried: `Call`, `OpResult`, `Event`), `sender`
(broadcast, sealing, pacing, receipts), `reconciler` (the journal replayed into a
node); this one queues, groups, signs and journals, and records outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount

from couponchain.chain.calls import Call, Event, OpResult, ReceiptEvents
from couponchain.chain.contracts import CompiledContract
from couponchain.chain.gas import GasModel
from couponchain.chain.journal import Journal, KeyedOp, Signed
from couponchain.chain.reconciler import Reconciler
from couponchain.chain.revert import revert_reason
from couponchain.chain.rpc import RpcClient, RpcError
from couponchain.chain.sender import SUPERSEDED, Sender, SentTx, call_retrying
from couponchain.errors import (
    ContractRevert,
    CouponChainError,
    TransactionRefused,
)
from couponchain.store.db import Database

log = logging.getLogger(__name__)

__all__ = ["Call", "Event", "Gateway", "OpResult"]


@dataclass
class _Pending:
    call: Call
    op_key: str | None
    payload_hash: str
    future: asyncio.Future[OpResult]
    #: Its keyed journal row is written (a retried operation moves that row).
    journaled: bool = False


@dataclass
class _Account:
    signer: LocalAccount
    queue: asyncio.Queue[_Pending] = field(default_factory=asyncio.Queue)
    next_nonce: int | None = None
    task: asyncio.Task[None] | None = None
    #: Held while signing and journaling, so transactions reach the sender in nonce order.
    journal_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Windows in flight at once (signed and journaled ahead of the node).
    window_slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(4))


class Gateway:
    """Durable, group-committing writer to the chain."""

    def __init__(
        self,
        db: Database,
        rpc: RpcClient,
        chain_id: int,
        *,
        batch_wait_ms: float = 5.0,
        batch_max: int = 512,
        gas_limit: int = 400_000_000,
        dev_node: bool = True,
    ) -> None:
        self.db = db
        self.journal = Journal(db)
        self.rpc = rpc
        self.chain_id = chain_id
        self.batch_wait = batch_wait_ms / 1000
        self.batch_max = batch_max
        self.gas_limit = gas_limit
        self.contracts: dict[str, tuple[str, CompiledContract]] = {}  # name -> (address, code)
        self._by_address: dict[str, tuple[str, CompiledContract]] = {}
        self._accounts: dict[str, _Account] = {}
        self._inflight: dict[str, asyncio.Future[OpResult]] = {}
        self.reconciler = Reconciler(db, rpc, replay_timestamps=dev_node)
        self.stats: dict[str, int] = defaultdict(int)
        self.sender = Sender(db, rpc, chain_id, dev_node=dev_node, stats=self.stats,
                             recover=self.recover,
                             signer_of=lambda address: self._accounts[address].signer)
        self.gas = GasModel(gas_limit, batch_max)

    # -- lifecycle -------------------------------------------------------------

    def register_contract(self, name: str, address: str, code: CompiledContract) -> None:
        """Make a deployed contract callable by name and its events decodable."""
        self.contracts[name] = (address, code)
        self._by_address[address.lower()] = (name, code)

    @property
    def by_address(self) -> dict[str, tuple[str, CompiledContract]]:
        """Registered contracts by lower-case address: (name, compiled code)."""
        return self._by_address

    async def start(self) -> None:
        """Read the chain's fees, reconcile the node with the journal, then start sending.

        Raises ConfigurationError (one line naming the setting) on a chain that
        charges a base fee: the platform's accounts hold no ether to pay it.
        """
        await self.sender.read_fees()
        await self.sender.detect_node(self.reconciler)
        await self.reconciler.run()
        self.sender.start()

    async def stop(self) -> None:
        tasks = [a.task for a in self._accounts.values() if a.task]
        for task in tasks:
            if task:
                task.cancel()
        for task in tasks:
            if task:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.sender.stop()

    async def recover(self) -> None:
        """Replay the journal into the node (after it restarted or lost blocks)."""
        await self.reconciler.run()
        for account in self._accounts.values():
            account.next_nonce = None

    async def outbox_depth(self) -> int:
        """Journal transactions not yet confirmed on chain."""
        return await self.journal.unconfirmed()

    # -- submitting ------------------------------------------------------------

    async def submit(
        self, signer: LocalAccount, call: Call, *, op_key: str | None = None,
        payload_hash: str = "",
    ) -> OpResult:
        """Apply `call` as `signer`; returns once it is journaled and on chain.

        With `op_key`, a repeated submission (a client retry, possibly after a
        crash) returns the first one's outcome instead of applying it again.
        Raises `ContractRevert` with the contract's reason when refused.
        """
        future: asyncio.Future[OpResult] = asyncio.get_running_loop().create_future()
        earlier = await self._admit(op_key, future)
        if earlier is not None:
            return await asyncio.shield(earlier)
        self._account(signer).queue.put_nowait(_Pending(call, op_key, payload_hash, future))
        self.stats["ops_submitted"] += 1
        return await asyncio.shield(future)

    async def submit_in_order(
        self, signer: LocalAccount, calls: Sequence[tuple[Call, str | None]],
    ) -> list[OpResult | BaseException]:
        """Apply several `(call, op_key)` as `signer` at once, queued in this order.

        They share windows (a bulk request's chunks land in as few blocks as
        the gas allows, not a block each) and keep their order on chain. Each
        one is keyed and answered as `submit` would: the outcome, or the
        exception it raised, in the order given.
        """
        loop = asyncio.get_running_loop()
        waits: list[asyncio.Future[OpResult]] = []
        queued: list[_Pending] = []
        try:
            for call, op_key in calls:
                future: asyncio.Future[OpResult] = loop.create_future()
                earlier = await self._admit(op_key, future)
                if earlier is None:
                    queued.append(_Pending(call, op_key, "", future))
                waits.append(earlier if earlier is not None else future)
        except BaseException as exc:
            for pending in queued:  # admitted but never queued: free their twins
                pending.future.set_exception(exc)
                pending.future.exception()
            raise
        account = self._account(signer)
        for pending in queued:
            account.queue.put_nowait(pending)
        self.stats["ops_submitted"] += len(queued)
        return await asyncio.gather(*(asyncio.shield(w) for w in waits), return_exceptions=True)

    async def _admit(self, op_key: str | None,
                     future: asyncio.Future[OpResult]) -> asyncio.Future[OpResult] | None:
        """Make `future` the outcome of `op_key`; None if the operation is to be sent.

        Otherwise the future to wait on instead: a twin's still in flight, or
        `future` itself, done with what the journal holds for the key.
        """
        if op_key is None:
            return None
        if op_key in self._inflight:
            return self._inflight[op_key]
        # Registered before the journal lookup, so concurrent twins wait on it.
        self._inflight[op_key] = future
        future.add_done_callback(lambda _f: self._inflight.pop(op_key, None))
        try:
            existing = await self._existing_op(op_key)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here; twins awaiting it see it too
            raise
        if existing is None:
            return None
        future.set_result(existing)
        return future

    def _account(self, signer: LocalAccount) -> _Account:
        account = self._accounts.get(signer.address)
        if account is None:
            account = _Account(signer)
            self._accounts[signer.address] = account
            account.task = asyncio.create_task(
                self._commit_loop(account), name=f"committer-{signer.address[:10]}"
            )
        return account

    async def outcome(self, op_key: str) -> OpResult | None:
        """The outcome of an operation journaled under `op_key`, or None if there is none.

        A service calls it first when retrying a client's write: its checks
        against the read models (coupon still active, not yet redeemed) would
        refuse an operation that was applied before the client heard of it.
        Raises `ContractRevert` if the contract refused that operation.
        """
        return await self._existing_op(op_key)

    async def _existing_op(self, op_key: str) -> OpResult | None:
        """The outcome of an operation journaled earlier under `op_key`, if any."""
        while True:
            op = await self.journal.op(op_key)
            if op is None:
                return None
            if op.tx_status in ("reverted", "dropped") and op.status == "pending":
                # Its batch reverted and nobody split it (the process died): the op
                # was never applied nor acknowledged, so it runs afresh.
                await self.journal.forget_op(op.id)
                return None
            if op.status == "failed":
                raise ContractRevert(op.error or "operation refused")
            if op.tx_status == "confirmed":
                receipt = await self.rpc.call("eth_getTransactionReceipt", op.tx_hash)
                if receipt is None:  # the node is being reconciled; wait for it
                    await asyncio.sleep(0.2)
                    continue
                return self._result(receipt, op.block_timestamp or 0, op.item_index)
            await asyncio.sleep(0.05)  # still in flight (or awaiting the reconciler)

    # -- committing ------------------------------------------------------------

    async def _commit_loop(self, account: _Account) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        while True:
            batch = [await account.queue.get()]
            # Pipeline: the next window is signed and journaled while this one is
            # at the node; the journal lock keeps sends in nonce order. A window
            # takes its slot before it gathers, so what arrives while every slot is
            # busy (geth paced to a block a second) joins it instead of waiting in
            # small windows formed before a slot was free.
            await account.window_slots.acquire()
            if account.queue.qsize() < self.batch_max:
                # Bounded wait for companions: the price of one batch for many.
                await asyncio.sleep(self.batch_wait)
            while account.queue.qsize() and len(batch) < self.batch_max * 8:
                batch.append(account.queue.get_nowait())
            groups: dict[Hashable, list[_Pending]] = {}
            for pending in batch:
                groups.setdefault(pending.call.group, []).append(pending)
            sized: list[list[_Pending]] = []
            for group in groups.values():
                cap = self.gas.group_cap(group[0].call)
                sized.extend(group[i : i + cap] for i in range(0, len(group), cap))
            task = asyncio.create_task(self._commit_window(account, sized, batch))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)

    async def _commit_window(
        self, account: _Account, groups: list[list[_Pending]], batch: list[_Pending]
    ) -> None:
        try:
            await self._commit_groups(account, groups)
        except Exception as exc:  # never leave a caller hanging
            log.exception("commit failed")
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
        finally:
            account.window_slots.release()

    async def _commit_groups(self, account: _Account, groups: list[list[_Pending]]) -> None:
        """Journal and send one transaction per group; split the ones that revert."""
        while groups:
            sent = await self._journal_and_send(account, groups)
            retry: list[list[_Pending]] = []
            for group, tx in zip(groups, sent, strict=True):
                if tx.refused == SUPERSEDED:
                    account.next_nonce = None
                    retry.append(group)
                elif tx.refused is not None:
                    await self._fail([(p, tx.refused) for p in group], TransactionRefused)
                elif tx.receipt is not None and int(tx.receipt["status"], 16) == 1:
                    if "gasUsed" in tx.receipt:
                        self.gas.learn(group[0].call, len(group), tx.receipt)
                    events = ReceiptEvents(self.rpc, self.decode_events, tx.receipt)
                    for index, pending in enumerate(group):
                        if not pending.future.done():
                            pending.future.set_result(
                                self._result(tx.receipt, tx.timestamp, index, events)
                            )
                    self.stats["ops_applied"] += len(group)
                elif self.gas.ran_out(tx) and len(group) > 1:
                    # Out of gas: the batch was too big, not wrong. Halve it.
                    self.gas.too_big(group[0].call, len(group))
                    half = len(group) // 2
                    retry.extend([group[:half], group[half:]])
                else:
                    retry.extend(await self._split_reverted(account, group))
            groups = retry

    async def _journal_and_send(
        self, account: _Account, groups: list[list[_Pending]]
    ) -> list[SentTx]:
        async with account.journal_lock:
            sent = await self._journal(account, groups)
            done = self.sender.enqueue(sent)
        await done
        await self._record_outcomes(sent)
        return sent

    async def _journal(self, account: _Account, groups: list[list[_Pending]]) -> list[SentTx]:
        """Sign one transaction per group and commit them with their operations."""
        if account.next_nonce is None:
            account.next_nonce = await self._first_nonce(account.signer.address)
        signed = []
        for group in groups:
            signed.append(self._sign(account, group))
        fresh = [p for group in groups for p in group
                 if not p.journaled and p.op_key is not None]
        window = [(Signed(*signature), [
            KeyedOp(p.op_key, index, p.call.kind or p.call.function, p.payload_hash,
                    moved=p.journaled)  # retried after a split: its row moves
            # Without a key nobody will look an operation up: the journaled
            # transaction is its durable record.
            for index, p in enumerate(group) if p.op_key is not None])
            for signature, group in zip(signed, groups, strict=True)]
        rows = await self.journal.write(account.signer.address, window)
        for pending in fresh:
            pending.journaled = True
        return [SentTx(row.id, row.tx_hash, row.account, row.nonce,
                      needs_receipt=self.gas.sample(group[0].call),
                      keyed=any(p.op_key is not None for p in group))
                for row, group in zip(rows, groups, strict=True)]

    def encode(self, calls: Sequence[Call]) -> tuple[str | None, bytes]:
        """(to, data) of the one transaction that carries `calls`, operations of one
        group (see `Call`): None for `to` when it deploys a contract."""
        call = calls[0]
        if call.init_code is not None:
            return None, call.init_code
        address, code = self.contracts[call.contract]
        args: list[Any] = list(call.fixed)
        if call.item is not None:
            args.extend(list(col) for col in zip(*(c.item for c in calls), strict=True))
        return address, code.encode_call(call.function, *args)

    def _sign(self, account: _Account, group: list[_Pending]) -> tuple[int, str, bytes, str | None]:
        to, data = self.encode([p.call for p in group])
        assert account.next_nonce is not None
        nonce = account.next_nonce
        account.next_nonce += 1
        tx: dict[str, Any] = {
            "type": 2, "chainId": self.chain_id, "nonce": nonce, "gas": self.gas_limit,
            "maxFeePerGas": self.sender.max_fee, "maxPriorityFeePerGas": self.sender.tip,
            "value": 0,
            "data": data,
        }
        if to is not None:
            tx["to"] = to
        signed = account.signer.sign_transaction(tx)
        return nonce, "0x" + signed.hash.hex().removeprefix("0x"), bytes(signed.raw_transaction), to

    async def _first_nonce(self, address: str) -> int:
        last = await self.journal.last_nonce(address)
        node = int(await call_retrying(self.rpc, "eth_getTransactionCount", address, "pending"),
                   16)
        return max(node, (last + 1) if last is not None else 0)

    async def _record_outcomes(self, sent: list[SentTx]) -> None:
        on_chain = [(tx, tx.receipt, int(tx.receipt["status"], 16) == 1) for tx in sent
                    if tx.receipt is not None]  # None: superseded, nothing of it on chain
        if not on_chain:
            return
        outcomes = [{"tx": tx.tx_id, "outcome": "confirmed" if ok else "reverted",
                     "number": int(receipt["blockNumber"], 16),
                     "index": int(receipt["transactionIndex"], 16), "stamp": tx.timestamp}
                    for tx, receipt, ok in on_chain]
        done = [tx.tx_id for tx, _, ok in on_chain if ok and tx.refused is None and tx.keyed]

        await self.journal.record_outcomes(outcomes, done)

    async def _split_reverted(
        self, account: _Account, group: list[_Pending]
    ) -> list[list[_Pending]]:
        """Find which operations of a reverted batch the contract refuses.

        Each is simulated alone against the current state: the refused ones fail
        with the contract's reason; the rest are retried (in halves when none
        fails alone, because then only their combination was refused).
        """
        self.stats["batches_reverted"] += 1
        reasons = await self._simulate_each(account.signer.address, group)
        refused = [(p, r) for p, r in zip(group, reasons, strict=True) if r is not None]
        if refused:
            await self._fail(refused)
        rest = [p for p, r in zip(group, reasons, strict=True) if r is None]
        if not rest:
            return []
        if refused:
            return [rest]
        if len(rest) == 1:
            # Alone it passes now but it reverted on chain: state moved. Try again.
            return [rest]
        half = len(rest) // 2
        return [rest[:half], rest[half:]]

    async def _simulate_each(self, sender: str, group: list[_Pending]) -> list[str | None]:
        calls = []
        for pending in group:
            call = pending.call
            if call.init_code is not None:
                calls.append(("eth_call", [{"from": sender, "data": "0x" + call.init_code.hex(),
                                            "gas": hex(self.gas_limit)}, "latest"]))
                continue
            address, code = self.contracts[call.contract]
            args = list(call.fixed)
            if call.item is not None:
                args.extend([[v] for v in call.item])
            data = code.encode_call(call.function, *args)
            calls.append(("eth_call", [{"to": address, "data": "0x" + data.hex(),
                                        "from": sender, "gas": hex(self.gas_limit)}, "latest"]))
        replies = await self.rpc.batch(calls)
        return [revert_reason(r) if isinstance(r, RpcError) else None for r in replies]

    async def _fail(self, refused: list[tuple[_Pending, str]],
                    error: type[CouponChainError] = ContractRevert) -> None:
        keyed = [(p.op_key, reason) for p, reason in refused if p.op_key is not None]
        if keyed:
            await self.journal.fail_ops(keyed)
        for pending, reason in refused:
            self.stats["ops_refused"] += 1
            if not pending.future.done():
                pending.future.set_exception(error(reason))

    def _result(self, receipt: dict[str, Any], timestamp: int, item_index: int,
                events: ReceiptEvents | None = None) -> OpResult:
        return OpResult(
            tx_hash=receipt["transactionHash"],
            block_number=int(receipt["blockNumber"], 16),
            block_timestamp=timestamp,
            item_index=item_index,
            receipt_events=events or ReceiptEvents(self.rpc, self.decode_events, receipt),
            contract_address=receipt.get("contractAddress"),
        )

    def decode_events(self, receipt: dict[str, Any]) -> list[Event]:
        """The decoded events of a receipt, from the registered contracts."""
        events = []
        for entry in receipt.get("logs", []):
            known = self._by_address.get(entry["address"].lower())
            if known is None:
                continue
            name, code = known
            decoded = code.decode_log(
                [bytes.fromhex(t[2:]) for t in entry["topics"]], bytes.fromhex(entry["data"][2:])
            )
            if decoded is not None:
                events.append(Event(name, decoded[0], decoded[1], int(entry["logIndex"], 16)))
        return events
