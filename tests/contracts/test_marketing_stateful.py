"""Stateful invariants of contracts/marketing.vy.

Random participants anchor log batches, set reporting rules, publish reports,
update marketing info and let time pass. A ghost model predicts the exact
outcome of every call (the revert string or the new state). After every step:
rules and info versions equal the ghost's and never decrease; only merchants
ever changed their own rules or info; every anchor, once written, is unchanged
and lives under its submitter's own ids (one caller never blocks another's);
every report hash maps to the one report that published it; every rule keeps
its merchant and schedule, and each of its periods is published at most once,
only after it closed, under its merchant's own rule, with the schedule's bounds. The whole state is
read from storage after every step (no EVM call); the views are compared for
the records the step changed. Each example runs in its own state snapshot.
"""

from dataclasses import dataclass

import boa
from eth_utils import keccak
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from storage_reader import StorageReader, as_word, as_words

from conftest import ZERO, ContractMachine, deployer, quiet, register_all
from couponchain.domain.roles import Role

# name -> (role, merchant it acts for)
PARTICIPANTS = {
    "P": (Role.PLATFORM, None),
    "M1": (Role.MERCHANT, "M1"),
    "M2": (Role.MERCHANT, "M2"),
    "T1": (Role.TERMINAL, "M1"),
    "T2": (Role.TERMINAL, "M2"),
    "C1": (Role.CONSUMER, None),
    "X": (Role.NONE, None),
}
ADDRESS = {name: boa.env.generate_address(f"marketing_stateful_{name}") for name in PARTICIPANTS}
NAME_OF = {address: name for name, address in ADDRESS.items()}

callers = st.sampled_from(["P", "M1", "M2", "T1", "T1", "T2", "C1", "X"])
owners = st.sampled_from(["M1", "M1", "M2", "T1", "P", "X"])
merchants = st.sampled_from(["M1", "M2", "none", "C1", "T1"])
batch_ids = st.integers(0, 6)
roots = st.sampled_from([b"\x00" * 32] + [bytes([i]) * 32 for i in range(1, 5)])
HASHES = [b"\x00" * 32] + [bytes([0x40 + i]) * 32 for i in range(1, 6)]
hashes = st.sampled_from(HASHES)
payloads = st.binary(min_size=0, max_size=40)
PERIODS = (30, 60)
# (start relative to now, or None for 0; period): valid periodic, valid
# threshold, and the two halves that the contract refuses.
_periodic = st.tuples(st.integers(-240, 30), st.sampled_from(PERIODS))
schedules = st.lists(
    st.one_of(
        _periodic, _periodic, st.just((None, 0)), st.sampled_from([(None, 30), (5, 0)])
    ),
    max_size=3,
)
# A rule's commitment to its merchant-defined indicators: none (zero) or a hash.
indicator_hashes = st.lists(st.sampled_from([bytes(32), b"\x01" * 32, b"\x02" * 32]), max_size=3)
sources = st.lists(st.tuples(st.sampled_from(["P", "T1", "T2"]), batch_ids), max_size=2)


@dataclass
class GhostRule:
    merchant: str
    version: int
    index: int
    start: int
    period: int

    def words(self) -> tuple[int, ...]:
        return as_words(ADDRESS[self.merchant], self.version, self.index, self.start, self.period)


@dataclass
class GhostAnchor:
    merchant: str | None
    submitter: str
    root: bytes
    count: int
    first: int
    last: int
    at: int

    def words(self) -> tuple[int, ...]:
        """The `Anchor` struct as its storage words."""
        merchant = ZERO if self.merchant is None else ADDRESS[self.merchant]
        return as_words(
            merchant, ADDRESS[self.submitter], self.root, self.count, self.first, self.last, self.at
        )


