"""Promotion coupons end to end: API, gateway, embedded node, read models, payouts."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import segno
from click.testing import CliRunner
from sqlalchemy import select

from couponchain.api.app import create_app
from couponchain.cli import main
from couponchain.domain import consent as consent_rules
from couponchain.errors import ContractRevert
from couponchain.runtime import Runtime
from couponchain.store.models import PromotionEvaluation
from tests.api_auth import auth
from tests.integration.promotions_world import (
    SHARES,
    consent_code,
    grant_coupons,
    open_round,
    promotion_world,
    round_body,
    set_incentive_cap,
    wait_for_status,
)
from tests.integration.read_models import assert_replays_alike
from tests.ports import serve_app

ANY = consent_rules.ANY_MERCHANT


def _bounded(coupon: int, nonce: int, expiry: int) -> consent_rules.Consent:
    """A consent any merchant may use for orders up to 1,000,000."""
    return consent_rules.Consent(coupon, nonce, expiry, ANY, 1_000_000)


async def test_round_preview_matches_the_opened_round(client: httpx.AsyncClient) -> None:
    w = await promotion_world(client)
    preview = await client.post("/v1/promotion-rounds:evaluate", json=round_body(w, 0))
    assert preview.status_code == 200, preview.text
    p = preview.json()
    # 2 merchants * 10 + 4,000,000 // 100,000 + (3 registered + 3 declared consumers) * 2
    assert (p["total"], p["merchant_part"], p["turnover_part"], p["consumer_part"]) == (
        72, 20, 40, 12)
    opened = (await client.post("/v1/promotion-rounds", json=round_body(w, 0))).json()
    assert opened["total"] == 72 and opened["inputs_hash"] == p["inputs_hash"]
    assert opened["evaluation"]["turnover"][0][1] in ("1000000", "3000000")
    assert opened["evaluation"]["measured"]["consumers"] == "3"
    assert opened["evaluation"]["declared"]["consumers"] == "3"
    assert opened["last_coupon_id"] - opened["first_coupon_id"] == 71
    # An issued id nobody granted yet belongs to the platform's account.
    issued = (await client.get(f"/v1/promotion-coupons/{opened['first_coupon_id']}")).json()
    assert issued["status"] == "issued" and issued["path"] == []


async def test_grant_transfer_write_off_distribute_withdraw(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await promotion_world(client)
    round_id = await open_round(client, w, window=0)
    (coupon,) = await grant_coupons(client, w, round_id, w.ann)
    for sender, receiver in ((w.ann, w.bob), (w.bob, w.cy)):
        moved = await client.post(f"/v1/promotion-coupons/{coupon}/transfer",
                                  json={"to": receiver["id"]}, headers=auth(sender))
        assert moved.status_code == 200, moved.text
    code = await consent_code(client, w.cy, coupon)

    written = await client.post("/v1/write-offs", headers=auth(w.terminal) | {
        "idempotency-key": "order-1"}, json={"code": code, "order_amount": 1_000_000})
    assert written.status_code == 201, written.text
    assert written.json()["incentive"] == 100_000
    assert written.json()["merchant"] == w.redeemer["address"]
    again = await client.post("/v1/write-offs", headers=auth(w.terminal) | {
        "idempotency-key": "order-1"}, json={"code": code, "order_amount": 1_000_000})
    assert again.json() == written.json()  # the retry applied nothing twice
    replay = await client.post("/v1/write-offs", headers=auth(w.terminal),
                               json={"code": code, "order_amount": 1_000_000})
    assert replay.status_code == 409 and "not active" in replay.json()["detail"]

    done = await wait_for_status(client, f"/v1/promotion-coupons/{coupon}", "distributed")
    assert done["status"] == "distributed" and done["pool"] == 100_000
    assert [s["action"] for s in done["path"]] == [
        "granted", "transferred", "transferred", "written_off", "distributed"]
    expected = {w.cy["address"]: 30_000, w.ann["address"]: 10_000, w.bob["address"]: 10_000,
                w.issuer["address"]: 20_000, w.redeemer["address"]: 20_000}
    for who in (w.cy, w.ann, w.bob, w.issuer, w.redeemer):
        mine = (await client.get("/v1/payouts/me", headers=auth(who))).json()
        assert mine["claimable"]["promotions"] == expected[who["address"]], who["name"]
        assert mine["entries"][0]["reference"] == str(coupon)
    platform = (await client.get("/v1/payouts/me")).json()
    assert platform["claimable"]["promotions"] == 10_000
    assert sum(expected.values()) + 10_000 == 100_000  # the parts add up to the pool

    paid = await client.post("/v1/payouts/me/withdraw", headers=auth(w.cy))
    assert paid.status_code == 200, paid.text
    assert paid.json()["total"] == 30_000 and paid.json()["token_balance"] == 30_000
    empty = await client.post("/v1/payouts/me/withdraw", headers=auth(w.cy))
    assert empty.status_code == 409 and "nothing to withdraw" in empty.json()["detail"]
    after = (await client.get("/v1/payouts/me", headers=auth(w.cy))).json()
    assert after["total_claimable"] == 0 and after["withdrawn"]["promotions"] == 30_000
    # The merchant paid exactly the incentive.
    balance = await runtime.view("token", "balanceOf", w.redeemer["address"])
    assert balance == 10_000_000 - 100_000

    timeline = (await client.get("/v1/write-offs/timeline",
                                 params={"merchant": w.redeemer["id"]})).json()
    assert sum(p["write_offs"] for p in timeline["points"]) == 1
    assert sum(p["incentives"] for p in timeline["points"]) == 100_000
    await assert_replays_alike(runtime)


async def test_reversal_inside_the_window(client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await promotion_world(client)
    round_id = await open_round(client, w, window=3_600)
    (coupon,) = await grant_coupons(client, w, round_id, w.ann)
    code = await consent_code(client, w.ann, coupon)
    written = await client.post("/v1/write-offs", headers=auth(w.redeemer),
                                json={"code": code, "order_amount": 250_000})
    assert written.status_code == 201, written.text
    foreign = await client.post(f"/v1/promotion-coupons/{coupon}/write-off-reversal",
                                headers=auth(w.issuer))
    assert foreign.status_code == 403
    reversed_ = await client.post(f"/v1/promotion-coupons/{coupon}/write-off-reversal",
                                  headers=auth(w.terminal))
    assert reversed_.status_code == 200, reversed_.text
    body = reversed_.json()["coupon"]
    assert body["status"] == "active" and body["holder"] == w.ann["address"]
    assert body["path"][-1]["action"] == "reversed" and body["path"][-1]["amount"] == 25_000
    assert await runtime.view("token", "balanceOf", w.redeemer["address"]) == 10_000_000
    # The reversed consent stays spent; a new one writes the coupon off again.
    replay = await client.post("/v1/write-offs", headers=auth(w.redeemer),
                               json={"code": code, "order_amount": 250_000})
    assert replay.status_code == 409 and "nonce already used" in replay.json()["detail"]
    fresh = await consent_code(client, w.ann, coupon)
    again = await client.post("/v1/write-offs", headers=auth(w.redeemer),
                              json={"code": fresh, "order_amount": 250_000})
    assert again.status_code == 201, again.text


async def test_a_retry_whose_answer_was_lost_gets_what_was_applied(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """The API died after the chain applied a write and before it answered: the
    client's retry (same Idempotency-Key, no stored answer) must get that write's
    outcome, not a refusal from the read models, which already show it applied."""
    w = await promotion_world(client)
    round_id = await open_round(client, w, window=3_600)
    first, second = await grant_coupons(client, w, round_id, w.ann, count=2)
    till = await runtime.participants.authenticate(w.redeemer["api_key"])
    ann = await runtime.participants.authenticate(w.ann["api_key"])
    code = await consent_code(client, w.ann, first)
    written = await runtime.promotions.write_off(till, code, 250_000, "lost-1")
    assert await runtime.promotions.write_off(till, code, 250_000, "lost-1") == written
    with pytest.raises(ContractRevert, match="not active"):  # a new request is refused
        await runtime.promotions.write_off(till, code, 250_000, "another-key")
    moved = await runtime.promotions.transfer(ann, second, w.bob["id"], "lost-2")
    again = await runtime.promotions.transfer(ann, second, w.bob["id"], "lost-2")
    assert again["tx_hash"] == moved["tx_hash"]
    assert again["coupon"]["holder"] == w.bob["address"]


async def test_bad_requests_are_refused_with_the_field(client: httpx.AsyncClient,
                                                       runtime: Runtime) -> None:
    w = await promotion_world(client)
    bad_shares = await client.post("/v1/promotion-rounds", json=round_body(
        w, 0, shares={**SHARES, "platform": 999}))
    assert bad_shares.status_code == 422 and bad_shares.json()["field"] == "shares"
    stranger = await client.post("/v1/promotion-rounds", json=round_body(w, 0),
                                 headers=auth(w.issuer))
    assert stranger.status_code == 403
    not_merchant = round_body(w, 0)
    not_merchant["evaluation"]["turnover"][0]["merchant"] = w.ann["id"]
    refused = await client.post("/v1/promotion-rounds", json=not_merchant)
    assert refused.status_code == 422
    assert refused.json()["field"] == "evaluation.turnover.0.merchant"
    zero = await client.post("/v1/promotion-rounds", json=round_body(
        w, 0, evaluation={"turnover": [], "consumers": 0},
        formula={"turnover_per_coupon": 1, "max_total": 10}))
    assert zero.status_code == 422 and zero.json()["field"] == "evaluation"
    late = await client.post("/v1/promotion-rounds", json=round_body(
        w, 0, evaluation={"period": {"to_block": 10**12}}))
    assert late.status_code == 422 and late.json()["field"] == "evaluation.period.to_block"
    backwards = await client.post("/v1/promotion-rounds", json=round_body(
        w, 0, evaluation={"period": {"from_block": 5, "to_block": 4}}))
    assert backwards.status_code == 422
    assert backwards.json()["field"] == "evaluation.period.from_block"

    round_id = await open_round(client, w, window=3_600, allocate=2)
    over = await client.post("/v1/promotion-grants", headers=auth(w.issuer), json={
        "round_id": round_id, "grants": [{"consumer": w.ann["id"], "count": 3}]})
    assert over.status_code == 409 and "3 coupons asked for, 2 left" in over.json()["detail"]
    by_consumer = await client.post("/v1/promotion-grants", headers=auth(w.ann), json={
        "round_id": round_id, "grants": [{"consumer": w.bob["id"]}]})
    assert by_consumer.status_code == 403
    to_merchant = await client.post("/v1/promotion-grants", headers=auth(w.issuer), json={
        "round_id": round_id, "grants": [{"consumer": w.redeemer["id"]}]})
    assert to_merchant.status_code == 422 and to_merchant.json()["field"] == "grants.0.consumer"

    (coupon,) = await grant_coupons(client, w, round_id, w.ann)
    not_holder = await client.post(f"/v1/promotion-coupons/{coupon}/consent", json={
        "merchant": "any", "max_order_amount": 10}, headers=auth(w.bob))
    assert not_holder.status_code == 403
    garbage = await client.post("/v1/write-offs", headers=auth(w.terminal),
                                json={"code": "hello", "order_amount": 1})
    assert garbage.status_code == 422 and garbage.json()["field"] == "code"
    code = await consent_code(client, w.ann, coupon)
    zero_amount = await client.post("/v1/write-offs", headers=auth(w.terminal),
                                    json={"code": code, "order_amount": 0})
    assert zero_amount.status_code == 422 and zero_amount.json()["field"] == "order_amount"
    by_consumer_write_off = await client.post("/v1/write-offs", headers=auth(w.bob),
                                              json={"code": code, "order_amount": 10})

    assert by_consumer_write_off.status_code == 403
    # Consents the contract would refuse are refused before any transaction.
    contract = runtime.gateway.contracts["promotions"][0]
    ann_key = (await runtime.participants.signer(w.ann["id"])).key
    bob_key = (await runtime.participants.signer(w.bob["id"])).key
    now = int(time.time())
    cases = {
        "consent expired": (_bounded(coupon, 7, now - 5), ann_key,
                            runtime.chain_id, contract),
        "not signed by the holder": (_bounded(coupon, 8, now + 60), bob_key,
                                     runtime.chain_id, contract),
        "lifetime longer": (_bounded(coupon, 9, now + 3_000), ann_key,
                            runtime.chain_id, contract),
        "another chain": (_bounded(coupon, 10, now + 60), ann_key,
                          runtime.chain_id + 1, contract),
        "another contract": (_bounded(coupon, 11, now + 60), ann_key,
                             runtime.chain_id, w.ann["address"]),
    }
    for label, (consent, key, chain_id, verifying) in cases.items():
        signature = consent_rules.sign_consent(consent, chain_id, verifying, key)
        forged = consent_rules.encode_code(consent, signature)
        answer = await client.post("/v1/write-offs", headers=auth(w.terminal),
                                   json={"code": forged, "order_amount": 10})
        assert answer.status_code == 422, label
        assert answer.json()["field"] == "code", label
    uncapped = await client.post("/v1/write-offs", headers=auth(w.issuer),  # never set a cap
                                 json={"code": code, "order_amount": 1_000})
    assert uncapped.status_code == 409 and uncapped.json()["field"] == "order_amount"
    assert uncapped.json()["reason"] == "promotions: incentive cap exceeded"
    await set_incentive_cap(client, w.issuer, 10**9)
    unfunded = await client.post("/v1/write-offs", headers=auth(w.issuer),  # holds no credit
                                 json={"code": code, "order_amount": 1_000})
    assert unfunded.status_code == 409 and unfunded.json()["field"] == "order_amount"
    assert "credit balance" in unfunded.json()["detail"]
    coupon_now = (await client.get(f"/v1/promotion-coupons/{coupon}")).json()
    assert coupon_now["status"] == "active"


async def test_a_consent_is_good_at_its_merchant_and_up_to_its_maximum(
        client: httpx.AsyncClient) -> None:
    """Issue 23: a consent names its merchant (or any) and a maximum order amount; a
    till of another merchant, or a larger order, gets a problem naming the rule."""
    w = await promotion_world(client)
    round_id = await open_round(client, w, window=0)
    first, second = await grant_coupons(client, w, round_id, w.ann, count=2)
    # A consent must name a merchant and a maximum; a consumer is no merchant.
    for body, field in (({"max_order_amount": 5}, "merchant"),
                        ({"merchant": "any"}, "max_order_amount"),
                        ({"merchant": "any", "max_order_amount": 0}, "max_order_amount"),
                        ({"merchant": w.bob["id"], "max_order_amount": 5}, "merchant")):
        refused = await client.post(f"/v1/promotion-coupons/{first}/consent",
                                    headers=auth(w.ann), json=body)
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    await client.post("/v1/credits", json={"to": w.issuer["id"], "amount": 10_000_000})
    await set_incentive_cap(client, w.issuer, 10_000_000)
    made = await client.post(f"/v1/promotion-coupons/{first}/consent", headers=auth(w.ann),
                             json={"merchant": w.redeemer["id"], "max_order_amount": 50_000})
    assert made.status_code == 201, made.text
    consent = made.json()
    assert (consent["merchant"], consent["merchant_name"], consent["max_order_amount"]) == (
        w.redeemer["address"], "Noodle Bar", 50_000)
    code = consent["code"]
    elsewhere = await client.post("/v1/write-offs", headers=auth(w.issuer),
                                  json={"code": code, "order_amount": 1_000})
    assert elsewhere.status_code == 409, elsewhere.text
    problem = elsewhere.json()
    assert problem["reason"] == "promotions: consent is for another merchant"
    assert problem["field"] == "code"
    assert w.redeemer["address"] in problem["detail"]
    too_much = await client.post("/v1/write-offs", headers=auth(w.terminal),
                                 json={"code": code, "order_amount": 50_001})
    assert too_much.status_code == 409, too_much.text
    assert too_much.json()["reason"] == "promotions: order amount above the consent's maximum"
    assert too_much.json()["field"] == "order_amount"
    assert "50000" in too_much.json()["detail"]
    done = await client.post("/v1/write-offs", headers=auth(w.terminal),
                             json={"code": code, "order_amount": 50_000})
    assert done.status_code == 201, done.text
    assert done.json()["merchant"] == w.redeemer["address"]
    # "any" is the holder's explicit choice: then another merchant's till may use it.
    anywhere = await consent_code(client, w.ann, second, merchant="any", max_order_amount=900)
    taken = await client.post("/v1/write-offs", headers=auth(w.issuer),
                              json={"code": anywhere, "order_amount": 900})
    assert taken.status_code == 201, taken.text


async def test_incentives_are_charged_inside_the_cap_the_merchant_sets(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Issue 23: no unlimited approval; the merchant's cap is used up by each incentive,
    and a write-off beyond what is left gets a problem naming the cap."""
    w = await promotion_world(client)
    round_id = await open_round(client, w, window=0)  # incentive: 10 % of the order
    coupons = await grant_coupons(client, w, round_id, w.ann, count=3)
    path = f"/v1/merchants/{w.issuer['id']}/incentive-cap"
    never = (await client.get(path)).json()
    assert (never["cap"], never["left"], never["used"]) == (None, 0, None)
    await client.post("/v1/credits", json={"to": w.issuer["id"], "amount": 10_000_000})
    for who, body, status, field in (
            (w.terminal, {"cap": 150}, 403, None),  # a terminal never sets a cap
            (w.redeemer, {"cap": 150}, 403, None),  # nor another merchant
            (w.issuer, {"cap": 2**256 - 1}, 422, "cap"),  # a cap, never unlimited
            (w.issuer, {"cap": -1}, 422, "cap")):
        refused = await client.put(path, json=body, headers=auth(who))
        assert refused.status_code == status, refused.text
        assert field is None or refused.json()["field"] == field
    capped = await set_incentive_cap(client, w.issuer, 150)
    assert (capped["cap"], capped["left"], capped["used"]) == (150, 150, 0)
    promotions = runtime.gateway.contracts["promotions"][0]
    assert await runtime.view("token", "allowance", w.issuer["address"], promotions) == 150

    first = await client.post("/v1/write-offs", headers=auth(w.issuer), json={
        "code": await consent_code(client, w.ann, coupons[0]), "order_amount": 1_000})
    assert first.status_code == 201 and first.json()["incentive"] == 100, first.text
    after = (await client.get(path)).json()
    assert (after["cap"], after["left"], after["used"]) == (150, 50, 100)
    code = await consent_code(client, w.ann, coupons[1])
    over = await client.post("/v1/write-offs", headers=auth(w.issuer),
                             json={"code": code, "order_amount": 1_000})
    assert over.status_code == 409, over.text
    problem = over.json()
    assert (problem["reason"], problem["field"]) == ("promotions: incentive cap exceeded",
                                                     "order_amount")
    assert "incentive of 100 is more than the 50 left" in problem["detail"]
    assert (await client.get(f"/v1/promotion-coupons/{coupons[1]}")).json()["status"] == "active"
    # The cap replaces what was left.
    assert (await set_incentive_cap(client, w.issuer, 1_000))["left"] == 1_000
    again = await client.post("/v1/write-offs", headers=auth(w.issuer),
                              json={"code": code, "order_amount": 1_000})
    assert again.status_code == 201, again.text
    assert (await client.get(path)).json()["left"] == 900


