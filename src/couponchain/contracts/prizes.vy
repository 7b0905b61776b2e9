# pragma version ~=0.4.3
"""
@title Prize campaigns, awards and claims
@notice A merchant creates a prize campaign (up to 16 prize kinds with
        quantities, the terminals that may hand prizes out, a claim window and
        a per-consumer claim limit), awards prizes to registered consumers, and
        its eligible terminals (or the merchant itself) record the claims made
        at the counter by scanning the consumer's rotating code (see
        `couponchain.domain.prize_codes`). The code carries the winner's
        EIP-712 signature of `PrizeClaim(award, campaign, merchant, expiry)`
        (`couponchain.domain.prize_claim_consent`), checked here: a claim is
        recorded only with the signature of the award's consumer, whoever
        sends it. The campaign's merchant may adjust a running campaign:
        move the window's end, change a prize's stock, change the eligible
        terminals; each change is an event naming who made it and the hash
        of its reason (the text is kept off chain).

        ```
        cid = prizes.create_campaign("Summer draw", ["Mug", "Tote"], [100, 20],
                                     [t1, t2], False, starts, ends, 1)       # merchant
        first = prizes.award(cid, [alice, bob], [0, 1])   # merchant; awards first, first + 1
        prizes.claim_batch([first, first + 1], [alice, bob],    # eligible terminal or merchant,
                           [expiry, expiry], [sig_a, sig_b])  # with each winner's signature
        prizes.claim_batch_at([first], [alice], [t1], [expiry], [sig_a])  # merchant, for t1
        prizes.revoke_award(first + 1)                    # merchant, unclaimed awards only
        prizes.change_window(cid, new_ends, reason_hash)  # merchant, campaign not ended
        prizes.change_stock(cid, 1, 30, reason_hash)      # merchant: not below awarded
        prizes.change_terminals(cid, [t3], [t2], False, reason_hash)  # merchant
        ```

        Rules that cannot be broken: per prize `claimed <= awarded <= quantity`;
        an award is claimed at most once; a consumer claims at most
        `per_consumer_limit` prizes of a campaign; claims happen only inside
        the half-open window `starts <= block.timestamp < ends` and only by the
        campaign's merchant or an eligible terminal of that merchant, and only
        with the consumer's signature of the claim (bound to the award, its
        campaign and merchant, and an expiry at most `MAX_CLAIM_LIFETIME`
        ahead; an award is claimed once, so the signature cannot be replayed).
        `awarded` counts live awards: revoking an unclaimed award gives its unit
        back to the stock (and `revoked` counts it).

        Batches (`award`, `claim_batch`) are all or nothing: the first item
        that breaks a rule reverts the whole call with that rule's reason, so
        a gateway can split a failing batch and retry the rest.

        Storage, packed so that a claim writes two slots (the award word and
        the consumer's claim counter; the prize counters of a batch are
        written once per prize per run of the same campaign):
        - `_awards[id]`: consumer (bits 0-159) | status (160-167) |
          prize index (168-175) | campaign id (176-255).
        - `_prizes[campaign][index]`: quantity (0-63) | awarded (64-127) |
          claimed (128-191) | revoked (192-255).
"""

from snekmate.utils import ecdsa
from snekmate.utils import eip712_domain_separator as eip712

from interfaces import IRegistry

initializes: eip712
exports: eip712.eip712Domain

ROLE_MERCHANT: constant(uint8) = 2
ROLE_TERMINAL: constant(uint8) = 3
ROLE_CONSUMER: constant(uint8) = 4

# Award status, bits 160-167 of the award word; 0 means "no such award".
STATUS_NONE: constant(uint8) = 0
STATUS_AWARDED: constant(uint8) = 1
STATUS_CLAIMED: constant(uint8) = 2
STATUS_REVOKED: constant(uint8) = 3

MAX_PRIZES: constant(uint256) = 16
MAX_TERMINALS: constant(uint256) = 64
MAX_BATCH: constant(uint256) = 256
MAX_QUANTITY: constant(uint256) = 2**64 - 1
# The longest a winner's claim signature may still be valid when recorded:
# the offline window (at most 7 days) and a day to put the claim on chain.
MAX_CLAIM_LIFETIME: constant(uint256) = 8 * 86_400

PRIZE_CLAIM_TYPEHASH: constant(bytes32) = keccak256(
    "PrizeClaim(uint256 award,uint256 campaign,address merchant,uint256 expiry)"
)

_ADDRESS_MASK: constant(uint256) = 2**160 - 1
_BYTE_MASK: constant(uint256) = 2**8 - 1
_COUNTER_MASK: constant(uint256) = 2**64 - 1
_STATUS_SHIFT: constant(uint256) = 160
_INDEX_SHIFT: constant(uint256) = 168
_CAMPAIGN_SHIFT: constant(uint256) = 176
_STATUS_MASK: constant(uint256) = 255 << 160
_AWARDED_SHIFT: constant(uint256) = 64
_CLAIMED_SHIFT: constant(uint256) = 128
_REVOKED_SHIFT: constant(uint256) = 192


