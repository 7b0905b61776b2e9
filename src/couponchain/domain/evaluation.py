"""The issuance formula of a promotion round, and the hash that goes on chain.

The platform evaluates the period and issues

    total = min(max_total,
                base_per_merchant * merchants
                + sum(turnover) // turnover_per_coupon
                + per_consumer * consumers)

where

- `merchants` is the number of merchants settled in during the period,
- `turnover` is each of those merchants' total turnover in the period, in the
  settlement token's smallest unit,
- `consumers` is the number of registered consumers at the evaluation,
- `base_per_merchant` coupons are issued per merchant,
- one coupon is issued per `turnover_per_coupon` units of total turnover
  (rounded down: the turnover rate is `1 / turnover_per_coupon`),
- `per_consumer` coupons are issued per registered consumer,
- `max_total` caps the round (at most 2**64 - 1, the contract's cap).

All values are integers. The contract stores only `inputs_hash(inputs,
params)` and the total; anyone holding the published inputs can recompute both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from eth_abi import encode
from eth_utils import is_address, keccak, to_checksum_address

from couponchain.errors import InvalidInput

MAX_ROUND_TOTAL = 2**64 - 1
"""Largest total a round may issue (the contract refuses more)."""

_UINT256_MAX = 2**256 - 1

EVALUATION_TAG = keccak(text="CouponChain.PromotionEvaluation.v1")
"""Leads the hashed encoding, so a hash names the formula version it used."""

_ENCODING = (
    "bytes32",  # EVALUATION_TAG
    "address[]",  # merchants, sorted by address
    "uint256[]",  # their turnover, same order
    "uint256",  # consumers
    "uint256",  # base_per_merchant
    "uint256",  # turnover_per_coupon
    "uint256",  # per_consumer
    "uint256",  # max_total
)


@dataclass(frozen=True, slots=True)
class EvaluationInputs:
    """What the platform measured for the period.

    `turnover` maps each merchant settled in (chain address) to its total
    turnover in the period, in the settlement token's smallest unit (kept as
    a read-only copy).
    """

    turnover: Mapping[str, int]
    consumers: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "turnover", MappingProxyType(dict(self.turnover)))
        seen: set[str] = set()
        for account, amount in self.turnover.items():
            if not isinstance(account, str) or not is_address(account):
                raise InvalidInput(f"{account!r} is not a chain address", field="turnover")
            if account.lower() in seen:
                raise InvalidInput(f"merchant {account} appears twice", field="turnover")
            seen.add(account.lower())
            _check_int(amount, f"turnover[{account}]", 0, _UINT256_MAX)
        _check_int(self.consumers, "consumers", 0, _UINT256_MAX)

    @property
    def merchants(self) -> int:
        """The number of merchants settled in during the period."""
        return len(self.turnover)

    def canonical_turnover(self) -> list[tuple[str, int]]:
        """(checksummed merchant, turnover) pairs sorted by address: the hashed order."""
        return sorted(
            ((to_checksum_address(a), t) for a, t in self.turnover.items()),
            key=lambda pair: pair[0].lower(),
        )


@dataclass(frozen=True, slots=True)
class FormulaParams:
    """The documented parameters of the issuance formula (see the module docstring)."""

    base_per_merchant: int
    turnover_per_coupon: int
    per_consumer: int
    max_total: int

    def __post_init__(self) -> None:
        _check_int(self.base_per_merchant, "base_per_merchant", 0, _UINT256_MAX)
        _check_int(self.turnover_per_coupon, "turnover_per_coupon", 1, _UINT256_MAX)
        _check_int(self.per_consumer, "per_consumer", 0, _UINT256_MAX)
        _check_int(self.max_total, "max_total", 1, MAX_ROUND_TOTAL)


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The formula's result, its terms, and the hash recorded on chain."""

    total: int
    merchant_part: int
    turnover_part: int
    consumer_part: int
    clipped: bool
    inputs_hash: bytes


def issuance(inputs: EvaluationInputs, params: FormulaParams) -> int:
    """The round's total: the formula of the module docstring (may be 0)."""
    return evaluate(inputs, params).total


def evaluate(inputs: EvaluationInputs, params: FormulaParams) -> Evaluation:
    """Apply the formula and return the total with each term and the inputs' hash."""
    merchant_part = params.base_per_merchant * inputs.merchants
    turnover_part = sum(inputs.turnover.values()) // params.turnover_per_coupon
    consumer_part = params.per_consumer * inputs.consumers
    raw = merchant_part + turnover_part + consumer_part
    return Evaluation(
        total=min(raw, params.max_total),
        merchant_part=merchant_part,
        turnover_part=turnover_part,
        consumer_part=consumer_part,
        clipped=raw > params.max_total,
        inputs_hash=inputs_hash(inputs, params),
    )


def encode_inputs(inputs: EvaluationInputs, params: FormulaParams) -> bytes:
    """The ABI encoding that is hashed (types in `_ENCODING`), merchants sorted by address."""
    pairs = inputs.canonical_turnover()
    return encode(
        list(_ENCODING),
        [
            EVALUATION_TAG,
            [account for account, _ in pairs],
            [amount for _, amount in pairs],
            inputs.consumers,
            params.base_per_merchant,
            params.turnover_per_coupon,
            params.per_consumer,
            params.max_total,
        ],
    )


def inputs_hash(inputs: EvaluationInputs, params: FormulaParams) -> bytes:
    """keccak256 of `encode_inputs(inputs, params)`: the round's `inputs_hash`."""
    return keccak(encode_inputs(inputs, params))


def _check_int(value: int, field: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} must be an integer from {low} to {high}", field=field)
