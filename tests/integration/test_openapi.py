"""Schemathesis over the whole OpenAPI document: no input, however malformed, gets a
5xx, and every answer matches the schema the API publishes.

The platform runs as a real `couponchain up` process on the session's node; every
operation is called as the platform admin with generated (valid and invalid) data.
The live stream (`…/live`, server-sent events) never ends by design and is left out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from tests.integration.test_crash import ADMIN, Platform

#: Titanoboa's plugin snapshots its EVM around every test; these use the real node.
pytestmark = pytest.mark.ignore_isolation
#: Examples per operation and mode: 25 in the ci profile, 12 in dev.
EXAMPLES = max(12, settings.default.max_examples // 20)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, node_url: str) -> Iterator[Platform]:
    running = Platform(tmp_path_factory.mktemp("openapi"), "", node_url)
    running.env.pop("COUPONCHAIN_DATABASE_URL")  # SQLite in its data directory
    # The fuzzer writes fast: the per-key write rate must not turn its calls into 429s.
    running.env["COUPONCHAIN_WRITE_RATE_PER_SECOND"] = "100000"
    running.env["COUPONCHAIN_WRITE_BURST"] = "100000"
    asyncio.run(running.start())
    yield running
    running.stop()


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.headers["authorization"] = f"Bearer {ADMIN}"
        yield s


CHECKS = [checks.not_a_server_error, openapi_checks.response_schema_conformance,
          openapi_checks.status_code_conformance, openapi_checks.content_type_conformance]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_gets_a_server_error_or_breaks_the_schema(
        platform: Platform, session: requests.Session, mode: GenerationMode) -> None:
    """Valid (positive) and invalid (negative) requests for every operation."""
    schema = schemathesis.openapi.from_url(f"{platform.url}/openapi.json").exclude(
        path_regex=r"/live$")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 60, "the whole API, not a part of it"
    for operation in operations:

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])
        def exercise(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=platform.url, session=session, timeout=60,
                                   checks=CHECKS)

        try:
            exercise()
        except Unsatisfiable:  # nothing of this operation can be made invalid
            continue
        except (Exception, BaseExceptionGroup) as exc:  # one report names every failure
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:600]}")
    assert not failures, "\n\n".join(failures)


def test_the_platform_log_has_no_unhandled_error(platform: Platform) -> None:
    log = Path(platform.log.name).read_text(errors="replace")
    assert "unhandled error" not in log, log[-4000:]
