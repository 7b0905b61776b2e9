"""Migration from the release at commit 1feec7f (issue 23): a populated ledger
of that release's registry and editions contracts is carried over to today's,
by the contracts reading their predecessors, and nothing is lost.

Carried over: merchants, terminals (with the merchant the predecessor binds
them to) and consumers; every edition (counters, sales digest, strings, prefix
index) and every sold coupon (owner, status, channel, sale time). Not carried:
open capacity reservations (their pieces are free again).
"""

from pathlib import Path

import boa
import pytest

from conftest import CONTRACTS, ZERO, deployer
from couponchain.domain.roles import Role

RELEASE = Path(__file__).resolve().parent / "releases" / "1feec7f"
DAY = 86_400
ONLINE, OFFLINE = 1, 2
ERR_EXPECTED_COUPONS = "editions: coupons left to carry over"


def _old(name: str):
    """A deployer of the release's `name`.vy, compiled against its own interfaces."""
    boa.interpret.set_search_paths([str(RELEASE)])
    try:
        return boa.load_partial(str(RELEASE / f"{name}.vy"))
    finally:
        boa.interpret.set_search_paths([str(CONTRACTS)])


@pytest.fixture(scope="module")
def old_deployers():
    return _old("registry"), _old("editions")


def _accounts(prefix: str, n: int) -> list[str]:
    return [boa.env.generate_address(f"{prefix}-{i}") for i in range(n)]


def _populate(old_deployers, platform):
    """The release's contracts with a ledger: two merchants with a terminal
    each, consumers, three editions (one sold out, one with an open
    reservation), sales online and offline, a transfer, redemptions and voids."""
    registry_d, editions_d = old_deployers
    merchants, tills, people = _accounts("m", 2), _accounts("t", 2), _accounts("c", 5)
    with boa.env.prank(platform):
        registry = registry_d.deploy()
        # The release let the platform bind terminals itself, as it did then.
        registry.register_batch(
            [*merchants, *tills, *people],
            [Role.MERCHANT] * 2 + [Role.TERMINAL] * 2 + [Role.CONSUMER] * 5,
            [ZERO, ZERO, merchants[0], merchants[1]] + [ZERO] * 5,
        )
        editions = editions_d.deploy(registry.address)
    now = boa.env.timestamp
    specs = [("Cafe", "Latte", "LATTE", 10, 300), ("Books", "Tote", "TOTE", 3, 900),
             ("Cafe", "Cake", "CAKE", 50, 450)]
    for i, (brand, title, prefix, cap, price) in enumerate(specs):
        with boa.env.prank(merchants[0] if brand == "Cafe" else merchants[1]):
            editions.register_edition(brand, title, f"terms {i}", prefix, cap, price,
                                      now - DAY, now + 30 * DAY)
    with boa.env.prank(tills[0]):
        editions.record_sales(1, people[:4], [300] * 4, [ONLINE, OFFLINE, ONLINE, OFFLINE],
                              [bytes([k]) * 32 for k in range(4)])
        editions.record_sales(3, people[2:], [450] * 3, [OFFLINE] * 3, [b"\x09" * 32] * 3)
        editions.reserve(3, 5, b"\x07" * 32, now + 600)  # open at the migration
    with boa.env.prank(merchants[1]):
        editions.record_sales(2, people[:3], [900] * 3, [ONLINE] * 3, [b"\x02" * 32] * 3)
    coupon = lambda eid, serial: (eid << 32) | serial  # noqa: E731
    with boa.env.prank(people[0]):
        editions.transfer(coupon(1, 1), people[4])
    with boa.env.prank(tills[0]):
        editions.redeem_batch([coupon(1, 2), coupon(3, 1)])
    with boa.env.prank(merchants[1]):
        editions.void(coupon(2, 2))
    sold = [coupon(1, s) for s in range(1, 5)] + [coupon(2, s) for s in range(1, 4)] \
        + [coupon(3, s) for s in range(1, 4)]
    return registry, editions, merchants, tills, people, sold


def _migrate(platform, old_registry, old_editions, participants, sold):
    """Today's registry and editions, carrying the old ones' state over."""
    with boa.env.prank(platform):
        registry = deployer("registry").deploy()
        registry.begin_migration(old_registry.address)
        registry.import_participants(participants)
        registry.finish_migration()
        editions = deployer("editions").deploy(registry.address)
        editions.begin_migration(old_editions.address)
        editions.import_editions(old_editions.edition_count())
        editions.import_coupons(sold[:-1])
        with boa.reverts(ERR_EXPECTED_COUPONS):  # nothing may be left behind
            editions.finish_migration()
        editions.import_coupons(sold[-1:])
        editions.finish_migration()
    return registry, editions


def test_a_populated_release_is_carried_over_whole(old_deployers, platform):
    old_registry, old_editions, merchants, tills, people, sold = _populate(
        old_deployers, platform)
    registry, editions = _migrate(platform, old_registry, old_editions,
                                  [*merchants, *tills, *people], sold)

    for account in [*merchants, *tills, *people, platform]:
        assert registry.role_of(account) == old_registry.role_of(account), account
        assert registry.merchant_of(account) == old_registry.merchant_of(account), account
    assert registry.predecessor() == old_registry.address and not registry.migrating()

    assert editions.edition_count() == old_editions.edition_count() == 3
    for eid in (1, 2, 3):
        assert tuple(editions.edition(eid)) == tuple(old_editions.edition(eid)), eid
        prefix = old_editions.edition(eid).prefix
        assert editions.edition_by_prefix(prefix) == eid
    for cid in sold:
        assert tuple(editions.coupon(cid)) == tuple(old_editions.coupon(cid)), cid
        assert editions.serial_of(cid) == old_editions.serial_of(cid)
    assert (editions.coupons_expected(), editions.coupons_imported()) == (10, 10)
    # The open reservation is not carried: its five pieces are free again.
    assert old_editions.remaining(3) == 50 - 3 - 5 and editions.remaining(3) == 50 - 3


