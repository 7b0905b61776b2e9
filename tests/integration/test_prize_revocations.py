"""Revoking a prize award end to end: API, gateway, embedded node, read models."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from couponchain.runtime import Runtime
from couponchain.store.models import PrizeRevocation
from tests.api_auth import auth
from tests.integration.prizes_world import (
    award_prize,
    failed_conditions,
    prize_code,
    prize_world,
    scan_code,
    settled_scan,
    start_campaign,
)


async def _revoke(client: httpx.AsyncClient, who: dict[str, Any], award_id: int,
                  reason: str = "entered twice", key: str | None = None) -> httpx.Response:
    headers = auth(who) | ({"idempotency-key": key} if key else {})
    return await client.post(f"/v1/prize-awards/{award_id}/revoke", json={"reason": reason},
                             headers=headers)


async def test_a_revoked_award_shows_its_reason_and_its_code_is_refused(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    award_id, kept = await award_prize(client, w, campaign["id"], (w.ann, 0), (w.bob, 0))
    code = await prize_code(client, w.ann, award_id)  # shown before the revocation

    done = await _revoke(client, w.shop, award_id, "  winner entered twice  ")
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "revoked" and body["revoked_reason"] == "winner entered twice"
    assert body["revoke_tx"] == body["tx_hash"] and body["revoked_at"]
    award = (await client.get(f"/v1/prize-awards/{award_id}")).json()
    assert award["status"] == "revoked" and award["revoked_reason"] == "winner entered twice"
    mine = (await client.get("/v1/prize-awards", params={"consumer": w.ann["id"]})).json()
    assert [a["status"] for a in mine["awards"]] == ["revoked"]
    other = (await client.get(f"/v1/prize-awards/{kept}")).json()
    assert other["status"] == "awarded" and other["revoked_reason"] is None

    scan = await scan_code(client, w.till, code)
    assert not scan["claimable"]
    assert failed_conditions(scan)["not_claimed"] == "the award was revoked"
    fresh = await client.get(f"/v1/prize-awards/{award_id}/code", headers=auth(w.ann))
    assert fresh.status_code == 409 and "prizes: award revoked" in fresh.text
    stats = (await client.get(f"/v1/prize-campaigns/{campaign['id']}/stats",
                              headers=auth(w.shop))).json()
    assert stats["revoked"] == 1 and stats["awarded"] == 1  # the unit went back to the stock
    assert stats["stock"][0]["revoked"] == 1 and stats["stock"][0]["awarded"] == 1

    again = await _revoke(client, w.shop, award_id)
    assert again.status_code == 409, again.text
    assert again.json()["reason"] == "prizes: award revoked" and again.json()["field"] == "id"


async def test_a_claimed_award_or_another_merchants_is_not_revoked(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    claimed, pending, foreign = await award_prize(client, w, campaign["id"], (w.ann, 0),
                                                  (w.bob, 0), (w.cy, 0))
    scan = await scan_code(client, w.till, await prize_code(client, w.ann, claimed))
    claim = (await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                               headers=auth(w.till))).json()
    await settled_scan(client, w.till, claim)
    refused = await _revoke(client, w.shop, claimed)
    assert refused.status_code == 409 and refused.json()["reason"] == \
        "prizes: award already claimed"

    # A claim acknowledged but not yet on chain refuses the revocation too.
    scan = await scan_code(client, w.till, await prize_code(client, w.bob, pending))
    taken = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                              headers=auth(w.till))
    assert taken.status_code == 201, taken.text
    refused = await _revoke(client, w.shop, pending)
    assert refused.status_code == 409 and "already claimed" in refused.json()["detail"]
    await settled_scan(client, w.till, taken.json())

    for who in (w.rival, w.cy, w.till):
        other = await _revoke(client, who, foreign)
        assert other.status_code == 403, other.text
        assert "prizes: caller is not the campaign's merchant" in other.json()["detail"]
    blank = await _revoke(client, w.shop, foreign, "   ")
    assert blank.status_code == 422 and blank.json()["field"] == "reason", blank.text
    missing = await client.post(f"/v1/prize-awards/{foreign}/revoke", json={},
                                headers=auth(w.shop))
    assert missing.status_code == 422 and missing.json()["field"] == "reason", missing.text
    unknown = await _revoke(client, w.shop, 10**9)
    assert unknown.status_code == 404
    assert (await client.get(f"/v1/prize-awards/{foreign}")).json()["status"] == "awarded"
    async with runtime.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(PrizeRevocation)) == 0


async def test_a_retried_revocation_answers_the_first_and_revokes_once(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await prize_world(client)
    campaign = await start_campaign(client, w)
    (award_id,) = await award_prize(client, w, campaign["id"], (w.ann, 1))
    first = await _revoke(client, w.shop, award_id, key="revoke-1")
    second = await _revoke(client, w.shop, award_id, key="revoke-1")
    assert first.status_code == second.status_code == 200, second.text
    assert first.json()["tx_hash"] == second.json()["tx_hash"]
    changed = await _revoke(client, w.shop, award_id, "other words", key="revoke-1")
    assert changed.status_code == 422  # same key, other payload
    stats = (await client.get(f"/v1/prize-campaigns/{campaign['id']}/stats",
                              headers=auth(w.shop))).json()
    assert stats["revoked"] == 1
