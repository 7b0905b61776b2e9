# pragma version ~=0.4.3
"""
@title Limited coupon editions
@notice A merchant registers a limited edition of coupons (brand, title,
        terms, serial prefix, cap, price, validity window); every sale is
        recorded on chain with the next serial, and transfers, redemptions and
        voids are recorded too. `sold <= cap` cannot be broken.

        ```
        eid = editions.register_edition("Cafe", "Free latte", terms, "LATTE",
                                        500, 300, valid_from, valid_until)  # merchant
        first = editions.record_sales(eid, buyers, prices, channels, refs)  # merchant or its terminal
        cid = eid * 2**32 + first                       # coupon "LATTE-000001"
        editions.transfer(cid, friend)                  # owner
        editions.redeem_batch([cid])                    # merchant or its terminal, in the window

        # More sales than one transaction holds, all or nothing:
        rid = editions.reserve(eid, 2000, key, now + 600)   # fails whole if 2000 do not fit
        editions.record_reserved_sales(rid, buyers[:400], ...)  # ... 5 calls, cannot run short
        editions.release(rid)                           # on failure: give back what is left
        ```

        Capacity reservations: `reserve` books `count` pieces of an edition
        for its caller (`holder`) until `expires`; only the holder consumes
        them (`record_reserved_sales`), while everyone else's sales check
        `sold + reserved + n <= cap`. So `sold + reserved <= cap` holds after
        every call, and a reservation's sales can never be refused for
        capacity. `release` returns what is left: by the holder or the
        edition's merchant at any time, by anyone once expired (an expired
        reservation cannot be consumed). A reservation id is
        `keccak256(abi_encode(holder, key))`, so one holder's keys never
        collide with another's, and a key is used once, ever: a client that
        derives it from its request finds the same reservation on a retry.

        Coupon ids: `coupon_id = edition_id * 2**32 + serial` (serials start
        at 1, so "LATTE-000042" is serial 42 of the edition with prefix LATTE).

        Storage layout (EIP-1186 proofs; base slots come from `vyper -f layout`,
        `couponchain.domain.edition_slots` computes every slot):
        - `_editions: HashMap[uint256, Edition]` at slot E: the struct of
          edition `id` starts at `keccak256(E . id)`; members occupy one slot
          each in declaration order (merchant +0, cap +1, sold +2, voided +3,
          redeemed +4, ...). The strings come last, so the offsets of the
          counters never move.
        - `_coupons: HashMap[uint256, uint256]` at slot C: one packed word per
          sold coupon at `keccak256(C . coupon_id)`:
          bits 0-159 owner, 160-167 status, 168-175 channel, 176-239 sale time.
          A word of 0 means "never sold" (status 0).
        - `_reserved: HashMap[uint256, uint256]` at slot R (after the others):
          the pieces of edition `id` held by open reservations, at
          `keccak256(R . id)`; the `Edition` struct is unchanged.
        Price paid and order reference are not stored per coupon (that would
        cost another fresh slot, 22,100 gas, per sale). They are in the
        `CouponSold` event, and each edition's `sales_digest` is a hash chain
        over every sale's full data, so the complete sale list recovered from
        the events can be checked against one proven slot.

        Migration. A contract that replaces another (a new release) starts
        with no edition; the platform carries the predecessor's editions and
        sold coupons over in batches (`begin_migration`, `import_editions`,
        `import_coupons`), each read from the predecessor, and
        `finish_migration` refuses until every sold coupon is carried over.

        Validity windows are half-open: a coupon is redeemable while
        `valid_from <= block.timestamp < valid_until`. Sales are accepted until
        `valid_until` (presales before `valid_from` are allowed).

        Pause, resume, extend (issue 25). The edition's merchant (not its
        terminals, not the platform: the platform stops a participant through
        the registry's capability pause) may pause its sales (`pause`: every
        sale, single, bulk or reserved, and every new reservation is refused
        with "editions: edition paused"; redemptions, voids and transfers go
        on, the coupons sold keep their promise), resume them (`resume`), and
        move `valid_until` later (`extend`): never earlier, since every coupon
        sold was promised the window it was sold with, and not once the
        edition has expired. Each names its caller and the keccak256 of the
        reason (the text is kept off chain, as the prize campaigns' changes
        do). The paused flags live in `_paused`, after every other variable.
"""

from interfaces import IRegistry

ROLE_MERCHANT: constant(uint8) = 2

# Coupon status, bits 160-167 of the coupon word.
STATUS_NONE: constant(uint8) = 0
STATUS_ACTIVE: constant(uint8) = 1
STATUS_REDEEMED: constant(uint8) = 2
STATUS_VOIDED: constant(uint8) = 3

CHANNEL_ONLINE: constant(uint8) = 1
CHANNEL_OFFLINE: constant(uint8) = 2

