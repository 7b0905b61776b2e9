"""Overdue reports on the real node: a scheduler that skips a period is caught.

The periods a rule owes are the contract's (`period_due`, `period_published`);
`GET /v1/merchants/{id}/reports/overdue` lists them from the indexer's
projection, and every answer here is checked against the contract's views.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from couponchain.chain.gateway import Call
from couponchain.errors import ContractRevert
from couponchain.runtime import Runtime
from couponchain.store.models import MarketingRuleState
from tests.api_auth import auth
from tests.integration.conftest import make_settings
from tests.integration.marketing_world import HOUR, ingest_logs, marketing_world, record, set_rules


@pytest.fixture
async def runtime(tmp_path: Path, database_url: str, node_url: str) -> AsyncIterator[Runtime]:
    # The scheduler is off: the test runs its rounds itself, at chosen times.
    settings = make_settings(tmp_path, database_url, node_url).model_copy(
        update={"report_interval": 0.0})
    rt = Runtime(settings)
    await rt.start()
    yield rt
    await rt.stop()


async def _chain_view(runtime: Runtime, address: str, rule_id: int, at: int,
                      periods: range) -> tuple[int, list[bool]]:
    """The contract's own answer: the latest due period and which were published."""
    due = await runtime.view("marketing", "period_due", rule_id, at)
    published = [await runtime.view("marketing", "period_published", rule_id, n)
                 for n in periods]
    return int(due), [bool(p) for p in published]


async def test_a_period_the_scheduler_skips_is_overdue_from_chain_state(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await marketing_world(client)
    now = int(time.time())
    start = (now // HOUR - 3) * HOUR  # three hourly periods have closed, the fourth is open
    await set_rules(client, w, [
        {"indicators": ["page_views"],
         "condition": {"type": "periodic", "every_minutes": 60, "starts_at": start}},
        {"indicators": ["unique_visitors"], "condition": {
            "type": "threshold", "indicator": "page_views", "op": ">=", "value": 1,
            "window_minutes": 60}}])
    batch = await ingest_logs(client, w.till, [record(w.number, f"10.9.0.{i}", start + 60 * i)
                                               for i in range(5)])
    address = w.shop["address"]
    rule_id = int(await runtime.view("marketing", "rule_id_of", address, 1, 0))
    assert rule_id >= 1
    path = f"/v1/merchants/{w.shop['id']}/reports/overdue"
    anyone = httpx.AsyncClient(transport=client._transport, base_url="http://test")
    async with anyone:  # public: no key
        before = await anyone.get(path)
    assert before.status_code == 200, before.text
    body = before.json()
    assert body["overdue_count"] == 3
    assert [(p["rule_id"], p["period"]) for p in body["periods"]] == [
        (rule_id, 1), (rule_id, 2), (rule_id, 3)]
    first = body["periods"][0]
    assert first["period_start"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    assert [r["rule_id"] for r in body["rules"]] == [rule_id]  # the threshold rule owes none

    # The scheduler reports period 1, then cheats: it marks period 2 as done
    # without publishing it, and goes on with period 3.
    # Period 1, and the threshold rule (five views in its hour), which names
    # the anchor it read as the contract keys it: (submitter, batch id).
    made = await runtime.marketing.tick(start + HOUR + 5)
    assert len(made) == 2
    async with runtime.db.transaction() as s:
        await s.execute(update(MarketingRuleState).where(
            MarketingRuleState.merchant == address).values(last_period=2))
    at = start + 3 * HOUR + 5
    made = await runtime.marketing.tick(at)
    assert len(made) == 1
    inbox = (await client.get(f"/v1/merchants/{w.shop['id']}/reports",
                              headers=auth(w.shop))).json()["reports"]
    assert sorted((r["rule_id"], r["period"] or 0, r["status"]) for r in inbox) == [
        (rule_id, 1, "published"), (rule_id, 3, "published"), (rule_id + 1, 0, "published")]
    (threshold,) = [r for r in inbox if r["trigger"] == "threshold"]
    assert threshold["sources"] == [[w.till["address"], batch["batch_id"]]]

    after = (await client.get(path, params={"at": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))})).json()
    assert after["overdue_count"] == 1
    assert [(p["rule_id"], p["period"]) for p in after["periods"]] == [(rule_id, 2)]
    assert after["rules"][0] | {"start": None} == {
        "rule_id": rule_id, "rules_version": 1, "rule_index": 0, "start": None,
        "every_seconds": HOUR, "superseded_at": None, "due": 3, "published": 2, "overdue": 1}
    # The same answer from the contract alone.
    assert await _chain_view(runtime, address, rule_id, at, range(1, 4)) == (
        3, [True, False, True])

    # The platform cannot publish a period early, twice, or under another merchant's rule.
    signer = await runtime.participants.signer(runtime.platform.caller.id)

    async def publish(merchant: str, period: int, report_hash: bytes) -> None:
        item = (merchant, rule_id, period, report_hash, start + (period - 1) * HOUR,
                start + period * HOUR, 1, [])
        await runtime.gateway.submit(signer, Call("marketing", "publish_reports", item=(item,),
                                                  kind="publish report"))

    for merchant, period, error in (
            (address, 5, "marketing: period not closed"),
            (address, 1, "marketing: period already published"),
            (w.other["address"], 2, "marketing: rule of another merchant")):
        with pytest.raises(ContractRevert) as refused:
            await publish(merchant, period, bytes([0x60 + period]) * 32)
        assert refused.value.reason == error

    # New rules stop the old version's periods from falling due; its debt stays.
    await set_rules(client, w, [{"indicators": ["page_views"], "condition": {
        "type": "periodic", "every_minutes": 60}}])
    later = (await client.get(path)).json()
    assert [(p["rule_id"], p["period"]) for p in later["periods"]] == [(rule_id, 2)]
    assert later["rules"][0]["superseded_at"] is not None
    assert later["rules"][1]["due"] == 0  # version 2 starts at the next hour


async def test_overdue_of_an_unknown_merchant_is_404(client: httpx.AsyncClient) -> None:
    got = await client.get("/v1/merchants/nobody/reports/overdue")
    assert got.status_code == 404 and got.json()["field"] == "id"
    w = await marketing_world(client)
    empty = (await client.get(f"/v1/merchants/{w.shop['id']}/reports/overdue")).json()
    assert empty["overdue_count"] == 0 and empty["periods"] == [] and empty["rules"] == []
