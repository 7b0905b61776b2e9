# pragma version ~=0.4.3
# pragma optimize codesize
# pragma experimental-codegen
# Size (EIP-170, 24,576 bytes): with the migration entry points the legacy
# pipeline gives 27,038 bytes of runtime code (26,638 optimised for size);
# Vyper's Venom pipeline, optimised for size, gives 21,476 (22,240 with
# `withdraw_for`, issue 23).
"""
@title Universal promotion coupons with incentive pools
@notice The platform opens a round from an evaluation (its inputs' hash and
        the resulting total are recorded here, and for a measured evaluation
        the period's block range and the hash of the inputs measured from the
        ledger over it, apart from any declared ones), allocates counts to
        merchants, and merchants grant coupons to consumers, who may pass them
        on to other consumers. Any participating merchant (or one of its
        terminals) writes a coupon off with the holder's EIP-712 consent and
        pays an incentive (the round's rate of the order amount) into the
        reward pool bound to that coupon. After the round's rollback window
        anyone distributes the pool among the coupon's path; every party pulls
        its payout with `withdraw`.

        ```
        promotions.open_measured_round(inputs_hash, total, 50,                   # platform
                                       (2000, 2000, 2000, 2000, 2000), 86400, 300,
                                       period_from, period_to, measured_hash)
        promotions.allocate(round_id, [merchant], [1000])                        # platform
        promotions.grant(round_id, [alice, bob], [1, 2])                         # merchant
        promotions.transfer(coupon_id, carol)                                    # holder
        promotions.transfer_signed(coupon_id, carol, nonce, expiry, signature)   # anyone, relaying
        token.approve(promotions, cap)                                           # merchant: its cap
        promotions.write_off(coupon_id, order_amount, nonce, expiry,             # merchant or terminal
                             merchant, max_amount, signature)
        promotions.distribute([coupon_id])                                       # anyone, after the window
        promotions.withdraw()                                                    # each party
        promotions.withdraw_for(account, deadline, signature)                    # anyone, relaying
        ```

        Coupon ids are global and sequential: round r covers
        `[first_id, first_id + total)`. Opening a round writes one record
        whatever its total (ids not yet granted belong to the platform's
        account); a coupon gets its own record when it is granted.

        The path is bounded: a coupon records at most `MAX_EARLIER_HOLDERS`
        (16) transfers, further transfers are refused, so distributing one
        pool costs bounded gas. Earlier holders are the senders of the
        recorded transfers, one entry per transfer: an account that held the
        coupon twice takes two equal parts of the earlier holders' share.
        A consent is bounded: it names the merchant it is for (or the zero
        address, when the holder chooses any merchant) and the largest order
        amount it covers, so whoever sees the QR can neither redeem it at
        another merchant nor charge a larger order against it.
        A new release carries a deployment's state over by reading it from
        the contract it replaces (`begin_migration`, `import_rounds`,
        `import_allowances`, `import_coupons`, `import_claims`,
        `finish_migration`, as the platform); the tokens the old contract
        holds (what `MigrationFinished.owed` says) are moved by the token's
        carry-over.
@custom:security Consent signatures are recovered by snekmate's `ecdsa`
                 (high-s signatures rejected); only the 65-byte (r, s, v) form
                 is accepted, and replay protection rests on per-holder nonces,
                 never on the signature bytes.
"""

from ethereum.ercs import IERC20
from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator as eip712

from interfaces import IRegistry

initializes: eip712
exports: eip712.eip712Domain


ROLE_MERCHANT: constant(uint8) = 2
ROLE_CONSUMER: constant(uint8) = 4

# Coupon status. An issued coupon that is not granted yet has no record
# (STATUS_NONE) and belongs to the platform's account.
STATUS_NONE: constant(uint8) = 0
STATUS_ACTIVE: constant(uint8) = 1
STATUS_WRITTEN_OFF: constant(uint8) = 2
STATUS_DISTRIBUTED: constant(uint8) = 3

BPS: constant(uint256) = 10_000
# Bound of every batch argument (grant: of the coupons granted in one call).
MAX_BATCH: constant(uint256) = 256
MAX_EARLIER_HOLDERS: constant(uint256) = 16
MAX_CONSENT_LIFETIME: constant(uint256) = 300
MAX_ROLLBACK_WINDOW: constant(uint256) = 30 * 86_400
MAX_ROUND_TOTAL: constant(uint256) = 2**64 - 1
# Keeps every incentive (<= the order amount) inside the 96 bits the
# redemption record reserves for the pool, and `pool * bps` far from overflow.
MAX_ORDER_AMOUNT: constant(uint256) = 2**96 - 1

CONSENT_TYPEHASH: constant(bytes32) = keccak256(
    "Consent(uint256 coupon,uint256 nonce,uint256 expiry,address merchant,uint256 max_amount)"
)

# Signed transfers (issue 23): a holder with its own key signs
# CouponTransfer(coupon, receiver, nonce, expiry) and anyone relays it with
# `transfer_signed`; the signature is good for at most an hour.
COUPON_TRANSFER_TYPEHASH: constant(bytes32) = keccak256(
    "CouponTransfer(uint256 coupon,address receiver,uint256 nonce,uint256 expiry)"
)
MAX_TRANSFER_LIFETIME: constant(uint256) = 3600

# Relayed withdrawals (issue 23): an account with its own key (and no gas)
# signs Withdraw(account, deadline) and anyone relays `withdraw_for`; the
# payout always goes to `account`, so the relayer chooses only the moment.
WITHDRAW_TYPEHASH: constant(bytes32) = keccak256("Withdraw(address account,uint256 deadline)")

_ADDRESS_MASK: constant(uint256) = 2**160 - 1
_BYTE_MASK: constant(uint256) = 2**8 - 1


struct Shares:
    platform: uint256
    issuer: uint256
    redeemer: uint256
    holder: uint256
    earlier: uint256


struct Round:
    first_id: uint256
    total: uint256
    next_id: uint256
    allocated: uint256
    inputs_hash: bytes32
    incentive_bps: uint256
    shares: Shares
    rollback_window: uint256
    max_consent_lifetime: uint256
    opened_at: uint256
    # The evaluation period (blocks, inclusive) and the commitment to the
    # inputs measured from the ledger over it; all zero when the round
    # records no measured inputs (`open_round`).
    period_from: uint256
    period_to: uint256
    measured_hash: bytes32


struct Coupon:
    holder: address
    status: uint8
    transfers: uint256
    round_id: uint256
    issuer: address
    redeemer: address
    written_off_at: uint256
    pool: uint256


