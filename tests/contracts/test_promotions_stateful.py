"""Promotion coupons: a stateful machine with ghost state.

The machine opens rounds, allocates, grants, transfers, writes off (one or in
batches), reverses, distributes and withdraws in random order; reversals and
distributions may first let time pass to (or beyond) the end of a rollback
window. Its ghost state predicts every call's outcome, down to the exact revert
string, and after every step the invariants hold:

- the contract's token balance equals the undistributed pools plus everything
  claimable;
- every write-off stays inside its consent's bounds: the consent names the
  redeeming merchant (or any merchant) and a maximum at least the order
  amount; a consent for another merchant or below the order is refused;
- every coupon's status, holder, path and pool match the ghost, and no coupon
  is ever written off twice (a write-off needs an active coupon; only a
  reversal makes it active again, and a distributed coupon stays distributed);
- each account's `claimable` matches the ghost;
- capped allowances: each merchant's approval (its spending cap for
  incentives, set by a rule) has exactly its cap less what was charged since
  left, and a write-off charging more is refused by name.

The whole state (every coupon, round, credit and the token balance) is read
from storage after every step (no EVM call; the packing is the one the
contract's storage declarations document); the views (`coupon`,
`earlier_holders`, `claimable`) are compared for what the step touched.
"""

from dataclasses import dataclass, field

import boa
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule
from promotions_setup import (
    INPUTS_HASH,
    STATUS_ACTIVE,
    STATUS_DISTRIBUTED,
    STATUS_WRITTEN_OFF,
    ZERO,
    build_world,
)
from storage_reader import StorageReader

from conftest import ContractMachine, quiet
from couponchain.domain.splits import (
    BPS,
    MAX_EARLIER_HOLDERS,
    MAX_ORDER_AMOUNT,
    Shares,
    incentive,
    payouts,
)

HOLDERS = 4
MERCHANT_FUNDS = 2**200

share_sets = st.sampled_from(
    [
        Shares(platform=1_000, issuer=2_000, redeemer=2_000, holder=3_000, earlier=2_000),
        Shares(platform=1, issuer=3_333, redeemer=3_333, holder=3_332, earlier=1),
        Shares(platform=0, issuer=0, redeemer=0, holder=0, earlier=BPS),
        Shares(platform=BPS, issuer=0, redeemer=0, holder=0, earlier=0),
    ]
)
# Hypothesis leans towards the first alternative and small values: keep those
# non-trivial (a zero rate or a tiny order would make every pool empty).
amounts = st.one_of(st.integers(10**18, 10**24), st.integers(1, 10**6))
rates = st.one_of(st.sampled_from([500, BPS, 3_333, 1]), st.integers(0, BPS))


@dataclass
class GhostRound:
    round_id: int
    first_id: int
    total: int
    incentive_bps: int
    shares: Shares
    window: int
    allocated: int = 0
    next_id: int = 0
    # The evaluation period and measured-inputs hash (all zero: none recorded).
    period_from: int = 0
    period_to: int = 0
    measured_hash: int = 0


@dataclass
class GhostCoupon:
    round_id: int
    issuer: str
    holder: int  # index into world.holders
    status: int = STATUS_ACTIVE
    path: list[int] = field(default_factory=list)
    redeemer: str | None = None
    pool: int = 0
    written_off_at: int = 0
    write_offs: int = 0  # write-offs not reversed


