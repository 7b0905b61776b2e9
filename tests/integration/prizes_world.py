"""A merchant with terminals and consumers, prize campaigns, awards, the winners' rotating
codes and the terminals' scans, all through the API: what the prize tests and the tests
built on them share."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.api_auth import auth


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


@dataclass
class World:
    """A merchant with two terminals, another merchant with one, three consumers."""

    shop: dict[str, Any]
    till: dict[str, Any]
    till2: dict[str, Any]
    rival: dict[str, Any]
    rival_till: dict[str, Any]
    ann: dict[str, Any]
    bob: dict[str, Any]
    cy: dict[str, Any]


async def prize_world(client: httpx.AsyncClient) -> World:
    shop = (await client.post("/v1/merchants", json={"name": "Tea House"})).json()
    rival = (await client.post("/v1/merchants", json={"name": "Noodle Bar"})).json()
    till, till2 = [(await client.post("/v1/terminals", json={"name": n},
                                      headers=auth(shop))).json() for n in ("Till 1", "Till 2")]
    rival_till = (await client.post("/v1/terminals", json={"name": "Till"},
                                    headers=auth(rival))).json()
    ann, bob, cy = [(await client.post("/v1/consumers", json={"name": n})).json()
                    for n in ("Ann", "Bob", "Cy")]
    return World(shop, till, till2, rival, rival_till, ann, bob, cy)


async def start_campaign(client: httpx.AsyncClient, w: World, **overrides: Any) -> dict[str, Any]:
    body = {"title": "Summer draw", "prizes": [{"name": "Mug", "quantity": 5},
                                               {"name": "Tote", "quantity": 1}],
            "terminals": [w.till["id"], w.till2["address"]],
            "ends_at": iso(time.time() + 3_600), "per_consumer_limit": 2, **overrides}
    made = await client.post("/v1/prize-campaigns", json=body, headers=auth(w.shop))
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


async def award_prize(client: httpx.AsyncClient, w: World, campaign_id: int,
                      *awards: tuple[dict[str, Any], int]) -> list[int]:
    made = await client.post(f"/v1/prize-campaigns/{campaign_id}/awards", headers=auth(w.shop),
                             json={"awards": [{"consumer": c["id"], "prize_index": i}
                                              for c, i in awards]})
    assert made.status_code == 201, made.text
    return [a["id"] for a in made.json()["awards"]]


async def prize_code(client: httpx.AsyncClient, consumer: dict[str, Any], award_id: int) -> str:
    got = await client.get(f"/v1/prize-awards/{award_id}/code", headers=auth(consumer))
    assert got.status_code == 200, got.text
    return got.json()["code"]  # type: ignore[no-any-return]


async def scan_code(client: httpx.AsyncClient, terminal: dict[str, Any],
                    code: str) -> dict[str, Any]:
    scanned = await client.post("/v1/prize-scans", json={"code": code}, headers=auth(terminal))
    assert scanned.status_code == 201, scanned.text
    return scanned.json()  # type: ignore[no-any-return]


async def settled_scan(client: httpx.AsyncClient, terminal: dict[str, Any],
                       claim: dict[str, Any]) -> dict[str, Any]:
    """The claim once the chain settled it, and its award's read model caught up."""
    for _ in range(400):
        got = await client.get(f"/v1/prize-claims/{claim['id']}", headers=auth(terminal))
        assert got.status_code == 200, got.text
        row = got.json()
        award = (await client.get(f"/v1/prize-awards/{claim['award_id']}")).json()
        if row["status"] != "pending" and (row["status"] == "refused"
                                           or award["status"] == "claimed"):
            return row  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"claim {claim['id']} is still pending")


def failed_conditions(scan: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["reason"] for c in scan["conditions"] if c["ok"] is False}