event RoundOpened:
    round_id: indexed(uint256)
    platform: indexed(address)
    first_id: uint256
    total: uint256
    inputs_hash: bytes32
    incentive_bps: uint256
    shares: Shares
    rollback_window: uint256
    max_consent_lifetime: uint256
    period_from: uint256
    period_to: uint256
    measured_hash: bytes32

event Allocated:
    round_id: indexed(uint256)
    merchant: indexed(address)
    count: uint256
    allowance: uint256

event Granted:
    round_id: indexed(uint256)
    merchant: indexed(address)
    consumer: indexed(address)
    first_id: uint256
    last_id: uint256

event Transferred:
    coupon_id: indexed(uint256)
    sender: indexed(address)
    receiver: indexed(address)
    transfers: uint256

event WrittenOff:
    coupon_id: indexed(uint256)
    holder: indexed(address)
    merchant: indexed(address)
    operator: address
    order_amount: uint256
    incentive: uint256
    nonce: uint256
    consent_merchant: address
    max_amount: uint256

event WriteOffReversed:
    coupon_id: indexed(uint256)
    holder: indexed(address)
    merchant: indexed(address)
    operator: address
    refund: uint256

event PoolDistributed:
    coupon_id: indexed(uint256)
    pool: uint256
    platform: address
    platform_amount: uint256
    issuer: address
    issuer_amount: uint256
    redeemer: address
    redeemer_amount: uint256
    holder: address
    holder_amount: uint256
    earlier_count: uint256
    earlier_each: uint256

event Withdrawn:
    account: indexed(address)
    amount: uint256

event TransferRelayed:
    coupon_id: indexed(uint256)
    holder: indexed(address)
    relayer: indexed(address)
    nonce: uint256

event MigrationStarted:
    predecessor: indexed(address)

event MigrationFinished:
    predecessor: indexed(address)
    rounds: uint256
    owed: uint256


# What a migration reads from the promotions contract it replaces. A round as
# the first release kept it (`rounds` of a later release returns the measured
# period after these fields; `_import_round` reads it when it is there).
struct OldRound:
    first_id: uint256
    total: uint256
    next_id: uint256
    allocated: uint256
    inputs_hash: bytes32
    incentive_bps: uint256
    shares: Shares
    rollback_window: uint256
    max_consent_lifetime: uint256
    opened_at: uint256


interface Predecessor:
    def token() -> address: view
    def round_count() -> uint256: view
    def allowance(round_id: uint256, merchant: address) -> uint256: view
    def claimable(account: address) -> uint256: view
    def coupon(coupon_id: uint256) -> Coupon: view
    def earlier_holders(coupon_id: uint256) -> DynArray[address, MAX_EARLIER_HOLDERS]: view


registry: public(immutable(IRegistry))
token: public(immutable(IERC20))

round_count: public(uint256)
rounds: public(HashMap[uint256, Round])
next_coupon_id: public(uint256)
# round id => merchant => coupons it may still grant
allowance: public(HashMap[uint256, HashMap[address, uint256]])
claimable: public(HashMap[address, uint256])

# Per granted coupon, packed to keep a grant at two fresh slots per coupon:
# _holding: holder (bits 0-159) | status (160-167) | transfers (168-175) |
#           written_off_at (176-255)
# _origin:  issuer (0-159) | round id (160-255)
# _redemption (written off only): redeeming merchant (0-159) | pool (160-255)
_holding: HashMap[uint256, uint256]
_origin: HashMap[uint256, uint256]
_redemption: HashMap[uint256, uint256]
# coupon id => transfer index => sender of that transfer
_earlier: HashMap[uint256, HashMap[uint256, address]]
# holder => nonce >> 8 => bitmap of used nonces
_used_nonces: HashMap[address, HashMap[uint256, uint256]]
# holder => nonce >> 8 => bitmap of used signed-transfer nonces (issue 23); a
# separate space from consents', so neither kind can spend the other's nonce
_transfer_nonces: HashMap[address, HashMap[uint256, uint256]]
# @dev The promotions contract this one carries state over from (a migration).
predecessor: public(address)
# @dev Whether state is being carried over now: every write but `withdraw` is
#      refused then.
migrating: public(bool)
# What the carried rounds say is still to carry over: coupons granted there,
# and the merchants' allowances left (allocated minus granted); and what the
# carried claims and undistributed pools add up to.
_coupons_left: uint256
_allowances_left: uint256
_owed: uint256


@deploy
def __init__(registry_: IRegistry, token_: IERC20):
    """
    @dev Binds the participant registry and the settlement token.
    @param registry_ The participant registry (roles, platform account).
    @param token_ The ERC-20 settlement token incentives are paid in.
    """
    eip712.__init__("CouponChain Promotions", "1")
    registry = registry_
    token = token_
    self.next_coupon_id = 1


@external
def open_round(
    inputs_hash: bytes32,
    total: uint256,
    incentive_bps: uint256,
    shares: Shares,
    rollback_window: uint256,
    max_consent_lifetime: uint256,
) -> uint256:
    """
    @dev Issues `total` coupons (the next `total` ids) to the platform's
         account and fixes the round's parameters. Costs the same for any total.
         The round records no evaluation period and no measured inputs (all
         its inputs are declared); `open_measured_round` records them.
    @param inputs_hash keccak256 of the ABI-encoded evaluation inputs and
           formula parameters (see `couponchain.domain.evaluation`).
    @param total The issued total the formula gave, 1 to 2**64 - 1.
    @param incentive_bps The incentive charged per write-off, in basis points
           of the order amount (0 to 10,000).
    @param shares The pool split in basis points (platform, issuing merchant,
           redeeming merchant, final holder, earlier holders), summing to 10,000.
    @param rollback_window Seconds after a write-off during which the
           redeeming merchant may reverse it (at most 30 days).
    @param max_consent_lifetime Longest a consent may still be valid when it
           is submitted, in seconds (1 to 300).
    @return uint256 The new round's id (from 1).
    """
    return self._open_round(
        inputs_hash, total, incentive_bps, shares, rollback_window, max_consent_lifetime,
        0, 0, empty(bytes32),
    )


