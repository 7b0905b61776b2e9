"""The shared list mechanism over real read models: search, status and date
filters, cursor paging and the streamed CSV export, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import httpx
import pytest

from couponchain.services import listing
from tests.integration.editions_world import Shop, create_edition, open_shop
from tests.integration.referrals_world import buy, create_product, referral_world


def _day(offset: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() + offset * 86400))


async def _sold_edition(client: httpx.AsyncClient) -> tuple[Shop, dict[str, Any]]:
    """An edition of 30 with 12 sales to Ann, 8 to Bob, 2 redeemed and 1 voided."""
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "LIST", 30)
    ann, bob = shop.consumers
    sales = ([{"buyer": ann["id"], "order_ref": f"ANN-{i}"} for i in range(12)]
             + [{"buyer": bob["address"], "order_ref": f"BOB-{i}"} for i in range(8)])
    done = await client.post(f"/v1/editions/{edition['id']}/sales:bulk",
                             headers=shop.as_merchant, json={"sales": sales})
    assert done.status_code == 201, done.text
    for serial in ("LIST-000003", "LIST-000015"):
        assert (await client.post(f"/v1/coupons/{serial}/redeem",
                                  headers=shop.as_merchant)).status_code == 200
    assert (await client.post("/v1/coupons/LIST-000020/void",
                              headers=shop.as_merchant)).status_code == 200
    return shop, edition


async def _all_pages(client: httpx.AsyncClient, url: str, headers: dict[str, str],
                     **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        got = await client.get(url, headers=headers,
                               params={**params, **({"cursor": cursor} if cursor else {})})
        assert got.status_code == 200, got.text
        body = got.json()
        rows += body["coupons"]
        assert len(body["coupons"]) <= params.get("limit", 100)
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


def _read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_sales_search_filter_page_and_export(client: httpx.AsyncClient,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    shop, edition = await _sold_edition(client)
    url = f"/v1/editions/{edition['id']}/coupons"
    me = shop.as_merchant

    everything = await _all_pages(client, url, me, limit=7)
    assert [c["serial"] for c in everything] == [f"LIST-{n:06d}" for n in range(1, 21)]
    by_name = await _all_pages(client, url, me, q="ann", limit=5)
    assert len(by_name) == 12 and {c["owner_name"] for c in by_name} == {"Ann"}
    by_address = await _all_pages(client, url, me, q=shop.consumers[1]["address"].lower())
    assert len(by_address) == 8
    (order,) = await _all_pages(client, url, me, q="BOB-3")
    assert order["serial"] == "LIST-000016"
    for text in ("LIST-000005", "5", "#5"):
        assert [c["serial"] for c in await _all_pages(client, url, me, q=text)] == \
            ["LIST-000005"]
    redeemed = await _all_pages(client, url, me, status="redeemed")
    assert [c["serial"] for c in redeemed] == ["LIST-000003", "LIST-000015"]
    ann_active = await _all_pages(client, url, me, q="Ann", status="active")
    assert len(ann_active) == 11
    assert len(await _all_pages(client, url, me, **{"from": _day(0), "to": _day(0)})) == 20
    assert await _all_pages(client, url, me, **{"from": _day(1)}) == []
    assert await _all_pages(client, url, me, to=_day(-1)) == []

    # The export is exactly what the filters show, read back, across export pages.
    monkeypatch.setattr(listing, "EXPORT_PAGE", 3)
    exported = await client.get(url, headers=me, params={"q": "Ann", "format": "csv"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="sales.csv"' in exported.headers["content-disposition"]
    rows = _read_csv(exported.text)
    assert [r["serial"] for r in rows] == [c["serial"] for c in by_name]
    assert {r["owner_name"] for r in rows} == {"Ann"}
    assert rows[2]["status"] == "redeemed" and rows[0]["tx_hash"].startswith("0x")
    empty = await client.get(url, headers=me, params={"from": _day(1), "format": "csv"})
    assert _read_csv(empty.text) == []

    other = await open_shop(client, "Bakery")
    assert (await client.get(url, headers=other.as_merchant)).status_code == 403
    till = shop.auth(shop.terminals[0])
    assert (await client.get(url, headers=till, params={"q": "Bob"})).json()["coupons"]


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "lost"}, "status"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-13-01"}, "to"),
    ({"from": "2026-12-07", "to": "2026-12-01"}, "to"),
    ({"cursor": "abc"}, "cursor"),
    ({"q": "x" * 201}, "q"),
    ({"limit": 0}, "limit"),
    ({"format": "xml"}, "format"),
])
async def test_bad_list_parameters_are_problems_naming_the_parameter(
        client: httpx.AsyncClient, params: dict[str, Any], field: str) -> None:
    got = await client.get("/v1/editions", params=params)
    assert got.status_code == 422, got.text
    assert got.headers["content-type"].startswith("application/problem+json")
    assert field in str(got.json().get("field", "")), got.json()


async def test_editions_and_merchants_lists_keep_their_shape(client: httpx.AsyncClient) -> None:
    shop, _edition = await _sold_edition(client)
    other = await open_shop(client, "Bakery")
    await create_edition(client, other, "BREAD", 3)

    first = (await client.get("/v1/editions", params={"limit": 1})).json()
    assert set(first) == {"editions", "next_cursor"} and isinstance(first["next_cursor"], int)
    rest = (await client.get("/v1/editions", params={"cursor": first["next_cursor"]})).json()
    assert [e["prefix"] for e in first["editions"] + rest["editions"]] == ["LIST", "BREAD"]
    assert rest["next_cursor"] is None
    assert [e["prefix"] for e in (await client.get(
        "/v1/editions", params={"q": "bakery"})).json()["editions"]] == ["BREAD"]
    assert [e["prefix"] for e in (await client.get(
        "/v1/editions", params={"q": "list"})).json()["editions"]] == ["LIST"]
    on_sale = (await client.get("/v1/editions", params={"status": "on_sale"})).json()
    assert len(on_sale["editions"]) == 2
    assert (await client.get("/v1/editions", params={"status": "ended"})).json()[
        "editions"] == []

    merchants = (await client.get("/v1/merchants", params={"q": "bake"})).json()
    assert [m["name"] for m in merchants["items"]] == ["Bakery"]
    assert merchants["next_cursor"] is None
    assert merchants["items"][0]["id"] == other.merchant["id"]
    exported = await client.get("/v1/merchants", params={"format": "csv"})
    assert {r["name"] for r in _read_csv(exported.text)} == {"Cafe", "Bakery"}
    terminals = await client.get(f"/v1/merchants/{shop.merchant['id']}/terminals",
                                 headers=shop.as_merchant, params={"q": "Till 2"})
    assert [t["name"] for t in terminals.json()["items"]] == ["Till 2"]


async def test_referral_purchases_newest_first_search_and_export(
        client: httpx.AsyncClient) -> None:
    w = await referral_world(client)
    product_id = await create_product(client, w, 10, name="Tea song")
    for buyer, units in ((w.ann, 1), (w.bob, 2), (w.ann, 3)):
        bought = await buy(client, buyer, product_id, units)
        assert bought.status_code == 201, bought.text
    url = f"/v1/products/{product_id}/purchases"

    first = (await client.get(url, params={"limit": 2})).json()
    assert [p["quantity"] for p in first["purchases"]] == [3, 2]  # newest first
    rest = (await client.get(url, params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert [p["quantity"] for p in rest["purchases"]] == [1] and rest["next_cursor"] is None
    anns = (await client.get(url, params={"q": "Ann"})).json()["purchases"]
    assert [p["quantity"] for p in anns] == [3, 1]
    assert {p["buyer_id"] for p in anns} == {w.ann["id"]}
    exported = _read_csv((await client.get(url, params={"q": "Bob", "format": "csv"})).text)
    assert [(r["buyer_id"], r["quantity"]) for r in exported] == [(w.bob["id"], "2")]
    assert (await client.get(url, params={"from": _day(1)})).json()["purchases"] == []

    listed = (await client.get("/v1/products", params={"q": "tea"})).json()
    assert [p["id"] for p in listed["products"]] == [product_id]
    assert (await client.get("/v1/products", params={"q": "coffee"})).json()["products"] == []
