# pragma version ~=0.4.3
"""
@title Access-log anchors, reporting rules, reports and marketing info
@notice The on-chain half of contract-driven marketing (DESIGN §2.5):

        ```
        marketing.anchor_logs(batch_id, merchant, root, count, first, last)  # terminal or platform
        v = marketing.set_reporting_rules(rules_json)                        # merchant
        rid = marketing.publish_report(merchant, v, 0, report_hash,
                                       start, end, TRIGGER_PERIODIC)         # platform
        info_v = marketing.update_marketing_info(info_json, valid_from, valid_until)  # merchant
        marketing.verify_inclusion(batch_id, leaf, proof)                    # anyone
        ```

        - Access-log batches: a terminal (for its own merchant) or the platform
          (for any merchant, or `empty(address)` for a batch mixing
          merchants) anchors the Merkle root of a batch under a batch id the
          service chose. An anchor is written once and never changes; the
          tree is the one of `couponchain.domain.access_logs` (keccak256,
          sorted pairs, as snekmate's `merkle_proof_verification`), so
          `verify_inclusion` checks a record's proof on chain.
        - Reporting rules: a merchant stores its rules as the canonical JSON
          of `couponchain.domain.indicators` (the full bytes go into the event,
          so the rules are recoverable from the chain; storage keeps their
          keccak256 per version). Versions count up from 1.
        - Reports: the platform publishes the keccak256 of a report's
          canonical JSON with the rules version and rule it answers, its
          period `[period_start, period_end)` and what triggered it. A report
          hash is published at most once, so a retried transaction cannot
          record a report twice.
        - Marketing info: a merchant publishes the full JSON of its marketing
          information (headline, description, discount parameters, target
          segment) with its validity; the new version is current at once and
          every version's hash stays readable (`info_hash_at`).

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


struct ReportInput:
    merchant: address
    rules_version: uint256
    rule_index: uint256
    report_hash: bytes32
    period_start: uint64
    period_end: uint64
    trigger: uint8


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

event ReportPublished:
    report_id: indexed(uint256)
    merchant: indexed(address)
    report_hash: indexed(bytes32)
    rules_version: uint256
    rule_index: uint256
    period_start: uint64
    period_end: uint64
    trigger: uint8

event MarketingInfoUpdated:
    merchant: indexed(address)
    version: indexed(uint256)
    content_hash: bytes32
    info: Bytes[MAX_INFO_BYTES]
    valid_from: uint64
    valid_until: uint64


REGISTRY: public(immutable(IRegistry))

# Append new variables at the end, never reorder (read models and proofs
# rely on the layout).
anchor_count: public(uint256)
report_count: public(uint256)
_anchors: HashMap[uint256, Anchor]
_rules: HashMap[address, RulesState]
_rules_hashes: HashMap[address, HashMap[uint256, bytes32]]
_reports: HashMap[uint256, Report]
_report_ids: HashMap[bytes32, uint256]
_info: HashMap[address, MarketingInfo]
_info_hashes: HashMap[address, HashMap[uint256, bytes32]]


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
    @param batch_id The service's id of the batch, not 0, never anchored before.
    @param merchant The merchant whose records the batch holds; for a terminal
           its own merchant; the platform may pass `empty(address)` for a
           batch mixing merchants.
    @param merkle_root The batch's Merkle root (not zero).
    @param record_count How many records the batch holds, at least 1.
    @param first_time The earliest record time (epoch seconds, UTC).
    @param last_time The latest record time, not before `first_time`.
    @custom:security A terminal anchors for the merchant it is bound to, the
                     platform for anyone. Record times are not compared with
                     the block time: terminals' clocks differ from the chain's.
    """
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
    assert len(batches) != 0, "marketing: empty batch"
    role: uint8 = self._submitter_role()
    for batch: LogBatch in batches:
        self._anchor(batch, role)


@view
@external
def anchor(batch_id: uint256) -> Anchor:
    """
    @dev The anchor of a batch.
    @param batch_id The batch.
    @return Anchor All zero for a batch never anchored.
    """
    return self._anchors[batch_id]