@external
def open_measured_round(
    inputs_hash: bytes32,
    total: uint256,
    incentive_bps: uint256,
    shares: Shares,
    rollback_window: uint256,
    max_consent_lifetime: uint256,
    period_from: uint256,
    period_to: uint256,
    measured_hash: bytes32,
) -> uint256:
    """
    @dev `open_round` for an evaluation measured from the ledger: also records
         the period's block range and the hash of the inputs measured over it,
         so anyone can recompute them from the chain's logs
         (`couponchain check-round`) and tell them from the declared ones.
    @param inputs_hash keccak256 of everything the formula used (measured and
           declared inputs, formula parameters).
    @param total The issued total the formula gave, 1 to 2**64 - 1.
    @param incentive_bps As in `open_round`.
    @param shares As in `open_round`.
    @param rollback_window As in `open_round`.
    @param max_consent_lifetime As in `open_round`.
    @param period_from The period's first block.
    @param period_to The period's last block (the cut-off), at or after
           `period_from` and already mined (below this block's number).
    @param measured_hash keccak256 of the ABI-encoded measured inputs (see
           `couponchain.domain.evaluation.measured_hash`), not zero.
    @return uint256 The new round's id (from 1).
    @custom:security The contract cannot recompute the measurement (that is a
                     log scan); it fixes the range and the commitment so that
                     a wrong measurement is provable from the chain alone.
    """
    assert measured_hash != empty(bytes32), "promotions: zero measured-inputs hash"
    assert period_from <= period_to, "promotions: period ends before it starts"
    assert period_to < block.number, "promotions: period not yet mined"
    return self._open_round(
        inputs_hash, total, incentive_bps, shares, rollback_window, max_consent_lifetime,
        period_from, period_to, measured_hash,
    )


@external
def allocate(
    round_id: uint256,
    merchants: DynArray[address, MAX_BATCH],
    counts: DynArray[uint256, MAX_BATCH],
):
    """
    @dev Lets merchants grant some of the round's coupons: adds `counts[i]`
         to `merchants[i]`'s allowance. All or nothing.
    @param round_id An opened round.
    @param merchants Registered merchants (repeats add up).
    @param counts Coupons per merchant, each non-zero; the round's allocations
           never exceed its total.
    """
    self._check_live()
    assert msg.sender == staticcall registry.platform(), "promotions: caller is not the platform"
    self._check_round(round_id)
    assert len(counts) == len(merchants), "promotions: counts length mismatch"
    total: uint256 = self.rounds[round_id].total
    allocated: uint256 = self.rounds[round_id].allocated
    for i: uint256 in range(len(merchants), bound=MAX_BATCH):
        merchant: address = merchants[i]
        count: uint256 = counts[i]
        assert count != 0, "promotions: zero count"
        # `allocated <= total` holds before and after every step.
        assert count <= total - allocated, "promotions: allocation exceeds the round total"
        assert staticcall registry.role_of(merchant) == ROLE_MERCHANT, (
            "promotions: allocation to a non-merchant"
        )
        allocated += count
        allowance: uint256 = self.allowance[round_id][merchant] + count
        self.allowance[round_id][merchant] = allowance
        log Allocated(round_id=round_id, merchant=merchant, count=count, allowance=allowance)
    self.rounds[round_id].allocated = allocated


@external
def grant(
    round_id: uint256,
    consumers: DynArray[address, MAX_BATCH],
    counts: DynArray[uint256, MAX_BATCH],
) -> uint256:
    """
    @dev Grants `counts[i]` coupons to `consumers[i]`, taken in order from the
         round's next unassigned id, out of the caller's allowance. Each
         consumer receives a contiguous id range (one `Granted` event each).
    @param round_id An opened round the caller has an allowance in.
    @param consumers Registered consumers (repeats allowed).
    @param counts Coupons per consumer, each non-zero, at most 256 in total.
    @return uint256 The first granted id; the call granted
            `[first, first + sum(counts))`.
    @custom:security Writes two storage slots per coupon; bounded by MAX_BATCH.
    """
    self._check_live()
    assert staticcall registry.role_of(msg.sender) == ROLE_MERCHANT, (
        "promotions: caller is not a merchant"
    )
    self._check_round(round_id)
    assert len(consumers) != 0, "promotions: empty batch"
    assert len(counts) == len(consumers), "promotions: counts length mismatch"
    remaining: uint256 = self.allowance[round_id][msg.sender]
    first: uint256 = self.rounds[round_id].next_id
    next_id: uint256 = first
    granted: uint256 = 0
    origin: uint256 = self._pack_origin(msg.sender, round_id)
    for i: uint256 in range(len(consumers), bound=MAX_BATCH):
        consumer: address = consumers[i]
        count: uint256 = counts[i]
        assert count != 0, "promotions: zero count"
        assert count <= MAX_BATCH - granted, "promotions: more than 256 coupons in one grant"
        assert count <= remaining, "promotions: allowance exceeded"
        assert staticcall registry.role_of(consumer) == ROLE_CONSUMER, (
            "promotions: recipient is not a consumer"
        )
        remaining -= count
        granted += count
        holding: uint256 = self._pack_holding(consumer, STATUS_ACTIVE, 0, 0)
        for j: uint256 in range(count, bound=MAX_BATCH):
            self._holding[next_id + j] = holding
            self._origin[next_id + j] = origin
        log Granted(
            round_id=round_id,
            merchant=msg.sender,
            consumer=consumer,
            first_id=next_id,
            last_id=next_id + count - 1,
        )
        next_id += count
    # The round's allowances add up to at most its total, so the ids granted
    # stay inside [first_id, first_id + total); checked again for safety.
    assert next_id <= self.rounds[round_id].first_id + self.rounds[round_id].total, (
        "promotions: round exhausted"
    )
    self.allowance[round_id][msg.sender] = remaining
    self.rounds[round_id].next_id = next_id
    return first


@external
def transfer(coupon_id: uint256, receiver: address):
    """
    @dev Passes an active coupon from its holder to another consumer and
         records the holder on the coupon's path.
    @param coupon_id An active coupon the caller holds.
    @param receiver A registered consumer other than the caller.
    @custom:security At most MAX_EARLIER_HOLDERS (16) transfers per coupon;
                     the 17th is refused, which bounds `distribute`.
    """
    self._check_live()
    holder: address = empty(address)
    status: uint8 = 0
    transfers: uint256 = 0
    written_off_at: uint256 = 0
    holder, status, transfers, written_off_at = self._unpack_holding(self._holding[coupon_id])
    assert status == STATUS_ACTIVE, "promotions: coupon not active"
    assert holder == msg.sender, "promotions: caller is not the holder"
    assert receiver != msg.sender, "promotions: transfer to self"
    assert transfers < MAX_EARLIER_HOLDERS, "promotions: transfer limit reached (16 per coupon)"
    assert staticcall registry.role_of(receiver) == ROLE_CONSUMER, (
        "promotions: recipient is not a consumer"
    )
    self._earlier[coupon_id][transfers] = msg.sender
    self._holding[coupon_id] = self._pack_holding(receiver, STATUS_ACTIVE, transfers + 1, 0)
    log Transferred(
        coupon_id=coupon_id, sender=msg.sender, receiver=receiver, transfers=transfers + 1
    )


