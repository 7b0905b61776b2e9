"""Customer picker at the till (issue 24): a merchant, or its terminal, finds a
customer by name instead of typing a 32-character customer number.

Privacy is the point of the scoping. A merchant finds only consumers who already
dealt with it, as the read models record it (built from chain events only):

- it topped them up at its till (`TillCredit`);
- they hold a promotion coupon it granted, or one it wrote off (`PromotionCoupon`);
- they own a coupon of one of its editions (`CouponRecord`);
- they bought one of its products (`ReferralPurchase`);
- it awarded them a prize (`PrizeAward`);

or a consumer whose exact, full customer number was given (what the consumer
shows at the counter, as text or as the wallet's QR code). A name fragment, an
address or a prefix of a number finds nobody else: the whole consumer list is
never searched. An address finds a customer within the scope only, because
addresses are public on chain and an unscoped answer would put names to them.

Usage::

    rows, next_cursor = await customer_lookup.search(db, caller, merchant_id,
                                                     q="mei", cursor=None, limit=20)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, union

from couponchain.domain.roles import Role
from couponchain.errors import Forbidden, InvalidInput, NotFound
from couponchain.services import listing
from couponchain.services.listing import ListSpec, contains, exact
from couponchain.services.participants import Caller
from couponchain.store.models import (
    CouponRecord,
    EditionRecord,
    Participant,
    PrizeAward,
    PrizeCampaign,
    PromotionCoupon,
    ReferralProduct,
    ReferralPurchase,
    TillCredit,
)

#: The longest search text: a name (participants' names are at most 200), an
#: address (42) or a customer number (32).
MAX_QUERY = 200
#: A customer number is a participant id: 32 lowercase hex digits (uuid4().hex).
CUSTOMER_NUMBER = re.compile(r"^[0-9a-f]{32}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def customer_number(text: str) -> str | None:
    """The customer number in `text` as a cashier might type or scan it (spaces,
    dashes and upper case allowed: the wallet shows it in groups), or None."""
    compact = re.sub(r"[\s-]", "", text).lower()
    return compact if CUSTOMER_NUMBER.match(compact) else None


def check_query(q: str | None) -> str | None:
    """The search text trimmed, None when empty; refuses (naming `q`) text over
    `MAX_QUERY` characters and control characters."""
    if q is None:
        return None
    if len(q) > MAX_QUERY:
        raise InvalidInput(f"must be at most {MAX_QUERY} characters", field="q")
    if _CONTROL.search(q):
        raise InvalidInput("must not contain control characters", field="q")
    return q.strip() or None


def dealt_with(merchant: str) -> Select[Any]:
    """The addresses of the consumers who dealt with the merchant at `merchant`
    (its chain address), one query over the read models (see the module docstring)."""
    editions = select(EditionRecord.id).where(EditionRecord.merchant == merchant)
    products = select(ReferralProduct.id).where(ReferralProduct.originator == merchant)
    campaigns = select(PrizeCampaign.id).where(PrizeCampaign.merchant == merchant)
    return select(union(
        select(TillCredit.consumer.label("a")).where(TillCredit.merchant == merchant),
        select(PromotionCoupon.holder.label("a")).where(PromotionCoupon.issuer == merchant),
        select(PromotionCoupon.holder.label("a")).where(PromotionCoupon.redeemer == merchant),
        select(CouponRecord.owner.label("a")).where(CouponRecord.edition_id.in_(editions)),
        select(ReferralPurchase.buyer.label("a")).where(ReferralPurchase.product_id.in_(products)),
        select(PrizeAward.consumer.label("a")).where(PrizeAward.campaign_id.in_(campaigns)),
    ).subquery().c.a)


async def _render(rows: Sequence[Participant]) -> list[dict[str, Any]]:
    return [{"customer_number": r.id, "name": r.name} for r in rows]


def _address(text: str) -> ColumnElement[bool] | None:
    return listing.party(Participant.address)(text) if listing.ADDRESS.match(text) else None


#: Customers by customer number, searched by a name fragment, the full number or
#: an address (within the scope the route's base query sets).
SPEC = ListSpec(
    name="customers", key=Participant.id, key_is_int=False, render=_render,
    search=(contains(Participant.name), exact(Participant.id), _address))


async def search(db: Any, caller: Caller, merchant_id: str, *, q: str | None,
                 cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the merchant's customers matching `q` (all of them, by number,
    when `q` is empty) and the cursor of the next page.

    For the merchant and its terminals only (403 for anyone else, the platform
    included: the picker is a counter tool, not a directory).
    """
    if caller.acts_for_merchant != merchant_id:
        raise Forbidden("a merchant's customers are searched by the merchant and its "
                        "terminals only")
    text = check_query(q)
    number = customer_number(text) if text else None
    async with db.session() as s:
        merchant = await s.get(Participant, merchant_id)
    if merchant is None or merchant.role != Role.MERCHANT:
        raise NotFound(f"merchant {merchant_id} does not exist", field="merchant_id")
    scope: ColumnElement[bool] = Participant.address.in_(dealt_with(merchant.address))
    if number is not None:
        # The full number the customer showed: found whether or not it dealt here.
        scope = or_(scope, Participant.id == number)
        text = number
    base = select(Participant).where(Participant.role == int(Role.CONSUMER), scope)
    query = listing.query_of(SPEC, q=text, status=None, since=None, until=None,
                             cursor=cursor, limit=limit)
    return await listing.page(db, SPEC, base, query)
