"""Money on the pages: the credit token's amounts in its display unit, and back.

The API and the chain carry amounts as integers of the token's smallest unit
(`88000000`); people read and type them in the token's display unit with its
decimals (`88.000000 CCC`). The decimals and symbol are the token contract's own
constants (`contracts/token.vy`: `DECIMALS`, `SYMBOL`), read from its source here
so the pages cannot drift from the deployed token. The page scripts get the same
two values from `base.html` and format with `static/money.js`. Usage::

    format_amount(88_000_000)        # "88.000000 CCC"
    parse_amount("12.5", "price")    # 12_500_000
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from couponchain.errors import InvalidInput

TOKEN_SOURCE = Path(__file__).resolve().parents[1] / "contracts" / "token.vy"


@dataclass(frozen=True)
class Token:
    """The display unit of the credit token: its symbol and how many decimals it has."""

    symbol: str
    decimals: int

    @property
    def unit(self) -> int:
        """Smallest units in one whole token (10 ** decimals)."""
        return int(10**self.decimals)


@cache
def token() -> Token:
    """The credit token's symbol and decimals, as its contract declares them."""
    source = TOKEN_SOURCE.read_text(encoding="utf-8")
    symbol = re.search(r'^SYMBOL: constant\(String\[\d+\]\) = "([^"]+)"', source, re.M)
    decimals = re.search(r"^DECIMALS: constant\(uint8\) = (\d+)", source, re.M)
    if symbol is None or decimals is None:  # a renamed constant must fail loudly, not show 0
        raise RuntimeError(f"{TOKEN_SOURCE} no longer declares SYMBOL and DECIMALS")
    return Token(symbol=symbol.group(1), decimals=int(decimals.group(1)))


def format_amount(units: int | None, with_symbol: bool = True) -> str:
    """An amount of the smallest unit in the display unit, every decimal written.

    `88000000 -> "88.000000 CCC"`, `25 -> "0.000025 CCC"`, `None -> ""`. Exact:
    integer arithmetic only, no float.
    """
    if units is None:
        return ""
    t = token()
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(int(units)), t.unit)
    text = f"{sign}{whole}.{fraction:0{t.decimals}d}" if t.decimals else f"{sign}{whole}"
    return f"{text} {t.symbol}" if with_symbol else text


_AMOUNT = re.compile(r"^\d+(?:\.\d*)?$|^\.\d+$")


def parse_amount(text: str, field: str) -> int:
    """The smallest unit of an amount typed in the display unit ("12.5" -> 12500000).

    Refuses, naming `field`: a negative amount, text that is not a decimal
    number, and more decimals than the token has (no rounding: a typed amount is
    meant exactly).
    """
    t = token()
    cleaned = text.strip().removesuffix(t.symbol).strip().replace(",", "")
    if cleaned.startswith("-"):
        raise InvalidInput(f"{field} must not be negative", field=field)
    if not _AMOUNT.match(cleaned):
        raise InvalidInput(f"{field} must be a number such as 12.50", field=field)
    whole, _, fraction = cleaned.partition(".")
    fraction = fraction.rstrip("0")  # "1.500000000" is 1.5 exactly: not too many decimals
    if len(fraction) > t.decimals:
        raise InvalidInput(f"{field} has more than {t.decimals} decimals", field=field)
    # Integers only: exact at any size, where a Decimal's 28-digit context would round.
    return int(whole or "0") * t.unit + int(fraction.ljust(t.decimals, "0") or "0")
