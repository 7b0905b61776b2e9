"""An originator, another merchant and four consumers with credit, products and purchases
through the API: what the referral tests and the tests built on them share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from tests.api_auth import auth

CREDIT = 100_000_000
#: The first batch's price of every product `create_product` makes.
PRICE_1 = 1_000_000


@dataclass
class World:
    """An originator, another merchant and four consumers with credit."""

    originator: dict[str, Any]
    other: dict[str, Any]
    ann: dict[str, Any]
    bob: dict[str, Any]
    cy: dict[str, Any]
    dee: dict[str, Any]


async def referral_world(client: httpx.AsyncClient) -> World:
    originator = (await client.post("/v1/merchants", json={"name": "Song Studio"})).json()
    other = (await client.post("/v1/merchants", json={"name": "Other Shop"})).json()
    people = [(await client.post("/v1/consumers", json={"name": n})).json()
              for n in ("Ann", "Bob", "Cy", "Dee")]
    for person in people:
        credit = await client.post("/v1/credits", json={"to": person["id"], "amount": CREDIT})
        assert credit.status_code == 201, credit.text
    return World(originator, other, *people)


async def create_product(client: httpx.AsyncClient, w: World, circulation: int,
                         name: str = "Song") -> int:
    made = await client.post("/v1/products", headers=auth(w.originator), json={
        "name": name, "description": f"{name}: a recording, licensed per unit",
        "price": PRICE_1, "circulation": circulation})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


async def seen_batch(client: httpx.AsyncClient, product_id: int) -> dict[str, int]:
    """What a buyer sees of the batch on sale: sent with the purchase."""
    current = (await client.get(f"/v1/products/{product_id}")).json().get("current") or {}
    return {"batch": current.get("batch", 1), "max_price": current.get("price", 1)}


async def buy(client: httpx.AsyncClient, buyer: dict[str, Any], product_id: int,
              quantity: int = 1, link: str | None = None,
              key: str | None = None, seen: dict[str, int] | None = None) -> httpx.Response:
    headers = auth(buyer) | ({"idempotency-key": key} if key else {})
    body: dict[str, Any] = {"quantity": quantity} | ({"link": link} if link else {})
    body |= seen if seen is not None else await seen_batch(client, product_id)
    return await client.post(f"/v1/products/{product_id}/purchases", json=body,
                             headers=headers)


async def open_batch(client: httpx.AsyncClient, w: World, product_id: int, price: int,
                     circulation: int, rebate_bps: int) -> httpx.Response:
    return await client.post(f"/v1/products/{product_id}/batches", headers=auth(w.originator),
                             json={"price": price, "circulation": circulation,
                                   "rebate_bps": rebate_bps})


async def promotion_link(client: httpx.AsyncClient, holder: dict[str, Any], product_id: int) -> str:
    made = await client.post(f"/v1/products/{product_id}/links", json={}, headers=auth(holder))
    assert made.status_code == 201, made.text
    return made.json()["link"]  # type: ignore[no-any-return]
