"""Participant registry: unit tests for every rule, then a stateful machine.

The machine keeps ghost state (each account's role and merchant, and the
platform account), predicts the exact revert string of every call from it, and
checks the contract against it after every step.
"""

from dataclasses import dataclass, field

import boa
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule
from storage_reader import StorageReader

from conftest import ZERO, ContractMachine, deployer, quiet
from couponchain.domain.roles import Role

ERR_ZERO = "registry: zero account"
ERR_DUPLICATE = "registry: account already registered"
ERR_MERCHANT_BY_NON_PLATFORM = "registry: only the platform registers merchants"
ERR_MERCHANT_HAS_MERCHANT = "registry: a merchant has no merchant"
ERR_UNKNOWN_MERCHANT = "registry: unknown merchant"
ERR_FOREIGN_TERMINAL = "registry: caller may not register terminals of this merchant"
ERR_CONSUMER_CALLER = "registry: caller may not register consumers"
ERR_CONSUMER_HAS_MERCHANT = "registry: a consumer has no merchant"
ERR_UNKNOWN_ROLE = "registry: unknown role"
ERR_ROLES_LENGTH = "registry: roles length mismatch"
ERR_MERCHANTS_LENGTH = "registry: merchants length mismatch"
ERR_NOT_PLATFORM = "registry: caller is not the platform"


def registered(account, role, merchant, registrar) -> tuple:
    """A ParticipantRegistered event as a comparable tuple."""
    return ("ParticipantRegistered", account, int(role), merchant, registrar)


def as_tuples(logs) -> list[tuple]:
    """Decoded boa logs as comparable tuples (event name and fields)."""
    out = []
    for log in logs:
        name = type(log).__name__
        if name == "ParticipantRegistered":
            out.append((name, log.account, log.role, log.merchant, log.registrar))
        elif name == "PlatformTransferred":
            out.append((name, log.previous, log.new))
        else:  # pragma: no cover - the registry emits no other event
            out.append((name,))
    return out


@pytest.fixture(scope="session")
def stranger() -> str:
    """An account the registry has never seen."""
    return boa.env.generate_address("stranger")


@pytest.fixture(scope="session")
def newcomer() -> str:
    """An unregistered account about to be registered."""
    return boa.env.generate_address("newcomer")


@pytest.fixture
def people(platform, merchant, other_merchant, terminal, consumer, stranger) -> dict[str, str]:
    """The fixture accounts by name, for parametrised callers (fixtures requested
    during a test would break titanoboa's per-fixture snapshots)."""
    return {
        "platform": platform,
        "merchant": merchant,
        "other_merchant": other_merchant,
        "terminal": terminal,
        "consumer": consumer,
        "stranger": stranger,
        "zero": ZERO,
    }


# --- deployment and views ---------------------------------------------------------------


def test_deployer_becomes_platform(platform):
    with boa.env.prank(platform):
        reg = deployer("registry").deploy()
    assert as_tuples(reg.get_logs()) == [registered(platform, Role.PLATFORM, ZERO, platform)]
    assert reg.platform() == platform
    assert reg.role_of(platform) == Role.PLATFORM
    assert reg.merchant_of(platform) == ZERO


def test_views_after_fixture(registry, merchant, other_merchant, terminal, consumer, stranger):
    assert registry.role_of(merchant) == Role.MERCHANT
    assert registry.role_of(other_merchant) == Role.MERCHANT
    assert registry.role_of(terminal) == Role.TERMINAL
    assert registry.role_of(consumer) == Role.CONSUMER
    assert registry.role_of(stranger) == Role.NONE
    assert registry.merchant_of(merchant) == merchant
    assert registry.merchant_of(terminal) == merchant
    assert registry.merchant_of(consumer) == ZERO
    assert registry.merchant_of(stranger) == ZERO


# --- merchants ---------------------------------------------------------------------------


