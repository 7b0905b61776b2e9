"""`couponchain keys list|create|revoke` against a running platform, and
`couponchain keys create-admin` from the database and the master secret."""

from __future__ import annotations

from pathlib import Path

from couponchain.runtime import Runtime
from tests.integration.cli_world import cli
from tests.integration.cli_world import served as served  # the fixture
from tests.integration.conftest import MASTER


async def test_keys_through_the_api(served: str, runtime: Runtime) -> None:
    admin = ("--api", served, "--key", "test-admin-key")
    made = await cli("keys", "create", *admin, "--name", "ops laptop",
                     "--expires", "2099-01-01")
    assert made.returncode == 0, made.stdout + made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("cc_")
    caller = await runtime.participants.authenticate(key)
    assert caller.id == runtime.platform.caller.id
    listed = await cli("keys", "list", *admin)
    assert listed.returncode == 0 and "ops laptop" in listed.stdout and key not in listed.stdout
    key_id = key.split("_")[1]
    gone = await cli("keys", "revoke", *admin, key_id)
    assert gone.returncode == 0 and "revoked" in gone.stdout, gone.stdout + gone.stderr
    refused = await cli("keys", "list", "--api", served, "--key", key)
    assert refused.returncode == 2
    assert refused.stdout.strip().count("\n") == 0 and "401" in refused.stdout
    assert "revoked" in refused.stdout
    nowhere = await cli("keys", "list", "--api", "http://127.0.0.1:9", "--key", "x")
    assert nowhere.returncode == 2 and "cannot reach" in nowhere.stdout


async def test_create_admin_needs_the_master_secret(runtime: Runtime, tmp_path: Path) -> None:
    where = {"COUPONCHAIN_DATABASE_URL": runtime.settings.database,
             "COUPONCHAIN_DATA_DIR": str(tmp_path / "cli")}
    made = await cli("keys", "create-admin", COUPONCHAIN_MASTER_SECRET=MASTER, **where)
    assert made.returncode == 0, made.stdout + made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert (await runtime.participants.authenticate(key)).id == runtime.platform.caller.id
    wrong = await cli("keys", "create-admin", COUPONCHAIN_MASTER_SECRET="not-the-master-secret",
                      **where)
    assert wrong.returncode == 2 and "is not the secret this database" in wrong.stdout
    unset = await cli("keys", "create-admin", **where)
    assert unset.returncode == 2 and "COUPONCHAIN_MASTER_SECRET must be set" in unset.stdout
