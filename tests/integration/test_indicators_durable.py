"""A rule's indicator definitions survive a crash between its chain call and the
database (real node, SQLite and PostgreSQL): they are saved, keyed by their
hash, before the call, and recorded from the hash the chain holds; those no
rule went on chain with are removed once nothing can commit to them."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import httpx
import pytest
from eth_utils import keccak
from sqlalchemy import select, update

from couponchain.runtime import Runtime
from couponchain.services.marketing_indicators import STAGE_GRACE, record_committed
from couponchain.store.models import MarketingIndicatorSet, MarketingRuleIndicators
from tests.api_auth import auth
from tests.integration.marketing_world import (
    marketing_world,
    runtime,  # noqa: F401 - the fixture
)

RULES = {"rules": [{"indicators": ["page_views"], "custom": ["shown"],
                    "condition": {"type": "periodic", "every_hours": 1}}]}


class Crash(Exception):
    """The process dying right after the transaction went on chain."""


def crash_after_rules(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the real gateway apply the rules transaction, then fail before the
    service hears back (as a crash, or a lost answer, would)."""
    submit = rt.gateway.submit

    async def applied_then_crash(signer: Any, call: Any, **kwargs: Any) -> Any:
        result = await submit(signer, call, **kwargs)
        if call.function.startswith("set_reporting_rules"):
            raise Crash("after the chain call")
        return result

    monkeypatch.setattr(rt.gateway, "submit", applied_then_crash)


