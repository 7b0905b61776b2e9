# pragma version ~=0.4.3
"""
@title Peer-to-peer batch sales with signed promotion links and rebates
@notice An originator merchant registers a product with its batch 1 price and
        circulation, then opens later batches (each with its own price,
        circulation and rebate ratio) once the current one is sold out or
        closed. Batch 1 sells directly. A purchase in batch i+1 goes through a
        promotion link signed (EIP-712) by a holder of batches 1..i; its
        rebate (`price * quantity * rebate_bps // 10_000`) pays the promoter a
        direct share (the batch's `promoter_share_bps` of the rebate, rounded
        down) and the rest to every unit of batches 1..i, pro rata per unit.
        The originator receives the payment less the rebate. Every party
        pulls its payout with `withdraw`.

        Rebate terms: the originator sets each batch's rebate ratio and
        promoter share when it opens the batch; both must lie within the
        platform's bounds (`max_rebate_bps`, `min_promoter_share_bps`..
        `max_promoter_share_bps`), which only the registry's platform account
        changes (`set_rebate_bounds`, event `RebateBoundsSet`). A batch's
        terms are recorded with it and never change while it is open (new
        bounds apply to batches opened later), so the batch a buyer saw fixes
        the terms its purchase lands under.

        ```
        referrals.register_product("Song", content_hash, price, 100)      # originator
        token.approve(referrals, price * 2)                              # buyer
        referrals.purchase(product_id, 2, 1, price, empty(address), 0, b"")       # batch 1
        referrals.open_batch(product_id, price2, 500, 1_000, 2_000)               # originator
        referrals.purchase(product_id, 1, 2, price2, promoter, expiry, signature) # via a link
        referrals.withdraw()                                              # each party
        ```

        Accounting (exact): the per-unit accumulator `reward_per_unit` counts
        whole token units. A sale adds the holders' part to the batch's
        `undistributed` buffer; the buffer is spread in whole units per
        eligible unit (`buffer // eligible_units`) and the remainder (fewer
        than `eligible_units` token units) stays in the buffer for the next
        sale of the batch. When the batch ends (last unit sold, or
        `close_batch`) the buffer left goes to the originator. So every
        token paid in is, at all times, exactly the sum of credited payouts,
        holders' unrealised accruals and the open batch's buffer; a holder
        with `u` eligible units is credited at most its exact pro rata share
        and less by under `u` token units per batch (that dust is the
        originator's). Units bought in batch i earn from batch i+1 on, never
        from batch i's own sales.
        A purchase carries what the buyer saw: the batch number and the
        highest unit price it accepts. If the originator closed the batch and
        opened another (at a higher price) before the purchase landed, the
        purchase is refused with a reason instead of charging the new price.

        Self-custodied buyers (issue 23) do not send transactions: each signs
        an EIP-712 purchase intent `Purchase(buyer, product, quantity, batch,
        max_price, promoter, nonce, expiry)` and an EIP-2612 permit of the
        token for exactly `quantity * max_price` to this contract, and any
        relayer (the platform's gateway, in group-committed batches) submits
        them with `purchase_signed_batch`. The contract checks the buyer's
        signature, the expiry and the one-time nonce, then the same bounds as
        `purchase` (batch, maximum price, the promoter's link).

        Migration (issue 23): a new contract carries the one it replaces over,
        reading it on chain (`begin_migration`, `import_products`,
        `import_holdings`,
        `finish_migration`). Each holder's pending rebates are settled into
        its credited balance as they are carried, so what it may withdraw is
        unchanged; `finish_migration` refuses until every product, batch, unit
        and token the predecessor owes is carried and the token holds the
        funds for it (`token.import_holder`).
@custom:security Links are recovered by snekmate's `ecdsa` (high-s refused);
                 only 65-byte (r, s, v) signatures are accepted. A link is
                 bound to product, promoter, expiry, chain id and this
                 contract (EIP-712 domain); it is meant to be reused by many
                 buyers until it expires, so it carries no nonce.
                 Relayed purchases: the relayer chooses nothing the buyer did
                 not sign (product, quantity, batch, price bound, promoter,
                 expiry); a nonce is used once per buyer. The payment is
                 bounded by the buyer's permit (`quantity * max_price`, until
                 the intent's expiry) rather than an unlimited approval: the
                 simplest sound design, because the token already implements
                 EIP-2612 (snekmate) and the buyer's key, which holds no gas,
                 signs it; a permit seen in the mempool and submitted alone
                 only sets the same bounded allowance, and the purchase then
                 uses that allowance without a second permit call.
"""

from ethereum.ercs import IERC20
from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator as eip712

from interfaces import IRegistry

initializes: eip712
exports: eip712.eip712Domain


ROLE_MERCHANT: constant(uint8) = 2
ROLE_CONSUMER: constant(uint8) = 4

BPS: constant(uint256) = 10_000
MAX_PRICE: constant(uint256) = 2**96 - 1
MAX_CIRCULATION: constant(uint256) = 2**64 - 1
# Products one account may hold units of: `withdraw` settles each of them.
MAX_HELD_PRODUCTS: constant(uint256) = 128

LINK_TYPEHASH: constant(bytes32) = keccak256(
    "Link(uint256 product,address promoter,uint256 expiry)"
)
PURCHASE_TYPEHASH: constant(bytes32) = keccak256(
    "Purchase(address buyer,uint256 product,uint256 quantity,uint256 batch,uint256 max_price,"
    "address promoter,uint256 nonce,uint256 expiry)"
)
# Relayed purchases per transaction: the gateway's largest group-commit batch
# (`Settings.batch_max`, 512 by default).
MAX_SIGNED_BATCH: constant(uint256) = 512


