"""What the benchmarks share: a `couponchain up` process to load from outside,
an in-process runtime, and the percentile they report latencies with (`pct`).

Benchmarks whose figure is about the platform as clients see it (over HTTP,
the load generated in another process) start it with `Platform` on a
throwaway data directory and stop it at the end. Those that measure the
services in-process start a `Runtime` with `embedded_runtime` and make their
participants with `participant`.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any


def pct(values: list[float], q: float) -> float:
    """The value at quantile `q` (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def load_from_another_process(
    platform: Platform, target: Callable[..., Awaitable[Any]], *args: Any,
) -> tuple[Any, list[float]]:
    """Run the coroutine function `target(*args)` in a fresh process (the load
    generator) and return its result, with the platform process's RSS in MiB
    sampled every second meanwhile (the first sample before, the last after)."""
    receive, send = multiprocessing.Pipe(duplex=False)
    generator = multiprocessing.get_context("spawn").Process(
        target=_generate, args=(target, args, send))
    rss = [platform.rss_mib()]

    async def sample() -> None:
        while True:
            await asyncio.sleep(1)
            rss.append(platform.rss_mib())

    sampler = asyncio.create_task(sample())
    generator.start()
    try:
        result = await asyncio.get_running_loop().run_in_executor(None, receive.recv)
    finally:
        sampler.cancel()
    generator.join()
    rss.append(platform.rss_mib())
    return result, rss


def _generate(target: Callable[..., Awaitable[Any]], args: tuple[Any, ...], out: Any) -> None:
    out.send(asyncio.run(target(*args)))


@asynccontextmanager
async def embedded_runtime(**settings: Any) -> AsyncIterator[Any]:
    """A `Runtime` on the embedded node in a throwaway data directory
    (`runtime.settings.data_dir`), started and, at the end, stopped."""
    from rich.console import Console  # imported here: load generators import this module

    from couponchain.config import Settings
    from couponchain.runtime import Runtime

    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(Settings(data_dir=Path(tmp), master_secret="benchmark-master-secret",
                                   **settings))
        with Console().status("starting the embedded node and deploying"):
            await runtime.start()
        try:
            yield runtime
        finally:
            await runtime.stop()


async def participant(runtime: Any, creator: Any, role: Any, name: str) -> Any:
    """A new participant of `role` made by `creator` (a `Caller`) through the
    runtime's service, as the `Caller` its API key authenticates as."""
    created = await runtime.participants.create(creator, role, name)
    return await runtime.participants.authenticate(created["api_key"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, IndexError):
            if entry.name.isdigit() and int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


class Platform:
    """A `couponchain up` process on one data directory, killed and started again."""

    def __init__(self, data_dir: Path, admin_key: str, **settings: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "COUPONCHAIN_DATA_DIR": str(data_dir),
                    "COUPONCHAIN_MASTER_SECRET": f"{admin_key}-master-secret",
                    # A fixed admin key is a dev-mode convenience (the bench asks for it).
                    "COUPONCHAIN_DEV_MODE": "1",
                    "COUPONCHAIN_ADMIN_KEY": admin_key, "COUPONCHAIN_DISTRIBUTE_INTERVAL": "0",
                    "COUPONCHAIN_REPORT_INTERVAL": "0",
                    **{f"COUPONCHAIN_{k.upper()}": v for k, v in settings.items()}}
        self.log = open(data_dir.parent / "platform.log", "ab")  # noqa: SIM115 - closed in stop
        self.proc: subprocess.Popen[bytes] | None = None
        self.rpc_url = ""

    async def start(self) -> float:
        """Start and wait for READY; returns the seconds it took."""
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "couponchain.cli", "up", "--port", str(self.port)],
            env=self.env, stdout=subprocess.PIPE, stderr=self.log)
        assert self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        while True:
            line = await asyncio.wait_for(
                loop.run_in_executor(None, self.proc.stdout.readline), timeout=300)
            if not line:
                raise RuntimeError("couponchain up exited before READY (see platform.log)")
            if line.startswith(b"chain: "):
                self.rpc_url = line.split()[1].decode()
            if line.startswith(b"READY "):
                return time.perf_counter() - started

    def platform_pid(self) -> int:
        """The platform process: the child `couponchain up` supervises (it serves the API)."""
        assert self.proc is not None
        children = _children(self.proc.pid)
        assert len(children) == 1, f"couponchain up runs {len(children)} platform processes"
        return children[0]

    def node_pid(self) -> int | None:
        """The embedded node: the platform process's child running Node.js."""
        for pid in _children(self.platform_pid()):
            with contextlib.suppress(OSError):
                if b"node" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]:
                    return pid
        return None

    def kill(self) -> None:
        """kill -9 of `couponchain up` (the platform and its node die with it)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def peak_rss_mib(self) -> float:
        """The API process's peak resident memory so far (VmHWM), in MiB."""
        return self._status_mib("VmHWM:")

    def rss_mib(self) -> float:
        """The API process's resident memory now (VmRSS), in MiB."""
        return self._status_mib("VmRSS:")

    def _status_mib(self, field: str) -> float:
        status = Path(f"/proc/{self.platform_pid()}/status").read_text()
        kib = next(int(line.split()[1]) for line in status.splitlines()
                   if line.startswith(field))
        return kib / 1024

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
