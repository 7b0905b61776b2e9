"""Suspension, unbinding and pauses as every capability sees them (issue 23).

The registry's own rules are in test_registry.py; here each capability is
deployed against it and the point is what a suspended or unbound terminal, a
suspended merchant and a paused capability can no longer do there, and that
reinstating or unpausing gives it back. Every test here fails on the registry
of 1feec7f, which had no suspension, no unbinding and no pause.
"""

import boa
import pytest
import referrals_setup
from prizes_setup import build_world as build_prizes
from promotions_setup import DEFAULT_WINDOW
from promotions_setup import build_world as build_promotions

from conftest import deployer
from couponchain.domain.edition_slots import Channel, coupon_id_of

ZERO = "0x" + "00" * 20
REF = b"\x42" * 32
DAY = 86_400
ROOT = b"\x11" * 32

PAUSED = "registry: capability paused"
SUSPENDED = "registry: caller suspended"
UNBOUND = "registry: terminal unbound"


def suspend(registry, by, account, reason="lost"):
    with boa.env.prank(by):
        registry.suspend(account, reason)


def reinstate(registry, by, account):
    with boa.env.prank(by):
        registry.reinstate(account, "found")


def unbind(registry, by, terminal):
    with boa.env.prank(by):
        registry.unbind(terminal, "retired")


def pause(registry, platform, capability):
    with boa.env.prank(platform):
        registry.pause(capability.address, "incident 7")


def unpause(registry, platform, capability):
    with boa.env.prank(platform):
        registry.unpause(capability.address, "fixed")


# --- editions ------------------------------------------------------------------------------


@pytest.fixture
def editions(registry):
    return deployer("editions").deploy(registry.address)


@pytest.fixture
def edition_id(editions, merchant):
    now = boa.env.timestamp
    with boa.env.prank(merchant):
        return editions.register_edition("Cafe", "Latte", "terms", "LATTE", 10, 300, now, now + DAY)


def sell(editions, caller, edition_id, buyer):
    with boa.env.prank(caller):
        return editions.record_sale(edition_id, buyer, 300, Channel.OFFLINE, REF)


def test_suspended_terminal_neither_sells_nor_redeems(
    registry, editions, edition_id, merchant, terminal, consumer
):
    coupon = coupon_id_of(edition_id, sell(editions, terminal, edition_id, consumer))
    suspend(registry, merchant, terminal)
    with boa.reverts(SUSPENDED):
        sell(editions, terminal, edition_id, consumer)
    with boa.env.prank(terminal), boa.reverts(SUSPENDED):
        editions.redeem(coupon)
    reinstate(registry, merchant, terminal)
    sell(editions, terminal, edition_id, consumer)
    with boa.env.prank(terminal):
        editions.redeem(coupon)


def test_unbound_terminal_stops_for_good(
    registry, editions, edition_id, merchant, terminal, consumer
):
    unbind(registry, merchant, terminal)
    with boa.reverts(UNBOUND):
        sell(editions, terminal, edition_id, consumer)
    with boa.env.prank(merchant), boa.reverts("registry: account not suspended"):
        registry.reinstate(terminal, "")
    assert registry.role_of(terminal) == 0
    assert registry.merchant_of(terminal) == ZERO


def test_suspended_merchant_stops_itself_and_its_terminals(
    registry, editions, edition_id, platform, merchant, terminal, consumer
):
    coupon = coupon_id_of(edition_id, sell(editions, merchant, edition_id, consumer))
    suspend(registry, platform, merchant, "chargebacks under review")
    # The merchant acting directly: editions compares the caller with the
    # edition's stored merchant and never asked the registry before.
    for caller in (merchant, terminal):
        with boa.reverts(SUSPENDED):
            sell(editions, caller, edition_id, consumer)
        with boa.env.prank(caller), boa.reverts(SUSPENDED):
            editions.redeem(coupon)
    with boa.env.prank(merchant), boa.reverts(SUSPENDED):
        editions.void(coupon)
    reinstate(registry, platform, merchant)
    sell(editions, terminal, edition_id, consumer)


