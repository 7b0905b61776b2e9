"""Pausing, resuming and extending a limited edition (issue 25).

The edition's merchant pauses its sales (every sale, single or bulk, online or
offline, is refused on chain with "editions: edition paused" until it
resumes), resumes them, or moves the end of its window later (never earlier:
each coupon sold was promised the window it was sold with). Each is a
transaction of the editions contract (`pause`, `resume`, `extend`) whose event
names who made it and the keccak256 of the reason; the reason's text is kept
off chain by its hash (`EditionChangeReason`, written before the chain call, as
the terms text is), as the prize campaigns' changes do. The contract's rules
are checked here first so a bad request gets an error naming its field; the
contract checks them again and its word is final. The platform does not pause
one merchant's edition: it stops a whole merchant (registry suspension) or the
contract (registry capability pause).
"""

from __future__ import annotations

import time
from typing import Any

from eth_utils import keccak
from sqlalchemy import select

from couponchain.chain.gateway import Call, OpResult
from couponchain.domain.roles import Role
from couponchain.domain.times import iso
from couponchain.errors import ContractRevert, Forbidden, InvalidInput
from couponchain.services.participants import Caller
from couponchain.store.models import EditionChange, EditionChangeReason, EditionRecord

#: Characters of a change's reason (kept off chain: the event has its hash).
REASON_MAX = 500
MAX_END = 2**64 - 1


class EditionChanges:
    """The edition-adjusting half of `EditionService` (mixed into it; it uses the
    service's `db`, `rt`, `record`, `get`, `_applied` and `_submit`)."""

    rt: Any
    db: Any

    async def record(self, edition_id: int) -> EditionRecord:
        raise NotImplementedError  # provided by EditionService

    async def get(self, edition_id: int) -> dict[str, Any]:
        raise NotImplementedError  # provided by EditionService

    async def _applied(self, caller: Caller, idempotency_key: str | None,
                       what: str) -> OpResult | None:
        raise NotImplementedError  # provided by EditionService

    async def _submit(self, caller: Caller, call: Call, idempotency_key: str | None,
                      what: str) -> OpResult:
        raise NotImplementedError  # provided by EditionService

    async def pause(self, caller: Caller, edition_id: int, reason: str,
                    idempotency_key: str | None) -> dict[str, Any]:
        """Stop the edition's sales until `resume`."""
        return await self._change(caller, edition_id, "pause", reason, (), idempotency_key)

    async def resume(self, caller: Caller, edition_id: int, reason: str,
                     idempotency_key: str | None) -> dict[str, Any]:
        """Open a paused edition's sales again."""
        return await self._change(caller, edition_id, "resume", reason, (), idempotency_key)

    async def extend(self, caller: Caller, edition_id: int, valid_until: int, reason: str,
                     idempotency_key: str | None) -> dict[str, Any]:
        """Move the end of the edition's window (sales and redemption) to `valid_until`."""
        return await self._change(caller, edition_id, "extend", reason, (valid_until,),
                                  idempotency_key)

    async def changes(self, edition_id: int) -> list[dict[str, Any]]:
        """An edition's changes with their reasons, newest first."""
        async with self.db.session() as s:
            rows = (await s.execute(
                select(EditionChange, EditionChangeReason.text)
                .outerjoin(EditionChangeReason,
                           EditionChangeReason.reason_hash == EditionChange.reason_hash)
                .where(EditionChange.edition_id == edition_id)
                .order_by(EditionChange.block_number.desc(), EditionChange.log_index.desc())
                .limit(200))).all()
        return [{"action": c.action, "by": c.actor, "reason": text,
                 "reason_hash": c.reason_hash, "at": iso(c.timestamp),
                 "old_valid_until": None if c.old_valid_until is None
                 else iso(c.old_valid_until),
                 "valid_until": None if c.valid_until is None else iso(c.valid_until),
                 "tx_hash": c.tx_hash, "block_number": c.block_number}
                for c, text in rows]

    # -- helpers -------------------------------------------------------------------

    async def _change(self, caller: Caller, edition_id: int, action: str, reason: str,
                      args: tuple[int, ...], idempotency_key: str | None) -> dict[str, Any]:
        what = f"edition-{action}:{edition_id}"
        applied = await self._applied(caller, idempotency_key, what)
        if applied is None:
            edition = await self.record(edition_id)
            if caller.role != Role.MERCHANT or caller.address != edition.merchant:
                raise Forbidden("only the edition's merchant pauses, resumes or extends it "
                                "(editions: caller is not the edition's merchant)", field="id")
            text = reason.strip()
            if not 1 <= len(text) <= REASON_MAX:
                raise InvalidInput(f"must be 1 to {REASON_MAX} characters (not only spaces)",
                                   field="reason")
            self._check(edition, action, args)
            hashed = keccak(text=text)
            key = "0x" + hashed.hex()

            async def keep(s: Any) -> None:
                if await s.get(EditionChangeReason, key) is None:
                    s.add(EditionChangeReason(reason_hash=key, text=text))
            async with self.db.transaction() as s:
                await keep(s)
            applied = await self._submit(
                caller, Call("editions", action, fixed=(edition_id, *args, hashed),
                             kind=f"{action} edition"), idempotency_key, what)
        await self.rt.indexer.wait_for(applied.block_number)
        return {"edition": {**await self.get(edition_id),
                            "changes": await self.changes(edition_id)},
                "tx_hash": applied.tx_hash, "block_number": applied.block_number}

    @staticmethod
    def _check(edition: EditionRecord, action: str, args: tuple[int, ...]) -> None:
        if action == "pause" and edition.paused:
            raise ContractRevert("editions: edition paused", field="id")
        if action == "resume" and not edition.paused:
            raise ContractRevert("editions: edition not paused", field="id")
        if action == "extend":
            (end,) = args
            if time.time() >= edition.valid_until:
                raise ContractRevert("editions: edition expired", field="id")
            if not edition.valid_until < end <= MAX_END:
                raise ContractRevert("editions: window may only be extended",
                                     field="valid_until")
