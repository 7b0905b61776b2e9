"""Peer-to-peer batch sales: unit tests for every rule and revert of referrals.vy.

Products and batches, purchases in batch 1 and through promotion links, the
rebate split and its per-unit accumulator (with its dust), settlement and
withdrawal, the attacks a link must survive, reentrancy, and purchase gas
that does not depend on the number of holders.
"""

import boa
import pytest
from eth_utils import keccak
from referrals_setup import (
    CONTENT_HASH,
    MAX_REBATE_BPS,
    MAX_SHARE_BPS,
    MIN_SHARE_BPS,
    SHARE_BPS,
    ZERO,
    build_world,
)

from conftest import deployer
from couponchain.domain import eip712, links
from couponchain.domain.rebates import sale_split

ERR_NOT_MERCHANT = "referrals: caller is not a merchant"
ERR_NOT_ORIGINATOR = "referrals: caller is not the originator"
ERR_NOT_CONSUMER = "referrals: caller is not a consumer"
ERR_UNKNOWN = "referrals: unknown product"
ERR_STILL_OPEN = "referrals: current batch still open"
ERR_ENDED = "referrals: batch already ended"
ERR_CLOSED = "referrals: batch closed"
ERR_SOLD_OUT = "referrals: batch sold out"
ERR_NOT_ENOUGH = "referrals: not enough units left"
ERR_NO_LINK_B1 = "referrals: batch 1 sells without a link"
ERR_LINK_REQUIRED = "referrals: link required after batch 1"
ERR_SELF = "referrals: self-referral"
ERR_EXPIRED = "referrals: link expired"
ERR_SIG_LENGTH = "referrals: signature must be 65 bytes"
ERR_SIGNER = "referrals: link not signed by the promoter"
ERR_NO_UNITS = "referrals: promoter holds no earlier units"
ERR_CAP = "referrals: rebate above the platform cap"
ERR_SHARE_LOW = "referrals: promoter share below the platform minimum"
ERR_SHARE_HIGH = "referrals: promoter share above the platform maximum"
ERR_NOT_PLATFORM = "referrals: caller is not the platform"
ERR_NOTHING = "referrals: nothing to withdraw"
ERR_HIGH_S = "ecdsa: invalid signature `s` value"
ERR_BAD_SIG = "ecdsa: invalid signature"

SECP256K1_N = eip712.SECP256K1_N


@pytest.fixture(scope="module")
def world(platform, merchant, other_merchant, terminal):
    return build_world(platform, merchant, other_merchant, terminal)


def events(contract, name: str) -> list:
    """The decoded `name` events of the contract's last call (token events left out)."""
    return [log for log in contract.get_logs() if type(log).__name__ == name]


def two_batches(world, units=(3, 1), price2=2 * 10**6, rebate_bps=1_000, circulation2=10):
    """Batch 1 sold to consumers 0.. (`units` each) and closed; batch 2 open."""
    product_id = world.register()
    for i, count in enumerate(units):
        world.buy(world.consumers[i], product_id, count)
    world.close_batch(product_id)
    world.open_batch(product_id, price2, circulation2, rebate_bps)
    return product_id


# --- deployment ------------------------------------------------------------


def test_deploy_binds_registry_token_cap_and_eip712_domain(world):
    r = world.referrals
    assert r.registry() == world.registry.address
    assert r.token() == world.token.address
    assert r.max_rebate_bps() == MAX_REBATE_BPS
    assert (r.min_promoter_share_bps(), r.max_promoter_share_bps()) == (
        MIN_SHARE_BPS,
        MAX_SHARE_BPS,
    )
    assert r.product_count() == 0
    fields, name, version, chain_id, contract, salt, extensions = r.eip712Domain()
    assert (fields, name, version) == (b"\x0f", "CouponChain Referrals", "1")
    assert (chain_id, contract) == (1, r.address)
    assert (salt, extensions) == (b"\x00" * 32, [])


@pytest.mark.parametrize(
    "bounds,reason",
    [
        ((10_001, 0, 0), "referrals: rebate cap above 10000 bps"),
        ((0, 0, 10_001), "referrals: promoter share cap above 10000 bps"),
        ((0, 2, 1), "referrals: promoter share minimum above its maximum"),
    ],
)
def test_deploy_refuses_bounds_beyond_100_percent(world, bounds, reason):
    with boa.reverts(reason):
        deployer("referrals").deploy(world.registry.address, world.token.address, *bounds)
    deployed = deployer("referrals").deploy(
        world.registry.address, world.token.address, 10_000, 10_000, 10_000
    )
    [bounds_set] = events(deployed, "RebateBoundsSet")
    assert (bounds_set.max_rebate_bps, bounds_set.max_promoter_share_bps) == (10_000, 10_000)


def test_link_digest_matches_domain_rules(world):
    r = world.referrals
    a = world.consumers[0]
    link = links.Link(product=7, promoter=a.address, expiry=123)
    assert r.link_digest(7, a.address, 123) == links.digest(link, 1, r.address)
    assert r.link_digest(8, a.address, 123) != links.digest(link, 1, r.address)


