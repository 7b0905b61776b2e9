"""Supervise the embedded local EVM node: start it, restart it when it dies, stop it.

The default chain is geth in developer mode (see `couponchain.chain.geth`), built by
`scripts/setup` into `node/bin/` from the Go module proxy, with its state on disk in
`<data_dir>/geth`; a Hardhat node (EDR, installed from the npm registry into the
repository's `node/` folder; the test suite's fast node) and anvil can stand in for
it (`COUPONCHAIN_NODE_KIND`). Hardhat and anvil keep no state across restarts, and
geth may lose the block it was sealing when killed: after every restart the
registered `on_restart` callbacks run, so the gateway can replay into the node what
its journal holds and the node lacks.

    supervisor = NodeSupervisor(data_dir)
    supervisor.on_restart(gateway.replay)
    url = await supervisor.start()
    ...
    await supervisor.stop()

The node's port stays the same across restarts, so clients keep their URL. Its output
goes to `<data_dir>/<kind>-node.log`. On Linux the node is told to die with the
process that started it (PR_SET_PDEATHSIG), so a `kill -9` of couponchain leaves no
orphan node holding the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

import httpx

from couponchain.chain.geth import geth_binary, geth_command, initialise
from couponchain.config import DEFAULT_NODE_KIND
from couponchain.errors import ChainUnavailable, ConfigurationError

__all__ = ["NODE_KINDS", "NodeSupervisor", "default_kind", "node_dir"]

log = logging.getLogger(__name__)

NODE_KINDS = ("geth", "hardhat", "anvil")
HOST = "127.0.0.1"
# EIP-1559 raises the base fee only when a block uses more than half its gas limit;
# with this limit that never happens, so the base fee stays 0 (see node/hardhat.config.js).
BLOCK_GAS_LIMIT = 1_000_000_000_000

START_TIMEOUT = 60.0  # seconds for a fresh node to answer eth_chainId
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
STABLE_AFTER = 30.0  # a node that ran this long before dying restarts without delay
BACKOFF_FIRST = 0.25  # seconds; doubles per quick failure in a row
BACKOFF_MAX = 30.0

_PR_SET_PDEATHSIG = 1
_NOT_INSTALLED = "embedded node not installed: run scripts/setup"


def node_dir() -> Path:
    """The folder holding the node's npm package (`node/` at the repository root).

    `COUPONCHAIN_NODE_DIR` overrides it, for installs outside a source checkout.
    """
    override = os.environ.get("COUPONCHAIN_NODE_DIR")
    if override:
        return Path(override).resolve()
    # src/couponchain/chain/node.py -> repository root
    return Path(__file__).resolve().parents[3] / "node"


def default_kind() -> str:
    """The node kind to run when none is given: `COUPONCHAIN_NODE_KIND`, else geth."""
    return os.environ.get("COUPONCHAIN_NODE_KIND") or DEFAULT_NODE_KIND


def _free_port() -> int:
    """A TCP port on HOST that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGTERM when its parent dies (Linux only).

    The kernel sends the signal when the *thread* that forked the child exits; the
    supervisor forks from its event loop's thread, which lives as long as the process.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody will signal us.
        if os.getppid() != parent_pid:
            os._exit(1)

    return preexec


