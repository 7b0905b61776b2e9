"""Stateful invariants of contracts/editions.vy.

Random participants register editions, sell, reserve capacity, sell out of
their reservations, release them, transfer, redeem, void, pause, resume and
extend editions (a paused edition refuses every sale and reservation) and
let time pass (reservations expire). A ghost model predicts the exact outcome of every call
(the revert string or the new state); after every step the chain's counters
must equal the ghost's, `sold + reserved <= cap` and `redeemed <= sold -
voided`. Each example runs in its own state snapshot.
"""

import re
from dataclasses import dataclass, field

import boa
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule
from vyper.compiler.output import build_layout_output

from conftest import ZERO, ContractMachine, deployer, quiet, register_all
from couponchain.domain.edition_slots import (
    CouponStatus,
    coupon_id_of,
    coupon_slot,
    decode_coupon_word,
    edition_slot,
    layout_from_compiler,
    reserved_slot,
)
from couponchain.domain.roles import Role

_LAYOUT_OUTPUT = build_layout_output(deployer("editions").compiler_data)
LAYOUT = layout_from_compiler(_LAYOUT_OUTPUT)
EDITION_COUNT_SLOT = _LAYOUT_OUTPUT["storage_layout"]["edition_count"]["slot"]
REF = b"\x42" * 32
PREFIX_RE = re.compile(r"[A-Z0-9]{1,16}")

# name -> (role, merchant it acts for)
PARTICIPANTS = {
    "P": (Role.PLATFORM, None),
    "M1": (Role.MERCHANT, "M1"),
    "M2": (Role.MERCHANT, "M2"),
    "T1": (Role.TERMINAL, "M1"),
    "T2": (Role.TERMINAL, "M2"),
    "C1": (Role.CONSUMER, None),
    "C2": (Role.CONSUMER, None),
    "X": (Role.NONE, None),
}
ADDRESS = {name: boa.env.generate_address(f"stateful_{name}") for name in PARTICIPANTS}
NAME_OF = {address: name for name, address in ADDRESS.items()}

# Weighted towards callers that may act, so that most steps change state.
callers = st.sampled_from(["M1", "M1", "T1", "T1", "M2", "T2", "C1", "C2", "P", "X"])
receivers = st.sampled_from(["C1", "C2", "C1", "T1", "M2", "X", "zero"])
buyers = st.sampled_from(["C1", "C2", "C1", "C2", "X", "zero"])
channels = st.sampled_from([1, 2, 1, 2, 0])
KEYS = [bytes([i + 1]) * 32 for i in range(3)]
# Reservation lifetimes: mostly within a run's reach (`wait` moves 0-60 s).
holds = st.sampled_from([30, 60, 120, 600, 86_400, 30, 60, 0, 86_401])
SELLER = {"M1": "T1", "M2": "T2"}


@dataclass
class GhostEdition:
    merchant: str
    cap: int
    valid_from: int
    valid_until: int
    serials: list[int] = field(default_factory=list)
    reserved: int = 0
    paused: bool = False


@dataclass
class GhostReservation:
    rid: bytes
    edition_id: int
    holder: str
    left: int
    expires: int
    released: bool = False


@dataclass
class GhostCoupon:
    owner: str
    status: CouponStatus
    channel: int


