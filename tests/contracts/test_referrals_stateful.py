"""Peer-to-peer batch sales: a stateful machine with ghost state.

The machine registers products, opens and closes batches, buys (with valid,
expired, forged, misdirected, self-referring or missing links, promoters
with or without earlier units), withdraws and lets time pass, in random
order. One `domain.rebates.Ledger` per product is its ghost; it predicts
every call's outcome, down to the exact revert string, and after every step
the invariants hold:

- no batch ever sells more than its circulation;
- a purchase lands only in the batch the buyer saw, at no more than the price
  it saw (a batch closed and reopened meanwhile refuses it, naming the rule);
- a batch's rebates never exceed its rebate ratio of its revenue, and each
  sale pays the promoter the share its batch was opened with (the
  originator's terms, within the platform's bounds at opening; the platform
  alone moves the bounds, and a batch keeps its terms when they move);
- batches open in order: every batch before the current one has ended;
- tokens are conserved: the contract holds exactly what is claimable plus the
  open batches' buffers, and each account's `claimable` is the ghost's.

Products, batches and balances are read from storage after every step (no EVM
call); the `product` and `batch` views are compared for the batches the step
changed. `claimable` computes pending rebates, so it is called, for every
account, after every step that wrote the contract's storage (a view is a
function of that storage: after any other step it cannot have moved).
"""

import boa
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule
from referrals_setup import MAX_REBATE_BPS, MAX_SHARE_BPS, MIN_SHARE_BPS, ZERO, build_world
from storage_reader import StorageReader, as_words

from conftest import ContractMachine, quiet
from couponchain.domain.rebates import BPS, Ledger, RebateBounds

CONSUMERS = 4
BUYER_FUNDS = 2**200
FIRST_PRODUCT = 1
FIRST_SALES = ((0, 2), (1, 1))  # (consumer, units) bought in the first product's batch 1
LINKS = ["valid", "valid", "valid", "expired", "forged", "other_product", "none", "self", "short"]
# What the buyer saw and sends: mostly the current batch and price.
SEEN = ["current", "current", "current", "earlier batch", "lower price"]
# Promoter shares an originator asks for: inside and just outside the bounds.
SHARES = [0, MIN_SHARE_BPS - 1, MIN_SHARE_BPS, 2_000, MAX_SHARE_BPS, MAX_SHARE_BPS + 1, 10_000]


