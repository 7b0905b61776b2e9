"""`couponchain up` as an operator meets it (issue 25): its version, a start-up problem
as one line before anything starts (supervised or not), and SIGTERM leaving no
process and no traceback behind. The restart and worker cases are test_supervision's."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from couponchain import __version__
from tests.integration.conftest import MASTER
from tests.integration.supervised import Up, left_behind, processes


def _couponchain(*args: str, data: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("COUPONCHAIN_")},
           "COUPONCHAIN_DATA_DIR": str(data), "COUPONCHAIN_MASTER_SECRET": MASTER}
    return subprocess.run([sys.executable, "-m", "couponchain.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _descendants(pid: int) -> set[int]:
    found, table = set(), processes()
    frontier = {pid}
    while frontier:
        frontier = {p for p, (parent, _, _) in table.items() if parent in frontier}
        found |= frontier
    return found


def test_version(tmp_path: Path) -> None:
    for flag in ("--version", "-V"):
        ran = _couponchain(flag, data=tmp_path / "data")
        assert (ran.returncode, ran.stdout, ran.stderr) == (0, f"couponchain {__version__}\n", "")


def test_a_data_dir_that_cannot_be_made_is_one_line_before_anything_starts(
        tmp_path: Path) -> None:
    """Regression: the platform process failed with a traceback after importing
    everything, and the supervisor restarted it over and over."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for mode in ([], ["--no-supervise"]):
        started = time.monotonic()
        ran = _couponchain("up", "--port", "0", *mode, data=blocker / "data")
        assert ran.returncode == 2, ran.stderr
        assert ran.stdout.splitlines() == [
            f"error: the data directory {blocker / 'data'} cannot be made: {blocker} is not "
            "a directory (set --data-dir or COUPONCHAIN_DATA_DIR)"], ran.stdout
        assert ran.stderr == ""
        assert time.monotonic() - started < 30


def test_a_busy_port_is_one_line_without_a_supervisor_too(tmp_path: Path) -> None:
    """Regression: `up --no-supervise` started the chain and deployed before uvicorn
    found the port taken."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = _couponchain("up", "--no-supervise", "--port", str(port), data=tmp_path / "data")
    assert ran.returncode == 2
    assert ran.stdout.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; is another "
        "`couponchain up` running? Stop it or choose another --port"], ran.stdout
    assert ran.stderr == ""
    assert not (tmp_path / "data").exists(), "nothing may start before the port is checked"


def test_sigterm_stops_every_child_quietly(tmp_path: Path) -> None:
    """On a free port with a fresh data directory and the embedded node: after SIGTERM
    no process `couponchain up` started survives, and nothing was written to stderr."""
    up = Up(tmp_path)
    try:
        up.wait_for("READY ", timeout=300)
        children = _descendants(up.proc.pid)
        assert any("node" in processes()[p][2] for p in children), "no embedded node"
        assert up.stop(signal.SIGTERM) == 0
    finally:
        up.stop(signal.SIGKILL)
    assert left_behind(children, set()) == []
    time.sleep(0.2)  # the pump threads read the last lines
    assert not any("Traceback" in line for line in up.stderr), "\n".join(up.stderr)
    assert up.stderr == [], "\n".join(up.stderr[:20])
