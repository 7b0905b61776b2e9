"""Read-only views of prize campaigns, awards, claims and live statistics.

Campaigns, stock, awards and on-chain claims come from the read models (built
from chain events only); the claim rows with their scan results come from the
prize-claim database the service writes (`PrizeClaim`). The writes live in
`services/prizes.py`.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from couponchain.domain.times import iso
from couponchain.errors import NotFound
from couponchain.store.models import (
    ChainEvent,
    Participant,
    PrizeAward,
    PrizeCampaign,
    PrizeClaim,
    PrizeClaimRecord,
    PrizeRevocation,
    PrizeStock,
)

STATUS = {1: "awarded", 2: "claimed", 3: "revoked"}
#: Width of one point of the claims timeline, in seconds.
MINUTE = 60


async def _names(s: Any, addresses: set[str]) -> dict[str, tuple[str, str]]:
    """(id, name) of the participants among `addresses`."""
    if not addresses:
        return {}
    rows = await s.execute(select(Participant.address, Participant.id, Participant.name)
                           .where(Participant.address.in_(sorted(addresses))))
    return {a: (pid, name) for a, pid, name in rows.tuples()}


def _prize_public(p: PrizeStock) -> dict[str, Any]:
    return {"index": p.prize_index, "name": p.name, "quantity": p.quantity,
            "awarded": p.awarded, "claimed": p.claimed, "revoked": p.revoked,
            # `awarded` counts live awards, claimed ones included (as the contract).
            "unawarded": p.quantity - p.awarded, "left": p.quantity - p.claimed}


async def campaign_detail(db: Any, campaign_id: int, field: str = "id") -> dict[str, Any]:
    """A campaign: parameters, eligible terminals and each prize's counters."""
    async with db.session() as s:
        row = await s.get(PrizeCampaign, campaign_id)
        if row is None:
            raise NotFound(f"prize campaign {campaign_id} does not exist", field=field)
        prizes = list((await s.execute(select(PrizeStock).where(
            PrizeStock.campaign_id == campaign_id).order_by(PrizeStock.prize_index))).scalars())
        names = await _names(s, {row.merchant, *row.terminals})
    now = int(time.time())
    return {
        "id": row.id, "title": row.title, "merchant": row.merchant,
        "merchant_id": names.get(row.merchant, (None, None))[0],
        "all_terminals": row.all_terminals,
        "terminals": [{"address": t, "id": names.get(t, (None, None))[0],
                       "name": names.get(t, (None, None))[1]} for t in row.terminals],
        "starts_at": iso(row.starts), "ends_at": iso(row.ends),
        "open": row.starts <= now < row.ends, "per_consumer_limit": row.per_consumer_limit,
        "awarded": row.awarded, "claimed": row.claimed, "revoked": row.revoked,
        "prizes": [_prize_public(p) for p in prizes],
        "created_at": iso(row.created_at), "created_block": row.block_number,
        "created_tx": row.tx_hash,
    }


def _award_public(row: PrizeAward, campaign: PrizeCampaign | None, prize: PrizeStock | None,
                  claim: PrizeClaimRecord | None,
                  revocation: PrizeRevocation | None = None,
                  revoked_at: int | None = None) -> dict[str, Any]:
    return {
        "id": row.id, "campaign_id": row.campaign_id,
        "campaign_title": campaign.title if campaign else None,
        "consumer": row.consumer, "prize_index": row.prize_index,
        "prize_name": prize.name if prize else None, "status": STATUS[row.status],
        "claim_starts_at": iso(campaign.starts) if campaign else None,
        "claim_ends_at": iso(campaign.ends) if campaign else None,
        "awarded_at": iso(row.awarded_at), "awarded_block": row.block_number,
        "awarded_tx": row.tx_hash,
        "claimed_at": iso(claim.claimed_at) if claim else None,
        "claimed_by": claim.terminal if claim else None,
        "claim_tx": claim.tx_hash if claim else None,
        # The reason is the merchant's, kept off chain; shown once the chain revoked it.
        "revoked_reason": revocation.reason if revocation and row.status == 3 else None,
        # The time of the block holding the AwardRevoked event (as `awarded_at` is the
        # Awarded event's): what `couponchain verify prize-award` proves from its header.
        "revoked_at": iso(revoked_at) if revoked_at is not None and row.status == 3 else None,
        "revoke_tx": revocation.tx_hash if revocation and row.status == 3 else None,
    }


async def _award_rows(s: Any, rows: list[PrizeAward]) -> list[dict[str, Any]]:
    campaign_ids = sorted({r.campaign_id for r in rows})
    campaigns = {c.id: c for c in (await s.execute(select(PrizeCampaign).where(
        PrizeCampaign.id.in_(campaign_ids)))).scalars()} if rows else {}
    stock = {(p.campaign_id, p.prize_index): p for p in (await s.execute(select(
        PrizeStock).where(PrizeStock.campaign_id.in_(campaign_ids)))).scalars()} if rows else {}
    claimed = [r.id for r in rows if r.status == 2]
    claims = {c.award_id: c for c in (await s.execute(select(PrizeClaimRecord).where(
        PrizeClaimRecord.award_id.in_(claimed)))).scalars()} if claimed else {}
    revoked = [r.id for r in rows if r.status == 3]
    revocations = {v.award_id: v for v in (await s.execute(select(PrizeRevocation).where(
        PrizeRevocation.award_id.in_(revoked)))).scalars()} if revoked else {}
    times = await _revocation_times(s, list(revocations.values()))
    return [_award_public(r, campaigns.get(r.campaign_id),
                          stock.get((r.campaign_id, r.prize_index)), claims.get(r.id),
                          revocations.get(r.id), times.get(r.id))
            for r in rows]


