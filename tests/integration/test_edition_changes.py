"""Pausing, resuming and extending a limited edition through the API on the embedded
node (issue 25): the contract refuses sales while paused, the read model and the edition
JSON show the state and the changes with their reasons, the audit log who did it."""

from __future__ import annotations

import time

import httpx
from eth_utils import keccak

from couponchain.runtime import Runtime
from tests.integration.editions_world import create_edition, open_shop
from tests.integration.read_models import assert_replays_alike


def _iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _problem(response: httpx.Response, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["field"] == field, problem
    return str(problem["detail"])


async def test_pause_resume_extend_through_the_api(client: httpx.AsyncClient,
                                                   runtime: Runtime) -> None:
    shop = await open_shop(client)
    other = await open_shop(client, "Bakery")
    edition = await create_edition(client, shop, "PAUSE", 5)
    eid, till = edition["id"], shop.auth(shop.terminals[0])
    ann = shop.consumers[0]
    sale = {"buyer": ann["id"], "order_ref": "POS-1", "channel": "offline"}
    assert (await client.post(f"/v1/editions/{eid}/sales", json=sale,
                              headers=till)).status_code == 201

    # Who may: the merchant only; not its terminal, another merchant or the platform.
    for who in (till, other.as_merchant):
        refused = await client.post(f"/v1/editions/{eid}/pause", json={"reason": "x"},
                                    headers=who)
        _problem(refused, 403, "id")
    _problem(await client.post(f"/v1/editions/{eid}/pause", json={"reason": "   "},
                               headers=shop.as_merchant), 422, "reason")
    _problem(await client.post(f"/v1/editions/{eid}/pause", json={},
                               headers=shop.as_merchant), 422, "reason")

    paused = await client.post(f"/v1/editions/{eid}/pause",
                               json={"reason": " stock count at the store "},
                               headers={**shop.as_merchant, "Idempotency-Key": "p-1"})
    assert paused.status_code == 200, paused.text
    body = paused.json()
    assert body["edition"]["paused"] is True and body["tx_hash"].startswith("0x")
    (change,) = body["edition"]["changes"]
    assert (change["action"], change["by"], change["reason"]) == (
        "paused", shop.merchant["address"], "stock count at the store")
    assert change["reason_hash"] == "0x" + keccak(text="stock count at the store").hex()
    assert change["tx_hash"] == body["tx_hash"]
    again = await client.post(f"/v1/editions/{eid}/pause",
                              json={"reason": " stock count at the store "},
                              headers={**shop.as_merchant, "Idempotency-Key": "p-1"})
    assert again.json()["tx_hash"] == body["tx_hash"]  # the same request, once
    assert "editions: edition paused" in _problem(
        await client.post(f"/v1/editions/{eid}/pause", json={"reason": "twice"},
                          headers=shop.as_merchant), 409, "id")

    # Every kind of sale is refused: single, bulk, CSV import; and by the contract
    # itself when the API's own check is passed by.
    for path, kwargs in (
            ("sales", {"json": sale}),
            ("sales:bulk", {"json": {"sales": [sale, {**sale, "order_ref": "POS-2"}]}}),
            ("sales:import", {"content": "buyer,order_ref\n" + ann["id"] + ",CSV-1\n",
                              "headers": {**till, "content-type": "text/csv"}})):
        refused = await client.post(f"/v1/editions/{eid}/{path}",
                                    **{"headers": till, **kwargs})
        assert refused.status_code == 409, (path, refused.text)
        assert "editions: edition paused" in refused.json()["detail"], path
    assert await runtime.view("editions", "paused", eid) is True
    from couponchain.chain.gateway import Call
    from couponchain.errors import ContractRevert
    try:
        await runtime.gateway.submit(
            await runtime.participants.signer(shop.terminals[0]["id"]),
            Call("editions", "record_sales", fixed=(eid,),
                 item=(ann["address"], 300, 2, b"\x01" * 32), kind="record sale"))
        raise AssertionError("the contract sold a paused edition")
    except ContractRevert as refused_on_chain:
        assert refused_on_chain.reason == "editions: edition paused"
    # What was sold keeps its promise.
    assert (await client.post("/v1/coupons/PAUSE-000001/redeem",
                              headers=till)).status_code == 200
    listed = (await client.get("/v1/editions", params={"status": "paused"})).json()
    assert [e["id"] for e in listed["editions"]] == [eid]

    # Extend: later only, the field named.
    end = int(time.time()) + 86_400
    _problem(await client.post(f"/v1/editions/{eid}/extend",
                               json={"valid_until": _iso(end - 7200), "reason": "shorter"},
                               headers=shop.as_merchant), 409, "valid_until")
    _problem(await client.post(f"/v1/editions/{eid}/extend", json={"reason": "no end"},
                               headers=shop.as_merchant), 422, "valid_until")
    extended = await client.post(f"/v1/editions/{eid}/extend",
                                 json={"valid_until": _iso(end + 86_400),
                                       "reason": "the fair runs a day longer"},
                                 headers=shop.as_merchant)
    assert extended.status_code == 200, extended.text
    assert extended.json()["edition"]["valid_until"] == _iso(end + 86_400)

    resumed = await client.post(f"/v1/editions/{eid}/resume", json={"reason": "counted"},
                                headers=shop.as_merchant)
    assert resumed.status_code == 200, resumed.text
    _problem(await client.post(f"/v1/editions/{eid}/resume", json={"reason": "again"},
                               headers=shop.as_merchant), 409, "id")
    assert (await client.post(f"/v1/editions/{eid}/sales", json={**sale, "order_ref": "P-3"},
                              headers=till)).status_code == 201

    shown = (await client.get(f"/v1/editions/{eid}")).json()
    assert shown["paused"] is False
    assert [(c["action"], c["reason"]) for c in shown["changes"]] == [
        ("resumed", "counted"), ("extended", "the fair runs a day longer"),
        ("paused", "stock count at the store")]
    assert shown["changes"][1]["valid_until"] == _iso(end + 86_400)

    log = (await client.get("/v1/audit-log", headers=shop.as_merchant)).json()["entries"]
    ops = {(e["operation"], e["status"]): e for e in log}
    made = ops[("pause_edition", 200)]
    assert made["participant_id"] == shop.merchant["id"]
    assert made["tx_hash"] == body["tx_hash"]
    assert ("resume_edition", 200) in ops and ("extend_edition", 200) in ops
    # The paused flag, the end and the changes are rebuilt alike from the events.
    rebuilt = await assert_replays_alike(runtime)
    assert len(rebuilt["edition_changes"]) == 3