interface Predecessor:
    def token() -> address: view
    def product_count() -> uint256: view
    def product(product_id: uint256) -> Product: view
    def batch(product_id: uint256, batch_no: uint256) -> OldBatch: view
    def units_of(product_id: uint256, account: address) -> uint256: view
    def holds_earlier_batch(product_id: uint256, account: address) -> bool: view
    def claimable(account: address) -> uint256: view
    def direct_share_bps() -> uint256: view


# The token's EIP-2612 entry point (token.vy exports snekmate's `permit`).
interface IERC20Permit:
    def permit(
        owner: address,
        spender: address,
        amount: uint256,
        deadline: uint256,
        v: uint8,
        r: bytes32,
        s: bytes32,
    ): nonpayable


# What a migration reads from the contract it replaces: the views of the
# release at 1feec7f, whose `Batch` has no `promoter_share_bps` (it had one
# share for every batch, `direct_share_bps`).
struct OldBatch:
    price: uint256
    circulation: uint256
    rebate_bps: uint256
    sold: uint256
    closed: bool
    eligible_units: uint256
    reward_per_unit_at_open: uint256
    undistributed: uint256
    revenue: uint256
    rebates: uint256


# One holding to carry over: the units of `product_id` that `account` bought
# in the product's current batch (they earn only once a later batch opens).
struct HoldingImport:
    account: address
    product_id: uint256
    recent: uint256


struct Product:
    originator: address
    name: String[64]
    content_hash: bytes32
    batch_count: uint256
    units_sold: uint256
    reward_per_unit: uint256


struct Batch:
    price: uint256
    circulation: uint256
    rebate_bps: uint256
    sold: uint256
    closed: bool
    eligible_units: uint256
    reward_per_unit_at_open: uint256
    undistributed: uint256
    revenue: uint256
    rebates: uint256
    # The promoter's direct share of each rebate (the rest goes to earlier
    # units). Last member, so the members before it keep their slots.
    promoter_share_bps: uint256


# A holder's units of one product: `eligible` units earn from every sale;
# `recent` units were bought in batch `recent_batch` and earn only once a
# later batch opens. `checkpoint` is the accumulator value the eligible units
# were last settled at.
struct Holding:
    eligible: uint256
    recent: uint256
    recent_batch: uint256
    checkpoint: uint256


event ProductRegistered:
    product_id: indexed(uint256)
    originator: indexed(address)
    name: String[64]
    content_hash: bytes32
    price: uint256
    circulation: uint256

event BatchOpened:
    product_id: indexed(uint256)
    batch: indexed(uint256)
    price: uint256
    circulation: uint256
    rebate_bps: uint256
    eligible_units: uint256
    promoter_share_bps: uint256

event RebateBoundsSet:
    by: indexed(address)
    max_rebate_bps: uint256
    min_promoter_share_bps: uint256
    max_promoter_share_bps: uint256

event BatchClosed:
    product_id: indexed(uint256)
    batch: indexed(uint256)
    sold: uint256
    dust: uint256

event Purchased:
    product_id: indexed(uint256)
    buyer: indexed(address)
    promoter: indexed(address)
    batch: uint256
    quantity: uint256
    amount: uint256
    rebate: uint256
    promoter_amount: uint256
    holders_amount: uint256
    originator_amount: uint256
    reward_per_unit: uint256
    link_hash: bytes32

event IntentRelayed:
    buyer: indexed(address)
    relayer: indexed(address)
    nonce: uint256
    digest: bytes32

event Settled:
    product_id: indexed(uint256)
    account: indexed(address)
    amount: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256

event MigrationStarted:
    predecessor: indexed(address)

event MigrationFinished:
    predecessor: indexed(address)
    products: uint256
    holdings: uint256
    owed: uint256


registry: public(immutable(IRegistry))
token: public(immutable(IERC20))

# The platform's bounds on the terms an originator may give a new batch.
max_rebate_bps: public(uint256)
min_promoter_share_bps: public(uint256)
max_promoter_share_bps: public(uint256)

product_count: public(uint256)
_products: HashMap[uint256, Product]
_batches: HashMap[uint256, HashMap[uint256, Batch]]
_holdings: HashMap[uint256, HashMap[address, Holding]]
# Credited payouts (accruals realised); `claimable` adds what is pending.
_credited: HashMap[address, uint256]
# account => index => product id, for the products it holds units of
_held: HashMap[address, HashMap[uint256, uint256]]
held_count: public(HashMap[address, uint256])
# buyer => nonce >> 8 => bitmap of used purchase-intent nonces (after every
# earlier member, so their slots are unchanged)
_intent_nonces: HashMap[address, HashMap[uint256, uint256]]
# Migration (after every earlier member): the contract carried over, whether
# it is under way (no sale, batch or payout then), what the imported records
# promise and what was carried so far; `finish_migration` compares them.
predecessor: public(address)
migrating: public(bool)
_recent_imported: HashMap[uint256, uint256]
_credits_imported: HashMap[address, bool]
_migration_expected: uint256[3]  # units held, current-batch units, owed (token units)
_migration_carried: uint256[3]


@deploy
def __init__(
    registry_: IRegistry,
    token_: IERC20,
    max_rebate_bps_: uint256,
    min_promoter_share_bps_: uint256,
    max_promoter_share_bps_: uint256,
):
    """
    @dev Binds the participant registry and the settlement token, and sets
         the platform's first bounds on batch terms (event `RebateBoundsSet`).
    @param registry_ The participant registry (roles, the platform account).
    @param token_ The ERC-20 settlement token prices are paid in.
    @param max_rebate_bps_ Highest rebate ratio a batch may have (0 to 10,000 bps).
    @param min_promoter_share_bps_ Lowest promoter share of a rebate (bps).
    @param max_promoter_share_bps_ Highest promoter share of a rebate (min to 10,000 bps).
    """
    eip712.__init__("CouponChain Referrals", "1")
    registry = registry_
    token = token_
    self._set_bounds(max_rebate_bps_, min_promoter_share_bps_, max_promoter_share_bps_)


