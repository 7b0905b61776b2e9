"""Compile a parsed indicator (`indicator_language`) to one DuckDB query.

The query reads two relations the caller provides as common table
expressions: `logs` (the merchant's anchored access-log records: `time`,
`method`, `operation`, `account`, `visitor_id`) and `ledger` (the merchant's
chain events: `time`, `kind`, `action`, `account`, `weight`, a write-off's
reversal weighing -1). Every value that came from the user's text (filter
values, window bounds) travels as a named parameter; the SQL text is built
only from this module's fixed fragments and the parser's whitelisted names,
so no user input is ever pasted into it.

A scalar indicator compiles to `SELECT (count 0), (count 1), ...`: one row,
one integer per count, which `indicator_language.combine` turns into the
exact value (DuckDB's division is floating point; the reports carry none). A
grouped indicator compiles to `SELECT key, n ... GROUP BY key`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from couponchain.domain.access_logs import AccessMethod, Operation
from couponchain.domain.indicator_language import (
    LEDGER,
    LOG,
    SOURCES,
    VISITORS,
    Count,
    Filter,
    Node,
    counts,
    is_grouped,
)

_CODES = {"method": {m.label: int(m) for m in AccessMethod},
          "operation": {o.label: int(o) for o in Operation}}
#: Column names by filter field (the only identifiers that reach the SQL text).
_COLUMNS = {"method": "method", "operation": "operation", "kind": "kind", "action": "action"}


@dataclass(frozen=True)
class Compiled:
    """A DuckDB query over `logs` and `ledger`, its parameters, and whether it
    returns groups (`key, n` rows) or one row of counts."""

    sql: str
    params: dict[str, Any]
    grouped: bool


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return "$" + name


def _window(count: Count, start: int, end: int) -> tuple[int, int]:
    return (max(0, end - count.window), end) if count.window is not None else (start, end)


def _in(column: str, f: Filter, params: _Params) -> str:
    codes = _CODES.get(f.field)
    values = [codes[v] if codes else v for v in f.values]
    placeholders = ", ".join(params.add(v) for v in values)
    return f"{column} {'NOT IN' if f.negated else 'IN'} ({placeholders})"


def _count_sql(count: Count, start: int, end: int, params: _Params) -> str:
    s, e = _window(count, start, end)
    ps, pe = params.add(s), params.add(e)
    table = count.table
    fixed = [Filter(field, values) for field, values in SOURCES[count.source][1]]
    if table == LEDGER:
        own = [f for f in fixed + list(count.filters) if f.field in ("kind", "action")]
        joined = [f for f in count.filters if f.field in ("method", "operation")]
        where = [f"time >= {ps}", f"time < {pe}"]
        where += [_in(_COLUMNS[f.field], f, params) for f in own]
        if joined:
            # The join by account: the event counts when its account has a
            # matching access-log record in the same window.
            inner = " AND ".join([f"l.time >= {ps}", f"l.time < {pe}",
                                  "ledger.account <> ''",
                                  "lower(l.account) = ledger.account"]
                                 + [_in("l." + _COLUMNS[f.field], f, params) for f in joined])
            where.append(f"EXISTS (SELECT 1 FROM logs AS l WHERE {inner})")
        cond = " AND ".join(where)
        if count.by is not None:
            return (f"SELECT {_COLUMNS[count.by]} AS key, coalesce(sum(weight), 0) AS n "
                    f"FROM ledger WHERE {cond} GROUP BY key")
        return f"SELECT coalesce(sum(weight), 0) FROM ledger WHERE {cond}"
    where = [f"time >= {ps}", f"time < {pe}"]
    where += [_in(_COLUMNS[f.field], f, params) for f in fixed + list(count.filters)]
    cond = " AND ".join(where)
    if table == LOG:
        if count.by is not None:
            return (f"SELECT {_COLUMNS[count.by]} AS key, count(*) AS n FROM logs "
                    f"WHERE {cond} GROUP BY key")
        return f"SELECT count(*) FROM logs WHERE {cond}"
    # Visitors: distinct in the window; new ones have no record before it.
    window = f"SELECT DISTINCT visitor_id FROM logs WHERE {cond}"
    if count.source == "visitors":
        return f"SELECT count(*) FROM ({window})"
    seen = (f"EXISTS (SELECT 1 FROM logs AS h WHERE h.visitor_id = w.visitor_id "
            f"AND h.time < {ps})")
    negate = "NOT " if count.source == "new_visitors" else ""
    return f"SELECT count(*) FROM ({window}) AS w WHERE {negate}{seen}"


def compile_indicator(tree: Node, start: int, end: int) -> Compiled:
    """The DuckDB query computing `tree` for the period `[start, end)`."""
    params = _Params()
    if is_grouped(tree):
        assert isinstance(tree, Count)
        return Compiled(_count_sql(tree, start, end, params), params.values, True)
    columns = [f"({_count_sql(c, start, end, params)})" for c in counts(tree)]
    return Compiled("SELECT " + ", ".join(columns), params.values, False)


@dataclass(frozen=True)
class CompiledMany:
    """One DuckDB query computing several indicators in one row.

    `ctes` (to follow the caller's `logs` and `ledger`) are the shared scans:
    log counts over one window are one scan with a FILTER per count, and the
    visitors of one window and filter set are found once, whether counted all,
    new or returning. `sql` selects one column per distinct count (a grouped
    count a list of `{key, n}`); `columns[i]` are indicator i's columns in
    `counts` order.
    """

    ctes: str
    sql: str
    params: dict[str, Any]
    columns: tuple[tuple[int, ...], ...]


def compile_many(trees: Sequence[Node], start: int, end: int) -> CompiledMany:
    """The DuckDB query computing every tree of `trees` for `[start, end)` at once
    (the catalogue's 11 presets read the logs in four scans, not eleven)."""
    params = _Params()
    column_of: dict[Count, int] = {}
    selected: list[str] = []
    #: shared scans: key -> (cte name, its aggregate expressions)
    scans: dict[tuple[Any, ...], tuple[str, list[str]]] = {}
    ctes: list[str] = []
    layout: list[tuple[int, ...]] = []

    def shared(key: tuple[Any, ...], make: Callable[[], str], aggregate: str) -> str:
        if key not in scans:  # its parameters are added once, with the scan
            scans[key] = (f"g{len(scans)}", [])
            ctes.append(make())
        name, aggregates = scans[key]
        aggregates.append(f"{aggregate} AS c{len(aggregates)}")
        return f"{name}.c{len(aggregates) - 1}"

    for tree in trees:
        mine: list[int] = []
        for count in counts(tree):
            if count not in column_of:
                column_of[count] = len(selected)
                selected.append(_column(count, start, end, params, shared))
            mine.append(column_of[count])
        layout.append(tuple(mine))
    bodies = []
    for (name, aggregates), body in zip(scans.values(), ctes, strict=True):
        bodies.append(f", {name} AS ({body.replace('{aggregates}', ', '.join(aggregates))})")
    sources = (" FROM " + ", ".join(name for name, _ in scans.values())) if scans else ""
    return CompiledMany("".join(bodies), "SELECT " + ", ".join(selected) + sources,
                        params.values, tuple(layout))


def _column(count: Count, start: int, end: int, params: _Params,
            shared: Callable[[tuple[Any, ...], Callable[[], str], str], str]) -> str:
    """One count's column: an aggregate of a shared scan, or its own subquery."""
    s, e = _window(count, start, end)
    fixed = [Filter(field, values) for field, values in SOURCES[count.source][1]]
    filters = fixed + list(count.filters)
    if count.by is None and count.table == LOG:
        def log_scan() -> str:
            ps, pe = params.add(s), params.add(e)
            return f"SELECT {{aggregates}} FROM logs WHERE time >= {ps} AND time < {pe}"

        # Named parameters: those of the filter may come before the scan's.
        cond = " AND ".join(_in(_COLUMNS[f.field], f, params) for f in filters)
        return shared(("log", s, e), log_scan, f"count(*) FILTER (WHERE {cond})" if cond
                      else "count(*)")
    if count.table == VISITORS:
        def visitor_scan() -> str:
            ps, pe = params.add(s), params.add(e)
            where = [f"time >= {ps}", f"time < {pe}"]
            where += [_in(_COLUMNS[f.field], f, params) for f in filters]
            # The window's distinct visitors are the small side: the history
            # before the window is probed against them (a hash join built on
            # them), never grouped, as `AccessLogStore.visitors` does.
            return ("SELECT {aggregates} FROM (WITH w AS MATERIALIZED (SELECT DISTINCT "
                    f"visitor_id FROM logs WHERE {' AND '.join(where)}) SELECT (SELECT "
                    "count(*) FROM w) AS total, (SELECT count(DISTINCT h.visitor_id) FROM "
                    f"logs AS h JOIN w USING (visitor_id) WHERE h.time < {ps}) AS seen)")

        key = ("visitors", s, e, tuple(filters))
        return shared(key, visitor_scan, {"visitors": "total", "new_visitors": "total - seen",
                                          "returning_visitors": "seen"}[count.source])
    sql = _count_sql(count, start, end, params)
    if count.by is not None:
        sql = f"SELECT list(struct_pack(key := key, n := n)) FROM ({sql})"
    return f"({sql})"


def reads_accounts(trees: Sequence[Node]) -> bool:
    """Whether a count joins ledger events with the logs by account."""
    return any(c.table == LEDGER and any(f.field in ("method", "operation") for f in c.filters)
               for tree in trees for c in counts(tree))


def earliest(tree: Node, start: int, end: int) -> int:
    """The earliest time a count of `tree` reads (0 when it asks about history:
    new and returning visitors look at every record before their window)."""
    found = counts(tree)
    if any(c.source in ("new_visitors", "returning_visitors") for c in found):
        return 0
    return min(_window(c, start, end)[0] for c in found)
