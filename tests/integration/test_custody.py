"""Self-custody (issue 23) on the real node: consumers who hold their own key.

The consumer's key is made here with eth_account, as the browser makes it with
@noble/curves (tests/browser/test_custody.py): the API only ever sees its
address and signatures.
"""

from __future__ import annotations

import httpx
from eth_account import Account

from couponchain.domain.roles import Role
from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.custody import (
    own_key,
    own_key_holder_with_coupon,
    read_typed,
    signature,
    switched_to_own_key,
)


async def test_a_consumer_switches_to_its_own_key(client: httpx.AsyncClient,
                                                  runtime: Runtime) -> None:
    consumer = (await client.post("/v1/consumers", json={"name": "Ann"})).json()
    assert consumer["custody"] == "custodial"
    headers = {"authorization": f"Bearer {consumer['api_key']}"}
    account, switched = await own_key(client, headers)
    assert switched.status_code == 200, switched.text
    body = switched.json()
    assert body["custody"] == "own" and body["address"] == account.address
    assert body["previous_address"] == consumer["address"]
    record = await runtime.participants.on_chain(account.address)
    assert record is not None and record.role == Role.CONSUMER

    me = (await client.get("/v1/participants/me", headers=headers)).json()
    assert me["custody"] == "own" and me["address"] == account.address
    # The server keeps no key for it any more: it cannot sign in its name.
    row = await runtime.participants.get(consumer["id"])
    assert row.encrypted_key == b""
    again, second = await own_key(client, headers)
    assert second.status_code == 409 and second.json()["field"] == "address"


async def test_a_proof_must_come_from_the_key(client: httpx.AsyncClient) -> None:
    consumer = (await client.post("/v1/consumers", json={"name": "Bo"})).json()
    headers = {"authorization": f"Bearer {consumer['api_key']}"}
    account, other = Account.create(), Account.create()
    typed = (await client.get("/v1/participants/me/own-key/message",
                              params={"address": account.address}, headers=headers)).json()
    refused = await client.put("/v1/participants/me/own-key", headers=headers, json={
        "address": account.address, "expiry": typed["typed_data"]["message"]["expiry"],
        "signature": signature(typed["typed_data"], other.key)})
    assert refused.status_code == 422 and refused.json()["field"] == "signature"
    stale = await client.put("/v1/participants/me/own-key", headers=headers, json={
        "address": account.address, "expiry": 1,
        "signature": signature(typed["typed_data"], account.key)})
    assert stale.status_code == 422 and stale.json()["field"] == "expiry"
    # An address already a participant's is refused.
    taken, answer = await own_key(client, headers, Account.from_key(account.key))
    assert answer.status_code == 200
    ann = (await client.post("/v1/consumers", json={"name": "Ann"})).json()
    _, clash = await own_key(client, {"authorization": f"Bearer {ann['api_key']}"}, taken)
    assert clash.status_code == 409 and clash.json()["field"] == "address"


async def test_a_consumer_holding_credit_keeps_its_custodial_key(
        client: httpx.AsyncClient) -> None:
    consumer = (await client.post("/v1/consumers", json={"name": "Cy"})).json()
    credit = await client.post("/v1/credits", json={"to": consumer["id"], "amount": 5})
    assert credit.status_code == 201, credit.text
    _, refused = await own_key(client, {"authorization": f"Bearer {consumer['api_key']}"})
    assert refused.status_code == 409 and "credit" in refused.json()["detail"]


async def test_a_merchant_creates_a_consumer_with_its_own_key(client: httpx.AsyncClient,
                                                              runtime: Runtime) -> None:
    merchant = (await client.post("/v1/merchants", json={"name": "Tea"})).json()
    as_merchant = {"authorization": f"Bearer {merchant['api_key']}",
                   "Idempotency-Key": "own-1"}
    account = Account.create()
    typed = (await client.get("/v1/own-key/message",
                              params={"address": account.address})).json()["typed_data"]
    body = {"name": "Dee", "address": account.address, "expiry": typed["message"]["expiry"],
            "signature": signature(typed, account.key)}
    created = await client.post("/v1/consumers/own-key", json=body, headers=as_merchant)
    assert created.status_code == 201, created.text
    assert created.json()["custody"] == "own" and created.json()["api_key"]
    again = await client.post("/v1/consumers/own-key", json=body, headers=as_merchant)
    assert again.json() == created.json()
    record = await runtime.participants.on_chain(account.address)
    assert record is not None and record.role == Role.CONSUMER
    headers = {"authorization": f"Bearer {created.json()['api_key']}"}
    me = (await client.get("/v1/participants/me", headers=headers)).json()
    assert me["custody"] == "own" and me["address"] == account.address


