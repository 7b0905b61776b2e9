"""Strict types at the API edge, on every write route (api.inputs, api.bounds).

The findings: `quantity: true` bought one unit, `order_amount: true` wrote off an order
of 1, `valid_from: 1.5` was taken as a date, duplicate JSON keys were accepted silently,
an access-log `ip: true` was stored, and `valid_from` of 1969-12-31T23:59:59Z,
0001-01-01T00:00:00Z or -1 answered 500. Each is tried here as found, then every write
route's fields are tried the same way from the published OpenAPI document.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from couponchain.api.app import create_app
from couponchain.runtime import Runtime

ADMIN = {"authorization": "Bearer test-admin-key"}
WRITES = {"post", "put", "patch", "delete"}


def _refused(answer: httpx.Response, field: str) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    fields = {e["field"] for e in problem.get("errors") or [{"field": problem["field"]}]}
    assert field in fields, problem
    return problem


async def test_booleans_are_not_integers(client: httpx.AsyncClient) -> None:
    _refused(await client.post("/v1/products/1/purchases", json={"quantity": True}),
             "quantity")
    _refused(await client.post("/v1/write-offs", json={"code": "x", "order_amount": True}),
             "order_amount")
    _refused(await client.post("/v1/credits", json={"to": "x", "amount": True}), "amount")


async def test_strings_and_fractions_are_not_integers(client: httpx.AsyncClient) -> None:
    _refused(await client.post("/v1/products/1/purchases", json={"quantity": "1"}),
             "quantity")
    _refused(await client.post("/v1/products/1/purchases", json={"quantity": 1.5}),
             "quantity")


@pytest.mark.parametrize("when", [1.5, -1, 0, "1.5", "1700000000", True,
                                  "1969-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
                                  "2026-01-01T00:00:00", "yesterday"])
async def test_times_are_iso_text_with_an_offset_within_what_contracts_store(
        client: httpx.AsyncClient, when: object) -> None:
    merchant = (await client.post("/v1/merchants", json={"name": "Dates"})).json()
    info = {"headline": "Spring", "valid_from": when, "valid_until": "2030-01-01T00:00:00Z"}
    _refused(await client.put(f"/v1/merchants/{merchant['id']}/marketing-info", json=info),
             "valid_from")
    edition = {"brand": "B", "title": "T", "terms": "t", "prefix": "DT", "total_pieces": 9,
               "price": 1, "valid_from": "2026-01-01T00:00:00Z", "valid_until": when}
    _refused(await client.post("/v1/editions", json=edition), "valid_until")
    assert (await client.get("/v1/health")).status_code == 200  # the connection lives on


async def test_a_time_with_an_offset_is_read_in_utc(client: httpx.AsyncClient) -> None:
    merchant = (await client.post("/v1/merchants", json={"name": "Offsets"})).json()
    info = {"headline": "Spring", "valid_from": "2030-01-01T08:00:00+08:00",
            "valid_until": "2030-01-02T00:00:00Z"}
    made = await client.put(f"/v1/merchants/{merchant['id']}/marketing-info", json=info,
                            headers={"authorization": f"Bearer {merchant['api_key']}"})
    assert made.status_code == 200, made.text
    current = (await client.get(f"/v1/merchants/{merchant['id']}/marketing-info")).json()
    assert current["current"]["valid_from"] == "2030-01-01T00:00:00Z"


async def test_duplicate_keys_are_refused(client: httpx.AsyncClient) -> None:
    answer = await client.post("/v1/merchants", content=b'{"name": "A", "name": "B"}',
                               headers={"content-type": "application/json"})
    problem = _refused(answer, "body")
    assert "'name' appears twice" in problem["detail"]
    assert (await client.get("/v1/merchants")).json()["items"] == [], "nothing written"


async def test_an_access_log_ip_must_be_text(runtime: Runtime,
                                             client: httpx.AsyncClient) -> None:
    merchant = (await client.post("/v1/merchants", json={"name": "Logs"})).json()
    terminal = (await client.post("/v1/terminals", json={"name": "Till"}, headers={
        "authorization": f"Bearer {merchant['api_key']}"})).json()
    rules = await client.get(f"/v1/merchants/{merchant['id']}/reporting-rules")
    number = rules.json()["merchant_number"]
    for ip in (True, 16909060, None, ["1.2.3.4"]):
        record = {"ip": ip, "time": 1_700_000_000, "merchant": number, "method": "app",
                  "operation": "view"}
        answer = await client.post("/v1/access-logs", json={"records": [record]},
                                   headers={"authorization": f"Bearer {terminal['api_key']}"})
        _refused(answer, "records.0.ip")
    del runtime


def _schema(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = document["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _types(node: dict[str, Any]) -> set[str]:
    options = node.get("anyOf") or [node]
    return {o.get("format", o.get("type", "")) for o in options}


def _fields(document: dict[str, Any]) -> list[tuple[str, str, str, set[str]]]:
    """(method, path, top-level field, its types) of every JSON write body."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = (operation.get("requestBody") or {}).get("content", {})
            if method not in WRITES or "application/json" not in content:
                continue
            body = _schema(document, content["application/json"]["schema"])
            for name, prop in (body.get("properties") or {}).items():
                found.append((method, path, name, _types(_schema(document, prop))))
    return found


async def test_every_write_route_refuses_loose_types(runtime: Runtime) -> None:
    """From the OpenAPI document: every integer field refuses `true` and `"1"`, every
    text field refuses a number, every time refuses a number; each answer names the
    field. A new route or field is covered without touching this test."""
    app = create_app(runtime, manage_runtime=False)
    document = app.openapi()
    fields = _fields(document)
    assert len({(m, p) for m, p, _, _ in fields}) >= 25, "every JSON write route"
    tried = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test", headers=ADMIN) as client:
        for method, path, name, types in fields:
            url = path.replace("{", "").replace("}", "")  # any path value: the body fails first
            bad: list[object] = []
            if "integer" in types:
                bad += [True, "1"]
            if types & {"date-time"}:
                bad += [1.5, "1.5"]
            elif "string" in types:
                bad += [5]
            for value in bad:
                answer = await client.request(method.upper(), url, json={name: value})
                assert answer.status_code in (404, 422), (method, path, name, value)
                if answer.status_code == 422:
                    _refused(answer, name)
                    tried += 1
    assert tried >= 60
