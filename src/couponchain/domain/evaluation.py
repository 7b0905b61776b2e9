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

All values are integers. The contract stores `inputs_hash(inputs, params)`
and the total; anyone holding the published inputs can recompute both.

Measured and declared inputs. The platform measures `merchants`, `consumers`
and each merchant's turnover from the ledger over a period of blocks
(`MeasuredInputs`, measured by `services/promotion_measure.py`): the round
records the period and `measured_hash(measured)` on chain, so anyone can
recompute that part from the chain's logs (`couponchain check-round`). The
platform may add declared inputs (turnover made off the chain, per merchant);
the formula runs over their sum (`combine`), and `inputs_hash` covers that sum.
A declared amount therefore never enters the measured hash: passing one off
as measured makes the recorded hash differ from the chain's.
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

MEASURED_TAG = keccak(text="CouponChain.PromotionMeasuredInputs.v1")
"""Leads the measured inputs' encoding (a hash names the measurement's version)."""

_MEASURED_ENCODING = (
    "bytes32",  # MEASURED_TAG
    "uint256",  # period_from (block)
    "uint256",  # period_to (block, the cut-off)
    "address[]",  # merchants registered by the cut-off, sorted by address
    "uint256[]",  # their measured turnover in the period, same order
    "uint256",  # consumers registered by the cut-off
)

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


@dataclass(frozen=True, slots=True)
class MeasuredInputs:
    """What the ledger says for a period of blocks `[period_from, period_to]`.

    `turnover` maps every merchant registered by the cut-off block
    (`period_to`) to its turnover measured in the period (0 when it had
    none); `consumers` counts the consumers registered by the cut-off.
    """

    period_from: int
    period_to: int
    turnover: Mapping[str, int]
    consumers: int

    def __post_init__(self) -> None:
        _check_int(self.period_from, "period.from_block", 0, _UINT256_MAX)
        _check_int(self.period_to, "period.to_block", self.period_from, _UINT256_MAX)
        # The same checks as the formula's inputs (addresses, repeats, ranges).
        inputs = EvaluationInputs(turnover=self.turnover, consumers=self.consumers)
        object.__setattr__(self, "turnover", inputs.turnover)

    @property
    def inputs(self) -> EvaluationInputs:
        """The measured part alone, as formula inputs."""
        return EvaluationInputs(turnover=self.turnover, consumers=self.consumers)


def measured_hash(measured: MeasuredInputs) -> bytes:
    """keccak256 of the measured inputs' ABI encoding (`_MEASURED_ENCODING`):
    the round's `measured_hash`."""
    pairs = measured.inputs.canonical_turnover()
    return keccak(encode(list(_MEASURED_ENCODING), [
        MEASURED_TAG, measured.period_from, measured.period_to,
        [account for account, _ in pairs], [amount for _, amount in pairs],
        measured.consumers,
    ]))


def combine(measured: MeasuredInputs, declared: Mapping[str, int],
            declared_consumers: int = 0) -> EvaluationInputs:
    """The formula's inputs: the measured ones plus the declared turnover and consumers.

    Each declared merchant must be one the measurement counted (registered
    by the cut-off): a declaration adds turnover, never a merchant.
    """
    known = {a.lower(): a for a in measured.turnover}
    turnover = dict(measured.turnover)
    for account, amount in declared.items():
        key = known.get(str(account).lower())
        if key is None:
            raise InvalidInput(f"merchant {account} was not registered by the period's "
                               f"cut-off block {measured.period_to}",
                               field="evaluation.declared_turnover")
        _check_int(amount, f"declared turnover of {account}", 0, _UINT256_MAX)
        turnover[key] += amount
    _check_int(declared_consumers, "evaluation.consumers", 0, _UINT256_MAX)
    return EvaluationInputs(turnover=turnover, consumers=measured.consumers + declared_consumers)


def _check_int(value: int, field: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} must be an integer from {low} to {high}", field=field)