def test_platform_registers_merchant(registry, platform, newcomer):
    with boa.env.prank(platform):
        registry.register(newcomer, Role.MERCHANT, ZERO)
    # The event carries the `merchant` argument, which is empty for a merchant.
    assert as_tuples(registry.get_logs()) == [registered(newcomer, Role.MERCHANT, ZERO, platform)]
    assert registry.role_of(newcomer) == Role.MERCHANT
    assert registry.merchant_of(newcomer) == newcomer


@pytest.mark.parametrize("caller_name", ["merchant", "terminal", "consumer", "stranger"])
def test_only_platform_registers_merchants(registry, people, caller_name, newcomer):
    caller = people[caller_name]
    with boa.env.prank(caller), boa.reverts(ERR_MERCHANT_BY_NON_PLATFORM):
        registry.register(newcomer, Role.MERCHANT, ZERO)


def test_merchant_has_no_merchant(registry, platform, merchant, newcomer):
    with boa.env.prank(platform), boa.reverts(ERR_MERCHANT_HAS_MERCHANT):
        registry.register(newcomer, Role.MERCHANT, merchant)


# --- terminals ---------------------------------------------------------------------------


def test_platform_registers_terminal_of_any_merchant(registry, platform, other_merchant, newcomer):
    with boa.env.prank(platform):
        registry.register(newcomer, Role.TERMINAL, other_merchant)
    assert as_tuples(registry.get_logs()) == [
        registered(newcomer, Role.TERMINAL, other_merchant, platform)
    ]
    assert registry.role_of(newcomer) == Role.TERMINAL
    assert registry.merchant_of(newcomer) == other_merchant


def test_merchant_registers_own_terminal(registry, merchant, newcomer):
    with boa.env.prank(merchant):
        registry.register(newcomer, Role.TERMINAL, merchant)
    assert as_tuples(registry.get_logs()) == [
        registered(newcomer, Role.TERMINAL, merchant, merchant)
    ]
    assert registry.merchant_of(newcomer) == merchant


@pytest.mark.parametrize("caller_name", ["other_merchant", "terminal", "consumer", "stranger"])
def test_terminal_of_another_merchant_refused(registry, people, caller_name, merchant, newcomer):
    caller = people[caller_name]
    with boa.env.prank(caller), boa.reverts(ERR_FOREIGN_TERMINAL):
        registry.register(newcomer, Role.TERMINAL, merchant)


@pytest.mark.parametrize("bound_to", ["platform", "terminal", "consumer", "stranger", "zero"])
def test_terminal_needs_a_registered_merchant(registry, people, platform, bound_to, newcomer):
    merchant = ZERO if bound_to == "zero" else people[bound_to]
    with boa.env.prank(platform), boa.reverts(ERR_UNKNOWN_MERCHANT):
        registry.register(newcomer, Role.TERMINAL, merchant)


def test_unknown_merchant_checked_before_caller(registry, other_merchant, stranger, newcomer):
    # Anyone asking for a terminal of a non-merchant learns only that.
    with boa.env.prank(other_merchant), boa.reverts(ERR_UNKNOWN_MERCHANT):
        registry.register(newcomer, Role.TERMINAL, stranger)


# --- consumers ---------------------------------------------------------------------------


@pytest.mark.parametrize("caller_name", ["platform", "merchant", "other_merchant"])
def test_platform_or_merchant_registers_consumers(registry, people, caller_name, newcomer):
    caller = people[caller_name]
    with boa.env.prank(caller):
        registry.register(newcomer, Role.CONSUMER, ZERO)
    assert as_tuples(registry.get_logs()) == [registered(newcomer, Role.CONSUMER, ZERO, caller)]
    assert registry.role_of(newcomer) == Role.CONSUMER
    assert registry.merchant_of(newcomer) == ZERO


@pytest.mark.parametrize("caller_name", ["terminal", "consumer", "stranger"])
def test_others_may_not_register_consumers(registry, people, caller_name, newcomer):
    caller = people[caller_name]
    with boa.env.prank(caller), boa.reverts(ERR_CONSUMER_CALLER):
        registry.register(newcomer, Role.CONSUMER, ZERO)


