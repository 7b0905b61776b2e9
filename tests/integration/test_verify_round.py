"""`couponchain check-round` reaches the promotions contract through the trusted
registry, on the real node: a lying API that names a look-alike contract (the same
code, the round's record copied) is refused, however the lie is told."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from couponchain.api.app import create_app
from couponchain.chain.storage_layout import storage_layout
from couponchain.chain.verification import create_address
from couponchain.cli import main
from couponchain.domain.edition_slots import slot_key
from couponchain.runtime import Runtime
from tests.integration.lying_api import Lie, lying_api
from tests.integration.promotions_world import open_round, promotion_world
from tests.ports import serve_app

#: Words of a `Round` record copied to the look-alike (the struct is shorter).
ROUND_WORDS = 24


async def _check_round(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, main, ["check-round", *args])
    return result.exit_code, result.output


async def _look_alike(runtime: Runtime, at: str, round_id: int) -> None:
    """The promotions contract's code at `at`, with round `round_id`'s record copied."""
    real = runtime.addresses["promotions"]
    await runtime.rpc.call("hardhat_setCode", at,
                           await runtime.rpc.call("eth_getCode", real, "latest"))
    first = storage_layout("promotions").slot("rounds", round_id)
    for slot in range(first, first + ROUND_WORDS):
        value = await runtime.rpc.call("eth_getStorageAt", real, slot_key(slot), "latest")
        await runtime.rpc.call("hardhat_setStorageAt", at, slot_key(slot), value)
    await runtime.rpc.call("evm_mine")


async def test_check_round_reaches_promotions_through_the_trusted_registry(
        client: httpx.AsyncClient, runtime: Runtime, node_url: str, tmp_path: Path) -> None:
    w = await promotion_world(client)
    round_id = await open_round(client, w, window=3_600)
    registry = runtime.addresses["registry"]
    trust = ("--registry", registry, "--trust-file", str(tmp_path / "trust.json"))
    # Anyone's contract: the same code, holding the same round record.
    stranger = "0x" + "5a" * 20
    foreign = create_address(stranger, 0)
    lookalike = "0x" + "c0" * 20
    for at in (lookalike, foreign):
        await _look_alike(runtime, at, round_id)

    async for api in serve_app(create_app(runtime, manage_runtime=False)):
        code, output = await _check_round(str(round_id), "--api", api, "--rpc", node_url,
                                          *trust)
        assert code == 0, output
        assert output.rstrip().endswith("ROUND VERIFIED"), output
        assert f"contracts reached through the trusted registry {registry}" in output
        assert runtime.addresses["promotions"] in output

        def health_names(address: str) -> Lie:
            def names(path: str, body: dict[str, Any]) -> Any:
                if path == "/v1/health":
                    body["contracts"]["promotions"] = address
                    return body
                return None
            return names

        def foreign_deployer(path: str, body: dict[str, Any]) -> Any:
            # The deployment record names the stranger, who did create `foreign`.
            if path == "/v1/health":
                body["contracts"]["promotions"] = foreign
                return body
            if path == "/v1/proofs/promotions":
                body["deployment"] = {**body["deployment"], "deployer": stranger, "nonce": 0,
                                      "registry_nonce": 1}
                return body
            return None

        lies: dict[str, tuple[Lie, str]] = {
            "health names a look-alike": (
                health_names(lookalike),
                f"promotions: the API names {lookalike}, an address the trusted registry's "
                "deployer did not create"),
            "deployment record of another deployer": (
                foreign_deployer, "did not create the trusted registry"),
            "health names the editions contract": (
                health_names(runtime.addresses["editions"]),
                "an address the trusted registry's deployer did not create"),
        }
        told: list[Lie | None] = [None]
        async for liar in serve_app(lying_api(api, told)):
            for name, (change, message) in lies.items():
                told[0] = change
                code, output = await _check_round(str(round_id), "--api", liar, "--rpc",
                                                  node_url, *trust)
                last = output.rstrip().rpartition("\n")[2]
                assert code == 1, (name, output)
                assert last.startswith("ROUND NOT VERIFIED: failed: contracts pinned to the "
                                       "trusted registry") and message.lower() in last.lower(), \
                    (name, last)
            # Another registry trusted than the deployment's: every contract is refused.
            told[0] = None
            code, output = await _check_round(
                str(round_id), "--api", liar, "--rpc", node_url, "--registry", lookalike,
                "--trust-file", str(tmp_path / "other.json"))
            assert code == 1 and "did not create the trusted registry" in output, output
