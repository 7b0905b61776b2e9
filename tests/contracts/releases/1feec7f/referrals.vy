# pragma version ~=0.4.3
"""
@title Peer-to-peer batch sales with signed promotion links and rebates
@notice An originator merchant registers a product with its batch 1 price and
        circulation, then opens later batches (each with its own price,
        circulation and rebate ratio) once the current one is sold out or
        closed. Batch 1 sells directly. A purchase in batch i+1 goes through a
        promotion link signed (EIP-712) by a holder of batches 1..i; its
        rebate (`price * quantity * rebate_bps // 10_000`) pays the promoter a
        direct share (`DIRECT_SHARE_BPS` of the rebate, rounded down) and the
        rest to every unit of batches 1..i, pro rata per unit. The originator
        receives the payment less the rebate. Every party pulls its payout
        with `withdraw`.

        ```
        referrals.register_product("Song", content_hash, price, 100)      # originator
        token.approve(referrals, price * 2)                              # buyer
        referrals.purchase(product_id, 2, empty(address), 0, b"")         # batch 1
        referrals.open_batch(product_id, price2, 500, 1_000)              # originator
        referrals.purchase(product_id, 1, promoter, expiry, signature)    # batch 2, via a link
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
@custom:security Links are recovered by snekmate's `ecdsa` (high-s refused);
                 only 65-byte (r, s, v) signatures are accepted. A link is
                 bound to product, promoter, expiry, chain id and this
                 contract (EIP-712 domain); it is meant to be reused by many
                 buyers until it expires, so it carries no nonce.
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
# The promoter's direct share of each rebate; the rest goes to earlier units.
DIRECT_SHARE_BPS: constant(uint256) = 2_000
MAX_PRICE: constant(uint256) = 2**96 - 1
MAX_CIRCULATION: constant(uint256) = 2**64 - 1
# Products one account may hold units of: `withdraw` settles each of them.
MAX_HELD_PRODUCTS: constant(uint256) = 128

LINK_TYPEHASH: constant(bytes32) = keccak256(
    "Link(uint256 product,address promoter,uint256 expiry)"
)


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

event Settled:
    product_id: indexed(uint256)
    account: indexed(address)
    amount: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256


registry: public(immutable(IRegistry))
token: public(immutable(IERC20))
max_rebate_bps: public(immutable(uint256))

product_count: public(uint256)
_products: HashMap[uint256, Product]
_batches: HashMap[uint256, HashMap[uint256, Batch]]
_holdings: HashMap[uint256, HashMap[address, Holding]]
# Credited payouts (accruals realised); `claimable` adds what is pending.
_credited: HashMap[address, uint256]
# account => index => product id, for the products it holds units of
_held: HashMap[address, HashMap[uint256, uint256]]
held_count: public(HashMap[address, uint256])


@deploy
def __init__(registry_: IRegistry, token_: IERC20, max_rebate_bps_: uint256):
    """
    @dev Binds the participant registry, the settlement token and the
         platform's cap on rebate ratios.
    @param registry_ The participant registry (roles).
    @param token_ The ERC-20 settlement token prices are paid in.
    @param max_rebate_bps_ Highest rebate ratio a batch may have (0 to 10,000 bps).
    """
    assert max_rebate_bps_ <= BPS, "referrals: rebate cap above 10000 bps"
    eip712.__init__("CouponChain Referrals", "1")
    registry = registry_
    token = token_
    max_rebate_bps = max_rebate_bps_


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
    assert staticcall registry.role_of(msg.sender) == ROLE_MERCHANT, (
        "referrals: caller is not a merchant"
    )
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
    )
    return product_id


@external
def open_batch(
    product_id: uint256, price: uint256, circulation: uint256, rebate_bps: uint256
) -> uint256:
    """
    @dev Opens the product's next batch. Its rebates go to every unit sold in
         the batches before it.
    @param product_id A product of the caller whose current batch is sold
           out or closed.
    @param price Unit price in token units (1 to 2**96 - 1).
    @param circulation Units for sale (1 to 2**64 - 1).
    @param rebate_bps Rebate ratio of each sale, at most `max_rebate_bps`.
    @return uint256 The new batch's number (from 2).
    """
    self._check_originator(product_id)
    current: uint256 = self._products[product_id].batch_count
    assert self._ended(product_id, current), "referrals: current batch still open"
    self._check_terms(price, circulation)
    assert rebate_bps <= max_rebate_bps, "referrals: rebate above the platform cap"
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
    )
    log BatchOpened(
        product_id=product_id,
        batch=batch,
        price=price,
        circulation=circulation,
        rebate_bps=rebate_bps,
        eligible_units=eligible,
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
    assert staticcall registry.role_of(msg.sender) == ROLE_CONSUMER, (
        "referrals: caller is not a consumer"
    )
    self._check_product(product_id)
    assert quantity != 0, "referrals: zero quantity"
    batch_no: uint256 = self._products[product_id].batch_count
    batch: Batch = self._batches[product_id][batch_no]
    assert not batch.closed, "referrals: batch closed"
    assert batch.sold < batch.circulation, "referrals: batch sold out"
    # sold < circulation: no underflow.
    assert quantity <= batch.circulation - batch.sold, "referrals: not enough units left"

    link_hash: bytes32 = empty(bytes32)
    if batch_no == 1:
        assert promoter == empty(address), "referrals: batch 1 sells without a link"
        assert len(signature) == 0, "referrals: batch 1 sells without a link"
    else:
        link_hash = self._check_link(product_id, batch_no, promoter, expiry, signature)

    # price < 2**96 and quantity < 2**64: amount < 2**160, and
    # amount * rebate_bps (<= 10**4) cannot overflow.
    amount: uint256 = batch.price * quantity
    rebate: uint256 = amount * batch.rebate_bps // BPS
    promoter_amount: uint256 = rebate * DIRECT_SHARE_BPS // BPS
    holders_amount: uint256 = rebate - promoter_amount
    originator: address = self._products[product_id].originator
    originator_amount: uint256 = amount - rebate

    self._settle(product_id, msg.sender)
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
    self._add_units(product_id, msg.sender, batch_no, quantity)
    self._credit(originator, originator_amount)
    self._credit(promoter, promoter_amount)

    log Purchased(
        product_id=product_id,
        buyer=msg.sender,
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
    assert extcall token.transferFrom(msg.sender, self, amount, default_return_value=True), (
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
            opened, its undistributed buffer, revenue and rebates.
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
def domain_separator() -> bytes32:
    """
    @dev The EIP-712 domain separator ("CouponChain Referrals", "1", chain id,
         this contract).
    @return bytes32 The domain separator for the current chain.
    """
    return eip712._domain_separator_v4()


@view
@external
def direct_share_bps() -> uint256:
    """
    @dev The promoter's direct share of each rebate.
    @return uint256 Basis points (the rest goes to earlier units).
    """
    return DIRECT_SHARE_BPS


@internal
def _check_link(
    product_id: uint256,
    batch_no: uint256,
    promoter: address,
    expiry: uint256,
    signature: Bytes[65],
) -> bytes32:
    assert promoter != empty(address), "referrals: link required after batch 1"
    assert promoter != msg.sender, "referrals: self-referral"
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


@pure
@internal
def _check_terms(price: uint256, circulation: uint256):
    assert price != 0, "referrals: zero price"
    assert price <= MAX_PRICE, "referrals: price too large"
    assert circulation != 0, "referrals: zero circulation"
    assert circulation <= MAX_CIRCULATION, "referrals: circulation too large"
