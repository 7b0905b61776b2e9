"""Read model of promotion rounds, coupons, their paths and pull payouts (DESIGN §2.2).

Built from the promotions contract's events only. A round issues a range of
ids without a row per coupon; a coupon gets its row when it is granted, and
every later step (transfer, write-off, reversal, distribution) appends to its
path. A distribution credits each party's payout balance; the earlier holders
are the senders of the coupon's recorded transfers, oldest first, one entry
per transfer, exactly as the contract pays them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from couponchain.indexer.projections import PROJECTIONS, IndexedEvent
from couponchain.indexer.rows import insert_rows
from couponchain.store.models import (
    PayoutBalance,
    PayoutEntry,
    PromotionAllocation,
    PromotionCoupon,
    PromotionPath,
    PromotionRound,
)

ACTIVE, WRITTEN_OFF, DISTRIBUTED = 1, 2, 3
SOURCE = "promotions"

PROJECTIONS.owns(
    PromotionRound.__table__,  # type: ignore[arg-type]
    PromotionAllocation.__table__,  # type: ignore[arg-type]
    PromotionCoupon.__table__,  # type: ignore[arg-type]
    PromotionPath.__table__,  # type: ignore[arg-type]
    PayoutEntry.__table__,  # type: ignore[arg-type]
    PayoutBalance.__table__,  # type: ignore[arg-type]
)

_COUPONS = cast(Table, PromotionCoupon.__table__)
_COUPON_COLUMNS = ("id", "round_id", "issuer", "holder", "status", "transfers", "granted_at",
                   "block_number", "tx_hash")
_PATHS = cast(Table, PromotionPath.__table__)
_PATH_COLUMNS = ("coupon_id", "action", "sender", "receiver", "actor", "amount", "block_number",
                 "block_hash", "log_index", "tx_hash", "timestamp")
#: One statement each for a whole run (executemany), straight to the coupon rows.
_SET_HOLDER = (update(_COUPONS).where(_COUPONS.c.id == bindparam("coupon"))
               .values(holder=bindparam("receiver"), transfers=bindparam("transfers_to")))
_WRITE_OFF = (update(_COUPONS).where(_COUPONS.c.id == bindparam("coupon"))
              .values(status=WRITTEN_OFF, redeemer=bindparam("merchant"),
                      order_amount=bindparam("order"), pool=bindparam("incentive"),
                      written_off_at=bindparam("at")))
_ROUNDS = (select(_COUPONS.c.id, _COUPONS.c.round_id)
           .where(_COUPONS.c.id.in_(bindparam("ids", expanding=True))))
#: Coupon ids per IN list: far below any driver's limit on parameters.
_IN_LIMIT = 500


def _step(event: IndexedEvent, coupon_id: int, action: str, *, actor: str,
          sender: str | None = None, receiver: str | None = None,
          amount: int | None = None) -> PromotionPath:
    return PromotionPath(
        coupon_id=coupon_id, action=action, sender=sender, receiver=receiver, actor=actor,
        amount=None if amount is None else str(amount), block_number=event.block_number,
        block_hash=event.block_hash, log_index=event.log_index, tx_hash=event.tx_hash,
        timestamp=event.timestamp,
    )


def _bump_round(session: Session, round_id: int, **deltas: int) -> None:
    values = {name: getattr(PromotionRound, name) + delta for name, delta in deltas.items()}
    session.execute(update(PromotionRound).where(PromotionRound.id == round_id)
                          .values(values))


def credit(session: Session, event: IndexedEvent, source: str, account: str,
                 part: str, amount: int, reference: str | None) -> None:
    """Add one payout entry and move the account's balance (negative: a withdrawal)."""
    if amount == 0:
        return
    session.add(PayoutEntry(
        account=account, source=source, part=part, reference=reference, amount=str(amount),
        block_number=event.block_number, log_index=event.log_index, tx_hash=event.tx_hash,
        timestamp=event.timestamp,
    ))
    session.flush()
    balance = session.get(PayoutBalance, (account, source))
    if balance is None:
        balance = PayoutBalance(account=account, source=source, credited="0", withdrawn="0")
        session.add(balance)
    if amount > 0:
        balance.credited = str(int(balance.credited) + amount)
    else:
        balance.withdrawn = str(int(balance.withdrawn) - amount)


