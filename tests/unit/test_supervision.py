"""The supervisor on small real child processes: causes, backoff, state handed on, stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from couponchain import supervision
from couponchain.supervision import (
    PlatformState,
    PortInUse,
    Supervisor,
    backoff,
    describe_exit,
    listen,
)


def test_causes_are_named_by_signal_or_exit_code() -> None:
    assert describe_exit(-signal.SIGKILL) == "SIGKILL"
    assert describe_exit(-signal.SIGSEGV) == "SIGSEGV"
    assert describe_exit(2) == "exit code 2"
    assert describe_exit(-200) == "signal 200"


def test_backoff_doubles_from_half_a_second_to_thirty() -> None:
    assert [backoff(n) for n in range(9)] == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_the_state_survives_the_trip_through_the_environment() -> None:
    state = PlatformState(supervised=True, restarts=3, causes={"SIGKILL": 2, "exit code 1": 1},
                          last_cause="exit code 1", last_error="OperationalError: refused",
                          last_died_at=1_800_000_000.25)
    back = PlatformState.from_env({supervision.STATE_ENV: state.to_env()})
    assert back == state
    assert back.last_restart_at == "2027-01-15T08:00:00.250+00:00"
    assert PlatformState.from_env({}) == PlatformState(supervised=False)


def _child(tmp_path: Path, body: str) -> list[str]:
    """A Python child that appends the state it was handed to `seen`, then runs `body`."""
    script = tmp_path / "child.py"
    script.write_text(
        "import json, os, signal, sys\n"
        "from couponchain import supervision\n"
        f"with open({str(tmp_path / 'seen')!r}, 'a') as out:\n"
        f"    out.write(os.environ[{supervision.STATE_ENV!r}] + '\\n')\n" + body)
    return [sys.executable, str(script)]


def _supervise(command: list[str], stop_after: int) -> tuple[int, list[str]]:
    """Run a Supervisor in this process; SIGTERM to ourselves after `stop_after` lines."""
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        if len(said) == stop_after:
            os.kill(os.getpid(), signal.SIGTERM)

    return Supervisor(command, say=say).run(), said


def test_a_segfaulting_child_is_restarted_with_growing_delays(tmp_path: Path) -> None:
    code, said = _supervise(
        _child(tmp_path, "os.kill(os.getpid(), signal.SIGSEGV)\n"), stop_after=3)
    assert code == 0
    assert all(line.startswith("platform process died (SIGSEGV) ") for line in said), said
    assert all(" s after start, before it was ready; " in line for line in said), said
    assert [line.split("; ", 1)[1] for line in said] == [
        "restarting in 0.5 s (restart 1)", "restarting in 1.0 s (restart 2)",
        "restarting in 2.0 s (restart 3)"]
    seen = [json.loads(line) for line in (tmp_path / "seen").read_text().splitlines()]
    assert [s["restarts"] for s in seen] == [0, 1, 2]  # the stop came during the last delay
    assert seen[2]["causes"] == {"SIGSEGV": 2} and seen[2]["last_cause"] == "SIGSEGV"
    assert seen[2]["last_died_at"] > seen[1]["last_died_at"]


def test_the_error_a_child_reports_is_in_the_restart_line(tmp_path: Path) -> None:
    code, said = _supervise(
        _child(tmp_path, "supervision.notify('error the database\\n  refused us')\n"
                         "sys.exit(3)\n"), stop_after=1)
    assert code == 0
    assert said[0].startswith("platform process exited with exit code 3 ")
    assert "before it was ready: the database refused us; restarting in 0.5 s" in said[0]


def test_a_ready_child_that_dies_is_named_as_serving(tmp_path: Path) -> None:
    code, said = _supervise(
        _child(tmp_path, "supervision.notify('ready')\nos.kill(os.getpid(), signal.SIGKILL)\n"),
        stop_after=1)
    assert code == 0
    assert said[0].startswith("platform process died (SIGKILL) after 0.")
    assert " s serving; restarting in 0.5 s (restart 1)" in said[0]


def test_a_clean_exit_ends_supervision(tmp_path: Path) -> None:
    code, said = _supervise(_child(tmp_path, "sys.exit(0)\n"), stop_after=1)
    assert (code, said) == (0, [])


def test_a_busy_port_is_refused_and_a_free_one_held() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match=f"cannot listen on 127.0.0.1:{port}"):
            listen("127.0.0.1", port, wait=0.2)
    with listen("127.0.0.1", port, wait=0) as held:
        assert held.getsockname() == ("127.0.0.1", port)
        with pytest.raises(PortInUse):
            listen("127.0.0.1", port, wait=0)