@external
def set_rebate_bounds(
    max_rebate_bps_: uint256, min_promoter_share_bps_: uint256, max_promoter_share_bps_: uint256
):
    """
    @dev Sets the bounds on the terms of batches opened from now on. Open
         batches keep the terms they were opened with.
    @param max_rebate_bps_ Highest rebate ratio (0 to 10,000 bps).
    @param min_promoter_share_bps_ Lowest promoter share of a rebate (bps).
    @param max_promoter_share_bps_ Highest promoter share (min to 10,000 bps).
    @custom:security The registry's platform account only.
    """
    assert staticcall registry.check_live(self, msg.sender)  # the registry reverts with its reason
    self._check_platform()
    self._set_bounds(max_rebate_bps_, min_promoter_share_bps_, max_promoter_share_bps_)


@external
def register_product(
    name: String[64], content_hash: bytes32, price: uint256, circulation: uint256
) -> uint256:
    """
    @dev Registers a product of the calling merchant and opens its batch 1
         (no rebate: it sells without links).
    @param name The product's name (1 to 64 bytes).
    @param content_hash keccak256 of the product's content or patent record.
    @param price Batch 1 unit price in token units (1 to 2**96 - 1).
    @param circulation Batch 1 units for sale (1 to 2**64 - 1).
    @return uint256 The new product's id (from 1).
    """
    assert staticcall registry.check_live(self, msg.sender)  # the registry reverts with its reason
    assert staticcall registry.role_of(msg.sender) == ROLE_MERCHANT, (
        "referrals: caller is not a merchant"
    )
    assert not self.migrating, "referrals: migration in progress"
    assert len(name) != 0, "referrals: empty name"
    self._check_terms(price, circulation)
    product_id: uint256 = self.product_count + 1
    self.product_count = product_id
    self._products[product_id] = Product(
        originator=msg.sender,
        name=name,
        content_hash=content_hash,
        batch_count=1,
        units_sold=0,
        reward_per_unit=0,
    )
    self._batches[product_id][1] = Batch(
        price=price,
        circulation=circulation,
        rebate_bps=0,
        sold=0,
        closed=False,
        eligible_units=0,
        reward_per_unit_at_open=0,
        undistributed=0,
        revenue=0,
        rebates=0,
        promoter_share_bps=0,
    )
    log ProductRegistered(
        product_id=product_id,
        originator=msg.sender,
        name=name,
        content_hash=content_hash,
        price=price,
        circulation=circulation,
    )
    log BatchOpened(
        product_id=product_id,
        batch=1,
        price=price,
        circulation=circulation,
        rebate_bps=0,
        eligible_units=0,
        promoter_share_bps=0,
    )
    return product_id


@external
def open_batch(
    product_id: uint256,
    price: uint256,
    circulation: uint256,
    rebate_bps: uint256,
    promoter_share_bps: uint256,
) -> uint256:
    """
    @dev Opens the product's next batch with the originator's rebate terms.
         Its rebates go to the promoter (its share) and to every unit sold in
         the batches before it (the rest).
    @param product_id A product of the caller whose current batch is sold
           out or closed.
    @param price Unit price in token units (1 to 2**96 - 1).
    @param circulation Units for sale (1 to 2**64 - 1).
    @param rebate_bps Rebate ratio of each sale, at most `max_rebate_bps`.
    @param promoter_share_bps The promoter's direct share of each rebate,
           from `min_promoter_share_bps` to `max_promoter_share_bps`.
    @return uint256 The new batch's number (from 2).
    @custom:security The terms are fixed for the batch's life: a buyer's
                     `seen_batch` pins them.
    """
    assert staticcall registry.check_live(self, msg.sender)  # the registry reverts with its reason
    self._check_originator(product_id)
    current: uint256 = self._products[product_id].batch_count
    assert self._ended(product_id, current), "referrals: current batch still open"
    self._check_terms(price, circulation)
    assert rebate_bps <= self.max_rebate_bps, "referrals: rebate above the platform cap"
    assert promoter_share_bps >= self.min_promoter_share_bps, (
        "referrals: promoter share below the platform minimum"
    )
    assert promoter_share_bps <= self.max_promoter_share_bps, (
        "referrals: promoter share above the platform maximum"
    )
    batch: uint256 = current + 1
    eligible: uint256 = self._products[product_id].units_sold
    self._products[product_id].batch_count = batch
    self._batches[product_id][batch] = Batch(
        price=price,
        circulation=circulation,
        rebate_bps=rebate_bps,
        sold=0,
        closed=False,
        eligible_units=eligible,
        reward_per_unit_at_open=self._products[product_id].reward_per_unit,
        undistributed=0,
        revenue=0,
        rebates=0,
        promoter_share_bps=promoter_share_bps,
    )
    log BatchOpened(
        product_id=product_id,
        batch=batch,
        price=price,
        circulation=circulation,
        rebate_bps=rebate_bps,
        eligible_units=eligible,
        promoter_share_bps=promoter_share_bps,
    )
    return batch


@external
def close_batch(product_id: uint256):
    """
    @dev Ends the current batch before it sells out; its undistributed
         rebate dust goes to the originator.
    @param product_id A product of the caller whose current batch is open and
           not sold out.
    """
    assert staticcall registry.check_live(self, msg.sender)  # the registry reverts with its reason
    originator: address = self._check_originator(product_id)
    batch: uint256 = self._products[product_id].batch_count
    assert not self._ended(product_id, batch), "referrals: batch already ended"
    self._batches[product_id][batch].closed = True
    dust: uint256 = self._flush(product_id, batch, originator)
    log BatchClosed(
        product_id=product_id,
        batch=batch,
        sold=self._batches[product_id][batch].sold,
        dust=dust,
    )


