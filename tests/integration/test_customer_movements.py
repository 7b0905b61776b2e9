"""A consumer's wallet movements and the till's search by a registered phone number or
e-mail (issue 24), through the API on the real node, on SQLite and PostgreSQL.

One walk: a top-up at a till, a product bought with that credit, promotion coupons
granted, one passed on and one written off (its reward credited and withdrawn), an
edition coupon bought and redeemed; then the consumer's list, its paging, its date
filter and its CSV read back. Then the lookup: only the keyed hash is in the table,
and a shop that never dealt with the consumer finds it by the exact phone or e-mail
only."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from typing import Any

import httpx
from sqlalchemy import text

from couponchain.runtime import Runtime
from couponchain.services.customer_lookup import LOOKUP_KEY
from tests.api_auth import auth
from tests.integration.answers import ADMIN, CCC, made, refused
from tests.integration.customers import find_customers, iso_in
from tests.integration.promotions_world import (
    consent_code,
    grant_coupons,
    open_round,
    promotion_world,
    wait_for_status,
)


async def _all(client: httpx.AsyncClient, who: dict[str, Any], **params: Any,
               ) -> list[dict[str, Any]]:
    answer = await client.get("/v1/customers/me/movements", params=params, headers=auth(who))
    assert answer.status_code == 200, answer.text
    return answer.json()["movements"]  # type: ignore[no-any-return]


async def test_a_wallet_lists_every_movement_pages_and_exports(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await promotion_world(client)
    ann = w.ann
    # A top-up at the Noodle Bar's till.
    await client.put(f"/v1/merchants/{w.redeemer['id']}/till-limit",
                     json={"limit": 100 * CCC}, headers=ADMIN)
    await made(client, "/v1/till-credits", {"consumer": ann["id"], "amount": 20 * CCC,
                                            "reference": "R-77"}, auth(w.terminal))
    # A product bought with that credit.
    product = await made(client, "/v1/products", {
        "name": "Song", "description": "Song: a recording", "price": 3 * CCC,
        "circulation": 10}, auth(w.issuer))
    bought = await client.post(f"/v1/products/{product['id']}/purchases", headers=auth(ann),
                               json={"quantity": 1, "batch": 1, "max_price": 3 * CCC})
    assert bought.status_code == 201, bought.text
    # Two promotion coupons: one passed on to Bob, one written off at the till.
    round_id = await open_round(client, w, window=0)
    passed, used = await grant_coupons(client, w, round_id, ann, count=2)
    moved = await client.post(f"/v1/promotion-coupons/{passed}/transfer",
                              json={"to": w.bob["id"]}, headers=auth(ann))
    assert moved.status_code == 200, moved.text
    code = await consent_code(client, ann, used)
    await made(client, "/v1/write-offs", {"code": code, "order_amount": 1_000_000},
               auth(w.terminal))
    await wait_for_status(client, f"/v1/promotion-coupons/{used}", "distributed")
    paid = await client.post("/v1/payouts/me/withdraw", headers=auth(ann))
    assert paid.status_code == 200, paid.text
    withdrawn = paid.json()["total"]
    # An edition coupon bought at the shop and redeemed there.
    edition = await made(client, "/v1/editions", {
        "brand": "Noodle Bar", "title": "Free noodles", "terms": "One bowl.", "prefix": "NOOD",
        "total_pieces": 5, "price": 2_500_000, "valid_from": iso_in(-3600),
        "valid_until": iso_in(86400)}, auth(w.redeemer))
    sale = await made(client, f"/v1/editions/{edition['id']}/sales",
                      {"buyer": ann["id"], "order_ref": "N-1"}, auth(w.redeemer))
    serial = sale["coupon"]["serial"]
    redeemed = await client.post(f"/v1/coupons/{serial}/redeem", headers=auth(w.terminal))
    assert redeemed.status_code == 200, redeemed.text

    listed = await _all(client, ann)
    kinds = [m["kind"] for m in listed]
    assert kinds == ["edition_redeemed", "edition_bought", "withdrawal", "reward",
                     "promotion_written_off", "promotion_passed_on", "promotion_granted",
                     "promotion_granted", "purchase", "top_up"], kinds
    by_kind = {m["kind"]: m for m in listed}
    top_up = by_kind["top_up"]
    assert (top_up["amount"], top_up["amount_text"], top_up["balance"]) == (
        20 * CCC, "+20.000000 CCC", "credit")
    assert top_up["counterparty_name"] == "Noodle Bar" and top_up["reference"] == "R-77"
    assert by_kind["purchase"]["amount"] == -3 * CCC
    assert by_kind["purchase"]["amount_text"] == "-3.000000 CCC"
    assert by_kind["purchase"]["product"] == {"id": product["id"], "name": "Song",
                                              "quantity": 1}
    assert by_kind["reward"]["amount"] == withdrawn > 0
    assert by_kind["reward"]["balance"] == "claimable"
    assert by_kind["withdrawal"]["amount"] == withdrawn
    assert by_kind["promotion_passed_on"]["counterparty_name"] == "Bob"
    assert by_kind["promotion_passed_on"]["evidence"] == f"/promotion-coupons/{passed}"
    assert by_kind["promotion_written_off"]["counterparty_name"] == "Noodle Bar"
    assert {m["coupon"]["id"] for m in listed if m["kind"] == "promotion_granted"} == {
        passed, used}
    assert by_kind["edition_bought"]["price_text"] == "2.500000 CCC"
    assert by_kind["edition_bought"]["amount"] is None  # paid to the shop, not in credit
    assert by_kind["edition_redeemed"]["evidence"] == f"/coupons/{serial}"
    assert by_kind["edition_redeemed"]["coupon"]["title"] == "Free noodles"
    # Each names its transaction, and the transaction is the chain's.
    receipt = await runtime.rpc.call("eth_getTransactionReceipt", top_up["tx_hash"])
    assert int(receipt["blockNumber"], 16) == top_up["block_number"]
    # Bob sees the coupon coming in from Ann.
    (bobs,) = await _all(client, w.bob)
    assert (bobs["kind"], bobs["counterparty_name"]) == ("promotion_received", "Ann")

    # Paging: three at a time gives the same list.
    paged, cursor = [], None
    while True:
        answer = (await client.get("/v1/customers/me/movements", headers=auth(ann), params={
            "limit": 3} | ({"cursor": cursor} if cursor else {}))).json()
        paged += answer["movements"]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert paged == listed
    # Dates: today holds all of them, tomorrow none.
    today, tomorrow = iso_in(0)[:10], iso_in(86400)[:10]
    assert len(await _all(client, ann, **{"from": today, "to": today})) == len(listed)
    assert await _all(client, ann, **{"from": tomorrow}) == []

    # The CSV holds the same movements, amounts in display units.
    exported = await client.get("/v1/customers/me/movements.csv", headers=auth(ann))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["kind"] for r in rows] == kinds
    assert rows[-1]["amount"] == "+20.000000" and rows[-1]["counterparty"] == "Noodle Bar"
    assert rows[kinds.index("purchase")]["amount"] == "-3.000000"
    assert [r["tx_hash"] for r in rows] == [m["tx_hash"] for m in listed]
    later = await client.get("/v1/customers/me/movements.csv", headers=auth(ann),
                             params={"from": tomorrow})
    assert list(csv.DictReader(io.StringIO(later.text))) == []

    # A consumer's own list only; bad parameters name themselves.
    refused(await client.get("/v1/customers/me/movements", headers=auth(w.redeemer)),
            403, None)
    for params, field in (({"cursor": "x"}, "cursor"), ({"from": "yesterday"}, "from"),
                          ({"from": today, "to": "2000-01-01"}, "to")):
        refused(await client.get("/v1/customers/me/movements", params=params,
                                 headers=auth(ann)), 422, field)


async def test_a_till_finds_a_registered_phone_or_email_by_its_hash_only(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    bakery = await made(client, "/v1/merchants", {"name": "Bakery"})
    till = await made(client, "/v1/terminals", {"name": "Front till"}, auth(bakery))
    ann = await made(client, "/v1/consumers", {"name": "Ann Lee"})
    other = await made(client, "/v1/consumers", {"name": "Ann Other"})
    path = "/v1/customers/me/lookup"
    assert (await client.get(path, headers=auth(ann))).json() == {"phone": False,
                                                                  "email": False}
    # Before Ann registers anything, her phone finds nobody.
    assert await find_customers(client, till, bakery, q="+86 138 0000 0000") == []
    done = await client.put(path, json={"phone": "+86 138-0000 0000",
                                        "email": " Ann.Lee@Example.COM"}, headers=auth(ann))
    assert done.status_code == 200, done.text
    assert done.json() == {"phone": True, "email": True}
    # Another consumer's registration does not make her findable by Ann's identifiers.
    assert (await client.put(path, json={"email": "other@example.com"},
                             headers=auth(other))).status_code == 200

    # Only keyed hashes in the table: no digits of the phone, no part of the e-mail.
    async with runtime.db.session() as s:
        stored = (await s.execute(text("SELECT * FROM customer_lookups"))).all()
    assert len(stored) == 3
    flat = " ".join(str(v) for row in stored for v in row).lower()
    for secret in ("13800000000", "8613800000000", "ann.lee", "example", "other"):
        assert secret not in flat
    key = await runtime.secrets.value(LOOKUP_KEY, lambda: b"")
    assert {(r.kind, r.digest) for r in stored if r.participant_id == ann["id"]} == {
        ("phone", hmac.new(key, b"phone:8613800000000", hashlib.sha256).hexdigest()),
        ("email", hmac.new(key, b"email:ann.lee@example.com", hashlib.sha256).hexdigest())}

    # The bakery never dealt with Ann: her name finds nobody, the exact phone or
    # e-mail (typed any usual way) finds her; another number or address nobody.
    assert await find_customers(client, till, bakery, q="Ann") == []
    for typed in ("+86 138 0000 0000", "0086-138-0000-0000", "ANN.LEE@example.com"):
        found = await find_customers(client, till, bakery, q=typed)
        assert found == [("Ann Lee", ann["id"])], typed
    for typed in ("+86 138 0000 0001", "ann.lee@example.org", "138 0000 0000"):
        assert await find_customers(client, bakery, bakery, q=typed) == [], typed

    # Removing the phone stops the phone search; the e-mail still works.
    gone = await client.delete(f"{path}/phone", headers=auth(ann))
    assert gone.json() == {"phone": False, "email": True}
    assert await find_customers(client, till, bakery, q="+86 138 0000 0000") == []
    found = await find_customers(client, till, bakery, q="ann.lee@example.com")
    assert found == [("Ann Lee", ann["id"])]

    # Bad input names its field; only consumers register.
    refused(await client.put(path, json={"phone": "12"}, headers=auth(ann)), 422, "phone")
    refused(await client.put(path, json={"email": "ann"}, headers=auth(ann)), 422, "email")
    refused(await client.put(path, json={}, headers=auth(ann)), 422, "phone")
    refused(await client.put(path, json={"phone": "+8613800000000"}, headers=auth(bakery)),
            403, None)
