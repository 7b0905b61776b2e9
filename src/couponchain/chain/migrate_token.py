"""Carrying the settlement token over to a new deployment (`couponchain migrate`).

The new token reads every figure from the old one (token.vy, "Migration"); this
module only finds the accounts to name, from the old token's own logs, and
sends the batches:

- at the token's deployment (`carry_token`): `begin_migration`, the balance of
  every account a `Transfer` ever reached that has no code (people's keys), and,
  from a release with till credits, every merchant's till limit and what its
  tills credited;
- once every capability is deployed and has begun its own migration
  (`finish_token`): the balance each old capability contract held goes to the
  new contract that names it as `predecessor()` (`import_holder`), allowances
  (`Approval` pairs) are set again, an old capability's spender replaced by its
  successor, and `finish_migration`, which the token refuses until the supply
  equals the old one's.

A contract that is not a capability of the deployment cannot be carried (its
balance would have no owner on the new token): the finish is then refused and
the log names it.

Not carried, by design: EIP-2612 permit nonces and EIP-3009 authorization
states (`authorizationState`). Both are bound to the token's EIP-712 domain,
which names the token's own address, so no permit or `TransferWithAuthorization`
signed for the old token verifies on the new one: nothing can be replayed, and
a pending authorization is simply signed again for the new token.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from eth_utils import to_checksum_address

from couponchain.chain.gateway import Call, Gateway
from couponchain.chain.migrate_reads import Steps, events, staged, views
from couponchain.chain.rpc import RpcError
from couponchain.store.models import Deployment

log = logging.getLogger(__name__)

#: Items per transaction: a balance costs about 50,000 gas to carry over, an
#: allowance or a till limit about 30,000 to 50,000.
BALANCES_PER_TX = 200
ALLOWANCES_PER_TX = 200
TILLS_PER_TX = 200


async def _has_code(gateway: Gateway, accounts: Sequence[str]) -> list[bool]:
    replies = await gateway.rpc.batch(
        [("eth_getCode", [a, "latest"]) for a in accounts], strict=True)
    return [str(r) not in ("0x", "") for r in replies]


async def carry_token(gateway: Gateway, step: Steps, token: str, old: str) -> None:
    """Begin the new token's migration and carry over every balance held by an
    account without code, and the till figures when the old token has them."""
    transfers = await events(gateway, "token", old, "Transfer")
    named = list(dict.fromkeys(str(to_checksum_address(t["receiver"])) for t in transfers))
    code = await _has_code(gateway, named)
    people = [a for a, c in zip(named, code, strict=True) if not c]
    log.info("migration: %d token holders to carry over (%d contracts go to their successors)",
             len(people), len(named) - len(people))
    await step.send(token, Call(token, "begin_migration", (old,)), "begin")
    for i in range(0, len(people), BALANCES_PER_TX):
        await step.send(token, Call(token, "import_balances",
                                    (people[i:i + BALANCES_PER_TX],)), f"balances:{i}")
    try:
        merchants = [str(to_checksum_address(e["merchant"]))
                     for e in await events(gateway, "token", old, "TillLimitSet")]
        if merchants:
            await views(gateway, "token", old, "till_limit", [(merchants[0],)])
    except RpcError:  # the view reverts: a release without till credits
        merchants = []
    merchants = list(dict.fromkeys(merchants))
    for i in range(0, len(merchants), TILLS_PER_TX):
        await step.send(token, Call(token, "import_till_limits",
                                    (merchants[i:i + TILLS_PER_TX],)), f"tills:{i}")


async def finish_token(gateway: Gateway, step: Steps, rows: dict[str, Deployment],
                       addresses: dict[str, str]) -> None:
    """Carry the old capabilities' balances to their successors, the allowances,
    and finish the token's migration (refused unless the supply is whole)."""
    token, old = staged(step, "token"), rows["token"].address
    successor = await _successors(gateway, rows, addresses)
    held = await views(gateway, "token", old, "balanceOf", [(o,) for o in successor])
    done = await views(gateway, "token", addresses["token"], "carried", [(o,) for o in successor])
    for (retired, new), amount, carried_already in zip(successor.items(), held, done,
                                                       strict=True):
        if amount and not carried_already:  # referrals' carry did its own
            await step.send(token, Call(token, "import_holder", (new,)), f"holder:{retired}")
    pairs = list(dict.fromkeys(
        (str(to_checksum_address(e["owner"])), str(to_checksum_address(e["spender"])))
        for e in await events(gateway, "token", old, "Approval")))
    spenders = list(dict.fromkeys(s for _, s in pairs))
    code = dict(zip(spenders, await _has_code(gateway, spenders), strict=True))
    carried = [(o, successor[s] if code[s] else s) for o, s in pairs
               if not code[s] or s in successor]
    if len(carried) < len(pairs):
        log.warning("migration: %d allowances to contracts outside the deployment not carried",
                    len(pairs) - len(carried))
    for i in range(0, len(carried), ALLOWANCES_PER_TX):
        chunk = carried[i:i + ALLOWANCES_PER_TX]
        await step.send(token, Call(token, "import_allowances", (
            [o for o, _ in chunk], [s for _, s in chunk])), f"allowances:{i}")
    await step.send(token, Call(token, "finish_migration"), "finish")


async def _successors(gateway: Gateway, rows: dict[str, Deployment],
                      addresses: dict[str, str]) -> dict[str, str]:
    """{old capability: new one} for the new capabilities whose migration has
    begun (their `predecessor()` names the old one); the others cannot receive
    what the old one held."""
    out: dict[str, str] = {}
    for name, new in addresses.items():
        if name in ("registry", "token"):
            continue
        try:
            [before] = await views(gateway, "editions", new, "predecessor", [()])
        except RpcError:  # no `predecessor` view: a capability not carried over
            continue
        if str(before).lower() == rows[name].address.lower():
            out[str(to_checksum_address(rows[name].address))] = new
    return out