def test_paused_editions_refuse_every_write(
    registry, editions, edition_id, platform, merchant, consumer, other_merchant
):
    coupon = coupon_id_of(edition_id, sell(editions, merchant, edition_id, consumer))
    pause(registry, platform, editions)
    assert [type(e).__name__ for e in registry.get_logs()] == ["CapabilityPaused"]
    assert registry.paused(editions.address)
    with boa.reverts(PAUSED):
        sell(editions, merchant, edition_id, consumer)
    with boa.env.prank(consumer), boa.reverts(PAUSED):
        editions.transfer(coupon, other_merchant)
    with boa.env.prank(merchant), boa.reverts(PAUSED):
        editions.redeem(coupon)
    with boa.env.prank(merchant), boa.reverts(PAUSED):
        editions.register_edition("Cafe", "Tea", "terms", "TEA", 1, 1, 0, boa.env.timestamp + 9)
    assert editions.coupon(coupon).status == 1  # reads still answer
    unpause(registry, platform, editions)
    with boa.env.prank(merchant):
        editions.redeem(coupon)


def test_pausing_one_capability_leaves_the_others(registry, editions, edition_id, platform,
                                                   merchant, consumer):
    other = deployer("editions").deploy(registry.address)
    pause(registry, platform, other)
    sell(editions, merchant, edition_id, consumer)


# --- promotions ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promotions_world(platform, merchant, other_merchant, terminal):
    return build_promotions(platform, merchant, other_merchant, terminal)


def test_write_off_by_suspended_or_unbound_terminal_refused(promotions_world):
    w = promotions_world
    holder = w.holders[0]
    coupon = w.give(holder)
    suspend(w.registry, w.merchant, w.terminal)
    with boa.reverts(SUSPENDED):
        w.write_off(coupon, holder, 1_000, caller=w.terminal)
    unbind(w.registry, w.merchant, w.terminal)  # also while suspended
    with boa.reverts(UNBOUND):
        w.write_off(coupon, holder, 1_000, caller=w.terminal)
    w.write_off(coupon, holder, 1_000, caller=w.merchant)


def test_suspended_merchant_neither_grants_nor_receives(promotions_world):
    w = promotions_world
    round_id = w.open_round()
    w.allocate(round_id, w.merchant, 2)
    suspend(w.registry, w.platform, w.merchant)
    with boa.reverts(SUSPENDED):
        w.grant(round_id, w.merchant, [w.holders[0].address], [1])
    with boa.reverts("promotions: allocation to a non-merchant"):
        w.allocate(round_id, w.merchant, 1)
    reinstate(w.registry, w.platform, w.merchant)
    w.grant(round_id, w.merchant, [w.holders[0].address], [1])


def test_paused_promotions_refuse_writes_but_pay_out(promotions_world):
    w = promotions_world
    holder = w.holders[1]
    coupon = w.give(holder)
    w.write_off(coupon, holder, 10_000)
    boa.env.time_travel(seconds=DEFAULT_WINDOW + 1)
    with boa.env.prank(w.platform):
        w.promotions.distribute([coupon])
    pause(w.registry, w.platform, w.promotions)
    with boa.reverts(PAUSED):
        w.open_round()
    with boa.reverts(PAUSED):
        w.give(holder, round_id=0)
    # What was credited before the pause stays withdrawable: a pause stops
    # business, it does not hold anyone's money.
    owed = w.promotions.claimable(w.merchant)
    assert owed > 0
    with boa.env.prank(w.merchant):
        assert w.promotions.withdraw() == owed


# --- prizes --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prizes_world(platform, merchant, other_merchant, terminal):
    return build_prizes(platform, merchant, other_merchant, terminal)


def test_claim_by_suspended_or_unbound_terminal_refused(prizes_world):
    w = prizes_world
    campaign = w.create(terminals=[w.terminal, w.second_terminal])
    first = w.award(campaign, w.consumers[:2], [0, 0])
    suspend(w.registry, w.merchant, w.terminal)
    with boa.reverts(SUSPENDED):
        w.claim([first], [w.consumers[0]])
    unbind(w.registry, w.merchant, w.second_terminal)
    with boa.reverts(UNBOUND):
        w.claim([first], [w.consumers[0]], caller=w.second_terminal)
    reinstate(w.registry, w.merchant, w.terminal)
    w.claim([first], [w.consumers[0]])
    # An unbound terminal cannot be named in a new campaign either.
    with boa.reverts("prizes: not a terminal"):
        w.create(terminals=[w.second_terminal])


