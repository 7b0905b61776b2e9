# pragma version ~=0.4.3
"""
@title CouponChain Credit (CCC), the settlement token
@notice A plain ERC-20 with 6 decimals in which every CouponChain payment
        settles. It is built on snekmate's `erc20` module; nobody can burn
        tokens, and the supply only grows in two ways: the registry's
        current platform account creates them (`mint`, `mint_batch`, e.g.
        for a payment it received), and a merchant (or one of its
        terminals) credits a consumer at its till for cash or a card
        payment the shop took (`till_credit`), within a till limit the
        platform set for that merchant (`set_till_limit`).

        ```
        token: IERC20 = IERC20(deploy(token.vy, registry))
        token.mint(merchant, 1_000_000)                      # platform: 1 CCC
        token.mint_batch([a, b], [5_000_000, 2_500_000])     # platform, all or nothing
        token.transfer(b, 250_000)                           # any holder
        token.permit(owner, spender, value, deadline, v, r, s)  # EIP-2612, signed by owner
        token.transferWithAuthorization(owner, to, value, valid_after, valid_before,
                                        nonce, v, r, s)      # EIP-3009, signed by owner
        token.set_till_limit(merchant, 500_000_000)          # platform: 500 CCC in all
        token.till_credit(consumer, 20_000_000, receipt)     # merchant or its terminal
        token.till_remaining(merchant)                       # 480_000_000
        ```

        Migration (issue 23): a new token carries the one it replaces over,
        reading every figure from it on chain; the platform only chooses the
        accounts and the order (`begin_migration`, `import_balances`,
        `import_holder`, `import_till_limits`, `import_allowances`,
        `finish_migration`, which refuses until the supply equals the
        predecessor's). Tokens an old capability contract held are credited
        to the new contract that names it as its `predecessor()`, and
        allowances to an old capability become allowances to the new one.
        EIP-2612 nonces and EIP-3009 authorization states are not carried:
        the EIP-712 domain names the token's own address, so nothing signed
        for the old token verifies on the new one.
@custom:security Minting rights follow `registry.platform()` at call time,
                 so a platform transfer on the registry (once accepted) moves them too.
                 snekmate's own owner and minter roles are renounced in the
                 constructor and its `mint`, `set_minter`, `burn` and
                 ownership functions are not exported, so no minting path
                 exists beside the platform's and the tills'. A till credit
                 is bounded by the platform: a merchant's credits (its own
                 and its terminals', together) never add up to more than the
                 till limit the platform last set for it; only an active
                 merchant or an active terminal bound to one may credit, and
                 only a registered active consumer may receive. Failures inside the ERC-20 core revert with
                 snekmate's `"erc20: ..."` strings; this contract's own checks
                 revert with `"token: ..."`.
"""

from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed
from interfaces import IRegistry
from snekmate.auth import ownable
from snekmate.tokens import erc20

implements: IERC20
implements: IERC20Detailed

initializes: ownable
initializes: erc20[ownable := ownable]

exports: (
    erc20.transfer,
    erc20.approve,
    erc20.transferFrom,
    erc20.balanceOf,
    erc20.allowance,
    erc20.totalSupply,
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    # EIP-2612: a holder signs an allowance for exactly one payment (a
    # self-custodied consumer's purchase, issue 23) instead of approving
    # without limit from an account that has no gas.
    erc20.permit,
    erc20.nonces,
    erc20.DOMAIN_SEPARATOR,
    erc20.eip712Domain,
)

# EIP-3009 typed data, under the EIP-2612 domain above (name "CouponChain
# Credit", version "1", this chain, this token). The strings are the EIP's own.
_TRANSFER_WITH_AUTHORIZATION_TYPEHASH: constant(bytes32) = keccak256(
    "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,"
    "uint256 validBefore,bytes32 nonce)"
)
_CANCEL_AUTHORIZATION_TYPEHASH: constant(bytes32) = keccak256(
    "CancelAuthorization(address authorizer,bytes32 nonce)"
)
# secp256k1n / 2: a larger `s` is the malleable twin of a valid signature
# (the bound snekmate's `ecdsa` applies to `permit`).
_MALLEABILITY_THRESHOLD: constant(uint256) = (
    57_896_044_618_658_097_711_785_492_504_343_953_926_418_782_139_537_452_191_302_581_570_759_080_747_168
)

NAME: constant(String[25]) = "CouponChain Credit"
SYMBOL: constant(String[5]) = "CCC"
DECIMALS: constant(uint8) = 6
EIP712_VERSION: constant(String[20]) = "1"

MAX_BATCH: constant(uint256) = 1024
ROLE_MERCHANT: constant(uint8) = 2
ROLE_CONSUMER: constant(uint8) = 4


