"""Limited editions end to end: API, gateway, embedded node, read models, proofs."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from couponchain.api.app import create_app
from couponchain.errors import ContractRevert
from couponchain.runtime import Runtime
from couponchain.services.editions import Sale
from tests.integration.editions_world import create_edition, edition_body, open_shop
from tests.integration.read_models import assert_replays_alike
from tests.ports import serve_app


async def test_edition_lifecycle_sale_transfer_redeem_void(client: httpx.AsyncClient) -> None:
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "LATTE", 5)
    assert edition["tx_hash"].startswith("0x") and edition["block_number"] > 0
    assert edition["terms"].startswith("One latte")
    public = (await client.get(f"/v1/editions/{edition['id']}")).json()
    assert (public["total_pieces"], public["sold"], public["remaining"]) == (5, 0, 5)

    ann, bob = shop.consumers
    till = shop.auth(shop.terminals[0])
    sale = await client.post(f"/v1/editions/{edition['id']}/sales", headers=till, json={
        "buyer": ann["id"], "price": 250, "channel": "offline", "order_ref": "POS-1"})
    assert sale.status_code == 201, sale.text
    coupon = sale.json()["coupon"]
    assert coupon["serial"] == "LATTE-000001" and coupon["owner"] == ann["address"]
    assert sale.json()["tx_hash"].startswith("0x")

    moved = await client.post("/v1/coupons/LATTE-000001/transfer", json={"to": bob["id"]},
                              headers=shop.auth(ann))
    assert moved.status_code == 200, moved.text
    assert moved.json()["coupon"]["owner"] == bob["address"]
    stolen = await client.post("/v1/coupons/LATTE-000001/transfer", json={"to": ann["id"]},
                               headers=shop.auth(ann))
    assert stolen.status_code == 403

    redeemed = await client.post("/v1/coupons/LATTE-000001/redeem",
                                 headers=shop.auth(shop.terminals[1]))
    assert redeemed.status_code == 200, redeemed.text
    again = await client.post("/v1/coupons/LATTE-000001/redeem", headers=till)
    assert again.status_code == 409 and "already redeemed" in again.json()["detail"]

    second = (await client.post(f"/v1/editions/{edition['id']}/sales", headers=till, json={
        "buyer": ann["address"], "order_ref": "WEB-2"})).json()["coupon"]
    assert second["serial"] == "LATTE-000002" and second["price_paid"] == 300
    denied = await client.post("/v1/coupons/LATTE-000002/void", headers=till)
    assert denied.status_code == 403
    voided = await client.post("/v1/coupons/LATTE-000002/void", headers=shop.as_merchant)
    assert voided.status_code == 200, voided.text

    looked_up = (await client.get("/v1/coupons/LATTE-000001")).json()
    assert looked_up["status"] == "redeemed" and looked_up["owner"] == bob["address"]
    assert [h["action"] for h in looked_up["history"]] == ["sold", "transferred", "redeemed"]
    assert looked_up["edition"]["prefix"] == "LATTE"
    counts = (await client.get(f"/v1/editions/{edition['id']}")).json()
    assert (counts["sold"], counts["redeemed"], counts["voided"], counts["remaining"]) == (
        2, 1, 1, 3)
    assert (await client.get("/v1/coupons/LATTE-000003")).status_code == 404
    assert (await client.get("/v1/coupons/NOPE-000001")).status_code == 404


async def test_declared_data_is_validated_with_the_field_named(
    client: httpx.AsyncClient,
) -> None:
    shop = await open_shop(client)
    zero = await client.post("/v1/editions", json=edition_body("ZERO", 0), headers=shop.as_merchant)
    assert zero.status_code == 422 and zero.json()["field"] == "total_pieces"
    inverted = edition_body("INV", 5, valid_from="2030-01-02T00:00:00Z",
                            valid_until="2030-01-01T00:00:00Z")
    bad = await client.post("/v1/editions", json=inverted, headers=shop.as_merchant)
    assert bad.status_code == 422 and bad.json()["field"] == "valid_until"
    past = edition_body("PAST", 5, valid_from="2020-01-01T00:00:00Z",
                        valid_until="2020-01-02T00:00:00Z")
    late = await client.post("/v1/editions", json=past, headers=shop.as_merchant)
    assert late.status_code == 422 and late.json()["field"] == "valid_until"
    lower = await client.post("/v1/editions", json=edition_body("latte", 5),
                              headers=shop.as_merchant)
    assert lower.status_code == 422 and lower.json()["field"] == "prefix"
    by_platform = await client.post("/v1/editions", json=edition_body("PLAT", 5))
    assert by_platform.status_code == 403

    await create_edition(client, shop, "TAKEN", 5)
    dup = await client.post("/v1/editions", json=edition_body("TAKEN", 5), headers=shop.as_merchant)
    assert dup.status_code == 409 and dup.json()["field"] == "prefix"


async def test_only_the_editions_merchant_and_its_terminals_sell(
    client: httpx.AsyncClient,
) -> None:
    shop, other = await open_shop(client), await open_shop(client, "Rival")
    edition = await create_edition(client, shop, "OWN", 5)
    sale = {"buyer": shop.consumers[0]["id"], "order_ref": "X-1"}
    foreign = await client.post(f"/v1/editions/{edition['id']}/sales", json=sale,
                                headers=other.auth(other.terminals[0]))
    assert foreign.status_code == 403
    unknown = await client.post(f"/v1/editions/{edition['id']}/sales",
                                json={**sale, "buyer": "nobody"}, headers=shop.as_merchant)
    assert unknown.status_code == 422 and unknown.json()["field"] == "buyer"
    channel = await client.post(f"/v1/editions/{edition['id']}/sales",
                                json={**sale, "channel": "fax"}, headers=shop.as_merchant)
    assert channel.status_code == 422 and channel.json()["field"] == "channel"
    assert (await client.post("/v1/editions/999/sales", json=sale,
                              headers=shop.as_merchant)).status_code == 404


async def test_idempotent_sale_retry_records_one_coupon(client: httpx.AsyncClient) -> None:
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "ONCE", 5)
    body = {"buyer": shop.consumers[0]["id"], "order_ref": "R-1"}
    headers = {**shop.as_merchant, "Idempotency-Key": "sale-1"}
    first = await client.post(f"/v1/editions/{edition['id']}/sales", json=body, headers=headers)
    again = await client.post(f"/v1/editions/{edition['id']}/sales", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert (await client.get(f"/v1/editions/{edition['id']}")).json()["sold"] == 1


async def test_a_retry_whose_answer_was_lost_gets_the_applied_outcome(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """The API died after the chain applied a write and before it stored its answer:
    the retry (same key) must report that write, not be refused by the read models
    ("already redeemed", "cap exceeded") that already show it. Found by bench/crash.py."""
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "LOST", 1)
    till = await runtime.participants.authenticate(shop.terminals[0]["api_key"])
    merchant = await runtime.participants.authenticate(shop.merchant["api_key"])
    sale = Sale(shop.consumers[0]["id"], None, "offline", "R-lost")
    sold = await runtime.editions.sell(till, edition["id"], sale, "lost-sale")
    assert await runtime.editions.sell(till, edition["id"], sale, "lost-sale") == sold
    with pytest.raises(ContractRevert, match="cap exceeded"):  # a new sale is refused
        await runtime.editions.sell(till, edition["id"], sale, "another-sale")
    serial = sold["coupon"]["serial"]
    redeemed = await runtime.editions.redeem(till, serial, "lost-redeem")
    again = await runtime.editions.redeem(till, serial, "lost-redeem")
    assert again["tx_hash"] == redeemed["tx_hash"] and again["coupon"]["status"] == "redeemed"
    with pytest.raises(ContractRevert, match="already redeemed"):
        await runtime.editions.redeem(till, serial, "another-redeem")
    with pytest.raises(ContractRevert, match="already redeemed"):
        await runtime.editions.void(merchant, serial, "void-after")


async def test_99_declared_300_sold_concurrently_from_two_terminals(
    client: httpx.AsyncClient,
) -> None:
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "LIMITED", 99)
    url = f"/v1/editions/{edition['id']}/sales"

    async def sell(i: int) -> httpx.Response:
        return await client.post(url, headers=shop.auth(shop.terminals[i % 2]), json={
            "buyer": shop.consumers[i % 2]["id"], "order_ref": f"ORDER-{i}"})

    responses = await asyncio.gather(*(sell(i) for i in range(300)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 99, 409: 201}, statuses
    refused = [r.json() for r in responses if r.status_code == 409]
    assert all(p["reason"] == "editions: cap exceeded" for p in refused)
    serials = sorted(r.json()["coupon"]["serial"] for r in responses if r.status_code == 201)
    assert serials == [f"LIMITED-{n:06d}" for n in range(1, 100)]
    final = (await client.get(f"/v1/editions/{edition['id']}")).json()
    assert (final["sold"], final["remaining"]) == (99, 0)


async def test_1000_redemptions_of_100_coupons_from_10_terminals_redeem_each_once(
    client: httpx.AsyncClient,
) -> None:
    shop = await open_shop(client)
    auth = shop.as_merchant
    tills = [shop.auth(shop.terminals[0]), shop.auth(shop.terminals[1])] + [
        shop.auth((await client.post("/v1/terminals", json={"name": f"Till {i}"},
                                     headers=auth)).json()) for i in range(3, 11)]
    edition = await create_edition(client, shop, "RACE", 100)
    sold = await client.post(f"/v1/editions/{edition['id']}/sales:bulk", headers=auth, json={
        "sales": [{"buyer": shop.consumers[i % 2]["id"], "order_ref": f"R-{i}"}
                  for i in range(100)]})
    assert sold.status_code == 201, sold.text
    serials = [c["serial"] for c in sold.json()["coupons"]]
    # Every coupon tried once at each of the ten tills, the thousand in a shuffled order.
    attempts = [(serial, till) for serial in serials for till in range(10)]
    random.Random(1000).shuffle(attempts)

    async def redeem(serial: str, till: int) -> tuple[str, httpx.Response]:
        return serial, await client.post(f"/v1/coupons/{serial}/redeem", headers=tills[till])

    results = await asyncio.gather(*(redeem(s, t) for s, t in attempts))
    statuses = Counter(r.status_code for _, r in results)
    assert statuses == {200: 100, 409: 900}, statuses
    assert sorted(s for s, r in results if r.status_code == 200) == sorted(serials)
    refused = [r.json() for _, r in results if r.status_code == 409]
    assert {p["reason"] for p in refused} == {"editions: coupon already redeemed"}, refused[0]
    final = (await client.get(f"/v1/editions/{edition['id']}")).json()
    assert (final["sold"], final["redeemed"]) == (100, 100)
    for serial in serials[:10]:
        history = (await client.get(f"/v1/coupons/{serial}")).json()["history"]
        assert [h["action"] for h in history].count("redeemed") == 1


async def test_runs_of_transfers_redemptions_and_voids_read_as_one_by_one(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Transfers, redemptions and voids sent at once share transactions, so a block
    holds runs of one kind of event, each written in a few statements: the read
    models must be what those events applied one by one make, counters and history
    rows in chain order included, and what replaying the stored events makes."""
    shop = await open_shop(client)
    ann, bob = shop.consumers
    tills = [shop.auth(t) for t in shop.terminals]
    serials: list[str] = []
    editions: list[int] = []
    for prefix in ("RUNA", "RUNB"):
        edition = await create_edition(client, shop, prefix, 40)
        editions.append(edition["id"])
        sold = await client.post(f"/v1/editions/{edition['id']}/sales:bulk",
                                 headers=shop.as_merchant, json={"sales": [
                                     {"buyer": ann["id"], "order_ref": f"{prefix}-{i}"}
                                     for i in range(30)]})
        assert sold.status_code == 201, sold.text
        serials += [c["serial"] for c in sold.json()["coupons"]]
    a, b = serials[:30], serials[30:]

    async def post(path: str, headers: dict[str, str], **body: Any) -> None:
        response = await client.post(path, headers=headers, json=body or None)
        assert response.status_code == 200, (path, response.text)

    # Ten of each edition to Bob at once, then five of those back to Ann at once.
    await asyncio.gather(*(post(f"/v1/coupons/{s}/transfer", shop.auth(ann), to=bob["id"])
                           for s in a[:10] + b[:10]))
    await asyncio.gather(*(post(f"/v1/coupons/{s}/transfer", shop.auth(bob), to=ann["id"])
                           for s in a[:5] + b[:5]))
    # Redemptions from both tills and voids by the merchant, all at once, twice over.
    for redeem, void in ((slice(0, 15), slice(15, 25)), (slice(25, 28), slice(28, 30))):
        await asyncio.gather(
            *(post(f"/v1/coupons/{s}/redeem", tills[i % 2])
              for i, s in enumerate(a[redeem] + b[redeem])),
            *(post(f"/v1/coupons/{s}/void", shop.as_merchant) for s in a[void] + b[void]))

    for serial in (a[0], b[0]):
        coupon = (await client.get(f"/v1/coupons/{serial}")).json()
        assert (coupon["status"], coupon["owner"]) == ("redeemed", ann["address"])
        assert [h["action"] for h in coupon["history"]] == [
            "sold", "transferred", "transferred", "redeemed"]
    coupon = (await client.get(f"/v1/coupons/{a[7]}")).json()
    assert (coupon["status"], coupon["owner"]) == ("redeemed", bob["address"])
    coupon = (await client.get(f"/v1/coupons/{b[20]}")).json()
    assert coupon["status"] == "voided"
    assert [h["action"] for h in coupon["history"]] == ["sold", "voided"]
    for edition_id in editions:
        counts = (await client.get(f"/v1/editions/{edition_id}")).json()
        assert (counts["sold"], counts["redeemed"], counts["voided"]) == (30, 18, 12)
    await assert_replays_alike(runtime)