struct Campaign:
    merchant: address
    starts: uint64
    ends: uint64
    per_consumer_limit: uint256
    prize_count: uint256
    all_terminals: bool
    title: String[64]


struct Prize:
    name: String[32]
    quantity: uint256
    awarded: uint256
    claimed: uint256
    revoked: uint256


struct Award:
    campaign_id: uint256
    consumer: address
    prize_index: uint256
    status: uint8


event CampaignCreated:
    campaign_id: indexed(uint256)
    merchant: indexed(address)
    title: String[64]
    prize_names: DynArray[String[32], MAX_PRIZES]
    quantities: DynArray[uint256, MAX_PRIZES]
    terminals: DynArray[address, MAX_TERMINALS]
    all_terminals: bool
    starts: uint64
    ends: uint64
    per_consumer_limit: uint256

event Awarded:
    award_id: indexed(uint256)
    campaign_id: indexed(uint256)
    consumer: indexed(address)
    prize_index: uint256

event Claimed:
    award_id: indexed(uint256)
    campaign_id: indexed(uint256)
    consumer: indexed(address)
    prize_index: uint256
    terminal: address
    claimed_at: uint64

event AwardRevoked:
    award_id: indexed(uint256)
    campaign_id: indexed(uint256)
    consumer: indexed(address)
    prize_index: uint256


event WindowChanged:
    campaign_id: indexed(uint256)
    by: indexed(address)
    starts: uint64
    old_ends: uint64
    ends: uint64
    reason_hash: bytes32

event StockChanged:
    campaign_id: indexed(uint256)
    by: indexed(address)
    prize_index: uint256
    old_quantity: uint256
    quantity: uint256
    reason_hash: bytes32

event TerminalsChanged:
    campaign_id: indexed(uint256)
    by: indexed(address)
    added: DynArray[address, MAX_TERMINALS]
    removed: DynArray[address, MAX_TERMINALS]
    all_terminals: bool
    reason_hash: bytes32

event MigrationStarted:
    predecessor: indexed(address)

event MigrationFinished:
    predecessor: indexed(address)
    campaigns: uint256
    awards: uint256


# What a migration reads from the prizes contract it replaces (unchanged since
# the first release).
interface Predecessor:
    def campaign_count() -> uint256: view
    def award_count() -> uint256: view
    def campaign(campaign_id: uint256) -> Campaign: view
    def prize(campaign_id: uint256, index: uint256) -> Prize: view
    def award_of(award_id: uint256) -> Award: view
    def claims_of(campaign_id: uint256, consumer: address) -> uint256: view
    def terminal_eligible(campaign_id: uint256, terminal: address) -> bool: view


REGISTRY: public(immutable(IRegistry))

# Append new variables at the end, never reorder (read models and proofs
# rely on the layout).
campaign_count: public(uint256)
award_count: public(uint256)
_campaigns: HashMap[uint256, Campaign]
_prizes: HashMap[uint256, HashMap[uint256, uint256]]
_prize_names: HashMap[uint256, HashMap[uint256, String[32]]]
_eligible: HashMap[uint256, HashMap[address, bool]]
_awards: HashMap[uint256, uint256]
_claims: HashMap[uint256, HashMap[address, uint256]]
# @dev The prizes contract this one carries state over from (a migration).
predecessor: public(address)
# @dev Whether state is being carried over now: no campaign is created then.
migrating: public(bool)


@deploy
def __init__(registry: address):
    """
    @dev Binds the contract to the participant registry for its lifetime.
    @param registry The participant registry.
    """
    assert registry != empty(address), "prizes: zero registry"
    REGISTRY = IRegistry(registry)
    eip712.__init__("CouponChain Prizes", "1")