@external
def transfer_signed(
    coupon_id: uint256, receiver: address, nonce: uint256, expiry: uint256, signature: Bytes[65]
):
    """
    @dev Relays a transfer that a self-custodied holder signed: `transfer` by
         the coupon's holder, authorised by the holder's EIP-712 signature of
         `CouponTransfer(coupon, receiver, nonce, expiry)` instead of the
         holder's own transaction (its key holds no gas).
    @param coupon_id An active coupon, as signed.
    @param receiver The registered consumer it goes to, as signed.
    @param nonce The holder's transfer nonce, used once per holder.
    @param expiry The signature's expiry (epoch seconds): not past, and at
           most MAX_TRANSFER_LIFETIME (3600 s) ahead.
    @param signature The holder's 65-byte (r, s, v) signature.
    @custom:security Anyone may relay: the holder's signature binds the
                     coupon, the receiver and the expiry, and the nonce is
                     spent before the coupon moves, so a relayer can neither
                     redirect nor replay a transfer. The holder must be live
                     in the registry, as if it sent `transfer` itself; the
                     recovered signer must be the coupon's current holder, so
                     a signature made before the coupon moved on is void.
                     One call per transfer, not a batch: a batch entry point
                     (measured) took this contract to exactly the EIP-170
                     code size limit, and consumers' transfers are rare next
                     to write-offs.
    """
    self._check_live()
    self._transfer_signed(coupon_id, receiver, nonce, expiry, signature)


@view
@external
def transfer_nonce_used(holder: address, nonce: uint256) -> bool:
    """
    @dev Whether a holder already spent a signed-transfer nonce.
    @param holder The holder.
    @param nonce The nonce.
    @return bool True once a relayed transfer used it.
    """
    return (self._transfer_nonces[holder][nonce >> 8] >> (nonce & 255)) & 1 == 1


@external
@nonreentrant
def write_off(
    coupon_id: uint256,
    order_amount: uint256,
    nonce: uint256,
    expiry: uint256,
    merchant: address,
    max_amount: uint256,
    signature: Bytes[65],
) -> uint256:
    """
    @dev Redeems a coupon with its holder's consent and charges the redeeming
         merchant the round's incentive into the coupon's pool.
    @param coupon_id An active coupon.
    @param order_amount The order's amount in the token's smallest unit
           (1 to 2**96 - 1).
    @param nonce The consent's nonce, unused by the holder so far.
    @param expiry The consent's expiry (epoch seconds): not past, and at most
           the round's `max_consent_lifetime` ahead.
    @param merchant The merchant the consent is for (the caller's merchant),
           or empty(address) when the holder consented to any merchant.
    @param max_amount The largest order amount the consent covers.
    @param signature The holder's 65-byte (r, s, v) EIP-712 signature of
           `Consent(coupon, nonce, expiry, merchant, max_amount)`.
    @return uint256 The incentive charged, `order_amount * incentive_bps // 10000`
            (rounded down).
    @custom:security The caller is a merchant or a terminal of the merchant
                     the consent names (any, for the zero address), and
                     `order_amount <= max_amount`; the merchant it acts for
                     pays through `transferFrom`, out of its approval of this
                     contract: its spending cap for incentives, refused with
                     "promotions: incentive cap exceeded" beyond what is left.
    """
    self._check_live()
    acting: address = self._acting_merchant()
    incentive: uint256 = self._write_off(
        acting, coupon_id, order_amount, nonce, expiry, merchant, max_amount, signature
    )
    self._charge(acting, incentive)
    return incentive


@external
@nonreentrant
def write_off_batch(
    coupon_ids: DynArray[uint256, MAX_BATCH],
    order_amounts: DynArray[uint256, MAX_BATCH],
    nonces: DynArray[uint256, MAX_BATCH],
    expiries: DynArray[uint256, MAX_BATCH],
    merchants: DynArray[address, MAX_BATCH],
    max_amounts: DynArray[uint256, MAX_BATCH],
    signatures: DynArray[Bytes[65], MAX_BATCH],
) -> uint256:
    """
    @dev `write_off` for many coupons at once, all or nothing; the merchant is
         charged once for the sum of the incentives.
    @param coupon_ids Active coupons, no repeats.
    @param order_amounts One order amount per coupon.
    @param nonces One consent nonce per coupon.
    @param expiries One consent expiry per coupon.
    @param merchants The merchant each consent names (empty(address): any).
    @param max_amounts The largest order amount each consent covers.
    @param signatures One holder signature per coupon.
    @return uint256 The total incentive charged.
    """
    self._check_live()
    n: uint256 = len(coupon_ids)
    assert n != 0, "promotions: empty batch"
    assert len(order_amounts) == n, "promotions: order amounts length mismatch"
    assert len(nonces) == n, "promotions: nonces length mismatch"
    assert len(expiries) == n, "promotions: expiries length mismatch"
    assert len(merchants) == n, "promotions: merchants length mismatch"
    assert len(max_amounts) == n, "promotions: max amounts length mismatch"
    assert len(signatures) == n, "promotions: signatures length mismatch"
    acting: address = self._acting_merchant()
    total: uint256 = 0
    for i: uint256 in range(n, bound=MAX_BATCH):
        # Each incentive is below 2**96 and there are at most 256: no overflow.
        total += self._write_off(
            acting,
            coupon_ids[i],
            order_amounts[i],
            nonces[i],
            expiries[i],
            merchants[i],
            max_amounts[i],
            signatures[i],
        )
    self._charge(acting, total)
    return total


@external
@nonreentrant
def reverse_write_off(coupon_id: uint256):
    """
    @dev Reverses a write-off (the order was refunded): the pool goes back to
         the redeeming merchant and the coupon is active again for its holder.
         The consent's nonce stays used.
    @param coupon_id A coupon written off by the caller's merchant, whose
           round's rollback window has not closed (`now <= written_off_at +
           rollback_window`).
    @custom:security Callable by the redeeming merchant or its terminals.
    """
    self._check_live()
    merchant: address = self._acting_merchant()
    holder: address = empty(address)
    status: uint8 = 0
    transfers: uint256 = 0
    written_off_at: uint256 = 0
    holder, status, transfers, written_off_at = self._unpack_holding(self._holding[coupon_id])
    assert status != STATUS_DISTRIBUTED, "promotions: pool already distributed"
    assert status == STATUS_WRITTEN_OFF, "promotions: coupon not written off"
    redeemer: address = empty(address)
    pool: uint256 = 0
    redeemer, pool = self._unpack_redemption(self._redemption[coupon_id])
    assert merchant == redeemer, "promotions: caller is not the redeeming merchant"
    round_id: uint256 = self._origin[coupon_id] >> 160
    assert block.timestamp <= written_off_at + self.rounds[round_id].rollback_window, (
        "promotions: rollback window closed"
    )
    self._holding[coupon_id] = self._pack_holding(holder, STATUS_ACTIVE, transfers, 0)
    self._redemption[coupon_id] = 0
    log WriteOffReversed(
        coupon_id=coupon_id, holder=holder, merchant=merchant, operator=msg.sender, refund=pool
    )
    if pool != 0:
        assert extcall token.transfer(merchant, pool, default_return_value=True), (
            "promotions: refund transfer failed"
        )


