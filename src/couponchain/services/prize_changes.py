"""Adjusting a running prize campaign: window end, stock, eligible terminals (issue 27).

The campaign's merchant moves the window's end (extends or shortens it), sets a
prize's stock (adds units, or takes back units not awarded) or changes the
terminals that may hand prizes out. Each change is a transaction of the
prizes contract (`change_window`, `change_stock`, `change_terminals`) whose
event names who made it and the keccak256 of the reason; the reason's text is
kept off chain (`PrizeCampaignChange`, written before the chain call, as the
revocation reasons are). The contract's rules are checked here first so a bad
request gets an error naming its field and the rule; the contract checks them
again and its word is final. Nothing changes once the campaign has ended.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from eth_utils import keccak
from sqlalchemy import delete, select, update

from couponchain.chain.gateway import Call, OpResult
from couponchain.domain.roles import Role
from couponchain.errors import ContractRevert, Forbidden, InvalidInput
from couponchain.services import prize_views as views
from couponchain.services.participants import Caller
from couponchain.store.models import Participant, PrizeCampaign, PrizeCampaignChange, PrizeStock

#: Characters of a change's reason (kept off chain: the event has its hash).
REASON_MAX = 500
#: Terminals one change may add or remove (the contract's MAX_TERMINALS).
MAX_TERMINALS = 64
#: Counters live in signed 64-bit read-model columns.
MAX_QUANTITY = 2**63 - 1


def reason_hash(reason: str) -> bytes:
    """What the contract's change events record of a reason: keccak256 of its UTF-8."""
    return keccak(text=reason)


