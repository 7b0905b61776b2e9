"""Peer-to-peer batch sales: a stateful machine with ghost state.

The machine registers products, opens and closes batches, buys (with valid,
expired, forged, misdirected, self-referring or missing links, promoters
with or without earlier units), withdraws and lets time pass, in random
order. One `domain.rebates.Ledger` per product is its ghost; it predicts
every call's outcome, down to the exact revert string, and after every step
the invariants hold:

- no batch ever sells more than its circulation;
- a batch's rebates never exceed its rebate ratio of its revenue;
- batches open in order: every batch before the current one has ended;
- tokens are conserved: the contract holds exactly what is claimable plus the
  open batches' buffers, and each account's `claimable` is the ghost's.
"""

import boa
import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from referrals_setup import MAX_REBATE_BPS, ZERO, build_world

from couponchain.domain.rebates import BPS, Ledger

CONSUMERS = 4
LINKS = ["valid", "valid", "valid", "expired", "forged", "other_product", "none", "self", "short"]


class ReferralsMachine(RuleBasedStateMachine):
    """Random operations on one referrals contract, checked against ghost ledgers."""

    world = None  # set by the test before the run

    def __init__(self) -> None:
        super().__init__()
        self._snapshot = boa.env.anchor()
        self._snapshot.__enter__()
        self.ledgers: dict[int, Ledger] = {}
        self.withdrawn: dict[str, int] = {}

    def teardown(self) -> None:
        self._snapshot.__exit__(None, None, None)

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
    @initialize(rebate_bps=st.sampled_from([1_000, MAX_REBATE_BPS, 1]))
    def product_in_batch_two(self, rebate_bps):
        """Start with a product past batch 1 (consumers 0 and 1 hold units), so
        linked purchases are reachable from the first step."""
        w = self.world
        ledger = Ledger.new(w.originator, 1_001, 5)
        product_id = w.register(price=1_001, circulation=5)
        for consumer, quantity in ((0, 2), (1, 1)):
            w.buy(w.consumers[consumer], product_id, quantity)
            ledger.purchase(w.consumers[consumer].address, quantity)
        w.close_batch(product_id)
        ledger.close_batch()
        w.open_batch(product_id, 7_777, 6, rebate_bps)
        ledger.open_batch(7_777, 6, rebate_bps)
        self.ledgers[product_id] = ledger

    @precondition(lambda self: self.ledgers)
    @rule(
        index=st.integers(0, 8),
        price=st.sampled_from([1, 1_001, 7_777, 10**6]),
        circulation=st.integers(1, 6),
        rebate_bps=st.sampled_from([0, 1, 1_000, MAX_REBATE_BPS]),
    )
    def next_batch(self, index, price, circulation, rebate_bps):
        """Close the product's current batch if it is open, then open the next."""
        product_id = self._product(index)
        ledger = self.ledgers[product_id]
        with boa.env.prank(ledger.originator):
            if not ledger.batches[-1].ended:
                self.r.close_batch(product_id)
                ledger.close_batch()
            self.r.open_batch(product_id, price, circulation, rebate_bps)
        ledger.open_batch(price, circulation, rebate_bps)

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
    )
    def open_batch(self, index, wrong_caller, price, circulation, rebate_bps):
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
        elif rebate_bps > MAX_REBATE_BPS:
            error = "referrals: rebate above the platform cap"
        else:
            error = None
        with boa.env.prank(caller):
            if error:
                with boa.reverts(error):
                    self.r.open_batch(product_id, price, circulation, rebate_bps)
                return
            batch_no = self.r.open_batch(product_id, price, circulation, rebate_bps)
        assert batch_no == ledger.open_batch(price, circulation, rebate_bps)

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
    )
    def purchase(self, index, buyer, quantity, promoter, link):
        w = self.world
        product_id = self._product(index)
        ledger = self.ledgers.get(product_id)
        # index 2 * CONSUMERS: a merchant tries to buy
        buyer = CONSUMERS if buyer == 2 * CONSUMERS else buyer % CONSUMERS
        buyer_address = w.other_merchant if buyer == CONSUMERS else w.consumers[buyer].address
        promoter_account = w.consumers[promoter]
        batch = ledger.batches[-1] if ledger else None
        price = batch.price if batch else 1
        amount = price * max(quantity, 1)
        w.fund(buyer_address, amount)

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

        error = self._purchase_error(ledger, buyer, buyer_address, quantity, args, link)
        event(f"purchase: {error or ('batch 1' if ledger.current == 1 else 'linked')}")
        with boa.env.prank(buyer_address):
            if error:
                with boa.reverts(error):
                    self.r.purchase(product_id, quantity, *args)
                w.token.approve(self.r.address, 0)
                return
            paid = self.r.purchase(product_id, quantity, *args)
        split = ledger.purchase(buyer_address, quantity, args[0] if args[0] != ZERO else None)
        assert paid == split.amount

    def _purchase_error(self, ledger, buyer, buyer_address, quantity, args, link) -> str | None:
        if buyer == CONSUMERS:
            return "referrals: caller is not a consumer"
        if ledger is None:
            return "referrals: unknown product"
        if quantity == 0:
            return "referrals: zero quantity"
        batch = ledger.batches[-1]
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
            before = self.world.token.balanceOf(address)
            assert self.r.withdraw() == owed
        assert self.world.token.balanceOf(address) - before == owed
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
    def _owed(self, account: str) -> int:
        credited = sum(ledger.credited.get(account, 0) for ledger in self.ledgers.values())
        return credited - self.withdrawn.get(account, 0)

    @invariant()
    def batches_respect_circulation_ratio_and_order(self):
        for product_id, ledger in self.ledgers.items():
            record = self.r.product(product_id)
            assert record.batch_count == ledger.current
            assert record.units_sold == sum(b.sold for b in ledger.batches)
            for number, ghost in enumerate(ledger.batches, start=1):
                batch = self.r.batch(product_id, number)
                assert batch.sold == ghost.sold <= batch.circulation
                assert batch.rebates * BPS <= batch.revenue * batch.rebate_bps
                assert batch.rebate_bps <= MAX_REBATE_BPS
                assert batch.closed == ghost.closed
                if number < ledger.current:
                    assert batch.closed or batch.sold == batch.circulation
                    assert batch.undistributed == 0

    @invariant()
    def tokens_are_conserved(self):
        owed = 0
        for account in self._accounts():
            claimable = self.r.claimable(account)
            assert claimable == self._owed(account)
            owed += claimable
        buffers = sum(ledger.open_batch_buffer for ledger in self.ledgers.values())
        assert self.world.token.balanceOf(self.r.address) == owed + buffers


@pytest.fixture(scope="module")
def world(platform, merchant, other_merchant, terminal):
    return build_world(platform, merchant, other_merchant, terminal, consumers=CONSUMERS)


def test_referrals_state_machine(world):
    ReferralsMachine.world = world
    run_state_machine_as_test(
        ReferralsMachine,
        settings=settings(
            settings.default,
            max_examples=max(10, settings.default.max_examples // 2),
            stateful_step_count=40,
        ),
    )