@external
def distribute(coupon_ids: DynArray[uint256, MAX_BATCH]):
    """
    @dev Splits the pools of written-off coupons whose rollback window has
         closed (`now > written_off_at + rollback_window`) and credits each
         party's `claimable`. All or nothing; anyone may call.
    @param coupon_ids Written-off, undistributed coupons, no repeats.
    @custom:security Each coupon costs bounded gas: at most 4 + 16 credits.
                     The split rounds every part down; the remainder goes to
                     the platform, so the parts add up to the pool exactly.
                     The platform account is the registry's at distribution.
    """
    self._check_live()
    assert len(coupon_ids) != 0, "promotions: empty batch"
    platform: address = staticcall registry.platform()
    for i: uint256 in range(len(coupon_ids), bound=MAX_BATCH):
        self._distribute(coupon_ids[i], platform)


@external
@nonreentrant
def withdraw() -> uint256:
    """
    @dev Pays the caller everything credited to it.
    @return uint256 The amount paid.
    @custom:security Checks-effects-interactions: the credit is zeroed before
                     the token transfer.
    """
    return self._withdraw(msg.sender)


@external
@nonreentrant
def withdraw_for(account: address, deadline: uint256, signature: Bytes[65]) -> uint256:
    """
    @dev Pays `account` everything credited to it, as `account` signed it in
         an EIP-712 `Withdraw(account, deadline)` in this contract's domain:
         a relayed `withdraw` for an account whose own key holds no gas.
    @param account The payee, who signed; it receives the payout.
    @param deadline The signature's expiry (epoch seconds): not past, and at
           most MAX_TRANSFER_LIFETIME (3600 s) ahead.
    @param signature The account's 65-byte (r, s, v) signature, low s.
    @return uint256 The amount paid.
    @custom:security Anyone may relay, and the payout goes to `account` only,
                     never to the relayer. The signature carries no nonce: a
                     replay before the deadline can only pay `account` what
                     was credited to it since, to itself, which is what it
                     asked for (a relayer chooses the moment, never the
                     payee or the amount).
    """
    assert deadline >= block.timestamp, "promotions: withdrawal expired"
    assert deadline - block.timestamp <= MAX_TRANSFER_LIFETIME, (
        "promotions: withdrawal lifetime above 3600 s"
    )
    assert len(signature) == 65, "promotions: signature must be 65 bytes"
    signer: address = ecdsa._recover_sig(
        eip712._hash_typed_data_v4(keccak256(abi_encode(WITHDRAW_TYPEHASH, account, deadline))),
        signature,
    )
    assert signer == account, "promotions: withdrawal not signed by the account"
    return self._withdraw(account)


@internal
def _withdraw(account: address) -> uint256:
    assert not self.migrating, "promotions: migration in progress"
    amount: uint256 = self.claimable[account]
    assert amount != 0, "promotions: nothing to withdraw"
    self.claimable[account] = 0
    log Withdrawn(account=account, amount=amount)
    assert extcall token.transfer(account, amount, default_return_value=True), (
        "promotions: payout transfer failed"
    )
    return amount


# --- migration -----------------------------------------------------------------------------


@external
def begin_migration(predecessor: address):
    """
    @dev Starts carrying rounds, allowances, coupons and claims over from the
         contract this one replaces: by the platform, on an unused contract,
         once. Every write, `withdraw` included, is refused until
         `finish_migration`.
    @param predecessor The promotions contract being replaced.
    @custom:security Every round, allowance, coupon (holder, status, path,
                     write-off time, pool) and claim is read from the
                     predecessor; the platform chooses only the batches, and
                     which merchants and accounts to ask about. Consent and
                     transfer nonces are not carried: signatures name the
                     contract (EIP-712 domain), so none made for the
                     predecessor is valid here.
    """
    self._check_platform()
    assert predecessor != empty(address) and self.round_count == 0 and (
        self.predecessor == empty(address)
    ), "promotions: migration needs an unused contract"
    self.predecessor = predecessor
    self.migrating = True
    log MigrationStarted(predecessor=predecessor)


@external
def import_rounds(count: uint256):
    """
    @dev Carries the predecessor's next `count` rounds over, in id order, as
         they are there now (terms, counters, evaluation hashes, and the
         measured period when the predecessor records one).
    @param count How many, 1 to MAX_BATCH.
    """
    self._check_migrator()
    old: address = self.predecessor
    first: uint256 = self.round_count + 1
    assert count != 0 and count <= MAX_BATCH and (
        first + count <= staticcall Predecessor(old).round_count() + 1
    ), "promotions: batch beyond the predecessor"
    for i: uint256 in range(count, bound=MAX_BATCH):
        out: Bytes[544] = raw_call(
            old,
            abi_encode(first + i, method_id=method_id("rounds(uint256)")),
            max_outsize=544,
            is_static_call=True,
        )
        r: OldRound = abi_decode(slice(out, 0, 448), OldRound)
        period_from: uint256 = 0
        period_to: uint256 = 0
        measured: bytes32 = empty(bytes32)
        if len(out) == 544:
            period_from, period_to, measured = abi_decode(
                slice(out, 448, 96), (uint256, uint256, bytes32)
            )
        self.rounds[first + i] = Round(
            first_id=r.first_id,
            total=r.total,
            next_id=r.next_id,
            allocated=r.allocated,
            inputs_hash=r.inputs_hash,
            incentive_bps=r.incentive_bps,
            shares=r.shares,
            rollback_window=r.rollback_window,
            max_consent_lifetime=r.max_consent_lifetime,
            opened_at=r.opened_at,
            period_from=period_from,
            period_to=period_to,
            measured_hash=measured,
        )
        # next_id <= first_id + total and granted <= allocated hold there.
        self._coupons_left += r.next_id - r.first_id
        self._allowances_left += r.allocated - (r.next_id - r.first_id)
        self.next_coupon_id = r.first_id + r.total
    self.round_count = first + count - 1