class CampaignChanges:
    """The campaign-adjusting half of `PrizeService` (mixed into it; it uses the
    service's `rt`, `db`, `signals`, `_campaign` and `_submit`)."""

    rt: Any
    db: Any
    signals: Any
    code_signer: Any

    async def _campaign(self, campaign_id: int, field: str = "id") -> PrizeCampaign:
        raise NotImplementedError  # provided by PrizeService

    async def _submit(self, caller: Caller, call: Call, idempotency_key: str | None,
                      what: str) -> OpResult:
        raise NotImplementedError  # provided by PrizeService

    async def change_window(self, caller: Caller, campaign_id: int, ends: int, reason: str,
                            idempotency_key: str | None) -> dict[str, Any]:
        """Move a running campaign's window end to `ends` (epoch seconds)."""
        campaign = await self._adjustable(caller, campaign_id)
        now = int(time.time())
        if ends <= now:
            raise ContractRevert("prizes: window end not in the future", field="ends_at")
        if ends <= campaign.starts:
            raise ContractRevert("prizes: empty or inverted window", field="ends_at")
        return await self._change(caller, campaign, "window", {"ends": ends}, reason,
                                  "change_window", (ends,), idempotency_key)

    async def change_stock(self, caller: Caller, campaign_id: int, prize_index: int,
                           quantity: int, reason: str,
                           idempotency_key: str | None) -> dict[str, Any]:
        """Set a prize's stock: not below its live awards."""
        campaign = await self._adjustable(caller, campaign_id)
        async with self.db.session() as s:
            stock = await s.get(PrizeStock, (campaign_id, prize_index))
        if stock is None:
            raise ContractRevert("prizes: unknown prize", field="prize_index")
        if not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidInput(f"must be 1 to {MAX_QUANTITY}", field="quantity")
        if quantity < stock.awarded:
            refused = ContractRevert("prizes: stock below awarded", field="quantity")
            refused.message = (f"{stock.awarded} {stock.name} are awarded already: the stock "
                               f"cannot go below that (prizes: stock below awarded)")
            raise refused
        return await self._change(caller, campaign, "stock",
                                  {"prize_index": prize_index, "quantity": quantity}, reason,
                                  "change_stock", (prize_index, quantity), idempotency_key)

    async def change_terminals(self, caller: Caller, campaign_id: int, add: Sequence[str],
                               remove: Sequence[str], all_terminals: bool | None, reason: str,
                               idempotency_key: str | None) -> dict[str, Any]:
        """List terminals (`add`), drop listed ones (`remove`) and set or clear the
        "every terminal of the merchant" flag (`None`: unchanged)."""
        campaign = await self._adjustable(caller, campaign_id)
        for name, given in (("add", add), ("remove", remove)):
            if len(given) > MAX_TERMINALS:
                raise InvalidInput(f"must name at most {MAX_TERMINALS} terminals", field=name)
        flag = campaign.all_terminals if all_terminals is None else all_terminals
        if not add and not remove and flag == campaign.all_terminals:
            raise InvalidInput("name terminals to add or remove, or change all_terminals",
                               field="add")
        listed = set(campaign.terminals)
        added = await self._terminals(caller, add, "add")
        removed = await self._terminals(caller, remove, "remove")
        for i, address in enumerate(removed):
            if address not in listed:
                raise ContractRevert("prizes: terminal not listed", field=f"remove.{i}")
        kept = listed - set(removed)
        for i, address in enumerate(added):
            if address in kept or address in added[:i]:
                raise ContractRevert("prizes: duplicate terminal", field=f"add.{i}")
        return await self._change(
            caller, campaign, "terminals",
            {"added": added, "removed": removed, "all_terminals": flag}, reason,
            "change_terminals", (added, removed, flag), idempotency_key)

    async def changes(self, caller: Caller, campaign_id: int) -> dict[str, Any]:
        """A campaign's changes with their reasons, newest first (its merchant or the
        platform)."""
        campaign = await self._campaign(campaign_id, field="id")
        if caller.role != Role.PLATFORM and not (
                caller.role == Role.MERCHANT and caller.address == campaign.merchant):
            raise Forbidden("only the campaign's merchant or the platform reads its changes",
                            field="id")
        async with self.db.session() as s:
            rows = (await s.execute(select(PrizeCampaignChange).where(
                PrizeCampaignChange.campaign_id == campaign_id,
                PrizeCampaignChange.tx_hash.is_not(None))
                .order_by(PrizeCampaignChange.id.desc()).limit(200))).scalars().all()
        return {"changes": [_change_public(r) for r in rows]}

    # -- helpers -------------------------------------------------------------------

    async def _adjustable(self, caller: Caller, campaign_id: int) -> PrizeCampaign:
        campaign = await self._campaign(campaign_id, field="id")
        if caller.role != Role.MERCHANT or caller.address != campaign.merchant:
            raise Forbidden("only the campaign's merchant adjusts it "
                            "(prizes: caller is not the campaign's merchant)", field="id")
        if int(time.time()) >= campaign.ends:
            raise ContractRevert("prizes: campaign ended", field="id")
        return campaign

    async def _terminals(self, caller: Caller, given: Sequence[str], field: str) -> list[str]:
        """The merchant's own terminals among `given` (ids or addresses), as addresses."""
        if not given:
            return []
        fields = [f"{field}.{i}" for i in range(len(given))]
        addresses: list[str] = await self.rt.participants.addresses(given, fields,
                                                                    role=Role.TERMINAL)
        async with self.db.session() as s:
            owners = dict((await s.execute(select(Participant.address, Participant.merchant_id)
                                            .where(Participant.address.in_(addresses))))
                          .tuples().all())
        for address, name in zip(addresses, fields, strict=True):
            if owners.get(address) != caller.id:
                raise ContractRevert("prizes: terminal of another merchant", field=name)
        return addresses

    async def _change(self, caller: Caller, campaign: PrizeCampaign, kind: str,
                      detail: dict[str, Any], reason: str, function: str,
                      args: tuple[Any, ...], idempotency_key: str | None) -> dict[str, Any]:
        """Keep the reason, send the change, and answer with the campaign as it is now."""
        reason = reason.strip()
        if not 1 <= len(reason) <= REASON_MAX:
            raise InvalidInput(f"must be 1 to {REASON_MAX} characters (not only spaces)",
                               field="reason")
        hashed = reason_hash(reason)
        row = PrizeCampaignChange(campaign_id=campaign.id, kind=kind, detail=detail,
                                  reason=reason, reason_hash="0x" + hashed.hex(),
                                  changed_by=caller.id, requested_at=int(time.time()))
        await self.db.write(lambda s: s.add(row))
        try:
            op = await self._submit(caller, Call("prizes", function,
                                                 fixed=(campaign.id, *args, hashed),
                                                 kind=f"change prize campaign {kind}"),
                                    idempotency_key, f"change:{campaign.id}:{kind}")
        except ContractRevert:
            # Nothing changed on chain. (When the outcome is unknown, e.g. the node
            # is away, the row stays without a transaction and is not shown.)
            await self.db.write(lambda s: s.execute(delete(PrizeCampaignChange).where(
                PrizeCampaignChange.id == row.id, PrizeCampaignChange.tx_hash.is_(None))))
            raise
        await self.db.write(lambda s: s.execute(update(PrizeCampaignChange).where(
            PrizeCampaignChange.id == row.id).values(tx_hash=op.tx_hash)))
        await self.rt.indexer.wait_for(op.block_number)
        self.signals.notify(campaign.id)
        row.tx_hash = op.tx_hash
        return {"campaign": {**await views.campaign_detail(self.db, campaign.id),
                             "code_signer": self.code_signer.address},
                "change": _change_public(row), "tx_hash": op.tx_hash,
                "block_number": op.block_number}


def _change_public(row: PrizeCampaignChange) -> dict[str, Any]:
    return {"id": row.id, "campaign_id": row.campaign_id, "kind": row.kind,
            "detail": row.detail, "reason": row.reason, "reason_hash": row.reason_hash,
            "changed_by": row.changed_by, "requested_at": views.iso(row.requested_at),
            "tx_hash": row.tx_hash}