async def test_bulk_sales_are_all_or_nothing(client: httpx.AsyncClient) -> None:
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "BULK", 1500)
    url = f"/v1/editions/{edition['id']}/sales:bulk"
    buyer = shop.consumers[0]["address"]
    sales = [{"buyer": buyer, "order_ref": f"B-{i}", "channel": "online"} for i in range(1200)]

    bad = [*sales[:7], {**sales[7], "buyer": "no-such-buyer"}, *sales[8:]]
    rejected = await client.post(url, json={"sales": bad}, headers=shop.as_merchant)
    assert rejected.status_code == 422 and rejected.json()["field"] == "sales.7.buyer"
    too_many = await client.post(url, json={"sales": sales + sales[:301]},
                                 headers=shop.as_merchant)
    assert too_many.status_code == 409, too_many.text
    assert too_many.json()["reason"] == "editions: cap exceeded"
    assert (await client.get(f"/v1/editions/{edition['id']}")).json()["sold"] == 0

    done = await client.post(url, json={"sales": sales}, headers=shop.auth(shop.terminals[0]))
    assert done.status_code == 201, done.text
    body = done.json()
    assert body["recorded"] == 1200 and len(body["transactions"]) == 3
    assert body["coupons"][0]["serial"] == "BULK-000001"
    assert body["coupons"][-1]["serial"] == "BULK-001200"
    final = (await client.get(f"/v1/editions/{edition['id']}")).json()
    assert (final["sold"], final["remaining"]) == (1200, 300)


