"""Stateful invariants of contracts/registry.vy.

Random registrations, batches, suspensions, reinstatements, unbindings, pauses
and two-step platform rotations by random callers. The ghost keeps each
account's role, binding and standing, the platform, a pending proposal and the
paused capabilities, predicts the exact revert string of every call from it,
and is checked against the contract's storage after every step.
"""

from dataclasses import dataclass, field

import boa
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule
from storage_reader import StorageReader
from test_registry import (
    ERR_CONSUMER_CALLER,
    ERR_CONSUMER_HAS_MERCHANT,
    ERR_DUPLICATE,
    ERR_FOREIGN_TERMINAL,
    ERR_MERCHANT_BY_NON_PLATFORM,
    ERR_MERCHANT_HAS_MERCHANT,
    ERR_MERCHANT_SUSPENDED,
    ERR_MERCHANTS_LENGTH,
    ERR_NO_TRANSFER,
    ERR_NOT_A_TERMINAL,
    ERR_NOT_ACTIVE,
    ERR_NOT_PAUSED,
    ERR_NOT_PLATFORM,
    ERR_NOT_PROPOSED,
    ERR_NOT_SUSPENDABLE,
    ERR_NOT_SUSPENDED,
    ERR_NOT_TERMINALS_MERCHANT,
    ERR_ONLY_PLATFORM_SUSPENDS,
    ERR_PAUSED,
    ERR_REASON,
    ERR_ROLES_LENGTH,
    ERR_SUSPENDED,
    ERR_UNBOUND,
    ERR_UNKNOWN_MERCHANT,
    ERR_UNKNOWN_ROLE,
    ERR_ZERO,
    STATUS_ACTIVE,
    STATUS_SUSPENDED,
    STATUS_UNBOUND,
    as_tuples,
    registered,
)

from conftest import ZERO, ContractMachine, deployer, quiet
from couponchain.domain.roles import Role

# --- stateful machine --------------------------------------------------------------------

# Every run starts with the platform, two merchants and a terminal of the first
# registered, so that every rule (a merchant's own and foreign terminals,
# suspending, reinstating and unbinding them among them) is reachable in a few
# steps; seven accounts leave three to register (a rotation frees the old
# platform key), ten steps reach that depth (`conftest.MACHINE_STEPS`;
# the number of runs comes from `conftest.MACHINE_EXAMPLES`).
N_ACCOUNTS = 7
N_MERCHANTS = 2
ROLES = st.sampled_from([2, 3, 4] * 4 + [0, 1, 5, 255])  # mostly valid roles
REASONS = st.sampled_from(["lost", "lost", "probe", "probe", ""])