def crash_before_rules(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the service die after staging the definitions, before the rules'
    chain call (the transaction never exists)."""
    submit = rt.gateway.submit

    async def crash_first(signer: Any, call: Any, **kwargs: Any) -> Any:
        if call.function.startswith("set_reporting_rules"):
            raise Crash("before the chain call")
        return await submit(signer, call, **kwargs)

    monkeypatch.setattr(rt.gateway, "submit", crash_first)


async def _define(client: httpx.AsyncClient, shop: dict[str, Any], text: str) -> None:
    put = await client.put(f"/v1/merchants/{shop['id']}/indicators/shown",
                           json={"expression": text}, headers=auth(shop))
    assert put.status_code == 200, put.text


async def _caught_up(rt: Runtime) -> None:
    """Wait for the indexer to read every block (the crash came before the service did)."""
    await rt.indexer.wait_for(int(await rt.rpc.call("eth_blockNumber"), 16))


async def _on_chain(rt: Runtime, shop: dict[str, Any], version: int) -> str:
    rule_id = await rt.view("marketing", "rule_id_of", shop["address"], version, 0)
    return "0x" + bytes(await rt.view("marketing", "rule_indicators_hash", rule_id)).hex()


async def _crash_setting_rules(client: httpx.AsyncClient, rt: Runtime,
                               monkeypatch: pytest.MonkeyPatch, shop: dict[str, Any],
                               headers: dict[str, str]) -> None:
    """The shop's rules PUT, with the service crashing once the chain applied them."""
    crash_after_rules(rt, monkeypatch)
    with pytest.raises(Crash):
        await client.put(f"/v1/merchants/{shop['id']}/reporting-rules", json=RULES,
                         headers=headers)
    monkeypatch.undo()


async def test_definitions_committed_before_a_crash_are_read_back_matching_the_chain(
        client: httpx.AsyncClient, runtime: Runtime,  # noqa: F811 - the scheduler-off fixture
        monkeypatch: pytest.MonkeyPatch) -> None:
    w = await marketing_world(client)
    await _define(client, w.shop, "count(views)")
    await _crash_setting_rules(client, runtime, monkeypatch, w.shop, auth(w.shop))
    await _caught_up(runtime)
    async with runtime.db.session() as s:
        staged = (await s.execute(select(MarketingIndicatorSet))).scalars().all()
        assert (await s.execute(select(MarketingRuleIndicators))).first() is None
    assert [r.status for r in staged] == ["pending"]

    # The merchant redefines the indicator meanwhile: the rule keeps what it committed to.
    await _define(client, w.shop, "count(clicks)")
    shown = (await client.get(f"/v1/merchants/{w.shop['id']}/reporting-rules/1/indicators")
             ).json()["rules"]
    assert len(shown) == 1, shown
    assert shown[0]["definitions"] == [{"expression": "count(views)", "name": "shown"}]
    on_chain = await _on_chain(runtime, w.shop, 1)
    assert on_chain == shown[0]["indicators_hash"] == staged[0].indicators_hash
    assert on_chain == "0x" + keccak(shown[0]["definitions_json"].encode()).hex()
    async with runtime.db.session() as s:
        assert (await s.get(MarketingIndicatorSet,
                            (w.shop["address"], on_chain))).status == "committed"


async def test_a_retry_after_a_crash_records_the_definitions_on_chain_not_the_library(
        client: httpx.AsyncClient, runtime: Runtime,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    w = await marketing_world(client)
    await _define(client, w.shop, "count(views)")
    key = {**auth(w.shop), "idempotency-key": "rules-after-crash"}
    await _crash_setting_rules(client, runtime, monkeypatch, w.shop, key)
    await _define(client, w.shop, "count(clicks)")
    # The client retries: the gateway answers with the transaction already applied.
    again = await client.put(f"/v1/merchants/{w.shop['id']}/reporting-rules", json=RULES,
                             headers=key)
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 1
    async with runtime.db.session() as s:
        row = await s.get(MarketingRuleIndicators, (w.shop["address"], 1, 0))
    assert row is not None
    assert json.loads(row.definitions) == [{"expression": "count(views)", "name": "shown"}]
    assert row.indicators_hash == await _on_chain(runtime, w.shop, 1)


async def test_the_scheduler_reconciles_a_rule_whose_definitions_were_not_recorded(
        client: httpx.AsyncClient, runtime: Runtime,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    w = await marketing_world(client)
    await _define(client, w.shop, "count(views)")
    await _crash_setting_rules(client, runtime, monkeypatch, w.shop, auth(w.shop))
    await _caught_up(runtime)
    await runtime.marketing.tick()
    async with runtime.db.session() as s:
        row = await s.get(MarketingRuleIndicators, (w.shop["address"], 1, 0))
    assert row is not None and row.indicators_hash == await _on_chain(runtime, w.shop, 1)


async def _sets(rt: Runtime) -> dict[str, str]:
    async with rt.db.session() as s:
        return {r.indicators_hash: r.status
                for r in (await s.execute(select(MarketingIndicatorSet))).scalars()}


async def test_definitions_no_rule_went_on_chain_with_are_removed_when_reconciling(
        client: httpx.AsyncClient, runtime: Runtime,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    w = await marketing_world(client)
    await _define(client, w.shop, "count(views)")
    crash_before_rules(runtime, monkeypatch)
    with pytest.raises(Crash):
        await client.put(f"/v1/merchants/{w.shop['id']}/reporting-rules", json=RULES,
                         headers=auth(w.shop))
    monkeypatch.undo()
    # The merchant sets its rules again with another definition: the first set
    # is superseded, and no transaction will ever commit to it.
    await _define(client, w.shop, "count(clicks)")
    put = await client.put(f"/v1/merchants/{w.shop['id']}/reporting-rules", json=RULES,
                           headers=auth(w.shop))
    assert put.status_code == 200, put.text
    on_chain = await _on_chain(runtime, w.shop, 1)
    await runtime.marketing.tick()
    sets = await _sets(runtime)
    # Kept while the request that staged it might still be on its way to the chain.
    assert sorted(sets.values()) == ["committed", "pending"] and sets[on_chain] == "committed"

    async with runtime.db.transaction() as s:  # a day passes
        await s.execute(update(MarketingIndicatorSet).values(
            created_at=MarketingIndicatorSet.created_at - STAGE_GRACE - 1))
    await runtime.marketing.tick()
    assert await _sets(runtime) == {on_chain: "committed"}
    shown = (await client.get(f"/v1/merchants/{w.shop['id']}/reporting-rules/1/indicators")
             ).json()["rules"]
    assert shown[0]["definitions"] == [{"expression": "count(clicks)", "name": "shown"}]
    # Rules naming the removed definitions again stage them again.
    await _define(client, w.shop, "count(views)")
    again = await client.put(f"/v1/merchants/{w.shop['id']}/reporting-rules", json=RULES,
                             headers=auth(w.shop))
    assert again.status_code == 200, again.text
    assert set((await _sets(runtime)).values()) == {"committed"}
    assert len(await _sets(runtime)) == 2


async def test_a_rule_whose_definitions_were_never_saved_is_logged_once(
        runtime: Runtime) -> None:  # noqa: F811
    """A rule caught in the crash window before migration 0024 has no saved text:
    `reconcile` meets it every round, and the log says so once, not every round."""
    lost = [(1, 0, "0x" + "ab" * 32)]
    merchant = "0x" + secrets.token_hex(20)  # the process remembers what it logged
    seen: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = seen.append  # type: ignore[method-assign]
    logger = logging.getLogger("couponchain.services.marketing_indicators")
    logger.addHandler(handler)
    try:
        for _ in range(3):
            assert await record_committed(runtime.db, merchant, lost) == 0
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in seen if "no staged definitions" in r.getMessage()] \
        == [f"rule 0 of rules v1 of {merchant} commits to {lost[0][2]}, which no "
            "staged definitions hash to"]
