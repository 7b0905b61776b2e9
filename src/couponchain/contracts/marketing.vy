# pragma version ~=0.4.3
"""
@title Access-log anchors, reporting rules, reports and marketing info
@notice The on-chain half of contract-driven marketing (DESIGN §2.5):

        ```
        marketing.anchor_logs(batch_id, merchant, root, count, first, last)  # terminal or platform
        v = marketing.set_reporting_rules(rules_json, [Schedule(start, 3600)])  # merchant
        rule = marketing.rule_id_of(merchant, v, 0)
        n = marketing.period_due(rule, block.timestamp)       # latest closed period
        rid = marketing.publish_report(merchant, rule, n, report_hash,
                                       start + (n - 1) * 3600, start + n * 3600,
                                       TRIGGER_PERIODIC, [])                 # platform
        marketing.period_published(rule, n)                                  # anyone
        info_v = marketing.update_marketing_info(info_json, valid_from, valid_until)  # merchant
        marketing.verify_inclusion(submitter, batch_id, leaf, proof)         # anyone
        ```

        - Access-log batches: a terminal (for its own merchant) or the platform
          (for any merchant, or `empty(address)` for a batch mixing
          merchants) anchors the Merkle root of a batch under a batch id the
          service chose. Anchors are keyed by (submitter, batch id): each
          submitter has its own id space, so no caller can take, or block,
          another's ids. An anchor is written once and never changes; the
          tree is the one of `couponchain.domain.access_logs` (keccak256,
          sorted pairs, as snekmate's `merkle_proof_verification`), so
          `verify_inclusion` checks a record's proof on chain.
        - Reporting rules: a merchant stores its rules as the canonical JSON
          of `couponchain.domain.indicators` (the full bytes go into the event,
          so the rules are recoverable from the chain; storage keeps their
          keccak256 per version). Versions count up from 1. With the JSON
          come the rules' schedules, one per rule, which the contract keeps:
          each rule gets a global id (`rule_id_of`), and a periodic rule its
          `start` and `period` (seconds), so its period n (from 1) is
          `[start + (n - 1) * period, start + n * period)` and is due once
          it has closed, while its rules version is current (a period still
          open when the merchant sets a new version is never due).
          `period_due` gives the latest due period at a time, and
          `period_published` whether a period was published: a skipped or
          late report is visible from chain state alone.
        - Merchant-defined indicators: with
          `set_reporting_rules_with_indicators` each rule also commits to the
          keccak256 of its indicator definitions (expressions of
          `couponchain.domain.indicator_language`, kept off chain);
          `rule_indicators_hash` lets anyone check definitions shown to them.
        - Reports: the platform publishes the keccak256 of a report's
          canonical JSON naming the rule it answers (its merchant's), its
          period `[period_start, period_end)` and what triggered it. A
          periodic report names its period number: the contract refuses one
          not closed, not matching the rule's schedule, or published
          before. A threshold report names the anchored batches it read, as
          (submitter, batch id), each an anchor of the report's merchant (or
          a mixed platform batch). A report hash is published at most once,
          so a retried transaction cannot record a report twice.
        - Marketing info: a merchant publishes the full JSON of its marketing
          information (headline, description, discount parameters, target
          segment) with its validity; the new version is current at once and
          every version's hash stays readable (`info_hash_at`).

        - Upgrades: a new release reads a deployment's anchors, rules and
          info versions, schedules and reports from the contract it replaces
          (`begin_migration`, `import_*`, `finish_migration`, as the
          platform); `rules_set_at` keeps what a later one needs.

        Batches (`anchor_logs_batch`, `publish_reports`) are all or nothing:
        the first item that breaks a rule reverts the whole call with that
        rule's reason.
"""

from interfaces import IRegistry
from snekmate.utils import merkle_proof_verification as merkle

ROLE_PLATFORM: constant(uint8) = 1
ROLE_MERCHANT: constant(uint8) = 2
ROLE_TERMINAL: constant(uint8) = 3

TRIGGER_PERIODIC: constant(uint8) = 1
TRIGGER_THRESHOLD: constant(uint8) = 2
TRIGGER_MANUAL: constant(uint8) = 3

MAX_RULES_BYTES: constant(uint256) = 4096
MAX_INFO_BYTES: constant(uint256) = 8192
MAX_BATCH: constant(uint256) = 64
MAX_PROOF: constant(uint256) = 32
MAX_RULES: constant(uint256) = 16
MAX_SOURCES: constant(uint256) = 64


struct LogBatch:
    batch_id: uint256
    merchant: address
    merkle_root: bytes32
    record_count: uint256
    first_time: uint64
    last_time: uint64


struct Anchor:
    merchant: address
    submitter: address
    merkle_root: bytes32
    record_count: uint256
    first_time: uint64
    last_time: uint64
    anchored_at: uint64


struct RulesState:
    version: uint256
    rules_hash: bytes32
    updated_at: uint64


struct Schedule:
    start: uint64  # the first period's start (epoch seconds); 0 for a threshold rule
    period: uint64  # seconds; 0 for a threshold rule


