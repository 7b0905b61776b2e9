"""Shared set-up of the self-custody tests (issue 23): consumers who hold their own key.

Keys are made with eth_account, as the browser makes them with @noble/curves
(tests/browser/test_custody.py): the API only ever sees addresses and
signatures.
"""

from __future__ import annotations

from typing import Any

import httpx
from eth_account import Account

from couponchain.domain.eip712 import sign_typed
from tests.api_auth import auth
from tests.integration.promotions_world import grant_coupons, open_round, promotion_world


async def own_key(client: httpx.AsyncClient, headers: dict[str, str],
                  account: Any | None = None) -> tuple[Any, httpx.Response]:
    """Switch the consumer of `headers` to a new key of its own; (account, answer)."""
    account = account or Account.create()
    message = await client.get("/v1/participants/me/own-key/message",
                               params={"address": account.address}, headers=headers)
    assert message.status_code == 200, message.text
    typed = message.json()["typed_data"]
    switched = await client.put("/v1/participants/me/own-key", headers=headers, json={
        "address": account.address, "expiry": typed["message"]["expiry"],
        "signature": signature(typed, account.key)})
    return account, switched


async def switched_to_own_key(client: httpx.AsyncClient, headers: dict[str, str]) -> Any:
    """The new key of the consumer of `headers`, switched to it (asserted)."""
    account, switched = await own_key(client, headers)
    assert switched.status_code == 200, switched.text
    return account


async def own_key_holder_with_coupon(client: httpx.AsyncClient) -> tuple[Any, Any, int]:
    """The promotions world (`test_promotions._world`) with Ann on a key of her own,
    holding a promotion coupon of a round open for 60 s: (world, Ann's key, coupon)."""
    w = await promotion_world(client)
    account = await switched_to_own_key(client, auth(w.ann))
    round_id = await open_round(client, w, window=60)
    (coupon,) = await grant_coupons(client, w, round_id, w.ann)
    return w, account, coupon


def signature(typed: dict[str, Any], key: Any) -> str:
    """`typed` signed with `key`, as the API takes it (0x hex)."""
    return "0x" + sign_typed(typed, key).hex()


def read_typed(typed: dict[str, Any]) -> dict[str, Any]:
    """Typed data as the API sends it (integers as decimal text), with its integers
    read back by their EIP-712 types, as the browser reads them."""
    def read(kind: str, values: dict[str, Any]) -> dict[str, Any]:
        uints = {f["name"] for f in typed["types"][kind] if f["type"].startswith("uint")}
        return {k: int(v) if k in uints else v for k, v in values.items()}
    return {**typed, "domain": read("EIP712Domain", typed["domain"]),
            "message": read(typed["primaryType"], typed["message"])}