# What a migration reads from the token it replaces: the ERC-20 views (every
# release) and, from releases with till credits, the till figures.
interface Predecessor:
    def balanceOf(account: address) -> uint256: view
    def allowance(owner: address, spender: address) -> uint256: view
    def totalSupply() -> uint256: view
    def till_limit(merchant: address) -> uint256: view
    def till_credited(merchant: address) -> uint256: view


# A capability contract being carried over names the one it replaces.
interface Successor:
    def predecessor() -> address: view


event TillLimitSet:
    merchant: indexed(address)
    platform: indexed(address)
    limit: uint256
    credited: uint256
    remaining: uint256

event TillCredited:
    merchant: indexed(address)
    consumer: indexed(address)
    operator: address
    amount: uint256
    remaining: uint256
    reference: bytes32

# EIP-3009: an authorization was used (its transfer made) or cancelled.
event AuthorizationUsed:
    authorizer: indexed(address)
    nonce: indexed(bytes32)

event AuthorizationCanceled:
    authorizer: indexed(address)
    nonce: indexed(bytes32)

event MigrationStarted:
    predecessor: indexed(address)

event HolderImported:
    old_holder: indexed(address)
    new_holder: indexed(address)
    amount: uint256

event MigrationFinished:
    predecessor: indexed(address)
    total_supply: uint256

# @dev The participant registry whose platform account may mint.
registry: public(immutable(IRegistry))

# @dev Per merchant: the most its tills may credit in all, as the platform
#      last set it, and what they have credited so far (never decreases).
till_limit: public(HashMap[address, uint256])
till_credited: public(HashMap[address, uint256])

# @dev The token this one carries balances over from (a migration), whether
#      the migration is under way (no minting then), and the accounts (old
#      addresses for contracts) whose balance was carried over already.
predecessor: public(address)
migrating: public(bool)
carried: public(HashMap[address, bool])

# @dev EIP-3009: per authorizer, the nonces used or cancelled (random 32-byte
#      values the authorizer picks, not a counter, so several may be pending).
#      A migration does not carry them: the new token's EIP-712 domain names
#      its own address, so no authorization signed for the old one verifies.
_authorization_used: HashMap[address, HashMap[bytes32, bool]]


@deploy
def __init__(registry_: IRegistry):
    """
    @dev Sets the token metadata and binds minting to `registry_.platform()`.
         snekmate's `erc20` makes the deployer its owner and a minter; both
         roles are renounced here (with their events) so the registry is the
         only source of minting rights.
    @param registry_ The participant registry; must not be the zero address.
    """
    assert registry_.address != empty(address), "token: zero registry"
    registry = registry_

    ownable.__init__()
    erc20.__init__(NAME, SYMBOL, DECIMALS, NAME, EIP712_VERSION)

    erc20.is_minter[msg.sender] = False
    log erc20.RoleMinterChanged(minter=msg.sender, status=False)
    ownable._transfer_ownership(empty(address))


@external
def mint(to: address, amount: uint256):
    """
    @dev Creates `amount` tokens for `to` and emits `Transfer` from the zero
         address.
    @param to The receiving account; must not be the zero address.
    @param amount The amount in the token's smallest unit (1 CCC = 10**6).
    @custom:security Only the registry's current platform account may call.
                     The total supply is checked for overflow.
    """
    self._check_platform()
    assert not self.migrating, "token: migration in progress"
    self._mint(to, amount)


@external
def mint_batch(recipients: DynArray[address, MAX_BATCH], amounts: DynArray[uint256, MAX_BATCH]):
    """
    @dev Creates `amounts[i]` tokens for `recipients[i]` for every `i`, in
         one transaction; all or nothing. A recipient may appear more than
         once and then receives the sum of its amounts. Emits one `Transfer`
         from the zero address per item.
    @param recipients The receiving accounts; none may be the zero address.
    @param amounts The amounts, one per recipient, in the smallest unit.
    @custom:security Only the registry's current platform account may call.
                     Bounded by MAX_BATCH; each item costs constant gas. Any
                     failing item (zero recipient, supply overflow) reverts
                     the whole batch.
    """
    self._check_platform()
    assert not self.migrating, "token: migration in progress"
    assert len(amounts) == len(recipients), "token: amounts length mismatch"
    for i: uint256 in range(len(recipients), bound=MAX_BATCH):
        self._mint(recipients[i], amounts[i])