struct Rule:
    merchant: address
    rules_version: uint256
    rule_index: uint256
    start: uint64
    period: uint64


struct BatchRef:
    submitter: address
    batch_id: uint256


struct ReportInput:
    merchant: address
    rule_id: uint256
    period: uint256  # periodic reports: the period number (from 1); otherwise 0
    report_hash: bytes32
    period_start: uint64
    period_end: uint64
    trigger: uint8
    sources: DynArray[BatchRef, MAX_SOURCES]


struct Report:
    merchant: address
    rules_version: uint256
    rule_index: uint256
    report_hash: bytes32
    period_start: uint64
    period_end: uint64
    trigger: uint8
    published_at: uint64


struct MarketingInfo:
    version: uint256
    content_hash: bytes32
    valid_from: uint64
    valid_until: uint64
    updated_at: uint64


event LogsAnchored:
    batch_id: indexed(uint256)
    merchant: indexed(address)
    submitter: indexed(address)
    merkle_root: bytes32
    record_count: uint256
    first_time: uint64
    last_time: uint64

event ReportingRulesSet:
    merchant: indexed(address)
    version: indexed(uint256)
    rules_hash: bytes32
    rules: Bytes[MAX_RULES_BYTES]

event RuleScheduled:
    rule_id: indexed(uint256)
    merchant: indexed(address)
    rules_version: indexed(uint256)
    rule_index: uint256
    start: uint64
    period: uint64

event RuleIndicators:
    rule_id: indexed(uint256)
    merchant: indexed(address)
    indicators_hash: bytes32

event ReportPublished:
    report_id: indexed(uint256)
    merchant: indexed(address)
    report_hash: indexed(bytes32)
    rules_version: uint256
    rule_index: uint256
    period_start: uint64
    period_end: uint64
    trigger: uint8
    rule_id: uint256
    period: uint256
    source_submitters: DynArray[address, MAX_SOURCES]
    source_batch_ids: DynArray[uint256, MAX_SOURCES]

event MarketingInfoUpdated:
    merchant: indexed(address)
    version: indexed(uint256)
    content_hash: bytes32
    info: Bytes[MAX_INFO_BYTES]
    valid_from: uint64
    valid_until: uint64


event MigrationStarted:
    predecessor: indexed(address)

event MigrationFinished:
    predecessor: indexed(address)
    anchors: uint256
    reports: uint256


# What a migration reads from the marketing contract it replaces: the first
# release's views (anchors keyed by batch id alone, rules without schedules).
interface Predecessor:
    def anchor_count() -> uint256: view
    def report_count() -> uint256: view
    def anchor(batch_id: uint256) -> Anchor: view
    def reporting_rules(merchant: address) -> RulesState: view
    def rules_hash_at(merchant: address, version: uint256) -> bytes32: view
    def report(report_id: uint256) -> Report: view
    def marketing_info(merchant: address) -> MarketingInfo: view
    def info_hash_at(merchant: address, version: uint256) -> bytes32: view


# What a predecessor of this layout adds (anchors keyed by submitter too, rule
# schedules and the reports' rules and periods).
interface Scheduled:
    def anchor(submitter: address, batch_id: uint256) -> Anchor: view
    def rule_count() -> uint256: view
    def rule(rule_id: uint256) -> Rule: view
    def rule_indicators_hash(rule_id: uint256) -> bytes32: view
    def report_rule(report_id: uint256) -> (uint256, uint256): view


REGISTRY: public(immutable(IRegistry))

# Append new variables at the end, never reorder (read models and proofs
# rely on the layout).
anchor_count: public(uint256)
report_count: public(uint256)
_anchors: HashMap[address, HashMap[uint256, Anchor]]  # submitter -> batch id -> anchor
_rules: HashMap[address, RulesState]
_rules_hashes: HashMap[address, HashMap[uint256, bytes32]]
_reports: HashMap[uint256, Report]
_report_ids: HashMap[bytes32, uint256]
_info: HashMap[address, MarketingInfo]
_info_hashes: HashMap[address, HashMap[uint256, bytes32]]
rule_count: public(uint256)
_rule_defs: HashMap[uint256, Rule]  # rule id -> its merchant, version, index and schedule
_first_rule_ids: HashMap[address, HashMap[uint256, uint256]]  # merchant -> version -> id
_version_rule_counts: HashMap[address, HashMap[uint256, uint256]]  # merchant -> version -> n
_version_times: HashMap[address, HashMap[uint256, uint64]]  # merchant -> version -> set at
_period_reports: HashMap[uint256, HashMap[uint256, uint256]]  # rule id -> period -> report id
_report_rules: HashMap[uint256, uint256]  # report id -> rule id
_report_periods: HashMap[uint256, uint256]  # report id -> period (0: not periodic)
_rule_indicators: HashMap[uint256, bytes32]  # rule id -> its indicator definitions' hash
# @dev The marketing contract this one carries state over from (a migration).
predecessor: public(address)
# @dev Whether state is being carried over now: every write is refused then.
migrating: public(bool)
_carried_rules: HashMap[address, uint256]  # merchant -> rules versions carried over
_carried_info: HashMap[address, uint256]  # merchant -> info versions carried over
_scheduled: bool  # the predecessor has this layout (rule schedules)


