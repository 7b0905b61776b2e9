"""A consumer's wallet movements over large read models: first page, paging, CSV export.

Fills the five read models the movement list reads (till credits, product purchases,
payout entries, promotion coupon paths, edition coupon history with its coupons) with
N rows each on SQLite (or `--database-url`), spread over CUSTOMERS consumers, written
straight to the tables (the list reads the read models; putting the rows through the
chain is the other benches' job), then through `services.customer_movements` (the
code the route runs) for one consumer:

- the first page of 50 (what the wallet loads), median of 20;
- every page of 200 to the end;
- the CSV export of all of them;
- SQLite's plan for the query: every part should SEARCH an index, none SCAN a table.

    .venv/bin/python bench/movements.py               # 200,000 rows a table
    .venv/bin/python bench/movements.py --rows 20000
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from couponchain.domain.roles import Role
from couponchain.services import customer_movements as movements
from couponchain.services.participants import Caller
from couponchain.store.db import Database, migrate

CUSTOMERS = 1000
ME = 42


def address(i: int) -> str:
    return "0x" + f"{i + 1:040x}"


def fill(path: Path, rows: int) -> None:
    """CUSTOMERS consumers, a shop, a product and an edition; `rows` rows a table."""
    con = sqlite3.connect(path)
    shop = "0x" + "5e" * 20
    con.executemany(
        "INSERT INTO participants (id, role, name, address, encrypted_key, created_at) "
        "VALUES (?, ?, ?, ?, x'00', '2026-12-01 00:00:00')",
        [(f"c{i:05d}", int(Role.CONSUMER), f"Customer {i:05d}", address(i))
         for i in range(CUSTOMERS)] + [("shop", int(Role.MERCHANT), "Shop", shop)])
    con.execute("INSERT INTO edition_records (id, merchant, brand, title, prefix, cap, price, "
                "valid_from, valid_until, content_hash, sold, voided, redeemed, reserved, "
                "registered_at, block_number, tx_hash) VALUES (1, ?, 'B', 'Free tea', 'TEA', "
                "?, '2000000', 0, 9999999999, '0x', 0, 0, 0, 0, 0, 1, '0x')", (shop, rows))
    con.execute("INSERT INTO referral_products (id, originator, name, content_hash, "
                "batch_count, units_sold, reward_per_unit, registered_at, block_number, "
                "tx_hash) VALUES (1, ?, 'Song', '0x', 1, 0, '0', 0, 1, '0x')", (shop,))
    start = int(time.time()) - rows
    batch = 50_000
    for first in range(0, rows, batch):
        span = range(first, min(first + batch, rows))
        tx = ["0x" + f"{n:064x}" for n in span]
        who = [address(n % CUSTOMERS) for n in span]
        con.executemany(
            "INSERT INTO till_credits (merchant, consumer, operator, amount, remaining, "
            "reference, block_number, log_index, tx_hash, timestamp) "
            "VALUES (?, ?, ?, '5000000', '0', ?, ?, 0, ?, ?)",
            [(shop, w, shop, "0x" + "00" * 32, 5 * n + 1, t, start + n)
             for n, w, t in zip(span, who, tx, strict=True)])
        con.executemany(
            "INSERT INTO referral_purchases (product_id, batch, buyer, quantity, amount, "
            "rebate, promoter_amount, holders_amount, originator_amount, block_number, "
            "block_hash, log_index, tx_hash, timestamp) "
            "VALUES (1, 1, ?, 1, '3000000', '0', '0', '0', '3000000', ?, ?, 0, ?, ?)",
            [(w, 5 * n + 2, t, t, start + n) for n, w, t in zip(span, who, tx, strict=True)])
        con.executemany(
            "INSERT INTO payout_entries (account, source, part, reference, amount, "
            "block_number, log_index, tx_hash, timestamp) "
            "VALUES (?, 'promotions', 'holder', '1', '10000', ?, 0, ?, ?)",
            [(w, 5 * n + 3, t, start + n) for n, w, t in zip(span, who, tx, strict=True)])
        con.executemany(
            "INSERT INTO promotion_path (coupon_id, action, sender, receiver, actor, "
            "block_number, block_hash, log_index, tx_hash, timestamp) "
            "VALUES (?, 'granted', ?, ?, ?, ?, '0x', 0, ?, ?)",
            [(n + 1, shop, w, shop, 5 * n + 4, t, start + n)
             for n, w, t in zip(span, who, tx, strict=True)])
        con.executemany(
            "INSERT INTO coupon_records (id, edition_id, serial, owner, status, channel, "
            "price, order_ref, seller, sold_at, block_number, tx_hash) "
            "VALUES (?, 1, ?, ?, 1, 1, '2000000', '0x', ?, ?, ?, ?)",
            [(2**32 + n + 1, n + 1, w, shop, start + n, 5 * n + 5, t)
             for n, w, t in zip(span, who, tx, strict=True)])
        con.executemany(
            "INSERT INTO coupon_history (coupon_id, action, sender, receiver, actor, "
            "block_number, block_hash, log_index, tx_hash, timestamp) "
            "VALUES (?, 'sold', NULL, ?, ?, ?, ?, 0, ?, ?)",
            [(2**32 + n + 1, w, shop, 5 * n + 5, t, t, start + n)
             for n, w, t in zip(span, who, tx, strict=True)])
        con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()


async def main(rows: int, url: str | None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-movements-"))
    db_path = workdir / "movements.db"
    url = url or f"sqlite+aiosqlite:///{db_path}"
    migrate(url)
    t0 = time.perf_counter()
    fill(db_path, rows)
    print(f"filled {rows:,} rows in each of 5 read models in {time.perf_counter() - t0:.1f} s")
    db = Database(url)
    me = Caller(f"c{ME:05d}", Role.CONSUMER, "Customer", address(ME), None)
    expected = 5 * len(range(ME, rows, CUSTOMERS))

    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        first, _cursor = await movements.page(db, me, since=None, until=None, cursor=None,
                                              limit=50)
        times.append(time.perf_counter() - t0)
    assert len(first) == min(50, expected)
    print(f"first page of 50: median {statistics.median(times) * 1000:.1f} ms")

    t0, seen, cursor = time.perf_counter(), 0, None
    while True:
        found, cursor = await movements.page(db, me, since=None, until=None, cursor=cursor,
                                             limit=200)
        seen += len(found)
        if cursor is None:
            break
    took = time.perf_counter() - t0
    assert seen == expected, (seen, expected)
    print(f"paged all {seen:,} movements of one consumer, 200 a page: {took:.2f} s")

    t0, exported = time.perf_counter(), 0
    async for page in await movements.csv_rows(db, me, since=None, until=None, cursor=None):
        exported += len([movements.csv_line(item) for item in page])
    assert exported == expected
    print(f"exported {exported:,} movements as CSV rows: {time.perf_counter() - t0:.2f} s")

    stmt = movements._window(movements.movements_of(me.address),  # noqa: SLF001
                             movements.check(None, None, None)).limit(51)
    compiled = stmt.compile(compile_kwargs={"literal_binds": True})
    async with db.session() as s:
        plan = [r[-1] for r in (await s.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))).all()]
    scans = [p for p in plan if p.startswith("SCAN") and "SUBQUERY" not in p
             and "CO-ROUTINE" not in p]
    print("plan: " + "; ".join(plan))
    print(f"rows_per_table={rows} first_page_ms={statistics.median(times) * 1000:.1f} "
          f"table_scans={len(scans)}")
    await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.database_url))
