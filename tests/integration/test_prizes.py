"""Prize write-off end to end: API, gateway, embedded node, read models, prize-claim rows."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from eth_account import Account
from sqlalchemy import func, select, update

from couponchain.api.app import create_app
from couponchain.domain import prize_claim_consent as claim_consent
from couponchain.domain import prize_codes
from couponchain.runtime import Runtime
from couponchain.store.models import PrizeClaim
from tests.api_auth import auth
from tests.integration.prizes_world import (
    World,
    award_prize,
    failed_conditions,
    iso,
    prize_code,
    prize_world,
    scan_code,
    settled_scan,
    start_campaign,
)
from tests.ports import serve_app


async def _issued(runtime: Runtime, w: World, consumer: dict[str, Any], award_id: int,
                  campaign_id: int, issued: int, key: Any = None) -> str:
    """A code issued at `issued` as the server issues it: signed by the code key
    (or `key`), carrying the winner's claim signature (their custodial key)."""
    claim = claim_consent.PrizeClaimConsent(
        award=award_id, campaign=campaign_id, merchant=w.shop["address"],
        expiry=issued + claim_consent.claim_lifetime(
            runtime.settings.prize_offline_window_seconds))
    winner = await runtime.participants.signer(consumer["id"])
    signature = claim_consent.sign_claim(claim, runtime.chain_id,
                                         runtime.prizes.prizes_address, winner.key)
    return prize_codes.issue_code(award_id, consumer["address"], issued, 20,
                                  key or runtime.prizes.code_signer, claim_expiry=claim.expiry,
                                  claim_signature=signature)


async def test_campaign_award_code_scan_claim(client: httpx.AsyncClient,
                                              runtime: Runtime) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    signer = (await client.get("/v1/prize-codes/signer")).json()
    assert campaign["code_signer"] == signer["address"]
    assert [p["name"] for p in campaign["prizes"]] == ["Mug", "Tote"]
    assert {t["id"] for t in campaign["terminals"]} == {w.till["id"], w.till2["id"]}
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 0))
    award = (await client.get(f"/v1/prize-awards/{award_id}")).json()
    assert award["status"] == "awarded" and award["prize_name"] == "Mug"
    mine = (await client.get("/v1/prize-awards", params={"consumer": w.ann["id"]})).json()
    assert [a["id"] for a in mine["awards"]] == [award_id]

    foreign = await client.get(f"/v1/prize-awards/{award_id}/code", headers=auth(w.bob))
    assert foreign.status_code == 403
    got = (await client.get(f"/v1/prize-awards/{award_id}/code", headers=auth(w.ann))).json()
    assert got["qr_svg"].startswith("data:image/svg+xml")
    assert got["expiry"] - time.time() <= prize_codes.MAX_LIFETIME
    # A terminal can check the code offline against the published signer.
    checked = prize_codes.verify_code(got["code"], signer["address"], int(time.time()))
    assert checked.award_id == award_id and checked.consumer == w.ann["address"]

    scan = await scan_code(client, w.till, got["code"])
    assert scan["claimable"], scan
    assert [c["name"] for c in scan["conditions"]] == [
        "signature", "not_expired", "not_claimed", "terminal_eligible", "inside_window",
        "per_consumer_limit", "stock_left", "winner_signed"]
    assert all(c["ok"] for c in scan["conditions"])
    assert scan["award"]["id"] == award_id and scan["prize"]["name"] == "Mug"

    claimed = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                                headers=auth(w.till) | {"idempotency-key": "c1"})
    assert claimed.status_code == 201, claimed.text
    body = claimed.json()
    # Acknowledged once the claim row is committed; the chain records it next.
    assert body["status"] in ("pending", "recorded") and body["terminal_id"] == w.till["id"]
    assert body["prize_name"] == "Mug" and body["scan_result"] == scan["conditions"]
    again = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                              headers=auth(w.till) | {"idempotency-key": "c1"})
    assert again.json() == body  # the retry applied nothing twice
    # A retry whose stored answer was lost (the API died after the claim's commit)
    # gets the same claim back, not a conflict with itself.
    lost = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                             headers=auth(w.till) | {"idempotency-key": "c1-after-crash"})
    assert lost.status_code == 201 and lost.json()["id"] == body["id"], lost.text
    settled = await settled_scan(client, w.till, body)
    assert settled["status"] == "recorded" and settled["tx_hash"] and settled["block_number"]
    for outsider in (w.rival, w.rival_till, w.ann):
        hidden = await client.get(f"/v1/prize-claims/{body['id']}", headers=auth(outsider))
        assert hidden.status_code == 403, hidden.text
    own = await client.get(f"/v1/prize-claims/{body['id']}", headers=auth(w.shop))
    assert own.json()["status"] == "recorded"
    after = (await client.get(f"/v1/prize-awards/{award_id}")).json()
    assert after["status"] == "claimed" and after["claimed_by"] == w.till["address"]
    chain = await runtime.view("prizes", "award_of", award_id)
    assert chain[3] == 2  # STATUS_CLAIMED on chain

    # The same code again, and a fresh code of the claimed award: refused.
    replay = await scan_code(client, w.till2, got["code"])
    assert not replay["claimable"] and "already used" in failed_conditions(replay)["not_claimed"]
    refused = await client.post("/v1/prize-claims", json={"scan_id": replay["scan_id"]},
                                headers=auth(w.till2))
    assert refused.status_code == 409 and "not_claimed" in refused.json()["detail"]
    no_code = await client.get(f"/v1/prize-awards/{award_id}/code", headers=auth(w.ann))
    assert no_code.status_code == 409 and "already claimed" in no_code.json()["detail"]

    stats = await client.get(f"/v1/prize-campaigns/{campaign['id']}/stats",
                             headers=auth(w.shop))
    assert stats.status_code == 200, stats.text
    s = stats.json()
    assert s["claimed"] == 1 and s["awarded"] == 1 and s["pending_claims"] == 0
    assert s["claims_by_terminal"] == [{"terminal": w.till["address"],
                                        "terminal_id": w.till["id"],
                                        "terminal_name": "Till 1", "claims": 1}]
    assert sum(p["claims"] for p in s["claims_per_minute"]) == 1
    assert [(p["name"], p["left"], p["claimed"]) for p in s["stock"]] == [
        ("Mug", 4, 1), ("Tote", 1, 0)]
    assert (await client.get(f"/v1/prize-campaigns/{campaign['id']}/stats",
                             headers=auth(w.rival))).status_code == 403