@dataclass
class Ghost:
    """What the registry should hold: roles, bindings, standing, the platform
    account, a pending platform proposal and the paused capabilities."""

    platform: str
    roles: dict[str, int] = field(default_factory=dict)
    merchant_of: dict[str, str] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    pending: str = ZERO
    paused: set[str] = field(default_factory=set)
    #: Who registered each terminal: always its own merchant (issue 23).
    registrar: dict[str, str] = field(default_factory=dict)

    def copy(self) -> "Ghost":
        return Ghost(self.platform, dict(self.roles), dict(self.merchant_of), dict(self.status),
                     self.pending, set(self.paused), dict(self.registrar))

    def role(self, account: str) -> int:
        """The registered role, whatever the standing."""
        return self.roles.get(account, Role.NONE)

    def own_status(self, account: str) -> int:
        return self.status.get(account, STATUS_ACTIVE)

    def active(self, account: str) -> bool:
        """Whether `role_of` and `merchant_of` answer for the account: its own
        status is active and, for a terminal, its merchant's too."""
        if self.own_status(account) != STATUS_ACTIVE:
            return False
        if self.role(account) == Role.TERMINAL:
            return self.own_status(self.merchant_of[account]) == STATUS_ACTIVE
        return True

    def role_of(self, account: str) -> int:
        return self.role(account) if self.active(account) else Role.NONE

    def acting_merchant(self, account: str) -> str:
        return self.merchant_of.get(account, ZERO) if self.active(account) else ZERO

    def live_error(self, capability: str, account: str) -> str | None:
        """What `check_live(capability, account)` reverts with, if anything."""
        if capability in self.paused:
            return ERR_PAUSED
        if self.own_status(account) == STATUS_UNBOUND:
            return ERR_UNBOUND
        return None if self.active(account) else ERR_SUSPENDED

    def register(self, caller: str, account: str, role: int, merchant: str) -> str | None:
        """Applies one registration; returns the revert string instead if it fails,
        checking in the contract's order."""
        caller_role = self.role_of(caller)
        if account == ZERO:
            return ERR_ZERO
        if self.role(account) != Role.NONE:
            return ERR_DUPLICATE
        if role == Role.MERCHANT:
            if caller_role != Role.PLATFORM:
                return ERR_MERCHANT_BY_NON_PLATFORM
            if merchant != ZERO:
                return ERR_MERCHANT_HAS_MERCHANT
            self.merchant_of[account] = account
        elif role == Role.TERMINAL:
            if self.role(merchant) != Role.MERCHANT:
                return ERR_UNKNOWN_MERCHANT
            if self.own_status(merchant) != STATUS_ACTIVE:
                return ERR_MERCHANT_SUSPENDED
            if caller != merchant:  # not even the platform (issue 23)
                return ERR_FOREIGN_TERMINAL
            self.merchant_of[account] = merchant
            self.registrar[account] = caller
        elif role == Role.CONSUMER:
            if caller_role not in (Role.PLATFORM, Role.MERCHANT):
                return ERR_CONSUMER_CALLER
            if merchant != ZERO:
                return ERR_CONSUMER_HAS_MERCHANT
        else:
            return ERR_UNKNOWN_ROLE
        self.roles[account] = role
        return None

    def manager_error(self, caller: str, account: str) -> str | None:
        """Whether `caller` may suspend or reinstate `account` (the contract's order)."""
        role = self.role(account)
        if role == Role.MERCHANT:
            return None if caller == self.platform else ERR_ONLY_PLATFORM_SUSPENDS
        if role == Role.TERMINAL:
            return None if caller == self.merchant_of[account] else ERR_NOT_TERMINALS_MERCHANT
        return ERR_NOT_SUSPENDABLE


