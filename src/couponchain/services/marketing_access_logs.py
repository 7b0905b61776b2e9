"""Access logs: records stored as one Parquet file per batch, each batch's Merkle root anchored.

A batch is parsed and hashed column by column (`domain/access_log_columns.py`;
visitor IPs only as keyed hashes under `key`), written to the analytics store
(`store/analytics.py`) and anchored on the marketing contract; a refused
anchor removes both the file and the batch row. Large batches are parsed in
worker processes. `services/marketing.py` wires this into the marketing
service; reads and proofs are in `services/marketing_views.py`.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select, update

from couponchain import supervision
from couponchain.chain.gateway import Call
from couponchain.domain import access_log_columns as columnar
from couponchain.domain.access_log_columns import RecordColumns
from couponchain.domain.op_keys import platform_key
from couponchain.domain.roles import Role
from couponchain.errors import ContractRevert, Forbidden, InvalidInput
from couponchain.services import marketing_views as views
from couponchain.services.marketing_views import merchant_number
from couponchain.services.participants import Caller
from couponchain.store.analytics import AccessLogStore
from couponchain.store.models import AccessLogBatch, Participant

log = logging.getLogger(__name__)

ZERO = "0x0000000000000000000000000000000000000000"
#: Batches from this size on are parsed and hashed in a worker process.
POOL_MIN_RECORDS = 5_000


def log_key(master_secret: str) -> bytes:
    """The key that pseudonymised visitor IPs before it became a stored secret
    (services/platform_secrets.py): a database from then keeps this value.

    Deterministic, so equal IPs give equal visitors across restarts and
    workers; the HKDF purpose keeps it apart from every other derived key.
    """
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"access-log-visitors").derive(master_secret.encode())


class AccessLogIngest:
    """Stores and anchors access-log batches; owns the parsing worker processes."""

    def __init__(self, runtime: Any, store: AccessLogStore) -> None:
        self.rt = runtime
        #: The visitor pseudonym key, a stable platform secret (loaded at start).
        self.key = b""
        #: The access-log records (the SQL store keeps the batches' rows only).
        self.store = store
        #: None: not started yet; False: broken, parse in threads.
        self._workers: ProcessPoolExecutor | None | bool = None

    @property
    def db(self) -> Any:
        return self.rt.db

    async def ingest(self, caller: Caller, items: Sequence[Mapping[str, Any]],
                     idempotency_key: str | None) -> dict[str, Any]:
        """Store a batch of records, anchor its Merkle root; all or nothing.

        The records are parsed and hashed column by column (`access_log_columns`),
        written to the analytics store as one file, and only then is the batch
        row committed; a refused anchor removes both.
        """
        if caller.role not in (Role.TERMINAL, Role.PLATFORM):
            raise Forbidden("only terminal service nodes (or the platform) submit access logs")
        columns, root = await self._parse_and_hash(items)
        merchant = await self._batch_merchant(caller, columns)
        first, last = min(columns.time), max(columns.time)
        batch_id: int | None = None
        try:
            async with self.db.transaction() as s:
                batch = AccessLogBatch(submitter_id=caller.id, merchant=merchant,
                                       merkle_root="0x" + root.hex(), record_count=len(columns),
                                       first_time=first, last_time=last, status="pending")
                s.add(batch)
                await s.flush()
                batch_id = batch.id
                await asyncio.to_thread(self.store.write, batch_id, columns)
        except BaseException:
            if batch_id is not None:  # the file may exist while its row never committed
                await asyncio.to_thread(self.store.remove, batch_id)
            raise
        call = Call("marketing", "anchor_logs_batch",
                    item=((batch_id, merchant or ZERO, root, len(columns), first, last),),
                    kind=f"anchor {len(columns)} access logs")
        try:
            op = await self.rt.gateway.submit(
                await self.rt.participants.signer(caller.id), call,
                op_key=platform_key("anchor-logs", batch_id))
        except ContractRevert:
            await self._forget_batch(batch_id)
            raise
        async with self.db.transaction() as s:
            await s.execute(update(AccessLogBatch).where(AccessLogBatch.id == batch_id).values(
                status="anchored", tx_hash=op.tx_hash, block_number=op.block_number))
        await self.rt.indexer.wait_for(op.block_number)
        return {"batch_id": batch_id, "merkle_root": "0x" + root.hex(),
                "record_count": len(columns), "first_time": views.iso(first),
                "last_time": views.iso(last), "merchant": merchant,
                "anchor_tx": op.tx_hash, "tx_hash": op.tx_hash,
                "block_number": op.block_number}

    async def _parse_and_hash(self, items: Sequence[Mapping[str, Any]]
                              ) -> tuple[RecordColumns, bytes]:
        """The batch's columns and Merkle root, computed off the event loop.

        A large batch goes to a worker process: parsing and hashing are pure
        Python and the GIL would serialise them in threads, so two batches in
        flight use both cores (pickling costs the loop ~40 ms per 50,000
        records, against ~300 ms of work it no longer does).
        """
        if (not isinstance(items, list) or len(items) < POOL_MIN_RECORDS
                or self._workers is False):
            return await asyncio.to_thread(columnar.parse_and_hash, items, self.key)
        if not isinstance(self._workers, ProcessPoolExecutor):
            # Workers die with this process even when it is killed (they would
            # wait for work forever); started from the event loop's thread.
            self._workers = ProcessPoolExecutor(
                max_workers=min(2, os.cpu_count() or 1),
                mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded loop
                initializer=supervision.die_with_parent, initargs=(os.getpid(),))
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(
                self._workers, columnar.parse_and_hash_plain, items, self.key)
        except BrokenProcessPool:
            # E.g. a __main__ without the `if __name__ == "__main__"` guard that
            # spawning needs: slower in a thread, but never refused.
            log.warning("access-log worker processes failed; parsing in threads from now on")
            self._workers = False
            return await asyncio.to_thread(columnar.parse_and_hash, items, self.key)
        if isinstance(outcome[0], str):  # an InvalidInput, carried as (message, field)
            raise InvalidInput(outcome[0], field=outcome[1])
        return outcome  # type: ignore[return-value]

    async def _batch_merchant(self, caller: Caller, columns: RecordColumns) -> str | None:
        """The merchant address the anchor names; checks every record's merchant."""
        numbers = set(columns.merchant)
        if caller.role == Role.TERMINAL:
            assert caller.merchant_id is not None
            own = (await self.rt.participants.get(caller.merchant_id)).address
            number = merchant_number(own)
            if numbers != {number}:
                i = next(i for i, m in enumerate(columns.merchant) if m != number)
                raise InvalidInput(
                    f"record {i}: a terminal submits logs of its own merchant "
                    f"(number {number}) only", field=f"records.{i}.merchant")
            return own  # type: ignore[no-any-return]
        known = await self.merchants_by_number()
        if not numbers <= known.keys():
            i = next(i for i, m in enumerate(columns.merchant) if m not in known)
            raise InvalidInput(f"record {i}: no merchant has number {columns.merchant[i]}",
                               field=f"records.{i}.merchant")
        return known[numbers.pop()] if len(numbers) == 1 else None

    async def merchants_by_number(self) -> dict[int, str]:
        """Every merchant's address by its merchant number."""
        async with self.db.session() as s:
            addresses = (await s.execute(select(Participant.address).where(
                Participant.role == int(Role.MERCHANT)))).scalars().all()
        return {merchant_number(a): a for a in addresses}

    async def _forget_batch(self, batch_id: int) -> None:
        async with self.db.transaction() as s:
            await s.execute(delete(AccessLogBatch).where(AccessLogBatch.id == batch_id))
        await asyncio.to_thread(self.store.remove, batch_id)

    def stop(self) -> None:
        """Shut the worker processes down (new ones start on the next large batch)."""
        if isinstance(self._workers, ProcessPoolExecutor):
            self._workers.shutdown(wait=False, cancel_futures=True)
            self._workers = None