@PROJECTIONS.on("promotions", "RoundOpened")
def round_opened(session: Session, event: IndexedEvent) -> None:
    a = event.args
    session.add(PromotionRound(
        id=int(a["round_id"]), platform=a["platform"], first_id=int(a["first_id"]),
        total=int(a["total"]), inputs_hash=a["inputs_hash"],
        incentive_bps=int(a["incentive_bps"]), shares=[int(s) for s in a["shares"]],
        rollback_window=int(a["rollback_window"]),
        max_consent_lifetime=int(a["max_consent_lifetime"]), allocated=0, granted=0,
        written_off=0, distributed=0, opened_at=event.timestamp,
        block_number=event.block_number, tx_hash=event.tx_hash,
        **_period(a),
    ))


def _period(a: dict[str, Any]) -> dict[str, Any]:
    """The round's period and measured hash; all None when it records none."""
    measured = _hex(a["measured_hash"])
    if int(measured, 16) == 0:
        return {"period_from": None, "period_to": None, "measured_hash": None}
    return {"period_from": int(a["period_from"]), "period_to": int(a["period_to"]),
            "measured_hash": measured}


def _hex(value: Any) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


@PROJECTIONS.on("promotions", "Allocated")
def allocated(session: Session, event: IndexedEvent) -> None:
    a = event.args
    round_id, count = int(a["round_id"]), int(a["count"])
    row = session.get(PromotionAllocation, (round_id, a["merchant"]))
    if row is None:
        session.add(PromotionAllocation(round_id=round_id, merchant=a["merchant"],
                                        allocated=count, granted=0))
        session.flush()
    else:
        row.allocated += count
    _bump_round(session, round_id, allocated=count)


@PROJECTIONS.on_runs("promotions", "Granted")
def granted(session: Session, events: list[IndexedEvent]) -> None:
    """A run of grants (a grant call makes one per consumer): its coupon and path rows
    in one statement each, each allocation and round counter moved once by the run."""
    session.flush()  # rows earlier handlers added (the allocation) go first
    coupons: list[tuple[object, ...]] = []
    paths: list[tuple[object, ...]] = []
    per_allocation: Counter[tuple[int, str]] = Counter()
    for e in events:
        a = e.args
        round_id, first, last = int(a["round_id"]), int(a["first_id"]), int(a["last_id"])
        merchant, consumer = a["merchant"], a["consumer"]
        coupons.extend((coupon_id, round_id, merchant, consumer, ACTIVE, 0, e.timestamp,
                        e.block_number, e.tx_hash) for coupon_id in range(first, last + 1))
        paths.extend((coupon_id, "granted", merchant, consumer, merchant, None, e.block_number,
                      e.block_hash, e.log_index, e.tx_hash, e.timestamp)
                     for coupon_id in range(first, last + 1))
        per_allocation[(round_id, merchant)] += last - first + 1
    insert_rows(session, _COUPONS, _COUPON_COLUMNS, coupons)
    insert_rows(session, _PATHS, _PATH_COLUMNS, paths)
    per_round: Counter[int] = Counter()
    for (round_id, merchant), count in per_allocation.items():
        session.execute(update(PromotionAllocation).where(
            PromotionAllocation.round_id == round_id, PromotionAllocation.merchant == merchant)
            .values(granted=PromotionAllocation.granted + count))
        per_round[round_id] += count
    for round_id, count in per_round.items():
        _bump_round(session, round_id, granted=count)


@PROJECTIONS.on_runs("promotions", "Transferred")
def transferred(session: Session, events: list[IndexedEvent]) -> None:
    """A run of transfers: each coupon's holder and transfer count set once, from its
    last transfer in the run (what the transfers one by one leave: the count is the
    contract's running total), and the run's path rows in one statement."""
    session.flush()  # rows earlier handlers added or changed go first
    last = {int(e.args["coupon_id"]): e for e in events}
    session.execute(_SET_HOLDER, [
        {"coupon": coupon_id, "receiver": e.args["receiver"],
         "transfers_to": int(e.args["transfers"])} for coupon_id, e in last.items()])
    _forget(session, last)
    insert_rows(session, _PATHS, _PATH_COLUMNS, [
        (int(e.args["coupon_id"]), "transferred", e.args["sender"], e.args["receiver"],
         e.args["sender"], None, e.block_number, e.block_hash, e.log_index, e.tx_hash,
         e.timestamp) for e in events])


