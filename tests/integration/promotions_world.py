"""Two merchants, a terminal and three consumers, a promotion round opened and allocated
through the API, coupons granted and consents made: what the promotion tests and the
tests built on them share."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.api_auth import auth

SHARES = {"platform": 1_000, "issuer": 2_000, "redeemer": 2_000, "holder": 3_000,
          "earlier": 2_000}


@dataclass
class World:
    """Two merchants (the second with a terminal) and three consumers."""

    issuer: dict[str, Any]
    redeemer: dict[str, Any]
    terminal: dict[str, Any]
    ann: dict[str, Any]
    bob: dict[str, Any]
    cy: dict[str, Any]


async def promotion_world(client: httpx.AsyncClient) -> World:
    issuer = (await client.post("/v1/merchants", json={"name": "Tea House"})).json()
    redeemer = (await client.post("/v1/merchants", json={"name": "Noodle Bar"})).json()
    terminal = (await client.post("/v1/terminals", json={"name": "Till"},
                                  headers=auth(redeemer))).json()
    ann, bob, cy = [(await client.post("/v1/consumers", json={"name": n})).json()
                    for n in ("Ann", "Bob", "Cy")]
    credit = await client.post("/v1/credits", json={"to": redeemer["id"], "amount": 10_000_000})
    assert credit.status_code == 201, credit.text
    await set_incentive_cap(client, redeemer, 10_000_000)
    return World(issuer, redeemer, terminal, ann, bob, cy)


async def set_incentive_cap(client: httpx.AsyncClient, merchant: dict[str, Any],
                            cap: int) -> dict[str, Any]:
    """The merchant sets its spending cap for incentives."""
    done = await client.put(f"/v1/merchants/{merchant['id']}/incentive-cap", json={"cap": cap},
                            headers=auth(merchant))
    assert done.status_code == 200, done.text
    return done.json()  # type: ignore[no-any-return]


def round_body(w: World, window: int, **overrides: Any) -> dict[str, Any]:
    return {
        "evaluation": {"turnover": [{"merchant": w.issuer["id"], "amount": 1_000_000},
                                    {"merchant": w.redeemer["address"], "amount": 3_000_000}],
                       "consumers": 3},
        "formula": {"base_per_merchant": 10, "turnover_per_coupon": 100_000,
                    "per_consumer": 2, "max_total": 1_000_000},
        "incentive_bps": 1_000, "shares": SHARES, "rollback_window_seconds": window,
        "consent_lifetime_seconds": 120, **overrides,
    }


async def open_round(client: httpx.AsyncClient, w: World, window: int, allocate: int = 30) -> int:
    body = round_body(w, window)
    body["formula"]["per_consumer"] = max(2, allocate // 2)  # room for the allocation
    opened = await client.post("/v1/promotion-rounds", json=body)
    assert opened.status_code == 201, opened.text
    round_id = opened.json()["id"]
    allocated = await client.post(f"/v1/promotion-rounds/{round_id}/allocations",
                                  json={"allocations": [{"merchant": w.issuer["id"],
                                                         "count": allocate}]})
    assert allocated.status_code == 200, allocated.text
    return int(round_id)


async def grant_coupons(client: httpx.AsyncClient, w: World, round_id: int,
                        consumer: dict[str, Any], count: int = 1) -> list[int]:
    granted = await client.post("/v1/promotion-grants", headers=auth(w.issuer), json={
        "round_id": round_id, "grants": [{"consumer": consumer["id"], "count": count}]})
    assert granted.status_code == 201, granted.text
    return granted.json()["coupon_ids"]  # type: ignore[no-any-return]


async def consent_code(client: httpx.AsyncClient, holder: dict[str, Any], coupon_id: int,
                       merchant: str = "any", max_order_amount: int = 10**12) -> str:
    made = await client.post(f"/v1/promotion-coupons/{coupon_id}/consent", json={
        "merchant": merchant, "max_order_amount": max_order_amount}, headers=auth(holder))
    assert made.status_code == 201, made.text
    return made.json()["code"]  # type: ignore[no-any-return]


async def wait_for_status(client: httpx.AsyncClient, path: str, status: str) -> dict[str, Any]:
    """The answer at `path` once its status is `status` (or the last one after 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        body = (await client.get(path)).json()
        if body.get("status") == status or time.monotonic() > deadline:
            return body  # type: ignore[no-any-return]
        await asyncio.sleep(0.3)