@deploy
def __init__(registry: address):
    """
    @dev Binds the contract to the participant registry for its lifetime.
    @param registry The participant registry.
    """
    assert registry != empty(address), "marketing: zero registry"
    REGISTRY = IRegistry(registry)


# --- access-log anchors -------------------------------------------------------


@external
def anchor_logs(
    batch_id: uint256,
    merchant: address,
    merkle_root: bytes32,
    record_count: uint256,
    first_time: uint64,
    last_time: uint64,
):
    """
    @dev Anchors the Merkle root of one access-log batch.
    @param batch_id The service's id of the batch, not 0, never anchored
           before by the same caller (ids are per submitter).
    @param merchant The merchant whose records the batch holds; for a terminal
           its own merchant; the platform may pass `empty(address)` for a
           batch mixing merchants.
    @param merkle_root The batch's Merkle root (not zero).
    @param record_count How many records the batch holds, at least 1.
    @param first_time The earliest record time (epoch seconds, UTC).
    @param last_time The latest record time, not before `first_time`.
    @custom:security A terminal anchors for the merchant it is bound to, the
                     platform for anyone. The anchor is keyed by the caller
                     and the id, so another caller's anchors never collide
                     with this caller's. Record times are not compared with
                     the block time: terminals' clocks differ from the chain's.
    """
    self._check_live()
    self._anchor(
        LogBatch(
            batch_id=batch_id,
            merchant=merchant,
            merkle_root=merkle_root,
            record_count=record_count,
            first_time=first_time,
            last_time=last_time,
        ),
        self._submitter_role(),
    )


@external
def anchor_logs_batch(batches: DynArray[LogBatch, MAX_BATCH]):
    """
    @dev Anchors many batches in one transaction (the gateway's group
         commit). All or nothing.
    @param batches The batches, each checked as in `anchor_logs`.
    @custom:security See `anchor_logs`.
    """
    self._check_live()
    assert len(batches) != 0, "marketing: empty batch"
    role: uint8 = self._submitter_role()
    for batch: LogBatch in batches:
        self._anchor(batch, role)


@view
@external
def anchor(submitter: address, batch_id: uint256) -> Anchor:
    """
    @dev The anchor of a batch.
    @param submitter The terminal or platform account that anchored it.
    @param batch_id The batch's id in that submitter's id space.
    @return Anchor All zero for a batch never anchored.
    """
    return self._anchors[submitter][batch_id]


@view
@external
def verify_inclusion(
    submitter: address, batch_id: uint256, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF]
) -> bool:
    """
    @dev Whether `leaf` (a record's leaf hash, see
         `couponchain.domain.access_logs.leaf_hash`) belongs to an anchored
         batch.
    @param submitter The terminal or platform account that anchored the batch.
    @param batch_id The batch's id in that submitter's id space.
    @param leaf The record's leaf hash.
    @param proof The sibling hashes from the leaf up to the root.
    @return bool False for an unknown batch or a wrong proof.
    """
    root: bytes32 = self._anchors[submitter][batch_id].merkle_root
    if root == empty(bytes32):
        return False
    return merkle._verify(proof, root, leaf)


# --- reporting rules ----------------------------------------------------------


@external
def set_reporting_rules(
    rules: Bytes[MAX_RULES_BYTES], schedules: DynArray[Schedule, MAX_RULES]
) -> uint256:
    """
    @dev Replaces the calling merchant's reporting rules by a new version
         whose rules use catalogue indicators only (see
         `set_reporting_rules_with_indicators`).
    @param rules The canonical JSON of the rules (1-4096 bytes).
    @param schedules One per rule, in the rules' order.
    @return uint256 The new version (sequential from 1 per merchant).
    @custom:security As `set_reporting_rules_with_indicators`.
    """
    return self._set_rules(rules, schedules, [])


@external
def set_reporting_rules_with_indicators(
    rules: Bytes[MAX_RULES_BYTES],
    schedules: DynArray[Schedule, MAX_RULES],
    indicator_hashes: DynArray[bytes32, MAX_RULES],
) -> uint256:
    """
    @dev Replaces the calling merchant's reporting rules by a new version,
         each rule committing to the merchant-defined indicators it reports.
    @param rules The canonical JSON of the rules (1-4096 bytes).
    @param schedules One per rule, in the rules' order.
    @param indicator_hashes One per rule (or none at all): the keccak256 of
           the canonical JSON of the rule's indicator definitions, zero for
           a rule of catalogue indicators only. The definitions stay off
           chain; anyone holding them checks them against
           `rule_indicators_hash`.
    @return uint256 The new version (sequential from 1 per merchant).
    @custom:security As `set_reporting_rules`; the hash is the merchant's
                     own commitment and is never changed afterwards.
    """
    assert len(indicator_hashes) == 0 or len(indicator_hashes) == len(schedules), (
        "marketing: one indicator hash per rule"
    )
    return self._set_rules(rules, schedules, indicator_hashes)


