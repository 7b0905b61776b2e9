"""`couponchain up` under supervision as a test runs it, and the machine's processes as
/proc lists them: what the supervision and `up` tests share."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from tests.integration.conftest import MASTER
from tests.ports import free_port


def processes() -> dict[int, tuple[int, int, str]]:
    """Every process on the machine: pid -> (parent pid, process group, command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)"
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), int(fields[2]), command)
    return found


def child_pids(pid: int) -> list[int]:
    return [p for p, (parent, _, _) in processes().items() if parent == pid]


def left_behind(pids: set[int], groups: set[int], timeout: float = 10.0) -> list[str]:
    """What is still running, after up to `timeout` s, of these processes and groups.

    What is found is killed then, so a failing test leaves nothing behind either.
    """
    deadline = time.monotonic() + timeout
    while True:
        left = {p: cmd for p, (_, group, cmd) in processes().items()
                if p in pids or group in groups}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return [f"{pid} {cmd}" for pid, cmd in left.items()]


#: The administrator key the supervised platform is started with.
ADMIN = "supervision-test-admin-key"


class Up:
    """A `couponchain up` process in its own session, as a terminal would run it."""

    def __init__(self, tmp_path: Path, *args: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("COUPONCHAIN_")},
                    "COUPONCHAIN_DATA_DIR": str(tmp_path / "data"),
                    "COUPONCHAIN_MASTER_SECRET": MASTER, "COUPONCHAIN_ADMIN_KEY": ADMIN,
                    # A fixed admin key is a dev-mode convenience, asked for explicitly.
                    "COUPONCHAIN_DEV_MODE": "1",
                    "COUPONCHAIN_DISTRIBUTE_INTERVAL": "0", "COUPONCHAIN_REPORT_INTERVAL": "0",
                    **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "couponchain.cli", "up", "--port", str(self.port), *args],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self.stderr_lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for stream, into in ((self.proc.stdout, self.stdout), (self.proc.stderr, None)):
            threading.Thread(target=self._pump, args=(stream, into), daemon=True).start()

    def _pump(self, stream: IO[bytes], into: queue.Queue[str] | None) -> None:
        for raw in stream:
            line = raw.decode(errors="replace").rstrip("\n")
            if into is not None:
                into.put(line)
            else:
                self.stderr.append(line)
                self.stderr_lines.put(line)

    def wait_for(self, prefix: str, lines: queue.Queue[str] | None = None,
                 timeout: float = 120) -> str:
        """The next line starting with (stdout) or containing (stderr) `prefix`."""
        lines = self.stdout if lines is None else lines
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line in {timeout} s; stderr:\n"
                                     + "\n".join(self.stderr[-30:])) from None
            if line.startswith(prefix) or (lines is self.stderr_lines and prefix in line):
                return line

    def platform_pid(self) -> int:
        children = child_pids(self.proc.pid)
        assert len(children) == 1, children
        return children[0]

    def stop(self, sig: int = signal.SIGTERM, group: bool = False) -> int:
        """Send `sig` (to the session's process group if `group`); the exit code."""
        if self.proc.poll() is None:
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
