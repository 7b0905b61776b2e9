"""Storage proofs for verifiers: `GET /v1/proofs/{contract}?slots=...` (anyone).

A verifier (`couponchain verify`, docs/verification.md) computes the slots it
needs from the contract's storage layout and asks for their proofs here; it
trusts nothing in the answer it cannot check against a node of its own.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query

from couponchain.api.bounds import bounded_router
from couponchain.api.deps import RuntimeDep
from couponchain.services.proofs import MAX_SLOTS, PROVABLE

router = bounded_router(prefix="/v1", tags=["verification"])


@router.get("/proofs/{contract}",
            summary="EIP-1186 proofs of storage slots of one of the platform's contracts, "
                    "at the block the platform's answers are read at (anyone)")
async def storage_proofs(
    runtime: RuntimeDep,
    contract: Annotated[str, Path(max_length=16, description="one of " + ", ".join(PROVABLE))],
    slots: Annotated[str, Query(min_length=66, max_length=MAX_SLOTS * 67,
                                description=f"comma-separated 32-byte 0x-hex storage keys "
                                            f"(at most {MAX_SLOTS})")],
) -> dict[str, Any]:
    return await runtime.proofs.prove(contract, slots.split(","))
