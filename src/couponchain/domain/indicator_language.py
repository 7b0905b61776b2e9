"""Merchant-defined indicators: a small expression language over counts.

An indicator is an arithmetic expression whose leaves are counts:

    count(claims, window=7d) / count(views where method="app", window=7d)
    count(records, by=operation, top=5)
    conversion_rate * 100

Grammar (parsed by lark's LALR parser; nothing is ever evaluated as code):

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := "-" unary | NUMBER | PRESET | count | "(" expr ")"
    count  := "count" "(" SOURCE ["where" clause ("and" clause)*] ("," option)* ")"
    clause := FIELD ("=" | "!=") STRING | FIELD "in" "(" STRING ("," STRING)* ")"
    option := "window" "=" DURATION | "by" "=" FIELD | "top" "=" INT

Sources (see `SOURCES`): access-log ones count the merchant's anchored
records (`records`, `views`, `searches`, `clicks`, `shares`) or distinct
visitors (`visitors`, `new_visitors`, `returning_visitors`); ledger ones
count the chain events the indexer recorded for the merchant (`claims`:
prize claims; `redemptions`: edition redemptions and promotion write-offs,
net of reversals; `write_offs`: the promotion part alone; `purchases`:
referral purchases of the merchant's products; `ledger`: all of them).
A ledger event filtered by `method` or `operation` counts when its account
has a matching access-log record in the same window (the join by account).

Without `window` a count covers the report's period `[start, end)`; with
one, the `window` seconds before `end`. Arithmetic is exact (fractions);
a division whose denominator counts 0 is undefined (`None`), and so is
anything computed from it, never an error at report time; a denominator
that is the constant 0 is refused when the indicator is defined.

A grouped count (`by=`) is a table, not a number: it may only stand alone.
The 11 catalogue indicators are `PRESETS`, each an expression of this
language, and a preset's name may be used inside an expression.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from couponchain.domain.access_logs import AccessMethod, Operation, keccak
from couponchain.domain.indicator_reports import canonical_json
from couponchain.errors import InvalidInput

MAX_LENGTH = 500
MAX_COUNTS = 8
MAX_NODES = 40
MAX_DEPTH = 12
MAX_WINDOW_SECONDS = 366 * 86_400
MAX_TOP = 20
MAX_NAME = 40
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
UNITS = {"m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}

LOG, VISITORS, LEDGER = "log", "visitors", "ledger"
#: source -> (table, fixed filters). Fixed filters are (field, allowed values).
SOURCES: dict[str, tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]] = {
    "records": (LOG, ()),
    "views": (LOG, (("operation", ("view",)),)),
    "searches": (LOG, (("operation", ("search",)),)),
    "clicks": (LOG, (("operation", ("click",)),)),
    "shares": (LOG, (("operation", ("share",)),)),
    "visitors": (VISITORS, ()),
    "new_visitors": (VISITORS, ()),
    "returning_visitors": (VISITORS, ()),
    "ledger": (LEDGER, ()),
    "claims": (LEDGER, (("action", ("claim",)),)),
    "redemptions": (LEDGER, (("action", ("redeem",)),)),
    "write_offs": (LEDGER, (("action", ("redeem",)), ("kind", ("promotion",)))),
    "purchases": (LEDGER, (("action", ("purchase",)),)),
}
#: The coupon kinds of ledger events and the action each records.
KINDS = ("edition", "promotion", "prize", "referral")
ACTIONS = ("claim", "redeem", "purchase")
METHODS = tuple(m.label for m in AccessMethod)
OPERATIONS = tuple(o.label for o in Operation)
#: The filter fields each table takes, with their values.
FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    LOG: {"method": METHODS, "operation": OPERATIONS},
    VISITORS: {"method": METHODS, "operation": OPERATIONS},
    LEDGER: {"kind": KINDS, "method": METHODS, "operation": OPERATIONS},
}
#: What `by=` groups by, per table.
GROUPS = {LOG: ("method", "operation"), VISITORS: (), LEDGER: ("kind",)}

PRESETS: dict[str, str] = {
    "page_views": "count(views)",
    "unique_visitors": "count(visitors)",
    "visits_by_method": "count(records, by=method)",
    "new_visitors": "count(new_visitors)",
    "returning_visitors": "count(returning_visitors)",
    "coupon_claims": 'count(records where operation="claim")',
    "redemptions": 'count(records where operation="redeem")',
    "purchases": 'count(records where operation="purchase")',
    "conversion_rate": 'count(records where operation="purchase") / count(visitors)',
    "redemption_rate": ('count(records where operation="redeem")'
                        ' / count(records where operation="claim")'),
    "top_operations": "count(records, by=operation, top=5)",
}

_GRAMMAR = r"""
?start: sum
?sum: product | sum "+" product -> add | sum "-" product -> sub
?product: unary | product "*" unary -> mul | product "/" unary -> div
?unary: "-" unary -> neg | NUMBER -> number | NAME -> preset | count | "(" sum ")"
count: "count" "(" NAME where? option* ")"
where: "where" clause ("and" clause)*
clause: NAME CMP STRING -> compare | NAME "in" "(" STRING ("," STRING)* ")" -> member
option: "," NAME "=" (DURATION | NUMBER | NAME)
CMP: "!=" | "="
DURATION.2: /[0-9]+[a-z]+/
NUMBER: /[0-9]+(\.[0-9]+)?/
NAME: /[a-z_][a-z0-9_]*/
STRING: /"[^"\\\n]*"/
%ignore /[ \t\r\n]+/
"""
_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)


@dataclass(frozen=True)
class Filter:
    """`field` in `values` (or, `negated`, not in them)."""

    field: str
    values: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True)
class Count:
    """One count: records, visitors or ledger events of a source."""

    source: str
    filters: tuple[Filter, ...] = ()
    window: int | None = None  # seconds before the end; None: the report's period
    by: str | None = None
    top: int | None = None

    @property
    def table(self) -> str:
        return SOURCES[self.source][0]


@dataclass(frozen=True)
class Number:
    value: Fraction


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * /
    left: Node
    right: Node


@dataclass(frozen=True)
class Neg:
    operand: Node


Node = Count | Number | BinOp | Neg


class _Refusal(Exception):
    """A rule broken while building the tree (lark wraps it in a VisitError)."""


@v_args(inline=True)
class _Build(Transformer[Token, Node]):
    def number(self, token: Token) -> Number:
        return Number(Fraction(str(token)))

    def preset(self, token: Token) -> Node:
        name = str(token)
        if name not in PRESETS:
            raise _Refusal(f"unknown name {name!r}; a name alone must be a preset "
                           f"({', '.join(PRESETS)})")
        return _parse_tree(PRESETS[name])

    def neg(self, operand: Node) -> Neg:
        return Neg(operand)

    def add(self, a: Node, b: Node) -> BinOp:
        return BinOp("+", a, b)

    def sub(self, a: Node, b: Node) -> BinOp:
        return BinOp("-", a, b)

    def mul(self, a: Node, b: Node) -> BinOp:
        return BinOp("*", a, b)

    def div(self, a: Node, b: Node) -> BinOp:
        if isinstance(b, Number) and b.value == 0:
            raise _Refusal("division by the constant 0 (a count that is 0 makes the "
                           "value undefined instead)")
        return BinOp("/", a, b)

    def compare(self, field: Token, cmp: Token, value: Token) -> Filter:
        return Filter(str(field), (str(value)[1:-1],), str(cmp) == "!=")

    def member(self, field: Token, *values: Token) -> Filter:
        return Filter(str(field), tuple(str(v)[1:-1] for v in values))

    def where(self, *clauses: Filter) -> tuple[Filter, ...]:
        return clauses

    def option(self, name: Token, value: Token) -> tuple[str, Token]:
        return str(name), value

    def count(self, source: Token, *rest: Any) -> Count:
        name = str(source)
        if name not in SOURCES:
            raise _Refusal(f"unknown source {name!r}; one of {', '.join(SOURCES)}")
        table = SOURCES[name][0]
        filters: tuple[Filter, ...] = ()
        options: dict[str, Token] = {}
        for item in rest:
            if isinstance(item, tuple) and item and isinstance(item[0], Filter):
                filters = item
            elif isinstance(item, tuple):
                key, value = item
                if key in options:
                    raise _Refusal(f"option {key!r} given twice")
                options[key] = value
        for f in filters:
            allowed = FIELDS[table].get(f.field)
            if allowed is None:
                raise _Refusal(f"{name} cannot be filtered by {f.field!r}; by "
                               f"{', '.join(FIELDS[table])}")
            for v in f.values:
                if v not in allowed:
                    raise _Refusal(f"{f.field} {v!r} is unknown; one of {', '.join(allowed)}")
        window = by = top = None
        for key, value in options.items():
            if key == "window":
                window = _window(value)
            elif key == "by":
                by = str(value)
                if by not in GROUPS[table]:
                    raise _Refusal(f"{name} cannot be grouped by {by!r}"
                                   + (f"; by {', '.join(GROUPS[table])}" if GROUPS[table]
                                      else "; it is one number"))
            elif key == "top":
                if value.type != "NUMBER" or not str(value).isdigit() \
                        or not 1 <= int(value) <= MAX_TOP:
                    raise _Refusal(f"top must be a whole number from 1 to {MAX_TOP}")
                top = int(value)
            else:
                raise _Refusal(f"unknown option {key!r}; window, by or top")
        if top is not None and by is None:
            raise _Refusal("top needs by= (the groups it ranks)")
        return Count(name, filters, window, by, top)


def _window(value: Token) -> int:
    text = str(value)
    match = re.fullmatch(r"([0-9]+)([a-z]+)", text)
    if value.type != "DURATION" or match is None or match.group(2) not in UNITS:
        raise _Refusal(f"bad window {text!r}: a whole number with a unit m, h, d or w "
                       "(e.g. 7d)")
    seconds = int(match.group(1)) * UNITS[match.group(2)]
    if not 60 <= seconds <= MAX_WINDOW_SECONDS:
        raise _Refusal(f"bad window {text!r}: from 1m to 366d")
    return seconds


def _parse_tree(text: str) -> Node:
    return _Build().transform(_PARSER.parse(text))  # type: ignore[no-any-return]


def parse(text: object, field: str = "expression") -> Node:
    """The validated tree of an indicator expression, or InvalidInput naming
    `field` and the broken rule (syntax, unknown name, bad window, limits)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("give an expression, e.g. count(views)", field=field)
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"the expression has {len(text)} characters; at most "
                           f"{MAX_LENGTH}", field=field)
    nesting = deepest = 0
    for ch in text:  # checked before parsing: the tree transform recurses
        nesting += (ch == "(") - (ch == ")")
        deepest = max(deepest, nesting)
    if deepest > 2 * MAX_DEPTH:
        raise InvalidInput(f"parentheses nest {deepest} deep; at most {2 * MAX_DEPTH}",
                           field=field)
    try:
        tree = _parse_tree(text)
    except VisitError as e:
        if isinstance(e.orig_exc, _Refusal):
            raise InvalidInput(str(e.orig_exc), field=field) from None
        raise
    except UnexpectedInput as e:
        where = f"at column {e.column}" if getattr(e, "column", -1) != -1 else "at the end"
        if isinstance(e, UnexpectedCharacters):
            what = f"unexpected {text[e.pos_in_stream or 0]!r}"
        elif isinstance(e, UnexpectedToken) and e.token.type == "$END":
            where, what = "at the end", "the expression stops too early"
        elif isinstance(e, UnexpectedToken):
            what = f"unexpected {str(e.token)!r}"
        else:  # pragma: no cover - lark's other refusals carry no token
            what = "unexpected input"
        raise InvalidInput(f"syntax error {where}: {what}", field=field) from None
    except LarkError as e:  # pragma: no cover - any other parser refusal
        raise InvalidInput(f"syntax error: {e}", field=field) from None
    _check_shape(tree, field)
    return tree


