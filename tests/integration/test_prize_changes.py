"""Adjusting a running prize campaign through the API on the embedded node (issue 27)."""

from __future__ import annotations

import asyncio
import time

import httpx
from eth_utils import keccak

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.prizes_world import (
    award_prize,
    iso,
    prize_code,
    prize_world,
    scan_code,
    start_campaign,
)


async def _post(client: httpx.AsyncClient, who: dict, campaign_id: int, what: str,
                body: dict) -> httpx.Response:
    return await client.post(f"/v1/prize-campaigns/{campaign_id}/{what}", json=body,
                             headers=auth(who))


def _problem(response: httpx.Response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["field"] == field, problem
    return str(problem["detail"])


async def test_window_stock_and_terminals_change_with_their_reasons(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w, terminals=[w.till["id"]],
                                    prizes=[{"name": "Mug", "quantity": 1}])
    cid = campaign["id"]
    later = int(time.time()) + 7_200
    moved = await _post(client, w.shop, cid, "window",
                        {"ends_at": iso(later), "reason": " the fair runs a day longer "})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["campaign"]["ends_at"] == iso(later).replace("+00:00", "Z")
    assert body["change"]["reason"] == "the fair runs a day longer"
    assert body["change"]["reason_hash"] == "0x" + keccak(
        text="the fair runs a day longer").hex()
    assert body["tx_hash"] and body["change"]["tx_hash"] == body["tx_hash"]

    stocked = await _post(client, w.shop, cid, "stock",
                          {"prize_index": 0, "quantity": 3, "reason": "more mugs arrived"})
    assert stocked.status_code == 200, stocked.text
    assert stocked.json()["campaign"]["prizes"][0]["quantity"] == 3
    await award_prize(client, w, cid, (w.ann, 0), (w.bob, 0), (w.cy, 0))  # 3 now fit

    # Till 2 was not eligible; after the change it is, and Till 1 is not.
    (award_id,) = [a["id"] for a in (await client.get(
        "/v1/prize-awards", params={"consumer": w.ann["id"]})).json()["awards"]]
    scan = await scan_code(client, w.till2, await prize_code(client, w.ann, award_id))
    assert not scan["claimable"]
    changed = await _post(client, w.shop, cid, "terminals",
                          {"add": [w.till2["id"]], "remove": [w.till["address"]],
                           "reason": "Till 1 is broken"})
    assert changed.status_code == 200, changed.text
    assert [t["id"] for t in changed.json()["campaign"]["terminals"]] == [w.till2["id"]]
    scan = await scan_code(client, w.till2, await prize_code(client, w.ann, award_id))
    assert scan["claimable"], scan["conditions"]
    scan = await scan_code(client, w.till, await prize_code(client, w.ann, award_id))
    assert not scan["claimable"]

    history = await client.get(f"/v1/prize-campaigns/{cid}/changes", headers=auth(w.shop))
    assert history.status_code == 200, history.text
    assert [(c["kind"], c["reason"]) for c in history.json()["changes"]] == [
        ("terminals", "Till 1 is broken"), ("stock", "more mugs arrived"),
        ("window", "the fair runs a day longer")]
    assert all(c["tx_hash"] for c in history.json()["changes"])
    assert (await client.get(f"/v1/prize-campaigns/{cid}/changes",
                             headers=auth(w.rival))).status_code == 403


async def test_changes_are_refused_naming_the_field_and_rule(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w, prizes=[{"name": "Mug", "quantity": 2}])
    cid = campaign["id"]
    await award_prize(client, w, cid, (w.ann, 0), (w.bob, 0))
    now = time.time()
    detail = _problem(await _post(client, w.shop, cid, "window",
                                  {"ends_at": iso(now - 60), "reason": "x"}), 409, "ends_at")
    assert "prizes: window end not in the future" in detail
    detail = _problem(await _post(client, w.shop, cid, "stock",
                                  {"prize_index": 0, "quantity": 1, "reason": "x"}),
                      409, "quantity")
    assert "stock below awarded" in detail and "2 Mug" in detail
    _problem(await _post(client, w.shop, cid, "stock",
                         {"prize_index": 5, "quantity": 9, "reason": "x"}), 409, "prize_index")
    _problem(await _post(client, w.shop, cid, "stock",
                         {"prize_index": 0, "quantity": 9, "reason": "   "}), 422, "reason")
    _problem(await _post(client, w.shop, cid, "terminals",
                         {"remove": [w.rival_till["id"]], "reason": "x"}), 409, "remove.0")
    _problem(await _post(client, w.shop, cid, "terminals",
                         {"add": [w.till["id"]], "reason": "x"}), 409, "add.0")
    _problem(await _post(client, w.shop, cid, "terminals", {"reason": "x"}), 422, "add")
    _problem(await _post(client, w.rival, cid, "window",
                         {"ends_at": iso(now + 9_000), "reason": "x"}), 403, "id")
    _problem(await _post(client, w.till, cid, "stock",
                         {"prize_index": 0, "quantity": 9, "reason": "x"}), 403, "id")
    # Shortened to end in a few seconds, the campaign ends; then nothing changes.
    soon = await _post(client, w.shop, cid, "window",
                       {"ends_at": iso(time.time() + 3), "reason": "sold out early"})
    assert soon.status_code == 200, soon.text
    await asyncio.sleep(max(0.0, now + 6 - time.time()))
    detail = _problem(await _post(client, w.shop, cid, "window",
                                  {"ends_at": iso(time.time() + 9_000), "reason": "x"}),
                      409, "id")
    assert "prizes: campaign ended" in detail
    history = (await client.get(f"/v1/prize-campaigns/{cid}/changes",
                                headers=auth(w.shop))).json()["changes"]
    assert [c["reason"] for c in history] == ["sold out early"]  # refusals leave nothing
