"""Transfers by consumers who hold their own key (issue 23), on the real node.

Credit moves by an EIP-2612 permit to the platform's relaying account, relayed
as `permit` + `transferFrom`; a promotion coupon moves by a `CouponTransfer`
the holder signs, relayed to `promotions.transfer_signed`. The keys are made
here with eth_account, as the browser makes them: the API sees addresses and
signatures only.
"""

from __future__ import annotations

import time

import httpx
from eth_account import Account

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.custody import (
    own_key_holder_with_coupon,
    read_typed,
    signature,
    switched_to_own_key,
)


async def test_credit_leaves_an_own_key_account_by_its_permit(client: httpx.AsyncClient,
                                                              runtime: Runtime) -> None:
    ann = (await client.post("/v1/consumers", json={"name": "Ann"})).json()
    bob = (await client.post("/v1/consumers", json={"name": "Bob"})).json()
    account = await switched_to_own_key(client, auth(ann))
    issued = await client.post("/v1/credits", json={"to": ann["id"], "amount": 5_000_000})
    assert issued.status_code == 201, issued.text
    # A custodial consumer asks the server to sign instead: this route is not for it.
    custodial = await client.post("/v1/credit-transfers/permit-request", headers=auth(bob),
                                  json={"to": ann["id"], "amount": 1})
    assert custodial.status_code == 403 and custodial.json()["field"] == "custody"
    too_much = await client.post("/v1/credit-transfers/permit-request", headers=auth(ann),
                                 json={"to": bob["id"], "amount": 5_000_001})
    assert too_much.status_code == 422 and too_much.json()["field"] == "amount"

    asked = await client.post("/v1/credit-transfers/permit-request", headers=auth(ann),
                              json={"to": bob["id"], "amount": 2_000_000})
    assert asked.status_code == 200, asked.text
    assert asked.json()["to"] == bob["address"]
    permit = read_typed(asked.json()["typed_data"])
    relayer = runtime.platform.caller.address
    assert permit["message"]["spender"] == relayer and permit["message"]["value"] == 2_000_000
    deadline = permit["message"]["deadline"]
    body = {"to": bob["id"], "amount": 2_000_000, "deadline": deadline}

    # Refused before anything is relayed: another key, a changed amount, a deadline
    # past or too far ahead (signed as such).
    wrong = await client.post("/v1/credit-transfers", headers=auth(ann), json={
        **body, "signature": signature(permit, Account.create().key)})
    assert wrong.status_code == 422 and wrong.json()["field"] == "signature"
    more = await client.post("/v1/credit-transfers", headers=auth(ann), json={
        **body, "amount": 2_000_001, "signature": signature(permit, account.key)})
    assert more.status_code == 422 and more.json()["field"] == "signature"
    for late in (int(time.time()) - 1, int(time.time()) + 7_200):
        stale = {**permit, "message": {**permit["message"], "deadline": late}}
        expired = await client.post("/v1/credit-transfers", headers=auth(ann), json={
            **body, "deadline": late, "signature": signature(stale, account.key)})
        assert expired.status_code == 422 and expired.json()["field"] == "deadline"

    signed = {**body, "signature": signature(permit, account.key)}
    done = await client.post("/v1/credit-transfers", headers={**auth(ann),
                                                              "Idempotency-Key": "send-1"},
                             json=signed)
    assert done.status_code == 201, done.text
    sent = done.json()
    assert sent["from"] == account.address and sent["to"] == bob["address"]
    assert sent["amount"] == 2_000_000 and sent["token_balance"] == 3_000_000
    assert sent["permit_tx_hash"] and sent["tx_hash"] != sent["permit_tx_hash"]
    assert await runtime.view("token", "balanceOf", bob["address"]) == 2_000_000
    # The permit was for exactly this amount: the relayer is left no allowance.
    assert await runtime.view("token", "allowance", account.address, relayer) == 0
    # The same request retried is answered once; the permit replayed is refused.
    again = await client.post("/v1/credit-transfers", headers={**auth(ann),
                                                               "Idempotency-Key": "send-1"},
                              json=signed)
    assert again.status_code == 201 and again.json() == sent
    replay = await client.post("/v1/credit-transfers", headers=auth(ann), json=signed)
    assert replay.status_code == 422 and replay.json()["field"] == "signature"
    assert "used already" in replay.json()["detail"]
    assert await runtime.view("token", "balanceOf", account.address) == 3_000_000

    # A withdrawal to an address outside the platform (the consumer's own wallet).
    wallet = Account.create().address
    out = (await client.post("/v1/credit-transfers/permit-request", headers=auth(ann),
                             json={"to": wallet, "amount": 3_000_000})).json()
    permit = read_typed(out["typed_data"])
    gone = await client.post("/v1/credit-transfers", headers=auth(ann), json={
        "to": wallet, "amount": 3_000_000, "deadline": permit["message"]["deadline"],
        "signature": signature(permit, account.key)})
    assert gone.status_code == 201, gone.text
    assert gone.json()["token_balance"] == 0
    assert await runtime.view("token", "balanceOf", wallet) == 3_000_000