def test_after_the_migration_the_ledger_goes_on(old_deployers, platform):
    old_registry, old_editions, merchants, tills, people, sold = _populate(
        old_deployers, platform)
    registry, editions = _migrate(platform, old_registry, old_editions,
                                  [*merchants, *tills, *people], sold)
    latte_4 = (1 << 32) | 4
    with boa.env.prank(tills[0]):  # a carried-over terminal sells on, after the last serial
        first = editions.record_sales(1, [people[4]], [300], [ONLINE], [b"\x05" * 32])
        editions.redeem_batch([latte_4])  # and redeems a carried-over coupon
    assert first == 5
    assert editions.coupon(latte_4).status == 2
    with boa.env.prank(people[4]):  # the transferred coupon's new owner holds it
        editions.transfer((1 << 32) | 1, people[0])
    with boa.env.prank(merchants[1]), boa.reverts("editions: coupon voided"):
        editions.void((2 << 32) | 2)
    with boa.env.prank(merchants[0]), boa.reverts("editions: prefix taken"):
        editions.register_edition("Cafe", "Latte", "t", "LATTE", 5, 1, 0, 2**40)
    # The migration is over for good, and the rule of today holds for everyone carried.
    with boa.env.prank(platform):
        with boa.reverts("editions: no migration in progress"):
            editions.import_coupons([latte_4])
        with boa.reverts("registry: no migration in progress"):
            registry.import_participants([people[0]])
        with boa.reverts("registry: only the merchant registers its terminals"):
            registry.register(boa.env.generate_address("rogue"), Role.TERMINAL, merchants[0])


def test_only_what_the_predecessor_holds_is_carried(old_deployers, platform):
    old_registry, old_editions, merchants, tills, people, sold = _populate(
        old_deployers, platform)
    with boa.env.prank(platform):
        registry = deployer("registry").deploy()
        registry.begin_migration(old_registry.address)
        with boa.reverts("registry: carry the terminal's merchant over first"):
            registry.import_participants([tills[0]])
        with boa.reverts("registry: not a participant of the predecessor"):
            registry.import_participants([boa.env.generate_address("nobody")])
        with boa.reverts("registry: not a participant of the predecessor"):
            registry.import_participants([platform])
        with boa.reverts("registry: migration in progress"):
            registry.register(boa.env.generate_address("new"), Role.CONSUMER, ZERO)
    with boa.env.prank(merchants[0]), boa.reverts("registry: caller is not the platform"):
        registry.import_participants([merchants[0]])
    with boa.env.prank(platform):
        registry.import_participants([*merchants, *tills, *people])
        registry.finish_migration()
        editions = deployer("editions").deploy(registry.address)
        editions.begin_migration(old_editions.address)
        with boa.reverts("editions: beyond the predecessor's editions"):
            editions.import_editions(4)
        editions.import_editions(2)
        with boa.reverts("editions: carry the coupon's edition over first"):
            editions.import_coupons([(3 << 32) | 1])
        with boa.reverts("editions: coupon never sold"):
            editions.import_coupons([(2 << 32) | 3, (2 << 32) | 4])
        with boa.reverts("editions: coupon already carried over"):
            editions.import_coupons([(2 << 32) | 3, (2 << 32) | 3])
        with boa.reverts("editions: editions left to carry over"):
            editions.finish_migration()
    with boa.env.prank(merchants[0]), boa.reverts("editions: migration in progress"):
        editions.register_edition("Cafe", "New", "t", "NEW", 5, 1, 0, 2**40)


def test_a_used_contract_starts_no_migration(registry, editions_contract, platform):
    with boa.env.prank(platform):
        with boa.reverts("registry: a migration starts on an unused registry"):
            registry.begin_migration(boa.env.generate_address("old"))
        with boa.reverts("editions: a migration starts on an unused contract"):
            editions_contract.begin_migration(boa.env.generate_address("old"))


@pytest.fixture
def editions_contract(registry, merchant):
    contract = deployer("editions").deploy(registry.address)
    with boa.env.prank(merchant):
        contract.register_edition("B", "T", "terms", "USED", 5, 1, 0, 2**40)
    return contract


def test_pause_and_extension_are_carried_over(registry, merchant, platform, terminal, consumer):
    """A predecessor with pause (issue 25) hands its paused flags and extended
    ends over; a 1feec7f one has no `paused` and its editions arrive unpaused
    (test_a_populated_release_is_carried_over_whole)."""
    from eth_utils import keccak
    old = deployer("editions").deploy(registry.address)
    now = boa.env.timestamp
    with boa.env.prank(merchant):
        for prefix in ("OPEN", "HELD"):
            old.register_edition("B", "T", "terms", prefix, 5, 1, now, now + DAY)
        old.pause(2, keccak(text="recount"))
        old.extend(2, now + 9 * DAY, keccak(text="longer"))
    with boa.env.prank(platform):
        new = deployer("editions").deploy(registry.address)
        new.begin_migration(old.address)
        new.import_editions(2)
        new.finish_migration()
    assert [new.paused(e) for e in (1, 2)] == [False, True]
    assert new.edition(2).valid_until == now + 9 * DAY
    with boa.env.prank(terminal), boa.reverts("editions: edition paused"):
        new.record_sale(2, consumer, 1, ONLINE, b"\x01" * 32)