MAX_BATCH: constant(uint256) = 1024
# A reservation blocks other sellers: it lives one day at most. A bulk
# request needs minutes; a day covers a client retrying after an outage.
MAX_HOLD: constant(uint256) = 86400
MAX_CAP: constant(uint256) = 2**32 - 1
SERIAL_BITS: constant(uint256) = 32
# The full terms text is at most 4096 bytes of UTF-8: a printed page of
# conditions; longer terms belong in a document the terms text refers to.
MAX_TERMS: constant(uint256) = 4096

OWNER_MASK: constant(uint256) = 2**160 - 1
STATUS_SHIFT: constant(uint256) = 160
CHANNEL_SHIFT: constant(uint256) = 168
SOLD_AT_SHIFT: constant(uint256) = 176
STATUS_MASK: constant(uint256) = 255 << 160


struct Edition:
    merchant: address
    cap: uint256
    sold: uint256
    voided: uint256
    redeemed: uint256
    price: uint256
    valid_from: uint64
    valid_until: uint64
    content_hash: bytes32
    sales_digest: bytes32
    brand: String[64]
    title: String[128]
    prefix: String[16]


struct Reservation:
    edition_id: uint256
    holder: address
    left: uint256
    expires: uint64
    released: bool


struct CouponRecord:
    edition_id: uint256
    serial: uint256
    owner: address
    status: uint8
    channel: uint8
    sold_at: uint64


event EditionRegistered:
    edition_id: indexed(uint256)
    merchant: indexed(address)
    brand: String[64]
    title: String[128]
    prefix: String[16]
    cap: uint256
    price: uint256
    valid_from: uint64
    valid_until: uint64
    content_hash: bytes32
    terms: String[MAX_TERMS]

event CouponSold:
    edition_id: indexed(uint256)
    coupon_id: indexed(uint256)
    buyer: indexed(address)
    serial: uint256
    price: uint256
    channel: uint8
    order_ref: bytes32
    sold_at: uint64
    seller: address

event CapacityReserved:
    edition_id: indexed(uint256)
    reservation: indexed(bytes32)
    holder: indexed(address)
    key: bytes32
    count: uint256
    expires: uint64

event ReservationConsumed:
    edition_id: indexed(uint256)
    reservation: indexed(bytes32)
    count: uint256
    left: uint256

event ReservationReleased:
    edition_id: indexed(uint256)
    reservation: indexed(bytes32)
    by: indexed(address)
    returned: uint256

event CouponTransferred:
    coupon_id: indexed(uint256)
    sender: indexed(address)
    receiver: indexed(address)
    edition_id: uint256

event CouponRedeemed:
    edition_id: indexed(uint256)
    coupon_id: indexed(uint256)
    owner: indexed(address)
    by: address

event CouponVoided:
    edition_id: indexed(uint256)
    coupon_id: indexed(uint256)
    owner: indexed(address)
    by: address

event EditionPaused:
    edition_id: indexed(uint256)
    by: indexed(address)
    reason_hash: bytes32

event EditionResumed:
    edition_id: indexed(uint256)
    by: indexed(address)
    reason_hash: bytes32

event EditionExtended:
    edition_id: indexed(uint256)
    by: indexed(address)
    old_valid_until: uint64
    valid_until: uint64
    reason_hash: bytes32

event MigrationStarted:
    predecessor: indexed(address)

event EditionImported:
    edition_id: indexed(uint256)
    merchant: indexed(address)
    sold: uint256

event MigrationFinished:
    predecessor: indexed(address)
    editions: uint256
    coupons: uint256


# What a migration reads from the editions contract it replaces (unchanged
# since the first release).
interface Predecessor:
    def edition_count() -> uint256: view
    def edition(edition_id: uint256) -> Edition: view
    def coupon(coupon_id: uint256) -> CouponRecord: view


REGISTRY: public(immutable(IRegistry))

# The storage layout is part of the public interface (proofs): append new
# variables at the end, never reorder.
edition_count: public(uint256)
_editions: HashMap[uint256, Edition]
_coupons: HashMap[uint256, uint256]
_edition_by_prefix: HashMap[bytes32, uint256]
_reserved: HashMap[uint256, uint256]
_reservations: HashMap[bytes32, Reservation]
# @dev The editions contract this one carries state over from (a migration).
predecessor: public(address)
# @dev Whether state is being carried over now: no edition is registered then.
migrating: public(bool)
# @dev Coupons the imported editions sold, and those carried over so far:
#      the migration finishes only when they are equal.
coupons_expected: public(uint256)
coupons_imported: public(uint256)
# @dev Editions whose sales their merchant paused (issue 25).
_paused: HashMap[uint256, bool]


@deploy
def __init__(registry: address):
    """
    @dev Binds the contract to the participant registry for its lifetime.
    @param registry The participant registry.
    """
    assert registry != empty(address), "editions: zero registry"
    REGISTRY = IRegistry(registry)


