"""Benchmark: limited-edition sales (bulk and group-committed single sales) and `verify` latency.

One embedded default node in a temp dir, one run. A sale counts only once it
is journaled, on chain and indexed into SQL (both service calls wait for the
indexer before they return).

`verify` is timed against the API served by uvicorn on 127.0.0.1 from this
process, two ways, one verification after another:

- in-process (the figure the target applies to): the CLI command run by
  click's CliRunner in a thread of this process, as the integration tests do,
  from the call to its exit. It includes the HTTP request for the proof and the
  API's work to answer it (read models, `eth_getProof` and the block from the
  node), the proof checks, printing the table and (with --rpc) the trusted
  node's block lookup; it does not include starting Python or importing the
  modules (warmed up by one run first).
- as a command: `couponchain verify` in a fresh Python process each time, from
  spawning it to its exit, so Python's start-up and the imports are in it;
  Python's start-up alone (`python -c pass`) is timed and shown beside it.

    .venv/bin/python bench/editions.py [--bulk-requests 10] [--bulk-size 1000]
        [--singles 3000] [--in-flight 1000] [--verifications 50]
        [--process-verifications 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvicorn
from click.testing import CliRunner
from harness import embedded_runtime, participant, pct
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from couponchain.api.app import create_app
from couponchain.cli import main as cli
from couponchain.domain.roles import Role
from couponchain.runtime import Runtime
from couponchain.services.editions import CHUNK, Sale, serial_text
from couponchain.services.participants import Caller

# Bound to the real stdout now: CliRunner swaps sys.stdout while `verify` runs.
console = Console(file=sys.stdout)


def _buyer() -> str:
    return "0x" + os.urandom(20).hex()


async def _edition(runtime: Runtime, merchant: Caller, prefix: str, cap: int) -> int:
    now = int(time.time())
    created = await runtime.editions.create(
        merchant,
        {
            "brand": "Bench Coffee",
            "title": f"{prefix} benchmark edition",
            "terms": "One coffee per coupon. Benchmark edition.",
            "prefix": prefix,
            "cap": cap,
            "price": 300,
            "valid_from": now - 3600,
            "valid_until": now + 30 * 86400,
        },
        None,
    )
    return int(created["id"])


async def bulk(
    runtime: Runtime, seller: Caller, edition_id: int, requests: int, size: int
) -> tuple[float, list[float]]:
    """`requests` sequential sales:bulk calls of `size` sales: (sales/s, seconds per request)."""
    per_request: list[float] = []
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"sales:bulk, {requests} x {size:,}", total=requests * size)
        for r in range(requests):
            sales = [Sale(_buyer(), None, "online", f"B-{r}-{i}") for i in range(size)]
            t0 = time.perf_counter()
            done = await runtime.editions.sell_many(seller, edition_id, sales, None)
            per_request.append(time.perf_counter() - t0)
            assert done["recorded"] == size, done["recorded"]
            # sell_many already waited for this block; kept explicit for the reader.
            await runtime.indexer.wait_for(done["block_number"], timeout=600)
            progress.advance(task, size)
    return requests * size / (time.perf_counter() - started), per_request


async def singles(
    runtime: Runtime, seller: Caller, edition_id: int, count: int, label: str, in_flight: int = 0
) -> tuple[float, int]:
    """`count` concurrent single-sale calls, at most `in_flight` at a time (0: all at
    once): (sales/s, transactions used)."""
    done = 0
    gate = asyncio.Semaphore(in_flight or count)
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=count)

        async def one(i: int) -> tuple[int, str]:
            nonlocal done
            async with gate:
                result = await runtime.editions.sell(
                    seller, edition_id, Sale(_buyer(), None, "offline", f"S-{label}-{i}"), None
                )
            done += 1
            if done % 100 == 0:
                progress.update(task, completed=done)
            return result["block_number"], result["tx_hash"]

        results = await asyncio.gather(*(one(i) for i in range(count)))
        # every sell() waited for its own block; wait for the last one once more
        await runtime.indexer.wait_for(max(b for b, _ in results), timeout=600)
    return count / (time.perf_counter() - started), len({tx for _, tx in results})


#: `verify` saves the registry it trusts on first use; the benchmark keeps its own file.
_TRUST = ["--trust-file", str(Path(tempfile.gettempdir()) / "couponchain-bench-trust.json")]


def _verify_ok(code: int, output: str, rpc: str | None) -> bool:
    """Exit 0 (VERIFIED) with a node; exit 3 (NOT ANCHORED, nothing failed) without."""
    return code == (0 if rpc else 3) and "NOT VERIFIED" not in output


def _verify_once(api: str, serial: str, rpc: str | None) -> float:
    args = ["verify", serial, "--api", api, *_TRUST] + (["--rpc", rpc] if rpc else [])
    t0 = time.perf_counter()
    result = CliRunner().invoke(cli, args)
    elapsed = time.perf_counter() - t0
    if not _verify_ok(result.exit_code, result.output, rpc):
        raise RuntimeError(f"verify {serial} failed ({result.exit_code}): {result.output}")
    return elapsed


def _command() -> list[str]:
    """How a user runs the CLI: the venv's `couponchain` script (or `python -m`)."""
    script = Path(sys.executable).parent / "couponchain"
    return [str(script)] if script.exists() else [sys.executable, "-m", "couponchain.cli"]


