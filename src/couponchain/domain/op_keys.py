"""The gateway journal's key of one operation, built in one place.

A request with an `Idempotency-Key` may make several chain operations (a bulk
sale's chunks, a withdrawal per source); each is journaled under
`<caller id>:<Idempotency-Key>:<what>` (`op_key`), so a retry finds every one
it made and a key reused by another caller finds none. A request split into
parts keys each part `<Idempotency-Key>:<part>` (`request_part`) before that.
The platform's own operations, which no client request makes (a prize claim's
recording, a deployment), are keyed by what they are (`platform_key`).

The formats are what the journals of running deployments hold: they must not
change.
"""

from __future__ import annotations


def op_key(caller_id: str, idempotency_key: str | None, *what: str) -> str | None:
    """`caller_id`'s operation `what` under a request's key; None without a key
    (nobody will look the operation up again)."""
    if not idempotency_key:
        return None
    return ":".join((caller_id, idempotency_key, *what))


def request_part(idempotency_key: str | None, *part: object) -> str | None:
    """The request key of one part of a request (`<Idempotency-Key>:<part>`), to
    pass on to `op_key`; None without a key."""
    if not idempotency_key:
        return None
    return ":".join((idempotency_key, *map(str, part)))


def platform_key(*what: object) -> str:
    """The key of an operation the platform makes of itself (`prize-claim:17`):
    the same thing done twice is one operation."""
    return ":".join(map(str, what))
