"""Unit tests of contracts/marketing.vy: every rule and revert string.

Access-log anchors (terminal and platform, single and batch, on-chain
inclusion proofs), reporting rules, reports (single and batch, replay
protection) and marketing info versions.
"""

from dataclasses import replace

import boa
import pytest
from eth_utils import keccak

from conftest import ZERO, deployer
from couponchain.domain import access_logs as logs
from couponchain.domain.access_logs import AccessMethod, AccessRecord, Operation
from couponchain.domain.roles import Role

ERR_NOT_SUBMITTER = "marketing: caller is not a terminal or the platform"
ERR_NOT_MERCHANT_CALLER = "marketing: caller is not a merchant"
ERR_NOT_PLATFORM = "marketing: caller is not the platform"
ERR_NOT_MERCHANT = "marketing: not a merchant"
ERR_OTHER_MERCHANT = "marketing: terminal of another merchant"
ERR_ANCHORED = "marketing: batch already anchored"
ERR_EMPTY_BATCH = "marketing: empty batch"
ERR_UNKNOWN_RULE = "marketing: unknown rule"
ERR_PUBLISHED = "marketing: report already published"
ERR_PERIOD_PUBLISHED = "marketing: period already published"
ERR_NOT_CLOSED = "marketing: period not closed"
ERR_OTHER_RULE = "marketing: rule of another merchant"

ROOT = b"\x11" * 32
HASH = b"\x22" * 32
DAY = 86_400
PERIODIC = 1
THRESHOLD = 2
MANUAL = 3
HOUR = 3600
#: One threshold rule: no schedule.
NOT_PERIODIC = ((0, 0),)


@pytest.fixture
def marketing(registry):
    return deployer("marketing").deploy(registry.address)


@pytest.fixture
def stranger():
    return boa.env.generate_address("marketing_stranger")


def events(contract, name: str) -> list:
    return [log for log in contract.get_logs() if type(log).__name__ == name]


def anchor(marketing, caller, batch_id=1, merchant=None, root=ROOT, count=10, first=100, last=200):
    with boa.env.prank(caller):
        marketing.anchor_logs(batch_id, merchant or ZERO, root, count, first, last)


def set_rules(marketing, merchant, rules=b'{"rules":[]}', schedules=NOT_PERIODIC):
    with boa.env.prank(merchant):
        return marketing.set_reporting_rules(rules, list(schedules))


def publish(
    marketing,
    platform,
    merchant,
    rule=1,
    period=0,
    report_hash=HASH,
    start=0,
    end=3600,
    trigger=MANUAL,
    sources=(),
):
    with boa.env.prank(platform):
        return marketing.publish_report(
            merchant, rule, period, report_hash, start, end, trigger, list(sources)
        )


def test_constructor_refuses_zero_registry():
    with boa.reverts("marketing: zero registry"):
        deployer("marketing").deploy(ZERO)


def test_deploy_binds_the_registry(marketing, registry):
    assert marketing.REGISTRY() == registry.address
    assert (marketing.anchor_count(), marketing.report_count()) == (0, 0)


# --- anchors ------------------------------------------------------------------


def test_terminal_anchors_for_its_merchant(marketing, terminal, merchant):
    anchor(marketing, terminal, batch_id=7, merchant=merchant)
    (log,) = events(marketing, "LogsAnchored")
    assert (log.batch_id, log.merchant, log.submitter) == (7, merchant, terminal)
    assert (log.merkle_root, log.record_count, log.first_time, log.last_time) == (
        ROOT,
        10,
        100,
        200,
    )
    stored = marketing.anchor(terminal, 7)
    assert stored == (merchant, terminal, ROOT, 10, 100, 200, boa.env.timestamp)
    assert marketing.anchor_count() == 1


def test_platform_anchors_for_a_merchant_or_a_mixed_batch(marketing, platform, merchant):
    anchor(marketing, platform, batch_id=1, merchant=merchant)
    anchor(marketing, platform, batch_id=2)
    assert marketing.anchor(platform, 1)[0] == merchant
    assert marketing.anchor(platform, 2)[0] == ZERO
    assert marketing.anchor_count() == 2


