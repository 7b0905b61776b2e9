"""The dashboard's claims and redemptions from chain events, beside the access-log funnel."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.api_auth import auth
from tests.integration.marketing_world import ingest_logs, marketing_world, record


def _edition(prefix: str) -> dict[str, Any]:
    now = int(time.time())
    return {"brand": "Tea", "title": "Free cup", "terms": "One cup.", "prefix": prefix,
            "total_pieces": 5, "price": 300,
            "valid_from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600)),
            "valid_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 86400))}


async def _sell_and_redeem(client: httpx.AsyncClient, merchant: dict[str, Any],
                           till: dict[str, Any], prefix: str) -> str:
    edition = await client.post("/v1/editions", json=_edition(prefix), headers=auth(merchant))
    assert edition.status_code == 201, edition.text
    buyer = (await client.post("/v1/consumers", json={"name": "Ann"},
                               headers=auth(merchant))).json()
    sale = await client.post(f"/v1/editions/{edition.json()['id']}/sales", headers=auth(till),
                             json={"buyer": buyer["id"], "price": 300, "channel": "offline",
                                   "order_ref": f"{prefix}-1"})
    assert sale.status_code == 201, sale.text
    redeemed = await client.post(f"/v1/coupons/{sale.json()['coupon']['serial']}/redeem",
                                 headers=auth(till))
    assert redeemed.status_code == 200, redeemed.text
    return str(buyer["address"])


async def test_redemptions_come_from_chain_events_not_from_logged_verbs(
        client: httpx.AsyncClient) -> None:
    w = await marketing_world(client)
    now = int(time.time())
    # The till logs five "redeem" operations; the chain records one redemption.
    await ingest_logs(client, w.till, [record(w.number, f"10.7.0.{i}", now - 60 + i, "redeem")
                                       for i in range(5)])
    await _sell_and_redeem(client, w.shop, w.till, "TEA")
    other_till = (await client.post("/v1/terminals", json={"name": "Other till"},
                                    headers=auth(w.other))).json()
    await _sell_and_redeem(client, w.other, other_till, "NOODLE")  # another merchant's
    window = {"start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600)),
              "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600))}
    got = (await client.get(f"/v1/merchants/{w.shop['id']}/activity", params=window,
                            headers=auth(w.shop))).json()
    assert [s["visitors"] for s in got["funnel"] if s["step"] == "redeem"] == [5]
    assert got["chain_events"] == {"source": "chain events", "prize_claims": 0,
                                   "edition_redemptions": 1, "promotion_write_offs": 0}
    before = {"start": window["start"],
              "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1800))}
    earlier = (await client.get(f"/v1/merchants/{w.shop['id']}/activity", params=before,
                                headers=auth(w.shop))).json()
    assert earlier["chain_events"]["edition_redemptions"] == 0