# --- products and batches ----------------------------------------------------


def test_register_product_opens_batch_one(world):
    r = world.referrals
    product_id = world.register(price=5, circulation=7, name="Patent 42")
    assert product_id == 1
    [registered] = events(r, "ProductRegistered")
    assert (registered.product_id, registered.originator) == (1, world.originator)
    assert (registered.name, registered.content_hash) == ("Patent 42", CONTENT_HASH)
    assert (registered.price, registered.circulation) == (5, 7)
    [opened] = events(r, "BatchOpened")
    assert (opened.batch, opened.price, opened.circulation, opened.rebate_bps) == (1, 5, 7, 0)
    record = r.product(1)
    assert record.originator == world.originator
    assert (record.name, record.content_hash, record.batch_count) == ("Patent 42", CONTENT_HASH, 1)
    assert (record.units_sold, record.reward_per_unit) == (0, 0)
    batch = r.batch(1, 1)
    assert (batch.price, batch.circulation, batch.rebate_bps, batch.sold) == (5, 7, 0, 0)
    assert not batch.closed
    assert world.register() == 2
    assert r.product_count() == 2


@pytest.mark.parametrize("caller", ["platform", "terminal", "consumer"])
def test_register_product_only_by_merchants(world, caller):
    account = world.consumers[0].address if caller == "consumer" else getattr(world, caller)
    with boa.reverts(ERR_NOT_MERCHANT):
        world.register(by=account)


@pytest.mark.parametrize(
    "name,price,circulation,reason",
    [
        ("", 1, 1, "referrals: empty name"),
        ("x", 0, 1, "referrals: zero price"),
        ("x", 2**96, 1, "referrals: price too large"),
        ("x", 1, 0, "referrals: zero circulation"),
        ("x", 1, 2**64, "referrals: circulation too large"),
    ],
)
def test_register_product_rejects(world, name, price, circulation, reason):
    with boa.reverts(reason):
        world.register(price=price, circulation=circulation, name=name)


def test_register_product_accepts_the_limits(world):
    product_id = world.register(price=2**96 - 1, circulation=2**64 - 1, name="x" * 64)
    assert world.referrals.batch(product_id, 1).price == 2**96 - 1


def test_open_batch_after_sell_out_counts_earlier_units(world):
    r = world.referrals
    product_id = world.register(circulation=3)
    world.buy(world.consumers[0], product_id, 2)
    with boa.reverts(ERR_STILL_OPEN):
        world.open_batch(product_id)
    world.buy(world.consumers[1], product_id, 1)
    assert world.open_batch(product_id, 9, 4, MAX_REBATE_BPS, MAX_SHARE_BPS) == 2
    [opened] = events(r, "BatchOpened")
    assert (opened.product_id, opened.batch, opened.price) == (product_id, 2, 9)
    assert (opened.circulation, opened.rebate_bps, opened.eligible_units) == (4, 3_000, 3)
    assert opened.promoter_share_bps == MAX_SHARE_BPS
    assert r.batch(product_id, 2).promoter_share_bps == MAX_SHARE_BPS
    assert r.product(product_id).batch_count == 2
    assert r.batch(product_id, 2).eligible_units == 3


def test_open_batch_after_close(world):
    product_id = world.register()
    world.close_batch(product_id)
    assert world.open_batch(product_id) == 2
    assert world.referrals.batch(product_id, 2).eligible_units == 0


@pytest.mark.parametrize(
    "price,circulation,rebate_bps,share_bps,reason",
    [
        (0, 1, 0, SHARE_BPS, "referrals: zero price"),
        (2**96, 1, 0, SHARE_BPS, "referrals: price too large"),
        (1, 0, 0, SHARE_BPS, "referrals: zero circulation"),
        (1, 2**64, 0, SHARE_BPS, "referrals: circulation too large"),
        (1, 1, MAX_REBATE_BPS + 1, SHARE_BPS, ERR_CAP),
        (1, 1, 0, MIN_SHARE_BPS - 1, ERR_SHARE_LOW),
        (1, 1, 0, MAX_SHARE_BPS + 1, ERR_SHARE_HIGH),
        (1, 1, 0, 10_001, ERR_SHARE_HIGH),
    ],
)
def test_open_batch_rejects(world, price, circulation, rebate_bps, share_bps, reason):
    product_id = world.register()
    world.close_batch(product_id)
    with boa.reverts(reason):
        world.open_batch(product_id, price, circulation, rebate_bps, share_bps)


def test_batch_management_only_by_the_originator(world):
    product_id = world.register()
    for caller in (world.other_merchant, world.terminal, world.consumers[0].address):
        with boa.env.prank(caller), boa.reverts(ERR_NOT_ORIGINATOR):
            world.referrals.close_batch(product_id)
    world.close_batch(product_id)
    with boa.env.prank(world.other_merchant), boa.reverts(ERR_NOT_ORIGINATOR):
        world.referrals.open_batch(product_id, 1, 1, 0, SHARE_BPS)


