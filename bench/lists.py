"""A list over 1 M rows: cursor paging and the streamed CSV export, with RSS.

Fills an edition's sales read model (`coupon_records`) with N rows on SQLite (or
`--database-url`), written straight to the table (the list reads the read model;
putting a million sales through the chain first is bench/editions.py's job), then
through the shared list mechanism (`services.listing`, the code a list route runs):

- pages the whole list with the cursor, 500 rows a page, searching nothing;
- exports it as CSV exactly as the route streams it (`csv_lines`), to nowhere;
- searches one customer by name and exports that customer's rows.

Prints RSS before and after each phase, its peak during the export, and rows/s.

    .venv/bin/python bench/lists.py              # 1,000,000 rows
    .venv/bin/python bench/lists.py --rows 100000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from couponchain.services import list_specs, listing
from couponchain.store.db import Database, migrate
from couponchain.store.models import CouponRecord

CUSTOMERS = 1000
EDITION = 1


def rss_mib() -> float:
    """The process's resident set now (not its peak), MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def fill(path: Path, rows: int) -> None:
    """CUSTOMERS participants and `rows` sales of edition 1, in batches of 50,000."""
    con = sqlite3.connect(path)
    con.executemany(
        "INSERT INTO participants (id, role, name, address, encrypted_key, created_at) "
        "VALUES (?, 3, ?, ?, x'00', '2026-12-01 00:00:00')",
        [(f"c{i:05d}", f"Customer {i:05d}", "0x" + f"{i:040x}") for i in range(CUSTOMERS)])
    start = int(time.time()) - rows
    batch = 50_000
    for first in range(0, rows, batch):
        con.executemany(
            "INSERT INTO coupon_records (id, edition_id, serial, owner, status, "
            "channel, price, order_ref, seller, sold_at, block_number, tx_hash) "
            "VALUES (?, 1, ?, ?, 1, 1, '2000000', ?, ?, ?, ?, ?)",
            [(2**32 + n + 1, n + 1, "0x" + f"{n % CUSTOMERS:040x}", "0x" + f"{n:064x}",
              "0x" + "5e" * 20, start + n, n // 100 + 1, "0x" + f"{n:064x}")
             for n in range(first, min(first + batch, rows))])
        con.commit()
    con.close()


async def main(rows: int, url: str | None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-lists-"))
    db_path = workdir / "lists.db"
    url = url or f"sqlite+aiosqlite:///{db_path}"
    migrate(url)
    t0 = time.perf_counter()
    fill(db_path, rows)
    print(f"filled {rows:,} sales in {time.perf_counter() - t0:.1f} s")
    db = Database(url)
    spec = list_specs.edition_coupons(db, "OOL")
    base = select(CouponRecord).where(CouponRecord.edition_id == EDITION)

    print(f"RSS before paging: {rss_mib():.0f} MiB")
    t0, seen, pages = time.perf_counter(), 0, 0
    query = listing.ListQuery(limit=500)
    while True:
        found, cursor = await listing.page(db, spec, base, query)
        seen, pages = seen + len(found), pages + 1
        if cursor is None:
            break
        query = listing.ListQuery(limit=500, cursor=str(cursor))
    took = paging = time.perf_counter() - t0
    assert seen == rows, (seen, rows)
    print(f"paged {seen:,} rows in {pages:,} pages: {took:.1f} s, {seen / took:,.0f} rows/s; "
          f"RSS after {rss_mib():.0f} MiB")

    before = rss_mib()
    peak, size, lines = before, 0, 0
    t0 = time.perf_counter()
    async for chunk in listing.csv_lines(db, spec, base, listing.ListQuery()):
        size += len(chunk)
        lines += chunk.count(b"\n")
        peak = max(peak, rss_mib())
    took = time.perf_counter() - t0
    assert lines == rows + 1, (lines, rows)
    print(f"exported {rows:,} rows ({size / 2**20:.0f} MiB of CSV) in {took:.1f} s, "
          f"{rows / took:,.0f} rows/s; RSS before {before:.0f} MiB, peak {peak:.0f} MiB, "
          f"after {rss_mib():.0f} MiB")

    export_took = took
    t0 = time.perf_counter()
    one = listing.query_of(spec, q="Customer 00042", status=None, since=None, until=None,
                           cursor=None, limit=100)
    matched = 0
    async for chunk in listing.csv_lines(db, spec, base, one):
        matched += chunk.count(b"\n")
    print(f"searched one customer and exported {matched - 1:,} rows in "
          f"{time.perf_counter() - t0:.2f} s")
    print(f"rows={rows} page_rows_per_s={seen / paging:.0f} "
          f"export_rows_per_s={rows / export_took:.0f} "
          f"export_rss_growth_mib={peak - before:.0f}")
    await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.database_url))
