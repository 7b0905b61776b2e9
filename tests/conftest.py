"""Shared test configuration: Hypothesis profiles.

`dev` (default) keeps the suite fast; `ci` runs many more examples. Choose with
HYPOTHESIS_PROFILE=ci. The contract state machines take their examples and
steps per profile from `MACHINE_EXAMPLES` and `MACHINE_STEPS` in
tests/contracts/conftest.py (5,000 examples each under `ci`).
"""

import os

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
