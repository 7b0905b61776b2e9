"""Benchmark: the ledger at a size, on one embedded node kind (issue 21's curves).

Fills one limited edition with `--coupons` coupons sold in bulk (10,000 a request;
with `--single`, each sale its own transaction, sent 2,000 at a time through the
gateway), then measures, on the node the platform started itself:

- `eth_getProof` of the edition contract for one coupon's slots, p50 over samples;
- `verify` in process: the API's proof for a coupon (`/v1/coupons/{serial}/proof`,
  read models + `eth_getProof` + the block) and its checks, p50;
- the node's RSS (VmRSS of its process) and its data directory's size on disk;
- a full restart of the platform on the same data (stop, start until it answers
  writes) and the transactions it replayed;
- a `kill -9` of the node alone: seconds until a write is answered again, and of
  those, until the restarted node answered (the rest: reconciliation and sealing).

One size and kind a run; run it per point of a curve:

    COUPONCHAIN_NODE_KIND=geth .venv/bin/python bench/ledger.py --coupons 10000
    COUPONCHAIN_NODE_KIND=hardhat .venv/bin/python bench/ledger.py --coupons 100000
    .venv/bin/python bench/ledger.py --coupons 100000 --single
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_utils import keccak
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress

from couponchain.api.app import create_app
from couponchain.chain.coupon_check import Trusted, check_coupon
from couponchain.chain.gateway import Call
from couponchain.cli.verify import _editions_layout
from couponchain.config import Settings
from couponchain.runtime import Runtime

ADMIN = "ledger-bench-admin-key"
PER_REQUEST = 10_000
#: Single-sale transactions in flight at once with --single.
WAVE = 2_000


def _settings(data: Path) -> Settings:
    return Settings(data_dir=data, rpc_url=None, master_secret="ledger-bench-master-secret",
                    admin_key=ADMIN, dev_mode=True, distribute_interval=0, report_interval=0)


def _rss_mib(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _du_mib(path: Path) -> float:
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / 1024


async def _fill(runtime: Runtime, client: httpx.AsyncClient, coupons: int,
                single: bool) -> tuple[int, str]:
    merchant = (await client.post("/v1/merchants", json={"name": "Ledger"})).json()
    auth = {"authorization": f"Bearer {merchant['api_key']}"}
    buyer = (await client.post("/v1/consumers", json={"name": "Bulk"}, headers=auth)).json()
    now = int(time.time())
    edition = (await client.post("/v1/editions", headers=auth, json={
        "brand": "Ledger", "title": "Curve", "terms": "Benchmark coupons.", "prefix": "LDG",
        "total_pieces": coupons, "price": 1,
        "valid_from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600)),
        "valid_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 30 * 86400)),
    })).json()
    if single:
        await _fill_single(runtime, merchant["id"], edition["id"], buyer["address"], coupons)
        return int(edition["id"]), str(edition["prefix"])
    sold = 0
    with _progress() as progress:
        task = progress.add_task("bulk sales", total=coupons)
        while sold < coupons:
            n = min(PER_REQUEST, coupons - sold)
            sales = [{"buyer": buyer["address"], "order_ref": f"L-{sold + i}"} for i in range(n)]
            done = await client.post(f"/v1/editions/{edition['id']}/sales:bulk",
                                     json={"sales": sales}, headers=auth, timeout=3600)
            assert done.status_code == 201, done.text
            sold += n
            progress.update(task, completed=sold)
    return int(edition["id"]), str(edition["prefix"])


async def _fill_single(runtime: Runtime, merchant_id: str, edition_id: int, buyer: str,
                       coupons: int) -> None:
    """Each sale its own transaction (the node's worst case: a block's and a
    transaction's overhead per coupon), in waves that share blocks."""
    signer = await runtime.participants.signer(merchant_id)
    sold = 0
    with _progress() as progress:
        task = progress.add_task("single-sale transactions", total=coupons)
        while sold < coupons:
            n = min(WAVE, coupons - sold)
            await asyncio.gather(*(runtime.gateway.submit(signer, Call(
                "editions", "record_sales",
                fixed=(edition_id, [buyer], [1], [0], [keccak(text=f"S-{sold + i}")])))
                for i in range(n)))
            sold += n
            progress.update(task, completed=sold)
    head = int(await runtime.rpc.call("eth_blockNumber"), 16)
    await runtime.indexer.wait_for(head, timeout=3600)


def _progress() -> Progress:
    return Progress(*Progress.get_default_columns(), MofNCompleteColumn(),
                    console=Console(stderr=True))


async def _verify_p50(runtime: Runtime, client: httpx.AsyncClient, prefix: str, coupons: int,
                      samples: int) -> tuple[float, float]:
    layout = _editions_layout()
    getproof, verify = [], []
    address, _code = runtime.gateway.contracts["editions"]
    for serial_no in random.sample(range(1, coupons + 1), min(samples, coupons)):
        started = time.perf_counter()
        serial = f"{prefix}-{serial_no:06d}"
        proof = (await client.get(f"/v1/coupons/{serial}/proof")).json()
        coupon = (await client.get(f"/v1/coupons/{serial}")).json()
        block, head = await runtime.rpc.batch([
            ("eth_getBlockByNumber", [proof["block"]["number"], False]), ("eth_blockNumber", [])])
        trusted = Trusted(chain_id=runtime.chain_id, registry=runtime.addresses["registry"],
                          node_chain_id=runtime.chain_id, head=int(head, 16), block=block)
        assert check_coupon(serial, proof, coupon, layout, trusted).ok
        verify.append(time.perf_counter() - started)
        slots = [entry["slot"] for entry in proof["storage"]]  # as the API asks for them
        started = time.perf_counter()
        await runtime.rpc.call("eth_getProof", address, slots, "latest")
        getproof.append(time.perf_counter() - started)
    return statistics.median(getproof) * 1000, statistics.median(verify) * 1000


async def _kill_to_write(runtime: Runtime, platform: Any) -> tuple[float, float]:
    """Seconds from a kill -9 of the node until a write is answered again, and until
    the restarted node answered (the rest is reconciliation, indexing and sealing)."""
    supervisor = runtime.supervisor
    assert supervisor is not None
    restarts = supervisor.restarts
    supervisor.kill()
    started = time.perf_counter()

    async def node_answers() -> float:
        while supervisor.restarts == restarts:
            await asyncio.sleep(0.01)
        return time.perf_counter() - started

    watch = asyncio.create_task(node_answers())
    await runtime.gateway.submit(platform, Call("token", "mint_batch",
                                                item=(Account.create().address, 1)))
    return time.perf_counter() - started, await watch


async def main(args: argparse.Namespace) -> None:
    random.seed(1)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        data = Path(tmp) / "data"
        runtime = Runtime(_settings(data))
        await runtime.start()
        kind = runtime.settings.node_kind
        transport = httpx.ASGITransport(app=create_app(runtime, manage_runtime=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     headers={"authorization": f"Bearer {ADMIN}"}) as client:
            started = time.perf_counter()
            _edition_id, prefix = await _fill(runtime, client, args.coupons, args.single)
            fill = time.perf_counter() - started
            getproof, verify = await _verify_p50(runtime, client, prefix, args.coupons,
                                                 args.samples)
        assert runtime.supervisor is not None
        rss = _rss_mib(runtime.supervisor.pid)
        disk = _du_mib(data / "node")
        platform = await runtime.participants.signer(runtime.platform.caller.id)
        after_kill, node_back = await _kill_to_write(runtime, platform)
        await runtime.stop()
        started = time.perf_counter()
        again = Runtime(_settings(data))
        await again.start()
        restart = time.perf_counter() - started
        replayed = again.gateway.reconciler.last.replayed
        await again.stop()
    print(f"kind={kind} coupons={args.coupons} single={args.single} fill_s={fill:.1f} "
          f"getproof_p50_ms={getproof:.1f} "
          f"verify_p50_ms={verify:.1f} node_rss_mib={rss:.0f} node_disk_mib={disk:.0f} "
          f"disk_per_coupon_b={disk * 1024 * 1024 / args.coupons:.0f} "
          f"kill9_to_write_s={after_kill:.1f} (node answering after {node_back:.1f}) "
          f"restart_s={restart:.1f} replayed={replayed} "
          f"(load avg {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coupons", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--single", action="store_true",
                        help="each sale its own transaction instead of bulk requests")
    parser.add_argument("--tmp", default=None, help="where the data directory goes")
    asyncio.run(main(parser.parse_args()))