@pytest.mark.parametrize("who", ["merchant", "consumer", "stranger"])
def test_only_terminals_and_platform_anchor(marketing, who, merchant, consumer, stranger):
    caller = {"merchant": merchant, "consumer": consumer, "stranger": stranger}[who]
    with boa.reverts(ERR_NOT_SUBMITTER):
        anchor(marketing, caller, merchant=merchant)


def test_terminal_cannot_anchor_for_another_merchant(marketing, terminal, other_merchant):
    with boa.reverts(ERR_OTHER_MERCHANT):
        anchor(marketing, terminal, merchant=other_merchant)
    with boa.reverts(ERR_OTHER_MERCHANT):
        anchor(marketing, terminal)


def test_platform_anchors_only_for_merchants(marketing, platform, consumer):
    with boa.reverts(ERR_NOT_MERCHANT):
        anchor(marketing, platform, merchant=consumer)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"batch_id": 0}, "marketing: zero batch id"),
        ({"root": b"\x00" * 32}, "marketing: zero merkle root"),
        ({"count": 0}, "marketing: no records"),
        ({"first": 201, "last": 200}, "marketing: inverted time range"),
    ],
)
def test_anchor_checks_its_fields(marketing, terminal, merchant, overrides, error):
    with boa.reverts(error):
        anchor(marketing, terminal, merchant=merchant, **overrides)


def test_single_instant_batch_is_fine(marketing, terminal, merchant):
    anchor(marketing, terminal, merchant=merchant, first=500, last=500)
    assert marketing.anchor(terminal, 1)[5] == 500


def test_anchor_is_immutable(marketing, terminal, platform, merchant):
    anchor(marketing, terminal, merchant=merchant)
    with boa.reverts(ERR_ANCHORED):
        anchor(marketing, terminal, merchant=merchant, root=b"\x33" * 32)
    assert marketing.anchor(terminal, 1)[2] == ROOT


def test_unknown_anchor_is_all_zero(marketing, terminal):
    assert marketing.anchor(terminal, 99) == (ZERO, ZERO, b"\x00" * 32, 0, 0, 0, 0)


def test_ids_are_per_submitter_so_none_can_take_another_s(
    marketing, registry, platform, terminal, merchant, other_merchant
):
    # Regression (issue 23): batch ids were global and first come first
    # served, so a terminal that anchored ids ahead of another's blocked its
    # anchoring for good ("batch already anchored").
    rogue = boa.env.generate_address("marketing_rogue_terminal")
    with boa.env.prank(other_merchant):
        registry.register(rogue, Role.TERMINAL, other_merchant)
    for batch_id in (1, 2, 3):
        anchor(marketing, rogue, batch_id=batch_id, merchant=other_merchant, root=b"\x66" * 32)
    anchor(marketing, terminal, batch_id=1, merchant=merchant)
    with boa.env.prank(terminal):
        marketing.anchor_logs_batch([(2, merchant, ROOT, 3, 1, 2), (3, merchant, ROOT, 3, 1, 2)])
    anchor(marketing, platform, batch_id=1, merchant=merchant, root=b"\x77" * 32)
    assert marketing.anchor(terminal, 1)[:3] == (merchant, terminal, ROOT)
    assert marketing.anchor(rogue, 1)[:3] == (other_merchant, rogue, b"\x66" * 32)
    assert marketing.anchor(platform, 1)[2] == b"\x77" * 32
    assert marketing.anchor_count() == 7


def test_anchor_batch_is_all_or_nothing(marketing, terminal, merchant):
    good = (1, merchant, ROOT, 3, 1, 2)
    with boa.env.prank(terminal):
        with boa.reverts(ERR_ANCHORED):
            marketing.anchor_logs_batch([good, (2, merchant, ROOT, 3, 1, 2), good])
        assert marketing.anchor_count() == 0
        with boa.reverts(ERR_EMPTY_BATCH):
            marketing.anchor_logs_batch([])
        marketing.anchor_logs_batch([good, (2, merchant, ROOT, 3, 1, 2)])
    assert [log.batch_id for log in events(marketing, "LogsAnchored")] == [1, 2]
    assert marketing.anchor_count() == 2