class RegistryMachine(ContractMachine):
    """Random registrations, batches, suspensions, unbindings, pauses and
    two-step platform rotations by random callers.

    The registry is deployed, with two merchants, once per test run.
    """

    accounts: list[str] = []
    capabilities: list[str] = []
    registry = state = None

    def __init__(self) -> None:
        super().__init__()
        platform, *merchants = self.accounts[: 1 + N_MERCHANTS]
        terminal = self.accounts[1 + N_MERCHANTS]
        self.ghost = Ghost(
            platform=platform,
            roles={platform: Role.PLATFORM} | {m: Role.MERCHANT for m in merchants}
            | {terminal: Role.TERMINAL},
            merchant_of={m: m for m in merchants} | {terminal: merchants[0]},
            registrar={terminal: merchants[0]},
        )
        self.changed: set[str] = set()  # accounts the last step registered, rotated or moved

    def teardown(self) -> None:
        try:
            self._check_bindings(self.accounts)
        finally:
            super().teardown()

    @classmethod
    def deploy(cls) -> None:
        cls.accounts = [boa.env.generate_address(f"participant-{i}") for i in range(N_ACCOUNTS)]
        cls.capabilities = [boa.env.generate_address(f"capability-{i}") for i in range(2)]
        merchants = cls.accounts[1 : 1 + N_MERCHANTS]
        with boa.env.prank(cls.accounts[0]):
            cls.registry = quiet(deployer("registry").deploy())
            cls.registry.register_batch(merchants, [Role.MERCHANT] * N_MERCHANTS,
                                        [ZERO] * N_MERCHANTS)
        with boa.env.prank(merchants[0]):
            cls.registry.register(cls.accounts[1 + N_MERCHANTS], Role.TERMINAL, merchants[0])
        cls.state = StorageReader(cls.registry)

    # Draws depend on the ghost so that most calls can succeed: the platform and
    # registered merchants call more often, unregistered accounts are registered
    # more often, terminals are mostly bound to merchants, merchants and
    # terminals are suspended more often; every draw still includes the
    # accounts and the zero address that must fail.

    def _merchants(self) -> list[str]:
        return [a for a, r in self.ghost.roles.items() if r == Role.MERCHANT]

    def _draw(self, data, pool: list[str], label: str) -> str:
        return data.draw(st.sampled_from(pool), label=label)

    def _draw_caller(self, data) -> str:
        merchants = self._merchants()
        return self._draw(data, [self.ghost.platform] * 2 + merchants * 2 + self.accounts, "caller")

    def _draw_platform_caller(self, data) -> str:
        return self._draw(data, [self.ghost.platform] * 6 + self.accounts, "caller")

    def _draw_account(self, data) -> str:
        free = [a for a in self.accounts if self.ghost.role(a) == Role.NONE]
        return self._draw(data, free * 3 + self.accounts + [ZERO], "account")

    def _draw_managed(
        self, data, status: int = STATUS_ACTIVE, roles=(Role.MERCHANT, Role.TERMINAL)
    ) -> tuple[str, str]:
        """(caller, account) for a change of standing: mostly a merchant or terminal,
        mostly of `status`, and more often than not with the caller that manages it."""
        managed = [a for a, r in self.ghost.roles.items() if r in roles]
        fitting = [a for a in managed if self.ghost.own_status(a) == status]
        account = self._draw(data, fitting * 4 + managed + self.accounts + [ZERO], "account")
        role = self.ghost.role(account)
        if role == Role.MERCHANT:
            pool = [self.ghost.platform] * 8 + self.accounts
        elif role == Role.TERMINAL:
            pool = [self.ghost.merchant_of[account]] * 8 + self.accounts
        else:
            pool = self.accounts
        return self._draw(data, pool, "caller"), account

    def _draw_item(self, data) -> tuple[str, int, str]:
        account = self._draw_account(data)
        role = data.draw(ROLES, label="role")
        if role == Role.TERMINAL:
            pool = self._merchants() * 3 + self.accounts + [ZERO]
        else:
            pool = [ZERO] * 4 + self.accounts
        return account, role, self._draw(data, pool, "merchant")

    def _call(self, caller: str, error: str | None, call) -> bool:
        """Runs `call` as `caller`, expecting `error`; whether it succeeded."""
        with boa.env.prank(caller):
            if error:
                with boa.reverts(error):
                    call()
                return False
            call()
        return True

    @rule(data=st.data())
    def register(self, data) -> None:
        caller = self._draw_caller(data)
        account, role, merchant = self._draw_item(data)
        after = self.ghost.copy()
        error = after.register(caller, account, role, merchant)
        if self._call(caller, error, lambda: self.registry.register(account, role, merchant)):
            assert as_tuples(self.registry.get_logs()) == [
                registered(account, role, merchant, caller)
            ]
            self.ghost = after
            self.changed.add(account)

    @rule(data=st.data(), size=st.integers(0, 4))
    def register_batch(self, data, size) -> None:
        caller = self._draw_caller(data)
        items = [self._draw_item(data) for _ in range(size)]
        after = self.ghost.copy()
        error = None
        for account, role, merchant in items:
            error = after.register(caller, account, role, merchant)
            if error:
                break
        accounts = [a for a, _, _ in items]
        roles = [r for _, r, _ in items]
        merchants = [m for _, _, m in items]
        if self._call(caller, error,
                      lambda: self.registry.register_batch(accounts, roles, merchants)):
            assert as_tuples(self.registry.get_logs()) == [
                registered(a, r, m, caller) for a, r, m in items
            ]
            self.ghost = after
            self.changed.update(accounts)

    @rule(data=st.data())
    def platform_registers_terminal(self, data) -> None:
        # The hole issue 23 closes: the platform key binding a till of its own
        # to a merchant. Refused for every merchant, whatever its standing and
        # whoever holds the platform key after a rotation.
        merchant = self._draw(data, self._merchants() + [ZERO], "merchant")
        account = self._draw_account(data)
        after = self.ghost.copy()
        error = after.register(self.ghost.platform, account, Role.TERMINAL, merchant)
        assert error is not None
        self._call(self.ghost.platform, error,
                   lambda: self.registry.register(account, Role.TERMINAL, merchant))

    @rule(data=st.data(), n_roles=st.integers(0, 3), n_merchants=st.integers(0, 3))
    def register_batch_mismatched(self, data, n_roles, n_merchants) -> None:
        n_accounts = 2
        if n_roles == n_accounts and n_merchants == n_accounts:
            return
        error = ERR_ROLES_LENGTH if n_roles != n_accounts else ERR_MERCHANTS_LENGTH
        with boa.env.prank(self._draw_caller(data)), boa.reverts(error):
            self.registry.register_batch(
                self.accounts[:n_accounts], [Role.CONSUMER] * n_roles, [ZERO] * n_merchants
            )

    # --- standing ---------------------------------------------------------------------

    @rule(data=st.data(), reason=REASONS)
    def suspend(self, data, reason) -> None:
        caller, account = self._draw_managed(data)
        error = self.ghost.manager_error(caller, account)
        if error is None and not reason:
            error = ERR_REASON
        if error is None and self.ghost.own_status(account) != STATUS_ACTIVE:
            error = ERR_NOT_ACTIVE
        if self._call(caller, error, lambda: self.registry.suspend(account, reason)):
            assert as_tuples(self.registry.get_logs()) == [
                ("ParticipantSuspended", account, caller, reason)
            ]
            self.ghost.status[account] = STATUS_SUSPENDED
            self.changed.add(account)

    @rule(data=st.data(), reason=REASONS)
    def reinstate(self, data, reason) -> None:
        caller, account = self._draw_managed(data, STATUS_SUSPENDED)
        error = self.ghost.manager_error(caller, account)
        if error is None and self.ghost.own_status(account) != STATUS_SUSPENDED:
            error = ERR_NOT_SUSPENDED
        if self._call(caller, error, lambda: self.registry.reinstate(account, reason)):
            assert as_tuples(self.registry.get_logs()) == [
                ("ParticipantReinstated", account, caller, reason)
            ]
            self.ghost.status[account] = STATUS_ACTIVE
            self.changed.add(account)

    @rule(data=st.data(), reason=REASONS)
    def unbind(self, data, reason) -> None:
        caller, terminal = self._draw_managed(data, roles=(Role.TERMINAL,))
        if self.ghost.role(terminal) != Role.TERMINAL:
            error = ERR_NOT_A_TERMINAL
        elif caller != self.ghost.merchant_of[terminal]:
            error = ERR_NOT_TERMINALS_MERCHANT
        elif not reason:
            error = ERR_REASON
        elif self.ghost.own_status(terminal) == STATUS_UNBOUND:
            error = ERR_UNBOUND
        else:
            error = None
        if self._call(caller, error, lambda: self.registry.unbind(terminal, reason)):
            assert as_tuples(self.registry.get_logs()) == [
                ("TerminalUnbound", terminal, caller, reason)
            ]
            self.ghost.status[terminal] = STATUS_UNBOUND
            self.changed.add(terminal)

    # --- pauses -----------------------------------------------------------------------

    @rule(data=st.data(), reason=REASONS)
    def pause(self, data, reason) -> None:
        caller = self._draw_platform_caller(data)
        capability = self._draw(data, [*self.capabilities, ZERO], "capability")
        if caller != self.ghost.platform:
            error = ERR_NOT_PLATFORM
        elif capability == ZERO:
            error = ERR_ZERO
        elif not reason:
            error = ERR_REASON
        elif capability in self.ghost.paused:
            error = ERR_PAUSED
        else:
            error = None
        if self._call(caller, error, lambda: self.registry.pause(capability, reason)):
            assert as_tuples(self.registry.get_logs()) == [
                ("CapabilityPaused", capability, caller, reason)
            ]
            self.ghost.paused.add(capability)

    @rule(data=st.data(), reason=REASONS)
    def unpause(self, data, reason) -> None:
        caller = self._draw_platform_caller(data)
        paused = sorted(self.ghost.paused) * 4
        capability = self._draw(data, paused + self.capabilities, "capability")
        if caller != self.ghost.platform:
            error = ERR_NOT_PLATFORM
        elif capability not in self.ghost.paused:
            error = ERR_NOT_PAUSED
        else:
            error = None
        if self._call(caller, error, lambda: self.registry.unpause(capability, reason)):
            assert as_tuples(self.registry.get_logs()) == [
                ("CapabilityUnpaused", capability, caller, reason)
            ]
            self.ghost.paused.discard(capability)

    # --- platform rotation ------------------------------------------------------------

    @rule(data=st.data())
    def propose_platform(self, data) -> None:
        caller, new = self._draw_platform_caller(data), self._draw_account(data)
        if caller != self.ghost.platform:
            error = ERR_NOT_PLATFORM
        elif new == ZERO:
            error = ERR_ZERO
        elif self.ghost.role(new) != Role.NONE:
            error = ERR_DUPLICATE
        else:
            error = None
        if self._call(caller, error, lambda: self.registry.propose_platform(new)):
            assert as_tuples(self.registry.get_logs()) == [
                ("PlatformTransferProposed", caller, new)
            ]
            self.ghost.pending = new

    @rule(data=st.data())
    def cancel_platform_transfer(self, data) -> None:
        caller = self._draw_platform_caller(data)
        if caller != self.ghost.platform:
            error = ERR_NOT_PLATFORM
        elif self.ghost.pending == ZERO:
            error = ERR_NO_TRANSFER
        else:
            error = None
        if self._call(caller, error, lambda: self.registry.cancel_platform_transfer()):
            assert as_tuples(self.registry.get_logs()) == [
                ("PlatformTransferCancelled", caller, self.ghost.pending)
            ]
            self.ghost.pending = ZERO

    @rule(data=st.data())
    def accept_platform(self, data) -> None:
        pending = [self.ghost.pending] * 8 if self.ghost.pending != ZERO else []
        caller = self._draw(data, pending + self.accounts, "caller")
        if caller != self.ghost.pending:
            error = ERR_NOT_PROPOSED
        elif self.ghost.role(caller) != Role.NONE:
            error = ERR_DUPLICATE
        else:
            error = None
        if self._call(caller, error, lambda: self.registry.accept_platform()):
            previous = self.ghost.platform
            assert as_tuples(self.registry.get_logs()) == [
                ("PlatformTransferred", previous, caller),
                registered(caller, Role.PLATFORM, ZERO, previous),
            ]
            del self.ghost.roles[previous]
            self.ghost.roles[caller] = Role.PLATFORM
            self.ghost.platform = caller
            self.ghost.pending = ZERO
            self.changed.update((previous, caller))

    # --- invariants -------------------------------------------------------------------

    def _check_bindings(self, accounts) -> None:
        for account in accounts:
            assert self.registry.merchant_of(account) == self.ghost.acting_merchant(account)

    @invariant()
    def matches_ghost(self) -> None:
        # Every role, binding and status after every step, read from storage (no
        # EVM call); through the views, the accounts the step changed (a merchant's
        # suspension changes its terminals' answers too), and every binding once
        # more when the run ends.
        assert self.state.get("platform") == self.ghost.platform
        assert self.state.get("pending_platform") == self.ghost.pending
        for capability in self.capabilities:
            assert self.state.word("paused", capability) == (capability in self.ghost.paused)
        for account in [ZERO, *self.accounts]:
            assert self.state.word("_role", account) == self.ghost.role(account)
            assert self.state.word("_merchant_of", account) == int(
                self.ghost.merchant_of.get(account, ZERO), 16
            )
            assert self.state.word("_status", account) == self.ghost.own_status(account)
        if self.changed:
            assert self.registry.platform() == self.ghost.platform
            self.changed.update(
                a for a in self.accounts if self.ghost.merchant_of.get(a) in self.changed
            )
        for account in sorted(self.changed):
            assert self.registry.role_of(account) == self.ghost.role_of(account)
            capability = self.capabilities[0]
            error = self.ghost.live_error(capability, account)
            if error:
                with boa.reverts(error):
                    self.registry.check_live(capability, account)
            else:
                assert self.registry.check_live(capability, account)
        self._check_bindings(sorted(self.changed))
        self.changed.clear()

    @invariant()
    def one_platform_and_bound_terminals(self) -> None:
        roles = self.ghost.roles
        assert [a for a, r in roles.items() if r == Role.PLATFORM] == [self.ghost.platform]
        assert roles.get(ZERO, Role.NONE) == Role.NONE
        assert self.ghost.pending != self.ghost.platform
        for account, role in roles.items():
            if role == Role.TERMINAL:
                # Bound for ever to a merchant (its binding survives unbinding),
                # by that merchant and no one else.
                assert roles[self.ghost.merchant_of[account]] == Role.MERCHANT
                assert self.ghost.registrar[account] == self.ghost.merchant_of[account]
            if role == Role.MERCHANT:
                assert self.ghost.merchant_of[account] == account
                assert self.ghost.own_status(account) != STATUS_UNBOUND
            if role in (Role.PLATFORM, Role.CONSUMER):
                # Only merchants and terminals ever leave the active status.
                assert self.ghost.own_status(account) == STATUS_ACTIVE
            # An account acts for a merchant only while it and that merchant are active.
            if self.ghost.acting_merchant(account) != ZERO:
                assert self.ghost.own_status(self.ghost.acting_merchant(account)) == STATUS_ACTIVE


TestRegistryMachine = RegistryMachine.test_case("registry")
