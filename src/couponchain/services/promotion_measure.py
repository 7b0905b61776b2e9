"""Measuring a promotion round's evaluation inputs from the ledger (DESIGN §2.2).

The same code runs in the platform (when it opens a round) and in
`couponchain check-round` (against a node the user trusts), so both read the
chain the same way. Only the contracts' logs count, fetched with
`eth_getLogs`:

- merchants: every `ParticipantRegistered` with the merchant role in the
  registry from block 0 to the cut-off block (`period_to`), suspended or
  not (a registration is never undone);
- consumers: likewise with the consumer role;
- each merchant's turnover in the period `[period_from, period_to]`:
  - editions `CouponSold.price` of the merchant's editions (the edition's
    merchant from `EditionRegistered`), less the price of a coupon sold in
    the period and voided (`CouponVoided`) by the cut-off;
  - referrals `Purchased.amount` (what the buyer paid) of the products the
    merchant originated (`ProductRegistered.originator`);
  - promotions `WrittenOff.order_amount` of the write-offs the merchant made
    (its terminals included), less those reversed (`WriteOffReversed`) by the
    cut-off.
  Events naming an account that is not a merchant registered by the cut-off
  are ignored.

Nothing here trusts the platform's database: the fold takes raw logs only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from couponchain.domain.evaluation import MeasuredInputs
from couponchain.errors import InvalidInput

ROLE_MERCHANT = 2
ROLE_CONSUMER = 4
#: Blocks per `eth_getLogs` request (nodes cap the range or the answer's size).
CHUNK_BLOCKS = 5_000

#: Events read from block 0 to the cut-off: who is registered, who owns what.
REGISTRATION_EVENTS: dict[str, tuple[str, ...]] = {
    "registry": ("ParticipantRegistered",),
    "editions": ("EditionRegistered",),
    "referrals": ("ProductRegistered",),
}
#: Events read over the period: what counts towards turnover.
TURNOVER_EVENTS: dict[str, tuple[str, ...]] = {
    "editions": ("CouponSold", "CouponVoided"),
    "referrals": ("Purchased",),
    "promotions": ("WrittenOff", "WriteOffReversed"),
}


@dataclass(frozen=True)
class Sources:
    """Turnover by merchant and by source (for display; the hash covers the sum)."""

    sales: Mapping[str, int]
    purchases: Mapping[str, int]
    write_offs: Mapping[str, int]


@dataclass(frozen=True)
class Measurement:
    """The measured inputs and where each merchant's turnover came from."""

    inputs: MeasuredInputs
    sources: Sources
    logs: int


@dataclass(frozen=True)
class LogFilter:
    """One `eth_getLogs` request."""

    addresses: tuple[str, ...]
    topics: tuple[str, ...]
    from_block: int
    to_block: int

    def params(self) -> dict[str, Any]:
        """The request's JSON-RPC parameter object."""
        return {"address": list(self.addresses), "topics": [list(self.topics)],
                "fromBlock": hex(self.from_block), "toBlock": hex(self.to_block)}


def plan(addresses: Mapping[str, str], period_from: int,
         period_to: int) -> list[LogFilter]:
    """The `eth_getLogs` requests of a measurement, in chunks of CHUNK_BLOCKS."""
    if not 0 <= period_from <= period_to:
        raise InvalidInput("the period must start at or before its cut-off block",
                           field="evaluation.period")
    filters: list[LogFilter] = []
    for events, start in ((REGISTRATION_EVENTS, 0), (TURNOVER_EVENTS, period_from)):
        wanted = tuple(addresses[name] for name in events)
        topics = tuple(sorted(_topic(name, event) for name in events for event in events[name]))
        for low in range(start, period_to + 1, CHUNK_BLOCKS):
            filters.append(LogFilter(wanted, topics, low, min(low + CHUNK_BLOCKS - 1,
                                                              period_to)))
    return filters