async def test_bad_codes_are_refused_with_the_reason(client: httpx.AsyncClient,
                                                     runtime: Runtime) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 0))
    expired = await _issued(runtime, w, w.ann, award_id, campaign["id"], int(time.time()) - 600)
    scan = await scan_code(client, w.till, expired)
    failed = failed_conditions(scan)
    assert list(failed) == ["not_expired"] and "expired" in failed["not_expired"]
    refused = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                                headers=auth(w.till))
    assert refused.status_code == 409 and "expired" in refused.json()["detail"]

    forged = await _issued(runtime, w, w.ann, award_id, campaign["id"], int(time.time()),
                           Account.create().key)
    scan = await scan_code(client, w.till, forged)
    assert "wrong-signer" in failed_conditions(scan)["signature"] and scan["award"] is None
    assert all(c["ok"] is None for c in scan["conditions"][1:])

    good = await prize_code(client, w.ann, award_id)
    raw = bytearray(base64.urlsafe_b64decode(good[len(prize_codes.PREFIX):]))
    raw[7] ^= 2  # another award id, same signature
    scan = await scan_code(client, w.till, prize_codes.encode_code(bytes(raw)))
    assert "tampered" in failed_conditions(scan)["signature"]

    scan = await scan_code(client, w.till, prize_codes.PREFIX + "x" * 240)  # the shape, no more
    assert "bad-signature" in failed_conditions(scan)["signature"]
    for garbage in ("", "hello", prize_codes.PREFIX + "x" * 239, good[:-3], good + "=="):
        bad = await client.post("/v1/prize-scans", json={"code": garbage},
                                headers=auth(w.till))
        assert bad.status_code == 422 and bad.json()["field"] == "code", garbage

    # Another merchant's terminal: not eligible, and the claim is refused.
    scan = await scan_code(client, w.rival_till, good)
    assert list(failed_conditions(scan)) == ["terminal_eligible"]
    refused = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                                headers=auth(w.rival_till))
    assert refused.status_code == 409
    # A scan belongs to the terminal that made it.
    scan = await scan_code(client, w.till, good)
    stolen = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                               headers=auth(w.till2))
    assert stolen.status_code == 404
    consumer = await client.post("/v1/prize-scans", json={"code": good}, headers=auth(w.ann))
    assert consumer.status_code == 403


