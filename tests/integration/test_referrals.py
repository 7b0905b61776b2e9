"""Peer-to-peer batch sales end to end: API, gateway, embedded node, read models, payouts."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from couponchain.chain.gateway import Call
from couponchain.domain import links
from couponchain.domain.rebates import Ledger
from couponchain.errors import ContractRevert
from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.referrals_world import (
    CREDIT,
    PRICE_1,
    buy,
    create_product,
    open_batch,
    promotion_link,
    referral_world,
    seen_batch,
)

PRICE_2 = 1_234_567


async def _claimable(client: httpx.AsyncClient, who: dict[str, Any]) -> int:
    mine = (await client.get("/v1/payouts/me", headers=auth(who))).json()
    return int(mine["claimable"]["referrals"])


async def test_batches_links_rebates_and_payouts(client: httpx.AsyncClient,
                                                 runtime: Runtime) -> None:
    w = await referral_world(client)
    product_id = await create_product(client, w, circulation=3)
    ledger = Ledger.new(w.originator["address"], PRICE_1, 3)
    detail = (await client.get(f"/v1/products/{product_id}")).json()
    assert detail["description"] == "Song: a recording, licensed per unit"
    assert detail["current"]["status"] == "open" and detail["current"]["rebate_bps"] == 0

    # Batch 1 sells without links.
    for buyer, quantity in ((w.ann, 2), (w.bob, 1)):
        bought = await buy(client, buyer, product_id, quantity)
        assert bought.status_code == 201, bought.text
        assert bought.json()["promoter"] is None and bought.json()["rebate"] == 0
        ledger.purchase(buyer["address"], quantity)

    # Batch 2, with a rebate ratio under the platform's cap.
    over_cap = await open_batch(client, w, product_id, PRICE_2, 5, 3_001)
    assert over_cap.status_code == 422 and over_cap.json()["field"] == "rebate_bps"
    opened = await open_batch(client, w, product_id, PRICE_2, 5, 1_000)
    assert opened.status_code == 201, opened.text
    assert opened.json()["current_batch"] == 2
    assert opened.json()["current"]["eligible_units"] == 3
    ledger.open_batch(PRICE_2, 5, 1_000)

    # Ann's link: text, purchase-page URL, QR; it verifies before anyone pays.
    made = await client.post(f"/v1/products/{product_id}/links", json={}, headers=auth(w.ann))
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["usable_now"] is True
    assert link["path"] == f"/products/{product_id}/buy?link={quote(link['link'])}"
    assert link["url"].endswith(link["path"])
    assert link["qr_svg"].startswith("data:image/svg+xml")
    assert link["expiry"] > time.time() + 29 * 86_400
    checked = await client.get(f"/v1/products/{product_id}/links/{link['link']}")
    assert checked.status_code == 200, checked.text
    shown = checked.json()
    assert shown["valid"] is True and shown["link_hash"] == link["link_hash"]
    assert shown["promoter"] == {"address": w.ann["address"], "id": w.ann["id"],
                                 "name": "Ann"}
    assert shown["product"]["originator"] == w.originator["address"]
    assert shown["product"]["originator_name"] == "Song Studio"
    assert shown["product"]["contract"] == runtime.gateway.contracts["referrals"][0]
    assert shown["product"]["chain_id"] == runtime.chain_id

    # Cy buys through it; a retry with the same key applies once.
    bought = await buy(client, w.cy, product_id, 3, link["link"], key="order-1")
    assert bought.status_code == 201, bought.text
    again = await buy(client, w.cy, product_id, 3, link["link"], key="order-1")
    assert again.json() == bought.json()
    split = ledger.purchase(w.cy["address"], 3, promoter=w.ann["address"])
    sale = bought.json()
    assert sale["promoter"] == w.ann["address"] and sale["link_hash"] == link["link_hash"]
    assert (sale["amount"], sale["rebate"], sale["promoter_amount"], sale["holders_amount"],
            sale["originator_amount"]) == (split.amount, split.rebate, split.promoter,
                                           split.holders, split.originator)
    assert sale["units_held"] == 3
    # Dee buys the last two units through Bob's link: the batch sells out.
    bob_link = await promotion_link(client, w.bob, product_id)
    last = await buy(client, w.dee, product_id, 2, bob_link)
    assert last.status_code == 201, last.text
    ledger.purchase(w.dee["address"], 2, promoter=w.bob["address"])

    # Every account's claimable is the reference model's, and the parts add up.
    people = (w.originator, w.ann, w.bob, w.cy, w.dee)
    for who in people:
        assert await _claimable(client, who) == ledger.credited[who["address"]], who["name"]
    assert sum(ledger.credited[p["address"]] for p in people) == ledger.paid
    assert await runtime.view("token", "balanceOf",
                              runtime.gateway.contracts["referrals"][0]) == ledger.paid
    detail = (await client.get(f"/v1/products/{product_id}")).json()
    assert [b["sold"] for b in detail["batches"]] == [3, 5]
    assert detail["batches"][1]["status"] == "sold_out"
    totals = detail["totals"]
    assert totals["revenue"] == ledger.paid
    assert totals["originator_paid"] == ledger.credited[w.originator["address"]]
    assert totals["promoter_paid"] + totals["holders_paid"] == totals["rebates"]
    sales = (await client.get(f"/v1/products/{product_id}/purchases")).json()["purchases"]
    assert [(s["buyer_id"], s["promoter_id"], s["quantity"]) for s in sales] == [
        (w.dee["id"], w.bob["id"], 2), (w.cy["id"], w.ann["id"], 3),
        (w.bob["id"], None, 1), (w.ann["id"], None, 2)]
    listed = (await client.get("/v1/products",
                               params={"originator": w.originator["id"]})).json()
    assert [p["id"] for p in listed["products"]] == [product_id]

    # The holder view: units and rebates, exact before any settlement.
    ann_view = (await client.get("/v1/holdings/me", headers=auth(w.ann))).json()
    (held,) = ann_view["products"]
    assert held["units"] == 2 and held["may_promote"] and held["promoted_sales"] == 1
    assert held["rebates"]["promoter"] == split.promoter
    assert held["rebates"]["total"] == ledger.credited[w.ann["address"]]
    assert held["rebates"]["holder_settled"] == 0
    cy_view = (await client.get("/v1/holdings/me", headers=auth(w.cy))).json()
    assert cy_view["products"][0]["units_by_batch"] == [{"batch": 2, "units": 3}]
    assert cy_view["products"][0]["may_promote"] is False  # batch 2 is still current

    # The originator's parts are credited at each sale.
    mine = (await client.get("/v1/payouts/me", headers=auth(w.originator))).json()
    assert mine["earned"]["referrals"] == ledger.credited[w.originator["address"]]
    assert {e["part"] for e in mine["entries"] if e["source"] == "referrals"} == {"originator"}

    # Withdrawal realises Ann's accruals and pays everything.
    balance = await runtime.view("token", "balanceOf", w.ann["address"])
    paid = await client.post("/v1/payouts/me/withdraw", headers=auth(w.ann))
    assert paid.status_code == 200, paid.text
    owed = ledger.credited[w.ann["address"]]
    assert paid.json()["total"] == owed
    assert paid.json()["token_balance"] == balance + owed == CREDIT - 2 * PRICE_1 + owed
    after = (await client.get("/v1/payouts/me", headers=auth(w.ann))).json()
    assert after["claimable"]["referrals"] == 0
    assert after["earned"]["referrals"] == after["withdrawn"]["referrals"] == owed
    parts = {e["part"]: e["amount"] for e in after["entries"] if e["source"] == "referrals"}
    assert parts["withdrawal"] == -owed and parts["promoter"] == split.promoter
    assert parts["holder"] == owed - split.promoter
    settled = (await client.get("/v1/holdings/me", headers=auth(w.ann))).json()
    assert settled["products"][0]["rebates"]["holder_pending"] == 0
    empty = await client.post("/v1/payouts/me/withdraw", headers=auth(w.ann))
    assert empty.status_code == 409
    originator_paid = await client.post("/v1/payouts/me/withdraw", headers=auth(w.originator))
    assert originator_paid.json()["total"] == ledger.credited[w.originator["address"]]


async def test_link_attacks_and_bad_purchases_are_refused(client: httpx.AsyncClient,
                                                          runtime: Runtime) -> None:
    w = await referral_world(client)
    product_id = await create_product(client, w, circulation=2)
    other_product = await create_product(client, w, circulation=5, name="Film")
    assert (await buy(client, w.ann, other_product)).status_code == 201
    ann_other_link = await promotion_link(client, w.ann, other_product)
    # Batch 1 refuses links; buyers and holders only.
    with_link = await buy(client, w.bob, other_product, 1, ann_other_link)
    assert with_link.status_code == 422 and with_link.json()["field"] == "link"
    by_merchant = await buy(client, w.other, product_id)
    assert by_merchant.status_code == 403
    for buyer in (w.ann, w.bob):
        assert (await buy(client, buyer, product_id)).status_code == 201
    still_open = await open_batch(client, w, other_product, PRICE_2, 3, 1_000)
    assert still_open.status_code == 409 and still_open.json()["field"] == "id"
    foreign = await client.post(f"/v1/products/{product_id}/batches", headers=auth(w.other),
                                json={"price": PRICE_2, "circulation": 3, "rebate_bps": 0})
    assert foreign.status_code == 403
    assert (await open_batch(client, w, product_id, PRICE_2, 3, 2_000)).status_code == 201
    no_units = await client.post(f"/v1/products/{product_id}/links", json={},
                                 headers=auth(w.cy))
    assert no_units.status_code == 403

    contract = runtime.gateway.contracts["referrals"][0]
    now = int(time.time())

    async def signed(promoter: dict[str, Any], signer: dict[str, Any], *, product: int = 0,
                     expiry: int = now + 3_600, verifying: str = contract) -> str:
        key = (await runtime.participants.signer(signer["id"])).key
        link = links.Link(product=product or product_id, promoter=promoter["address"],
                          expiry=expiry)
        return links.encode_link(links.SignedLink(
            link, runtime.chain_id, verifying, links.sign_link(link, runtime.chain_id,
                                                               verifying, key)))

    attacks = {
        "expired": (await signed(w.ann, w.ann, expiry=now - 5), "link.expiry", "expired"),
        "forged": (await signed(w.ann, w.cy), "link.signature", "not signed"),
        "another product": (ann_other_link, "link.product", "another product"),
        "another contract": (await signed(w.ann, w.ann, verifying=w.ann["address"]),
                             "link.contract", "another contract"),
        "promoter without units": (await signed(w.cy, w.cy), "link.promoter",
                                   "no units of an earlier batch"),
        "malformed": ("hello", "link", "malformed"),
    }
    for label, (text, field, words) in attacks.items():
        refused = await buy(client, w.dee, product_id, 1, text)
        assert refused.status_code == 422, (label, refused.text)
        assert refused.json()["field"] == field, label
        assert words in refused.json()["detail"], label
        if label != "malformed":
            checked = await client.get(f"/v1/products/{product_id}/links/{text}")
            assert checked.status_code == 422 and checked.json()["field"] == field, label
    ann_link = await promotion_link(client, w.ann, product_id)
    self_referral = await buy(client, w.ann, product_id, 1, ann_link)
    assert self_referral.status_code == 422
    assert self_referral.json()["field"] == "link.promoter"
    assert "self-referral" in self_referral.json()["detail"]
    no_link = await buy(client, w.dee, product_id, 1)
    assert no_link.status_code == 422 and no_link.json()["field"] == "link"
    assert "promotion link" in no_link.json()["detail"]

    # Circulation is never exceeded; a buyer of batch 2 cannot promote batch 2.
    too_many = await buy(client, w.dee, product_id, 4, ann_link)
    assert too_many.status_code == 409 and too_many.json()["field"] == "quantity"
    assert "4 units asked for, 3 left" in too_many.json()["detail"]
    assert (await buy(client, w.dee, product_id, 2, ann_link)).status_code == 201
    dee_link = await promotion_link(client, w.dee, product_id)  # dee holds batch-2 units only
    current_only = await buy(client, w.cy, product_id, 1, dee_link)
    assert current_only.status_code == 422 and current_only.json()["field"] == "link.promoter"
    poor = (await client.post("/v1/consumers", json={"name": "Eve"})).json()
    unfunded = await buy(client, poor, product_id, 1, ann_link)
    assert unfunded.status_code == 409 and unfunded.json()["field"] == "quantity"
    assert "credit balance" in unfunded.json()["detail"]
    assert (await buy(client, w.cy, product_id, 1, ann_link)).status_code == 201
    sold_out = await buy(client, w.bob, product_id, 1, ann_link)
    assert sold_out.status_code == 409 and "0 left" in sold_out.json()["detail"]
    detail = (await client.get(f"/v1/products/{product_id}")).json()
    assert [b["sold"] for b in detail["batches"]] == [2, 3]
    assert (await runtime.view("referrals", "batch", product_id, 2))[3] == 3  # sold, on chain

    # Closing: only an open batch; a closed batch sells nothing.
    closed = await client.post(f"/v1/products/{other_product}/batches/current:close",
                               headers=auth(w.originator))
    assert closed.status_code == 200, closed.text
    assert closed.json()["current"]["status"] == "closed"
    after_close = await buy(client, w.bob, other_product)
    assert after_close.status_code == 409 and after_close.json()["field"] == "id"
    twice = await client.post(f"/v1/products/{other_product}/batches/current:close",
                              headers=auth(w.originator))
    assert twice.status_code == 409


async def test_a_purchase_lands_only_at_the_batch_and_price_the_buyer_saw(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Issue 23: the originator closes batch 2 and reopens at a higher price while a
    purchase is pending: it is refused with a reason naming the rule, and costs nothing."""
    w = await referral_world(client)
    product_id = await create_product(client, w, 2)
    assert (await buy(client, w.ann, product_id, 2)).status_code == 201
    assert (await open_batch(client, w, product_id, PRICE_2, 5, 1_000)).status_code == 201
    link = await client.post(f"/v1/products/{product_id}/links", json={}, headers=auth(w.ann))
    assert link.json()["current"]["batch"] == 2  # the terms the link page shows
    assert link.json()["current"]["price"] == PRICE_2
    seen = await seen_batch(client, product_id)  # the buyer looks at the link page
    assert seen == {"batch": 2, "max_price": PRICE_2}
    closed = await client.post(f"/v1/products/{product_id}/batches/current:close",
                               headers=auth(w.originator))
    assert closed.status_code == 200, closed.text
    assert (await open_batch(client, w, product_id, 3 * PRICE_2, 5, 1_000)).status_code == 201
    balance = await runtime.view("token", "balanceOf", w.bob["address"])
    changed = await buy(client, w.bob, product_id, 1, link.json()["link"], seen=seen)
    assert changed.status_code == 409, changed.text
    problem = changed.json()
    assert (problem["reason"], problem["field"]) == (
        "referrals: batch changed since the buyer saw it", "batch")
    assert "batch 3 is on sale now" in problem["detail"]
    pricier = await buy(client, w.bob, product_id, 1, link.json()["link"],
                        seen={"batch": 3, "max_price": PRICE_2})
    assert pricier.status_code == 409, pricier.text
    assert (pricier.json()["reason"], pricier.json()["field"]) == (
        "referrals: price above the buyer's maximum", "max_price")
    assert await runtime.view("token", "balanceOf", w.bob["address"]) == balance
    # The contract refuses it too, sent straight to the node past the API's checks.
    signed = links.decode_link(link.json()["link"])
    with pytest.raises(ContractRevert) as on_chain:
        await runtime.gateway.submit(
            await runtime.participants.signer(w.bob["id"]),
            Call("referrals", "purchase", fixed=(
                product_id, 1, 2, PRICE_2, signed.link.promoter, signed.link.expiry,
                signed.signature), kind="buy product units"))
    assert on_chain.value.reason == "referrals: batch changed since the buyer saw it"
    accepted = await buy(client, w.bob, product_id, 1, link.json()["link"])  # new terms seen
    assert accepted.status_code == 201, accepted.text
    assert (accepted.json()["batch"], accepted.json()["amount"]) == (3, 3 * PRICE_2)


