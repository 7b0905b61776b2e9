"""Participant registry: unit tests for every rule (the stateful machine is in
test_registry_stateful.py; what the capabilities make of suspensions and pauses
is in test_registry_standing.py)."""

import boa
import pytest

from conftest import ZERO, deployer
from couponchain.domain.roles import Role

ERR_ZERO = "registry: zero account"
ERR_DUPLICATE = "registry: account already registered"
ERR_MERCHANT_BY_NON_PLATFORM = "registry: only the platform registers merchants"
ERR_MERCHANT_HAS_MERCHANT = "registry: a merchant has no merchant"
ERR_UNKNOWN_MERCHANT = "registry: unknown merchant"
ERR_FOREIGN_TERMINAL = "registry: only the merchant registers its terminals"
ERR_CONSUMER_CALLER = "registry: caller may not register consumers"
ERR_CONSUMER_HAS_MERCHANT = "registry: a consumer has no merchant"
ERR_UNKNOWN_ROLE = "registry: unknown role"
ERR_ROLES_LENGTH = "registry: roles length mismatch"
ERR_MERCHANTS_LENGTH = "registry: merchants length mismatch"
ERR_NOT_PLATFORM = "registry: caller is not the platform"
ERR_NOT_PROPOSED = "registry: caller is not the proposed platform"
ERR_NO_TRANSFER = "registry: no transfer pending"
ERR_MERCHANT_SUSPENDED = "registry: merchant suspended"
ERR_NOT_TERMINALS_MERCHANT = "registry: caller is not the terminal's merchant"
ERR_ONLY_PLATFORM_SUSPENDS = "registry: only the platform suspends merchants"
ERR_NOT_SUSPENDABLE = "registry: only merchants and terminals are suspended"
ERR_NOT_A_TERMINAL = "registry: not a terminal"
ERR_REASON = "registry: reason required"
ERR_NOT_ACTIVE = "registry: account not active"
ERR_NOT_SUSPENDED = "registry: account not suspended"
ERR_UNBOUND = "registry: terminal unbound"
ERR_SUSPENDED = "registry: caller suspended"
ERR_PAUSED = "registry: capability paused"
ERR_NOT_PAUSED = "registry: capability not paused"

STATUS_ACTIVE, STATUS_SUSPENDED, STATUS_UNBOUND = 0, 1, 2


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
        elif name in ("PlatformTransferred",):
            out.append((name, log.previous, log.new))
        elif name in ("PlatformTransferProposed", "PlatformTransferCancelled"):
            out.append((name, log.platform, log.candidate))
        elif name in ("ParticipantSuspended", "ParticipantReinstated"):
            out.append((name, log.account, log.by, log.reason))
        elif name == "TerminalUnbound":
            out.append((name, log.account, log.merchant, log.reason))
        elif name in ("CapabilityPaused", "CapabilityUnpaused"):
            out.append((name, log.capability, log.by, log.reason))
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


@pytest.mark.parametrize("bound_to", ["merchant", "other_merchant"])
def test_platform_registers_no_terminal(registry, people, platform, bound_to, newcomer):
    # Regression (issue 23): the platform key bound a terminal of its own to
    # any merchant, and so could sell, redeem and claim in that merchant's name.
    with boa.env.prank(platform), boa.reverts(ERR_FOREIGN_TERMINAL):
        registry.register(newcomer, Role.TERMINAL, people[bound_to])
    assert registry.role_of(newcomer) == Role.NONE
    assert registry.merchant_of(newcomer) == ZERO


def test_platform_batch_with_a_terminal_is_refused_whole(registry, platform, merchant, newcomer):
    buyer = boa.env.generate_address("buyer")
    with boa.env.prank(platform), boa.reverts(ERR_FOREIGN_TERMINAL):
        registry.register_batch([buyer, newcomer], [Role.CONSUMER, Role.TERMINAL],
                                [ZERO, merchant])
    assert registry.role_of(buyer) == Role.NONE


def test_rotated_platform_registers_no_terminal(registry, platform, merchant, newcomer):
    successor = boa.env.generate_address("successor")
    with boa.env.prank(platform):
        registry.propose_platform(successor)
    with boa.env.prank(successor):
        registry.accept_platform()
        with boa.reverts(ERR_FOREIGN_TERMINAL):
            registry.register(newcomer, Role.TERMINAL, merchant)


def test_merchant_registers_own_terminal(registry, merchant, newcomer):
    with boa.env.prank(merchant):
        registry.register(newcomer, Role.TERMINAL, merchant)
    assert as_tuples(registry.get_logs()) == [
        registered(newcomer, Role.TERMINAL, merchant, merchant)
    ]
    assert registry.merchant_of(newcomer) == merchant