@external
@nonreentrant
def purchase(
    product_id: uint256,
    quantity: uint256,
    seen_batch: uint256,
    max_price: uint256,
    promoter: address,
    expiry: uint256,
    signature: Bytes[65],
) -> uint256:
    """
    @dev Buys `quantity` units of the product's current batch at its price,
         paid with `transferFrom` (the caller approved this contract). In
         batch 1 there is no link: `promoter` is empty(address), `signature`
         empty. From batch 2 on the purchase needs the promoter's link.
    @param product_id A registered product.
    @param quantity Units to buy, at most what the batch has left.
    @param seen_batch The batch the buyer saw: must still be the current one.
    @param max_price The highest unit price the buyer accepts (the price it
           saw); the batch's price must not be above it.
    @param promoter The link's signer: holds units of an earlier batch and is
           not the caller.
    @param expiry The link's expiry (epoch seconds, not past).
    @param signature The promoter's 65-byte EIP-712 signature of
           Link(product, promoter, expiry).
    @return uint256 The amount paid.
    @custom:security Gas does not depend on the number of holders. The
                     promotion record is the `Purchased` event of this same
                     transaction. State is written before the token call.
    """
    return self._purchase(
        msg.sender, product_id, quantity, seen_batch, max_price, promoter, expiry, signature
    )


@external
@nonreentrant
def purchase_signed_batch(
    buyers: DynArray[address, MAX_SIGNED_BATCH],
    product_ids: DynArray[uint256, MAX_SIGNED_BATCH],
    quantities: DynArray[uint256, MAX_SIGNED_BATCH],
    seen_batches: DynArray[uint256, MAX_SIGNED_BATCH],
    max_prices: DynArray[uint256, MAX_SIGNED_BATCH],
    promoters: DynArray[address, MAX_SIGNED_BATCH],
    link_expiries: DynArray[uint256, MAX_SIGNED_BATCH],
    link_signatures: DynArray[Bytes[65], MAX_SIGNED_BATCH],
    nonces: DynArray[uint256, MAX_SIGNED_BATCH],
    expiries: DynArray[uint256, MAX_SIGNED_BATCH],
    signatures: DynArray[Bytes[65], MAX_SIGNED_BATCH],
    permits: DynArray[Bytes[65], MAX_SIGNED_BATCH],
) -> uint256:
    """
    @dev Relays purchases that self-custodied buyers signed, all or nothing:
         each item is `purchase` for `buyers[i]`, authorised by the buyer's
         EIP-712 intent and paid through the buyer's EIP-2612 permit.
    @param buyers The buyers (registered consumers), one per item.
    @param product_ids The products, as signed.
    @param quantities Units to buy, as signed.
    @param seen_batches The batch each buyer saw, as signed.
    @param max_prices The highest unit price each buyer accepts, as signed.
    @param promoters The link's promoter, as signed (empty(address) in batch 1).
    @param link_expiries The promotion links' expiries (0 in batch 1).
    @param link_signatures The promoters' link signatures (empty in batch 1).
    @param nonces The intents' nonces, each used once per buyer.
    @param expiries The intents' expiries (epoch seconds, not past); also
           the permits' deadlines.
    @param signatures The buyers' 65-byte EIP-712 signatures of
           Purchase(buyer, product, quantity, batch, max_price, promoter,
           nonce, expiry).
    @param permits The buyers' 65-byte (r, s, v) EIP-2612 signatures of a
           permit of `quantity * max_price` to this contract until `expiry`
           at the buyer's current token nonce; empty when the buyer's
           allowance already covers it.
    @return uint256 The total paid.
    @custom:security Anyone may relay: the buyer's signature binds every
                     term. The nonce is spent before any token call.
    """
    assert staticcall registry.check_live(self, msg.sender)  # the registry reverts with its reason
    n: uint256 = len(buyers)
    assert n != 0, "referrals: empty batch"
    assert len(product_ids) == n, "referrals: product ids length mismatch"
    assert len(quantities) == n, "referrals: quantities length mismatch"
    assert len(seen_batches) == n, "referrals: seen batches length mismatch"
    assert len(max_prices) == n, "referrals: max prices length mismatch"
    assert len(promoters) == n, "referrals: promoters length mismatch"
    assert len(link_expiries) == n, "referrals: link expiries length mismatch"
    assert len(link_signatures) == n, "referrals: link signatures length mismatch"
    assert len(nonces) == n, "referrals: nonces length mismatch"
    assert len(expiries) == n, "referrals: expiries length mismatch"
    assert len(signatures) == n, "referrals: signatures length mismatch"
    assert len(permits) == n, "referrals: permits length mismatch"
    total: uint256 = 0
    for i: uint256 in range(n, bound=MAX_SIGNED_BATCH):
        buyer: address = buyers[i]
        self._check_intent(
            buyer,
            product_ids[i],
            quantities[i],
            seen_batches[i],
            max_prices[i],
            promoters[i],
            nonces[i],
            expiries[i],
            signatures[i],
        )
        self._take_permit(buyer, quantities[i] * max_prices[i], expiries[i], permits[i])
        # Each amount is below 2**160 and there are at most 512: no overflow.
        total += self._purchase(
            buyer,
            product_ids[i],
            quantities[i],
            seen_batches[i],
            max_prices[i],
            promoters[i],
            link_expiries[i],
            link_signatures[i],
        )
    return total


