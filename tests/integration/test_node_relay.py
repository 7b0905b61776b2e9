"""The read-only relay to the platform's node that the pages' proof badge uses by default.

It relays the three reads the badge needs, unchanged, and refuses every other method,
a block with its transactions, odd params and large batches, naming the field."""

from __future__ import annotations

import httpx

from couponchain.runtime import Runtime


async def test_the_relay_answers_the_badges_reads_as_the_node_does(
    client: httpx.AsyncClient, runtime: Runtime,
) -> None:
    head = await runtime.rpc.call("eth_blockNumber")
    block = await runtime.rpc.call("eth_getBlockByNumber", head, False)
    calls = [{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
             {"jsonrpc": "2.0", "id": "b", "method": "eth_getBlockByNumber",
              "params": [head, False]}]
    answer = await client.post("/v1/node-relay", json=calls)
    assert answer.status_code == 200, answer.text
    chain_id, relayed = answer.json()
    assert chain_id == {"jsonrpc": "2.0", "id": 1, "result": hex(runtime.chain_id)}
    assert relayed["id"] == "b" and relayed["result"] == block
    single = await client.post("/v1/node-relay", json={"jsonrpc": "2.0", "id": 7,
                                                       "method": "eth_blockNumber"})
    assert single.status_code == 200 and int(single.json()["result"], 16) >= int(head, 16)
    # The node's own error comes back as a JSON-RPC error, not a failure of the relay.
    unknown = await client.post("/v1/node-relay", json={
        "id": 8, "method": "eth_getBlockByNumber", "params": ["0xffffffffff", False]})
    assert unknown.status_code == 200 and unknown.json()["id"] == 8


async def test_the_relay_refuses_what_the_badge_does_not_need(
        client: httpx.AsyncClient) -> None:
    refused = {
        "method": {"id": 1, "method": "eth_sendRawTransaction", "params": ["0x00"]},
        "params": {"id": 1, "method": "eth_getBlockByNumber", "params": ["latest", True]},
    }
    for field, call in refused.items():
        answer = await client.post("/v1/node-relay", json=call)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert field in answer.text
    for call in ({"id": 1, "method": "eth_getProof", "params": ["0x" + "00" * 20, [], "latest"]},
                 {"id": 1, "method": "eth_chainId", "params": [1]},
                 {"id": 1, "method": "eth_getBlockByNumber", "params": ["0x01", False]}):
        assert (await client.post("/v1/node-relay", json=call)).status_code == 422, call
    batch = [{"id": i, "method": "eth_chainId"} for i in range(5)]
    assert (await client.post("/v1/node-relay", json=batch)).status_code == 422
    assert (await client.post("/v1/node-relay", json=[])).status_code == 422
