"""CouponChain Credit (CCC): unit tests, Hypothesis properties and a stateful machine.

The token is snekmate's `erc20` with minting bound to the registry's platform
account; the ERC-20 core reverts with snekmate's `"erc20: ..."` strings and the
token's own checks with `"token: ..."`.
"""

from dataclasses import dataclass, field

import boa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule
from storage_reader import StorageReader

from conftest import ZERO, ContractMachine, deployer, quiet

MAX_UINT256 = 2**256 - 1
ONE_CCC = 10**6

ERR_NOT_PLATFORM = "token: caller is not the platform"
ERR_MINT_TO_ZERO = "token: mint to the zero address"
ERR_LENGTH = "token: amounts length mismatch"
ERR_ZERO_REGISTRY = "token: zero registry"
ERR_TRANSFER_TO_ZERO = "erc20: transfer to the zero address"
ERR_BALANCE = "erc20: transfer amount exceeds balance"
ERR_APPROVE_TO_ZERO = "erc20: approve to the zero address"
ERR_APPROVE_FROM_ZERO = "erc20: approve from the zero address"
ERR_ALLOWANCE = "erc20: insufficient allowance"
OVERFLOW = "safeadd"  # compiler-generated revert of the checked totalSupply addition

EXPORTED = {
    "transfer", "approve", "transferFrom", "balanceOf", "allowance", "totalSupply",
    "name", "symbol", "decimals", "mint", "mint_batch", "registry",
    # EIP-2612 (issue 23): a self-custodied buyer signs an exact allowance per purchase.
    "permit", "nonces", "DOMAIN_SEPARATOR", "eip712Domain",
    # EIP-3009 (issue 23): a credit transfer whose recipient the holder signed
    # (test_custody_credit.py).
    "transferWithAuthorization", "cancelAuthorization", "authorizationState",
    # Top-up at a merchant's till within a platform-set limit (issue 24; test_token_till.py).
    "set_till_limit", "till_credit", "till_limit", "till_credited", "till_remaining",
    # Carried over from a predecessor token (issue 23; test_upgrade_token.py).
    "begin_migration", "import_balances", "import_holder", "import_till_limits",
    "import_allowances", "finish_migration", "predecessor", "migrating", "carried",
}  # fmt: skip


def reverts(error: str):
    """`boa.reverts` for a reason string, or for the compiler's overflow check."""
    return boa.reverts(compiler=OVERFLOW) if error == OVERFLOW else boa.reverts(error)


def transfer(sender, receiver, value) -> tuple:
    return ("Transfer", sender, receiver, value)


def approval(owner, spender, value) -> tuple:
    return ("Approval", owner, spender, value)


def as_tuples(logs) -> list[tuple]:
    """Decoded boa logs as comparable tuples (event name and fields)."""
    out = []
    for log in logs:
        name = type(log).__name__
        if name == "Transfer":
            out.append(transfer(log.sender, log.receiver, log.value))
        elif name == "Approval":
            out.append(approval(log.owner, log.spender, log.value))
        elif name == "RoleMinterChanged":
            out.append((name, log.minter, log.status))
        elif name == "OwnershipTransferred":
            out.append((name, log.previous_owner, log.new_owner))
        else:  # pragma: no cover - the token emits no other event
            out.append((name,))
    return out


@pytest.fixture(scope="session")
def stranger() -> str:
    """An account the registry has never seen."""
    return boa.env.generate_address("stranger")


@pytest.fixture
def people(platform, merchant, terminal, consumer, stranger) -> dict[str, str]:
    """Fixture accounts by name, for parametrised callers (fixtures requested during
    a test would break titanoboa's per-fixture snapshots)."""
    return {
        "platform": platform,
        "merchant": merchant,
        "terminal": terminal,
        "consumer": consumer,
        "stranger": stranger,
    }


@pytest.fixture(scope="session")
def holders() -> list[str]:
    """Four unregistered accounts that hold and move tokens."""
    return [boa.env.generate_address(f"holder-{i}") for i in range(4)]


@pytest.fixture
def token(registry, platform):
    """The token bound to the fixture registry, deployed by the platform."""
    with boa.env.prank(platform):
        return deployer("token").deploy(registry)


@pytest.fixture
def funded(token, platform, holders):
    """The token after the platform minted 100 CCC to each holder."""
    with boa.env.prank(platform):
        token.mint_batch(holders, [100 * ONE_CCC] * len(holders))
    return token