@internal
def _set_rules(
    rules: Bytes[MAX_RULES_BYTES],
    schedules: DynArray[Schedule, MAX_RULES],
    indicator_hashes: DynArray[bytes32, MAX_RULES],
) -> uint256:
    """
    @dev Replaces the calling merchant's reporting rules by a new version.
    @param rules The canonical JSON of the rules (1-4096 bytes); it is not
           parsed on chain, the platform refuses rules it cannot read.
    @param schedules One per rule, in the rules' order: a periodic rule's
           first period start and period length (both non-zero), a threshold
           rule's (0, 0). Each rule gets the next global rule id.
    @return uint256 The new version (sequential from 1 per merchant).
    @custom:security Only a merchant, for itself (not its terminals). The
                     start may lie in the past (reports back-dated to it are
                     due at once) or in the future; it is the merchant's own
                     commitment, so no caller can move another's schedule.
    """
    self._check_live()
    assert staticcall REGISTRY.role_of(msg.sender) == ROLE_MERCHANT, (
        "marketing: caller is not a merchant"
    )
    assert len(rules) != 0, "marketing: empty rules"
    rules_hash: bytes32 = keccak256(rules)
    # Cannot overflow: one version per transaction.
    version: uint256 = unsafe_add(self._rules[msg.sender].version, 1)
    self._rules[msg.sender] = RulesState(
        version=version, rules_hash=rules_hash, updated_at=convert(block.timestamp, uint64)
    )
    self._rules_hashes[msg.sender][version] = rules_hash
    self._version_times[msg.sender][version] = convert(block.timestamp, uint64)
    first: uint256 = self.rule_count + 1
    self._first_rule_ids[msg.sender][version] = first
    self._version_rule_counts[msg.sender][version] = len(schedules)
    for i: uint256 in range(len(schedules), bound=MAX_RULES):
        schedule: Schedule = schedules[i]
        assert (schedule.start == 0) == (schedule.period == 0), (
            "marketing: a schedule needs both start and period, or neither"
        )
        # Cannot overflow: rule ids count up from 1, at most 16 per call.
        rule_id: uint256 = unsafe_add(first, i)
        self._rule_defs[rule_id] = Rule(
            merchant=msg.sender,
            rules_version=version,
            rule_index=i,
            start=schedule.start,
            period=schedule.period,
        )
        log RuleScheduled(
            rule_id=rule_id,
            merchant=msg.sender,
            rules_version=version,
            rule_index=i,
            start=schedule.start,
            period=schedule.period,
        )
        if len(indicator_hashes) != 0 and indicator_hashes[i] != empty(bytes32):
            self._rule_indicators[rule_id] = indicator_hashes[i]
            log RuleIndicators(
                rule_id=rule_id, merchant=msg.sender, indicators_hash=indicator_hashes[i]
            )
    # Cannot overflow: at most 16 per call.
    self.rule_count = unsafe_add(self.rule_count, len(schedules))
    log ReportingRulesSet(merchant=msg.sender, version=version, rules_hash=rules_hash, rules=rules)
    return version


@view
@external
def reporting_rules(merchant: address) -> RulesState:
    """
    @dev The current rules version of a merchant.
    @param merchant The merchant.
    @return RulesState Version 0 (all zero) when the merchant never set rules.
    """
    return self._rules[merchant]


@view
@external
def rules_hash_at(merchant: address, version: uint256) -> bytes32:
    """
    @dev The hash of one version of a merchant's rules.
    @param merchant The merchant.
    @param version The version.
    @return bytes32 Zero for a version that does not exist.
    """
    return self._rules_hashes[merchant][version]


@view
@external
def rule(rule_id: uint256) -> Rule:
    """
    @dev A rule's merchant, version, position and schedule.
    @param rule_id The rule's global id.
    @return Rule All zero for an unknown id.
    """
    return self._rule_defs[rule_id]


@view
@external
def rules_set_at(merchant: address, version: uint256) -> uint64:
    """
    @dev When a merchant set a version of its rules (which ends the periods
         of the version before), for a later migration to read.
    @param merchant The merchant.
    @param version A rules version.
    @return uint64 Epoch seconds; 0 for a version never set, and for a
            superseded version carried over from the first release.
    """
    return self._version_times[merchant][version]


@view
@external
def rule_indicators_hash(rule_id: uint256) -> bytes32:
    """
    @dev The hash a rule committed to for its merchant-defined indicators.
    @param rule_id The rule's global id.
    @return bytes32 Zero for a rule of catalogue indicators only, or an unknown id.
    """
    return self._rule_indicators[rule_id]


@view
@external
def rule_id_of(merchant: address, version: uint256, index: uint256) -> uint256:
    """
    @dev The global id of a merchant's rule.
    @param merchant The merchant.
    @param version The rules version.
    @param index The rule's position in that version.
    @return uint256 0 when the version or the position does not exist.
    """
    if index >= self._version_rule_counts[merchant][version]:
        return 0
    return self._first_rule_ids[merchant][version] + index


