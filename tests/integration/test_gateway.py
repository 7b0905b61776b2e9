"""The gateway on the real node: group commit, exactly once, survival of a node crash."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import func, select

from couponchain.chain.gateway import Call, OpResult
from couponchain.errors import ContractRevert
from couponchain.runtime import Runtime
from couponchain.store.models import ChainEvent, ChainOp, ChainTx
from tests.integration.conftest import make_settings

AMOUNT = 7


def mint(recipient: str) -> Call:
    return Call("token", "mint_batch", item=(recipient, AMOUNT), kind="mint")


async def balances(runtime: Runtime, recipients: list[str]) -> list[int]:
    address, token = runtime.gateway.contracts["token"]
    replies = await runtime.rpc.batch([
        ("eth_call", [{"to": address, "data": "0x" + token.encode_call("balanceOf", r).hex()},
                      "latest"]) for r in recipients
    ])
    return [int(r, 16) for r in replies]


async def total_supply(runtime: Runtime) -> int:
    address, token = runtime.gateway.contracts["token"]
    data = "0x" + token.encode_call("totalSupply").hex()
    return int(await runtime.rpc.call("eth_call", {"to": address, "data": data}, "latest"), 16)


async def test_a_burst_of_one_account_lands_exactly_once_in_few_transactions(
    runtime: Runtime,
) -> None:
    platform = await runtime.participants.signer(runtime.platform.caller.id)
    recipients = [Account.create().address for _ in range(2000)]
    results = await asyncio.gather(*(
        runtime.gateway.submit(platform, mint(r), op_key=f"burst:{r}") for r in recipients
    ))
    assert len(results) == 2000
    assert await balances(runtime, recipients) == [AMOUNT] * 2000
    assert await total_supply(runtime) == AMOUNT * 2000
    async with runtime.db.session() as s:
        txs = (await s.execute(select(func.count()).select_from(ChainTx))).scalar_one()
        ops = (await s.execute(select(func.count()).select_from(ChainOp)
                               .where(ChainOp.kind == "mint"))).scalar_one()
    assert ops == 2000
    assert txs < 100, "concurrent operations of one account must share transactions"

    # Indexed exactly once each.
    await runtime.indexer.wait_for(max(r.block_number for r in results))
    async with runtime.db.session() as s:
        minted = (await s.execute(select(ChainEvent.args).where(
            ChainEvent.contract == "token", ChainEvent.event == "Transfer"))).scalars().all()
    counts = Counter(args["receiver"] if "receiver" in args else args["to"] for args in minted)
    assert all(counts[r] == 1 for r in recipients)


async def test_a_retried_operation_is_not_applied_twice(runtime: Runtime) -> None:
    platform = await runtime.participants.signer(runtime.platform.caller.id)
    recipient = Account.create().address
    first = await runtime.gateway.submit(platform, mint(recipient), op_key="once")
    again = await runtime.gateway.submit(platform, mint(recipient), op_key="once")
    assert again.tx_hash == first.tx_hash
    assert await balances(runtime, [recipient]) == [AMOUNT]


async def test_a_refused_item_fails_alone_with_the_contract_reason(runtime: Runtime) -> None:
    platform = await runtime.participants.signer(runtime.platform.caller.id)
    good = [Account.create().address for _ in range(20)]
    zero = "0x0000000000000000000000000000000000000000"
    outcomes = await asyncio.gather(
        *(runtime.gateway.submit(platform, mint(r)) for r in good[:10]),
        runtime.gateway.submit(platform, mint(zero)),
        *(runtime.gateway.submit(platform, mint(r)) for r in good[10:]),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], ContractRevert)
    assert refused[0].reason.startswith("token:") or "zero" in refused[0].reason
    assert await balances(runtime, good) == [AMOUNT] * 20


@pytest.mark.slow
async def test_acknowledged_writes_survive_a_node_crash(tmp_path: Path, database_url: str) -> None:
    """kill -9 the embedded node mid-burst: after it restarts the journal is
    replayed; every acknowledged mint is on chain exactly once."""
    runtime = Runtime(make_settings(tmp_path, database_url, rpc_url=None))
    await runtime.start()
    try:
        assert runtime.supervisor is not None
        platform = await runtime.participants.signer(runtime.platform.caller.id)
        recipients = [Account.create().address for _ in range(3000)]
        acked: list[str] = []

        async def one(r: str) -> OpResult:
            result = await runtime.gateway.submit(platform, mint(r), op_key=f"crash:{r}")
            acked.append(r)
            return result

        tasks = [asyncio.create_task(one(r)) for r in recipients[:1500]]
        while len(acked) < 300:
            await asyncio.sleep(0.005)
        runtime.supervisor.kill()
        tasks += [asyncio.create_task(one(r)) for r in recipients[1500:]]
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)

        assert runtime.supervisor.restarts >= 1
        assert sorted(acked) == sorted(recipients)
        assert await balances(runtime, recipients) == [AMOUNT] * len(recipients)
        assert await total_supply(runtime) == AMOUNT * len(recipients)
        # The read model follows the replayed chain, each mint once.
        head = int(await runtime.rpc.call("eth_blockNumber"), 16)
        await runtime.indexer.wait_for(head, timeout=60)
        async with runtime.db.session() as s:
            minted = (await s.execute(select(func.count()).select_from(ChainEvent).where(
                ChainEvent.contract == "token", ChainEvent.event == "Transfer"))).scalar_one()
        assert minted == len(recipients)
    finally:
        await runtime.stop()


@pytest.mark.slow
async def test_a_replay_keeps_block_timestamps_and_the_clock_runs_on(
    tmp_path: Path, database_url: str
) -> None:
    """Contracts read block.timestamp (validity windows), so a replayed chain must
    carry the recorded timestamps, and new blocks the real time again."""
    runtime = Runtime(make_settings(tmp_path, database_url, rpc_url=None))
    await runtime.start()
    try:
        assert runtime.supervisor is not None
        platform = await runtime.participants.signer(runtime.platform.caller.id)
        first = await runtime.gateway.submit(platform, mint(Account.create().address))
        await asyncio.sleep(2.1)
        second = await runtime.gateway.submit(platform, mint(Account.create().address))
        runtime.supervisor.kill()
        await asyncio.sleep(0.5)
        third = await runtime.gateway.submit(platform, mint(Account.create().address))
        assert runtime.gateway.reconciler.replayed_total >= 2

        async def stamp(number: int) -> int:
            block = await runtime.rpc.call("eth_getBlockByNumber", hex(number), False)
            return int(block["timestamp"], 16)

        assert await stamp(first.block_number) == first.block_timestamp
        assert await stamp(second.block_number) == second.block_timestamp
        assert second.block_timestamp - first.block_timestamp >= 2
        assert abs(third.block_timestamp - time.time()) < 5
    finally:
        await runtime.stop()


@pytest.mark.slow
async def test_after_a_replay_the_clock_keeps_the_real_time_while_the_chain_is_idle(
    tmp_path: Path, database_url: str
) -> None:
    """Regression: the replay pinned the next block to the time it finished, and the
    node then kept that block's distance from the real time: a chain left idle
    after a restart ran behind by the idle time, so expiries lapsed that late."""
    runtime = Runtime(make_settings(tmp_path, database_url, rpc_url=None))
    await runtime.start()
    try:
        assert runtime.supervisor is not None
        platform = await runtime.participants.signer(runtime.platform.caller.id)
        await runtime.gateway.submit(platform, mint(Account.create().address))
        runs = runtime.gateway.reconciler.runs
        runtime.supervisor.kill()
        deadline = time.monotonic() + 120
        while runtime.gateway.reconciler.runs == runs or (
                runtime.gateway.reconciler.last.replayed == 0):
            assert time.monotonic() < deadline, "the node was not replayed in time"
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)
        before = int(time.time())
        later = await runtime.gateway.submit(platform, mint(Account.create().address))
        assert before <= later.block_timestamp <= time.time()
    finally:
        await runtime.stop()


async def test_a_whole_batch_sent_alone_does_not_shrink_merged_batches(
    runtime: Runtime,
) -> None:
    """Regression: the gas of a call carrying a whole list in its fixed arguments was
    learned as the gas of one item, and single-item calls then went one per tx."""
    platform = await runtime.participants.signer(runtime.platform.caller.id)
    bulk = [Account.create().address for _ in range(300)]
    await runtime.gateway.submit(platform, Call("token", "mint_batch",
                                                fixed=(bulk, [AMOUNT] * 300)))
    singles = [Account.create().address for _ in range(200)]
    results = await asyncio.gather(*(runtime.gateway.submit(platform, mint(r))
                                     for r in singles))
    assert len({r.tx_hash for r in results}) < 20


async def test_operations_submitted_in_order_land_in_that_order_and_once(
    runtime: Runtime,
) -> None:
    """A bulk request's chunks go together (sharing blocks) and keep their order."""
    platform = await runtime.participants.signer(runtime.platform.caller.id)
    chunks = [[Account.create().address for _ in range(50)] for _ in range(6)]
    calls = [(Call("token", "mint_batch", fixed=(chunk, [AMOUNT] * 50)), f"ordered:{n}")
             for n, chunk in enumerate(chunks)]
    first = await runtime.gateway.submit_in_order(platform, calls)
    assert all(isinstance(r, OpResult) for r in first), first
    landed = [(r.block_number, await _tx_index(runtime, r.tx_hash))
              for r in first if isinstance(r, OpResult)]
    assert landed == sorted(landed), "chunks landed out of the order given"
    assert await balances(runtime, [a for chunk in chunks for a in chunk]) == [AMOUNT] * 300

    # A retry of the same keys answers the first outcomes and applies nothing twice,
    # also for a refused one mixed in (a list of other length cannot be minted).
    again = await runtime.gateway.submit_in_order(platform, [
        *calls, (Call("token", "mint_batch", fixed=(chunks[0], [AMOUNT])), "ordered:bad")])
    assert [r.tx_hash for r in again[:6] if isinstance(r, OpResult)] == [
        r.tx_hash for r in first if isinstance(r, OpResult)]
    assert isinstance(again[6], ContractRevert)
    assert await total_supply_of(runtime, chunks) == AMOUNT * 300


async def _tx_index(runtime: Runtime, tx_hash: str) -> int:
    receipt = await runtime.rpc.call("eth_getTransactionReceipt", tx_hash)
    return int(receipt["transactionIndex"], 16)


async def total_supply_of(runtime: Runtime, chunks: list[list[str]]) -> int:
    return sum(await balances(runtime, [a for chunk in chunks for a in chunk]))