@pytest.mark.parametrize("product_id", [0, 2])
def test_unknown_products_are_refused(world, product_id):
    world.register()
    r = world.referrals
    with boa.env.prank(world.originator), boa.reverts(ERR_UNKNOWN):
        r.open_batch(product_id, 1, 1, 0, SHARE_BPS)
    with boa.env.prank(world.originator), boa.reverts(ERR_UNKNOWN):
        r.close_batch(product_id)
    with boa.env.prank(world.consumers[0].address), boa.reverts(ERR_UNKNOWN):
        r.purchase(product_id, 1, *world.seen(product_id), ZERO, 0, b"")
    with boa.reverts(ERR_UNKNOWN):
        r.settle(product_id, world.consumers[0].address)


def test_close_batch_once_and_not_after_sell_out(world):
    r = world.referrals
    product_id = world.register(circulation=2)
    world.buy(world.consumers[0], product_id, 1)
    world.close_batch(product_id)
    [closed] = events(r, "BatchClosed")
    assert (closed.product_id, closed.batch, closed.sold, closed.dust) == (product_id, 1, 1, 0)
    assert r.batch(product_id, 1).closed
    with boa.reverts(ERR_ENDED):
        world.close_batch(product_id)
    other = world.register(circulation=1)
    world.buy(world.consumers[0], other, 1)
    with boa.reverts(ERR_ENDED):
        world.close_batch(other)


# --- batch 1 ---------------------------------------------------------------


def test_batch_one_purchase_pays_the_originator(world):
    r, token = world.referrals, world.token
    a = world.consumers[0]
    product_id = world.register(price=10**6, circulation=5)
    assert world.buy(a, product_id, 3) == 3 * 10**6
    [bought] = events(r, "Purchased")
    assert (bought.product_id, bought.buyer, bought.promoter) == (product_id, a.address, ZERO)
    assert (bought.batch, bought.quantity, bought.amount) == (1, 3, 3 * 10**6)
    assert (bought.rebate, bought.promoter_amount, bought.holders_amount) == (0, 0, 0)
    assert bought.originator_amount == 3 * 10**6
    assert bought.link_hash == b"\x00" * 32
    assert token.balanceOf(r.address) == 3 * 10**6
    assert token.balanceOf(a.address) == 0
    assert r.claimable(world.originator) == 3 * 10**6
    assert r.units_of(product_id, a.address) == 3
    assert not r.holds_earlier_batch(product_id, a.address)
    batch = r.batch(product_id, 1)
    assert (batch.sold, batch.revenue, batch.rebates) == (3, 3 * 10**6, 0)
    assert r.product(product_id).units_sold == 3


def test_batch_one_refuses_links(world):
    product_id = world.register()
    a, b = world.consumers[:2]
    world.buy(a, product_id)
    world.fund(b.address, 10**6)
    expiry, signature = world.link(a, product_id)
    with boa.env.prank(b.address), boa.reverts(ERR_NO_LINK_B1):
        world.referrals.purchase(
            product_id, 1, *world.seen(product_id), a.address, expiry, signature
        )
    with boa.env.prank(b.address), boa.reverts(ERR_NO_LINK_B1):
        world.referrals.purchase(product_id, 1, *world.seen(product_id), ZERO, 0, signature)


@pytest.mark.parametrize("caller", ["originator", "other_merchant", "terminal", "platform"])
def test_only_consumers_buy(world, caller):
    product_id = world.register()
    with boa.env.prank(getattr(world, caller)), boa.reverts(ERR_NOT_CONSUMER):
        world.referrals.purchase(product_id, 1, *world.seen(product_id), ZERO, 0, b"")


def test_sales_never_exceed_circulation(world):
    product_id = world.register(circulation=3)
    a, b = world.consumers[:2]
    with boa.reverts("referrals: zero quantity"):
        world.buy(a, product_id, 0)
    with boa.reverts(ERR_NOT_ENOUGH):
        world.buy(a, product_id, 4)
    world.buy(a, product_id, 2)
    with boa.reverts(ERR_NOT_ENOUGH):
        world.buy(b, product_id, 2)
    world.buy(b, product_id, 1)
    with boa.reverts(ERR_SOLD_OUT):
        world.buy(b, product_id, 1)
    assert world.referrals.batch(product_id, 1).sold == 3


def test_closed_batch_sells_nothing(world):
    product_id = world.register()
    world.close_batch(product_id)
    with boa.reverts(ERR_CLOSED):
        world.buy(world.consumers[0], product_id)


def test_payment_needs_the_buyers_approval(world):
    product_id = world.register()
    a = world.consumers[0]
    with boa.env.prank(a.address), boa.reverts():
        world.referrals.purchase(product_id, 1, *world.seen(product_id), ZERO, 0, b"")
    assert world.referrals.units_of(product_id, a.address) == 0