def test_anchor_batch_checks_the_caller(marketing, merchant):
    with boa.env.prank(merchant), boa.reverts(ERR_NOT_SUBMITTER):
        marketing.anchor_logs_batch([(1, merchant, ROOT, 3, 1, 2)])


def _records(n: int) -> list[AccessRecord]:
    return [
        AccessRecord(
            visitor=bytes([i % 256]) * 32,
            account="" if i % 3 else f"acct-{i}",
            time=1_700_000_000 + i,
            merchant=1 + i % 2,
            method=AccessMethod(1 + i % 3),
            operation=Operation(1 + i % 7),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
def test_inclusion_proofs_verify_on_chain(marketing, terminal, merchant, n):
    records = _records(n)
    levels = logs.tree_levels([logs.leaf_hash(r) for r in records])
    anchor(marketing, terminal, merchant=merchant, root=levels[-1][0], count=n)
    for i, record in enumerate(records):
        proof = logs.proof_from_levels(levels, i)
        assert marketing.verify_inclusion(terminal, 1, logs.leaf_hash(record), proof)
        # the same id under another submitter is another batch
        assert not marketing.verify_inclusion(merchant, 1, logs.leaf_hash(record), proof)
    tampered = replace(records[0], time=records[0].time + 1)
    assert not marketing.verify_inclusion(
        terminal, 1, logs.leaf_hash(tampered), logs.proof_from_levels(levels, 0)
    )
    assert not marketing.verify_inclusion(
        terminal, 2, logs.leaf_hash(records[0]), logs.proof_from_levels(levels, 0)
    )


# --- reporting rules ----------------------------------------------------------


def test_merchant_sets_rules_and_versions_count_up(marketing, merchant):
    first = b'{"rules":[]}'
    second = b'{"rules":[{"x":1}]}'
    assert set_rules(marketing, merchant, first) == 1
    logs_ = events(marketing, "ReportingRulesSet")
    assert set_rules(marketing, merchant, second) == 2
    logs_ += events(marketing, "ReportingRulesSet")
    assert [(log.merchant, log.version, log.rules) for log in logs_] == [
        (merchant, 1, first),
        (merchant, 2, second),
    ]
    assert logs_[1].rules_hash == keccak(second)
    state = marketing.reporting_rules(merchant)
    assert state == (2, keccak(second), boa.env.timestamp)
    assert marketing.rules_hash_at(merchant, 1) == keccak(first)
    assert marketing.rules_hash_at(merchant, 2) == keccak(second)
    assert marketing.rules_hash_at(merchant, 3) == b"\x00" * 32


def test_rules_are_per_merchant(marketing, merchant, other_merchant):
    set_rules(marketing, merchant)
    assert set_rules(marketing, other_merchant) == 1
    assert marketing.reporting_rules(other_merchant)[0] == 1


@pytest.mark.parametrize("who", ["terminal", "consumer", "platform", "stranger"])
def test_only_merchants_set_rules(marketing, who, terminal, consumer, platform, stranger):
    caller = {
        "terminal": terminal,
        "consumer": consumer,
        "platform": platform,
        "stranger": stranger,
    }[who]
    with boa.reverts(ERR_NOT_MERCHANT_CALLER):
        set_rules(marketing, caller)


def test_empty_rules_are_refused(marketing, merchant):
    with boa.reverts("marketing: empty rules"):
        set_rules(marketing, merchant, b"")


def test_never_set_rules_read_as_version_zero(marketing, merchant):
    assert marketing.reporting_rules(merchant) == (0, b"\x00" * 32, 0)


# --- reports ------------------------------------------------------------------


def test_platform_publishes_a_report(marketing, platform, merchant):
    set_rules(marketing, merchant, schedules=NOT_PERIODIC * 4)
    report_id = publish(marketing, platform, merchant, rule=4, start=10, end=20, trigger=THRESHOLD)
    assert report_id == 1
    (log,) = events(marketing, "ReportPublished")
    assert (
        log.report_id,
        log.merchant,
        log.report_hash,
        log.rules_version,
        log.rule_index,
        log.period_start,
        log.period_end,
        log.trigger,
    ) == (1, merchant, HASH, 1, 3, 10, 20, THRESHOLD)
    assert marketing.report(1) == (merchant, 1, 3, HASH, 10, 20, THRESHOLD, boa.env.timestamp)
    assert marketing.report_id_of(HASH) == 1
    assert marketing.report_count() == 1
    assert marketing.report_rule(1) == (4, 0)
    assert (log.rule_id, log.period, log.source_submitters, log.source_batch_ids) == (4, 0, [], [])


@pytest.mark.parametrize("who", ["merchant", "terminal", "stranger"])
def test_only_the_platform_publishes(marketing, who, merchant, terminal, stranger):
    set_rules(marketing, merchant)
    caller = {"merchant": merchant, "terminal": terminal, "stranger": stranger}[who]
    with boa.reverts(ERR_NOT_PLATFORM):
        publish(marketing, caller, merchant)
    with boa.env.prank(caller), boa.reverts(ERR_NOT_PLATFORM):
        marketing.publish_reports([(merchant, 1, 0, HASH, 0, 1, MANUAL, [])])


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"rule": 0}, ERR_UNKNOWN_RULE),
        ({"rule": 2}, ERR_UNKNOWN_RULE),
        ({"report_hash": b"\x00" * 32}, "marketing: zero report hash"),
        ({"start": 5, "end": 5}, "marketing: empty or inverted period"),
        ({"start": 6, "end": 5}, "marketing: empty or inverted period"),
        ({"trigger": 0}, "marketing: unknown trigger"),
        ({"trigger": 4}, "marketing: unknown trigger"),
        ({"trigger": PERIODIC}, "marketing: rule is not periodic"),
        ({"period": 1}, "marketing: only a periodic report names a period"),
        ({"period": 1, "trigger": THRESHOLD}, "marketing: only a periodic report names a period"),
    ],
)
def test_publish_checks_its_fields(marketing, platform, merchant, overrides, error):
    set_rules(marketing, merchant)
    with boa.reverts(error):
        publish(marketing, platform, merchant, **overrides)


