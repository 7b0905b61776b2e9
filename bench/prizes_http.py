"""Benchmark: prize scan→claim over HTTP at 200 concurrent terminals, load from another process.

One `couponchain up` process (embedded node, throwaway data directory): a
merchant, `--terminals` terminals, `--consumers` consumers, one campaign and
`--terminals × --claims-per-terminal` awards, all made through the API. Then
a load generator in a separate process runs the terminals: each serves a
customer every `--interval` seconds (starting at a random phase): the
customer's phone fetches a fresh rotating code (`GET /v1/prize-awards/{id}/code`,
the QR image included, as the phone page does), the terminal scans it
(`POST /v1/prize-scans`) and confirms the claim (`POST /v1/prize-claims`).
The latency is from the scan request to the claim's answer, as the person at
the till waits for it; the phone's fetch is not in it (the phone shows its
code before the customer reaches the till). `bench/prizes.py` measures the
same service in-process, without HTTP.

    .venv/bin/python bench/prizes_http.py [--terminals 200] [--claims-per-terminal 5]
                                          [--interval 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from harness import Platform, load_from_another_process, pct
from rich.console import Console
from rich.table import Table

console = Console(file=sys.stdout)
ADMIN = "prize-bench-admin-key"


async def _prepare(url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Participants, a campaign and its awards, made through the API."""
    claims = args.terminals * args.claims_per_terminal
    async with httpx.AsyncClient(base_url=url, timeout=600,
                                 headers={"authorization": f"Bearer {ADMIN}"}) as client:
        async def made(response: httpx.Response) -> dict[str, Any]:
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

        async def post(path: str, body: Any, headers: dict[str, str] | None = None,
                       ) -> dict[str, Any]:
            return await made(await client.post(path, json=body, headers=headers))

        merchant = await post("/v1/merchants", {"name": "Bench Arcade"})
        as_merchant = {"authorization": f"Bearer {merchant['api_key']}"}
        terminals = await asyncio.gather(*[
            post("/v1/terminals", {"name": f"Gate {i}"}, as_merchant)
            for i in range(args.terminals)])
        consumers = await asyncio.gather(*[
            post("/v1/consumers", {"name": f"Player {i}"}, as_merchant)
            for i in range(args.consumers)])
        ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86_400))
        campaign = await post("/v1/prize-campaigns", {
            "title": "Bench prizes", "prizes": [{"name": "Plush toy", "quantity": claims}],
            "all_terminals": True, "ends_at": ends, "per_consumer_limit": claims}, as_merchant)
        owners = [consumers[i % len(consumers)] for i in range(claims)]
        awarded = await post(f"/v1/prize-campaigns/{campaign['id']}/awards",
                             {"awards": [{"consumer": c["id"]} for c in owners]}, as_merchant)
    return {"campaign": campaign["id"],
            "terminals": [t["api_key"] for t in terminals],
            "awards": [(a["id"], owners[i]["api_key"])
                       for i, a in enumerate(awarded["awards"])]}