# --- price-bounded purchases (issue 23) ---------------------------------------

ERR_BATCH_CHANGED = "referrals: batch changed since the buyer saw it"
ERR_ABOVE_MAX = "referrals: price above the buyer's maximum"


def test_a_batch_reopened_at_a_higher_price_refuses_a_pending_purchase(world):
    """The originator closes and reopens the batch between the buyer's look and the
    purchase landing: the purchase is refused with a reason, never charged more."""
    r = world.referrals
    a, b, c = world.consumers[:3]
    product_id = two_batches(world)  # batch 2 open at 2 CCC
    seen = world.seen(product_id)
    assert seen == (2, 2 * 10**6)
    expiry, signature = world.link(a, product_id)
    world.fund(c.address, 10 * 10**6)
    world.close_batch(product_id)
    world.open_batch(product_id, price=5 * 10**6, circulation=10, rebate_bps=1_000)
    with boa.env.prank(c.address), boa.reverts(ERR_BATCH_CHANGED):
        r.purchase(product_id, 1, *seen, a.address, expiry, signature)
    # Sending the new batch with the old price as the maximum is refused too.
    with boa.env.prank(c.address), boa.reverts(ERR_ABOVE_MAX):
        r.purchase(product_id, 1, 3, seen[1], a.address, expiry, signature)
    assert world.token.balanceOf(c.address) == 10 * 10**6
    assert r.units_of(product_id, c.address) == 0
    # The buyer saw the new terms and accepts them.
    with boa.env.prank(c.address):
        assert r.purchase(product_id, 1, 3, 5 * 10**6, a.address, expiry, signature) == 5 * 10**6
    [bought] = events(r, "Purchased")
    assert (bought.batch, bought.amount) == (3, 5 * 10**6)


def test_a_batch_reopened_at_the_same_price_with_other_terms_refuses_a_pending_purchase(world):
    """Same price, lower rebate and promoter share: the buyer saw batch 2's terms,
    so the purchase is refused rather than landing under batch 3's."""
    r = world.referrals
    a, c = world.consumers[0], world.consumers[2]
    product_id = two_batches(world)  # batch 2: 2 CCC, 10 % rebate, 20 % to the promoter
    seen = world.seen(product_id)
    expiry, signature = world.link(a, product_id)
    world.fund(c.address, 2 * 10**6)
    world.close_batch(product_id)
    world.open_batch(product_id, 2 * 10**6, 10, 1, MIN_SHARE_BPS)
    with boa.env.prank(c.address), boa.reverts(ERR_BATCH_CHANGED):
        r.purchase(product_id, 1, *seen, a.address, expiry, signature)
    assert r.units_of(product_id, c.address) == 0


def test_a_purchase_pays_the_batch_price_up_to_the_buyers_maximum(world):
    r = world.referrals
    product_id = world.register(price=10**6)
    a = world.consumers[0]
    world.fund(a.address, 4 * 10**6)
    with boa.env.prank(a.address), boa.reverts(ERR_ABOVE_MAX):
        r.purchase(product_id, 1, 1, 10**6 - 1, ZERO, 0, b"")
    with boa.env.prank(a.address), boa.reverts(ERR_BATCH_CHANGED):
        r.purchase(product_id, 1, 0, 10**6, ZERO, 0, b"")
    with boa.env.prank(a.address):
        assert r.purchase(product_id, 2, 1, 10**6, ZERO, 0, b"") == 2 * 10**6
        # a higher maximum never raises the price paid
        assert r.purchase(product_id, 1, 1, 5 * 10**6, ZERO, 0, b"") == 10**6
    assert world.token.balanceOf(a.address) == 10**6


# --- rebates -----------------------------------------------------------------


def test_rebate_split_of_a_linked_purchase(world):
    r = world.referrals
    a, b, c = world.consumers[:3]
    product_id = two_batches(world)  # a holds 3, b holds 1 of batch 1
    assert r.holds_earlier_batch(product_id, a.address)
    originator_before = r.claimable(world.originator)
    expiry, signature = world.link(a, product_id)
    world.fund(c.address, 4 * 10**6)
    with boa.env.prank(c.address):
        assert (
            r.purchase(product_id, 2, *world.seen(product_id), a.address, expiry, signature)
            == 4 * 10**6
        )
    split = sale_split(2 * 10**6, 2, 1_000)
    assert (split.rebate, split.promoter, split.holders) == (400_000, 80_000, 320_000)
    [bought] = events(r, "Purchased")
    assert (bought.buyer, bought.promoter) == (c.address, a.address)
    assert (bought.batch, bought.quantity) == (2, 2)
    assert (bought.amount, bought.rebate) == (4 * 10**6, 400_000)
    assert (bought.promoter_amount, bought.holders_amount) == (80_000, 320_000)
    assert bought.originator_amount == 3_600_000
    assert bought.reward_per_unit == 80_000  # 320,000 over 4 earlier units
    link = links.Link(product=product_id, promoter=a.address, expiry=expiry)
    assert bought.link_hash == links.digest(link, 1, r.address)
    assert r.claimable(a.address) == 80_000 + 3 * 80_000
    assert r.claimable(b.address) == 80_000
    assert r.claimable(c.address) == 0  # its own units do not earn from its purchase
    assert r.claimable(world.originator) - originator_before == 3_600_000
    batch = r.batch(product_id, 2)
    assert (batch.sold, batch.revenue) == (2, 4 * 10**6)
    assert (batch.rebates, batch.undistributed) == (400_000, 0)
    assert not r.holds_earlier_batch(product_id, c.address)


