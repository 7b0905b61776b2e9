"""A consumer's wallet movements (issue 24): every movement of its credit token and
coupons that the read models hold, in one list, newest first.

Read from the projections the indexer already fills (chain events only):

- top-ups at a shop's till (`TillCredit`): credit in;
- purchases of products through the referrals contract (`ReferralPurchase`): credit out;
- reward and rebate credits to the claimable payouts, and withdrawals of them to the
  credit balance (`PayoutEntry`, sources promotions and referrals);
- promotion coupons granted to the consumer, passed on or received, written off at a
  till and reversals of that (`PromotionPath`);
- edition coupons bought, passed on or received, redeemed and voided (`CouponHistory`).

Not projected, so not listed (the page says so): the token's own `Transfer` events
(credit the platform minted, credit sent between accounts outside the contracts above)
and what a shop was paid for an edition coupon outside the chain (the price it recorded
is shown with the coupon, not as a credit movement).

Each movement names its chain evidence: the transaction and block, and the public page
of the coupon or product it moved. The list pages by a cursor (block, log index, kind,
row), filters by date and exports as CSV. Usage::

    rows, next_cursor = await customer_movements.page(db, caller, since=None, until=None,
                                                      cursor=None, limit=50)
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    String,
    cast,
    literal,
    null,
    select,
    tuple_,
    union_all,
)

from couponchain.domain.edition_slots import serial_text
from couponchain.domain.roles import Role
from couponchain.domain.times import iso
from couponchain.errors import Forbidden, InvalidInput
from couponchain.services import listing
from couponchain.services.participant_names import names_by_address
from couponchain.services.participants import Caller
from couponchain.services.topups import decode_reference
from couponchain.store.models import (
    CouponHistory,
    CouponRecord,
    EditionRecord,
    PayoutEntry,
    PromotionPath,
    ReferralProduct,
    ReferralPurchase,
    TillCredit,
)
from couponchain.web.money import format_amount

#: Rows per database read of a CSV export (one page in memory at a time).
EXPORT_PAGE = 1000
#: What the read models do not hold, said on the page and in the API description.
NOT_PROJECTED = ("credit the platform minted or that was sent between accounts "
                 "outside coupons and products (the token's Transfer events are not "
                 "projected)")
_CURSOR = re.compile(r"^(\d{1,18})-(\d{1,9})-(\d)-(\d{1,18})$")
#: The order of the sources inside one log (e.g. a purchase and the payouts it made).
_TOP_UP, _PURCHASE, _PAYOUT, _PROMOTION, _EDITION = 1, 2, 3, 4, 5
CSV_COLUMNS = ("at", "kind", "amount", "balance", "counterparty", "coupon", "product",
               "price", "reference", "tx_hash", "block_number", "evidence")


@dataclass(frozen=True)
class Window:
    """The checked list parameters: dates as epoch seconds, the cursor's key."""

    since: int | None
    until: int | None
    after: tuple[int, int, int, int] | None


def check(since: str | None, until: str | None, cursor: str | None) -> Window:
    """The dates (`from`, `to`: ISO dates or date-times) and cursor checked, each
    refusal naming its parameter."""
    low = listing.parse_moment(since, "from")
    high = listing.parse_moment(until, "to", end=True)
    if low is not None and high is not None and high <= low:
        raise InvalidInput("must be after from", field="to")
    after = None
    if cursor is not None:
        m = _CURSOR.match(cursor)
        if m is None:
            raise InvalidInput("must be the next_cursor of an earlier page", field="cursor")
        after = (int(m[1]), int(m[2]), int(m[3]), int(m[4]))
    return Window(low, high, after)


def _text(value: Any) -> ColumnElement[Any]:
    return cast(value, String)


def _none(kind: Any = String) -> ColumnElement[Any]:
    return cast(null(), kind)


