"""`couponchain migrate` on the real node (issue 23): a deployment with
participants, a limited edition, a prize campaign, token balances and referral
purchases whose contracts changed is deployed anew, its state carried over
(read by the new contracts from the old ones, the funds the old referrals
contract held moved to the new one), the old contracts recorded as retired, and
the platform goes on with the new contracts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from couponchain.api.app import create_app
from couponchain.chain import contracts, migrate
from couponchain.chain.gateway import Call
from couponchain.errors import ConfigurationError
from couponchain.runtime import Runtime
from couponchain.store.models import Deployment, RetiredDeployment
from tests.api_auth import auth
from tests.integration.answers import ADMIN
from tests.integration.conftest import make_settings
from tests.integration.upgrade_world import (
    answered,
    chain_view,
    edit_source,
    sources,  # noqa: F401 - the fixture
    start_and_stop,
)


async def _populate(client: httpx.AsyncClient) -> dict[str, Any]:
    shop = answered(await client.post("/v1/merchants", json={"name": "Cafe"}, headers=ADMIN))
    till = answered(await client.post("/v1/terminals", json={"name": "Till"}, headers=auth(shop)))
    ann, bob = [answered(await client.post("/v1/consumers", json={"name": n}, headers=auth(shop)))
                for n in ("Ann", "Bob")]
    now = int(time.time())
    edition = answered(await client.post("/v1/editions", headers=auth(shop), json={
        "brand": "Cafe", "title": "Latte", "terms": "One latte.", "prefix": "LATTE",
        "total_pieces": 5, "price": 300,
        "valid_from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600)),
        "valid_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 86400))}))
    for buyer in (ann, ann, bob):
        answered(await client.post(f"/v1/editions/{edition['id']}/sales", headers=auth(till),
                                   json={"buyer": buyer["id"], "order_ref": "POS"}))
    answered(await client.post("/v1/coupons/LATTE-000001/transfer", json={"to": bob["id"]},
                               headers=auth(ann)))
    answered(await client.post("/v1/coupons/LATTE-000001/redeem", headers=auth(till)))
    answered(await client.post("/v1/coupons/LATTE-000002/void", headers=auth(shop)))
    campaign = answered(await client.post("/v1/prize-campaigns", headers=auth(shop), json={
        "title": "Spring draw", "prizes": [{"name": "Mug", "quantity": 5},
                                           {"name": "Tote", "quantity": 1}],
        "terminals": [till["id"]], "ends_at": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600)), "per_consumer_limit": 2}))
    answered(await client.post(f"/v1/prize-campaigns/{campaign['id']}/awards", headers=auth(shop),
                               json={"awards": [{"consumer": ann["id"], "prize_index": 0},
                                                {"consumer": bob["id"], "prize_index": 1}]}))
    for person in (ann, bob):
        answered(await client.post("/v1/credits", json={"to": person["id"], "amount": 5_000_000},
                                   headers=ADMIN))
    product = answered(await client.post("/v1/products", headers=auth(shop), json={
        "name": "Song", "description": "A recording", "price": 100_000, "circulation": 3}))
    for buyer, quantity in ((ann, 2), (bob, 1)):
        await _buy(client, buyer, product["id"], quantity)
    answered(await client.post(f"/v1/products/{product['id']}/batches", headers=auth(shop),
                               json={"price": 200_000, "circulation": 10, "rebate_bps": 1_000}))
    link = answered(await client.post(f"/v1/products/{product['id']}/links", json={},
                                      headers=auth(ann)))["link"]
    await _buy(client, bob, product["id"], 2, link)  # batch 2, through Ann's link
    return {"shop": shop, "till": till, "ann": ann, "bob": bob, "edition": edition,
            "campaign": campaign, "product": product}


async def _buy(client: httpx.AsyncClient, buyer: dict[str, Any], product_id: int,
               quantity: int, link: str | None = None) -> dict[str, Any]:
    current = answered(await client.get(f"/v1/products/{product_id}"))["current"]
    return answered(await client.post(f"/v1/products/{product_id}/purchases", headers=auth(buyer),
                                      json={"quantity": quantity, "batch": current["batch"],
                                            "max_price": current["price"]}
                                      | ({"link": link} if link else {})))


async def _money(runtime: Runtime, addresses: dict[str, str], world: dict[str, Any],
                 client: httpx.AsyncClient) -> dict[str, Any]:
    """Token balances, referral holdings and payouts, through the chain and the API."""
    people = [world[k]["address"] for k in ("shop", "till", "ann", "bob")]
    chain = {
        "supply": await chain_view(runtime, addresses["token"], "totalSupply", contract="token"),
        "balances": [await chain_view(runtime, addresses["token"], "balanceOf", a, contract="token")
                     for a in people],
        "claimable": [await chain_view(runtime, addresses["referrals"], "claimable", a,
                                       contract="referrals") for a in people],
        "units": [await chain_view(runtime, addresses["referrals"], "units_of", 1, a,
                                   contract="referrals") for a in people],
        "product": await chain_view(runtime, addresses["referrals"], "product", 1,
                                    contract="referrals"),
        "batches": [await chain_view(runtime, addresses["referrals"], "batch", 1, b,
                                     contract="referrals") for b in (1, 2)],
    }
    api = {k: answered(await client.get("/v1/payouts/me", headers=auth(world[k])))["claimable"]
           for k in ("shop", "ann", "bob")}
    holdings = answered(await client.get("/v1/holdings/me", headers=auth(world["bob"])))
    api["bob_units"] = [p["units"] for p in holdings["products"]]
    return {"chain": chain, "api": api}


async def test_migrate_carries_participants_editions_and_coupons_over(
    sources: Path, tmp_path: Path, database_url: str, node_url: str  # noqa: F811
) -> None:
    settings = make_settings(tmp_path, database_url, node_url)
    runtime = Runtime(settings)
    await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(
                app=create_app(runtime, manage_runtime=False)), base_url="http://test") as client:
            world = await _populate(client)
            money_before = await _money(runtime, runtime.addresses, world, client)
        old = dict(runtime.addresses)
        coupon_ids = [(1 << 32) | serial for serial in (1, 2, 3)]
        before = [await chain_view(runtime, old["editions"], "edition", 1)] + [
            await chain_view(runtime, old["editions"], "coupon", c) for c in coupon_ids]
        prize_views = [("campaign", 1), ("prize", 1, 0), ("prize", 1, 1), ("award_of", 1),
                       ("award_of", 2), ("terminal_eligible", 1, world["till"]["address"])]
        prizes_before = [await chain_view(runtime, old["prizes"], *v, contract="prizes")
                         for v in prize_views]
    finally:
        await runtime.stop()

    edit_source(sources / "editions.vy", '"editions: empty batch"', '"editions: no coupons"')
    with pytest.raises(ConfigurationError, match="couponchain migrate"):
        await start_and_stop(settings)

    runtime = Runtime(settings)
    runtime.migrate_contracts = True
    await runtime.start()
    try:
        new = dict(runtime.addresses)
        assert all(new[name] != old[name] for name in old)
        after = [await chain_view(runtime, new["editions"], "edition", 1)] + [
            await chain_view(runtime, new["editions"], "coupon", c) for c in coupon_ids]
        assert after == before, "editions and coupons carried over as they were"
        assert [await chain_view(runtime, new["prizes"], *v, contract="prizes")
                for v in prize_views] == prizes_before, "the campaign and its awards too"
        # The old capabilities were paused in the old registry before the copy: they
        # refuse every write from then on, and the pause is a public event.
        registry = contracts.load("registry")
        for name in ("editions", "promotions", "prizes", "referrals", "marketing"):
            data = "0x" + registry.encode_call("paused", old[name]).hex()
            answer = await runtime.rpc.call("eth_call", {"to": old["registry"], "data": data},
                                            "latest")
            assert int(answer, 16) == 1, name
        async with runtime.db.session() as s:
            rows = {d.name: d for d in (await s.execute(select(Deployment))).scalars()}
            retired = {r.name: r for r in (await s.execute(select(RetiredDeployment))).scalars()}
        assert {name: row.version for name, row in rows.items()} == dict.fromkeys(old, 2)
        assert {name: (r.address, r.replaced_by, r.version) for name, r in retired.items()} == {
            name: (old[name], new[name], 1) for name in old}

        async with httpx.AsyncClient(transport=httpx.ASGITransport(
                app=create_app(runtime, manage_runtime=False)), base_url="http://test") as client:
            # Token balances, referral holdings and what each may withdraw: unchanged,
            # on the chain and through the API; the old referrals' funds are the new one's.
            assert await _money(runtime, new, world, client) == money_before
            assert await chain_view(runtime, new["token"], "balanceOf", new["referrals"],
                                    contract="token") == await chain_view(
                runtime, old["token"], "balanceOf", old["referrals"], contract="token")
            ann = world["ann"]
            owed = int(money_before["api"]["ann"]["referrals"])
            paid = answered(await client.post("/v1/payouts/me/withdraw", headers=auth(ann)))
            assert owed > 0 and paid["total"] == owed
            # Ann's new link (bound to the new contract) sells batch 2 on.
            link = answered(await client.post(f"/v1/products/{world['product']['id']}/links",
                                              json={}, headers=auth(ann)))["link"]
            await _buy(client, world["bob"], world["product"]["id"], 1, link)
            shop, till, bob = world["shop"], world["till"], world["bob"]
            first = answered(await client.get("/v1/coupons/LATTE-000001"))
            assert (first["status"], first["owner"]) == ("redeemed", bob["address"])
            # The carried-over terminal redeems a carried-over coupon on the new contract,
            redeemed = answered(await client.post("/v1/coupons/LATTE-000003/redeem",
                                                  headers=auth(till)))
            assert redeemed["coupon"]["status"] == "redeemed"
            # sells after the last serial,
            sale = answered(await client.post(f"/v1/editions/{world['edition']['id']}/sales",
                                              headers=auth(till),
                                              json={"buyer": bob["id"], "order_ref": "POS-4"}))
            assert sale["coupon"]["serial"] == "LATTE-000004"
            # and the merchant awards on after the last award id,
            more = answered(await client.post(
                f"/v1/prize-campaigns/{world['campaign']['id']}/awards", headers=auth(shop),
                json={"awards": [{"consumer": bob["id"], "prize_index": 0}]}))
            assert [a["id"] for a in more["awards"]] == [3]
            # and the new registry keeps today's rule: terminals by their merchant only.
            refused = await client.post("/v1/terminals", json={"name": "Rogue"}, headers=ADMIN)
            assert refused.status_code == 403
            answered(await client.post("/v1/terminals", json={"name": "Till 2"},
                                       headers=auth(shop)))
    finally:
        await runtime.stop()

    restarted = Runtime(settings)  # the new deployment starts as any other
    await restarted.start()
    try:
        assert restarted.addresses == new
    finally:
        await restarted.stop()


async def test_migrate_refuses_state_it_cannot_carry_before_sending_anything(
    sources: Path, tmp_path: Path, database_url: str, node_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every capability is carried now: marketing stands for one added later
    # without a carry-over.
    monkeypatch.setattr(migrate, "CARRIED", tuple(n for n in migrate.CARRIED if n != "marketing"))
    settings = make_settings(tmp_path, database_url, node_url)
    runtime = Runtime(settings)
    await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(
                app=create_app(runtime, manage_runtime=False)), base_url="http://test") as client:
            answered(await client.post("/v1/merchants", json={"name": "Cafe"}, headers=ADMIN))
        platform = await runtime.participants.signer(runtime.platform.caller.id)
        now = int(time.time())
        await runtime.gateway.submit(platform, Call("marketing", "anchor_logs", (
            1, "0x" + "00" * 20, b"\x01" * 32, 1, now, now)), op_key="test:anchor")
        old = dict(runtime.addresses)
        head = int(await runtime.rpc.call("eth_blockNumber"), 16)
    finally:
        await runtime.stop()
    edit_source(sources / "editions.vy", '"editions: empty batch"', '"editions: no coupons"')
    runtime = Runtime(settings)
    runtime.migrate_contracts = True
    try:
        with pytest.raises(ConfigurationError, match=r"not yet marketing, which has \d+ events? "):
            await runtime.start()
        assert int(await runtime.rpc.call("eth_blockNumber"), 16) == head, "nothing sent"
        async with runtime.db.session() as s:
            rows = {d.name: (d.address, d.version) for d in (await s.execute(
                select(Deployment))).scalars()}
        assert rows == {name: (address, 1) for name, address in old.items()}
    finally:
        await runtime.stop()
