"""Suspension, unbinding, capability pauses and platform key rotation through the
API, on the real node (issue 23): each change goes on chain through the gateway,
the indexer records it, and the contracts refuse what the party may no longer do."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
from eth_utils import to_checksum_address

from couponchain.runtime import Runtime
from tests.api_auth import auth

ADMIN = {"authorization": "Bearer test-admin-key"}


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


async def made(client: httpx.AsyncClient, path: str, body: dict[str, Any],
               headers: dict[str, str] = ADMIN) -> dict[str, Any]:
    answer = await client.post(path, json=body, headers=headers)
    assert answer.is_success, f"{path}: {answer.status_code} {answer.text}"
    return answer.json()  # type: ignore[no-any-return]


async def shop(client: httpx.AsyncClient, name: str) -> tuple[dict, dict, dict, int]:
    """A merchant with a terminal, a consumer, and an open edition."""
    merchant = await made(client, "/v1/merchants", {"name": name})
    terminal = await made(client, "/v1/terminals", {"name": f"Till of {name}"}, auth(merchant))
    consumer = await made(client, "/v1/consumers", {"name": f"Buyer at {name}"})
    now = time.time()
    edition = await made(client, "/v1/editions", {
        "brand": name, "title": "Latte", "terms": "One cup.", "prefix": name[:6].upper(),
        "total_pieces": 50, "price": 0, "valid_from": iso(now - 60),
        "valid_until": iso(now + 86_400)}, auth(merchant))
    return merchant, terminal, consumer, edition["id"]


async def sell(client: httpx.AsyncClient, seller: dict, edition_id: int,
               consumer: dict) -> httpx.Response:
    return await client.post(f"/v1/editions/{edition_id}/sales", headers=auth(seller),
                             json={"buyer": consumer["id"], "order_ref": f"o-{time.time_ns()}"})


async def chain_platform(runtime: Runtime) -> str:
    return to_checksum_address(await runtime.view("registry", "platform"))


def refused(answer: httpx.Response, status: int, rule: str, field: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert rule in problem["detail"], problem
    if field is not None:
        assert problem["field"] == field, problem


async def test_merchant_suspends_reinstates_and_unbinds_its_terminal(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    merchant, terminal, consumer, edition_id = await shop(client, "Teahouse")
    path = f"/v1/participants/{terminal['id']}"
    assert (await sell(client, terminal, edition_id, consumer)).status_code == 201

    key = {"Idempotency-Key": "suspend-till"}
    first = await client.post(f"{path}/suspend", json={"reason": "till lost"},
                              headers=auth(merchant) | key)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["standing"], body["active"], body["standing_reason"]) == (
        "suspended", False, "till lost")
    assert body["standing_changed_by"] == merchant["address"]
    again = await client.post(f"{path}/suspend", json={"reason": "till lost"},
                              headers=auth(merchant) | key)
    assert again.json() == body  # applied once
    shown = (await client.get(path)).json()
    assert (shown["standing"], shown["standing_reason"], shown["standing_tx"]) == (
        "suspended", "till lost", body["tx_hash"])
    listed = (await client.get(f"/v1/merchants/{merchant['id']}/terminals",
                               headers=auth(merchant))).json()["items"]
    assert [(t["id"], t["standing"]) for t in listed] == [(terminal["id"], "suspended")]

    refused(await sell(client, terminal, edition_id, consumer), 409, "registry: caller suspended")
    refused(await client.post(f"{path}/suspend", json={"reason": "twice"},
                              headers=auth(merchant)), 409, "suspended", "id")

    reinstated = await client.post(f"{path}/reinstate", json={"reason": "found it"},
                                   headers=auth(merchant))
    assert reinstated.status_code == 200 and reinstated.json()["active"] is True
    assert (await sell(client, terminal, edition_id, consumer)).status_code == 201

    unbound = await client.post(f"/v1/terminals/{terminal['id']}/unbind",
                                json={"reason": "retired"}, headers=auth(merchant))
    assert unbound.status_code == 200 and unbound.json()["standing"] == "unbound"
    refused(await sell(client, terminal, edition_id, consumer), 409, "registry: terminal unbound")
    refused(await client.post(f"{path}/reinstate", json={}, headers=auth(merchant)),
            409, "only a suspended participant is reinstated", "id")
    record = await runtime.participants.on_chain(terminal["address"])
    assert record is not None and record.status == 2 and record.status_reason == "retired"


async def test_only_the_party_in_charge_may_act(client: httpx.AsyncClient) -> None:
    merchant, terminal, consumer, _ = await shop(client, "Bakery")
    other = await made(client, "/v1/merchants", {"name": "Rival"})
    path = f"/v1/participants/{terminal['id']}"
    refused(await client.post(f"{path}/suspend", json={"reason": "mine"}, headers=auth(other)),
            403, "only the terminal's own merchant", "id")
    # The platform suspends the merchant, not its terminals.
    refused(await client.post(f"{path}/suspend", json={"reason": "x"}, headers=ADMIN),
            403, "only the terminal's own merchant", "id")
    refused(await client.post(f"/v1/participants/{merchant['id']}/suspend",
                              json={"reason": "x"}, headers=auth(other)),
            403, "only the platform may suspend a merchant", "id")
    refused(await client.post(f"/v1/participants/{consumer['id']}/suspend",
                              json={"reason": "x"}, headers=ADMIN),
            422, "only merchants and terminals", "id")
    refused(await client.post(f"/v1/terminals/{merchant['id']}/unbind",
                              json={"reason": "x"}, headers=ADMIN),
            422, "only a terminal is unbound", "id")
    refused(await client.post(f"{path}/suspend", json={}, headers=auth(merchant)),
            422, "", "reason")
    refused(await client.post(f"{path}/suspend", json={"reason": "é" * 101},
                              headers=auth(merchant)), 422, "200 bytes", "reason")
    refused(await client.post(f"{path}/suspend", json={"reason": "   "},
                              headers=auth(merchant)), 422, "give a reason", "reason")
    refused(await client.post("/v1/participants/nobody/suspend", json={"reason": "x"},
                              headers=ADMIN), 404, "does not exist", "id")


async def test_terminal_of_a_suspended_merchant_is_refused(client: httpx.AsyncClient) -> None:
    merchant, terminal, consumer, edition_id = await shop(client, "Noodles")
    suspended = await client.post(f"/v1/participants/{merchant['id']}/suspend",
                                  json={"reason": "chargebacks under review"}, headers=ADMIN)
    assert suspended.status_code == 200, suspended.text
    shown = (await client.get(f"/v1/participants/{terminal['id']}")).json()
    assert (shown["standing"], shown["active"], shown["merchant_standing"]) == (
        "active", False, "suspended")
    merchants = (await client.get("/v1/merchants")).json()["items"]
    assert {m["id"]: m["standing_reason"] for m in merchants}[merchant["id"]] == (
        "chargebacks under review")
    for seller in (terminal, merchant):
        refused(await sell(client, seller, edition_id, consumer), 409,
                "registry: caller suspended")
    reinstated = await client.post(f"/v1/participants/{merchant['id']}/reinstate",
                                   json={"reason": "cleared"}, headers=ADMIN)
    assert reinstated.status_code == 200 and reinstated.json()["standing_reason"] == "cleared"
    assert (await sell(client, terminal, edition_id, consumer)).status_code == 201


async def test_platform_pauses_a_capability(client: httpx.AsyncClient) -> None:
    merchant, _terminal, consumer, edition_id = await shop(client, "Florist")
    paused = await client.post("/v1/capabilities/editions/pause",
                               json={"reason": "incident 7"}, headers=ADMIN)
    assert paused.status_code == 200, paused.text
    assert (paused.json()["paused"], paused.json()["reason"]) == (True, "incident 7")
    listed = {c["capability"]: c for c in (await client.get("/v1/capabilities")).json()[
        "capabilities"]}
    assert listed["editions"]["paused"] and not listed["prizes"]["paused"]
    refused(await sell(client, merchant, edition_id, consumer), 409,
            "registry: capability paused")
    refused(await client.post("/v1/capabilities/editions/pause", json={"reason": "again"},
                              headers=ADMIN), 409, "already paused", "capability")
    refused(await client.post("/v1/capabilities/editions/unpause", json={},
                              headers=auth(merchant)), 403, "only the platform", "capability")
    refused(await client.post("/v1/capabilities/lottery/pause", json={"reason": "x"},
                              headers=ADMIN), 404, "no capability", "capability")
    resumed = await client.post("/v1/capabilities/editions/unpause", json={"reason": "fixed"},
                                headers=ADMIN)
    assert resumed.status_code == 200 and resumed.json()["paused"] is False
    assert (await sell(client, merchant, edition_id, consumer)).status_code == 201


async def test_platform_key_moves_in_two_steps(client: httpx.AsyncClient,
                                               runtime: Runtime) -> None:
    before = (await client.get("/v1/platform/transfer")).json()
    assert before["candidate"] is None
    merchant = await made(client, "/v1/merchants", {"name": "Before"})
    refused(await client.post("/v1/platform/transfer/accept", headers=ADMIN),
            409, "no platform transfer is pending", "candidate")
    refused(await client.post("/v1/platform/transfer", headers=auth(merchant)),
            403, "only the platform")

    proposed = await client.post("/v1/platform/transfer", headers=ADMIN)
    assert proposed.status_code == 201, proposed.text
    candidate = proposed.json()["candidate"]
    assert (await client.get("/v1/platform/transfer")).json()["candidate"] == candidate
    assert await chain_platform(runtime) == before["platform"]  # nothing moved

    accepted = await client.post("/v1/platform/transfer/accept", headers=ADMIN)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["previous"] == before["platform"]
    assert await chain_platform(runtime) == candidate
    assert (await client.get("/v1/platform/transfer")).json() == {
        "platform": candidate, "candidate": None}
    # The same admin key keeps working; the platform now signs with the new key.
    after = await made(client, "/v1/merchants", {"name": "After"})
    record = await runtime.participants.on_chain(after["address"])
    assert record is not None and record.registrar == candidate
    credited = await client.post("/v1/credits", json={"to": after["id"], "amount": 5},
                                 headers=ADMIN)
    assert credited.status_code == 201, credited.text

    await made(client, "/v1/platform/transfer", {})
    cancelled = await client.post("/v1/platform/transfer/cancel", headers=ADMIN)
    assert cancelled.status_code == 200, cancelled.text
    assert (await client.get("/v1/platform/transfer")).json()["candidate"] is None