@external
def set_till_limit(merchant: address, limit: uint256):
    """
    @dev Sets the most `merchant`'s tills may credit in all, counting what
         they credited before: raising the limit from 500 to 800 CCC lets
         them credit 300 CCC more. A limit at or below what was credited
         stops further credits. Emits `TillLimitSet`.
    @param merchant The merchant; raising its limit needs it registered and
           active (lowering never does: a suspended merchant can be stopped).
    @param limit The new limit in the token's smallest unit.
    @custom:security Only the registry's current platform account may call.
                     The limit is cumulative, not an allowance that a set
                     replaces, so a credit landing just before a new limit
                     is still counted against it (no approve-style race).
    """
    self._check_platform()
    assert merchant != empty(address), "token: zero merchant"
    assert limit <= self.till_limit[merchant] or (
        staticcall registry.role_of(merchant) == ROLE_MERCHANT
    ), "token: not an active merchant"
    self.till_limit[merchant] = limit
    credited: uint256 = self.till_credited[merchant]
    log TillLimitSet(
        merchant=merchant,
        platform=msg.sender,
        limit=limit,
        credited=credited,
        remaining=self._remaining(limit, credited),
    )


@external
def till_credit(consumer: address, amount: uint256, reference: bytes32) -> uint256:
    """
    @dev Creates `amount` tokens for `consumer`, paid at the caller's till
         (cash or card the shop took), out of the remaining till limit of
         the merchant the caller acts for. Emits `Transfer` from the zero
         address and `TillCredited`.
    @param consumer A registered, active consumer.
    @param amount The amount in the smallest unit; not zero, at most what is
           left of the merchant's till limit.
    @param reference The shop's reference of the payment (e.g. its receipt
           number), recorded as given; zero for none.
    @return uint256 What is left of the merchant's till limit afterwards.
    @custom:security The caller is an active merchant or an active terminal
                     of an active merchant (`registry.merchant_of`); the
                     credit counts against that merchant's limit, so the sum
                     of all its tills' credits never exceeds the limit the
                     platform set.
    """
    assert not self.migrating, "token: migration in progress"
    merchant: address = staticcall registry.merchant_of(msg.sender)
    assert merchant != empty(address), "token: caller is not an active merchant or terminal"
    assert staticcall registry.role_of(consumer) == ROLE_CONSUMER, (
        "token: recipient is not a consumer"
    )
    assert amount != 0, "token: zero amount"
    limit: uint256 = self.till_limit[merchant]
    credited: uint256 = self.till_credited[merchant]
    assert amount <= self._remaining(limit, credited), "token: till limit exceeded"
    # Cannot overflow: credited + amount <= limit, a uint256.
    credited = unsafe_add(credited, amount)
    self.till_credited[merchant] = credited
    self._mint(consumer, amount)
    remaining: uint256 = unsafe_sub(limit, credited)  # credited <= limit, checked above
    log TillCredited(
        merchant=merchant,
        consumer=consumer,
        operator=msg.sender,
        amount=amount,
        remaining=remaining,
        reference=reference,
    )
    return remaining


@external
@view
def till_remaining(merchant: address) -> uint256:
    """
    @dev What `merchant`'s tills may still credit: its limit less what they
         credited, or zero when the limit was lowered below that.
    @param merchant Any account (zero for one without a limit).
    @return uint256 The remaining till limit in the smallest unit.
    """
    return self._remaining(self.till_limit[merchant], self.till_credited[merchant])


# --- EIP-3009: transfers the holder signed ----------------------------------------------


@external
def transferWithAuthorization(
    from_: address,
    to: address,
    amount: uint256,
    validAfter: uint256,
    validBefore: uint256,
    nonce: bytes32,
    v: uint8,
    r: bytes32,
    s: bytes32,
):
    """
    @dev Moves `amount` from `from_` to `to`, as `from_` signed it in an
         EIP-3009 `TransferWithAuthorization` under this token's EIP-712
         domain; anyone may submit it (a relayer pays the gas). Emits
         `AuthorizationUsed` and `Transfer`.
    @notice Unlike an EIP-2612 permit (an allowance a spender may then send
            anywhere), the signature fixes the recipient and the amount: a
            relayer can submit it or not, never redirect or change it.
    @param from_ The payer, who signed (`from` in the typed data).
    @param to The recipient, as signed; not the zero address.
    @param amount The amount in the smallest unit, as signed (`value` in
           the typed data; Vyper reserves the name).
    @param validAfter The authorization is valid only after this timestamp.
    @param validBefore The authorization is valid only before this timestamp.
    @param nonce A unique 32-byte value the payer chose; usable once.
    @param v The secp256k1 1-byte signature parameter `v` (27 or 28).
    @param r The secp256k1 32-byte signature parameter `r`.
    @param s The secp256k1 32-byte signature parameter `s` (low half only).
    @custom:security The nonce is marked used before the transfer (checks,
                     effects, then snekmate's `_transfer`, which calls no
                     other contract). Signatures are checked as `permit`
                     checks them: 65 bytes (v, r, s), low `s`, ecrecover
                     never accepted when it returns the zero address.
    """
    assert block.timestamp > validAfter, "token: authorization is not yet valid"
    assert block.timestamp < validBefore, "token: authorization is expired"
    self._use_authorization(from_, nonce)
    struct_hash: bytes32 = keccak256(
        abi_encode(
            _TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from_, to, amount, validAfter, validBefore, nonce
        )
    )
    self._check_signer(struct_hash, from_, v, r, s)
    log AuthorizationUsed(authorizer=from_, nonce=nonce)
    erc20._transfer(from_, to, amount)


