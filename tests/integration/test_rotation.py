"""Rotating the master secret (`couponchain rotate-master-secret`, docs/operations.md).

On a populated database: the command re-encrypts every blob under the new
secret; the platform restarted with the new secret still signs with every
participant's chain key, decrypts stored responses and webhook secrets, keeps
the visitor pseudonym key and the prize-code key; the old secret is refused at
start with one clear line. A database upgraded from derived secrets and never
started since keeps its derived values through a rotation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from couponchain.api.app import create_app
from couponchain.errors import ConfigurationError
from couponchain.runtime import Runtime
from couponchain.services.marketing_access_logs import log_key
from couponchain.services.platform_secrets import LEGACY, VISITORS, WRONG_SECRET
from couponchain.services.prizes import code_key
from couponchain.store.db import Database
from couponchain.store.models import MarketingWebhook, PlatformSecret
from tests.integration.conftest import MASTER, make_settings

NEW = "the-new-master-secret-after-rotation"


def rotate(settings_dir: Path, database_url: str, old: str,
           new: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COUPONCHAIN_")}
    env.update(COUPONCHAIN_DATA_DIR=str(settings_dir), COUPONCHAIN_DATABASE_URL=database_url,
               COUPONCHAIN_MASTER_SECRET=old, COUPONCHAIN_NEW_MASTER_SECRET=new,
               PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, "-m", "couponchain.cli", "rotate-master-secret"],
                          env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def api(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(
        app=create_app(runtime, manage_runtime=False)), base_url="http://test",
        headers={"authorization": "Bearer test-admin-key"}, timeout=60)


async def test_rotation_keeps_everything_working_and_refuses_the_old_secret(
        tmp_path: Path, database_url: str, node_url: str) -> None:
    settings = make_settings(tmp_path, database_url, node_url)
    before = Runtime(settings)
    await before.start()
    try:
        async with api(before) as web:
            shop = await web.post("/v1/merchants", json={"name": "Tea House"},
                                  headers={"idempotency-key": "shop"})
            assert shop.status_code == 201, shop.text
            auth = {"authorization": f"Bearer {shop.json()['api_key']}"}
            hook = await web.put(f"/v1/merchants/{shop.json()['id']}/webhook", headers=auth,
                                 # A public address: a host name must resolve (SSRF
                                 # policy), and these machines resolve none.
                                 json={"url": "https://93.184.215.14/reports"})
            assert hook.status_code == 200, hook.text
        visitors = before.marketing.key
        code_signer = before.prizes.code_signer.address
        shop_account = (await before.participants.signer(shop.json()["id"])).address
    finally:
        await before.stop()

    done = rotate(settings.data_dir, database_url, MASTER, NEW)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "participants" in done.stdout and "platform_secrets" in done.stdout

    with pytest.raises(ConfigurationError, match="is not the secret this database"):
        old = Runtime(settings)
        try:
            await old.start()
        finally:
            await old.stop()

    after = Runtime(settings.model_copy(update={"master_secret": NEW}))
    await after.start()
    try:
        assert after.marketing.key == visitors
        assert after.prizes.code_signer.address == code_signer
        assert (await after.participants.signer(shop.json()["id"])).address == shop_account
        async with api(after) as web:
            replay = await web.post("/v1/merchants", json={"name": "Tea House"},
                                    headers={"idempotency-key": "shop"})
            assert replay.status_code == 201 and replay.json() == shop.json()  # decrypted
            till = await web.post("/v1/terminals", json={"name": "Till"}, headers=auth)
            assert till.status_code == 201, till.text  # the shop's chain key signs
        async with after.db.session() as s:
            stored = (await s.execute(select(MarketingWebhook.secret))).scalar_one()
        assert after.vault.decrypt(stored).decode() == hook.json()["secret"]
    finally:
        await after.stop()

    again = rotate(settings.data_dir, database_url, MASTER, "yet-another-master-secret")
    assert again.returncode == 2 and WRONG_SECRET.split(" (")[0] in again.stdout


async def test_derived_secrets_keep_their_values_through_a_rotation(
        tmp_path: Path, database_url: str, node_url: str) -> None:
    """A database upgraded from derived secrets and rotated before its first start
    keeps the values the old master secret derived."""
    settings = make_settings(tmp_path, database_url, node_url)
    first = Runtime(settings)
    await first.start()
    prizes = first.addresses["prizes"]
    chain_id = first.chain_id
    await first.stop()
    db = Database(database_url)
    try:
        async with db.transaction() as s:  # as migration 0010 leaves an old database
            await s.execute(delete(PlatformSecret).where(PlatformSecret.name != "master-check"))
            s.add(PlatformSecret(name=LEGACY, value=b""))
    finally:
        await db.close()

    done = rotate(settings.data_dir, database_url, MASTER, NEW)
    assert done.returncode == 0, done.stdout + done.stderr

    after = Runtime(settings.model_copy(update={"master_secret": NEW}))
    await after.start()
    try:
        assert after.marketing.key == log_key(MASTER)
        assert after.prizes.code_signer.address == code_key(MASTER, chain_id, prizes).address
        async with after.db.session() as s:
            names = set((await s.execute(select(PlatformSecret.name))).scalars())
        assert LEGACY not in names and VISITORS in names
    finally:
        await after.stop()