# --- rebate terms per batch --------------------------------------------------


def test_each_batch_pays_the_promoter_share_its_originator_chose(world):
    """Batch 2 at 50 %, batch 3 at the 5 % minimum: each sale splits by its own batch."""
    r = world.referrals
    a, b, c, d = world.consumers[:4]
    product_id = two_batches(world, units=(1,), price2=10_000)
    world.close_batch(product_id)
    world.open_batch(product_id, 10_000, 10, 2_000, MAX_SHARE_BPS)
    assert (r.batch(product_id, 3).rebate_bps, r.batch(product_id, 3).promoter_share_bps) == (
        2_000,
        MAX_SHARE_BPS,
    )
    world.buy(b, product_id, 1, promoter=a)
    [bought] = events(r, "Purchased")
    # rebate 2,000: half to the promoter, half to a's one earlier unit
    assert (bought.rebate, bought.promoter_amount, bought.holders_amount) == (2_000, 1_000, 1_000)
    world.close_batch(product_id)
    world.open_batch(product_id, 10_000, 10, 3_000, MIN_SHARE_BPS)
    world.buy(c, product_id, 1, promoter=b)
    [bought] = events(r, "Purchased")
    assert (bought.rebate, bought.promoter_amount, bought.holders_amount) == (3_000, 150, 2_850)
    split = sale_split(10_000, 1, 3_000, MIN_SHARE_BPS)
    assert (split.promoter, split.holders) == (150, 2_850)
    assert r.batch(product_id, 3).promoter_share_bps == MAX_SHARE_BPS  # kept with its batch
    world.buy(d, product_id, 1, promoter=a)
    [bought] = events(r, "Purchased")
    assert bought.promoter_amount == 150


def test_batch_one_records_no_rebate_terms(world):
    product_id = world.register()
    [opened] = events(world.referrals, "BatchOpened")
    assert opened.promoter_share_bps == 0
    batch = world.referrals.batch(product_id, 1)
    assert (batch.rebate_bps, batch.promoter_share_bps) == (0, 0)


def test_only_the_platform_sets_the_bounds(world):
    r = world.referrals
    for caller in (world.originator, world.terminal, world.consumers[0].address):
        with boa.env.prank(caller), boa.reverts(ERR_NOT_PLATFORM):
            r.set_rebate_bounds(10_000, 0, 10_000)
    assert r.max_rebate_bps() == MAX_REBATE_BPS
    with boa.env.prank(world.platform):
        r.set_rebate_bounds(1_000, 1_000, 3_000)
    [bounds_set] = events(r, "RebateBoundsSet")
    assert bounds_set.by == world.platform
    assert (
        bounds_set.max_rebate_bps,
        bounds_set.min_promoter_share_bps,
        bounds_set.max_promoter_share_bps,
    ) == (1_000, 1_000, 3_000)
    assert (r.max_rebate_bps(), r.min_promoter_share_bps(), r.max_promoter_share_bps()) == (
        1_000,
        1_000,
        3_000,
    )


@pytest.mark.parametrize(
    "bounds,reason",
    [
        ((10_001, 0, 0), "referrals: rebate cap above 10000 bps"),
        ((0, 0, 10_001), "referrals: promoter share cap above 10000 bps"),
        ((0, 2, 1), "referrals: promoter share minimum above its maximum"),
    ],
)
def test_the_platform_cannot_set_bounds_beyond_100_percent(world, bounds, reason):
    with boa.env.prank(world.platform), boa.reverts(reason):
        world.referrals.set_rebate_bounds(*bounds)