class PromotionsMachine(ContractMachine):
    """Random operations on one promotions contract, checked against ghost state."""

    world = state = token_state = None  # deployed once per test

    @classmethod
    def deploy(cls) -> None:
        cls.world = build_world(
            *(
                boa.env.generate_address(f"promotions_stateful_{name}")
                for name in ("platform", "merchant", "other_merchant", "terminal")
            ),
            holders=HOLDERS,
        )
        for contract in (cls.world.registry, cls.world.token, cls.world.promotions):
            quiet(contract)
        cls.state = StorageReader(cls.world.promotions)
        cls.token_state = StorageReader(cls.world.token)
        # Merchants pay incentives from a balance and approval far beyond what a
        # run can spend (up to 3 * 10**24 per write-off); each write-off checks
        # that exactly the incentive left the merchant's balance.
        for merchant in cls.world.merchant, cls.world.other_merchant:
            cls.world.fund(merchant, MERCHANT_FUNDS)

    def __init__(self) -> None:
        super().__init__()
        self.rounds: list[GhostRound] = []
        self.allowance: dict[tuple[int, str], int] = {}
        self.coupons: dict[int, GhostCoupon] = {}
        self.claimable: dict[str, int] = {}
        self.next_coupon_id = 1
        self.dirty: set[int] = set()
        self.credits_moved = False
        # What each merchant's approval (its spending cap for incentives) has left.
        self.caps = {m: MERCHANT_FUNDS for m in self._merchants()}

    # --- helpers --------------------------------------------------------
    @property
    def p(self):
        return self.world.promotions

    def _merchants(self) -> list[str]:
        return [self.world.merchant, self.world.other_merchant]

    def _actors(self) -> list[str]:
        """Accounts that may write off (the terminal acts for `merchant`)."""
        return [self.world.merchant, self.world.other_merchant, self.world.terminal]

    def _acting_for(self, caller: str) -> str:
        return self.world.merchant if caller == self.world.terminal else caller

    def _pick(self, index: int, status: int | None = None, ready: bool = False) -> int:
        """A coupon: mostly one in `status` (so rules mostly succeed), any coupon
        when `index % 4 == 3` or none is in that status (to hit reverts). Every
        other pick prefers coupons that were passed along (so splits among
        earlier holders get exercised); with `ready`, written-off coupons whose
        rollback window closed. Small indexes (Hypothesis' favourites) take the
        happy path."""
        ids = sorted(i for i, g in self.coupons.items() if g.status == status)
        if index % 2 == 0:
            ids = [i for i in ids if self.coupons[i].path] or ids
        if ready:
            ids = [i for i in ids if not self._in_window(i)] or ids
        if status is None or index % 4 == 3 or not ids:
            ids = sorted(self.coupons)
        return ids[(index // 4) % len(ids)]

    def _any(self, status: int) -> bool:
        return any(g.status == status for g in self.coupons.values())

    def _in_window(self, coupon_id: int) -> bool:
        ghost = self.coupons[coupon_id]
        window = self.rounds[ghost.round_id - 1].window
        return boa.env.timestamp <= ghost.written_off_at + window

    def _balance(self, account: str) -> int:
        """A token balance, read from storage."""
        return self.token_state.word("balanceOf", account)

    def _credit(self, account: str, amount: int) -> None:
        if amount:
            key = account.lower()
            self.claimable[key] = self.claimable.get(key, 0) + amount

    # --- rules ----------------------------------------------------------
    @initialize(
        shares=share_sets,
        rate=rates,
        grants=st.lists(st.integers(0, HOLDERS - 1), min_size=1, max_size=4),
    )
    def first_round(self, shares, rate, grants):
        self.open_round(30, shares, rate, 60)
        self.allocate(0, 0, 15)
        self.allocate(0, 1, 15)
        self.grant(0, 0, [(h, 1) for h in grants])

    @precondition(lambda self: len(self.rounds) < 4)
    @rule(
        total=st.integers(1, 30),
        shares=share_sets,
        rate=rates,
        window=st.sampled_from([0, 60, 3_600]),
    )
    def open_round(self, total, shares, rate, window):
        round_id = self.world.open_round(total, incentive_bps=rate, shares=shares, window=window)
        assert round_id == len(self.rounds) + 1
        first = self.next_coupon_id
        self.rounds.append(GhostRound(round_id, first, total, rate, shares, window, next_id=first))
        self.next_coupon_id += total

    @precondition(lambda self: len(self.rounds) < 4)
    @rule(
        total=st.integers(1, 30),
        back=st.integers(-2, 40),
        span=st.integers(-1, 30),
        zero_hash=st.booleans(),
    )
    def open_measured_round(self, total, back, span, zero_hash):
        """A round recording a period `back` blocks behind the current one (0 or
        less: not mined yet) of `span + 1` blocks (0 blocks: ends before it starts)."""
        number = boa.env.evm.patch.block_number
        period_to = max(0, number - back)
        period_from = max(0, period_to - span) if span >= 0 else period_to + 1
        measured = 0 if zero_hash else total * 2**200 + period_to + 1
        args = (INPUTS_HASH, total, 500, self.rounds[0].shares.as_tuple(), 60, 300,
                period_from, period_to, measured.to_bytes(32, "big"))
        reason = ("promotions: zero measured-inputs hash" if zero_hash
                  else "promotions: period ends before it starts" if period_from > period_to
                  else "promotions: period not yet mined" if period_to >= number else None)
        with boa.env.prank(self.world.platform):
            if reason is not None:
                with boa.reverts(reason):
                    self.p.open_measured_round(*args)
                return
            round_id = self.p.open_measured_round(*args)
        assert round_id == len(self.rounds) + 1
        first = self.next_coupon_id
        self.rounds.append(GhostRound(round_id, first, total, 500, self.rounds[0].shares, 60,
                                      next_id=first, period_from=period_from,
                                      period_to=period_to, measured_hash=measured))
        self.next_coupon_id += total

    @precondition(lambda self: any(g.allocated < g.total for g in self.rounds))
    @rule(r=st.integers(0, 10), m=st.integers(0, 1), count=st.integers(1, 8))
    def allocate(self, r, m, count):
        ghost = self.rounds[r % len(self.rounds)]
        merchant = self._merchants()[m]
        if r % 4 != 3:  # mostly a round with coupons left to allocate
            rounds = [g for g in self.rounds if g.allocated < g.total]
            ghost = rounds[r % len(rounds)]
        if count % 4 != 3:  # mostly stay within the round's total
            count = max(1, min(count, ghost.total - ghost.allocated))
        with boa.env.prank(self.world.platform):
            if count > ghost.total - ghost.allocated:
                with boa.reverts("promotions: allocation exceeds the round total"):
                    self.p.allocate(ghost.round_id, [merchant], [count])
                return
            self.p.allocate(ghost.round_id, [merchant], [count])
        ghost.allocated += count
        key = (ghost.round_id, merchant)
        self.allowance[key] = self.allowance.get(key, 0) + count

    @precondition(lambda self: any(self.allowance.values()))
    @rule(
        r=st.integers(0, 10),
        m=st.integers(0, 1),
        grants=st.lists(
            st.tuples(st.integers(0, HOLDERS - 1), st.integers(1, 3)), min_size=1, max_size=3
        ),
    )
    def grant(self, r, m, grants):
        ghost = self.rounds[r % len(self.rounds)]
        merchant = self._merchants()[m]
        if r % 4 != 3:  # mostly a round where this merchant has an allowance
            rounds = [g for g in self.rounds if self.allowance.get((g.round_id, merchant), 0)]
            ghost = rounds[r % len(rounds)] if rounds else ghost
        consumers = [self.world.holders[h].address for h, _ in grants]
        counts = [c for _, c in grants]
        key = (ghost.round_id, merchant)
        with boa.env.prank(merchant):
            if sum(counts) > self.allowance.get(key, 0):
                with boa.reverts("promotions: allowance exceeded"):
                    self.p.grant(ghost.round_id, consumers, counts)
                return
            first = self.p.grant(ghost.round_id, consumers, counts)
        assert first == ghost.next_id
        next_id = first
        for h, count in grants:
            for coupon_id in range(next_id, next_id + count):
                self.coupons[coupon_id] = GhostCoupon(ghost.round_id, merchant, h)
                self.dirty.add(coupon_id)
            next_id += count
        ghost.next_id = next_id
        self.allowance[key] -= sum(counts)
        assert ghost.next_id <= ghost.first_id + ghost.total

    @precondition(lambda self: self.coupons)
    @rule(c=st.integers(0, 10**6), offsets=st.lists(st.integers(0, 7), min_size=1, max_size=5))
    def transfer(self, c, offsets):
        """Pass a coupon along a few holders; to its own holder when an offset is 7."""
        coupon_id = self._pick(c, STATUS_ACTIVE)
        ghost = self.coupons[coupon_id]
        for offset in offsets:
            receiver = ghost.holder
            if offset != 7:
                receiver = (ghost.holder + 1 + offset % (HOLDERS - 1)) % HOLDERS
            sender = self.world.holders[ghost.holder]
            with boa.env.prank(sender.address):
                if ghost.status != STATUS_ACTIVE:
                    reason = "promotions: coupon not active"
                elif receiver == ghost.holder:
                    reason = "promotions: transfer to self"
                elif len(ghost.path) == MAX_EARLIER_HOLDERS:
                    reason = "promotions: transfer limit reached (16 per coupon)"
                else:
                    self.p.transfer(coupon_id, self.world.holders[receiver].address)
                    self.dirty.add(coupon_id)
                    ghost.path.append(ghost.holder)
                    ghost.holder = receiver
                    continue
                with boa.reverts(reason):
                    self.p.transfer(coupon_id, self.world.holders[receiver].address)
                return

    @precondition(lambda self: self.coupons)
    @rule(
        picks=st.lists(st.integers(0, 10**6), min_size=1, max_size=3),
        amount=amounts,
        who=st.integers(0, 2),
        scope=st.sampled_from(["any merchant", "this merchant", "another merchant", "below"]),
    )
    def write_off(self, picks, amount, who, scope):
        """Write off with consents bounded as `scope` says: for any merchant up to
        exactly the order, for the caller's merchant, for the other merchant, or
        with a maximum one below the order (the last two must be refused)."""
        caller = self._actors()[who]
        merchant = self._acting_for(caller)
        other = next(m for m in self._merchants() if m != merchant)
        to, cap = {
            "any merchant": (ZERO, amount),
            "this merchant": (merchant, MAX_ORDER_AMOUNT),
            "another merchant": (other, MAX_ORDER_AMOUNT),
            "below": (ZERO, amount - 1),
        }[scope]
        ids = [self._pick(c, STATUS_ACTIVE) for c in picks]
        if picks[0] % 8 != 7:  # mostly distinct coupons; sometimes one twice
            ids = list(dict.fromkeys(ids))
        consents = []
        for coupon_id in ids:
            holder = self.world.holders[self.coupons[coupon_id].holder]
            consents.append(self.world.consent(holder, coupon_id, merchant=to, max_amount=cap))
        charges = [
            incentive(amount, self.rounds[self.coupons[i].round_id - 1].incentive_bps) for i in ids
        ]
        args = (
            ids,
            [amount] * len(ids),
            *(list(column) for column in zip(*consents, strict=True)),
        )
        distinct = len(set(ids)) == len(ids)
        # The bounds are checked before the coupon's status: the first coupon fails.
        refusal = {
            "another merchant": "promotions: consent is for another merchant",
            "below": "promotions: order amount above the consent's maximum",
        }.get(scope)
        if refusal is not None:
            with boa.env.prank(caller), boa.reverts(refusal):
                self.p.write_off_batch(*args)
            return
        if not distinct or any(self.coupons[i].status != STATUS_ACTIVE for i in ids):
            with boa.env.prank(caller), boa.reverts("promotions: coupon not active"):
                self.p.write_off_batch(*args)
            return
        if sum(charges) > self.caps[merchant]:  # charged once, after every coupon's checks
            with boa.env.prank(caller), boa.reverts("promotions: incentive cap exceeded"):
                self.p.write_off_batch(*args)
            return
        before = self._balance(merchant)
        with boa.env.prank(caller):
            if len(ids) == 1:
                charged = self.p.write_off(ids[0], amount, *consents[0])
            else:
                charged = self.p.write_off_batch(*args)
        assert charged == sum(charges) == before - self._balance(merchant)
        self.caps[merchant] -= charged
        # Bounded consents: every write-off stayed inside what its holder signed.
        for event in self.p.get_logs():
            if type(event).__name__ == "WrittenOff":
                assert event.consent_merchant in (ZERO, event.merchant)
                assert event.order_amount <= event.max_amount
        for coupon_id, charge in zip(ids, charges, strict=True):
            ghost = self.coupons[coupon_id]
            self.dirty.add(coupon_id)
            ghost.status = STATUS_WRITTEN_OFF
            ghost.redeemer = merchant
            ghost.pool = charge
            ghost.written_off_at = boa.env.timestamp
            ghost.write_offs += 1

    @rule(
        m=st.integers(0, 1),
        cap=st.one_of(st.just(MERCHANT_FUNDS), st.integers(0, 4 * 10**24), st.integers(0, 10**6)),
    )
    def set_cap(self, m, cap):
        """A merchant sets its spending cap for incentives (its approval)."""
        merchant = self._merchants()[m]
        with boa.env.prank(merchant):
            self.world.token.approve(self.p.address, cap)
        self.caps[merchant] = cap

    @precondition(lambda self: self._any(STATUS_WRITTEN_OFF))
    @rule(
        c=st.integers(0, 10**6),
        who=st.integers(0, 2),
        delay=st.sampled_from(["too late", "now", "last second"]),
    )
    def reverse(self, c, who, delay):
        """Reverse a write-off now, in its window's last second, or just after it."""
        coupon_id = self._pick(c, STATUS_WRITTEN_OFF)
        ghost = self.coupons[coupon_id]
        caller = self._actors()[who]
        window = self.rounds[ghost.round_id - 1].window
        if ghost.status == STATUS_WRITTEN_OFF and delay != "now":
            end = ghost.written_off_at + window + (delay == "too late")
            if end > boa.env.timestamp:
                boa.env.time_travel(seconds=end - boa.env.timestamp)
        if ghost.status == STATUS_DISTRIBUTED:
            reason = "promotions: pool already distributed"
        elif ghost.status != STATUS_WRITTEN_OFF:
            reason = "promotions: coupon not written off"
        elif self._acting_for(caller) != ghost.redeemer:
            reason = "promotions: caller is not the redeeming merchant"
        elif boa.env.timestamp > ghost.written_off_at + window:
            reason = "promotions: rollback window closed"
        else:
            before = self._balance(ghost.redeemer)
            with boa.env.prank(caller):
                self.p.reverse_write_off(coupon_id)
            assert self._balance(ghost.redeemer) == before + ghost.pool
            ghost.status, ghost.redeemer, ghost.pool, ghost.written_off_at = (
                STATUS_ACTIVE,
                None,
                0,
                0,
            )
            ghost.write_offs -= 1
            self.dirty.add(coupon_id)
            return
        with boa.env.prank(caller), boa.reverts(reason):
            self.p.reverse_write_off(coupon_id)

    @precondition(lambda self: self._any(STATUS_WRITTEN_OFF))
    @rule(picks=st.lists(st.integers(0, 10**6), min_size=1, max_size=4), early=st.booleans())
    def distribute(self, picks, early):
        """Distribute some pools, first letting their windows close unless `early`."""
        self.credits_moved = True
        ids = [self._pick(c, STATUS_WRITTEN_OFF, ready=True) for c in picks]
        if picks[0] % 8 != 7:  # mostly distinct coupons; sometimes one twice
            ids = list(dict.fromkeys(ids))
        if not early:
            ends = [
                self.coupons[i].written_off_at + self.rounds[self.coupons[i].round_id - 1].window
                for i in ids
                if self.coupons[i].status == STATUS_WRITTEN_OFF
            ]
            if ends and max(ends) >= boa.env.timestamp:
                boa.env.time_travel(seconds=max(ends) - boa.env.timestamp + 1)
        reason = None
        seen: set[int] = set()
        for coupon_id in ids:
            ghost = self.coupons[coupon_id]
            window = self.rounds[ghost.round_id - 1].window
            if ghost.status == STATUS_DISTRIBUTED or coupon_id in seen:
                reason = "promotions: pool already distributed"
            elif ghost.status != STATUS_WRITTEN_OFF:
                reason = "promotions: coupon not written off"
            elif boa.env.timestamp <= ghost.written_off_at + window:
                reason = "promotions: rollback window still open"
            if reason:
                break
            seen.add(coupon_id)
        if reason:
            with boa.reverts(reason):
                self.p.distribute(ids)
            return
        self.p.distribute(ids)
        for coupon_id in ids:
            ghost = self.coupons[coupon_id]
            credits = payouts(
                ghost.pool,
                self.rounds[ghost.round_id - 1].shares,
                platform=self.world.platform,
                issuer=ghost.issuer,
                redeemer=ghost.redeemer,
                holder=self.world.holders[ghost.holder].address,
                earlier=[self.world.holders[h].address for h in ghost.path],
            )
            for account, amount in credits.items():
                self._credit(account, amount)
            ghost.status = STATUS_DISTRIBUTED
            self.dirty.add(coupon_id)

    @precondition(lambda self: any(self.claimable.values()))
    @rule(who=st.integers(0, 4 * (HOLDERS + 3) - 1))
    def withdraw(self, who):
        """Mostly an account that is owed something; any account when `who % 4 == 3`."""
        self.credits_moved = True
        accounts = [
            self.world.platform,
            *self._merchants(),
            *(h.address for h in self.world.holders),
        ]
        owed_accounts = [a for a in accounts if self.claimable.get(a.lower(), 0)]
        if who % 4 == 3 or not owed_accounts:
            owed_accounts = accounts
        account = owed_accounts[(who // 4) % len(owed_accounts)]
        owed = self.claimable.get(account.lower(), 0)
        with boa.env.prank(account):
            if owed == 0:
                with boa.reverts("promotions: nothing to withdraw"):
                    self.p.withdraw()
                return
            before = self._balance(account)
            assert self.p.withdraw() == owed
        assert self._balance(account) == before + owed
        self.claimable[account.lower()] = 0

    # --- invariants -----------------------------------------------------
    def _accounts(self) -> list[str]:
        return [self.world.platform, *self._merchants(), *(h.address for h in self.world.holders)]

    @invariant()
    def balance_covers_pools_and_payouts(self):
        pools = sum(g.pool for g in self.coupons.values() if g.status == STATUS_WRITTEN_OFF)
        owed = sum(self.claimable.values())
        assert self._balance(self.p.address) == pools + owed

    @invariant()
    def coupons_match_the_ghost(self):
        """Every coupon, from its storage words: holder | status | transfers |
        write-off time, issuer | round, redeemer | pool, and the path."""
        word = self.state.word
        for coupon_id, ghost in self.coupons.items():
            # never written off twice: at most one write-off stands at any time
            assert 0 <= ghost.write_offs <= 1
            assert ghost.write_offs == (ghost.status in (STATUS_WRITTEN_OFF, STATUS_DISTRIBUTED))
            holder = int(self.world.holders[ghost.holder].address, 16)
            assert word("_holding", coupon_id) == (
                holder | ghost.status << 160 | len(ghost.path) << 168 | ghost.written_off_at << 176
            )
            assert word("_origin", coupon_id) == int(ghost.issuer, 16) | ghost.round_id << 160
            redemption = 0
            if ghost.status != STATUS_ACTIVE:
                redemption = int(ghost.redeemer, 16) | ghost.pool << 160
            assert word("_redemption", coupon_id) == redemption
            for k, h in enumerate(ghost.path):
                assert word("_earlier", coupon_id, k) == int(self.world.holders[h].address, 16)

    @invariant()
    def rounds_match_the_ghost(self):
        assert self.state.word("next_coupon_id") == self.next_coupon_id
        assert self.state.word("round_count") == len(self.rounds)
        for ghost in self.rounds:
            stored = [
                self.state.word("rounds", ghost.round_id, member=m)
                for m in ("first_id", "next_id", "allocated", "period_from", "period_to",
                          "measured_hash")
            ]
            assert stored == [ghost.first_id, ghost.next_id, ghost.allocated,
                              ghost.period_from, ghost.period_to, ghost.measured_hash]
        for (round_id, merchant), left in self.allowance.items():
            assert self.state.word("allowance", round_id, merchant) == left

    @invariant()
    def incentives_stay_inside_the_caps(self):
        """Capped allowances: what a merchant's cap has left is exactly its cap less
        the incentives charged since it was set (never 2**256 - 1, never below 0)."""
        for merchant, left in self.caps.items():
            assert self.token_state.word("allowance", merchant, self.p.address) == left

    @invariant()
    def claimable_matches_the_ghost(self):
        for account in self._accounts():
            assert self.state.word("claimable", account) == self.claimable.get(account.lower(), 0)
        if self.credits_moved:  # and through the view
            for account in self._accounts():
                assert self.p.claimable(account) == self.claimable.get(account.lower(), 0)
            self.credits_moved = False

    @invariant()
    def touched_coupons_match_the_views(self):
        for coupon_id in sorted(self.dirty):
            ghost = self.coupons[coupon_id]
            record = self.p.coupon(coupon_id)
            assert record.status == ghost.status
            assert record.holder == self.world.holders[ghost.holder].address
            assert record.transfers == len(ghost.path)
            assert self.p.earlier_holders(coupon_id) == [
                self.world.holders[h].address for h in ghost.path
            ]
            assert record.round_id == ghost.round_id
            assert record.issuer == ghost.issuer
            if ghost.status != STATUS_ACTIVE:
                assert (record.redeemer, record.pool) == (ghost.redeemer, ghost.pool)
                assert record.written_off_at == ghost.written_off_at
            else:
                assert (record.redeemer, record.pool, record.written_off_at) == (ZERO, 0, 0)
        self.dirty.clear()


TestPromotionsMachine = PromotionsMachine.test_case("promotions")
