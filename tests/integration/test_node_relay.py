"""The read-only relay to the platform's node that the pages' proof badge uses by default.

It answers the three reads the badge needs (chain id, head, one block without its
transactions) with the node's own JSON-RPC replies, to a GET that takes nothing but
a block number, and refuses anything else as a block, naming the field."""

from __future__ import annotations

import httpx

from couponchain.runtime import Runtime


async def test_the_relay_answers_the_badges_reads_as_the_node_does(
    client: httpx.AsyncClient, runtime: Runtime,
) -> None:
    head = await runtime.rpc.call("eth_blockNumber")
    block = await runtime.rpc.call("eth_getBlockByNumber", head, False)
    answer = await client.get("/v1/node-relay", params={"block": head})
    assert answer.status_code == 200, answer.text
    chain_id, relayed_head, relayed = answer.json()
    assert chain_id == {"jsonrpc": "2.0", "id": 0, "result": hex(runtime.chain_id)}
    assert relayed_head["id"] == 1 and int(relayed_head["result"], 16) >= int(head, 16)
    assert relayed == {"jsonrpc": "2.0", "id": 2, "result": block}
    assert all(isinstance(tx, str) for tx in relayed["result"]["transactions"])
    # A block the node does not have: the node's answer (null), not a failure of the relay.
    future = await client.get("/v1/node-relay", params={"block": "0xffffffffff"})
    assert future.status_code == 200 and future.json()[2]["result"] is None


async def test_the_relay_takes_a_block_number_and_nothing_else(
        client: httpx.AsyncClient) -> None:
    for block in ("0x01", "12", "latest; eth_sendRawTransaction", "0x" + "f" * 17, ""):
        answer = await client.get("/v1/node-relay", params={"block": block})
        assert answer.status_code == 422, (block, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "block" in answer.text
    assert (await client.get("/v1/node-relay")).status_code == 422
    assert (await client.post("/v1/node-relay", json=[])).status_code == 405
