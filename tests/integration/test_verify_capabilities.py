"""`couponchain verify promotion-coupon | prize-award | referral-holding | report` on the
real node, against the honest API and a lying proxy.

One platform is seeded per database with one item of each capability; each command
must exit 0 on the honest answers, and exit 1 naming the failed check when the
proxy forges a field of the JSON, serves another item's proof, or serves a proof
from a block too far behind the trusted node's head.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from couponchain.api.app import create_app
from couponchain.chain.capability_check import (
    PRIZE_AWARD,
    PROMOTION_COUPON,
    REFERRAL_HOLDING,
    REPORT,
    Capability,
    item_of,
)
from couponchain.chain.storage_layout import storage_layout
from couponchain.domain.edition_slots import slot_key
from couponchain.runtime import Runtime
from tests.api_auth import auth
from tests.integration import marketing_world as mk
from tests.integration import prizes_world as pz
from tests.integration import promotions_world as pr
from tests.integration import referrals_world as rf
from tests.integration.conftest import make_settings
from tests.integration.lying_api import Lie, lying_api
from tests.integration.verify_world import run_verify
from tests.ports import serve_app


@pytest.fixture
async def runtime(tmp_path: Path, database_url: str, node_url: str) -> AsyncIterator[Runtime]:
    # The report scheduler is off: the test publishes its report at a chosen time.
    settings = make_settings(tmp_path, database_url, node_url).model_copy(
        update={"report_interval": 0.0})
    rt = Runtime(settings)
    await rt.start()
    yield rt
    await rt.stop()


@dataclass
class Case:
    """One command on one item, with a second item of the same kind and a forged field."""

    name: str
    cap: Capability
    args: list[str]
    key: tuple[Any, ...]
    other: tuple[Any, ...]
    forge: Callable[[dict[str, Any]], None]
    forged_check: str
    api_key: str | None = None


async def _proof_of(client: httpx.AsyncClient, cap: Capability, key: tuple[Any, ...],
                    headers: dict[str, str]) -> dict[str, Any]:
    """The honest proof answer for an item's slots, as a verifier asks for it."""
    item = item_of(cap, key, (await client.get(cap.path(key), headers=headers)).json())
    slots = cap.slots(storage_layout(cap.contract), key, item)
    got = await client.get(f"/v1/proofs/{cap.contract}",
                           params={"slots": ",".join(slot_key(s) for s in slots.values())})
    assert got.status_code == 200, got.text
    return got.json()  # type: ignore[no-any-return]