def test_publish_needs_a_merchant(marketing, platform, terminal):
    with boa.reverts(ERR_NOT_MERCHANT):
        publish(marketing, platform, terminal)


def test_publish_before_any_rules_is_refused(marketing, platform, merchant):
    with boa.reverts(ERR_UNKNOWN_RULE):
        publish(marketing, platform, merchant)


def test_a_report_hash_is_published_once(marketing, platform, merchant):
    set_rules(marketing, merchant)
    publish(marketing, platform, merchant)
    with boa.reverts(ERR_PUBLISHED):
        publish(marketing, platform, merchant, start=1)


def test_older_rules_versions_remain_reportable(marketing, platform, merchant):
    set_rules(marketing, merchant)
    set_rules(marketing, merchant, b"2")
    assert publish(marketing, platform, merchant, rule=1) == 1
    assert marketing.report(1)[1:3] == (1, 0)  # rules version 1, rule 0


def test_publish_reports_batch(marketing, platform, merchant, other_merchant):
    set_rules(marketing, merchant)
    set_rules(marketing, other_merchant)
    publish(marketing, platform, merchant)
    items = [
        (merchant, 1, 0, b"\x01" * 32, 0, 60, MANUAL, []),
        (other_merchant, 2, 0, b"\x02" * 32, 60, 120, THRESHOLD, []),
    ]
    with boa.env.prank(platform):
        assert marketing.publish_reports(items) == 2
    assert [log.report_id for log in events(marketing, "ReportPublished")] == [2, 3]
    assert marketing.report_count() == 3
    assert marketing.report(3)[0] == other_merchant
    assert marketing.report_id_of(b"\x02" * 32) == 3


