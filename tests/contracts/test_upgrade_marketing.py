"""Migration of marketing from the release at commit 1feec7f (issue 23): anchored
access-log batches (now under the account that anchored them), every version
of each merchant's reporting rules and marketing info, and every report are
carried over, read from the old contract; nothing is lost.

The release kept no rule schedules (its rules are opaque JSON), so carried
rules versions schedule nothing; a merchant's next version schedules again.
"""

import boa
import pytest
from eth_utils import keccak
from test_upgrade_editions import _accounts, _old
from test_upgrade_prizes import _new_registry

from conftest import ZERO, deployer
from couponchain.domain.roles import Role

DAY = 86_400


@pytest.fixture(scope="module")
def old_deployers():
    return _old("registry"), _old("marketing")


def _marketing_ledger(old_deployers, platform):
    """The release's marketing contract with anchors by a terminal and the
    platform, two merchants' rules (one with two versions), marketing info
    (one with two versions) and three reports."""
    registry_d, marketing_d = old_deployers
    merchants, tills = _accounts("mm", 2), _accounts("mt", 1)
    with boa.env.prank(platform):
        registry = registry_d.deploy()
        registry.register_batch([*merchants, *tills], [Role.MERCHANT] * 2 + [Role.TERMINAL],
                                [ZERO, ZERO, merchants[0]])
        old = marketing_d.deploy(registry.address)
    now = boa.env.timestamp
    with boa.env.prank(tills[0]):
        old.anchor_logs(7, merchants[0], keccak(text="root 7"), 12, now - 600, now - 10)
        old.anchor_logs(3, merchants[0], keccak(text="root 3"), 2, now - 900, now - 800)
    with boa.env.prank(platform):
        old.anchor_logs_batch([(900, ZERO, keccak(text="root 900"), 40, now - 50, now - 5)])
    with boa.env.prank(merchants[0]):
        old.set_reporting_rules(b'{"rules":[1]}')
        old.set_reporting_rules(b'{"rules":[1,2]}')
        old.update_marketing_info(b'{"headline":"a"}', now, now + 30 * DAY)
        old.update_marketing_info(b'{"headline":"b"}', now, now + 60 * DAY)
    with boa.env.prank(merchants[1]):
        old.set_reporting_rules(b'{"rules":[3]}')
    with boa.env.prank(platform):
        for i, (m, v) in enumerate(((merchants[0], 1), (merchants[0], 2), (merchants[1], 1))):
            old.publish_report(m, v, 0, keccak(text=f"report {i}"), now - DAY, now, 1 + i % 3)
    return registry, old, merchants, tills


def test_anchors_rules_reports_and_info_are_carried_over_whole(old_deployers, platform):
    old_registry, old, merchants, tills = _marketing_ledger(old_deployers, platform)
    registry = _new_registry(platform, old_registry, [*merchants, *tills])
    with boa.env.prank(platform):
        new = deployer("marketing").deploy(registry.address)
        new.begin_migration(old.address)
        new.import_anchors([(tills[0], 7), (tills[0], 3)])
        new.import_rules(merchants[0], 1)
        assert new.reporting_rules(merchants[0]).version == 0  # not current until whole
        new.import_rules(merchants[0], 1)
        new.import_rules(merchants[1], 1)
        new.import_info(merchants[0], 2)
        new.import_reports(2)
        with boa.reverts("marketing: state left to carry over"):
            new.finish_migration()
        new.import_anchors([(platform, 900)])
        new.import_reports(1)
        new.finish_migration()
    assert (new.anchor_count(), new.report_count()) == (3, 3)
    for submitter, batch_id in ((tills[0], 7), (tills[0], 3), (platform, 900)):
        assert tuple(new.anchor(submitter, batch_id)) == tuple(old.anchor(batch_id))
    assert new.anchor(platform, 7).anchored_at == 0  # under its own submitter only
    for m in merchants:
        assert tuple(new.reporting_rules(m)) == tuple(old.reporting_rules(m))
        assert tuple(new.marketing_info(m)) == tuple(old.marketing_info(m))
        for v in (1, 2, 3):
            assert new.rules_hash_at(m, v) == old.rules_hash_at(m, v)
            assert new.info_hash_at(m, v) == old.info_hash_at(m, v)
    assert new.rules_hash_at(merchants[0], 2) == keccak(b'{"rules":[1,2]}')
    for report_id in (1, 2, 3):
        report = old.report(report_id)
        assert tuple(new.report(report_id)) == tuple(report)
        assert new.report_id_of(report.report_hash) == report_id
    # The carried ledger goes on: next versions, a report and anchors after the last.
    now = boa.env.timestamp
    with boa.env.prank(merchants[0]):
        assert new.set_reporting_rules(b'{"rules":[4]}', [(0, 0)]) == 3
        assert new.update_marketing_info(b'{"headline":"c"}', now, now + DAY) == 3
    with boa.env.prank(tills[0]), boa.reverts():
        new.anchor_logs(7, merchants[0], keccak(text="again"), 1, now, now)  # id taken
    with boa.env.prank(platform):
        with boa.reverts("marketing: report already published"):
            new.publish_report(merchants[0], 1, 0, keccak(text="report 2"), now - DAY, now, 3, [])
        assert new.publish_report(merchants[0], 1, 0, keccak(text="report 4"), now - DAY, now,
                                  3, []) == 4