def test_consumer_has_no_merchant(registry, merchant, newcomer):
    with boa.env.prank(merchant), boa.reverts(ERR_CONSUMER_HAS_MERCHANT):
        registry.register(newcomer, Role.CONSUMER, merchant)


# --- accounts and roles ------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.NONE, Role.PLATFORM, 5, 255])
def test_unknown_role(registry, platform, newcomer, role):
    with boa.env.prank(platform), boa.reverts(ERR_UNKNOWN_ROLE):
        registry.register(newcomer, role, ZERO)


@pytest.mark.parametrize("role", [Role.MERCHANT, Role.TERMINAL, Role.CONSUMER, 255])
def test_zero_account(registry, platform, merchant, role):
    bound = merchant if role == Role.TERMINAL else ZERO
    with boa.env.prank(platform), boa.reverts(ERR_ZERO):
        registry.register(ZERO, role, bound)


@pytest.mark.parametrize(
    "account_name", ["platform", "merchant", "other_merchant", "terminal", "consumer"]
)
@pytest.mark.parametrize("role", [Role.MERCHANT, Role.CONSUMER])
def test_duplicate_account(registry, people, platform, account_name, role):
    account = people[account_name]
    with boa.env.prank(platform), boa.reverts(ERR_DUPLICATE):
        registry.register(account, role, ZERO)


# --- batches -----------------------------------------------------------------------------


def test_batch_registers_merchant_then_its_terminal(registry, platform):
    shop, till, buyer = (boa.env.generate_address(n) for n in ("shop", "till", "buyer"))
    with boa.env.prank(platform):
        registry.register_batch(
            [shop, till, buyer],
            [Role.MERCHANT, Role.TERMINAL, Role.CONSUMER],
            [ZERO, shop, ZERO],
        )
    assert as_tuples(registry.get_logs()) == [
        registered(shop, Role.MERCHANT, ZERO, platform),
        registered(till, Role.TERMINAL, shop, platform),
        registered(buyer, Role.CONSUMER, ZERO, platform),
    ]
    assert [registry.role_of(a) for a in (shop, till, buyer)] == [2, 3, 4]
    assert registry.merchant_of(till) == shop


def test_merchant_batch_of_terminals_and_consumers(registry, merchant):
    till, buyer = boa.env.generate_address("till"), boa.env.generate_address("buyer")
    with boa.env.prank(merchant):
        registry.register_batch([till, buyer], [Role.TERMINAL, Role.CONSUMER], [merchant, ZERO])
    assert registry.merchant_of(till) == merchant
    assert registry.role_of(buyer) == Role.CONSUMER


def test_empty_batch_is_a_no_op(registry, stranger):
    with boa.env.prank(stranger):
        registry.register_batch([], [], [])
    assert registry.get_logs() == []


@pytest.mark.parametrize(
    ("roles", "merchants", "error"),
    [
        ([Role.CONSUMER, Role.CONSUMER], [ZERO], ERR_MERCHANTS_LENGTH),
        ([Role.CONSUMER, Role.CONSUMER], [ZERO, ZERO, ZERO], ERR_MERCHANTS_LENGTH),
        ([Role.CONSUMER], [ZERO, ZERO], ERR_ROLES_LENGTH),
        ([Role.CONSUMER] * 3, [ZERO, ZERO], ERR_ROLES_LENGTH),
        ([Role.CONSUMER], [ZERO], ERR_ROLES_LENGTH),
    ],
)
def test_batch_length_mismatch(registry, platform, roles, merchants, error):
    accounts = [boa.env.generate_address("a"), boa.env.generate_address("b")]
    with boa.env.prank(platform), boa.reverts(error):
        registry.register_batch(accounts, roles, merchants)


