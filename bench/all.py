"""Every benchmark figure in one table: figure, value, target, met?

Runs each benchmark script under `bench/` in its own process (one embedded
node each, one after the other, so they do not share the two cores), reads
the `key=value` line each prints last, and prints the table with the
machine's core count and each run's peak RSS.

    .venv/bin/python bench/all.py            # everything (about 25 minutes here)
    .venv/bin/python bench/all.py --only prizes gateway
"""

from __future__ import annotations

import argparse
import operator
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console(file=sys.stdout)
BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Figure:
    """One row: which run measures it, under which key, and its target if any."""

    label: str
    run: str
    key: str
    unit: str
    target: tuple[Callable[[float, float], bool], float] | None = None

    def met(self, value: float) -> str:
        if self.target is None:
            return "reported"
        compare, bound = self.target
        return "yes" if compare(value, bound) else "NO"

    def target_text(self) -> str:
        if self.target is None:
            return ""
        compare, bound = self.target
        return f"{'≥' if compare is operator.ge else '≤'} {bound:,g} {self.unit}"


#: One command per run; several figures may come from one run.
RUNS: dict[str, list[str]] = {
    "gateway": ["gateway.py", "--ops", "20000", "--naive-ops", "200"],
    "editions": ["editions.py", "--bulk-requests", "5", "--verifications", "50"],
    "promotions": ["promotions.py", "--write-offs", "2000"],
    "referrals": ["referrals.py", "--holders", "10", "10000", "--purchases", "400"],
    "prizes": ["prizes.py", "--terminals", "200", "--claims-per-terminal", "5",
               "--interval", "5"],
    "prizes_http": ["prizes_http.py", "--terminals", "200", "--claims-per-terminal", "5",
                    "--interval", "5"],
    "redemptions": ["redemptions.py", "--rate", "1000", "--seconds", "5"],
    "replay": ["replay.py", "--txs", "3000"],
    "marketing": ["marketing.py"],
    "indexer": ["indexer.py", "--runs", "2"],
    "mixed": ["mixed.py", "--coupons", "1000000"],
}