async def test_csv_import_names_row_and_field_and_writes_nothing_on_error(
    client: httpx.AsyncClient,
) -> None:
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "POS", 10)
    url = f"/v1/editions/{edition['id']}/sales:import"
    ann, bob = (c["id"] for c in shop.consumers)
    headers = {**shop.auth(shop.terminals[1]), "content-type": "text/csv"}

    bad_price = f"buyer,order_ref,price\n{ann},T-1,100\n{bob},T-2,100\n{ann},T-3,ten\n"
    rejected = await client.post(url, content=bad_price, headers=headers)
    assert rejected.status_code == 422 and rejected.json()["field"] == "row 3.price"
    unknown = f"buyer,order_ref\n{ann},T-1\nmallory,T-2\n"
    rejected = await client.post(url, content=unknown, headers=headers)
    assert rejected.status_code == 422 and rejected.json()["field"] == "row 2.buyer"
    assert (await client.get(f"/v1/editions/{edition['id']}")).json()["sold"] == 0

    good = f"buyer,order_ref,price\n{ann},T-1,100\n{bob},T-2,\n"
    imported = await client.post(url, content=good, headers=headers)
    assert imported.status_code == 201, imported.text
    assert imported.json()["recorded"] == 2
    coupon = (await client.get("/v1/coupons/POS-000002")).json()
    assert coupon["channel"] == "offline" and coupon["price_paid"] == 300