def test_suspended_merchant_neither_awards_nor_claims(prizes_world, platform):
    w = prizes_world
    campaign = w.create()
    first = w.award(campaign, w.consumers[:1], [0])
    suspend(w.registry, platform, w.merchant)
    with boa.reverts(SUSPENDED):
        w.award(campaign, w.consumers[1:2], [0])
    for caller in (w.merchant, w.terminal):
        with boa.reverts(SUSPENDED):
            w.claim([first], [w.consumers[0]], caller=caller)
    with boa.env.prank(w.merchant), boa.reverts(SUSPENDED):
        w.prizes.revoke_award(first)


def test_paused_prizes_refuse_claims(prizes_world, platform):
    w = prizes_world
    campaign = w.create()
    first = w.award(campaign, w.consumers[:1], [0])
    pause(w.registry, platform, w.prizes)
    with boa.reverts(PAUSED):
        w.claim([first], [w.consumers[0]])
    with boa.reverts(PAUSED):
        w.create()
    unpause(w.registry, platform, w.prizes)
    w.claim([first], [w.consumers[0]])


# --- referrals -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def referrals_world(platform, merchant, other_merchant, terminal):
    return referrals_setup.build_world(platform, merchant, other_merchant, terminal)


def test_suspended_originator_opens_no_batch(referrals_world):
    w = referrals_world
    product = w.register()
    suspend(w.registry, w.platform, w.originator)
    with boa.reverts(SUSPENDED):
        w.open_batch(product)
    with boa.reverts(SUSPENDED):
        w.close_batch(product)
    with boa.reverts(SUSPENDED):
        w.register()
    reinstate(w.registry, w.platform, w.originator)
    w.close_batch(product)
    w.open_batch(product)


def test_paused_referrals_refuse_purchases_but_pay_out(referrals_world):
    w = referrals_world
    product = w.register()
    w.buy(w.consumers[0], product, 2)
    pause(w.registry, w.platform, w.referrals)
    with boa.reverts(PAUSED):
        w.buy(w.consumers[1], product)
    with boa.reverts(PAUSED):
        w.close_batch(product)
    owed = w.referrals.claimable(w.originator)
    assert owed > 0
    with boa.env.prank(w.originator):
        assert w.referrals.withdraw() == owed


# --- marketing -----------------------------------------------------------------------------


@pytest.fixture
def marketing(registry):
    return deployer("marketing").deploy(registry.address)


def anchor(marketing, caller, merchant, batch_id=1):
    with boa.env.prank(caller):
        marketing.anchor_logs(batch_id, merchant, ROOT, 10, 100, 200)


def test_suspended_or_unbound_terminal_anchors_nothing(registry, marketing, merchant, terminal):
    suspend(registry, merchant, terminal)
    with boa.reverts(SUSPENDED):
        anchor(marketing, terminal, merchant)
    unbind(registry, merchant, terminal)
    with boa.reverts(UNBOUND):
        anchor(marketing, terminal, merchant)


def test_suspended_merchant_in_marketing(registry, marketing, platform, merchant, terminal):
    suspend(registry, platform, merchant)
    with boa.reverts(SUSPENDED):
        anchor(marketing, terminal, merchant)
    with boa.env.prank(merchant), boa.reverts(SUSPENDED):
        marketing.set_reporting_rules(b"{}", [])
    # The platform anchors nothing in a suspended merchant's name either.
    with boa.reverts("marketing: not a merchant"):
        anchor(marketing, platform, merchant)


def test_paused_marketing_refuses_writes(registry, marketing, platform, merchant, terminal):
    pause(registry, platform, marketing)
    with boa.reverts(PAUSED):
        anchor(marketing, terminal, merchant)
    with boa.env.prank(merchant), boa.reverts(PAUSED):
        marketing.update_marketing_info(b"{}", 0, 0)
    unpause(registry, platform, marketing)
    anchor(marketing, terminal, merchant)
