"""Migration of prize campaigns from the release at commit 1feec7f (issue 23):
campaigns with their prizes and counters, listed terminals, awards with their
status, and each winner's claim count are carried over, read from the old
contract; nothing is lost (test_upgrade_editions.py builds the old ledger)."""

import boa
import pytest
from test_upgrade_editions import _old, _populate

from conftest import deployer

DAY = 86_400


@pytest.fixture(scope="module")
def old_deployers():
    return _old("registry"), _old("editions"), _old("prizes")


def _prize_ledger(old_deployers, platform):
    """The editions ledger plus the release's prizes contract with two campaigns
    (listed terminals; all terminals), awards, claims and a revocation."""
    registry, editions, merchants, tills, people, sold = _populate(old_deployers[:2], platform)
    prizes = old_deployers[2].deploy(registry.address)
    now = boa.env.timestamp
    with boa.env.prank(merchants[0]):
        prizes.create_campaign("Spring", ["Cup", "Bag"], [5, 2], [tills[0]], False,
                               now - DAY, now + 30 * DAY, 2)
        prizes.award(1, people[:3], [0, 0, 1])
    with boa.env.prank(merchants[1]):
        prizes.create_campaign("Books", ["Tote"], [3], [], True, now - DAY, now + 30 * DAY, 1)
        prizes.award(2, [people[3]], [0])
    with boa.env.prank(tills[0]):
        prizes.claim(1, people[0])
    with boa.env.prank(tills[1]):  # any terminal of merchant 1
        prizes.claim(4, people[3])
    with boa.env.prank(merchants[0]):
        prizes.revoke_award(2)
    return registry, prizes, merchants, tills, people


def _new_registry(platform, old_registry, participants):
    with boa.env.prank(platform):
        registry = deployer("registry").deploy()
        registry.begin_migration(old_registry.address)
        registry.import_participants(participants)
        registry.finish_migration()
    return registry


def test_campaigns_awards_and_claims_are_carried_over_whole(old_deployers, platform):
    old_registry, old, merchants, tills, people = _prize_ledger(old_deployers, platform)
    registry = _new_registry(platform, old_registry, [*merchants, *tills, *people])
    with boa.env.prank(platform):
        prizes = deployer("prizes").deploy(registry.address)
        prizes.begin_migration(old.address)
        prizes.import_campaigns(2)
        prizes.import_terminals(1, [tills[0]])
        prizes.import_awards(3)
        with boa.reverts("prizes: state left to carry over"):
            prizes.finish_migration()
        prizes.import_awards(1)
        prizes.finish_migration()
    assert (prizes.campaign_count(), prizes.award_count()) == (2, 4)
    for cid, kinds in ((1, 2), (2, 1)):
        assert tuple(prizes.campaign(cid)) == tuple(old.campaign(cid))
        for index in range(kinds):
            assert tuple(prizes.prize(cid, index)) == tuple(old.prize(cid, index))
        for account in [*merchants, *tills, *people]:
            assert prizes.terminal_eligible(cid, account) == old.terminal_eligible(cid, account)
            assert prizes.claims_of(cid, account) == old.claims_of(cid, account)
    for award_id in range(1, 5):
        assert tuple(prizes.award_of(award_id)) == tuple(old.award_of(award_id))
    assert prizes.prize(1, 0).claimed == 1 and prizes.award_of(2).status != 1
    # Over for good: no more importing; merchants create campaigns again, after the last id.
    with boa.env.prank(platform), boa.reverts("prizes: no migration in progress"):
        prizes.import_awards(1)
    with boa.env.prank(merchants[0]):
        now = boa.env.timestamp
        assert prizes.create_campaign("Summer", ["Hat"], [1], [], True, now, now + DAY, 1) == 3


def test_only_what_the_predecessor_holds_is_carried(old_deployers, platform):
    old_registry, old, merchants, tills, people = _prize_ledger(old_deployers, platform)
    registry = _new_registry(platform, old_registry, [*merchants, *tills, *people])
    with boa.env.prank(platform):
        prizes = deployer("prizes").deploy(registry.address)
        with boa.reverts("prizes: no migration in progress"):
            prizes.import_campaigns(1)
        prizes.begin_migration(old.address)
        with boa.reverts("prizes: carry the campaign over first"):
            prizes.import_terminals(1, [tills[0]])
        with boa.reverts("prizes: batch beyond the predecessor"):
            prizes.import_campaigns(3)
        prizes.import_campaigns(1)
        with boa.reverts("prizes: terminal not listed there"):
            prizes.import_terminals(1, [tills[1]])  # merchant 1's till, not listed
        with boa.reverts("prizes: carry the campaign over first"):
            prizes.import_awards(4)  # award 4 is of campaign 2
        with boa.reverts("prizes: state left to carry over"):
            prizes.finish_migration()
    with boa.env.prank(merchants[0]), boa.reverts("prizes: migration in progress"):
        prizes.award(1, [people[4]], [0])
    with boa.env.prank(merchants[0]), boa.reverts("prizes: caller is not the platform"):
        prizes.import_campaigns(1)
