"""The embedded EVM node: supervision (start, crash restart, stop, parent death) for
every node kind, and the chain rules the gateway relies on (zero fees, ordered
batches, timestamps, what survives a crash)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from couponchain.chain.geth import seal_attributes, seal_pool
from couponchain.chain.node import NodeSupervisor, node_dir
from couponchain.chain.rpc import RpcClient
from couponchain.errors import ConfigurationError


async def rpc(http: httpx.AsyncClient, url: str, method: str, *params: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    reply = (await http.post(url, json=body)).json()
    assert "error" not in reply, reply
    return reply["result"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it no longer runs.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


async def eventually(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # One client per test: creating one costs about 30 ms.
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


#: The embedded kinds this machine runs (anvil is not installed by scripts/setup).
KINDS = ["geth", "hardhat"]


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[NodeSupervisor]:
    """A Hardhat node: the tests using it check Hardhat's own rules."""
    supervisor = NodeSupervisor(tmp_path / "data", kind="hardhat")
    await supervisor.start()
    try:
        yield supervisor
    finally:
        await supervisor.stop()


@pytest.fixture
async def geth(tmp_path: Path) -> AsyncIterator[NodeSupervisor]:
    supervisor = NodeSupervisor(tmp_path / "data", kind="geth")
    await supervisor.start()
    try:
        yield supervisor
    finally:
        await supervisor.stop()


def test_the_node_kind_setting_picks_the_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COUPONCHAIN_NODE_KIND", raising=False)
    assert NodeSupervisor(tmp_path).kind == "geth"  # the embedded default
    monkeypatch.setenv("COUPONCHAIN_NODE_KIND", "hardhat")
    assert NodeSupervisor(tmp_path).kind == "hardhat"


@pytest.mark.parametrize("kind", KINDS)
async def test_node_restarts_on_the_same_url_after_a_crash(
    tmp_path: Path, http: httpx.AsyncClient, kind: str
) -> None:
    supervisor = NodeSupervisor(tmp_path / "data", kind=kind)
    restarted = asyncio.Event()

    async def on_restart() -> None:
        restarted.set()

    supervisor.on_restart(on_restart)
    url = await supervisor.start()
    try:
        assert url == supervisor.url
        assert url.startswith("http://127.0.0.1:")
        assert await rpc(http, url, "eth_chainId") == hex(31337)
        # A fresh chain: geth's own sealer seals one empty block as it starts (and
        # never again: see couponchain.chain.geth).
        assert int(await rpc(http, url, "eth_blockNumber"), 16) <= (kind == "geth")
        first_pid = supervisor.pid
        assert first_pid is not None and alive(first_pid)

        supervisor.kill()
        await asyncio.wait_for(restarted.wait(), 60)

        assert supervisor.restarts == 1
        assert supervisor.url == url
        assert supervisor.pid not in (None, first_pid)
        assert not alive(first_pid)
        assert await rpc(http, url, "eth_chainId") == hex(31337)
    finally:
        last_pid = supervisor.pid
        await supervisor.stop()
    assert supervisor.pid is None
    assert last_pid is not None and not alive(last_pid)
    assert (tmp_path / "data" / f"{kind}-node.log").stat().st_size > 0


@pytest.mark.parametrize("kind", KINDS)
async def test_chain_id_and_port_come_from_the_arguments(
    tmp_path: Path, http: httpx.AsyncClient, kind: str
) -> None:
    supervisor = NodeSupervisor(tmp_path / "data", kind=kind, chain_id=1337)
    await supervisor.start()
    try:
        assert await rpc(http, supervisor.url, "eth_chainId") == hex(1337)
        port = int(supervisor.url.rsplit(":", 1)[1])
    finally:
        await supervisor.stop()

    again = NodeSupervisor(tmp_path / "data", kind=kind, chain_id=1337, port=port)
    await again.start()
    try:
        assert again.url == f"http://127.0.0.1:{port}"
        assert await rpc(http, again.url, "eth_chainId") == hex(1337)
    finally:
        await again.stop()