@external
def register_edition(
    brand: String[64],
    title: String[128],
    terms: String[MAX_TERMS],
    prefix: String[16],
    cap: uint256,
    price: uint256,
    valid_from: uint64,
    valid_until: uint64,
) -> uint256:
    """
    @dev Registers a limited edition of the calling merchant. The chain keeps
         the keccak256 of the terms; the full text is in the event.
    @param brand The brand shown on the coupon, 1-64 bytes.
    @param title The coupon's title, 1-128 bytes.
    @param terms The full terms (UTF-8, 1-4096 bytes); `content_hash` is their keccak256.
    @param prefix The serial prefix, 1-16 characters of A-Z and 0-9, unique.
    @param cap The number of pieces, 1 to 2**32 - 1.
    @param price The list price in the settlement token's smallest unit.
    @param valid_from Start of the redemption window (epoch seconds, inclusive).
    @param valid_until End of the redemption window (epoch seconds, exclusive);
           after `valid_from` and in the future.
    @return The new edition id (sequential from 1).
    @custom:security Only an account with the merchant role registers, and
                     only for itself.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    assert not self.migrating, "editions: migration in progress"
    assert staticcall REGISTRY.role_of(msg.sender) == ROLE_MERCHANT, (
        "editions: caller is not a merchant"
    )
    assert len(brand) > 0, "editions: empty brand"
    assert len(title) > 0, "editions: empty title"
    assert len(terms) > 0, "editions: empty terms"
    self._check_prefix(prefix)
    prefix_key: bytes32 = keccak256(prefix)
    assert self._edition_by_prefix[prefix_key] == 0, "editions: prefix taken"
    assert cap > 0, "editions: cap is zero"
    assert cap <= MAX_CAP, "editions: cap too large"
    assert valid_from < valid_until, "editions: empty or inverted window"
    assert convert(valid_until, uint256) > block.timestamp, "editions: window already ended"

    # Cannot overflow: one registration per transaction per id.
    edition_id: uint256 = self.edition_count + 1
    self.edition_count = edition_id
    content_hash: bytes32 = keccak256(terms)
    self._editions[edition_id] = Edition(
        merchant=msg.sender,
        cap=cap,
        sold=0,
        voided=0,
        redeemed=0,
        price=price,
        valid_from=valid_from,
        valid_until=valid_until,
        content_hash=content_hash,
        sales_digest=empty(bytes32),
        brand=brand,
        title=title,
        prefix=prefix,
    )
    self._edition_by_prefix[prefix_key] = edition_id
    log EditionRegistered(
        edition_id=edition_id,
        merchant=msg.sender,
        brand=brand,
        title=title,
        prefix=prefix,
        cap=cap,
        price=price,
        valid_from=valid_from,
        valid_until=valid_until,
        content_hash=content_hash,
        terms=terms,
    )
    return edition_id


@external
def record_sale(
    edition_id: uint256, buyer: address, price: uint256, channel: uint8, order_ref: bytes32
) -> uint256:
    """
    @dev Records one sale; the coupon gets the edition's next serial.
    @param edition_id The edition sold.
    @param buyer The buyer's account, the coupon's first owner (non-zero).
    @param price The price paid, in the settlement token's smallest unit.
    @param channel 1 online, 2 offline (store POS).
    @param order_ref The hash of the order reference.
    @return The serial number (coupon id = edition_id * 2**32 + serial).
    @custom:security The edition's merchant or a terminal bound to it only;
                     the sale is refused once `sold == cap`.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    serial: uint256 = self._open_sales(edition_id, 1)
    self._editions[edition_id].sales_digest = self._sell(
        edition_id, serial, buyer, price, channel, order_ref,
        self._editions[edition_id].sales_digest,
    )
    return serial