def test_publish_reports_is_all_or_nothing(marketing, platform, merchant):
    set_rules(marketing, merchant)
    dup = (merchant, 1, 0, b"\x01" * 32, 0, 60, MANUAL, [])
    with boa.env.prank(platform):
        with boa.reverts(ERR_PUBLISHED):
            marketing.publish_reports([dup, dup])
        with boa.reverts(ERR_EMPTY_BATCH):
            marketing.publish_reports([])
    assert marketing.report_count() == 0
    assert marketing.report_id_of(b"\x01" * 32) == 0


# --- schedules: due periods, published periods, sources ------------------------


def periodic_rule(marketing, merchant, start=None, period=HOUR):
    """One periodic rule starting at `start` (default: now); returns its id."""
    start = boa.env.timestamp if start is None else start
    version = set_rules(marketing, merchant, schedules=((start, period), (0, 0)))
    return marketing.rule_id_of(merchant, version, 0), start


def publish_period(marketing, platform, merchant, rule, n, start, period=HOUR, report_hash=None):
    return publish(
        marketing,
        platform,
        merchant,
        rule=rule,
        period=n,
        report_hash=report_hash or bytes([n]) * 32,
        start=start + (n - 1) * period,
        end=start + n * period,
        trigger=PERIODIC,
    )


def test_rules_record_their_schedule_under_global_ids(marketing, merchant, other_merchant):
    now = boa.env.timestamp
    set_rules(marketing, merchant, schedules=((now, HOUR), (0, 0)))
    (first, second) = events(marketing, "RuleScheduled")
    assert (first.rule_id, first.merchant, first.rules_version, first.rule_index) == (
        1, merchant, 1, 0
    )
    assert (first.start, first.period, second.start, second.period) == (now, HOUR, 0, 0)
    set_rules(marketing, other_merchant, schedules=((now + 5, 2 * HOUR),))
    assert marketing.rule_count() == 3
    assert marketing.rule(3) == (other_merchant, 1, 0, now + 5, 2 * HOUR)
    assert marketing.rule_id_of(merchant, 1, 1) == 2
    assert marketing.rule_id_of(other_merchant, 1, 0) == 3
    assert marketing.rule_id_of(merchant, 1, 2) == 0  # no such position
    assert marketing.rule_id_of(merchant, 2, 0) == 0  # no such version
    assert marketing.rule(4) == (ZERO, 0, 0, 0, 0)


@pytest.mark.parametrize("schedule", [(5, 0), (0, 60)])
def test_a_schedule_has_both_start_and_period_or_neither(marketing, merchant, schedule):
    with boa.reverts("marketing: a schedule needs both start and period, or neither"):
        set_rules(marketing, merchant, schedules=(schedule,))


def test_period_due_counts_closed_periods(marketing, merchant):
    rule, start = periodic_rule(marketing, merchant)
    assert marketing.period_due(rule, start) == 0
    assert marketing.period_due(rule, start + HOUR - 1) == 0
    assert marketing.period_due(rule, start + HOUR) == 1
    assert marketing.period_due(rule, start + 5 * HOUR + 59) == 5
    assert marketing.period_due(rule, start - 1) == 0
    assert marketing.period_due(rule + 1, start + 9 * HOUR) == 0  # the threshold rule
    assert marketing.period_due(99, start + 9 * HOUR) == 0


def test_a_past_start_makes_its_closed_periods_due_at_once(marketing, platform, merchant):
    rule, start = periodic_rule(marketing, merchant, start=boa.env.timestamp - 3 * HOUR)
    assert marketing.period_due(rule, boa.env.timestamp) == 3
    assert publish_period(marketing, platform, merchant, rule, 2, start) == 1
    assert [marketing.period_published(rule, n) for n in (1, 2, 3)] == [False, True, False]