async def test_a_consent_signed_with_the_holders_own_key_is_written_off(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w, account, coupon = await own_key_holder_with_coupon(client)
    # The server holds no key for Ann: its own consent route refuses, naming custody.
    custodial = await client.post(f"/v1/promotion-coupons/{coupon}/consent", headers=auth(w.ann),
                                  json={"merchant": "any", "max_order_amount": 500_000})
    assert custodial.status_code == 403 and custodial.json()["field"] == "custody"

    asked = await client.post(f"/v1/promotion-coupons/{coupon}/consent-request",
                              headers=auth(w.ann), json={"merchant": w.redeemer["id"],
                                                         "max_order_amount": 500_000})
    assert asked.status_code == 200, asked.text
    typed = read_typed(asked.json()["typed_data"])
    assert typed["message"]["merchant"] == w.redeemer["address"]
    body = {"nonce": str(typed["message"]["nonce"]), "expiry": typed["message"]["expiry"],
            "merchant": w.redeemer["address"], "max_order_amount": 500_000}
    # Signed by another key: refused before anything is relayed.
    forged = await client.post(f"/v1/promotion-coupons/{coupon}/signed-consent",
                               headers=auth(w.ann), json={
                                   **body, "signature": signature(typed, Account.create().key)})
    assert forged.status_code == 422 and forged.json()["field"] == "signature"
    signed = await client.post(f"/v1/promotion-coupons/{coupon}/signed-consent",
                               headers=auth(w.ann), json={
                                   **body, "signature": signature(typed, account.key)})
    assert signed.status_code == 200, signed.text
    code = signed.json()["code"]
    # The contract checks the holder's own signature and the merchant the consent names.
    other = await client.post("/v1/write-offs", headers=auth(w.issuer),
                              json={"code": code, "order_amount": 100_000})
    assert other.status_code == 409 and "for merchant" in other.json()["detail"]
    done = await client.post("/v1/write-offs", headers=auth(w.terminal),
                             json={"code": code, "order_amount": 400_000})
    assert done.status_code == 201, done.text
    assert done.json()["holder"] == account.address and done.json()["incentive"] == 40_000
    replay = await client.post(f"/v1/promotion-coupons/{coupon}/signed-consent",
                               headers=auth(w.ann), json={
                                   **body, "signature": signature(typed, account.key)})
    assert replay.status_code == 409  # the coupon is written off


async def _sign_and_relay(client: httpx.AsyncClient, headers: dict[str, str], account: object,
                          product: int, body: dict, *, tamper: str = "") -> httpx.Response:
    asked = await client.post(f"/v1/products/{product}/purchase-intents", headers=headers,
                              json=body)
    assert asked.status_code == 200, asked.text
    intent, permit = read_typed(asked.json()["intent"]), read_typed(asked.json()["permit"])
    assert permit["message"]["value"] == body["quantity"] * body["max_price"]
    assert permit["message"]["spender"] == intent["domain"]["verifyingContract"]
    key = Account.create().key if tamper == "signer" else account.key
    signed = {**body, "nonce": str(intent["message"]["nonce"]),
              "expiry": intent["message"]["expiry"],
              "signature": signature(intent, key),
              "permit_signature": signature(
                  permit, Account.create().key if tamper == "permit" else account.key)}
    return await client.post(f"/v1/products/{product}/signed-purchases", json=signed,
                             headers={**headers, "Idempotency-Key": f"buy-{tamper}-{product}"
                                                                    f"-{body['quantity']}"})


async def test_a_buyer_with_its_own_key_buys_through_a_link_relayed(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    originator = (await client.post("/v1/merchants", json={"name": "Studio"})).json()
    ann = (await client.post("/v1/consumers", json={"name": "Ann"})).json()
    bob = (await client.post("/v1/consumers", json={"name": "Bob"})).json()
    account = await switched_to_own_key(client, auth(bob))
    for person in (ann, bob):
        issued = await client.post("/v1/credits", json={"to": person["id"],
                                                        "amount": 50_000_000})
        assert issued.status_code == 201, issued.text
    product = (await client.post("/v1/products", headers=auth(originator), json={
        "name": "Song", "description": "a song", "price": 1_000_000,
        "circulation": 2})).json()["id"]
    bought = await client.post(f"/v1/products/{product}/purchases", headers=auth(ann),
                               json={"quantity": 2, "batch": 1, "max_price": 1_000_000})
    assert bought.status_code == 201, bought.text
    opened = await client.post(f"/v1/products/{product}/batches", headers=auth(originator),
                               json={"price": 2_000_000, "circulation": 10,
                                     "rebate_bps": 1_000})
    assert opened.status_code == 201, opened.text
    link = (await client.post(f"/v1/products/{product}/links", json={},
                              headers=auth(ann))).json()["link"]
    body = {"quantity": 3, "batch": 2, "max_price": 2_000_000, "link": link}

    # Refused before relaying: another key signed the intent, or the permit.
    for tamper, field in (("signer", "signature"), ("permit", "permit_signature")):
        refused = await _sign_and_relay(client, auth(bob), account, product, body,
                                        tamper=tamper)
        assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
    # A price above what the buyer saw is refused as in a custodial purchase.
    low = await client.post(f"/v1/products/{product}/purchase-intents", headers=auth(bob),
                            json={**body, "max_price": 1_999_999})
    assert low.status_code == 409 and low.json()["field"] == "max_price"

    done = await _sign_and_relay(client, auth(bob), account, product, body)
    assert done.status_code == 201, done.text
    paid = done.json()
    assert paid["buyer"] == account.address and paid["promoter"] == ann["address"]
    assert paid["amount"] == 6_000_000 and paid["units_held"] == 3
    # Paid through the exact permit: no allowance is left for anyone to take.
    referrals = runtime.gateway.contracts["referrals"][0]
    assert await runtime.view("token", "allowance", account.address, referrals) == 0
    assert await runtime.view("token", "balanceOf", account.address) == 44_000_000
    holdings = await client.get("/v1/holdings/me", headers=auth(bob))
    assert holdings.status_code == 200, holdings.text