def movements_of(address: str) -> Select[Any]:
    """Every movement of `address` as one UNION ALL of the read models, with the
    columns block, idx, rank, item, at, source, amount, sender, receiver, ref_id, note, tx."""
    me = sorted({to_checksum_address(address), address.lower()})
    # A coupon leaves a wallet only after it came in: the outgoing rows are found
    # among the coupons received (so only `receiver` needs an index).
    promotions_in = select(PromotionPath.coupon_id).where(PromotionPath.receiver.in_(me))
    editions_in = select(CouponHistory.coupon_id).where(CouponHistory.receiver.in_(me))
    # A promotion coupon's moves, in (received) and out (passed on) alike.
    path = (PromotionPath.block_number, PromotionPath.log_index, literal(_PROMOTION, Integer),
            PromotionPath.id, PromotionPath.timestamp, literal("promotion"),
            _text(PromotionPath.amount), PromotionPath.sender, PromotionPath.receiver,
            cast(PromotionPath.coupon_id, BigInteger), _text(PromotionPath.action),
            PromotionPath.tx_hash)
    # An edition coupon's moves, in and out alike, at the price it was sold for.
    history = (CouponHistory.block_number, CouponHistory.log_index, literal(_EDITION, Integer),
               CouponHistory.id, CouponHistory.timestamp, literal("edition"),
               _text(CouponRecord.price), CouponHistory.sender, CouponHistory.receiver,
               cast(CouponHistory.coupon_id, BigInteger), _text(CouponHistory.action),
               CouponHistory.tx_hash)
    parts = [
        select(TillCredit.block_number.label("block"), TillCredit.log_index.label("idx"),
               literal(_TOP_UP, Integer).label("rank"), TillCredit.id.label("item"),
               TillCredit.timestamp.label("at"), literal("top_up").label("source"),
               _text(TillCredit.amount).label("amount"), TillCredit.merchant.label("sender"),
               TillCredit.consumer.label("receiver"), _none(BigInteger).label("ref_id"),
               _text(TillCredit.reference).label("note"), TillCredit.tx_hash.label("tx"))
        .where(TillCredit.consumer.in_(me)),
        select(ReferralPurchase.block_number, ReferralPurchase.log_index,
               literal(_PURCHASE, Integer), ReferralPurchase.id, ReferralPurchase.timestamp,
               literal("purchase"), _text(ReferralPurchase.amount), ReferralPurchase.buyer,
               _none(), cast(ReferralPurchase.product_id, BigInteger),
               _text(ReferralPurchase.quantity), ReferralPurchase.tx_hash)
        .where(ReferralPurchase.buyer.in_(me)),
        select(PayoutEntry.block_number, PayoutEntry.log_index, literal(_PAYOUT, Integer),
               PayoutEntry.id, PayoutEntry.timestamp, literal("payout"),
               _text(PayoutEntry.amount), _none(), PayoutEntry.account, _none(BigInteger),
               _text(PayoutEntry.source + ":" + PayoutEntry.part), PayoutEntry.tx_hash)
        .where(PayoutEntry.account.in_(me)),
        select(*path).where(PromotionPath.receiver.in_(me)),
        select(*path).where(PromotionPath.coupon_id.in_(promotions_in),
                            PromotionPath.sender.in_(me), PromotionPath.receiver.not_in(me)),
        select(*history).join(CouponRecord, CouponRecord.id == CouponHistory.coupon_id)
        .where(CouponHistory.receiver.in_(me)),
        select(*history).join(CouponRecord, CouponRecord.id == CouponHistory.coupon_id)
        .where(CouponHistory.coupon_id.in_(editions_in), CouponHistory.sender.in_(me),
               CouponHistory.receiver.is_(None) | CouponHistory.receiver.not_in(me)),
    ]
    return select(union_all(*parts).subquery())


def _window(stmt: Select[Any], window: Window) -> Select[Any]:
    c = stmt.selected_columns
    if window.since is not None:
        stmt = stmt.where(c.at >= window.since)
    if window.until is not None:
        stmt = stmt.where(c.at < window.until)
    if window.after is not None:
        stmt = stmt.where(tuple_(c.block, c.idx, c.rank, c.item) < tuple_(*window.after))
    return stmt.order_by(c.block.desc(), c.idx.desc(), c.rank.desc(), c.item.desc())


def _consumer(caller: Caller) -> str:
    if caller.role != Role.CONSUMER or not caller.address:
        raise Forbidden("a wallet's movements are its consumer's own")
    return str(caller.address)


async def _rows(db: Any, address: str, window: Window, limit: int) -> list[Any]:
    stmt = _window(movements_of(address), window).limit(limit)
    async with db.session() as s:
        return list((await s.execute(stmt)).all())


