"""Deploying the contracts: once per chain, through the journal, recorded in SQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from couponchain.chain import contracts
from couponchain.chain.gateway import Call, Gateway
from couponchain.errors import ConfigurationError
from couponchain.store.models import Deployment

#: The platform's first bounds on the rebate terms an originator gives a batch
#: (basis points): the rebate ratio's cap and the promoter share's range. The
#: platform account moves them on chain later (`referrals.set_rebate_bounds`).
REFERRALS_MAX_REBATE_BPS = 3_000
REFERRALS_MIN_PROMOTER_SHARE_BPS = 500
REFERRALS_MAX_PROMOTER_SHARE_BPS = 5_000

#: Deployment order and each contract's constructor arguments, given the
#: addresses deployed before it.
CONTRACTS: list[tuple[str, Callable[[dict[str, str]], tuple[Any, ...]]]] = [
    ("registry", lambda _: ()),
    ("token", lambda a: (a["registry"],)),
    ("editions", lambda a: (a["registry"],)),
    ("promotions", lambda a: (a["registry"], a["token"])),
    ("prizes", lambda a: (a["registry"],)),
    ("referrals", lambda a: (a["registry"], a["token"], REFERRALS_MAX_REBATE_BPS,
                             REFERRALS_MIN_PROMOTER_SHARE_BPS, REFERRALS_MAX_PROMOTER_SHARE_BPS)),
    ("marketing", lambda a: (a["registry"],)),
]


async def ensure_deployed(gateway: Gateway, platform: LocalAccount) -> dict[str, str]:
    """Deploy what is missing on this chain; a no-op when all are deployed.

    Deployments go through the gateway like every write, so the journal can
    replay them into a node that lost its state.
    """
    async with gateway.db.session() as s:
        rows = {
            d.name: d for d in (await s.execute(
                select(Deployment).where(Deployment.chain_id == gateway.chain_id))).scalars()
        }
    addresses: dict[str, str] = {}
    for name, constructor_args in CONTRACTS:
        code = contracts.load(name)
        row = rows.get(name)
        if row is None:
            result = await gateway.submit(
                platform,
                Call(name, "constructor", init_code=code.deploy_data(*constructor_args(addresses)),
                     kind=f"deploy {name}"),
                op_key=f"deploy:{gateway.chain_id}:{name}",
            )
            if not result.contract_address:
                raise ConfigurationError(f"deploying {name} created no contract")
            row = Deployment(chain_id=gateway.chain_id, name=name,
                             address=_checksum(result.contract_address),
                             source_hash=code.source_hash, tx_hash=result.tx_hash)
            async with gateway.db.transaction() as s:
                s.add(row)
        elif row.source_hash != code.source_hash:
            raise ConfigurationError(
                f"contract {name} changed since it was deployed at {row.address} on chain "
                f"{gateway.chain_id}; deployed contracts are immutable: start on a new chain "
                "or a new data directory"
            )
        addresses[name] = row.address
        gateway.register_contract(name, row.address, code)
    return addresses


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return to_checksum_address(address)