@external
def record_sales(
    edition_id: uint256,
    buyers: DynArray[address, MAX_BATCH],
    prices: DynArray[uint256, MAX_BATCH],
    channels: DynArray[uint8, MAX_BATCH],
    order_refs: DynArray[bytes32, MAX_BATCH],
) -> uint256:
    """
    @dev Records many sales of one edition, serials assigned in order;
         all or nothing (a batch that would cross the cap is refused whole).
    @param edition_id The edition sold.
    @param buyers The buyers, one per sale (non-zero).
    @param prices The prices paid, one per sale.
    @param channels The channels (1 online, 2 offline), one per sale.
    @param order_refs The order reference hashes, one per sale.
    @return The first serial assigned; the others follow consecutively.
    @custom:security Same rules as `record_sale`; bounded by MAX_BATCH and
                     constant gas per item.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    n: uint256 = len(buyers)
    assert n > 0, "editions: empty batch"
    assert len(prices) == n, "editions: prices length mismatch"
    assert len(channels) == n, "editions: channels length mismatch"
    assert len(order_refs) == n, "editions: order refs length mismatch"
    first: uint256 = self._open_sales(edition_id, n)
    digest: bytes32 = self._editions[edition_id].sales_digest
    for i: uint256 in range(n, bound=MAX_BATCH):
        # Cannot overflow: first + i <= cap < 2**32.
        digest = self._sell(
            edition_id, unsafe_add(first, i), buyers[i], prices[i], channels[i], order_refs[i],
            digest,
        )
    self._editions[edition_id].sales_digest = digest
    return first


@external
def reserve(edition_id: uint256, count: uint256, key: bytes32, expires: uint64) -> bytes32:
    """
    @dev Books `count` pieces of an edition for the caller until `expires`,
         so that sales spread over many transactions cannot run short of
         capacity half-way. Refused whole when they do not fit.
    @param edition_id The edition.
    @param count The pieces to hold, at least 1 and at most `remaining`.
    @param key The caller's key for this reservation; each key is used once.
    @param expires When the reservation lapses (epoch seconds, exclusive): in
           the future and at most MAX_HOLD (one day) ahead.
    @return The reservation id, keccak256(abi_encode(caller, key)).
    @custom:security The edition's merchant or a terminal bound to it only
                     (the same rule as selling). The reserved pieces stay
                     unavailable to other sellers until consumed, released,
                     or released by anyone after `expires`.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    self._check_seller(edition_id)
    assert count > 0, "editions: empty reservation"
    now: uint256 = block.timestamp
    assert convert(expires, uint256) > now, "editions: reservation already expired"
    assert convert(expires, uint256) <= now + MAX_HOLD, "editions: reservation too long"
    reservation_id: bytes32 = keccak256(abi_encode(msg.sender, key))
    assert self._reservations[reservation_id].holder == empty(address), (
        "editions: reservation key used"
    )
    assert count <= self._unbooked(edition_id), "editions: cap exceeded"
    # Cannot overflow: reserved + count <= cap - sold < 2**32.
    self._reserved[edition_id] = unsafe_add(self._reserved[edition_id], count)
    self._reservations[reservation_id] = Reservation(
        edition_id=edition_id, holder=msg.sender, left=count, expires=expires, released=False
    )
    log CapacityReserved(
        edition_id=edition_id,
        reservation=reservation_id,
        holder=msg.sender,
        key=key,
        count=count,
        expires=expires,
    )
    return reservation_id


@external
def record_reserved_sales(
    reservation_id: bytes32,
    buyers: DynArray[address, MAX_BATCH],
    prices: DynArray[uint256, MAX_BATCH],
    channels: DynArray[uint8, MAX_BATCH],
    order_refs: DynArray[bytes32, MAX_BATCH],
) -> uint256:
    """
    @dev Records many sales of a reserved edition out of the reservation,
         serials assigned in order; all or nothing. Never refused for the
         cap: the pieces were booked by `reserve`.
    @param reservation_id The reservation, made by the caller.
    @param buyers The buyers, one per sale (non-zero).
    @param prices The prices paid, one per sale.
    @param channels The channels (1 online, 2 offline), one per sale.
    @param order_refs The order reference hashes, one per sale.
    @return The first serial assigned; the others follow consecutively.
    @custom:security The reservation's holder only, before it expires or is
                     released, and only while it may still sell the edition.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    n: uint256 = len(buyers)
    assert n > 0, "editions: empty batch"
    assert len(prices) == n, "editions: prices length mismatch"
    assert len(channels) == n, "editions: channels length mismatch"
    assert len(order_refs) == n, "editions: order refs length mismatch"
    held: Reservation = self._reservations[reservation_id]
    assert held.holder != empty(address), "editions: unknown reservation"
    assert held.holder == msg.sender, "editions: caller is not the reservation holder"
    assert not held.released, "editions: reservation released"
    assert block.timestamp < convert(held.expires, uint256), "editions: reservation expired"
    assert n <= held.left, "editions: reservation exceeded"
    edition_id: uint256 = held.edition_id
    self._check_seller(edition_id)

    # Cannot underflow: n <= left <= reserved. Cannot overflow: the pieces
    # move from reserved to sold, so sold + n <= cap < 2**32.
    left: uint256 = unsafe_sub(held.left, n)
    self._reservations[reservation_id].left = left
    self._reserved[edition_id] = unsafe_sub(self._reserved[edition_id], n)
    sold: uint256 = self._editions[edition_id].sold
    self._editions[edition_id].sold = unsafe_add(sold, n)
    log ReservationConsumed(edition_id=edition_id, reservation=reservation_id, count=n, left=left)

    first: uint256 = unsafe_add(sold, 1)
    digest: bytes32 = self._editions[edition_id].sales_digest
    for i: uint256 in range(n, bound=MAX_BATCH):
        # Cannot overflow: first + i <= cap < 2**32.
        digest = self._sell(
            edition_id, unsafe_add(first, i), buyers[i], prices[i], channels[i], order_refs[i],
            digest,
        )
    self._editions[edition_id].sales_digest = digest
    return first


@external
def release(reservation_id: bytes32) -> uint256:
    """
    @dev Closes a reservation and returns its unused pieces to everyone.
    @param reservation_id The reservation.
    @return The pieces returned.
    @custom:security The holder or the edition's merchant at any time;
                     anyone once the reservation expired (so an abandoned
                     one cannot block an edition). A released reservation
                     stays closed: its key is not reusable.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    held: Reservation = self._reservations[reservation_id]
    assert held.holder != empty(address), "editions: unknown reservation"
    assert not held.released, "editions: reservation released"
    edition_id: uint256 = held.edition_id
    assert (
        msg.sender == held.holder
        or msg.sender == self._editions[edition_id].merchant
        or block.timestamp >= convert(held.expires, uint256)
    ), "editions: reservation still held"
    self._reservations[reservation_id].left = 0
    self._reservations[reservation_id].released = True
    # Cannot underflow: every open reservation's left is counted in reserved.
    self._reserved[edition_id] = unsafe_sub(self._reserved[edition_id], held.left)
    log ReservationReleased(
        edition_id=edition_id, reservation=reservation_id, by=msg.sender, returned=held.left
    )
    return held.left