async def _revocation_times(s: Any, revocations: list[PrizeRevocation]) -> dict[int, int]:
    """The block time of each revocation's AwardRevoked event (award id -> seconds),
    found through the revocation's transaction (tx_hash is indexed)."""
    txs = sorted({r.tx_hash for r in revocations if r.tx_hash})
    if not txs:
        return {}
    events = (await s.execute(select(ChainEvent.args, ChainEvent.block_timestamp).where(
        ChainEvent.tx_hash.in_(txs), ChainEvent.contract == "prizes",
        ChainEvent.event == "AwardRevoked"))).tuples()
    wanted = {r.award_id for r in revocations}
    return {int(a["award_id"]): t for a, t in events if int(a["award_id"]) in wanted}


async def award_detail(db: Any, award_id: int, field: str = "id") -> dict[str, Any]:
    """An award: its campaign, prize, status and claim evidence."""
    async with db.session() as s:
        row = await s.get(PrizeAward, award_id)
        if row is None:
            raise NotFound(f"prize award {award_id} does not exist", field=field)
        return (await _award_rows(s, [row]))[0]


async def award_of_rows(db: Any, award: PrizeAward, campaign: PrizeCampaign,
                        stock: PrizeStock) -> dict[str, Any]:
    """An award as `award_detail` shows it, from rows already loaded (the claim
    evidence is read only for a claimed award)."""
    claim = None
    if award.status == 2:
        async with db.session() as s:
            claim = await s.get(PrizeClaimRecord, award.id)
    return _award_public(award, campaign, stock, claim)


def claim_public(row: PrizeClaim) -> dict[str, Any]:
    """A row of the prize-claim database as the API shows it."""
    return {
        "id": row.id, "award_id": row.award_id, "campaign_id": row.campaign_id,
        "prize_index": row.prize_index, "prize_name": row.prize_name,
        "consumer": row.consumer, "terminal": row.terminal, "terminal_id": row.terminal_id,
        "scan_id": row.scan_id, "scan_result": row.scan_result, "status": row.status,
        "source": row.source, "claimed_at": iso(row.claimed_at), "tx_hash": row.tx_hash,
        "block_number": row.block_number, "refusal": row.refusal,
    }


async def stats(db: Any, campaign_id: int) -> dict[str, Any]:
    """Claims by terminal, claims per minute and stock per prize, from the chain's claims.

    Claims still on their way to the chain are counted apart (`pending_claims`).
    """
    async with db.session() as s:
        row = await s.get(PrizeCampaign, campaign_id)
        if row is None:
            raise NotFound(f"prize campaign {campaign_id} does not exist", field="id")
        prizes = list((await s.execute(select(PrizeStock).where(
            PrizeStock.campaign_id == campaign_id).order_by(PrizeStock.prize_index))).scalars())
        by_terminal = (await s.execute(
            select(PrizeClaimRecord.terminal, func.count())
            .where(PrizeClaimRecord.campaign_id == campaign_id)
            .group_by(PrizeClaimRecord.terminal))).tuples().all()
        minute = (PrizeClaimRecord.claimed_at // MINUTE).label("minute")
        per_minute = (await s.execute(
            select(minute, func.count()).where(PrizeClaimRecord.campaign_id == campaign_id)
            .group_by(minute).order_by(minute))).tuples().all()
        pending = (await s.execute(select(func.count()).select_from(PrizeClaim).where(
            PrizeClaim.campaign_id == campaign_id, PrizeClaim.status == "pending"))).scalar()
        offline = (await s.execute(select(func.count()).select_from(PrizeClaim).where(
            PrizeClaim.campaign_id == campaign_id, PrizeClaim.source == "offline",
            PrizeClaim.status != "refused"))).scalar()
        names = await _names(s, {t for t, _ in by_terminal})
    terminals = sorted(({"terminal": t, "terminal_id": names.get(t, (None, None))[0],
                         "terminal_name": names.get(t, (None, None))[1], "claims": int(n)}
                        for t, n in by_terminal), key=lambda x: (-x["claims"], x["terminal"]))
    return {
        "campaign_id": campaign_id, "title": row.title, "awarded": row.awarded,
        "claimed": row.claimed, "revoked": row.revoked, "pending_claims": int(pending or 0),
        "offline_claims": int(offline or 0),
        "claims_by_terminal": terminals,
        "claims_per_minute": [{"at": iso(int(m) * MINUTE), "claims": int(n)}
                              for m, n in per_minute],
        "stock": [_prize_public(p) for p in prizes],
        "minute_seconds": MINUTE, "generated_at": iso(int(time.time())),
    }
