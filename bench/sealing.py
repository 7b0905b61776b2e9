"""Benchmark: how the embedded node turns writes into blocks, and the chain's clock.

On geth (the embedded default) the gateway seals one block per window with
`testing_commitBlockV1` and holds a window while the chain's clock is more than
`MAX_AHEAD` seconds ahead of the wall clock (see `couponchain.chain.gateway`). This
runs three loads through the real gateway of a fresh platform and prints, for each:
writes, seconds, writes a second, latency p50/p99, blocks used, and how far the
chain's clock was ahead of the wall clock at the end.

- `sequential`: one write at a time, each waiting for the previous (a script, a
  person clicking): bound by a block a second once the allowance is spent;
- `burst`: `--burst` writes at once;
- `steady`: `--rate` writes a second for `--seconds` seconds.

    .venv/bin/python bench/sealing.py                       # geth, the default
    COUPONCHAIN_NODE_KIND=hardhat .venv/bin/python bench/sealing.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from couponchain.chain.gateway import Call
from couponchain.config import Settings
from couponchain.runtime import Runtime


def _settings(data: Path) -> Settings:
    return Settings(data_dir=data, rpc_url=None, master_secret="sealing-bench-master-secret",
                    admin_key="sealing-bench-admin-key", dev_mode=True,
                    distribute_interval=0, report_interval=0)


async def _head(runtime: Runtime) -> tuple[int, int]:
    block = await runtime.rpc.call("eth_getBlockByNumber", "latest", False)
    return int(block["number"], 16), int(block["timestamp"], 16)


async def _run(runtime: Runtime, name: str, writes: list[tuple[LocalAccount, float]],
               sequential: bool) -> None:
    """Each write mints one token to a fresh address from its account, at its offset
    (seconds from the start); prints one line of figures."""
    first, _ = await _head(runtime)
    latencies: list[float] = []
    started = time.perf_counter()

    async def write(signer: LocalAccount, at: float) -> None:
        await asyncio.sleep(max(0.0, at - (time.perf_counter() - started)))
        sent = time.perf_counter()
        await runtime.gateway.submit(signer, Call("token", "mint_batch",
                                                  item=(Account.create().address, 1)))
        latencies.append(time.perf_counter() - sent)

    if sequential:
        for signer, _ in writes:
            await write(signer, 0.0)
    else:
        await asyncio.gather(*(write(signer, at) for signer, at in writes))
    elapsed = time.perf_counter() - started
    last, stamp = await _head(runtime)
    latencies.sort()
    print(f"{name}: writes={len(writes)} seconds={elapsed:.1f} "
          f"writes_per_s={len(writes) / elapsed:.1f} "
          f"p50_ms={statistics.median(latencies) * 1000:.0f} "
          f"p99_ms={latencies[int(len(latencies) * 0.99) - 1] * 1000:.0f} "
          f"blocks={last - first} chain_ahead_s={stamp - time.time():.1f} "
          f"(load avg {os.getloadavg()[0]:.1f})", flush=True)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(_settings(Path(tmp) / "data"))
        await runtime.start()
        try:
            # The token's minter is the platform; the writes come from the platform's
            # account (one nonce sequence, as most platform writes do).
            platform = await runtime.participants.signer(runtime.platform.caller.id)
            print(f"node: {runtime.settings.node_kind}", flush=True)
            await _run(runtime, "sequential", [(platform, 0.0)] * args.sequential, True)
            await asyncio.sleep(3)  # let the wall clock pass the chain's again
            await _run(runtime, "burst", [(platform, 0.0)] * args.burst, False)
            await asyncio.sleep(3)
            steady = [(platform, n / args.rate) for n in range(int(args.rate * args.seconds))]
            await _run(runtime, "steady", steady, False)
        finally:
            await runtime.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequential", type=int, default=30)
    parser.add_argument("--burst", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    asyncio.run(main(parser.parse_args()))