async def test_a_consent_qr_photo_is_decoded_by_the_server(client: httpx.AsyncClient) -> None:
    w = await promotion_world(client)
    round_id = await open_round(client, w, window=0)
    (coupon,) = await grant_coupons(client, w, round_id, w.ann)
    code = await consent_code(client, w.ann, coupon)
    png = io.BytesIO()
    segno.make(code, error="m").save(png, kind="png", scale=6, border=4)
    decoded = await client.post("/v1/qr-decodes", content=png.getvalue(),
                                headers=auth(w.terminal) | {"content-type": "image/png"})
    assert decoded.status_code == 200, decoded.text
    assert decoded.json()["codes"] == [code]
    not_image = await client.post("/v1/qr-decodes", content=b"not an image",
                                  headers=auth(w.terminal) | {"content-type": "image/png"})
    assert not_image.status_code == 422 and not_image.json()["field"] == "image"


async def test_many_coupons_in_one_grant_and_concurrent_write_offs(
        client: httpx.AsyncClient) -> None:
    w = await promotion_world(client)
    round_id = await open_round(client, w, window=3_600, allocate=600)
    consumers = [w.ann, w.bob, w.cy]
    granted = await client.post("/v1/promotion-grants", headers=auth(w.issuer), json={
        "round_id": round_id,
        "grants": [{"consumer": c["id"], "count": 200} for c in consumers]})
    assert granted.status_code == 201, granted.text
    body = granted.json()
    assert body["granted"] == 600 and len(body["transactions"]) == 3  # calls of 256
    assert len(set(body["coupon_ids"])) == 600
    ann_coupons = (await client.get("/v1/promotion-coupons",
                                    params={"holder": w.ann["id"], "limit": 500})).json()
    assert len(ann_coupons["coupons"]) == 200
    assert {c["holder_id"] for c in ann_coupons["coupons"]} == {w.ann["id"]}
    # Forty write-offs at once from one terminal share transactions; each applies once.
    codes = [await consent_code(client, w.ann, c["id"]) for c in ann_coupons["coupons"][:40]]
    answers = await asyncio.gather(*[client.post(
        "/v1/write-offs", headers=auth(w.terminal), json={"code": code, "order_amount": 1_000})
        for code in codes])
    assert [a.status_code for a in answers] == [201] * 40
    assert len({a.json()["tx_hash"] for a in answers}) < 40
    round_now = (await client.get(f"/v1/promotion-rounds/{round_id}")).json()
    assert round_now["written_off"] == 40 and round_now["granted"] == 600