async def test_window_limit_and_stock(client: httpx.AsyncClient) -> None:
    w = await prize_world(client)
    later = await start_campaign(client, w, starts_at=iso(time.time() + 1_800), all_terminals=True,
                                 terminals=[])
    (early,) = await award_prize(client, w, later["id"], (w.ann, 0))
    scan = await scan_code(client, w.till2, await prize_code(client, w.ann, early))
    assert list(failed_conditions(scan)) == ["inside_window"] and "opens at" in scan["problems"][0]
    refused = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                                headers=auth(w.till2))
    assert refused.status_code == 409 and "inside_window" in refused.json()["detail"]

    campaign = await start_campaign(client, w, per_consumer_limit=1)
    first, second, tote = await award_prize(client, w, campaign["id"], (w.bob, 0), (w.bob, 0),
                                            (w.cy, 1))
    scan = await scan_code(client, w.till, await prize_code(client, w.bob, first))
    claimed = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                                headers=auth(w.till))
    assert claimed.status_code == 201, claimed.text
    # The limit counts the stored claim before the chain has it.
    scan = await scan_code(client, w.till, await prize_code(client, w.bob, second))
    assert list(failed_conditions(scan)) == ["per_consumer_limit"]
    assert "limit is reached" in failed_conditions(scan)["per_consumer_limit"]

    # One Tote: the second award of it is refused whole, nothing awarded.
    out = await client.post(f"/v1/prize-campaigns/{campaign['id']}/awards",
                            headers=auth(w.shop), json={"awards": [
                                {"consumer": w.ann["id"], "prize_index": 0},
                                {"consumer": w.ann["id"], "prize_index": 1}]})
    assert out.status_code == 409 and "0 left" in out.json()["detail"]
    scan = await scan_code(client, w.till, await prize_code(client, w.cy, tote))
    stock = next(c for c in scan["conditions"] if c["name"] == "stock_left")
    assert stock["ok"] and stock["reason"] == "1 of 1 Tote left"
    detail = (await client.get(f"/v1/prize-campaigns/{campaign['id']}")).json()
    assert [(p["awarded"], p["unawarded"]) for p in detail["prizes"]] == [(2, 3), (1, 0)]

    bad = await client.post("/v1/prize-campaigns", headers=auth(w.shop), json={
        "title": "x", "prizes": [{"name": "Mug", "quantity": 1}],
        "terminals": [w.rival_till["id"]], "ends_at": iso(time.time() + 60)})
    assert bad.status_code == 422 and bad.json()["field"] == "terminals.0"
    past = await client.post("/v1/prize-campaigns", headers=auth(w.shop), json={
        "title": "x", "prizes": [{"name": "Mug", "quantity": 1}], "all_terminals": True,
        "ends_at": iso(time.time() - 60)})
    assert past.status_code == 422 and past.json()["field"] == "ends_at"


async def test_two_terminals_one_code_make_one_claim(client: httpx.AsyncClient,
                                                     runtime: Runtime) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 0))
    code = await prize_code(client, w.ann, award_id)
    scans = await asyncio.gather(scan_code(client, w.till, code), scan_code(client, w.till2, code))
    assert all(s["claimable"] for s in scans)  # neither has claimed yet
    claims = await asyncio.gather(*[
        client.post("/v1/prize-claims", json={"scan_id": s["scan_id"]}, headers=auth(t))
        for s, t in zip(scans, (w.till, w.till2), strict=True)])
    assert sorted(c.status_code for c in claims) == [201, 409], [c.text for c in claims]
    lost = next(c for c in claims if c.status_code == 409).json()
    assert "already claimed" in lost["detail"]
    async with runtime.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(PrizeClaim)) == 1
    won = next(c for c in claims if c.status_code == 201).json()
    await settled_scan(client, w.till, won)
    stats = (await client.get(f"/v1/prize-campaigns/{campaign['id']}/stats",
                              headers=auth(w.shop))).json()
    assert stats["claimed"] == 1


