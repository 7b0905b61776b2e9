"""A holder's edition redemption code (domain/edition_codes.py): its text form, and
the checks the service makes before redeeming with it."""

from __future__ import annotations

import pytest
from eth_account import Account

from couponchain.domain import edition_codes as rules
from couponchain.errors import InvalidInput

CHAIN, CONTRACT = 1337, "0x" + "ab" * 20
# Fixed keys: the parameters' ids must be the same in every pytest-xdist worker.
HOLDER, STRANGER = Account.from_key(b"\x11" * 32), Account.from_key(b"\x22" * 32)
NOW = 1_800_000_000


def _code(expiry: int = NOW + 60, key: object = None) -> tuple[rules.Redemption, bytes]:
    r = rules.Redemption(2**32 + 7, 99, expiry)
    return r, rules.sign(r, CHAIN, CONTRACT, key or HOLDER.key)


def test_a_code_reads_back_and_passes_for_its_holder() -> None:
    text = rules.encode(*_code())
    assert text.startswith("CCE1.") and len(text) < 200
    r, sig = rules.decode(text)
    assert r == rules.Redemption(2**32 + 7, 99, NOW + 60)
    rules.check(r, sig, chain_id=CHAIN, contract=CONTRACT, owner=HOLDER.address, now=NOW)


@pytest.mark.parametrize(("code", "now", "owner", "says"), [
    (_code(), NOW, STRANGER.address, "not signed by the coupon's holder"),
    (_code(key=STRANGER.key), NOW, HOLDER.address, "not signed by the coupon's holder"),
    (_code(NOW - 1), NOW, HOLDER.address, "expired"),
    (_code(NOW + rules.MAX_LIFETIME + 1), NOW, HOLDER.address, "more than 300 seconds"),
], ids=["another holder", "another signer", "expired", "too long"])
def test_a_code_is_refused_naming_the_code(code: tuple[rules.Redemption, bytes], now: int,
                                           owner: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as refused:
        rules.check(*code, chain_id=CHAIN, contract=CONTRACT, owner=owner, now=now)
    assert refused.value.field == "code"


@pytest.mark.parametrize("text", [
    "CCP2.1.2.3.0.4.AAAA", "CCE1.1.2.3", "CCE1.x.2.3.AAAA", "CCE1.1.2.3.!!!!",
    "CCE1.1.2.3." + "A" * 300,
])
def test_what_is_not_a_code_is_refused_naming_the_code(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        rules.decode(text)
    assert refused.value.field == "code"


def test_a_code_for_another_contract_is_refused() -> None:
    r, sig = _code()
    with pytest.raises(InvalidInput, match="not signed"):
        rules.check(r, sig, chain_id=CHAIN, contract="0x" + "cd" * 20, owner=HOLDER.address,
                    now=NOW)
