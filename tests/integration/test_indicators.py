"""Merchant-defined indicators end to end on the real node (SQLite and PostgreSQL):
define, preview, commit with the rules on chain, report, reproduce; the
ledger counts checked against the chain's own logs."""

from __future__ import annotations

import json
import time

import httpx
from eth_utils import keccak

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.editions_world import sell_and_redeem
from tests.integration.marketing_world import (
    ingest_logs,
    marketing_world,
    record,
    runtime,  # noqa: F401 - the fixture
)

REDEEMED = "0x" + keccak(text="CouponRedeemed(uint256,uint256,address,address)").hex()
APP_RATE = 'count(redemptions where method="app", window=1h) / count(views, window=1h)'


async def _redeemed_on_chain(rt: Runtime, owners: set[str]) -> int:
    """CouponRedeemed logs of the editions contract whose owner is one of `owners`:
    counted from the node's logs, not from the indexer's read models."""
    logs = await rt.rpc.call("eth_getLogs", {"address": rt.addresses["editions"],
                                             "fromBlock": "0x0", "toBlock": "latest",
                                             "topics": [REDEEMED]})
    return sum(1 for entry in logs if "0x" + entry["topics"][3][-40:] in owners)


async def test_a_merchant_indicator_is_committed_on_chain_and_reported_from_ledger_events(
        client: httpx.AsyncClient, runtime: Runtime) -> None:  # noqa: F811 - the scheduler-off fixture
    w = await marketing_world(client)
    shop = w.shop["id"]
    ann = await sell_and_redeem(client, w.shop, w.till, "TEA")
    bob = await sell_and_redeem(client, w.shop, w.till, "CAKE")
    other_till = (await client.post("/v1/terminals", json={"name": "Other till"},
                                    headers=auth(w.other))).json()
    await sell_and_redeem(client, w.other, other_till, "NOODLE")  # another merchant's
    now = int(time.time())
    # Ann browsed in the app (logged in, her address upper-cased by the till); the
    # till also logged redeem verbs the chain never saw.
    await ingest_logs(client, w.till, [
        record(w.number, "10.9.0.1", now - 30, "view", "app", account=ann.upper()),
        record(w.number, "10.9.0.2", now - 20, "view", "browser"),
        record(w.number, "10.9.0.3", now - 10, "view", "browser", account=bob),
        *[record(w.number, f"10.9.1.{i}", now - 5, "redeem") for i in range(4)]])

    # Refused with the field and the rule, never stored.
    bad = await client.put(f"/v1/merchants/{shop}/indicators/weekly",
                           json={"expression": "count(redemptions, window=2y)"},
                           headers=auth(w.shop))
    assert bad.status_code == 422 and bad.json()["field"] == "expression", bad.text
    assert "bad window '2y'" in bad.json()["detail"]
    stolen = await client.put(f"/v1/merchants/{shop}/indicators/x",
                              json={"expression": "count(views)"}, headers=auth(w.other))
    assert stolen.status_code == 403
    for name, text in (("app_redemption_rate", APP_RATE),
                       ("ledger_redemptions", "count(redemptions)")):
        put = await client.put(f"/v1/merchants/{shop}/indicators/{name}",
                               json={"expression": text}, headers=auth(w.shop))
        assert put.status_code == 200, put.text
    checked = await client.post(f"/v1/merchants/{shop}/indicators:validate",
                                json={"expression": APP_RATE}, headers=auth(w.shop))
    assert checked.json()["counts"][0]["table"] == "ledger"

    on_chain = await _redeemed_on_chain(runtime, {ann.lower(), bob.lower()})
    assert on_chain == 2
    preview = await client.post(f"/v1/merchants/{shop}/indicators:preview", headers=auth(w.shop),
                                json={"expression": "count(redemptions)", "start": now - 3600,
                                      "end": now + 60})
    assert preview.status_code == 200, preview.text
    assert preview.json()["value"] == on_chain  # not the 4 logged redeem verbs

    undefined = await client.put(f"/v1/merchants/{shop}/reporting-rules", headers=auth(w.shop),
                                 json={"rules": [{"indicators": ["page_views"],
                                                  "custom": ["nowhere"],
                                                  "condition": {"type": "periodic",
                                                                "every_hours": 1}}]})
    assert undefined.status_code == 422 and undefined.json()["field"] == "rules.0.custom.0"
    put = await client.put(f"/v1/merchants/{shop}/reporting-rules", headers=auth(w.shop), json={
        "rules": [{"indicators": ["page_views"],
                   "custom": ["ledger_redemptions", "app_redemption_rate"],
                   "condition": {"type": "threshold", "indicator": "page_views", "op": ">=",
                                 "value": 1, "window_minutes": 60}}]})
    assert put.status_code == 200, put.text
    version = put.json()["version"]
    # The definitions are off chain; the rule committed to their hash.
    shown = (await client.get(f"/v1/merchants/{shop}/reporting-rules/{version}/indicators")
             ).json()["rules"][0]
    assert [d["name"] for d in shown["definitions"]] == ["app_redemption_rate",
                                                         "ledger_redemptions"]
    rule_id = await runtime.view("marketing", "rule_id_of", w.shop["address"], version, 0)
    committed = await runtime.view("marketing", "rule_indicators_hash", rule_id)
    assert "0x" + bytes(committed).hex() == "0x" + keccak(
        shown["definitions_json"].encode()).hex() == shown["indicators_hash"]

    fired = await runtime.marketing.tick(int(time.time()) + 2)
    assert len(fired) == 1
    report = (await client.get(f"/v1/reports/{fired[0]}", headers=auth(w.shop))).json()
    values = json.loads(report["json"])["indicators"]
    assert values["ledger_redemptions"] == on_chain
    # Ann's redemption joins her app view by account; Bob's view was in the browser.
    assert values["app_redemption_rate"]["numerator"] == 1
    assert values["app_redemption_rate"]["denominator"] == 3
    assert values["page_views"] == 3
    assert report["status"] == "published" and report["reproduced"], report
