"""Benchmark: the gateway's group-committed path against the naive web3.py path.

Same embedded node, same run, same operation (mint credit tokens to a new
account). An operation counts only once it is journaled, on chain (receipt) and
indexed into SQL.

    .venv/bin/python bench/gateway.py [--ops 20000] [--naive-ops 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from eth_account import Account
from harness import embedded_runtime
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from web3 import Web3

from couponchain.chain.gateway import Call
from couponchain.runtime import Runtime

console = Console()


def naive(runtime: Runtime, signer, ops: int) -> float:  # noqa: ANN001
    """One web3.py transaction per operation, each receipt awaited."""
    w3 = Web3(Web3.HTTPProvider(runtime.rpc.url))
    address, code = runtime.gateway.contracts["token"]
    token = w3.eth.contract(address=address, abi=code.abi)
    nonce = w3.eth.get_transaction_count(signer.address, "pending")
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("naive web3.py path", total=ops)
        for i in range(ops):
            tx = token.functions.mint_batch([Account.create().address], [1]).build_transaction({
                "from": signer.address, "nonce": nonce + i, "chainId": runtime.chain_id,
                "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "gas": 200_000,
            })
            tx_hash = w3.eth.send_raw_transaction(signer.sign_transaction(tx).raw_transaction)
            w3.eth.wait_for_transaction_receipt(tx_hash)
            progress.advance(task)
    return ops / (time.perf_counter() - started)


async def grouped(runtime: Runtime, signer, ops: int) -> tuple[float, float]:  # noqa: ANN001
    """All operations submitted concurrently: (acknowledged ops/s, indexed ops/s).

    Acknowledged means journaled and on chain (what the API waits for); indexed
    means in the SQL read models too."""
    recipients = ["0x" + os.urandom(20).hex() for _ in range(ops)]
    started = time.perf_counter()
    done = 0
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("gateway group commit", total=ops)

        async def one(r: str) -> int:
            nonlocal done
            result = await runtime.gateway.submit(
                signer, Call("token", "mint_batch", item=(r, 1), kind="mint"))
            done += 1
            if done % 500 == 0:
                progress.update(task, completed=done)
            return result.block_number

        blocks = await asyncio.gather(*(one(r) for r in recipients))
        acked = time.perf_counter()
        await runtime.indexer.wait_for(max(blocks), timeout=600)
    indexed = time.perf_counter()
    return ops / (acked - started), ops / (indexed - started)


async def _watchdog(seconds: float) -> None:
    """If the run takes far longer than it should, show where every task waits."""
    await asyncio.sleep(seconds)
    console.print(f"[red]no result after {seconds:.0f} s; the tasks and where they wait:")
    for task in asyncio.all_tasks():
        task.print_stack(limit=12, file=sys.stderr)
    os._exit(3)


async def main(ops: int, naive_ops: int) -> None:
    watchdog = asyncio.create_task(_watchdog(120 + ops / 200))
    async with embedded_runtime() as runtime:
        signer = await runtime.participants.signer(runtime.platform.caller.id)
        naive_rate = await asyncio.to_thread(naive, runtime, signer, naive_ops)
        await runtime.gateway.recover()  # the naive path used the key behind its back
        await grouped(runtime, signer, 1000)  # warm up: learn batch sizes
        acked_rate, grouped_rate = await grouped(runtime, signer, ops)
    watchdog.cancel()
    table = Table(title=f"chain gateway, {os.cpu_count()} cores, "
                        f"embedded {runtime.settings.node_kind}")
    table.add_column("path")
    table.add_column("operations", justify="right")
    table.add_column("ops/s (journaled, on chain, indexed)", justify="right")
    table.add_row("naive: one web3.py tx per op, receipt awaited", str(naive_ops),
                  f"{naive_rate:,.0f}")
    table.add_row("gateway: group commit + batched JSON-RPC", str(ops), f"{grouped_rate:,.0f}")
    table.add_row("  (gateway, acknowledged but not yet indexed)", str(ops), f"{acked_rate:,.0f}")
    table.add_row("ratio", "", f"{grouped_rate / naive_rate:,.0f}x")
    console.print(table)
    print(f"naive_ops_per_s={naive_rate:.0f} gateway_ops_per_s={grouped_rate:.0f} "
          f"gateway_acked_ops_per_s={acked_rate:.0f} "
          f"ratio={grouped_rate / naive_rate:.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--naive-ops", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.ops, args.naive_ops))