def fold(logs: Iterable[Mapping[str, Any]], addresses: Mapping[str, str], period_from: int,
         period_to: int) -> Measurement:
    """The measured inputs from the raw logs `plan`'s requests returned."""
    from couponchain.chain import contracts

    by_address = {a.lower(): name for name, a in addresses.items()}
    decoded: list[tuple[int, int, str, str, dict[str, Any]]] = []
    for log in logs:
        name = by_address.get(str(log["address"]).lower())
        if name is None:
            continue
        topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
        found = contracts.load(name).decode_log(topics, bytes.fromhex(log["data"][2:]))
        if found is None:
            continue
        decoded.append((int(log["blockNumber"], 16), int(log["logIndex"], 16), name, *found))
    decoded.sort(key=lambda e: (e[0], e[1]))
    merchants: set[str] = set()
    consumers = 0
    edition_owner: dict[int, str] = {}
    product_owner: dict[int, str] = {}
    for block, _, _, event, a in decoded:
        if block > period_to:
            continue
        if event == "ParticipantRegistered":
            role = int(a["role"])
            if role == ROLE_MERCHANT:
                merchants.add(a["account"])
            elif role == ROLE_CONSUMER:
                consumers += 1
        elif event == "EditionRegistered":
            edition_owner[int(a["edition_id"])] = a["merchant"]
        elif event == "ProductRegistered":
            product_owner[int(a["product_id"])] = a["originator"]
    sales: dict[int, tuple[str, int]] = {}
    purchases: dict[str, int] = {}
    write_offs: dict[int, tuple[str, int]] = {}
    for block, _, _, event, a in decoded:
        if not period_from <= block <= period_to:
            continue
        if event == "CouponSold":
            sales[int(a["coupon_id"])] = (edition_owner.get(int(a["edition_id"]), ""),
                                          int(a["price"]))
        elif event == "CouponVoided":
            sales.pop(int(a["coupon_id"]), None)
        elif event == "Purchased":
            owner = product_owner.get(int(a["product_id"]), "")
            purchases[owner] = purchases.get(owner, 0) + int(a["amount"])
        elif event == "WrittenOff":
            write_offs[int(a["coupon_id"])] = (a["merchant"], int(a["order_amount"]))
        elif event == "WriteOffReversed":
            write_offs.pop(int(a["coupon_id"]), None)
    by_sale = _sum(sales.values(), merchants)
    by_purchase = {m: t for m, t in purchases.items() if m in merchants and t}
    by_write_off = _sum(write_offs.values(), merchants)
    turnover = {m: by_sale.get(m, 0) + by_purchase.get(m, 0) + by_write_off.get(m, 0)
                for m in merchants}
    return Measurement(
        MeasuredInputs(period_from=period_from, period_to=period_to, turnover=turnover,
                       consumers=consumers),
        Sources(sales=by_sale, purchases=by_purchase, write_offs=by_write_off), len(decoded))


async def measure(get_logs: Callable[[LogFilter], Awaitable[Sequence[Mapping[str, Any]]]],
                  addresses: Mapping[str, str], period_from: int,
                  period_to: int) -> Measurement:
    """Fetch the period's logs with `get_logs` and fold them (the platform's side)."""
    logs: list[Mapping[str, Any]] = []
    for request in plan(addresses, period_from, period_to):
        logs.extend(await get_logs(request))
    return fold(logs, addresses, period_from, period_to)


def measure_blocking(get_logs: Callable[[LogFilter], Sequence[Mapping[str, Any]]],
                     addresses: Mapping[str, str], period_from: int, period_to: int,
                     progress: Callable[[int, int], None] | None = None) -> Measurement:
    """`measure` for a blocking client (the CLI); `progress(done, total)` after each request."""
    requests = plan(addresses, period_from, period_to)
    logs: list[Mapping[str, Any]] = []
    for done, request in enumerate(requests, 1):
        logs.extend(get_logs(request))
        if progress is not None:
            progress(done, len(requests))
    return fold(logs, addresses, period_from, period_to)


def sources_public(sources: Sources) -> dict[str, dict[str, str]]:
    """The per-source turnover as published (amounts as decimal strings)."""
    return {kind: {m: str(t) for m, t in sorted(getattr(sources, kind).items())}
            for kind in ("sales", "purchases", "write_offs")}


def _sum(entries: Iterable[tuple[str, int]], merchants: set[str]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for merchant, amount in entries:
        if merchant in merchants and amount:
            totals[merchant] = totals.get(merchant, 0) + amount
    return totals


def _topic(contract: str, event: str) -> str:
    from couponchain.chain import contracts

    code = contracts.load(contract)
    return next("0x" + topic.hex() for topic, spec in code.events.items() if spec.name == event)
