# pragma version ~=0.4.3
"""
@title CouponChain Credit (CCC), the settlement token
@notice A plain ERC-20 with 6 decimals in which every CouponChain payment
        settles. It is built on snekmate's `erc20` module; only the
        registry's current platform account may create tokens, and nobody
        can burn them, so the supply only changes through `mint` and
        `mint_batch`.

        ```
        token: IERC20 = IERC20(deploy(token.vy, registry))
        token.mint(merchant, 1_000_000)                      # platform: 1 CCC
        token.mint_batch([a, b], [5_000_000, 2_500_000])     # platform, all or nothing
        token.transfer(b, 250_000)                           # any holder
        ```
@custom:security Minting rights follow `registry.platform()` at call time,
                 so a `transfer_platform` on the registry moves them too.
                 snekmate's own owner and minter roles are renounced in the
                 constructor and its `mint`, `set_minter`, `burn` and
                 ownership functions are not exported, so no second minting
                 path exists. Failures inside the ERC-20 core revert with
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
)

NAME: constant(String[25]) = "CouponChain Credit"
SYMBOL: constant(String[5]) = "CCC"
DECIMALS: constant(uint8) = 6
EIP712_VERSION: constant(String[20]) = "1"

MAX_BATCH: constant(uint256) = 1024

# @dev The participant registry whose platform account may mint.
registry: public(immutable(IRegistry))


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