@external
def cancelAuthorization(authorizer: address, nonce: bytes32, v: uint8, r: bytes32, s: bytes32):
    """
    @dev Voids an authorization not used yet, as `authorizer` signed it in an
         EIP-3009 `CancelAuthorization`; anyone may submit it. Emits
         `AuthorizationCanceled`.
    @param authorizer The payer whose nonce it voids.
    @param nonce The nonce of the authorization to void.
    @param v The secp256k1 1-byte signature parameter `v` (27 or 28).
    @param r The secp256k1 32-byte signature parameter `r`.
    @param s The secp256k1 32-byte signature parameter `s` (low half only).
    @custom:security A used nonce cannot be cancelled, nor a cancelled one
                     used: both share `authorizationState`.
    """
    self._use_authorization(authorizer, nonce)
    self._check_signer(
        keccak256(abi_encode(_CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce)),
        authorizer, v, r, s,
    )
    log AuthorizationCanceled(authorizer=authorizer, nonce=nonce)


@external
@view
def authorizationState(authorizer: address, nonce: bytes32) -> bool:
    """
    @dev Whether `authorizer`'s EIP-3009 `nonce` was used or cancelled.
    @param authorizer The payer.
    @param nonce The authorization's nonce.
    @return bool True once used or cancelled, false while it may still be used.
    """
    return self._authorization_used[authorizer][nonce]


@internal
def _use_authorization(authorizer: address, nonce: bytes32):
    """
    @dev Marks `authorizer`'s `nonce` spent, reverting if it was already.
    """
    assert not self._authorization_used[authorizer][nonce], (
        "token: authorization is used or canceled"
    )
    self._authorization_used[authorizer][nonce] = True


@internal
@view
def _check_signer(struct_hash: bytes32, signer: address, v: uint8, r: bytes32, s: bytes32):
    """
    @dev Reverts unless `signer` signed `struct_hash` under this token's
         EIP-712 domain (the one `permit` uses), with a low-`s` signature.
    """
    assert convert(s, uint256) <= _MALLEABILITY_THRESHOLD, "token: invalid signature s value"
    digest: bytes32 = erc20.eip712_domain_separator._hash_typed_data_v4(struct_hash)
    recovered: address = ecrecover(digest, v, r, s)
    assert recovered != empty(address) and recovered == signer, "token: invalid signature"


# --- migration -----------------------------------------------------------------------------


@external
def begin_migration(predecessor_: address):
    """
    @dev Starts carrying the balances, till figures and allowances of the
         token this one replaces over: by the platform, on a token with no
         supply yet, once. Minting and till credits wait until it finishes.
         Emits `MigrationStarted`.
    @param predecessor_ The token being replaced.
    @custom:security Every figure is read from the predecessor; the platform
                     chooses only accounts and order, and `finish_migration`
                     refuses until the supply equals the predecessor's.
    """
    self._check_platform()
    assert predecessor_ != empty(address), "token: zero predecessor"
    assert erc20.totalSupply == 0 and self.predecessor == empty(address), (
        "token: a migration starts on an unused token"
    )
    self.predecessor = predecessor_
    self.migrating = True
    log MigrationStarted(predecessor=predecessor_)