async def test_a_suspended_terminal_or_one_of_a_suspended_merchant_claims_nothing(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """A claim is acknowledged before the chain records it, so the registry's refusal of
    a suspended terminal must be applied before: no scan, no claim row, no offline sync."""
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 0))
    code = await prize_code(client, w.ann, award_id)
    scanned = await scan_code(client, w.till, code)  # before the suspension

    async def standing(who: dict[str, Any], by: dict[str, Any], change: str) -> None:
        done = await client.post(f"/v1/participants/{who['id']}/{change}", headers={
            **auth(by), "Idempotency-Key": f"{change}-{who['id']}-{time.time_ns()}"},
            json={"reason": "till stolen"} if change == "suspend" else {})
        assert done.is_success, done.text

    await standing(w.till, w.shop, "suspend")
    for answer in (
            await client.post("/v1/prize-scans", json={"code": code}, headers=auth(w.till)),
            await client.post("/v1/prize-claims", json={"scan_id": scanned["scan_id"]},
                              headers=auth(w.till)),
            await client.post("/v1/prize-claims:sync", headers=auth(w.till),
                              json={"claims": [{"code": code, "scanned_at": iso(time.time())}]})):
        assert answer.status_code == 403, answer.text
        assert "it is suspended (till stolen)" in answer.json()["detail"]
    await standing(w.till, w.shop, "reinstate")
    await standing(w.shop, {"api_key": "test-admin-key"}, "suspend")
    refused = await client.post("/v1/prize-scans", json={"code": code}, headers=auth(w.till2))
    assert refused.status_code == 403, refused.text
    assert "its merchant is suspended" in refused.json()["detail"]
    async with runtime.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(PrizeClaim)) == 0
    await standing(w.shop, {"api_key": "test-admin-key"}, "reinstate")
    assert (await scan_code(client, w.till2, code))["claimable"]


async def test_offline_queue_is_reconciled(client: httpx.AsyncClient) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    a1, a2 = await award_prize(client, w, campaign["id"], (w.ann, 0), (w.bob, 0))
    c1, c2 = await prize_code(client, w.ann, a1), await prize_code(client, w.bob, a2)
    # Till 2 claims Bob's prize online while Till 1 is offline with both codes queued.
    scan = await scan_code(client, w.till2, c2)
    online = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                               headers=auth(w.till2))
    assert online.status_code == 201, online.text
    now = time.time()
    synced = await client.post("/v1/prize-claims:sync", headers=auth(w.till), json={"claims": [
        {"code": c1, "scanned_at": iso(now - 2)}, {"code": c2, "scanned_at": iso(now - 1)},
        {"code": c1, "scanned_at": iso(now)}, {"code": "garbage", "scanned_at": iso(now)}]})
    assert synced.status_code == 200, synced.text
    out = synced.json()
    assert [r["status"] for r in out["results"]] == ["claimed", "duplicate", "duplicate",
                                                     "refused"]
    assert (out["claimed"], out["duplicates"], out["refused"]) == (1, 2, 1)
    assert out["results"][0]["claim"]["source"] == "offline"
    assert w.till2["id"] in out["results"][1]["reason"]  # who won is reported
    assert (await settled_scan(client, w.till, out["results"][0]["claim"]))["status"] == "recorded"


@pytest.fixture
async def api_url(runtime: Runtime) -> AsyncIterator[str]:
    async for url in serve_app(create_app(runtime, manage_runtime=False)):
        yield url


async def _next_stats(lines: AsyncIterator[str]) -> dict[str, Any]:
    event = None
    async for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "stats":
            return orjson.loads(line[6:])  # type: ignore[no-any-return]
    raise AssertionError("the stream ended")


async def _drain(lines: AsyncIterator[str]) -> list[str]:
    return [line async for line in lines]


