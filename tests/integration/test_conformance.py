"""One conformance suite over every embedded node kind the platform runs.

The platform starts the node itself (`COUPONCHAIN_RPC_URL` unset), so each kind's
own paths are taken: Hardhat's outcomes from send replies and replays with
`evm_setNextBlockTimestamp`, geth's receipts, state kept on disk and blocks sealed
again with `testing_commitBlockV1`. Covered: deployment, the five capabilities'
happy paths (the demo story), a contract revert, a storage proof checked as
`couponchain verify` checks it, the events in the read models, a `kill -9` of the
node, and a restart of the whole platform on the same data. The rest of the
integration suite runs on the default kind (geth) through the session's node.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from couponchain.api.app import create_app
from couponchain.chain.coupon_check import Trusted, check_coupon
from couponchain.chain.gateway import Call
from couponchain.cli.verify import _editions_layout
from couponchain.config import Settings
from couponchain.errors import ContractRevert
from couponchain.runtime import Runtime
from couponchain.services import demo
from tests.integration.conftest import MASTER

KINDS = ["geth", "hardhat"]


def _settings(tmp_path: Path, kind: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", node_kind=kind, rpc_url=None,
                    database_url=f"sqlite+aiosqlite:///{tmp_path / 'couponchain.db'}",
                    master_secret=MASTER, admin_key="test-admin-key", dev_mode=True)


async def _client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime, manage_runtime=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                 headers={"authorization": "Bearer test-admin-key"}) as c:
        yield c


async def _story(client: httpx.AsyncClient, told: dict[str, Any]) -> tuple[Any, ...]:
    """What the read models say about the demo's five stories."""
    round_ = (await client.get(f"/v1/promotion-rounds/{told['promotions']['round_id']}")).json()
    edition = (await client.get(f"/v1/editions/{told['editions']['edition_id']}")).json()
    product = (await client.get(f"/v1/products/{told['referrals']['product_id']}")).json()
    return (round_["written_off"], edition["sold"], edition["redeemed"],
            product["current_batch"], sum(b["sold"] for b in product["batches"]))


async def _proof_holds(runtime: Runtime, client: httpx.AsyncClient) -> None:
    proof = (await client.get("/v1/coupons/MOON26-000001/proof")).json()
    coupon = (await client.get("/v1/coupons/MOON26-000001")).json()
    block, head = await runtime.rpc.batch([
        ("eth_getBlockByNumber", [proof["block"]["number"], False]), ("eth_blockNumber", [])])
    outcome = check_coupon("MOON26-000001", proof, coupon, _editions_layout(), Trusted(
        chain_id=runtime.chain_id, registry=runtime.addresses["registry"],
        node_chain_id=runtime.chain_id, head=int(head, 16), block=block))
    assert outcome.verdicts and outcome.ok, [v for v in outcome.verdicts if not v.ok]


@pytest.mark.parametrize("kind", KINDS)
async def test_the_platform_runs_on_each_node_kind(tmp_path: Path, kind: str) -> None:
    runtime = Runtime(_settings(tmp_path, kind))
    await runtime.start()
    try:
        assert runtime.supervisor is not None and runtime.supervisor.kind == kind
        async for client in _client(runtime):
            seeded = await demo.seed(runtime)
            told = {
                "promotions": await demo.seed_promotions(runtime, seeded),
                "editions": await demo.seed_editions(runtime, seeded),
                "referrals": await demo.seed_referrals(runtime, seeded),
                "prizes": await demo.seed_prizes(runtime, seeded),
                "marketing": await demo.seed_marketing(runtime, seeded),
            }
            assert all(story["created"] for story in told.values()), told
            await runtime.indexer.wait_for(int(await runtime.rpc.call("eth_blockNumber"), 16))
            story = await _story(client, told)
            assert story == (40, 65, 10, 3, 26)
            await _proof_holds(runtime, client)

            # A revert: only the token's owner mints; the contract's reason comes back.
            stranger = Account.create()
            with pytest.raises(ContractRevert):
                await runtime.gateway.submit(
                    stranger, Call("token", "mint_batch", item=(stranger.address, 1)))

            # kill -9 of the node: supervised back up, reconciled, writes answered.
            platform = await runtime.participants.signer(runtime.platform.caller.id)
            runtime.supervisor.kill()
            mint = Call("token", "mint_batch", item=(Account.create().address, 3))
            landed = await asyncio.wait_for(runtime.gateway.submit(platform, mint), 120)
            await runtime.indexer.wait_for(landed.block_number, 60)
            assert await _story(client, told) == story
            await _proof_holds(runtime, client)
            if kind == "geth":  # its chain survives: no read model is rebuilt
                assert runtime.indexer.rewinds == 0
    finally:
        await runtime.stop()

    # The whole platform again, on the same data.
    again = Runtime(_settings(tmp_path, kind))
    await again.start()
    try:
        replayed = again.gateway.reconciler.last.replayed
        if kind == "geth":  # stopped cleanly: it lacks nothing
            assert replayed == 0
        else:  # a Hardhat node keeps nothing: the journal is replayed
            assert replayed > 0
        async for client in _client(again):
            await again.indexer.wait_for(int(await again.rpc.call("eth_blockNumber"), 16), 60)
            assert await _story(client, told) == story
            await _proof_holds(again, client)
            if kind == "geth":
                assert again.indexer.rewinds == 0
    finally:
        await again.stop()


