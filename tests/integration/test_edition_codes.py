"""Edition coupons in the consumer's wallet and at the till (issue 24): the holder's
list, its redemption code, and the till's check and redemption with that code, on
the real node. A code of a former holder, an expired code and another merchant's
till are refused with a problem naming the field."""

from __future__ import annotations

import time

import httpx

from couponchain.domain import edition_codes as rules
from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.answers import made, refused
from tests.integration.custody import read_typed, signature, switched_to_own_key
from tests.integration.customers import iso_in
from tests.integration.promotions_world import promotion_world


async def test_a_holder_shows_a_code_and_the_till_redeems_with_it(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await promotion_world(client)
    ann, bob = w.ann, w.bob
    edition = await made(client, "/v1/editions", {
        "brand": "Noodle Bar", "title": "Free noodles", "terms": "One bowl.", "prefix": "BOWL",
        "total_pieces": 5, "price": 2_500_000, "valid_from": iso_in(-3600),
        "valid_until": iso_in(86400)}, auth(w.redeemer))
    serials = [(await made(client, f"/v1/editions/{edition['id']}/sales",
                           {"buyer": ann["id"], "order_ref": f"B-{i}"}, auth(w.redeemer))
                )["coupon"]["serial"] for i in range(2)]

    # The wallet's list, one coupon a page.
    first = await client.get("/v1/customers/me/edition-coupons", params={"limit": 1},
                             headers=auth(ann))
    assert first.status_code == 200, first.text
    page = first.json()
    assert [c["serial"] for c in page["coupons"]] == serials[:1]
    held = page["coupons"][0]
    assert (held["brand"], held["title"], held["status"], held["list_price"]) == (
        "Noodle Bar", "Free noodles", "active", 2_500_000)
    assert held["merchant_name"] == "Noodle Bar"
    second = (await client.get("/v1/customers/me/edition-coupons", headers=auth(ann), params={
        "limit": 1, "cursor": page["next_cursor"]})).json()
    assert [c["serial"] for c in second["coupons"]] == serials[1:]
    assert second["next_cursor"] is None
    assert (await client.get("/v1/customers/me/edition-coupons",
                             headers=auth(bob))).json()["coupons"] == []

    # Only the holder gets a code.
    refused(await client.post(f"/v1/coupons/{serials[0]}/redemption-code", json={},
                              headers=auth(bob)), 403, "serial")
    code = (await made(client, f"/v1/coupons/{serials[0]}/redemption-code", {},
                       auth(ann)))["code"]
    assert code.startswith("CCE1.")

    # A code of a former holder: Ann's code for the coupon she then passed to Bob.
    stale = (await made(client, f"/v1/coupons/{serials[1]}/redemption-code", {},
                        auth(ann)))["code"]
    moved = await client.post(f"/v1/coupons/{serials[1]}/transfer", json={"to": bob["id"]},
                              headers=auth(ann))
    assert moved.status_code == 200, moved.text
    refused(await client.post("/v1/edition-codes/redeem", json={"code": stale},
                              headers=auth(w.terminal)), 422, "code", "not signed by the")

    # An expired code, correctly signed by the holder.
    key = (await runtime.participants.signer(ann["id"])).key
    coupon_id = int(code.split(".")[1])
    past = rules.Redemption(coupon_id, 7, int(time.time()) - 1)
    contract = runtime.gateway.contracts["editions"][0]
    expired = rules.encode(past, rules.sign(past, runtime.chain_id, contract, key))
    refused(await client.post("/v1/edition-codes/check", json={"code": expired},
                              headers=auth(w.terminal)), 422, "code", "expired")
    refused(await client.post("/v1/edition-codes/check", json={"code": "CCP2.1.2"},
                              headers=auth(w.terminal)), 422, "code", "not an edition")

    # Another merchant's till may not redeem it; the consumer may not either.
    refused(await client.post("/v1/edition-codes/check", json={"code": code},
                              headers=auth(w.issuer)), 403, "code")
    refused(await client.post("/v1/edition-codes/redeem", json={"code": code},
                              headers=auth(bob)), 403, None)

    # The till shows what the code redeems, then redeems it once.
    shown = await made(client, "/v1/edition-codes/check", {"code": code}, auth(w.terminal))
    assert shown["coupon"]["serial"] == serials[0]
    assert shown["coupon"]["edition"]["title"] == "Free noodles"
    assert shown["coupon"]["status"] == "active"
    assert shown["holder_name"] == ann["name"]
    redeemed = await made(client, "/v1/edition-codes/redeem", {"code": code}, auth(w.terminal))
    assert redeemed["coupon"]["status"] == "redeemed"
    refused(await client.post("/v1/edition-codes/redeem", json={"code": code},
                              headers=auth(w.terminal)), 409, None, "already redeemed")
    listed = (await client.get("/v1/customers/me/edition-coupons", headers=auth(ann),
                               params={"status": "redeemed"})).json()["coupons"]
    assert [c["serial"] for c in listed] == serials[:1]

    # Cy signs with a key of his own and buys a coupon: the server hands him the
    # Redemption to sign (a custodial holder is sent to the other route), takes only
    # his key's signature, and the till redeems with the code.
    cy_key = await switched_to_own_key(client, auth(w.cy))
    cys = (await made(client, f"/v1/editions/{edition['id']}/sales",
                      {"buyer": w.cy["id"], "order_ref": "B-cy"}, auth(w.redeemer))
           )["coupon"]["serial"]
    refused(await client.post(f"/v1/coupons/{cys}/redemption-code", json={},
                              headers=auth(w.cy)), 403, "custody")
    refused(await client.post(f"/v1/coupons/{serials[1]}/redemption-code-request", json={},
                              headers=auth(bob)), 403, "custody")
    typed = (await made(client, f"/v1/coupons/{cys}/redemption-code-request",
                        {"lifetime_seconds": 60}, auth(w.cy)))["typed_data"]
    assert typed["domain"]["verifyingContract"] == contract
    signed = {"nonce": typed["message"]["nonce"], "expiry": int(typed["message"]["expiry"])}
    refused(await client.post(f"/v1/coupons/{cys}/signed-redemption-code",
                              json={**signed, "signature": signature(read_typed(typed), key)},
                              headers=auth(w.cy)), 422, "code", "not signed by the")
    own = await made(client, f"/v1/coupons/{cys}/signed-redemption-code",
                     {**signed, "signature": signature(read_typed(typed), cy_key.key)},
                     auth(w.cy))
    assert own["code"].startswith(f"CCE1.{int(typed['message']['coupon'])}.")
    shown = await made(client, "/v1/edition-codes/check", {"code": own["code"]},
                       auth(w.terminal))
    assert shown["holder_name"] == w.cy["name"]
    redeemed = await made(client, "/v1/edition-codes/redeem", {"code": own["code"]},
                          auth(w.terminal))
    assert (redeemed["coupon"]["serial"], redeemed["coupon"]["status"]) == (cys, "redeemed")