@pytest.fixture
async def api_url(runtime: Runtime) -> AsyncIterator[str]:
    async for url in serve_app(create_app(runtime, manage_runtime=False)):
        yield url


@pytest.mark.slow
async def test_bulk_of_ten_thousand_sales(client: httpx.AsyncClient) -> None:
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "MANY", 10_000)
    buyer = shop.consumers[1]["address"]
    sales = [{"buyer": buyer, "order_ref": f"M-{i}"} for i in range(10_000)]
    done = await client.post(f"/v1/editions/{edition['id']}/sales:bulk", json={"sales": sales},
                             headers=shop.as_merchant, timeout=300)
    assert done.status_code == 201, done.text
    assert done.json()["coupons"][-1]["serial"] == "MANY-010000"
    final = (await client.get(f"/v1/editions/{edition['id']}")).json()
    assert (final["sold"], final["remaining"]) == (10_000, 0)
    over = await client.post(f"/v1/editions/{edition['id']}/sales:bulk",
                             json={"sales": sales[:1]}, headers=shop.as_merchant)
    assert over.status_code == 409


async def test_coupon_page_leaves_the_badge_to_the_browser(client: httpx.AsyncClient) -> None:
    """The server renders no verdict (a lying server would keep rendering it): the page
    says the check runs in the browser, marks each number it proves, and shows the
    command that checks without a browser (tests/browser/test_proof_badge.py runs it)."""
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "PAGE", 9)
    await client.post(f"/v1/editions/{edition['id']}/sales", headers=shop.as_merchant, json={
        "buyer": shop.consumers[0]["id"], "order_ref": "PG-1"})
    page = await client.get("/coupons/PAGE-000001")
    assert page.status_code == 200 and 'id="coupon-qr"' in page.text
    assert "verified" not in page.text and "needs JavaScript" in page.text
    assert "couponchain verify PAGE-000001 --api http://test" in page.text
    assert 'data-serial="PAGE-000001"' in page.text
    assert 'id="edition-sold" data-proof="sold">1<' in page.text
    assert "connect-src 'self' https: http:" in page.headers["content-security-policy"]
    assert (await client.get("/coupons", params={"serial": "page-000001"})).status_code == 200
    assert (await client.get("/coupons/PAGE-000404")).status_code == 404