# --- deployment --------------------------------------------------------------------------


def test_metadata(token, registry):
    assert token.name() == "CouponChain Credit"
    assert token.symbol() == "CCC"
    assert token.decimals() == 6
    assert token.registry() == registry.address
    assert token.totalSupply() == 0


def test_zero_registry_refused(platform):
    with boa.env.prank(platform), boa.reverts(ERR_ZERO_REGISTRY):
        deployer("token").deploy(ZERO)


def test_snekmate_roles_renounced_at_deploy(registry, stranger):
    # Deployed by an account that is not the platform: it keeps no minting right.
    with boa.env.prank(stranger):
        tok = deployer("token").deploy(registry)
    assert as_tuples(tok.get_logs()) == [
        ("OwnershipTransferred", ZERO, stranger),
        ("RoleMinterChanged", stranger, True),
        ("RoleMinterChanged", stranger, False),
        ("OwnershipTransferred", stranger, ZERO),
    ]
    with boa.env.prank(stranger), boa.reverts(ERR_NOT_PLATFORM):
        tok.mint(stranger, 1)


def test_only_intended_functions_exported(token):
    names = {item["name"] for item in token.abi if item["type"] == "function"}
    assert names == EXPORTED
    for hidden in (
        "owner",
        "is_minter",
        "set_minter",
        "burn",
        "burn_from",
        "transfer_ownership",
        "renounce_ownership",
    ):
        assert not hasattr(token, hidden)


# --- minting -----------------------------------------------------------------------------


def test_platform_mints(token, platform, consumer):
    with boa.env.prank(platform):
        token.mint(consumer, 5 * ONE_CCC)
    assert as_tuples(token.get_logs()) == [transfer(ZERO, consumer, 5 * ONE_CCC)]
    assert token.balanceOf(consumer) == 5 * ONE_CCC
    assert token.totalSupply() == 5 * ONE_CCC


@pytest.mark.parametrize("caller_name", ["merchant", "terminal", "consumer", "stranger"])
def test_only_platform_mints(token, people, caller_name):
    with boa.env.prank(people[caller_name]), boa.reverts(ERR_NOT_PLATFORM):
        token.mint(people[caller_name], 1)


def test_mint_to_zero_refused(token, platform):
    with boa.env.prank(platform), boa.reverts(ERR_MINT_TO_ZERO):
        token.mint(ZERO, 1)


def test_mint_overflow_refused(token, platform, consumer, merchant):
    with boa.env.prank(platform):
        token.mint(consumer, MAX_UINT256)
        with boa.reverts(compiler=OVERFLOW):
            token.mint(merchant, 1)
    assert token.balanceOf(merchant) == 0


def test_minting_follows_platform_rotation(token, registry, platform, stranger, consumer):
    with boa.env.prank(platform):
        registry.propose_platform(stranger)
        token.mint(consumer, 1)  # a proposal alone moves nothing
    with boa.env.prank(stranger):
        registry.accept_platform()
    with boa.env.prank(platform), boa.reverts(ERR_NOT_PLATFORM):
        token.mint(consumer, 1)
    with boa.env.prank(stranger):
        token.mint(consumer, 1)
    assert token.balanceOf(consumer) == 2


def test_mint_batch(token, platform, holders):
    a, b, c, _ = holders
    with boa.env.prank(platform):
        token.mint_batch([a, b, a, c], [1, 2, 3, 0])
    assert as_tuples(token.get_logs()) == [
        transfer(ZERO, a, 1),
        transfer(ZERO, b, 2),
        transfer(ZERO, a, 3),
        transfer(ZERO, c, 0),
    ]
    assert [token.balanceOf(h) for h in (a, b, c)] == [4, 2, 0]
    assert token.totalSupply() == 6


def test_mint_batch_empty(token, platform):
    with boa.env.prank(platform):
        token.mint_batch([], [])
    assert token.get_logs() == []


@pytest.mark.parametrize(("n_recipients", "n_amounts"), [(2, 1), (1, 2), (0, 1), (1, 0)])
def test_mint_batch_length_mismatch(token, platform, holders, n_recipients, n_amounts):
    with boa.env.prank(platform), boa.reverts(ERR_LENGTH):
        token.mint_batch(holders[:n_recipients], [1] * n_amounts)


def test_mint_batch_caller_checked_first(token, stranger, holders):
    with boa.env.prank(stranger), boa.reverts(ERR_NOT_PLATFORM):
        token.mint_batch(holders[:2], [1])


