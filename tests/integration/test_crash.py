"""kill -9 of the API process mid-burst: nothing acknowledged is lost or doubled.

The platform runs as a real `couponchain up` process against the session's node;
clients create consumers with Idempotency-Keys and retry on connection errors, as
a real client would.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.integration.platform_process import ADMIN, Platform

CONSUMERS = 400
WORKERS = 25


@pytest.mark.slow
async def test_api_crash_loses_and_doubles_nothing(
    tmp_path: Path, database_url: str, node_url: str
) -> None:
    platform = Platform(tmp_path, database_url, node_url)
    await platform.start()
    acked: dict[str, dict] = {}
    attempts: Counter[str] = Counter()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(CONSUMERS):
        queue.put_nowait(f"consumer-{i}")

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            key = queue.get_nowait()
            while True:
                attempts[key] += 1
                try:
                    r = await client.post("/v1/consumers", json={"name": key},
                                          headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
                    continue
                if r.status_code in (502, 503, 500):
                    await asyncio.sleep(0.2)
                    continue
                assert r.status_code == 201, r.text
                acked[key] = r.json()
                break

    try:
        async with httpx.AsyncClient(base_url=platform.url, timeout=60,
                                     headers={"authorization": f"Bearer {ADMIN}"}) as client:
            workers = [asyncio.create_task(worker(client)) for _ in range(WORKERS)]
            while len(acked) < CONSUMERS // 4:
                await asyncio.sleep(0.01)
            acked_before = dict(acked)
            platform.kill()
            await platform.start()
            await asyncio.wait_for(asyncio.gather(*workers), timeout=240)

            assert set(acked) == {f"consumer-{i}" for i in range(CONSUMERS)}
            assert any(n > 1 for n in attempts.values()), "the crash should force retries"
            for key, body in acked_before.items():
                assert acked[key] == body
            # A retry of any key, after the crash, returns the same participant.
            for key in list(acked)[:: CONSUMERS // 20]:
                again = await client.post("/v1/consumers", json={"name": key},
                                          headers={"Idempotency-Key": key})
                assert again.json()["address"] == acked[key]["address"]
            addresses = [body["address"] for body in acked.values()]
            assert len(set(addresses)) == CONSUMERS

            # On chain: each consumer registered exactly once, nobody else.
            health = (await client.get("/v1/health")).json()
            registry = health["contracts"]["registry"]
            topic = "0x" + __import__("eth_utils").keccak(
                text="ParticipantRegistered(address,uint8,address,address)").hex()
            async with httpx.AsyncClient(timeout=30) as rpc:
                logs = (await rpc.post(node_url, json={
                    "jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
                    "params": [{"fromBlock": "0x0", "toBlock": "latest", "address": registry,
                                "topics": [topic]}]})).json()["result"]
            registered = Counter("0x" + entry["topics"][1][-40:] for entry in logs)
            consumers = {a.lower() for a in addresses}
            assert all(registered[a] == 1 for a in consumers)
            assert sum(registered.values()) == CONSUMERS + 1  # + the platform itself
    finally:
        platform.stop()