async def test_listing_timeline_and_public_edition_page(client: httpx.AsyncClient) -> None:
    shop = await open_shop(client)
    other = await open_shop(client, "Bakery")
    edition = await create_edition(client, shop, "TIME", 10)
    await create_edition(client, other, "BREAD", 3)
    buyer = shop.consumers[0]["id"]
    await client.post(f"/v1/editions/{edition['id']}/sales:bulk", headers=shop.as_merchant,
                      json={"sales": [{"buyer": buyer, "order_ref": f"T-{i}"} for i in range(3)]})
    await client.post("/v1/coupons/TIME-000002/redeem", headers=shop.as_merchant)

    mine = (await client.get("/v1/editions", params={"merchant": shop.merchant["id"]})).json()
    assert [e["prefix"] for e in mine["editions"]] == ["TIME"]
    assert (mine["editions"][0]["sold"], mine["editions"][0]["redeemed"]) == (3, 1)
    by_address = (await client.get("/v1/editions",
                                   params={"merchant": other.merchant["address"]})).json()
    assert [e["prefix"] for e in by_address["editions"]] == ["BREAD"]
    everyone = (await client.get("/v1/editions", params={"limit": 1})).json()
    assert len(everyone["editions"]) == 1 and everyone["next_cursor"] is not None
    assert (await client.get("/v1/editions", params={"merchant": "nobody"})).status_code == 404

    timeline = (await client.get(f"/v1/editions/{edition['id']}/sales-timeline")).json()
    assert sum(p["sold"] for p in timeline["points"]) == 3
    assert all(p["at"].endswith(":00Z") for p in timeline["points"])
    assert (await client.get("/v1/editions/999/sales-timeline")).status_code == 404

    page = await client.get(f"/editions/{edition['id']}")
    assert page.status_code == 200 and "verified" not in page.text
    assert 'data-serial="TIME-000003"' in page.text  # the badge proves the newest coupon
    assert 'href="/coupons/TIME-000003"' in page.text
    assert 'id="edition-redeemed" data-proof="redeemed">1<' in page.text
    assert (await client.get("/editions/999")).status_code == 404
    qr = await client.get("/coupons/TIME-000001/qr.png")
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/png"
    assert (await client.get("/coupons/TIME-000009/qr.png")).status_code == 404


async def _sold_by(runtime: Runtime, edition_id: int, seller: str) -> int:
    """Coupons of an edition in the read model sold by one account."""
    from sqlalchemy import func, select

    from couponchain.store.models import CouponRecord

    async with runtime.db.session() as s:
        return int((await s.execute(select(func.count()).where(
            CouponRecord.edition_id == edition_id, CouponRecord.seller == seller))).scalar_one())


async def _sell_outside(runtime: Runtime, signer: Any, edition_id: int, buyer: str,
                        n: int, times: int) -> list[bool]:
    """`times` transactions of `n` sales each, signed and sent past this runtime's
    gateway, as another API worker process would; whether the node took each."""
    address, code = runtime.gateway.contracts["editions"]
    data = code.encode_call("record_sales", edition_id, [buyer] * n, [300] * n, [1] * n,
                            [b"\x0f" * 32] * n)
    took = []
    for _ in range(times):
        nonce = int(await runtime.rpc.call("eth_getTransactionCount", signer.address,
                                           "pending"), 16)
        raw = signer.sign_transaction({
            "type": 2, "chainId": runtime.chain_id, "nonce": nonce, "gas": 3_000_000,
            "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "to": address, "data": data,
        }).raw_transaction
        try:
            await runtime.rpc.call("eth_sendRawTransaction", "0x" + bytes(raw).hex())
            took.append(True)
        except Exception:  # the contract refused it (cap exceeded); still mined
            took.append(False)
        await asyncio.sleep(0.01)
    return took