@pytest.mark.parametrize("kind", KINDS)
async def test_node_dies_with_its_parent_even_on_kill_9(tmp_path: Path, kind: str) -> None:
    script = textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        from couponchain.chain.node import NodeSupervisor

        async def main():
            supervisor = NodeSupervisor(Path({str(tmp_path / "data")!r}), kind={kind!r})
            await supervisor.start()
            print(supervisor.pid, flush=True)
            await asyncio.sleep(300)

        asyncio.run(main())
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        node_pid = int(await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), 90))
        assert alive(node_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        await eventually(lambda: not alive(node_pid), timeout=15)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


@pytest.mark.parametrize("kind", KINDS)
async def test_missing_install_names_the_setup_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setenv("COUPONCHAIN_NODE_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no geth on PATH either
    supervisor = NodeSupervisor(tmp_path / "data", kind=kind)
    with pytest.raises(ConfigurationError, match="embedded node not installed: run scripts/setup"):
        await supervisor.start()
    assert supervisor.pid is None


def test_unknown_node_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="geth, hardhat, anvil"):
        NodeSupervisor(tmp_path, kind="besu")


def _signed(account: Any, nonce: int, chain_id: int = 31337) -> str:
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": account.address,
        "value": 0,
        "gas": 21_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
    }
    return "0x" + account.sign_transaction(tx).raw_transaction.hex()


async def test_unfunded_account_sends_zero_fee_transactions(
    node: NodeSupervisor, http: httpx.AsyncClient
) -> None:
    account = Account.create()
    assert await rpc(http, node.url, "eth_getBalance", account.address, "latest") == "0x0"
    tx_hash = await rpc(http, node.url, "eth_sendRawTransaction", _signed(account, 0))
    receipt = await rpc(http, node.url, "eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1"
    assert int(receipt["effectiveGasPrice"], 16) == 0
    block = await rpc(http, node.url, "eth_getBlockByNumber", "latest", False)
    assert int(block["baseFeePerGas"], 16) == 0


async def test_batch_runs_in_order_one_block_per_transaction(
    node: NodeSupervisor, http: httpx.AsyncClient
) -> None:
    account = Account.create()
    head = await rpc(http, node.url, "eth_getBlockByNumber", "latest", False)
    start = int(head["timestamp"], 16)
    # Repeated timestamps need allowBlocksWithSameTimestamp; order needs the
    # serialised batch handling in node/hardhat.config.js.
    # Each timestamp twice; 20 transactions make a reordering show up every time.
    stamps = [start + 10 + i // 2 for i in range(20)]
    body = []
    for nonce, stamp in enumerate(stamps):
        body.append(
            {
                "jsonrpc": "2.0",
                "id": 2 * nonce,
                "method": "evm_setNextBlockTimestamp",
                "params": [hex(stamp)],
            }
        )
        body.append(
            {
                "jsonrpc": "2.0",
                "id": 2 * nonce + 1,
                "method": "eth_sendRawTransaction",
                "params": [_signed(account, nonce)],
            }
        )
    replies = (await http.post(node.url, json=body)).json()
    assert [reply.get("error") for reply in replies] == [None] * len(body)
    hashes = [reply["result"] for reply in replies if reply["id"] % 2 == 1]

    for offset, (tx_hash, stamp) in enumerate(zip(hashes, stamps, strict=True), start=1):
        receipt = await rpc(http, node.url, "eth_getTransactionReceipt", tx_hash)
        block = await rpc(http, node.url, "eth_getBlockByNumber", receipt["blockNumber"], False)
        assert int(block["number"], 16) == int(head["number"], 16) + offset
        assert block["transactions"] == [tx_hash]
        assert int(block["timestamp"], 16) == stamp


async def test_reverting_transaction_is_mined_and_its_error_names_the_hash(
    node: NodeSupervisor, http: httpx.AsyncClient
) -> None:
    # The gateway reads each outcome from the send reply: a hash means mined and
    # succeeded; an error carrying data.txHash means mined and failed.
    account = Account.create()
    tx = {
        "type": 2,
        "chainId": 31337,
        "nonce": 0,
        "data": "0x60006000fd",  # a constructor that reverts
        "value": 0,
        "gas": 100_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
    }
    signed = account.sign_transaction(tx)
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
            "params": ["0x" + signed.raw_transaction.hex()]}
    reply = (await http.post(node.url, json=body)).json()
    tx_hash = "0x" + signed.hash.hex().removeprefix("0x")
    assert reply["error"]["data"]["txHash"] == tx_hash
    receipt = await rpc(http, node.url, "eth_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x0"
    assert await rpc(http, node.url, "eth_getTransactionCount", account.address, "latest") == "0x1"


async def test_transaction_gas_is_capped_as_on_mainnet(
    node: NodeSupervisor, http: httpx.AsyncClient
) -> None:
    # EIP-7825 (osaka): a batch transaction must ask for at most 2**24 gas.
    account = Account.create()
    tx = {
        "type": 2,
        "chainId": 31337,
        "nonce": 0,
        "to": account.address,
        "value": 0,
        "gas": 2**24 + 1,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
    }
    raw = "0x" + account.sign_transaction(tx).raw_transaction.hex()
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]}
    reply = (await http.post(node.url, json=body)).json()
    assert "exceeds transaction gas cap of 16777216" in reply["error"]["message"]


