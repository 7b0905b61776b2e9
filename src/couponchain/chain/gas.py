"""How many operations fit one transaction: learned from the gas receipts report.

The gateway merges operations that call the same batch entry point into one
transaction. How many fit is not known in advance (an item's gas depends on the
contract's state), so the model starts small, samples a few receipts of each
entry point and sizes later batches from the gas they used.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from couponchain.chain.calls import Call
from couponchain.chain.sender import SentTx


class GasModel:
    """Batch sizes per (contract, function), learned from sampled receipts."""

    def __init__(self, gas_limit: int, batch_max: int) -> None:
        self.gas_limit = gas_limit
        self.batch_max = batch_max
        self._per_item: dict[tuple[str, str], float] = {}
        self._receipts_seen: dict[tuple[str, str], int] = defaultdict(int)

    def group_cap(self, call: Call) -> int:
        """How many items of this call fit in one transaction's gas limit."""
        per_item = self._per_item.get((call.contract, call.function))
        if per_item is None:
            return min(self.batch_max, 32)  # unknown yet: start small, learn from receipts
        return max(1, min(self.batch_max, int(self.gas_limit * 0.8 // per_item)))

    def learn(self, call: Call, items: int, receipt: dict[str, Any]) -> None:
        """Take the gas a batch of `items` calls like `call` used."""
        if call.item is None:
            # Sent alone (a deployment, or a whole bulk chunk in `fixed`): its gas
            # says nothing about one merged item, and learning it would shrink the
            # batches of the same function's single-item calls to one per tx.
            return
        per_item = int(receipt["gasUsed"], 16) / items
        key = (call.contract, call.function)
        self._per_item[key] = max(per_item, self._per_item.get(key, 0) * 0.9)

    def ran_out(self, tx: SentTx) -> bool:
        """Whether a reverted transaction used (nearly) all the gas it was given."""
        assert tx.receipt is not None
        if "gasUsed" in tx.receipt:
            return int(tx.receipt["gasUsed"], 16) >= self.gas_limit * 0.98
        return tx.out_of_gas

    def too_big(self, call: Call, items: int) -> None:
        """A batch of `items` ran out of gas: size the next ones below it."""
        self._per_item[(call.contract, call.function)] = self.gas_limit / items

    def sample(self, call: Call) -> bool:
        """Whether to fetch this call's full receipt: always for deployments, and for
        a few of each batch entry point so the batch size follows the gas used."""
        if call.init_code is not None:
            return True
        key = (call.contract, call.function)
        self._receipts_seen[key] += 1
        return self._receipts_seen[key] <= 3 or self._receipts_seen[key] % 16 == 0