async def test_a_coupon_leaves_an_own_key_holder_by_its_signed_transfer(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w, account, coupon = await own_key_holder_with_coupon(client)
    # The server holds no key for Ann: the custodial transfer refuses, naming custody.
    custodial = await client.post(f"/v1/promotion-coupons/{coupon}/transfer",
                                  headers=auth(w.ann), json={"to": w.bob["id"]})
    assert custodial.status_code == 403 and custodial.json()["field"] == "custody"
    not_hers = await client.post(f"/v1/promotion-coupons/{coupon}/transfer-request",
                                 headers=auth(w.ann), json={"to": w.issuer["id"]})
    assert not_hers.status_code == 422 and not_hers.json()["field"] == "to"  # a merchant

    asked = await client.post(f"/v1/promotion-coupons/{coupon}/transfer-request",
                              headers=auth(w.ann), json={"to": w.bob["id"]})
    assert asked.status_code == 200, asked.text
    typed = read_typed(asked.json()["typed_data"])
    assert typed["message"]["receiver"] == w.bob["address"]
    body = {"to": w.bob["id"], "nonce": str(typed["message"]["nonce"]),
            "expiry": typed["message"]["expiry"]}
    url = f"/v1/promotion-coupons/{coupon}/signed-transfer"
    # Another key, another recipient than signed, an expiry past: refused.
    wrong = await client.post(url, headers=auth(w.ann), json={
        **body, "signature": signature(typed, Account.create().key)})
    assert wrong.status_code == 422 and wrong.json()["field"] == "signature"
    redirected = await client.post(url, headers=auth(w.ann), json={
        **body, "to": w.cy["id"], "signature": signature(typed, account.key)})
    assert redirected.status_code == 422 and redirected.json()["field"] == "signature"
    past = int(time.time()) - 1
    stale = {**typed, "message": {**typed["message"], "expiry": past}}
    expired = await client.post(url, headers=auth(w.ann), json={
        **body, "expiry": past, "signature": signature(stale, account.key)})
    assert expired.status_code == 422 and expired.json()["field"] == "expiry"

    signed = {**body, "signature": signature(typed, account.key)}
    done = await client.post(url, headers=auth(w.ann), json=signed)
    assert done.status_code == 200, done.text
    moved = done.json()["coupon"]
    assert moved["holder"] == w.bob["address"] and moved["transfers"] == 1
    step = moved["path"][-1]
    assert step["action"] == "transferred" and step["from"] == account.address
    assert await runtime.view("promotions", "transfer_nonce_used", account.address,
                              int(body["nonce"]))
    # Bob gives it back; Ann's old signature cannot take it from her again.
    back = await client.post(f"/v1/promotion-coupons/{coupon}/transfer", headers=auth(w.bob),
                             json={"to": w.ann["id"]})
    assert back.status_code == 200, back.text
    replay = await client.post(url, headers=auth(w.ann), json=signed)
    assert replay.status_code == 422 and replay.json()["field"] == "nonce"
    held = (await client.get(f"/v1/promotion-coupons/{coupon}")).json()
    assert held["holder"] == account.address and held["transfers"] == 2