@view
@external
def period_due(rule_id: uint256, timestamp: uint256) -> uint256:
    """
    @dev The latest period of a periodic rule that is due at `timestamp`:
         periods 1 to the result are closed (their end is at or before
         `timestamp`) and ended while the rule's version was current.
    @param rule_id The rule.
    @param timestamp The time asked about (epoch seconds).
    @return uint256 0 when none is due (or the rule is not periodic).
    """
    return self._period_due(rule_id, timestamp)


@view
@external
def period_published(rule_id: uint256, period: uint256) -> bool:
    """
    @dev Whether a period of a rule was published.
    @param rule_id The rule.
    @param period The period number (from 1).
    @return bool True once a report for it is on chain.
    """
    return self._period_reports[rule_id][period] != 0


@view
@external
def period_report(rule_id: uint256, period: uint256) -> uint256:
    """
    @dev The report published for a period of a rule.
    @param rule_id The rule.
    @param period The period number.
    @return uint256 The report id; 0 when the period was not published.
    """
    return self._period_reports[rule_id][period]


@view
@external
def report_rule(report_id: uint256) -> (uint256, uint256):
    """
    @dev The rule and period a report answers.
    @param report_id The report.
    @return (uint256, uint256) The rule id and the period number (0 for a
            threshold or manual report); (0, 0) for an unknown report.
    """
    return self._report_rules[report_id], self._report_periods[report_id]


# --- reports ------------------------------------------------------------------


@external
def publish_report(
    merchant: address,
    rule_id: uint256,
    period: uint256,
    report_hash: bytes32,
    period_start: uint64,
    period_end: uint64,
    trigger: uint8,
    sources: DynArray[BatchRef, MAX_SOURCES],
) -> uint256:
    """
    @dev Records a report computed for a merchant under one of its rules.
    @param merchant The merchant the report is for.
    @param rule_id One of the merchant's rules (`rule_id_of`).
    @param period A periodic report's period number: closed, matching
           `[period_start, period_end)` to the rule's schedule, and never
           published before; 0 for a threshold or manual report.
    @param report_hash keccak256 of the report's canonical JSON; not zero and
           never published before.
    @param period_start Start of the reported period (inclusive, epoch seconds).
    @param period_end End of the reported period (exclusive), after the start.
    @param trigger 1 periodic (a periodic rule), 2 threshold (a threshold
           rule), 3 manual (any rule).
    @param sources The anchored batches the report read, as (submitter,
           batch id): each anchored, of this merchant or mixed.
    @return uint256 The report id (sequential from 1).
    @custom:security The platform only. The rule, its merchant and its
                     schedule are the merchant's own on-chain records, so the
                     platform cannot answer a period early, twice, or under
                     another merchant's rule.
    """
    self._check_live()
    self._check_platform()
    report_id: uint256 = self.report_count + 1
    self._publish(
        report_id,
        ReportInput(
            merchant=merchant,
            rule_id=rule_id,
            period=period,
            report_hash=report_hash,
            period_start=period_start,
            period_end=period_end,
            trigger=trigger,
            sources=sources,
        ),
    )
    self.report_count = report_id
    return report_id


@external
def publish_reports(reports: DynArray[ReportInput, MAX_BATCH]) -> uint256:
    """
    @dev Records many reports in one transaction (the scheduler's group
         commit). All or nothing.
    @param reports The reports, each checked as in `publish_report` (a hash
           or a period repeated inside the batch fails as "already published").
    @return uint256 The first report id; the call made `[first, first + n)`.
    @custom:security The platform only.
    """
    self._check_live()
    self._check_platform()
    n: uint256 = len(reports)
    assert n != 0, "marketing: empty batch"
    first: uint256 = self.report_count + 1
    for i: uint256 in range(n, bound=MAX_BATCH):
        # Cannot overflow: report ids count up from 1, at most 64 per call.
        self._publish(unsafe_add(first, i), reports[i])
    self.report_count = unsafe_add(first, n) - 1
    return first


@view
@external
def report(report_id: uint256) -> Report:
    """
    @dev A published report.
    @param report_id The report.
    @return Report All zero for an unknown id.
    """
    return self._reports[report_id]


@view
@external
def report_id_of(report_hash: bytes32) -> uint256:
    """
    @dev The id under which a report hash was published.
    @param report_hash The report's hash.
    @return uint256 0 when it was never published.
    """
    return self._report_ids[report_hash]


# --- marketing info -----------------------------------------------------------


