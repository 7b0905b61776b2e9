"""Participants through the API: created on chain, visible in the read model."""

from __future__ import annotations

import httpx

from couponchain.domain.roles import Role
from couponchain.runtime import Runtime


async def test_created_participants_appear_in_the_read_model(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    merchant = (await client.post("/v1/merchants", json={"name": "Tea House"})).json()
    assert merchant["role"] == "merchant" and merchant["tx_hash"].startswith("0x")
    as_merchant = {"authorization": f"Bearer {merchant['api_key']}"}
    terminal = await client.post("/v1/terminals", json={"name": "Till 1"}, headers=as_merchant)
    assert terminal.status_code == 201, terminal.text
    consumer = await client.post("/v1/consumers", json={"name": "Ann"}, headers=as_merchant)
    assert consumer.status_code == 201, consumer.text

    record = await runtime.participants.on_chain(terminal.json()["address"])
    assert record is not None
    assert record.role == Role.TERMINAL
    assert record.merchant == merchant["address"]
    assert (await runtime.participants.on_chain(consumer.json()["address"])).role == Role.CONSUMER


async def test_roles_are_enforced_with_problem_details(client: httpx.AsyncClient) -> None:
    merchant = (await client.post("/v1/merchants", json={"name": "Books"})).json()
    as_merchant = {"authorization": f"Bearer {merchant['api_key']}"}
    denied = await client.post("/v1/merchants", json={"name": "Rogue"}, headers=as_merchant)
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"
    assert denied.json()["type"].endswith("/forbidden")

    nobody = await client.post("/v1/consumers", json={"name": "x"},
                               headers={"authorization": "Bearer nope"})
    assert nobody.status_code == 401


async def test_bad_input_names_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/merchants", json={"name": ""})
    assert response.status_code == 422
    assert response.json()["field"] == "name"
    extra = await client.post("/v1/merchants", json={"name": "A", "colour": "red"})
    assert extra.status_code == 422 and extra.json()["field"] == "colour"


async def test_idempotent_retry_returns_the_stored_response(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "merchant-42"}
    first = await client.post("/v1/merchants", json={"name": "Once"}, headers=headers)
    again = await client.post("/v1/merchants", json={"name": "Once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    listed = (await client.get("/v1/merchants")).json()["items"]
    assert [m["name"] for m in listed].count("Once") == 1

    other = await client.post("/v1/merchants", json={"name": "Twice"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["field"] == "Idempotency-Key"


async def test_idempotent_retry_keeps_amounts_beyond_64_bits(client: httpx.AsyncClient) -> None:
    """Found by the stateful OpenAPI test: a credit of more than 2**64 units was issued but
    answered 500 (the stored response could not be serialised), and a replay would have
    turned the amounts into floats."""
    consumer = (await client.post("/v1/consumers", json={"name": "Rich"})).json()
    headers = {"Idempotency-Key": "credit-big"}
    body = {"to": consumer["id"], "amount": 2**70 + 1}
    first = await client.post("/v1/credits", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["amount"] == first.json()["token_balance"] == 2**70 + 1
    again = await client.post("/v1/credits", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json() and isinstance(again.json()["amount"], int)


async def test_health_reports_chain_indexer_and_outbox(client: httpx.AsyncClient) -> None:
    health = (await client.get("/v1/health")).json()
    assert health["status"] == "ok"
    assert health["chain_head"] >= 1
    assert health["outbox_depth"] == 0
    assert set(health["contracts"]) >= {"registry", "token"}
    metrics = (await client.get("/metrics")).text
    assert "couponchain_outbox_depth 0" in metrics


async def test_only_its_merchant_creates_a_terminal(client: httpx.AsyncClient,
                                                   runtime: Runtime) -> None:
    # Issue 23: the platform key bound terminals to any merchant; now the
    # merchant's own key registers them, and the platform is refused before
    # anything is written (no account, no key, no transaction).
    merchant = (await client.post("/v1/merchants", json={"name": "Lotus"})).json()
    as_merchant = {"authorization": f"Bearer {merchant['api_key']}"}
    refused = await client.post("/v1/terminals", json={"name": "Rogue till",
                                                       "merchant_id": merchant["id"]})
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["field"] == "merchant_id"
    assert "its own merchant" in refused.json()["detail"]
    listed = await client.get(f"/v1/merchants/{merchant['id']}/terminals", headers=as_merchant)
    assert listed.json()["items"] == []

    own = await client.post("/v1/terminals", json={"name": "Till 1",
                                                   "merchant_id": merchant["id"]},
                            headers=as_merchant)
    assert own.status_code == 201, own.text
    record = await runtime.participants.on_chain(own.json()["address"])
    assert record is not None and record.merchant == merchant["address"]
    assert record.registrar == merchant["address"], "signed with the merchant's key"