def test_batch_roles_length_checked_first(registry, platform):
    with boa.env.prank(platform), boa.reverts(ERR_ROLES_LENGTH):
        registry.register_batch([boa.env.generate_address()], [], [])


@pytest.mark.parametrize(
    ("last_account", "last_role", "last_merchant", "error"),
    [
        ("zero", Role.CONSUMER, "zero", ERR_ZERO),
        ("consumer", Role.CONSUMER, "zero", ERR_DUPLICATE),
        ("first", Role.CONSUMER, "zero", ERR_DUPLICATE),  # repeated inside the batch
        ("fresh", Role.TERMINAL, "other_merchant", ERR_FOREIGN_TERMINAL),
        ("fresh", Role.MERCHANT, "zero", ERR_MERCHANT_BY_NON_PLATFORM),
        ("fresh", 7, "zero", ERR_UNKNOWN_ROLE),
    ],
)
def test_batch_is_all_or_nothing(
    registry, people, merchant, last_account, last_role, last_merchant, error
):
    first, second = boa.env.generate_address("first"), boa.env.generate_address("second")
    names = {"zero": ZERO, "first": first, "fresh": boa.env.generate_address("fresh")}
    account = names.get(last_account) or people[last_account]
    bound = ZERO if last_merchant == "zero" else people[last_merchant]
    with boa.env.prank(merchant), boa.reverts(error):
        registry.register_batch(
            [first, second, account],
            [Role.TERMINAL, Role.CONSUMER, last_role],
            [merchant, ZERO, bound],
        )
    assert registry.role_of(first) == Role.NONE
    assert registry.role_of(second) == Role.NONE
    assert registry.merchant_of(first) == ZERO


def test_full_batch_fits(registry, platform):
    accounts = [boa.env.generate_address() for _ in range(1024)]
    with boa.env.prank(platform):
        registry.register_batch(accounts, [Role.CONSUMER] * 1024, [ZERO] * 1024)
    assert registry.role_of(accounts[-1]) == Role.CONSUMER


def test_batch_over_bound_refused(registry, platform):
    accounts = [boa.env.generate_address() for _ in range(1025)]
    with boa.env.prank(platform), boa.reverts():  # the ABI decoder's bound check; no reason string
        registry.register_batch(accounts, [Role.CONSUMER] * 1025, [ZERO] * 1025)


# --- platform rotation -------------------------------------------------------------------


def test_transfer_platform(registry, platform, merchant, newcomer):
    with boa.env.prank(platform):
        registry.transfer_platform(newcomer)
    assert as_tuples(registry.get_logs()) == [
        ("PlatformTransferred", platform, newcomer),
        registered(newcomer, Role.PLATFORM, ZERO, platform),
    ]
    assert registry.platform() == newcomer
    assert registry.role_of(newcomer) == Role.PLATFORM
    assert registry.role_of(platform) == Role.NONE
    other = boa.env.generate_address("after-rotation")
    with boa.env.prank(platform), boa.reverts(ERR_MERCHANT_BY_NON_PLATFORM):
        registry.register(other, Role.MERCHANT, ZERO)
    with boa.env.prank(newcomer):
        registry.register(other, Role.MERCHANT, ZERO)
        registry.register(platform, Role.CONSUMER, ZERO)  # the old key is an ordinary account
    assert registry.role_of(platform) == Role.CONSUMER
    assert registry.merchant_of(merchant) == merchant


@pytest.mark.parametrize("caller_name", ["merchant", "terminal", "consumer", "stranger"])
def test_transfer_platform_only_by_platform(registry, people, caller_name, newcomer):
    caller = people[caller_name]
    with boa.env.prank(caller), boa.reverts(ERR_NOT_PLATFORM):
        registry.transfer_platform(newcomer)


def test_transfer_platform_to_zero(registry, platform):
    with boa.env.prank(platform), boa.reverts(ERR_ZERO):
        registry.transfer_platform(ZERO)