async def _caught_up(runtime: Runtime) -> None:
    """Wait until the read models have every block the node has."""
    await runtime.indexer.wait_for(int(await runtime.rpc.call("eth_blockNumber"), 16))


async def _wait_reserved(runtime: Runtime, edition_id: int) -> None:
    for _ in range(2000):
        if int(await runtime.view("editions", "reserved", edition_id)):
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the bulk request never reserved")


async def test_bulk_racing_single_sales_is_never_partial(
    client: httpx.AsyncClient, runtime: Runtime,
) -> None:
    shop = await open_shop(client)
    merchant = shop.merchant["address"]
    tills = [t["address"] for t in shop.terminals]
    buyer = shop.consumers[0]["address"]
    outside = await runtime.participants.signer(shop.terminals[1]["id"])
    bulk = [{"buyer": buyer, "order_ref": f"BULK-{i}"} for i in range(2000)]

    async def singles(url: str, n: int) -> list[int]:
        async def one(i: int) -> int:
            return (await client.post(url, headers=shop.auth(shop.terminals[0]), json={
                "buyer": buyer, "order_ref": f"ONE-{i}"})).status_code
        return list(await asyncio.gather(*(one(i) for i in range(n))))

    # The bulk request gets its reservation first: 2,000 of the 2,100 pieces left.
    # Single sales through this API and sales from another process then race its
    # five chunks for the remaining capacity; none of its chunks may lose.
    first = await create_edition(client, shop, "RACEA", 2500)
    url = f"/v1/editions/{first['id']}"
    ok = await client.post(f"{url}/sales:bulk", headers=shop.as_merchant,
                           json={"sales": bulk[:400]})
    assert ok.status_code == 201, ok.text
    request = asyncio.create_task(client.post(f"{url}/sales:bulk", headers=shop.as_merchant,
                                              json={"sales": bulk}, timeout=120))
    await _wait_reserved(runtime, first["id"])
    statuses, took = await asyncio.gather(
        singles(f"{url}/sales", 150),
        _sell_outside(runtime, outside, first["id"], buyer, 10, 5))
    done = await request
    await _caught_up(runtime)
    assert done.status_code == 201, done.text
    assert done.json()["recorded"] == 2000 and len(done.json()["transactions"]) == 5
    assert await _sold_by(runtime, first["id"], merchant) == 2400
    singles_sold = statuses.count(201) + 10 * sum(took)
    assert singles_sold == 100, (Counter(statuses), took)
    assert set(statuses) <= {201, 409}
    final = (await client.get(url)).json()
    assert (final["sold"], final["reserved"], final["remaining"]) == (2500, 0, 0)

    # The other order: the singles take the capacity first; the bulk request is
    # refused whole, with nothing of it written and nothing left reserved.
    second = await create_edition(client, shop, "RACEB", 2100)
    url = f"/v1/editions/{second['id']}"
    statuses, took = await asyncio.gather(
        singles(f"{url}/sales", 100),
        _sell_outside(runtime, outside, second["id"], buyer, 10, 5))
    assert statuses.count(201) == 100 and all(took)
    refused = await client.post(f"{url}/sales:bulk", headers=shop.as_merchant,
                                json={"sales": bulk}, timeout=120)
    assert refused.status_code == 409, refused.text
    assert refused.json()["reason"] == "editions: cap exceeded"
    assert "1950 pieces are left; nothing was recorded" in refused.json()["detail"]
    await _caught_up(runtime)
    assert await _sold_by(runtime, second["id"], merchant) == 0
    final = (await client.get(url)).json()
    assert (final["sold"], final["reserved"], final["remaining"]) == (150, 0, 1950)
    assert {c: await _sold_by(runtime, second["id"], c) for c in tills} == {
        tills[0]: 100, tills[1]: 50}


