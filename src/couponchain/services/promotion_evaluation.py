"""A promotion round's evaluation: the period measured from the ledger plus the
declared inputs, through the issuance formula (DESIGN §2.2, issue 27).

The measurement itself (which logs count) is `promotion_measure`; the formula
and the hashes are `domain.evaluation`. This module picks the period, checks
the declared inputs and writes the evaluation as it is published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from couponchain.domain.evaluation import (
    Evaluation,
    FormulaParams,
    combine,
    evaluate,
    measured_hash,
)
from couponchain.domain.roles import Role
from couponchain.domain.splits import Shares
from couponchain.errors import InvalidInput
from couponchain.services import promotion_measure as measure
from couponchain.store.models import PromotionRound


@dataclass(frozen=True)
class RoundRequest:
    """A round as the platform asks for it (merchants by id or address).

    `turnover` and `consumers` are the platform's declared inputs, added to
    what is measured from the ledger over the period (`promotion_measure`);
    `period_from`/`period_to` default to the block after the last measured
    round's period and the chain's head.
    """

    turnover: Sequence[tuple[str, int]]
    consumers: int
    formula: FormulaParams
    incentive_bps: int
    shares: Shares
    rollback_window: int
    consent_lifetime: int
    period_from: int | None = None
    period_to: int | None = None


class RoundEvaluator:
    """Evaluates rounds against the runtime's node, participants and read models."""

    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    @property
    def db(self) -> Any:
        return self.rt.db

    async def evaluate(self, request: RoundRequest) -> tuple[Evaluation, dict[str, Any]]:
        """Measure the period, add the declared inputs and apply the formula.

        Returns the result and the evaluation as published: the period, the
        measured inputs (with their hash and sources), the declared ones, their
        sums (what the formula used) and the formula.
        """
        merchants = await self.rt.participants.addresses(
            [m for m, _ in request.turnover],
            [f"evaluation.turnover.{i}.merchant" for i in range(len(request.turnover))],
            role=Role.MERCHANT)
        declared: dict[str, int] = {}
        for i, (address, (_, amount)) in enumerate(zip(merchants, request.turnover,
                                                       strict=True)):
            if address in declared:
                raise InvalidInput(f"merchant {address} appears twice",
                                   field=f"evaluation.turnover.{i}.merchant")
            declared[address] = amount
        measurement = await self.measure(*await self._period(request))
        measured = measurement.inputs
        inputs = combine(measured, declared, request.consumers)
        result = evaluate(inputs, request.formula)
        f = request.formula
        published = {
            "period": {"from_block": measured.period_from, "to_block": measured.period_to},
            "measured": {
                "turnover": [[a, str(t)] for a, t in measured.inputs.canonical_turnover()],
                "consumers": str(measured.consumers),
                "hash": "0x" + measured_hash(measured).hex(),
                "sources": measure.sources_public(measurement.sources)},
            "declared": {
                "turnover": [[a, str(t)] for a, t in sorted(declared.items(),
                                                            key=lambda p: p[0].lower())],
                "consumers": str(request.consumers)},
            "turnover": [[a, str(t)] for a, t in inputs.canonical_turnover()],
            "consumers": str(inputs.consumers),
            "formula": {"base_per_merchant": str(f.base_per_merchant),
                        "turnover_per_coupon": str(f.turnover_per_coupon),
                        "per_consumer": str(f.per_consumer), "max_total": str(f.max_total)},
        }
        return result, published

    async def measure(self, period_from: int, period_to: int) -> measure.Measurement:
        """The inputs measured from the node's logs over `[period_from, period_to]`."""
        addresses = {name: self.rt.gateway.contracts[name][0]
                     for name in ("registry", "editions", "referrals", "promotions")}

        async def get_logs(request: measure.LogFilter) -> list[dict[str, Any]]:
            return await self.rt.rpc.call(  # type: ignore[no-any-return]
                "eth_getLogs", request.params())

        return await measure.measure(get_logs, addresses, period_from, period_to)

    async def _period(self, request: RoundRequest) -> tuple[int, int]:
        """The request's period, its defaults filled in and checked against the head."""
        head = int(await self.rt.rpc.call("eth_blockNumber"), 16)
        period_to = head if request.period_to is None else request.period_to
        if not 0 <= period_to <= head:
            raise InvalidInput(f"must be a mined block (the head is {head})",
                               field="evaluation.period.to_block")
        period_from = request.period_from
        if period_from is None:
            async with self.db.session() as s:
                last = (await s.execute(select(func.max(PromotionRound.period_to)))).scalar()
            period_from = 0 if last is None else int(last) + 1
        if not 0 <= period_from <= period_to:
            raise InvalidInput(f"must be at most the period's cut-off block {period_to}",
                               field="evaluation.period.from_block")
        return period_from, period_to
