"""Crash campaign: kill -9 the API process and the chain node at random points of a
mixed load; count acknowledged operations lost or applied twice.

One `couponchain up` process (embedded node, its own data directory). Clients
create consumers, sell coupons of a limited edition and redeem them, every
write with an Idempotency-Key, retrying on connection errors and 5xx as a
real client would, while this script kills the API process (`--api-kills`
times; its node dies with it) or only its node (`--node-kills` times; the
platform's supervisor restarts it and replays the journal) at random moments.
At the end every acknowledged operation must be on chain exactly once: the
chain's own logs (read straight from the node) are counted per operation, the
edition's counters are read from the contract, and the read models served by
the API must say the same.

    .venv/bin/python bench/crash.py [--api-kills 50] [--node-kills 20] [--workers 12]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from harness import Platform
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from couponchain.chain import contracts
from couponchain.config import DEFAULT_NODE_KIND

console = Console(file=sys.stdout)
ADMIN = "crash-campaign-admin-key"


class Load:
    """Clients doing a mix of writes with idempotency keys, retrying until answered."""

    def __init__(self, client: httpx.AsyncClient, edition_id: int, merchant: dict[str, Any],
                 terminal: dict[str, Any]) -> None:
        self.client = client
        self.edition_id = edition_id
        self.merchant = merchant
        self.terminal = terminal
        self.acked: dict[str, dict[str, Any]] = {}  # idempotency key -> answer
        self.requests: dict[str, tuple[str, dict[str, Any], dict[str, str]]] = {}
        self.kinds: Counter[str] = Counter()
        self.retries = 0
        self.refused: list[str] = []
        self.running = True
        self._n = 0
        #: When each acknowledgement arrived (monotonic seconds), to time recoveries.
        self.acked_at: list[float] = []

    async def _write(self, key: str, path: str, body: dict[str, Any],
                     who: dict[str, Any] | None = None) -> dict[str, Any] | None:
        headers = {"Idempotency-Key": key}
        if who is not None:
            headers["authorization"] = f"Bearer {who['api_key']}"
        while True:
            try:
                answer = await self.client.post(path, json=body, headers=headers)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code < 500:
                break
            self.retries += 1
            await asyncio.sleep(0.3)
        if answer.status_code >= 300:
            self.refused.append(f"{path} {answer.status_code} {answer.text[:200]}")
            return None
        self.acked[key] = answer.json()
        self.acked_at.append(time.monotonic())
        self.requests[key] = (path, body, headers)
        return answer.json()  # type: ignore[no-any-return]

    async def client_loop(self, worker: int) -> None:
        while self.running:
            self._n += 1
            n = self._n
            consumer = await self._write(f"consumer-{n}", "/v1/consumers",
                                         {"name": f"Crash {n}"})
            if consumer is None:
                continue
            self.kinds["consumer created"] += 1
            sale = await self._write(f"sale-{n}", f"/v1/editions/{self.edition_id}/sales",
                                     {"buyer": consumer["id"], "channel": "offline",
                                      "order_ref": f"crash-{n}"}, self.terminal)
            if sale is None:
                continue
            self.kinds["coupon sold"] += 1
            if n % 2:
                serial = sale["coupon"]["serial"]
                if await self._write(f"redeem-{n}", f"/v1/coupons/{serial}/redeem", {},
                                     self.terminal) is not None:
                    self.kinds["coupon redeemed"] += 1


async def _logs(rpc: str, address: str, topic: bytes) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=120) as http:
        reply = (await http.post(rpc, json={
            "jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{
                "fromBlock": "0x0", "toBlock": "latest", "address": address,
                "topics": ["0x" + topic.hex()]}]})).json()
    return reply["result"]  # type: ignore[no-any-return]


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _topic(contract: str, event: str) -> bytes:
    compiled = contracts.load(contract)
    return next(spec.topic for spec in compiled.events.values() if spec.name == event)


async def main(args: argparse.Namespace) -> None:
    random.seed(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        platform = Platform(Path(tmp) / "data", ADMIN)
        restarts: list[float] = [await platform.start()]
        try:
            async with httpx.AsyncClient(base_url=platform.url, timeout=120, headers={
                    "authorization": f"Bearer {ADMIN}"}) as client:
                merchant = (await client.post("/v1/merchants", json={"name": "Crash Books"},
                                              headers={"Idempotency-Key": "m"})).json()
                terminal = (await client.post(
                    "/v1/terminals", json={"name": "Till"}, headers={
                        "Idempotency-Key": "t", "authorization": f"Bearer {merchant['api_key']}"
                    })).json()
                now = int(time.time())
                created = await client.post("/v1/editions", headers={
                    "Idempotency-Key": "e", "authorization": f"Bearer {merchant['api_key']}"},
                    json={"brand": "Crash Books", "title": "Crash edition",
                          "terms": "Sold while the platform is being killed.",
                          "prefix": "CRASH", "total_pieces": 1_000_000, "price": 1,
                          "valid_from": _iso(now - 60), "valid_until": _iso(now + 86_400)})
                assert created.status_code == 201, created.text
                edition = created.json()
                load = Load(client, edition["id"], merchant, terminal)
                clients = [asyncio.create_task(load.client_loop(w)) for w in range(args.workers)]
                kills = ["api"] * args.api_kills + ["node"] * args.node_kills
                node_kills: list[float] = []
                all_kills: list[float] = []  # when each kill of either kind was made
                random.shuffle(kills)
                with Progress(console=console, transient=True) as progress:
                    task = progress.add_task("killing at random points of the load",
                                             total=len(kills))
                    for kind in kills:
                        await asyncio.sleep(random.uniform(args.min_gap, args.max_gap))
                        if kind == "api":
                            all_kills.append(time.monotonic())
                            platform.kill()
                            restarts.append(await platform.start())
                        else:
                            pid = platform.node_pid()
                            if pid is not None:
                                os.kill(pid, signal.SIGKILL)
                                node_kills.append(time.monotonic())
                                all_kills.append(node_kills[-1])
                        progress.advance(task)
                    await asyncio.sleep(args.max_gap)  # load after the last kill
                    load.running = False
                    await asyncio.wait_for(asyncio.gather(*clients), timeout=600)
                # Retrying acknowledged keys (every kind) must give back the same answer.
                changed, resent = 0, random.sample(sorted(load.acked),
                                                   min(300, len(load.acked)))
                for key in resent:
                    path, body, headers = load.requests[key]
                    again = await client.post(path, json=body, headers=headers)
                    if again.json() != load.acked[key]:
                        changed += 1
                        console.print(f"retry of {key} answered differently: {again.text[:300]}")
                edition_now = (await client.get(f"/v1/editions/{edition['id']}")).json()
                health = (await client.get("/v1/health")).json()
            addresses = health["contracts"]
            sold = await _logs(platform.rpc_url, addresses["editions"],
                               _topic("editions", "CouponSold"))
            redeemed = await _logs(platform.rpc_url, addresses["editions"],
                                   _topic("editions", "CouponRedeemed"))
            registered = await _logs(platform.rpc_url, addresses["registry"],
                                     _topic("registry", "ParticipantRegistered"))
        finally:
            platform.stop()

    acked_sales = [a["coupon"]["coupon_id"] for k, a in load.acked.items()
                   if k.startswith("sale-")]
    acked_consumers = {a["address"].lower() for k, a in load.acked.items()
                       if k.startswith("consumer-")}
    per_coupon = Counter(int(entry["topics"][2], 16) for entry in sold)
    per_redeemed = Counter(int(entry["topics"][2], 16) for entry in redeemed)
    per_account = Counter("0x" + entry["topics"][1][-40:] for entry in registered)
    acked_redeemed = [load.acked[k]["coupon"]["coupon_id"] for k in load.acked
                      if k.startswith("redeem-")]
    lost = (sum(per_coupon[c] == 0 for c in acked_sales)
            + sum(per_account[a] == 0 for a in acked_consumers)
            + sum(per_redeemed[c] == 0 for c in acked_redeemed))
    doubled = (sum(n > 1 for n in per_coupon.values()) + sum(n > 1 for n in per_account.values())
               + sum(n > 1 for n in per_redeemed.values()))
    extra_sales = len(per_coupon) - len(set(acked_sales))
    agrees = (edition_now["sold"], edition_now["redeemed"]) == (len(per_coupon),
                                                                len(per_redeemed))
    # Writes answered again after a kill of the node alone: the first acknowledgement
    # more than 50 ms after the kill (one already answered by then was sent before).
    # Only kills with no other kill before that answer count: a kill made while the
    # platform still recovers from the previous one would add both recoveries.
    answered_again = []
    for k in node_kills:
        answer = next((a for a in load.acked_at if a > k + 0.05), None)
        if answer is not None and not any(k < other < answer for other in all_kills):
            answered_again.append(answer - k)
    answered_again.sort()
    node_kind = os.environ.get("COUPONCHAIN_NODE_KIND", DEFAULT_NODE_KIND)
    table = Table(title=f"crash campaign, {os.cpu_count()} cores, embedded node ({node_kind})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("kill -9 of the API process (its node with it)", f"{args.api_kills}")
    table.add_row("kill -9 of the chain node alone", f"{args.node_kills}")
    for kind, count in sorted(load.kinds.items()):
        table.add_row(f"acknowledged: {kind}", f"{count:,}")
    table.add_row("client retries (connection lost or 5xx)", f"{load.retries:,}")
    table.add_row("refused with a 4xx", f"{len(load.refused)}")
    table.add_row("acknowledged but not on chain (lost)", f"{lost}")
    table.add_row("on chain more than once (doubled)", f"{doubled}")
    table.add_row("sales on chain nobody was told of (unacknowledged, applied)",
                  f"{extra_sales}")
    table.add_row(f"acknowledged keys sent again: answered differently (of {len(resent)})",
                  f"{changed}")
    table.add_row("read models = chain (edition sold / redeemed)",
                  f"{'yes' if agrees else 'NO'} ({edition_now['sold']} / "
                  f"{edition_now['redeemed']})")
    table.add_row("restart to READY, median / max",
                  f"{sorted(restarts)[len(restarts) // 2]:.1f} / {max(restarts):.1f} s")
    if answered_again:
        table.add_row(f"node kill to the next write answered, median / max "
                      f"({len(answered_again)} of {len(node_kills)} kills, the others "
                      "followed by another kill first)",
                      f"{answered_again[len(answered_again) // 2]:.1f} / "
                      f"{max(answered_again):.1f} s")
    console.print(table)
    if load.refused:
        console.print(f"first refusal: {load.refused[0]}")
    print(f"api_kills={args.api_kills} node_kills={args.node_kills} "
          f"acked={len(load.acked)} lost={lost} doubled={doubled} changed={changed} "
          f"read_models_agree={agrees}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-kills", type=int, default=50)
    parser.add_argument("--node-kills", type=int, default=20)
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument("--min-gap", type=float, default=0.5,
                        help="least seconds of load between two kills")
    parser.add_argument("--max-gap", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