@pytest.mark.parametrize("where", [0, 1, 2])
def test_mint_batch_zero_recipient_reverts_all(token, platform, holders, where):
    recipients = holders[:3]
    recipients[where] = ZERO
    with boa.env.prank(platform), boa.reverts(ERR_MINT_TO_ZERO):
        token.mint_batch(recipients, [7, 7, 7])
    assert token.totalSupply() == 0
    assert all(token.balanceOf(h) == 0 for h in holders)


def test_mint_batch_overflow_reverts_all(token, platform, holders):
    with boa.env.prank(platform), boa.reverts(compiler=OVERFLOW):
        token.mint_batch(holders[:3], [5, MAX_UINT256 - 5, 1])
    assert token.totalSupply() == 0
    assert all(token.balanceOf(h) == 0 for h in holders)


def test_mint_batch_full_size(token, platform):
    recipients = [boa.env.generate_address() for _ in range(1024)]
    with boa.env.prank(platform):
        token.mint_batch(recipients, [ONE_CCC] * 1024)
    assert token.totalSupply() == 1024 * ONE_CCC


def test_mint_batch_over_bound_refused(token, platform):
    recipients = [boa.env.generate_address() for _ in range(1025)]
    with boa.env.prank(platform), boa.reverts():  # the ABI decoder's bound check; no reason string
        token.mint_batch(recipients, [1] * 1025)


# --- ERC-20 ------------------------------------------------------------------------------


def test_transfer(funded, holders):
    a, b = holders[:2]
    with boa.env.prank(a):
        assert funded.transfer(b, 30 * ONE_CCC) is True
    assert as_tuples(funded.get_logs()) == [transfer(a, b, 30 * ONE_CCC)]
    assert funded.balanceOf(a) == 70 * ONE_CCC
    assert funded.balanceOf(b) == 130 * ONE_CCC


def test_transfer_to_self_and_zero_amount(funded, holders):
    a, b = holders[:2]
    with boa.env.prank(a):
        funded.transfer(a, 40 * ONE_CCC)
        funded.transfer(b, 0)
    assert funded.balanceOf(a) == 100 * ONE_CCC
    assert funded.balanceOf(b) == 100 * ONE_CCC


def test_transfer_exceeding_balance(funded, holders, stranger):
    with boa.env.prank(holders[0]), boa.reverts(ERR_BALANCE):
        funded.transfer(holders[1], 100 * ONE_CCC + 1)
    with boa.env.prank(stranger), boa.reverts(ERR_BALANCE):
        funded.transfer(holders[1], 1)


def test_transfer_to_zero(funded, holders):
    with boa.env.prank(holders[0]), boa.reverts(ERR_TRANSFER_TO_ZERO):
        funded.transfer(ZERO, 1)


def test_approve(funded, holders):
    a, b = holders[:2]
    with boa.env.prank(a):
        assert funded.approve(b, 10) is True
    assert as_tuples(funded.get_logs()) == [approval(a, b, 10)]
    assert funded.allowance(a, b) == 10
    with boa.env.prank(a):
        funded.approve(b, 3)  # overwrites, does not add
    assert funded.allowance(a, b) == 3


def test_approve_zero_spender(funded, holders):
    with boa.env.prank(holders[0]), boa.reverts(ERR_APPROVE_TO_ZERO):
        funded.approve(ZERO, 1)


def test_transfer_from(funded, holders):
    owner, spender, to = holders[:3]
    with boa.env.prank(owner):
        funded.approve(spender, 50)
    with boa.env.prank(spender):
        assert funded.transferFrom(owner, to, 20) is True
    assert as_tuples(funded.get_logs()) == [approval(owner, spender, 30), transfer(owner, to, 20)]
    assert funded.allowance(owner, spender) == 30
    assert funded.balanceOf(owner) == 100 * ONE_CCC - 20
    assert funded.balanceOf(to) == 100 * ONE_CCC + 20


def test_transfer_from_infinite_allowance_not_spent(funded, holders):
    owner, spender, to = holders[:3]
    with boa.env.prank(owner):
        funded.approve(spender, MAX_UINT256)
    with boa.env.prank(spender):
        funded.transferFrom(owner, to, 20)
    assert as_tuples(funded.get_logs()) == [transfer(owner, to, 20)]
    assert funded.allowance(owner, spender) == MAX_UINT256


