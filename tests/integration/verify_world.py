"""`couponchain verify` run in-process, coupons sold to verify, and a node that answers one
block from a fork: what the verification tests share."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from click.testing import CliRunner
from fastapi import FastAPI, Request

from couponchain.chain.proofs import header_hash
from couponchain.cli import main


async def run_verify(*args: str) -> tuple[int, str]:
    """`couponchain verify *args` in this process: its exit code and output."""
    result = await asyncio.to_thread(CliRunner().invoke, main, ["verify", *args])
    return result.exit_code, result.output


async def sell_coupons(client: httpx.AsyncClient, shop: Any, edition: dict[str, Any],
                       n: int) -> None:
    """Sell `n` coupons of `edition` to the shop's first consumer."""
    for i in range(n):
        made = await client.post(f"/v1/editions/{edition['id']}/sales", json={
            "buyer": shop.consumers[0]["id"], "order_ref": f"{edition['prefix']}-{i}"},
            headers=shop.as_merchant)
        assert made.status_code == 201, made.text


def forking_node(node: str, forked: str) -> FastAPI:
    """A JSON-RPC relay to the real node that answers block `forked` (hex number) with a
    header from a fork: another extraData, re-hashed, every other field the same (its
    receipts and time still match, only the parentHash chain can tell)."""
    app = FastAPI()

    @app.post("/")
    async def relay(request: Request) -> Any:
        asked = await request.json()
        async with httpx.AsyncClient() as http:
            answered = (await http.post(node, json=asked)).json()
        for call, reply in zip(asked if isinstance(asked, list) else [asked],
                               answered if isinstance(answered, list) else [answered],
                               strict=True):
            block = reply.get("result")
            if call["method"] == "eth_getBlockByNumber" and call["params"][0] == forked \
                    and isinstance(block, dict):
                block["extraData"] = "0x" + b"a fork".hex()
                rehash(block)
        return answered

    return app


def rehash(block: dict[str, Any]) -> None:
    """Give a (changed) block its own header hash again, as a lying node would."""
    block["hash"] = "0x" + header_hash(block).hex()
