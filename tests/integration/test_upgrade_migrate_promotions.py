"""`couponchain migrate` carries promotions and marketing over (issue 23): a
deployment with a promotion round (allocated, granted, a coupon passed on twice
and written off, others active) and marketing rules (two versions, a periodic
rule superseded), an anchored access-log batch and marketing info, whose
contracts changed, is deployed anew; the new contracts read it all from the old
ones, the chain views and the API answer as before, and the ledger goes on.

No incentive is charged here (a rate of 0): token balances are carried by the
token's own carry-over, which this test leaves out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from couponchain.api.app import create_app
from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.answers import ADMIN
from tests.integration.conftest import make_settings
from tests.integration.upgrade_world import answered, chain_view, edit_source, sources  # noqa: F401

SHARES = {"platform": 1_000, "issuer": 2_000, "redeemer": 2_000, "holder": 3_000,
          "earlier": 2_000}
HOUR = 3600


async def _populate(client: httpx.AsyncClient) -> dict[str, Any]:
    shop = answered(await client.post("/v1/merchants", json={"name": "Tea House"}, headers=ADMIN))
    till = answered(await client.post("/v1/terminals", json={"name": "Till"}, headers=auth(shop)))
    ann, bob, cy = [answered(await client.post("/v1/consumers", json={"name": n},
                                               headers=auth(shop)))
                    for n in ("Ann", "Bob", "Cy")]
    opened = answered(await client.post("/v1/promotion-rounds", headers=ADMIN, json={
        "evaluation": {"turnover": [{"merchant": shop["id"], "amount": 1_000_000}],
                       "consumers": 3},
        "formula": {"base_per_merchant": 10, "turnover_per_coupon": 100_000,
                    "per_consumer": 2, "max_total": 1_000},
        "incentive_bps": 0, "shares": SHARES, "rollback_window_seconds": HOUR,
        "consent_lifetime_seconds": 120}))
    round_id = opened["id"]
    answered(await client.post(f"/v1/promotion-rounds/{round_id}/allocations", headers=ADMIN,
                               json={"allocations": [{"merchant": shop["id"], "count": 6}]}))
    granted = answered(await client.post("/v1/promotion-grants", headers=auth(shop), json={
        "round_id": round_id, "grants": [{"consumer": ann["id"], "count": 2},
                                         {"consumer": bob["id"], "count": 1}]}))
    coupons = granted["coupon_ids"]
    for sender, receiver in ((ann, bob), (bob, cy)):
        answered(await client.post(f"/v1/promotion-coupons/{coupons[0]}/transfer",
                                   json={"to": receiver["id"]}, headers=auth(sender)))
    code = answered(await client.post(f"/v1/promotion-coupons/{coupons[0]}/consent", json={
        "merchant": "any", "max_order_amount": 10**9}, headers=auth(cy)))["code"]
    answered(await client.post("/v1/write-offs", headers=auth(till) | {"idempotency-key": "o-1"},
                               json={"code": code, "order_amount": 50_000}))

    rules_path = f"/v1/merchants/{shop['id']}/reporting-rules"
    periodic = {"indicators": ["page_views"], "condition": {"type": "periodic", "every_hours": 1}}
    threshold = {"indicators": ["unique_visitors"], "condition": {
        "type": "threshold", "indicator": "unique_visitors", "op": ">=", "value": 3,
        "window_minutes": 60}}
    for rules in ([periodic], [threshold, periodic]):
        answered(await client.put(rules_path, json={"rules": rules}, headers=auth(shop)))
    number = answered(await client.get(rules_path))["merchant_number"]
    now = int(time.time())
    batch = answered(await client.post("/v1/access-logs", headers=auth(till), json={"records": [
        {"ip": f"10.0.0.{i}", "account": "", "time": now - 600 + i, "merchant": number,
         "method": "app", "operation": "view"} for i in range(5)]}))
    answered(await client.put(f"/v1/merchants/{shop['id']}/marketing-info", headers=auth(shop),
                              json={"headline": "Spring tea week", "description": "Two for one",
                                    "discount": {"type": "percent", "value": 20,
                                                 "min_order_amount": 500},
                                    "target_segment": "new app visitors",
                                    "valid_from": "2026-01-01T00:00:00Z",
                                    "valid_until": "2099-01-01T00:00:00Z"}))
    return {"shop": shop, "till": till, "ann": ann, "bob": bob, "cy": cy, "round": round_id,
            "coupons": coupons, "batch": batch, "rules_path": rules_path}


async def _chain(runtime: Runtime, addresses: dict[str, str], w: dict[str, Any]) -> list[str]:
    """Every view of the state carried over, as the chain answers it."""
    p, m = addresses["promotions"], addresses["marketing"]
    shop, till = w["shop"]["address"], w["till"]["address"]
    views = [(p, "round_count"), (p, "next_coupon_id"), (p, "rounds", w["round"]),
             (p, "allowance", w["round"], shop)]
    views += [(p, f, c) for c in [*w["coupons"], w["coupons"][-1] + 1]
              for f in ("coupon", "earlier_holders", "holder_of")]
    views += [(m, "anchor_count"), (m, "anchor", till, w["batch"]["batch_id"]),
              (m, "reporting_rules", shop), (m, "rules_hash_at", shop, 1),
              (m, "rules_hash_at", shop, 2), (m, "rule_count"), (m, "marketing_info", shop),
              (m, "info_hash_at", shop, 1), (m, "report_count")]
    views += [(m, f, r) for r in (1, 2, 3) for f in ("rule", "rule_indicators_hash")]
    views += [(m, "rule_id_of", shop, v, i) for v, i in ((1, 0), (2, 0), (2, 1))]
    views += [(m, "period_due", 1, int(time.time()) + 4 * HOUR)]
    return [await chain_view(runtime, a, f, *args,
                             contract="promotions" if a == p else "marketing")
            for a, f, *args in views]


async def _api(client: httpx.AsyncClient, w: dict[str, Any]) -> list[Any]:
    shop = w["shop"]
    coupons = [answered(await client.get(f"/v1/promotion-coupons/{c}")) for c in w["coupons"]]
    rules = answered(await client.get(w["rules_path"]))
    info = answered(await client.get(f"/v1/merchants/{shop['id']}/marketing-info"))
    proof = answered(await client.get(f"/v1/access-logs/{w['batch']['batch_id']}/proof/2",
                                      headers=auth(w["till"])))
    return [coupons, rules, info, proof]


async def test_migrate_carries_promotions_and_marketing_over(
    sources: Path, tmp_path: Path, database_url: str, node_url: str  # noqa: F811
) -> None:
    # The report scheduler is off: no report lands between the two snapshots.
    settings = make_settings(tmp_path, database_url, node_url).model_copy(
        update={"report_interval": 0.0})
    runtime = Runtime(settings)
    await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(
                app=create_app(runtime, manage_runtime=False)), base_url="http://test") as client:
            w = await _populate(client)
            api_before = await _api(client, w)
        old = dict(runtime.addresses)
        chain_before = await _chain(runtime, old, w)
    finally:
        await runtime.stop()

    edit_source(sources / "editions.vy", '"editions: empty batch"', '"editions: no coupons"')
    runtime = Runtime(settings)
    runtime.migrate_contracts = True
    await runtime.start()
    try:
        new = dict(runtime.addresses)
        assert new["promotions"] != old["promotions"] and new["marketing"] != old["marketing"]
        assert await _chain(runtime, new, w) == chain_before, "every record carried over"
        path = await runtime.view("promotions", "earlier_holders", w["coupons"][0])
        assert [a.lower() for a in path] == [w["ann"]["address"].lower(),
                                             w["bob"]["address"].lower()]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(
                app=create_app(runtime, manage_runtime=False)), base_url="http://test") as client:
            assert await _api(client, w) == api_before
            shop, till, ann = w["shop"], w["till"], w["ann"]
            # A carried active coupon is written off on the new contract,
            code = answered(await client.post(f"/v1/promotion-coupons/{w['coupons'][1]}/consent",
                                              json={"merchant": "any", "max_order_amount": 10**9},
                                              headers=auth(ann)))["code"]
            answered(await client.post("/v1/write-offs", headers=auth(till) | {
                "idempotency-key": "o-2"}, json={"code": code, "order_amount": 20_000}))
            # the merchant grants what its allowance left, after the last granted id,
            more = answered(await client.post("/v1/promotion-grants", headers=auth(shop), json={
                "round_id": w["round"], "grants": [{"consumer": ann["id"], "count": 3}]}))
            assert more["coupon_ids"] == [w["coupons"][-1] + k for k in (1, 2, 3)]
            # and rules and info go on from the carried versions.
            again = answered(await client.put(w["rules_path"], headers=auth(shop), json={
                "rules": [{"indicators": ["page_views"],
                           "condition": {"type": "periodic", "every_hours": 2}}]}))
            assert again["version"] == 3
        assert (await runtime.view("promotions", "coupon", w["coupons"][1]))[1] == 2
    finally:
        await runtime.stop()
