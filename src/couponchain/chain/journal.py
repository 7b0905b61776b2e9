"""The journal: the gateway's outbox in SQL (`chain_txs`, `chain_ops`).

A transaction is journaled, signed, before it is broadcast; an operation submitted
under a key (an `Idempotency-Key`, say) gets a row of its own, so a retry finds
its outcome instead of applying it again. The journal is the record of what was
acknowledged: the reconciler replays it into a node that lacks it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from couponchain.store.db import Database
from couponchain.store.models import ChainOp, ChainTx

__all__ = ["Journal", "KeyedOp", "Signed"]

_TXS, _OPS = cast(Table, ChainTx.__table__), cast(Table, ChainOp.__table__)
#: A transaction's outcome, for many transactions at once (an executemany).
_RECORD_OUTCOME = (update(_TXS).where(_TXS.c.id == bindparam("tx"))
                   .values(status=bindparam("outcome"), block_number=bindparam("number"),
                           tx_index=bindparam("index"), block_timestamp=bindparam("stamp")))
#: The operations journaled under some keys, with their transactions' state; built once,
#: as every keyed write looks its key up first (a burst of them together).
_OPS_BY_KEYS = (select(ChainOp.op_key, ChainOp.id, ChainOp.status, ChainOp.error,
                       ChainOp.item_index, ChainTx.status.label("tx_status"), ChainTx.tx_hash,
                       ChainTx.block_timestamp)
                .join(ChainTx, ChainTx.id == ChainOp.tx_id)
                .where(ChainOp.op_key.in_(bindparam("op_keys", expanding=True))))
#: Keys a lookup query carries at most.
_LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class Signed:
    """A signed transaction to journal: `to` is None for a deployment."""

    nonce: int
    tx_hash: str
    raw: bytes
    to: str | None


@dataclass(frozen=True)
class KeyedOp:
    """An operation carried by a transaction under a key, at `item_index` of its batch.
    `moved`: journaled before in a transaction that reverted, now carried by this one."""

    op_key: str
    item_index: int
    kind: str
    payload_hash: str
    moved: bool = False


class Journal:
    """Reads and writes of the outbox, each in as few statements as a window allows."""

    def __init__(self, db: Database) -> None:
        self.db = db
        #: Keys waiting to be looked up, each with the lookups waiting on it.
        self._wanted: dict[str, list[asyncio.Future[Any]]] = {}
        self._looking: asyncio.Task[None] | None = None

    async def op(self, op_key: str) -> Any:
        """The operation journaled under `op_key` with its transaction's state (a row:
        id, status, error, item_index, tx_status, tx_hash, block_timestamp), or None.

        Made on every keyed write. Lookups made while one is at the database share
        the next query: a burst of 3,000 keyed writes took a pooled connection
        each, and on a loaded PostgreSQL some waited past the pool's timeout.
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._wanted.setdefault(op_key, []).append(future)
        if self._looking is None or self._looking.done():
            self._looking = asyncio.create_task(self._look_up())
        return await future

    async def _look_up(self) -> None:
        while self._wanted:
            wanted, self._wanted = self._wanted, {}
            keys = list(wanted)
            try:
                found: dict[str, Any] = {}
                for i in range(0, len(keys), _LOOKUP_CHUNK):
                    found.update(await self.db.read(_rows_by_key(keys[i:i + _LOOKUP_CHUNK])))
            except Exception as exc:  # each lookup that waited on it sees it
                for futures in wanted.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                continue
            for key, futures in wanted.items():
                for future in futures:
                    if not future.done():
                        future.set_result(found.get(key))

    async def forget_op(self, op_id: int) -> None:
        """Delete an operation row (its batch reverted and it was never applied)."""
        async with self.db.transaction() as s:
            await s.execute(delete(ChainOp).where(ChainOp.id == op_id))

    async def write(self, account: str, window: list[tuple[Signed, list[KeyedOp]]]
                    ) -> list[ChainTx]:
        """Journal one account's window: its transactions, each with its keyed ops."""

        def journal(s: Session) -> list[ChainTx]:
            # Many accounts' windows share one commit (`Database.write`).
            rows = [ChainTx(account=account, nonce=tx.nonce, tx_hash=tx.tx_hash, raw=tx.raw,
                            to=tx.to, status="signed") for tx, _ in window]
            s.add_all(rows)
            s.flush()
            new_ops: list[dict[str, Any]] = []
            moved_ops: list[dict[str, Any]] = []
            for row, (_, ops) in zip(rows, window, strict=True):
                for op in ops:
                    if op.moved:
                        moved_ops.append({"key": op.op_key, "new_tx": row.id,
                                          "new_index": op.item_index})
                    else:
                        new_ops.append({"tx_id": row.id, "item_index": op.item_index,
                                        "op_key": op.op_key, "status": "pending",
                                        "kind": op.kind, "payload_hash": op.payload_hash})
            if new_ops:
                s.execute(insert(ChainOp), new_ops)
            if moved_ops:
                # A Core update, not an ORM one: with a list of parameter sets an ORM
                # update would be a bulk update by primary key.
                s.execute(
                    update(_OPS).where(_OPS.c.op_key == bindparam("key"))
                    .values(tx_id=bindparam("new_tx"), item_index=bindparam("new_index"),
                            status="pending"),
                    moved_ops)
            return rows

        return await self.db.write(journal)

    async def record_outcomes(self, outcomes: list[dict[str, Any]], done: list[int]) -> None:
        """Where each transaction landed (`tx`, `outcome`, `number`, `index`, `stamp`),
        and the keyed operations of the `done` transactions applied."""

        def record(s: Session) -> None:  # two statements for the whole window
            s.execute(_RECORD_OUTCOME, outcomes)
            if done:
                s.execute(update(_OPS).where(_OPS.c.tx_id.in_(done)).values(status="done"))

        await self.db.write(record)

    async def fail_ops(self, refused: list[tuple[str, str]]) -> None:
        """Mark keyed operations refused, each with its reason: (op key, reason)."""
        async with self.db.transaction() as s:
            for op_key, reason in refused:
                await s.execute(update(ChainOp).where(ChainOp.op_key == op_key)
                                .values(status="failed", error=reason[:500]))

    async def last_nonce(self, address: str) -> int | None:
        """The highest nonce journaled for `address`, if any."""
        async with self.db.session() as s:
            return (await s.execute(
                select(ChainTx.nonce).where(ChainTx.account == address)
                .order_by(ChainTx.nonce.desc()).limit(1))).scalar()

    async def unconfirmed(self) -> int:
        """Journal transactions not yet confirmed on chain."""
        async with self.db.session() as s:
            return int((await s.execute(
                select(func.count()).select_from(ChainTx).where(ChainTx.status == "signed")
            )).scalar_one())


def _rows_by_key(keys: list[str]) -> Callable[[Session], dict[str, Any]]:
    """A read of the operations journaled under `keys`, by key (absent ones left out)."""

    def read(s: Session) -> dict[str, Any]:
        return {row.op_key: row for row in s.execute(_OPS_BY_KEYS, {"op_keys": keys})}

    return read