@pytest.mark.parametrize(
    "caller_name", ["platform", "other_merchant", "terminal", "consumer", "stranger"]
)
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


def test_batch_registers_merchant_and_consumer_then_the_merchant_its_terminal(
    registry, platform
):
    shop, till, buyer = (boa.env.generate_address(n) for n in ("shop", "till", "buyer"))
    with boa.env.prank(platform):
        registry.register_batch([shop, buyer], [Role.MERCHANT, Role.CONSUMER], [ZERO, ZERO])
    assert as_tuples(registry.get_logs()) == [
        registered(shop, Role.MERCHANT, ZERO, platform),
        registered(buyer, Role.CONSUMER, ZERO, platform),
    ]
    with boa.env.prank(shop):
        registry.register_batch([till], [Role.TERMINAL], [shop])
    assert as_tuples(registry.get_logs()) == [registered(till, Role.TERMINAL, shop, shop)]
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


# --- platform rotation: two steps ---------------------------------------------------------


def rotate(registry, platform, new) -> None:
    """Propose `new` as the platform, then accept as `new`."""
    with boa.env.prank(platform):
        registry.propose_platform(new)
    with boa.env.prank(new):
        registry.accept_platform()


def test_one_step_transfer_is_gone(registry):
    # Issue 23: a typo in a one-step transfer lost the platform for good.
    assert not hasattr(registry, "transfer_platform")


def test_propose_then_accept(registry, platform, merchant, newcomer):
    with boa.env.prank(platform):
        registry.propose_platform(newcomer)
    assert as_tuples(registry.get_logs()) == [("PlatformTransferProposed", platform, newcomer)]
    # Nothing moves until the new key shows it is held.
    assert registry.platform() == platform
    assert registry.pending_platform() == newcomer
    assert registry.role_of(newcomer) == Role.NONE
    with boa.env.prank(newcomer):
        registry.accept_platform()
    assert as_tuples(registry.get_logs()) == [
        ("PlatformTransferred", platform, newcomer),
        registered(newcomer, Role.PLATFORM, ZERO, platform),
    ]
    assert registry.platform() == newcomer
    assert registry.pending_platform() == ZERO
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
def test_only_the_platform_proposes_and_cancels(registry, people, caller_name, newcomer):
    with boa.env.prank(people[caller_name]), boa.reverts(ERR_NOT_PLATFORM):
        registry.propose_platform(newcomer)
    with boa.env.prank(people[caller_name]), boa.reverts(ERR_NOT_PLATFORM):
        registry.cancel_platform_transfer()


def test_propose_zero(registry, platform):
    with boa.env.prank(platform), boa.reverts(ERR_ZERO):
        registry.propose_platform(ZERO)


@pytest.mark.parametrize("target_name", ["platform", "merchant", "terminal", "consumer"])
def test_propose_registered_account(registry, people, platform, target_name):
    with boa.env.prank(platform), boa.reverts(ERR_DUPLICATE):
        registry.propose_platform(people[target_name])


@pytest.mark.parametrize("caller_name", ["platform", "merchant", "stranger"])
def test_only_the_proposed_account_accepts(registry, people, platform, caller_name, newcomer):
    with boa.env.prank(people[caller_name]), boa.reverts(ERR_NOT_PROPOSED):
        registry.accept_platform()  # nothing proposed
    with boa.env.prank(platform):
        registry.propose_platform(newcomer)
    with boa.env.prank(people[caller_name]), boa.reverts(ERR_NOT_PROPOSED):
        registry.accept_platform()


def test_cancel_and_replace_a_proposal(registry, platform, newcomer, stranger):
    with boa.env.prank(platform), boa.reverts(ERR_NO_TRANSFER):
        registry.cancel_platform_transfer()
    with boa.env.prank(platform):
        registry.propose_platform(newcomer)
        registry.propose_platform(stranger)  # replaces the first
    with boa.env.prank(newcomer), boa.reverts(ERR_NOT_PROPOSED):
        registry.accept_platform()
    with boa.env.prank(platform):
        registry.cancel_platform_transfer()
    assert as_tuples(registry.get_logs()) == [("PlatformTransferCancelled", platform, stranger)]
    assert registry.pending_platform() == ZERO
    with boa.env.prank(stranger), boa.reverts(ERR_NOT_PROPOSED):
        registry.accept_platform()


