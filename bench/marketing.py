"""Benchmark: access-log ingest rate and the time to compute the indicator set.

One embedded default node and SQLite (or COUPONCHAIN_DATABASE_URL) in a temp
dir, one run, realistic records from the demo generator
(`services/marketing_demo.py`: seasonality, returning visitors, the funnel).

- ingest: the first `--ingest-records` records, generated beforehand, go
  through `MarketingService.ingest` in batches of `--size`, `--concurrency` at
  a time (the first batch, which starts the worker processes, untimed). A
  record counts once its batch is validated, pseudonymised, Merkle-hashed,
  written to the analytics store and anchored on chain (the call returns
  only then).
- the rest, up to `--records`, is generated and ingested the same way
  (untimed as ingest: generation shares the CPU).
- indicators: the full catalogue for the merchant over the whole period and
  over its last day (new vs returning still reads all history), each run
  `--repeat` times through `marketing_views.indicators` (SQL batch list +
  DuckDB over the Parquet files); below `--check-limit` records the result is
  compared with the domain's pure-Python reference over the same records.

    .venv/bin/python bench/marketing.py                       # 10,000,000 records
    .venv/bin/python bench/marketing.py --records 1000000     # smaller
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from couponchain.config import Settings
from couponchain.domain import indicators as ind
from couponchain.domain.roles import Role
from couponchain.runtime import Runtime
from couponchain.services import marketing_views as views
from couponchain.services.marketing_demo import DAY, demo_batches

console = Console()


async def _ingest_all(runtime: Runtime, till: Any, batches: list[list[dict[str, Any]]],
                      concurrency: int, progress: Any, task: Any) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(records: list[dict[str, Any]]) -> None:
        async with gate:
            await runtime.marketing.ingest(till, records, None)
            progress.advance(task, len(records))

    await asyncio.gather(*[one(b) for b in batches])


def _cpu_seconds(runtime: Runtime) -> float:
    """CPU time used so far by this process, the ingest worker processes and the
    embedded node: what an ingest costs whatever else shares the machine."""
    pids = list(getattr(runtime.marketing.access_logs._workers, "_processes", None) or {})
    supervisor = getattr(runtime, "supervisor", None)
    if supervisor is not None and supervisor.pid is not None:
        pids.append(supervisor.pid)
    total = time.process_time()
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def _timed(runs: int, call: Any) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        began = time.perf_counter()
        result = await call()
        times.append(time.perf_counter() - began)
    return times, result


async def run(args: argparse.Namespace) -> None:
    figures: list[tuple[str, str]] = []
    end = (1_763_800_000 // 3600) * 3600  # a fixed clock: the same records every run
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url=os.environ.get(
            "COUPONCHAIN_DATABASE_URL"), report_interval=0.0,
                            master_secret="benchmark-master-secret")
        runtime = Runtime(settings)
        await runtime.start()
        try:
            platform = runtime.platform.caller
            merchant = await runtime.participants.create(platform, Role.MERCHANT, "Bench Shop")
            owner = await runtime.participants.caller(merchant["id"])  # its terminals' registrar
            terminal = await runtime.participants.create(owner, Role.TERMINAL, "Bench Till")
            till = await runtime.participants.authenticate(terminal["api_key"])
            number = views.merchant_number(merchant["address"])
            stream = demo_batches(number, args.records, days=args.days, end=end,
                                  batch_size=args.size, seed=7)
            columns = [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
            with Progress(*Progress.get_default_columns()[:1], *columns, console=console,
                          transient=True) as progress:
                first = min(args.ingest_records, args.records)
                task = progress.add_task("generating the timed batches", total=first)
                timed: list[list[dict[str, Any]]] = []
                while sum(map(len, timed)) < first:
                    timed.append(next(stream))
                    progress.advance(task, len(timed[-1]))
                progress.update(task, description="ingest (timed)", completed=0)
                # The first batch starts the worker processes: it is not timed.
                await _ingest_all(runtime, till, timed[:1], 1, progress, task)
                began, cpu = time.perf_counter(), _cpu_seconds(runtime)
                await _ingest_all(runtime, till, timed[1:], args.concurrency, progress, task)
                ingest_s = time.perf_counter() - began
                ingest_cpu = _cpu_seconds(runtime) - cpu
                timed_records = sum(map(len, timed[1:]))
                ingested = timed_records + len(timed[0])
                del timed
                rest = progress.add_task("generate + ingest the rest",
                                         total=args.records - ingested)
                began = time.perf_counter()
                pending: list[list[dict[str, Any]]] = []
                for batch in stream:
                    pending.append(batch)
                    if len(pending) == args.concurrency:
                        await _ingest_all(runtime, till, pending, args.concurrency, progress,
                                          rest)
                        pending = []
                await _ingest_all(runtime, till, pending, args.concurrency, progress, rest)
                rest_s = time.perf_counter() - began
            figures.append((f"ingest ({timed_records:,} records, batches of {args.size:,}, "
                            f"{args.concurrency} at a time)",
                            f"{timed_records / ingest_s:,.0f} records/s"))
            cores = os.cpu_count() or 1
            figures.append(("  CPU it took (platform, ingest workers, node)",
                            f"{ingest_cpu / timed_records * 1e6:.1f} µs per record = "
                            f"{cores * timed_records / ingest_cpu:,.0f} records/s "
                            f"on {cores} idle cores"))
            figures.append(("  load average while measuring (1 min)",
                            f"{os.getloadavg()[0]:.1f}"))
            if args.records > ingested:
                figures.append((f"generate + ingest the other {args.records - ingested:,}",
                                f"{(args.records - ingested) / rest_s:,.0f} records/s"))

            start = end - args.days * DAY
            for label, window in (("whole period", (start, end)),
                                  ("last day", (end - DAY, end))):
                times, values = await _timed(args.repeat, lambda w=window: views.indicators(
                    runtime.db, runtime.marketing.store, number, *w))
                figures.append((f"indicator set over {args.records:,} records, {label}",
                                f"{min(times):.2f} s best, {statistics.median(times):.2f} s "
                                f"median, {times[0]:.2f} s first of {len(times)}"))
                if label == "whole period":
                    summary, whole_median = values, statistics.median(times)
                if args.records <= args.check_limit:
                    await _check(runtime, number, window, values, figures)
        finally:
            await runtime.stop()
    table = Table(title=f"marketing: {args.records:,} demo records over {args.days} days "
                        f"({os.cpu_count()} cores)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures:
        table.add_row(name, value)
    console.print(table)
    console.print({str(k): v for k, v in summary.items()})
    print(f"records={args.records} ingest_records_per_s={timed_records / ingest_s:.0f} "
          f"indicators_seconds={whole_median:.2f}", flush=True)


async def _check(runtime: Runtime, number: int, window: tuple[int, int],
                 values: dict[str, object], figures: list[tuple[str, str]]) -> None:
    """Compare with the pure-Python reference over the same records."""
    store = runtime.marketing.store
    own, mixed = await views.source_batches(runtime.db, number, window[1])
    records = [r for b in own + mixed for r in store.read(b).records()]
    began = time.perf_counter()
    reference = ind.compute(records, *window, merchant=number)
    figures.append((f"  same set, Python reference ({len(records):,} records)",
                    f"{time.perf_counter() - began:.2f} s"))
    assert values == reference, "DuckDB indicators differ from the domain reference"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--ingest-records", type=int, default=1_000_000,
                        help="how many of them the ingest figure times")
    parser.add_argument("--size", type=int, default=50_000, help="records per batch")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check-limit", type=int, default=1_000_000,
                        help="compare with the Python reference up to this many records")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