def test_new_bounds_apply_to_batches_opened_later_not_to_the_open_one(world):
    """The platform narrows the bounds while batch 2 is on sale: its sales keep
    the terms the buyer saw; the next batch must fit the new bounds."""
    r = world.referrals
    a, b, c = world.consumers[:3]
    product_id = two_batches(world, units=(1,), price2=10_000, rebate_bps=MAX_REBATE_BPS)
    with boa.env.prank(world.platform):
        r.set_rebate_bounds(1_000, 1_000, 1_000)
    world.buy(b, product_id, 1, promoter=a)
    [bought] = events(r, "Purchased")
    assert (bought.rebate, bought.promoter_amount) == (3_000, 3_000 * SHARE_BPS // 10_000)
    world.close_batch(product_id)
    with boa.reverts(ERR_CAP):
        world.open_batch(product_id, 10_000, 10, MAX_REBATE_BPS, 1_000)
    with boa.reverts(ERR_SHARE_HIGH):
        world.open_batch(product_id, 10_000, 10, 1_000, SHARE_BPS)
    world.open_batch(product_id, 10_000, 10, 1_000, 1_000)
    world.buy(c, product_id, 1, promoter=a)
    [bought] = events(r, "Purchased")
    assert (bought.rebate, bought.promoter_amount) == (1_000, 100)


def test_units_of_the_current_batch_earn_from_the_next_one(world):
    r = world.referrals
    a, b, c, d = world.consumers[:4]
    product_id = two_batches(world, units=(1,), rebate_bps=1_000, price2=10_000)
    world.buy(b, product_id, 1, promoter=a)  # b's unit is of batch 2
    world.buy(c, product_id, 1, promoter=a)
    assert r.pending(product_id, b.address) == 0
    world.close_batch(product_id)
    world.open_batch(product_id, 10_000, 10, 1_000)
    assert r.holds_earlier_batch(product_id, b.address)
    assert r.batch(product_id, 3).eligible_units == 3
    a_before = r.claimable(a.address)
    world.buy(d, product_id, 3, promoter=b)
    # rebate 3,000: b's direct 600, 2,400 over 3 units (a, b, c)
    assert r.claimable(b.address) == 600 + 800
    assert r.claimable(c.address) == 800
    assert r.claimable(a.address) - a_before == 800


def test_rebate_dust_waits_in_the_batch_and_goes_to_the_originator(world):
    r = world.referrals
    a, b, c = world.consumers[:3]
    product_id = two_batches(world, units=(1, 2), price2=1_001, rebate_bps=1_000)
    originator_before = r.claimable(world.originator)
    world.buy(c, product_id, 1, promoter=a)  # rebate 100: direct 20, holders 80
    assert r.product(product_id).reward_per_unit == 26
    assert r.batch(product_id, 2).undistributed == 2
    world.buy(c, product_id, 1, promoter=b)  # 2 + 80 = 82 -> 27 per unit, 1 left
    assert r.product(product_id).reward_per_unit == 53
    assert r.batch(product_id, 2).undistributed == 1
    assert r.claimable(a.address) == 20 + 53
    assert r.claimable(b.address) == 20 + 106
    world.close_batch(product_id)
    [closed] = events(r, "BatchClosed")
    assert closed.dust == 1
    assert r.batch(product_id, 2).undistributed == 0
    assert r.claimable(world.originator) - originator_before == 2 * 901 + 1
    paid = 3 * 10**6 + 2 * 1_001
    total = sum(r.claimable(x) for x in (world.originator, a.address, b.address, c.address))
    assert total == paid == world.token.balanceOf(r.address)


def test_sell_out_hands_the_dust_to_the_originator(world):
    r = world.referrals
    a, _, c = world.consumers[:3]
    product_id = two_batches(world, units=(1, 2), price2=1_001, circulation2=1)
    world.buy(c, product_id, 1, promoter=a)
    [bought] = events(r, "Purchased")
    assert bought.originator_amount == 901 + 2
    assert r.batch(product_id, 2).undistributed == 0


def test_zero_rebate_batch_still_needs_a_link(world):
    r = world.referrals
    a, _, c = world.consumers[:3]
    product_id = two_batches(world, rebate_bps=0)
    world.fund(c.address, 2 * 10**6)
    with boa.env.prank(c.address), boa.reverts(ERR_LINK_REQUIRED):
        r.purchase(product_id, 1, *world.seen(product_id), ZERO, 0, b"")
    world.buy(c, product_id, 1, promoter=a)
    [bought] = events(r, "Purchased")
    assert (bought.rebate, bought.originator_amount) == (0, 2 * 10**6)


def test_rebates_of_several_products_are_kept_apart(world):
    r = world.referrals
    a, b, c = world.consumers[:3]
    first = two_batches(world, units=(1,))
    second = world.register()
    world.buy(b, second, 1)
    world.close_batch(second)
    world.open_batch(second, 2 * 10**6, 10, 1_000)
    world.buy(c, first, 1, promoter=a)
    assert r.pending(first, a.address) == 160_000
    assert r.pending(second, b.address) == 0
    assert r.claimable(b.address) == 0


# --- settlement and withdrawal ----------------------------------------------


def test_settle_credits_pending_rebates(world):
    r = world.referrals
    a, b, c = world.consumers[:3]
    product_id = two_batches(world)
    world.buy(c, product_id, 1, promoter=b)
    assert r.pending(product_id, a.address) == 3 * 40_000
    r.settle(product_id, a.address)
    [settled] = events(r, "Settled")
    assert (settled.product_id, settled.account) == (product_id, a.address)
    assert settled.amount == 120_000
    assert r.pending(product_id, a.address) == 0
    assert r.claimable(a.address) == 120_000
    r.settle(product_id, a.address)
    assert events(r, "Settled") == []


def test_withdraw_pays_settled_and_pending_rebates(world):
    r, token = world.referrals, world.token
    a, b, c = world.consumers[:3]
    product_id = two_batches(world)
    world.buy(c, product_id, 2, promoter=b)
    owed = r.claimable(b.address)
    assert owed == 80_000 + 80_000
    with boa.env.prank(b.address):
        assert r.withdraw() == owed
    [withdrawn] = events(r, "Withdrawn")
    assert (withdrawn.account, withdrawn.amount) == (b.address, owed)
    assert token.balanceOf(b.address) == owed
    assert r.claimable(b.address) == 0
    with boa.env.prank(b.address), boa.reverts(ERR_NOTHING):
        r.withdraw()
    with boa.env.prank(world.originator):
        paid_out = r.withdraw()
    assert paid_out == 4 * 10**6 + 4 * 10**6 - 400_000
    with boa.env.prank(a.address):
        r.withdraw()
    assert token.balanceOf(r.address) == 0


def test_withdraw_cannot_be_reentered(world):
    r, token = world.referrals, world.token
    a, _, c = world.consumers[:3]
    product_id = two_batches(world)
    world.buy(c, product_id, 1, promoter=a)
    owed = r.claimable(a.address)
    token.set_reentry(r.address, keccak(text="withdraw()")[:4])
    with boa.env.prank(a.address):
        r.withdraw()
    assert token.reentry_reverted()
    assert token.reentry_revert_data() == b""  # the lock, not "nothing to withdraw"
    assert token.balanceOf(a.address) == owed


def test_payout_cannot_reenter_a_purchase(world):
    r, token = world.referrals, world.token
    a, _, c = world.consumers[:3]
    product_id = two_batches(world)
    world.buy(c, product_id, 1, promoter=a)
    calldata = r.purchase.prepare_calldata(product_id, 1, *world.seen(product_id), ZERO, 0, b"")
    token.set_reentry(r.address, calldata)
    with boa.env.prank(a.address):
        r.withdraw()
    assert token.reentry_reverted()
    assert token.reentry_revert_data() == b""
    assert r.batch(product_id, 2).sold == 1


# --- link attacks ------------------------------------------------------------


@pytest.fixture
def linked(world):
    """Product in batch 2; consumer 0 (3 units) promotes, consumer 2 buys funded."""
    product_id = two_batches(world)
    buyer = world.consumers[2]
    world.fund(buyer.address, 10 * 2 * 10**6)
    return product_id, world.consumers[0], buyer


def attempt(world, buyer, product_id, promoter, expiry, signature, quantity=1):
    with boa.env.prank(buyer.address):
        return world.referrals.purchase(
            product_id, quantity, *world.seen(product_id), promoter, expiry, signature
        )


def test_a_valid_link_is_accepted_until_its_expiry(world, linked):
    product_id, promoter, buyer = linked
    expiry, signature = world.link(promoter, product_id, expiry=boa.env.timestamp + 100)
    attempt(world, buyer, product_id, promoter.address, expiry, signature)
    boa.env.time_travel(seconds=100)
    attempt(world, buyer, product_id, promoter.address, expiry, signature)  # reusable
    boa.env.time_travel(seconds=1)
    with boa.reverts(ERR_EXPIRED):
        attempt(world, buyer, product_id, promoter.address, expiry, signature)


def test_forged_link_is_rejected(world, linked):
    product_id, promoter, buyer = linked
    forger = world.consumers[1]
    expiry, signature = world.link(promoter, product_id, key=forger.key)
    with boa.reverts(ERR_SIGNER):
        attempt(world, buyer, product_id, promoter.address, expiry, signature)
    # a link of another promoter does not transfer to this one
    expiry, signature = world.link(forger, product_id)
    with boa.reverts(ERR_SIGNER):
        attempt(world, buyer, product_id, promoter.address, expiry, signature)
    # nor does a changed expiry
    expiry, signature = world.link(promoter, product_id)
    with boa.reverts(ERR_SIGNER):
        attempt(world, buyer, product_id, promoter.address, expiry + 1, signature)


def test_link_of_another_product_is_rejected(world, linked):
    product_id, promoter, buyer = linked
    expiry, signature = world.link(promoter, product_id + 1)
    with boa.reverts(ERR_SIGNER):
        attempt(world, buyer, product_id, promoter.address, expiry, signature)


def test_link_for_another_contract_or_chain_is_rejected(world, linked):
    product_id, promoter, buyer = linked
    other = deployer("referrals").deploy(world.registry.address, world.token.address, 1, 0, 1)
    expiry, signature = world.link(promoter, product_id, contract=other.address)
    with boa.reverts(ERR_SIGNER):
        attempt(world, buyer, product_id, promoter.address, expiry, signature)
    expiry, signature = world.link(promoter, product_id, chain_id=5)
    with boa.reverts(ERR_SIGNER):
        attempt(world, buyer, product_id, promoter.address, expiry, signature)


def test_promoter_without_earlier_units_is_rejected(world, linked):
    product_id, promoter, buyer = linked
    outsider = world.consumers[4]
    expiry, signature = world.link(outsider, product_id)
    with boa.reverts(ERR_NO_UNITS):
        attempt(world, buyer, product_id, outsider.address, expiry, signature)
    # units of the current batch do not make a promoter of it
    world.buy(outsider, product_id, 1, promoter=promoter)
    assert world.referrals.units_of(product_id, outsider.address) == 1
    assert not world.referrals.holds_earlier_batch(product_id, outsider.address)
    expiry, signature = world.link(outsider, product_id)
    with boa.reverts(ERR_NO_UNITS):
        attempt(world, buyer, product_id, outsider.address, expiry, signature)


def test_self_referral_is_rejected(world, linked):
    product_id, promoter, _ = linked
    world.fund(promoter.address, 2 * 10**6)
    expiry, signature = world.link(promoter, product_id)
    with boa.reverts(ERR_SELF):
        attempt(world, promoter, product_id, promoter.address, expiry, signature)


def test_missing_link_is_rejected(world, linked):
    product_id, _, buyer = linked
    with boa.reverts(ERR_LINK_REQUIRED):
        attempt(world, buyer, product_id, ZERO, 0, b"")


@pytest.mark.parametrize("length", [0, 64, 1])
def test_signatures_of_the_wrong_length_are_rejected(world, linked, length):
    product_id, promoter, buyer = linked
    expiry, signature = world.link(promoter, product_id)
    with boa.reverts(ERR_SIG_LENGTH):
        attempt(world, buyer, product_id, promoter.address, expiry, signature[:length])


def test_high_s_signature_is_rejected(world, linked):
    product_id, promoter, buyer = linked
    expiry, signature = world.link(promoter, product_id)
    r_ = signature[:32]
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    malleated = r_ + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])
    with boa.reverts(ERR_HIGH_S):
        attempt(world, buyer, product_id, promoter.address, expiry, malleated)


