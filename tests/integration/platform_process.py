"""A `couponchain up` process a test starts, kills with SIGKILL and starts again, with
a known administrator key: what the crash, request-bounds and schemathesis tests share."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import MASTER
from tests.ports import free_port

ADMIN = "crash-test-admin-key"


class Platform:
    """A `couponchain up` process that can be killed and started again."""

    def __init__(self, tmp_path: Path, database_url: str, node_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "COUPONCHAIN_RPC_URL": node_url,
                    "COUPONCHAIN_DATABASE_URL": database_url,
                    "COUPONCHAIN_DATA_DIR": str(tmp_path / "data"),
                    "COUPONCHAIN_MASTER_SECRET": MASTER, "COUPONCHAIN_ADMIN_KEY": ADMIN,
                    # the fixed admin key is a dev-mode convenience, asked for here
                    "COUPONCHAIN_DEV_MODE": "1"}
        self.log = open(tmp_path / "platform.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "couponchain.cli", "up", "--port", str(self.port)],
            env=self.env, stdout=subprocess.PIPE, stderr=self.log)
        assert self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        while True:
            line = await asyncio.wait_for(loop.run_in_executor(None, self.proc.stdout.readline),
                                          timeout=120)
            assert line, "couponchain up exited before READY"
            if line.startswith(b"READY "):
                return

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
