"""`couponchain participants …`, `couponchain capabilities …` and
`couponchain platform-transfer …`: standing, pauses and the platform key
rotation of issue 23, through a running platform's API (`--api`, `--key` or
COUPONCHAIN_API_KEY). Every write sends a fresh Idempotency-Key.

    couponchain participants suspend TERMINAL_ID --reason "till lost"    # its merchant
    couponchain participants suspend MERCHANT_ID --reason "fraud probe"  # the platform
    couponchain capabilities pause editions --reason "incident 7"        # the platform
    couponchain platform-transfer propose && couponchain platform-transfer accept
"""

from __future__ import annotations

import uuid
from typing import Any

import click
from rich.table import Table

from couponchain.cli.keys import _call, api_option, console, key_option


def _write(api: str, key: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return _call(api, key, "POST", path, json=body or {},
                 headers={"idempotency-key": f"cli-{uuid.uuid4()}"})


def _standing(row: dict[str, Any]) -> None:
    table = Table("", "")
    for field in ("id", "role", "name", "address", "merchant_id", "standing", "active",
                  "standing_reason", "merchant_standing", "tx_hash"):
        if field in row:
            table.add_row(field, str(row[field]))
    console.print(table)


@click.group()
def participants() -> None:
    """Suspend, reinstate or unbind a participant (merchant: its terminals; platform:
    merchants)."""


@participants.command("show")
@click.argument("participant_id")
@api_option
@key_option
def show(participant_id: str, api: str, key: str) -> None:
    """A participant and its standing."""
    _standing(_call(api, key, "GET", f"/v1/participants/{participant_id}"))


@participants.command("suspend")
@click.argument("participant_id")
@click.option("--reason", required=True, help="why; published on chain (at most 200 bytes)")
@api_option
@key_option
def suspend(participant_id: str, reason: str, api: str, key: str) -> None:
    """Suspend a merchant (platform) or one of your terminals (merchant)."""
    _standing(_write(api, key, f"/v1/participants/{participant_id}/suspend", {"reason": reason}))


@participants.command("reinstate")
@click.argument("participant_id")
@click.option("--reason", default="", help="why; published on chain")
@api_option
@key_option
def reinstate(participant_id: str, reason: str, api: str, key: str) -> None:
    """Lift a suspension."""
    _standing(_write(api, key, f"/v1/participants/{participant_id}/reinstate",
                     {"reason": reason}))


@participants.command("unbind")
@click.argument("terminal_id")
@click.option("--reason", required=True, help="why; published on chain")
@api_option
@key_option
def unbind(terminal_id: str, reason: str, api: str, key: str) -> None:
    """Unbind one of your terminals for good (merchant)."""
    _standing(_write(api, key, f"/v1/terminals/{terminal_id}/unbind", {"reason": reason}))


@click.group()
def capabilities() -> None:
    """See and switch the capabilities' emergency pauses (platform)."""


@capabilities.command("list")
@api_option
@key_option
def list_capabilities(api: str, key: str) -> None:
    """Each capability contract and whether it is paused."""
    table = Table("capability", "address", "state", "reason")
    for row in _call(api, key, "GET", "/v1/capabilities")["capabilities"]:
        table.add_row(row["capability"], row["address"],
                      "paused" if row["paused"] else "running", row["reason"] or "")
    console.print(table)


@capabilities.command("pause")
@click.argument("capability")
@click.option("--reason", required=True, help="why; published on chain")
@api_option
@key_option
def pause(capability: str, reason: str, api: str, key: str) -> None:
    """Pause a capability: its contract refuses every change but withdrawals."""
    row = _write(api, key, f"/v1/capabilities/{capability}/pause", {"reason": reason})
    console.print(f"{capability} paused in block {row['block_number']}", highlight=False)


@capabilities.command("unpause")
@click.argument("capability")
@click.option("--reason", default="", help="why; published on chain")
@api_option
@key_option
def unpause(capability: str, reason: str, api: str, key: str) -> None:
    """Let a paused capability change state again."""
    row = _write(api, key, f"/v1/capabilities/{capability}/unpause", {"reason": reason})
    console.print(f"{capability} running again from block {row['block_number']}",
                  highlight=False)


@click.group("platform-transfer")
def platform_transfer() -> None:
    """Move the platform role to a new custodial key in two steps (platform)."""


@platform_transfer.command("show")
@api_option
@key_option
def show_transfer(api: str, key: str) -> None:
    """The platform account and the proposed next one."""
    row = _call(api, key, "GET", "/v1/platform/transfer")
    console.print(f"platform {row['platform']}; proposed {row['candidate'] or '-'}",
                  highlight=False)


@platform_transfer.command("propose")
@api_option
@key_option
def propose(api: str, key: str) -> None:
    """Step one: make a new key and propose it on chain."""
    row = _write(api, key, "/v1/platform/transfer")
    console.print(f"proposed {row['candidate']} in block {row['block_number']}; "
                  "run `couponchain platform-transfer accept` to switch", highlight=False)


@platform_transfer.command("accept")
@api_option
@key_option
def accept(api: str, key: str) -> None:
    """Step two: the new key accepts; the platform signs with it from now on."""
    row = _write(api, key, "/v1/platform/transfer/accept")
    console.print(f"platform moved from {row['previous']} to {row['platform']} "
                  f"in block {row['block_number']}", highlight=False)


@platform_transfer.command("cancel")
@api_option
@key_option
def cancel(api: str, key: str) -> None:
    """Withdraw the pending proposal."""
    row = _write(api, key, "/v1/platform/transfer/cancel")
    console.print(f"proposal of {row['candidate']} withdrawn", highlight=False)