def _verify_process(api: str, serial: str, rpc: str | None) -> float:
    args = [*_command(), "verify", serial, "--api", api, *_TRUST] + (
        ["--rpc", rpc] if rpc else [])
    t0 = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if not _verify_ok(result.returncode, result.stdout, rpc):
        raise RuntimeError(f"verify {serial} failed ({result.returncode}): "
                           f"{result.stdout}{result.stderr}")
    return elapsed


def _python_startup() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


async def verify_latency(
    runtime: Runtime, serials: list[str], rpc: str | None, label: str,
    process_serials: list[str],
) -> tuple[list[float], list[float], list[float]]:
    """Seconds per `couponchain verify`, one after another, against a live HTTP server:
    in-process, as a fresh process, and Python's start-up alone."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime, manage_runtime=False),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
        await asyncio.sleep(0.02)
    api = f"http://127.0.0.1:{port}"
    times: list[float] = []
    process_times: list[float] = []
    startup: list[float] = []
    try:
        await asyncio.to_thread(_verify_once, api, serials[0], rpc)  # warm up (imports, layout)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(label, total=len(serials) + 2 * len(process_serials))
            for serial in serials:
                times.append(await asyncio.to_thread(_verify_once, api, serial, rpc))
                progress.advance(task)
            for serial in process_serials:
                process_times.append(await asyncio.to_thread(_verify_process, api, serial, rpc))
                startup.append(await asyncio.to_thread(_python_startup))
                progress.advance(task, 2)
    finally:
        server.should_exit = True
        await serving
    return times, process_times, startup


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    async with embedded_runtime() as runtime:
        with console.status("creating a merchant, a terminal and two editions"):
            platform = runtime.platform.caller
            merchant = await participant(runtime, platform, Role.MERCHANT, "Bench Coffee")
            terminal = await participant(runtime, merchant, Role.TERMINAL, "Bench POS 1")
            bulk_total = args.bulk_requests * args.bulk_size
            bulk_id = await _edition(runtime, merchant, "BULK", bulk_total + args.warmup)
            single_id = await _edition(runtime, merchant, "ONE", args.singles + args.warmup)
        # warm up both paths (compiled calls, connection pools, batch sizing)
        await runtime.editions.sell_many(
            merchant,
            bulk_id,
            [Sale(_buyer(), None, "online", f"W-{i}") for i in range(args.warmup)],
            None,
        )
        await singles(runtime, terminal, single_id, args.warmup, "warm-up single sales")

        bulk_rate, per_request = await bulk(
            runtime, merchant, bulk_id, args.bulk_requests, args.bulk_size
        )
        single_rate, single_txs = await singles(
            runtime,
            terminal,
            single_id,
            args.singles,
            f"{args.singles:,} concurrent single sales",
            args.in_flight,
        )

        edition_counts = [(await runtime.editions.get(i))["sold"] for i in (bulk_id, single_id)]
        assert edition_counts == [bulk_total + args.warmup, args.singles + args.warmup], (
            edition_counts
        )
        pool = [serial_text("BULK", n) for n in range(1, edition_counts[0] + 1)] + [
            serial_text("ONE", n) for n in range(1, edition_counts[1] + 1)
        ]
        serials = rng.sample(pool, min(args.verifications, len(pool)))
        process_serials = serials[: args.process_verifications]
        plain, plain_process, startup = await verify_latency(
            runtime, serials, None, f"couponchain verify x {len(serials)}", process_serials
        )
        anchored, anchored_process, startup_rpc = await verify_latency(
            runtime, serials, runtime.rpc.url, f"couponchain verify --rpc x {len(serials)}",
            process_serials,
        )
        startup += startup_rpc

    load = os.getloadavg()[0]
    table = Table(
        title=f"limited editions, {os.cpu_count()} cores, embedded "
        f"{runtime.settings.node_kind} (load avg {load:.1f} at the end)"
    )
    table.add_column("measure")
    table.add_column("size", justify="right")
    table.add_column("result (journaled, on chain, indexed)", justify="right")
    table.add_row(
        "sales:bulk (EditionService.sell_many: one reservation, then chunks of "
        f"{CHUNK}), sequential requests",
        f"{args.bulk_requests} x {args.bulk_size:,}",
        f"{bulk_rate:,.0f} sales/s",
    )
    table.add_row(
        "  seconds per bulk request, median", "", f"{statistics.median(per_request):.2f} s"
    )
    table.add_row(
        "concurrent single sales (EditionService.sell), group commit, "
        f"{args.in_flight or args.singles:,} in flight",
        f"{args.singles:,}",
        f"{single_rate:,.0f} sales/s",
    )
    table.add_row("  transactions the single sales shared", "", f"{single_txs:,}")
    # The embedded node's eth_getProof takes longer the more the contract stores
    # (about 8 ms at 2,000 coupons, 50 ms at 20,000), so the verify rows say how many.
    table.add_row(f"  coupons in the editions contract when verifying: {sum(edition_counts):,}",
                  "", "")
    for label, times in (
        ("couponchain verify in-process (HTTP proof + checks), p50 / p95", plain),
        ("couponchain verify --rpc in-process (header anchored), p50 / p95", anchored),
        ("couponchain verify as a command (fresh process), p50 / p95", plain_process),
        ("couponchain verify --rpc as a command (fresh process), p50 / p95", anchored_process),
        ("  of which Python start-up (python -c pass), p50 / p95", startup),
    ):
        if times:
            table.add_row(label, str(len(times)),
                          f"{pct(times, 0.5) * 1000:,.0f} / {pct(times, 0.95) * 1000:,.0f} ms")
    console.print(table)
    print(
        f"bulk_sales_per_s={bulk_rate:.0f} single_sales_per_s={single_rate:.0f} "
        f"single_sale_txs={single_txs} "
        f"verify_p50_ms={pct(plain, 0.5) * 1000:.1f} verify_p95_ms={pct(plain, 0.95) * 1000:.1f} "
        f"verify_rpc_p50_ms={pct(anchored, 0.5) * 1000:.1f} "
        f"verify_rpc_p95_ms={pct(anchored, 0.95) * 1000:.1f} coupons={sum(edition_counts)}"
        + (f" verify_process_p50_ms={pct(plain_process, 0.5) * 1000:.1f}"
           f" verify_rpc_process_p50_ms={pct(anchored_process, 0.5) * 1000:.1f}"
           f" python_startup_p50_ms={pct(startup, 0.5) * 1000:.1f}" if startup else ""),
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bulk-requests", type=int, default=10)
    parser.add_argument("--bulk-size", type=int, default=1000, help="sales per request (≤ 10,000)")
    parser.add_argument(
        "--singles", type=int, default=3000, help="single-sale requests, issued concurrently"
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=1000,
        help="most single-sale requests in flight at once (0: all at once; "
        "5,000 at once currently ends in 'database is locked' on SQLite)",
    )
    parser.add_argument("--verifications", type=int, default=50)
    parser.add_argument("--process-verifications", type=int, default=20,
                        help="of those, how many are also run as a fresh process (0: none)")
    parser.add_argument(
        "--warmup", type=int, default=200, help="sales per path before measuring (not counted)"
    )
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
