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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from couponchain.domain.access_logs import AccessMethod, Operation
from couponchain.domain.indicator_language import (
    LEDGER,
    LOG,
    SOURCES,
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
    """One DuckDB query computing several indicators in one row: each distinct
    count is one column (a grouped count a list of `{key, n}`), and `columns[i]`
    gives indicator i's columns in `counts` order (its counts shared with
    others are read once)."""

    sql: str
    params: dict[str, Any]
    columns: tuple[tuple[int, ...], ...]


def compile_many(trees: Sequence[Node], start: int, end: int) -> CompiledMany:
    """The DuckDB query computing every tree of `trees` for `[start, end)` at once
    (the catalogue's presets in one scan of the logs, not eleven)."""
    params = _Params()
    column_of: dict[Count, int] = {}
    parts: list[str] = []
    layout: list[tuple[int, ...]] = []
    for tree in trees:
        mine: list[int] = []
        for count in counts(tree):
            if count not in column_of:
                sql = _count_sql(count, start, end, params)
                if count.by is not None:
                    sql = f"SELECT list(struct_pack(key := key, n := n)) FROM ({sql})"
                column_of[count] = len(parts)
                parts.append(f"({sql})")
            mine.append(column_of[count])
        layout.append(tuple(mine))
    return CompiledMany("SELECT " + ", ".join(parts), params.values, tuple(layout))


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
