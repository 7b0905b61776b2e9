"""The one engine behind every marketing indicator: expressions of
`domain/indicator_language.py` run by DuckDB.

A merchant's own indicators and the catalogue's 11 built-in ones (the
language's `PRESETS`) are computed the same way: parsed expressions,
compiled by `domain/indicator_sql.py` into one query over two relations,
`logs` (the merchant's anchored access-log records, the Parquet files of
`store/analytics.py` read in place) and `ledger` (the merchant's chain events,
an Arrow table the caller loads, see `marketing_indicators.ledger_rows`).

`catalogue` returns the presets in the catalogue's own types (a rate as its
`Rate` of counts, top operations as tuples), so reports carry exactly what
`indicators.compute`, the pure-Python reference, gives over the same records;
the tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import duckdb
import pyarrow as pa

from couponchain.domain import indicator_language as lang
from couponchain.domain.access_logs import AccessMethod, Operation
from couponchain.domain.indicator_catalogue import Indicator, Rate
from couponchain.domain.indicator_sql import compile_many, reads_accounts
from couponchain.store.analytics import AccessLogStore

LEDGER_SCHEMA = pa.schema([("time", pa.int64()), ("kind", pa.string()),
                           ("action", pa.string()), ("account", pa.string()),
                           ("weight", pa.int64())])
LOGS_SCHEMA = pa.schema([("time", pa.int64()), ("method", pa.uint8()),
                         ("operation", pa.uint8()), ("account", pa.string()),
                         ("visitor_id", pa.decimal128(38, 0))])
LedgerRow = tuple[int, str, str, str, int]
#: Per indicator, what its counts gave: their values (a number) or the groups.
Raw = list[int] | dict[Any, int]
#: Holds nothing: queries read the files and the Arrow tables registered per cursor.
_DUCK = duckdb.connect(":memory:")
#: The catalogue, each indicator as its preset expression, parsed once.
PRESET_TREES: dict[Indicator, lang.Node] = {
    Indicator(name): lang.parse(text) for name, text in lang.PRESETS.items()}


def execute(store: AccessLogStore, batches: Sequence[int], number: int,
            ledger: Sequence[LedgerRow], trees: Sequence[lang.Node], start: int,
            end: int, *, materialize: bool = True) -> list[Raw]:
    """Every tree's counts over `[start, end)` in one query (blocking: call it
    in a thread): per tree, its counts' values in `lang.counts` order, or for
    a grouped one its groups `{key: n}`."""
    compiled = compile_many(trees, start, end)
    # A cursor per evaluation (a connection of its own to the shared in-memory
    # database, ~70x cheaper than a new database): cursors are not shared
    # across threads, and the Arrow tables registered on one are its own.
    with _DUCK.cursor() as duck:
        duck.register("ledger_rows", pa.Table.from_pylist(
            [dict(zip(LEDGER_SCHEMA.names, r, strict=True)) for r in ledger],
            schema=LEDGER_SCHEMA))
        params: dict[str, Any] = dict(compiled.params)
        if batches:
            # Accounts are strings, the costliest column: read only for a join by account.
            account = "account" if reads_accounts(trees) else "''::VARCHAR AS account"
            logs = (f"SELECT time, method, operation, {account}, visitor_id "
                    "FROM read_parquet($files) WHERE merchant = $merchant AND time < $end_all")
            params.update(files=[str(store.path(b)) for b in batches], merchant=number,
                          end_all=end)
        else:
            duck.register("no_logs", LOGS_SCHEMA.empty_table())
            logs = "SELECT * FROM no_logs"
        # The presets read the logs in a few shared scans, each pushing its
        # columns and times down into the Parquet reader: cheaper than holding
        # every column of the whole history (measured over 1 M records, ~30 %).
        # Other indicators may read the logs many times (joins by account).
        hold = "MATERIALIZED" if materialize else "NOT MATERIALIZED"
        sql = (f"WITH logs AS {hold} ({logs}), ledger AS (SELECT * FROM ledger_rows)"
               f"{compiled.ctes} {compiled.sql}")
        row = duck.execute(sql, params).fetchone()
    assert row is not None
    out: list[Raw] = []
    for tree, columns in zip(trees, compiled.columns, strict=True):
        if lang.is_grouped(tree):
            out.append({g["key"]: int(g["n"]) for g in row[columns[0]] or ()})
        else:
            out.append([int(row[c]) for c in columns])
    return out


def value_of(tree: lang.Node, raw: Raw) -> object:
    """An indicator's value from its counts: an int, an exact Fraction, None
    (undefined: a denominator counted 0), or for a grouped count a mapping
    (or, with top=, a ranked list of [label, n]) of counts."""
    if isinstance(raw, dict):
        assert isinstance(tree, lang.Count) and tree.by is not None
        return _groups(tree, raw)
    return lang.combine(tree, raw)


def run(store: AccessLogStore, batches: Sequence[int], number: int,
        ledger: Sequence[LedgerRow], tree: lang.Node, start: int, end: int) -> object:
    """One indicator's value over `[start, end)` (blocking; see `value_of`)."""
    return value_of(tree, execute(store, batches, number, ledger, [tree], start, end)[0])


def catalogue(store: AccessLogStore, batches: Sequence[int], number: int, start: int,
              end: int) -> dict[str, object]:
    """The 11 catalogue indicators over `[start, end)`, computed from their
    preset expressions in one query (blocking), in the catalogue's types."""
    trees = list(PRESET_TREES.values())
    raws = execute(store, batches, number, (), trees, start, end, materialize=False)
    return {name: _as_catalogue(tree, raw)
            for (name, tree), raw in zip(PRESET_TREES.items(), raws, strict=True)}


def _as_catalogue(tree: lang.Node, raw: Raw) -> object:
    if isinstance(tree, lang.BinOp) and tree.op == "/" and isinstance(raw, list):
        # A rate keeps its two counts (not reduced), undefined over 0 (`Rate`).
        return Rate(*raw)
    value = value_of(tree, raw)
    if isinstance(value, list):  # ranked groups: (label, n) as the catalogue's
        return [tuple(item) for item in value]
    assert not isinstance(value, Fraction)
    return value


def _groups(count: lang.Count, found: dict[Any, int]) -> object:
    labels: dict[Any, str]
    if count.by == "method":
        labels = {int(m): m.label for m in AccessMethod}
    elif count.by == "operation":
        labels = {int(o): o.label for o in Operation}
    else:
        labels = {k: k for k in lang.KINDS}
    if count.top is None:
        return {label: found.get(key, 0) for key, label in labels.items()}
    ranked = sorted(((labels[k], n) for k, n in found.items() if n),
                    key=lambda item: (-item[1], item[0]))
    return [list(item) for item in ranked[:count.top]]