@PROJECTIONS.on_runs("promotions", "WrittenOff")
def written_off(session: Session, events: list[IndexedEvent]) -> None:
    """A run of write-offs (a terminal's batch makes one per coupon): the coupons in
    one statement, their path rows in another, each round's counter moved once.

    Only granted coupons can be written off: an event for a coupon without a row
    changes nothing, as before. A coupon is written off at most once in a run (a
    second write-off needs a reversal between), and if it were not, the last one
    would win, as one by one.
    """
    session.flush()  # rows earlier handlers added or changed go first
    rounds = _rounds_of(session, {int(e.args["coupon_id"]) for e in events})
    events = [e for e in events if int(e.args["coupon_id"]) in rounds]
    if not events:
        return
    session.execute(_WRITE_OFF, [
        {"coupon": int(e.args["coupon_id"]), "merchant": e.args["merchant"],
         "order": str(e.args["order_amount"]), "incentive": str(e.args["incentive"]),
         "at": e.timestamp} for e in events])
    _forget(session, rounds)
    insert_rows(session, _PATHS, _PATH_COLUMNS, [
        (int(e.args["coupon_id"]), "written_off", e.args["holder"], e.args["merchant"],
         e.args["operator"], str(int(e.args["incentive"])), e.block_number, e.block_hash,
         e.log_index, e.tx_hash, e.timestamp) for e in events])
    per_round = Counter(rounds[int(e.args["coupon_id"])] for e in events)
    for round_id, count in per_round.items():
        _bump_round(session, round_id, written_off=count)


def _rounds_of(session: Session, coupon_ids: set[int]) -> dict[int, int]:
    """The round of each of `coupon_ids` that has a row (a granted coupon)."""
    ids = sorted(coupon_ids)
    rounds: dict[int, int] = {}
    for at in range(0, len(ids), _IN_LIMIT):
        rounds.update(session.execute(_ROUNDS, {"ids": ids[at : at + _IN_LIMIT]}).tuples().all())
    return rounds


def _forget(session: Session, coupon_ids: Iterable[int]) -> None:
    """Expire the coupons the session holds among `coupon_ids`: a straight UPDATE
    leaves them as loaded (a reversal or a distribution earlier in the transaction
    loads its coupon), and a handler reading one later must see the new values."""
    held = session.identity_map
    if not len(held):
        return
    for coupon_id in coupon_ids:
        row = held.get(session.identity_key(PromotionCoupon, coupon_id))
        if row is not None:
            session.expire(row)


@PROJECTIONS.on("promotions", "WriteOffReversed")
def write_off_reversed(session: Session, event: IndexedEvent) -> None:
    a = event.args
    coupon_id = int(a["coupon_id"])
    row = session.get(PromotionCoupon, coupon_id)
    if row is None:
        return
    row.status, row.redeemer, row.order_amount, row.pool, row.written_off_at = (
        ACTIVE, None, None, None, None)
    session.add(_step(event, coupon_id, "reversed", actor=a["operator"], sender=a["merchant"],
                      receiver=a["holder"], amount=int(a["refund"])))
    _bump_round(session, row.round_id, written_off=-1)


@PROJECTIONS.on("promotions", "PoolDistributed")
def pool_distributed(session: Session, event: IndexedEvent) -> None:
    a = event.args
    coupon_id = int(a["coupon_id"])
    row = session.get(PromotionCoupon, coupon_id)
    if row is None:
        return
    row.status = DISTRIBUTED
    session.add(_step(event, coupon_id, "distributed", actor=a["platform"],
                      amount=int(a["pool"])))
    _bump_round(session, row.round_id, distributed=1)
    reference = str(coupon_id)
    for part in ("platform", "issuer", "redeemer", "holder"):
        credit(session, event, SOURCE, a[part], part, int(a[f"{part}_amount"]),
                     reference)
    each = int(a["earlier_each"])
    if each and int(a["earlier_count"]):
        senders = (session.execute(
            select(PromotionPath.sender).where(PromotionPath.coupon_id == coupon_id,
                                               PromotionPath.action == "transferred")
            .order_by(PromotionPath.block_number, PromotionPath.log_index))).scalars().all()
        for sender in senders[: int(a["earlier_count"])]:
            if sender is None:  # every transfer has a sender: the read model is broken
                raise RuntimeError(f"promotions: transfer of coupon {coupon_id} has no sender")
            credit(session, event, SOURCE, sender, "earlier", each, reference)


@PROJECTIONS.on("promotions", "Withdrawn")
def withdrawn(session: Session, event: IndexedEvent) -> None:
    a = event.args
    credit(session, event, SOURCE, a["account"], "withdrawal", -int(a["amount"]), None)