@internal
def _purchase(
    buyer: address,
    product_id: uint256,
    quantity: uint256,
    seen_batch: uint256,
    max_price: uint256,
    promoter: address,
    expiry: uint256,
    signature: Bytes[65],
) -> uint256:
    assert staticcall registry.check_live(self, buyer)  # the registry reverts with its reason
    assert staticcall registry.role_of(buyer) == ROLE_CONSUMER, (
        "referrals: caller is not a consumer"
    )
    self._check_product(product_id)
    assert quantity != 0, "referrals: zero quantity"
    batch_no: uint256 = self._products[product_id].batch_count
    batch: Batch = self._batches[product_id][batch_no]
    # The buyer's bounds first: a batch closed and reopened since the buyer
    # looked is refused as "changed", never charged at its new price or
    # under its new rebate terms (a batch's terms never change).
    assert seen_batch == batch_no, "referrals: batch changed since the buyer saw it"
    assert batch.price <= max_price, "referrals: price above the buyer's maximum"
    assert not batch.closed, "referrals: batch closed"
    assert batch.sold < batch.circulation, "referrals: batch sold out"
    # sold < circulation: no underflow.
    assert quantity <= batch.circulation - batch.sold, "referrals: not enough units left"

    link_hash: bytes32 = empty(bytes32)
    if batch_no == 1:
        assert promoter == empty(address), "referrals: batch 1 sells without a link"
        assert len(signature) == 0, "referrals: batch 1 sells without a link"
    else:
        link_hash = self._check_link(buyer, product_id, batch_no, promoter, expiry, signature)

    # price < 2**96 and quantity < 2**64: amount < 2**160, and
    # amount * rebate_bps and rebate * promoter_share_bps (both <= 10**4)
    # cannot overflow.
    amount: uint256 = batch.price * quantity
    rebate: uint256 = amount * batch.rebate_bps // BPS
    promoter_amount: uint256 = rebate * batch.promoter_share_bps // BPS
    holders_amount: uint256 = rebate - promoter_amount
    originator: address = self._products[product_id].originator
    originator_amount: uint256 = amount - rebate

    self._settle(product_id, buyer)
    reward_per_unit: uint256 = self._products[product_id].reward_per_unit
    if holders_amount != 0:
        # batch >= 2 and the promoter holds earlier units: eligible_units >= 1.
        buffer: uint256 = batch.undistributed + holders_amount
        per_unit: uint256 = buffer // batch.eligible_units
        reward_per_unit += per_unit
        self._products[product_id].reward_per_unit = reward_per_unit
        batch.undistributed = buffer - per_unit * batch.eligible_units
    batch.sold += quantity
    batch.revenue += amount
    batch.rebates += rebate
    if batch.sold == batch.circulation:
        # The batch sells out: the buffer left cannot reach its holders.
        originator_amount += batch.undistributed
        batch.undistributed = 0
    self._batches[product_id][batch_no] = batch
    self._products[product_id].units_sold += quantity
    self._add_units(product_id, buyer, batch_no, quantity)
    self._credit(originator, originator_amount)
    self._credit(promoter, promoter_amount)

    log Purchased(
        product_id=product_id,
        buyer=buyer,
        promoter=promoter,
        batch=batch_no,
        quantity=quantity,
        amount=amount,
        rebate=rebate,
        promoter_amount=promoter_amount,
        holders_amount=holders_amount,
        originator_amount=originator_amount,
        reward_per_unit=reward_per_unit,
        link_hash=link_hash,
    )
    assert extcall token.transferFrom(buyer, self, amount, default_return_value=True), (
        "referrals: payment transfer failed"
    )
    return amount


@external
def settle(product_id: uint256, account: address) -> uint256:
    """
    @dev Credits an account's pending rebates from one product (anyone may
         call; `withdraw` does it for every product the caller holds).
    @param product_id A registered product.
    @param account Any account.
    @return uint256 The amount credited.
    """
    self._check_product(product_id)
    return self._settle(product_id, account)


@external
@nonreentrant
def withdraw() -> uint256:
    """
    @dev Settles every product the caller holds units of, then pays it
         everything credited to it.
    @return uint256 The amount paid.
    @custom:security Checks-effects-interactions: the credit is zeroed before
                     the token transfer. Bounded: at most 128 products.
    """
    assert not self.migrating, "referrals: migration in progress"
    for i: uint256 in range(self.held_count[msg.sender], bound=MAX_HELD_PRODUCTS):
        self._settle(self._held[msg.sender][i], msg.sender)
    amount: uint256 = self._credited[msg.sender]
    assert amount != 0, "referrals: nothing to withdraw"
    self._credited[msg.sender] = 0
    log Withdrawn(account=msg.sender, amount=amount)
    assert extcall token.transfer(msg.sender, amount, default_return_value=True), (
        "referrals: payout transfer failed"
    )
    return amount


@view
@external
def claimable(account: address) -> uint256:
    """
    @dev What `withdraw` would pay the account now.
    @param account Any account.
    @return uint256 Credited payouts plus pending rebates of held products.
    """
    total: uint256 = self._credited[account]
    for i: uint256 in range(self.held_count[account], bound=MAX_HELD_PRODUCTS):
        total += self._pending(self._held[account][i], account)
    return total


@view
@external
def pending(product_id: uint256, account: address) -> uint256:
    """
    @dev Rebates the account earned from one product and has not settled.
    @param product_id The product.
    @param account The account.
    @return uint256 Token units.
    """
    return self._pending(product_id, account)


@view
@external
def product(product_id: uint256) -> Product:
    """
    @dev A product's record (all zero for an unknown id).
    @param product_id The product.
    @return Product Originator, name, content hash, current batch number,
            units sold over all batches and the per-unit accumulator.
    """
    return self._products[product_id]


@view
@external
def batch(product_id: uint256, batch_no: uint256) -> Batch:
    """
    @dev One batch of a product (all zero for a batch not opened).
    @param product_id The product.
    @param batch_no The batch number (from 1).
    @return Batch Price, circulation, rebate ratio, units sold, whether it
            was closed, units earning from it, the accumulator when it
            opened, its undistributed buffer, revenue, rebates and the
            promoter's share of each rebate.
    """
    return self._batches[product_id][batch_no]


@view
@external
def units_of(product_id: uint256, account: address) -> uint256:
    """
    @dev Units of a product the account holds (all batches).
    @param product_id The product.
    @param account The account.
    @return uint256 Units.
    """
    holding: Holding = self._holdings[product_id][account]
    return holding.eligible + holding.recent