async def test_storage_proofs_and_set_balance(
    node: NodeSupervisor, http: httpx.AsyncClient
) -> None:
    account = Account.create()
    tx = {
        "type": 2,
        "chainId": 31337,
        "nonce": 0,
        "data": "0x61303960005500",  # constructor: slot 0 = 0x3039
        "value": 0,
        "gas": 100_000,
        "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0,
    }
    raw = "0x" + account.sign_transaction(tx).raw_transaction.hex()
    tx_hash = await rpc(http, node.url, "eth_sendRawTransaction", raw)
    contract = (await rpc(http, node.url, "eth_getTransactionReceipt", tx_hash))["contractAddress"]

    # Storage keys go as full 32-byte hex: the node rejects the short form "0x0".
    proof = await rpc(http, node.url, "eth_getProof", contract, ["0x" + "00" * 32], "latest")
    assert proof["storageProof"][0]["value"] == "0x3039"
    assert proof["accountProof"] and proof["storageProof"][0]["proof"]

    await rpc(http, node.url, "hardhat_setBalance", account.address, hex(10**18))
    assert await rpc(http, node.url, "eth_getBalance", account.address, "latest") == hex(10**18)


# Stands in for a busy machine: hardhat takes a few seconds between resolving its
# config (where it dates the chain by default) and creating the chain.
_SLOW_START = """
const resolution = require({module!r});
const resolve = resolution.resolveConfig;
resolution.resolveConfig = function slowAfterResolving(...args) {{
  const config = resolve.apply(this, args);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, {millis});
  return config;
}};
"""


async def test_a_fresh_nodes_clock_is_the_wall_clock_however_slowly_it_starts(
    tmp_path: Path, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Expiries are computed from the wall clock and checked on chain: a node
    # dated at hardhat's config time ran seconds behind, so an expired
    # reservation could not be released yet.
    resolution = node_dir() / "node_modules/hardhat/internal/core/config/config-resolution.js"
    preload = tmp_path / "slow-start.js"
    preload.write_text(_SLOW_START.format(module=str(resolution), millis=3000))
    monkeypatch.setenv("NODE_OPTIONS", f"--require {preload}")
    supervisor = NodeSupervisor(tmp_path / "data")
    await supervisor.start()
    try:
        # The pending block carries the node's clock without mining anything.
        before = int(time.time())
        pending = await rpc(http, supervisor.url, "eth_getBlockByNumber", "pending", False)
        after = time.time()
        assert before <= int(pending["timestamp"], 16) <= after
    finally:
        await supervisor.stop()


# -- geth, the embedded default ---------------------------------------------------


async def _seal(url: str) -> str:
    """Seal the pool into one block, as the gateway does (geth's own sealer is off)."""
    client = RpcClient(url)
    try:
        sealed, _ = await seal_pool(client)
    finally:
        await client.close()
    return sealed


async def _mined(http: httpx.AsyncClient, url: str, tx_hash: str) -> dict[str, Any]:
    """Seal the pool, then wait for the receipt (until it has indexed its
    transactions, geth answers an error instead of null)."""
    await _seal(url)
    deadline = time.monotonic() + 30
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionReceipt",
            "params": [tx_hash]}
    while True:
        reply = (await http.post(url, json=body)).json()
        if "error" in reply:
            assert "indexing is in progress" in reply["error"]["message"], reply
        elif reply["result"] is not None:
            return dict(reply["result"])
        assert time.monotonic() < deadline, f"{tx_hash} not mined"
        await asyncio.sleep(0.01)


async def test_geth_takes_zero_fee_transactions_from_unfunded_accounts(
    geth: NodeSupervisor, http: httpx.AsyncClient
) -> None:
    # The genesis sets no base fee and the supervisor lowers geth's minimum tip to 0.
    assert await rpc(http, geth.url, "eth_chainId") == hex(31337)
    account = Account.create()
    assert await rpc(http, geth.url, "eth_getBalance", account.address, "latest") == "0x0"
    receipt = await _mined(http, geth.url,
                           await rpc(http, geth.url, "eth_sendRawTransaction", _signed(account, 0)))
    assert receipt["status"] == "0x1"
    assert int(receipt["effectiveGasPrice"], 16) == 0
    block = await rpc(http, geth.url, "eth_getBlockByNumber", receipt["blockNumber"], False)
    assert int(block["baseFeePerGas"], 16) == 0


