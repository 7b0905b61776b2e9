"""Demo data: a small, realistic set of participants on the embedded chain.

Every step uses an idempotency key, so running the demo again (every
`couponchain up --demo`) finds what exists instead of making it twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from couponchain.domain.roles import Role
from couponchain.runtime import Runtime

MERCHANTS = ["Lotus Tea House", "Harbor Books", "Pine & Stone Outfitters"]
TERMINALS_PER_MERCHANT = 2
CONSUMERS = 100


async def seed(runtime: Runtime, progress: Callable[[int, int], None] | None = None) -> dict:
    """Create the demo participants (once); returns what the demo holds."""
    service = runtime.participants
    platform = runtime.platform.caller
    total = len(MERCHANTS) * (1 + TERMINALS_PER_MERCHANT) + CONSUMERS
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    merchants = []
    for i, name in enumerate(MERCHANTS, start=1):
        merchants.append(await service.create(platform, Role.MERCHANT, name, None,
                                              f"demo-merchant-{i}"))
        step()

    async def terminal(m: dict, j: int) -> dict:
        created = await service.create(platform, Role.TERMINAL, f"{m['name']} till {j}",
                                       m["id"], f"demo-terminal-{m['id']}-{j}")
        step()
        return created

    async def consumer(k: int) -> dict:
        created = await service.create(platform, Role.CONSUMER, f"Consumer {k:03d}", None,
                                       f"demo-consumer-{k}")
        step()
        return created

    terminals = await asyncio.gather(*(terminal(m, j) for m in merchants
                                       for j in range(1, TERMINALS_PER_MERCHANT + 1)))
    consumers = await asyncio.gather(*(consumer(k) for k in range(1, CONSUMERS + 1)))
    return {"merchants": merchants, "terminals": list(terminals), "consumers": list(consumers)}