def test_transfer_from_insufficient_allowance(funded, holders):
    owner, spender, to = holders[:3]
    with boa.env.prank(owner):
        funded.approve(spender, 5)
    with boa.env.prank(spender), boa.reverts(ERR_ALLOWANCE):
        funded.transferFrom(owner, to, 6)


def test_transfer_from_exceeding_balance_keeps_allowance(funded, holders):
    owner, spender, to = holders[:3]
    with boa.env.prank(owner):
        funded.approve(spender, MAX_UINT256 - 1)
    with boa.env.prank(spender), boa.reverts(ERR_BALANCE):
        funded.transferFrom(owner, to, 100 * ONE_CCC + 1)
    assert funded.allowance(owner, spender) == MAX_UINT256 - 1


def test_transfer_from_to_zero(funded, holders):
    owner, spender = holders[:2]
    with boa.env.prank(owner):
        funded.approve(spender, 5)
    with boa.env.prank(spender), boa.reverts(ERR_TRANSFER_TO_ZERO):
        funded.transferFrom(owner, ZERO, 1)


def test_transfer_from_zero_owner(funded, holders):
    with boa.env.prank(holders[0]), boa.reverts(ERR_APPROVE_FROM_ZERO):
        funded.transferFrom(ZERO, holders[1], 0)


# --- properties --------------------------------------------------------------------------

# Small amounts so that transfers mostly succeed, with the extremes mixed in.
small_amounts = st.integers(0, 300 * ONE_CCC)
amounts = st.one_of(
    small_amounts, small_amounts, small_amounts, st.just(MAX_UINT256), st.integers(0, MAX_UINT256)
)
mostly = st.sampled_from([True, True, True, False])
holder_index = st.integers(-1, 3)  # -1 is the zero address


def _who(holders: list[str], index: int) -> str:
    return ZERO if index < 0 else holders[index]


@given(items=st.lists(st.tuples(holder_index, amounts), max_size=6))
def test_mint_batch_all_or_nothing(token, platform, holders, items):
    with boa.env.anchor():
        recipients = [_who(holders, i) for i, _ in items]
        values = [v for _, v in items]
        supply, error = 0, None
        for to, value in zip(recipients, values, strict=True):
            if to == ZERO:
                error = ERR_MINT_TO_ZERO
                break
            supply += value
            if supply > MAX_UINT256:
                error = OVERFLOW
                break
        with boa.env.prank(platform):
            if error:
                with reverts(error):
                    token.mint_batch(recipients, values)
            else:
                token.mint_batch(recipients, values)
        minted = {h: 0 for h in holders}
        if not error:
            for to, value in zip(recipients, values, strict=True):
                minted[to] += value
        assert token.totalSupply() == sum(minted.values())
        assert all(token.balanceOf(h) == minted[h] for h in holders)


@given(
    caller=st.sampled_from(["platform", "merchant", "terminal", "consumer", "stranger"]),
    amount=st.integers(0, MAX_UINT256),
)
def test_only_platform_mints_any_amount(token, people, consumer, caller, amount):
    with boa.env.anchor():
        with boa.env.prank(people[caller]):
            if caller == "platform":
                token.mint(consumer, amount)
            else:
                with boa.reverts(ERR_NOT_PLATFORM):
                    token.mint(consumer, amount)
        assert token.totalSupply() == (amount if caller == "platform" else 0)


@given(
    moves=st.lists(
        st.tuples(st.integers(0, 3), holder_index, st.integers(0, 150 * ONE_CCC)), max_size=8
    )
)
def test_transfers_conserve_supply(funded, holders, moves):
    with boa.env.anchor():
        supply = funded.totalSupply()
        expected = {h: funded.balanceOf(h) for h in holders}
        for sender_i, to_i, amount in moves:
            sender, to = holders[sender_i], _who(holders, to_i)
            with boa.env.prank(sender):
                if to == ZERO:
                    with boa.reverts(ERR_TRANSFER_TO_ZERO):
                        funded.transfer(to, amount)
                elif expected[sender] < amount:
                    with boa.reverts(ERR_BALANCE):
                        funded.transfer(to, amount)
                else:
                    funded.transfer(to, amount)
                    expected[sender] -= amount
                    expected[to] += amount
            balances = [funded.balanceOf(h) for h in holders]
            assert sum(balances) == funded.totalSupply() == supply
        assert {h: funded.balanceOf(h) for h in holders} == expected