async def test_geth_seals_only_on_request_one_block_for_all_that_waits(
    geth: NodeSupervisor, http: httpx.AsyncClient
) -> None:
    # Its own sealer would make a block of the first transaction and more blocks for
    # the rest, each a second after its parent, running ahead of the wall clock.
    accounts = [Account.create() for _ in range(3)]
    for account in accounts:
        await rpc(http, geth.url, "eth_sendRawTransaction", _signed(account, 0))
    head = await rpc(http, geth.url, "eth_blockNumber")
    for account in accounts:
        await rpc(http, geth.url, "eth_sendRawTransaction", _signed(account, 1))
    await asyncio.sleep(1.5)
    assert await rpc(http, geth.url, "eth_blockNumber") == head  # nothing sealed by itself
    # geth holds one transaction in flight for an account absent from its state (its
    # EIP-7702 limit reads it as delegated): the first seal takes the nonce-0 ones,
    first = await rpc(http, geth.url, "eth_getBlockByHash", await _seal(geth.url), False)
    assert len(first["transactions"]) == len(accounts)
    assert int(first["timestamp"], 16) <= time.time() + 1
    # and once the accounts exist, all that waits goes into one block.
    hashes = [await rpc(http, geth.url, "eth_sendRawTransaction", _signed(a, n))
              for a in accounts for n in (1, 2)]
    second = await rpc(http, geth.url, "eth_getBlockByHash", await _seal(geth.url), False)
    assert sorted(second["transactions"]) == sorted(hashes)
    assert int(second["number"], 16) == int(first["number"], 16) + 1


async def test_geth_keeps_its_chain_across_a_kill_9_and_a_restart(
    geth: NodeSupervisor, http: httpx.AsyncClient
) -> None:
    account = Account.create()
    receipts = [await _mined(http, geth.url, await rpc(
        http, geth.url, "eth_sendRawTransaction", _signed(account, n))) for n in range(5)]
    last = receipts[-1]["blockNumber"]
    kept = await rpc(http, geth.url, "eth_getBlockByNumber", last, False)
    await asyncio.sleep(1.0)  # its database writes what it sealed within a moment

    restarted = asyncio.Event()

    async def on_restart() -> None:
        restarted.set()

    geth.on_restart(on_restart)
    geth.kill()
    try:
        await asyncio.wait_for(restarted.wait(), 60)
    except TimeoutError:
        pytest.fail(f"geth did not restart within 60 s:\n{geth._log_tail(40)}")
    # On failure, the node's own account of its restart (what it rewound, if anything).
    log = geth._log_tail(40)
    assert await rpc(http, geth.url, "eth_getBlockByNumber", last, False) == kept, log
    assert await rpc(http, geth.url, "eth_getTransactionCount", account.address,
                     "latest") == "0x5", log
    # And it still takes zero-fee transactions (the minimum tip is set again).
    receipt = await _mined(http, geth.url,
                           await rpc(http, geth.url, "eth_sendRawTransaction", _signed(account, 5)))
    assert receipt["status"] == "0x1"


async def test_geth_proves_storage_at_an_older_block(
    geth: NodeSupervisor, http: httpx.AsyncClient
) -> None:
    account = Account.create()
    tx = {"type": 2, "chainId": 31337, "nonce": 0, "data": "0x61303960005500", "value": 0,
          "gas": 100_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
    raw = "0x" + account.sign_transaction(tx).raw_transaction.hex()
    receipt = await _mined(http, geth.url, await rpc(http, geth.url, "eth_sendRawTransaction", raw))
    contract, at = receipt["contractAddress"], receipt["blockNumber"]
    for nonce in range(1, 4):  # later blocks
        await _mined(http, geth.url,
                     await rpc(http, geth.url, "eth_sendRawTransaction", _signed(account, nonce)))
    # An archive node: the state of every block stays provable, not only the last 128.
    proof = await rpc(http, geth.url, "eth_getProof", contract, ["0x" + "00" * 32], at)
    assert proof["storageProof"][0]["value"] == "0x3039"
    assert proof["accountProof"] and proof["storageProof"][0]["proof"]


async def test_geth_seals_a_replayed_block_at_its_recorded_time(
    geth: NodeSupervisor, http: httpx.AsyncClient
) -> None:
    # What the reconciler does after geth lost blocks: the journaled block's
    # transactions, together, at the journaled time.
    account = Account.create()
    head = await rpc(http, geth.url, "eth_getBlockByNumber", "latest", False)
    stamp = max(int(head["timestamp"], 16), int(time.time())) + 1
    sealed = await rpc(http, geth.url, "testing_commitBlockV1", seal_attributes(stamp),
                       [_signed(account, 0), _signed(account, 1)], "0x")
    block = await rpc(http, geth.url, "eth_getBlockByNumber", "latest", False)
    assert block["hash"] == sealed
    assert int(block["timestamp"], 16) == stamp and len(block["transactions"]) == 2
