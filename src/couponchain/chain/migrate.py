"""Carrying a deployment over to changed contracts (`couponchain migrate`, issue 23).

When a contract's runtime code changed since it was deployed, a start refuses
(`deploy.check_unchanged`); a migration instead deploys the whole set anew (every
capability names the registry, so a new registry means new capabilities), has
the new contracts read the state of the old ones on chain, and records the old
deployment as retired and the new one with the next version.

Carried over: the registry's participants (roles, and each terminal's merchant,
read from the old registry); limited editions (every edition and every sold
coupon with its owner, status, channel and sale time; the contract refuses to
finish while one is missing); prize campaigns (prizes and counters, listed
terminals, awards with their status, winners' claim counts); the token
(`migrate_token.py`: every balance, till limits and what the tills credited,
allowances; what an old capability contract held goes to the new contract that
names it as its predecessor, allowances to it become allowances to its
successor, and the token refuses to finish until its supply equals the old
one's); referrals (`migrate_referrals.py`: products with every batch, every
holding with its current-batch units, what each account may withdraw, pending
rebates settled into it, and the funds for it); promotions
(`migrate_promotions.py`: rounds with their terms, allowances left, every granted
coupon with its holder, status, earlier holders, write-off and pool, and what
each account may withdraw; the old contract's tokens reach the new one through
the token's carry-over); marketing (access-log anchors, every version of each
merchant's rules and marketing info, reports, rule schedules). Every capability
of `deploy.CONTRACTS` is carried; one added later without a carry-over is
refused when it holds anything on chain, with one line naming what would be
lost, before anything is sent.

Every write goes through the gateway with a key derived from the step, so a
migration interrupted by a crash is resumed by running it again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from couponchain.chain import contracts, migrate_promotions
from couponchain.chain.gateway import Call, Gateway
from couponchain.chain.migrate_reads import raw_logs, views
from couponchain.chain.migrate_referrals import carry_referrals
from couponchain.chain.migrate_token import carry_token, finish_token
from couponchain.chain.rpc import RpcError
from couponchain.domain.op_keys import platform_key
from couponchain.domain.roles import Role
from couponchain.errors import ConfigurationError
from couponchain.store.models import Deployment, RetiredDeployment

log = logging.getLogger(__name__)

#: Capabilities whose state a migration carries over (the rest must be empty).
CARRIED = ("registry", "editions", "prizes", "token", "referrals", "promotions", "marketing")
#: Items per transaction: participants and coupons cost about 30,000 gas each to
#: carry over, an edition (its strings included) about 300,000.
PARTICIPANTS_PER_TX = 200
EDITIONS_PER_TX = 20
COUPONS_PER_TX = 200
#: A campaign (up to 16 prizes with their names) costs up to about 900,000 gas, an
#: award about 55,000.
CAMPAIGNS_PER_TX = 10
AWARDS_PER_TX = 100
TERMINALS_PER_TX = 64


async def migrate(gateway: Gateway, platform: LocalAccount, rows: dict[str, Deployment],
                  plan: Sequence[tuple[str, Any]]) -> dict[str, str]:
    """Deploy `plan` (deploy.CONTRACTS) anew, carry the registry and editions over
    from `rows` (the deployment now recorded) and record the new deployment.

    Returns the new addresses by name.
    """
    chain = gateway.chain_id
    await _refuse_uncarried_state(gateway, rows)
    version = max(row.version for row in rows.values()) + 1
    step = _Steps(gateway, platform, f"migrate:{chain}:v{version}")
    await _freeze_old(gateway, step, rows, version)
    addresses: dict[str, str] = {}
    for name, constructor_args in plan:
        code = contracts.load(name)
        deployed = await step.send(name, Call(
            name, "constructor", init_code=code.deploy_data(*constructor_args(addresses)),
            kind=f"deploy {name} v{version}"), "deploy")
        if not deployed.contract_address:
            raise ConfigurationError(f"deploying {name} v{version} created no contract")
        address = str(to_checksum_address(deployed.contract_address))
        addresses[name] = address
        staged = f"{name}.v{version}"  # the old contract keeps its name until the end
        gateway.register_contract(staged, address, code)
        if name == "registry":
            await _carry_participants(gateway, step, staged, rows["registry"].address)
        elif name == "editions":
            await _carry_editions(gateway, step, staged, rows["editions"].address)
        elif name == "prizes":
            await _carry_prizes(gateway, step, staged, rows["prizes"].address)
        elif name == "token":
            await carry_token(gateway, step, staged, rows["token"].address)
        elif name == "referrals":
            await carry_referrals(gateway, step, staged, rows["referrals"].address)
        elif name == "promotions":
            await migrate_promotions.carry_promotions(gateway, step, staged, rows[name].address)
        elif name == "marketing":
            await migrate_promotions.carry_marketing(gateway, step, staged, rows[name].address)
        step.txs[name] = deployed.tx_hash
    await finish_token(gateway, step, rows, addresses)  # once every capability has begun
    retired_at = await gateway.rpc.call("eth_blockNumber")
    async with gateway.db.transaction() as s:
        for name, address in addresses.items():
            row = rows[name]
            s.add(RetiredDeployment(
                chain_id=chain, name=name, version=row.version, address=row.address,
                code_hash=row.code_hash, replaced_by=address,
                retired_at_block=int(retired_at, 16)))
            current = await s.get(Deployment, (chain, name))
            assert current is not None
            code = contracts.load(name)
            current.address, current.version = address, version
            current.source_hash, current.code_hash = code.source_hash, code.code_hash
            current.tx_hash = step.txs[name]
    for name, address in addresses.items():
        gateway.register_contract(name, address, contracts.load(name))
    log.info("migrated to version %d: %s", version,
             ", ".join(f"{n} {rows[n].address} -> {a}" for n, a in addresses.items()))
    return addresses


class _Steps:
    """Sends the migration's writes as the platform, each under a key of its own."""

    def __init__(self, gateway: Gateway, platform: LocalAccount, prefix: str) -> None:
        self.gateway, self.platform, self.prefix = gateway, platform, prefix
        self.txs: dict[str, str] = {}
        #: The terminals carried over, by the merchant they are bound to.
        self.terminals: dict[str, list[str]] = {}

    async def send(self, name: str, call: Call, what: str) -> Any:
        return await self.gateway.submit(self.platform, call,
                                         op_key=platform_key(self.prefix, name, what))