def _anvil_binary(root: Path) -> str | None:
    """anvil's native binary: from the npm package's platform part, else PATH.

    The npm package's `.bin/anvil` is a Node wrapper that spawns the binary; run
    under it, a SIGKILL would reach the wrapper and leave anvil holding the port.
    """
    for candidate in sorted((root / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil")):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    wrapper = root / "node_modules" / ".bin" / "anvil"
    if wrapper.is_file():
        return str(wrapper)
    return shutil.which("anvil")


class NodeSupervisor:
    """Runs one local EVM node on 127.0.0.1 and keeps it running until stopped."""

    def __init__(
        self,
        data_dir: Path,
        kind: str | None = None,
        chain_id: int = 31337,
        port: int | None = None,
    ) -> None:
        kind = kind or default_kind()
        if kind not in NODE_KINDS:
            raise ConfigurationError(
                f"node kind must be one of {', '.join(NODE_KINDS)}, got {kind!r}", field="kind"
            )
        if chain_id <= 0:
            raise ConfigurationError(f"chain id must be positive, got {chain_id}", field="chain_id")
        self.data_dir = Path(data_dir)
        self.kind = kind
        self.chain_id = chain_id
        self._port = port if port is not None else _free_port()
        self._proc: asyncio.subprocess.Process | None = None
        self._log_file: IO[bytes] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._callbacks: list[Callable[[], Awaitable[None]]] = []
        self._callback_tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self.restarts = 0
        #: Asked before every (re)start: the earliest block timestamp the node must be
        #: able to replay (a fresh node's genesis is set just before it), or None.
        self.genesis_timestamp: Callable[[], Awaitable[int | None]] | None = None

    @property
    def url(self) -> str:
        """The node's JSON-RPC endpoint; the same across restarts."""
        return f"http://{HOST}:{self._port}"

    @property
    def pid(self) -> int | None:
        """The running node's process id, or None when none runs."""
        if self._proc is None or self._proc.returncode is not None:
            return None
        return self._proc.pid

    @property
    def log_path(self) -> Path:
        """Where the node's stdout and stderr go."""
        return self.data_dir / f"{self.kind}-node.log"

    def on_restart(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Register a callback awaited after every restart (not after the first start).

        Callbacks run in registration order; one that raises is logged and the others
        still run.
        """
        self._callbacks.append(callback)

    async def start(self) -> str:
        """Start the node, wait until it answers eth_chainId, and watch it.

        Returns the node's URL. Raises ConfigurationError when the node is not
        installed and ChainUnavailable when it does not come up.
        """
        if self._watch_task is not None and not self._watch_task.done():
            return self.url
        self._stopping = False
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            await self._launch()
        except BaseException:
            self._close_log()
            raise
        self._watch_task = asyncio.get_running_loop().create_task(
            self._watch(), name=f"couponchain-{self.kind}-watch"
        )
        return self.url

    async def stop(self) -> None:
        """Stop watching and end the node: SIGTERM, then SIGKILL after STOP_TIMEOUT."""
        self._stopping = True
        task, self._watch_task = self._watch_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("the %s node's watch task had failed", self.kind)
        for callbacks in list(self._callback_tasks):
            callbacks.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await callbacks
        await self._terminate()
        self._close_log()

    async def restart(self) -> None:
        """Stop the node cleanly (SIGTERM) and let supervision start it again; the
        `on_restart` callbacks then run as after a crash. Returns once it stopped."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(proc.wait()), STOP_TIMEOUT)

    def kill(self) -> None:
        """SIGKILL the node without stopping supervision (simulates a crash)."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    # -- process handling -------------------------------------------------------

    def _command(self, genesis: int | None = None) -> tuple[list[str], Path, dict[str, str]]:
        """The node's command line, working directory and environment."""
        root = node_dir()
        env = dict(os.environ)
        if genesis is not None:
            env["COUPONCHAIN_GENESIS_TIMESTAMP"] = str(genesis)
        if self.kind == "geth":
            command = geth_command(geth_binary(root), self.data_dir / "geth", HOST, self._port)
            return command, self.data_dir, env
        if self.kind == "hardhat":
            cli = root / "node_modules" / "hardhat" / "internal" / "cli" / "cli.js"
            config = root / "hardhat.config.js"
            if not cli.is_file() or not config.is_file():
                raise ConfigurationError(f"{_NOT_INSTALLED} (no {cli.relative_to(root)} in {root})")
            node = shutil.which("node")
            if node is None:
                raise ConfigurationError("node (Node.js 20 or later) is not on PATH")
            env["COUPONCHAIN_CHAIN_ID"] = str(self.chain_id)
            env["HARDHAT_DISABLE_TELEMETRY_PROMPT"] = "true"
            # Hardhat insists on running from a folder where it is installed.
            command = [
                node,
                str(cli),
                "--config",
                str(config),
                "node",
                "--hostname",
                HOST,
                "--port",
                str(self._port),
            ]
            return command, root, env
        found = _anvil_binary(root)
        if found is None:
            raise ConfigurationError(
                f"{_NOT_INSTALLED} (no anvil in {root / 'node_modules'} or on PATH)"
            )
        command = [
            found,
            "--host",
            HOST,
            "--port",
            str(self._port),
            "--chain-id",
            str(self.chain_id),
            "--base-fee",
            "0",
            "--gas-limit",
            str(BLOCK_GAS_LIMIT),
            "--disable-code-size-limit",
            "--state",
            str(self.data_dir / "anvil-state.json"),
        ]
        if genesis is not None:
            command += ["--timestamp", str(genesis)]
        return command, self.data_dir, env

    async def _launch(self) -> None:
        """Spawn the node and wait until it answers; on failure leave nothing running."""
        genesis = None
        if self.genesis_timestamp is not None:
            earliest = await self.genesis_timestamp()
            genesis = None if earliest is None else earliest - 1
        command, cwd, env = self._command(genesis)
        if self.kind == "geth":  # a fresh data directory gets its genesis first
            await asyncio.to_thread(initialise, command[0], self.data_dir / "geth",
                                    self.chain_id, genesis)
        log_file = self._open_log()
        log_file.write(
            f"--- {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} starting "
            f"{self.kind} on {self.url}: {' '.join(command)}\n".encode()
        )
        log_file.flush()
        self._proc = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # Ctrl-C in our terminal goes to us; we stop the node
            preexec_fn=_die_with_parent(os.getpid()),
        )
        try:
            await self._wait_ready(self._proc)
            await self._after_ready()
        except BaseException:
            await self._terminate()
            raise
        log.info("%s node pid %d answers on %s", self.kind, self._proc.pid, self.url)

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> None:
        """Poll eth_chainId until the node answers with our chain id."""
        deadline = time.monotonic() + START_TIMEOUT
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if proc.returncode is not None:
                    raise ChainUnavailable(
                        f"{self.kind} node exited with code {proc.returncode} while starting; "
                        f"see {self.log_path}:\n{self._log_tail()}"
                    )
                answer = await self._chain_id(client, body)
                if answer is not None:
                    if answer != self.chain_id:
                        raise ChainUnavailable(
                            f"{self.url} answers chain id {answer}, expected {self.chain_id}: "
                            "another node holds the port"
                        )
                    return
                if time.monotonic() > deadline:
                    raise ChainUnavailable(
                        f"{self.kind} node did not answer on {self.url} within "
                        f"{START_TIMEOUT:.0f} s; see {self.log_path}:\n{self._log_tail()}"
                    )
                await asyncio.sleep(0.05)

    async def _after_ready(self) -> None:
        """Settings a node forgets when it stops: geth's minimum tip goes to 0 (its
        pool and miner would refuse the platform's zero-fee transactions)."""
        if self.kind != "geth":
            return
        body = {"jsonrpc": "2.0", "id": 1, "method": "miner_setGasPrice", "params": ["0x0"]}
        async with httpx.AsyncClient(timeout=10.0) as client:
            reply = (await client.post(self.url, json=body)).json()
        if reply.get("result") is not True:
            raise ChainUnavailable(f"geth refused miner_setGasPrice 0: {reply}")

    async def _chain_id(self, client: httpx.AsyncClient, body: dict[str, Any]) -> int | None:
        """The chain id the URL answers, or None while nothing answers properly."""
        try:
            response = await client.post(self.url, json=body)
            return int(response.json()["result"], 16)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return None

    async def _terminate(self) -> None:
        """End the current node process, if any, and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                log.warning("%s node pid %d ignored SIGTERM; killing it", self.kind, proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        else:
            await proc.wait()

    # -- supervision ----------------------------------------------------------

    async def _watch(self) -> None:
        """Wait for the node to die and restart it, with bounded exponential backoff."""
        quick_failures = 0
        started_at = time.monotonic()
        while not self._stopping:
            proc = self._proc
            if proc is not None:
                code = await proc.wait()
                if self._stopping:
                    return
                lived = time.monotonic() - started_at
                log.warning(
                    "%s node pid %d exited with code %s after %.1f s; restarting on %s",
                    self.kind,
                    proc.pid,
                    code,
                    lived,
                    self.url,
                )
                quick_failures = 0 if lived >= STABLE_AFTER else quick_failures + 1
            if quick_failures:
                await asyncio.sleep(min(BACKOFF_FIRST * 2 ** (quick_failures - 1), BACKOFF_MAX))
            try:
                started_at = time.monotonic()
                await self._launch()
            except (ChainUnavailable, ConfigurationError, OSError) as exc:
                log.error("restarting the %s node failed: %s", self.kind, exc)
                self._proc = None
                quick_failures += 1
                continue
            self.restarts += 1
            # In their own task: a callback may wait for the node, or restart it
            # (`restart`), and this loop must be free to start it again meanwhile.
            task = asyncio.get_running_loop().create_task(
                self._run_callbacks(), name=f"couponchain-{self.kind}-on-restart")
            self._callback_tasks.add(task)
            task.add_done_callback(self._callback_tasks.discard)

    async def _run_callbacks(self) -> None:
        for callback in list(self._callbacks):
            try:
                await callback()
            except Exception:
                log.exception("on_restart callback %r failed", callback)

    # -- log file ---------------------------------------------------------------

    def _open_log(self) -> IO[bytes]:
        if self._log_file is None or self._log_file.closed:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - lives with the node
        return self._log_file

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
