"""Transfers by consumers who hold their own key (issue 23), on the real node.

Credit moves by an EIP-3009 `TransferWithAuthorization` naming the recipient
and the amount, relayed as `token.transferWithAuthorization` (the platform's key
cannot send it elsewhere, shown here on the node); a promotion coupon moves by a `CouponTransfer`
the holder signs, relayed to `promotions.transfer_signed`. The keys are made
here with eth_account, as the browser makes them: the API sees addresses and
signatures only.
"""

from __future__ import annotations

import time

import httpx
import pytest
from eth_account import Account

from couponchain.chain.gateway import Call
from couponchain.domain.eip712 import sign_typed, split
from couponchain.errors import ContractRevert
from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.custody import (
    own_key_holder_with_coupon,
    read_typed,
    signature,
    switched_to_own_key,
)
from tests.integration.promotions_world import (
    consent_code,
    grant_coupons,
    open_round,
    promotion_world,
    wait_for_status,
)


async def test_credit_leaves_an_own_key_account_by_its_authorization(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    ann = (await client.post("/v1/consumers", json={"name": "Ann"})).json()
    bob = (await client.post("/v1/consumers", json={"name": "Bob"})).json()
    account = await switched_to_own_key(client, auth(ann))
    issued = await client.post("/v1/credits", json={"to": ann["id"], "amount": 5_000_000})
    assert issued.status_code == 201, issued.text
    # A custodial consumer asks the server to sign instead: this route is not for it.
    custodial = await client.post("/v1/credit-transfers/authorization-request",
                                  headers=auth(bob), json={"to": ann["id"], "amount": 1})
    assert custodial.status_code == 403 and custodial.json()["field"] == "custody"
    too_much = await client.post("/v1/credit-transfers/authorization-request",
                                 headers=auth(ann), json={"to": bob["id"], "amount": 5_000_001})
    assert too_much.status_code == 422 and too_much.json()["field"] == "amount"

    asked = await client.post("/v1/credit-transfers/authorization-request", headers=auth(ann),
                              json={"to": bob["id"], "amount": 2_000_000})
    assert asked.status_code == 200, asked.text
    assert asked.json()["to"] == bob["address"]
    typed = read_typed(asked.json()["typed_data"])
    assert typed["primaryType"] == "TransferWithAuthorization"
    terms = typed["message"]
    assert (terms["from"], terms["to"], terms["value"]) == (account.address, bob["address"],
                                                            2_000_000)
    deadline, nonce = terms["validBefore"], terms["nonce"]
    body = {"to": bob["id"], "amount": 2_000_000, "deadline": deadline, "nonce": nonce}

    # Refused before anything is relayed: another key, a changed amount or recipient,
    # a deadline past or too far ahead (signed as such).
    wrong = await client.post("/v1/credit-transfers", headers=auth(ann), json={
        **body, "signature": signature(typed, Account.create().key)})
    assert wrong.status_code == 422 and wrong.json()["field"] == "signature"
    for changed in ({"amount": 2_000_001}, {"to": Account.create().address}):
        other = await client.post("/v1/credit-transfers", headers=auth(ann), json={
            **body, **changed, "signature": signature(typed, account.key)})
        assert other.status_code == 422 and other.json()["field"] == "signature"
    for late in (int(time.time()) - 1, int(time.time()) + 7_200):
        stale = {**typed, "message": {**terms, "validBefore": late}}
        expired = await client.post("/v1/credit-transfers", headers=auth(ann), json={
            **body, "deadline": late, "signature": signature(stale, account.key)})
        assert expired.status_code == 422 and expired.json()["field"] == "deadline"

    # The platform's own key, relaying the signature to a recipient of its choosing
    # (what a thief holding it would do), is refused by the token on chain.
    sig = sign_typed(typed, account.key)
    v, r, s = split(sig)
    thief = Account.create().address
    with pytest.raises(ContractRevert, match="token: invalid signature"):
        await runtime.gateway.submit(
            await runtime.participants.signer(runtime.platform.caller.id),
            Call("token", "transferWithAuthorization",
                 fixed=(account.address, thief, 2_000_000, 0, deadline,
                        bytes.fromhex(nonce[2:]), v, r, s), kind="test: a redirect"))
    assert await runtime.view("token", "balanceOf", thief) == 0

    signed = {**body, "signature": "0x" + sig.hex()}
    done = await client.post("/v1/credit-transfers", headers={**auth(ann),
                                                              "Idempotency-Key": "send-1"},
                             json=signed)
    assert done.status_code == 201, done.text
    sent = done.json()
    assert sent["from"] == account.address and sent["to"] == bob["address"]
    assert sent["amount"] == 2_000_000 and sent["token_balance"] == 3_000_000
    assert await runtime.view("token", "balanceOf", bob["address"]) == 2_000_000
    assert await runtime.view("token", "authorizationState", account.address,
                              bytes.fromhex(nonce[2:]))
    # The same request retried is answered once; the authorization replayed is refused.
    again = await client.post("/v1/credit-transfers", headers={**auth(ann),
                                                               "Idempotency-Key": "send-1"},
                              json=signed)
    assert again.status_code == 201 and again.json() == sent
    replay = await client.post("/v1/credit-transfers", headers=auth(ann), json=signed)
    assert replay.status_code == 422 and replay.json()["field"] == "nonce"
    assert "used already" in replay.json()["detail"]
    assert await runtime.view("token", "balanceOf", account.address) == 3_000_000

    # A withdrawal to an address outside the platform (the consumer's own wallet).
    wallet = Account.create().address
    out = (await client.post("/v1/credit-transfers/authorization-request",
                             headers=auth(ann), json={"to": wallet, "amount": 3_000_000})).json()
    typed = read_typed(out["typed_data"])
    gone = await client.post("/v1/credit-transfers", headers=auth(ann), json={
        "to": wallet, "amount": 3_000_000, "deadline": typed["message"]["validBefore"],
        "nonce": typed["message"]["nonce"], "signature": signature(typed, account.key)})
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


async def test_an_own_key_account_is_paid_its_payout_by_its_signed_withdrawal(
        client: httpx.AsyncClient, runtime: Runtime) -> None:
    w = await promotion_world(client)
    account = await switched_to_own_key(client, auth(w.ann))
    round_id = await open_round(client, w, window=0)
    (coupon,) = await grant_coupons(client, w, round_id, w.ann)
    nothing = await client.post("/v1/payouts/me/withdraw-request", headers=auth(w.ann))
    assert nothing.status_code == 409, nothing.text
    # Ann passes her coupon to Bob by a signed transfer; Bob's write-off pays her the
    # earlier holders' share once distributed.
    asked = read_typed((await client.post(f"/v1/promotion-coupons/{coupon}/transfer-request",
                                          headers=auth(w.ann),
                                          json={"to": w.bob["id"]})).json()["typed_data"])
    moved = await client.post(f"/v1/promotion-coupons/{coupon}/signed-transfer",
                              headers=auth(w.ann), json={
                                  "to": w.bob["id"], "nonce": str(asked["message"]["nonce"]),
                                  "expiry": asked["message"]["expiry"],
                                  "signature": signature(asked, account.key)})
    assert moved.status_code == 200, moved.text
    written = await client.post("/v1/write-offs", headers=auth(w.terminal), json={
        "code": await consent_code(client, w.bob, coupon), "order_amount": 1_000_000})
    assert written.status_code == 201, written.text
    await wait_for_status(client, f"/v1/promotion-coupons/{coupon}", "distributed")
    owed = await runtime.view("promotions", "claimable", account.address)
    assert owed > 0

    # The server holds no key for Ann: the custodial withdrawal refuses, naming custody;
    # Bob (custodial) has no use for the signed route.
    custodial = await client.post("/v1/payouts/me/withdraw", headers=auth(w.ann))
    assert custodial.status_code == 403 and custodial.json()["field"] == "custody"
    bobs = await client.post("/v1/payouts/me/withdraw-request", headers=auth(w.bob))
    assert bobs.status_code == 403 and bobs.json()["field"] == "custody"

    typed = read_typed((await client.post("/v1/payouts/me/withdraw-request",
                                          headers=auth(w.ann))).json()["typed_data"])
    assert typed["primaryType"] == "Withdraw"
    assert typed["message"]["account"] == account.address
    body = {"deadline": typed["message"]["deadline"]}
    wrong = await client.post("/v1/payouts/me/signed-withdraw", headers=auth(w.ann), json={
        **body, "signature": signature(typed, Account.create().key)})
    assert wrong.status_code == 422 and wrong.json()["field"] == "signature"
    paid = await client.post("/v1/payouts/me/signed-withdraw", headers=auth(w.ann), json={
        **body, "signature": signature(typed, account.key)})
    assert paid.status_code == 200, paid.text
    assert paid.json()["total"] == owed and paid.json()["withdrawn"][0]["source"] == "promotions"
    assert paid.json()["token_balance"] == owed
    assert await runtime.view("token", "balanceOf", account.address) == owed
    assert await runtime.view("promotions", "claimable", account.address) == 0
    # The payout shows in her history as any withdrawal.
    mine = (await client.get("/v1/payouts/me", headers=auth(w.ann))).json()
    assert mine["withdrawn"]["promotions"] == owed
