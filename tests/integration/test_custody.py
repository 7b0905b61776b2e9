"""Self-custody (issue 23) on the real node: consumers who hold their own key.

The consumer's key is made here with eth_account, as the browser makes it with
@noble/curves (tests/browser/test_custody.py): the API only ever sees its
address and signatures.
"""

from __future__ import annotations

import httpx
from eth_account import Account

from couponchain.domain.consent import sign_typed
from couponchain.domain.roles import Role
from couponchain.runtime import Runtime
from tests.integration.test_promotions import _grant, _open, _world, auth


async def own_key(client: httpx.AsyncClient, headers: dict[str, str],
                  account: object | None = None) -> tuple[object, dict]:
    """Switch the consumer of `headers` to a new key of its own; (account, answer)."""
    account = account or Account.create()
    message = await client.get("/v1/participants/me/own-key/message",
                               params={"address": account.address}, headers=headers)
    assert message.status_code == 200, message.text
    typed = message.json()["typed_data"]
    switched = await client.put("/v1/participants/me/own-key", headers=headers, json={
        "address": account.address, "expiry": typed["message"]["expiry"],
        "signature": "0x" + sign_typed(typed, account.key).hex()})
    return account, switched


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
        "signature": "0x" + sign_typed(typed["typed_data"], other.key).hex()})
    assert refused.status_code == 422 and refused.json()["field"] == "signature"
    stale = await client.put("/v1/participants/me/own-key", headers=headers, json={
        "address": account.address, "expiry": 1,
        "signature": "0x" + sign_typed(typed["typed_data"], account.key).hex()})
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
            "signature": "0x" + sign_typed(typed, account.key).hex()}
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


def _typed(typed: dict) -> dict:
    """Typed data as the API sends it (integers as decimal text), with its integers
    read back by their EIP-712 types, as the browser reads them."""
    def read(kind: str, values: dict) -> dict:
        uints = {f["name"] for f in typed["types"][kind] if f["type"].startswith("uint")}
        return {k: int(v) if k in uints else v for k, v in values.items()}
    return {**typed, "domain": read("EIP712Domain", typed["domain"]),
            "message": read(typed["primaryType"], typed["message"])}


async def test_a_consent_signed_with_the_holders_own_key_is_written_off(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await _world(client)
    account, switched = await own_key(client, auth(w.ann))
    assert switched.status_code == 200, switched.text
    round_id = await _open(client, w, window=60)
    (coupon,) = await _grant(client, w, round_id, w.ann)
    # The server holds no key for Ann: its own consent route refuses, naming custody.
    custodial = await client.post(f"/v1/promotion-coupons/{coupon}/consent", headers=auth(w.ann),
                                  json={"merchant": "any", "max_order_amount": 500_000})
    assert custodial.status_code == 403 and custodial.json()["field"] == "custody"

    asked = await client.post(f"/v1/promotion-coupons/{coupon}/consent-request",
                              headers=auth(w.ann), json={"merchant": w.redeemer["id"],
                                                         "max_order_amount": 500_000})
    assert asked.status_code == 200, asked.text
    typed = _typed(asked.json()["typed_data"])
    assert typed["message"]["merchant"] == w.redeemer["address"]
    body = {"nonce": str(typed["message"]["nonce"]), "expiry": typed["message"]["expiry"],
            "merchant": w.redeemer["address"], "max_order_amount": 500_000}
    # Signed by another key: refused before anything is relayed.
    forged = await client.post(f"/v1/promotion-coupons/{coupon}/signed-consent",
                               headers=auth(w.ann), json={
                                   **body, "signature": "0x" + sign_typed(
                                       typed, Account.create().key).hex()})
    assert forged.status_code == 422 and forged.json()["field"] == "signature"
    signed = await client.post(f"/v1/promotion-coupons/{coupon}/signed-consent",
                               headers=auth(w.ann), json={
                                   **body, "signature": "0x" + sign_typed(typed,
                                                                          account.key).hex()})
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
                                   **body, "signature": "0x" + sign_typed(typed,
                                                                          account.key).hex()})
    assert replay.status_code == 409  # the coupon is written off
