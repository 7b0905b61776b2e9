"""Customer picker (issue 24), through the API on the real node, on SQLite and
PostgreSQL: a merchant's till finds by name only the consumers who dealt with
that merchant (here: topped up at its till, or bought a coupon of its edition),
any consumer by its exact full customer number, and nobody by a fragment of a
number or by an address outside its customers; the wallet's QR code holds the
customer number."""

from __future__ import annotations

import io

import httpx
import zxingcpp
from PIL import Image

from tests.api_auth import auth
from tests.integration.answers import ADMIN, CCC, made, refused
from tests.integration.customers import find_customers, iso_in


async def test_a_merchant_finds_only_its_own_customers(client: httpx.AsyncClient) -> None:
    tea = await made(client, "/v1/merchants", {"name": "Corner Tea"})
    till = await made(client, "/v1/terminals", {"name": "Front till"}, auth(tea))
    bakery = await made(client, "/v1/merchants", {"name": "Bakery"})
    mei, meiling, meihua, stranger = [
        await made(client, "/v1/consumers", {"name": n})
        for n in ("Mei Chen", "Meiling Wu", "Mei Hua", "Mei Stranger")]

    # Corner Tea tops Mei up; the bakery tops Meiling up and sells Mei Hua a coupon.
    for shop in (tea, bakery):
        await client.put(f"/v1/merchants/{shop['id']}/till-limit",
                         json={"limit": 100 * CCC}, headers=ADMIN)
    await made(client, "/v1/till-credits", {"consumer": mei["id"], "amount": 5 * CCC},
               auth(till))
    await made(client, "/v1/till-credits", {"consumer": meiling["id"], "amount": 5 * CCC},
               auth(bakery))
    edition = await made(client, "/v1/editions", {
        "brand": "Bakery", "title": "Free bun", "terms": "One bun.", "prefix": "BUN",
        "total_pieces": 5, "price": 100, "valid_from": iso_in(-3600),
        "valid_until": iso_in(86400)}, auth(bakery))
    await made(client, f"/v1/editions/{edition['id']}/sales",
               {"buyer": meihua["id"], "order_ref": "B-1"}, auth(bakery))

    # By name: each finds its own customers, and no one else's.
    for who in (tea, till):
        assert await find_customers(client, who, tea, q="mei") == [("Mei Chen", mei["id"])]
    assert sorted(await find_customers(client, bakery, bakery, q="MEI")) == sorted(
        [("Meiling Wu", meiling["id"]), ("Mei Hua", meihua["id"])])
    assert sorted(await find_customers(client, bakery, bakery)) == sorted(
        [("Meiling Wu", meiling["id"]), ("Mei Hua", meihua["id"])])  # empty q: its customers
    assert await find_customers(client, tea, tea, q="Stranger") == []

    # The exact full number finds anyone (grouped as the wallet shows it, too); a
    # fragment of it, or another merchant's customer's address, finds nobody.
    grouped = " ".join(stranger["id"][i:i + 4] for i in range(0, 32, 4)).upper()
    assert await find_customers(client, tea, tea, q=grouped) == [("Mei Stranger", stranger["id"])]
    found = await find_customers(client, till, tea, q=meiling["id"])
    assert found == [("Meiling Wu", meiling["id"])]
    assert await find_customers(client, tea, tea, q=stranger["id"][:31]) == []
    assert await find_customers(client, tea, tea, q=meiling["address"]) == []
    found = await find_customers(client, tea, tea, q=mei["address"].lower())
    assert found == [("Mei Chen", mei["id"])]

    # Paged by customer number, like the other lists.
    first = (await client.get(f"/v1/merchants/{bakery['id']}/customers",
                              params={"limit": 1}, headers=auth(bakery))).json()
    assert len(first["customers"]) == 1 and first["next_cursor"]
    second = (await client.get(f"/v1/merchants/{bakery['id']}/customers", headers=auth(
        bakery), params={"limit": 1, "cursor": first["next_cursor"]})).json()
    assert second["next_cursor"] is None
    assert {first["customers"][0]["name"], second["customers"][0]["name"]} == {
        "Meiling Wu", "Mei Hua"}


async def test_only_the_merchant_and_its_terminals_search(client: httpx.AsyncClient) -> None:
    tea = await made(client, "/v1/merchants", {"name": "Corner Tea"})
    till = await made(client, "/v1/terminals", {"name": "Front till"}, auth(tea))
    bakery = await made(client, "/v1/merchants", {"name": "Bakery"})
    mei = await made(client, "/v1/consumers", {"name": "Mei"})
    path = f"/v1/merchants/{tea['id']}/customers"
    for who in (bakery, mei, {"api_key": "test-admin-key"}):
        refused(await client.get(path, params={"q": "mei"}, headers=auth(who)), 403, None)
    refused(await client.get(path, params={"q": "mei"}, headers={"authorization": ""}),
            401, None)
    # A terminal searches its own merchant's customers only.
    refused(await client.get(f"/v1/merchants/{bakery['id']}/customers", headers=auth(till)),
            403, None)

    # Bad search text: a problem naming q and its rule.
    for bad, rule in (("m" * 201, "at most 200"), ("mei\x00", "control characters"),
                      ("mei\nchen", "control characters")):
        refused(await client.get(path, params={"q": bad}, headers=auth(till)), 422, "q", rule)
    refused(await client.get(path, params={"limit": 0}, headers=auth(till)), 422, "limit")


async def test_the_wallet_qr_holds_the_customer_number(client: httpx.AsyncClient) -> None:
    mei = await made(client, "/v1/consumers", {"name": "Mei"})
    answer = await client.get("/v1/customers/me/qr.png", headers=auth(mei))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/png"
    assert "no-store" in answer.headers["cache-control"]
    (read,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(answer.content)).convert("L"))
    assert read.text == mei["id"]
    shop = await made(client, "/v1/merchants", {"name": "Corner Tea"})
    refused(await client.get("/v1/customers/me/qr.png", headers=auth(shop)), 403, None)