@pytest.mark.parametrize("target_name", ["platform", "merchant", "terminal", "consumer"])
def test_transfer_platform_to_registered_account(registry, people, platform, target_name):
    target = people[target_name]
    with boa.env.prank(platform), boa.reverts(ERR_DUPLICATE):
        registry.transfer_platform(target)


# --- stateful machine --------------------------------------------------------------------

# Every run starts with the platform and two merchants registered, so that every
# rule (a merchant's own and foreign terminals among them) is reachable in a few
# steps; six accounts leave three to register (a rotation frees the old platform
# key), ten steps reach that depth (`conftest.MACHINE_STEPS`; the number of runs
# comes from `conftest.MACHINE_EXAMPLES`).
N_ACCOUNTS = 6
N_MERCHANTS = 2
ROLES = st.sampled_from([2, 3, 4] * 4 + [0, 1, 5, 255])  # mostly valid roles


@dataclass
class Ghost:
    """What the registry should hold: roles, bindings and the platform account."""

    platform: str
    roles: dict[str, int] = field(default_factory=dict)
    merchant_of: dict[str, str] = field(default_factory=dict)

    def copy(self) -> "Ghost":
        return Ghost(self.platform, dict(self.roles), dict(self.merchant_of))

    def role(self, account: str) -> int:
        return self.roles.get(account, Role.NONE)

    def register(self, caller: str, account: str, role: int, merchant: str) -> str | None:
        """Applies one registration; returns the revert string instead if it fails,
        checking in the contract's order."""
        caller_role = self.role(caller)
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
            if caller_role != Role.PLATFORM and caller != merchant:
                return ERR_FOREIGN_TERMINAL
            self.merchant_of[account] = merchant
        elif role == Role.CONSUMER:
            if caller_role not in (Role.PLATFORM, Role.MERCHANT):
                return ERR_CONSUMER_CALLER
            if merchant != ZERO:
                return ERR_CONSUMER_HAS_MERCHANT
        else:
            return ERR_UNKNOWN_ROLE
        self.roles[account] = role
        return None