@view
@external
def verify_inclusion(
    batch_id: uint256, leaf: bytes32, proof: DynArray[bytes32, MAX_PROOF]
) -> bool:
    """
    @dev Whether `leaf` (a record's leaf hash, see
         `couponchain.domain.access_logs.leaf_hash`) belongs to an anchored
         batch.
    @param batch_id The batch.
    @param leaf The record's leaf hash.
    @param proof The sibling hashes from the leaf up to the root.
    @return bool False for an unknown batch or a wrong proof.
    """
    root: bytes32 = self._anchors[batch_id].merkle_root
    if root == empty(bytes32):
        return False
    return merkle._verify(proof, root, leaf)


# --- reporting rules ----------------------------------------------------------


@external
def set_reporting_rules(rules: Bytes[MAX_RULES_BYTES]) -> uint256:
    """
    @dev Replaces the calling merchant's reporting rules by a new version.
    @param rules The canonical JSON of the rules (1-4096 bytes); it is not
           parsed on chain, the platform refuses rules it cannot read.
    @return uint256 The new version (sequential from 1 per merchant).
    @custom:security Only a merchant, for itself (not its terminals).
    """
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


# --- reports ------------------------------------------------------------------


@external
def publish_report(
    merchant: address,
    rules_version: uint256,
    rule_index: uint256,
    report_hash: bytes32,
    period_start: uint64,
    period_end: uint64,
    trigger: uint8,
) -> uint256:
    """
    @dev Records a report computed for a merchant under one of its rules.
    @param merchant The merchant the report is for.
    @param rules_version A version of the merchant's rules that exists.
    @param rule_index The rule's position in that version (not checked on
           chain: the rules are not parsed here).
    @param report_hash keccak256 of the report's canonical JSON; not zero and
           never published before.
    @param period_start Start of the reported period (inclusive, epoch seconds).
    @param period_end End of the reported period (exclusive), after the start.
    @param trigger 1 periodic, 2 threshold, 3 manual.
    @return uint256 The report id (sequential from 1).
    @custom:security The platform only.
    """
    self._check_platform()
    report_id: uint256 = self.report_count + 1
    self._publish(
        report_id,
        ReportInput(
            merchant=merchant,
            rules_version=rules_version,
            rule_index=rule_index,
            report_hash=report_hash,
            period_start=period_start,
            period_end=period_end,
            trigger=trigger,
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
           repeated inside the batch fails as "already published").
    @return uint256 The first report id; the call made `[first, first + n)`.
    @custom:security The platform only.
    """
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
    assert self._anchors[batch.batch_id].merkle_root == empty(bytes32), (
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
    self._anchors[batch.batch_id] = Anchor(
        merchant=batch.merchant,
        submitter=msg.sender,
        merkle_root=batch.merkle_root,
        record_count=batch.record_count,
        first_time=batch.first_time,
        last_time=batch.last_time,
        anchored_at=convert(block.timestamp, uint64),
    )
    # Cannot overflow: one anchor per batch id.
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


@view
@internal
def _check_platform():
    assert msg.sender == staticcall REGISTRY.platform(), "marketing: caller is not the platform"


@internal
def _publish(report_id: uint256, item: ReportInput):
    assert staticcall REGISTRY.role_of(item.merchant) == ROLE_MERCHANT, (
        "marketing: not a merchant"
    )
    assert item.rules_version != 0, "marketing: unknown rules version"
    assert item.rules_version <= self._rules[item.merchant].version, (
        "marketing: unknown rules version"
    )
    assert item.report_hash != empty(bytes32), "marketing: zero report hash"
    assert self._report_ids[item.report_hash] == 0, "marketing: report already published"
    assert item.period_start < item.period_end, "marketing: empty or inverted period"
    assert item.trigger >= TRIGGER_PERIODIC and item.trigger <= TRIGGER_MANUAL, (
        "marketing: unknown trigger"
    )
    self._report_ids[item.report_hash] = report_id
    self._reports[report_id] = Report(
        merchant=item.merchant,
        rules_version=item.rules_version,
        rule_index=item.rule_index,
        report_hash=item.report_hash,
        period_start=item.period_start,
        period_end=item.period_end,
        trigger=item.trigger,
        published_at=convert(block.timestamp, uint64),
    )
    log ReportPublished(
        report_id=report_id,
        merchant=item.merchant,
        report_hash=item.report_hash,
        rules_version=item.rules_version,
        rule_index=item.rule_index,
        period_start=item.period_start,
        period_end=item.period_end,
        trigger=item.trigger,
    )
