"""Amounts on the pages: the token's display unit, both ways, exact (web/money.py)."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from couponchain.errors import InvalidInput
from couponchain.web import display, money


def test_the_token_is_the_contracts_own() -> None:
    assert money.token() == money.Token(symbol="CCC", decimals=6)


@pytest.mark.parametrize(("units", "text"), [
    (88_000_000, "88.000000 CCC"), (25, "0.000025 CCC"), (0, "0.000000 CCC"),
    (-1_500_000, "-1.500000 CCC"),
    (2**256 - 1, f"{(2**256 - 1) // 10**6}.{(2**256 - 1) % 10**6:06d} CCC"),
])
def test_amounts_are_written_in_ccc_with_every_decimal(units: int, text: str) -> None:
    assert money.format_amount(units) == text
    if units >= 0:  # what the pages write, a form reads back exactly
        assert money.parse_amount(text, "price") == units


def test_typing_25_means_25_ccc_not_25_smallest_units() -> None:
    """Issue 24: the edition form took 25 as 0.000025 CCC."""
    assert money.parse_amount("25", "price") == 25_000_000
    assert money.parse_amount(" 0.000025 ", "price") == 25
    assert money.parse_amount("1,000.5", "price") == 1_000_500_000
    assert money.parse_amount(".5", "price") == 500_000
    assert money.parse_amount("1.5000000", "price") == 1_500_000  # zeros past 6 are exact


@pytest.mark.parametrize(("text", "message"), [
    ("1.1234567", "price has more than 6 decimals"),
    ("-3", "price must not be negative"),
    ("abc", "price must be a number such as 12.50"),
    ("", "price must be a number such as 12.50"),
    ("1e6", "price must be a number such as 12.50"),
])
def test_bad_amounts_are_refused_naming_the_field(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        money.parse_amount(text, "price")
    assert refused.value.field == "price"
    assert refused.value.message == message


def test_moments_are_written_as_utc_time_elements_for_local_rewriting() -> None:
    expected = Markup('<time datetime="2026-12-07T06:43:20Z" data-local>'
                      "2026-12-07 06:43 UTC</time>")
    assert display.when(1796625800) == expected
    assert display.when("2026-12-07T06:43:20Z") == expected
    assert display.when("2026-12-07T14:43:20+08:00") == expected
    assert display.when(None) == Markup("")
    marked = display.when("2026-12-07T06:43:20Z", proof="valid_from", label="valid <from>")
    assert 'data-proof="valid_from" data-label="valid &lt;from&gt;"' in marked
