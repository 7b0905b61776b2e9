"""A round's evaluation measured from the ledger: period, measured and declared
inputs, and `couponchain check-round` recomputing the measured part from the node."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

from couponchain.api.app import create_app
from couponchain.chain.gateway import Call
from couponchain.cli import main
from couponchain.domain.evaluation import FormulaParams, MeasuredInputs, measured_hash
from couponchain.domain.splits import Shares
from couponchain.runtime import Runtime
from couponchain.services import promotion_views as views
from couponchain.services.promotions import RoundRequest
from couponchain.store.models import PromotionEvaluation
from tests.api_auth import auth
from tests.integration.editions_world import edition_body
from tests.integration.promotions_world import (
    SHARES,
    consent_code,
    grant_coupons,
    open_round,
    promotion_world,
)
from tests.ports import serve_app

FORMULA = {"base_per_merchant": 10, "turnover_per_coupon": 1_000, "per_consumer": 1,
           "max_total": 1_000_000}


def _body(declared: list[dict[str, Any]], consumers: int = 0) -> dict[str, Any]:
    return {"evaluation": {"turnover": declared, "consumers": consumers},
            "formula": FORMULA, "incentive_bps": 1_000, "shares": SHARES,
            "rollback_window_seconds": 3_600, "consent_lifetime_seconds": 120}


async def _check_round(trust: tuple[str, ...], *args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, main, ["check-round", *args, *trust])
    return result.exit_code, result.output


def _trust(runtime: Runtime, tmp_path: Path) -> tuple[str, ...]:
    """The registry the contracts are reached through, trusted in the test's own file."""
    return ("--registry", runtime.addresses["registry"], "--trust-file",
            str(tmp_path / "trust.json"))


async def test_measured_inputs_come_from_the_ledger_and_check_round_recomputes_them(
        client: httpx.AsyncClient, runtime: Runtime, node_url: str, tmp_path: Path) -> None:
    trust = _trust(runtime, tmp_path)
    w = await promotion_world(client)
    first = await open_round(client, w, window=3_600)
    first_period = (await client.get(f"/v1/promotion-rounds/{first}")).json()["period"]
    assert first_period["from_block"] == 0

    # In the next period: the issuer sells two edition coupons and voids one
    # (sales: 250);
    # the redeemer writes off two promotion coupons and reverses one.
    issuer = auth(w.issuer)
    edition = await client.post("/v1/editions", json=edition_body("EVAL", 5), headers=issuer)
    assert edition.status_code == 201, edition.text
    edition_id = edition.json()["id"]
    serials = []
    for buyer, price in ((w.ann, 250), (w.bob, 400)):
        sold = await client.post(f"/v1/editions/{edition_id}/sales", headers=issuer, json={
            "buyer": buyer["id"], "price": price, "channel": "online",
            "order_ref": f"EVAL-{price}"})
        assert sold.status_code == 201, sold.text
        serials.append(sold.json()["coupon"]["serial"])
    voided = await client.post(f"/v1/coupons/{serials[1]}/void", headers=issuer)
    assert voided.status_code == 200, voided.text
    # The issuer also originates a product, of which Ann buys two units.
    product = await client.post("/v1/products", headers=issuer, json={
        "name": "Song", "description": "a recording, licensed per unit", "price": 100,
        "circulation": 10})
    assert product.status_code == 201, product.text
    credit = await client.post("/v1/credits", json={"to": w.ann["id"], "amount": 1_000})
    assert credit.status_code == 201, credit.text
    bought = await client.post(f"/v1/products/{product.json()['id']}/purchases",
                               headers=auth(w.ann),
                               json={"quantity": 2, "batch": 1, "max_price": 100})
    assert bought.status_code == 201, bought.text
    coupons = await grant_coupons(client, w, first, w.cy, count=2)
    for coupon, amount in zip(coupons, (5_000, 7_000), strict=True):
        written = await client.post("/v1/write-offs", headers=auth(w.terminal), json={
            "code": await consent_code(client, w.cy, coupon), "order_amount": amount})
        assert written.status_code == 201, written.text
    reversed_ = await client.post(f"/v1/promotion-coupons/{coupons[1]}/write-off-reversal",
                                  headers=auth(w.terminal))
    assert reversed_.status_code == 200, reversed_.text

    declared = [{"merchant": w.issuer["id"], "amount": 1_000_000}]
    preview = await client.post("/v1/promotion-rounds:evaluate", json=_body(declared, 2))
    assert preview.status_code == 200, preview.text
    inputs = preview.json()["inputs"]
    assert inputs["period"]["from_block"] == first_period["to_block"] + 1
    measured = dict(inputs["measured"]["turnover"])
    assert measured == {w.issuer["address"]: "450", w.redeemer["address"]: "5000"}
    assert inputs["measured"]["consumers"] == "3"
    assert inputs["measured"]["sources"] == {
        "sales": {w.issuer["address"]: "250"}, "purchases": {w.issuer["address"]: "200"},
        "write_offs": {w.redeemer["address"]: "5000"}}
    assert inputs["declared"] == {"turnover": [[w.issuer["address"], "1000000"]],
                                  "consumers": "2"}
    assert dict(inputs["turnover"])[w.issuer["address"]] == "1000450"
    # 2 merchants * 10 + 1,005,450 // 1,000 + (3 measured + 2 declared) * 1
    assert preview.json()["total"] == 20 + 1_005 + 5

    opened = await client.post("/v1/promotion-rounds", json=_body(declared, 2))
    assert opened.status_code == 201, opened.text
    second = opened.json()
    assert second["measured_hash"] == second["evaluation"]["measured"]["hash"]
    assert second["period"]["from_block"] == first_period["to_block"] + 1
    assert second["evaluation"]["measured"]["turnover"] == inputs["measured"]["turnover"]

    async for api in serve_app(create_app(runtime, manage_runtime=False)):
        code, output = await _check_round(trust, str(second["id"]), "--api", api,
                                          "--rpc", node_url)
        assert code == 0, output
        assert "ROUND VERIFIED" in output and "DIFFERS" not in output
        # The published declared inputs are changed after the fact: the sums
        # no longer give the recorded inputs hash.
        key = views.evaluation_key(second["inputs_hash"], second["measured_hash"])
        async with runtime.db.transaction() as s:
            row = await s.get(PromotionEvaluation, key)
            assert row is not None
            row.inputs = {**row.inputs, "declared": {**row.inputs["declared"],
                                                     "consumers": "200"}}
        code, output = await _check_round(trust, str(second["id"]), "--api", api,
                                          "--rpc", node_url)
        assert code == 1 and "ROUND NOT VERIFIED" in output, output
    code, output = await _check_round(trust, "1", "--api", "http://127.0.0.1:9", "--rpc",
                                      node_url)
    assert code == 2 and "cannot check round 1" in output


