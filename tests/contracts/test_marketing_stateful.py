"""Stateful invariants of contracts/marketing.vy.

Random participants anchor log batches, set reporting rules, publish reports,
update marketing info and let time pass. A ghost model predicts the exact
outcome of every call (the revert string or the new state). After every step:
rules and info versions equal the ghost's and never decrease; only merchants
ever changed their own rules or info; every anchor, once written, is unchanged;
every report hash maps to the one report that published it. Each example runs
in its own state snapshot.
"""

from dataclasses import dataclass

import boa
from boa.contracts.vyper.vyper_contract import VyperContract
from eth_utils import keccak
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from conftest import ZERO, deployer
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
hashes = st.sampled_from([b"\x00" * 32] + [bytes([0x40 + i]) * 32 for i in range(1, 6)])
payloads = st.binary(min_size=0, max_size=40)


class QuietContract(VyperContract):
    """Keeps boa from dumping all storage into every expected revert's message."""

    def __repr__(self):
        return f"<marketing at {self.address}>"


@dataclass
class GhostAnchor:
    merchant: str | None
    submitter: str
    root: bytes
    count: int
    first: int
    last: int
    at: int


class MarketingMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()
        with boa.env.prank(ADDRESS["P"]):
            registry = deployer("registry").deploy()
            names = [n for n, (role, _) in PARTICIPANTS.items() if role > Role.PLATFORM]
            registry.register_batch(
                [ADDRESS[n] for n in names],
                [PARTICIPANTS[n][0] for n in names],
                [
                    ADDRESS[PARTICIPANTS[n][1]] if PARTICIPANTS[n][0] == Role.TERMINAL else ZERO
                    for n in names
                ],
            )
        self.marketing = deployer("marketing").deploy(registry.address)
        self.marketing.__class__ = QuietContract
        self.anchors: dict[int, GhostAnchor] = {}
        self.rules: dict[str, list[bytes]] = {"M1": [], "M2": []}
        self.info: dict[str, list[tuple[bytes, int, int, int]]] = {"M1": [], "M2": []}
        self.reports: dict[bytes, int] = {}
        self.report_count = 0
        self.seen_versions: dict[tuple[str, str], int] = {}

    def teardown(self):
        self._anchor.__exit__(None, None, None)

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
        elif batch_id in self.anchors:
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
            self.anchors[batch_id] = GhostAnchor(
                None if merchant == "none" else merchant,
                caller,
                root,
                count,
                first,
                last,
                boa.env.timestamp,
            )

    @rule(caller=owners, payload=payloads)
    def set_rules(self, caller, payload):
        error = None
        if PARTICIPANTS[caller][0] != Role.MERCHANT:
            error = "marketing: caller is not a merchant"
        elif not payload:
            error = "marketing: empty rules"
        version = self._call(caller, error, self.marketing.set_reporting_rules, payload)
        if error is None:
            self.rules[caller].append(payload)
            assert version == len(self.rules[caller])

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
            self.info[caller].append((payload, valid_from, valid_until, now))
            assert version == len(self.info[caller])

    @rule(
        caller=st.sampled_from(["P", "P", "P", "M1", "T1"]),
        merchant=st.sampled_from(["M1", "M1", "M2", "C1"]),
        version=st.integers(0, 3),
        report_hash=hashes,
        start=st.integers(0, 5),
        length=st.integers(-1, 5),
        trigger=st.integers(0, 4),
    )
    def publish(self, caller, merchant, version, report_hash, start, length, trigger):
        end = max(0, start + length)
        error = None
        if caller != "P":
            error = "marketing: caller is not the platform"
        elif merchant not in ("M1", "M2"):
            error = "marketing: not a merchant"
        elif version == 0 or version > len(self.rules[merchant]):
            error = "marketing: unknown rules version"
        elif report_hash == b"\x00" * 32:
            error = "marketing: zero report hash"
        elif report_hash in self.reports:
            error = "marketing: report already published"
        elif start >= end:
            error = "marketing: empty or inverted period"
        elif not 1 <= trigger <= 3:
            error = "marketing: unknown trigger"
        report_id = self._call(
            caller,
            error,
            self.marketing.publish_report,
            ADDRESS[merchant],
            version,
            0,
            report_hash,
            start,
            end,
            trigger,
        )
        if error is None:
            self.report_count += 1
            assert report_id == self.report_count
            self.reports[report_hash] = report_id

    @rule(seconds=st.integers(1, 120))
    def time_passes(self, seconds):
        boa.env.time_travel(seconds=seconds)

    @invariant()
    def versions_match_and_only_increase(self):
        for merchant in ("M1", "M2"):
            for kind, history, read in (
                ("rules", self.rules[merchant], self.marketing.reporting_rules),
                ("info", self.info[merchant], self.marketing.marketing_info),
            ):
                version = read(ADDRESS[merchant])[0]
                assert version == len(history)
                assert version >= self.seen_versions.get((kind, merchant), 0)
                self.seen_versions[(kind, merchant)] = version
        for name in ("P", "T1", "C1", "X"):
            assert self.marketing.reporting_rules(ADDRESS[name])[0] == 0
            assert self.marketing.marketing_info(ADDRESS[name])[0] == 0

    @invariant()
    def histories_are_kept(self):
        for merchant in ("M1", "M2"):
            address = ADDRESS[merchant]
            for version, payload in enumerate(self.rules[merchant], start=1):
                assert self.marketing.rules_hash_at(address, version) == keccak(payload)
            for version, (payload, *_) in enumerate(self.info[merchant], start=1):
                assert self.marketing.info_hash_at(address, version) == keccak(payload)
            if self.info[merchant]:
                payload, valid_from, valid_until, at = self.info[merchant][-1]
                assert self.marketing.marketing_info(address) == (
                    len(self.info[merchant]),
                    keccak(payload),
                    valid_from,
                    valid_until,
                    at,
                )

    @invariant()
    def anchors_are_immutable(self):
        assert self.marketing.anchor_count() == len(self.anchors)
        for batch_id in range(7):
            stored = self.marketing.anchor(batch_id)
            ghost = self.anchors.get(batch_id)
            if ghost is None:
                assert stored[2] == b"\x00" * 32
                continue
            assert stored == (
                ZERO if ghost.merchant is None else ADDRESS[ghost.merchant],
                ADDRESS[ghost.submitter],
                ghost.root,
                ghost.count,
                ghost.first,
                ghost.last,
                ghost.at,
            )

    @invariant()
    def reports_are_unique(self):
        assert self.marketing.report_count() == self.report_count
        for report_hash, report_id in self.reports.items():
            assert self.marketing.report_id_of(report_hash) == report_id
            assert self.marketing.report(report_id)[3] == report_hash


TestMarketingStateful = MarketingMachine.TestCase
# As the other contract machines: half the profile's examples, 40 steps each.
TestMarketingStateful.settings = settings(
    settings.default,
    max_examples=max(10, settings.default.max_examples // 2),
    stateful_step_count=40,
)