@external
def create_campaign(
    title: String[64],
    prize_names: DynArray[String[32], MAX_PRIZES],
    quantities: DynArray[uint256, MAX_PRIZES],
    terminals: DynArray[address, MAX_TERMINALS],
    all_terminals: bool,
    starts: uint64,
    ends: uint64,
    per_consumer_limit: uint256,
) -> uint256:
    """
    @dev Creates a prize campaign of the calling merchant.
    @param title The campaign's title, 1-64 bytes.
    @param prize_names The prize kinds' short names (1-32 bytes each), 1 to 16
           kinds; a prize is addressed by its index in this list.
    @param quantities The stock of each prize kind, 1 to 2**64 - 1.
    @param terminals The merchant's terminals that may record claims (no
           repeats); must be empty when `all_terminals` is set.
    @param all_terminals Every terminal of the merchant, present and future,
           may record claims.
    @param starts Start of the claim window (epoch seconds, inclusive).
    @param ends End of the claim window (epoch seconds, exclusive); after
           `starts` and in the future.
    @param per_consumer_limit The most prizes one consumer may claim in this
           campaign, at least 1.
    @return uint256 The new campaign id (sequential from 1).
    @custom:security Only an account with the merchant role creates, for
                     itself; listed terminals must be bound to it in the
                     registry (the binding never changes).
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    assert not self.migrating, "prizes: migration in progress"
    assert staticcall REGISTRY.role_of(msg.sender) == ROLE_MERCHANT, (
        "prizes: caller is not a merchant"
    )
    assert len(title) != 0, "prizes: empty title"
    n: uint256 = len(prize_names)
    assert n != 0, "prizes: no prizes"
    assert len(quantities) == n, "prizes: quantities length mismatch"
    assert starts < ends, "prizes: empty or inverted window"
    assert convert(ends, uint256) > block.timestamp, "prizes: window already ended"
    assert per_consumer_limit != 0, "prizes: zero per-consumer limit"
    if all_terminals:
        assert len(terminals) == 0, "prizes: terminal list given with all terminals"
    else:
        assert len(terminals) != 0, "prizes: no eligible terminals"

    # Cannot overflow: one campaign per call.
    campaign_id: uint256 = unsafe_add(self.campaign_count, 1)
    self.campaign_count = campaign_id
    for i: uint256 in range(n, bound=MAX_PRIZES):
        assert len(prize_names[i]) != 0, "prizes: empty prize name"
        assert quantities[i] != 0, "prizes: zero quantity"
        assert quantities[i] <= MAX_QUANTITY, "prizes: quantity too large"
        self._prizes[campaign_id][i] = quantities[i]
        self._prize_names[campaign_id][i] = prize_names[i]
    for terminal: address in terminals:
        assert staticcall REGISTRY.role_of(terminal) == ROLE_TERMINAL, (
            "prizes: not a terminal"
        )
        assert staticcall REGISTRY.merchant_of(terminal) == msg.sender, (
            "prizes: terminal of another merchant"
        )
        assert not self._eligible[campaign_id][terminal], "prizes: duplicate terminal"
        self._eligible[campaign_id][terminal] = True
    self._campaigns[campaign_id] = Campaign(
        merchant=msg.sender,
        starts=starts,
        ends=ends,
        per_consumer_limit=per_consumer_limit,
        prize_count=n,
        all_terminals=all_terminals,
        title=title,
    )
    log CampaignCreated(
        campaign_id=campaign_id,
        merchant=msg.sender,
        title=title,
        prize_names=prize_names,
        quantities=quantities,
        terminals=terminals,
        all_terminals=all_terminals,
        starts=starts,
        ends=ends,
        per_consumer_limit=per_consumer_limit,
    )
    return campaign_id


@external
def award(
    campaign_id: uint256,
    consumers: DynArray[address, MAX_BATCH],
    prize_indexes: DynArray[uint256, MAX_BATCH],
) -> uint256:
    """
    @dev Awards `prize_indexes[i]` of the campaign to `consumers[i]`; award
         ids are global and sequential. All or nothing.
    @param campaign_id A campaign of the caller whose window has not ended.
    @param consumers Registered consumers (repeats allowed).
    @param prize_indexes One prize index per consumer; no prize's live awards
           may exceed its quantity.
    @return uint256 The first award id; the call made `[first, first + n)`.
    @custom:security The campaign's merchant only (not its terminals). One
                     fresh slot per award; prize counters written once per
                     prize kind.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    assert not self.migrating, "prizes: migration in progress"
    merchant: address = self._campaigns[campaign_id].merchant
    assert merchant != empty(address), "prizes: unknown campaign"
    assert msg.sender == merchant, "prizes: caller is not the campaign's merchant"
    assert block.timestamp < convert(self._campaigns[campaign_id].ends, uint256), (
        "prizes: campaign ended"
    )
    n: uint256 = len(consumers)
    assert n != 0, "prizes: empty batch"
    assert len(prize_indexes) == n, "prizes: prize indexes length mismatch"
    prize_count: uint256 = self._campaigns[campaign_id].prize_count
    added: uint256[MAX_PRIZES] = empty(uint256[MAX_PRIZES])
    first: uint256 = self.award_count + 1
    for i: uint256 in range(n, bound=MAX_BATCH):
        consumer: address = consumers[i]
        index: uint256 = prize_indexes[i]
        assert index < prize_count, "prizes: unknown prize"
        assert staticcall REGISTRY.role_of(consumer) == ROLE_CONSUMER, (
            "prizes: recipient is not a consumer"
        )
        word: uint256 = self._prizes[campaign_id][index]
        # Cannot overflow: awarded and quantity are below 2**64, added <= 256.
        live: uint256 = unsafe_add((word >> _AWARDED_SHIFT) & _COUNTER_MASK, added[index])
        assert live < word & _COUNTER_MASK, "prizes: prize out of stock"
        added[index] = unsafe_add(added[index], 1)
        award_id: uint256 = unsafe_add(first, i)
        self._awards[award_id] = self._pack_award(consumer, STATUS_AWARDED, index, campaign_id)
        log Awarded(
            award_id=award_id, campaign_id=campaign_id, consumer=consumer, prize_index=index
        )
    for index: uint256 in range(prize_count, bound=MAX_PRIZES):
        if added[index] != 0:
            # awarded + added <= quantity < 2**64 (checked above): the sum
            # stays inside the awarded field.
            self._prizes[campaign_id][index] = unsafe_add(
                self._prizes[campaign_id][index], added[index] << _AWARDED_SHIFT
            )
    self.award_count = unsafe_add(first, n) - 1
    return first