async def _freeze_old(gateway: Gateway, step: _Steps, rows: dict[str, Deployment],
                      version: int) -> None:
    """Pause every old capability in the old registry before anything is read from
    it, so nothing changes behind the copy and the old contracts refuse every write
    from then on (`CapabilityPaused`, public, with the reason). A registry of a
    release without pauses (1feec7f) cannot be asked: its retirement is the new
    contracts' `MigrationStarted` events naming it."""
    registry = rows["registry"].address
    try:
        [paused] = await views(gateway, "registry", registry, "paused",
                                [(rows["editions"].address,)])
    except RpcError:  # the call reverts: no `paused` view, a release without pauses
        log.info("migration: the old registry %s cannot pause its capabilities", registry)
        return
    del paused
    for name, row in rows.items():
        if name in ("registry", "token"):  # the token has no pause switch
            continue
        [paused] = await views(gateway, "registry", registry, "paused", [(row.address,)])
        if not paused:
            await step.send("registry", Call("registry", "pause", (
                row.address, f"retired: migrating to deployment version {version}")),
                f"retire:{name}")


async def _refuse_uncarried_state(gateway: Gateway, rows: dict[str, Deployment]) -> None:
    """Refuse, before anything is sent, when a capability not carried over holds state:
    any log of it on chain beyond its deployment's own (read from the node, not the
    read models, which may lag)."""
    for name, row in rows.items():
        if name in CARRIED:
            continue
        logs = await gateway.rpc.call("eth_getLogs", {
            "address": row.address, "fromBlock": "0x0", "toBlock": "latest"})
        count = sum(1 for entry in logs if entry["transactionHash"] != row.tx_hash)
        if count:
            raise ConfigurationError(
                f"couponchain migrate carries {', '.join(CARRIED)} over, "
                f"not yet {name}, which has {count} "
                f"event{'s' if count != 1 else ''} on chain: "
                "nothing was changed; keep the contracts of this deployment or start on a "
                "new data directory")


