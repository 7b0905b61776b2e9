"""`couponchain participants|capabilities|platform-transfer …` against a running
platform (issue 23): the commands reach the standing routes and print the outcome."""

from __future__ import annotations

import httpx

from couponchain.runtime import Runtime
from tests.integration.cli_world import cli, served  # noqa: F401 - the fixture

ADMIN = ("--key", "test-admin-key")


async def test_suspend_pause_and_rotate_from_the_command_line(served: str,  # noqa: F811
                                                              runtime: Runtime) -> None:
    async with httpx.AsyncClient(base_url=served, timeout=60) as api:
        merchant = (await api.post("/v1/merchants", json={"name": "Shop"},
                                   headers={"authorization": "Bearer test-admin-key"})).json()
    admin = ("--api", served, *ADMIN)
    done = await cli("participants", "suspend", merchant["id"], "--reason", "probe 12", *admin)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "suspended" in done.stdout and "probe 12" in done.stdout
    shown = await cli("participants", "show", merchant["id"], *admin)
    assert "suspended" in shown.stdout
    twice = await cli("participants", "suspend", merchant["id"], "--reason", "again", *admin)
    assert twice.returncode == 2 and "409" in twice.stdout

    paused = await cli("capabilities", "pause", "prizes", "--reason", "incident", *admin)
    assert paused.returncode == 0 and "prizes paused" in paused.stdout, paused.stdout
    listed = await cli("capabilities", "list", *admin)
    assert "paused" in listed.stdout and "incident" in listed.stdout

    proposed = await cli("platform-transfer", "propose", *admin)
    assert proposed.returncode == 0, proposed.stdout + proposed.stderr
    accepted = await cli("platform-transfer", "accept", *admin)
    assert accepted.returncode == 0 and "platform moved" in accepted.stdout, accepted.stdout
    platform = await runtime.participants.get(runtime.platform.caller.id)
    assert platform.address in accepted.stdout