async def test_live_stream_pushes_stats_after_a_claim(client: httpx.AsyncClient,
                                                      api_url: str) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 0))
    path = f"{api_url}/v1/prize-campaigns/{campaign['id']}/live"
    async with httpx.AsyncClient(timeout=20) as http:
        denied = await http.get(path, headers=auth(w.rival))
        assert denied.status_code == 403
        async with http.stream("GET", path, headers=auth(w.shop)) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            first = await asyncio.wait_for(_next_stats(lines), 10)
            assert first["claimed"] == 0
            scan = await scan_code(client, w.till, await prize_code(client, w.ann, award_id))
            claimed = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                                        headers=auth(w.till))
            assert claimed.status_code == 201, claimed.text
            # At once, on the row: a push made for the scan (before the claim) may come
            # first, so read until one counts the claim, within the same 10 s.
            async def counted() -> dict[str, Any]:
                while True:
                    stats = await _next_stats(lines)
                    if stats["claimed"] + stats["pending_claims"]:
                        return stats

            pushed = await asyncio.wait_for(counted(), 10)
            assert pushed["claimed"] + pushed["pending_claims"] == 1
            while pushed["claimed"] == 0:  # and again when the chain recorded it
                pushed = await asyncio.wait_for(_next_stats(lines), 10)
            assert pushed["claimed"] == 1 and pushed["pending_claims"] == 0
            assert pushed["claims_by_terminal"][0]["terminal_id"] == w.till["id"]


async def test_hundred_scans_from_ten_terminals_make_one_claim(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await prize_world(client)
    tills = [(await client.post("/v1/terminals", json={"name": f"Lane {i}"},
                                headers=auth(w.shop))).json() for i in range(10)]
    campaign = await start_campaign(client, w, all_terminals=True, terminals=[])
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 0))
    code = await prize_code(client, w.ann, award_id)

    async def scan_and_claim(till: dict[str, Any]) -> int:
        scanned = await client.post("/v1/prize-scans", json={"code": code}, headers=auth(till))
        assert scanned.status_code == 201, scanned.text
        claimed = await client.post("/v1/prize-claims", headers=auth(till),
                                    json={"scan_id": scanned.json()["scan_id"]})
        assert claimed.status_code in (201, 409), claimed.text
        return claimed.status_code

    statuses = await asyncio.gather(*[scan_and_claim(t) for t in tills for _ in range(10)])
    assert statuses.count(201) == 1 and statuses.count(409) == 99
    async with runtime.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(PrizeClaim)) == 1
        claim_id = await s.scalar(select(PrizeClaim.id))
    await runtime.prizes.recorder.settled([claim_id])
    assert (await runtime.view("prizes", "prize", campaign["id"], 0))[3] == 1  # claimed


async def test_a_claim_left_pending_by_a_crash_is_recorded_once(
        client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 0))
    scan = await scan_code(client, w.till, await prize_code(client, w.ann, award_id))
    recorder = runtime.prizes.recorder
    # The process "dies" after acknowledging the claim, before submitting it.
    with monkeypatch.context() as m:
        m.setattr(recorder, "record", lambda rows: None)
        claimed = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                                    headers=auth(w.till))
    assert claimed.status_code == 201 and claimed.json()["status"] == "pending"
    claim_id = claimed.json()["id"]
    assert await recorder.sweep() == 0  # too fresh: maybe still on its way
    async with runtime.db.transaction() as s:
        await s.execute(update(PrizeClaim).where(PrizeClaim.id == claim_id).values(
            claimed_at=PrizeClaim.claimed_at - 60))
    assert await recorder.sweep() == 1
    assert await recorder.sweep() == 0  # already on its way: not submitted twice
    first = await settled_scan(client, w.till, claimed.json())
    assert first["status"] == "recorded"
    # Resubmitting a recorded claim (a sweep that raced the settle) claims nothing twice:
    # the gateway answers with the journaled outcome of the same operation key.
    async with runtime.db.transaction() as s:
        await s.execute(update(PrizeClaim).where(PrizeClaim.id == claim_id).values(
            status="pending", tx_hash=None))
    assert await recorder.sweep() == 1
    again = await settled_scan(client, w.till, claimed.json())
    assert (again["status"], again["tx_hash"]) == ("recorded", first["tx_hash"])
    assert (await runtime.view("prizes", "prize", campaign["id"], 0))[3] == 1


async def test_live_stream_ends_when_the_runtime_stops(client: httpx.AsyncClient,
                                                       runtime: Runtime, api_url: str) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    path = f"{api_url}/v1/prize-campaigns/{campaign['id']}/live"
    async with httpx.AsyncClient(timeout=20) as http, \
            http.stream("GET", path, headers=auth(w.shop)) as stream:
        lines = stream.aiter_lines()
        await asyncio.wait_for(_next_stats(lines), 10)
        await runtime.prizes.stop()
        rest = await asyncio.wait_for(_drain(lines), 10)
        assert "event: end" in rest


