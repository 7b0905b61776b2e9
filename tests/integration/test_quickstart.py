"""The README's quickstart, followed literally in a clean copy of the repository.

A newcomer clones the project and runs the two commands the README gives. This
test reads them from the README's Quickstart block, copies the committed files
into a fresh temporary directory (no `.venv`, no `node_modules`, no data), runs
the first one as written (the set-up, the embedded node, the demo story) until
it prints READY, fetches the printed URL, and runs the second one there on a
small part of the suite (the whole suite cannot run inside itself). The port
and data directory come from the environment, so the commands stay verbatim.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def _quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the Quickstart section has a bash block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()
            if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed files of this checkout, and nothing else, in a new directory."""
    target = tmp_path_factory.mktemp("quickstart") / "couponchain"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(target)],
                   check=True)
    # The working tree may hold changes not committed yet: test what is checked out.
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                             capture_output=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
            (target / name).chmod(source.stat().st_mode)
    assert not (target / ".venv").exists() and not (target / "node" / "node_modules").exists()
    return target


@pytest.mark.slow
def test_the_readme_quickstart_works_in_a_clean_directory(clean_copy: Path) -> None:
    up, test = _quickstart_commands()
    assert (up, test) == ("scripts/up", "scripts/test"), "the README's two commands"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUPONCHAIN_")}
    env.update(COUPONCHAIN_PORT=str(port), COUPONCHAIN_DATA_DIR=str(clean_copy / ".data"))
    log = clean_copy / "up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(shlex.split(up), cwd=clean_copy, env=env, stdout=subprocess.PIPE,
                                stderr=out, start_new_session=True)
    try:
        assert proc.stdout is not None
        url = None
        deadline = time.monotonic() + 900  # set-up from nothing: venv, npm, demo story
        while url is None:
            line = proc.stdout.readline().decode()
            assert line or proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no READY line in time"
            if line.startswith("READY "):
                url = line.split()[1]
        assert url == f"http://127.0.0.1:{port}"
        home = httpx.get(url + "/", timeout=30)
        assert home.status_code == 200 and "Take the tour" in home.text
        health = httpx.get(url + "/v1/health", timeout=30).json()
        assert set(health["contracts"]) >= {"editions", "promotions", "referrals", "prizes",
                                            "marketing"}
        edition = httpx.get(url + "/v1/editions/1", timeout=30).json()
        assert (edition["sold"], edition["total_pieces"]) == (65, 99)
        # The default node, geth, keeps the chain on disk in the data directory.
        assert (clean_copy / ".data" / "node" / "geth" / "geth" / "chaindata").is_dir()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    ran = subprocess.run([*shlex.split(test), "tests/unit/test_evaluation.py", "-q",
                          "-p", "no:cacheprovider"], cwd=clean_copy, env=env,
                         capture_output=True, text=True, timeout=900)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "passed" in ran.stdout
