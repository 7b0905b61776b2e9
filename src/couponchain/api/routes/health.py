"""Operations: health and Prometheus metrics."""

from __future__ import annotations

from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import RuntimeDep
from couponchain.errors import ChainUnavailable

router = bounded_router(tags=["operations"])


class Health(BaseModel):
    status: str
    chain_id: int
    chain_head: int | None
    indexed_block: int
    indexer_lag: int
    outbox_depth: int
    node_restarts: int
    contracts: dict[str, str]


@router.get("/v1/health", response_model=Health, summary="Chain head, indexer lag, outbox depth")
async def health(runtime: RuntimeDep) -> dict:
    try:
        head: int | None = int(await runtime.rpc.call("eth_blockNumber"), 16)
    except ChainUnavailable:
        head = None
    return {
        "status": "ok" if head is not None else "chain-unavailable",
        "chain_id": runtime.chain_id, "chain_head": head,
        "indexed_block": runtime.indexer.indexed, "indexer_lag": runtime.indexer.lag,
        "outbox_depth": await runtime.gateway.outbox_depth(),
        "node_restarts": runtime.supervisor.restarts if runtime.supervisor else 0,
        "contracts": runtime.addresses,
    }


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
async def metrics(runtime: RuntimeDep) -> str:
    lines = [
        "# TYPE couponchain_indexer_lag_blocks gauge",
        f"couponchain_indexer_lag_blocks {runtime.indexer.lag}",
        "# TYPE couponchain_indexed_block gauge",
        f"couponchain_indexed_block {runtime.indexer.indexed}",
        "# TYPE couponchain_outbox_depth gauge",
        f"couponchain_outbox_depth {await runtime.gateway.outbox_depth()}",
        "# TYPE couponchain_journal_replays_total counter",
        f"couponchain_journal_replays_total {runtime.gateway.reconciler.runs}",
    ]
    for name, value in sorted(runtime.gateway.stats.items()):
        lines += [f"# TYPE couponchain_gateway_{name}_total counter",
                  f"couponchain_gateway_{name}_total {value}"]
    return "\n".join(lines) + "\n"
