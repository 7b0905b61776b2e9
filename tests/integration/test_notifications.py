"""Notifications end to end (issue 25), one node start: a prize awarded and claimed, a
report published, coupons about to expire and an incentive budget nearly spent become
the merchant's notifications;
they are listed (cursor paging), streamed (server-sent events), marked read, and
pushed to its webhook signed; a kind switched off is neither recorded nor pushed."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from couponchain.runtime import Runtime
from couponchain.services import notifications as notes
from tests.integration.conftest import make_settings
from tests.ports import free_port

HOUR = 3600
T = (1_700_000_000 // HOUR) * HOUR


@pytest.fixture
async def runtime(tmp_path: Path, database_url: str, node_url: str) -> AsyncIterator[Runtime]:
    # The loops are off: the test runs the watch and the pushes itself.
    settings = make_settings(tmp_path, database_url, node_url).model_copy(update={
        "report_interval": 0.0, "notification_interval": 0.0, "webhook_retry_base": 0.1,
        "webhook_retry_max_delay": 0.5, "webhook_allow_hosts": "127.0.0.1"})
    rt = Runtime(settings)
    await rt.start()
    yield rt
    await rt.stop()


def auth(participant: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {participant['api_key']}"}


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _receiver(port: int, got: list[tuple[bytes, dict[str, str]]]) -> uvicorn.Server:
    async def hook(request: Request) -> Response:
        got.append((await request.body(), dict(request.headers)))
        return Response(status_code=204)

    server = uvicorn.Server(uvicorn.Config(
        Starlette(routes=[Route("/hook", hook, methods=["POST"])]), host="127.0.0.1",
        port=port, log_level="warning"))
    server.task = asyncio.create_task(server.serve())  # type: ignore[attr-defined]
    while not server.started:
        await asyncio.sleep(0.02)
    return server


async def _notes(client: httpx.AsyncClient, shop: dict[str, Any], **params: Any) -> Any:
    got = await client.get(f"/v1/merchants/{shop['id']}/notifications", params=params,
                           headers=auth(shop))
    assert got.status_code == 200, got.text
    return got.json()


async def _arrives(client: httpx.AsyncClient, shop: dict[str, Any], kind: str,
                   count: int = 1) -> list[dict[str, Any]]:
    """The merchant's notifications of `kind` once `count` of them are recorded."""
    for _ in range(400):
        found = [n for n in (await _notes(client, shop, q=kind))["notifications"]]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} notification")