class MarketingMachine(ContractMachine):
    registry = marketing = state = None  # deployed once per test

    @classmethod
    def deploy(cls) -> None:
        with boa.env.prank(ADDRESS["P"]):
            registry = deployer("registry").deploy()
            names = [n for n, (role, _) in PARTICIPANTS.items() if role > Role.PLATFORM]
            register_all(
                registry, ADDRESS["P"],
                [ADDRESS[n] for n in names],
                [PARTICIPANTS[n][0] for n in names],
                [
                    ADDRESS[PARTICIPANTS[n][1]] if PARTICIPANTS[n][0] == Role.TERMINAL else ZERO
                    for n in names
                ],
            )
        cls.registry = quiet(registry)
        cls.marketing = quiet(deployer("marketing").deploy(registry.address))
        cls.state = StorageReader(cls.marketing)

    def __init__(self):
        super().__init__()
        self.anchors: dict[tuple[str, int], GhostAnchor] = {}  # (submitter, batch id)
        # merchant -> (rules hash, set at) of each version
        self.rules: dict[str, list[tuple[bytes, int]]] = {"M1": [], "M2": []}
        # merchant -> (content hash, valid from, valid until, set at) of each version
        self.info: dict[str, list[tuple[bytes, int, int, int]]] = {"M1": [], "M2": []}
        self.reports: dict[bytes, int] = {}
        self.report_rows: dict[int, tuple[int, ...]] = {}  # report id -> its storage words
        self.seen_versions: dict[tuple[str, str], int] = {}
        self.rule_defs: dict[int, GhostRule] = {}  # global rule id -> rule
        self.rule_hashes: dict[int, bytes] = {}  # rule id -> its indicator definitions' hash
        self.version_times: dict[tuple[str, int], int] = {}  # (merchant, version) -> set at
        self.period_reports: dict[tuple[int, int], int] = {}  # (rule id, period) -> report id
        self.report_rules: dict[int, tuple[int, int]] = {}  # report id -> (rule id, period)
        self.touched: set[tuple[str, object]] = set()  # records the last step changed

    def _call(self, caller: str, error: str | None, fn, *args):
        with boa.env.prank(ADDRESS[caller]):
            if error is None:
                return fn(*args)
            with boa.reverts(error):
                fn(*args)
        return None

    @staticmethod
    def _address(name: str) -> str:
        return ZERO if name == "none" else ADDRESS[name]

    @rule(
        caller=callers,
        batch_id=batch_ids,
        merchant=merchants,
        root=roots,
        count=st.integers(0, 3),
        first=st.integers(0, 5),
        span=st.integers(-1, 3),
    )
    def anchor_logs(self, caller, batch_id, merchant, root, count, first, span):
        role, own = PARTICIPANTS[caller]
        last = max(0, first + span)
        error = None
        if role not in (Role.TERMINAL, Role.PLATFORM):
            error = "marketing: caller is not a terminal or the platform"
        elif batch_id == 0:
            error = "marketing: zero batch id"
        elif (caller, batch_id) in self.anchors:
            error = "marketing: batch already anchored"
        elif role == Role.TERMINAL and merchant != own:
            error = "marketing: terminal of another merchant"
        elif role == Role.PLATFORM and merchant != "none" and merchant not in ("M1", "M2"):
            error = "marketing: not a merchant"
        elif root == b"\x00" * 32:
            error = "marketing: zero merkle root"
        elif count == 0:
            error = "marketing: no records"
        elif first > last:
            error = "marketing: inverted time range"
        self._call(
            caller,
            error,
            self.marketing.anchor_logs,
            batch_id,
            self._address(merchant),
            root,
            count,
            first,
            last,
        )
        if error is None:
            self.anchors[caller, batch_id] = GhostAnchor(
                None if merchant == "none" else merchant,
                caller,
                root,
                count,
                first,
                last,
                boa.env.timestamp,
            )
            self.touched.add(("anchor", (caller, batch_id)))

    @rule(caller=owners, payload=payloads, plan=schedules)
    def set_rules(self, caller, payload, plan):
        self._set_rules(caller, payload, plan, None)

    @rule(caller=owners, payload=payloads, plan=schedules, hashes=indicator_hashes)
    def set_rules_with_indicators(self, caller, payload, plan, hashes):
        self._set_rules(caller, payload, plan, hashes)

    def _set_rules(self, caller, payload, plan, hashes):
        now = boa.env.timestamp
        given = [(0 if at is None else max(1, now + at), period) for at, period in plan]
        error = None
        if hashes is not None and hashes and len(hashes) != len(given):
            error = "marketing: one indicator hash per rule"
        elif PARTICIPANTS[caller][0] != Role.MERCHANT:
            error = "marketing: caller is not a merchant"
        elif not payload:
            error = "marketing: empty rules"
        elif any((start == 0) != (period == 0) for start, period in given):
            error = "marketing: a schedule needs both start and period, or neither"
        if hashes is None:
            version = self._call(caller, error, self.marketing.set_reporting_rules, payload,
                                 given)
        else:
            version = self._call(caller, error,
                                 self.marketing.set_reporting_rules_with_indicators, payload,
                                 given, hashes)
        if error is None:
            self.rules[caller].append((keccak(payload), now))
            assert version == len(self.rules[caller])
            self.version_times[caller, version] = now
            for index, (start, period) in enumerate(given):
                rule_id = len(self.rule_defs) + 1
                self.rule_defs[rule_id] = GhostRule(caller, version, index, start, period)
                if hashes and hashes[index] != bytes(32):
                    self.rule_hashes[rule_id] = hashes[index]
                self.touched.add(("rule", rule_id))
            self.touched.add(("rules", caller))

    def _due(self, rule_id: int, at: int) -> int:
        """The ghost's `period_due`: periods closed while the rule's version was current."""
        r = self.rule_defs.get(rule_id)
        if r is None or r.period == 0:
            return 0
        until = min(at, self.version_times.get((r.merchant, r.version + 1), at))
        return 0 if until < r.start else (until - r.start) // r.period

    @rule(
        caller=owners,
        payload=payloads,
        starts_in=st.integers(-100, 100),
        length=st.integers(-5, 200),
    )
    def update_info(self, caller, payload, starts_in, length):
        now = boa.env.timestamp
        valid_from = max(0, now + starts_in)
        valid_until = max(0, valid_from + length)
        error = None
        if PARTICIPANTS[caller][0] != Role.MERCHANT:
            error = "marketing: caller is not a merchant"
        elif not payload:
            error = "marketing: empty info"
        elif valid_from >= valid_until:
            error = "marketing: empty or inverted validity"
        elif valid_until <= now:
            error = "marketing: validity already ended"
        version = self._call(
            caller, error, self.marketing.update_marketing_info, payload, valid_from, valid_until
        )
        if error is None:
            self.info[caller].append((keccak(payload), valid_from, valid_until, now))
            assert version == len(self.info[caller])
            self.touched.add(("info", caller))

    @rule(
        caller=st.sampled_from(["P", "P", "P", "M1", "T1"]),
        merchant=st.sampled_from(["M1", "M1", "M2", "C1"]),
        rule_id=st.integers(0, 6),
        period=st.sampled_from([0, 0, 1, 1, 2, 3]),
        report_hash=hashes,
        on_schedule=st.booleans(),
        start=st.integers(0, 5),
        length=st.integers(-1, 5),
        trigger=st.sampled_from([0, 1, 1, 2, 3, 4]),
        read=sources,
    )
    def publish(
        self, caller, merchant, rule_id, period, report_hash, on_schedule, start, length, trigger,
        read,
    ):
        self._publish(
            caller, merchant, rule_id, period, report_hash, on_schedule, start, length, trigger,
            read,
        )

    def _publish(
        self, caller, merchant, rule_id, period, report_hash, on_schedule, start, length, trigger,
        read,
    ):
        """Publish one report and predict its outcome. `on_schedule`: the
        bounds are the rule's schedule's for `period`, `start` shifted by
        the given seconds (a periodic rule only)."""
        r = self.rule_defs.get(rule_id)
        if on_schedule and r is not None and r.period:
            # The bounds the rule's schedule gives the period (when the
            # period is 0 these are the period before the first: refused).
            shift = start
            start = max(0, r.start + (period - 1) * r.period + shift)
            end = r.start + period * r.period
        else:
            end = max(0, start + length)
        error = None
        if caller != "P":
            error = "marketing: caller is not the platform"
        elif merchant not in ("M1", "M2"):
            error = "marketing: not a merchant"
        elif r is None:
            error = "marketing: unknown rule"
        elif r.merchant != merchant:
            error = "marketing: rule of another merchant"
        elif report_hash == b"\x00" * 32:
            error = "marketing: zero report hash"
        elif report_hash in self.reports:
            error = "marketing: report already published"
        elif start >= end:
            error = "marketing: empty or inverted period"
        elif not 1 <= trigger <= 3:
            error = "marketing: unknown trigger"
        elif trigger == 1:
            if r.period == 0:
                error = "marketing: rule is not periodic"
            elif period == 0:
                error = "marketing: zero period"
            elif period > self._due(rule_id, boa.env.timestamp):
                error = "marketing: period not closed"
            elif (start, end) != (r.start + (period - 1) * r.period, r.start + period * r.period):
                error = "marketing: period does not match the rule"
            elif (rule_id, period) in self.period_reports:
                error = "marketing: period already published"
        elif period != 0:
            error = "marketing: only a periodic report names a period"
        elif trigger == 2 and r.period != 0:
            error = "marketing: rule is not a threshold"
        if error is None:
            for submitter, batch_id in read:
                anchored = self.anchors.get((submitter, batch_id))
                if anchored is None:
                    error = "marketing: unknown anchor"
                    break
                if anchored.merchant not in (None, merchant):
                    error = "marketing: anchor of another merchant"
                    break
        report_id = self._call(
            caller,
            error,
            self.marketing.publish_report,
            ADDRESS[merchant],
            rule_id,
            period,
            report_hash,
            start,
            end,
            trigger,
            [(ADDRESS[submitter], batch_id) for submitter, batch_id in read],
        )
        if error is None:
            assert report_id == len(self.reports) + 1
            self.reports[report_hash] = report_id
            self.report_rows[report_id] = as_words(
                ADDRESS[merchant], r.version, r.index, report_hash, start, end, trigger,
                boa.env.timestamp,
            )
            self.report_rules[report_id] = (rule_id, period)
            if trigger == 1:
                self.period_reports[rule_id, period] = report_id
            self.touched.add(("report", report_id))
            self.touched.add(("rule", rule_id))

    @precondition(lambda self: self.rule_defs)
    @rule(
        pick=st.integers(0, 20),
        own_rule=st.sampled_from([True, True, True, False]),
        offset=st.sampled_from([-1, 0, 0, 1]),
        shift=st.sampled_from([0, 0, 0, 1]),
        fresh=st.sampled_from([True, True, True, False]),
        report_hash=hashes,
    )
    def publish_period(self, pick, own_rule, offset, shift, fresh, report_hash):
        """The scheduler's call: a periodic report of a known rule, mostly well
        formed, so the refusals a scheduler can meet (not closed, a period
        published before, bounds off the schedule, another merchant's rule)
        and the successes are all reached."""
        ids = sorted(self.rule_defs)
        rule_id = ids[pick % len(ids)]
        merchant = self.rule_defs[rule_id].merchant
        if not own_rule:
            merchant = "M2" if merchant == "M1" else "M1"
        period = max(0, self._due(rule_id, boa.env.timestamp) + offset)
        if fresh:
            report_hash = keccak(b"period report %d" % len(self.reports))
        # A threshold rule gets a one-second period (refused: not periodic).
        self._publish("P", merchant, rule_id, period, report_hash, True, shift, 1, 1, [])

    @rule(seconds=st.integers(1, 120))
    def time_passes(self, seconds):
        boa.env.time_travel(seconds=seconds)

    # --- invariants ---------------------------------------------------------
    # The whole state, read from storage (no EVM call) after every step; the
    # views, for what the step changed.

    @invariant()
    def versions_match_and_only_increase(self):
        for name in PARTICIPANTS:
            for kind, history, var in (
                ("rules", self.rules.get(name, []), "_rules"),
                ("info", self.info.get(name, []), "_info"),
            ):
                version = self.state.word(var, ADDRESS[name], member="version")
                assert version == len(history)
                assert version >= self.seen_versions.get((kind, name), 0)
                self.seen_versions[(kind, name)] = version

    @invariant()
    def histories_are_kept(self):
        for merchant in ("M1", "M2"):
            address = ADDRESS[merchant]
            for var, history in (
                ("_rules_hashes", self.rules[merchant]),
                ("_info_hashes", self.info[merchant]),
            ):
                stored = [self.state.word(var, address, v) for v in range(len(history) + 2)]
                assert stored == [0, *(as_word(h[0]) for h in history), 0]
            if self.rules[merchant]:
                rules_hash, at = self.rules[merchant][-1]
                assert self.state.words("_rules", address) == as_words(
                    len(self.rules[merchant]), rules_hash, at
                )
            if self.info[merchant]:
                assert self.state.words("_info", address) == as_words(
                    len(self.info[merchant]), *self.info[merchant][-1]
                )

    @invariant()
    def anchors_are_immutable(self):
        assert self.state.word("anchor_count") == len(self.anchors)
        for submitter in ("P", "T1", "T2"):
            for batch_id in range(7):
                ghost = self.anchors.get((submitter, batch_id))
                keys = (ADDRESS[submitter], batch_id)
                if ghost is None:  # an anchor's root is never zero
                    assert self.state.word("_anchors", *keys, member="merkle_root") == 0
                else:
                    assert self.state.words("_anchors", *keys) == ghost.words()

    @invariant()
    def reports_are_unique(self):
        assert self.state.word("report_count") == len(self.reports)
        for report_hash in HASHES:
            assert self.state.word("_report_ids", report_hash) == self.reports.get(report_hash, 0)
        for report_id, row in self.report_rows.items():
            assert self.state.words("_reports", report_id) == row
        assert self.state.word("_reports", len(self.reports) + 1, member="report_hash") == 0

    @invariant()
    def rules_keep_their_schedule_and_periods_are_published_once(self):
        assert self.state.word("rule_count") == len(self.rule_defs)
        for rule_id, ghost in self.rule_defs.items():
            assert self.state.words("_rule_defs", rule_id) == ghost.words()
            for period in range(5):
                assert self.state.word("_period_reports", rule_id, period) == (
                    self.period_reports.get((rule_id, period), 0)
                )
        assert self.state.word("_rule_defs", len(self.rule_defs) + 1, member="merchant") == 0
        for report_id, (rule_id, period) in self.report_rules.items():
            assert self.state.word("_report_rules", report_id) == rule_id
            assert self.state.word("_report_periods", report_id) == period
        for (rule_id, period), report_id in self.period_reports.items():
            # Published only after it closed, for the rule's merchant.
            published_at = self.report_rows[report_id][-1]
            assert period <= self._due(rule_id, published_at)
            assert self.report_rows[report_id][0] == as_word(
                ADDRESS[self.rule_defs[rule_id].merchant]
            )

    @invariant()
    def views_match_what_changed(self):
        for kind, key in sorted(self.touched, key=str):
            if kind == "anchor":
                submitter, batch_id = key
                anchor = self.marketing.anchor(ADDRESS[submitter], batch_id)
                assert as_words(*anchor) == self.anchors[key].words()
            elif kind == "report":
                report = self.marketing.report(key)
                assert as_words(*report) == self.report_rows[key]
                assert self.marketing.report_id_of(report.report_hash) == key
            elif kind == "rule":
                ghost = self.rule_defs[key]
                assert as_words(*self.marketing.rule(key)) == ghost.words()
                assert self.marketing.rule_indicators_hash(key) == self.rule_hashes.get(
                    key, bytes(32))
                assert self.marketing.rule_id_of(ADDRESS[ghost.merchant], ghost.version,
                                                 ghost.index) == key
                now = boa.env.timestamp
                assert self.marketing.period_due(key, now) == self._due(key, now)
                for period in (1, 2):
                    assert self.marketing.period_published(key, period) == (
                        (key, period) in self.period_reports
                    )
            elif kind == "rules":
                history = self.rules[key]
                assert as_words(*self.marketing.reporting_rules(ADDRESS[key])) == as_words(
                    len(history), *history[-1]
                )
                assert self.marketing.rules_hash_at(ADDRESS[key], len(history)) == history[-1][0]
            else:
                history = self.info[key]
                assert as_words(*self.marketing.marketing_info(ADDRESS[key])) == as_words(
                    len(history), *history[-1]
                )
                assert self.marketing.info_hash_at(ADDRESS[key], len(history)) == history[-1][0]
        self.touched.clear()


TestMarketingStateful = MarketingMachine.test_case("marketing")
