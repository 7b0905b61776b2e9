"""`couponchain keys …` and `couponchain rotate-master-secret`.

`keys list|create|revoke` talk to a running platform's API with a key
(`--api`, `--key` or COUPONCHAIN_API_KEY). `keys create-admin` works from the
database and the master secret alone, for when no platform key is at hand.
`rotate-master-secret` re-encrypts the database under a new master secret;
both secrets come from the environment or a prompt, never from the command line.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from couponchain.errors import CouponChainError

console = Console()
API = "http://127.0.0.1:8000"


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    sys.exit(2)


def _call(api: str, key: str, method: str, path: str, *,
          headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """One API call (with `headers` besides the key); any failure ends the command
    with one line."""
    import httpx

    try:
        reply = httpx.request(method, f"{api.rstrip('/')}{path}", timeout=30,
                              headers={"authorization": f"Bearer {key}", **(headers or {})},
                              **kwargs)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {api}: {exc}")
    if reply.status_code >= 400:
        try:
            detail = reply.json().get("detail") or reply.text
        except ValueError:
            detail = reply.text
        _fail(f"{api} answered {reply.status_code}: {str(detail)[:300]}")
    return reply.json() if reply.content else None


def _when(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else "-"


api_option = click.option("--api", default=API, show_default=True, help="the platform's URL")
key_option = click.option("--key", envvar="COUPONCHAIN_API_KEY", required=True,
                          help="your API key (or COUPONCHAIN_API_KEY)")


@click.group()
def keys() -> None:
    """API keys: list, create and revoke them; make a platform key from the database."""


@keys.command("list")
@api_option
@key_option
@click.option("--participant", default=None, help="whose keys (default: yours)")
def list_keys(api: str, key: str, participant: str | None) -> None:
    """List API keys (never the keys themselves)."""
    params = {"participant": participant} if participant else {}
    found = _call(api, key, "GET", "/v1/api-keys", params=params)
    table = Table("id", "name", "state", "created", "last used", "expires")
    for item in found["items"]:
        table.add_row(item["id"], item["name"], item["state"], _when(item["created_at"]),
                      _when(item["last_used_at"]), _when(item["expires_at"]))
    console.print(table)


@keys.command("create")
@api_option
@key_option
@click.option("--name", required=True, help="what the key is for")
@click.option("--expires", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              default=None, help="when it stops working (UTC; default: never)")
@click.option("--participant", default=None,
              help="whose key (default: yours; a merchant may name its terminals)")
def create_key(api: str, key: str, name: str, expires: datetime | None,
               participant: str | None) -> None:
    """Create an API key; it is printed once."""
    body: dict[str, Any] = {"name": name}
    if expires is not None:
        body["expires_at"] = expires.isoformat() + "Z"
    if participant:
        body["participant"] = participant
    made = _call(api, key, "POST", "/v1/api-keys", json=body)
    console.print(f"API key {made['id']} ({made['name']}), shown once:", highlight=False)
    print(made["api_key"], flush=True)


@keys.command("revoke")
@api_option
@key_option
@click.argument("key_id")
def revoke_key(api: str, key: str, key_id: str) -> None:
    """Revoke an API key (and the page sessions opened with it), at once."""
    gone = _call(api, key, "DELETE", f"/v1/api-keys/{key_id}")
    console.print(f"revoked API key {gone['id']} ({gone['name']})", highlight=False)


@keys.command("create-admin")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
@click.option("--name", default=None, help="the key's name (default: 'recovery <date>')")
def create_admin(data_dir: Path | None, name: str | None) -> None:
    """Make a new platform API key from the database and the master secret (when no
    platform key is at hand); it is printed once."""
    import asyncio
    from datetime import UTC

    from sqlalchemy import select

    from couponchain.config import Settings
    from couponchain.domain.roles import Role
    from couponchain.services.credentials import CredentialStore
    from couponchain.services.platform_secrets import PlatformSecrets
    from couponchain.store.db import Database, migrate
    from couponchain.store.models import Participant

    label = name or f"recovery {datetime.now(UTC):%Y-%m-%d %H:%M}"

    async def run(settings: Settings) -> tuple[str, str, str] | None:
        from couponchain.chain.keys import KeyVault

        db = Database(settings.database)
        try:
            # Only the holder of this database's master secret may mint a key.
            await PlatformSecrets(db, KeyVault(settings.master_secret)).verify_master()
            async with db.session() as s:
                platform = (await s.execute(select(Participant).where(
                    Participant.role == int(Role.PLATFORM)))).scalar()
            if platform is None:
                return None
            row, token = await CredentialStore(db).create(platform.id, label,
                                                          created_by=platform.id)
            return platform.id, row.id, token
        finally:
            await db.close()

    try:
        settings = Settings() if data_dir is None else Settings(data_dir=data_dir)
        migrate(settings.database)
        made = asyncio.run(run(settings))
    except CouponChainError as exc:
        _fail(exc.message)
    if made is None:
        _fail("no platform account yet: run `couponchain up` once")
    platform_id, key_id, token = made
    console.print(f"new API key {key_id} ({label}) of the platform {platform_id}, shown once:",
                  highlight=False)
    print(token, flush=True)


def _secret(variable: str, prompt: str) -> str:
    value = os.environ.get(variable)
    if value:
        return value
    if not sys.stdin.isatty():
        _fail(f"set {variable} (a secret is never read from the command line)")
    return str(click.prompt(prompt, hide_input=True,
                            confirmation_prompt="new" in prompt.lower()))


@click.command("rotate-master-secret")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
def rotate_master_secret(data_dir: Path | None) -> None:
    """Re-encrypt every stored secret under a new master secret, in one transaction.

    Stop every platform process first. The old secret is COUPONCHAIN_MASTER_SECRET,
    the new one COUPONCHAIN_NEW_MASTER_SECRET (each prompted for when unset). Then
    start again with the new one; the old one is refused from then on.
    """
    import asyncio

    from couponchain.config import Settings
    from couponchain.services import platform_secrets
    from couponchain.services.marketing_access_logs import log_key
    from couponchain.services.prizes import code_key
    from couponchain.store.db import Database, migrate

    old = _secret("COUPONCHAIN_MASTER_SECRET", "Current master secret")
    new = _secret("COUPONCHAIN_NEW_MASTER_SECRET", "New master secret")

    async def run(settings: Settings) -> platform_secrets.Rotation:
        db = Database(settings.database)
        try:
            return await platform_secrets.rotate(
                db, old, new, legacy={platform_secrets.VISITORS: log_key},
                legacy_prize_key=lambda secret, chain_id, address: bytes(
                    code_key(secret, chain_id, address).key))
        finally:
            await db.close()

    try:
        # The new secret must pass what a deployment requires (length, not the default).
        settings = Settings(master_secret=new, dev_mode=False, admin_key=None)
        if data_dir is not None:
            settings = Settings(master_secret=new, dev_mode=False, admin_key=None,
                                data_dir=data_dir)
        migrate(settings.database)
        done = asyncio.run(run(settings))
    except CouponChainError as exc:
        _fail(exc.message)
    counts = ", ".join(f"{table} {n}" for table, n in done.reencrypted.items())
    console.print(f"re-encrypted under the new master secret: {counts}", highlight=False)
    console.print("start the platform with COUPONCHAIN_MASTER_SECRET set to the new secret",
                  highlight=False)
