"""The read models as indexed live must be what replaying the stored events makes.

`assert_replays_alike` rebuilds the read models twice from the stored events,
as a rewind does (`Indexer.rebuild`, the events in runs of up to 5,000) and
one event at a time, and compares each with the rows indexed live (the events
in the runs each stored slice holds). One event at a time is the reference:
every run handler (`Projections.on_runs`) must leave what its events applied
one by one leave, counters, statuses and history rows in their order included.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from couponchain.indexer.indexer import Indexer
from couponchain.indexer.projections import PROJECTIONS, IndexedEvent, Projections
from couponchain.runtime import Runtime


class OneByOne(Projections):
    """The shared projections, applied one event at a time (runs of one)."""

    def __init__(self, projections: Projections = PROJECTIONS) -> None:
        super().__init__()
        self.handlers = projections.handlers
        self.run_handlers = projections.run_handlers
        self.tables = projections.tables

    def apply(self, session: Session, events: list[IndexedEvent]) -> None:
        for event in events:
            super().apply(session, [event])


def rows_of(session: Session, table: Table) -> list[tuple[Any, ...]]:
    """A table's rows in key order; a surrogate id (which a rebuild on PostgreSQL
    does not reuse) only orders them."""
    surrogate = table.autoincrement_column
    columns = [c for c in table.columns if c is not surrogate]
    return [tuple(r) for r in session.execute(
        select(*columns).order_by(*table.primary_key.columns)).all()]


async def read_models(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the projections own, by table."""
    def dump(session: Session) -> dict[str, list[tuple[Any, ...]]]:
        return {t.name: rows_of(session, t) for t in PROJECTIONS.tables}

    return await runtime.db.write(dump)


async def assert_replays_alike(runtime: Runtime) -> dict[str, list[tuple[Any, ...]]]:
    """Wait for the read models to catch up with the chain, then check that both
    replays of the stored events make them again; the live rows, by table."""
    head = int(await runtime.rpc.call("eth_blockNumber"), 16)
    await runtime.indexer.wait_for(head, timeout=60)
    live = await read_models(runtime)
    one_by_one = Indexer(runtime.db, runtime.rpc, runtime.indexer.contracts, OneByOne())
    for how, replay in (("one event at a time", one_by_one.rebuild),
                        ("in runs", runtime.indexer.rebuild)):
        await runtime.db.write(replay)
        replayed = await read_models(runtime)
        for table, rows in live.items():
            differ = [(i, want, got) for i, (want, got) in enumerate(
                zip(rows, replayed[table], strict=False)) if want != got]
            assert replayed[table] == rows, (
                f"{table} replayed {how}: {len(replayed[table])} rows, {len(rows)} live; "
                f"first difference (position, live, replayed): {differ[:1]}")
    return live
