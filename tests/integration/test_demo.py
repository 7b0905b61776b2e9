"""The demo story (`couponchain up --demo`): every capability seeded, once."""

from __future__ import annotations

import httpx
import pytest

from couponchain.runtime import Runtime
from couponchain.services import demo


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_demo_tells_every_story_once(runtime: Runtime,
                                               client: httpx.AsyncClient) -> None:
    seeded = await demo.seed(runtime)
    assert (len(seeded["merchants"]), len(seeded["terminals"]), len(seeded["consumers"])) == (
        3, 6, 100)
    told = {
        "promotions": await demo.seed_promotions(runtime, seeded),
        "editions": await demo.seed_editions(runtime, seeded),
        "referrals": await demo.seed_referrals(runtime, seeded),
        "prizes": await demo.seed_prizes(runtime, seeded),
        "marketing": await demo.seed_marketing(runtime, seeded),
    }
    assert all(story["created"] for story in told.values()), told

    round_ = (await client.get(f"/v1/promotion-rounds/{told['promotions']['round_id']}")).json()
    assert round_["written_off"] == 40
    edition = (await client.get(f"/v1/editions/{told['editions']['edition_id']}")).json()
    assert (edition["sold"], edition["redeemed"], edition["total_pieces"]) == (65, 10, 99)
    product = (await client.get(f"/v1/products/{told['referrals']['product_id']}")).json()
    assert product["current_batch"] == 3
    assert sum(b["sold"] for b in product["batches"]) == 26
    merchant = seeded["merchants"][2]
    stats = (await client.get(f"/v1/prize-campaigns/{told['prizes']['campaign_id']}/stats",
                              headers={"authorization": f"Bearer {merchant['api_key']}"})).json()
    assert (stats["awarded"], stats["claimed"]) == (30, 12)
    assert told["marketing"]["records"] == 3 * demo.DEMO_LOG_RECORDS
    inbox = (await client.get(f"/v1/merchants/{merchant['id']}/reports",
                              headers={"authorization": f"Bearer {merchant['api_key']}"})).json()
    assert inbox["reports"] and inbox["reports"][0]["status"] == "published"
    # Every merchant's till may top consumers up (issue 24): 10,000 CCC each.
    tills = [(await client.get(f"/v1/merchants/{m['id']}/till-limit")).json()
             for m in seeded["merchants"]]
    assert [t["remaining"] for t in tills] == [10_000 * demo.CCC] * 3, tills

    # Starting the demo again on the same data finds the story instead of repeating it.
    again = await demo.seed(runtime, None)
    assert [m["id"] for m in again["merchants"]] == [m["id"] for m in seeded["merchants"]]
    for seed_story in (demo.seed_promotions, demo.seed_editions, demo.seed_referrals,
                       demo.seed_prizes, demo.seed_marketing):
        assert not (await seed_story(runtime, again))["created"]
    edition = (await client.get(f"/v1/editions/{told['editions']['edition_id']}")).json()
    assert edition["sold"] == 65
