# pragma version ~=0.4.3
"""
@title Participant registry
@notice Every participant of CouponChain has one chain account and one role:
        platform (the deployer), merchant, terminal (bound to one merchant) or
        consumer. The other contracts ask this registry who may do what, so a
        compromised API still cannot make one merchant act for another.

        ```
        registry.register_batch([m], [ROLE_MERCHANT], [empty(address)])   # platform
        registry.register_batch([t], [ROLE_TERMINAL], [m])                # m only
        registry.register_batch([c], [ROLE_CONSUMER], [empty(address)])   # platform or any merchant
        registry.suspend(t, "till lost")   # m; `reinstate(t, ...)` undoes it
        registry.unbind(t, "till retired") # m; for good: the key never acts again
        registry.suspend(m, "fraud probe") # platform; m's terminals stop too
        registry.pause(editions, "bug #7") # platform; `unpause` undoes it
        registry.propose_platform(new)     # platform, then `accept_platform()` by new
        ```

        Standing. A merchant or terminal is active, suspended or (a terminal
        only) unbound. `role_of` and `merchant_of` answer for active accounts
        only: a suspended merchant, a terminal of a suspended merchant, and a
        suspended or unbound terminal have no role and act for no merchant, so
        every check a capability makes through them refuses these accounts.
        `registration` keeps what was registered. Each capability also calls
        `check_live(self, msg.sender)` first in every state-changing entry
        point, which refuses a paused capability and a suspended caller with
        the registry's own reason, including where the capability compares
        the caller with a merchant it stored (no registry call otherwise).

        Authority. The platform registers merchants and consumers, suspends
        and reinstates merchants, pauses and unpauses capabilities, and
        proposes its successor; each of these logs an event anyone can read,
        with a reason where one applies. Only a terminal's own merchant
        registers, suspends, reinstates or unbinds it. Platform ownership
        moves in two steps: the current platform proposes, the proposed
        account accepts.
        Migration. A registry that replaces another starts unused, and the
        platform carries participants over (`begin_migration`,
        `import_participants`, `finish_migration`): each account's role and a
        terminal's merchant are read from the predecessor, never given by
        the caller; no one registers until the migration finishes.
@custom:security No one but a merchant binds a terminal to it: a stolen
                 platform key cannot put a till of its own into a merchant's
                 name (it can still suspend the merchant, which is an event
                 with a reason anyone can read).
"""

from interfaces import IRegistry

implements: IRegistry

ROLE_NONE: constant(uint8) = 0
ROLE_PLATFORM: constant(uint8) = 1
ROLE_MERCHANT: constant(uint8) = 2
ROLE_TERMINAL: constant(uint8) = 3
ROLE_CONSUMER: constant(uint8) = 4

STATUS_ACTIVE: constant(uint8) = 0
STATUS_SUSPENDED: constant(uint8) = 1
STATUS_UNBOUND: constant(uint8) = 2

MAX_BATCH: constant(uint256) = 1024
MAX_REASON: constant(uint256) = 200

struct Registration:
    role: uint8
    merchant: address
    status: uint8

event ParticipantRegistered:
    account: indexed(address)
    role: uint8
    merchant: indexed(address)
    registrar: indexed(address)

event ParticipantSuspended:
    account: indexed(address)
    by: indexed(address)
    reason: String[MAX_REASON]

event ParticipantReinstated:
    account: indexed(address)
    by: indexed(address)
    reason: String[MAX_REASON]

event TerminalUnbound:
    account: indexed(address)
    merchant: indexed(address)
    reason: String[MAX_REASON]

event PlatformTransferProposed:
    platform: indexed(address)
    candidate: indexed(address)

event PlatformTransferCancelled:
    platform: indexed(address)
    candidate: indexed(address)

event PlatformTransferred:
    previous: indexed(address)
    new: indexed(address)

event CapabilityPaused:
    capability: indexed(address)
    by: indexed(address)
    reason: String[MAX_REASON]

event CapabilityUnpaused:
    capability: indexed(address)
    by: indexed(address)
    reason: String[MAX_REASON]

event MigrationStarted:
    predecessor: indexed(address)

event MigrationFinished:
    predecessor: indexed(address)
    imported: uint256


# What a migration reads from the registry it replaces (every version has these).
interface Predecessor:
    def role_of(account: address) -> uint8: view
    def merchant_of(account: address) -> address: view

