"""CouponChain Credit at the till: platform-set limits and merchants' credits.

The platform sets each merchant's till limit (cumulative: what its tills may
credit in all); a merchant or one of its terminals credits a consumer for a
payment the shop took, minting within what is left of that limit.
"""

import boa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ZERO, deployer

ONE_CCC = 10**6
REF = b"receipt 0042".ljust(32, b"\0")

ERR_NOT_PLATFORM = "token: caller is not the platform"
ERR_NOT_ACTING = "token: caller is not an active merchant or terminal"
ERR_NOT_CONSUMER = "token: recipient is not a consumer"
ERR_EXCEEDED = "token: till limit exceeded"
ERR_ZERO_AMOUNT = "token: zero amount"
ERR_ZERO_MERCHANT = "token: zero merchant"
ERR_NOT_MERCHANT = "token: not an active merchant"


@pytest.fixture(scope="session")
def stranger() -> str:
    return boa.env.generate_address("till-stranger")


@pytest.fixture
def token(registry, platform):
    with boa.env.prank(platform):
        return deployer("token").deploy(registry)


def limited(token, platform, merchant, limit):
    with boa.env.prank(platform):
        token.set_till_limit(merchant, limit)


def credit(token, caller, consumer, amount, reference=REF):
    with boa.env.prank(caller):
        return token.till_credit(consumer, amount, reference)


def events(token, name):
    return [e for e in token.get_logs() if type(e).__name__ == name]


# --- limits --------------------------------------------------------------------------------


def test_platform_sets_limit_with_event(token, platform, merchant):
    limited(token, platform, merchant, 500 * ONE_CCC)
    (e,) = events(token, "TillLimitSet")
    assert (e.merchant, e.platform, e.limit, e.credited, e.remaining) == (
        merchant, platform, 500 * ONE_CCC, 0, 500 * ONE_CCC)
    assert token.till_limit(merchant) == 500 * ONE_CCC
    assert token.till_remaining(merchant) == 500 * ONE_CCC


@pytest.mark.parametrize("who", ["merchant", "terminal", "consumer", "stranger"])
def test_only_platform_sets_limits(token, merchant, terminal, consumer, stranger, who):
    caller = {"merchant": merchant, "terminal": terminal, "consumer": consumer,
              "stranger": stranger}[who]
    with boa.env.prank(caller), boa.reverts(ERR_NOT_PLATFORM):
        token.set_till_limit(merchant, 1)
    assert token.till_limit(merchant) == 0


def test_limit_for_zero_or_non_merchant_refused(token, platform, consumer, terminal):
    with boa.env.prank(platform):
        with boa.reverts(ERR_ZERO_MERCHANT):
            token.set_till_limit(ZERO, 1)
        for account in (consumer, terminal):
            with boa.reverts(ERR_NOT_MERCHANT):
                token.set_till_limit(account, 1)


def test_suspended_merchant_limit_may_only_go_down(token, registry, platform, merchant):
    limited(token, platform, merchant, 100)
    with boa.env.prank(platform):
        registry.suspend(merchant, "probe")
        with boa.reverts(ERR_NOT_MERCHANT):
            token.set_till_limit(merchant, 101)
        token.set_till_limit(merchant, 0)  # stopping it needs no standing
    assert token.till_remaining(merchant) == 0


def test_limit_is_cumulative(token, platform, merchant, consumer):
    limited(token, platform, merchant, 500)
    credit(token, merchant, consumer, 200)
    limited(token, platform, merchant, 800)  # raising by 300 leaves 600, not 800
    assert token.till_remaining(merchant) == 600
    limited(token, platform, merchant, 100)  # below what was credited: nothing left
    (e,) = events(token, "TillLimitSet")
    assert (e.limit, e.credited, e.remaining) == (100, 200, 0)
    with boa.reverts(ERR_EXCEEDED):
        credit(token, merchant, consumer, 1)


# --- credits -------------------------------------------------------------------------------


def test_merchant_credits_consumer(token, platform, merchant, consumer):
    limited(token, platform, merchant, 50 * ONE_CCC)
    left = credit(token, merchant, consumer, 20 * ONE_CCC)
    assert left == 30 * ONE_CCC
    (e,) = events(token, "TillCredited")
    assert (e.merchant, e.consumer, e.operator, e.amount, e.remaining, e.reference) == (
        merchant, consumer, merchant, 20 * ONE_CCC, 30 * ONE_CCC, REF)
    (t,) = events(token, "Transfer")
    assert (t.sender, t.receiver, t.value) == (ZERO, consumer, 20 * ONE_CCC)
    assert token.balanceOf(consumer) == 20 * ONE_CCC
    assert token.totalSupply() == 20 * ONE_CCC
    assert token.till_credited(merchant) == 20 * ONE_CCC


def test_terminal_credits_for_its_merchant(token, platform, merchant, terminal, consumer):
    limited(token, platform, merchant, 10)
    credit(token, terminal, consumer, 4, b"\0" * 32)
    (e,) = events(token, "TillCredited")
    assert (e.merchant, e.operator, e.remaining) == (merchant, terminal, 6)
    assert token.till_remaining(merchant) == 6
    assert token.till_remaining(terminal) == 0  # the terminal has no limit of its own


