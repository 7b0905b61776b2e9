"""A real Clique network of sealing geth nodes on 127.0.0.1, for tests.

go-ethereum dropped block production without a beacon client in v1.14.0, so the
project's embedded geth (`couponchain.chain.geth.GETH_VERSION`) cannot seal Clique
blocks; `scripts/setup` builds the last release that can, v1.13.15, into
`node/bin/geth-clique` (`CLIQUE_GETH_VERSION`). Each node here is one signer: its
key in its own keystore, unlocked, sealing (`--mine`) with a period of
`period` seconds; the genesis lists every signer in its `extraData`; the nodes are
peered with `admin_addPeer` (no discovery, nothing listens beyond 127.0.0.1 but the
p2p port, which only the other nodes are told of). Fees are zero: the genesis base
fee is 0, the gas limit is never half used, and each node's minimum tip goes to 0
(`miner_setGasPrice`), as on the embedded node.

    async with CliqueNetwork(tmp_path, signers=2) as net:
        net.urls[0], net.addresses, net.propose(...)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from couponchain.chain.node import _die_with_parent, node_dir
from tests.ports import free_port

#: The go-ethereum release scripts/setup builds into node/bin/geth-clique.
CLIQUE_GETH_VERSION = "v1.13.15"
GAS_LIMIT = 1_000_000_000_000
_PASSWORD = "clique-test"
HOST = "127.0.0.1"


def clique_geth() -> Path:
    """The Clique-capable geth scripts/setup builds (`COUPONCHAIN_CLIQUE_GETH` overrides)."""
    return Path(os.environ.get("COUPONCHAIN_CLIQUE_GETH") or node_dir() / "bin" / "geth-clique")


def genesis(chain_id: int, signers: list[str], period: int, epoch: int) -> dict[str, Any]:
    """A Clique genesis under London rules (go-ethereum's Clique refuses Shanghai and
    later forks), listing `signers` in its extraData, with no base fee."""
    listed = "".join(a[2:].lower() for a in sorted(signers, key=str.lower))
    forks = ("homestead", "eip150", "eip155", "eip158", "byzantium", "constantinople",
             "petersburg", "istanbul", "berlin", "london")
    return {
        "config": {"chainId": chain_id, **{f"{f}Block": 0 for f in forks},
                   "clique": {"period": period, "epoch": epoch}},
        "difficulty": "0x1", "gasLimit": hex(GAS_LIMIT), "baseFeePerGas": "0x0",
        "extraData": "0x" + "00" * 32 + listed + "00" * 65, "alloc": {},
    }


class CliqueNetwork:
    """`signers` geth nodes, each sealing as one Clique signer, peered to each other."""

    def __init__(self, base: Path, signers: int = 2, chain_id: int = 31338, period: int = 1,
                 epoch: int = 30_000) -> None:
        self.base = base
        self.chain_id = chain_id
        self.period = period
        self.epoch = epoch
        self.accounts: list[LocalAccount] = [Account.create() for _ in range(signers)]
        self.urls: list[str] = []
        self._procs: list[subprocess.Popen[bytes]] = []

    @property
    def addresses(self) -> list[str]:
        """The signers' addresses, node by node."""
        return [a.address for a in self.accounts]

    async def __aenter__(self) -> CliqueNetwork:
        try:
            await self.start()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.stop()

    async def start(self) -> None:
        """Initialise each node's data directory, start the nodes, peer them, and wait
        until the chain has grown past a block sealed by each signer."""
        binary = clique_geth()
        if not os.access(binary, os.X_OK):
            raise FileNotFoundError(f"no Clique-capable geth at {binary}: run scripts/setup")
        spec = genesis(self.chain_id, self.addresses, self.period, self.epoch)
        for i, account in enumerate(self.accounts):
            datadir = self.base / f"signer{i}"
            (datadir / "keystore").mkdir(parents=True)
            keystore = Account.encrypt(account.key, _PASSWORD, kdf="pbkdf2", iterations=2)
            (datadir / "keystore" / f"key-{account.address[2:].lower()}").write_text(
                json.dumps(keystore))
            (datadir / "password").write_text(_PASSWORD)
            (datadir / "genesis.json").write_text(json.dumps(spec))
            subprocess.run([str(binary), "--datadir", str(datadir), "init",
                            str(datadir / "genesis.json")], check=True, capture_output=True,
                           timeout=60)
        for i, account in enumerate(self.accounts):
            self._procs.append(self._launch(binary, self.base / f"signer{i}", account.address))
        async with httpx.AsyncClient(timeout=5) as http:
            for url in self.urls:
                await self._wait_ready(http, url)
                await self.call(http, url, "miner_setGasPrice", "0x0")
            enode = (await self.call(http, self.urls[0], "admin_nodeInfo"))["enode"]
            for url in self.urls[1:]:
                await self.call(http, url, "admin_addPeer", enode)
            deadline = time.monotonic() + 30
            while int(await self.call(http, self.urls[-1], "eth_blockNumber"), 16) \
                    < len(self.accounts) + 1:
                if time.monotonic() > deadline:
                    raise TimeoutError("the Clique network sealed no blocks in 30 s; see "
                                       f"{self.base}/signer*/geth.log")
                await asyncio.sleep(0.2)

    def _launch(self, binary: Path, datadir: Path, address: str) -> subprocess.Popen[bytes]:
        port = free_port()
        self.urls.append(f"http://{HOST}:{port}")
        log = (datadir / "geth.log").open("ab")
        command = [
            str(binary), "--datadir", str(datadir), "--networkid", str(self.chain_id),
            "--syncmode", "full", "--gcmode", "archive",
            "--port", str(free_port()), "--nat", "none", "--nodiscover", "--maxpeers", "8",
            "--http", "--http.addr", HOST, "--http.port", str(port),
            "--http.api", "eth,net,web3,admin,clique,miner,txpool,debug",
            "--authrpc.addr", HOST, "--authrpc.port", str(free_port()), "--ipcdisable",
            "--mine", "--miner.etherbase", address, "--miner.gaslimit", str(GAS_LIMIT),
            "--unlock", address, "--password", str(datadir / "password"),
            "--allow-insecure-unlock",
            "--rpc.gascap", "0", "--rpc.txfeecap", "0", "--verbosity", "3",
        ]
        try:
            # Each node dies with the test process, however that ends (PR_SET_PDEATHSIG).
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    start_new_session=True,
                                    preexec_fn=_die_with_parent(os.getpid()))
        finally:
            log.close()

    async def _wait_ready(self, http: httpx.AsyncClient, url: str) -> None:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                reply = (await http.post(url, json={"jsonrpc": "2.0", "id": 1,
                                                    "method": "eth_chainId",
                                                    "params": []})).json()
                if int(reply["result"], 16) == self.chain_id:
                    return
            if any(p.poll() is not None for p in self._procs) or time.monotonic() > deadline:
                raise RuntimeError(f"a Clique node did not answer on {url}; see "
                                   f"{self.base}/signer*/geth.log")
            await asyncio.sleep(0.1)

    @staticmethod
    async def call(http: httpx.AsyncClient, url: str, method: str, *params: Any) -> Any:
        """One JSON-RPC call; RuntimeError on an error reply."""
        reply = (await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                            "params": list(params)})).json()
        if "error" in reply:
            raise RuntimeError(f"{method} at {url}: {reply['error']}")
        return reply["result"]

    def stop_node(self, index: int) -> None:
        """Stop one node (SIGTERM, then SIGKILL after 10 s)."""
        proc = self._procs[index]
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        """Stop every node this network started."""
        for index in range(len(self._procs)):
            self.stop_node(index)