def test_a_period_is_published_once_and_only_when_closed(marketing, platform, merchant):
    rule, start = periodic_rule(marketing, merchant)
    with boa.reverts(ERR_NOT_CLOSED):
        publish_period(marketing, platform, merchant, rule, 1, start)
    boa.env.time_travel(seconds=HOUR)
    assert publish_period(marketing, platform, merchant, rule, 1, start) == 1
    (log,) = events(marketing, "ReportPublished")
    assert (log.rule_id, log.period, log.period_start, log.period_end) == (
        rule, 1, start, start + HOUR
    )
    assert marketing.period_published(rule, 1)
    assert marketing.period_report(rule, 1) == 1
    assert marketing.report_rule(1) == (rule, 1)
    # Another report (another hash) for the same period is refused.
    with boa.reverts(ERR_PERIOD_PUBLISHED):
        publish_period(marketing, platform, merchant, rule, 1, start, report_hash=b"\x77" * 32)
    with boa.reverts(ERR_NOT_CLOSED):
        publish_period(marketing, platform, merchant, rule, 2, start)
    with boa.reverts("marketing: zero period"):
        publish_period(marketing, platform, merchant, rule, 0, start, report_hash=b"\x55" * 32)
    assert not marketing.period_published(rule, 2)


@pytest.mark.parametrize(("start_shift", "end_shift"), [(1, 0), (0, 1), (-HOUR, -HOUR), (0, -1)])
def test_a_period_must_match_the_rule_s_schedule(
    marketing, platform, merchant, start_shift, end_shift
):
    rule, start = periodic_rule(marketing, merchant)
    boa.env.time_travel(seconds=3 * HOUR)
    with boa.reverts("marketing: period does not match the rule"):
        publish(
            marketing,
            platform,
            merchant,
            rule=rule,
            period=2,
            start=start + HOUR + start_shift,
            end=start + 2 * HOUR + end_shift,
            trigger=PERIODIC,
        )


def test_a_rule_of_another_merchant_is_refused(marketing, platform, merchant, other_merchant):
    rule, start = periodic_rule(marketing, other_merchant)
    boa.env.time_travel(seconds=HOUR)
    with boa.reverts(ERR_OTHER_RULE):
        publish_period(marketing, platform, merchant, rule, 1, start)
    with boa.reverts(ERR_OTHER_RULE):
        publish(marketing, platform, merchant, rule=rule + 1, trigger=THRESHOLD)
    assert not marketing.period_published(rule, 1)


def test_a_threshold_report_needs_a_threshold_rule(marketing, platform, merchant):
    rule, _ = periodic_rule(marketing, merchant)
    with boa.reverts("marketing: rule is not a threshold"):
        publish(marketing, platform, merchant, rule=rule, trigger=THRESHOLD)
    assert publish(marketing, platform, merchant, rule=rule, trigger=MANUAL) == 1


