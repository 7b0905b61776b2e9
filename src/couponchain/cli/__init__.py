"""The `couponchain` command."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click
from rich.table import Table

from couponchain import __version__
from couponchain.cli import keys as key_commands
from couponchain.cli import standing as standing_commands
from couponchain.cli.check_round import check_round
from couponchain.cli.common import _fail, _settings, console
from couponchain.cli.migrate import migrate
from couponchain.cli.up import up
from couponchain.cli.verify import verify
from couponchain.errors import CouponChainError


@click.group()
@click.version_option(__version__, "-V", "--version", prog_name="couponchain",
                      message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="log what happens inside")
def main(verbose: bool) -> None:
    """CouponChain: verifiable coupons and promotions on an EVM ledger."""
    handler = logging.StreamHandler()
    if os.environ.get("COUPONCHAIN_LOG_FORMAT") == "json":
        from couponchain.api.limits import JsonFormatter, RequestIdFilter

        handler.addFilter(RequestIdFilter())
        handler.setFormatter(JsonFormatter())
    else:
        handler.addFilter(_RequestId())
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])


main.add_command(up)
main.add_command(verify)


class _RequestId(logging.Filter):
    """`api.limits.RequestIdFilter` without importing the API (Starlette) up front:
    until the API is imported no request can be running, and the id is "-"."""

    def filter(self, record: logging.LogRecord) -> bool:
        limits = sys.modules.get("couponchain.api.limits")
        record.request_id = limits.REQUEST_ID.get() if limits is not None else "-"
        return True


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
def deploy(data_dir: Path | None) -> None:
    """Deploy the contracts to the chain once (a no-op when already deployed)."""
    import asyncio

    from couponchain.runtime import Runtime

    async def run() -> tuple[dict[str, str], str | None]:
        runtime = Runtime(_settings(data_dir=data_dir))
        try:
            await runtime.start()
            return runtime.addresses, runtime.platform.api_key
        finally:
            await runtime.stop()

    try:
        addresses, admin_key = asyncio.run(run())
    except CouponChainError as exc:
        _fail(exc.message)
    table = Table("contract", "address")
    for name, address in addresses.items():
        table.add_row(name, address)
    console.print(table)
    if admin_key:  # a new database: its platform key, shown this once
        console.print(f"platform admin API key (shown now only; store it): {admin_key}",
                      highlight=False, soft_wrap=True)


@main.command()
@click.option("--api", default="http://127.0.0.1:8000", show_default=True, help="API base URL")
def status(api: str) -> None:
    """Show chain head, indexer lag and outbox depth of a running platform."""
    import httpx

    try:
        health = httpx.get(f"{api.rstrip('/')}/v1/health", timeout=10).json()
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {api}: {exc}")
        return
    table = Table("", "")
    for key in ("status", "chain_id", "chain_head", "indexed_block", "indexer_lag",
                "outbox_depth", "node_restarts", "platform_restarts", "last_restart_cause",
                "last_restart_at"):
        table.add_row(key, str(health.get(key)))
    for name, address in health.get("contracts", {}).items():
        table.add_row(f"{name} contract", address)
    console.print(table)


@main.command("demo-logs")
@click.option("--merchant", "merchant_id", required=True, help="the merchant's id")
@click.option("--records", type=click.IntRange(min=1), default=1_000_000, show_default=True)
@click.option("--days", type=click.IntRange(min=1, max=366), default=30, show_default=True,
              help="spread over the days before now")
@click.option("--batch-size", type=click.IntRange(1, 50_000), default=50_000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--api", default="http://127.0.0.1:8000", show_default=True, help="API base URL")
@click.option("--key", envvar="COUPONCHAIN_API_KEY", required=True,
              help="the platform's or a terminal of the merchant's API key "
                   "(or COUPONCHAIN_API_KEY)")
def demo_logs(merchant_id: str, records: int, days: int, batch_size: int, seed: int, api: str,
              key: str) -> None:
    """Post realistic demo access logs for a merchant to a running platform.

    Daily and weekly seasonality, returning visitors and the funnel view -> claim
    -> redeem -> purchase (services/marketing_demo.py); every batch is validated,
    stored and anchored on chain like any terminal's.
    """
    import httpx
    import orjson
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from couponchain.services.marketing_demo import demo_batches

    base = api.rstrip("/")
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
        try:
            rules = client.get(f"/v1/merchants/{merchant_id}/reporting-rules")
        except httpx.HTTPError as exc:
            _fail(f"cannot reach {api}: {exc}")
            return
        if rules.status_code != 200:
            _fail(rules.json().get("detail", rules.text))
        number = rules.json()["merchant_number"]
        with Progress(*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=console) as progress:
            task = progress.add_task(f"access logs for {merchant_id}", total=records)
            for batch in demo_batches(number, records, days=days, batch_size=batch_size,
                                      seed=seed):
                made = client.post("/v1/access-logs", content=orjson.dumps({"records": batch}))
                if made.status_code != 201:
                    _fail(made.json().get("detail", made.text))
                progress.advance(task, len(batch))
    console.print(f"{records:,} access logs anchored for merchant {merchant_id}; "
                  f"see {base}/marketing")


# Commands defined in their own modules, registered here.
main.add_command(key_commands.keys)
main.add_command(key_commands.rotate_master_secret)
main.add_command(standing_commands.participants)
main.add_command(standing_commands.capabilities)
main.add_command(standing_commands.platform_transfer)
main.add_command(check_round)
main.add_command(migrate)

if __name__ == "__main__":
    main()