async def test_a_retried_purchase_whose_answer_was_lost_reports_that_purchase(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """The last unit sold, then the answer was lost: the retry (same key) reports the
    purchase instead of "not enough units left"; a new request is refused."""
    w = await referral_world(client)
    product_id = await create_product(client, w, circulation=1)
    ann = await runtime.participants.authenticate(w.ann["api_key"])
    terms = await runtime.referrals.current_terms(product_id)
    bought = await runtime.referrals.purchase(ann, product_id, 1, None, "lost-buy", **terms)
    again = await runtime.referrals.purchase(ann, product_id, 1, None, "lost-buy", **terms)
    assert again["tx_hash"] == bought["tx_hash"] and again["amount"] == bought["amount"]
    refused = await buy(client, w.ann, product_id, key="another-buy")
    assert refused.status_code == 409 and "left" in refused.json()["detail"]


async def test_the_originator_sets_each_batchs_terms_within_the_platforms_bounds(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Issue 27: rebate ratio and promoter share per batch, chosen by the originator
    within bounds only the platform moves (on chain); a batch keeps its terms when the
    bounds move, and its sales split by them."""
    w = await referral_world(client)
    bounds = await client.get("/v1/rebate-bounds")
    assert bounds.status_code == 200, bounds.text
    assert bounds.json() == {"max_rebate_bps": 3_000, "min_promoter_share_bps": 500,
                             "max_promoter_share_bps": 5_000}
    product_id = await create_product(client, w, 2)
    assert (await buy(client, w.ann, product_id, 2)).status_code == 201

    async def open_with(rebate_bps: int, share_bps: int) -> httpx.Response:
        return await client.post(
            f"/v1/products/{product_id}/batches", headers=auth(w.originator),
            json={"price": PRICE_2, "circulation": 5, "rebate_bps": rebate_bps,
                  "promoter_share_bps": share_bps})

    for rebate_bps, share_bps, field, words in (
            (1_000, 5_001, "promoter_share_bps", "500 to 5000 basis points"),
            (1_000, 499, "promoter_share_bps", "500 to 5000 basis points"),
            (3_001, 2_000, "rebate_bps", "0 to 3000 basis points"),
            (1_000, -1, "promoter_share_bps", ""), (1_000, 10_001, "promoter_share_bps", "")):
        refused = await open_with(rebate_bps, share_bps)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == field and words in refused.json()["detail"]

    # Only the platform moves the bounds; the contract refuses anyone else too.
    by_merchant = await client.put("/v1/rebate-bounds", headers=auth(w.originator), json={
        "max_rebate_bps": 10_000, "min_promoter_share_bps": 0, "max_promoter_share_bps": 10_000})
    assert by_merchant.status_code == 403, by_merchant.text
    with pytest.raises(ContractRevert) as on_chain:
        await runtime.gateway.submit(
            await runtime.participants.signer(w.originator["id"]),
            Call("referrals", "set_rebate_bounds", fixed=(10_000, 0, 10_000),
                 kind="set rebate bounds"))
    assert on_chain.value.reason == "referrals: caller is not the platform"
    upside_down = await client.put("/v1/rebate-bounds", json={
        "max_rebate_bps": 5_000, "min_promoter_share_bps": 8_000, "max_promoter_share_bps": 1_000})
    assert upside_down.status_code == 422
    assert upside_down.json()["field"] == "min_promoter_share_bps"
    widened = await client.put("/v1/rebate-bounds", json={
        "max_rebate_bps": 5_000, "min_promoter_share_bps": 1_000, "max_promoter_share_bps": 8_000})
    assert widened.status_code == 200, widened.text
    assert widened.json()["max_promoter_share_bps"] == 8_000 and widened.json()["tx_hash"]
    assert await runtime.view("referrals", "max_promoter_share_bps") == 8_000

    # Batch 2 at 40 % rebate, 75 % of it to the promoter: recorded on chain and read models.
    opened = await open_with(4_000, 7_500)
    assert opened.status_code == 201, opened.text
    assert (opened.json()["current"]["rebate_bps"],
            opened.json()["current"]["promoter_share_bps"]) == (4_000, 7_500)
    on_chain_batch = await runtime.view("referrals", "batch", product_id, 2)
    assert (on_chain_batch[2], on_chain_batch[10]) == (4_000, 7_500)
    link = await promotion_link(client, w.ann, product_id)
    shown = (await client.get(f"/v1/products/{product_id}/links/{link}")).json()
    assert shown["product"]["current"]["promoter_share_bps"] == 7_500

    # The platform narrows the bounds while batch 2 is on sale: its terms stay.
    narrowed = await client.put("/v1/rebate-bounds", json={
        "max_rebate_bps": 1_000, "min_promoter_share_bps": 1_000, "max_promoter_share_bps": 2_000})
    assert narrowed.status_code == 200, narrowed.text
    ledger = Ledger.new(w.originator["address"], PRICE_1, 2)
    ledger.purchase(w.ann["address"], 2)
    ledger.open_batch(PRICE_2, 5, 4_000, 7_500)
    bought = await buy(client, w.bob, product_id, 2, link)
    assert bought.status_code == 201, bought.text
    split = ledger.purchase(w.bob["address"], 2, promoter=w.ann["address"])
    assert (bought.json()["rebate"], bought.json()["promoter_amount"],
            bought.json()["holders_amount"]) == (split.rebate, split.promoter, split.holders)
    assert split.promoter == split.rebate * 7_500 // 10_000
    detail = (await client.get(f"/v1/products/{product_id}")).json()
    assert [(b["rebate_bps"], b["promoter_share_bps"]) for b in detail["batches"]] == [
        (0, 0), (4_000, 7_500)]
    assert detail["totals"]["promoter_paid"] == split.promoter
    # The next batch must fit the new bounds.
    closed = await client.post(f"/v1/products/{product_id}/batches/current:close",
                               headers=auth(w.originator))
    assert closed.status_code == 200, closed.text
    too_generous = await open_with(1_000, 7_500)
    assert too_generous.status_code == 422 and "1000 to 2000" in too_generous.json()["detail"]
    with pytest.raises(ContractRevert) as past_the_api:
        await runtime.gateway.submit(
            await runtime.participants.signer(w.originator["id"]),
            Call("referrals", "open_batch", fixed=(product_id, PRICE_2, 5, 1_000, 7_500),
                 kind="open product batch"))
    assert past_the_api.value.reason == "referrals: promoter share above the platform maximum"
    assert (await open_with(1_000, 2_000)).status_code == 201
