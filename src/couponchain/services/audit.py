"""The audit log: who (participant, API key or page session) did what (the route's
operation), when, and with which chain evidence (transaction hash, block, the
operation's key). Rows are written by one hook on every write request
(`api/audit_hook.py`) and listed with the shared list mechanism.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from couponchain.domain.roles import Role
from couponchain.errors import Forbidden
from couponchain.services.listing import ListSpec, contains, exact
from couponchain.services.participants import Caller
from couponchain.store.models import AuditEntry


@dataclass(frozen=True)
class Written:
    """One write request as the hook saw it."""

    caller: Caller
    credential_id: str
    credential_kind: str
    method: str
    path: str
    operation: str
    status: int
    tx_hash: str | None
    block_number: int | None
    op_key: str | None


async def record(db: Any, w: Written) -> None:
    """Keep one audit entry (group-committed with the other writes)."""
    entry = AuditEntry(
        at=int(time.time()), merchant_id=w.caller.acts_for_merchant,
        participant_id=w.caller.id, role=w.caller.role.label,
        credential_id=w.credential_id[:16], credential_kind=w.credential_kind[:8],
        method=w.method[:8], path=w.path[:300], operation=w.operation[:80], status=w.status,
        tx_hash=w.tx_hash, block_number=w.block_number,
        op_key=None if w.op_key is None else w.op_key[:300])
    await db.write(lambda s: s.add(entry))


def scope(caller: Caller, merchant: str | None) -> Select[Any]:
    """The entries `caller` may read: a merchant its own (its terminals' included),
    the platform everyone's (or one merchant's); nobody else any."""
    base = select(AuditEntry)
    if caller.role == Role.PLATFORM:
        return base if merchant is None else base.where(AuditEntry.merchant_id == merchant)
    if caller.role == Role.MERCHANT and merchant in (None, caller.id):
        return base.where(AuditEntry.merchant_id == caller.id)
    raise Forbidden("a merchant reads its own audit log; the platform reads every one",
                    field="merchant")


def _public(row: AuditEntry) -> dict[str, Any]:
    return {
        "id": row.id, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.at)),
        "merchant_id": row.merchant_id, "participant_id": row.participant_id,
        "role": row.role, "credential_id": row.credential_id,
        "credential_kind": row.credential_kind, "method": row.method, "path": row.path,
        "operation": row.operation, "status": row.status, "tx_hash": row.tx_hash,
        "block_number": row.block_number, "op_key": row.op_key,
    }


async def _render(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [_public(r) for r in rows]


#: The audit log as a list: search by participant, credential, operation, path,
#: transaction hash or operation key; `ok` or `refused`; dated by the request.
SPEC = ListSpec(
    name="audit-log", key=AuditEntry.id, render=_render,
    search=(exact(AuditEntry.participant_id), exact(AuditEntry.credential_id),
            exact(AuditEntry.tx_hash), contains(AuditEntry.operation),
            contains(AuditEntry.path), contains(AuditEntry.op_key)),
    statuses={"ok": AuditEntry.status < 400, "refused": AuditEntry.status >= 400},
    date=AuditEntry.at)
