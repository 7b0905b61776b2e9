"""`couponchain verify` on the real node, against an honest API and a lying proxy.

The proxy is an HTTP server on 127.0.0.1 in front of the real API that relays the
honest answers with one lie told in them (issue 22's lie classes); each lie must
make `verify` exit non-zero and name the check that failed.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from couponchain.api.app import create_app
from couponchain.chain import contracts
from couponchain.chain.coupon_check import (
    Outcome,
    Trusted,
    check_coupon,
    check_receipts,
    check_sales,
    create_address,
    sold_logs_filter,
)
from couponchain.domain.edition_slots import layout_from_compiler, slot_key, verification_slots
from couponchain.runtime import Runtime
from tests.integration.editions_world import create_edition, open_shop
from tests.integration.verify_world import forking_node, rehash, run_verify, sell_coupons
from tests.ports import free_port, serve_app

Lie = Callable[[str, dict[str, Any]], Any]


@pytest.fixture
async def api_url(runtime: Runtime) -> AsyncIterator[str]:
    async for url in serve_app(create_app(runtime, manage_runtime=False)):
        yield url


def _lying_app(honest: str, lie: list[Lie | None]) -> FastAPI:
    """Relays the honest `/proof` and coupon JSON; `lie[0](kind, body)` rewrites one."""
    app = FastAPI()

    async def relay(kind: str, path: str) -> Any:
        async with httpx.AsyncClient() as http:
            got = await http.get(f"{honest}{path}")
        body = got.json()
        if got.status_code == 200 and lie[0] is not None:
            body = lie[0](kind, body) or body
        return body

    @app.get("/v1/coupons/{serial}/proof")
    async def proof(serial: str) -> Any:
        return await relay("proof", f"/v1/coupons/{serial}/proof")

    @app.get("/v1/coupons/{serial}")
    async def coupon(serial: str) -> Any:
        return await relay("coupon", f"/v1/coupons/{serial}")

    return app


async def test_verify_honest_and_each_lie_class(
    client: httpx.AsyncClient, api_url: str, node_url: str, runtime: Runtime, tmp_path: Path,
) -> None:
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "PROOF", 99)
    other = await create_edition(client, shop, "OTHER", 9)
    await sell_coupons(client, shop, edition, 3)
    await sell_coupons(client, shop, other, 1)
    stale = (await client.get("/v1/coupons/PROOF-000002/proof")).json()
    stale_coupon = (await client.get("/v1/coupons/PROOF-000002")).json()
    await client.post("/v1/coupons/PROOF-000002/redeem", headers=shop.as_merchant)
    for _ in range(10):  # the stale proof falls behind the default --max-age-blocks
        await runtime.rpc.call("evm_mine")
    await runtime.indexer.wait_for(int(await runtime.rpc.call("eth_blockNumber"), 16))
    registry = runtime.addresses["registry"]
    health = (await client.get("/v1/health")).json()
    assert health["trust_anchor"] == {"chain_id": runtime.chain_id, "registry": registry}
    trust = str(tmp_path / "trust.json")
    pinned = ("--api", api_url, "--rpc", node_url, "--trust-file", trust)

    # Honest: trust on first use (with a warning), then the saved anchor.
    code, output = await run_verify("PROOF-000002", *pinned)
    assert code == 0, output
    assert "warning: no trusted registry" in output and registry in output
    assert output.rstrip().endswith("VERIFIED") and "FAILED" not in output
    assert "NOT PROVEN" in output and "history: 2 entries checked" in output
    not_proven = next(line for line in output.splitlines() if line.startswith("NOT PROVEN"))
    assert "price_paid" not in not_proven and "seller" not in not_proven  # sales replayed
    assert "history" not in not_proven  # each entry checked against the node's logs
    code, output = await run_verify("PROOF-000002", *pinned, "--registry", registry)
    assert code == 0 and "warning" not in output, output
    # Without a node of one's own: never VERIFIED.
    code, output = await run_verify("PROOF-000002", "--api", api_url, "--trust-file", trust)
    assert code == 3, output
    assert "NOT ANCHORED" in output and not output.rstrip().endswith("\nVERIFIED")
    assert "history: 2 entries NOT PROVEN" in output
    # Another registry than the one the user trusts.
    code, output = await run_verify("PROOF-000002", *pinned, "--registry", "0x" + "ab" * 20)
    assert code == 1 and "registry is the trusted one" in output, output

    # The library with altered inputs: one sale left out of the logs breaks the replay.
    proof = (await client.get("/v1/coupons/PROOF-000002/proof")).json()
    coupon_json = (await client.get("/v1/coupons/PROOF-000002")).json()
    honest = check_coupon("PROOF-000002", proof, coupon_json,
                          layout_from_compiler(contracts.layout("editions")),
                          Trusted(chain_id=runtime.chain_id, registry=registry))
    assert honest.ok and not honest.anchored
    logs = await runtime.rpc.call("eth_getLogs", sold_logs_filter(
        proof["contract"], edition["id"], proof["block"]["number"]))
    assert len(logs) == 3
    for kept, ok in ((logs, True), (logs[:1] + logs[2:], False), (logs[::-1], True)):
        outcome = check_coupon("PROOF-000002", proof, coupon_json,
                               layout_from_compiler(contracts.layout("editions")),
                               Trusted(chain_id=runtime.chain_id, registry=registry))
        check_sales(outcome, kept, outcome.proven["sales_digest"], proof["coupon_id"],
                    coupon_json)
        assert outcome.ok is ok, [v for v in outcome.verdicts if not v.ok]

    # Receipt proofs: the sale's block's receipts rebuild its receiptsRoot; a receipt
    # with one log altered (or the sale's log left out) does not.
    sale_log = logs[1]
    number = int(sale_log["blockNumber"], 16)
    header = await runtime.rpc.call("eth_getBlockByNumber", hex(number), False)
    receipts = [await runtime.rpc.call("eth_getTransactionReceipt", tx)
                for tx in header["transactions"]]
    for altered, ok in ((False, True), (True, False)):
        told = copy.deepcopy(receipts)
        if altered:
            told[0]["logs"][0]["data"] = "0x" + "00" * 32
        receipt_check = Outcome()
        check_receipts(receipt_check, [sale_log], {number: header}, {number: told})
        assert receipt_check.ok is ok, receipt_check.verdicts
    left_out = Outcome()
    check_receipts(left_out, [sale_log], {number: header}, {number: []})
    assert [v.claim for v in left_out.verdicts if not v.ok] == [
        f"block {number}: its receipts rebuild the header's receiptsRoot",
        "every history log is in its block's proven receipts"]

    layout = layout_from_compiler(contracts.layout("editions"))
    editions_address = runtime.addresses["editions"]
    third = (await client.get("/v1/coupons/PROOF-000003/proof")).json()
    other_proof = (await client.get("/v1/coupons/OTHER-000001/proof")).json()
    absent_slot = verification_slots(layout, edition["id"], 77, "PROOF")["coupon"]

    lies: dict[str, tuple[Lie, str]] = {}

    def on(kind: str, change: Callable[[dict[str, Any]], Any]) -> Lie:
        return lambda k, body: change(body) if k == kind else None

    lies["stale block"] = (
        lambda k, body: stale if k == "proof" else stale_coupon,
        "blocks behind the trusted head")
    lies["another coupon's proof"] = (
        on("proof", lambda b: {**third, "serial": b["serial"], "coupon_id": b["coupon_id"]}),
        "storage proofs hold for every slot")
    lies["another edition's coupon"] = (
        on("proof", lambda b: other_proof), "answer is about the serial asked for")
    lies["json price"] = (
        on("coupon", lambda b: {**b, "edition": {**b["edition"], "price": 1}}),
        "json edition.price")
    lies["json terms"] = (
        on("coupon", lambda b: {**b, "edition": {**b["edition"], "terms": "Two lattes."}}),
        "terms shown hash to the proven content_hash")
    lies["json owner"] = (
        on("coupon", lambda b: {**b, "owner": shop.consumers[1]["address"]}), "json owner")
    lies["json price paid"] = (on("coupon", lambda b: {**b, "price_paid": 0}),
                               "json price_paid")
    lies["json seller"] = (
        on("coupon", lambda b: {**b, "seller": shop.consumers[1]["address"]}), "json seller")
    lies["history entry dropped"] = (
        on("coupon", lambda b: {**b, "history": b["history"][:1]}),
        "history has one entry per event of the coupon")
    lies["history entry altered"] = (
        on("coupon", lambda b: {**b, "history": [{**b["history"][0],
                                                  "by": shop.consumers[1]["address"]},
                                                 *b["history"][1:]]}),
        "history[0] (sold) is the trusted node's log")
    lies["json tx_hash"] = (on("coupon", lambda b: {**b, "tx_hash": "0x" + "ab" * 32}),
                            "json tx_hash")
    lies["json sold_at"] = (
        on("coupon", lambda b: {**b, "sold_at": "2020-01-01T00:00:00Z"}), "json sold_at")

    def swap(body: dict[str, Any]) -> None:
        by_name = {e["name"]: e for e in body["storage"]}
        by_name["coupon"]["proof"] = by_name["cap"]["proof"]
    lies["swapped proof node"] = (on("proof", swap), "storage proofs hold for every slot")

    absent = await runtime.rpc.call("eth_getProof", editions_address, [slot_key(absent_slot)],
                                    stale["block"]["number"])

    def absent_proof(body: dict[str, Any]) -> None:
        for entry in body["storage"]:
            if entry["name"] == "coupon":
                entry["proof"] = absent["storageProof"][0]["proof"]
    lies["proof of an absent slot"] = (on("proof", absent_proof),
                                       "storage proofs hold for every slot")

    def other_chain(body: dict[str, Any]) -> None:
        body["block"]["extraData"] = "0x" + b"another chain".hex()
        rehash(body["block"])
    lies["header from another chain"] = (
        on("proof", other_chain), "block is the trusted node's block")
    lies["chain id"] = (on("proof", lambda b: {**b, "chain_id": 1}), "chain id")

    # A look-alike: the same runtime code at another address, its storage copied
    # from the real contract with the coupon given to someone else.
    lookalike = "0x" + "c0" * 20
    code_hex = await runtime.rpc.call("eth_getCode", editions_address, "latest")
    await runtime.rpc.call("hardhat_setCode", lookalike, code_hex)
    slots = verification_slots(layout, edition["id"], 2, "PROOF")
    for slot in slots.values():
        value = await runtime.rpc.call("eth_getStorageAt", editions_address,
                                       slot_key(slot), "latest")
        await runtime.rpc.call("hardhat_setStorageAt", lookalike, slot_key(slot), value)
    await runtime.rpc.call("evm_mine")
    block = await runtime.rpc.call("eth_getBlockByNumber", "latest", False)
    fake = await runtime.rpc.call("eth_getProof", lookalike,
                                  [slot_key(s) for s in slots.values()], block["number"])

    def look_alike(body: dict[str, Any]) -> dict[str, Any]:
        header = {k: v for k, v in block.items()
                  if k not in ("transactions", "uncles", "withdrawals", "size",
                               "totalDifficulty")}
        storage = [{"name": n, "slot": slot_key(s), "proof": p["proof"],
                    "key": p["key"], "value": p["value"]}
                   for (n, s), p in zip(slots.items(), fake["storageProof"], strict=True)]
        account = {k: fake[k] for k in ("address", "balance", "nonce", "codeHash",
                                        "storageHash", "accountProof")}
        return {**body, "contract": lookalike, "block": header, "account": account,
                "storage": storage}
    lie: list[Lie | None] = [None]
    async for liar in serve_app(_lying_app(api_url, lie)):
        for told, (change, check) in lies.items():
            lie[0] = change
            code, output = await run_verify("PROOF-000002", "--api", liar, "--rpc", node_url,
                                            "--trust-file", trust)
            failed = output.rstrip().rpartition("\n")[2]
            assert code == 1, (told, output)
            assert failed.startswith("NOT VERIFIED: failed:") and check in failed, (told, failed)

        lie[0] = on("proof", look_alike)
        code, output = await run_verify("PROOF-000002", "--api", liar, "--rpc", node_url,
                                        "--trust-file", trust)
        failed = output.rstrip().rpartition("\n")[2]
        assert code == 1, output
        assert "contract is the one the trusted registry's deployer created" in failed, failed
        assert "storage proofs" not in failed  # the look-alike's own proofs hold

        # Without a node, a made-up state under a re-hashed header is not VERIFIED.
        def made_up(body: dict[str, Any]) -> None:
            body["block"]["stateRoot"] = "0x" + "11" * 32
            rehash(body["block"])
        lie[0] = on("proof", made_up)
        code, output = await run_verify("PROOF-000002", "--api", liar, "--trust-file", trust)
        assert code in (1, 3) and "\nVERIFIED" not in output, output


async def test_verify_errors_are_one_clear_line(
    client: httpx.AsyncClient, api_url: str, node_url: str, tmp_path: Path,
) -> None:
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "ERRS", 9)
    await sell_coupons(client, shop, edition, 1)
    trust = str(tmp_path / "trust.json")
    dead = f"http://127.0.0.1:{free_port()}"
    cases = {
        "unknown serial": (["ERRS-000777", "--api", api_url], "unknown serial ERRS-000777"),
        "not a serial": (["nonsense", "--api", api_url], "'nonsense' is not a serial"),
        "API unreachable": (["ERRS-000001", "--api", dead], f"cannot reach the API at {dead}"),
        "node unreachable": (["ERRS-000001", "--api", api_url, "--rpc", dead],
                             f"cannot reach the node at {dead}"),
        "not a chain node": (["ERRS-000001", "--api", api_url, "--rpc", api_url],
                             "is not an Ethereum JSON-RPC node"),
        "not the API": (["ERRS-000001", "--api", node_url], "is it a CouponChain API?"),
        "not a validator": (["ERRS-000001", "--api", api_url, "--registry", "0x" + "00" * 20,
                             "--validators", "0xabc,nope"],
                            "--validators: '0xabc' is not an address"),
        "genesis without a node": (["ERRS-000001", "--api", api_url, "--registry",
                                    "0x" + "00" * 20, "--validators", "genesis"],
                                   "--validators genesis reads the genesis block from --rpc"),
    }
    for label, (args, message) in cases.items():
        code, output = await run_verify(*args, "--trust-file", trust)
        lines = output.strip().splitlines()
        assert code == 2, (label, output)
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], \
            (label, output)


async def test_a_history_header_from_a_fork_is_refused(
    client: httpx.AsyncClient, api_url: str, node_url: str, runtime: Runtime, tmp_path: Path,
) -> None:
    shop = await open_shop(client)
    edition = await create_edition(client, shop, "FORK", 9)
    await sell_coupons(client, shop, edition, 1)
    for _ in range(2):  # the sale's block is an ancestor of the proven block, not it
        await runtime.rpc.call("evm_mine")
    await runtime.indexer.wait_for(int(await runtime.rpc.call("eth_blockNumber"), 16))
    sale_block = (await client.get("/v1/coupons/FORK-000001")).json()["block_number"]
    pinned = ("--api", api_url, "--trust-file", str(tmp_path / "trust.json"), "--registry",
              runtime.addresses["registry"])
    code, output = await run_verify("FORK-000001", "--rpc", node_url, *pinned)
    assert code == 0, output
    async for forking in serve_app(forking_node(node_url, hex(sale_block))):
        code, output = await run_verify("FORK-000001", "--rpc", forking, *pinned)
        failed = output.rstrip().rpartition("\n")[2]
        assert code == 1, output
        # Its receipts and time agree: only the ancestry check catches it.
        assert failed == f"NOT VERIFIED: failed: history blocks {sale_block}–" \
            f"{sale_block + 1} are ancestors of the proven block (parentHash chain)", failed
        # With the walk cut short of the sale's block, its ancestry is not checked and
        # says so: listed as not proven, never counted as verified.
        code, output = await run_verify("FORK-000001", "--rpc", forking, *pinned,
                                        "--max-ancestry-blocks", "1")
        assert code == 0, output
        assert f"that blocks before {sale_block + 1} are ancestors of the proven block" \
            in " ".join(output.split()), output


def test_create_address_matches_a_known_deployment() -> None:
    # The first contract of the well-known development account (nonce 0).
    deployer = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert create_address(deployer, 0) == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert create_address(deployer, 1) == "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