async def test_a_chain_charging_a_base_fee_is_refused_in_one_line(tmp_path: Path) -> None:
    """Against a chain with a base fee (anvil's default is 1 gwei) `couponchain up` used
    to loop on "max fee per gas less than block base fee"; it now stops at once."""
    import json
    import subprocess

    from couponchain.chain import geth
    from couponchain.chain.node import NodeSupervisor, node_dir
    from couponchain.errors import ConfigurationError

    binary = geth.geth_binary(node_dir())
    datadir = tmp_path / "node" / "geth"
    datadir.mkdir(parents=True)
    genesis = geth._genesis(binary, 31337, None)
    genesis["baseFeePerGas"] = hex(10**9)
    (datadir / "genesis.json").write_text(json.dumps(genesis))
    subprocess.run([binary, "--datadir", str(datadir), *geth._STORAGE, "init",
                    str(datadir / "genesis.json")], check=True, capture_output=True)
    node = NodeSupervisor(tmp_path / "node", kind="geth")  # keeps the chain it finds
    url = await node.start()
    try:
        settings = _settings(tmp_path, "geth").model_copy(update={"rpc_url": url})
        runtime = Runtime(settings)
        try:
            with pytest.raises(ConfigurationError) as refused:
                await asyncio.wait_for(runtime.start(), 60)
        finally:
            await runtime.stop()
    finally:
        await node.stop()
    message = str(refused.value)
    assert "\n" not in message
    # 1 gwei at genesis, less after the empty block geth seals as it starts.
    fee = re.search(r"base fee of (\d+) wei", message)
    assert fee and 0 < int(fee.group(1)) <= 10**9 and "COUPONCHAIN_RPC_URL" in message


async def test_blocks_sealed_again_are_the_same_blocks_and_keep_the_read_models(
    tmp_path: Path,
) -> None:
    """geth lost its last block (as a kill -9 could make it): the reconciler seals the
    journaled transactions again at their time. The gateway seals every block with
    fixed attributes (no random beacon value), so the block comes back identical,
    hash included, and the indexer has nothing to rewind."""
    runtime = Runtime(_settings(tmp_path, "geth"))
    await runtime.start()
    try:
        platform = await runtime.participants.signer(runtime.platform.caller.id)
        holder = Account.create().address
        mined = await runtime.gateway.submit(
            platform, Call("token", "mint_batch", item=(holder, 5)))
        await runtime.indexer.wait_for(mined.block_number)
        before = await runtime.rpc.call("eth_getBlockByNumber", hex(mined.block_number), False)

        await runtime.rpc.call("debug_setHead", hex(mined.block_number - 1))
        assert await _block_or_none(runtime, mined.block_number) is None  # really lost
        await runtime.gateway.recover()
        deadline = asyncio.get_running_loop().time() + 60
        while (after := await _block_or_none(runtime, mined.block_number)) is None:
            assert asyncio.get_running_loop().time() < deadline, "not sealed again in time"
            await asyncio.sleep(0.2)
        assert after == before
        later = await runtime.gateway.submit(platform, Call("token", "mint_batch",
                                                            item=(holder, 2)))
        await runtime.indexer.wait_for(later.block_number)
        assert runtime.indexer.rewinds == 0 and runtime.indexer.rehashed == 0
        assert await runtime.view("token", "balanceOf", holder) == 7
    finally:
        await runtime.stop()


async def _block_or_none(runtime: Runtime, number: int) -> dict[str, Any] | None:
    try:
        block = await runtime.rpc.call("eth_getBlockByNumber", hex(number), False)
    except Exception:  # the node restarting after the replay
        return None
    return block if isinstance(block, dict) else None
