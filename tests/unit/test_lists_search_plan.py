"""The sales list's search is index searches within the edition, on SQLite as the
platform runs it (no ANALYZE, so no table statistics): an OR of the matchers made
SQLite walk every coupon of the edition in serial order, so a search by order
reference read the whole edition (77 ms over 40,000 coupons) although an index
on (edition_id, order_ref) existed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from couponchain.services import listing
from couponchain.services.list_specs import edition_coupons
from couponchain.store.models import Base, CouponRecord

#: The edition's rows walked in serial order: what a search must not do.
EDITION_SCAN = "(edition_id=?)"


def _plan(tmp_path: Path, search: str) -> list[str]:
    engine = create_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    Base.metadata.create_all(engine)
    spec = edition_coupons(None, "LATTE")
    query = listing.query_of(spec, q=search, status="active", since="2026-12-01",
                             until=None, cursor="12", limit=25)
    stmt = listing.filtered(spec, select(CouponRecord).where(CouponRecord.edition_id == 3),
                            query).where(CouponRecord.serial > 12).limit(26)
    sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection:
        steps = [row[3] for row in connection.execute(text("EXPLAIN QUERY PLAN " + sql))]
    engine.dispose()
    return steps


@pytest.mark.parametrize(("search", "index"), [
    ("WEB-10042", "ix_coupon_records_edition_order_ref (edition_id=? AND order_ref=?)"),
    ("0x93f79A4E22b0a1d9E9eAf6A9aB4Ba1D0F4Be6E0C",
     "ix_coupon_records_edition_owner (edition_id=? AND owner=?)"),
    ("Ann", "ix_coupon_records_edition_owner (edition_id=? AND owner=?)"),
    ("LATTE-000012", "sqlite_autoindex_coupon_records_2 (edition_id=? AND serial=?)"),
])
def test_a_sales_search_reads_by_index_not_the_whole_edition(
        tmp_path: Path, search: str, index: str) -> None:
    steps = _plan(tmp_path, search)
    assert any(index in step for step in steps), steps
    assert not any(step.endswith(EDITION_SCAN) and "coupon_records" in step
                   for step in steps), steps