async def test_check_round_catches_declared_turnover_passed_off_as_measured(
        client: httpx.AsyncClient, runtime: Runtime, node_url: str, tmp_path: Path) -> None:
    trust = _trust(runtime, tmp_path)
    w = await promotion_world(client)
    service = runtime.promotions
    request = RoundRequest(
        turnover=[(w.issuer["address"], 900_000)], consumers=0,
        formula=FormulaParams(**FORMULA), incentive_bps=1_000, shares=Shares(**SHARES),
        rollback_window=3_600, consent_lifetime=120)
    result, published = await service.evaluation(request)
    # A dishonest platform moves the declared turnover into the measured
    # part, publishes a self-consistent story (same sums, same total and
    # inputs hash) and records that measured hash on chain.
    period = published["period"]
    cheat = MeasuredInputs(period["from_block"], period["to_block"],
                           {a: int(t) for a, t in published["turnover"]},
                           int(published["measured"]["consumers"]))
    cheat_hash = "0x" + measured_hash(cheat).hex()
    story = {**published,
             "measured": {**published["measured"], "turnover": published["turnover"],
                          "hash": cheat_hash},
             "declared": {"turnover": [], "consumers": "0"}}
    async with runtime.db.transaction() as s:
        s.add(PromotionEvaluation(
            inputs_hash=views.evaluation_key("0x" + result.inputs_hash.hex(), cheat_hash),
            inputs=story, total=result.total))
    platform = await runtime.participants.signer(runtime.platform.caller.id)
    op = await runtime.gateway.submit(platform, Call("promotions", "open_measured_round", fixed=(
        result.inputs_hash, result.total, 1_000, Shares(**SHARES).as_tuple(), 3_600, 120,
        period["from_block"], period["to_block"], bytes.fromhex(cheat_hash[2:]))))
    await runtime.indexer.wait_for(op.block_number)
    round_id = next(int(e.args["round_id"]) for e in await op.events()
                    if e.name == "RoundOpened")

    async for api in serve_app(create_app(runtime, manage_runtime=False)):
        code, output = await _check_round(trust, str(round_id), "--api", api,
                                          "--rpc", node_url)
        assert code == 1, output
        assert "ROUND NOT VERIFIED" in output
        assert "measured_hash (contract recorded)" in output
        # Measured from the chain, the inputs lack the 900,000 the story calls
        # measured, so the formula no longer gives the recorded total either.
        assert "total (contract recorded)" in output
