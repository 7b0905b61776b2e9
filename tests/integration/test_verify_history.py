"""`couponchain verify` on geth, the default node (Prague, so EIP-2935's history
contract keeps the last 8191 block hashes in its storage): a coupon sold more than
`--max-ancestry-blocks` blocks before the proven block has its sale block proven an
ancestor from that contract's storage in the proven state, one eth_getProof instead
of a walk over every header; a header from a fork for that block is refused. The
walk itself (Hardhat, whose account there is a stub that reverts) is
test_verify.py's, on the suite's default node.

The platform here runs its own embedded geth node (the suite's shared node is Hardhat
unless COUPONCHAIN_NODE_KIND says otherwise).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from couponchain.api.app import create_app
from couponchain.chain.event_check import (
    HISTORY_CODE_HASH,
    HISTORY_SERVE_WINDOW,
    HISTORY_STORAGE_ADDRESS,
    check_history_hashes,
    history_slot,
)
from couponchain.chain.geth import seal_pool
from couponchain.chain.verification import Outcome
from couponchain.cli.verify import prove_ancestry
from couponchain.runtime import Runtime
from tests.integration.conftest import make_settings
from tests.integration.editions_world import create_edition, open_shop
from tests.integration.verify_world import forking_node, run_verify, sell_coupons
from tests.ports import serve_app

#: Blocks sealed after the sale: more than the default walk of 256.
OLDER = 300


@pytest.fixture
async def runtime(tmp_path: Path, database_url: str) -> AsyncIterator[Runtime]:
    """The platform on its own embedded geth node (it seals on request only when it
    supervises the node itself)."""
    rt = Runtime(make_settings(tmp_path, database_url, None, node_kind="geth"))
    await rt.start()
    yield rt
    await rt.stop()


@pytest.fixture
async def api_url(runtime: Runtime) -> AsyncIterator[str]:
    async for url in serve_app(create_app(runtime, manage_runtime=False)):
        yield url


@pytest.fixture
def node_url(runtime: Runtime) -> str:
    """The runtime's geth node (overrides the suite's shared node)."""
    return runtime.rpc.url


async def _rpc(url: str, method: str, *params: Any) -> Any:
    async with httpx.AsyncClient(timeout=30) as http:
        reply = (await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                            "params": list(params)})).json()
    assert "error" not in reply, reply
    return reply["result"]


async def test_an_old_sale_block_is_proven_from_the_history_contract(
    client: httpx.AsyncClient, api_url: str, node_url: str, runtime: Runtime, tmp_path: Path,
) -> None:
    account = await _rpc(node_url, "eth_getProof", HISTORY_STORAGE_ADDRESS, [], "latest")
    assert account["codeHash"] == HISTORY_CODE_HASH  # geth keeps the EIP-2935 contract
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "AGED", 9)
    await sell_coupons(client, shop, edition, 1)
    sale_block = (await client.get("/v1/coupons/AGED-000001")).json()["block_number"]
    for _ in range(OLDER):
        await seal_pool(runtime.rpc)
    await runtime.indexer.wait_for(int(await runtime.rpc.call("eth_blockNumber"), 16))
    pinned = ("--api", api_url, "--trust-file", str(tmp_path / "trust.json"), "--registry",
              runtime.addresses["registry"])

    started = time.perf_counter()
    code, output = await run_verify("AGED-000001", "--rpc", node_url, *pinned)
    took = time.perf_counter() - started
    claims = " ".join(line.split("│")[1].strip() for line in output.splitlines()
                      if line.count("│") > 2)  # the table's first column, rows unwrapped
    assert code == 0, output
    assert f"history blocks {sale_block}–{sale_block} are ancestors of the proven block " \
        "(their hashes in the EIP-2935 history contract at block" in claims, output
    assert "parentHash chain" not in claims  # no header walk was needed
    assert "that blocks before" not in " ".join(output.split()), output
    print(f"verify, sale {OLDER}+ blocks back, from the history contract: {took:.2f} s")

    # A node that answers the sale's block with a header from a fork (its receipts and
    # time unchanged): the hash the proven state holds for that block refuses it.
    async for forking in serve_app(forking_node(node_url, hex(sale_block))):
        code, output = await run_verify("AGED-000001", "--rpc", forking, *pinned)
        failed = output.rstrip().rpartition("\n")[2]
        assert code == 1, output
        assert failed.startswith(f"NOT VERIFIED: failed: history blocks {sale_block}–") \
            and "(their hashes in the EIP-2935 history contract at block" in failed, failed


async def test_history_contract_proof_and_window(node_url: str, runtime: Runtime) -> None:
    """The contract's storage proves each block's hash at its slot, a changed header or a
    tampered storage proof is refused, and a block outside the window is left to the walk."""
    for _ in range(5):
        await seal_pool(runtime.rpc)
    head = int(await _rpc(node_url, "eth_blockNumber"), 16)
    proven = await _rpc(node_url, "eth_getBlockByNumber", hex(head), False)
    numbers = [head - 5, head - 3, head - 1]
    headers = {n: await _rpc(node_url, "eth_getBlockByNumber", hex(n), False) for n in numbers}
    answer = await _rpc(node_url, "eth_getProof", HISTORY_STORAGE_ADDRESS,
                        [history_slot(n) for n in numbers], hex(head))
    out = Outcome()
    assert check_history_hashes(out, proven, answer, headers, numbers) == numbers
    assert out.ok and len(out.verdicts) == 1, out.verdicts
    # The slot holds exactly the block's hash (EIP-2935: block n at n % 8191).
    stored = {int(e["key"], 16): int(e["value"], 16) for e in answer["storageProof"]}
    assert stored[(head - 3) % HISTORY_SERVE_WINDOW] == int(headers[head - 3]["hash"], 16)

    forked = {**headers, head - 3: {**headers[head - 3], "extraData": "0x" + b"fork".hex()}}
    out = Outcome()
    check_history_hashes(out, proven, answer, forked, numbers)
    assert [v.proven for v in out.verdicts if not v.ok] == [[head - 3]], out.verdicts
    tampered = {**answer, "storageProof": [
        {**e, "proof": [e["proof"][0][:-2] + ("00" if e["proof"][0][-2:] != "00" else "01"),
                        *e["proof"][1:]]} for e in answer["storageProof"]]}
    out = Outcome()
    check_history_hashes(out, proven, tampered, headers, numbers)
    assert not out.ok and "does not hold" in out.verdicts[0].note, out.verdicts
    # Another code at the address (Hardhat's stub): not the history contract; the walk
    # does it all.
    assert check_history_hashes(Outcome(), proven, {**answer, "codeHash": "0x" + "00" * 32},
                                headers, numbers) is None

    # Through the command's own path: nothing walked, each block proven from the contract.
    out = Outcome()
    fetched = await asyncio.to_thread(prove_ancestry, node_url, proven, numbers, out, 1)
    assert out.ok and sorted(fetched) == numbers and not out.not_proven, out.verdicts