@external
def transfer(coupon_id: uint256, receiver: address):
    """
    @dev Hands an active (unredeemed, unvoided) coupon to another account.
    @param coupon_id The coupon.
    @param receiver The new owner (non-zero).
    @custom:security Only the current owner; redeemed and voided coupons stay put.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    word: uint256 = self._coupons[coupon_id]
    assert word != 0, "editions: unknown coupon"
    owner: address = self._owner(word)
    assert msg.sender == owner, "editions: caller is not the owner"
    self._check_active(word)
    assert receiver != empty(address), "editions: zero receiver"
    self._coupons[coupon_id] = (word & ~OWNER_MASK) | convert(receiver, uint256)
    log CouponTransferred(
        coupon_id=coupon_id, sender=owner, receiver=receiver, edition_id=coupon_id >> SERIAL_BITS
    )


@external
def redeem(coupon_id: uint256):
    """
    @dev Redeems a coupon once, inside its edition's validity window.
    @param coupon_id The coupon.
    @custom:security The edition's merchant or a terminal bound to it only.
                     The holder's consent (showing the coupon) is checked off
                     chain by the redeeming store.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    self._redeem(coupon_id, 0)


@external
def redeem_batch(coupon_ids: DynArray[uint256, MAX_BATCH]):
    """
    @dev Redeems many coupons; all or nothing (a duplicate id fails the batch).
    @param coupon_ids The coupons, of any editions the caller may redeem.
    @custom:security Same rules as `redeem`; the caller and window checks are
                     done once per run of coupons of the same edition.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    checked: uint256 = 0
    for coupon_id: uint256 in coupon_ids:
        checked = self._redeem(coupon_id, checked)


@external
def void(coupon_id: uint256):
    """
    @dev Voids (refunds) an active coupon. Its serial is never reissued:
         `sold` keeps counting it and `voided` goes up.
    @param coupon_id The coupon.
    @custom:security The edition's merchant account only (not its terminals).
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    self._void(coupon_id, 0)