def test_limit_enforced_to_the_unit(token, platform, merchant, terminal, consumer):
    limited(token, platform, merchant, 10)
    credit(token, merchant, consumer, 6)
    with boa.reverts(ERR_EXCEEDED):
        credit(token, terminal, consumer, 5)  # the terminal shares its merchant's limit
    credit(token, terminal, consumer, 4)
    assert token.till_remaining(merchant) == 0
    assert token.balanceOf(consumer) == 10


def test_no_limit_no_credit(token, merchant, consumer):
    with boa.reverts(ERR_EXCEEDED):
        credit(token, merchant, consumer, 1)


def test_zero_amount_refused(token, platform, merchant, consumer):
    limited(token, platform, merchant, 10)
    with boa.reverts(ERR_ZERO_AMOUNT):
        credit(token, merchant, consumer, 0)


@pytest.mark.parametrize("who", ["platform", "consumer", "stranger"])
def test_non_merchant_refused(token, platform, merchant, consumer, stranger, who):
    limited(token, platform, merchant, 10)
    caller = {"platform": platform, "consumer": consumer, "stranger": stranger}[who]
    with boa.reverts(ERR_NOT_ACTING):
        credit(token, caller, consumer, 1)


def test_suspended_merchant_and_its_terminal_refused(token, registry, platform, merchant,
                                                      terminal, consumer):
    limited(token, platform, merchant, 10)
    with boa.env.prank(platform):
        registry.suspend(merchant, "probe")
    for caller in (merchant, terminal):
        with boa.reverts(ERR_NOT_ACTING):
            credit(token, caller, consumer, 1)
    with boa.env.prank(platform):
        registry.reinstate(merchant, "cleared")
    credit(token, terminal, consumer, 1)


def test_unbound_terminal_refused(token, registry, platform, merchant, terminal, consumer):
    limited(token, platform, merchant, 10)
    with boa.env.prank(merchant):
        registry.unbind(terminal, "stolen")
    with boa.reverts(ERR_NOT_ACTING):
        credit(token, terminal, consumer, 1)


@pytest.mark.parametrize("who", ["merchant", "terminal", "stranger", "zero"])
def test_recipient_must_be_consumer(token, platform, merchant, terminal, stranger, who):
    limited(token, platform, merchant, 10)
    to = {"merchant": merchant, "terminal": terminal, "stranger": stranger, "zero": ZERO}[who]
    with boa.reverts(ERR_NOT_CONSUMER):
        credit(token, merchant, to, 1)


def test_limits_are_per_merchant(token, platform, merchant, other_merchant, consumer):
    limited(token, platform, merchant, 5)
    with boa.reverts(ERR_EXCEEDED):
        credit(token, other_merchant, consumer, 1)
    limited(token, platform, other_merchant, 3)
    credit(token, other_merchant, consumer, 3)
    assert token.till_remaining(merchant) == 5


# --- property ------------------------------------------------------------------------------

# Each step: ("limit", merchant index, value) by the platform, or ("credit", caller
# index, amount) by a merchant (0, 1) or the terminal of merchant 0 (2).
_steps = st.lists(st.one_of(
    st.tuples(st.just("limit"), st.integers(0, 1), st.integers(0, 1_000)),
    st.tuples(st.just("credit"), st.integers(0, 2), st.integers(0, 600)),
), max_size=12)


@settings(deadline=None)
@given(steps=_steps)
def test_credits_never_exceed_limits(token, platform, merchant, other_merchant, terminal,
                                     consumer, steps):
    """Whatever the order of limits and credits, each merchant's credits (with its
    terminal's) add up to at most the largest limit the platform set for it, and
    exactly to what the contract counts; every refused credit was over what was left."""
    merchants = [merchant, other_merchant]
    callers = [merchant, other_merchant, terminal]
    acts_for = [0, 1, 0]
    with boa.env.anchor():
        limit = [0, 0]
        credited = [0, 0]
        highest = [0, 0]
        for kind, who, value in steps:
            if kind == "limit":
                limited(token, platform, merchants[who], value)
                limit[who] = value
                highest[who] = max(highest[who], value)
                continue
            m = acts_for[who]
            left = max(limit[m] - credited[m], 0)
            if value == 0:
                with boa.reverts(ERR_ZERO_AMOUNT):
                    credit(token, callers[who], consumer, value)
            elif value > left:
                with boa.reverts(ERR_EXCEEDED):
                    credit(token, callers[who], consumer, value)
            else:
                assert credit(token, callers[who], consumer, value) == left - value
                credited[m] += value
            for i in (0, 1):
                assert credited[i] <= highest[i]
                assert token.till_credited(merchants[i]) == credited[i]
                assert token.till_remaining(merchants[i]) == max(limit[i] - credited[i], 0)
        assert token.totalSupply() == sum(credited) == token.balanceOf(consumer)
