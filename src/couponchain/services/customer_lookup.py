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
shows at the counter, as text or as the wallet's QR code), or whose exact phone
number or e-mail was given, when that consumer chose to register it for this.

A registered phone number or e-mail is never stored: only its keyed hash
(HMAC-SHA256 under a platform secret, `LOOKUP_KEY` in `platform_secrets`) of the
normalised identifier (a phone as its digits, with the country code when typed
with `+` or `00`; an e-mail lower-cased). The till's typed identifier is
normalised and hashed the same way and matched exactly; a database copy without
the platform secret cannot test guesses against the hashes. A name fragment, an
address or a prefix of a number finds nobody else: the whole consumer list is
never searched. An address finds a customer within the scope only, because
addresses are public on chain and an unscoped answer would put names to them.

Usage::

    rows, next_cursor = await customer_lookup.search(db, caller, merchant_id,
                                                     q="mei", cursor=None, limit=20)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, or_, select, union

from couponchain.domain.roles import Role
from couponchain.errors import Forbidden, InvalidInput, NotFound
from couponchain.services import listing
from couponchain.services.listing import ListSpec, contains, exact
from couponchain.services.participants import Caller
from couponchain.services.platform_secrets import PlatformSecrets
from couponchain.store.models import (
    CouponRecord,
    CustomerLookup,
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
#: The platform secret the lookup hashes are keyed with (made on first use).
LOOKUP_KEY = "customer-lookup-key"
KINDS = ("phone", "email")
#: A phone number as typed: digits with spaces, dashes, dots, brackets, a leading + or 00.
_PHONE = re.compile(r"^\+?[0-9 ().-]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
MAX_EMAIL = 254


def normal_phone(text: str) -> str | None:
    """A phone number's digits (E.164-like: 7 to 15, the country code kept when it was
    typed with + or 00), or None when `text` is not a phone number."""
    text = text.strip()
    if not _PHONE.match(text):
        return None
    digits = re.sub(r"\D", "", text)
    if not text.startswith("+") and digits.startswith("00"):
        digits = digits[2:]
    return digits if 7 <= len(digits) <= 15 else None


def normal_email(text: str) -> str | None:
    """An e-mail address lower-cased, or None when `text` is not one."""
    text = text.strip().lower()
    return text if len(text) <= MAX_EMAIL and _EMAIL.match(text) else None


def lookup_digest(key: bytes, kind: str, normal: str) -> str:
    """The keyed hash kept for a normalised identifier (hex HMAC-SHA256)."""
    return hmac.new(key, f"{kind}:{normal}".encode(), hashlib.sha256).hexdigest()


async def _lookup_key(platform: PlatformSecrets) -> bytes:
    return await platform.value(LOOKUP_KEY, lambda: secrets.token_bytes(32))


def _identifier(text: str) -> tuple[str, str] | None:
    """(kind, normalised) of a phone number or e-mail in the search text, or None."""
    email = normal_email(text) if "@" in text else None
    if email is not None:
        return "email", email
    phone = normal_phone(text)
    return ("phone", phone) if phone is not None else None


async def registered(db: Any, caller: Caller) -> dict[str, bool]:
    """Which identifiers the consumer registered for the till's search."""
    _consumer(caller)
    async with db.session() as s:
        kinds = set((await s.execute(select(CustomerLookup.kind).where(
            CustomerLookup.participant_id == caller.id))).scalars())
    return {kind: kind in kinds for kind in KINDS}


async def register(db: Any, platform: PlatformSecrets, caller: Caller, *,
                   phone: str | None, email: str | None) -> dict[str, bool]:
    """Register the consumer's phone number and/or e-mail (their keyed hashes only)
    for the till's search; a refusal names `phone` or `email` and its rule."""
    _consumer(caller)
    wanted: dict[str, str] = {}
    if phone is not None:
        normal = normal_phone(phone) if not _CONTROL.search(phone) else None
        if normal is None:
            raise InvalidInput("must be a phone number of 7 to 15 digits (with + and the "
                               "country code, e.g. +86 138 0000 0000)", field="phone")
        wanted["phone"] = normal
    if email is not None:
        normal = normal_email(email) if not _CONTROL.search(email) else None
        if normal is None:
            raise InvalidInput(f"must be an e-mail address (name@example.com, at most "
                               f"{MAX_EMAIL} characters)", field="email")
        wanted["email"] = normal
    if not wanted:
        raise InvalidInput("give a phone number, an e-mail or both", field="phone")
    key = await _lookup_key(platform)
    async with db.transaction() as s:
        for kind, normal in wanted.items():
            row = await s.get(CustomerLookup, (caller.id, kind))
            digest = lookup_digest(key, kind, normal)
            if row is None:
                s.add(CustomerLookup(participant_id=caller.id, kind=kind, digest=digest))
            else:
                row.digest = digest
    return await registered(db, caller)


async def unregister(db: Any, caller: Caller, kind: str) -> dict[str, bool]:
    """Remove the consumer's registered phone number or e-mail (`kind`)."""
    _consumer(caller)
    if kind not in KINDS:
        raise InvalidInput("must be phone or email", field="kind")
    async with db.transaction() as s:
        await s.execute(delete(CustomerLookup).where(
            CustomerLookup.participant_id == caller.id, CustomerLookup.kind == kind))
    return await registered(db, caller)


def _consumer(caller: Caller) -> None:
    if caller.role != Role.CONSUMER:
        raise Forbidden("only consumers register a phone number or e-mail for the till")


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
                 cursor: str | None, limit: int, platform: PlatformSecrets | None = None,
                 ) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the merchant's customers matching `q` (all of them, by number,
    when `q` is empty) and the cursor of the next page. With `platform`, a `q` that
    is a phone number or an e-mail finds the consumers who registered exactly it.

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
    elif text and platform is not None and (found := _identifier(text)) is not None:
        # The exact phone or e-mail a consumer registered: found wherever it dealt
        # (that consumer chose so); the name search does not apply to it.
        kind, normal = found
        digest = lookup_digest(await _lookup_key(platform), kind, normal)
        scope = Participant.id.in_(select(CustomerLookup.participant_id).where(
            CustomerLookup.kind == kind, CustomerLookup.digest == digest))
        text = None
    base = select(Participant).where(Participant.role == int(Role.CONSUMER), scope)
    query = listing.query_of(SPEC, q=text, status=None, since=None, until=None,
                             cursor=cursor, limit=limit)
    return await listing.page(db, SPEC, base, query)
