"""The dashboard's claims and redemptions from chain events, beside the access-log funnel."""

from __future__ import annotations

import time

import httpx

from tests.api_auth import auth
from tests.integration.editions_world import sell_and_redeem
from tests.integration.marketing_world import ingest_logs, marketing_world, record


async def test_redemptions_come_from_chain_events_not_from_logged_verbs(
        client: httpx.AsyncClient) -> None:
    w = await marketing_world(client)
    now = int(time.time())
    # The till logs five "redeem" operations; the chain records one redemption.
    await ingest_logs(client, w.till, [record(w.number, f"10.7.0.{i}", now - 60 + i, "redeem")
                                       for i in range(5)])
    await sell_and_redeem(client, w.shop, w.till, "TEA")
    other_till = (await client.post("/v1/terminals", json={"name": "Other till"},
                                    headers=auth(w.other))).json()
    await sell_and_redeem(client, w.other, other_till, "NOODLE")  # another merchant's
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