@external
def update_marketing_info(
    info: Bytes[MAX_INFO_BYTES], valid_from: uint64, valid_until: uint64
) -> uint256:
    """
    @dev Publishes a new version of the calling merchant's marketing
         information; it is current at once.
    @param info The information's JSON (1-8192 bytes), kept whole in the event.
    @param valid_from When the offer starts (epoch seconds, inclusive).
    @param valid_until When it ends (exclusive): after `valid_from` and in the
           future.
    @return uint256 The new version (sequential from 1 per merchant).
    @custom:security Only a merchant, for itself (not its terminals).
    """
    self._check_live()
    assert staticcall REGISTRY.role_of(msg.sender) == ROLE_MERCHANT, (
        "marketing: caller is not a merchant"
    )
    assert len(info) != 0, "marketing: empty info"
    assert valid_from < valid_until, "marketing: empty or inverted validity"
    assert convert(valid_until, uint256) > block.timestamp, "marketing: validity already ended"
    content_hash: bytes32 = keccak256(info)
    # Cannot overflow: one version per transaction.
    version: uint256 = unsafe_add(self._info[msg.sender].version, 1)
    self._info[msg.sender] = MarketingInfo(
        version=version,
        content_hash=content_hash,
        valid_from=valid_from,
        valid_until=valid_until,
        updated_at=convert(block.timestamp, uint64),
    )
    self._info_hashes[msg.sender][version] = content_hash
    log MarketingInfoUpdated(
        merchant=msg.sender,
        version=version,
        content_hash=content_hash,
        info=info,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    return version


@view
@external
def marketing_info(merchant: address) -> MarketingInfo:
    """
    @dev The current marketing information of a merchant.
    @param merchant The merchant.
    @return MarketingInfo Version 0 (all zero) when it never published any.
    """
    return self._info[merchant]


@view
@external
def info_hash_at(merchant: address, version: uint256) -> bytes32:
    """
    @dev The content hash of one version of a merchant's marketing information.
    @param merchant The merchant.
    @param version The version.
    @return bytes32 Zero for a version that does not exist.
    """
    return self._info_hashes[merchant][version]


# --- internals ----------------------------------------------------------------


@view
@internal
def _submitter_role() -> uint8:
    role: uint8 = staticcall REGISTRY.role_of(msg.sender)
    assert role == ROLE_TERMINAL or role == ROLE_PLATFORM, (
        "marketing: caller is not a terminal or the platform"
    )
    return role


@internal
def _anchor(batch: LogBatch, role: uint8):
    assert batch.batch_id != 0, "marketing: zero batch id"
    assert self._anchors[msg.sender][batch.batch_id].merkle_root == empty(bytes32), (
        "marketing: batch already anchored"
    )
    if role == ROLE_TERMINAL:
        assert staticcall REGISTRY.merchant_of(msg.sender) == batch.merchant, (
            "marketing: terminal of another merchant"
        )
    elif batch.merchant != empty(address):
        assert staticcall REGISTRY.role_of(batch.merchant) == ROLE_MERCHANT, (
            "marketing: not a merchant"
        )
    assert batch.merkle_root != empty(bytes32), "marketing: zero merkle root"
    assert batch.record_count != 0, "marketing: no records"
    assert batch.first_time <= batch.last_time, "marketing: inverted time range"
    self._anchors[msg.sender][batch.batch_id] = Anchor(
        merchant=batch.merchant,
        submitter=msg.sender,
        merkle_root=batch.merkle_root,
        record_count=batch.record_count,
        first_time=batch.first_time,
        last_time=batch.last_time,
        anchored_at=convert(block.timestamp, uint64),
    )
    # Cannot overflow: one anchor per transaction item, at most 64 per call.
    self.anchor_count = unsafe_add(self.anchor_count, 1)
    log LogsAnchored(
        batch_id=batch.batch_id,
        merchant=batch.merchant,
        submitter=msg.sender,
        merkle_root=batch.merkle_root,
        record_count=batch.record_count,
        first_time=batch.first_time,
        last_time=batch.last_time,
    )


# --- migration -----------------------------------------------------------------------------


@external
def begin_migration(predecessor: address):
    """
    @dev Starts carrying anchors, reporting rules, reports and marketing info
         over from the contract this one replaces: by the platform, on an
         unused contract, once. Every write is refused until
         `finish_migration`.
    @param predecessor The marketing contract being replaced: of the first
           release's layout (anchors keyed by batch id, no rule schedules) or
           of this one.
    @custom:security Every anchor, rules and info version and report is read
                     from the predecessor; the platform chooses only the
                     batches, and which batch ids and merchants to ask about.
                     A predecessor with schedules but without
                     `rules_set_at` cannot say when a rules version was
                     superseded: a superseded version's periodic rule is
                     refused then (`import_schedules`).
    """
    self._check_platform()
    assert predecessor != empty(address) and self.predecessor == empty(address) and (
        self.anchor_count == 0 and self.report_count == 0 and self.rule_count == 0
    ), "marketing: migration needs an unused contract"
    scheduled: bool = False
    out: Bytes[32] = b""
    scheduled, out = raw_call(
        predecessor, method_id("rule_count()"), max_outsize=32, is_static_call=True,
        revert_on_failure=False,
    )
    self._scheduled = scheduled
    self.predecessor = predecessor
    self.migrating = True
    log MigrationStarted(predecessor=predecessor)


@external
def import_anchors(batches: DynArray[BatchRef, MAX_BATCH]):
    """
    @dev Carries anchored access-log batches over, each under the account
         that anchored it there.
    @param batches (submitter, batch id) of batches the predecessor anchored,
           each once.
    """
    self._check_migrator()
    for ref: BatchRef in batches:
        a: Anchor = empty(Anchor)
        if self._scheduled:
            a = staticcall Scheduled(self.predecessor).anchor(ref.submitter, ref.batch_id)
        else:
            a = staticcall Predecessor(self.predecessor).anchor(ref.batch_id)
        assert a.anchored_at != 0 and a.submitter == ref.submitter and (
            self._anchors[ref.submitter][ref.batch_id].anchored_at == 0
        ), "marketing: batch not anchored there, or carried over already"
        self._anchors[ref.submitter][ref.batch_id] = a
        self.anchor_count += 1


@external
def import_schedules(count: uint256):
    """
    @dev Carries the next `count` rule schedules of a predecessor of this
         layout over, in rule id order, with their indicator hashes.
    @param count How many, 1 to MAX_BATCH.
    @custom:security A periodic rule's periods end when its version is
                     superseded; when that was is read from `rules_set_at`.
                     A predecessor without that view (the contracts before
                     this migration) cannot tell, so a periodic rule of a
                     superseded version is refused there.
    """
    self._check_migrator()
    assert self._scheduled, "marketing: the predecessor schedules no rules"
    old: Scheduled = Scheduled(self.predecessor)
    first: uint256 = self.rule_count + 1
    self._check_batch(first - 1, count, staticcall old.rule_count())
    for i: uint256 in range(count, bound=MAX_BATCH):
        r: Rule = staticcall old.rule(first + i)
        current: RulesState = staticcall Predecessor(self.predecessor).reporting_rules(r.merchant)
        if r.period != 0 and r.rules_version != current.version:
            # Its periods ended when the next version was set.
            ok: bool = False
            out: Bytes[32] = b""
            ok, out = raw_call(
                self.predecessor,
                abi_encode(
                    r.merchant,
                    r.rules_version + 1,
                    method_id=method_id("rules_set_at(address,uint256)"),
                ),
                max_outsize=32,
                is_static_call=True,
                revert_on_failure=False,
            )
            assert ok and len(out) == 32, (
                "marketing: a superseded periodic rule cannot be carried over (no view of its end)"
            )
            self._version_times[r.merchant][r.rules_version + 1] = abi_decode(out, uint64)
        self._rule_defs[first + i] = r
        self._rule_indicators[first + i] = staticcall old.rule_indicators_hash(first + i)
        if r.rule_index == 0:
            self._first_rule_ids[r.merchant][r.rules_version] = first + i
        self._version_rule_counts[r.merchant][r.rules_version] = r.rule_index + 1
    self.rule_count = first + count - 1


@external
def import_rules(merchant: address, count: uint256):
    """
    @dev Carries a merchant's next `count` reporting-rules versions over (the
         hash of each); with its last one, its current rules.
    @param merchant A merchant that set rules there.
    @param count How many versions, 1 to MAX_BATCH.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    state: RulesState = staticcall old.reporting_rules(merchant)
    have: uint256 = self._carried_rules[merchant]
    self._check_batch(have, count, state.version)
    for i: uint256 in range(count, bound=MAX_BATCH):
        self._rules_hashes[merchant][have + i + 1] = staticcall old.rules_hash_at(
            merchant, have + i + 1
        )
    self._carried_rules[merchant] = have + count
    if have + count == state.version:
        self._rules[merchant] = state
        self._version_times[merchant][state.version] = state.updated_at


@external
def import_info(merchant: address, count: uint256):
    """
    @dev Carries a merchant's next `count` marketing-info versions over (the
         hash of each); with its last one, its current info and validity.
    @param merchant A merchant that published marketing info there.
    @param count How many versions, 1 to MAX_BATCH.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    info: MarketingInfo = staticcall old.marketing_info(merchant)
    have: uint256 = self._carried_info[merchant]
    self._check_batch(have, count, info.version)
    for i: uint256 in range(count, bound=MAX_BATCH):
        self._info_hashes[merchant][have + i + 1] = staticcall old.info_hash_at(
            merchant, have + i + 1
        )
    self._carried_info[merchant] = have + count
    if have + count == info.version:
        self._info[merchant] = info