async def page(db: Any, caller: Caller, *, since: str | None, until: str | None,
               cursor: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the caller's movements, newest first, and the next page's cursor."""
    address = _consumer(caller)
    window = check(since, until, cursor)
    found = await _rows(db, address, window, limit + 1)
    more = len(found) > limit
    found = found[:limit]
    return await render(db, address, found), (_key(found[-1]) if more and found else None)


async def csv_rows(db: Any, caller: Caller, *, since: str | None, until: str | None,
                   cursor: str | None) -> AsyncIterator[list[dict[str, Any]]]:
    """Every movement the filters select, a page of `EXPORT_PAGE` at a time (checked
    before the first row is read, so a bad parameter is a 422, not a broken download)."""
    address = _consumer(caller)
    window = check(since, until, cursor)

    async def pages() -> AsyncIterator[list[dict[str, Any]]]:
        nonlocal window
        while True:
            found = await _rows(db, address, window, EXPORT_PAGE)
            if found:
                yield await render(db, address, found)
            if len(found) < EXPORT_PAGE:
                return
            last = found[-1]
            window = Window(window.since, window.until,
                            (last.block, last.idx, last.rank, last.item))

    return pages()


def _key(row: Any) -> str:
    return f"{row.block}-{row.idx}-{row.rank}-{row.item}"


def _same(a: str | None, b: str) -> bool:
    return a is not None and a.lower() == b.lower()


def _kind(row: Any, me: str) -> tuple[str, int | None, str | None, str | None]:
    """(kind, signed amount, which balance it moved, the counterparty's address)."""
    amount = None if row.amount is None else int(row.amount)
    if row.source == "top_up":
        return "top_up", amount, "credit", row.sender
    if row.source == "purchase":
        return "purchase", -(amount or 0), "credit", None
    if row.source == "payout":
        source, _, part = row.note.partition(":")
        if amount is not None and amount < 0:  # claimable paid out to the credit balance
            return "withdrawal", -amount, "credit", None
        kind = "rebate" if (source, part) == ("referrals", "holder") else (
            "promoter_share" if part == "promoter" else "reward")
        return kind, amount, "claimable", None
    action = row.note
    if row.source == "promotion":
        if action == "granted":
            return "promotion_granted", None, None, row.sender
        if action == "transferred":
            incoming = _same(row.receiver, me)
            return (("promotion_received", None, None, row.sender) if incoming
                    else ("promotion_passed_on", None, None, row.receiver))
        if action == "written_off":
            return "promotion_written_off", None, None, row.receiver
        return "promotion_" + action, None, None, row.sender
    if action == "sold":
        return "edition_bought", None, None, None
    if action == "transferred":
        incoming = _same(row.receiver, me)
        return (("edition_received", None, None, row.sender) if incoming
                else ("edition_passed_on", None, None, row.receiver))
    return "edition_" + action, None, None, None


async def render(db: Any, me: str, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The movements as the API returns them, with names, coupon serials, product
    names, amounts in display units and the evidence of each."""
    kinds = [_kind(r, me) for r in rows]
    names = await names_by_address(db, [k[3] for k in kinds])
    products = {r.ref_id for r in rows if r.source == "purchase"}
    editions = {r.ref_id for r in rows if r.source == "edition"}
    async with db.session() as s:
        product_names = dict((await s.execute(select(ReferralProduct.id, ReferralProduct.name)
                                              .where(ReferralProduct.id.in_(products)))).tuples()
                             .all()) if products else {}
        coupons = {row.id: row for row in (await s.execute(
            select(CouponRecord.id, CouponRecord.serial, EditionRecord.prefix,
                   EditionRecord.title, EditionRecord.merchant)
            .join(EditionRecord, EditionRecord.id == CouponRecord.edition_id)
            .where(CouponRecord.id.in_(editions)))).all()} if editions else {}
    shops = await names_by_address(db, [c.merchant for c in coupons.values()])
    out = []
    for row, (kind, amount, balance, party) in zip(rows, kinds, strict=True):
        item: dict[str, Any] = {
            "id": _key(row), "at": iso(row.at), "kind": kind, "amount": amount,
            "amount_text": None if amount is None else
            ("+" if amount > 0 else "") + format_amount(amount),
            "balance": balance, "counterparty": party,
            "counterparty_name": names.get(party) if party else None,
            "coupon": None, "product": None, "price": None, "price_text": None,
            "reference": None, "tx_hash": row.tx, "block_number": row.block,
            "evidence": None,
        }
        if row.source == "top_up":
            item["reference"] = decode_reference(row.note)
        elif row.source == "purchase":
            name = product_names.get(row.ref_id)
            item["product"] = {"id": row.ref_id, "name": name, "quantity": int(row.note)}
            item["evidence"] = f"/products/{row.ref_id}"
        elif row.source == "payout":
            item["reference"] = row.note
        elif row.source == "promotion":
            item["coupon"] = {"kind": "promotion", "id": row.ref_id, "serial": str(row.ref_id),
                              "title": None}
            item["evidence"] = f"/promotion-coupons/{row.ref_id}"
        else:
            c = coupons.get(row.ref_id)
            serial = serial_text(c.prefix, c.serial) if c else str(row.ref_id)
            item["coupon"] = {"kind": "edition", "id": row.ref_id, "serial": serial,
                              "title": c.title if c else None}
            if kind == "edition_bought":
                item["price"] = int(row.amount)
                item["price_text"] = format_amount(int(row.amount))
                if c is not None:
                    item["counterparty"] = c.merchant
                    item["counterparty_name"] = shops.get(c.merchant)
            item["evidence"] = f"/coupons/{serial}"
        out.append(item)
    return out


def csv_line(item: dict[str, Any]) -> list[str]:
    """One movement as the CSV's cells (amounts in display units, signed, no symbol)."""
    amount = item["amount"]
    return [item["at"], item["kind"],
            "" if amount is None else ("+" if amount > 0 else "") + format_amount(
                amount, with_symbol=False),
            item["balance"] or "", item["counterparty_name"] or item["counterparty"] or "",
            (item["coupon"] or {}).get("serial", ""),
            (item["product"] or {}).get("name") or "",
            "" if item["price"] is None else format_amount(item["price"], with_symbol=False),
            item["reference"] or "", item["tx_hash"], str(item["block_number"]),
            item["evidence"] or ""]
