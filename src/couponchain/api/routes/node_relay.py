"""A read-only JSON-RPC pass-through to the platform's own chain node, for the pages.

The coupon and edition pages check their proofs in the browser against a node
the person chooses. Browsers only call a node that answers CORS requests, and
the embedded node is on 127.0.0.1 where a visitor cannot reach it (and geth
answers no CORS request at all), so a page without a node of the person's own
uses this relay: the three reads the check needs (the proofs themselves come
from the API's `/proof` answer), nothing that writes or reveals more. It is
labelled on the page as the platform's node, so not an independent check: the
platform could run a lying node behind it (docs/verification.md).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import Body
from pydantic import Field

from couponchain.api.bounds import body_limits, bounded_router
from couponchain.api.deps import RuntimeDep
from couponchain.api.inputs import Input
from couponchain.chain.rpc import RpcError
from couponchain.errors import InvalidInput

router = bounded_router(prefix="/v1", tags=["operations"])

#: The methods relayed: what the page's proof check reads, and nothing else.
RELAYED = ("eth_chainId", "eth_blockNumber", "eth_getBlockByNumber")
#: Calls in one batch (the page sends three).
MAX_CALLS = 4
_TAG = re.compile(r"^(0x(0|[1-9a-f][0-9a-f]{0,15})|latest|earliest|safe|finalized)$")


class RelayCall(Input):
    """One JSON-RPC request; `params` as the method takes them."""

    jsonrpc: Literal["2.0"] = "2.0"
    id: Annotated[int, Field(ge=0, le=2**53)] | Annotated[str, Field(max_length=64)] | None \
        = None
    method: Literal["eth_chainId", "eth_blockNumber", "eth_getBlockByNumber"]
    params: Annotated[list[Any], Field(max_length=2)] = []


def _params(index: int, call: RelayCall) -> list[Any]:
    """The call's params when they have the shape its method takes; InvalidInput naming
    the field otherwise (a malformed call never reaches the node)."""
    field = f"body[{index}].params"
    p = call.params
    if call.method in ("eth_chainId", "eth_blockNumber"):
        if p:
            raise InvalidInput(f"{call.method} takes no params", field=field)
        return []
    if len(p) != 2 or not isinstance(p[0], str) or not _TAG.match(p[0]) or p[1] is not False:
        raise InvalidInput("eth_getBlockByNumber takes [block number or tag, false] "
                           "(transaction hashes only)", field=field)
    return p


@router.post("/node-relay", summary="Read-only JSON-RPC pass-through to the platform's node",
             response_model=None, **body_limits(16 * 1024, 1024))
async def node_relay(
    runtime: RuntimeDep,
    body: Annotated[RelayCall | Annotated[list[RelayCall], Field(min_length=1,
                                                                 max_length=MAX_CALLS)],
                    Body(description="one JSON-RPC call or a batch of up to 4; methods: "
                                     + ", ".join(RELAYED))],
) -> dict[str, Any] | list[dict[str, Any]]:
    """Relay the page's proof-check reads to the platform's node: `eth_chainId`,
    `eth_blockNumber` and `eth_getBlockByNumber` (without transactions). Answers
    are the node's JSON-RPC replies, unchanged; this is the platform's node, not an
    independent one."""
    calls = body if isinstance(body, list) else [body]
    params = [_params(i, c) for i, c in enumerate(calls)]
    results = await runtime.rpc.batch([(c.method, p) for c, p in zip(calls, params, strict=True)])
    replies: list[dict[str, Any]] = []
    for call, result in zip(calls, results, strict=True):
        if isinstance(result, RpcError):
            replies.append({"jsonrpc": "2.0", "id": call.id,
                            "error": {"code": result.code if isinstance(result.code, int)
                                      else -32000, "message": result.rpc_message}})
        else:
            replies.append({"jsonrpc": "2.0", "id": call.id, "result": result})
    return replies if isinstance(body, list) else replies[0]
