"""Benchmark: how long the journal takes to replay into a node that lost its state.

Builds a journal of --txs transactions (each one operation, so the journal is as
long as it can be for its size), kills the embedded node, and times the
reconciler's replay until the node holds everything again.

    .venv/bin/python bench/replay.py [--txs 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from harness import embedded_runtime
from rich.console import Console
from rich.progress import Progress

from couponchain.chain.gateway import Call

console = Console()


async def main(txs: int) -> None:
    # No waiting for companions: every operation becomes its own transaction.
    async with embedded_runtime(batch_wait_ms=0) as runtime:
        signer = await runtime.participants.signer(runtime.platform.caller.id)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("writing the journal", total=txs)
            for _ in range(txs):
                await runtime.gateway.submit(signer, Call(
                    "token", "mint_batch", item=("0x" + os.urandom(20).hex(), 1)))
                progress.advance(task)
        head = int(await runtime.rpc.call("eth_blockNumber"), 16)
        assert runtime.supervisor is not None
        before = runtime.gateway.reconciler.replayed_total
        started = time.perf_counter()
        runtime.supervisor.kill()
        while runtime.gateway.reconciler.replayed_total == before:
            await asyncio.sleep(0.01)
        seconds = time.perf_counter() - started
        replayed = runtime.gateway.reconciler.replayed_total - before
        assert int(await runtime.rpc.call("eth_blockNumber"), 16) == head
    console.print(f"replayed {replayed} journaled transactions (chain head {head}) in "
                  f"{seconds:.1f} s, node restart included: {replayed / seconds:,.0f} tx/s")
    print(f"replay_txs={replayed} replay_seconds={seconds:.2f} "
          f"replay_tx_per_s={replayed / seconds:.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--txs", type=int, default=3000)
    asyncio.run(main(parser.parse_args().txs))
