"""The audit log: every authenticated write leaves who, what, when and the chain
evidence; a merchant reads its own, the platform all; filtered and exported with
the shared list mechanism. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

import httpx

from tests.integration.editions_world import edition_body, open_shop


def _key_id(api_key: str) -> str:
    return api_key.split("_", 2)[1]


async def test_writes_leave_entries_each_merchant_reads_its_own(
        client: httpx.AsyncClient) -> None:
    shop = await open_shop(client)
    other = await open_shop(client, "Bakery")
    created = await client.post("/v1/editions", json=edition_body("AUD", 5),
                                headers={**shop.as_merchant, "Idempotency-Key": "ed-1"})
    assert created.status_code == 201, created.text
    edition = created.json()
    till = shop.terminals[0]
    sold = await client.post(f"/v1/editions/{edition['id']}/sales", headers=shop.auth(till),
                             json={"buyer": shop.consumers[0]["id"], "order_ref": "A-1"})
    assert sold.status_code == 201, sold.text
    refused = await client.post(f"/v1/editions/{edition['id']}/sales",
                                headers=other.as_merchant,
                                json={"buyer": shop.consumers[0]["id"], "order_ref": "X"})
    assert refused.status_code == 403

    log = (await client.get("/v1/audit-log", headers=shop.as_merchant)).json()["entries"]
    by_op = {e["operation"]: e for e in log}
    made = by_op["create_edition"]
    assert made["participant_id"] == shop.merchant["id"]
    assert made["credential_kind"] == "api_key"
    assert made["credential_id"] == _key_id(shop.merchant["api_key"])
    assert (made["tx_hash"], made["block_number"]) == (edition["tx_hash"],
                                                       edition["block_number"])
    assert made["op_key"] == f"{shop.merchant['id']}:ed-1"
    assert (made["method"], made["status"]) == ("POST", 201)
    sale = by_op["record_sale"]
    assert sale["participant_id"] == till["id"] and sale["role"] == "terminal"
    assert sale["merchant_id"] == shop.merchant["id"]
    assert sale["tx_hash"] == sold.json()["tx_hash"]
    # The other merchant's refused attempt is in its own log, not in this one.
    assert all(e["participant_id"] != other.merchant["id"] for e in log)
    theirs = (await client.get("/v1/audit-log", headers=other.as_merchant,
                               params={"status": "refused"})).json()["entries"]
    assert [(e["operation"], e["status"], e["tx_hash"]) for e in theirs] == \
        [("record_sale", 403, None)]

    found = (await client.get("/v1/audit-log", headers=shop.as_merchant,
                              params={"q": sold.json()["tx_hash"]})).json()["entries"]
    assert [e["operation"] for e in found] == ["record_sale"]
    exported = await client.get("/v1/audit-log", headers=shop.as_merchant,
                                params={"q": "create_edition", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["operation"] for r in rows] == ["create_edition"]
    assert rows[0]["tx_hash"] == edition["tx_hash"]

    # The platform reads everyone's, or one merchant's; others read none.
    everyone = (await client.get("/v1/audit-log", params={"limit": 500})).json()["entries"]
    assert {shop.merchant["id"], other.merchant["id"]} <= {e["merchant_id"] for e in everyone}
    assert any(e["operation"] == "create_merchant" for e in everyone)
    one = (await client.get("/v1/audit-log",
                            params={"merchant": other.merchant["id"]})).json()["entries"]
    assert {e["merchant_id"] for e in one} == {other.merchant["id"]}
    for who, params in ((shop.auth(shop.consumers[0]), {}),
                        (shop.as_merchant, {"merchant": other.merchant["id"]})):
        denied = await client.get("/v1/audit-log", headers=who, params=params)
        assert denied.status_code == 403 and denied.json()["field"] == "merchant"


async def test_a_page_session_write_names_the_session(client: httpx.AsyncClient) -> None:
    shop = await open_shop(client)
    opened = await client.post("/v1/sessions", headers=shop.as_merchant)
    assert opened.status_code == 201, opened.text
    session_id = opened.json()["id"]
    cookies = {"cc_session": opened.cookies["cc_session"]}
    csrf = opened.cookies["cc_csrf"]
    async with httpx.AsyncClient(transport=client._transport, base_url="http://test",
                                 cookies=cookies) as page:
        made = await page.post("/v1/editions", json=edition_body("SESS", 2),
                               headers={"x-csrf-token": csrf})
        assert made.status_code == 201, made.text
        log = (await page.get("/v1/audit-log", params={"q": "create_edition"})).json()
    (entry,) = log["entries"]
    assert (entry["credential_kind"], entry["credential_id"]) == ("session", session_id)
    assert entry["tx_hash"] == made.json()["tx_hash"]