@view
@external
def holds_earlier_batch(product_id: uint256, account: address) -> bool:
    """
    @dev Whether the account may promote the current batch: it holds units
         of a batch before it.
    @param product_id The product.
    @param account The account.
    @return bool True if the account holds units bought before the current batch.
    """
    return self._earlier_units(product_id, account) != 0


@view
@external
def link_digest(product_id: uint256, promoter: address, expiry: uint256) -> bytes32:
    """
    @dev The EIP-712 digest a promoter signs for a promotion link.
    @param product_id The product.
    @param promoter The promoter.
    @param expiry The link's expiry (epoch seconds).
    @return bytes32 keccak256(0x1901 || domainSeparator || hashStruct(Link)).
    """
    return self._link_digest(product_id, promoter, expiry)


@view
@external
def intent_nonce_used(buyer: address, nonce: uint256) -> bool:
    """
    @dev Whether a buyer's purchase-intent nonce was used.
    @param buyer The buyer.
    @param nonce The intent's nonce.
    @return bool True once a purchase with this nonce was relayed.
    """
    return self._intent_nonces[buyer][nonce >> 8] & (1 << (nonce & 255)) != 0


@view
@external
def purchase_digest(
    buyer: address,
    product_id: uint256,
    quantity: uint256,
    seen_batch: uint256,
    max_price: uint256,
    promoter: address,
    nonce: uint256,
    expiry: uint256,
) -> bytes32:
    """
    @dev The EIP-712 digest a buyer signs for a relayed purchase.
    @param buyer The buyer.
    @param product_id The product.
    @param quantity Units.
    @param seen_batch The batch the buyer saw.
    @param max_price The highest unit price the buyer accepts.
    @param promoter The link's promoter (empty(address) in batch 1).
    @param nonce The intent's nonce.
    @param expiry The intent's expiry.
    @return bytes32 keccak256(0x1901 || domainSeparator || hashStruct(Purchase)).
    """
    return self._purchase_digest(
        buyer, product_id, quantity, seen_batch, max_price, promoter, nonce, expiry
    )


@view
@external
def domain_separator() -> bytes32:
    """
    @dev The EIP-712 domain separator ("CouponChain Referrals", "1", chain id,
         this contract).
    @return bytes32 The domain separator for the current chain.
    """
    return eip712._domain_separator_v4()


# --- migration -----------------------------------------------------------------------------

U: constant(uint256) = 0  # _migration_* index: units held
R: constant(uint256) = 1  # units of current batches (recent)
O: constant(uint256) = 2  # tokens owed: credited, pending and undistributed


@external
def begin_migration(predecessor_: address):
    """
    @dev Starts carrying products, batches, holdings and payouts over from
         the contract this one replaces: by the platform, on a contract with
         no product yet, once. Sales, batches and payouts wait until it
         finishes. Emits `MigrationStarted`.
    @param predecessor_ The referrals contract being replaced.
    @custom:security Every figure is read from the predecessor; the platform
                     chooses only the order and, per holding, how many units
                     are of the current batch, which is checked (see
                     `import_holdings`).
    """
    self._check_platform()
    assert predecessor_ != empty(address), "referrals: zero predecessor"
    assert self.product_count == 0 and self.predecessor == empty(address), (
        "referrals: contract in use"
    )
    self.predecessor = predecessor_
    self.migrating = True
    # What the predecessor owes in all is what it holds of its token.
    self._migration_expected[O] = staticcall IERC20(
        staticcall Predecessor(predecessor_).token()
    ).balanceOf(predecessor_)
    log MigrationStarted(predecessor=predecessor_)


@external
def import_products(count: uint256):
    """
    @dev Carries the predecessor's next `count` products over, in id order,
         each with all its batches, as they are there now (accumulator,
         counters, terms and undistributed buffers).
    @param count How many products, 1 to 16.
    @custom:security A product with more than 32 batches cannot be carried
                     (the release at 1feec7f has none: each batch needs the
                     last one sold out or closed).
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    first: uint256 = self.product_count + 1
    assert count != 0 and first + count - 1 <= staticcall old.product_count(), (
        "referrals: no such products"
    )
    for i: uint256 in range(count, bound=16):
        product_id: uint256 = first + i
        p: Product = staticcall old.product(product_id)
        assert p.batch_count <= 32, "referrals: too many batches"
        self._products[product_id] = p
        self._migration_expected[U] += p.units_sold
        for n: uint256 in range(1, p.batch_count + 1, bound=33):
            b: OldBatch = staticcall old.batch(product_id, n)
            self._batches[product_id][n] = Batch(
                price=b.price,
                circulation=b.circulation,
                rebate_bps=b.rebate_bps,
                sold=b.sold,
                closed=b.closed,
                eligible_units=b.eligible_units,
                reward_per_unit_at_open=b.reward_per_unit_at_open,
                undistributed=b.undistributed,
                revenue=b.revenue,
                rebates=b.rebates,
                promoter_share_bps=self._old_share(product_id, n),
            )
            self._migration_carried[O] += b.undistributed
        # Every unit of the current batch is a current-batch unit of its buyer.
        self._migration_expected[R] += self._batches[product_id][p.batch_count].sold
    self.product_count = first + count - 1


@external
def import_holdings(holdings: DynArray[HoldingImport, MAX_SIGNED_BATCH]):
    """
    @dev Carries holdings over: the units are read from the predecessor, the
         pending rebates settled into the holder's credited balance (with its
         earlier credits, read as `claimable` at its first holding), so the
         holding earns on from the product's accumulator as it is now.
    @param holdings (account, product, units of the current batch) each once;
           every product the account holds in the predecessor; product 0
           (and no units) carries an account's credits only, for accounts
           that hold no units (originators' payments, promoters' shares).
    @custom:security The current-batch units are checked against what the
                     predecessor shows: all units for a holder of no earlier
                     batch, fewer than all otherwise, and per product at most
                     (at the finish, exactly) the current batch's sales.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    for h: HoldingImport in holdings:
        p: uint256 = h.product_id
        if p == 0:
            # What it is owed by an account that holds no units: originators'
            # payments, promoters' shares (a holder's credits come with its
            # first holding; either reads its `claimable` once).
            assert not self._credits_imported[h.account], "referrals: already carried"
            self._import_credit(h.account)
            continue
        assert p <= self.product_count, "referrals: unknown product"
        current: uint256 = self._products[p].batch_count
        held: Holding = self._holdings[p][h.account]
        assert held.eligible == 0 and held.recent == 0, "referrals: already carried"
        units: uint256 = staticcall old.units_of(p, h.account)
        assert units != 0, "referrals: no units held"
        # A holder of no earlier batch holds current-batch units only.
        earlier: bool = staticcall old.holds_earlier_batch(p, h.account)
        assert h.recent < units if earlier else h.recent == units, "referrals: wrong recent units"
        self._recent_imported[p] += h.recent
        assert self._recent_imported[p] <= self._batches[p][current].sold, (
            "referrals: wrong recent units"
        )
        recent_batch: uint256 = 0
        if h.recent != 0:
            recent_batch = current
        self._holdings[p][h.account] = Holding(
            eligible=units - h.recent,
            recent=h.recent,
            recent_batch=recent_batch,
            checkpoint=self._products[p].reward_per_unit,
        )
        # Each (product, account) once, each with units: the account's held
        # products are the predecessor's.
        count: uint256 = self.held_count[h.account]
        self._held[h.account][count] = p
        self.held_count[h.account] = count + 1
        if not self._credits_imported[h.account]:
            self._import_credit(h.account)
        self._migration_carried[U] += units
        self._migration_carried[R] += h.recent