def test_accept_refused_once_the_candidate_registered(registry, platform, merchant, newcomer):
    with boa.env.prank(platform):
        registry.propose_platform(newcomer)
    with boa.env.prank(merchant):
        registry.register(newcomer, Role.CONSUMER, ZERO)
    with boa.env.prank(newcomer), boa.reverts(ERR_DUPLICATE):
        registry.accept_platform()


# --- suspension and unbinding --------------------------------------------------------------


def test_merchant_suspends_and_reinstates_its_terminal(registry, merchant, terminal):
    with boa.env.prank(merchant):
        registry.suspend(terminal, "till lost")
    assert as_tuples(registry.get_logs()) == [
        ("ParticipantSuspended", terminal, merchant, "till lost")
    ]
    assert registry.role_of(terminal) == Role.NONE
    assert registry.merchant_of(terminal) == ZERO
    assert not registry.is_active(terminal)
    assert registry.registration(terminal) == (Role.TERMINAL, merchant, STATUS_SUSPENDED)
    with boa.reverts(ERR_SUSPENDED):
        registry.check_live(ZERO, terminal)
    with boa.env.prank(merchant):
        registry.reinstate(terminal, "till found")
    assert as_tuples(registry.get_logs()) == [
        ("ParticipantReinstated", terminal, merchant, "till found")
    ]
    assert registry.role_of(terminal) == Role.TERMINAL
    assert registry.merchant_of(terminal) == merchant
    assert registry.check_live(ZERO, terminal)


@pytest.mark.parametrize("caller_name", ["platform", "other_merchant", "terminal", "stranger"])
def test_only_its_merchant_manages_a_terminal(registry, people, caller_name, merchant, terminal):
    caller = people[caller_name]
    for call in (registry.suspend, registry.unbind):
        with boa.env.prank(caller), boa.reverts(ERR_NOT_TERMINALS_MERCHANT):
            call(terminal, "mine now")
    with boa.env.prank(merchant):
        registry.suspend(terminal, "lost")
    with boa.env.prank(caller), boa.reverts(ERR_NOT_TERMINALS_MERCHANT):
        registry.reinstate(terminal, "")


def test_platform_suspends_a_merchant_and_its_terminals(registry, platform, merchant, terminal):
    with boa.env.prank(platform):
        registry.suspend(merchant, "fraud probe #12")
    assert as_tuples(registry.get_logs()) == [
        ("ParticipantSuspended", merchant, platform, "fraud probe #12")
    ]
    for account in (merchant, terminal):
        assert registry.role_of(account) == Role.NONE
        assert registry.merchant_of(account) == ZERO
        assert not registry.is_active(account)
        with boa.reverts(ERR_SUSPENDED):
            registry.check_live(ZERO, account)
    # The terminal's own status is untouched: it comes back with its merchant.
    assert registry.registration(terminal) == (Role.TERMINAL, merchant, STATUS_ACTIVE)
    with boa.env.prank(platform):
        registry.reinstate(merchant, "cleared")
    assert registry.role_of(terminal) == Role.TERMINAL
    assert registry.merchant_of(terminal) == merchant


@pytest.mark.parametrize("caller_name", ["merchant", "other_merchant", "terminal", "stranger"])
def test_only_the_platform_suspends_merchants(registry, people, caller_name, merchant):
    with boa.env.prank(people[caller_name]), boa.reverts(ERR_ONLY_PLATFORM_SUSPENDS):
        registry.suspend(merchant, "me")


@pytest.mark.parametrize("account_name", ["platform", "consumer", "stranger", "zero"])
def test_only_merchants_and_terminals_are_suspended(registry, people, platform, account_name):
    account = people[account_name]
    with boa.env.prank(platform), boa.reverts(ERR_NOT_SUSPENDABLE):
        registry.suspend(account, "why")
    with boa.env.prank(platform), boa.reverts(ERR_NOT_SUSPENDABLE):
        registry.reinstate(account, "why")


def test_suspension_needs_a_reason_and_the_right_status(registry, platform, merchant):
    with boa.env.prank(platform), boa.reverts(ERR_REASON):
        registry.suspend(merchant, "")
    with boa.env.prank(platform), boa.reverts(ERR_NOT_SUSPENDED):
        registry.reinstate(merchant, "")
    with boa.env.prank(platform):
        registry.suspend(merchant, "once")
    with boa.env.prank(platform), boa.reverts(ERR_NOT_ACTIVE):
        registry.suspend(merchant, "twice")


