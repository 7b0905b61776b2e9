"""What every request body is checked against before a route sees it: strict types.

`Input` is the base of every request model. It refuses unknown fields and does not
coerce: a JSON `true` is not the integer 1, `"5"` is not 5, `1.5` is not an integer
(pydantic's strict mode; a whole `1.0` is read as 1 by `api.bounds`, as JSON Schema
counts it). Times are `ChainTime`: an ISO 8601 string with its UTC offset (`Z` or
`+08:00`; a number is not a date, and a time without an offset is ambiguous), within
what the contracts store (unsigned 64-bit epoch seconds, so not before
1970-01-01T00:00:00Z), normalised to UTC.

Duplicate keys, nesting depth and element counts are refused earlier, while the body
is parsed (`api.bounds`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

#: The earliest time a contract can store (uint64 epoch seconds start at 0).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
#: The range as a person reads it, for error messages and the OpenAPI description.
TIME_RANGE = "1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z"


class Input(BaseModel):
    """Base of every request body: unknown fields refused, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _iso_text(value: Any) -> Any:
    """ISO 8601 text only: pydantic alone would also read 1.5 or "1.5" as epoch seconds."""
    if isinstance(value, datetime):  # built in Python (a service calling a model)
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO 8601 date-time string ({TIME_RANGE}), "
                         f"not {type(value).__name__}")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z "
                         f"({TIME_RANGE})") from None


def _on_chain(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give the UTC offset, e.g. 2026-01-31T12:00:00Z or +08:00")
    out_of_range = ValueError(f"must lie in {TIME_RANGE} (what the contracts store)")
    try:  # an offset can carry 0001-01-01 or 9999-12-31 past what a datetime holds
        value = value.astimezone(UTC)
    except OverflowError:
        raise out_of_range from None
    if value < EARLIEST:
        raise out_of_range
    return value


#: A point in time a contract stores: ISO 8601 text with an offset, 1970 onwards, in UTC.
ChainTime = Annotated[
    datetime,
    Field(strict=False, description=f"ISO 8601 date-time with its offset, {TIME_RANGE}"),
    BeforeValidator(_iso_text),
    AfterValidator(_on_chain),
]


def epoch(value: datetime) -> int:
    """Epoch seconds of a `ChainTime`."""
    return int(value.timestamp())
