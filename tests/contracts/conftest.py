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


# --- interpreter caches ------------------------------------------------------------------
# The state machines spend over 80% of their time in py-evm running the contracts'
# opcodes (py-spy on `ci` runs; a trivial view costs about 0.8 ms of CPU,
# `promotions.allocate` about 9 ms). Two pure computations in there are redone on every
# call although their inputs repeat all run long; both are cached here, with
# results identical to the uncached ones, so the machines check exactly as much.


def _share_jump_analysis() -> None:
    """Let every code stream of the same bytecode share its jump-destination analysis.

    py-evm decides whether a JUMP target is a real JUMPDEST (not PUSH data) by
    scanning up to 32 bytes back, and keeps the answer in two sets on the code
    stream, which boa builds afresh for every message: each call re-analysed the
    targets it jumps to (about 4% of a machine's time). Validity depends on the
    code bytes alone, so streams of the same code can share the sets.
    """
    from boa.vm.py_evm import TracingCodeStream

    analyses: dict[bytes, tuple[set[int], set[int]]] = {}
    init = TracingCodeStream.__init__

    def __init__(self, code_bytes, *args, **kwargs):
        init(self, code_bytes, *args, **kwargs)
        if type(code_bytes) is not bytes:  # py-evm passes bytes; anything else: unshared
            return
        analysis = analyses.get(code_bytes)
        if analysis is None:
            if len(analyses) >= 512:  # init code differs with each deployment's arguments
                analyses.clear()
            analysis = analyses[code_bytes] = (set(), set())
        self.valid_positions, self.invalid_positions = analysis

    TracingCodeStream.__init__ = __init__


def _remember_hashes() -> None:
    """Memoise keccak for the SHA3 opcode and py-evm's storage-key hashing.

    Every HashMap access hashes a (slot, key) pair, and every storage read or
    write hashes its slot number again to find the trie key; the same few
    thousand inputs come back in every example (pycryptodome builds a hasher
    object per call: about 7% of a machine's time).
    """
    from functools import lru_cache

    import eth.db.storage
    import eth.vm.logic.sha3

    original = eth.vm.logic.sha3.keccak
    cached = lru_cache(maxsize=1 << 16)(original)

    def keccak(preimage):
        # Only bytes are hashable (both callers pass bytes today).
        return cached(preimage) if type(preimage) is bytes else original(preimage)

    eth.vm.logic.sha3.keccak = keccak
    eth.db.storage.keccak = keccak


_share_jump_analysis()
_remember_hashes()


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


def register_all(registry, platform, accounts, roles, merchants) -> None:
    """Register participants as the registry wants them registered: the
    platform its merchants and consumers (in one batch, in the given order),
    then each merchant its own terminals (the platform may not)."""
    own = [i for i, role in enumerate(roles) if role != Role.TERMINAL]
    with boa.env.prank(platform):
        registry.register_batch([accounts[i] for i in own], [roles[i] for i in own],
                                [merchants[i] for i in own])
    tills: dict[str, list[str]] = {}
    for account, role, bound in zip(accounts, roles, merchants, strict=True):
        if role == Role.TERMINAL:
            tills.setdefault(bound, []).append(account)
    for bound, terminals in tills.items():
        with boa.env.prank(bound):
            registry.register_batch(terminals, [Role.TERMINAL] * len(terminals),
                                    [bound] * len(terminals))


@pytest.fixture
def registry(platform, merchant, other_merchant, terminal, consumer):
    """A registry deployed by the platform with two merchants, a terminal of
    `merchant` (registered by `merchant`) and a consumer already registered."""
    with boa.env.prank(platform):
        reg = deployer("registry").deploy()
    register_all(reg, platform, [merchant, other_merchant, terminal, consumer],
                 [Role.MERCHANT, Role.MERCHANT, Role.TERMINAL, Role.CONSUMER],
                 [ZERO, ZERO, merchant, ZERO])
    return reg


# --- state machines ------------------------------------------------------------------------

# How long every contract state machine runs: the one place that says so. The
# reliability issue asks for at least 5,000 examples per machine under `ci`; `dev`
# keeps each machine to a few seconds.
MACHINE_EXAMPLES = {"dev": 50, "ci": 5_000}
# Machines whose every step signs (secp256k1 in Python, about a millisecond a
# signature) run fewer examples: the custody machine's rules are few and shallow,
# and at 5,000 examples it alone would take CI's whole budget (64 s at 60).
MACHINE_EXAMPLES_BY_MACHINE = {"custody": {"dev": 15, "ci": 60}}

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
    "custody": 10,
}


def machine_settings(machine: str) -> settings:
    """The Hypothesis settings of one contract state machine under the current profile."""
    counts = MACHINE_EXAMPLES_BY_MACHINE.get(machine, MACHINE_EXAMPLES)
    examples = counts.get(settings.get_current_profile_name(), counts["dev"])
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
