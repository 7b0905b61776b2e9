"""Carrying promotions and marketing over to a new deployment (`couponchain migrate`).

The new contracts read every record from the old ones (`begin_migration`,
`import_*`, `finish_migration` in promotions.vy and marketing.vy); the
platform only says which batches to ask for, and, where the old contract
cannot list them, which accounts, merchants and batch ids (found in the old
contract's own logs on the node).

Promotions: every round (terms, counters, evaluation hashes, measured period),
every allowance left (merchants from `Allocated`), every granted coupon (ids
`[first_id, next_id)` of each round: holder, status, path of earlier holders,
write-off time, redeemer, pool) and every withdrawable credit (accounts a
`PoolDistributed` paid: its platform, issuer, redeemer, holder and the
coupon's earlier holders). The contract refuses to finish while a round, a
granted coupon or an allowance is missing. Consent and signed-transfer nonces
are not carried: signatures name the contract (EIP-712), so none made for the
old contract is valid on the new one.

Tokens: after the migration the new promotions contract is to hold what the
old one held in the token, which is what it owes: every credit carried plus
the pools of coupons written off and not yet distributed (`MigrationFinished.owed`;
anything sent to the old contract directly comes on top). Moving that balance
(old capability address -> new) is the token carry-over's part, not this module's;
`carry_promotions` logs both figures so a mismatch is seen.

Marketing: anchored access-log batches (batch ids and submitters from
`LogsAnchored`), every version of each merchant's reporting rules and
marketing info (merchants from `ReportingRulesSet` and `MarketingInfoUpdated`),
every report, and, from a contract of today's layout, rule schedules with
their indicator hashes and the periods reports answer. The contract refuses to
finish while an anchor, a report or a rule schedule is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from eth_utils import to_checksum_address

from couponchain.chain import contracts
from couponchain.chain.gateway import Call, Gateway
from couponchain.chain.migrate_reads import Steps, raw_logs, views
from couponchain.chain.rpc import RpcError

log = logging.getLogger(__name__)

#: Items per transaction. A coupon costs about 90,000 gas to carry over (up to
#: 450,000 with a full path of 16 earlier holders), an allowance or a credit
#: about 30,000, a round about 400,000.
ROUNDS_PER_TX = 20
ALLOWANCES_PER_TX = 100
COUPONS_PER_TX = 40
CLAIMS_PER_TX = 100
#: An anchor, a report or a rule schedule costs up to about 180,000 gas; a rules
#: or info version about 25,000.
MARKETING_PER_TX = 40
VERSIONS_PER_TX = 64

STATUS_WRITTEN_OFF, STATUS_DISTRIBUTED = 2, 3




def _topic_address(topic: str) -> str:
    return str(to_checksum_address("0x" + topic[-40:]))


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


async def _round_words(gateway: Gateway, old: str, count: int) -> list[list[int]]:
    """The first four words (first_id, total, next_id, allocated) of each round:
    the same in every release, whatever follows them."""
    code = contracts.load("promotions")
    words = []
    for i in range(1, count + 1):
        raw = await gateway.rpc.call("eth_call", {
            "to": old, "data": "0x" + code.encode_call("rounds", i).hex()}, "latest")
        data = bytes.fromhex(str(raw).removeprefix("0x"))
        words.append([int.from_bytes(data[k * 32:(k + 1) * 32], "big") for k in range(4)])
    return words


async def carry_promotions(gateway: Gateway, step: Steps, promotions: str, old: str) -> None:
    """Every round, allowance left, granted coupon and credit of `old`, read by
    the new contract `promotions` (registered under that name) from the chain."""
    [count] = await views(gateway, "promotions", old, "round_count", [()])
    rounds = await _round_words(gateway, old, count)
    coupon_ids = [c for first, _, next_id, _ in rounds for c in range(first, next_id)]
    allocated: dict[int, list[str]] = {}
    for entry in await raw_logs(gateway, "promotions", old, "Allocated"):
        merchant = _topic_address(entry["topics"][2])
        allocated.setdefault(int(entry["topics"][1], 16), [])
        if merchant not in allocated[int(entry["topics"][1], 16)]:
            allocated[int(entry["topics"][1], 16)].append(merchant)
    coupons = await views(gateway, "promotions", old, "coupon", [(c,) for c in coupon_ids])
    distributed = [c for c, record in zip(coupon_ids, coupons, strict=True)
                   if record[1] == STATUS_DISTRIBUTED]
    pending = sum(record[7] for record in coupons if record[1] == STATUS_WRITTEN_OFF)
    paths = await views(gateway, "promotions", old, "earlier_holders",
                        [(c,) for c in distributed])
    code = contracts.load("promotions")
    candidates: dict[str, None] = {}
    for entry in await raw_logs(gateway, "promotions", old, "PoolDistributed"):
        decoded = code.decode_log([bytes.fromhex(t[2:]) for t in entry["topics"]],
                                  bytes.fromhex(entry["data"][2:]))
        if decoded is not None:
            args = decoded[1]
            for key in ("platform", "issuer", "redeemer", "holder"):
                candidates[str(to_checksum_address(args[key]))] = None
    for path in paths:
        candidates.update(dict.fromkeys(str(to_checksum_address(a)) for a in path))
    accounts = list(candidates)
    credits = await views(gateway, "promotions", old, "claimable", [(a,) for a in accounts])
    creditors = [a for a, amount in zip(accounts, credits, strict=True) if amount]
    [token] = await views(gateway, "promotions", old, "token", [()])
    [held] = await views(gateway, "token", str(to_checksum_address(token)), "balanceOf", [(old,)])
    owed = sum(credits) + pending
    log.info("migration: promotions: %d rounds, %d coupons, %d creditors; owes %d, holds %d "
             "in the token (the token carry-over moves the holding)",
             count, len(coupon_ids), len(creditors), owed, held)
    if owed != held:
        log.warning("migration: promotions at %s holds %d but owes %d", old, held, owed)

    await step.send(promotions, Call(promotions, "begin_migration", (old,)), "begin")
    for first in range(0, count, ROUNDS_PER_TX):
        await step.send(promotions, Call(promotions, "import_rounds",
                                         (min(ROUNDS_PER_TX, count - first),)),
                        f"rounds:{first}")
    for round_id, merchants in sorted(allocated.items()):
        for i, part in enumerate(_chunks(merchants, ALLOWANCES_PER_TX)):
            await step.send(promotions, Call(promotions, "import_allowances",
                                             (round_id, list(part))), f"allowances:{round_id}:{i}")
    for i, part in enumerate(_chunks(coupon_ids, COUPONS_PER_TX)):
        await step.send(promotions, Call(promotions, "import_coupons", (list(part),)),
                        f"coupons:{i}")
    for i, part in enumerate(_chunks(creditors, CLAIMS_PER_TX)):
        await step.send(promotions, Call(promotions, "import_claims", (list(part),)),
                        f"claims:{i}")
    await step.send(promotions, Call(promotions, "finish_migration"), "finish")


async def carry_marketing(gateway: Gateway, step: Steps, marketing: str, old: str) -> None:
    """Every anchor, rules and info version, report and (from today's layout)
    rule schedule of `old`, read by the new contract `marketing` from the chain."""
    try:
        [schedules] = await views(gateway, "marketing", old, "rule_count", [()])
    except RpcError:  # the first release's layout: no rule schedules
        schedules = None
    anchored = list(dict.fromkeys(
        (_topic_address(e["topics"][3]), int(e["topics"][1], 16))
        for e in await raw_logs(gateway, "marketing", old, "LogsAnchored")))
    rule_merchants = list(dict.fromkeys(
        _topic_address(e["topics"][1])
        for e in await raw_logs(gateway, "marketing", old, "ReportingRulesSet")))
    info_merchants = list(dict.fromkeys(
        _topic_address(e["topics"][1])
        for e in await raw_logs(gateway, "marketing", old, "MarketingInfoUpdated")))
    rules = await views(gateway, "marketing", old, "reporting_rules",
                        [(m,) for m in rule_merchants])
    infos = await views(gateway, "marketing", old, "marketing_info",
                        [(m,) for m in info_merchants])
    [reports] = await views(gateway, "marketing", old, "report_count", [()])
    log.info("migration: marketing: %d anchors, %d merchants with rules, %d with info, "
             "%d reports, %s rule schedules", len(anchored), len(rule_merchants),
             len(info_merchants), reports, "no" if schedules is None else schedules)

    await step.send(marketing, Call(marketing, "begin_migration", (old,)), "begin")
    for i, part in enumerate(_chunks(anchored, MARKETING_PER_TX)):
        await step.send(marketing, Call(marketing, "import_anchors", (list(part),)),
                        f"anchors:{i}")
    for first in range(0, schedules or 0, MARKETING_PER_TX):
        await step.send(marketing, Call(marketing, "import_schedules",
                                        (min(MARKETING_PER_TX, schedules - first),)),
                        f"schedules:{first}")
    for function, merchants, states in (("import_rules", rule_merchants, rules),
                                        ("import_info", info_merchants, infos)):
        for merchant, state in zip(merchants, states, strict=True):
            versions = state[0]
            for first in range(0, versions, VERSIONS_PER_TX):
                await step.send(marketing, Call(marketing, function, (
                    merchant, min(VERSIONS_PER_TX, versions - first))),
                    f"{function}:{merchant}:{first}")
    for first in range(0, reports, MARKETING_PER_TX):
        await step.send(marketing, Call(marketing, "import_reports",
                                        (min(MARKETING_PER_TX, reports - first),)),
                        f"reports:{first}")
    await step.send(marketing, Call(marketing, "finish_migration"), "finish")