FIGURES = [
    Figure("gateway: one account's mints, journaled, on chain, indexed", "gateway",
           "gateway_ops_per_s", "ops/s"),
    Figure("gateway ÷ naive path (one web3.py transaction per op)", "gateway", "ratio", "×",
           (operator.ge, 500)),
    Figure("edition sales through sales:bulk", "editions", "bulk_sales_per_s", "sales/s"),
    Figure("edition sales as concurrent single requests", "editions", "single_sales_per_s",
           "sales/s"),
    Figure("couponchain verify of one coupon, p50 (in-process: no Python start-up)", "editions",
           "verify_p50_ms", "ms", (operator.le, 20)),
    Figure("couponchain verify as a command (fresh process), p50", "editions",
           "verify_process_p50_ms", "ms"),
    Figure("  of which Python start-up (python -c pass), p50", "editions",
           "python_startup_p50_ms", "ms"),
    Figure("promotion write-offs with consent, 4 terminals", "promotions", "write_offs_per_s",
           "write-offs/s"),
    Figure("referral purchases through links, 40 buyers", "referrals", "purchases_per_s",
           "purchases/s"),
    Figure("prize scan→claim p50, 200 terminals each scanning every 5 s, in-process",
           "prizes", "p50_ms", "ms"),
    Figure("prize scan→claim p99, 200 terminals each scanning every 5 s, in-process",
           "prizes", "p99_ms", "ms", (operator.le, 100)),
    Figure("prize claims acknowledged", "prizes", "claims_per_s", "claims/s"),
    Figure("prize scan→claim p50, the same over HTTP (load in another process)",
           "prizes_http", "p50_ms", "ms"),
    Figure("prize scan→claim p99, the same over HTTP (load in another process)",
           "prizes_http", "p99_ms", "ms", (operator.le, 100)),
    Figure("  platform process peak RSS", "prizes_http", "peak_rss_mib", "MiB"),
    Figure("single-op HTTP redemption at 1,000 req/s offered, p99", "redemptions", "p99_ms",
           "ms", (operator.le, 150)),
    Figure("  errors (non-200 or no answer)", "redemptions", "errors", "",
           (operator.le, 0)),
    Figure("  redemptions answered per second", "redemptions", "redeemed_per_s", "/s"),
    Figure("  platform RSS growth over the load", "redemptions", "rss_growth_mib", "MiB"),
    Figure("journal replay into a restarted node", "replay", "replay_tx_per_s", "tx/s"),
    Figure("access-log ingest", "marketing", "ingest_records_per_s", "records/s",
           (operator.ge, 100_000)),
    Figure("full indicator set over the generated records", "marketing", "indicators_seconds",
           "s", (operator.le, 3)),
    Figure("indexer catch-up over a pre-filled chain (210,000 events), fresh database",
           "indexer", "indexer_events_per_s", "events/s", (operator.ge, 50_000)),
    Figure("  the node's eth_getLogs alone over the same blocks", "indexer", "node_logs_per_s",
           "logs/s"),
    Figure("read models rebuilt from the stored events (a rewind)", "indexer",
           "rebuild_events_per_s", "events/s"),
    Figure("mixed ops (sales, redemptions, write-offs) on a 10,000-coupon ledger", "mixed",
           "mixed_ops_per_s_10k", "ops/s"),
    Figure("mixed ops on a 1,000,000-coupon ledger", "mixed", "mixed_ops_per_s_1m", "ops/s",
           (operator.ge, 20_000)),
    Figure("  the same mix on the naive path (one web3.py transaction per op)", "mixed",
           "naive_ops_per_s", "ops/s"),
    Figure("  mixed (1 M) ÷ naive", "mixed", "ratio", "×", (operator.ge, 500)),
    Figure("  the node alone executing the mix, at most (eth_call of full batches), 10 k",
           "mixed", "node_ceiling_ops_per_s_10k", "ops/s"),
    Figure("  the node alone executing the mix, at most, 1 M", "mixed",
           "node_ceiling_ops_per_s_1m", "ops/s"),
    Figure("  the same mix through the service methods, 1 M ledger", "mixed",
           "service_ops_per_s_1m", "ops/s"),
    Figure("  embedded node's peak RSS", "mixed", "node_peak_rss_mib", "MiB"),
]



def run(name: str) -> tuple[dict[str, float], float, float]:
    """Run one benchmark; returns its key=value figures, seconds and peak RSS (MiB)."""
    command = [sys.executable, str(BENCH / RUNS[name][0]), *RUNS[name][1:]]
    console.rule(f"[bold]{name}[/bold]: {' '.join(command[1:])}")
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    last = ""
    for line in proc.stdout:
        sys.stdout.write(line)
        if "=" in line and " " not in line.strip().split("=", 1)[0]:
            last = line
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        console.print(f"[red]{name} exited with {proc.returncode}[/red]")
    figures = {}
    for pair in last.split():
        key, _, value = pair.partition("=")
        try:
            figures[key] = float(value)
        except ValueError:
            continue
    return figures, seconds, usage.ru_maxrss / 1024


def main(args: argparse.Namespace) -> None:
    names = args.only or list(RUNS)
    unknown = set(names) - set(RUNS)
    if unknown:
        raise SystemExit(f"unknown run: {', '.join(sorted(unknown))} (runs: {', '.join(RUNS)})")
    results = {name: run(name) for name in names}
    table = Table(title=f"CouponChain figures, {os.cpu_count()} cores, load average "
                        f"{os.getloadavg()[0]:.1f} at the end")
    for column in ("figure", "value", "target", "met?", "run (peak RSS)"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for figure in FIGURES:
        if figure.run not in results:
            continue
        figures, seconds, rss = results[figure.run]
        value = figures.get(figure.key)
        shown = "not printed" if value is None else f"{value:,.1f} {figure.unit}"
        table.add_row(figure.label, shown, figure.target_text(),
                      "?" if value is None else figure.met(value),
                      f"{figure.run}, {seconds:.0f} s ({rss:,.0f} MiB)")
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", metavar="RUN", help=f"some of: {', '.join(RUNS)}")
    main(parser.parse_args())