async def _carry_participants(gateway: Gateway, step: _Steps, registry: str, old: str) -> None:
    """Every account the old registry ever registered (its own logs), carried over
    when the old registry gives it a role now; merchants first."""
    logs = await raw_logs(gateway, "registry", old, "ParticipantRegistered")
    accounts = list(dict.fromkeys(
        to_checksum_address("0x" + entry["topics"][1][-40:]) for entry in logs))
    roles = await views(gateway, "registry", old, "role_of", [(a,) for a in accounts])
    order = {int(Role.MERCHANT): 0, int(Role.TERMINAL): 1, int(Role.CONSUMER): 2}
    carried = sorted((order[r], n, a) for n, (a, r) in enumerate(zip(accounts, roles,
                                                                      strict=True)) if r in order)
    active = [a for _, _, a in carried]
    terminals = [a for o, _, a in carried if o == order[int(Role.TERMINAL)]]
    merchants = await views(gateway, "registry", old, "merchant_of", [(t,) for t in terminals])
    for terminal, merchant in zip(terminals, merchants, strict=True):
        step.terminals.setdefault(str(to_checksum_address(merchant)), []).append(terminal)
    log.info("migration: %d participants to carry over, %d without a role now (suspended, "
             "unbound, or the platform)", len(active), len(accounts) - len(active))
    await step.send(registry, Call(registry, "begin_migration", (old,)), "begin")
    for i in range(0, len(active), PARTICIPANTS_PER_TX):
        await step.send(registry, Call(registry, "import_participants",
                                       (active[i:i + PARTICIPANTS_PER_TX],)), f"import:{i}")
    await step.send(registry, Call(registry, "finish_migration"), "finish")


async def _carry_editions(gateway: Gateway, step: _Steps, editions: str, old: str) -> None:
    """Every edition of the old contract, then every coupon they sold (serials 1 to
    `sold` of each), all read from the chain."""
    [count] = await views(gateway, "editions", old, "edition_count", [()])
    found = await views(gateway, "editions", old, "edition",
                         [(e,) for e in range(1, count + 1)])
    coupon_ids = [(e << 32) | serial for e, record in enumerate(found, start=1)
                  for serial in range(1, record[2] + 1)]  # record[2]: sold
    await step.send(editions, Call(editions, "begin_migration", (old,)), "begin")
    for first in range(0, count, EDITIONS_PER_TX):
        await step.send(editions, Call(editions, "import_editions",
                                       (min(EDITIONS_PER_TX, count - first),)),
                        f"editions:{first}")
    for i in range(0, len(coupon_ids), COUPONS_PER_TX):
        await step.send(editions, Call(editions, "import_coupons",
                                       (coupon_ids[i:i + COUPONS_PER_TX],)), f"coupons:{i}")
    await step.send(editions, Call(editions, "finish_migration"), "finish")


async def _carry_prizes(gateway: Gateway, step: _Steps, prizes: str, old: str) -> None:
    """Every campaign, the terminals each lists (every carried terminal of its
    merchant is asked), then every award, all read from the chain."""
    [campaigns] = await views(gateway, "prizes", old, "campaign_count", [()])
    [awards] = await views(gateway, "prizes", old, "award_count", [()])
    found = await views(gateway, "prizes", old, "campaign",
                         [(c,) for c in range(1, campaigns + 1)])
    await step.send(prizes, Call(prizes, "begin_migration", (old,)), "begin")
    for first in range(0, campaigns, CAMPAIGNS_PER_TX):
        await step.send(prizes, Call(prizes, "import_campaigns",
                                     (min(CAMPAIGNS_PER_TX, campaigns - first),)),
                        f"campaigns:{first}")
    for campaign_id, campaign in enumerate(found, start=1):
        merchant, all_terminals = str(to_checksum_address(campaign[0])), campaign[5]
        candidates = [] if all_terminals else step.terminals.get(merchant, [])
        eligible = await views(gateway, "prizes", old, "terminal_eligible",
                                [(campaign_id, t) for t in candidates])
        listed = [t for t, ok in zip(candidates, eligible, strict=True) if ok]
        for i in range(0, len(listed), TERMINALS_PER_TX):
            await step.send(prizes, Call(prizes, "import_terminals", (
                campaign_id, listed[i:i + TERMINALS_PER_TX])), f"terminals:{campaign_id}:{i}")
    for first in range(0, awards, AWARDS_PER_TX):
        await step.send(prizes, Call(prizes, "import_awards",
                                     (min(AWARDS_PER_TX, awards - first),)), f"awards:{first}")
    await step.send(prizes, Call(prizes, "finish_migration"), "finish")
