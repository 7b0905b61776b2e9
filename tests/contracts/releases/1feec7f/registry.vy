# pragma version ~=0.4.3
"""
@title Participant registry
@notice Every participant of CouponChain has one chain account and one role:
        platform (the deployer), merchant, terminal (bound to one merchant) or
        consumer. The other contracts ask this registry who may do what, so a
        compromised API still cannot make one merchant act for another.

        ```
        registry.register_batch([m], [ROLE_MERCHANT], [empty(address)])   # platform
        registry.register_batch([t], [ROLE_TERMINAL], [m])                # platform or m
        registry.register_batch([c], [ROLE_CONSUMER], [empty(address)])   # platform or any merchant
        ```
"""

from interfaces import IRegistry

implements: IRegistry

ROLE_NONE: constant(uint8) = 0
ROLE_PLATFORM: constant(uint8) = 1
ROLE_MERCHANT: constant(uint8) = 2
ROLE_TERMINAL: constant(uint8) = 3
ROLE_CONSUMER: constant(uint8) = 4

MAX_BATCH: constant(uint256) = 1024

event ParticipantRegistered:
    account: indexed(address)
    role: uint8
    merchant: indexed(address)
    registrar: indexed(address)

event PlatformTransferred:
    previous: indexed(address)
    new: indexed(address)

platform: public(address)
role_of: public(HashMap[address, uint8])
_merchant_of: HashMap[address, address]


@deploy
def __init__():
    """
    @dev The deployer becomes the platform account.
    """
    self.platform = msg.sender
    self.role_of[msg.sender] = ROLE_PLATFORM
    log ParticipantRegistered(
        account=msg.sender, role=ROLE_PLATFORM, merchant=empty(address), registrar=msg.sender
    )


@view
@external
def merchant_of(account: address) -> address:
    """
    @dev The merchant an account acts for.
    @param account The account to look up.
    @return The merchant itself for a merchant, the bound merchant for a
            terminal, empty(address) for anyone else.
    """
    return self._merchant_of[account]


@external
def register(account: address, role: uint8, merchant: address):
    """
    @dev Registers one participant; see `register_batch` for the rules.
    @param account The new participant's chain account.
    @param role 2 merchant, 3 terminal, 4 consumer.
    @param merchant The merchant a terminal is bound to; empty otherwise.
    """
    self._register(account, role, merchant)


@external
def register_batch(
    accounts: DynArray[address, MAX_BATCH],
    roles: DynArray[uint8, MAX_BATCH],
    merchants: DynArray[address, MAX_BATCH],
):
    """
    @dev Registers many participants in one transaction; all or nothing.
         The platform registers merchants, terminals and consumers; a merchant
         registers its own terminals and consumers.
    @param accounts The new participants' chain accounts (unregistered, non-zero).
    @param roles Their roles, one per account.
    @param merchants For terminals, the bound merchant; empty(address) otherwise.
    @custom:security Bounded by MAX_BATCH; each item costs constant gas.
    """
    assert len(roles) == len(accounts), "registry: roles length mismatch"
    assert len(merchants) == len(accounts), "registry: merchants length mismatch"
    for i: uint256 in range(len(accounts), bound=MAX_BATCH):
        self._register(accounts[i], roles[i], merchants[i])


@external
def transfer_platform(new_platform: address):
    """
    @dev Hands the platform role to another account (key rotation).
    @param new_platform An unregistered account that becomes the platform.
    """
    assert msg.sender == self.platform, "registry: caller is not the platform"
    assert new_platform != empty(address), "registry: zero account"
    assert self.role_of[new_platform] == ROLE_NONE, "registry: account already registered"
    self.role_of[msg.sender] = ROLE_NONE
    self.role_of[new_platform] = ROLE_PLATFORM
    self.platform = new_platform
    log PlatformTransferred(previous=msg.sender, new=new_platform)
    log ParticipantRegistered(
        account=new_platform, role=ROLE_PLATFORM, merchant=empty(address), registrar=msg.sender
    )


@internal
def _register(account: address, role: uint8, merchant: address):
    caller_role: uint8 = self.role_of[msg.sender]
    assert account != empty(address), "registry: zero account"
    assert self.role_of[account] == ROLE_NONE, "registry: account already registered"
    if role == ROLE_MERCHANT:
        assert caller_role == ROLE_PLATFORM, "registry: only the platform registers merchants"
        assert merchant == empty(address), "registry: a merchant has no merchant"
        self._merchant_of[account] = account
    elif role == ROLE_TERMINAL:
        assert self.role_of[merchant] == ROLE_MERCHANT, "registry: unknown merchant"
        assert caller_role == ROLE_PLATFORM or msg.sender == merchant, (
            "registry: caller may not register terminals of this merchant"
        )
        self._merchant_of[account] = merchant
    elif role == ROLE_CONSUMER:
        assert caller_role == ROLE_PLATFORM or caller_role == ROLE_MERCHANT, (
            "registry: caller may not register consumers"
        )
        assert merchant == empty(address), "registry: a consumer has no merchant"
    else:
        raise "registry: unknown role"
    self.role_of[account] = role
    log ParticipantRegistered(account=account, role=role, merchant=merchant, registrar=msg.sender)