# --- stateful machine --------------------------------------------------------------------

# Five accounts (the first deploys the registry and is the first platform); the
# number of runs and steps comes from `conftest.machine_settings("token")`.
N_ACCOUNTS = 5


@dataclass
class Ghost:
    """What the token should hold, and who the platform is."""

    platform: str
    balances: dict[str, int] = field(default_factory=dict)
    allowances: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def supply(self) -> int:
        return sum(self.balances.values())

    def balance(self, account: str) -> int:
        return self.balances.get(account, 0)

    def allowance(self, owner: str, spender: str) -> int:
        return self.allowances.get((owner, spender), 0)


class TokenMachine(ContractMachine):
    """Random mints, batches, transfers, approvals and platform rotations."""

    accounts: list[str] = []
    registry = token = state = None  # deployed once per test

    def __init__(self) -> None:
        super().__init__()
        self.ghost = Ghost(platform=self.accounts[0])
        self.touched: set[str] = set()  # accounts whose balance the last step may move

    @classmethod
    def deploy(cls) -> None:
        cls.accounts = [boa.env.generate_address(f"account-{i}") for i in range(N_ACCOUNTS)]
        with boa.env.prank(cls.accounts[0]):
            cls.registry = quiet(deployer("registry").deploy())
            cls.token = quiet(deployer("token").deploy(cls.registry))
        cls.state = StorageReader(cls.token)

    caller = st.integers(0, N_ACCOUNTS - 1)
    target = st.integers(-1, N_ACCOUNTS - 1)  # -1 is the zero address
    # A share (in percent, above 100 overspends) of what may be spent, or any amount.
    spend = st.one_of(
        st.tuples(st.just("share"), st.integers(0, 110)), st.tuples(st.just("raw"), amounts)
    )

    def _addr(self, index: int) -> str:
        return ZERO if index < 0 else self.accounts[index]

    @staticmethod
    def _amount(spend: tuple[str, int], available: int) -> int:
        kind, value = spend
        return min(available * value // 100, MAX_UINT256) if kind == "share" else value

    def _expect(self, error: str | None, call) -> bool:
        """Runs `call`, expecting `error` (a reason, or OVERFLOW) or success."""
        if error is None:
            call()
            return True
        with reverts(error):
            call()
        return False

    @rule(use_platform=mostly, caller=caller, to=target, amount=amounts)
    def mint(self, use_platform, caller, to, amount) -> None:
        caller = self.ghost.platform if use_platform else self._addr(caller)
        to = self._addr(to)
        if caller != self.ghost.platform:
            error = ERR_NOT_PLATFORM
        elif to == ZERO:
            error = ERR_MINT_TO_ZERO
        elif self.ghost.supply + amount > MAX_UINT256:
            error = OVERFLOW
        else:
            error = None
        self.touched.add(to)
        with boa.env.prank(caller):
            if self._expect(error, lambda: self.token.mint(to, amount)):
                assert as_tuples(self.token.get_logs()) == [transfer(ZERO, to, amount)]
                self.ghost.balances[to] = self.ghost.balance(to) + amount

    @rule(
        use_platform=mostly,
        caller=caller,
        items=st.lists(st.tuples(target, amounts), max_size=4),
        extra_amount=mostly.map(lambda b: not b),
    )
    def mint_batch(self, use_platform, caller, items, extra_amount) -> None:
        caller = self.ghost.platform if use_platform else self._addr(caller)
        recipients = [self._addr(i) for i, _ in items]
        values = [v for _, v in items] + ([1] if extra_amount else [])
        error = None
        if caller != self.ghost.platform:
            error = ERR_NOT_PLATFORM
        elif extra_amount:
            error = ERR_LENGTH
        else:
            supply = self.ghost.supply
            for to, value in items:
                if to < 0:
                    error = ERR_MINT_TO_ZERO
                    break
                supply += value
                if supply > MAX_UINT256:
                    error = OVERFLOW
                    break
        self.touched.update(recipients)
        with boa.env.prank(caller):
            if self._expect(error, lambda: self.token.mint_batch(recipients, values)):
                assert as_tuples(self.token.get_logs()) == [
                    transfer(ZERO, to, v) for to, v in zip(recipients, values, strict=True)
                ]
                for to, value in zip(recipients, values, strict=True):
                    self.ghost.balances[to] = self.ghost.balance(to) + value

    @rule(sender=caller, to=target, spend=spend)
    def transfer(self, sender, to, spend) -> None:
        sender, to = self._addr(sender), self._addr(to)
        amount = self._amount(spend, self.ghost.balance(sender))
        if to == ZERO:
            error = ERR_TRANSFER_TO_ZERO
        elif self.ghost.balance(sender) < amount:
            error = ERR_BALANCE
        else:
            error = None
        self.touched.update((sender, to))
        with boa.env.prank(sender):
            if self._expect(error, lambda: self.token.transfer(to, amount)):
                assert as_tuples(self.token.get_logs()) == [transfer(sender, to, amount)]
                self.ghost.balances[sender] = self.ghost.balance(sender) - amount
                self.ghost.balances[to] = self.ghost.balance(to) + amount

    @rule(owner=caller, spender=target, amount=amounts)
    def approve(self, owner, spender, amount) -> None:
        owner, spender = self._addr(owner), self._addr(spender)
        error = ERR_APPROVE_TO_ZERO if spender == ZERO else None
        with boa.env.prank(owner):
            if self._expect(error, lambda: self.token.approve(spender, amount)):
                assert as_tuples(self.token.get_logs()) == [approval(owner, spender, amount)]
                self.ghost.allowances[(owner, spender)] = amount
        if spender != ZERO:
            assert self.token.allowance(owner, spender) == self.ghost.allowance(owner, spender)

    @rule(data=st.data(), to=target, spend=spend)
    def transfer_from(self, data, to, spend) -> None:
        # Mostly a pair that has an allowance, otherwise any pair (the owner may be zero).
        pairs = sorted(self.ghost.allowances)
        if pairs and data.draw(mostly, label="approved pair"):
            owner, spender = data.draw(st.sampled_from(pairs), label="pair")
        else:
            owner = self._addr(data.draw(self.target, label="owner"))
            spender = self._addr(data.draw(self.caller, label="spender"))
        to = self._addr(to)
        allowance = self.ghost.allowance(owner, spender)
        amount = self._amount(spend, min(allowance, self.ghost.balance(owner)))
        finite = allowance < MAX_UINT256
        if finite and allowance < amount:
            error = ERR_ALLOWANCE
        elif finite and owner == ZERO:
            error = ERR_APPROVE_FROM_ZERO
        elif to == ZERO:
            error = ERR_TRANSFER_TO_ZERO
        elif self.ghost.balance(owner) < amount:
            error = ERR_BALANCE
        else:
            error = None
        self.touched.update((owner, to))
        with boa.env.prank(spender):
            if self._expect(error, lambda: self.token.transferFrom(owner, to, amount)):
                expected = [transfer(owner, to, amount)]
                if finite:
                    expected.insert(0, approval(owner, spender, allowance - amount))
                    self.ghost.allowances[(owner, spender)] = allowance - amount
                assert as_tuples(self.token.get_logs()) == expected
                self.ghost.balances[owner] = self.ghost.balance(owner) - amount
                self.ghost.balances[to] = self.ghost.balance(to) + amount
        assert self.token.allowance(owner, spender) == self.ghost.allowance(owner, spender)

    @rule(new=caller)
    def rotate_platform(self, new) -> None:
        # Only the platform is registered here, so any other account may take over.
        new = self._addr(new)
        with boa.env.prank(self.ghost.platform):
            if new == self.ghost.platform:
                with boa.reverts("registry: account already registered"):
                    self.registry.propose_platform(new)
                return
            self.registry.propose_platform(new)
        with boa.env.prank(new):
            self.registry.accept_platform()
        self.ghost.platform = new

    @invariant()
    def balances_match_ghost_and_sum_to_supply(self) -> None:
        # Read from storage (no EVM call): every balance after every step.
        balances = [self.state.word("erc20.balanceOf", a) for a in self.accounts]
        assert balances == [self.ghost.balance(a) for a in self.accounts]
        # Every recipient is one of the accounts, so they hold the whole supply.
        assert sum(balances) == self.state.word("erc20.totalSupply") == self.ghost.supply
        assert self.state.word("erc20.balanceOf", ZERO) == 0

    @invariant()
    def views_match_what_moved(self) -> None:
        for account in sorted(self.touched):
            assert self.token.balanceOf(account) == self.ghost.balance(account)
        if self.touched:
            assert self.token.totalSupply() == self.ghost.supply
        self.touched.clear()


TestTokenMachine = TokenMachine.test_case("token")
