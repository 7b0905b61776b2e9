"""Titanoboa fixtures: contracts compiled from src/couponchain/contracts.

Every test runs inside a state snapshot (`boa.env.anchor()`), so no test leaks
chain state into another. The state machines' run lengths (examples and steps
per profile) and their common base class are here too.
"""

from collections.abc import Iterator
from pathlib import Path

import boa
import pytest
from boa.contracts.vyper.vyper_contract import VyperContract
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine

from couponchain.domain.roles import Role

CONTRACTS = Path(__file__).resolve().parents[2] / "src" / "couponchain" / "contracts"
boa.interpret.set_search_paths([str(CONTRACTS)])

ZERO = "0x" + "00" * 20

_deployers: dict[str, object] = {}


def deployer(name: str):
    """The compiled deployer of `contracts/<name>.vy` (compiled once per session)."""
    if name not in _deployers:
        _deployers[name] = boa.load_partial(str(CONTRACTS / f"{name}.vy"))
    return _deployers[name]


@pytest.fixture(autouse=True)
def _anchor() -> Iterator[None]:
    with boa.env.anchor():
        yield
    # The anchor reverts the state but not titanoboa's traces of every storage
    # write and keccak preimage. Deploy addresses repeat from test to test, so
    # the traces of one address grow all session long, and titanoboa renders
    # them on every revert (the contract's repr in the error): a state machine
    # late in the session ran 5x slower than alone. Tests never need the
    # traces of earlier tests.
    boa.env.sstore_trace.clear()
    boa.env.sha3_trace.clear()


@pytest.fixture(scope="session")
def platform() -> str:
    return boa.env.generate_address("platform")


@pytest.fixture(scope="session")
def merchant() -> str:
    return boa.env.generate_address("merchant")


@pytest.fixture(scope="session")
def other_merchant() -> str:
    return boa.env.generate_address("other_merchant")


@pytest.fixture(scope="session")
def terminal() -> str:
    return boa.env.generate_address("terminal")


@pytest.fixture(scope="session")
def consumer() -> str:
    return boa.env.generate_address("consumer")


@pytest.fixture
def registry(platform, merchant, other_merchant, terminal, consumer):
    """A registry deployed by the platform with two merchants, a terminal of
    `merchant` and a consumer already registered."""
    with boa.env.prank(platform):
        reg = deployer("registry").deploy()
        reg.register_batch(
            [merchant, other_merchant, terminal, consumer],
            [Role.MERCHANT, Role.MERCHANT, Role.TERMINAL, Role.CONSUMER],
            [ZERO, ZERO, merchant,
             ZERO],
        )
    return reg


# --- state machines ------------------------------------------------------------------------

# How long every contract state machine runs: the one place that says so. The
# reliability issue asks for at least 5,000 examples per machine under `ci`; `dev`
# keeps each machine to a few seconds.
MACHINE_EXAMPLES = {"dev": 50, "ci": 5_000}

# Steps per example. Each machine's first steps (its `@initialize` rule, or the
# state deployed once per test) already hold what the rules act on: an open
# edition with sales, a campaign with awards, a round with granted coupons, a
# product past its first batch, registered merchants, a platform that can mint.
# So the longest chain a rule needs (reserve -> sell out of it -> let it expire
# -> release; write off -> distribute -> withdraw; set rules -> publish) is a
# handful of steps, and 12 steps leave room for a few of them to interleave.
# Cost grows with steps, coverage with runs: at 12 steps x 5,000 runs every rule
# of the five capability machines runs at least as often as at the former
# 40 x 250 (promotions' deepest rule, `withdraw`, about 500 times instead of
# about 400; editions' `sell_reserved` about 5,000 instead of about 1,250), in
# 20 times as many distinct histories. The registry and the token have fewer,
# shallower rules (a platform rotation needs two steps to be reused): 10 steps
# reach every path there.
MACHINE_STEPS = {
    "editions": 12,
    "promotions": 12,
    "referrals": 12,
    "prizes": 12,
    "marketing": 12,
    "registry": 10,
    "token": 10,
}


def machine_settings(machine: str) -> settings:
    """The Hypothesis settings of one contract state machine under the current profile."""
    examples = MACHINE_EXAMPLES.get(settings.get_current_profile_name(), MACHINE_EXAMPLES["dev"])
    return settings(
        settings.default, max_examples=examples, stateful_step_count=MACHINE_STEPS[machine]
    )


def quiet(contract: VyperContract) -> VyperContract:
    """`contract`, with a short repr. On every revert boa keeps repr(contract), a
    dump of all its storage, for the error message; with the machines' many
    expected reverts that was up to a quarter of a run."""
    contract.__class__ = _QuietContract
    return contract


class _QuietContract(VyperContract):
    def __repr__(self) -> str:
        return f"<{self.contract_name} at {self.address}>"


class ContractMachine(RuleBasedStateMachine):
    """A state machine over contracts deployed once per test by `deploy` (boa
    rebuilds a source map on every deployment: deploying per example was a third
    of a run); every example starts from that state inside its own
    `boa.env.anchor()`, so examples never see each other's changes.

    `TestX = XMachine.test_case("x")` makes the pytest test: it deploys, then runs
    the machine with `machine_settings("x")`.
    """

    @classmethod
    def deploy(cls) -> None:
        """Deploy the contracts and keep them on the class."""
        raise NotImplementedError

    @classmethod
    def test_case(cls, machine: str) -> type:
        class MachineTest(cls.TestCase):
            settings = machine_settings(machine)

            def setUp(self) -> None:
                cls.deploy()

        return MachineTest

    def __init__(self) -> None:
        super().__init__()
        self._snapshot = boa.env.anchor()
        self._snapshot.__enter__()

    def teardown(self) -> None:
        self._snapshot.__exit__(None, None, None)

    @staticmethod
    def wrote(contract: VyperContract) -> bool:
        """Whether any call since the last time this was asked wrote (or, in a
        call that then reverted, tried to write) `contract`'s storage. A view
        reads nothing but its contract's storage: an invariant need not call it
        again after a step that wrote none."""
        return bool(boa.env.sstore_trace.pop(contract.address, None))