def test_suspended_merchant_registers_no_one(registry, platform, merchant, newcomer):
    with boa.env.prank(platform):
        registry.suspend(merchant, "probe")
    with boa.env.prank(merchant), boa.reverts(ERR_MERCHANT_SUSPENDED):
        registry.register(newcomer, Role.TERMINAL, merchant)
    with boa.env.prank(merchant), boa.reverts(ERR_CONSUMER_CALLER):
        registry.register(newcomer, Role.CONSUMER, ZERO)
    # Nor does the platform bind a terminal to it meanwhile.
    with boa.env.prank(platform), boa.reverts(ERR_MERCHANT_SUSPENDED):
        registry.register(newcomer, Role.TERMINAL, merchant)


def test_unbind_is_for_good(registry, merchant, terminal):
    with boa.env.prank(merchant):
        registry.unbind(terminal, "till retired")
    assert as_tuples(registry.get_logs()) == [
        ("TerminalUnbound", terminal, merchant, "till retired")
    ]
    assert registry.role_of(terminal) == Role.NONE
    assert registry.merchant_of(terminal) == ZERO
    assert registry.registration(terminal) == (Role.TERMINAL, merchant, STATUS_UNBOUND)
    with boa.reverts(ERR_UNBOUND):
        registry.check_live(ZERO, terminal)
    with boa.env.prank(merchant), boa.reverts(ERR_UNBOUND):
        registry.unbind(terminal, "again")
    with boa.env.prank(merchant), boa.reverts(ERR_NOT_SUSPENDED):
        registry.reinstate(terminal, "")
    with boa.env.prank(merchant), boa.reverts(ERR_NOT_ACTIVE):
        registry.suspend(terminal, "again")
    # The key can never be registered again, as anything.
    with boa.env.prank(merchant), boa.reverts(ERR_DUPLICATE):
        registry.register(terminal, Role.TERMINAL, merchant)


def test_unbind_rules(registry, merchant, terminal, consumer):
    with boa.env.prank(merchant), boa.reverts(ERR_NOT_A_TERMINAL):
        registry.unbind(consumer, "no")
    with boa.env.prank(merchant), boa.reverts(ERR_REASON):
        registry.unbind(terminal, "")
    with boa.env.prank(merchant):
        registry.suspend(terminal, "lost")
        registry.unbind(terminal, "not found")  # a suspended terminal may be unbound
    assert registry.registration(terminal)[2] == STATUS_UNBOUND


def test_suspended_merchant_still_retires_its_terminals(registry, platform, merchant, terminal):
    with boa.env.prank(platform):
        registry.suspend(merchant, "probe")
    with boa.env.prank(merchant):
        registry.unbind(terminal, "stolen")
    with boa.env.prank(platform):
        registry.reinstate(merchant, "cleared")
    assert registry.role_of(terminal) == Role.NONE


# --- pauses --------------------------------------------------------------------------------


def test_platform_pauses_and_unpauses(registry, platform, stranger):
    capability = boa.env.generate_address("capability")
    assert registry.check_live(capability, stranger)
    with boa.env.prank(platform):
        registry.pause(capability, "incident 7")
    assert as_tuples(registry.get_logs()) == [
        ("CapabilityPaused", capability, platform, "incident 7")
    ]
    assert registry.paused(capability)
    with boa.reverts(ERR_PAUSED):
        registry.check_live(capability, stranger)
    with boa.env.prank(platform), boa.reverts(ERR_PAUSED):
        registry.pause(capability, "again")
    with boa.env.prank(platform):
        registry.unpause(capability, "fixed")
    assert as_tuples(registry.get_logs()) == [
        ("CapabilityUnpaused", capability, platform, "fixed")
    ]
    assert not registry.paused(capability)
    with boa.env.prank(platform), boa.reverts(ERR_NOT_PAUSED):
        registry.unpause(capability, "")


@pytest.mark.parametrize("caller_name", ["merchant", "terminal", "consumer", "stranger"])
def test_only_the_platform_pauses(registry, people, platform, caller_name):
    capability = boa.env.generate_address("capability")
    with boa.env.prank(people[caller_name]), boa.reverts(ERR_NOT_PLATFORM):
        registry.pause(capability, "mine")
    with boa.env.prank(platform):
        registry.pause(capability, "incident")
    with boa.env.prank(people[caller_name]), boa.reverts(ERR_NOT_PLATFORM):
        registry.unpause(capability, "mine")


def test_pause_needs_a_capability_and_a_reason(registry, platform):
    with boa.env.prank(platform), boa.reverts(ERR_ZERO):
        registry.pause(ZERO, "why")
    with boa.env.prank(platform), boa.reverts(ERR_REASON):
        registry.pause(boa.env.generate_address("capability"), "")