async def test_bulk_racing_singles_all_at_once_is_all_or_nothing(
    client: httpx.AsyncClient, runtime: Runtime,
) -> None:
    # The same race without ordering it: the bulk request gets all its pieces
    # or none, whichever sale reached the chain first.
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "RACEC", 2050)
    url = f"/v1/editions/{edition['id']}"
    buyer = shop.consumers[1]["address"]
    bulk = [{"buyer": buyer, "order_ref": f"B-{i}"} for i in range(2000)]

    async def one(i: int) -> int:
        return (await client.post(f"{url}/sales", headers=shop.auth(shop.terminals[i % 2]),
                                  json={"buyer": buyer, "order_ref": f"S-{i}"})).status_code

    results = await asyncio.gather(
        client.post(f"{url}/sales:bulk", headers=shop.as_merchant, json={"sales": bulk},
                    timeout=120),
        *(one(i) for i in range(200)))
    done, statuses = results[0], list(results[1:])
    await _caught_up(runtime)
    bulk_sold = await _sold_by(runtime, edition["id"], shop.merchant["address"])
    assert (done.status_code, bulk_sold) in ((201, 2000), (409, 0)), done.text
    final = (await client.get(url)).json()
    assert final["sold"] == bulk_sold + statuses.count(201) <= 2050
    assert final["reserved"] == 0


async def test_99_declared_299_tried_by_bulk_and_singles_ends_with_99(
    client: httpx.AsyncClient,
) -> None:
    from couponchain.services.editions import CHUNK

    shop = await open_shop(client)
    edition = await create_edition(client, shop, "NINETY9", 99)
    url = f"/v1/editions/{edition['id']}"
    buyer = shop.consumers[0]["id"]

    async def one(i: int) -> int:
        return (await client.post(f"{url}/sales", headers=shop.auth(shop.terminals[i % 2]),
                                  json={"buyer": buyer, "order_ref": f"S-{i}"})).status_code

    big = [{"buyer": buyer, "order_ref": f"B-{i}"} for i in range(CHUNK + 1)]
    results = await asyncio.gather(
        client.post(f"{url}/sales:bulk", headers=shop.as_merchant, json={"sales": big[:150]}),
        client.post(f"{url}/sales:bulk", headers=shop.as_merchant, json={"sales": big}),
        *(one(i) for i in range(149)))
    assert [r.status_code for r in results[:2]] == [409, 409]
    assert Counter(results[2:]) == {201: 99, 409: 50}
    final = (await client.get(url)).json()
    assert (final["sold"], final["reserved"], final["remaining"]) == (99, 0, 0)


class _Crash:
    """Makes the gateway fail a bulk request's reserved-sales chunks from the `n`th
    on with `error`, as when the node goes away half-way (the chunks go together)."""

    def __init__(self, runtime: Runtime, n: int, error: Exception) -> None:
        self.real = runtime.gateway.submit_in_order
        self.n, self.error = n, error

    async def __call__(self, signer: Any, calls: Any) -> Any:
        if not calls or calls[0][0].function != "record_reserved_sales":
            return await self.real(signer, calls)
        done = await self.real(signer, calls[: self.n - 1])
        return [*done, *(self.error for _ in calls[self.n - 1:])]