@external
def import_reports(count: uint256):
    """
    @dev Carries the predecessor's next `count` reports over, in id order.
    @param count How many, 1 to MAX_BATCH.
    """
    self._check_migrator()
    first: uint256 = self.report_count + 1
    self._check_batch(
        first - 1, count, staticcall Predecessor(self.predecessor).report_count()
    )
    for i: uint256 in range(count, bound=MAX_BATCH):
        r: Report = staticcall Predecessor(self.predecessor).report(first + i)
        self._reports[first + i] = r
        self._report_ids[r.report_hash] = first + i
        if self._scheduled:
            rule_id: uint256 = 0
            period: uint256 = 0
            rule_id, period = staticcall Scheduled(self.predecessor).report_rule(first + i)
            self._report_rules[first + i] = rule_id
            self._report_periods[first + i] = period
            if period != 0:
                self._period_reports[rule_id][period] = first + i
    self.report_count = first + count - 1


@external
def finish_migration():
    """
    @dev Ends the migration for good, once every anchor, report and rule
         schedule is carried over.
    @custom:security The predecessor cannot list the merchants with rules or
                     info; the platform names them (from their events), and
                     each merchant's versions are carried whole.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    rules: uint256 = 0
    if self._scheduled:
        rules = staticcall Scheduled(self.predecessor).rule_count()
    assert self.anchor_count == staticcall old.anchor_count() and (
        self.report_count == staticcall old.report_count() and self.rule_count == rules
    ), "marketing: state left to carry over"
    self.migrating = False
    log MigrationFinished(
        predecessor=self.predecessor, anchors=self.anchor_count, reports=self.report_count
    )


@view
@internal
def _check_migrator():
    self._check_platform()
    assert self.migrating, "marketing: no migration in progress"


@view
@internal
def _check_live():
    assert not self.migrating, "marketing: migration in progress"
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason


@pure
@internal
def _check_batch(have: uint256, count: uint256, total: uint256):
    assert count != 0 and count <= MAX_BATCH and have + count <= total, (
        "marketing: batch beyond the predecessor"
    )


@view
@internal
def _check_platform():
    assert msg.sender == staticcall REGISTRY.platform(), "marketing: caller is not the platform"


@view
@internal
def _period_due(rule_id: uint256, at: uint256) -> uint256:
    r: Rule = self._rule_defs[rule_id]
    if r.period == 0:
        return 0
    # A period is due only if it closed while its rules version was current.
    until: uint256 = at
    superseded: uint64 = self._version_times[r.merchant][r.rules_version + 1]
    if superseded != 0 and convert(superseded, uint256) < until:
        until = convert(superseded, uint256)
    start: uint256 = convert(r.start, uint256)
    if until < start:
        return 0
    # Cannot underflow: until >= start; the quotient bounds the period numbers.
    return unsafe_sub(until, start) // convert(r.period, uint256)


@internal
def _check_sources(merchant: address, sources: DynArray[BatchRef, MAX_SOURCES]):
    for source: BatchRef in sources:
        anchored: Anchor = self._anchors[source.submitter][source.batch_id]
        assert anchored.merkle_root != empty(bytes32), "marketing: unknown anchor"
        assert anchored.merchant == merchant or anchored.merchant == empty(address), (
            "marketing: anchor of another merchant"
        )


@internal
def _publish(report_id: uint256, item: ReportInput):
    assert staticcall REGISTRY.role_of(item.merchant) == ROLE_MERCHANT, (
        "marketing: not a merchant"
    )
    r: Rule = self._rule_defs[item.rule_id]
    assert r.merchant != empty(address), "marketing: unknown rule"
    assert r.merchant == item.merchant, "marketing: rule of another merchant"
    assert item.report_hash != empty(bytes32), "marketing: zero report hash"
    assert self._report_ids[item.report_hash] == 0, "marketing: report already published"
    assert item.period_start < item.period_end, "marketing: empty or inverted period"
    assert item.trigger >= TRIGGER_PERIODIC and item.trigger <= TRIGGER_MANUAL, (
        "marketing: unknown trigger"
    )
    if item.trigger == TRIGGER_PERIODIC:
        assert r.period != 0, "marketing: rule is not periodic"
        assert item.period != 0, "marketing: zero period"
        assert item.period <= self._period_due(item.rule_id, block.timestamp), (
            "marketing: period not closed"
        )
        # Cannot overflow: period <= (due time - start) // length, so the end
        # is at most the due time.
        end: uint256 = convert(r.start, uint256) + item.period * convert(r.period, uint256)
        assert (
            convert(item.period_end, uint256) == end
            and convert(item.period_start, uint256) == end - convert(r.period, uint256)
        ), "marketing: period does not match the rule"
        assert self._period_reports[item.rule_id][item.period] == 0, (
            "marketing: period already published"
        )
        self._period_reports[item.rule_id][item.period] = report_id
    else:
        assert item.period == 0, "marketing: only a periodic report names a period"
        if item.trigger == TRIGGER_THRESHOLD:
            assert r.period == 0, "marketing: rule is not a threshold"
    self._check_sources(item.merchant, item.sources)
    self._report_ids[item.report_hash] = report_id
    self._report_rules[report_id] = item.rule_id
    self._report_periods[report_id] = item.period
    self._reports[report_id] = Report(
        merchant=item.merchant,
        rules_version=r.rules_version,
        rule_index=r.rule_index,
        report_hash=item.report_hash,
        period_start=item.period_start,
        period_end=item.period_end,
        trigger=item.trigger,
        published_at=convert(block.timestamp, uint64),
    )
    submitters: DynArray[address, MAX_SOURCES] = []
    batch_ids: DynArray[uint256, MAX_SOURCES] = []
    for source: BatchRef in item.sources:
        submitters.append(source.submitter)
        batch_ids.append(source.batch_id)
    log ReportPublished(
        report_id=report_id,
        merchant=item.merchant,
        report_hash=item.report_hash,
        rules_version=r.rules_version,
        rule_index=r.rule_index,
        period_start=item.period_start,
        period_end=item.period_end,
        trigger=item.trigger,
        rule_id=item.rule_id,
        period=item.period,
        source_submitters=submitters,
        source_batch_ids=batch_ids,
    )
