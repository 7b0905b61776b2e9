"""The claim conditions of a scanned prize code, each with its result and reason.

Judged off chain so a terminal sees at once why a code may or may not be
claimed; the prizes contract checks the same rules again when the claim is
recorded (and its word is final).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, aliased

from couponchain.domain import prize_claim_consent as claim_consent
from couponchain.domain import prize_codes
from couponchain.domain.roles import Role
from couponchain.errors import InvalidInput
from couponchain.services import prize_views as views
from couponchain.services.participants import Caller
from couponchain.store.models import (
    PrizeAward,
    PrizeCampaign,
    PrizeClaim,
    PrizeClaimRecord,
    PrizeStock,
)

AWARDED, CLAIMED, REVOKED = 1, 2, 3
#: Ids above this are not in the read models (signed 64-bit columns).
MAX_ID = 2**63 - 1
CONDITIONS = ("signature", "not_expired", "not_claimed", "terminal_eligible",
              "inside_window", "per_consumer_limit", "stock_left", "winner_signed")


@dataclass(frozen=True)
class Condition:
    """One claim condition's result; `ok` is None when it could not be checked."""

    name: str
    ok: bool | None
    reason: str

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "reason": self.reason}


async def check(
    db: Any, signer: str, caller: Caller, merchant_address: str, text: str,
    parsed: prize_codes.PrizeCode, now: int, at: int, offline_window: int | None = None,
    *, chain_id: int, contract: str,
) -> tuple[list[Condition], PrizeAward | None, PrizeCampaign | None, PrizeStock | None]:
    """Every claim condition of a scanned code, judged by this server at `now`,
    with the award, campaign and prize it names when the code is authentic.

    An online scan (`offline_window` None) needs the code valid at `at`
    (= `now`); an offline one, scanned at the terminal's `at`, is judged by
    `prize_codes.check_offline` with the deployment's offline window. The
    winner's claim signature is checked last, as the prizes contract at
    `contract` on chain `chain_id` will check it (`winner_signed`)."""
    out: list[Condition] = []
    try:  # authenticity alone: judged at the code's own issue time
        prize_codes.verify_code(text, signer, parsed.issued_at)
        out.append(Condition("signature", True, "signed by the platform's code key"))
    except prize_codes.PrizeCodeRejected as exc:
        if exc.problem is prize_codes.CodeProblem.LIFETIME_TOO_LONG:
            out.append(Condition("signature", True, "signed by the platform's code key"))
        else:
            out.append(Condition("signature", False, f"{exc.problem.value}: {exc.message}"))
            skipped = "not checked: the code is not authentic"
            return out + [Condition(n, None, skipped) for n in CONDITIONS[1:]], \
                None, None, None
    try:  # the signature is checked: judge the times alone (recovering a key twice costs)
        if offline_window is None:
            prize_codes.check_times(parsed, at)
            out.append(Condition("not_expired", True,
                                 f"valid until {views.iso(parsed.expiry)}"))
        else:
            prize_codes.check_offline(parsed, at, now, offline_window)
            out.append(Condition("not_expired", True,
                                 f"scanned offline at {views.iso(at)}, while valid (until "
                                 f"{views.iso(parsed.expiry)}), and synced within "
                                 f"{offline_window} s of its issue"))
    except prize_codes.PrizeCodeRejected as exc:
        out.append(Condition("not_expired", False, f"{exc.problem.value}: {exc.message}"))
    award = campaign = stock = claim = None
    used = 0
    if parsed.award_id <= MAX_ID:
        row = await db.read(
            lambda s: s.execute(_SCANNED, {"award_id": parsed.award_id}).first())
        if row is not None:
            award, campaign, stock, claim, rows, chain = row
            used = max(int(rows or 0), int(chain or 0))
    out.append(_not_claimed(parsed, award, claim))
    if award is None or campaign is None or stock is None:
        missing = "not checked: the award does not exist"
        return out + [Condition(n, None, missing) for n in CONDITIONS[3:]], None, None, None
    eligible = merchant_address == campaign.merchant and (
        caller.role == Role.MERCHANT or campaign.all_terminals
        or caller.address in campaign.terminals)
    out.append(Condition("terminal_eligible", eligible,
                         "this terminal may hand out the campaign's prizes" if eligible
                         else "this terminal is not eligible for the campaign"))
    if now < campaign.starts:
        out.append(Condition("inside_window", False,
                             f"the claim window opens at {views.iso(campaign.starts)}"))
    elif now >= campaign.ends:
        out.append(Condition("inside_window", False,
                             f"the claim window closed at {views.iso(campaign.ends)}"))
    else:
        out.append(Condition("inside_window", True,
                             f"open until {views.iso(campaign.ends)}"))
    mine = 1 if claim is not None and claim.consumer == award.consumer else 0
    within = used - mine < campaign.per_consumer_limit
    out.append(Condition("per_consumer_limit", within,
                         f"{used} of {campaign.per_consumer_limit} claimed by this consumer"
                         + ("" if within else ": the limit is reached")))
    left = stock.quantity - stock.claimed
    has_unit = award.status == CLAIMED or stock.claimed < stock.awarded
    out.append(Condition("stock_left", has_unit and left > 0,
                         f"{left} of {stock.quantity} {stock.name} left"))
    out.append(_winner_signed(parsed, campaign, now, chain_id, contract))
    return out, award, campaign, stock


