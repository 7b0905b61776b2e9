"""Customer picker (issue 24), through the API on the real node, on SQLite and
PostgreSQL: a merchant's till finds by name only the consumers who dealt with
that merchant (here: topped up at its till, or bought a coupon of its edition),
any consumer by its exact full customer number, and nobody by a fragment of a
number or by an address outside its customers; the wallet's QR code holds the
customer number."""

from __future__ import annotations

import io
import time
from typing import Any

import httpx
import zxingcpp
from PIL import Image

from tests.integration.test_topup import ADMIN, CCC, bearer, made, refused


def _when(offset: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


async def _find(client: httpx.AsyncClient, who: dict[str, Any], merchant: dict[str, Any],
                **params: Any) -> list[tuple[str, str]]:
    answer = await client.get(f"/v1/merchants/{merchant['id']}/customers", params=params,
                              headers=bearer(who))
    assert answer.status_code == 200, answer.text
    return [(c["name"], c["customer_number"]) for c in answer.json()["customers"]]


async def test_a_merchant_finds_only_its_own_customers(client: httpx.AsyncClient) -> None:
    tea = await made(client, "/v1/merchants", {"name": "Corner Tea"})
    till = await made(client, "/v1/terminals", {"name": "Front till"}, bearer(tea))
    bakery = await made(client, "/v1/merchants", {"name": "Bakery"})
    mei, meiling, meihua, stranger = [
        await made(client, "/v1/consumers", {"name": n})
        for n in ("Mei Chen", "Meiling Wu", "Mei Hua", "Mei Stranger")]

    # Corner Tea tops Mei up; the bakery tops Meiling up and sells Mei Hua a coupon.
    for shop in (tea, bakery):
        await client.put(f"/v1/merchants/{shop['id']}/till-limit",
                         json={"limit": 100 * CCC}, headers=ADMIN)
    await made(client, "/v1/till-credits", {"consumer": mei["id"], "amount": 5 * CCC},
               bearer(till))
    await made(client, "/v1/till-credits", {"consumer": meiling["id"], "amount": 5 * CCC},
               bearer(bakery))
    edition = await made(client, "/v1/editions", {
        "brand": "Bakery", "title": "Free bun", "terms": "One bun.", "prefix": "BUN",
        "total_pieces": 5, "price": 100, "valid_from": _when(-3600),
        "valid_until": _when(86400)}, bearer(bakery))
    await made(client, f"/v1/editions/{edition['id']}/sales",
               {"buyer": meihua["id"], "order_ref": "B-1"}, bearer(bakery))

    # By name: each finds its own customers, and no one else's.
    for who in (tea, till):
        assert await _find(client, who, tea, q="mei") == [("Mei Chen", mei["id"])]
    assert sorted(await _find(client, bakery, bakery, q="MEI")) == sorted(
        [("Meiling Wu", meiling["id"]), ("Mei Hua", meihua["id"])])
    assert sorted(await _find(client, bakery, bakery)) == sorted(
        [("Meiling Wu", meiling["id"]), ("Mei Hua", meihua["id"])])  # empty q: its customers
    assert await _find(client, tea, tea, q="Stranger") == []

    # The exact full number finds anyone (grouped as the wallet shows it, too); a
    # fragment of it, or another merchant's customer's address, finds nobody.
    grouped = " ".join(stranger["id"][i:i + 4] for i in range(0, 32, 4)).upper()
    assert await _find(client, tea, tea, q=grouped) == [("Mei Stranger", stranger["id"])]
    assert await _find(client, till, tea, q=meiling["id"]) == [("Meiling Wu", meiling["id"])]
    assert await _find(client, tea, tea, q=stranger["id"][:31]) == []
    assert await _find(client, tea, tea, q=meiling["address"]) == []
    assert await _find(client, tea, tea, q=mei["address"].lower()) == [("Mei Chen", mei["id"])]

    # Paged by customer number, like the other lists.
    first = (await client.get(f"/v1/merchants/{bakery['id']}/customers",
                              params={"limit": 1}, headers=bearer(bakery))).json()
    assert len(first["customers"]) == 1 and first["next_cursor"]
    second = (await client.get(f"/v1/merchants/{bakery['id']}/customers", headers=bearer(
        bakery), params={"limit": 1, "cursor": first["next_cursor"]})).json()
    assert second["next_cursor"] is None
    assert {first["customers"][0]["name"], second["customers"][0]["name"]} == {
        "Meiling Wu", "Mei Hua"}


async def test_only_the_merchant_and_its_terminals_search(client: httpx.AsyncClient) -> None:
    tea = await made(client, "/v1/merchants", {"name": "Corner Tea"})
    till = await made(client, "/v1/terminals", {"name": "Front till"}, bearer(tea))
    bakery = await made(client, "/v1/merchants", {"name": "Bakery"})
    mei = await made(client, "/v1/consumers", {"name": "Mei"})
    path = f"/v1/merchants/{tea['id']}/customers"
    for who in (bakery, mei, {"api_key": "test-admin-key"}):
        refused(await client.get(path, params={"q": "mei"}, headers=bearer(who)), 403, None)
    refused(await client.get(path, params={"q": "mei"}, headers={"authorization": ""}),
            401, None)
    # A terminal searches its own merchant's customers only.
    refused(await client.get(f"/v1/merchants/{bakery['id']}/customers", headers=bearer(till)),
            403, None)

    # Bad search text: a problem naming q and its rule.
    for bad, rule in (("m" * 201, "at most 200"), ("mei\x00", "control characters"),
                      ("mei\nchen", "control characters")):
        refused(await client.get(path, params={"q": bad}, headers=bearer(till)), 422, "q", rule)
    refused(await client.get(path, params={"limit": 0}, headers=bearer(till)), 422, "limit")


async def test_the_wallet_qr_holds_the_customer_number(client: httpx.AsyncClient) -> None:
    mei = await made(client, "/v1/consumers", {"name": "Mei"})
    answer = await client.get("/v1/customers/me/qr.png", headers=bearer(mei))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    assert "no-store" in answer.headers["cache-control"]
    (read,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(answer.content)).convert("L"))
    assert read.text == mei["id"]
    shop = await made(client, "/v1/merchants", {"name": "Corner Tea"})
    refused(await client.get("/v1/customers/me/qr.png", headers=bearer(shop)), 403, None)