class EditionsMachine(ContractMachine):
    editions = None  # deployed once per test

    @classmethod
    def deploy(cls) -> None:
        with boa.env.prank(ADDRESS["P"]):
            registry = quiet(deployer("registry").deploy())
            names = ["M1", "M2", "T1", "T2", "C1", "C2"]
            register_all(
                registry, ADDRESS["P"],
                [ADDRESS[n] for n in names],
                [PARTICIPANTS[n][0] for n in names],
                [
                    ADDRESS["M1"] if n == "T1" else ADDRESS["M2"] if n == "T2" else ZERO
                    for n in names
                ],
            )
        cls.editions = quiet(deployer("editions").deploy(registry.address))

    def __init__(self):
        super().__init__()
        self.ghost: dict[int, GhostEdition] = {}
        self.coupons: dict[int, GhostCoupon] = {}
        self.reservations: dict[tuple[str, int], GhostReservation] = {}
        self.prefixes: set[str] = set()
        self.touched: set[int] = set()  # coupons changed since the last check

    # --- helpers ------------------------------------------------------------

    def _call(self, caller: str, error: str | None, fn, *args):
        with boa.env.prank(ADDRESS[caller]):
            if error is None:
                return fn(*args)
            with boa.reverts(error):
                fn(*args)
        return None

    def _pick_coupon(self, pick: int) -> int:
        """A sold coupon, or (for pick 0) one that was never sold."""
        known = sorted(self.coupons)
        if pick == 0 or not known:
            return coupon_id_of(max(1, len(self.ghost)), 2**32 - 1)
        return known[pick % len(known)]

    @staticmethod
    def _acts_for(caller: str, merchant: str) -> bool:
        return PARTICIPANTS[caller][1] == merchant

    # --- rules --------------------------------------------------------------

    @initialize(
        merchant=st.sampled_from(["M1", "M2"]),
        cap=st.integers(1, 8),
        start=st.integers(-50, 100),
        length=st.integers(60, 600),
        buyers=st.lists(st.sampled_from(["C1", "C2"]), min_size=1, max_size=6),
        paused=st.booleans(),
    )
    def first_edition(self, merchant, cap, start, length, buyers, paused):
        """An open edition with a few sales, so that every run has coupons to act on;
        in half the runs its merchant then pauses it, so that the sellers' steps meet a
        paused edition often (the `change` rule alone pauses one in few runs)."""
        self.register(merchant, "FIRST", cap, start, length)
        if self.ghost:
            # Leave pieces for reservations when the cap allows.
            self.sell(merchant, 0, [(b, 1) for b in buyers[:max(1, cap - 2)]], False)
            if paused:
                self.change(merchant, 1, "pause", 0, b"\x01" * 32, True)

    @rule(
        caller=callers,
        prefix=st.sampled_from(["A", "B7", "C", "D9", "ZZZZZZZZZZZZZZZZ", "lower", "", "A-1"]),
        cap=st.integers(0, 6),
        start=st.integers(-50, 100),
        length=st.integers(-10, 300),
    )
    def register(self, caller, prefix, cap, start, length):
        now = boa.env.timestamp
        valid_from = max(0, now + start)
        valid_until = max(0, valid_from + length)
        error = None
        if PARTICIPANTS[caller][0] != Role.MERCHANT:
            error = "editions: caller is not a merchant"
        elif prefix == "":
            error = "editions: empty prefix"
        elif not PREFIX_RE.fullmatch(prefix):
            error = "editions: prefix must be A-Z or 0-9"
        elif prefix in self.prefixes:
            error = "editions: prefix taken"
        elif cap == 0:
            error = "editions: cap is zero"
        elif valid_from >= valid_until:
            error = "editions: empty or inverted window"
        elif valid_until <= now:
            error = "editions: window already ended"
        args = ("Brand", "Title", "Terms", prefix, cap, 100, valid_from, valid_until)
        eid = self._call(caller, error, self.editions.register_edition, *args)
        if error is None:
            assert eid == len(self.ghost) + 1 == self.editions.edition_count()
            self.ghost[eid] = GhostEdition(caller, cap, valid_from, valid_until)
            self.prefixes.add(prefix)

    @rule(
        caller=callers,
        pick=st.integers(0, 7),
        items=st.lists(st.tuples(buyers, channels), min_size=1, max_size=4),
        single=st.booleans(),
    )
    def sell(self, caller, pick, items, single):
        # Mostly an existing edition; otherwise the next, unregistered id.
        eid = pick % (len(self.ghost) + 1) + 1
        edition = self.ghost.get(eid)
        n = len(items)
        error = None
        if edition is None:
            error = "editions: unknown edition"
        elif not self._acts_for(caller, edition.merchant):
            error = "editions: caller may not sell this edition"
        elif edition.paused:
            error = "editions: edition paused"
        elif boa.env.timestamp >= edition.valid_until:
            error = "editions: edition expired"
        elif len(edition.serials) + edition.reserved + n > edition.cap:
            error = "editions: cap exceeded"
        else:
            error = self._item_error(items)
        buyers = [ZERO if b == "zero" else ADDRESS[b] for b, _ in items]
        channels = [c for _, c in items]
        if single and n == 1:
            args = (eid, buyers[0], 7, channels[0], REF)
            first = self._call(caller, error, self.editions.record_sale, *args)
        else:
            args = (eid, buyers, [7] * n, channels, [REF] * n)
            first = self._call(caller, error, self.editions.record_sales, *args)
        if error is None:
            self._sold(eid, first, items)

    @staticmethod
    def _item_error(items) -> str | None:
        for buyer, channel in items:
            if buyer == "zero":
                return "editions: zero buyer"
            if channel not in (1, 2):
                return "editions: unknown channel"
        return None

    def _sold(self, eid: int, first: int, items) -> None:
        edition = self.ghost[eid]
        assert first == len(edition.serials) + 1
        for i, (buyer, channel) in enumerate(items):
            edition.serials.append(first + i)
            cid = coupon_id_of(eid, first + i)
            self.coupons[cid] = GhostCoupon(buyer, CouponStatus.ACTIVE, channel)
            self.touched.add(cid)

    def _pick_reservation(self, pick: int) -> GhostReservation | None:
        """A reservation made in this run, or (for pick 0) none."""
        known = sorted(self.reservations)
        if pick == 0 or not known:
            return None
        return self.reservations[known[pick % len(known)]]

    @rule(caller=callers, pick=st.integers(0, 7), count=st.sampled_from([1, 1, 2, 3, 5, 0]),
          key=st.integers(0, 2), hold=holds, as_seller=st.booleans())
    def reserve(self, caller, pick, count, key, hold, as_seller):
        # Mostly an existing edition; for pick 0 the next, unregistered id.
        eid = pick % len(self.ghost) + 1 if pick and self.ghost else len(self.ghost) + 1
        edition = self.ghost.get(eid)
        if as_seller and edition is not None:  # the merchant or its terminal
            caller = edition.merchant if caller in ("M1", "M2") else SELLER[edition.merchant]
        now = boa.env.timestamp
        error = None
        if edition is None:
            error = "editions: unknown edition"
        elif not self._acts_for(caller, edition.merchant):
            error = "editions: caller may not sell this edition"
        elif edition.paused:
            error = "editions: edition paused"
        elif now >= edition.valid_until:
            error = "editions: edition expired"
        elif count == 0:
            error = "editions: empty reservation"
        elif hold == 0:
            error = "editions: reservation already expired"
        elif hold > 86_400:
            error = "editions: reservation too long"
        elif (caller, key) in self.reservations:
            error = "editions: reservation key used"
        elif len(edition.serials) + edition.reserved + count > edition.cap:
            error = "editions: cap exceeded"
        rid = self._call(caller, error, self.editions.reserve, eid, count, KEYS[key], now + hold)
        if error is None:
            assert rid == self.editions.reservation_id(ADDRESS[caller], KEYS[key])
            self.reservations[(caller, key)] = GhostReservation(rid, eid, caller, count,
                                                                now + hold)
            edition.reserved += count

    @rule(
        caller=callers,
        pick=st.integers(0, 10),
        items=st.lists(st.tuples(buyers, channels), min_size=1, max_size=4),
        as_holder=st.booleans(),
    )
    def sell_reserved(self, caller, pick, items, as_holder):
        held = self._pick_reservation(pick)
        if as_holder and held is not None:
            caller = held.holder
        now, n = boa.env.timestamp, len(items)
        error = None
        if held is None:
            error = "editions: unknown reservation"
        elif caller != held.holder:
            error = "editions: caller is not the reservation holder"
        elif held.released:
            error = "editions: reservation released"
        elif now >= held.expires:
            error = "editions: reservation expired"
        elif n > held.left:
            error = "editions: reservation exceeded"
        elif self.ghost[held.edition_id].paused:
            error = "editions: edition paused"
        elif now >= self.ghost[held.edition_id].valid_until:
            error = "editions: edition expired"
        else:
            error = self._item_error(items)
        rid = held.rid if held is not None else b"\x77" * 32
        args = (rid, [ZERO if b == "zero" else ADDRESS[b] for b, _ in items], [7] * n,
                [c for _, c in items], [REF] * n)
        first = self._call(caller, error, self.editions.record_reserved_sales, *args)
        if error is None:
            self._sold(held.edition_id, first, items)
            held.left -= n
            self.ghost[held.edition_id].reserved -= n

    @rule(caller=callers, pick=st.integers(0, 10), as_holder=st.booleans())
    def release(self, caller, pick, as_holder):
        held = self._pick_reservation(pick)
        if as_holder and held is not None:
            caller = held.holder
        error = None
        if held is None:
            error = "editions: unknown reservation"
        elif held.released:
            error = "editions: reservation released"
        elif not (caller in (held.holder, self.ghost[held.edition_id].merchant)
                  or boa.env.timestamp >= held.expires):
            error = "editions: reservation still held"
        rid = held.rid if held is not None else b"\x77" * 32
        returned = self._call(caller, error, self.editions.release, rid)
        if error is None:
            assert returned == held.left
            self.ghost[held.edition_id].reserved -= held.left
            held.left, held.released = 0, True

    @rule(caller=callers, pick=st.integers(0, 30), receiver=receivers, by_owner=st.booleans())
    def transfer(self, caller, pick, receiver, by_owner):
        cid = self._pick_coupon(pick)
        coupon = self.coupons.get(cid)
        if by_owner and coupon is not None:
            caller = coupon.owner
        error = None
        if coupon is None:
            error = "editions: unknown coupon"
        elif coupon.owner != caller:
            error = "editions: caller is not the owner"
        elif coupon.status == CouponStatus.REDEEMED:
            error = "editions: coupon already redeemed"
        elif coupon.status == CouponStatus.VOIDED:
            error = "editions: coupon voided"
        elif receiver == "zero":
            error = "editions: zero receiver"
        to = ZERO if receiver == "zero" else ADDRESS[receiver]
        self._call(caller, error, self.editions.transfer, cid, to)
        if error is None:
            coupon.owner = receiver
            self.touched.add(cid)

    def _settle(self, caller: str, picks: list[int], redeem: bool) -> str | None:
        """Predicts a redeem or void batch; applies it to the ghost if it passes."""
        checked, now = 0, boa.env.timestamp
        done: dict[int, CouponStatus] = {}
        new_status = CouponStatus.REDEEMED if redeem else CouponStatus.VOIDED
        for cid in picks:
            coupon = self.coupons.get(cid)
            if coupon is None:
                return "editions: unknown coupon"
            eid = cid >> 32
            edition = self.ghost[eid]
            if eid != checked:
                if redeem:
                    if not self._acts_for(caller, edition.merchant):
                        return "editions: caller may not redeem this coupon"
                    if now < edition.valid_from:
                        return "editions: not yet valid"
                    if now >= edition.valid_until:
                        return "editions: expired"
                elif caller != edition.merchant:
                    return "editions: caller is not the edition's merchant"
                checked = eid
            status = done.get(cid, coupon.status)
            if status == CouponStatus.REDEEMED:
                return "editions: coupon already redeemed"
            if status == CouponStatus.VOIDED:
                return "editions: coupon voided"
            done[cid] = new_status
        return None

    @rule(
        caller=callers,
        picks=st.lists(st.integers(0, 30), min_size=1, max_size=3),
        redeem=st.booleans(),
        single=st.booleans(),
        by_merchant=st.booleans(),
    )
    def redeem_or_void(self, caller, picks, redeem, single, by_merchant):
        ids = [self._pick_coupon(p) for p in picks]
        if by_merchant and (ids[0] >> 32) in self.ghost:
            caller = self.ghost[ids[0] >> 32].merchant
        error = self._settle(caller, ids, redeem)
        if single and len(ids) == 1:
            fn = self.editions.redeem if redeem else self.editions.void
            self._call(caller, error, fn, ids[0])
        else:
            fn = self.editions.redeem_batch if redeem else self.editions.void_batch
            self._call(caller, error, fn, ids)
        if error is None:
            for cid in ids:
                self.coupons[cid].status = CouponStatus.REDEEMED if redeem else CouponStatus.VOIDED
            self.touched.update(ids)

    # Mostly the merchant of an existing edition with a reason, mostly pausing, so that
    # many runs go on with a paused edition that every seller must find closed.
    @rule(caller=callers, pick=st.integers(0, 7),
          action=st.sampled_from(["pause", "pause", "pause", "resume", "extend"]),
          delta=st.integers(-30, 120),
          reason=st.sampled_from([b"\x01" * 32, b"\x01" * 32, b"\x01" * 32, b"\x00" * 32]),
          by_merchant=st.sampled_from([True, True, True, False]))
    def change(self, caller, pick, action, delta, reason, by_merchant):
        """The merchant pauses, resumes or extends an edition (issue 25)."""
        eid = pick % len(self.ghost) + 1 if pick and self.ghost else len(self.ghost) + 1
        edition = self.ghost.get(eid)
        if by_merchant and edition is not None:
            caller = edition.merchant
        end = max(0, (edition.valid_until if edition else boa.env.timestamp) + delta)
        error = None
        if edition is None:
            error = "editions: unknown edition"
        elif caller != edition.merchant:
            error = "editions: caller is not the edition's merchant"
        elif reason == b"\x00" * 32:
            error = "editions: empty reason"
        elif action == "pause" and edition.paused:
            error = "editions: edition paused"
        elif action == "resume" and not edition.paused:
            error = "editions: edition not paused"
        elif action == "extend" and boa.env.timestamp >= edition.valid_until:
            error = "editions: edition expired"
        elif action == "extend" and end <= edition.valid_until:
            error = "editions: window may only be extended"
        if action == "extend":
            self._call(caller, error, self.editions.extend, eid, end, reason)
        else:
            self._call(caller, error, getattr(self.editions, action), eid, reason)
        if error is None:
            if action == "extend":
                edition.valid_until = end
            else:
                edition.paused = action == "pause"
        if edition is not None:
            assert self.editions.paused(eid) == edition.paused
            assert self.editions.edition(eid).valid_until == edition.valid_until

    @rule(seconds=st.integers(0, 60))
    def wait(self, seconds):
        boa.env.time_travel(seconds=seconds)

    # --- invariants ---------------------------------------------------------

    def _stored(self, slot: int) -> int:
        return boa.env.get_storage(self.editions.address, slot)

    @invariant()
    def counters_match_the_ghost(self):
        """Read from the slots a proof would cover (fast: no EVM call)."""
        assert self._stored(EDITION_COUNT_SLOT) == len(self.ghost)
        for eid, ghost in self.ghost.items():
            statuses = [self.coupons[coupon_id_of(eid, s)].status for s in ghost.serials]
            cap, sold, voided, redeemed = (
                self._stored(edition_slot(LAYOUT, eid, name))
                for name in ("cap", "sold", "voided", "redeemed")
            )
            reserved = self._stored(reserved_slot(LAYOUT, eid))
            assert sold == len(ghost.serials) and cap == ghost.cap
            assert reserved == ghost.reserved == sum(
                r.left for r in self.reservations.values() if r.edition_id == eid)
            assert sold + reserved <= cap
            assert redeemed == statuses.count(CouponStatus.REDEEMED)
            assert voided == statuses.count(CouponStatus.VOIDED)
            assert redeemed <= sold - voided
            assert ghost.serials == list(range(1, len(ghost.serials) + 1))

    @invariant()
    def coupons_match_the_ghost(self):
        """Every coupon changed by the last step (the others cannot have moved),
        through the view and the raw storage word."""
        for cid in sorted(self.touched):
            ghost = self.coupons[cid]
            record = self.editions.coupon(cid)
            word = decode_coupon_word(self._stored(coupon_slot(LAYOUT, cid)))
            assert (NAME_OF[record.owner], record.status, record.channel) == (
                ghost.owner,
                ghost.status,
                ghost.channel,
            )
            assert (word.owner, word.status, word.channel) == (
                record.owner,
                record.status,
                record.channel,
            )
        self.touched.clear()


TestEditionsMachine = EditionsMachine.test_case("editions")