def test_bad_v_is_rejected(world, linked):
    product_id, promoter, buyer = linked
    expiry, signature = world.link(promoter, product_id)
    with boa.reverts(ERR_BAD_SIG):
        attempt(world, buyer, product_id, promoter.address, expiry, signature[:64] + b"\x05")


# --- gas -------------------------------------------------------------------


def _purchase_gas(world, holders: int) -> int:
    """Gas of one linked purchase (a fresh buyer) after `holders` batch 1 buyers."""
    product_id = world.register()
    buyers = world.consumers[:holders]
    for buyer in buyers:
        world.buy(buyer, product_id, 1)
    world.close_batch(product_id)
    world.open_batch(product_id)
    promoter, buyer = world.consumers[0], world.consumers[-1]
    world.buy(world.consumers[-2], product_id, 1, promoter=promoter)  # warm the batch
    world.fund(buyer.address, 2 * 10**6)
    expiry, signature = world.link(promoter, product_id)
    with boa.env.prank(buyer.address):
        world.referrals.purchase(
            product_id, 1, *world.seen(product_id), promoter.address, expiry, signature
        )
    return world.referrals._computation.get_gas_used()


def test_purchase_gas_does_not_depend_on_the_number_of_holders(world):
    with boa.env.anchor():
        few = _purchase_gas(world, 1)
    with boa.env.anchor():
        many = _purchase_gas(world, 4)
    assert few == many


def test_withdraw_settles_every_held_product(world):
    r = world.referrals
    a, b, c = world.consumers[:3]
    first = two_batches(world, units=(1,))
    second = two_batches(world, units=(1,))
    world.buy(c, first, 1, promoter=a)
    world.buy(c, second, 1, promoter=a)
    assert r.held_count(a.address) == 2
    assert r.claimable(a.address) == 2 * (40_000 + 160_000)
    with boa.env.prank(a.address):
        assert r.withdraw() == 2 * 200_000
    assert [e.product_id for e in events(r, "Settled")] == [first, second]
    assert r.pending(first, a.address) == r.pending(second, b.address) == 0


def test_an_account_holds_at_most_128_products(world):
    r = world.referrals
    a = world.consumers[0]
    world.fund(a.address, 129)
    for _ in range(129):
        world.register(price=1, circulation=1)
    with boa.env.prank(a.address):
        for product_id in range(1, 129):
            r.purchase(product_id, 1, *world.seen(product_id), ZERO, 0, b"")
        with boa.reverts("referrals: buyer holds 128 products already"):
            r.purchase(129, 1, *world.seen(129), ZERO, 0, b"")
    assert r.held_count(a.address) == 128
