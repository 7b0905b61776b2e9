"""Shared test configuration: Hypothesis profiles, and the order files run in.

`dev` (default) keeps the suite fast; `ci` runs many more examples. Choose with
HYPOTHESIS_PROFILE=ci. The contract state machines take their examples and
steps per profile from `MACHINE_EXAMPLES` and `MACHINE_STEPS` in
tests/contracts/conftest.py (5,000 examples each under `ci`).
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev",
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "ci",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


#: Files that run for minutes each under `ci` (the contract state machines, among
#: them the one in test_token.py, the schemathesis runs, the README's quickstart in a
#: clean copy, the node kinds' conformance and the walk through every page). They are
#: collected first, so that with several workers (`scripts/test` runs one per core, a
#: file to a worker) the long files start at once and the many short ones fill in
#: around them, instead of one worker still running a long file after the other ran
#: out of work (the quickstart alone took 231 s of CI's last run).
LONG_FILES = ("_stateful.py", "test_token.py", "test_openapi.py", "test_quickstart.py",
              "test_conformance.py", "test_walk.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long files first; otherwise the collection order, unchanged (a stable sort)."""
    items.sort(key=lambda item: not item.path.name.endswith(LONG_FILES))