def test_nothing_is_invented_and_writes_wait_for_the_end(old_deployers, platform):
    old_registry, old, merchants, tills = _marketing_ledger(old_deployers, platform)
    registry = _new_registry(platform, old_registry, [*merchants, *tills])
    now = boa.env.timestamp
    with boa.env.prank(platform):
        new = deployer("marketing").deploy(registry.address)
        with boa.reverts("marketing: no migration in progress"):
            new.import_reports(1)
        new.begin_migration(old.address)
        with boa.reverts("marketing: migration needs an unused contract"):
            new.begin_migration(old.address)
        with boa.reverts("marketing: batch not anchored there, or carried over already"):
            new.import_anchors([(tills[0], 8)])
        with boa.reverts("marketing: batch not anchored there, or carried over already"):
            new.import_anchors([(platform, 7)])  # anchored by the till, not the platform
        new.import_anchors([(tills[0], 7)])
        with boa.reverts("marketing: batch not anchored there, or carried over already"):
            new.import_anchors([(tills[0], 7)])
        with boa.reverts("marketing: the predecessor schedules no rules"):
            new.import_schedules(1)
        with boa.reverts("marketing: batch beyond the predecessor"):
            new.import_rules(merchants[1], 2)
        with boa.reverts("marketing: batch beyond the predecessor"):
            new.import_info(merchants[1], 1)  # published none
        with boa.reverts("marketing: batch beyond the predecessor"):
            new.import_reports(4)
        with boa.reverts("marketing: migration in progress"):
            new.anchor_logs(11, ZERO, keccak(text="x"), 1, now, now)
    with boa.env.prank(merchants[0]), boa.reverts("marketing: migration in progress"):
        new.update_marketing_info(b'{"headline":"z"}', now, now + DAY)
    with boa.env.prank(merchants[0]), boa.reverts("marketing: caller is not the platform"):
        new.import_reports(1)


def test_todays_layout_is_carried_with_schedules_and_periods(platform):
    """From today's contract to a later one: rule schedules and indicator hashes,
    (submitter, batch id) anchors and the periods reports answer are read too;
    a superseded version's periodic rule ends when the next version was set."""
    merchant, till = boa.env.generate_address("mm-today"), boa.env.generate_address("mt-today")
    with boa.env.prank(platform):
        registry = deployer("registry").deploy()
        registry.register_batch([merchant], [Role.MERCHANT], [ZERO])
    with boa.env.prank(merchant):
        registry.register_batch([till], [Role.TERMINAL], [merchant])
    with boa.env.prank(platform):
        old = deployer("marketing").deploy(registry.address)
    start = boa.env.timestamp
    with boa.env.prank(merchant):
        old.set_reporting_rules(b'{"rules":["t"]}', [(0, 0)])
        old.set_reporting_rules_with_indicators(b'{"rules":["t","p"]}', [(0, 0), (start, 3600)],
                                                [keccak(text="a"), keccak(text="b")])
    with boa.env.prank(till):
        old.anchor_logs(5, merchant, keccak(text="root"), 3, start, start)
    boa.env.time_travel(seconds=3 * 3600)
    with boa.env.prank(platform):
        old.publish_report(merchant, 3, 2, keccak(text="period 2"), start + 3600, start + 7200,
                           1, [])
        old.publish_report(merchant, 1, 0, keccak(text="manual"), start, start + 60, 3,
                           [(till, 5)])
        new = deployer("marketing").deploy(registry.address)
        new.begin_migration(old.address)
        new.import_anchors([(till, 5)])
        new.import_schedules(3)
        new.import_rules(merchant, 2)
        new.import_reports(2)
        new.finish_migration()
    assert tuple(new.anchor(till, 5)) == tuple(old.anchor(till, 5))
    for rule_id in (1, 2, 3):
        assert tuple(new.rule(rule_id)) == tuple(old.rule(rule_id))
        assert new.rule_indicators_hash(rule_id) == old.rule_indicators_hash(rule_id)
        assert new.period_due(rule_id, boa.env.timestamp) == old.period_due(
            rule_id, boa.env.timestamp)
    for v, i in ((1, 0), (2, 0), (2, 1), (2, 2)):
        assert new.rule_id_of(merchant, v, i) == old.rule_id_of(merchant, v, i)
    for report_id in (1, 2):
        assert tuple(new.report(report_id)) == tuple(old.report(report_id))
        assert new.report_rule(report_id) == old.report_rule(report_id)
    assert new.period_published(3, 2) and not new.period_published(3, 1)
    assert new.rules_set_at(merchant, 2) == old.rules_set_at(merchant, 2) != 0

    with boa.env.prank(merchant):  # version 3 ends the periodic rule's periods
        new.set_reporting_rules(b'{"rules":[]}', [])
    later_at = boa.env.timestamp + 5 * 3600
    with boa.env.prank(platform):
        later = deployer("marketing").deploy(registry.address)
        later.begin_migration(new.address)
        later.import_schedules(3)  # when version 3 was set is read from `rules_set_at`
        later.import_rules(merchant, 3)
        later.import_anchors([(till, 5)])
        later.import_reports(2)
        later.finish_migration()
    assert later.period_due(3, later_at) == new.period_due(3, later_at) == 3
