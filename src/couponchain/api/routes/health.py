"""Operations: health and Prometheus metrics."""

from __future__ import annotations

from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from couponchain import supervision
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
    #: Whether `couponchain up` supervises this process (restarts it when it dies).
    supervised: bool
    #: Restarts of the platform process by its supervisor, and the last one's cause
    #: ("SIGKILL", "exit code 1"), the error it reported, when it died and how long
    #: until this process served again.
    platform_restarts: int
    last_restart_cause: str | None
    last_restart_error: str | None
    last_restart_at: str | None
    last_outage_seconds: float | None
    contracts: dict[str, str]
    #: What `couponchain verify` pins: the chain and the registry address, the
    #: contract the editions contract is anchored to (docs/verification.md).
    trust_anchor: dict[str, int | str]


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
        **_platform(supervision.current()),
        "contracts": runtime.addresses,
        "trust_anchor": {"chain_id": runtime.chain_id,
                         "registry": runtime.addresses.get("registry", "")},
    }


def _platform(state: supervision.PlatformState) -> dict[str, object]:
    return {"supervised": state.supervised, "platform_restarts": state.restarts,
            "last_restart_cause": state.last_cause, "last_restart_error": state.last_error,
            "last_restart_at": state.last_restart_at,
            "last_outage_seconds": state.last_outage_seconds}


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
    lines += _supervision_metrics(supervision.current(),
                                  runtime.supervisor.restarts if runtime.supervisor else 0)
    for name, value in sorted(runtime.gateway.stats.items()):
        lines += [f"# TYPE couponchain_gateway_{name}_total counter",
                  f"couponchain_gateway_{name}_total {value}"]
    return "\n".join(lines) + "\n"


def _supervision_metrics(state: supervision.PlatformState, node_restarts: int) -> list[str]:
    """Restarts of the platform process, its deaths by cause, and restarts of the node."""
    lines = ["# TYPE couponchain_platform_restarts_total counter",
             f"couponchain_platform_restarts_total {state.restarts}"]
    if state.causes:
        lines.append("# TYPE couponchain_platform_deaths_total counter")
        lines += [f'couponchain_platform_deaths_total{{cause="{cause}"}} {count}'
                  for cause, count in sorted(state.causes.items())]
    if state.last_outage_seconds is not None:
        lines += ["# TYPE couponchain_platform_last_outage_seconds gauge",
                  f"couponchain_platform_last_outage_seconds {state.last_outage_seconds}"]
    if state.ready_at is not None:
        lines += ["# TYPE couponchain_platform_ready_time_seconds gauge",
                  f"couponchain_platform_ready_time_seconds {state.ready_at:.3f}"]
    lines += ["# TYPE couponchain_node_restarts_total counter",
              f"couponchain_node_restarts_total {node_restarts}"]
    return lines
