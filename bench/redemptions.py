"""Benchmark: single-op HTTP redemption at a fixed offered rate (open loop).

One `couponchain up` process (embedded node, throwaway data directory). A
merchant with `--terminals` terminals sells `--rate × --seconds` coupons of
one edition in bulk; then a load generator in a separate process sends one
`POST /v1/coupons/{serial}/redeem` per coupon at `--rate` requests per second,
spread over the terminals' API keys, on a fixed schedule that does not wait
for answers (a slow platform gets the next request on time all the same, as
it would from real tills). The latency of each request is from its scheduled
time to its answer, so a request the generator itself sent late counts late.
A redemption is answered once it is on chain and its outcome journaled. The
platform process's peak RSS is read from /proc.

    .venv/bin/python bench/redemptions.py [--rate 1000] [--seconds 10] [--terminals 20]
                                          [--idempotency-keys]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
import httpx
from harness import Platform, load_from_another_process, pct
from rich.console import Console
from rich.table import Table

console = Console(file=sys.stdout)
ADMIN = "redemption-bench-admin-key"
BULK_MAX = 10_000


async def _prepare(url: str, count: int, terminals: int) -> tuple[list[str], list[str]]:
    """A merchant, its terminals' API keys and `count` sold coupons' serials."""
    async with httpx.AsyncClient(base_url=url, timeout=600,
                                 headers={"authorization": f"Bearer {ADMIN}"}) as client:
        merchant = (await client.post("/v1/merchants", json={"name": "Bench Diner"})).json()
        as_merchant = {"authorization": f"Bearer {merchant['api_key']}"}
        keys = [(await client.post("/v1/terminals", json={"name": f"Till {i}"},
                                   headers=as_merchant)).json()["api_key"]
                for i in range(terminals)]
        consumer = (await client.post("/v1/consumers", json={"name": "Diner"},
                                      headers=as_merchant)).json()
        now = int(time.time())
        edition = (await client.post("/v1/editions", headers=as_merchant, json={
            "brand": "Bench Diner", "title": "Free coffee", "terms": "One coffee per coupon.",
            "prefix": "BENCH", "total_pieces": count, "price": 1,
            "valid_from": now - 60, "valid_until": now + 86_400})).json()
        serials: list[str] = []
        while len(serials) < count:
            n = min(BULK_MAX, count - len(serials))
            sold = await client.post(f"/v1/editions/{edition['id']}/sales:bulk",
                                     headers=as_merchant, json={"sales": [
                                         {"buyer": consumer["id"], "order_ref": f"B-{i}"}
                                         for i in range(len(serials), len(serials) + n)]})
            sold.raise_for_status()
            serials += [c["serial"] for c in sold.json()["coupons"]]
    return serials, keys


async def _send_all(url: str, serials: list[str], keys: list[str], rate: float,
                    idempotency_keys: bool) -> list[tuple[float, int, str]]:
    results: list[tuple[float, int, str]] = []
    connector = aiohttp.TCPConnector(limit=0)  # as many connections as requests in flight
    async with aiohttp.ClientSession(url, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        async def one(i: int, due: float) -> None:
            headers = {"authorization": f"Bearer {keys[i % len(keys)]}"}
            if idempotency_keys:  # as a till that retries would send it
                headers["idempotency-key"] = f"redeem-{serials[i]}"
            try:
                async with http.post(f"/v1/coupons/{serials[i]}/redeem",
                                     headers=headers) as response:
                    body = await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                results.append((time.perf_counter() - due, 0, repr(exc)))
                return
            detail = "" if status == 200 else body[:200].decode(errors="replace")
            results.append((time.perf_counter() - due, status, detail))

        start = time.perf_counter() + 0.5
        tasks = []
        for i in range(len(serials)):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
    return results


async def main(args: argparse.Namespace) -> None:
    count = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Path(tmp) / "data", ADMIN)
        with console.status("starting the platform (embedded node)"):
            await platform.start()
        try:
            with console.status(f"selling {count:,} coupons in bulk"):
                serials, keys = await _prepare(platform.url, count, args.terminals)
            with console.status(f"redeeming them at {args.rate:,.0f} requests/s "
                                f"from {args.terminals} terminals (load in another process)"):
                started = time.perf_counter()
                results, rss = await load_from_another_process(
                    platform, _send_all, platform.url, serials, keys, args.rate,
                    args.idempotency_keys)
                elapsed = time.perf_counter() - started - 0.5
            async with httpx.AsyncClient(base_url=platform.url, timeout=60) as client:
                edition = (await client.get("/v1/coupons/" + serials[0])).json()["edition"]
                counts = (await client.get(f"/v1/editions/{edition['id']}")).json()
            peak = platform.peak_rss_mib()
        finally:
            platform.stop()

    latencies = [r[0] for r in results if r[1] == 200]
    statuses = Counter(r[1] for r in results)
    errors = len(results) - statuses[200]
    table = Table(title=f"HTTP redemption, {os.cpu_count()} cores, embedded node")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("offered", f"{args.rate:,.0f} requests/s for {args.seconds:g} s "
                             f"({count:,} coupons, {args.terminals} terminals"
                             + (", each request with an Idempotency-Key)"
                                if args.idempotency_keys else ")"))
    table.add_row("answered 200", f"{statuses[200]:,}")
    table.add_row("errors (other status or no answer)",
                  f"{errors} {dict((k, v) for k, v in statuses.items() if k != 200)}")
    if latencies:
        table.add_row("latency p50 / p99 / max",
                      f"{pct(latencies, 0.5) * 1000:.0f} / {pct(latencies, 0.99) * 1000:.0f}"
                      f" / {max(latencies) * 1000:.0f} ms")
        table.add_row("  mean", f"{statistics.mean(latencies) * 1000:.0f} ms")
    table.add_row("redemptions per second (answered, whole run)",
                  f"{statuses[200] / elapsed:,.0f}")
    table.add_row("read models: sold / redeemed", f"{counts['sold']:,} / {counts['redeemed']:,}")
    half = len(rss) // 2
    table.add_row("platform process RSS: before the load / end / peak",
                  f"{rss[0]:,.0f} / {rss[-1]:,.0f} / {peak:,.0f} MiB")
    table.add_row("  second half of the load vs first half (flat = no growth per op)",
                  f"{statistics.mean(rss[half:]) - statistics.mean(rss[:half] or rss):+,.1f} MiB")
    console.print(table)
    failed = [r for r in results if r[1] != 200]
    if failed:
        console.print(f"first error: {failed[0][1]} {failed[0][2]}")
    p99 = pct(latencies, 0.99) * 1000 if latencies else float("nan")
    p50 = pct(latencies, 0.5) * 1000 if latencies else float("nan")
    print(f"rate={args.rate:g} requests={len(results)} ok={statuses[200]} errors={errors} "
          f"p50_ms={p50:.1f} p99_ms={p99:.1f} redeemed_per_s={statuses[200] / elapsed:.0f} "
          f"peak_rss_mib={peak:.0f} rss_growth_mib={rss[-1] - rss[0]:.1f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--terminals", type=int, default=20)
    parser.add_argument("--idempotency-keys", action="store_true",
                        help="send each redemption with an Idempotency-Key header")
    asyncio.run(main(parser.parse_args()))
