"""Run handlers against one-by-one application, on hand-made events a chain can emit
but the embedded node's one-transaction blocks rarely group: the same coupon twice
in one run, a write-off after a reversal in the same transaction, a write-off of a
coupon nobody was granted. No node: a migrated SQLite database and the projections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

import couponchain.runtime  # noqa: F401 - registers every projection
from couponchain.indexer.projections import PROJECTIONS, IndexedEvent, Projections
from couponchain.store.db import migrate
from couponchain.store.models import PromotionRound
from tests.integration.read_models import OneByOne, rows_of

A, B, C = ("0x" + c * 40 for c in "abc")
MERCHANT, TILL, PLATFORM = ("0x" + c * 40 for c in "def")
EDITION, ROUND = 7, 3
COUPONS = [EDITION * 2**32 + serial for serial in range(1, 5)]


def _events() -> list[IndexedEvent]:
    """Two blocks: the edition, sales, round and grant; then runs of each kind."""
    blocks: list[list[tuple[str, str, dict[str, Any]]]] = [[
        ("editions", "EditionRegistered", {
            "edition_id": EDITION, "merchant": MERCHANT, "brand": "Cafe", "title": "Latte",
            "prefix": "RUN", "cap": 10, "price": 300, "valid_from": 0, "valid_until": 2**40,
            "content_hash": "0x" + "00" * 32}),
        *(("editions", "CouponSold", {
            "coupon_id": c, "edition_id": EDITION, "serial": c % 2**32, "buyer": A,
            "channel": 0, "price": 300, "order_ref": "0x" + "11" * 32, "seller": TILL,
            "sold_at": 1}) for c in COUPONS),
        ("promotions", "RoundOpened", {
            "round_id": ROUND, "platform": PLATFORM, "first_id": 100, "total": 10,
            "inputs_hash": "0x" + "22" * 32, "incentive_bps": 1_000,
            "shares": [1_000, 2_000, 2_000, 3_000, 2_000], "rollback_window": 3_600,
            "max_consent_lifetime": 120, "period_from": 5, "period_to": 9,
            "measured_hash": "0x" + "33" * 32}),
        ("promotions", "Allocated", {"round_id": ROUND, "merchant": MERCHANT, "count": 10}),
        ("promotions", "Granted", {"round_id": ROUND, "first_id": 100, "last_id": 105,
                                   "merchant": MERCHANT, "consumer": A}),
    ], [
        ("editions", "CouponTransferred", {"coupon_id": COUPONS[0], "sender": A, "receiver": B}),
        ("editions", "CouponTransferred", {"coupon_id": COUPONS[0], "sender": B, "receiver": C}),
        ("editions", "CouponTransferred", {"coupon_id": COUPONS[1], "sender": A, "receiver": B}),
        *(("editions", "CouponRedeemed", {"coupon_id": c, "edition_id": EDITION, "owner": o,
                                          "by": TILL})
          for c, o in zip(COUPONS[:2], (C, B), strict=True)),
        ("editions", "CouponVoided", {"coupon_id": COUPONS[2], "edition_id": EDITION,
                                      "owner": A, "by": MERCHANT}),
        ("editions", "CouponRedeemed", {"coupon_id": COUPONS[3], "edition_id": EDITION,
                                        "owner": A, "by": TILL}),
        ("promotions", "Transferred", {"coupon_id": 100, "sender": A, "receiver": B,
                                       "transfers": 1}),
        ("promotions", "Transferred", {"coupon_id": 100, "sender": B, "receiver": C,
                                       "transfers": 2}),
        ("promotions", "Transferred", {"coupon_id": 101, "sender": A, "receiver": B,
                                       "transfers": 1}),
        *(("promotions", "WrittenOff", {
            "coupon_id": c, "holder": h, "merchant": MERCHANT, "operator": TILL,
            "order_amount": 10_000 + c, "incentive": 1_000 + c // 10})
          for c, h in ((100, C), (101, B), (102, A), (999, A))),  # 999: never granted
        ("promotions", "WriteOffReversed", {"coupon_id": 100, "operator": TILL,
                                            "merchant": MERCHANT, "holder": C,
                                            "refund": 1_010}),
        ("promotions", "WrittenOff", {"coupon_id": 100, "holder": C, "merchant": MERCHANT,
                                      "operator": TILL, "order_amount": 5_000,
                                      "incentive": 500}),
        ("promotions", "PoolDistributed", {
            "coupon_id": 101, "pool": 1_010, "platform": PLATFORM, "platform_amount": 101,
            "issuer": MERCHANT, "issuer_amount": 202, "redeemer": MERCHANT,
            "redeemer_amount": 202, "holder": B, "holder_amount": 303,
            "earlier_each": 202, "earlier_count": 1}),
        ("promotions", "WrittenOff", {"coupon_id": 103, "holder": A, "merchant": MERCHANT,
                                      "operator": TILL, "order_amount": 7_000,
                                      "incentive": 700}),
    ]]
    return [IndexedEvent(contract, name, args, block_number=n, block_hash=f"0x{n:064x}",
                         log_index=i, tx_hash=f"0x{n:032x}{i:032x}", timestamp=1_000 + n)
            for n, block in enumerate(blocks, start=1)
            for i, (contract, name, args) in enumerate(block)]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    migrate(url)
    engine = create_engine(url)
    yield engine
    engine.dispose()


def _applied(engine: Engine, projections: Projections) -> dict[str, list[tuple[Any, ...]]]:
    """The read models after `projections` applied the events, one block a transaction."""
    events = _events()
    with Session(engine) as session, session.begin():
        for table in reversed(PROJECTIONS.tables):
            session.execute(table.delete())
    for block in sorted({e.block_number for e in events}):
        with Session(engine) as session, session.begin():
            projections.apply(session, [e for e in events if e.block_number == block])
    with Session(engine) as session:
        return {t.name: rows_of(session, t) for t in PROJECTIONS.tables}


def test_runs_leave_what_the_events_one_by_one_leave(engine: Engine) -> None:
    in_runs = _applied(engine, PROJECTIONS)
    assert in_runs == _applied(engine, OneByOne())
    # And what one by one leaves is what the events say.
    coupons = {row[0]: row for row in in_runs["coupon_records"]}
    assert [(coupons[c][3], coupons[c][4]) for c in COUPONS] == [(C, 2), (B, 2), (A, 3), (A, 2)]
    (edition,) = in_runs["edition_records"]
    assert edition[10:14] == (4, 1, 3, 0)  # sold, voided, redeemed, reserved
    assert [(h[0], h[1]) for h in in_runs["coupon_history"]][4:] == [
        (COUPONS[0], "transferred"), (COUPONS[0], "transferred"), (COUPONS[1], "transferred"),
        (COUPONS[0], "redeemed"), (COUPONS[1], "redeemed"), (COUPONS[2], "voided"),
        (COUPONS[3], "redeemed")]
    promoted = {row[0]: row for row in in_runs["promotion_coupons"]}
    assert promoted[100][3:9] == (C, 2, 2, MERCHANT, "5000", "500")  # holder..pool
    assert promoted[101][4] == 3 and promoted[103][4] == 2 and promoted[102][4] == 2
    (round_,) = in_runs["promotion_rounds"]
    columns = [c.name for c in PromotionRound.__table__.columns]
    field = dict(zip(columns, round_, strict=True))
    # granted, written_off (5 - 1 reversed), distributed; the measured period
    assert (field["granted"], field["written_off"], field["distributed"]) == (6, 4, 1)
    assert (field["period_from"], field["period_to"]) == (5, 9)
    assert field["measured_hash"] == "0x" + "33" * 32
    assert 999 not in promoted