class RegistryMachine(ContractMachine):
    """Random registrations, batches and platform rotations by random callers.

    The registry is deployed, with two merchants, once per test run.
    """

    accounts: list[str] = []
    registry = state = None

    def __init__(self) -> None:
        super().__init__()
        platform, *merchants = self.accounts[: 1 + N_MERCHANTS]
        self.ghost = Ghost(
            platform=platform,
            roles={platform: Role.PLATFORM} | {m: Role.MERCHANT for m in merchants},
            merchant_of={m: m for m in merchants},
        )
        self.changed: set[str] = set()  # accounts the last step registered or rotated

    def teardown(self) -> None:
        try:
            self._check_bindings(self.accounts)
        finally:
            super().teardown()

    @classmethod
    def deploy(cls) -> None:
        cls.accounts = [boa.env.generate_address(f"participant-{i}") for i in range(N_ACCOUNTS)]
        merchants = cls.accounts[1 : 1 + N_MERCHANTS]
        with boa.env.prank(cls.accounts[0]):
            cls.registry = quiet(deployer("registry").deploy())
            cls.registry.register_batch(
                merchants, [Role.MERCHANT] * N_MERCHANTS, [ZERO] * N_MERCHANTS
            )
        cls.state = StorageReader(cls.registry)

    # Draws depend on the ghost so that most calls can succeed: the platform and
    # registered merchants call more often, unregistered accounts are registered
    # more often, terminals are mostly bound to merchants; every draw still
    # includes the accounts and the zero address that must fail.

    def _merchants(self) -> list[str]:
        return [a for a, r in self.ghost.roles.items() if r == Role.MERCHANT]

    def _draw(self, data, pool: list[str], label: str) -> str:
        return data.draw(st.sampled_from(pool), label=label)

    def _draw_caller(self, data) -> str:
        merchants = self._merchants()
        return self._draw(data, [self.ghost.platform] * 2 + merchants * 2 + self.accounts, "caller")

    def _draw_account(self, data) -> str:
        free = [a for a in self.accounts if self.ghost.role(a) == Role.NONE]
        return self._draw(data, free * 3 + self.accounts + [ZERO], "account")

    def _draw_item(self, data) -> tuple[str, int, str]:
        account = self._draw_account(data)
        role = data.draw(ROLES, label="role")
        if role == Role.TERMINAL:
            pool = self._merchants() * 3 + self.accounts + [ZERO]
        else:
            pool = [ZERO] * 4 + self.accounts
        return account, role, self._draw(data, pool, "merchant")

    @rule(data=st.data())
    def register(self, data) -> None:
        caller = self._draw_caller(data)
        account, role, merchant = self._draw_item(data)
        after = self.ghost.copy()
        error = after.register(caller, account, role, merchant)
        with boa.env.prank(caller):
            if error:
                with boa.reverts(error):
                    self.registry.register(account, role, merchant)
                return
            self.registry.register(account, role, merchant)
        assert as_tuples(self.registry.get_logs()) == [registered(account, role, merchant, caller)]
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
        with boa.env.prank(caller):
            if error:
                with boa.reverts(error):
                    self.registry.register_batch(accounts, roles, merchants)
                return
            self.registry.register_batch(accounts, roles, merchants)
        assert as_tuples(self.registry.get_logs()) == [
            registered(a, r, m, caller) for a, r, m in items
        ]
        self.ghost = after
        self.changed.update(accounts)

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

    @rule(data=st.data())
    def transfer_platform(self, data) -> None:
        caller, new = self._draw_caller(data), self._draw_account(data)
        if caller != self.ghost.platform:
            error = ERR_NOT_PLATFORM
        elif new == ZERO:
            error = ERR_ZERO
        elif self.ghost.role(new) != Role.NONE:
            error = ERR_DUPLICATE
        else:
            error = None
        with boa.env.prank(caller):
            if error:
                with boa.reverts(error):
                    self.registry.transfer_platform(new)
                return
            self.registry.transfer_platform(new)
        assert as_tuples(self.registry.get_logs()) == [
            ("PlatformTransferred", caller, new),
            registered(new, Role.PLATFORM, ZERO, caller),
        ]
        del self.ghost.roles[caller]
        self.ghost.roles[new] = Role.PLATFORM
        self.ghost.platform = new
        self.changed.update((caller, new))

    def _check_bindings(self, accounts) -> None:
        for account in accounts:
            assert self.registry.merchant_of(account) == self.ghost.merchant_of.get(account, ZERO)

    @invariant()
    def matches_ghost(self) -> None:
        # Every role and binding after every step, read from storage (no EVM
        # call); through the views, the accounts the step changed, and every
        # binding once more when the run ends.
        assert self.state.get("platform") == self.ghost.platform
        for account in [ZERO, *self.accounts]:
            assert self.state.word("role_of", account) == self.ghost.role(account)
            assert self.state.word("_merchant_of", account) == int(
                self.ghost.merchant_of.get(account, ZERO), 16
            )
        if self.changed:
            assert self.registry.platform() == self.ghost.platform
        for account in sorted(self.changed):
            assert self.registry.role_of(account) == self.ghost.role(account)
        self._check_bindings(sorted(self.changed))
        self.changed.clear()

    @invariant()
    def one_platform_and_bound_terminals(self) -> None:
        roles = self.ghost.roles
        assert [a for a, r in roles.items() if r == Role.PLATFORM] == [self.ghost.platform]
        assert roles.get(ZERO, Role.NONE) == Role.NONE
        for account, role in roles.items():
            if role == Role.TERMINAL:
                assert roles[self.ghost.merchant_of[account]] == Role.MERCHANT
            if role == Role.MERCHANT:
                assert self.ghost.merchant_of[account] == account


TestRegistryMachine = RegistryMachine.test_case("registry")