@external
def claim(award_id: uint256, consumer: address, expiry: uint256, signature: Bytes[65]):
    """
    @dev Records that `consumer` collected the prize of `award_id`.
    @param award_id An awarded, unclaimed, unrevoked award.
    @param consumer The award's consumer (as read from the scanned code).
    @param expiry The consumer's claim signature's expiry (epoch seconds).
    @param signature The consumer's 65-byte (r, s, v) EIP-712 signature of
           `PrizeClaim(award_id, campaign, merchant, expiry)`.
    @custom:security See `claim_batch`.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    self._claim_all([award_id], [consumer], [], [expiry], [signature])


@external
def claim_batch(
    award_ids: DynArray[uint256, MAX_BATCH],
    consumers: DynArray[address, MAX_BATCH],
    expiries: DynArray[uint256, MAX_BATCH],
    signatures: DynArray[Bytes[65], MAX_BATCH],
):
    """
    @dev Records many claims, of any campaigns the caller may claim for.
         All or nothing: the first claim that breaks a rule reverts the whole
         batch with that rule's reason (a repeated award id fails as
         "already claimed").
    @param award_ids The awards collected.
    @param consumers The consumer of each award, as read from its code; a
           mismatch is refused.
    @param expiries The expiry of each consumer's claim signature: not past,
           at most `MAX_CLAIM_LIFETIME` ahead.
    @param signatures Each award's consumer's 65-byte EIP-712 signature of
           `PrizeClaim(award, campaign, merchant, expiry)` (`claim_digest`).
    @custom:security The caller is the campaign's merchant or a terminal
                     eligible for the campaign; the time must be inside the
                     claim window; the award's consumer signed the claim;
                     the consumer's claims in the campaign stay within the
                     limit. The rotating code's platform signature and
                     one-time use are checked off chain by the service.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    assert len(award_ids) != 0, "prizes: empty batch"
    assert len(consumers) == len(award_ids), "prizes: consumers length mismatch"
    assert len(expiries) == len(award_ids), "prizes: expiries length mismatch"
    assert len(signatures) == len(award_ids), "prizes: signatures length mismatch"
    self._claim_all(award_ids, consumers, [], expiries, signatures)


@external
def claim_batch_at(
    award_ids: DynArray[uint256, MAX_BATCH],
    consumers: DynArray[address, MAX_BATCH],
    terminals: DynArray[address, MAX_BATCH],
    expiries: DynArray[uint256, MAX_BATCH],
    signatures: DynArray[Bytes[65], MAX_BATCH],
):
    """
    @dev Records claims made at the merchant's terminals, many terminals in
         one transaction (how the platform records a busy campaign's claims).
         All or nothing, as `claim_batch`; each `Claimed` event names the
         terminal that scanned the code.
    @param award_ids The awards collected.
    @param consumers The consumer of each award, as read from its code.
    @param terminals The terminal that scanned each award's code.
    @param expiries The expiry of each consumer's claim signature.
    @param signatures Each award's consumer's claim signature, as `claim_batch`.
    @custom:security The caller is the campaign's merchant, vouching for its
                     own terminals: each terminal must be eligible for the
                     campaign (an eligible terminal of that merchant, or the
                     merchant itself). Window, signature and limit rules as
                     `claim_batch`.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    assert len(award_ids) != 0, "prizes: empty batch"
    assert len(consumers) == len(award_ids), "prizes: consumers length mismatch"
    assert len(terminals) == len(award_ids), "prizes: terminals length mismatch"
    assert len(expiries) == len(award_ids), "prizes: expiries length mismatch"
    assert len(signatures) == len(award_ids), "prizes: signatures length mismatch"
    self._claim_all(award_ids, consumers, terminals, expiries, signatures)


@external
def revoke_award(award_id: uint256):
    """
    @dev Withdraws an unclaimed award; its unit goes back to the prize's stock.
    @param award_id An awarded, unclaimed award.
    @custom:security The campaign's merchant only.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    word: uint256 = self._awards[award_id]
    assert word != 0, "prizes: unknown award"
    campaign_id: uint256 = word >> _CAMPAIGN_SHIFT
    assert msg.sender == self._campaigns[campaign_id].merchant, (
        "prizes: caller is not the campaign's merchant"
    )
    self._check_awarded(word)
    self._awards[award_id] = self._with_status(word, STATUS_REVOKED)
    index: uint256 = (word >> _INDEX_SHIFT) & _BYTE_MASK
    # awarded >= 1 (this award is live) and revoked < 2**64: no wrap-around
    # between fields.
    self._prizes[campaign_id][index] = unsafe_add(
        unsafe_sub(self._prizes[campaign_id][index], 1 << _AWARDED_SHIFT), 1 << _REVOKED_SHIFT
    )
    log AwardRevoked(
        award_id=award_id,
        campaign_id=campaign_id,
        consumer=self._to_address(word),
        prize_index=index,
    )


