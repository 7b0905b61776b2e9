"""Top-up at a merchant's till (issue 24), through the API on the real node, on
SQLite and PostgreSQL: the platform sets a merchant's till limit, the merchant's
terminal credits a consumer within it, the consumer sees the top-up and its
balance, and every refusal is a problem naming its field."""

from __future__ import annotations

import httpx

from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration.answers import ADMIN, CCC, made, refused


async def shop(client: httpx.AsyncClient) -> tuple[dict, dict, dict, dict]:
    merchant = await made(client, "/v1/merchants", {"name": "Corner Tea"})
    terminal = await made(client, "/v1/terminals", {"name": "Front till"}, auth(merchant))
    consumer = await made(client, "/v1/consumers", {"name": "Mei"})
    other = await made(client, "/v1/merchants", {"name": "Other Shop"})
    return merchant, terminal, consumer, other


async def test_terminal_tops_up_a_consumer_within_the_platform_limit(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    merchant, terminal, consumer, other = await shop(client)
    limit_path = f"/v1/merchants/{merchant['id']}/till-limit"
    credit = {"consumer": consumer["id"], "amount": 20 * CCC, "reference": "receipt 42"}

    # No limit yet: nothing may be credited, and nothing is signed.
    refused(await client.post("/v1/till-credits", json=credit, headers=auth(terminal)),
            409, "amount", "till limit")

    # Only the platform sets the limit.
    refused(await client.put(limit_path, json={"limit": 50 * CCC}, headers=auth(merchant)),
            403, None)
    answer = await client.put(limit_path, json={"limit": 50 * CCC},
                              headers=ADMIN | {"Idempotency-Key": "limit-1"})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["limit"], answer.json()["remaining"]) == (50 * CCC, 50 * CCC)

    # The merchant and its terminal see it; another merchant and the consumer do not.
    for who in (merchant, terminal):
        seen = await client.get(limit_path, headers=auth(who))
        assert seen.json()["remaining"] == 50 * CCC, seen.text
    for who in (other, consumer):
        refused(await client.get(limit_path, headers=auth(who)), 403, None)

    # The terminal credits for its merchant; a retry with the key credits once.
    key = auth(terminal) | {"Idempotency-Key": "till-7-receipt-42"}
    first = await client.post("/v1/till-credits", json=credit, headers=key)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["amount"], body["remaining"], body["reference"], body["merchant_name"]) == (
        20 * CCC, 30 * CCC, "receipt 42", "Corner Tea")
    assert body["operator"] == terminal["address"]
    again = await client.post("/v1/till-credits", json=credit, headers=key)
    assert (again.status_code, again.json()) == (201, body)
    refused(await client.post("/v1/till-credits", json={**credit, "amount": 1}, headers=key),
            422, "Idempotency-Key")
    assert await runtime.view("token", "balanceOf", consumer["address"]) == 20 * CCC
    assert await runtime.view("token", "till_remaining", merchant["address"]) == 30 * CCC

    # Over what is left: 409 naming the amount, and nothing changes on chain.
    refused(await client.post("/v1/till-credits", json={**credit, "amount": 30 * CCC + 1},
                              headers=auth(merchant)), 409, "amount", "30.000000 CCC")
    assert await runtime.view("token", "balanceOf", consumer["address"]) == 20 * CCC

    # The consumer sees the top-up, by whom, and its balance.
    mine = (await client.get("/v1/till-credits/me", headers=auth(consumer))).json()
    assert mine["token_balance"] == 20 * CCC
    (top_up,) = mine["top_ups"]
    assert (top_up["merchant_name"], top_up["operator_name"], top_up["amount"],
            top_up["reference"], top_up["tx_hash"]) == (
        "Corner Tea", "Front till", 20 * CCC, "receipt 42", body["tx_hash"])

    # The merchant's till lists it beside the limit; the platform sees it too.
    for who in (merchant, {"api_key": "test-admin-key"}):
        listed = (await client.get(f"/v1/merchants/{merchant['id']}/till-credits",
                                   headers=auth(who))).json()
        assert (listed["remaining"], listed["credited"]) == (30 * CCC, 20 * CCC)
        assert [t["consumer_name"] for t in listed["top_ups"]] == ["Mei"]

    # Raising the limit counts what was credited: 80 leaves 60.
    raised = await client.put(limit_path, json={"limit": 80 * CCC}, headers=ADMIN)
    assert raised.json()["remaining"] == 60 * CCC, raised.text


async def test_till_credit_refusals_name_the_field(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    merchant, terminal, consumer, other = await shop(client)
    await client.put(f"/v1/merchants/{merchant['id']}/till-limit", json={"limit": 10 * CCC},
                     headers=ADMIN)
    good = {"consumer": consumer["id"], "amount": CCC}
    post = "/v1/till-credits"
    for bad, field in (
        ({**good, "amount": "1"}, "amount"),  # a string is not an amount
        ({**good, "amount": 0}, "amount"),
        ({**good, "amount": 1.5}, "amount"),
        ({**good, "reference": "收据" * 6}, "reference"),  # 12 characters, 36 bytes
        ({**good, "reference": "tab\there"}, "reference"),
        ({**good, "consumer": merchant["id"]}, "consumer"),  # not a consumer
        ({**good, "consumer": "nobody"}, "consumer"),
        ({**good, "tip": 1}, "tip"),
    ):
        refused(await client.post(post, json=bad, headers=auth(terminal)), 422, field)
    # Only a merchant or its terminal credits; only at its own merchant's limit.
    for who in (consumer, {"api_key": "test-admin-key"}):
        refused(await client.post(post, json=good, headers=auth(who)), 403, None)
    refused(await client.post(post, json=good, headers=auth(other)), 409, "amount")
    refused(await client.put(f"/v1/merchants/{consumer['id']}/till-limit",
                             json={"limit": 1}, headers=ADMIN), 404, "merchant_id")
    refused(await client.put(f"/v1/merchants/{merchant['id']}/till-limit",
                             json={"limit": -1}, headers=ADMIN), 422, "limit")
    refused(await client.get("/v1/till-credits/me", headers=auth(merchant)), 403, None)
    assert await runtime.view("token", "totalSupply") == 0