async def _seed(client: httpx.AsyncClient, runtime: Runtime) -> list[Case]:
    """One item (and a second one) of each capability, on one platform."""
    # Promotions: a coupon granted, passed on twice and written off (a long rollback
    # window keeps it written off), and a second coupon only granted.
    w = await pr.promotion_world(client)
    round_id = await pr.open_round(client, w, window=3_600)
    coupon, second = await pr.grant_coupons(client, w, round_id, w.ann, count=2)
    for sender, receiver in ((w.ann, w.bob), (w.bob, w.cy)):
        moved = await client.post(f"/v1/promotion-coupons/{coupon}/transfer",
                                  json={"to": receiver["id"]}, headers=auth(sender))
        assert moved.status_code == 200, moved.text
    code = await pr.consent_code(client, w.cy, coupon)
    written = await client.post("/v1/write-offs", headers=auth(w.terminal),
                                json={"code": code, "order_amount": 1_000_000})
    assert written.status_code == 201, written.text

    # Prizes: three awards of one campaign; Cy's is revoked (an AwardRevoked event).
    p = await pz.prize_world(client)
    campaign = await pz.start_campaign(client, p)
    award, other_award, revoked = await pz.award_prize(client, p, campaign["id"], (p.ann, 0),
                                                       (p.bob, 1), (p.cy, 0))
    withdrawn = await client.post(f"/v1/prize-awards/{revoked}/revoke", headers=auth(p.shop),
                                  json={"reason": "entered twice"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["revoked_at"] and withdrawn.json()["revoked_reason"], withdrawn.text
    # Ann's award is claimed at a terminal, which the chain records (a Claimed event).
    scan = await pz.scan_code(client, p.till, await pz.prize_code(client, p.ann, award))
    claim = await client.post("/v1/prize-claims", json={"scan_id": scan["scan_id"]},
                              headers=auth(p.till) | {"idempotency-key": "verify"})
    assert claim.status_code == 201, claim.text
    assert (await pz.settled_scan(client, p.till, claim.json()))["status"] == "recorded"

    # Referrals: Ann buys batch 1 out; batch 2 opens with a rebate; Bob buys, which
    # through Ann's link, which pays Ann's units a rebate not settled yet.
    r = await rf.referral_world(client)
    product = await rf.create_product(client, r, circulation=2)
    assert (await rf.buy(client, r.ann, product, 2)).status_code == 201
    assert (await rf.open_batch(client, r, product, 2_000, 5, 1_000)).status_code == 201
    link = await rf.promotion_link(client, r.ann, product)
    assert (await rf.buy(client, r.bob, product, 1, link)).status_code == 201
    other_product = await rf.create_product(client, r, circulation=3, name="Other song")
    assert (await rf.buy(client, r.ann, other_product, 1)).status_code == 201

    # Marketing: one report, published on chain.
    m = await mk.marketing_world(client)
    await mk.set_rules(client, m, [{"indicators": ["page_views", "unique_visitors"],
                                    "condition": {"type": "periodic", "every_minutes": 60,
                                                  "starts_at": mk.T}}])
    await mk.ingest_logs(client, m.till, mk.mixed_records(m, 40, mk.T))
    reports = await runtime.marketing.tick(mk.T + mk.HOUR + 600)
    reports += await runtime.marketing.tick(mk.T + 2 * mk.HOUR + 600)
    assert len(reports) == 2, reports
    await runtime.indexer.wait_for(int(await runtime.rpc.call("eth_blockNumber"), 16))

    def nested(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
        def forge(body: dict[str, Any]) -> None:
            for product in body["products"]:
                product[field] = value
        return forge

    return [
        Case("promotion pool", PROMOTION_COUPON, ["promotion-coupon", str(coupon)],
             (coupon,), (second,), lambda b: b.update(pool=b["pool"] * 2), "json pool"),
        Case("promotion path", PROMOTION_COUPON, ["promotion-coupon", str(coupon)],
             (coupon,), (second,),
             lambda b: b["path"][2].update({"from": w.ann["address"]}),
             "path: the senders of its transfers"),
        Case("promotion path amount", PROMOTION_COUPON, ["promotion-coupon", str(coupon)],
             (coupon,), (second,), lambda b: b["path"][3].update(amount=b["path"][3]["amount"] + 1),
             "path[3] (written_off) is the trusted node's log"),
        Case("promotion path time", PROMOTION_COUPON, ["promotion-coupon", str(coupon)],
             (coupon,), (second,), lambda b: b["path"][1].update(at="2000-01-01T00:00:00Z"),
             "path[1] (transferred) is the trusted node's log"),
        Case("promotion path tx", PROMOTION_COUPON, ["promotion-coupon", str(coupon)],
             (coupon,), (second,),
             lambda b: b["path"][1].update(tx_hash=b["path"][2]["tx_hash"]),
             "path[1] (transferred) is the trusted node's log"),
        Case("promotion granted time", PROMOTION_COUPON, ["promotion-coupon", str(coupon)],
             (coupon,), (second,), lambda b: b.update(granted_at="2000-01-01T00:00:00Z"),
             "json granted_at (the Granted log's block time)"),
        Case("promotion order amount", PROMOTION_COUPON, ["promotion-coupon", str(coupon)],
             (coupon,), (second,), lambda b: b.update(order_amount=1),
             "json order_amount (the last WrittenOff log's)"),
        Case("prize status", PRIZE_AWARD, ["prize-award", str(award)], (award,),
             (other_award,), lambda b: b.update(status="awarded"), "json status"),
        Case("prize claim terminal", PRIZE_AWARD, ["prize-award", str(award)], (award,),
             (other_award,), lambda b: b.update(claimed_by=p.till2["address"]),
             "json claimed_at, claimed_by, claim_tx are the Claimed log's"),
        Case("prize award tx", PRIZE_AWARD, ["prize-award", str(award)], (award,),
             (other_award,), lambda b: b.update(awarded_tx=b["claim_tx"]),
             "json awarded_at, awarded_block, awarded_tx are the Awarded log's"),
        # A claimed award shown with a revocation reason: proven absent (no AwardRevoked).
        Case("prize reason", PRIZE_AWARD, ["prize-award", str(award)], (award,),
             (other_award,), lambda b: b.update(revoked_reason="entered twice"),
             "json revoke_tx, revoked_at, revoked_reason: none without an AwardRevoked event"),
        Case("revocation time", PRIZE_AWARD, ["prize-award", str(revoked)], (revoked,),
             (award,), lambda b: b.update(revoked_at="2000-01-01T00:00:00Z"),
             "json revoke_tx, revoked_at are the AwardRevoked log's (its block's time)"),
        Case("revocation tx", PRIZE_AWARD, ["prize-award", str(revoked)], (revoked,),
             (award,), lambda b: b.update(revoke_tx=b["awarded_tx"]),
             "json revoke_tx, revoked_at are the AwardRevoked log's (its block's time)"),
        Case("referral units", REFERRAL_HOLDING,
             ["referral-holding", str(product), r.ann["address"]],
             (product, r.ann["address"]), (other_product, r.ann["address"]),
             nested("units", 7), "json units", r.ann["api_key"]),
        Case("referral rebate", REFERRAL_HOLDING,
             ["referral-holding", str(product), r.ann["address"]],
             (product, r.ann["address"]), (other_product, r.ann["address"]),
             lambda b: [p["rebates"].update(holder_pending=p["rebates"]["holder_pending"] + 1)
                        for p in b["products"]], "json rebates.holder_pending",
             r.ann["api_key"]),
        Case("referral terms", REFERRAL_HOLDING,
             ["referral-holding", str(product), r.ann["address"]],
             (product, r.ann["address"]), (other_product, r.ann["address"]),
             lambda b: [p["current"].update(promoter_share_bps=p["current"]
                                            ["promoter_share_bps"] + 1)
                        for p in b["products"]], "json current.promoter_share_bps",
             r.ann["api_key"]),
        Case("referral promoter rebate", REFERRAL_HOLDING,
             ["referral-holding", str(product), r.ann["address"]],
             (product, r.ann["address"]), (other_product, r.ann["address"]),
             lambda b: [p["rebates"].update(promoter=p["rebates"]["promoter"] + 1)
                        for p in b["products"]],
             "json rebates.promoter (the account's Purchased logs as promoter)",
             r.ann["api_key"]),
        Case("referral settled", REFERRAL_HOLDING,
             ["referral-holding", str(product), r.ann["address"]],
             (product, r.ann["address"]), (other_product, r.ann["address"]),
             lambda b: [p["rebates"].update(holder_settled=p["rebates"]["holder_settled"] + 5)
                        for p in b["products"]],
             "json rebates.holder_settled (the account's Settled logs)", r.ann["api_key"]),
        Case("referral batch sold", REFERRAL_HOLDING,
             ["referral-holding", str(product), r.ann["address"]],
             (product, r.ann["address"]), (other_product, r.ann["address"]),
             lambda b: [p["current"].update(sold=p["current"]["sold"] + 1)
                        for p in b["products"]], "json current.sold", r.ann["api_key"]),
        Case("referral batch paid", REFERRAL_HOLDING,
             ["referral-holding", str(product), r.ann["address"]],
             (product, r.ann["address"]), (other_product, r.ann["address"]),
             lambda b: [p["current"].update(holders_paid=p["current"]["holders_paid"] + 1)
                        for p in b["products"]],
             "json current.promoter_paid, holders_paid, originator_paid, dust are the batch's",
             r.ann["api_key"]),
        Case("referral batch opened", REFERRAL_HOLDING,
             ["referral-holding", str(product), r.ann["address"]],
             (product, r.ann["address"]), (other_product, r.ann["address"]),
             lambda b: [p["current"].update(opened_at="2000-01-01T00:00:00Z")
                        for p in b["products"]],
             "json current.opened_at, opened_block, opened_tx are the BatchOpened log's",
             r.ann["api_key"]),
        Case("referral product name", REFERRAL_HOLDING,
             ["referral-holding", str(product), r.ann["address"]],
             (product, r.ann["address"]), (other_product, r.ann["address"]),
             nested("name", "Other song"), "json name", r.ann["api_key"]),
        Case("referral units split", REFERRAL_HOLDING,
             ["referral-holding", str(product), r.ann["address"]],
             (product, r.ann["address"]), (other_product, r.ann["address"]),
             nested("units_by_batch", [{"batch": 1, "units": 1}, {"batch": 2, "units": 1}]),
             "json units_by_batch (the account's Purchased logs as buyer)", r.ann["api_key"]),
        Case("referral registered", REFERRAL_HOLDING,
             ["referral-holding", str(product), r.ann["address"]],
             (product, r.ann["address"]), (other_product, r.ann["address"]),
             lambda b: [p.update(registered_block=p["registered_block"] + 1)
                        for p in b["products"]],
             "json registered_at, registered_block, registered_tx are the ProductRegistered",
             r.ann["api_key"]),
        Case("report hash", REPORT, ["report", str(reports[0])], (reports[0],),
             (reports[1],), lambda b: b.update(report_hash="0x" + "ab" * 32),
             "json report_hash", m.shop["api_key"]),
        Case("report document", REPORT, ["report", str(reports[0])], (reports[0],),
             (reports[1],), lambda b: b.update(json=b["json"].replace('"page_views":',
                                                                      '"page_views":1')),
             "the report's JSON hashes to the proven report_hash", m.shop["api_key"]),
        Case("report sources", REPORT, ["report", str(reports[0])], (reports[0],),
             (reports[1],), lambda b: b.update(sources=[[m.till["address"], 1]]),
             "json sources are the ReportPublished event's", m.shop["api_key"]),
        Case("report tx", REPORT, ["report", str(reports[0])], (reports[0],),
             (reports[1],), lambda b: b.update(block_number=b["block_number"] - 1),
             "json tx_hash, block_number are the ReportPublished log's", m.shop["api_key"]),
        Case("report rule", REPORT, ["report", str(reports[0])], (reports[0],),
             (reports[1],), lambda b: b.update(rule_id=b["rule_id"] + 1),
             "json rule_id (the contract's report_rule)", m.shop["api_key"]),
        # The first period's report passed off as the second's (whose report exists).
        Case("report period", REPORT, ["report", str(reports[0])], (reports[0],),
             (reports[1],), lambda b: b.update(period=b["period"] + 1),
             "json period (the contract's report_rule)", m.shop["api_key"]),
    ]


async def test_each_capability_honest_and_lies(
    client: httpx.AsyncClient, runtime: Runtime, node_url: str, tmp_path: Path,
) -> None:
    started = time.monotonic()
    cases = await _seed(client, runtime)
    async for api_url in serve_app(create_app(runtime, manage_runtime=False)):
        trust = ["--trust-file", str(tmp_path / "trust.json"), "--registry",
                 runtime.addresses["registry"]]
        honest: dict[str, str] = {}
        stale: dict[str, dict[str, Any]] = {}
        for case in cases:
            keyed = ["--api-key", case.api_key] if case.api_key else []
            if case.name.split()[0] in honest:
                continue
            code, output = await run_verify(*case.args, "--api", api_url, "--rpc", node_url,
                                            *trust, *keyed)
            assert code == 0, (case.name, output)
            assert output.rstrip().endswith("VERIFIED") and "FAILED" not in output, output
            honest[case.name.split()[0]] = output
            headers = {"authorization": f"Bearer {case.api_key}"} if case.api_key else {}
            stale[case.cap.contract] = await _proof_of(client, case.cap, case.key, headers)
        unproven = {name: output.partition("NOT PROVEN")[2].partition("\nVERIFIED")[0]
                    for name, output in honest.items()}
        # The path's amounts, times and transactions and the order amount are proven
        # from the coupon's logs; the actors' names are not.
        assert "by_name" in unproven["promotion"] and "order_amount" not in unproven["promotion"]
        assert "times" not in unproven["promotion"], unproven["promotion"]
        # The award's and claim's times and transactions are proven from their logs.
        assert "awarded_tx" not in unproven["prize"] and "claim_tx" not in unproven["prize"]
        # A claimed award's revocation fields are proven absent; a revoked award's
        # transaction and time are its AwardRevoked log's, its reason is not proven (the
        # event carries neither the reason nor its hash).
        assert "revoked_reason" not in unproven["prize"], unproven["prize"]
        assert "revoked_at" not in unproven["revocation"] \
            and "revoke_tx" not in unproven["revocation"], unproven["revocation"]
        assert "revoked_reason (the AwardRevoked event carries neither the reason nor its " \
            "hash" in unproven["revocation"], unproven["revocation"]
        # The promoter's and settled rebates are proven from the referral logs, and the
        # current batch's counters from storage, its payouts and opening from its logs.
        assert "rebates" not in unproven["referral"], unproven["referral"]
        assert "current" not in unproven["referral"], unproven["referral"]
        # The product's name and registration, the account's units per batch and whether
        # it may promote are proven too; the platform's own ids and names are not.
        assert "originator_name" in unproven["referral"] and all(
            f not in unproven["referral"] for f in (" name,", "registered", "units_by_batch",
                                                    "may_promote")), unproven["referral"]
        # (that they are compared: the forged ones below fail.)
        # The report's rule and period are proven, no longer listed as NOT PROVEN.
        assert "status" in unproven["report"] and "sources" not in unproven["report"] \
            and "tx_hash" not in unproven["report"] and "rule_id" not in unproven["report"] \
            and "period," not in unproven["report"], unproven["report"]
        # Without a node of one's own: never VERIFIED.
        code, output = await run_verify(*cases[0].args, "--api", api_url, *trust)
        assert code == 3 and "NOT ANCHORED" in output, output

        for _ in range(10):  # the proofs taken above fall behind --max-age-blocks
            await runtime.rpc.call("evm_mine")
        await runtime.indexer.wait_for(int(await runtime.rpc.call("eth_blockNumber"), 16))

        lie: list[Lie | None] = [None]
        async for liar in serve_app(lying_api(api_url, lie)):
            for case in cases:
                headers = {"authorization": f"Bearer {case.api_key}"} if case.api_key else {}
                other = await _proof_of(client, case.cap, case.other, headers)
                keyed = ["--api-key", case.api_key] if case.api_key else []

                def json_lie(path: str, body: dict[str, Any], c: Case = case) -> Any:
                    if path.startswith("/v1/proofs/"):
                        return None
                    c.forge(body)
                    return body

                lies: list[tuple[str, Lie, str]] = [
                    ("forged field", json_lie, case.forged_check),
                    ("another item's proof",
                     lambda path, body, o=other: o if path.startswith("/v1/proofs/") else None,
                     "storage proofs hold for every slot"),
                    ("stale block",
                     lambda path, body, s=stale[case.cap.contract]:
                     s if path.startswith("/v1/proofs/") else None,
                     "blocks behind the trusted head"),
                ]
                for told, change, check in lies:
                    if told != "forged field" and (
                            case.name.endswith(("path", "rebate", "document", "rule", "period",
                                                "terminal", "tx", "amount", "time",
                                                "settled", "sources", "sold", "paid", "opened",
                                                "name", "split", "registered", "reason"))):
                        continue  # the proof lies are told once per command
                    lie[0] = change
                    code, output = await run_verify(*case.args, "--api", liar, "--rpc",
                                                    node_url, *trust, *keyed)
                    failed = output.rstrip().rpartition("\n")[2]
                    assert code == 1, (case.name, told, output)
                    assert failed.startswith("NOT VERIFIED: failed:") and check in failed, \
                        (case.name, told, failed)
    assert time.monotonic() - started < 240


async def test_capability_errors_are_one_clear_line(
    client: httpx.AsyncClient, runtime: Runtime, node_url: str, tmp_path: Path,
) -> None:
    async for api_url in serve_app(create_app(runtime, manage_runtime=False)):
        trust = ["--trust-file", str(tmp_path / "trust.json")]
        cases = {
            "unknown promotion coupon": (["promotion-coupon", "999999", "--api", api_url],
                                         "unknown promotion coupon 999999"),
            "unknown prize award": (["prize-award", "4242", "--api", api_url],
                                    "unknown prize award 4242"),
            "no API key": (["report", "1", "--api", api_url, "--api-key", "nope"],
                           "refused /v1/reports/1"),
            "not an account": (["referral-holding", "1", "nobody", "--api", api_url],
                               "'nobody' is not an account address"),
            "not the API": (["prize-award", "1", "--api", node_url],
                            "is it a CouponChain API?"),
        }
        for label, (args, message) in cases.items():
            code, output = await run_verify(*args, *trust)
            lines = output.strip().splitlines()
            assert code == 2, (label, output)
            assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], \
                (label, output)