@external
def import_allowances(round_id: uint256, merchants: DynArray[address, MAX_BATCH]):
    """
    @dev Carries over what each merchant may still grant in a carried round.
    @param round_id A carried round.
    @param merchants Merchants to ask the predecessor about, each once.
    """
    self._check_migrator()
    self._check_round(round_id)
    for merchant: address in merchants:
        assert self.allowance[round_id][merchant] == 0, "promotions: carried over already"
        amount: uint256 = staticcall Predecessor(self.predecessor).allowance(round_id, merchant)
        self.allowance[round_id][merchant] = amount
        self._allowances_left -= amount


@external
def import_coupons(coupon_ids: DynArray[uint256, MAX_BATCH]):
    """
    @dev Carries granted coupons over: holder, status, path of earlier
         holders, round, issuer, redeemer, write-off time and pool.
    @param coupon_ids Coupons the predecessor granted, of carried rounds,
           each once.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    for coupon_id: uint256 in coupon_ids:
        c: Coupon = staticcall old.coupon(coupon_id)
        assert c.status != STATUS_NONE and self._holding[coupon_id] == 0, (
            "promotions: coupon not granted there, or carried over already"
        )
        self._check_round(c.round_id)
        self._holding[coupon_id] = self._pack_holding(
            c.holder, c.status, c.transfers, c.written_off_at
        )
        self._origin[coupon_id] = self._pack_origin(c.issuer, c.round_id)
        if c.redeemer != empty(address):
            # The predecessor kept the pool in 96 bits.
            self._redemption[coupon_id] = convert(c.redeemer, uint256) | (c.pool << 160)
        if c.status == STATUS_WRITTEN_OFF:
            self._owed += c.pool
        path: DynArray[address, MAX_EARLIER_HOLDERS] = staticcall old.earlier_holders(coupon_id)
        for k: uint256 in range(len(path), bound=MAX_EARLIER_HOLDERS):
            self._earlier[coupon_id][k] = path[k]
        self._coupons_left -= 1


@external
def import_claims(accounts: DynArray[address, MAX_BATCH]):
    """
    @dev Carries over what each account may withdraw.
    @param accounts Accounts to ask the predecessor about, each once.
    @custom:security The predecessor cannot list its creditors, so the
                     platform names them (from `PoolDistributed`); what
                     `MigrationFinished` reports as owed (claims plus
                     undistributed pools) is to match the predecessor's
                     token balance, which is moved to this contract.
    """
    self._check_migrator()
    for account: address in accounts:
        assert self.claimable[account] == 0, "promotions: carried over already"
        amount: uint256 = staticcall Predecessor(self.predecessor).claimable(account)
        self.claimable[account] = amount
        self._owed += amount


@external
def finish_migration():
    """
    @dev Ends the migration for good, once every round, every granted coupon
         and every allowance left is carried over.
    """
    self._check_migrator()
    assert self.round_count == staticcall Predecessor(self.predecessor).round_count() and (
        self._coupons_left == 0 and self._allowances_left == 0
    ), "promotions: state left to carry over"
    self.migrating = False
    log MigrationFinished(predecessor=self.predecessor, rounds=self.round_count, owed=self._owed)


@view
@internal
def _check_platform():
    assert msg.sender == staticcall registry.platform(), "promotions: caller is not the platform"


@view
@internal
def _check_migrator():
    self._check_platform()
    assert self.migrating, "promotions: no migration in progress"


@view
@internal
def _check_live():
    assert not self.migrating, "promotions: migration in progress"
    assert staticcall registry.check_live(self, msg.sender)  # the registry reverts with its reason


@view
@external
def coupon(coupon_id: uint256) -> Coupon:
    """
    @dev A granted coupon's record (all zero for a coupon not granted).
    @param coupon_id The coupon.
    @return Coupon Holder, status (0 not granted, 1 active, 2 written off,
            3 distributed), transfers, round, issuing merchant, redeeming
            merchant, write-off time and pool (kept after distribution).
    """
    holder: address = empty(address)
    status: uint8 = 0
    transfers: uint256 = 0
    written_off_at: uint256 = 0
    holder, status, transfers, written_off_at = self._unpack_holding(self._holding[coupon_id])
    origin: uint256 = self._origin[coupon_id]
    redeemer: address = empty(address)
    pool: uint256 = 0
    redeemer, pool = self._unpack_redemption(self._redemption[coupon_id])
    return Coupon(
        holder=holder,
        status=status,
        transfers=transfers,
        round_id=origin >> 160,
        issuer=self._to_address(origin),
        redeemer=redeemer,
        written_off_at=written_off_at,
        pool=pool,
    )


@view
@external
def holder_of(coupon_id: uint256) -> address:
    """
    @dev Who holds a coupon.
    @param coupon_id The coupon.
    @return address The holder of a granted coupon, the platform's account for
            an issued coupon not granted yet, empty(address) for an id no
            round issued.
    """
    holding: uint256 = self._holding[coupon_id]
    if holding != 0:
        return self._to_address(holding)
    if coupon_id != 0 and coupon_id < self.next_coupon_id:
        return staticcall registry.platform()
    return empty(address)


@view
@external
def earlier_holders(coupon_id: uint256) -> DynArray[address, MAX_EARLIER_HOLDERS]:
    """
    @dev The coupon's recorded path before its current holder.
    @param coupon_id The coupon.
    @return DynArray The sender of each recorded transfer, oldest first.
    """
    transfers: uint256 = (self._holding[coupon_id] >> 168) & _BYTE_MASK
    path: DynArray[address, MAX_EARLIER_HOLDERS] = []
    for k: uint256 in range(transfers, bound=MAX_EARLIER_HOLDERS):
        path.append(self._earlier[coupon_id][k])
    return path


@view
@external
def nonce_used(holder: address, nonce: uint256) -> bool:
    """
    @dev Whether a holder already spent a consent nonce.
    @param holder The holder.
    @param nonce The nonce.
    @return bool True once a write-off used it (even if later reversed).
    """
    return (self._used_nonces[holder][nonce >> 8] >> (nonce & 255)) & 1 == 1


@view
@external
def consent_digest(
    coupon_id: uint256, nonce: uint256, expiry: uint256, merchant: address, max_amount: uint256
) -> bytes32:
    """
    @dev The EIP-712 digest a holder signs to consent to a write-off.
    @param coupon_id The coupon.
    @param nonce The holder's nonce.
    @param expiry The consent's expiry (epoch seconds).
    @param merchant The merchant the consent is for (empty(address): any).
    @param max_amount The largest order amount it covers.
    @return bytes32 keccak256(0x1901 || domainSeparator || hashStruct(Consent)).
    """
    return self._consent_digest(coupon_id, nonce, expiry, merchant, max_amount)


@view
@external
def domain_separator() -> bytes32:
    """
    @dev The EIP-712 domain separator ("CouponChain Promotions", "1", chain id,
         this contract).
    @return bytes32 The domain separator for the current chain.
    """
    return eip712._domain_separator_v4()


@internal
def _open_round(
    inputs_hash: bytes32,
    total: uint256,
    incentive_bps: uint256,
    shares: Shares,
    rollback_window: uint256,
    max_consent_lifetime: uint256,
    period_from: uint256,
    period_to: uint256,
    measured_hash: bytes32,
) -> uint256:
    self._check_live()
    platform: address = staticcall registry.platform()
    assert msg.sender == platform, "promotions: caller is not the platform"
    assert total != 0, "promotions: zero total"
    assert total <= MAX_ROUND_TOTAL, "promotions: total too large"
    assert incentive_bps <= BPS, "promotions: incentive rate above 10000 bps"
    self._check_shares(shares)
    assert rollback_window <= MAX_ROLLBACK_WINDOW, "promotions: rollback window too long"
    assert max_consent_lifetime != 0, "promotions: zero consent lifetime"
    assert max_consent_lifetime <= MAX_CONSENT_LIFETIME, "promotions: consent lifetime above 300 s"

    round_id: uint256 = self.round_count + 1
    first_id: uint256 = self.next_coupon_id
    self.round_count = round_id
    self.next_coupon_id = first_id + total
    self.rounds[round_id] = Round(
        first_id=first_id,
        total=total,
        next_id=first_id,
        allocated=0,
        inputs_hash=inputs_hash,
        incentive_bps=incentive_bps,
        shares=shares,
        rollback_window=rollback_window,
        max_consent_lifetime=max_consent_lifetime,
        opened_at=block.timestamp,
        period_from=period_from,
        period_to=period_to,
        measured_hash=measured_hash,
    )
    log RoundOpened(
        round_id=round_id,
        platform=platform,
        first_id=first_id,
        total=total,
        inputs_hash=inputs_hash,
        incentive_bps=incentive_bps,
        shares=shares,
        rollback_window=rollback_window,
        max_consent_lifetime=max_consent_lifetime,
        period_from=period_from,
        period_to=period_to,
        measured_hash=measured_hash,
    )
    return round_id


@internal
def _write_off(
    merchant: address,
    coupon_id: uint256,
    order_amount: uint256,
    nonce: uint256,
    expiry: uint256,
    consent_merchant: address,
    max_amount: uint256,
    signature: Bytes[65],
) -> uint256:
    assert order_amount != 0, "promotions: zero order amount"
    assert order_amount <= MAX_ORDER_AMOUNT, "promotions: order amount too large"
    # The bounds are checked before the signature so the reason names the
    # rule; the signature binds them, so a forged bound fails there anyway.
    assert consent_merchant == empty(address) or consent_merchant == merchant, (
        "promotions: consent is for another merchant"
    )
    assert order_amount <= max_amount, "promotions: order amount above the consent's maximum"
    holder: address = empty(address)
    status: uint8 = 0
    transfers: uint256 = 0
    written_off_at: uint256 = 0
    holder, status, transfers, written_off_at = self._unpack_holding(self._holding[coupon_id])
    assert status == STATUS_ACTIVE, "promotions: coupon not active"
    round_id: uint256 = self._origin[coupon_id] >> 160
    assert expiry >= block.timestamp, "promotions: consent expired"
    assert expiry - block.timestamp <= self.rounds[round_id].max_consent_lifetime, (
        "promotions: consent lifetime too long"
    )
    # The 64-byte EIP-2098 form is refused so one consent has one encoding.
    assert len(signature) == 65, "promotions: signature must be 65 bytes"
    signer: address = ecdsa._recover_sig(
        self._consent_digest(coupon_id, nonce, expiry, consent_merchant, max_amount), signature
    )
    assert signer == holder, "promotions: consent not signed by the holder"
    self._use_nonce(holder, nonce)
    # order_amount < 2**96 and incentive_bps <= 10**4: no overflow, and the
    # incentive (<= order_amount) fits the pool's 96 bits.
    incentive: uint256 = order_amount * self.rounds[round_id].incentive_bps // BPS
    self._holding[coupon_id] = self._pack_holding(
        holder, STATUS_WRITTEN_OFF, transfers, block.timestamp
    )
    self._redemption[coupon_id] = convert(merchant, uint256) | (incentive << 160)
    log WrittenOff(
        coupon_id=coupon_id,
        holder=holder,
        merchant=merchant,
        operator=msg.sender,
        order_amount=order_amount,
        incentive=incentive,
        nonce=nonce,
        consent_merchant=consent_merchant,
        max_amount=max_amount,
    )
    return incentive


@internal
def _transfer_signed(
    coupon_id: uint256, receiver: address, nonce: uint256, expiry: uint256, signature: Bytes[65]
):
    holder: address = empty(address)
    status: uint8 = 0
    transfers: uint256 = 0
    written_off_at: uint256 = 0
    holder, status, transfers, written_off_at = self._unpack_holding(self._holding[coupon_id])
    assert status == STATUS_ACTIVE, "promotions: coupon not active"
    assert expiry >= block.timestamp, "promotions: transfer expired"
    assert expiry - block.timestamp <= MAX_TRANSFER_LIFETIME, (
        "promotions: transfer lifetime above 3600 s"
    )
    # The 64-byte EIP-2098 form is refused so one transfer has one encoding.
    assert len(signature) == 65, "promotions: signature must be 65 bytes"
    signer: address = ecdsa._recover_sig(
        self._transfer_digest(coupon_id, receiver, nonce, expiry), signature
    )
    assert signer == holder, "promotions: transfer not signed by the holder"
    assert staticcall registry.check_live(self, holder)  # the registry reverts with its reason
    assert receiver != holder, "promotions: transfer to self"
    assert transfers < MAX_EARLIER_HOLDERS, "promotions: transfer limit reached (16 per coupon)"
    assert staticcall registry.role_of(receiver) == ROLE_CONSUMER, (
        "promotions: recipient is not a consumer"
    )
    word: uint256 = nonce >> 8
    bit: uint256 = 1 << (nonce & 255)
    used: uint256 = self._transfer_nonces[holder][word]
    assert used & bit == 0, "promotions: transfer nonce already used"
    self._transfer_nonces[holder][word] = used | bit
    self._earlier[coupon_id][transfers] = holder
    self._holding[coupon_id] = self._pack_holding(receiver, STATUS_ACTIVE, transfers + 1, 0)
    log TransferRelayed(coupon_id=coupon_id, holder=holder, relayer=msg.sender, nonce=nonce)
    log Transferred(coupon_id=coupon_id, sender=holder, receiver=receiver, transfers=transfers + 1)


@view
@internal
def _transfer_digest(
    coupon_id: uint256, receiver: address, nonce: uint256, expiry: uint256
) -> bytes32:
    return eip712._hash_typed_data_v4(
        keccak256(abi_encode(COUPON_TRANSFER_TYPEHASH, coupon_id, receiver, nonce, expiry))
    )


@internal
def _distribute(coupon_id: uint256, platform: address):
    holder: address = empty(address)
    status: uint8 = 0
    transfers: uint256 = 0
    written_off_at: uint256 = 0
    holder, status, transfers, written_off_at = self._unpack_holding(self._holding[coupon_id])
    assert status != STATUS_DISTRIBUTED, "promotions: pool already distributed"
    assert status == STATUS_WRITTEN_OFF, "promotions: coupon not written off"
    origin: uint256 = self._origin[coupon_id]
    round_id: uint256 = origin >> 160
    assert block.timestamp > written_off_at + self.rounds[round_id].rollback_window, (
        "promotions: rollback window still open"
    )
    redeemer: address = empty(address)
    pool: uint256 = 0
    redeemer, pool = self._unpack_redemption(self._redemption[coupon_id])
    shares: Shares = self.rounds[round_id].shares

    # pool < 2**96 and every share <= 10**4: the products cannot overflow.
    # Every part rounds down; the platform takes what is left.
    issuer_amount: uint256 = pool * shares.issuer // BPS
    redeemer_amount: uint256 = pool * shares.redeemer // BPS
    holder_amount: uint256 = pool * shares.holder // BPS
    earlier_each: uint256 = 0
    if transfers != 0:
        earlier_each = pool * shares.earlier // BPS // transfers
    platform_amount: uint256 = (
        pool - issuer_amount - redeemer_amount - holder_amount - earlier_each * transfers
    )

    self._holding[coupon_id] = self._pack_holding(
        holder, STATUS_DISTRIBUTED, transfers, written_off_at
    )
    issuer: address = self._to_address(origin)
    self._credit(platform, platform_amount)
    self._credit(issuer, issuer_amount)
    self._credit(redeemer, redeemer_amount)
    self._credit(holder, holder_amount)
    if earlier_each != 0:
        for k: uint256 in range(transfers, bound=MAX_EARLIER_HOLDERS):
            self._credit(self._earlier[coupon_id][k], earlier_each)
    log PoolDistributed(
        coupon_id=coupon_id,
        pool=pool,
        platform=platform,
        platform_amount=platform_amount,
        issuer=issuer,
        issuer_amount=issuer_amount,
        redeemer=redeemer,
        redeemer_amount=redeemer_amount,
        holder=holder,
        holder_amount=holder_amount,
        earlier_count=transfers,
        earlier_each=earlier_each,
    )


@internal
def _credit(account: address, amount: uint256):
    if amount != 0:
        self.claimable[account] += amount


@internal
def _charge(merchant: address, amount: uint256):
    if amount != 0:
        # The merchant's token approval is its spending cap for incentives
        # (set by the merchant, never unlimited by the platform): a charge
        # beyond what is left is refused with a reason naming the cap.
        assert staticcall token.allowance(merchant, self) >= amount, (
            "promotions: incentive cap exceeded"
        )
        assert extcall token.transferFrom(merchant, self, amount, default_return_value=True), (
            "promotions: incentive transfer failed"
        )


@internal
def _use_nonce(holder: address, nonce: uint256):
    word: uint256 = nonce >> 8
    bit: uint256 = 1 << (nonce & 255)
    used: uint256 = self._used_nonces[holder][word]
    assert used & bit == 0, "promotions: consent nonce already used"
    self._used_nonces[holder][word] = used | bit


@view
@internal
def _acting_merchant() -> address:
    merchant: address = staticcall registry.merchant_of(msg.sender)
    assert merchant != empty(address), "promotions: caller is not a merchant or terminal"
    return merchant


@view
@internal
def _check_round(round_id: uint256):
    assert round_id != 0 and round_id <= self.round_count, "promotions: unknown round"


@view
@internal
def _consent_digest(
    coupon_id: uint256, nonce: uint256, expiry: uint256, merchant: address, max_amount: uint256
) -> bytes32:
    return eip712._hash_typed_data_v4(
        keccak256(abi_encode(CONSENT_TYPEHASH, coupon_id, nonce, expiry, merchant, max_amount))
    )


@pure
@internal
def _check_shares(shares: Shares):
    assert shares.platform <= BPS, "promotions: shares must sum to 10000 bps"
    assert shares.issuer <= BPS, "promotions: shares must sum to 10000 bps"
    assert shares.redeemer <= BPS, "promotions: shares must sum to 10000 bps"
    assert shares.holder <= BPS, "promotions: shares must sum to 10000 bps"
    assert shares.earlier <= BPS, "promotions: shares must sum to 10000 bps"
    # Each term is <= 10**4 (checked above): the sum cannot overflow.
    assert (
        shares.platform + shares.issuer + shares.redeemer + shares.holder + shares.earlier == BPS
    ), "promotions: shares must sum to 10000 bps"


@pure
@internal
def _pack_holding(
    holder: address, status: uint8, transfers: uint256, written_off_at: uint256
) -> uint256:
    # transfers <= 16 fits 8 bits; a block timestamp fits the top 80 bits.
    return (
        convert(holder, uint256)
        | (convert(status, uint256) << 160)
        | (transfers << 168)
        | (written_off_at << 176)
    )


@pure
@internal
def _unpack_holding(word: uint256) -> (address, uint8, uint256, uint256):
    return (
        self._to_address(word),
        convert((word >> 160) & _BYTE_MASK, uint8),
        (word >> 168) & _BYTE_MASK,
        word >> 176,
    )


@pure
@internal
def _pack_origin(issuer: address, round_id: uint256) -> uint256:
    # round ids count up from 1 and never reach 2**96.
    return convert(issuer, uint256) | (round_id << 160)


@pure
@internal
def _unpack_redemption(word: uint256) -> (address, uint256):
    return self._to_address(word), word >> 160


@pure
@internal
def _to_address(word: uint256) -> address:
    return convert(convert(word & _ADDRESS_MASK, uint160), address)
