"""`couponchain migrate`: deploy changed contracts anew and carry the state over."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.table import Table

from couponchain.cli.common import _fail, _settings, console
from couponchain.errors import CouponChainError


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
def migrate(data_dir: Path | None) -> None:
    """Move this deployment to the contracts of this version of CouponChain.

    When a contract's code changed since it was deployed, deploys the whole set
    anew, carries participants, limited editions and prize campaigns over (read by the new
    contracts from the old ones) and records the old contracts as retired. A
    deployment whose other capabilities hold state is refused before anything
    is sent. Run it again after an interruption; nothing is done twice.
    """
    from sqlalchemy import select

    from couponchain.runtime import Runtime
    from couponchain.store.models import Deployment, RetiredDeployment

    async def run() -> tuple[list[Deployment], list[RetiredDeployment]]:
        runtime = Runtime(_settings(data_dir=data_dir))
        runtime.migrate_contracts = True
        try:
            await runtime.start()
            async with runtime.db.session() as s:
                current = list((await s.execute(select(Deployment))).scalars())
                retired = list((await s.execute(select(RetiredDeployment))).scalars())
            return current, retired
        finally:
            await runtime.stop()

    try:
        current, retired = asyncio.run(run())
    except CouponChainError as exc:
        _fail(exc.message)
    table = Table("contract", "version", "address", "replaces")
    for row in current:
        old = [r.address for r in retired if r.name == row.name and r.replaced_by == row.address]
        table.add_row(row.name, str(row.version), row.address, old[0] if old else "")
    console.print(table)
