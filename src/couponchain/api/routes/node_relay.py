"""A read-only pass-through to the platform's own chain node, for the pages' proof badge.

The coupon and edition pages check their proofs in the browser against a node
the person chooses. Browsers only call a node that answers CORS requests, and
the embedded node is on 127.0.0.1 where a visitor cannot reach it (and geth
answers no CORS request at all), so a page without a node of the person's own
uses this relay: the three reads the check needs, nothing that writes or
reveals more (the proofs themselves come from the API's `/proof` answer). It is
a GET with one parameter, so it is a read like any other (no key, no write
limit), and it answers with the node's own JSON-RPC replies, so the page reads
them as it reads any node's. The page labels it the platform's node, so not an
independent check: the platform could run a lying node behind it
(docs/verification.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import RuntimeDep
from couponchain.chain.rpc import RpcError

router = bounded_router(prefix="/v1", tags=["operations"])

#: A block number as JSON-RPC writes it (hex, no leading zero), or a tag.
BLOCK = r"^(0x(0|[1-9a-f][0-9a-f]{0,15})|latest|earliest|safe|finalized)$"


@router.get("/node-relay", summary="The platform's node: chain id, head and one block")
async def node_relay(
    runtime: RuntimeDep,
    block: Annotated[str, Query(pattern=BLOCK, max_length=18,
                                description="the block: a hex number (0x1b) or a tag")],
) -> list[dict[str, Any]]:
    """The platform's node's replies to `eth_chainId` (id 0), `eth_blockNumber` (id 1)
    and `eth_getBlockByNumber(block, false)` (id 2), as a JSON-RPC batch answer,
    unchanged. This is the platform's node, not an independent one."""
    calls = [("eth_chainId", []), ("eth_blockNumber", []),
             ("eth_getBlockByNumber", [block, False])]
    replies: list[dict[str, Any]] = []
    for index, result in enumerate(await runtime.rpc.batch(calls)):
        if isinstance(result, RpcError):
            code = result.code if isinstance(result.code, int) else -32000
            replies.append({"jsonrpc": "2.0", "id": index,
                            "error": {"code": code, "message": result.rpc_message}})
        else:
            replies.append({"jsonrpc": "2.0", "id": index, "result": result})
    return replies