class ReferralsMachine(ContractMachine):
    """Random operations on one referrals contract, checked against ghost ledgers."""

    world = state = token_state = None  # deployed once per test

    @classmethod
    def deploy(cls) -> None:
        w = cls.world = build_world(
            *(
                boa.env.generate_address(f"referrals_stateful_{name}")
                for name in ("platform", "merchant", "other_merchant", "terminal")
            ),
            consumers=CONSUMERS,
        )
        for contract in (w.registry, w.token, w.referrals):
            quiet(contract)
        cls.state = StorageReader(w.referrals)
        cls.token_state = StorageReader(w.token)
        # Buyers pay from a balance and approval far beyond what a run spends;
        # each purchase checks that exactly the amount paid left the buyer.
        for buyer in (w.other_merchant, *(c.address for c in w.consumers)):
            w.fund(buyer, BUYER_FUNDS)
        # Every run starts with the same product whose batch 1 is sold and
        # closed (the same calls each time: done once, here, and mirrored in
        # each run's ghost by `_first_product`).
        assert w.register(price=1_001, circulation=5) == FIRST_PRODUCT
        for consumer, quantity in FIRST_SALES:
            with boa.env.prank(w.consumers[consumer].address):
                w.referrals.purchase(FIRST_PRODUCT, quantity, *w.seen(FIRST_PRODUCT), ZERO, 0, b"")
        w.close_batch(FIRST_PRODUCT)

    def _first_product(self) -> Ledger:
        """The ghost of the product `deploy` sold batch 1 of."""
        ledger = Ledger.new(self.world.originator, 1_001, 5)
        for consumer, quantity in FIRST_SALES:
            ledger.purchase(self.world.consumers[consumer].address, quantity)
        ledger.close_batch()
        return ledger

    def __init__(self) -> None:
        super().__init__()
        self.ledgers: dict[int, Ledger] = {FIRST_PRODUCT: self._first_product()}
        self.withdrawn: dict[str, int] = {}
        self.seen: dict[tuple[int, int], tuple] = {}  # batch -> its ghost at the last check
        self.bounds = RebateBounds(MAX_REBATE_BPS, MIN_SHARE_BPS, MAX_SHARE_BPS)

    # --- helpers --------------------------------------------------------
    @property
    def r(self):
        return self.world.referrals

    def _accounts(self) -> list[str]:
        w = self.world
        return [w.originator, w.other_merchant, *(c.address for c in w.consumers)]

    def _product(self, index: int) -> int:
        """A registered product mostly; an unknown id when index == 9."""
        if not self.ledgers or index == 9:
            return len(self.ledgers) + 1
        return sorted(self.ledgers)[index % len(self.ledgers)]

    @staticmethod
    def _terms_error(price: int, circulation: int) -> str | None:
        if price == 0:
            return "referrals: zero price"
        if circulation == 0:
            return "referrals: zero circulation"
        return None

    # --- rules ----------------------------------------------------------
    @initialize(
        rebate_bps=st.sampled_from([1_000, MAX_REBATE_BPS, 1]),
        share_bps=st.sampled_from([2_000, MIN_SHARE_BPS, MAX_SHARE_BPS]),
    )
    def product_in_batch_two(self, rebate_bps, share_bps):
        """Start with a product past batch 1 (consumers 0 and 1 hold units, see
        `deploy`), so linked purchases are reachable from the first step."""
        ledger = self.ledgers[FIRST_PRODUCT]
        self.world.open_batch(FIRST_PRODUCT, 7_777, 6, rebate_bps, share_bps)
        ledger.open_batch(7_777, 6, rebate_bps, share_bps)

    def _within_bounds(self, rebate_bps: int, share_bps: int) -> tuple[int, int]:
        """Terms moved inside the current bounds (for rules that must succeed)."""
        b = self.bounds
        return (
            min(rebate_bps, b.max_rebate_bps),
            min(max(share_bps, b.min_promoter_share_bps), b.max_promoter_share_bps),
        )

    @precondition(lambda self: self.ledgers)
    @rule(
        index=st.integers(0, 8),
        price=st.sampled_from([1, 1_001, 7_777, 10**6]),
        circulation=st.integers(1, 6),
        rebate_bps=st.sampled_from([0, 1, 1_000, MAX_REBATE_BPS]),
        share_bps=st.sampled_from(SHARES),
    )
    def next_batch(self, index, price, circulation, rebate_bps, share_bps):
        """Close the product's current batch if it is open, then open the next
        (with terms inside the platform's current bounds)."""
        product_id = self._product(index)
        ledger = self.ledgers[product_id]
        rebate_bps, share_bps = self._within_bounds(rebate_bps, share_bps)
        with boa.env.prank(ledger.originator):
            if not ledger.batches[-1].ended:
                self.r.close_batch(product_id)
                ledger.close_batch()
            self.r.open_batch(product_id, price, circulation, rebate_bps, share_bps)
        ledger.open_batch(price, circulation, rebate_bps, share_bps)

    @rule(
        caller=st.sampled_from(["platform", "platform", "platform", "originator", "consumer"]),
        max_rebate_bps=st.sampled_from([0, 1_000, MAX_REBATE_BPS, 10_000, 10_001]),
        min_share_bps=st.sampled_from([0, MIN_SHARE_BPS, 2_000, 6_000]),
        max_share_bps=st.sampled_from([MIN_SHARE_BPS, 2_000, MAX_SHARE_BPS, 10_000, 10_001]),
    )
    def set_bounds(self, caller, max_rebate_bps, min_share_bps, max_share_bps):
        """The platform moves the bounds on new batches' terms; anyone else is refused,
        and so are bounds beyond 100 % or a minimum above the maximum."""
        w = self.world
        address = {"platform": w.platform, "originator": w.originator,
                   "consumer": w.consumers[0].address}[caller]
        error = ("referrals: caller is not the platform" if caller != "platform"
                 else RebateBounds.invalid(max_rebate_bps, min_share_bps, max_share_bps))
        event(f"set_bounds: {error or 'set'}")
        with boa.env.prank(address):
            if error:
                with boa.reverts(error):
                    self.r.set_rebate_bounds(max_rebate_bps, min_share_bps, max_share_bps)
                return
            self.r.set_rebate_bounds(max_rebate_bps, min_share_bps, max_share_bps)
        self.bounds = RebateBounds(max_rebate_bps, min_share_bps, max_share_bps)

    @rule(
        by_other=st.booleans(),
        price=st.sampled_from([0, 1, 999, 10**6]),
        circulation=st.integers(0, 6),
    )
    def register(self, by_other, price, circulation):
        w = self.world
        originator = w.other_merchant if by_other else w.originator
        error = self._terms_error(price, circulation)
        if error:
            with boa.env.prank(originator), boa.reverts(error):
                self.r.register_product("P", b"\x00" * 32, price, circulation)
            return
        with boa.env.prank(originator):
            product_id = self.r.register_product("P", b"\x00" * 32, price, circulation)
        assert product_id == len(self.ledgers) + 1
        self.ledgers[product_id] = Ledger.new(originator, price, circulation)

    @rule(
        index=st.integers(0, 9),
        wrong_caller=st.integers(0, 7),
        price=st.sampled_from([1, 1_001, 7_777, 10**6]),
        circulation=st.integers(1, 6),
        rebate_bps=st.sampled_from([0, 1, 1_000, MAX_REBATE_BPS, MAX_REBATE_BPS + 1]),
        share_bps=st.sampled_from(SHARES),
    )
    def open_batch(self, index, wrong_caller, price, circulation, rebate_bps, share_bps):
        product_id = self._product(index)
        ledger = self.ledgers.get(product_id)
        caller = ledger.originator if ledger else self.world.originator
        if wrong_caller == 0:
            caller = self.world.consumers[0].address
        if ledger is None:
            error = "referrals: unknown product"
        elif caller != ledger.originator:
            error = "referrals: caller is not the originator"
        elif not ledger.batches[-1].ended:
            error = "referrals: current batch still open"
        else:
            refusal = self.bounds.refusal(rebate_bps, share_bps)
            error = refusal[2] if refusal else None
        with boa.env.prank(caller):
            if error:
                with boa.reverts(error):
                    self.r.open_batch(product_id, price, circulation, rebate_bps, share_bps)
                return
            batch_no = self.r.open_batch(product_id, price, circulation, rebate_bps, share_bps)
        assert batch_no == ledger.open_batch(price, circulation, rebate_bps, share_bps)

    @rule(index=st.integers(0, 9))
    def close_batch(self, index):
        product_id = self._product(index)
        ledger = self.ledgers.get(product_id)
        caller = ledger.originator if ledger else self.world.originator
        if ledger is None:
            error = "referrals: unknown product"
        elif ledger.batches[-1].ended:
            error = "referrals: batch already ended"
        else:
            error = None
        with boa.env.prank(caller):
            if error:
                with boa.reverts(error):
                    self.r.close_batch(product_id)
                return
            self.r.close_batch(product_id)
        dust = ledger.close_batch()
        [closed] = [e for e in self.r.get_logs() if type(e).__name__ == "BatchClosed"]
        assert closed.dust == dust

    @rule(
        index=st.integers(0, 9),
        buyer=st.integers(0, 2 * CONSUMERS),
        quantity=st.integers(0, 4),
        promoter=st.integers(0, CONSUMERS - 1),
        link=st.sampled_from(LINKS),
        seen=st.sampled_from(SEEN),
    )
    def purchase(self, index, buyer, quantity, promoter, link, seen):
        """Buy with a link as `link` says, sending what the buyer saw as `seen` says:
        the current batch and price, an earlier batch (the originator moved on), or a
        maximum one below the price (both refused)."""
        w = self.world
        product_id = self._product(index)
        ledger = self.ledgers.get(product_id)
        bounds = (1, 10**6)  # an unknown product: refused before its bounds are read
        if ledger is not None:
            bounds = {
                "current": (ledger.current, ledger.batches[-1].price),
                "earlier batch": (ledger.current - 1, ledger.batches[-1].price),
                "lower price": (ledger.current, ledger.batches[-1].price - 1),
            }[seen]
        # index 2 * CONSUMERS: a merchant tries to buy
        buyer = CONSUMERS if buyer == 2 * CONSUMERS else buyer % CONSUMERS
        buyer_address = w.other_merchant if buyer == CONSUMERS else w.consumers[buyer].address
        promoter_account = w.consumers[promoter]
        args = (ZERO, 0, b"")
        if link == "self" and buyer < CONSUMERS:
            promoter_account = w.consumers[buyer]
        if ledger is not None and ledger.current > 1 and link != "none":
            expiry, signature = w.link(promoter_account, product_id)
            if link == "expired":
                expiry, signature = w.link(
                    promoter_account, product_id, expiry=boa.env.timestamp - 1
                )
            elif link == "forged":
                signature = w.link(
                    promoter_account, product_id, key=w.consumers[(promoter + 1) % CONSUMERS].key
                )[1]
            elif link == "other_product":
                signature = w.link(promoter_account, product_id + 1)[1]
            elif link == "short":
                signature = signature[:64]
            args = (promoter_account.address, expiry, signature)

        error = self._purchase_error(ledger, buyer, buyer_address, quantity, args, link, bounds)
        event(f"purchase: {error or ('batch 1' if ledger.current == 1 else 'linked')}")
        before = self._balance(buyer_address)
        with boa.env.prank(buyer_address):
            if error:
                with boa.reverts(error):
                    self.r.purchase(product_id, quantity, *bounds, *args)
                return
            paid = self.r.purchase(product_id, quantity, *bounds, *args)
        # Price-bounded purchases: the sale happened in the batch, at a price, the buyer saw.
        [bought] = [e for e in self.r.get_logs() if type(e).__name__ == "Purchased"]
        assert bought.batch == bounds[0] and bought.amount <= bounds[1] * quantity
        split = ledger.purchase(buyer_address, quantity, args[0] if args[0] != ZERO else None)
        assert paid == split.amount == before - self._balance(buyer_address)
        # The split follows the batch's own terms (the ghost's, set when it opened).
        assert (bought.rebate, bought.promoter_amount, bought.holders_amount) == (
            split.rebate,
            split.promoter,
            split.holders,
        )

    def _purchase_error(
        self, ledger, buyer, buyer_address, quantity, args, link, bounds
    ) -> str | None:
        if buyer == CONSUMERS:
            return "referrals: caller is not a consumer"
        if ledger is None:
            return "referrals: unknown product"
        if quantity == 0:
            return "referrals: zero quantity"
        batch = ledger.batches[-1]
        if bounds[0] != ledger.current:
            return "referrals: batch changed since the buyer saw it"
        if batch.price > bounds[1]:
            return "referrals: price above the buyer's maximum"
        if batch.closed:
            return "referrals: batch closed"
        if batch.sold == batch.circulation:
            return "referrals: batch sold out"
        if quantity > batch.circulation - batch.sold:
            return "referrals: not enough units left"
        if ledger.current == 1:
            return None
        promoter = args[0]
        if promoter == ZERO:
            return "referrals: link required after batch 1"
        if promoter == buyer_address:
            return "referrals: self-referral"
        if link == "expired":
            return "referrals: link expired"
        if link == "short":
            return "referrals: signature must be 65 bytes"
        if link in ("forged", "other_product"):
            return "referrals: link not signed by the promoter"
        if ledger.earlier_units(promoter) == 0:
            return "referrals: promoter holds no earlier units"
        return None

    @rule(account=st.integers(0, CONSUMERS + 1))
    def withdraw(self, account):
        address = self._accounts()[account]
        owed = self._owed(address)
        with boa.env.prank(address):
            if owed == 0:
                with boa.reverts("referrals: nothing to withdraw"):
                    self.r.withdraw()
                return
            before = self._balance(address)
            assert self.r.withdraw() == owed
        assert self._balance(address) - before == owed
        self.withdrawn[address] = self.withdrawn.get(address, 0) + owed

    @precondition(lambda self: self.ledgers)
    @rule(index=st.integers(0, 9), account=st.integers(0, CONSUMERS + 1))
    def settle(self, index, account):
        product_id = self._product(index % 4)
        address = self._accounts()[account]
        pending = self.r.pending(product_id, address)
        assert self.r.settle(product_id, address) == pending
        assert self.r.pending(product_id, address) == 0

    @rule(seconds=st.sampled_from([1, 3_600, 30 * 86_400]))
    def wait(self, seconds):
        boa.env.time_travel(seconds=seconds)

    # --- invariants -----------------------------------------------------
    def _balance(self, account: str) -> int:
        """A token balance, read from storage."""
        return self.token_state.word("balanceOf", account)

    def _owed(self, account: str) -> int:
        credited = sum(ledger.credited.get(account, 0) for ledger in self.ledgers.values())
        return credited - self.withdrawn.get(account, 0)

    @invariant()
    def batches_respect_circulation_ratio_and_order(self):
        word = self.state.word
        assert word("product_count") == len(self.ledgers)
        assert (
            word("max_rebate_bps"),
            word("min_promoter_share_bps"),
            word("max_promoter_share_bps"),
        ) == (
            self.bounds.max_rebate_bps,
            self.bounds.min_promoter_share_bps,
            self.bounds.max_promoter_share_bps,
        )
        for product_id, ledger in self.ledgers.items():
            assert word("_products", product_id, member="batch_count") == ledger.current
            assert word("_products", product_id, member="units_sold") == sum(
                b.sold for b in ledger.batches
            )
            for number, ghost in enumerate(ledger.batches, start=1):
                (
                    _,
                    circulation,
                    rebate_bps,
                    sold,
                    closed,
                    _,
                    _,
                    undistributed,
                    revenue,
                    rebates,
                    promoter_share_bps,
                ) = self.state.words("_batches", product_id, number)
                assert sold == ghost.sold <= circulation
                assert rebates * BPS <= revenue * rebate_bps
                # Terms are the ones the batch opened with, whatever the bounds became.
                assert (rebate_bps, promoter_share_bps) == (
                    ghost.rebate_bps,
                    ghost.promoter_share_bps,
                )
                assert closed == ghost.closed
                if number < ledger.current:
                    assert closed or sold == circulation
                    assert undistributed == 0
            assert word("_batches", product_id, ledger.current + 1, member="circulation") == 0

    @invariant()
    def tokens_are_conserved(self):
        owed = sum(self._owed(account) for account in self._accounts())
        buffers = sum(ledger.open_batch_buffer for ledger in self.ledgers.values())
        assert self._balance(self.r.address) == owed + buffers
        if self.wrote(self.r):  # else no claimable can have moved
            for account in self._accounts():
                assert self.r.claimable(account) == self._owed(account)

    @invariant()
    def views_match_what_changed(self):
        for product_id, ledger in self.ledgers.items():
            changed = False
            for number, ghost in enumerate(ledger.batches, start=1):
                key = (product_id, number)
                now = (
                    ghost.price,
                    ghost.circulation,
                    ghost.rebate_bps,
                    ghost.sold,
                    ghost.closed,
                    ghost.promoter_share_bps,
                )
                if self.seen.get(key) == now:
                    continue
                self.seen[key], changed = now, True
                batch = self.r.batch(product_id, number)
                assert as_words(*batch) == self.state.words("_batches", product_id, number)
                assert (batch.price, batch.circulation, batch.rebate_bps, batch.sold) == now[:4]
                assert batch.closed == ghost.closed
                assert batch.promoter_share_bps == ghost.promoter_share_bps
            if changed:
                product = self.r.product(product_id)
                assert (product.batch_count, product.units_sold) == (
                    ledger.current,
                    sum(b.sold for b in ledger.batches),
                )
                assert product.reward_per_unit == self.state.word(
                    "_products", product_id, member="reward_per_unit"
                )


TestReferralsMachine = ReferralsMachine.test_case("referrals")