@external
def finish_migration():
    """
    @dev Ends the migration for good once every product, batch and unit is
         carried, what was carried owes exactly what the predecessor held of
         its token, and this contract holds that much of its own token.
         Emits `MigrationFinished`.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    assert self.product_count == staticcall old.product_count(), (
        "referrals: state left to carry"
    )
    for k: uint256 in range(3):
        assert self._migration_carried[k] == self._migration_expected[k], (
            "referrals: state left to carry"
        )
    owed: uint256 = self._migration_expected[O]
    assert staticcall token.balanceOf(self) >= owed, "referrals: funds not carried"
    self.migrating = False
    log MigrationFinished(
        predecessor=self.predecessor,
        products=self.product_count,
        holdings=self._migration_carried[U],
        owed=owed,
    )


@internal
def _import_credit(account: address):
    # `claimable` is the credited balance plus the pending rebates of every
    # held product; the pending part is settled here (the holdings restart
    # from the accumulator as it is now).
    amount: uint256 = staticcall Predecessor(self.predecessor).claimable(account)
    self._credits_imported[account] = True
    self._credited[account] += amount
    self._migration_carried[O] += amount


@view
@internal
def _old_share(product_id: uint256, batch_no: uint256) -> uint256:
    # A predecessor of this release returns the batch's own promoter share as
    # an eleventh word; the release at 1feec7f had one share for all batches.
    if batch_no == 1:
        return 0
    ok: bool = False
    reply: Bytes[352] = b""
    ok, reply = raw_call(
        self.predecessor,
        abi_encode(product_id, batch_no, method_id=method_id("batch(uint256,uint256)")),
        max_outsize=352,
        is_static_call=True,
        revert_on_failure=False,
    )
    if ok and len(reply) == 352:
        return convert(slice(reply, 320, 32), uint256)
    return staticcall Predecessor(self.predecessor).direct_share_bps()


@view
@internal
def _check_platform():
    assert msg.sender == staticcall registry.platform(), "referrals: caller is not the platform"


@view
@internal
def _check_migrator():
    self._check_platform()
    assert self.migrating, "referrals: no migration in progress"


@internal
def _check_link(
    buyer: address,
    product_id: uint256,
    batch_no: uint256,
    promoter: address,
    expiry: uint256,
    signature: Bytes[65],
) -> bytes32:
    assert promoter != empty(address), "referrals: link required after batch 1"
    assert promoter != buyer, "referrals: self-referral"
    assert expiry >= block.timestamp, "referrals: link expired"
    # The 64-byte EIP-2098 form is refused so one link has one encoding.
    assert len(signature) == 65, "referrals: signature must be 65 bytes"
    digest: bytes32 = self._link_digest(product_id, promoter, expiry)
    assert ecdsa._recover_sig(digest, signature) == promoter, (
        "referrals: link not signed by the promoter"
    )
    assert self._earlier_units(product_id, promoter) != 0, (
        "referrals: promoter holds no earlier units"
    )
    return digest


@internal
def _check_intent(
    buyer: address,
    product_id: uint256,
    quantity: uint256,
    seen_batch: uint256,
    max_price: uint256,
    promoter: address,
    nonce: uint256,
    expiry: uint256,
    signature: Bytes[65],
):
    assert expiry >= block.timestamp, "referrals: intent expired"
    # The 64-byte EIP-2098 form is refused so one intent has one encoding.
    assert len(signature) == 65, "referrals: signature must be 65 bytes"
    digest: bytes32 = self._purchase_digest(
        buyer, product_id, quantity, seen_batch, max_price, promoter, nonce, expiry
    )
    assert buyer != empty(address) and ecdsa._recover_sig(digest, signature) == buyer, (
        "referrals: intent not signed by the buyer"
    )
    word: uint256 = nonce >> 8
    bit: uint256 = 1 << (nonce & 255)
    used: uint256 = self._intent_nonces[buyer][word]
    assert used & bit == 0, "referrals: intent nonce already used"
    self._intent_nonces[buyer][word] = used | bit
    log IntentRelayed(buyer=buyer, relayer=msg.sender, nonce=nonce, digest=digest)


@internal
def _take_permit(buyer: address, amount: uint256, deadline: uint256, permit: Bytes[65]):
    # A permit already submitted by someone else (it is public once signed)
    # left the same allowance: use it rather than fail on a spent nonce.
    if staticcall token.allowance(buyer, self) >= amount:
        return
    assert len(permit) == 65, "referrals: permit must be 65 bytes"
    r: bytes32 = extract32(permit, 0)
    s: bytes32 = extract32(permit, 32)
    v: uint8 = convert(convert(slice(permit, 64, 1), bytes1), uint8)
    extcall IERC20Permit(token.address).permit(buyer, self, amount, deadline, v, r, s)


@internal
def _settle(product_id: uint256, account: address) -> uint256:
    holding: Holding = self._holdings[product_id][account]
    reward_per_unit: uint256 = self._products[product_id].reward_per_unit
    owed: uint256 = self._owed(product_id, holding, reward_per_unit)
    if holding.recent != 0 and holding.recent_batch < self._products[product_id].batch_count:
        holding.eligible += holding.recent
        holding.recent = 0
        holding.recent_batch = 0
    holding.checkpoint = reward_per_unit
    self._holdings[product_id][account] = holding
    if owed != 0:
        self._credited[account] += owed
        log Settled(product_id=product_id, account=account, amount=owed)
    return owed


@internal
def _add_units(product_id: uint256, account: address, batch_no: uint256, quantity: uint256):
    # Called right after `_settle`: any recent units are of this batch.
    holding: Holding = self._holdings[product_id][account]
    if holding.eligible == 0 and holding.recent == 0:
        count: uint256 = self.held_count[account]
        assert count < MAX_HELD_PRODUCTS, "referrals: buyer holds 128 products already"
        self._held[account][count] = product_id
        self.held_count[account] = count + 1
    holding.recent += quantity
    holding.recent_batch = batch_no
    self._holdings[product_id][account] = holding


@internal
def _flush(product_id: uint256, batch_no: uint256, originator: address) -> uint256:
    dust: uint256 = self._batches[product_id][batch_no].undistributed
    if dust != 0:
        self._batches[product_id][batch_no].undistributed = 0
        self._credit(originator, dust)
    return dust


@internal
def _credit(account: address, amount: uint256):
    if amount != 0:
        self._credited[account] += amount


@internal
def _check_originator(product_id: uint256) -> address:
    self._check_product(product_id)
    originator: address = self._products[product_id].originator
    assert msg.sender == originator, "referrals: caller is not the originator"
    return originator


@view
@internal
def _check_product(product_id: uint256):
    assert not self.migrating, "referrals: migration in progress"
    assert product_id != 0 and product_id <= self.product_count, "referrals: unknown product"


@view
@internal
def _ended(product_id: uint256, batch_no: uint256) -> bool:
    batch: Batch = self._batches[product_id][batch_no]
    return batch.closed or batch.sold == batch.circulation


@view
@internal
def _pending(product_id: uint256, account: address) -> uint256:
    return self._owed(
        product_id,
        self._holdings[product_id][account],
        self._products[product_id].reward_per_unit,
    )


@view
@internal
def _owed(product_id: uint256, holding: Holding, reward_per_unit: uint256) -> uint256:
    # The accumulator only grows; `checkpoint` is a past value of it, and a
    # later batch's opening value is at least any value from batch
    # `recent_batch` (when the recent units were last settled): no underflow.
    # A holder's earning units never exceed a batch's `eligible_units`, so
    # units * step <= the buffer spread by that step: the products stay below
    # the tokens ever paid in.
    owed: uint256 = holding.eligible * (reward_per_unit - holding.checkpoint)
    if holding.recent != 0 and holding.recent_batch < self._products[product_id].batch_count:
        opened_at: uint256 = self._batches[product_id][
            holding.recent_batch + 1
        ].reward_per_unit_at_open
        owed += holding.recent * (reward_per_unit - opened_at)
    return owed


@view
@internal
def _earlier_units(product_id: uint256, account: address) -> uint256:
    holding: Holding = self._holdings[product_id][account]
    if holding.recent_batch < self._products[product_id].batch_count:
        return holding.eligible + holding.recent
    return holding.eligible


@view
@internal
def _link_digest(product_id: uint256, promoter: address, expiry: uint256) -> bytes32:
    return eip712._hash_typed_data_v4(
        keccak256(abi_encode(LINK_TYPEHASH, product_id, promoter, expiry))
    )


@view
@internal
def _purchase_digest(
    buyer: address,
    product_id: uint256,
    quantity: uint256,
    seen_batch: uint256,
    max_price: uint256,
    promoter: address,
    nonce: uint256,
    expiry: uint256,
) -> bytes32:
    return eip712._hash_typed_data_v4(
        keccak256(
            abi_encode(
                PURCHASE_TYPEHASH,
                buyer,
                product_id,
                quantity,
                seen_batch,
                max_price,
                promoter,
                nonce,
                expiry,
            )
        )
    )


@internal
def _set_bounds(max_rebate: uint256, min_share: uint256, max_share: uint256):
    assert max_rebate <= BPS, "referrals: rebate cap above 10000 bps"
    assert max_share <= BPS, "referrals: promoter share cap above 10000 bps"
    assert min_share <= max_share, "referrals: promoter share minimum above its maximum"
    self.max_rebate_bps = max_rebate
    self.min_promoter_share_bps = min_share
    self.max_promoter_share_bps = max_share
    log RebateBoundsSet(
        by=msg.sender,
        max_rebate_bps=max_rebate,
        min_promoter_share_bps=min_share,
        max_promoter_share_bps=max_share,
    )


@pure
@internal
def _check_terms(price: uint256, circulation: uint256):
    assert price != 0, "referrals: zero price"
    assert price <= MAX_PRICE, "referrals: price too large"
    assert circulation != 0, "referrals: zero circulation"
    assert circulation <= MAX_CIRCULATION, "referrals: circulation too large"