def _winner_signed(parsed: prize_codes.PrizeCode, campaign: PrizeCampaign, now: int,
                   chain_id: int, contract: str) -> Condition:
    """Whether the code carries the award's consumer's claim signature, valid now."""
    claim = claim_consent.PrizeClaimConsent(
        award=parsed.award_id, campaign=campaign.id, merchant=campaign.merchant,
        expiry=parsed.claim_expiry)
    try:
        claim_consent.check_claim(claim, parsed.claim_signature, chain_id=chain_id,
                                  contract=contract, consumer=parsed.consumer, now=now)
    except InvalidInput as exc:
        return Condition("winner_signed", False, exc.message)
    return Condition("winner_signed", True,
                     f"signed by the winner; recordable until {views.iso(claim.expiry)}")


def _claim_rows(campaign_id: Any, consumer: Any) -> Any:
    """The consumer's prize-claim rows in the campaign (pending ones included,
    refused ones not), as a scalar subquery."""
    rows = aliased(PrizeClaim)  # apart from the claim row the scan query joins
    return (select(func.count()).select_from(rows).where(
        rows.campaign_id == campaign_id, rows.consumer == consumer,
        rows.status != "refused").correlate_except(rows).scalar_subquery())


def _chain_claims(campaign_id: Any, consumer: Any) -> Any:
    """The consumer's claims in the campaign as the chain recorded them."""
    return (select(func.count()).select_from(PrizeClaimRecord).where(
        PrizeClaimRecord.campaign_id == campaign_id,
        PrizeClaimRecord.consumer == consumer).correlate_except(PrizeClaimRecord)
        .scalar_subquery())


# Built once: a scan is the hot path of a busy campaign, and building a statement
# costs more than running it. One round trip: the award with its campaign, prize,
# claim row and the consumer's claim counts.
_SCANNED = (select(PrizeAward, PrizeCampaign, PrizeStock, PrizeClaim,
                   _claim_rows(PrizeAward.campaign_id, PrizeAward.consumer),
                   _chain_claims(PrizeAward.campaign_id, PrizeAward.consumer))
            .join(PrizeCampaign, PrizeCampaign.id == PrizeAward.campaign_id)
            .join(PrizeStock, (PrizeStock.campaign_id == PrizeAward.campaign_id)
                  & (PrizeStock.prize_index == PrizeAward.prize_index))
            .outerjoin(PrizeClaim, PrizeClaim.award_id == PrizeAward.id)
            .where(PrizeAward.id == bindparam("award_id")))
_CLAIMS_OF = select(_claim_rows(bindparam("campaign_id"), bindparam("consumer")),
                    _chain_claims(bindparam("campaign_id"), bindparam("consumer")))


def claims_of(s: Session, campaign_id: int, consumer: str) -> int:
    """A consumer's claims in a campaign: the prize-claim rows or the chain's,
    whichever knows more (inside a `Database.write` work)."""
    rows, chain = s.execute(_CLAIMS_OF, {"campaign_id": campaign_id,
                                         "consumer": consumer}).one()
    return max(int(rows or 0), int(chain or 0))


def _not_claimed(parsed: prize_codes.PrizeCode, award: PrizeAward | None,
                 claim: PrizeClaim | None) -> Condition:
    if award is None:
        return Condition("not_claimed", False, f"award {parsed.award_id} does not exist")
    if award.consumer != parsed.consumer:
        return Condition("not_claimed", False, "the code names another consumer")
    if claim is not None:
        what = "this code was already used" if claim.nonce == str(parsed.nonce) \
            else "the award was already claimed"
        return Condition("not_claimed", False, f"{what} (terminal {claim.terminal_id}, "
                                               f"{views.iso(claim.claimed_at)})")
    if award.status == CLAIMED:
        return Condition("not_claimed", False, "the award was already claimed")
    if award.status == REVOKED:
        return Condition("not_claimed", False, "the award was revoked")
    return Condition("not_claimed", True, "not claimed yet")

