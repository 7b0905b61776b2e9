"""Rebates of peer-to-peer batch sales: the split of a sale and who earns it.

An originator sells a product in numbered batches; batch 1 has no rebate.
A sale of `quantity` units in batch i+1 (i >= 1) at `price`, bought through a
promoter's link, pays `amount = price * quantity` and splits it as

- `rebate = amount * rebate_bps // 10_000` (rounded down: the dust of the
  ratio is the originator's);
- the promoter's direct share `rebate * promoter_share_bps // 10_000`
  (rounded down; what rounding leaves goes to the holders);
- the holders' part (`rebate` less the direct share), owed to every unit of
  batches 1..i pro rata per unit (units bought in batch i+1 itself, this
  sale's included, do not earn from batch i+1's sales);
- the originator keeps `amount - rebate`.

The originator chooses each batch's `rebate_bps` and `promoter_share_bps`
when opening it, within the platform's `RebateBounds`; a batch keeps its
terms for its whole life.

The contract pays the holders' part with a per-unit accumulator counted in
whole token units, so its gas does not grow with the number of holders. Each
sale adds the holders' part to the batch's buffer; the accumulator grows by
`buffer // eligible_units` and the remainder (under `eligible_units` token
units) waits in the buffer for the batch's next sale. When the batch ends
(sold out or closed) the buffer left goes to the originator.

So at all times the tokens paid in equal, to the unit, the payouts credited
(claimable, including accruals not yet settled) plus the open batch's buffer.
A holder with `u` earning units in a batch is credited its exact pro rata
entitlement less `u * buffer / eligible_units`, i.e. at most its entitlement
and less by under `u` token units per batch; the originator gets exactly what
the holders are short of once the batch has ended.

`Ledger` models one product twice: `credited` is the contract's integer
arithmetic, `entitled` the exact pro rata split with `fractions.Fraction`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction

from couponchain.errors import InvalidInput

BPS = 10_000
"""Basis points in a whole."""

DEFAULT_PROMOTER_SHARE_BPS = 2_000
"""The promoter share a batch gets when its originator names none (the API's
default; the contract always takes it explicitly)."""

MAX_PRICE = 2**96 - 1
"""Largest unit price (token's smallest unit) a batch accepts."""

MAX_CIRCULATION = 2**64 - 1
"""Largest circulation of a batch."""


def _check_int(value: int, name: str, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}", field=name)


@dataclass(frozen=True, slots=True)
class SaleSplit:
    """Where one sale's payment goes (token units); the four parts sum to `amount`."""

    amount: int
    rebate: int
    promoter: int
    holders: int
    originator: int


@dataclass(frozen=True, slots=True)
class RebateBounds:
    """The platform's bounds on the rebate terms of a new batch (basis points)."""

    max_rebate_bps: int
    min_promoter_share_bps: int
    max_promoter_share_bps: int

    def refusal(self, rebate_bps: int, promoter_share_bps: int) -> tuple[str, str, str] | None:
        """None when the terms are within bounds, else (field, rule, contract
        revert reason) of the first rule broken, in the contract's order."""
        if rebate_bps > self.max_rebate_bps:
            return ("rebate_bps", f"must be 0 to {self.max_rebate_bps} basis points (the "
                    "platform's cap)", "referrals: rebate above the platform cap")
        if promoter_share_bps < self.min_promoter_share_bps:
            return ("promoter_share_bps", self._share_rule(),
                    "referrals: promoter share below the platform minimum")
        if promoter_share_bps > self.max_promoter_share_bps:
            return ("promoter_share_bps", self._share_rule(),
                    "referrals: promoter share above the platform maximum")
        return None

    def _share_rule(self) -> str:
        return (f"must be {self.min_promoter_share_bps} to {self.max_promoter_share_bps} "
                "basis points (the platform's bounds)")

    @staticmethod
    def invalid(max_rebate_bps: int, min_share: int, max_share: int) -> str | None:
        """The contract's revert reason for bounds it refuses to set, or None."""
        if max_rebate_bps > BPS:
            return "referrals: rebate cap above 10000 bps"
        if max_share > BPS:
            return "referrals: promoter share cap above 10000 bps"
        if min_share > max_share:
            return "referrals: promoter share minimum above its maximum"
        return None


def sale_split(price: int, quantity: int, rebate_bps: int,
               promoter_share_bps: int = DEFAULT_PROMOTER_SHARE_BPS) -> SaleSplit:
    """The contract's split of a sale, before the holders' part is spread per unit."""
    _check_int(price, "price", 1, MAX_PRICE)
    _check_int(quantity, "quantity", 1, MAX_CIRCULATION)
    _check_int(rebate_bps, "rebate_bps", 0, BPS)
    _check_int(promoter_share_bps, "promoter_share_bps", 0, BPS)
    amount = price * quantity
    rebate = amount * rebate_bps // BPS
    promoter = rebate * promoter_share_bps // BPS
    return SaleSplit(
        amount=amount,
        rebate=rebate,
        promoter=promoter,
        holders=rebate - promoter,
        originator=amount - rebate,
    )


@dataclass
class Batch:
    """One batch as the ledger sees it."""

    price: int
    circulation: int
    rebate_bps: int
    eligible_units: int
    sold: int = 0
    closed: bool = False
    buffer: int = 0
    promoter_share_bps: int = 0

    @property
    def ended(self) -> bool:
        return self.closed or self.sold == self.circulation


@dataclass
class Ledger:
    """One product's sales, paid out by the contract's rules and exactly.

    Accounts are any hashable keys (addresses in the tests). `credited` is
    what the contract makes claimable (settled or not); `entitled` the exact
    pro rata amounts; `bound[account]` the units by which a holder may be
    short of its entitlement (the sum over batches of its earning units in
    batches that paid holders).
    """

    originator: str
    batches: list[Batch] = field(default_factory=list)
    # account -> batch number -> units bought in it
    units: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    credited: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    entitled: dict[str, Fraction] = field(default_factory=lambda: defaultdict(Fraction))
    bound: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    paid: int = 0
    _paid_holders: set[int] = field(default_factory=set)

    @classmethod
    def new(cls, originator: str, price: int, circulation: int) -> Ledger:
        """A product with its batch 1 open (no rebate)."""
        ledger = cls(originator=originator)
        _check_int(price, "price", 1, MAX_PRICE)
        _check_int(circulation, "circulation", 1, MAX_CIRCULATION)
        ledger.batches.append(Batch(price, circulation, 0, eligible_units=0))  # no rebate
        return ledger

    @property
    def current(self) -> int:
        """The current batch's number (from 1)."""
        return len(self.batches)

    @property
    def open_batch_buffer(self) -> int:
        """Holders' tokens waiting in the current batch's buffer."""
        return self.batches[-1].buffer

    def units_of(self, account: str) -> int:
        """Units the account holds over all batches."""
        return sum(self.units.get(account, {}).values())

    def earlier_units(self, account: str) -> int:
        """Units the account bought before the current batch (it may promote)."""
        return sum(u for b, u in self.units.get(account, {}).items() if b < self.current)

    def open_batch(self, price: int, circulation: int, rebate_bps: int,
                   promoter_share_bps: int = DEFAULT_PROMOTER_SHARE_BPS) -> int:
        """Open the next batch once the current one has ended, with its own rebate
        terms; returns its number."""
        if not self.batches[-1].ended:
            raise InvalidInput("the current batch is still open", field="batch")
        _check_int(price, "price", 1, MAX_PRICE)
        _check_int(circulation, "circulation", 1, MAX_CIRCULATION)
        _check_int(rebate_bps, "rebate_bps", 0, BPS)
        _check_int(promoter_share_bps, "promoter_share_bps", 0, BPS)
        eligible = sum(b.sold for b in self.batches)
        self.batches.append(Batch(price, circulation, rebate_bps, eligible_units=eligible,
                                  promoter_share_bps=promoter_share_bps))
        return self.current

    def close_batch(self) -> int:
        """End the current batch early; its buffer goes to the originator (returned)."""
        batch = self.batches[-1]
        if batch.ended:
            raise InvalidInput("the batch has already ended", field="batch")
        batch.closed = True
        return self._flush(batch)

    def purchase(self, buyer: str, quantity: int, promoter: str | None = None) -> SaleSplit:
        """Record a sale of the current batch and credit everyone it pays."""
        batch = self.batches[-1]
        if batch.closed:
            raise InvalidInput("the batch is closed", field="batch")
        _check_int(quantity, "quantity", 1, batch.circulation - batch.sold)
        if self.current > 1:
            if promoter is None or promoter == buyer or self.earlier_units(promoter) == 0:
                raise InvalidInput("a holder's link is required after batch 1", field="promoter")
        elif promoter is not None:
            raise InvalidInput("batch 1 sells without a link", field="promoter")
        split = sale_split(batch.price, quantity, batch.rebate_bps, batch.promoter_share_bps)
        self.paid += split.amount
        self._pay(self.originator, split.originator)
        if promoter is not None:
            self._pay(promoter, split.promoter)
        if split.holders:
            self._spread(batch, split.holders)
        batch.sold += quantity
        held = self.units[buyer]
        held[self.current] = held.get(self.current, 0) + quantity
        if batch.sold == batch.circulation:
            self._flush(batch)
        return split

    def _spread(self, batch: Batch, holders: int) -> None:
        # Integer: the accumulator's whole-unit step; exact: pro rata shares.
        pool = batch.buffer + holders
        per_unit = pool // batch.eligible_units
        batch.buffer = pool - per_unit * batch.eligible_units
        first_sale = self.current not in self._paid_holders
        self._paid_holders.add(self.current)
        for account, held in self.units.items():
            earning = sum(u for b, u in held.items() if b < self.current)
            if earning:
                self.credited[account] += earning * per_unit
                self.entitled[account] += Fraction(earning * holders, batch.eligible_units)
                if first_sale:
                    self.bound[account] += earning

    def _flush(self, batch: Batch) -> int:
        dust, batch.buffer = batch.buffer, 0
        self.credited[self.originator] += dust
        return dust

    def _pay(self, account: str, amount: int) -> None:
        # Originator and promoter parts are defined by the integer rules.
        self.credited[account] += amount
        self.entitled[account] += amount
