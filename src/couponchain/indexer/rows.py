"""Many rows into one table with one executemany, for the indexer's busiest writes.

A Core `insert(table)` with a list of dicts costs SQLAlchemy about 10 µs per
row to process parameters, more than SQLite takes to store the row. Here the
statement is compiled once per dialect and table, and the rows go to the
driver's `executemany` as tuples; only the columns whose type processes its
values (JSON) are processed, by the type's own bind processor. A dialect with
named parameters (psycopg on PostgreSQL) gets the plain Core insert instead,
which SQLAlchemy sends there as multi-row VALUES.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

#: The compiled statement, the position of each of its parameters in a row, and
#: the bind processors by position (None when no column needs one).
_Plan = tuple[str, tuple[int, ...], list[tuple[int, Callable[[Any], Any]]]]


def insert_rows(session: Session, table: Table, columns: Sequence[str],
                      rows: Sequence[Sequence[Any]]) -> None:
    """INSERT `rows` (values in the order of `columns`) into `table`.

    Goes straight to the connection: rows the session still holds (`add`) are
    flushed first by the caller, if any must precede these.
    """
    if not rows:
        return
    connection = session.connection()
    plan = _plan(connection.dialect, table, tuple(columns))
    if plan is None:
        session.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    sql, order, processors = plan
    if order != tuple(range(len(columns))):
        rows = [tuple(r[i] for i in order) for r in rows]
    if processors:
        processed = []
        for row in rows:
            values = list(row)
            for position, process in processors:
                values[position] = process(values[position])
            processed.append(tuple(values))
        rows = processed
    connection.exec_driver_sql(sql, list(rows))  # type: ignore[arg-type]


@lru_cache(maxsize=64)
def _plan(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> _Plan | None:
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    if not compiled.positional or compiled.positiontup is None:
        return None
    names = list(compiled.positiontup)
    if sorted(names) != sorted(columns):  # defaults filled in by SQLAlchemy: not for us
        return None
    order = tuple(columns.index(name) for name in names)
    processors: list[tuple[int, Callable[[Any], Any]]] = []
    for position, name in enumerate(names):
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((position, process))
    return compiled.string, order, processors