platform: public(address)
# @dev The account proposed as the next platform; empty when none is.
pending_platform: public(address)
# @dev Capability contracts the platform paused.
paused: public(HashMap[address, bool])
_role: HashMap[address, uint8]
_merchant_of: HashMap[address, address]
_status: HashMap[address, uint8]
# @dev The registry this one carries participants over from (a migration);
#      empty for a fresh deployment.
predecessor: public(address)
# @dev Whether participants are being carried over now: no one registers then.
migrating: public(bool)
# @dev Participants carried over from the predecessor.
imported: public(uint256)
# @dev Whether anyone was ever registered or carried over: a migration can only
#      start on an unused registry.
_used: bool


@deploy
def __init__():
    """
    @dev The deployer becomes the platform account.
    """
    self.platform = msg.sender
    self._role[msg.sender] = ROLE_PLATFORM
    log ParticipantRegistered(
        account=msg.sender, role=ROLE_PLATFORM, merchant=empty(address), registrar=msg.sender
    )


# --- views ---------------------------------------------------------------------------------


@view
@external
def role_of(account: address) -> uint8:
    """
    @dev The role an account may act in now.
    @param account The account to look up.
    @return Its registered role while it is active; 0 (none) for a suspended
            merchant, a terminal of one, a suspended or unbound terminal, and
            anyone unregistered.
    """
    if not self._active(account):
        return ROLE_NONE
    return self._role[account]


@view
@external
def merchant_of(account: address) -> address:
    """
    @dev The merchant an account acts for now.
    @param account The account to look up.
    @return The merchant itself for an active merchant, the bound merchant
            for an active terminal of an active merchant, empty(address) for
            anyone else.
    """
    if not self._active(account):
        return empty(address)
    return self._merchant_of[account]


@view
@external
def registration(account: address) -> Registration:
    """
    @dev What was registered for an account, whatever its standing.
    @param account The account to look up.
    @return Its role, its merchant (a terminal keeps the merchant it was bound
            to after unbinding) and its own status: 0 active, 1 suspended,
            2 unbound. A terminal of a suspended merchant keeps status 0 but
            is not active (see `is_active`).
    """
    return Registration(
        role=self._role[account], merchant=self._merchant_of[account], status=self._status[account]
    )


@view
@external
def is_active(account: address) -> bool:
    """
    @dev Whether a registered account may act now.
    @param account The account to look up.
    @return False for unregistered accounts, suspended merchants and their
            terminals, and suspended or unbound terminals.
    """
    return self._role[account] != ROLE_NONE and self._active(account)


@view
@external
def check_live(capability: address, account: address) -> bool:
    """
    @dev Reverts, with the reason, unless `capability` may change state for
         `account` now. Capabilities call it first in every state-changing
         entry point as `assert staticcall REGISTRY.check_live(self, msg.sender)`
         (Vyper wants the result used; it is always True); anyone may call it
         to ask the same question.
    @param capability The capability contract (its own address).
    @param account The caller of the capability.
    @return True.
    @custom:security Unregistered accounts pass: the capability's own checks
                     decide what they may do.
    """
    assert not self.paused[capability], "registry: capability paused"
    status: uint8 = self._status[account]
    assert status != STATUS_UNBOUND, "registry: terminal unbound"
    assert status == STATUS_ACTIVE and self._merchant_active(account), (
        "registry: caller suspended"
    )
    return True