async def _terminals(url: str, world: dict[str, Any], interval: float) -> dict[str, Any]:
    latencies: list[float] = []
    scans: list[float] = []
    failures: list[str] = []
    terminals = world["terminals"]
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=120)) as http:
        async def call(method: str, path: str, key: str, body: Any = None) -> Any:
            async with http.request(method, path, json=body,
                                    headers={"authorization": f"Bearer {key}"}) as response:
                if response.status >= 300:
                    raise RuntimeError(f"{method} {path}: {response.status} "
                                       f"{(await response.text())[:200]}")
                return await response.json()

        async def terminal(t: int) -> None:
            mine = world["awards"][t::len(terminals)]
            due = time.perf_counter() + random.uniform(0, interval)
            for award_id, phone_key in mine:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                due += interval
                try:
                    code = (await call("GET", f"/v1/prize-awards/{award_id}/code",
                                       phone_key))["code"]
                    t0 = time.perf_counter()
                    scan = await call("POST", "/v1/prize-scans", terminals[t], {"code": code})
                    scans.append(time.perf_counter() - t0)
                    await call("POST", "/v1/prize-claims", terminals[t],
                               {"scan_id": scan["scan_id"]})
                    latencies.append(time.perf_counter() - t0)
                except (RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
                    failures.append(str(exc))

        started = time.perf_counter()
        await asyncio.gather(*[terminal(t) for t in range(len(terminals))])
        elapsed = time.perf_counter() - started
    return {"latencies": latencies, "scans": scans, "failures": failures, "elapsed": elapsed}


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Path(tmp) / "data", ADMIN)
        with console.status("starting the platform (embedded node)"):
            await platform.start()
        try:
            with console.status(f"a merchant, {args.terminals} terminals, "
                                f"{args.terminals * args.claims_per_terminal:,} awards"):
                world = await _prepare(platform.url, args)
            with console.status(f"{args.terminals} terminals scanning and claiming "
                                "(load in another process)"):
                run, rss = await load_from_another_process(
                    platform, _terminals, platform.url, world, args.interval)
            async with httpx.AsyncClient(base_url=platform.url, timeout=60) as client:
                # Every claim on chain and indexed: the campaign's count catches up.
                deadline = time.monotonic() + 300
                while True:
                    campaign = (await client.get(
                        f"/v1/prize-campaigns/{world['campaign']}")).json()
                    if campaign["claimed"] >= len(run["latencies"]) \
                            or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.5)
            peak = platform.peak_rss_mib()
        finally:
            platform.stop()

    latencies, scans = run["latencies"], run["scans"]
    rate = len(latencies) / run["elapsed"]
    table = Table(title=f"prize scan→claim over HTTP, {os.cpu_count()} cores, embedded node")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("concurrent terminals", f"{args.terminals}, a customer every "
                  f"{args.interval:g} s each ({args.terminals / args.interval:,.0f}/s offered)")
    table.add_row("claims acknowledged", f"{len(latencies):,}")
    table.add_row("claims on chain and indexed (campaign count)", f"{campaign['claimed']:,}")
    table.add_row("failed fetches, scans or claims", f"{len(run['failures'])}")
    if latencies:
        table.add_row("scan→claim latency p50 / p99 / max",
                      f"{pct(latencies, 0.5) * 1000:.0f} / {pct(latencies, 0.99) * 1000:.0f}"
                      f" / {max(latencies) * 1000:.0f} ms")
        table.add_row("  mean", f"{statistics.mean(latencies) * 1000:.0f} ms")
        table.add_row("  of which the scan, p50 / p99",
                      f"{pct(scans, 0.5) * 1000:.0f} / {pct(scans, 0.99) * 1000:.0f} ms")
    table.add_row("claims per second", f"{rate:,.1f}")
    table.add_row("platform process RSS: before / after / peak",
                  f"{rss[0]:,.0f} / {rss[-1]:,.0f} / {peak:,.0f} MiB")
    half = len(rss) // 2
    growth = statistics.mean(rss[half:]) - statistics.mean(rss[:half] or rss)
    table.add_row("  mean RSS, second half of the run minus first half (flat: no growth "
                  "per claim)", f"{growth:+,.1f} MiB")
    console.print(table)
    if run["failures"]:
        console.print(f"first failure: {run['failures'][0]}")
    p50 = pct(latencies, 0.5) * 1000 if latencies else float("nan")
    p99 = pct(latencies, 0.99) * 1000 if latencies else float("nan")
    print(f"terminals={args.terminals} claims={len(latencies)} failures={len(run['failures'])} "
          f"p50_ms={p50:.1f} p99_ms={p99:.1f} claims_per_s={rate:.1f} "
          f"interval_s={args.interval} peak_rss_mib={peak:.0f} "
          f"rss_half_growth_mib={growth:.1f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=200)
    parser.add_argument("--claims-per-terminal", type=int, default=5)
    parser.add_argument("--consumers", type=int, default=200)
    parser.add_argument("--interval", type=float, default=5.0,
                        help="seconds between one terminal's customers")
    asyncio.run(main(parser.parse_args()))
