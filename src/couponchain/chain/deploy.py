"""Deploying the contracts: once per chain, through the journal, recorded in SQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import select, update

from couponchain.chain import contracts
from couponchain.chain.gateway import Call, Gateway
from couponchain.domain.op_keys import platform_key
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


async def ensure_deployed(gateway: Gateway, platform: LocalAccount,
                          migrate: bool = False) -> dict[str, str]:
    """Deploy what is missing on this chain; a no-op when all are deployed.

    Deployments go through the gateway like every write, so the journal can
    replay them into a node that lost its state. A contract whose code changed
    since it was deployed stops the start, unless `migrate` (`couponchain
    migrate`): then the set is deployed anew and the state carried over
    (`chain/migrate.py`).
    """
    async with gateway.db.session() as s:
        rows = {
            d.name: d for d in (await s.execute(
                select(Deployment).where(Deployment.chain_id == gateway.chain_id))).scalars()
        }
    addresses: dict[str, str] = {}
    changed: list[str] = []
    for name, constructor_args in CONTRACTS:
        code = contracts.load(name)
        row = rows.get(name)
        if row is None:
            result = await gateway.submit(
                platform,
                Call(name, "constructor", init_code=code.deploy_data(*constructor_args(addresses)),
                     kind=f"deploy {name}"),
                op_key=platform_key("deploy", gateway.chain_id, name),
            )
            if not result.contract_address:
                raise ConfigurationError(f"deploying {name} created no contract")
            row = Deployment(chain_id=gateway.chain_id, name=name,
                             address=_checksum(result.contract_address),
                             source_hash=code.source_hash, code_hash=code.code_hash,
                             tx_hash=result.tx_hash)
            async with gateway.db.transaction() as s:
                s.add(row)
            rows[name] = row
        elif not await is_unchanged(gateway, row, code):
            if not migrate:
                raise ConfigurationError(changed_message(name, row.address, gateway.chain_id))
            changed.append(name)
        addresses[name] = row.address
        gateway.register_contract(name, row.address, code)
    if changed:
        from couponchain.chain.migrate import migrate as carry_over

        return await carry_over(gateway, platform, rows, CONTRACTS)
    return addresses


async def is_unchanged(gateway: Gateway, row: Deployment,
                       code: contracts.CompiledContract) -> bool:
    """Whether `row`'s contract runs the code its source compiles to now; a
    comment or docstring edit compiles to the same code.

    Rows written before the code hash was kept are judged once by the code on
    chain (when the node has it) and then remember the hash.
    """
    if row.code_hash == code.code_hash:
        return True
    if row.code_hash is None:
        same = row.source_hash == code.source_hash
        if not same:
            deployed = await gateway.rpc.call("eth_getCode", row.address, "latest")
            same = code.runs_on_chain(bytes.fromhex(str(deployed).removeprefix("0x")))
        if same:
            async with gateway.db.transaction() as s:
                await s.execute(update(Deployment).where(
                    Deployment.chain_id == row.chain_id, Deployment.name == row.name,
                ).values(code_hash=code.code_hash, source_hash=code.source_hash))
            row.code_hash = code.code_hash
            return True
    return False


def changed_message(name: str, address: str, chain_id: int) -> str:
    """The one line a start prints when a contract's code changed."""
    return (f"contracts/{name}.vy compiles to other code than the {name} contract deployed at "
            f"{address} on chain {chain_id} (a code change, not a comment): run `couponchain "
            "migrate` to deploy the new contracts and carry the state over, or start on a new "
            "data directory")


def _checksum(address: str) -> str:
    from eth_utils import to_checksum_address

    return to_checksum_address(address)
