"""`couponchain up` supervises the platform: real processes, real signals.

A killed platform comes back by itself (and says so in its log, `/v1/health` and
`/metrics`) without leaving its node behind, and a connection made meanwhile waits
for it; a platform that cannot start is
retried with a growing delay and the reason; Ctrl-C and SIGTERM stop everything
(platform, node, access-log workers) without a word; a busy port is one line
before anything starts.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import MASTER
from tests.integration.supervised import ADMIN, Up, child_pids, left_behind, processes
from tests.ports import free_port

WORKER_BATCH = 5_000  # services.marketing_access_logs.POOL_MIN_RECORDS: such a batch spawns workers


def _spawn_workers(up: Up) -> None:
    """Make the platform start its access-log worker processes (a large batch; it is
    refused for its unknown field after being parsed in a worker)."""
    body = {"records": [{"unknown": 1}] * WORKER_BATCH}
    reply = httpx.post(f"{up.url}/v1/access-logs", json=body, timeout=60,
                       headers={"authorization": f"Bearer {ADMIN}"})
    assert reply.status_code == 422, reply.text


def _create_consumer(client: httpx.Client) -> httpx.Response:
    key = uuid.uuid4().hex
    return client.post("/v1/consumers", json={"name": f"c-{key[:8]}"},
                       headers={"Idempotency-Key": key})


@pytest.mark.slow
def test_a_killed_platform_comes_back_and_sigterm_leaves_nothing(
    tmp_path: Path, database_url: str
) -> None:
    up = Up(tmp_path, COUPONCHAIN_DATABASE_URL=database_url)  # the embedded node
    try:
        up.wait_for("READY ")
        first = up.platform_pid()
        node = next(p for p in child_pids(first) if "node" in processes()[p][2])
        client = httpx.Client(base_url=up.url, timeout=30,
                              headers={"authorization": f"Bearer {ADMIN}"})
        assert _create_consumer(client).status_code == 201

        killed = time.monotonic()
        os.kill(first, signal.SIGKILL)
        assert left_behind({first}, set()) == []
        # The supervisor holds the port: a connection made while no platform runs
        # waits for the next one instead of being refused.
        waited = httpx.get(f"{up.url}/v1/health", timeout=120)
        assert waited.status_code == 200 and waited.json()["platform_restarts"] == 1
        while True:  # a client retrying its write, as a real one would
            try:
                if _create_consumer(client).status_code == 201:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() - killed < 120, "the platform did not come back"
            time.sleep(0.05)
        outage = time.monotonic() - killed
        print(f"\nkill -9 of the platform process to a write answered again: {outage:.2f} s")

        up.wait_for("READY ")  # printed once per start
        line = up.wait_for("platform process died", up.stderr_lines, timeout=5)
        assert "died (SIGKILL)" in line and "restart 1)" in line, line
        health = client.get("/v1/health").json()
        assert health["supervised"] is True
        assert (health["platform_restarts"], health["last_restart_cause"]) == (1, "SIGKILL")
        assert 0 < health["last_outage_seconds"] <= outage
        assert health["last_restart_at"].startswith(time.strftime("%Y-%m-%d", time.gmtime()))
        metrics = client.get("/metrics").text
        assert "couponchain_platform_restarts_total 1\n" in metrics
        assert 'couponchain_platform_deaths_total{cause="SIGKILL"} 1\n' in metrics
        assert "couponchain_node_restarts_total 0\n" in metrics
        assert left_behind({node}, set()) == [], "the killed platform's node is orphaned"

        second = up.platform_pid()
        nodes = {p for p in child_pids(second) if "node" in processes()[p][2]}
        assert len(nodes) == 1
        _spawn_workers(up)
        assert len(child_pids(second)) > 1, "access-log workers should be running"
        client.close()
        assert up.stop(signal.SIGTERM) == 0
        assert left_behind({first, second, *nodes}, {first, second}) == []
        with socket.socket() as s:  # the port is free again
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", up.port))
    finally:
        up.stop(signal.SIGKILL)


def test_a_crash_loop_backs_off_and_says_why(tmp_path: Path, node_url: str) -> None:
    nowhere = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none"
    up = Up(tmp_path, COUPONCHAIN_DATABASE_URL=nowhere, COUPONCHAIN_RPC_URL=node_url)
    try:
        restarts = [up.wait_for("restarting in", up.stderr_lines, timeout=60)
                    for _ in range(3)]
        stopping = time.monotonic()
        assert up.stop(signal.SIGTERM) == 0
        assert time.monotonic() - stopping < 10  # also while waiting out a delay
    finally:
        up.stop(signal.SIGKILL)
    pattern = re.compile(r"platform process exited with exit code 1 [\d.]+ s after start, "
                         r"before it was ready: OperationalError: .*connection.*; "
                         r"restarting in ([\d.]+) s \(restart (\d)\)")
    told = [pattern.search(line) for line in restarts]
    assert all(told), "\n".join(restarts)
    assert [(m[1], m[2]) for m in told if m] == [("0.5", "1"), ("1.0", "2"), ("2.0", "3")]


def test_ctrl_c_stops_everything_without_a_word(tmp_path: Path, node_url: str) -> None:
    up = Up(tmp_path, COUPONCHAIN_RPC_URL=node_url)
    try:
        up.wait_for("READY ")
        platform = up.platform_pid()
        _spawn_workers(up)
        workers = set(child_pids(platform))
        assert workers
        assert up.stop(signal.SIGINT, group=True) == 0  # what a terminal's Ctrl-C does
    finally:
        up.stop(signal.SIGKILL)
    assert left_behind({platform, *workers}, {platform}) == []
    time.sleep(0.2)  # the pump threads read the last lines
    assert up.stderr == [], "\n".join(up.stderr[:20])


@pytest.mark.parametrize("after", [0.0, 1.5, 4.0])
def test_ctrl_c_while_starting_stops_without_a_word(
    tmp_path: Path, after: float
) -> None:
    """Whatever the platform is doing (importing, migrating, starting its node):
    `after` seconds after the platform process appears."""
    up = Up(tmp_path)  # the embedded node
    try:
        deadline = time.monotonic() + 60
        while not child_pids(up.proc.pid):
            assert time.monotonic() < deadline, "no platform process"
            time.sleep(0.02)
        time.sleep(after)
        platform = up.platform_pid()
        nodes = {p for p in child_pids(platform) if "node" in processes()[p][2]}
        assert up.stop(signal.SIGINT, group=True) == 0
    finally:
        up.stop(signal.SIGKILL)
    assert left_behind({platform, *nodes}, {platform}) == []
    time.sleep(0.2)
    assert up.stderr == [], "\n".join(up.stderr[:20])


def test_kill_9_of_couponchain_up_takes_the_platform_and_its_workers_along(
    tmp_path: Path, node_url: str
) -> None:
    up = Up(tmp_path, COUPONCHAIN_RPC_URL=node_url)
    try:
        up.wait_for("READY ")
        platform = up.platform_pid()
        _spawn_workers(up)
        workers = set(child_pids(platform))
        assert workers
    finally:
        up.stop(signal.SIGKILL)
    assert left_behind({platform, *workers}, {platform}) == []


def test_sigterm_to_an_unsupervised_platform_stops_its_workers(
    tmp_path: Path, node_url: str
) -> None:
    """Regression: SIGTERM ended the process before its runtime stopped (uvicorn
    re-raises the signal once it has shut down), leaving the access-log worker
    and the multiprocessing resource tracker running."""
    up = Up(tmp_path, "--no-supervise", COUPONCHAIN_RPC_URL=node_url)
    try:
        up.wait_for("READY ")
        _spawn_workers(up)
        workers = set(child_pids(up.proc.pid))
        assert workers
        assert up.stop(signal.SIGTERM) == 0
    finally:
        up.stop(signal.SIGKILL)
    assert left_behind(workers, set()) == []


def test_a_busy_port_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        ran = subprocess.run(
            [sys.executable, "-m", "couponchain.cli", "up", "--port", str(port)],
            env={**os.environ, "COUPONCHAIN_DATA_DIR": str(tmp_path / "data"),
                 "COUPONCHAIN_MASTER_SECRET": MASTER},
            capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2
    assert ran.stdout.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; is another "
        "`couponchain up` running? Stop it or choose another --port"], ran.stdout
    assert ran.stderr == ""
    assert time.monotonic() - started < 10
    assert not (tmp_path / "data").exists(), "nothing may start before the port is checked"


async def test_an_unsupervised_platform_says_so(client: httpx.AsyncClient) -> None:
    health = (await client.get("/v1/health")).json()
    assert {k: health[k] for k in ("supervised", "platform_restarts", "last_restart_cause",
                                   "last_restart_at", "last_outage_seconds")} == {
        "supervised": False, "platform_restarts": 0, "last_restart_cause": None,
        "last_restart_at": None, "last_outage_seconds": None}
    metrics = (await client.get("/metrics")).text
    assert "couponchain_platform_restarts_total 0\n" in metrics
    assert "couponchain_platform_deaths_total" not in metrics
    assert "couponchain_node_restarts_total 0\n" in metrics
