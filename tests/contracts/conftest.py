"""Titanoboa fixtures: contracts compiled from src/couponchain/contracts.

Every test runs inside a state snapshot (`boa.env.anchor()`), so no test leaks
chain state into another.
"""

from collections.abc import Iterator
from pathlib import Path

import boa
import pytest

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
