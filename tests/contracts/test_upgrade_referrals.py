"""Migration of referrals from the release at commit 1feec7f (issue 23):
products, batches, every holder's units (and which of them are of the current
batch) and what each account may withdraw are carried over, read by the new
contract from the old one, with the funds the token carries to it; the new
contract then pays exactly what the old one would have."""

import boa
import pytest
from referrals_setup import CONTENT_HASH, keyed_consumers
from test_upgrade_editions import _old
from test_upgrade_prizes import _new_registry

from conftest import ZERO, deployer
from couponchain.domain import links
from couponchain.domain.roles import Role

ERR_LEFT = "referrals: state left to carry"


@pytest.fixture(scope="module")
def old_deployers():
    return _old("registry"), _old("token"), _old("referrals")


def _buy(referrals, token, platform, buyer, product, quantity, promoter=None):
    current = referrals.product(product).batch_count
    amount = referrals.batch(product, current).price * quantity
    with boa.env.prank(platform):
        token.mint(buyer.address, amount)
    expiry, signature = 0, b""
    if promoter is not None:
        expiry = boa.env.timestamp + 86_400
        signature = links.sign_link(links.Link(product=product, promoter=promoter.address,
                                               expiry=expiry),
                                    boa.env.evm.patch.chain_id, referrals.address, promoter.key)
    with boa.env.prank(buyer.address):
        token.approve(referrals.address, amount)
        args = (product, quantity, promoter.address if promoter else ZERO, expiry, signature)
        if hasattr(referrals, "purchase_signed_batch"):  # today's: the batch and price seen
            args = (product, quantity, current, amount // quantity, *args[2:])
        referrals.purchase(*args)


def _ledger(old_deployers, platform):
    """The release's contracts with two products: one in its second batch
    (promoted sales, a holder of both batches, a withdrawal), one in batch 1."""
    registry_d, token_d, referrals_d = old_deployers
    merchant = boa.env.generate_address("originator")
    people = keyed_consumers(5)
    with boa.env.prank(platform):
        registry = registry_d.deploy()
        registry.register_batch([merchant, *(p.address for p in people)],
                                [Role.MERCHANT] + [Role.CONSUMER] * 5, [ZERO] * 6)
        token = token_d.deploy(registry.address)
        referrals = referrals_d.deploy(registry.address, token.address, 3_000)
    with boa.env.prank(merchant):
        referrals.register_product("Song", CONTENT_HASH, 100, 3)
        referrals.register_product("Poem", CONTENT_HASH, 50, 5)
    c0, c1, c2, c3, c4 = people
    _buy(referrals, token, platform, c0, 1, 2)
    _buy(referrals, token, platform, c1, 1, 1)
    with boa.env.prank(merchant):
        referrals.open_batch(1, 200, 10, 1_000)
    _buy(referrals, token, platform, c2, 1, 3, promoter=c0)
    _buy(referrals, token, platform, c3, 1, 1, promoter=c1)
    _buy(referrals, token, platform, c0, 1, 1, promoter=c1)
    _buy(referrals, token, platform, c4, 2, 2)
    with boa.env.prank(c1.address):
        referrals.withdraw()
    return registry, token, referrals, merchant, people


def _migrate(platform, old_registry, old_token, old, merchant, people):
    accounts = [merchant, *(p.address for p in people)]
    registry = _new_registry(platform, old_registry, accounts)
    c0, c1, c2, c3, c4 = (p.address for p in people)
    with boa.env.prank(platform):
        token = deployer("token").deploy(registry.address)
        token.begin_migration(old_token.address)
        token.import_balances(accounts)
        referrals = deployer("referrals").deploy(registry.address, token.address,
                                                 3_000, 0, 10_000)
        referrals.begin_migration(old.address)
        with boa.reverts("referrals: migration in progress"):
            referrals.withdraw()
        with boa.reverts("referrals: no such products"):
            referrals.import_products(3)
        referrals.import_products(2)
        with boa.reverts("referrals: wrong recent units"):
            referrals.import_holdings([(c2, 1, 2)])  # c2 bought all 3 in batch 2
        with boa.reverts("referrals: wrong recent units"):
            referrals.import_holdings([(c0, 1, 3)])  # c0 holds batch 1 units too
        with boa.reverts("referrals: wrong recent units"):  # batch 2 sold 5, not 6
            referrals.import_holdings([(c0, 1, 2), (c2, 1, 3), (c3, 1, 1)])
        referrals.import_holdings([(c0, 1, 1), (c1, 1, 0), (c2, 1, 3), (c3, 1, 1), (c4, 2, 2)])
    with boa.env.prank(c4), boa.reverts("referrals: migration in progress"):
        referrals.purchase(2, 1, 1, 50, ZERO, 0, b"")  # no sale before the finish
    with boa.env.prank(platform):
        with boa.reverts("referrals: already carried"):
            referrals.import_holdings([(c4, 2, 2)])
        with boa.reverts("referrals: already carried"):
            referrals.import_holdings([(c0, 0, 0)])  # came with its holding
        with boa.reverts(ERR_LEFT):
            referrals.finish_migration()  # the originator's payments are missing
        referrals.import_holdings([(merchant, 0, 0)])
        with boa.reverts("referrals: funds not carried"):
            referrals.finish_migration()
        token.import_holder(referrals.address)
        referrals.finish_migration()
        token.finish_migration()
    return token, referrals


def test_products_holdings_and_payouts_are_carried_over(old_deployers, platform):
    old_registry, old_token, old, merchant, people = _ledger(old_deployers, platform)
    token, referrals = _migrate(platform, old_registry, old_token, old, merchant, people)
    accounts = [merchant, *(p.address for p in people)]
    assert referrals.product_count() == 2
    for product, batches in ((1, 2), (2, 1)):
        assert tuple(referrals.product(product)) == tuple(old.product(product))
        for b in range(1, batches + 1):
            new_batch = tuple(referrals.batch(product, b))
            assert new_batch[:10] == tuple(old.batch(product, b))
            assert new_batch[10] == (old.direct_share_bps() if b > 1 else 0)
        for account in accounts:
            assert referrals.units_of(product, account) == old.units_of(product, account)
            assert referrals.holds_earlier_batch(product, account) == \
                old.holds_earlier_batch(product, account)
    for account in accounts:
        assert referrals.claimable(account) == old.claimable(account)
        assert referrals.held_count(account) == old.held_count(account)
    assert token.balanceOf(referrals.address) == old_token.balanceOf(old.address) > 0
    assert token.totalSupply() == old_token.totalSupply()


def test_the_new_contract_pays_on_exactly_as_the_old_one_would(old_deployers, platform):
    """The same later history on both: the batch is closed, a third opened, a
    sale through a holder's link; every account may withdraw the same."""
    old_registry, old_token, old, merchant, people = _ledger(old_deployers, platform)
    token, referrals = _migrate(platform, old_registry, old_token, old, merchant, people)
    share = old.direct_share_bps()
    with boa.env.prank(merchant):
        old.close_batch(1)
        old.open_batch(1, 300, 10, 2_000)
        referrals.close_batch(1)
        referrals.open_batch(1, 300, 10, 2_000, share)
    _buy(old, old_token, platform, people[1], 1, 2, promoter=people[3])
    _buy(referrals, token, platform, people[1], 1, 2, promoter=people[3])
    accounts = [merchant, *(p.address for p in people)]
    for account in accounts:
        assert referrals.claimable(account) == old.claimable(account), account
    for account in accounts:
        if referrals.claimable(account):
            with boa.env.prank(account):
                assert referrals.withdraw() == old.withdraw()
    assert token.balanceOf(referrals.address) == old_token.balanceOf(old.address)


def test_only_the_platform_migrates_an_unused_contract(old_deployers, platform):
    old_registry, old_token, old, merchant, people = _ledger(old_deployers, platform)
    registry = _new_registry(platform, old_registry, [merchant])
    with boa.env.prank(platform):
        referrals = deployer("referrals").deploy(registry.address, old_token.address,
                                                 3_000, 0, 10_000)
    with boa.env.prank(merchant), boa.reverts("referrals: caller is not the platform"):
        referrals.begin_migration(old.address)
    with boa.env.prank(merchant):
        referrals.register_product("Song", CONTENT_HASH, 100, 3)
    with boa.env.prank(platform), boa.reverts("referrals: contract in use"):
        referrals.begin_migration(old.address)
