"""The issuance formula of a promotion round and its inputs' hash (domain/evaluation.py)."""

import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from couponchain.domain.evaluation import (
    EVALUATION_TAG,
    MAX_ROUND_TOTAL,
    EvaluationInputs,
    FormulaParams,
    evaluate,
    inputs_hash,
    issuance,
)
from couponchain.errors import InvalidInput

M1 = "0x" + "11" * 20
M2 = "0x" + "22" * 20
M3 = "0x" + "ab" * 20
TOKEN = 10**18

PARAMS = FormulaParams(
    base_per_merchant=100, turnover_per_coupon=10 * TOKEN, per_consumer=2, max_total=10**9
)


def test_formula_adds_the_three_terms():
    inputs = EvaluationInputs(turnover={M1: 1_000 * TOKEN, M2: 505 * TOKEN}, consumers=40)
    result = evaluate(inputs, PARAMS)
    assert inputs.merchants == 2
    assert result.merchant_part == 200
    assert result.turnover_part == 150  # 1,505 tokens // 10 tokens, rounded down
    assert result.consumer_part == 80
    assert result.total == 430 == issuance(inputs, PARAMS)
    assert not result.clipped
    assert result.inputs_hash == inputs_hash(inputs, PARAMS)


def test_formula_is_clipped_to_the_maximum():
    params = FormulaParams(
        base_per_merchant=100, turnover_per_coupon=1, per_consumer=2, max_total=1_000
    )
    result = evaluate(EvaluationInputs(turnover={M1: 10**6}, consumers=0), params)
    assert (result.total, result.clipped) == (1_000, True)


def test_nothing_to_evaluate_issues_nothing():
    assert issuance(EvaluationInputs(turnover={}, consumers=0), PARAMS) == 0


def test_ten_million_coupons():
    params = FormulaParams(
        base_per_merchant=0, turnover_per_coupon=1, per_consumer=1, max_total=10_000_000
    )
    assert issuance(EvaluationInputs(turnover={}, consumers=10**8), params) == 10_000_000


def test_hash_is_keccak_of_the_documented_abi_encoding():
    inputs = EvaluationInputs(turnover={M2: 7, M1: 5}, consumers=3)
    expected = keccak(
        encode(
            ["bytes32", "address[]", "uint256[]", "uint256"] + ["uint256"] * 4,
            [EVALUATION_TAG, [M1, M2], [5, 7], 3, 100, 10 * TOKEN, 2, 10**9],
        )
    )
    assert inputs_hash(inputs, PARAMS) == expected
    assert len(expected) == 32


def test_hash_does_not_depend_on_order_or_address_case():
    a = EvaluationInputs(turnover={M1: 5, M3: 9}, consumers=3)
    b = EvaluationInputs(turnover={to_checksum_address(M3): 9, M1: 5}, consumers=3)
    assert inputs_hash(a, PARAMS) == inputs_hash(b, PARAMS)


@pytest.mark.parametrize(
    "change",
    [
        lambda i, p: (EvaluationInputs(turnover={M1: 6, M2: 7}, consumers=3), p),
        lambda i, p: (EvaluationInputs(turnover={M1: 7, M2: 5}, consumers=3), p),
        lambda i, p: (EvaluationInputs(turnover={M1: 5, M2: 7}, consumers=4), p),
        lambda i, p: (EvaluationInputs(turnover={M1: 5}, consumers=3), p),
        lambda i, p: (i, FormulaParams(101, p.turnover_per_coupon, 2, 10**9)),
        lambda i, p: (i, FormulaParams(100, p.turnover_per_coupon + 1, 2, 10**9)),
        lambda i, p: (i, FormulaParams(100, p.turnover_per_coupon, 3, 10**9)),
        lambda i, p: (i, FormulaParams(100, p.turnover_per_coupon, 2, 10**9 - 1)),
    ],
)
def test_hash_changes_with_every_input_and_parameter(change):
    inputs = EvaluationInputs(turnover={M1: 5, M2: 7}, consumers=3)
    assert inputs_hash(*change(inputs, PARAMS)) != inputs_hash(inputs, PARAMS)


def test_inputs_are_a_read_only_copy():
    turnover = {M1: 5}
    inputs = EvaluationInputs(turnover=turnover, consumers=0)
    turnover[M2] = 7
    assert inputs.merchants == 1
    with pytest.raises(TypeError):
        inputs.turnover[M2] = 7  # type: ignore[index]


@pytest.mark.parametrize(
    ("turnover", "consumers", "field"),
    [
        ({"not an address": 1}, 0, "turnover"),
        ({M3: 1, M3.upper().replace("0X", "0x"): 2}, 0, "turnover"),
        ({M1: -1}, 0, f"turnover[{M1}]"),
        ({M1: 1.5}, 0, f"turnover[{M1}]"),
        ({M1: 2**256}, 0, f"turnover[{M1}]"),
        ({}, -1, "consumers"),
        ({}, True, "consumers"),
    ],
)
def test_bad_inputs_name_the_field(turnover, consumers, field):
    with pytest.raises(InvalidInput) as caught:
        EvaluationInputs(turnover=turnover, consumers=consumers)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"base_per_merchant": -1}, "base_per_merchant"),
        ({"turnover_per_coupon": 0}, "turnover_per_coupon"),
        ({"per_consumer": 0.5}, "per_consumer"),
        ({"max_total": 0}, "max_total"),
        ({"max_total": MAX_ROUND_TOTAL + 1}, "max_total"),
    ],
)
def test_bad_parameters_name_the_field(kwargs, field):
    values = dict(base_per_merchant=1, turnover_per_coupon=1, per_consumer=1, max_total=10)
    with pytest.raises(InvalidInput) as caught:
        FormulaParams(**{**values, **kwargs})
    assert caught.value.field == field


@given(
    turnover=st.lists(st.integers(0, 10**30), max_size=5),
    consumers=st.integers(0, 10**9),
    base=st.integers(0, 10**6),
    per_coupon=st.integers(1, 10**24),
    per_consumer=st.integers(0, 10**3),
    cap=st.integers(1, MAX_ROUND_TOTAL),
)
def test_total_is_the_clipped_sum_of_its_terms(
    turnover, consumers, base, per_coupon, per_consumer, cap
):
    merchants = {"0x" + f"{i + 1:040x}": amount for i, amount in enumerate(turnover)}
    inputs = EvaluationInputs(turnover=merchants, consumers=consumers)
    result = evaluate(inputs, FormulaParams(base, per_coupon, per_consumer, cap))
    raw = base * len(turnover) + sum(turnover) // per_coupon + per_consumer * consumers
    assert result.total == min(raw, cap)
    assert 0 <= result.total <= MAX_ROUND_TOTAL
    assert result.clipped == (raw > cap)
