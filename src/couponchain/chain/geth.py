"""The geth node kind: go-ethereum's developer mode with its state on disk.

`scripts/setup` builds geth from the Go module proxy at `GETH_VERSION` into
`node/bin/geth`. Its developer mode (`--dev`) is a single-node proof-of-stake
chain that keeps blocks, receipts and state in a database under `--datadir`, and
answers `eth_getProof` from it.

Blocks are sealed on request, not by geth's own sealer: the gateway sends a
window's transactions to the pool, then seals them all into one block with
`testing_commitBlockV1` at a time it chooses (`seal_attributes`). geth's own
sealer, on demand (`--dev.period 0`), commits on the first transaction of a window
and again until the pool is empty, so a window of 50 transactions became 2-7 blocks
(some empty), each a second after its parent: the chain ran ahead of the wall clock
(21.5 s after five such windows) and a dependent write waited a second per block.
The sealer also builds on the head it last sealed, so it must never run after a
block sealed on request: `SEALER_PERIOD` keeps it from ever ticking again after the
(empty) block it seals as the node starts.

geth's own developer genesis has chain id 1337, a 1 gwei base fee and an 11.5 M
gas limit, and its pool refuses a tip under 1 wei; the platform signs at zero fees
from accounts holding no ether. So a fresh data directory is first initialised
(`geth init`) with a genesis made from geth's own developer genesis
(`geth --dev dumpgenesis`) with our chain id, a base fee of 0 and a gas limit EIP-1559
never raises the fee under, and after every start the pool's and the miner's
minimum tip go to 0 (`miner_setGasPrice`, which geth does not persist). A data
directory that holds a chain already keeps it: `--dev` then uses the stored genesis.

State is stored by hash with `--gcmode archive` in LevelDB: every block and its
state are handed to the kernel as the block is sealed, so a `kill -9` of the node
loses at most the block being sealed (tests/integration/test_node.py), and proofs
can be asked at any block, not only the last 128.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from couponchain.chain.rpc import RpcClient
from couponchain.errors import ConfigurationError

__all__ = ["GETH_VERSION", "geth_binary", "geth_command", "initialise", "seal_attributes",
           "seal_pool"]

#: The go-ethereum release scripts/setup builds (`go install ...cmd/geth@GETH_VERSION`).
GETH_VERSION = "v1.17.10"
#: EIP-1559 raises the base fee only over half the block gas limit; never reached.
GAS_LIMIT = 1_000_000_000_000
#: Megabytes geth may use for its caches (its default, 4096, is most of this
#: machine's memory budget for the node; measured in bench/ledger.py).
CACHE_MB = 256
#: LevelDB, not geth's default Pebble: Pebble keeps recent writes in the process
#: until about 500 KB of them are waiting (geth's `WALBytesPerSync`), so a kill -9
#: of a lightly loaded node lost every block of the last seconds or minutes;
#: LevelDB hands each write to the kernel, where a kill -9 of the process leaves it.
_STORAGE = ("--db.engine", "leveldb", "--state.scheme", "hash")
_MAINNET_FORKS = ("shanghaiTime", "cancunTime", "pragueTime", "osakaTime")
#: geth's own sealer's period in seconds (2^32: 136 years), so blocks are sealed on
#: request only (see the module doc).
SEALER_PERIOD = 2**32
_ZERO32 = "0x" + "00" * 32


def geth_binary(root: Path) -> str:
    """The geth binary: `COUPONCHAIN_GETH` if set, else `<root>/bin/geth`, else PATH."""
    override = os.environ.get("COUPONCHAIN_GETH")
    candidates = [Path(override)] if override else [root / "bin" / "geth"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("geth") if not override else None
    if found is None:
        raise ConfigurationError("embedded node not installed: run scripts/setup "
                                 f"(no geth at {candidates[0]} or on PATH)", field="node_kind")
    return found


def _genesis(binary: str, chain_id: int, timestamp: int | None) -> dict[str, Any]:
    """geth's developer genesis with our chain id, no base fee and a huge gas limit."""
    dumped = subprocess.run([binary, "--dev", "dumpgenesis"], capture_output=True,
                            text=True, timeout=60, check=True)
    genesis: dict[str, Any] = json.loads(dumped.stdout)
    # Mainnet's rules (Osaka), as on the Hardhat node: geth's developer config also
    # turns on forks mainnet has not scheduled (Bogota), which reprice gas.
    for fork in [k for k in genesis["config"] if k.endswith("Time")]:
        if fork not in _MAINNET_FORKS:
            del genesis["config"][fork]
    genesis["config"]["chainId"] = chain_id
    genesis["gasLimit"] = hex(GAS_LIMIT)
    genesis["baseFeePerGas"] = "0x0"
    if timestamp is not None:
        genesis["timestamp"] = hex(max(0, timestamp))
    return genesis


def initialise(binary: str, datadir: Path, chain_id: int, timestamp: int | None) -> bool:
    """Write the genesis into a data directory that holds no chain yet.

    Returns True when it did, False when the directory already held a chain (which
    then keeps its own genesis, chain id included). `timestamp` is the genesis
    block's time (a journal replayed into a fresh node must start after it).
    """
    if (datadir / "geth" / "chaindata").is_dir():
        return False
    datadir.mkdir(parents=True, exist_ok=True)
    path = datadir / "genesis.json"
    path.write_text(json.dumps(_genesis(binary, chain_id, timestamp)))
    done = subprocess.run(
        [binary, "--datadir", str(datadir), *_STORAGE, "init", str(path)],
        capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise ConfigurationError(f"geth init failed in {datadir}: "
                                 f"{done.stderr.strip().splitlines()[-1:]}", field="node_kind")
    return True


def geth_command(binary: str, datadir: Path, host: str, port: int) -> list[str]:
    """geth's command line: developer mode on `datadir`, JSON-RPC on host:port only."""
    return [
        binary,
        "--dev",
        "--dev.period", str(SEALER_PERIOD),  # blocks are sealed on request only
        "--datadir", str(datadir),
        *_STORAGE,
        "--gcmode", "archive",
        "--cache", str(CACHE_MB),
        "--miner.gaslimit", str(GAS_LIMIT),
        "--http", "--http.addr", host, "--http.port", str(port),
        "--http.api", "eth,net,web3,debug,txpool,miner,dev,testing",
        "--ipcdisable", "--nodiscover", "--maxpeers", "0",
        "--authrpc.port", "0",
        "--rpc.gascap", "0", "--rpc.txfeecap", "0",
        "--rpc.batch-request-limit", "100000", "--rpc.batch-response-max-size", "1000000000",
        "--verbosity", "2",
    ]


def seal_attributes(timestamp: int) -> dict[str, Any]:
    """The payload attributes of a block sealed on request (`testing_commitBlockV1`)
    at `timestamp`: no fee recipient, randomness, withdrawals or beacon root."""
    return {"timestamp": hex(timestamp), "prevRandao": _ZERO32,
            "suggestedFeeRecipient": "0x" + "00" * 20, "withdrawals": [],
            "parentBeaconBlockRoot": _ZERO32}


async def seal_pool(rpc: RpcClient) -> tuple[str, int]:
    """Seal every transaction waiting in the node's pool into one block, a second
    after its parent or now, whichever is later; returns its hash and time."""
    head = await rpc.call("eth_getBlockByNumber", "latest", False)
    stamp = max(int(time.time()), int(head["timestamp"], 16) + 1)
    sealed = await rpc.call("testing_commitBlockV1", seal_attributes(stamp), None, "0x")
    return str(sealed), stamp
