"""Bounds on a request body, checked before any route, dependency or authentication
runs: its size, and for JSON its nesting depth, element count and duplicate keys.

Why this is here: the platform imports py_ecc, which raises Python's recursion
limit to 100,000; the standard library's recursive JSON parser then overflows the C
stack on a body of 100,000 `[` (a segfault that took the whole process down) instead
of raising. Here no body reaches that parser before its depth is known: orjson reads
it first (its own hard limit of 1,024 levels raises, it never crashes), the tree is
walked without recursion, and only a body within `MAX_DEPTH` is read again by the
standard parser, when exact integers beyond 64 bits or a duplicate-key check need it.

Each route's limits are `x-body-limits` in its OpenAPI operation, set with
`body_limits()`; routes that set nothing get `DEFAULT_BYTES` and `DEFAULT_ELEMENTS`.
The size is checked against Content-Length and again while the body streams in.
(FastAPI's own `max_body_size` answers 413 in plain text, replacing any problem
details a handler sends, so it is not used.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive

from couponchain.api.limits import READS
from couponchain.errors import InvalidInput, TooLarge

#: The deepest JSON nesting any route accepts (the deepest request model is 4).
MAX_DEPTH = 32
#: A route's limits unless it states its own: bytes, and JSON values in the body.
DEFAULT_BYTES = 256 * 1024
DEFAULT_ELEMENTS = 10_000
#: The largest body of any route (a batch of 50,000 access logs).
MAX_BYTES = 32 * 1024 * 1024
_LIMITS = "x-body-limits"


def body_limits(max_bytes: int, max_elements: int = DEFAULT_ELEMENTS,
                openapi_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Keyword arguments for a route decorator: the route's own body limits, published
    in its OpenAPI operation (`x-body-limits`), where `BoundedRoute` reads them."""
    return {"openapi_extra": {**(openapi_extra or {}),
                              _LIMITS: {"max_bytes": max_bytes, "max_elements": max_elements,
                                        "max_depth": MAX_DEPTH}}}


class _Duplicate(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return found


def _shape(tree: Any) -> tuple[int, int, int, bool]:
    """(depth, values, object keys, any float) of a parsed body, without recursion."""
    depth = keys = 0
    values = 1
    floats = type(tree) is float
    stack: list[tuple[Any, int]] = [(tree, 1)] if type(tree) in (dict, list) else []
    while stack:
        node, level = stack.pop()
        depth = max(depth, level)
        if type(node) is dict:
            keys += len(node)
            members = node.values()
        else:
            members = node
        values += len(node)
        kinds = set(map(type, members))  # one pass in C; most nodes hold no container
        floats = floats or float in kinds
        if dict in kinds or list in kinds:
            for value in members:
                if type(value) is dict or type(value) is list:
                    if value:
                        stack.append((value, level + 1))
                    else:
                        depth = max(depth, level + 1)
    return depth, values, keys, floats


def parse_json(body: bytes, max_elements: int = DEFAULT_ELEMENTS) -> Any:
    """A JSON body within the bounds, or `InvalidInput` / `TooLarge` naming the rule.

    Integers keep every digit (orjson alone reads those beyond 64 bits as floats), and
    a whole number written 1.0 or 1e3 is an integer, as JSON Schema counts it; a
    duplicate key in any object is refused (parsers silently keep one of them).
    """
    try:
        tree = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise InvalidInput(f"the JSON body is nested deeper than {MAX_DEPTH} levels",
                               field="body") from None
        raise InvalidInput(f"the body is not valid JSON ({exc})", field="body") from None
    depth, values, keys, floats = _shape(tree)
    if depth > MAX_DEPTH:
        raise InvalidInput(f"the JSON body is nested {depth} levels deep; at most "
                           f"{MAX_DEPTH} are accepted", field="body")
    if values > max_elements:
        raise TooLarge(f"the JSON body holds {values} values; this route accepts at most "
                       f"{max_elements}", field="body")
    # Every object member has one colon outside strings: as many colons in the body as
    # keys in the tree means no key was dropped as a duplicate (colons inside strings
    # only make the check take the exact path below).
    if floats or body.count(b":") != keys:
        try:  # safe now: the depth is at most MAX_DEPTH
            tree = json.loads(body, object_pairs_hook=_unique_keys, parse_float=_number)
        except _Duplicate as dup:
            raise InvalidInput(f"the key {dup.args[0]!r} appears twice in one object",
                               field="body") from None
    return tree


def _number(text: str) -> int | float:
    """A JSON number with a fraction or exponent: an integer when its value is whole
    (JSON Schema counts 1.0 as an integer; so do generated clients), else a float."""
    value = Decimal(text)
    if abs(value.adjusted()) <= 80 and value == value.to_integral_value():
        return int(value)
    return float(text)


def _is_json(content_type: str | None) -> bool:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/")
                                          and kind.endswith("+json"))


def _too_large(max_bytes: int) -> TooLarge:
    return TooLarge(f"the request body is over {max_bytes} bytes, the most this route "
                    "accepts", field="body")


def _counted(receive: Receive, max_bytes: int) -> Receive:
    """`receive`, refusing a body once more than `max_bytes` of it have arrived."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_bytes:
                raise _too_large(max_bytes)
        return message

    return counted


class BoundedRequest(Request):
    """A request whose JSON body was parsed within its route's bounds."""

    parsed: Any

    async def json(self) -> Any:
        if not hasattr(self, "parsed"):
            self.parsed = parse_json(await self.body())
        return self.parsed


class BoundedRoute(APIRoute):
    """A route that reads its body (within its byte limit) and parses a JSON body
    within its bounds before FastAPI validates it or resolves any dependency, so an
    oversized or malicious body costs no authentication or handler work."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        limits = (self.openapi_extra or {}).get(_LIMITS, {})
        max_bytes = int(limits.get("max_bytes", DEFAULT_BYTES))
        max_elements = int(limits.get("max_elements", DEFAULT_ELEMENTS))

        async def bounded(request: Request) -> Response:
            if request.method not in READS:
                length = request.headers.get("content-length", "")
                if length.isdigit() and int(length) > max_bytes:
                    raise _too_large(max_bytes)
                request = BoundedRequest(request.scope, _counted(request.receive, max_bytes))
                body = await request.body()
                if body and _is_json(request.headers.get("content-type")):
                    request.parsed = parse_json(body, max_elements)
            return await handle(request)

        return bounded


def bounded_router(**options: Any) -> APIRouter:
    """An `APIRouter` whose routes are `BoundedRoute`s."""
    return APIRouter(route_class=BoundedRoute, **options)