@external
def void_batch(coupon_ids: DynArray[uint256, MAX_BATCH]):
    """
    @dev Voids many coupons; all or nothing.
    @param coupon_ids The coupons, of editions of the caller.
    @custom:security Same rules as `void`.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    checked: uint256 = 0
    for coupon_id: uint256 in coupon_ids:
        checked = self._void(coupon_id, checked)


@external
def pause(edition_id: uint256, reason_hash: bytes32):
    """
    @dev Stops the sales of an edition (and new reservations) until `resume`.
    @param edition_id An edition of the caller, not paused.
    @param reason_hash keccak256 of the merchant's reason (the text is kept
           off chain); not zero.
    @custom:security The edition's merchant only.
    """
    self._check_change(edition_id, reason_hash)
    assert not self._paused[edition_id], "editions: edition paused"
    self._paused[edition_id] = True
    log EditionPaused(edition_id=edition_id, by=msg.sender, reason_hash=reason_hash)


@external
def resume(edition_id: uint256, reason_hash: bytes32):
    """
    @dev Opens the sales of a paused edition again.
    @param edition_id A paused edition of the caller.
    @param reason_hash keccak256 of the merchant's reason; not zero.
    @custom:security The edition's merchant only.
    """
    self._check_change(edition_id, reason_hash)
    assert self._paused[edition_id], "editions: edition not paused"
    self._paused[edition_id] = False
    log EditionResumed(edition_id=edition_id, by=msg.sender, reason_hash=reason_hash)


@external
def extend(edition_id: uint256, valid_until: uint64, reason_hash: bytes32):
    """
    @dev Moves the end of an edition's window (sales and redemption) later.
    @param edition_id An edition of the caller that has not expired.
    @param valid_until The new end (epoch seconds, exclusive), after the
           current one: a window is never shortened under sold coupons.
    @param reason_hash keccak256 of the merchant's reason; not zero.
    @custom:security The edition's merchant only.
    """
    self._check_change(edition_id, reason_hash)
    old: uint64 = self._editions[edition_id].valid_until
    assert block.timestamp < convert(old, uint256), "editions: edition expired"
    assert valid_until > old, "editions: window may only be extended"
    self._editions[edition_id].valid_until = valid_until
    log EditionExtended(
        edition_id=edition_id,
        by=msg.sender,
        old_valid_until=old,
        valid_until=valid_until,
        reason_hash=reason_hash,
    )


@view
@external
def paused(edition_id: uint256) -> bool:
    """
    @dev Whether the edition's merchant paused its sales.
    @param edition_id The edition.
    @return True while paused (False for an unknown id).
    """
    return self._paused[edition_id]


@view
@external
def edition(edition_id: uint256) -> Edition:
    """
    @dev The declared data and counters of an edition.
    @param edition_id The edition.
    @return The edition; all zero (merchant empty) for an unknown id.
    """
    return self._editions[edition_id]


@view
@external
def remaining(edition_id: uint256) -> uint256:
    """
    @dev Pieces still for sale.
    @param edition_id The edition.
    @return cap - sold - reserved: what a seller without a reservation may
            still sell (voided serials are not reissued).
    """
    return self._unbooked(edition_id)


@view
@external
def reserved(edition_id: uint256) -> uint256:
    """
    @dev Pieces held by open (unreleased) reservations, expired ones included
         until someone releases them.
    @param edition_id The edition.
    @return The reserved count.
    """
    return self._reserved[edition_id]


@view
@external
def reservation(reservation_id: bytes32) -> Reservation:
    """
    @dev A reservation's edition, holder, pieces left, expiry and state.
    @param reservation_id The reservation, `keccak256(abi_encode(holder, key))`.
    @return The reservation; all zero (holder empty) for an unknown id.
    """
    return self._reservations[reservation_id]


@pure
@external
def reservation_id(holder: address, key: bytes32) -> bytes32:
    """
    @dev The id of the reservation `holder` makes (or made) with `key`.
    @param holder The account that reserves.
    @param key The holder's key for it.
    @return keccak256(abi_encode(holder, key)).
    """
    return keccak256(abi_encode(holder, key))


@view
@external
def edition_by_prefix(prefix: String[16]) -> uint256:
    """
    @dev Resolves a serial prefix.
    @param prefix The prefix, e.g. "LATTE".
    @return The edition id, 0 if no edition has this prefix.
    """
    return self._edition_by_prefix[keccak256(prefix)]


@view
@external
def coupon(coupon_id: uint256) -> CouponRecord:
    """
    @dev The stored record of a coupon.
    @param coupon_id The coupon.
    @return The record; status 0 (and owner empty) for a coupon never sold.
    """
    word: uint256 = self._coupons[coupon_id]
    return CouponRecord(
        edition_id=coupon_id >> SERIAL_BITS,
        serial=coupon_id & MAX_CAP,
        owner=self._owner(word),
        status=convert((word >> STATUS_SHIFT) & 255, uint8),
        channel=convert((word >> CHANNEL_SHIFT) & 255, uint8),
        sold_at=convert(word >> SOLD_AT_SHIFT, uint64),
    )


@view
@external
def serial_of(coupon_id: uint256) -> String[33]:
    """
    @dev The printed serial of a sold coupon: prefix, dash, number padded to
         at least six digits ("LATTE-000042").
    @param coupon_id The coupon.
    @return The serial; reverts for a coupon never sold.
    """
    assert self._coupons[coupon_id] != 0, "editions: unknown coupon"
    digits: String[10] = uint2str(convert(coupon_id & MAX_CAP, uint32))
    padding: String[6] = "000000"
    pad: uint256 = 0
    if len(digits) < 6:
        pad = 6 - len(digits)
    return concat(
        self._editions[coupon_id >> SERIAL_BITS].prefix, "-", slice(padding, 0, pad), digits
    )


@pure
@external
def coupon_id_of(edition_id: uint256, serial: uint256) -> uint256:
    """
    @dev The coupon id of a serial of an edition.
    @param edition_id The edition.
    @param serial The serial number, 1 to 2**32 - 1.
    @return edition_id * 2**32 + serial.
    """
    assert serial != 0 and serial <= MAX_CAP, "editions: serial out of range"
    return (edition_id << SERIAL_BITS) | serial


# --- migration -----------------------------------------------------------------------------


@external
def begin_migration(predecessor: address):
    """
    @dev Starts carrying editions and coupons over from the contract this one
         replaces: by the platform, on a contract with no edition yet, once.
    @param predecessor The editions contract being replaced.
    @custom:security Every edition and coupon is read from the predecessor
                     (the platform chooses only the order and the batches),
                     and `finish_migration` refuses until every coupon the
                     imported editions sold is carried over.
    """
    assert msg.sender == staticcall REGISTRY.platform(), "editions: caller is not the platform"
    assert predecessor != empty(address), "editions: zero predecessor"
    assert self.edition_count == 0 and self.predecessor == empty(address), (
        "editions: a migration starts on an unused contract"
    )
    self.predecessor = predecessor
    self.migrating = True
    log MigrationStarted(predecessor=predecessor)


@external
def import_editions(count: uint256):
    """
    @dev Carries the predecessor's next `count` editions over, in id order,
         as they are there now (counters, sales digest and strings included).
    @param count How many, at most MAX_BATCH.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    last: uint256 = staticcall old.edition_count()
    first: uint256 = self.edition_count + 1
    assert count > 0 and count <= MAX_BATCH, "editions: empty or oversized batch"
    assert first + count - 1 <= last, "editions: beyond the predecessor's editions"
    for i: uint256 in range(count, bound=MAX_BATCH):
        edition_id: uint256 = first + i
        e: Edition = staticcall old.edition(edition_id)
        self._editions[edition_id] = e
        self._edition_by_prefix[keccak256(e.prefix)] = edition_id
        self.coupons_expected += e.sold
        # A predecessor without `paused` (before issue 25) reverts: unpaused.
        ok: bool = False
        out: Bytes[32] = b""
        ok, out = raw_call(
            old.address,
            abi_encode(edition_id, method_id=method_id("paused(uint256)")),
            max_outsize=32,
            is_static_call=True,
            revert_on_failure=False,
        )
        if ok and len(out) == 32 and convert(out, uint256) == 1:
            self._paused[edition_id] = True
        log EditionImported(edition_id=edition_id, merchant=e.merchant, sold=e.sold)
    self.edition_count = first + count - 1