async def test_bulk_retry_after_a_crash_half_way_finishes_exactly_once(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from couponchain.errors import ChainUnavailable
    from couponchain.services.editions import CHUNK

    shop = await open_shop(client)
    total = 2 * CHUNK + 100
    edition = await create_edition(client, shop, "RETRY", total + 50)
    url = f"/v1/editions/{edition['id']}"
    buyer = shop.consumers[0]["address"]
    sales = [{"buyer": buyer, "order_ref": f"R-{i}", "channel": "online"} for i in range(total)]
    headers = {**shop.as_merchant, "Idempotency-Key": "bulk-7"}

    # The first attempt records its first chunk, then the node goes away.
    monkeypatch.setattr(runtime.gateway, "submit_in_order",
                        _Crash(runtime, 2, ChainUnavailable("node gone")))
    crashed = await client.post(f"{url}/sales:bulk", json={"sales": sales}, headers=headers)
    assert crashed.status_code == 503, crashed.text
    monkeypatch.undo()
    await _caught_up(runtime)
    mid = (await client.get(url)).json()
    # Its reservation still holds the rest: nobody else can take it meanwhile.
    assert (mid["sold"], mid["reserved"], mid["remaining"]) == (CHUNK, CHUNK + 100, 50)

    retried = await client.post(f"{url}/sales:bulk", json={"sales": sales}, headers=headers)
    assert retried.status_code == 201, retried.text
    body = retried.json()
    assert body["recorded"] == total and len(body["transactions"]) == 3
    assert [c["serial"] for c in body["coupons"]] == [
        f"RETRY-{n:06d}" for n in range(1, total + 1)]
    again = await client.post(f"{url}/sales:bulk", json={"sales": sales}, headers=headers)
    assert again.json() == body
    final = (await client.get(url)).json()
    assert (final["sold"], final["reserved"], final["remaining"]) == (total, 0, 50)


async def test_bulk_that_fails_for_good_releases_its_reservation(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from couponchain.errors import ContractRevert
    from couponchain.services.editions import CHUNK

    shop = await open_shop(client)
    edition = await create_edition(client, shop, "GIVEBACK", 3 * CHUNK)
    url = f"/v1/editions/{edition['id']}"
    buyer = shop.consumers[0]["address"]
    sales = [{"buyer": buyer, "order_ref": f"G-{i}"} for i in range(3 * CHUNK)]
    monkeypatch.setattr(runtime.gateway, "submit_in_order",
                        _Crash(runtime, 2, ContractRevert("editions: edition expired")))
    failed = await client.post(f"{url}/sales:bulk", json={"sales": sales},
                               headers={**shop.as_merchant, "Idempotency-Key": "give-1"})
    monkeypatch.undo()
    assert failed.status_code == 409, failed.text
    assert f"{CHUNK} of {3 * CHUNK} sales were recorded" in failed.json()["detail"]
    assert "chunks 2, 3 of 3 were not" in failed.json()["detail"]
    await _caught_up(runtime)
    final = (await client.get(url)).json()
    assert (final["sold"], final["reserved"], final["remaining"]) == (CHUNK, 0, 2 * CHUNK)


async def test_an_abandoned_reservation_expires_and_is_released(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from couponchain.errors import ChainUnavailable
    from couponchain.services import edition_bulk
    from couponchain.services.editions import CHUNK

    shop = await open_shop(client)
    edition = await create_edition(client, shop, "ABANDON", 2 * CHUNK)
    url = f"/v1/editions/{edition['id']}"
    buyer = shop.consumers[0]["address"]
    sales = [{"buyer": buyer, "order_ref": f"A-{i}"} for i in range(2 * CHUNK)]
    monkeypatch.setattr(edition_bulk, "RESERVATION_SECONDS", 2)
    monkeypatch.setattr(runtime.gateway, "submit_in_order",
                        _Crash(runtime, 1, ChainUnavailable("node gone")))
    crashed = await client.post(f"{url}/sales:bulk", json={"sales": sales},
                                headers={**shop.as_merchant, "Idempotency-Key": "lost"})
    assert crashed.status_code == 503
    monkeypatch.undo()
    # Never retried: its pieces stay booked until it expires...
    sale = {"buyer": buyer, "order_ref": "late"}
    refused = await client.post(f"{url}/sales", json=sale, headers=shop.as_merchant)
    assert refused.status_code == 409, refused.text
    await asyncio.sleep(3)
    # ...then the next seller short of capacity (a terminal, which may release
    # only an expired reservation) releases it first.
    late = await client.post(f"{url}/sales:bulk", headers=shop.auth(shop.terminals[0]),
                             json={"sales": sales[: CHUNK + 1]})
    assert late.status_code == 201, late.text
    await _caught_up(runtime)
    final = (await client.get(url)).json()
    assert (final["sold"], final["reserved"]) == (CHUNK + 1, 0)


async def test_bulk_retry_after_the_last_chunk_answers_after_the_reservation_expired(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from couponchain.errors import ChainUnavailable
    from couponchain.services import edition_bulk
    from couponchain.services.editions import CHUNK

    shop = await open_shop(client)
    edition = await create_edition(client, shop, "LATE", CHUNK + 10)
    url = f"/v1/editions/{edition['id']}"
    buyer = shop.consumers[0]["address"]
    sales = [{"buyer": buyer, "order_ref": f"L-{i}"} for i in range(CHUNK + 10)]
    headers = {**shop.as_merchant, "Idempotency-Key": "late-1"}
    monkeypatch.setattr(edition_bulk, "RESERVATION_SECONDS", 2)
    real_wait = runtime.indexer.wait_for

    async def wait_then_die(block_number: int, timeout: float = 30.0) -> None:
        await real_wait(block_number, timeout)
        raise ChainUnavailable("process died before answering")

    # Every chunk landed, then the answer was lost; the retry comes after the
    # reservation (used up) expired, and answers from the journal.
    monkeypatch.setattr(runtime.indexer, "wait_for", wait_then_die)
    lost = await client.post(f"{url}/sales:bulk", json={"sales": sales}, headers=headers)
    assert lost.status_code == 503
    monkeypatch.setattr(runtime.indexer, "wait_for", real_wait)
    await asyncio.sleep(3)
    retried = await client.post(f"{url}/sales:bulk", json={"sales": sales}, headers=headers)
    assert retried.status_code == 201, retried.text
    assert retried.json()["recorded"] == CHUNK + 10
    final = (await client.get(url)).json()
    assert (final["sold"], final["reserved"], final["remaining"]) == (CHUNK + 10, 0, 0)