async def test_runs_of_transfers_write_offs_and_reversals_read_as_one_by_one(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Transfers and write-offs sent at once share transactions, so a block holds runs
    of one kind of event, each written in a few statements: the read models must be
    what those events applied one by one make (round counters and path rows in chain
    order included), and what replaying the stored events makes."""
    w = await promotion_world(client)
    round_id = await open_round(client, w, window=3_600, allocate=40)
    coupons = await grant_coupons(client, w, round_id, w.ann, count=30)

    async def post(path: str, who: dict[str, Any], status: int = 200, **body: Any) -> None:
        response = await client.post(path, headers=auth(who), json=body)
        assert response.status_code == status, (path, response.text)

    # Ten to Bob at once, then five of those on to Cy at once.
    await asyncio.gather(*(post(f"/v1/promotion-coupons/{c}/transfer", w.ann, to=w.bob["id"])
                           for c in coupons[:10]))
    await asyncio.gather(*(post(f"/v1/promotion-coupons/{c}/transfer", w.bob, to=w.cy["id"])
                           for c in coupons[:5]))
    holders = [w.cy] * 5 + [w.bob] * 5 + [w.ann] * 20
    # Twenty write-offs at once from the terminal and the merchant, then three
    # reversed at once, then two of those written off again with the rest at once.
    codes = [await consent_code(client, holders[i], c) for i, c in enumerate(coupons[:20])]
    await asyncio.gather(*(post("/v1/write-offs", (w.terminal, w.redeemer)[i % 2], 201,
                                code=code, order_amount=10_000 + i)
                           for i, code in enumerate(codes)))
    await asyncio.gather(*(post(f"/v1/promotion-coupons/{c}/write-off-reversal", w.terminal)
                           for c in coupons[:3]))
    again = coupons[:2] + coupons[20:25]
    codes = [await consent_code(client, holders[coupons.index(c)], c) for c in again]
    await asyncio.gather(*(post("/v1/write-offs", w.terminal, 201, code=code,
                                order_amount=20_000) for code in codes))

    await runtime.indexer.wait_for(int(await runtime.rpc.call("eth_blockNumber"), 16))
    round_now = (await client.get(f"/v1/promotion-rounds/{round_id}")).json()
    assert (round_now["granted"], round_now["written_off"]) == (30, 20 - 3 + 7)
    twice = (await client.get(f"/v1/promotion-coupons/{coupons[0]}")).json()
    assert [s["action"] for s in twice["path"]] == [
        "granted", "transferred", "transferred", "written_off", "reversed", "written_off"]
    assert (twice["status"], twice["holder"], twice["pool"]) == (
        "written_off", w.cy["address"], 2_000)
    reversed_ = (await client.get(f"/v1/promotion-coupons/{coupons[2]}")).json()
    assert (reversed_["status"], reversed_["pool"]) == ("active", None)
    once = (await client.get(f"/v1/promotion-coupons/{coupons[7]}")).json()
    assert (once["status"], once["holder"], once["pool"]) == (
        "written_off", w.bob["address"], 1_000)
    await assert_replays_alike(runtime)


async def test_check_round_recomputes_the_published_evaluation(
        client: httpx.AsyncClient, runtime: Runtime, node_url: str, tmp_path: Path) -> None:
    trust = ("--registry", runtime.addresses["registry"], "--trust-file",
             str(tmp_path / "trust.json"))
    w = await promotion_world(client)
    round_id = await open_round(client, w, window=0)
    async for api in serve_app(create_app(runtime, manage_runtime=False)):
        code, output = await _check_round(str(round_id), "--api", api, "--rpc", node_url,
                                          *trust)
        assert code == 0, output
        assert "ROUND VERIFIED" in output and "DIFFERS" not in output
        # The platform's published inputs are changed after the fact: the
        # recomputed hash no longer matches what the contract recorded.
        async with runtime.db.transaction() as s:
            row = (await s.execute(select(PromotionEvaluation))).scalar_one()
            row.inputs = {**row.inputs, "consumers": "3000"}
        code, output = await _check_round(str(round_id), "--api", api, "--rpc", node_url,
                                          *trust)
        assert code == 1, output
        assert "ROUND NOT VERIFIED" in output and "DIFFERS" in output
    code, output = await _check_round("1", "--api", "http://127.0.0.1:9")
    assert code == 2 and "Missing option '--rpc'" in output


async def _check_round(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, main, ["check-round", *args])
    return result.exit_code, result.output