def test_periods_still_open_when_the_rules_change_never_fall_due(marketing, platform, merchant):
    rule, start = periodic_rule(marketing, merchant)
    boa.env.time_travel(seconds=HOUR + HOUR // 2)
    set_rules(marketing, merchant, b"v2", schedules=((boa.env.timestamp, HOUR),))
    boa.env.time_travel(seconds=5 * HOUR)
    assert marketing.period_due(rule, boa.env.timestamp) == 1
    with boa.reverts(ERR_NOT_CLOSED):
        publish_period(marketing, platform, merchant, rule, 2, start)
    # The superseded version's closed period stays due and publishable.
    assert publish_period(marketing, platform, merchant, rule, 1, start) == 1
    assert marketing.period_due(marketing.rule_id_of(merchant, 2, 0), boa.env.timestamp) == 5


def test_publish_reports_refuses_a_period_twice_in_one_batch(marketing, platform, merchant):
    rule, start = periodic_rule(marketing, merchant)
    boa.env.time_travel(seconds=HOUR)
    one = (merchant, rule, 1, b"\x01" * 32, start, start + HOUR, PERIODIC, [])
    again = (merchant, rule, 1, b"\x02" * 32, start, start + HOUR, PERIODIC, [])
    with boa.env.prank(platform), boa.reverts(ERR_PERIOD_PUBLISHED):
        marketing.publish_reports([one, again])
    assert not marketing.period_published(rule, 1)


def test_a_threshold_report_names_the_anchors_it_read(
    marketing, platform, terminal, merchant, other_merchant
):
    set_rules(marketing, merchant)
    anchor(marketing, terminal, batch_id=7, merchant=merchant)
    anchor(marketing, platform, batch_id=7)  # a mixed batch, the platform's id space
    anchor(marketing, platform, batch_id=8, merchant=other_merchant)
    sources = [(terminal, 7), (platform, 7)]
    assert publish(marketing, platform, merchant, trigger=THRESHOLD, sources=sources) == 1
    (log,) = events(marketing, "ReportPublished")
    assert log.source_submitters == [terminal, platform]
    assert log.source_batch_ids == [7, 7]
    for bad, error in (
        ([(terminal, 8)], "marketing: unknown anchor"),  # 8 is the platform's id, not T's
        ([(platform, 8)], "marketing: anchor of another merchant"),
        ([(terminal, 7), (ZERO, 7)], "marketing: unknown anchor"),
    ):
        with boa.reverts(error):
            publish(
                marketing,
                platform,
                merchant,
                report_hash=b"\x33" * 32,
                trigger=THRESHOLD,
                sources=bad,
            )


# --- marketing info -----------------------------------------------------------


INFO = b'{"headline":"Summer sale","discount_bps":1500}'


def update(marketing, caller, info=INFO, valid_from=None, valid_until=None):
    now = boa.env.timestamp
    with boa.env.prank(caller):
        return marketing.update_marketing_info(
            info,
            now if valid_from is None else valid_from,
            now + DAY if valid_until is None else valid_until,
        )


def test_merchant_updates_info_and_history_is_kept(marketing, merchant):
    now = boa.env.timestamp
    assert update(marketing, merchant) == 1
    (first_log,) = events(marketing, "MarketingInfoUpdated")
    second = '{"headline":"Été — 20 %"}'.encode()
    assert update(marketing, merchant, second, now + 10, now + 2 * DAY) == 2
    (second_log,) = events(marketing, "MarketingInfoUpdated")
    assert (second_log.merchant, second_log.version, second_log.info) == (merchant, 2, second)
    assert second_log.content_hash == keccak(second)
    assert (second_log.valid_from, second_log.valid_until) == (now + 10, now + 2 * DAY)
    assert first_log.version == 1
    assert marketing.marketing_info(merchant) == (2, keccak(second), now + 10, now + 2 * DAY, now)
    assert marketing.info_hash_at(merchant, 1) == keccak(INFO)
    assert marketing.info_hash_at(merchant, 2) == keccak(second)
    assert marketing.info_hash_at(merchant, 3) == b"\x00" * 32


@pytest.mark.parametrize("who", ["terminal", "consumer", "platform", "stranger"])
def test_only_merchants_update_info(marketing, who, terminal, consumer, platform, stranger):
    caller = {
        "terminal": terminal,
        "consumer": consumer,
        "platform": platform,
        "stranger": stranger,
    }[who]
    with boa.reverts(ERR_NOT_MERCHANT_CALLER):
        update(marketing, caller)


def test_info_checks_its_fields(marketing, merchant):
    now = boa.env.timestamp
    with boa.reverts("marketing: empty info"):
        update(marketing, merchant, b"")
    with boa.reverts("marketing: empty or inverted validity"):
        update(marketing, merchant, valid_from=now + 5, valid_until=now + 5)
    with boa.reverts("marketing: validity already ended"):
        update(marketing, merchant, valid_from=now - 10, valid_until=now)


def test_info_of_a_silent_merchant_is_version_zero(marketing, other_merchant):
    assert marketing.marketing_info(other_merchant) == (0, b"\x00" * 32, 0, 0, 0)


def test_roles_match_the_registry(registry, merchant, terminal):
    # The fixtures the tests above rely on.
    assert registry.role_of(merchant) == Role.MERCHANT
    assert registry.merchant_of(terminal) == merchant
