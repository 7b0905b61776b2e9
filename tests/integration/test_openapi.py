"""Schemathesis over the whole OpenAPI document: no input, however malformed, gets a
5xx, and every answer matches the schema the API publishes.

The platform runs as a real `couponchain up` process on the session's node. The
stateless tests call every operation as the platform admin with generated (valid and
invalid) data. The stateful test follows the document's OpenAPI links
(`couponchain.api.links`): an edition's id into its sales, a sale's serial into a
redemption, a consent code into a write-off, a prize code into a scan and a claim,
each call made as the role that operation is for. The live streams (`…/live` and
`…/notifications/stream`, server-sent events) end only when their time is up, and are
left out.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Flaky, Unsatisfiable
from requests.structures import CaseInsensitiveDict
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.generation.stateful.state_machine import normalize_name
from schemathesis.specs.openapi import checks as openapi_checks

from couponchain.api.links import LINKS
from tests.integration.platform_process import ADMIN, Platform

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
    running.env["COUPONCHAIN_WEBHOOK_ALLOW_HOSTS"] = "127.0.0.1"  # the webhook example's host
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
        path_regex=r"/(live|stream)$")
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


def _extreme_bodies(limits: dict[str, int]) -> dict[str, bytes]:
    """Bodies no generator makes by chance: far too deep, over the route's byte limit,
    over its element count, and a duplicate key."""
    return {
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "deep-objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        "unclosed": b"[" * 1_000_000,
        "over-size": b'{"a": "' + b"x" * limits["max_bytes"] + b'"}',
        "over-elements": b"[" + b"0," * limits["max_elements"] + b"0]",
        "duplicate-key": b'{"name": "a", "name": "b"}',
    }


def test_extreme_bodies_get_problem_answers_on_every_operation(
        platform: Platform, session: requests.Session) -> None:
    """Every operation with a JSON request body, through schemathesis's checks (no
    5xx, a documented status, the problem media type): each extreme body is refused
    with 413 or 422 naming the body, and the process stays up throughout."""
    document = requests.get(f"{platform.url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=platform.url)
    tried: Counter[int] = Counter()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if "application/json" not in (operation.definition.raw.get("requestBody") or {}).get(
                "content", {}):
            continue
        limits = operation.definition.raw.get("x-body-limits") or {
            "max_bytes": 256 * 1024, "max_elements": 10_000}
        names = [p.name for p in operation.path_parameters]
        operations += 1
        for label, body in _extreme_bodies(limits).items():
            case = operation.Case(path_parameters=dict.fromkeys(names, "1"),
                                  headers={"content-type": "application/json"})
            response = case.call_and_validate(session=session, timeout=60, checks=CHECKS,
                                              data=body)
            assert response.status_code in (413, 422), (operation.label, label)
            assert response.json()["field"] == "body", (operation.label, label)
            tried[response.status_code] += 1
    assert operations >= 25 and tried.total() == 6 * operations, tried
    assert tried[413] >= 2 * operations and tried[422] >= 2 * operations, tried
    health = requests.get(f"{platform.url}/v1/health", timeout=30).json()
    assert health["platform_restarts"] == 0, "a body took the platform process down"


#: Stateful runs: the whole API (chains across capabilities), then one capability at a
#: time (fewer operations to choose from, so chains go deeper): OpenAPI tags, scenarios,
#: and the most steps (calls) in one. About 2 minutes on 2 cores in all.
RUNS = {
    "all": ((), 30, 30),
    "editions": (("editions",), 15, 30),
    "promotions": (("promotions", "payouts"), 15, 30),
    "prizes": (("prizes",), 15, 30),
    "referrals": (("referrals",), 15, 30),
    "marketing": (("marketing", "participants"), 12, 25),
}
#: Runs of the state machine at most: a run ends early when Hypothesis replays a prefix
#: of calls and the platform, whose state moved on, answers differently (Flaky).
SUITES = 12
#: Pool split in basis points, summing to 10,000 (as in test_promotions).
SHARES = {"platform": 1_000, "issuer": 2_000, "redeemer": 2_000, "holder": 3_000,
          "earlier": 2_000}
RULE = {"indicators": ["page_views"], "condition": {"type": "periodic", "every_hours": 1}}

#: Who calls an operation in the stateful test; any other is called by the platform.
ROLES = {
    **dict.fromkeys([
        "POST /v1/editions", "POST /v1/editions/{edition_id}/sales",
        "POST /v1/editions/{edition_id}/sales:bulk", "POST /v1/editions/{edition_id}/sales:import",
        "POST /v1/coupons/{serial}/void", "POST /v1/promotion-grants",
        "POST /v1/promotion-coupons/{coupon_id}/write-off-reversal",
        "GET /v1/payouts/me", "POST /v1/payouts/me/withdraw",
        "POST /v1/prize-campaigns", "POST /v1/prize-campaigns/{campaign_id}/awards",
        "POST /v1/products", "POST /v1/products/{product_id}/batches",
        "POST /v1/products/{product_id}/batches/current:close",
        "PUT /v1/merchants/{merchant_id}/reporting-rules",
        "PUT /v1/merchants/{merchant_id}/webhook",
        "PUT /v1/merchants/{merchant_id}/incentive-cap",
        "PUT /v1/merchants/{merchant_id}/marketing-info"], "merchant"),
    **dict.fromkeys([
        "POST /v1/coupons/{serial}/redeem", "POST /v1/write-offs", "POST /v1/prize-scans",
        "POST /v1/prize-claims", "POST /v1/prize-claims:sync", "POST /v1/access-logs"],
        "terminal"),
    **dict.fromkeys([
        "POST /v1/coupons/{serial}/transfer", "POST /v1/promotion-coupons/{coupon_id}/transfer",
        "POST /v1/promotion-coupons/{coupon_id}/consent", "GET /v1/prize-awards/{award_id}/code",
        "POST /v1/products/{product_id}/purchases", "POST /v1/products/{product_id}/links",
        "GET /v1/holdings/me"], "consumer"),
}


@dataclass
class World:
    """The participants the stateful test acts as, and the keys of merchants it creates."""

    merchant: dict[str, Any]
    terminal: dict[str, Any]  # the merchant's
    consumer: dict[str, Any]
    other: dict[str, Any]  # a second consumer: transfers go to it, link purchases come from it
    number: int  # the merchant's number in access-log records
    keys: dict[str, str] = field(default_factory=dict)  # merchant id -> API key

    def key(self, case: schemathesis.Case) -> str:
        """The API key of whoever makes this call: a merchant named in the path acts
        for itself, a purchase through a promotion link comes from the other consumer."""
        label = case.operation.label
        role = ROLES.get(label, "platform")
        merchant_id = (case.path_parameters or {}).get("merchant_id")
        if role == "merchant" and merchant_id in self.keys:
            return self.keys[merchant_id]
        if label.endswith("/purchases") and isinstance(case.body, dict) and case.body.get("link"):
            role = "other"
        return ADMIN if role == "platform" else str(getattr(self, role)["api_key"])

    def learn(self, case: schemathesis.Case, response: Any) -> None:
        if case.operation.label == "POST /v1/merchants" and response.status_code == 201:
            created = response.json()
            self.keys[created["id"]] = created["api_key"]


def _at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _window(_w: World, body: dict[str, Any]) -> None:
    body.update(valid_from=_at(-1), valid_until=_at(30))


def _round(w: World, body: dict[str, Any]) -> None:
    # The declared turnover is optional (issue 27: inputs are measured from the ledger).
    declared = body["evaluation"].get("turnover")
    amount = declared[0]["amount"] if declared else 1
    body["evaluation"]["turnover"] = [{"merchant": w.merchant["id"], "amount": amount}]
    body["shares"] = dict(SHARES)


def _campaign(w: World, body: dict[str, Any]) -> None:
    body.update(terminals=[w.terminal["id"]], all_terminals=False, starts_at=None,
                ends_at=_at(1))


def _records(w: World, body: dict[str, Any]) -> None:
    now = int(datetime.now(UTC).timestamp())
    body["records"] = [{"ip": f"10.0.0.{i}", "account": "", "time": now - i, "merchant": w.number,
                        "method": "app", "operation": "view"}
                       for i in range(1 + len(body["records"]) % 5)]


#: Realistic values for the fields a positive case cannot hit by chance: the test's
#: own participants, times around now, shares that sum up, amounts they can pay.
#: Link-supplied fields (ids, codes, scan ids) are never touched.
DRESS: dict[str, Callable[[World, dict[str, Any]], object]] = {
    "POST /v1/editions": _window,
    "POST /v1/editions/{edition_id}/sales": lambda w, b: b.update(buyer=w.consumer["id"]),
    "POST /v1/editions/{edition_id}/sales:bulk": lambda w, b: [
        s.update(buyer=w.consumer["id"]) for s in b["sales"]],
    "POST /v1/coupons/{serial}/transfer": lambda w, b: b.update(to=w.other["id"]),
    "POST /v1/promotion-rounds:evaluate": _round,
    "POST /v1/promotion-rounds": _round,
    "POST /v1/promotion-rounds/{round_id}/allocations": lambda w, b: b.update(allocations=[
        {"merchant": w.merchant["id"], "count": 1 + a["count"] % 50}
        for a in b["allocations"][:1]]),
    "POST /v1/promotion-grants": lambda w, b: b.update(grants=[
        {"consumer": w.consumer["id"], "count": 1 + g.get("count", 0) % 5}
        for g in b["grants"][:2]]),
    "POST /v1/promotion-coupons/{coupon_id}/transfer": lambda w, b: b.update(to=w.other["id"]),
    "POST /v1/write-offs": lambda w, b: b.update(order_amount=1 + b["order_amount"] % 10**9),
    # A consent any merchant may use, above every order the write-offs send.
    "POST /v1/promotion-coupons/{coupon_id}/consent": lambda w, b: b.update(
        merchant="any", max_order_amount=10**10),
    # A cap large enough that write-offs keep being charged.
    "PUT /v1/merchants/{merchant_id}/incentive-cap": lambda w, b: b.update(
        cap=10**22 + b.get("cap", 0) % 10**22),
    "POST /v1/prize-campaigns": _campaign,
    "POST /v1/prize-campaigns/{campaign_id}/awards": lambda w, b: [
        a.update(consumer=w.consumer["id"], prize_index=0) for a in b["awards"]],
    "POST /v1/products": lambda w, b: b.update(price=1 + b["price"] % 1000,
                                               circulation=1 + b["circulation"] % 100),
    "POST /v1/products/{product_id}/batches": lambda w, b: b.update(
        price=1 + b["price"] % 1000, circulation=1 + b["circulation"] % 100,
        rebate_bps=b["rebate_bps"] % 501,
        promoter_share_bps=500 + b.get("promoter_share_bps", 0) % 4501),
    # Bounds never narrower than at deployment, so the batches above stay within them.
    "PUT /v1/rebate-bounds": lambda w, b: b.update(
        max_rebate_bps=3_000 + b["max_rebate_bps"] % 7_001,
        min_promoter_share_bps=b["min_promoter_share_bps"] % 501,
        max_promoter_share_bps=5_000 + b["max_promoter_share_bps"] % 5_001),
    "POST /v1/products/{product_id}/purchases": lambda w, b: b.update(
        quantity=1 + b.get("quantity", 0) % 3),
    "POST /v1/access-logs": _records,
    "PUT /v1/merchants/{merchant_id}/reporting-rules": lambda w, b: b.update(rules=[RULE]),
    "PUT /v1/merchants/{merchant_id}/webhook": lambda w, b: b.update(
        url="http://127.0.0.1:9/reports"),
    "PUT /v1/merchants/{merchant_id}/marketing-info": _window,
}


@pytest.fixture(scope="module")
def world(platform: Platform, session: requests.Session) -> World:
    def post(path: str, body: dict[str, Any], key: str = ADMIN) -> dict[str, Any]:
        made = session.post(f"{platform.url}{path}", json=body, timeout=60,
                            headers={"authorization": f"Bearer {key}"})
        assert made.status_code == 201, made.text
        return made.json()  # type: ignore[no-any-return]

    merchant = post("/v1/merchants", {"name": "Stateful Shop"})
    terminal = post("/v1/terminals", {"name": "Stateful Till"}, merchant["api_key"])
    consumer, other = (post("/v1/consumers", {"name": n}) for n in ("Ann", "Bob"))
    for who in (merchant, consumer, other):
        post("/v1/credits", {"to": who["id"], "amount": 10**24})
    capped = session.put(f"{platform.url}/v1/merchants/{merchant['id']}/incentive-cap",
                         json={"cap": 10**24}, timeout=60,
                         headers={"authorization": f"Bearer {merchant['api_key']}"})
    assert capped.status_code == 200, capped.text
    # The stateless phase may have left any bounds on rebate terms: the deployment's again.
    bounds = session.put(f"{platform.url}/v1/rebate-bounds", timeout=60, json={
        "max_rebate_bps": 3_000, "min_promoter_share_bps": 500, "max_promoter_share_bps": 5_000},
        headers={"authorization": f"Bearer {ADMIN}"})
    assert bounds.status_code == 200, bounds.text
    number = session.get(f"{platform.url}/v1/merchants/{merchant['id']}/reporting-rules",
                         timeout=60).json()["merchant_number"]
    return World(merchant, terminal, consumer, other, number,
                 keys={merchant["id"]: merchant["api_key"]})


@dataclass
class Tally:
    """What the stateful run did: calls per operation and status class, and failures."""

    scenarios: int = 0
    restarts: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    linked: Counter[str] = field(default_factory=Counter)  # calls made from a link, by status
    failures: dict[str, str] = field(default_factory=dict)  # one per operation and check

    def summary(self) -> str:
        ok = sorted(label for label, n in self.calls.items() if label.endswith(" 2xx") and n)
        return (f"{self.scenarios} scenarios ({self.restarts} restarts), "
                f"{sum(self.calls.values())} calls, {sum(self.linked.values())} from links "
                f"({dict(self.linked)}); operations answering 2xx: {len(ok)}")


def _workflow(platform: Platform, world: World, tags: tuple[str, ...], tally: Tally,
              http: requests.Session) -> type[Any]:
    """The state machine over the operations tagged `tags` (all: none given), calling each
    as its role, with realistic values where chance will not find them."""
    # Only the published links (inferred ones would blur what the document promises), and
    # valid data only: invalid data is the stateless tests' part, and would end a chain.
    config = SchemathesisConfig.from_dict({"phases": {"stateful": {
        "inference": {"algorithms": []}, "generation": {"mode": "positive"}}}})
    schema = schemathesis.openapi.from_url(f"{platform.url}/openapi.json", config=config
                                           ).exclude(path_regex=r"/(live|stream)$")
    if tags:
        schema = schema.include(tag=list(tags))
    machine = schema.as_state_machine()

    class Workflow(machine):  # type: ignore[misc,valid-type]
        def step(self, input: Any) -> Any:  # noqa: A002 - schemathesis' name
            output = super().step(input)
            status = f"{output.response.status_code // 100}xx"
            tally.calls[f"{input.case.operation.label} {status}"] += 1
            if input.transition is not None:
                tally.linked[status] += 1
            return output

        def teardown(self) -> None:
            tally.scenarios += 1
            super().teardown()

        def before_call(self, case: schemathesis.Case) -> None:
            mode = case.meta.generation.mode if case.meta else None
            dress = DRESS.get(case.operation.label)
            if dress and mode is GenerationMode.POSITIVE and isinstance(case.body, dict):
                dress(world, case.body)
            headers = CaseInsensitiveDict(case.headers or {})
            headers["authorization"] = f"Bearer {world.key(case)}"
            if "Idempotency-Key" in headers:  # a client makes one per request
                headers["Idempotency-Key"] = uuid.uuid4().hex
            case.headers = headers

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": platform.url, "session": http, "timeout": 60}

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            super().after_call(response, case)
            world.learn(case, response)

        def validate_response(self, response: Any, case: schemathesis.Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs,
                                       recorder=self.recorder)
            except (FailureGroup, AssertionError) as exc:  # report them all at the end
                key = f"{case.operation.label}: {type(exc).__name__}"
                tally.failures.setdefault(key, f"{exc}"[:800] + "\n" + case.as_curl_command())

    # A client never invents an id: an operation a link leads to starts no scenario, it is
    # reached through links only (the stateless tests call it with made-up ids).
    targets = {link.target for links in LINKS.values() for link in links}
    invented = {normalize_name(f"RANDOM -> {label}") for label in targets}
    for rule in machine.root_rules & invented:
        setattr(Workflow, rule, None)
    Workflow.root_rules = machine.root_rules - invented
    Workflow._root_labels = machine._root_labels - targets  # type: ignore[attr-defined]
    return Workflow


@pytest.mark.parametrize("run", list(RUNS))
def test_linked_call_sequences_get_no_server_error_or_break_the_schema(
        platform: Platform, world: World, run: str) -> None:
    """The stateful phase: scenarios of calls chained by the document's OpenAPI links."""
    tags, scenarios, steps = RUNS[run]
    tally = Tally()
    with requests.Session() as http:
        workflow = _workflow(platform, world, tags, tally, http)
        assert workflow.bundles and workflow.root_rules, "links lead from operations here"
        for suite in range(SUITES):
            if tally.scenarios >= scenarios:
                break
            workflow.rule_order_seed = suite  # each run opens with other operations
            try:
                seed(suite)(workflow).run(settings=settings(
                    max_examples=scenarios - tally.scenarios, stateful_step_count=steps,
                    deadline=None, database=None, suppress_health_check=list(HealthCheck),
                    phases=[Phase.generate]))
            except Flaky:
                tally.restarts += 1
    print(f"\nstateful {run}: {len(workflow.bundles)} linked operations; {tally.summary()}")  # noqa: T201
    assert not tally.failures, "\n\n".join(f"{k}\n{v}" for k, v in tally.failures.items())
    assert tally.linked["2xx"] > 0, tally.summary()


def test_the_document_links_operations_as_a_client_chains_them(platform: Platform) -> None:
    document = requests.get(f"{platform.url}/openapi.json", timeout=60).json()
    published = [link for ops in document["paths"].values() for op in ops.values()
                 for answer in op["responses"].values() for link in answer.get("links", {})]
    assert len(published) == sum(len(v) for v in LINKS.values()) > 100


def test_the_platform_log_has_no_unhandled_error(platform: Platform) -> None:
    log = Path(platform.log.name).read_text(errors="replace")
    assert "unhandled error" not in log, log[-4000:]