# --- registration --------------------------------------------------------------------------


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
         The platform registers merchants and consumers; a merchant registers
         its own terminals (only it: not the platform) and consumers.
         Terminals are bound to active merchants only; a suspended merchant
         registers no one.
    @param accounts The new participants' chain accounts (unregistered, non-zero).
    @param roles Their roles, one per account.
    @param merchants For terminals, the bound merchant; empty(address) otherwise.
    @custom:security Bounded by MAX_BATCH; each item costs constant gas.
    """
    assert len(roles) == len(accounts), "registry: roles length mismatch"
    assert len(merchants) == len(accounts), "registry: merchants length mismatch"
    for i: uint256 in range(len(accounts), bound=MAX_BATCH):
        self._register(accounts[i], roles[i], merchants[i])


# --- standing ------------------------------------------------------------------------------


@external
def suspend(account: address, reason: String[MAX_REASON]):
    """
    @dev Suspends an active merchant (by the platform) or terminal (by its
         merchant). A suspended merchant's terminals stop with it.
    @param account The merchant or terminal.
    @param reason Why, for everyone to read in the event; not empty.
    """
    self._check_manager(account)
    assert len(reason) > 0, "registry: reason required"
    assert self._status[account] == STATUS_ACTIVE, "registry: account not active"
    self._status[account] = STATUS_SUSPENDED
    log ParticipantSuspended(account=account, by=msg.sender, reason=reason)


@external
def reinstate(account: address, reason: String[MAX_REASON]):
    """
    @dev Lifts a suspension, by whoever may suspend the account.
    @param account A suspended merchant or terminal.
    @param reason Why, for everyone to read in the event; may be empty.
    """
    self._check_manager(account)
    assert self._status[account] == STATUS_SUSPENDED, "registry: account not suspended"
    self._status[account] = STATUS_ACTIVE
    log ParticipantReinstated(account=account, by=msg.sender, reason=reason)


@external
def unbind(terminal: address, reason: String[MAX_REASON]):
    """
    @dev Unbinds a terminal from its merchant for good, by that merchant
         (also while the terminal or the merchant is suspended). The account
         stays registered, so it can never be registered, bound or act again.
    @param terminal A terminal of the caller, active or suspended.
    @param reason Why, for everyone to read in the event; not empty.
    """
    assert self._role[terminal] == ROLE_TERMINAL, "registry: not a terminal"
    assert msg.sender == self._merchant_of[terminal], (
        "registry: caller is not the terminal's merchant"
    )
    assert len(reason) > 0, "registry: reason required"
    assert self._status[terminal] != STATUS_UNBOUND, "registry: terminal unbound"
    self._status[terminal] = STATUS_UNBOUND
    log TerminalUnbound(account=terminal, merchant=msg.sender, reason=reason)


# --- capabilities --------------------------------------------------------------------------


@external
def pause(capability: address, reason: String[MAX_REASON]):
    """
    @dev Pauses a capability contract: it refuses every state change except
         withdrawing what was already credited, until `unpause`.
    @param capability The capability contract's address.
    @param reason Why, for everyone to read in the event; not empty.
    """
    self._check_platform()
    assert capability != empty(address), "registry: zero account"
    assert len(reason) > 0, "registry: reason required"
    assert not self.paused[capability], "registry: capability paused"
    self.paused[capability] = True
    log CapabilityPaused(capability=capability, by=msg.sender, reason=reason)


@external
def unpause(capability: address, reason: String[MAX_REASON]):
    """
    @dev Lets a paused capability change state again.
    @param capability A paused capability contract.
    @param reason Why, for everyone to read in the event; may be empty.
    """
    self._check_platform()
    assert self.paused[capability], "registry: capability not paused"
    self.paused[capability] = False
    log CapabilityUnpaused(capability=capability, by=msg.sender, reason=reason)


# --- platform ownership --------------------------------------------------------------------


@external
def propose_platform(candidate: address):
    """
    @dev First step of a platform key rotation: names the account that may
         accept the platform role. A new proposal replaces a pending one.
    @param candidate An unregistered, non-zero account.
    """
    self._check_platform()
    assert candidate != empty(address), "registry: zero account"
    assert self._role[candidate] == ROLE_NONE, "registry: account already registered"
    self.pending_platform = candidate
    log PlatformTransferProposed(platform=msg.sender, candidate=candidate)


@external
def cancel_platform_transfer():
    """
    @dev Withdraws a pending proposal.
    """
    self._check_platform()
    candidate: address = self.pending_platform
    assert candidate != empty(address), "registry: no transfer pending"
    self.pending_platform = empty(address)
    log PlatformTransferCancelled(platform=msg.sender, candidate=candidate)


@external
def accept_platform():
    """
    @dev Second step: the proposed account takes the platform role; the old
         platform account becomes an ordinary unregistered account.
    @custom:security Proving control of the new key before the switch is the
                     point: a typo in the address cannot lose the platform.
    """
    assert msg.sender == self.pending_platform, "registry: caller is not the proposed platform"
    # Registered since the proposal (say, as a consumer): one account, one role.
    assert self._role[msg.sender] == ROLE_NONE, "registry: account already registered"
    previous: address = self.platform
    self._role[previous] = ROLE_NONE
    self._role[msg.sender] = ROLE_PLATFORM
    self.platform = msg.sender
    self.pending_platform = empty(address)
    log PlatformTransferred(previous=previous, new=msg.sender)
    log ParticipantRegistered(
        account=msg.sender, role=ROLE_PLATFORM, merchant=empty(address), registrar=previous
    )


# --- migration -----------------------------------------------------------------------------


@external
def begin_migration(predecessor: address):
    """
    @dev Starts carrying participants over from the registry this one replaces;
         only on an unused registry, once. Registrations wait until
         `finish_migration`.
    @param predecessor The registry being replaced.
    @custom:security The platform picks only the predecessor (public in the
                     event) and which accounts to carry; what each account is
                     and which merchant a terminal belongs to are read from
                     the predecessor, so no one is bound anew.
    """
    self._check_platform()
    assert predecessor != empty(address), "registry: zero account"
    assert not self._used, "registry: a migration starts on an unused registry"
    self._used = True
    self.predecessor = predecessor
    self.migrating = True
    log MigrationStarted(predecessor=predecessor)


@external
def import_participants(accounts: DynArray[address, MAX_BATCH]):
    """
    @dev Carries accounts over with the role and merchant the predecessor
         gives them now (merchants before their terminals); each logs
         `ParticipantRegistered` with the predecessor as the registrar.
    @param accounts Merchants, terminals or consumers of the predecessor.
    """
    self._check_platform()
    assert self.migrating, "registry: no migration in progress"
    old: Predecessor = Predecessor(self.predecessor)
    for account: address in accounts:
        role: uint8 = staticcall old.role_of(account)
        assert role >= ROLE_MERCHANT and role <= ROLE_CONSUMER, (
            "registry: not a participant of the predecessor"
        )
        assert self._role[account] == ROLE_NONE, "registry: account already registered"
        merchant: address = empty(address)
        if role == ROLE_MERCHANT:
            self._merchant_of[account] = account
        elif role == ROLE_TERMINAL:
            merchant = staticcall old.merchant_of(account)
            assert self._role[merchant] == ROLE_MERCHANT, (
                "registry: carry the terminal's merchant over first"
            )
            self._merchant_of[account] = merchant
        self._role[account] = role
        log ParticipantRegistered(
            account=account, role=role, merchant=merchant, registrar=self.predecessor
        )
    self.imported += len(accounts)


@external
def finish_migration():
    """
    @dev Ends the migration for good: registrations resume, nothing more is
         carried over.
    """
    self._check_platform()
    assert self.migrating, "registry: no migration in progress"
    self.migrating = False
    log MigrationFinished(predecessor=self.predecessor, imported=self.imported)


# --- internals -----------------------------------------------------------------------------


@view
@internal
def _merchant_active(account: address) -> bool:
    # A terminal stands or falls with its merchant; for anyone else this is
    # the account's own merchant entry (itself, or empty), always active here.
    if self._role[account] != ROLE_TERMINAL:
        return True
    return self._status[self._merchant_of[account]] == STATUS_ACTIVE


@view
@internal
def _active(account: address) -> bool:
    return self._status[account] == STATUS_ACTIVE and self._merchant_active(account)


@view
@internal
def _check_platform():
    assert msg.sender == self.platform, "registry: caller is not the platform"


@view
@internal
def _check_manager(account: address):
    # Who may suspend or reinstate `account`: the platform its merchants, a
    # merchant its own terminals; nobody anyone else.
    role: uint8 = self._role[account]
    if role == ROLE_MERCHANT:
        assert msg.sender == self.platform, "registry: only the platform suspends merchants"
    elif role == ROLE_TERMINAL:
        assert msg.sender == self._merchant_of[account], (
            "registry: caller is not the terminal's merchant"
        )
    else:
        raise "registry: only merchants and terminals are suspended"


@internal
def _register(account: address, role: uint8, merchant: address):
    assert not self.migrating, "registry: migration in progress"
    if not self._used:
        self._used = True
    caller_role: uint8 = ROLE_NONE
    if self._active(msg.sender):
        caller_role = self._role[msg.sender]
    assert account != empty(address), "registry: zero account"
    assert self._role[account] == ROLE_NONE, "registry: account already registered"
    if role == ROLE_MERCHANT:
        assert caller_role == ROLE_PLATFORM, "registry: only the platform registers merchants"
        assert merchant == empty(address), "registry: a merchant has no merchant"
        self._merchant_of[account] = account
    elif role == ROLE_TERMINAL:
        assert self._role[merchant] == ROLE_MERCHANT, "registry: unknown merchant"
        assert self._status[merchant] == STATUS_ACTIVE, "registry: merchant suspended"
        # Only the merchant itself binds a terminal to it: the platform key
        # must not be able to act for a merchant through a till of its own.
        assert msg.sender == merchant, "registry: only the merchant registers its terminals"
        self._merchant_of[account] = merchant
    elif role == ROLE_CONSUMER:
        assert caller_role == ROLE_PLATFORM or caller_role == ROLE_MERCHANT, (
            "registry: caller may not register consumers"
        )
        assert merchant == empty(address), "registry: a consumer has no merchant"
    else:
        raise "registry: unknown role"
    self._role[account] = role
    log ParticipantRegistered(account=account, role=role, merchant=merchant, registrar=msg.sender)