@external
def change_window(campaign_id: uint256, ends: uint64, reason_hash: bytes32):
    """
    @dev Moves the end of a running campaign's claim window (extends or
         shortens it); the start stays.
    @param campaign_id A campaign of the caller that has not ended.
    @param ends The new end (epoch seconds, exclusive): in the future and
           after the window's start.
    @param reason_hash keccak256 of the merchant's reason (the text is kept
           off chain); not zero.
    @custom:security The campaign's merchant only. Claims already recorded
                     stay valid; a shortened window refuses later claims.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    self._check_adjustable(campaign_id, reason_hash)
    assert convert(ends, uint256) > block.timestamp, "prizes: window end not in the future"
    starts: uint64 = self._campaigns[campaign_id].starts
    assert starts < ends, "prizes: empty or inverted window"
    old_ends: uint64 = self._campaigns[campaign_id].ends
    self._campaigns[campaign_id].ends = ends
    log WindowChanged(
        campaign_id=campaign_id,
        by=msg.sender,
        starts=starts,
        old_ends=old_ends,
        ends=ends,
        reason_hash=reason_hash,
    )


@external
def change_stock(campaign_id: uint256, prize_index: uint256, quantity: uint256,
                 reason_hash: bytes32):
    """
    @dev Sets a prize's stock of a running campaign (adds units, or takes
         back units not awarded).
    @param campaign_id A campaign of the caller that has not ended.
    @param prize_index A prize of the campaign.
    @param quantity The new stock: at least the prize's live awards and 1,
           at most 2**64 - 1.
    @param reason_hash keccak256 of the merchant's reason; not zero.
    @custom:security The campaign's merchant only; `claimed <= awarded <=
                     quantity` keeps holding.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    self._check_adjustable(campaign_id, reason_hash)
    assert prize_index < self._campaigns[campaign_id].prize_count, "prizes: unknown prize"
    assert quantity != 0, "prizes: zero quantity"
    assert quantity <= MAX_QUANTITY, "prizes: quantity too large"
    word: uint256 = self._prizes[campaign_id][prize_index]
    assert quantity >= (word >> _AWARDED_SHIFT) & _COUNTER_MASK, "prizes: stock below awarded"
    old_quantity: uint256 = word & _COUNTER_MASK
    # quantity < 2**64: it replaces the quantity field alone.
    self._prizes[campaign_id][prize_index] = (word & ~_COUNTER_MASK) | quantity
    log StockChanged(
        campaign_id=campaign_id,
        by=msg.sender,
        prize_index=prize_index,
        old_quantity=old_quantity,
        quantity=quantity,
        reason_hash=reason_hash,
    )


@external
def change_terminals(
    campaign_id: uint256,
    added: DynArray[address, MAX_TERMINALS],
    removed: DynArray[address, MAX_TERMINALS],
    all_terminals: bool,
    reason_hash: bytes32,
):
    """
    @dev Changes which terminals may record a running campaign's claims.
    @param campaign_id A campaign of the caller that has not ended.
    @param added Terminals of the caller to list (not listed yet).
    @param removed Listed terminals to drop.
    @param all_terminals The new value of the campaign's "every terminal of
           the merchant" flag (with it, the list is kept but not needed).
    @param reason_hash keccak256 of the merchant's reason; not zero.
    @custom:security The campaign's merchant only; a terminal is checked as
                     at creation (role, bound to the merchant). Removing
                     terminals is applied before adding.
    """
    assert staticcall REGISTRY.check_live(self, msg.sender)  # the registry reverts with its reason
    self._check_adjustable(campaign_id, reason_hash)
    for terminal: address in removed:
        assert self._eligible[campaign_id][terminal], "prizes: terminal not listed"
        self._eligible[campaign_id][terminal] = False
    for terminal: address in added:
        assert staticcall REGISTRY.role_of(terminal) == ROLE_TERMINAL, (
            "prizes: not a terminal"
        )
        assert staticcall REGISTRY.merchant_of(terminal) == msg.sender, (
            "prizes: terminal of another merchant"
        )
        assert not self._eligible[campaign_id][terminal], "prizes: duplicate terminal"
        self._eligible[campaign_id][terminal] = True
    self._campaigns[campaign_id].all_terminals = all_terminals
    log TerminalsChanged(
        campaign_id=campaign_id,
        by=msg.sender,
        added=added,
        removed=removed,
        all_terminals=all_terminals,
        reason_hash=reason_hash,
    )


# --- migration -----------------------------------------------------------------------------


@external
def begin_migration(predecessor: address):
    """
    @dev Starts carrying campaigns, awards and claims over from the contract
         this one replaces: by the platform, on an unused contract, once.
    @param predecessor The prizes contract being replaced.
    @custom:security Every campaign, prize counter, award and claim count is
                     read from the predecessor; the platform chooses only
                     the batches, and which terminals to ask about (each
                     must be eligible there). `finish_migration` refuses
                     until every campaign and award is carried over.
    """
    self._check_platform()
    assert predecessor != empty(address) and self.campaign_count == 0 and (
        self.predecessor == empty(address)
    ), "prizes: migration needs an unused contract"
    self.predecessor = predecessor
    self.migrating = True
    log MigrationStarted(predecessor=predecessor)


@external
def import_campaigns(count: uint256):
    """
    @dev Carries the predecessor's next `count` campaigns over, in id order,
         with their prizes and counters as they are there now.
    @param count How many, at most MAX_BATCH.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    first: uint256 = self._next_batch(self.campaign_count, count, staticcall old.campaign_count())
    for i: uint256 in range(count, bound=MAX_BATCH):
        campaign_id: uint256 = first + i
        c: Campaign = staticcall old.campaign(campaign_id)
        self._campaigns[campaign_id] = c
        for index: uint256 in range(c.prize_count, bound=MAX_PRIZES):
            p: Prize = staticcall old.prize(campaign_id, index)
            self._prize_names[campaign_id][index] = p.name
            self._prizes[campaign_id][index] = (
                p.quantity
                | (p.awarded << _AWARDED_SHIFT)
                | (p.claimed << _CLAIMED_SHIFT)
                | (p.revoked << _REVOKED_SHIFT)
            )
    self.campaign_count = first + count - 1


@external
def import_terminals(campaign_id: uint256, terminals: DynArray[address, MAX_TERMINALS]):
    """
    @dev Carries over which terminals a carried campaign lists; each must be
         eligible in the predecessor (a campaign of all the merchant's
         terminals lists none).
    @param campaign_id A carried campaign.
    @param terminals Terminals the predecessor's campaign lists.
    """
    self._check_migrator()
    merchant: address = self._campaigns[campaign_id].merchant
    assert merchant != empty(address), "prizes: carry the campaign over first"
    old: Predecessor = Predecessor(self.predecessor)
    for terminal: address in terminals:
        assert terminal != merchant and staticcall old.terminal_eligible(campaign_id, terminal), (
            "prizes: terminal not listed there"
        )
        self._eligible[campaign_id][terminal] = True


@external
def import_awards(count: uint256):
    """
    @dev Carries the predecessor's next `count` awards over, in id order, with
         their status, and each winner's claim count in the award's campaign.
    @param count How many, at most MAX_BATCH.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    first: uint256 = self._next_batch(self.award_count, count, staticcall old.award_count())
    for i: uint256 in range(count, bound=MAX_BATCH):
        award_id: uint256 = first + i
        a: Award = staticcall old.award_of(award_id)
        assert self._campaigns[a.campaign_id].merchant != empty(address), (
            "prizes: carry the campaign over first"
        )
        self._awards[award_id] = self._pack_award(a.consumer, a.status, a.prize_index,
                                                  a.campaign_id)
        self._claims[a.campaign_id][a.consumer] = staticcall old.claims_of(
            a.campaign_id, a.consumer
        )
    self.award_count = first + count - 1


@external
def finish_migration():
    """
    @dev Ends the migration for good, once every campaign and award is
         carried over.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    assert self.campaign_count == staticcall old.campaign_count() and (
        self.award_count == staticcall old.award_count()
    ), "prizes: state left to carry over"
    self.migrating = False
    log MigrationFinished(
        predecessor=self.predecessor, campaigns=self.campaign_count, awards=self.award_count
    )


@view
@internal
def _check_platform():
    assert msg.sender == staticcall REGISTRY.platform(), "prizes: caller is not the platform"


@view
@internal
def _check_migrator():
    self._check_platform()
    assert self.migrating, "prizes: no migration in progress"


@pure
@internal
def _next_batch(have: uint256, count: uint256, total: uint256) -> uint256:
    # The first id of a batch of `count` after `have`, within the predecessor's `total`.
    assert count > 0 and count <= MAX_BATCH and have + count <= total, (
        "prizes: batch beyond the predecessor"
    )
    return have + 1


@view
@external
def campaign(campaign_id: uint256) -> Campaign:
    """
    @dev The parameters of a campaign.
    @param campaign_id The campaign.
    @return Campaign All zero (merchant empty) for an unknown id.
    """
    return self._campaigns[campaign_id]


@view
@external
def prize(campaign_id: uint256, index: uint256) -> Prize:
    """
    @dev A prize kind of a campaign with its counters.
    @param campaign_id The campaign.
    @param index The prize's index in the campaign's list.
    @return Prize All zero for an unknown campaign or index.
    """
    word: uint256 = self._prizes[campaign_id][index]
    return Prize(
        name=self._prize_names[campaign_id][index],
        quantity=word & _COUNTER_MASK,
        awarded=(word >> _AWARDED_SHIFT) & _COUNTER_MASK,
        claimed=(word >> _CLAIMED_SHIFT) & _COUNTER_MASK,
        revoked=word >> _REVOKED_SHIFT,
    )


@view
@external
def award_of(award_id: uint256) -> Award:
    """
    @dev The stored record of an award.
    @param award_id The award.
    @return Award Status 0 (and everything zero) for an unknown id.
    """
    word: uint256 = self._awards[award_id]
    return Award(
        campaign_id=word >> _CAMPAIGN_SHIFT,
        consumer=self._to_address(word),
        prize_index=(word >> _INDEX_SHIFT) & _BYTE_MASK,
        status=convert((word >> _STATUS_SHIFT) & _BYTE_MASK, uint8),
    )


@view
@external
def claims_of(campaign_id: uint256, consumer: address) -> uint256:
    """
    @dev How many prizes a consumer claimed in a campaign.
    @param campaign_id The campaign.
    @param consumer The consumer.
    @return uint256 The count, at most the campaign's per-consumer limit.
    """
    return self._claims[campaign_id][consumer]


@view
@external
def terminal_eligible(campaign_id: uint256, terminal: address) -> bool:
    """
    @dev Whether an account may record claims of a campaign (the window
         aside): the campaign's merchant, a listed terminal, or with
         `all_terminals` any terminal bound to the merchant.
    @param campaign_id The campaign.
    @param terminal The account.
    @return bool True if `claim` by this account passes the caller check.
    """
    return self._eligible_caller(campaign_id, terminal)


@view
@external
def claim_digest(award_id: uint256, campaign_id: uint256, merchant: address,
                 expiry: uint256) -> bytes32:
    """
    @dev The EIP-712 digest a winner signs to let a prize claim be recorded.
    @param award_id The award.
    @param campaign_id The award's campaign.
    @param merchant The campaign's merchant.
    @param expiry The signature's expiry (epoch seconds).
    @return bytes32 keccak256(0x1901 || domainSeparator || hashStruct(PrizeClaim)).
    """
    return self._claim_digest(award_id, campaign_id, merchant, expiry)


@view
@external
def domain_separator() -> bytes32:
    """
    @dev The EIP-712 domain separator ("CouponChain Prizes", "1", chain id,
         this contract).
    @return bytes32 The domain separator for the current chain.
    """
    return eip712._domain_separator_v4()


@view
@internal
def _claim_digest(award_id: uint256, campaign_id: uint256, merchant: address,
                  expiry: uint256) -> bytes32:
    return eip712._hash_typed_data_v4(
        keccak256(abi_encode(PRIZE_CLAIM_TYPEHASH, award_id, campaign_id, merchant, expiry))
    )


@view
@internal
def _check_signed(award_id: uint256, campaign_id: uint256, merchant: address,
                  consumer: address, expiry: uint256, signature: Bytes[65]):
    """The winner's own word that this award is being handed over: the claim
    is recorded only with the consumer's signature, whoever sends it."""
    assert expiry >= block.timestamp, "prizes: claim signature expired"
    assert expiry - block.timestamp <= MAX_CLAIM_LIFETIME, (
        "prizes: claim signature lifetime too long"
    )
    # The 64-byte EIP-2098 form is refused so one claim has one encoding.
    assert len(signature) == 65, "prizes: signature must be 65 bytes"
    signer: address = ecdsa._recover_sig(
        self._claim_digest(award_id, campaign_id, merchant, expiry), signature
    )
    assert signer == consumer, "prizes: claim not signed by the consumer"


@view
@internal
def _check_adjustable(campaign_id: uint256, reason_hash: bytes32):
    merchant: address = self._campaigns[campaign_id].merchant
    assert merchant != empty(address), "prizes: unknown campaign"
    assert msg.sender == merchant, "prizes: caller is not the campaign's merchant"
    assert block.timestamp < convert(self._campaigns[campaign_id].ends, uint256), (
        "prizes: campaign ended"
    )
    assert reason_hash != empty(bytes32), "prizes: no reason"


@view
@internal
def _eligible_caller(campaign_id: uint256, account: address) -> bool:
    merchant: address = self._campaigns[campaign_id].merchant
    if merchant == empty(address):
        return False
    if account == merchant or self._eligible[campaign_id][account]:
        return True
    # Only merchants and terminals have a merchant in the registry, and a
    # merchant's is itself: another account mapping to `merchant` is one of
    # its terminals.
    return self._campaigns[campaign_id].all_terminals and (
        staticcall REGISTRY.merchant_of(account) == merchant
    )


@internal
def _claim_all(
    award_ids: DynArray[uint256, MAX_BATCH],
    consumers: DynArray[address, MAX_BATCH],
    terminals: DynArray[address, MAX_BATCH],
    expiries: DynArray[uint256, MAX_BATCH],
    signatures: DynArray[Bytes[65], MAX_BATCH],
):
    """Claims every award; caller and window checks run once per run of awards
    of the same campaign, and each run's prize counters are written once.
    Without `terminals` the caller is the terminal of every claim; with them
    the caller must be the campaign's merchant and each terminal eligible."""
    current: uint256 = 0
    limit: uint256 = 0
    added: uint256[MAX_PRIZES] = empty(uint256[MAX_PRIZES])
    claimed_at: uint64 = convert(block.timestamp, uint64)
    at_terminals: bool = len(terminals) != 0
    checked: address = empty(address)
    merchant: address = empty(address)
    for i: uint256 in range(len(award_ids), bound=MAX_BATCH):
        award_id: uint256 = award_ids[i]
        word: uint256 = self._awards[award_id]
        assert word != 0, "prizes: unknown award"
        consumer: address = self._to_address(word)
        assert consumer == consumers[i], "prizes: consumer mismatch"
        campaign_id: uint256 = word >> _CAMPAIGN_SHIFT
        if campaign_id != current:
            if current != 0:
                self._add_claimed(current, added)
                added = empty(uint256[MAX_PRIZES])
            merchant = self._campaigns[campaign_id].merchant
            if at_terminals:
                assert msg.sender == merchant, (
                    "prizes: caller is not the campaign's merchant"
                )
            else:
                assert self._eligible_caller(campaign_id, msg.sender), (
                    "prizes: terminal not eligible"
                )
            assert block.timestamp >= convert(self._campaigns[campaign_id].starts, uint256), (
                "prizes: claim window not open"
            )
            assert block.timestamp < convert(self._campaigns[campaign_id].ends, uint256), (
                "prizes: claim window closed"
            )
            limit = self._campaigns[campaign_id].per_consumer_limit
            current = campaign_id
            checked = empty(address)
        terminal: address = msg.sender
        if at_terminals:
            terminal = terminals[i]
            if terminal != checked:  # runs of one terminal are checked once
                assert self._eligible_caller(campaign_id, terminal), (
                    "prizes: terminal not eligible"
                )
                checked = terminal
        self._check_awarded(word)
        self._check_signed(award_id, campaign_id, merchant, consumer, expiries[i], signatures[i])
        claims: uint256 = self._claims[campaign_id][consumer]
        assert claims < limit, "prizes: per-consumer limit reached"
        # Cannot overflow: claims < limit.
        self._claims[campaign_id][consumer] = unsafe_add(claims, 1)
        self._awards[award_id] = self._with_status(word, STATUS_CLAIMED)
        index: uint256 = (word >> _INDEX_SHIFT) & _BYTE_MASK
        added[index] = unsafe_add(added[index], 1)
        log Claimed(
            award_id=award_id,
            campaign_id=campaign_id,
            consumer=consumer,
            prize_index=index,
            terminal=terminal,
            claimed_at=claimed_at,
        )
    self._add_claimed(current, added)


@internal
def _add_claimed(campaign_id: uint256, added: uint256[MAX_PRIZES]):
    prize_count: uint256 = self._campaigns[campaign_id].prize_count
    for index: uint256 in range(prize_count, bound=MAX_PRIZES):
        if added[index] != 0:
            word: uint256 = self._prizes[campaign_id][index]
            # Each counted claim turned a live award claimed exactly once, so
            # claimed + added <= awarded <= quantity < 2**64: no wrap-around.
            claimed: uint256 = unsafe_add((word >> _CLAIMED_SHIFT) & _COUNTER_MASK, added[index])
            assert claimed <= (word >> _AWARDED_SHIFT) & _COUNTER_MASK, "prizes: stock exceeded"
            self._prizes[campaign_id][index] = unsafe_add(word, added[index] << _CLAIMED_SHIFT)


@pure
@internal
def _check_awarded(word: uint256):
    status: uint256 = (word >> _STATUS_SHIFT) & _BYTE_MASK
    assert status != convert(STATUS_CLAIMED, uint256), "prizes: award already claimed"
    assert status != convert(STATUS_REVOKED, uint256), "prizes: award revoked"


@pure
@internal
def _pack_award(consumer: address, status: uint8, index: uint256, campaign_id: uint256) -> uint256:
    # index < 16 fits 8 bits; campaign ids count up from 1 and never reach 2**80.
    return (
        convert(consumer, uint256)
        | (convert(status, uint256) << _STATUS_SHIFT)
        | (index << _INDEX_SHIFT)
        | (campaign_id << _CAMPAIGN_SHIFT)
    )


@pure
@internal
def _with_status(word: uint256, status: uint8) -> uint256:
    return (word & ~_STATUS_MASK) | (convert(status, uint256) << _STATUS_SHIFT)


@pure
@internal
def _to_address(word: uint256) -> address:
    return convert(convert(word & _ADDRESS_MASK, uint160), address)