@external
def import_balances(accounts: DynArray[address, MAX_BATCH]):
    """
    @dev Carries each account's balance over as the predecessor holds it now
         (a `Transfer` from the zero address each, none for a zero balance).
    @param accounts Accounts without code (people's keys), each once.
    @custom:security A contract's balance is carried by `import_holder` to
                     the contract that replaces it, never to its old address,
                     where it would be lost.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    for account: address in accounts:
        assert account != empty(address), "token: zero account"
        assert account.codesize == 0, "token: a contract's balance goes through import_holder"
        assert not self.carried[account], "token: balance already carried over"
        self.carried[account] = True
        amount: uint256 = staticcall old.balanceOf(account)
        if amount != 0:
            erc20._mint(account, amount)


@external
def import_holder(new_holder: address):
    """
    @dev Carries the balance of an old capability contract over to the
         contract that replaces it: `new_holder.predecessor()` names the old
         one, whose balance in the predecessor token `new_holder` receives.
         Emits `HolderImported` (and a `Transfer` from the zero address).
    @param new_holder A new capability contract whose migration has begun.
    @custom:security The old contract's balance is carried once, to the
                     contract that names it as its predecessor (so the new
                     capability's own `finish_migration` finds its funds);
                     the mapping is public in `HolderImported`.
    """
    self._check_migrator()
    assert new_holder.codesize != 0, "token: holder is not a contract"
    old_holder: address = staticcall Successor(new_holder).predecessor()
    assert old_holder != empty(address), "token: holder names no predecessor"
    assert not self.carried[old_holder], "token: balance already carried over"
    self.carried[old_holder] = True
    amount: uint256 = staticcall Predecessor(self.predecessor).balanceOf(old_holder)
    if amount != 0:
        erc20._mint(new_holder, amount)
    log HolderImported(old_holder=old_holder, new_holder=new_holder, amount=amount)


@external
def import_till_limits(merchants: DynArray[address, MAX_BATCH]):
    """
    @dev Carries each merchant's till limit and what its tills credited over
         (a predecessor with till credits only). Emits `TillLimitSet` each.
    @param merchants Merchants with a till limit in the predecessor.
    """
    self._check_migrator()
    old: Predecessor = Predecessor(self.predecessor)
    for merchant: address in merchants:
        limit: uint256 = staticcall old.till_limit(merchant)
        credited: uint256 = staticcall old.till_credited(merchant)
        self.till_limit[merchant] = limit
        self.till_credited[merchant] = credited
        log TillLimitSet(
            merchant=merchant,
            platform=msg.sender,
            limit=limit,
            credited=credited,
            remaining=self._remaining(limit, credited),
        )


@external
def import_allowances(owners: DynArray[address, MAX_BATCH], spenders: DynArray[address, MAX_BATCH]):
    """
    @dev Sets `allowance(owners[i], spenders[i])` to what the owner allowed in
         the predecessor: to the same spender for an account without code,
         to `spenders[i].predecessor()` for a new capability contract (its
         merchants' spending caps move to it). Emits `Approval` each.
    @param owners The owners.
    @param spenders The spenders, as they are now (new capability addresses).
    @custom:security The amount is read from the predecessor, never given.
    """
    self._check_migrator()
    assert len(owners) == len(spenders), "token: spenders length mismatch"
    old: Predecessor = Predecessor(self.predecessor)
    for i: uint256 in range(len(owners), bound=MAX_BATCH):
        spender: address = spenders[i]
        old_spender: address = spender
        if spender.codesize != 0:
            old_spender = staticcall Successor(spender).predecessor()
            assert old_spender != empty(address), "token: spender names no predecessor"
        erc20._approve(owners[i], spender, staticcall old.allowance(owners[i], old_spender))


@external
def finish_migration():
    """
    @dev Ends the migration for good once the supply carried over equals the
         predecessor's total supply. Emits `MigrationFinished`.
    @custom:security Nothing is created beyond what the predecessor holds:
                     each balance is read from it and carried once.
    """
    self._check_migrator()
    supply: uint256 = erc20.totalSupply
    assert supply == staticcall Predecessor(self.predecessor).totalSupply(), (
        "token: balances left to carry over"
    )
    self.migrating = False
    log MigrationFinished(predecessor=self.predecessor, total_supply=supply)


@internal
@view
def _check_migrator():
    """
    @dev Reverts unless the platform calls during a migration.
    """
    self._check_platform()
    assert self.migrating, "token: no migration in progress"


@internal
@pure
def _remaining(limit: uint256, credited: uint256) -> uint256:
    """
    @dev `limit - credited`, or zero when the limit is below what was credited.
    """
    if limit <= credited:
        return 0
    return unsafe_sub(limit, credited)  # limit > credited


@internal
@view
def _check_platform():
    """
    @dev Reverts unless the caller is the registry's current platform account.
    """
    assert msg.sender == staticcall registry.platform(), "token: caller is not the platform"


@internal
def _mint(to: address, amount: uint256):
    """
    @dev Checks the recipient with this contract's revert string, then lets
         snekmate's `_mint` update the supply (checked) and the balance.
    @param to The receiving account.
    @param amount The amount to create.
    """
    assert to != empty(address), "token: mint to the zero address"
    erc20._mint(to, amount)
