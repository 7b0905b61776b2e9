"""Marketing end to end: access logs and proofs, rules, scheduled reports, webhooks, info."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from couponchain.api.app import create_app
from couponchain.chain.gateway import Call
from couponchain.domain import access_logs as logs
from couponchain.domain import indicators as ind
from couponchain.domain.access_log_columns import RecordColumns
from couponchain.runtime import Runtime
from couponchain.services import marketing_views as views
from couponchain.services.marketing import MarketingService
from couponchain.store.models import AccessLogBatch, MarketingAnchor, MarketingDelivery
from tests.api_auth import auth
from tests.integration.conftest import make_settings
from tests.integration.marketing_world import (
    HOUR,
    LOCAL_RECEIVERS,
    T,
    ingest_logs,
    marketing_world,
    mixed_records,
    record,
    set_rules,
    webhook_receiver,
)
from tests.integration.marketing_world import (
    runtime as runtime,  # the scheduler-off fixture
)
from tests.ports import free_port


async def _count(rt: Runtime, model: Any) -> int:
    async with rt.db.session() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


def _files(rt: Runtime) -> list[Path]:
    """Every file in the analytics store, temporary ones included."""
    directory = rt.marketing.store.directory
    return sorted(directory.iterdir()) if directory.exists() else []


async def test_a_batch_is_anchored_and_each_record_proves_its_inclusion(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await marketing_world(client)
    batch = await ingest_logs(client, w.till, mixed_records(w, 101, T))
    assert batch["record_count"] == 101 and batch["anchor_tx"] == batch["tx_hash"]
    till = w.till["address"]
    anchor = await runtime.view("marketing", "anchor", till, batch["batch_id"])
    assert "0x" + bytes(anchor[2]).hex() == batch["merkle_root"]

    for index in (0, 37, 100):
        p = (await client.get(f"/v1/access-logs/{batch['batch_id']}/proof/{index}")).json()
        leaf, path = bytes.fromhex(p["leaf"][2:]), [bytes.fromhex(h[2:]) for h in p["proof"]]
        root = bytes.fromhex(p["merkle_root"][2:])
        assert p["verified"] and logs.verify(leaf, path, root)
        assert p["merkle_root"] == batch["merkle_root"] and p["anchor_tx"] == batch["tx_hash"]
        assert p["submitter"] == till
        assert await runtime.view("marketing", "verify_inclusion", till, batch["batch_id"],
                                  leaf, path)
        # The record as served hashes to the leaf; changed in any field, it proves nothing.
        r = p["record"]
        served = logs.AccessRecord(bytes.fromhex(r["visitor"][2:]), r["account"], r["time"],
                                   r["merchant"], logs.AccessMethod[r["method"].upper()],
                                   logs.Operation[r["operation"].upper()])
        assert logs.leaf_hash(served) == leaf
        tampered = logs.leaf_hash(logs.AccessRecord(
            served.visitor, served.account, served.time + 1, served.merchant, served.method,
            served.operation))
        assert not logs.verify(tampered, path, root)
        assert not await runtime.view("marketing", "verify_inclusion", till, batch["batch_id"],
                                      tampered, path)
    missing = await client.get(f"/v1/access-logs/{batch['batch_id']}/proof/101")
    assert missing.status_code == 404
    # The raw IP is never stored, only its keyed hash.
    store = runtime.marketing.store
    visitors = store.read(batch["batch_id"]).visitor
    assert len(visitors) == 101 and all(len(v) == 32 for v in visitors)
    stored = store.path(batch["batch_id"]).read_bytes()
    assert not any(f"10.0.{i % 7}.{i % 5}".encode() in stored for i in range(101))


async def _proves_on_chain(runtime: Runtime, p: dict[str, Any]) -> bool:
    leaf, path = bytes.fromhex(p["leaf"][2:]), [bytes.fromhex(h[2:]) for h in p["proof"]]
    return bool(await runtime.view("marketing", "verify_inclusion", p["submitter"],
                                   p["batch_id"], leaf, path))


async def test_terminals_of_two_merchants_anchor_the_same_batch_id_and_both_prove(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    # Regression (issue 23): batch ids were global on chain, first come first
    # served, so another merchant's terminal that anchored the id the service
    # would use next blocked this terminal's anchoring (and its event would
    # have collided in the read model).
    w = await marketing_world(client)
    rogue = (await client.post("/v1/terminals", json={"name": "Rogue till"},
                               headers=auth(w.other))).json()
    first = await ingest_logs(client, w.till, mixed_records(w, 5, T))
    taken = first["batch_id"] + 1  # the service's next id
    rogue_records = [logs.AccessRecord(bytes([i]) * 32, "", T + i, w.other_number,
                                       logs.AccessMethod.APP, logs.Operation.VIEW)
                     for i in range(1, 4)]
    levels = logs.tree_levels([logs.leaf_hash(r) for r in rogue_records])
    call = Call("marketing", "anchor_logs_batch",
                item=((taken, w.other["address"], levels[-1][0], 3, T + 1, T + 3),),
                kind="anchor 3 access logs")
    op = await runtime.gateway.submit(await runtime.participants.signer(rogue["id"]), call,
                                      op_key=f"rogue-anchor:{taken}")
    await runtime.indexer.wait_for(op.block_number)

    mine = await ingest_logs(client, w.till, mixed_records(w, 9, T))
    assert mine["batch_id"] == taken
    p = (await client.get(f"/v1/access-logs/{taken}/proof/4")).json()
    assert p["verified"] and p["submitter"] == w.till["address"]
    assert p["merkle_root"] == mine["merkle_root"] and p["anchor_tx"] == mine["tx_hash"]
    assert await _proves_on_chain(runtime, p)
    for i, r in enumerate(rogue_records):
        leaf, path = logs.leaf_hash(r), logs.proof_from_levels(levels, i)
        assert await runtime.view("marketing", "verify_inclusion", rogue["address"], taken,
                                  leaf, path)
        assert not await runtime.view("marketing", "verify_inclusion", w.till["address"],
                                      taken, leaf, path)
    async with runtime.db.session() as s:
        rows = (await s.execute(select(MarketingAnchor.submitter, MarketingAnchor.merkle_root)
                                .where(MarketingAnchor.batch_id == taken))).all()
    assert sorted(rows) == sorted([(w.till["address"], mine["merkle_root"]),
                                   (rogue["address"], "0x" + levels[-1][0].hex())])


async def test_a_bad_record_rejects_the_whole_batch(client: httpx.AsyncClient,
                                                    runtime: Runtime) -> None:
    w = await marketing_world(client)
    records = mixed_records(w, 10, T)
    records[3]["method"] = "telegraph"
    bad = await client.post("/v1/access-logs", json={"records": records}, headers=auth(w.till))
    assert bad.status_code == 422 and bad.json()["field"] == "records.3.method", bad.text
    records[3]["method"] = "app"
    records[6]["ip"] = "999.1.1.1"
    bad = await client.post("/v1/access-logs", json={"records": records}, headers=auth(w.till))
    assert bad.json()["field"] == "records.6.ip"
    records[6]["ip"] = "::ffff:10.0.0.1"
    records[8]["merchant"] = w.other_number  # a terminal logs its own merchant only
    bad = await client.post("/v1/access-logs", json={"records": records}, headers=auth(w.till))
    assert bad.status_code == 422 and bad.json()["field"] == "records.8.merchant"
    assert await _count(runtime, AccessLogBatch) == 0 and _files(runtime) == []
    refused = await client.post("/v1/access-logs", json={"records": records[:2]},
                                headers=auth(w.shop))
    assert refused.status_code == 403
    # The platform may anchor a batch mixing merchants.
    mixed = await ingest_logs(client, {"api_key": "test-admin-key"}, records)
    assert mixed["merchant"] is None and len(runtime.marketing.store.read(mixed["batch_id"])) == 10
    assert _files(runtime) == [runtime.marketing.store.path(mixed["batch_id"])]


async def test_sql_indicators_equal_the_domain_reference(client: httpx.AsyncClient,
                                                         runtime: Runtime) -> None:
    w = await marketing_world(client)
    records = mixed_records(w, 300, T)
    records += [record(w.other_number, "10.9.9.9", T + 10, "purchase")]
    await ingest_logs(client, {"api_key": "test-admin-key"}, records[:150])
    await ingest_logs(client, {"api_key": "test-admin-key"}, records[150:])
    key = runtime.marketing.key
    parsed = logs.parse_batch(records, key)
    for start, end in ((T, T + HOUR), (T + 1800, T + 2 * HOUR), (T - HOUR, T),
                       (T + 5 * HOUR, T + 6 * HOUR), (0, T + 3 * HOUR), (T + 7, T + 7)):
        for number in (w.number, w.other_number):
            got = await views.indicators(runtime.db, runtime.marketing.store, number, start,
                                         end)
            assert got == ind.compute(parsed, start, end, merchant=number), (start, end)


async def test_sql_indicators_equal_the_reference_on_random_logs(runtime: Runtime) -> None:
    """Random logs around a day boundary, written straight into the analytics store (the chain
    plays no part in the arithmetic); every window, empty ones included."""
    rng = random.Random(20261122)
    day = (T // 86_400 + 1) * 86_400
    for case_number in range(25):
        merchant = 1_000 + case_number
        records = [logs.AccessRecord(
            visitor=hashlib.sha256(str(rng.randrange(12)).encode()).digest(),
            account=rng.choice(["", "", "ann", "bob"]), time=day + rng.randrange(-7200, 7200),
            merchant=rng.choice([merchant, merchant, merchant + 500]),
            method=rng.choice(list(logs.AccessMethod)),
            operation=rng.choice(list(logs.Operation))) for _ in range(rng.randrange(0, 60))]
        async with runtime.db.transaction() as s:
            batch = AccessLogBatch(submitter_id="test", merchant=None, merkle_root="0x00",
                                   record_count=len(records), first_time=0, last_time=0,
                                   status="anchored")
            s.add(batch)
            await s.flush()
            runtime.marketing.store.write(batch.id, RecordColumns.of(records))
        for start, end in ((day - 3600, day), (day, day + 3600), (day - 7200, day + 7200),
                           (day + 7200, day + 9000), (day, day),
                           ind.day_window(day, tz_offset_minutes=-60)):
            got = await views.indicators(runtime.db, runtime.marketing.store, merchant, start,
                                         end)
            assert got == ind.compute(records, start, end, merchant=merchant), (case_number,
                                                                                start, end)


async def test_the_dashboard_activity_counts_the_anchored_logs(client: httpx.AsyncClient,
                                                               runtime: Runtime) -> None:
    w = await marketing_world(client)
    records = mixed_records(w, 300, T)
    await ingest_logs(client, w.till, records)
    parsed = logs.parse_batch(records, runtime.marketing.key)
    url = f"/v1/merchants/{w.shop['id']}/activity"
    got = (await client.get(url, headers=auth(w.shop))).json()
    assert got["records"] == 300 and got["bucket"] == "hour", got
    assert got["start"] == views.iso(T) and got["end"] == views.iso(max(r.time for r in parsed) + 1)
    assert got["by_method"] == ind.compute(parsed, T, T + 2 * HOUR)[ind.Indicator.VISITS_BY_METHOD]
    per_hour = [sum(1 for r in parsed if T + h * HOUR <= r.time < T + (h + 1) * HOUR)
                for h in range(2)]
    assert [sum(v[m] for m in ("browser", "desktop", "app")) for v in got["visits"]] == per_hour

    def visitors(op: logs.Operation | None) -> int:
        return len({r.visitor_key for r in parsed if op is None or r.operation == op})

    assert got["funnel"] == [
        {"step": "visit", "visitors": visitors(None)},
        {"step": "claim", "visitors": visitors(logs.Operation.CLAIM)},
        {"step": "redeem", "visitors": visitors(logs.Operation.REDEEM)},
        {"step": "purchase", "visitors": visitors(logs.Operation.PURCHASE)}]
    # A window of its own, in daily buckets aligned to local midnight (UTC+2).
    day = (T // 86_400) * 86_400
    daily = (await client.get(url, headers=auth(w.shop), params={
        "start": views.iso(day - 5 * 86_400), "end": views.iso(day + 86_400),
        "tz_offset_minutes": 120})).json()
    assert daily["bucket"] == "day" and daily["records"] == 300
    assert [v["at"] for v in daily["visits"]][-1] == views.iso(day + 86_400 - 7_200)
    empty = (await client.get(url, headers=auth(w.shop), params={
        "start": views.iso(T - HOUR), "end": views.iso(T)})).json()
    assert empty["records"] == 0 and empty["funnel"][0]["visitors"] == 0
    naive = await client.get(url, headers=auth(w.shop), params={"start": "2023-01-01T00:00:00"})
    assert naive.status_code == 422 and naive.json()["field"] == "start"
    other = await client.get(url, headers=auth(w.other))
    assert other.status_code == 403


async def test_rules_are_validated_naming_the_field_and_versioned(
        client: httpx.AsyncClient) -> None:
    w = await marketing_world(client)
    bad = await client.put(f"/v1/merchants/{w.shop['id']}/reporting-rules", headers=auth(w.shop),
                           json={"rules": [{"indicators": ["page_views"],
                                            "condition": {"type": "periodic",
                                                          "every_minutes": 0}}]})
    assert bad.status_code == 422 and bad.json()["field"] == "rules.0.condition.every_minutes"
    bad = await client.put(f"/v1/merchants/{w.shop['id']}/reporting-rules", headers=auth(w.shop),
                           json={"rules": [{"indicators": ["likes"], "condition": {
                               "type": "periodic", "every_hours": 1}}]})
    assert bad.json()["field"] == "rules.0.indicators.0"
    other = await client.put(f"/v1/merchants/{w.shop['id']}/reporting-rules",
                             headers=auth(w.other), json={"rules": []})
    assert other.status_code == 403
    rule = {"indicators": ["unique_visitors", "page_views"],
            "condition": {"type": "periodic", "every_hours": 1}}
    assert await set_rules(client, w, [rule]) == 1
    assert await set_rules(client, w, [rule, rule]) == 2
    got = (await client.get(f"/v1/merchants/{w.shop['id']}/reporting-rules")).json()
    assert got["version"] == 2 and len(got["rules"]["rules"]) == 2
    assert got["rules"]["rules"][0]["indicators"] == ["page_views", "unique_visitors"]
    assert [v["version"] for v in got["history"]] == [2, 1]


async def test_a_threshold_rule_fires_once_when_crossed_until_rearmed(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await marketing_world(client)
    await set_rules(client, w, [{"indicators": ["unique_visitors", "redemption_rate"],
                                 "condition": {"type": "threshold",
                                               "indicator": "unique_visitors", "op": ">=",
                                               "value": 3, "window_minutes": 60}}])
    now = T + HOUR
    await ingest_logs(client, w.till, [record(w.number, f"10.1.0.{i}", now - 100 + i)
                                       for i in range(2)])
    assert await runtime.marketing.tick(now) == []
    await ingest_logs(client, w.till, [record(w.number, f"10.1.0.{i}", now - 50, "claim")
                                       for i in range(2, 4)])
    fired = await runtime.marketing.tick(now)
    assert len(fired) == 1
    assert await runtime.marketing.tick(now + 10) == []  # still crossed: no second report
    assert await runtime.marketing.tick(now + 2 * HOUR) == []  # below again: re-armed
    await ingest_logs(client, w.till, [record(w.number, f"10.2.0.{i}", now + 2 * HOUR + i)
                                       for i in range(3)])
    again = await runtime.marketing.tick(now + 2 * HOUR + 60)
    assert len(again) == 1
    inbox = (await client.get(f"/v1/merchants/{w.shop['id']}/reports",
                              headers=auth(w.shop))).json()["reports"]
    assert [r["id"] for r in inbox] == [again[0], fired[0]]
    first = inbox[1]
    assert first["trigger"] == "threshold" and first["status"] == "published"
    assert first["indicators"]["unique_visitors"] == 4
    assert first["indicators"]["redemption_rate"] == {"numerator": 0, "denominator": 2}
    detail = (await client.get(f"/v1/reports/{fired[0]}", headers=auth(w.shop))).json()
    assert detail["reproduced"] and detail["onchain_hash"] == detail["report_hash"]
    assert (await client.get(f"/v1/reports/{fired[0]}", headers=auth(w.other))).status_code == 403


async def test_a_periodic_rule_fires_once_per_period_across_a_restart(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await marketing_world(client)
    await set_rules(client, w, [{"indicators": ["page_views", "unique_visitors",
                                                "visits_by_method", "top_operations",
                                                "new_visitors", "conversion_rate"],
                                 "condition": {"type": "periodic", "every_minutes": 60,
                                               "starts_at": T}}])
    await ingest_logs(client, w.till, mixed_records(w, 120, T))
    now = T + HOUR + 600
    made = await runtime.marketing.tick(now)
    assert len(made) == 1
    assert await runtime.marketing.tick(now + 60) == []
    # A new scheduler (a restarted process) reads the persisted state: no second report.
    restarted = MarketingService(runtime)
    assert await restarted.tick(now + 120) == []
    later = await restarted.tick(now + HOUR)
    assert len(later) == 1
    report = (await client.get(f"/v1/reports/{made[0]}", headers=auth(w.shop))).json()
    body = json.loads(report["json"])
    assert (body["period_start"], body["period_end"]) == (T, T + HOUR)
    expected = ind.compute(logs.parse_batch(mixed_records(w, 120, T), runtime.marketing.key),
                           T, T + HOUR, merchant=w.number)
    assert body["indicators"]["page_views"] == expected[ind.Indicator.PAGE_VIEWS]
    assert report["reproduced"] and report["batches_match_anchors"]
    assert report["chain_report_id"] >= 1
    chain = await runtime.view("marketing", "report", report["chain_report_id"])
    assert "0x" + bytes(chain[3]).hex() == report["report_hash"]
    # The platform reads every merchant's reports too.
    assert (await client.get(f"/v1/reports/{later[0]}")).json()["reproduced"]


async def test_webhook_is_signed_retried_and_delivered_once(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await marketing_world(client)
    port = free_port()
    hook = await client.put(f"/v1/merchants/{w.shop['id']}/webhook", headers=auth(w.shop),
                            json={"url": f"http://127.0.0.1:{port}/hook"})
    assert hook.status_code == 200, hook.text
    secret = hook.json()["secret"]
    await set_rules(client, w, [{"indicators": ["page_views"],
                                 "condition": {"type": "periodic", "every_minutes": 60,
                                               "starts_at": T}}])
    await ingest_logs(client, w.till, mixed_records(w, 20, T))
    (report_id,) = await runtime.marketing.tick(T + HOUR + 5)
    # The receiver is down: the attempt fails and is retried later.
    assert await runtime.marketing.webhooks.deliver_due() == 0
    got: list[tuple[bytes, dict[str, str]]] = []
    server = await webhook_receiver(port, got)
    try:
        delivered = 0
        for _ in range(50):
            delivered += await runtime.marketing.webhooks.deliver_due()
            if delivered:
                break
            await asyncio.sleep(0.1)
        assert delivered == 1
        for _ in range(3):  # delivered once, never again
            assert await runtime.marketing.webhooks.deliver_due() == 0
        await asyncio.sleep(0.3)
        assert await runtime.marketing.webhooks.deliver_due() == 0
    finally:
        server.should_exit = True
        await server.task  # type: ignore[attr-defined]
    assert len(got) == 1
    body, headers = got[0]
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-couponchain-signature"], expected)
    assert headers["x-couponchain-report"] == str(report_id)
    report = (await client.get(f"/v1/reports/{report_id}", headers=auth(w.shop))).json()
    assert body.decode() == report["json"]
    delivery = report["delivery"]
    assert delivery["status"] == "delivered" and delivery["attempts"] >= 2
    assert delivery["log"][0]["status_code"] is None and delivery["log"][0]["error"]
    assert delivery["log"][-1]["status_code"] == 204
    async with runtime.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(MarketingDelivery))
                ).scalar_one() == 1


async def test_marketing_info_versions_are_live_at_once_with_history(
        client: httpx.AsyncClient) -> None:
    w = await marketing_world(client)
    path = f"/v1/merchants/{w.shop['id']}/marketing-info"
    info = {"headline": "Spring tea week", "description": "Two cups for one",
            "discount": {"type": "percent", "value": 20, "min_order_amount": 500},
            "target_segment": "new app visitors",
            "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z"}
    first = await client.put(path, json=info, headers=auth(w.shop))
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    second = await client.put(path, json={**info, "headline": "Summer tea week"},
                              headers=auth(w.shop))
    assert second.json()["version"] == 2 and second.json()["tx_hash"]
    got = (await client.get(path)).json()
    assert got["version"] == 2 and got["current"]["headline"] == "Summer tea week"
    assert [v["headline"] for v in got["history"]] == ["Summer tea week", "Spring tea week"]
    assert got["current"]["discount"]["value"] == 20
    assert got["current"]["valid_until"] == "2099-01-01T00:00:00Z"
    page = await client.get(f"/merchants/{w.shop['id']}/storefront")
    assert page.status_code == 200 and "Summer tea week" in page.text
    assert "Spring tea week" not in page.text and "20 % off" in page.text
    empty = await client.get(f"/merchants/{w.other['id']}/storefront")
    assert "not published marketing information yet" in empty.text
    assert (await client.get("/merchants/nobody/storefront")).status_code == 404
    assert (await client.get("/inbox")).status_code == 200
    refused = await client.put(path, json=info, headers=auth(w.other))
    assert refused.status_code == 403
    ended = await client.put(path, json={**info, "valid_until": "2020-01-01T00:00:00Z"},
                             headers=auth(w.shop))
    assert ended.status_code == 422 and ended.json()["field"] == "valid_until"
    bad = await client.put(path, json={**info, "discount": {"type": "percent", "value": 150}},
                           headers=auth(w.shop))
    assert bad.status_code == 422 and bad.json()["field"] == "discount.value"


async def test_the_runtime_scheduler_reports_and_pushes_on_its_own(
        tmp_path: Path, database_url: str, node_url: str) -> None:
    settings = make_settings(tmp_path, database_url, node_url).model_copy(update={
        "report_interval": 0.3, "webhook_interval": 0.2, "webhook_allow_hosts": LOCAL_RECEIVERS})
    rt = Runtime(settings)
    await rt.start()
    got: list[tuple[bytes, dict[str, str]]] = []
    port = free_port()
    server = await webhook_receiver(port, got)
    try:
        transport = httpx.ASGITransport(app=create_app(rt, manage_runtime=False))
        async with httpx.AsyncClient(transport=transport, base_url="http://test", headers={
                "authorization": "Bearer test-admin-key"}) as client:
            w = await marketing_world(client)
            await client.put(f"/v1/merchants/{w.shop['id']}/webhook", headers=auth(w.shop),
                             json={"url": f"http://127.0.0.1:{port}/hook",
                                   "secret": "a-merchant-chosen-secret"})
            # One hourly period closed an hour ago or less: the scheduler reports it.
            start = (int(time.time()) // HOUR - 1) * HOUR
            await set_rules(client, w, [{"indicators": ["page_views"], "condition": {
                "type": "periodic", "every_minutes": 60, "starts_at": start}}])
            for _ in range(100):
                if got:
                    break
                await asyncio.sleep(0.1)
            inbox = (await client.get(f"/v1/merchants/{w.shop['id']}/reports",
                                      headers=auth(w.shop))).json()["reports"]
    finally:
        server.should_exit = True
        await server.task  # type: ignore[attr-defined]
        await rt.stop()
    assert len(inbox) == 1 and inbox[0]["trigger"] == "periodic"
    assert len(got) == 1
    body, headers = got[0]
    assert headers["x-couponchain-signature"] == "sha256=" + hmac.new(
        b"a-merchant-chosen-secret", body, hashlib.sha256).hexdigest()
