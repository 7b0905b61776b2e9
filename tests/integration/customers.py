"""Finding a merchant's customers as its console does, and the times such tests send."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.api_auth import auth


def iso_in(offset: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


async def find_customers(client: httpx.AsyncClient, who: dict[str, Any], merchant: dict[str, Any],
                **params: Any) -> list[tuple[str, str]]:
    answer = await client.get(f"/v1/merchants/{merchant['id']}/customers", params=params,
                              headers=auth(who))
    assert answer.status_code == 200, answer.text
    return [(c["name"], c["customer_number"]) for c in answer.json()["customers"]]