async def test_an_offline_scan_counts_only_while_valid_and_synced_within_the_window(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Issue 20 §4: a 20 s code synced 45 s after its issue with a backdated scan time
    was claimed whatever the scan time; a screenshotted code could be claimed for days."""
    w = await prize_world(client)
    campaign = await start_campaign(client, w, per_consumer_limit=5, prizes=[
        {"name": "Mug", "quantity": 10}])
    a1, a2, a3, a4 = await award_prize(client, w, campaign["id"], (w.ann, 0), (w.bob, 0),
                                       (w.cy, 0), (w.ann, 0))
    now = int(time.time())
    window = runtime.settings.prize_offline_window_seconds
    assert window == 900  # the default
    issued = now - 45  # the finding: lifetime 20 s, synced 45 s after the issue
    cid = campaign["id"]
    valid_then = await _issued(runtime, w, w.ann, a1, cid, issued)
    expired_then = await _issued(runtime, w, w.bob, a2, cid, issued)
    too_old = await _issued(runtime, w, w.cy, a3, cid, now - window - 60)
    fresh = await _issued(runtime, w, w.ann, a4, cid, now)
    synced = await client.post("/v1/prize-claims:sync", headers=auth(w.till), json={"claims": [
        {"code": valid_then, "scanned_at": iso(issued + 5)},  # backdated, inside validity
        {"code": expired_then, "scanned_at": iso(issued + 40)},  # after its expiry
        {"code": too_old, "scanned_at": iso(now - window - 55)},  # valid then, synced late
        {"code": fresh, "scanned_at": iso(now + 60)},  # the terminal's clock is ahead
    ]})
    assert synced.status_code == 200, synced.text
    out = synced.json()
    assert [r["status"] for r in out["results"]] == ["claimed", "refused", "refused",
                                                     "refused"]
    reasons = [r.get("reason", "") for r in out["results"]]
    assert reasons[1].startswith("not_expired: scanned-while-invalid: the scan time")
    assert reasons[2].startswith("not_expired: offline-window-passed: synced")
    assert f"within {window} s of its code's issue" in reasons[2]
    assert reasons[3].startswith("not_expired: scanned-in-future:")
    claim = out["results"][0]["claim"]
    assert claim["source"] == "offline"

    # The merchant sees the claim marked offline, with the terminal's scan time.
    listed = await client.get(f"/v1/prize-campaigns/{campaign['id']}/claims",
                              headers=auth(w.shop))
    assert listed.status_code == 200, listed.text
    (row,) = listed.json()["claims"]
    assert (row["id"], row["source"], row["terminal_name"]) == (claim["id"], "offline",
                                                                "Till 1")
    assert row["scanned_offline_at"] == iso(issued + 5).replace("+00:00", "Z")
    stats = (await client.get(f"/v1/prize-campaigns/{campaign['id']}/stats",
                              headers=auth(w.shop))).json()
    assert stats["offline_claims"] == 1
    assert (await client.get(f"/v1/prize-campaigns/{campaign['id']}/claims",
                             headers=auth(w.rival))).status_code == 403

    # An online scan stays online and unmarked; an offline scan is never "confirmed".
    code = await prize_code(client, w.ann, a4)
    scan = await scan_code(client, w.till, code)
    online = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                               headers=auth(w.till))
    assert online.status_code == 201, online.text
    listed = (await client.get(f"/v1/prize-campaigns/{campaign['id']}/claims",
                               headers=auth(w.shop))).json()["claims"]
    assert [(c["source"], c["scanned_offline_at"]) for c in listed] == [
        ("online", None), ("offline", iso(issued + 5).replace("+00:00", "Z"))]


async def test_a_stored_offline_scan_cannot_be_confirmed_as_an_online_claim(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 0))
    code = await prize_code(client, w.ann, award_id)
    terminal = await runtime.participants.authenticate(w.till["api_key"])
    scanned = await runtime.prizes.scan(terminal, code, local_time=int(time.time()))
    assert scanned["claimable"] is True
    confirmed = await client.post("/v1/prize-claims", json={"scan_id": scanned["scan_id"]},
                                  headers=auth(w.till))
    assert confirmed.status_code == 409, confirmed.text
    assert "offline scan is claimed by its sync" in confirmed.json()["detail"]
