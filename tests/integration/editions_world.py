"""A shop (a merchant with terminals and consumers), editions created through the API, and
a coupon sold and redeemed at a till: what the limited-edition tests and the tests built on
them share."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from tests.api_auth import auth


@dataclass
class Shop:
    """A merchant with two terminals and two consumers, each with its own headers."""

    merchant: dict[str, Any]
    terminals: list[dict[str, Any]]
    consumers: list[dict[str, Any]]

    @staticmethod
    def auth(participant: dict[str, Any]) -> dict[str, str]:
        return {"authorization": f"Bearer {participant['api_key']}"}

    @property
    def as_merchant(self) -> dict[str, str]:
        return self.auth(self.merchant)


async def open_shop(client: httpx.AsyncClient, name: str = "Cafe") -> Shop:
    merchant = (await client.post("/v1/merchants", json={"name": name})).json()
    auth = {"authorization": f"Bearer {merchant['api_key']}"}
    terminals = [(await client.post("/v1/terminals", json={"name": f"Till {i}"},
                                    headers=auth)).json() for i in (1, 2)]
    consumers = [(await client.post("/v1/consumers", json={"name": n}, headers=auth)).json()
                 for n in ("Ann", "Bob")]
    return Shop(merchant, terminals, consumers)


def edition_body(prefix: str, cap: int, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "brand": "Cafe", "title": "Free latte", "terms": "One latte per coupon. No cash value.",
        "prefix": prefix, "total_pieces": cap, "price": 300,
        "valid_from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600)),
        "valid_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 86400)),
        **overrides,
    }


async def create_edition(client: httpx.AsyncClient, shop: Shop, prefix: str, cap: int) -> dict:
    response = await client.post("/v1/editions", json=edition_body(prefix, cap),
                                 headers=shop.as_merchant)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def sell_and_redeem(client: httpx.AsyncClient, merchant: dict[str, Any],
                          till: dict[str, Any], prefix: str) -> str:
    """Sell a coupon of a new edition `prefix` of `merchant` at `till` (offline, to a new
    consumer) and redeem it there; returns the buyer's address."""
    edition = await client.post("/v1/editions", json=edition_body(prefix, 5),
                                headers=auth(merchant))
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