@external
def import_coupons(coupon_ids: DynArray[uint256, MAX_BATCH]):
    """
    @dev Carries coupons of imported editions over with their owner, status,
         channel and sale time as the predecessor holds them now.
    @param coupon_ids Sold coupons, each once.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    for coupon_id: uint256 in coupon_ids:
        assert self._coupons[coupon_id] == 0, "editions: coupon already carried over"
        c: CouponRecord = staticcall old.coupon(coupon_id)
        assert c.status != STATUS_NONE, "editions: coupon never sold"
        assert self._editions[c.edition_id].merchant != empty(address), (
            "editions: carry the coupon's edition over first"
        )
        self._coupons[coupon_id] = (
            convert(c.owner, uint256)
            | (convert(c.status, uint256) << STATUS_SHIFT)
            | (convert(c.channel, uint256) << CHANNEL_SHIFT)
            | (convert(c.sold_at, uint256) << SOLD_AT_SHIFT)
        )
    self.coupons_imported += len(coupon_ids)


@external
def finish_migration():
    """
    @dev Ends the migration for good, once every edition and every coupon
         they sold is carried over. Open reservations are not carried: their
         pieces are free again.
    """
    self._check_migrator()
    assert self.edition_count == staticcall Predecessor(self.predecessor).edition_count(), (
        "editions: editions left to carry over"
    )
    assert self.coupons_imported == self.coupons_expected, "editions: coupons left to carry over"
    self.migrating = False
    log MigrationFinished(
        predecessor=self.predecessor, editions=self.edition_count, coupons=self.coupons_imported
    )


@view
@internal
def _check_migrator():
    assert msg.sender == staticcall REGISTRY.platform(), "editions: caller is not the platform"
    assert self.migrating, "editions: no migration in progress"


@view
@internal
def _check_change(edition_id: uint256, reason_hash: bytes32):
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    merchant: address = self._editions[edition_id].merchant
    assert merchant != empty(address), "editions: unknown edition"
    assert msg.sender == merchant, "editions: caller is not the edition's merchant"
    assert not self.migrating, "editions: migration in progress"
    assert reason_hash != empty(bytes32), "editions: empty reason"


@view
@internal
def _check_prefix(prefix: String[16]):
    n: uint256 = len(prefix)
    assert n > 0, "editions: empty prefix"
    raw: Bytes[16] = convert(prefix, Bytes[16])
    for i: uint256 in range(n, bound=16):
        c: uint8 = convert(convert(slice(raw, i, 1), bytes1), uint8)
        # "0"-"9" are 48-57, "A"-"Z" are 65-90.
        assert (c >= 48 and c <= 57) or (c >= 65 and c <= 90), (
            "editions: prefix must be A-Z or 0-9"
        )


@view
@internal
def _acts_for(merchant: address) -> bool:
    # The merchant itself needs no registry call; a terminal is bound to
    # exactly one merchant in the registry.
    if msg.sender == merchant:
        return True
    return staticcall REGISTRY.merchant_of(msg.sender) == merchant


@view
@internal
def _check_seller(edition_id: uint256):
    """Checks that the caller may sell the edition now."""
    merchant: address = self._editions[edition_id].merchant
    assert merchant != empty(address), "editions: unknown edition"
    assert self._acts_for(merchant), "editions: caller may not sell this edition"
    assert not self._paused[edition_id], "editions: edition paused"
    assert block.timestamp < convert(self._editions[edition_id].valid_until, uint256), (
        "editions: edition expired"
    )


@view
@internal
def _unbooked(edition_id: uint256) -> uint256:
    """Pieces neither sold nor reserved: cap - sold - reserved."""
    # Cannot underflow: sold + reserved <= cap holds after every call.
    return unsafe_sub(
        unsafe_sub(self._editions[edition_id].cap, self._editions[edition_id].sold),
        self._reserved[edition_id],
    )


@internal
def _open_sales(edition_id: uint256, n: uint256) -> uint256:
    """Checks an unreserved sale of n pieces, books them; returns the first serial."""
    self._check_seller(edition_id)
    assert n <= self._unbooked(edition_id), "editions: cap exceeded"
    sold: uint256 = self._editions[edition_id].sold
    # Cannot overflow: sold + n <= cap < 2**32.
    self._editions[edition_id].sold = unsafe_add(sold, n)
    return unsafe_add(sold, 1)


@internal
def _sell(
    edition_id: uint256,
    serial: uint256,
    buyer: address,
    price: uint256,
    channel: uint8,
    order_ref: bytes32,
    digest: bytes32,
) -> bytes32:
    """Stores one coupon and logs its sale; returns the next sales digest."""
    assert buyer != empty(address), "editions: zero buyer"
    assert channel == CHANNEL_ONLINE or channel == CHANNEL_OFFLINE, "editions: unknown channel"
    coupon_id: uint256 = (edition_id << SERIAL_BITS) | serial
    sold_at: uint64 = convert(block.timestamp, uint64)
    self._coupons[coupon_id] = (
        convert(buyer, uint256)
        | (convert(STATUS_ACTIVE, uint256) << STATUS_SHIFT)
        | (convert(channel, uint256) << CHANNEL_SHIFT)
        | (convert(sold_at, uint256) << SOLD_AT_SHIFT)
    )
    log CouponSold(
        edition_id=edition_id,
        coupon_id=coupon_id,
        buyer=buyer,
        serial=serial,
        price=price,
        channel=channel,
        order_ref=order_ref,
        sold_at=sold_at,
        seller=msg.sender,
    )
    return keccak256(
        abi_encode(digest, coupon_id, buyer, price, channel, order_ref, sold_at, msg.sender)
    )


@internal
def _redeem(coupon_id: uint256, checked: uint256) -> uint256:
    """Redeems one coupon; `checked` is an edition whose caller and window
    checks already passed in this call. Returns the coupon's edition."""
    word: uint256 = self._coupons[coupon_id]
    assert word != 0, "editions: unknown coupon"
    edition_id: uint256 = coupon_id >> SERIAL_BITS
    if edition_id != checked:
        assert self._acts_for(self._editions[edition_id].merchant), (
            "editions: caller may not redeem this coupon"
        )
        assert block.timestamp >= convert(self._editions[edition_id].valid_from, uint256), (
            "editions: not yet valid"
        )
        assert block.timestamp < convert(self._editions[edition_id].valid_until, uint256), (
            "editions: expired"
        )
    self._check_active(word)
    self._coupons[coupon_id] = (word & ~STATUS_MASK) | (
        convert(STATUS_REDEEMED, uint256) << STATUS_SHIFT
    )
    # Cannot overflow: redeemed <= sold <= 2**32.
    self._editions[edition_id].redeemed = unsafe_add(self._editions[edition_id].redeemed, 1)
    log CouponRedeemed(
        edition_id=edition_id, coupon_id=coupon_id, owner=self._owner(word), by=msg.sender
    )
    return edition_id


