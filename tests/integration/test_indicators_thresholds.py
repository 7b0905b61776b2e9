"""A threshold on one of the merchant's own indicators (real node, SQLite and
PostgreSQL): validated with the field named, on chain with the rules (the
condition in the rules' bytes, the definition under the rule's hash), fired
once when crossed, and reproducible."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from eth_utils import keccak

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.marketing_world import (
    ingest_logs,
    marketing_world,
    record,
    runtime,  # noqa: F401 - the fixture
)


def _rule(condition: dict[str, Any], custom: list[str]) -> dict[str, Any]:
    return {"rules": [{"indicators": ["page_views"], "custom": custom,
                       "condition": {"type": "threshold", "op": ">=", "window_minutes": 60,
                                     **condition}}]}


async def test_a_threshold_on_a_merchant_indicator_fires_once_when_crossed(
        client: httpx.AsyncClient, runtime: Runtime) -> None:  # noqa: F811 - scheduler off
    w = await marketing_world(client)
    shop = w.shop["id"]
    for name, text in (("app_views", 'count(views where method="app")'),
                       ("by_method", "count(records, by=method)")):
        put = await client.put(f"/v1/merchants/{shop}/indicators/{name}",
                               json={"expression": text}, headers=auth(w.shop))
        assert put.status_code == 200, put.text
    rules_url = f"/v1/merchants/{shop}/reporting-rules"
    for body, field in (
            (_rule({"custom": "app_views", "value": 2}, []), "rules.0.condition.custom"),
            (_rule({"custom": "by_method", "value": 2}, ["by_method"]),
             "rules.0.condition.custom"),
            (_rule({"custom": "app_views", "indicator": "page_views", "value": 2},
                   ["app_views"]), "rules.0.condition.custom"),
            (_rule({"value": 2}, ["app_views"]), "rules.0.condition.indicator")):
        refused = await client.put(rules_url, json=body, headers=auth(w.shop))
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text

    put = await client.put(rules_url, json=_rule({"custom": "app_views", "value": 2},
                                                 ["app_views"]), headers=auth(w.shop))
    assert put.status_code == 200, put.text
    version = put.json()["version"]
    assert put.json()["rules"]["rules"][0]["condition"]["custom"] == "app_views"
    # On chain: the condition in the rules' hash, the definition in the rule's.
    rules_json = json.dumps(put.json()["rules"], separators=(",", ":"), sort_keys=True)
    assert "0x" + bytes(await runtime.view("marketing", "rules_hash_at", w.shop["address"],
                                           version)).hex() == "0x" + keccak(
        text=rules_json).hex()
    rule_id = await runtime.view("marketing", "rule_id_of", w.shop["address"], version, 0)
    shown = (await client.get(f"{rules_url}/{version}/indicators")).json()["rules"][0]
    assert shown["definitions"] == [{"expression": 'count(views where method="app")',
                                     "name": "app_views"}]
    assert "0x" + bytes(await runtime.view("marketing", "rule_indicators_hash", rule_id)
                        ).hex() == shown["indicators_hash"]

    now = int(time.time())
    await ingest_logs(client, w.till, [record(w.number, "10.8.0.1", now - 50, "view", "app"),
                                       record(w.number, "10.8.0.2", now - 40, "view", "browser"),
                                       record(w.number, "10.8.0.3", now - 30, "view", "browser")])
    assert await runtime.marketing.tick(now + 2) == []  # 1 app view: below 2
    await ingest_logs(client, w.till, [record(w.number, "10.8.0.4", now - 20, "view", "app")])
    fired = await runtime.marketing.tick(now + 3)
    assert len(fired) == 1
    assert await runtime.marketing.tick(now + 4) == []  # still above: fires once
    report = (await client.get(f"/v1/reports/{fired[0]}", headers=auth(w.shop))).json()
    assert report["trigger"] == "threshold" and report["status"] == "published", report
    assert json.loads(report["json"])["indicators"] == {"app_views": 2, "page_views": 4}
    assert report["reproduced"], report
