"""The gateway journal's key of one operation of a client's request.

A request with an `Idempotency-Key` may make several chain operations (a bulk
sale's chunks, a withdrawal per source); each is journaled under
`<caller id>:<Idempotency-Key>:<what>`, so a retry finds every one it made and
a key reused by another caller finds none. The format is what the journals of
running deployments hold: it must not change.
"""

from __future__ import annotations


def op_key(caller_id: str, idempotency_key: str | None, *what: str) -> str | None:
    """`caller_id`'s operation `what` under a request's key; None without a key
    (nobody will look the operation up again)."""
    if not idempotency_key:
        return None
    return ":".join((caller_id, idempotency_key, *what))
