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

Pacing: a chain whose every block must be at least a second after its parent
(geth's developer mode, any proof-of-stake or BFT chain) runs ahead of the wall
clock whenever it seals more than a block a second, and the contracts judge
consents, links and windows by block time while people and services read the wall
clock. So the sender holds the next window while the chain's clock is more than
`MAX_AHEAD` seconds ahead: the waiting operations join that window, throughput
stays, and the chain's clock stays within the services' `CLOCK_MARGIN` of the wall.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from couponchain.chain.contracts import CompiledContract
from couponchain.chain.geth import seal_attributes
from couponchain.chain.reconciler import Reconciler
from couponchain.chain.revert import revert_reason
from couponchain.chain.rpc import RpcClient, RpcError
from couponchain.errors import (
    ChainUnavailable,
    ConfigurationError,
    ContractRevert,
    CouponChainError,
    TransactionRefused,
)
from couponchain.store.db import Database
from couponchain.store.models import ChainOp, ChainTx

log = logging.getLogger(__name__)

SUPERSEDED = "nonce taken by a transaction outside the gateway"
#: Seconds the chain's clock may run ahead of the wall clock before the sender
#: holds the next window (a window may add a few blocks of a second each; the
#: services allow 10 s of skew, `CLOCK_MARGIN`).
MAX_AHEAD = 2.0


@dataclass(frozen=True)
class Call:
    """One operation for the chain.

    Operations of one account with equal (`contract`, `function`, `fixed`) and an
    `item` are merged: the call becomes `function(*fixed, *columns)` where each
    column is the list of the items' values at that position. Without an `item`
    the call is sent alone as `function(*fixed)`; with `init_code` it deploys a
    contract.
    """

    contract: str
    function: str
    fixed: tuple[Any, ...] = ()
    item: tuple[Any, ...] | None = None
    kind: str = ""
    init_code: bytes | None = None

    @property
    def group(self) -> Hashable:
        if self.item is None or self.init_code is not None:
            return id(self)
        return (self.contract, self.function, _freeze(self.fixed))


def _freeze(value: Any) -> Hashable:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class Event:
    """A decoded event from a transaction's receipt."""

    contract: str
    name: str
    args: dict[str, Any]
    log_index: int


class _ReceiptEvents:
    """A receipt's events, decoded on first use and shared by the batch's items."""

    def __init__(self, gateway: Gateway, receipt: dict[str, Any]) -> None:
        self._gateway = gateway
        self._receipt = receipt
        self._events: asyncio.Task[list[Event]] | None = None

    async def get(self) -> list[Event]:
        # One fetch and one decoding per transaction, however many of its
        # operations ask at once.
        if self._events is None:
            self._events = asyncio.ensure_future(self._load())
        return await asyncio.shield(self._events)

    async def _load(self) -> list[Event]:
        receipt = self._receipt
        if "logs" not in receipt:  # confirmed from the send reply: fetch the logs now
            receipt = await self._gateway.rpc.call(
                "eth_getTransactionReceipt", receipt["transactionHash"])
        return self._gateway.decode_events(receipt)


@dataclass(frozen=True)
class OpResult:
    """Evidence of an applied operation."""

    tx_hash: str
    block_number: int
    block_timestamp: int
    item_index: int
    receipt_events: _ReceiptEvents
    contract_address: str | None = None

    async def events(self) -> list[Event]:
        """Every decoded event of the transaction that carried this operation."""
        return await self.receipt_events.get()


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


@dataclass
class _Sent:
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
    #: the transaction mined (`Gateway._send`).
    mined_in: tuple[str, str, int] | None = None


_TXS, _OPS = cast(Table, ChainTx.__table__), cast(Table, ChainOp.__table__)
#: A transaction's outcome, for many transactions at once (an executemany).
_RECORD_OUTCOME = (update(_TXS).where(_TXS.c.id == bindparam("tx"))
                   .values(status=bindparam("outcome"), block_number=bindparam("number"),
                           tx_index=bindparam("index"), block_timestamp=bindparam("stamp")))
#: An operation journaled under a key, with its transaction's state; built once, as
#: every keyed write looks it up first.
_OP_BY_KEY = (select(ChainOp.id, ChainOp.status, ChainOp.error, ChainOp.item_index,
                     ChainTx.status.label("tx_status"), ChainTx.tx_hash, ChainTx.block_timestamp)
              .join(ChainTx, ChainTx.id == ChainOp.tx_id)
              .where(ChainOp.op_key == bindparam("op_key")))


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
        self.rpc = rpc
        self.chain_id = chain_id
        self.batch_wait = batch_wait_ms / 1000
        self.batch_max = batch_max
        self.gas_limit = gas_limit
        self.contracts: dict[str, tuple[str, CompiledContract]] = {}  # name -> (address, code)
        self._by_address: dict[str, tuple[str, CompiledContract]] = {}
        self._accounts: dict[str, _Account] = {}
        self._inflight: dict[str, asyncio.Future[OpResult]] = {}
        self._send_queue: asyncio.Queue[tuple[list[_Sent], asyncio.Future[None]]] = (
            asyncio.Queue()
        )
        self._sender: asyncio.Task[None] | None = None
        self.reconciler = Reconciler(db, rpc, replay_timestamps=dev_node)
        self.stats: dict[str, int] = defaultdict(int)
        self._gas_per_item: dict[tuple[str, str], float] = {}
        self._receipts_seen: dict[tuple[str, str], int] = defaultdict(int)
        #: The embedded node tells each outcome in its send reply (see _confirm_from_replies);
        #: only a Hardhat node does (checked in `start`).
        self.fast_confirm = dev_node
        #: Seal each window into one block with `testing_commitBlockV1` (the embedded
        #: geth, whose own sealer is off: see `couponchain.chain.geth`; set in `start`).
        self.seal_on_request = dev_node
        #: EIP-1559 fees every transaction offers, in wei a gas (read in `start`).
        self.max_fee = 0
        self.tip = 0
        #: The latest block time seen (epoch seconds), for pacing (see the module doc).
        self.chain_time = 0

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
        await self._read_fees()
        if self.fast_confirm:
            # Outcomes from send replies need a node that mines on send and throws on
            # a failed transaction with its hash: Hardhat's, as node/ configures it.
            version = str(await self._rpc_retrying("web3_clientVersion"))
            self.fast_confirm = version.lower().startswith("hardhat")
        if self.seal_on_request:
            version = str(await self._rpc_retrying("web3_clientVersion"))
            self.seal_on_request = version.startswith("Geth/")
        if self.seal_on_request:
            self.reconciler.seal = self._seal
        await self.reconciler.run()
        self._sender = asyncio.create_task(self._send_loop(), name="gateway-sender")

    async def stop(self) -> None:
        tasks = [a.task for a in self._accounts.values() if a.task] + [self._sender]
        for task in tasks:
            if task:
                task.cancel()
        for task in tasks:
            if task:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _read_fees(self) -> None:
        """The fee the chain asks for: its latest base fee and the tip it suggests.

        A chain without a base fee (the embedded nodes) is paid nothing. One with a
        base fee would be paid 2 x base fee + tip (room for six full blocks of
        rises), but every participant account of the platform starts without
        ether and nothing funds it: refuse to start instead of looping on refusals.
        """
        block = await self._rpc_retrying("eth_getBlockByNumber", "latest", False)
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

    async def recover(self) -> None:
        """Replay the journal into the node (after it restarted or lost blocks)."""
        await self.reconciler.run()
        for account in self._accounts.values():
            account.next_nonce = None

    async def outbox_depth(self) -> int:
        """Journal transactions not yet confirmed on chain."""
        async with self.db.session() as s:
            return int((await s.execute(
                select(func.count()).select_from(ChainTx).where(ChainTx.status == "signed")
            )).scalar_one())

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
        if op_key is not None:
            if op_key in self._inflight:
                return await asyncio.shield(self._inflight[op_key])
            # Registered before the journal lookup, so concurrent twins wait on it.
            self._inflight[op_key] = future
            future.add_done_callback(lambda _f: self._inflight.pop(op_key, None))
            try:
                existing = await self._existing_op(op_key)
            except BaseException as exc:
                future.set_exception(exc)
                future.exception()  # retrieved here; twins awaiting it see it too
                raise
            if existing is not None:
                future.set_result(existing)
                return existing
        account = self._account(signer)
        account.queue.put_nowait(_Pending(call, op_key, payload_hash, future))
        self.stats["ops_submitted"] += 1
        return await asyncio.shield(future)

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
            # A point read by key, made on every keyed write: `read` keeps it off the
            # async driver's thread hops.
            op = await self.db.read(lambda s: s.execute(_OP_BY_KEY, {"op_key": op_key}).first())
            if op is None:
                return None
            if op.tx_status in ("reverted", "dropped") and op.status == "pending":
                # Its batch reverted and nobody split it (the process died): the op
                # was never applied nor acknowledged, so it runs afresh.
                async with self.db.transaction() as s:
                    await s.execute(delete(ChainOp).where(ChainOp.id == op.id))
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
                cap = self._group_cap(group[0].call)
                sized.extend(group[i : i + cap] for i in range(0, len(group), cap))
            # Pipeline: the next window is signed and journaled while this one is
            # at the node; the journal lock keeps sends in nonce order.
            await account.window_slots.acquire()
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
                        self._learn_gas(group, tx.receipt)
                    events = _ReceiptEvents(self, tx.receipt)
                    for index, pending in enumerate(group):
                        if not pending.future.done():
                            pending.future.set_result(
                                self._result(tx.receipt, tx.timestamp, index, events)
                            )
                    self.stats["ops_applied"] += len(group)
                elif self._ran_out_of_gas(tx) and len(group) > 1:
                    # Out of gas: the batch was too big, not wrong. Halve it.
                    call = group[0].call
                    self._gas_per_item[(call.contract, call.function)] = (
                        self.gas_limit / len(group))
                    half = len(group) // 2
                    retry.extend([group[:half], group[half:]])
                else:
                    retry.extend(await self._split_reverted(account, group))
            groups = retry

    async def _journal_and_send(
        self, account: _Account, groups: list[list[_Pending]]
    ) -> list[_Sent]:
        async with account.journal_lock:
            sent = await self._journal(account, groups)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._send_queue.put_nowait((sent, done))
        await done
        await self._record_outcomes(sent)
        return sent

    async def _journal(self, account: _Account, groups: list[list[_Pending]]) -> list[_Sent]:
        """Sign one transaction per group and commit them with their operations."""
        if account.next_nonce is None:
            account.next_nonce = await self._first_nonce(account.signer.address)
        signed = []
        for group in groups:
            signed.append(self._sign(account, group))
        fresh = [p for group in groups for p in group
                 if not p.journaled and p.op_key is not None]

        def journal(s: Session) -> list[ChainTx]:
            # Many accounts' windows share one commit (`Database.write`).
            rows = [
                ChainTx(account=account.signer.address, nonce=nonce, tx_hash=tx_hash, raw=raw,
                        to=to, status="signed")
                for nonce, tx_hash, raw, to in signed
            ]
            s.add_all(rows)
            s.flush()
            new_ops: list[dict[str, Any]] = []
            moved_ops: list[dict[str, Any]] = []
            for row, group in zip(rows, groups, strict=True):
                for index, pending in enumerate(group):
                    if pending.journaled:  # retried after a split: its row moves
                        moved_ops.append({"op_key": pending.op_key, "tx_id": row.id,
                                          "item_index": index})
                        continue
                    if pending.op_key is None:
                        # Without a key nobody will look the operation up: the
                        # journaled transaction is its durable record.
                        continue
                    new_ops.append({"tx_id": row.id, "item_index": index,
                                    "op_key": pending.op_key, "status": "pending",
                                    "kind": pending.call.kind or pending.call.function,
                                    "payload_hash": pending.payload_hash})
            if new_ops:
                s.execute(insert(ChainOp), new_ops)
            if moved_ops:
                # A Core update, not an ORM one: with a list of parameter sets an ORM
                # update would be a bulk update by primary key.
                s.execute(
                    update(_OPS).where(_OPS.c.op_key == bindparam("key"))
                    .values(tx_id=bindparam("new_tx"), item_index=bindparam("new_index"),
                            status="pending"),
                    [{"key": m["op_key"], "new_tx": m["tx_id"], "new_index": m["item_index"]}
                     for m in moved_ops])
            return rows

        rows = await self.db.write(journal)
        for pending in fresh:
            pending.journaled = True
        return [_Sent(row.id, row.tx_hash, row.account, row.nonce,
                      needs_receipt=self._sample_gas(group[0].call),
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
            "maxFeePerGas": self.max_fee, "maxPriorityFeePerGas": self.tip, "value": 0,
            "data": data,
        }
        if to is not None:
            tx["to"] = to
        signed = account.signer.sign_transaction(tx)
        return nonce, "0x" + signed.hash.hex().removeprefix("0x"), bytes(signed.raw_transaction), to

    async def _first_nonce(self, address: str) -> int:
        async with self.db.session() as s:
            last = (
                await s.execute(
                    select(ChainTx.nonce).where(ChainTx.account == address)
                    .order_by(ChainTx.nonce.desc()).limit(1)
                )
            ).scalar()
        node = int(await self._rpc_retrying("eth_getTransactionCount", address, "pending"), 16)
        return max(node, (last + 1) if last is not None else 0)

    async def _record_outcomes(self, sent: list[_Sent]) -> None:
        on_chain = [(tx, tx.receipt, int(tx.receipt["status"], 16) == 1) for tx in sent
                    if tx.receipt is not None]  # None: superseded, nothing of it on chain
        if not on_chain:
            return
        outcomes = [{"tx": tx.tx_id, "outcome": "confirmed" if ok else "reverted",
                     "number": int(receipt["blockNumber"], 16),
                     "index": int(receipt["transactionIndex"], 16), "stamp": tx.timestamp}
                    for tx, receipt, ok in on_chain]
        done = [tx.tx_id for tx, _, ok in on_chain if ok and tx.refused is None and tx.keyed]

        def record(s: Session) -> None:  # two statements for the whole window
            s.execute(_RECORD_OUTCOME, outcomes)
            if done:
                s.execute(update(_OPS).where(_OPS.c.tx_id.in_(done)).values(status="done"))

        await self.db.write(record)

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
            async with self.db.transaction() as s:
                for op_key, reason in keyed:
                    await s.execute(
                        update(ChainOp).where(ChainOp.op_key == op_key)
                        .values(status="failed", error=reason[:500])
                    )
        for pending, reason in refused:
            self.stats["ops_refused"] += 1
            if not pending.future.done():
                pending.future.set_exception(error(reason))

    def _ran_out_of_gas(self, tx: _Sent) -> bool:
        assert tx.receipt is not None
        if "gasUsed" in tx.receipt:
            return int(tx.receipt["gasUsed"], 16) >= self.gas_limit * 0.98
        return tx.out_of_gas

    def _group_cap(self, call: Call) -> int:
        """How many items of this call fit in one transaction's gas limit."""
        per_item = self._gas_per_item.get((call.contract, call.function))
        if per_item is None:
            return min(self.batch_max, 32)  # unknown yet: start small, learn from receipts
        return max(1, min(self.batch_max, int(self.gas_limit * 0.8 // per_item)))

    def _learn_gas(self, group: list[_Pending], receipt: dict[str, Any]) -> None:
        call = group[0].call
        if call.item is None:
            # Sent alone (a deployment, or a whole bulk chunk in `fixed`): its gas
            # says nothing about one merged item, and learning it would shrink the
            # batches of the same function's single-item calls to one per tx.
            return
        per_item = int(receipt["gasUsed"], 16) / len(group)
        key = (call.contract, call.function)
        self._gas_per_item[key] = max(per_item, self._gas_per_item.get(key, 0) * 0.9)

    def _result(self, receipt: dict[str, Any], timestamp: int, item_index: int,
                events: _ReceiptEvents | None = None) -> OpResult:
        return OpResult(
            tx_hash=receipt["transactionHash"],
            block_number=int(receipt["blockNumber"], 16),
            block_timestamp=timestamp,
            item_index=item_index,
            receipt_events=events or _ReceiptEvents(self, receipt),
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

    # -- sending -------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while True:
            jobs = [await self._send_queue.get()]
            while not self._send_queue.empty():
                jobs.append(self._send_queue.get_nowait())
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

    async def _broadcast(self, txs: list[_Sent]) -> None:
        """Send, then wait for every receipt; recover the node when it fails."""
        raws = await self._raw_of(txs)
        while True:
            try:
                await self._pace()
                replies = await self._send(txs, raws)
                refused = [(tx, r) for tx, r in zip(txs, replies, strict=True)
                           if isinstance(r, RpcError) and not r.tx_already_in_node
                           and not r.nonce_too_low]
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
                await self.recover()

    async def _pace(self) -> None:
        """Wait while the chain's clock is more than MAX_AHEAD s ahead of the wall's."""
        ahead = self.chain_time - time.time()
        if ahead > MAX_AHEAD:
            self.stats["paced_ms"] += int((ahead - MAX_AHEAD) * 1000)
            await asyncio.sleep(ahead - MAX_AHEAD)

    async def _seal(self) -> None:
        """Seal every transaction waiting in the node's pool into one block, a second
        after its parent or now, whichever is later (geth, see `seal_on_request`)."""
        head = await self.rpc.call("eth_getBlockByNumber", "latest", False)
        stamp = max(int(time.time()), int(head["timestamp"], 16) + 1)
        await self.rpc.call("testing_commitBlockV1", seal_attributes(stamp), None, "0x")
        self.chain_time = max(self.chain_time, stamp)
        self.stats["blocks_sealed"] += 1

    async def _send(self, txs: list[_Sent], raws: list[bytes]) -> list[Any]:
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

    async def _replace_refused(self, refused: list[tuple[_Sent, RpcError]]) -> None:
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
                signer = self._accounts[tx.account].signer
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

    async def _drop_superseded(self, txs: list[_Sent]) -> None:
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

    async def _raw_of(self, txs: list[_Sent]) -> list[bytes]:
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

    async def _confirm_from_replies(self, live: list[tuple[_Sent, Any]]) -> None:
        """Outcomes from the send replies themselves (the embedded node).

        The embedded node mines each transaction as it arrives and throws on a
        failed one (with the mined hash in the error), so a hash reply means mined
        and succeeded: no receipt, whose logs cost the node as much as the
        execution, is needed. Only the position in the chain is fetched.
        """
        light: list[_Sent] = []
        full: list[_Sent] = []
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

    def _sample_gas(self, call: Call) -> bool:
        """Whether to fetch this call's full receipt: always for deployments, and for
        a few of each batch entry point so the batch size follows the gas used."""
        if call.init_code is not None:
            return True
        key = (call.contract, call.function)
        self._receipts_seen[key] += 1
        return self._receipts_seen[key] <= 3 or self._receipts_seen[key] % 16 == 0

    async def _collect_receipts(self, txs: list[_Sent], stamp: bool = True) -> None:
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
                    await self.recover()
        if stamp:
            await self._stamp(txs)

    async def _stamp(self, txs: list[_Sent]) -> None:
        """Block timestamps, which the journal keeps for replays."""
        numbers = sorted({t.receipt["blockNumber"] for t in txs if t.receipt})
        blocks = await self.rpc.batch([("eth_getBlockByNumber", [n, False]) for n in numbers])
        stamps = {n: int(b["timestamp"], 16) for n, b in zip(numbers, blocks, strict=True)
                  if isinstance(b, dict)}
        self.chain_time = max([self.chain_time, *stamps.values()])
        for tx in txs:
            assert tx.receipt is not None
            tx.timestamp = stamps.get(tx.receipt["blockNumber"], 0)

    async def _rpc_retrying(self, method: str, *params: Any) -> Any:
        while True:
            try:
                return await self.rpc.call(method, *params)
            except ChainUnavailable:
                await asyncio.sleep(0.2)

