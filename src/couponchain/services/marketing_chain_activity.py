"""A merchant's claims and redemptions as the chain recorded them, not as access logs say.

Access-log operations (`claim`, `redeem`) are what terminals report; these
counts come from the indexer's projections of contract events instead, so
nobody's log can inflate them: prize claims (`PrizeClaimed`, campaigns of the
merchant), edition coupon redemptions (`CouponRedeemed`, editions of the
merchant) and promotion write-offs (`WrittenOff`, the merchant redeeming, net
of reversals in the window).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from couponchain.store.models import (
    CouponHistory,
    CouponRecord,
    EditionRecord,
    PrizeCampaign,
    PrizeClaimRecord,
    PromotionPath,
)


async def chain_activity(db: Any, merchant: str, start: int, end: int) -> dict[str, Any]:
    """Counts of the merchant's on-chain claims and redemptions in `[start, end)`."""
    async with db.session() as s:
        prize_claims = (await s.execute(
            select(func.count()).select_from(PrizeClaimRecord)
            .join(PrizeCampaign, PrizeCampaign.id == PrizeClaimRecord.campaign_id)
            .where(PrizeCampaign.merchant == merchant, PrizeClaimRecord.claimed_at >= start,
                   PrizeClaimRecord.claimed_at < end))).scalar_one()
        redemptions = (await s.execute(
            select(func.count()).select_from(CouponHistory)
            .join(CouponRecord, CouponRecord.id == CouponHistory.coupon_id)
            .join(EditionRecord, EditionRecord.id == CouponRecord.edition_id)
            .where(EditionRecord.merchant == merchant, CouponHistory.action == "redeemed",
                   CouponHistory.timestamp >= start, CouponHistory.timestamp < end))
        ).scalar_one()
        steps = dict((await s.execute(
            select(PromotionPath.action, func.count()).where(
                PromotionPath.action.in_(("written_off", "reversed")),
                # A write-off's receiver is the redeeming merchant; a reversal's sender.
                ((PromotionPath.action == "written_off") & (PromotionPath.receiver == merchant))
                | ((PromotionPath.action == "reversed") & (PromotionPath.sender == merchant)),
                PromotionPath.timestamp >= start, PromotionPath.timestamp < end)
            .group_by(PromotionPath.action))).tuples().all())
    return {"source": "chain events", "prize_claims": int(prize_claims),
            "edition_redemptions": int(redemptions),
            "promotion_write_offs": int(steps.get("written_off", 0))
            - int(steps.get("reversed", 0))}