def _check_shape(tree: Node, field: str) -> None:
    counts = nodes = deepest = 0
    stack: list[tuple[Node, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        deepest = max(deepest, depth)
        if isinstance(node, Count):
            counts += 1
            if node.by is not None and node is not tree:
                raise InvalidInput("a grouped count (by=) is a table: it must stand alone, "
                                   "not inside arithmetic", field=field)
        elif isinstance(node, BinOp):
            stack += [(node.left, depth + 1), (node.right, depth + 1)]
        elif isinstance(node, Neg):
            stack.append((node.operand, depth + 1))
    if counts > MAX_COUNTS:
        raise InvalidInput(f"the expression has {counts} counts; at most {MAX_COUNTS}",
                           field=field)
    if nodes > MAX_NODES:
        raise InvalidInput(f"the expression has {nodes} terms; at most {MAX_NODES}",
                           field=field)
    if deepest > MAX_DEPTH:
        raise InvalidInput(f"the expression nests deeper than {MAX_DEPTH}", field=field)
    if counts == 0:
        raise InvalidInput("the expression counts nothing: use count(...) or a preset",
                           field=field)


def counts(tree: Node) -> list[Count]:
    """The tree's counts, left to right (the order their SQL columns come in)."""
    found: list[Count] = []
    stack: list[Node] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Count):
            found.append(node)
        elif isinstance(node, BinOp):
            stack += [node.right, node.left]
        elif isinstance(node, Neg):
            stack.append(node.operand)
    return found


Value = int | Fraction | None


def combine(tree: Node, values: list[int]) -> Value:
    """The expression's value from its counts' values (in `counts` order):
    exact, and None when a denominator is 0 (or a term is undefined)."""
    it = iter(values)

    def walk(node: Node) -> Value:
        if isinstance(node, Count):
            return next(it)
        if isinstance(node, Number):
            v = node.value
            return int(v) if v.denominator == 1 else v
        if isinstance(node, Neg):
            inner = walk(node.operand)
            return None if inner is None else -inner
        left, right = walk(node.left), walk(node.right)
        if left is None or right is None:
            return None
        if node.op == "+":
            return left + right
        if node.op == "-":
            return left - right
        if node.op == "*":
            return left * right
        if right == 0:
            return None
        result = Fraction(left) / Fraction(right)
        return int(result) if result.denominator == 1 else result

    return walk(tree)


def is_grouped(tree: Node) -> bool:
    """Whether the indicator is a table (one grouped count), not a number."""
    return isinstance(tree, Count) and tree.by is not None


def check_name(name: object, field: str = "name") -> str:
    """A merchant indicator's name: lower-case, digits and `_`, not a preset's."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidInput("a name is 1-40 characters: a-z first, then a-z, 0-9 or _",
                           field=field)
    if name in PRESETS or name in SOURCES or name in ("count", "where", "and", "in"):
        raise InvalidInput(f"{name!r} is taken by a preset or a source", field=field)
    return name


def definitions_json(definitions: Mapping[str, str]) -> bytes:
    """The canonical JSON of indicator definitions, what a rule's on-chain hash
    covers: `[{"expression": text, "name": name}, ...]` sorted by name, each
    expression exactly as the merchant wrote it."""
    return canonical_json([{"expression": definitions[name], "name": name}
                           for name in sorted(definitions)])


def definitions_hash(definitions: Mapping[str, str]) -> bytes:
    """keccak256 of `definitions_json`; 32 zero bytes for no definitions (a rule
    of catalogue indicators only), as the contract stores it."""
    return keccak(definitions_json(definitions)) if definitions else bytes(32)
