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
        token.set_till_limit(merchant, 500_000_000)          # platform: 500 CCC in all
        token.till_credit(consumer, 20_000_000, receipt)     # merchant or its terminal
        token.till_remaining(merchant)                       # 480_000_000
        ```
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

NAME: constant(String[25]) = "CouponChain Credit"
SYMBOL: constant(String[5]) = "CCC"
DECIMALS: constant(uint8) = 6
EIP712_VERSION: constant(String[20]) = "1"

MAX_BATCH: constant(uint256) = 1024
ROLE_MERCHANT: constant(uint8) = 2
ROLE_CONSUMER: constant(uint8) = 4


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

# @dev The participant registry whose platform account may mint.
registry: public(immutable(IRegistry))

# @dev Per merchant: the most its tills may credit in all, as the platform
#      last set it, and what they have credited so far (never decreases).
till_limit: public(HashMap[address, uint256])
till_credited: public(HashMap[address, uint256])


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