async def test_prizes_reports_and_expiring_coupons_notify_list_stream_push_and_switch(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    shop = (await client.post("/v1/merchants", json={"name": "Tea House"})).json()
    rival = (await client.post("/v1/merchants", json={"name": "Noodle Bar"})).json()
    till = (await client.post("/v1/terminals", json={"name": "Till"}, headers=auth(shop))).json()
    ann, bob = [(await client.post("/v1/consumers", json={"name": n})).json()
                for n in ("Ann", "Bob")]
    base = f"/v1/merchants/{shop['id']}"
    port = free_port()
    got: list[tuple[bytes, dict[str, str]]] = []
    server = await _receiver(port, got)
    try:
        hook = await client.put(f"{base}/webhook", headers=auth(shop),
                                json={"url": f"http://127.0.0.1:{port}/hook"})
        assert hook.status_code == 200, hook.text
        secret = hook.json()["secret"]
        settings = (await client.get(f"{base}/notification-settings", headers=auth(shop))).json()
        assert "kinds" in settings, settings
        assert set(settings["kinds"].values()) == {True}  # every kind on by default

        # A prize awarded, then claimed at the till.
        campaign = (await client.post("/v1/prize-campaigns", headers=auth(shop), json={
            "title": "Summer draw", "prizes": [{"name": "Mug", "quantity": 5}],
            "terminals": [till["id"]], "ends_at": iso(time.time() + HOUR),
            "per_consumer_limit": 2})).json()
        awarded = (await client.post(f"/v1/prize-campaigns/{campaign['id']}/awards",
                                     headers=auth(shop),
                                     json={"awards": [{"consumer": ann["id"]}]})).json()
        award_id = awarded["awards"][0]["id"]
        (note,) = await _arrives(client, shop, "prize_awarded")
        assert note["data"]["award_id"] == award_id and note["data"]["prize"] == "Mug"
        assert note["data"]["consumer_name"] == "Ann" and not note["read"]

        # The stream sends what follows an id, resumable by Last-Event-ID; a rival's
        # merchant may not listen.
        stream = await client.get(f"{base}/notifications/stream",
                                  params={"after": note["id"] - 1, "seconds": 1},
                                  headers=auth(shop))
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = [e for e in stream.text.split("\n\n") if e.startswith("id: ")]
        assert events[0].startswith(f"id: {note['id']}\nevent: notification\ndata: ")
        assert json.loads(events[0].split("data: ", 1)[1])["data"]["award_id"] == award_id
        resumed = await client.get(f"{base}/notifications/stream", params={"seconds": 1},
                                   headers=auth(shop) | {"last-event-id": str(note["id"])})
        assert "event: notification" not in resumed.text
        spied = await client.get(f"{base}/notifications/stream", params={"seconds": 1},
                                 headers=auth(rival))
        assert spied.status_code == 403
        bad = await client.get(f"{base}/notifications/stream", headers=auth(shop) | {
            "last-event-id": "x"})
        assert bad.status_code == 422 and bad.json()["field"] == "Last-Event-ID"

        code = (await client.get(f"/v1/prize-awards/{award_id}/code", headers=auth(ann))).json()
        scan = (await client.post("/v1/prize-scans", json={"code": code["code"]},
                                  headers=auth(till))).json()
        claimed = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                                    headers=auth(till))
        assert claimed.status_code == 201, claimed.text
        (claim_note,) = await _arrives(client, shop, "prize_claimed")
        assert claim_note["data"]["award_id"] == award_id
        assert claim_note["data"]["terminal_name"] == "Till"

        # A published report.
        rules = (await client.get(f"{base}/reporting-rules")).json()
        put = await client.put(f"{base}/reporting-rules", headers=auth(shop), json={"rules": [{
            "indicators": ["page_views"],
            "condition": {"type": "periodic", "every_minutes": 60, "starts_at": T}}]})
        assert put.status_code == 200, put.text
        logs = await client.post("/v1/access-logs", headers=auth(till), json={"records": [
            {"ip": f"10.0.0.{i}", "account": "", "time": T + i * 60, "operation": "view",
             "merchant": rules["merchant_number"], "method": "browser"} for i in range(5)]})
        assert logs.status_code == 201, logs.text
        (report_id,) = await runtime.marketing.tick(T + HOUR + 5)
        (report_note,) = await _arrives(client, shop, "report_ready")
        assert report_note["data"]["report_id"] == report_id

        # Coupons about to expire: an edition ending tomorrow with a coupon sold.
        edition = await client.post("/v1/editions", headers=auth(shop), json={
            "brand": "Cafe", "title": "Free latte", "terms": "One latte per coupon.",
            "prefix": "LATTE", "total_pieces": 5, "price": 300,
            "valid_from": iso(time.time() - HOUR), "valid_until": iso(time.time() + 86_400)})
        assert edition.status_code == 201, edition.text
        sale = await client.post(f"/v1/editions/{edition.json()['id']}/sales", headers=auth(till),
                                 json={"buyer": ann["id"], "price": 300, "channel": "offline",
                                       "order_ref": "POS-1"})
        assert sale.status_code == 201, sale.text
        await runtime.indexer.wait_for(sale.json()["block_number"])
        assert await runtime.notification_watch.look() == 1
        assert await runtime.notification_watch.look() == 0  # each coupon once
        (expiring,) = await _arrives(client, shop, "coupons_expiring")
        assert expiring["data"]["coupons"] == 1 and expiring["data"]["title"] == "Free latte"

        # A budget nearly spent: a write-off's incentive (10 % of the order) uses up
        # 95 % of the incentive cap the merchant set.
        opened = await client.post("/v1/promotion-rounds", json={
            "evaluation": {"turnover": [{"merchant": shop["id"], "amount": 1_000_000}],
                           "consumers": 1},
            "formula": {"base_per_merchant": 10, "turnover_per_coupon": 100_000,
                        "per_consumer": 2, "max_total": 1_000},
            "incentive_bps": 1_000, "shares": {"platform": 1_000, "issuer": 2_000,
                                               "redeemer": 2_000, "holder": 3_000,
                                               "earlier": 2_000},
            "rollback_window_seconds": 0, "consent_lifetime_seconds": 120})
        assert opened.status_code == 201, opened.text
        round_id = opened.json()["id"]
        allocated = await client.post(f"/v1/promotion-rounds/{round_id}/allocations", json={
            "allocations": [{"merchant": shop["id"], "count": 1}]})
        assert allocated.status_code == 200, allocated.text
        granted = await client.post("/v1/promotion-grants", headers=auth(shop), json={
            "round_id": round_id, "grants": [{"consumer": ann["id"], "count": 1}]})
        assert granted.status_code == 201, granted.text
        (coupon,) = granted.json()["coupon_ids"]
        credit = await client.post("/v1/credits", json={"to": shop["id"], "amount": 100_000})
        assert credit.status_code == 201, credit.text
        capped = await client.put(f"{base}/incentive-cap", json={"cap": 1_000},
                                  headers=auth(shop))
        assert capped.status_code == 200, capped.text
        assert await runtime.notification_watch.look() == 0  # all of it left
        consent = await client.post(f"/v1/promotion-coupons/{coupon}/consent", headers=auth(ann),
                                    json={"merchant": "any", "max_order_amount": 10**12})
        assert consent.status_code == 201, consent.text
        written = await client.post("/v1/write-offs", headers=auth(shop), json={
            "code": consent.json()["code"], "order_amount": 9_500})
        assert written.status_code == 201 and written.json()["incentive"] == 950, written.text
        assert await runtime.notification_watch.look() == 1
        assert await runtime.notification_watch.look() == 0  # once per cap set
        (budget,) = await _arrives(client, shop, "budget_low")
        assert budget["data"] == {"cap": "1000", "left": "50"}

        # Pushed to the webhook, signed, each once; a report ready is not: the report's
        # own push is its webhook.
        assert report_note["delivery"] is None
        delivered = 0
        for _ in range(100):
            delivered += await runtime.notification_pushes.deliver_due()
            if delivered == 4:
                break
            await asyncio.sleep(0.05)
        assert delivered == 4
        assert await runtime.notification_pushes.deliver_due() == 0
        pushed = {}
        for body, headers in got:
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["x-couponchain-signature"], expected)
            item = json.loads(body)
            assert headers["x-couponchain-notification"] == str(item["id"])
            pushed[item["kind"]] = item
        assert set(pushed) == {"prize_awarded", "prize_claimed", "coupons_expiring",
                               "budget_low"}
        assert pushed["prize_awarded"]["data"]["award_id"] == award_id

        # Switched off: a new award is neither recorded nor pushed; an unknown kind is
        # refused, naming it.
        off = await client.put(f"{base}/notification-settings", headers=auth(shop),
                               json={"kinds": {"prize_awarded": False}})
        assert off.status_code == 200 and off.json()["kinds"]["prize_awarded"] is False
        assert off.json()["kinds"]["prize_claimed"] is True
        unknown = await client.put(f"{base}/notification-settings", headers=auth(shop),
                                   json={"kinds": {"prize_lost": False}})
        assert unknown.status_code == 422 and unknown.json()["field"] == "kinds.prize_lost"
        foreign = await client.put(f"{base}/notification-settings", headers=auth(rival),
                                   json={"kinds": {"prize_awarded": True}})
        assert foreign.status_code == 403
        second = (await client.post(f"/v1/prize-campaigns/{campaign['id']}/awards",
                                    headers=auth(shop),
                                    json={"awards": [{"consumer": bob["id"]}]})).json()
        await runtime.indexer.wait_for(second["block_number"])
        assert len((await _notes(client, shop, q="prize_awarded"))["notifications"]) == 1
        assert await runtime.notification_pushes.deliver_due() == 0
        assert len(got) == 4
    finally:
        server.should_exit = True
        await server.task  # type: ignore[attr-defined]

    # Paging newest first, marking read.
    first = await _notes(client, shop, limit=3)
    assert first["unread"] == 5 and first["next_cursor"] is not None
    rest = await _notes(client, shop, limit=3, cursor=first["next_cursor"])
    assert rest["next_cursor"] is None
    ids = [n["id"] for n in first["notifications"] + rest["notifications"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 5
    marked = await client.post(f"{base}/notifications:read", headers=auth(shop),
                               json={"ids": [ids[0]]})
    assert marked.json() == {"marked": 1, "unread": 4}
    assert (await _notes(client, shop, status="unread"))["unread"] == 4
    assert len((await _notes(client, shop, status="read"))["notifications"]) == 1
    everything = await client.post(f"{base}/notifications:read", headers=auth(shop), json={})
    assert everything.json() == {"marked": 4, "unread": 0}
    hidden = await client.get(f"{base}/notifications", headers=auth(rival))
    assert hidden.status_code == 403

    # A rebuild of the read models replays every stored event: nothing notifies twice
    # (and an event older than a day, as a rebuild after an upgrade replays, not at all).
    await runtime.db.write(runtime.indexer.rebuild)
    again = await _notes(client, shop, limit=100)
    assert [n["id"] for n in again["notifications"]] == ids and again["unread"] == 0
    assert notes.fresh(int(time.time()) - 60)
    assert not notes.fresh(int(time.time()) - notes.FRESH_FOR - 1)