@internal
def _void(coupon_id: uint256, checked: uint256) -> uint256:
    """Voids one coupon; `checked` as in `_redeem`. Returns its edition."""
    word: uint256 = self._coupons[coupon_id]
    assert word != 0, "editions: unknown coupon"
    edition_id: uint256 = coupon_id >> SERIAL_BITS
    if edition_id != checked:
        assert msg.sender == self._editions[edition_id].merchant, (
            "editions: caller is not the edition's merchant"
        )
    self._check_active(word)
    self._coupons[coupon_id] = (word & ~STATUS_MASK) | (
        convert(STATUS_VOIDED, uint256) << STATUS_SHIFT
    )
    # Cannot overflow: voided <= sold <= 2**32.
    self._editions[edition_id].voided = unsafe_add(self._editions[edition_id].voided, 1)
    log CouponVoided(
        edition_id=edition_id, coupon_id=coupon_id, owner=self._owner(word), by=msg.sender
    )
    return edition_id


@pure
@internal
def _owner(word: uint256) -> address:
    return convert(convert(word & OWNER_MASK, uint160), address)


@pure
@internal
def _check_active(word: uint256):
    status: uint256 = (word >> STATUS_SHIFT) & 255
    assert status != convert(STATUS_REDEEMED, uint256), "editions: coupon already redeemed"
    assert status != convert(STATUS_VOIDED, uint256), "editions: coupon voided"
