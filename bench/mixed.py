"""Benchmark: mixed coupon ops (sales, redemptions, write-offs) on a big ledger, batched.

One embedded default node in a temp dir, one process, one run. The ledger is
first filled with real coupons, half edition sales and half promotion grants,
on chain and indexed into SQL; the mix is measured when it holds
`--also-at` coupons (10,000) and again, after filling on, at `--coupons`
(1,000,000), to show whether the figure stays flat as the ledger grows.

The mix is equal thirds of:

- edition sales, as `sales:bulk` sends them: `record_sales` calls of
  `--sale-batch` sales (400, one transaction each, as
  `BulkSeller._send_alone` submits them; `--sale-batch 1` sends single sales
  as `EditionService.sell` does, merged by the gateway);
- redemptions of coupons sold earlier, one operation each, as
  `EditionService.redeem` submits them (`redeem_batch` items, merged);
- promotion write-offs, one operation each, with the holder's signed consent,
  as `PromotionService.write_off` submits them (`write_off_batch` items). The
  consents are signed before the clock starts: the holders' phones sign
  them, not the platform.

All are submitted at once, shuffled, through `runtime.gateway.submit` (the
merchant's account sells, four terminals redeem and write off), the same
Calls the services submit. An operation counts once it is journaled (its
transaction is in the gateway's outbox before it is broadcast; there are no
per-operation journal rows, as for requests without an Idempotency-Key), on
chain and indexed into SQL: the clock stops when `runtime.indexer.wait_for`
reaches the last operation's block. The services' own checks and responses
(read-model lookups, the coupon shown back) are not in that figure; the same
mix through the service methods is measured beside it (`--service-ops`).

The fill goes straight through `runtime.gateway.submit` with the calls the
bulk services send (`record_sales` of 400 sales, `grant` of 256 coupons, one
per consumer in turn), because `EditionService.sell_many` (about 500 sales/s)
and `PromotionService.grant` would take the better part of an hour for a
million coupons. The naive path runs the same mix, one web3.py transaction
per operation, receipt awaited, on the same node in the same run, once, at
the first ledger size.

After each mix, the node's own share is measured: one full batch of each kind
executed with `eth_call` (nothing mined), so the figure it gives for the mix,
three operations per one of each kind's cost, is the most any client could get
from this node with no blocks, receipts or client work at all.

    .venv/bin/python bench/mixed.py [--coupons 1000000] [--also-at 10000]
        [--ops 9000] [--service-ops 900] [--naive-ops 300] [--sale-batch 400]
    .venv/bin/python bench/mixed.py --coupons 10000     # the small ledger only
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from harness import embedded_runtime, participant
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy import select
from web3 import Web3

from couponchain.chain.gateway import Call
from couponchain.config import Settings
from couponchain.domain import consent as consent_rules
from couponchain.domain.edition_slots import coupon_id_of, serial_text
from couponchain.domain.evaluation import FormulaParams
from couponchain.domain.roles import Role
from couponchain.domain.splits import Shares
from couponchain.runtime import Runtime
from couponchain.services.editions import CHUNK, Sale
from couponchain.services.participants import Caller
from couponchain.services.promotions import RoundRequest
from couponchain.store.models import EditionRecord, PromotionCoupon, PromotionRound

console = Console(file=sys.stdout)
SHARES = Shares(platform=1_000, issuer=2_000, redeemer=2_000, holder=3_000, earlier=2_000)
ORDER_AMOUNT = 1_000_000
PRICE = 300
GRANTS_PER_TX = 256
#: Fill calls in flight at once: enough to keep the node busy, few enough for its pool.
FILL_IN_FLIGHT = 8
#: Seconds a consent stays valid (the round allows 300; the mix must finish sooner).
CONSENT_SECONDS = 280
KINDS = ("sale", "redemption", "write-off")


class RateColumn(ProgressColumn):
    """Items per second, as rich measures them."""

    def render(self, task: Any) -> Text:
        return Text(f"{task.speed or 0:,.0f}/s", style="progress.data.speed")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    RateColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[note]}"), console=console, transient=True)


@dataclass
class Cast:
    """Who acts, and on what: a merchant with terminals, consumers, an edition, a round."""

    merchant: Caller
    terminals: list[Caller]
    merchant_key: LocalAccount
    terminal_keys: list[LocalAccount]
    holder_keys: dict[str, LocalAccount]
    consumers: list[str]
    edition_id: int
    prefix: str
    round_id: int


@dataclass
class Ledger:
    """What is on chain so far; cursors hand out coupons not used yet."""

    sold: int = 0
    granted: int = 0
    next_redeemed: int = 1  # the next edition serial to redeem
    written_off_after: int = 0  # promotion coupons up to this id are taken
    redeemed: int = 0
    written_off: int = 0

    @property
    def coupons(self) -> int:
        return self.sold + self.granted


@dataclass
class Mix:
    """One measured mix: operations per kind and the seconds it took."""

    label: str
    ledger: int
    counts: dict[str, int]
    acked: float = 0.0
    indexed: float = 0.0
    txs: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})

    @property
    def ops(self) -> int:
        return sum(self.counts.values())


def _address(i: int) -> str:
    return "0x" + (0xC0000000 + i).to_bytes(20, "big").hex()


def _size(n: int) -> str:
    """10000 -> 10k, 1000000 -> 1m: the suffix of the figures' keys."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


async def setup(runtime: Runtime, coupons: int, terminals: int, consumers: int) -> Cast:
    """Participants, credit, approval, one edition and one round big enough for the run."""
    platform = runtime.platform.caller
    merchant = await participant(runtime, platform, Role.MERCHANT, "Bench Bakery")
    tills = [await participant(runtime, merchant, Role.TERMINAL, f"Till {i}")
             for i in range(terminals)]
    people = await asyncio.gather(*[
        participant(runtime, platform, Role.CONSUMER, f"Shopper {i}") for i in range(consumers)])
    await runtime.payouts.top_up(platform, merchant.id, 10**15, None)
    merchant_key = await runtime.participants.signer(merchant.id)
    # The merchant's spending cap for incentives (its approval), as large as its credit.
    await runtime.promotions.caps.set_cap(merchant, merchant.id, 10**15, None)
    now = int(time.time())
    room = coupons + 200_000  # the measured sales come on top of the fill
    edition = await runtime.editions.create(merchant, {
        "brand": "Bench Bakery", "title": "Mixed benchmark edition",
        "terms": "One loaf per coupon. Benchmark edition.", "prefix": "MIX", "cap": room,
        "price": PRICE, "valid_from": now - 3600, "valid_until": now + 30 * 86400}, None)
    opened = await runtime.promotions.open_round(platform, RoundRequest(
        turnover=[], consumers=room,
        formula=FormulaParams(base_per_merchant=0, turnover_per_coupon=1, per_consumer=1,
                              max_total=2**64 - 1),
        incentive_bps=500, shares=SHARES, rollback_window=86_400, consent_lifetime=300), None)
    await runtime.promotions.allocate(platform, opened["id"], [(merchant.id, room)], None)
    return Cast(
        merchant=merchant, terminals=tills, merchant_key=merchant_key,
        terminal_keys=[await runtime.participants.signer(t.id) for t in tills],
        holder_keys={p.address: await runtime.participants.signer(p.id) for p in people},
        consumers=[p.address for p in people], edition_id=int(edition["id"]),
        prefix=edition["prefix"], round_id=int(opened["id"]))


# -- filling the ledger --------------------------------------------------------------


def _fill_calls(cast: Cast, ledger: Ledger, sales: int,
                grants: int) -> Iterator[tuple[str, int, Call]]:
    """Sale and grant calls, alternating, each built only when it is sent."""
    sale_at, grant_at = ledger.sold, ledger.granted
    sales_end, grants_end = sale_at + sales, grant_at + grants
    while sale_at < sales_end or grant_at < grants_end:
        if sale_at < sales_end:
            n = min(CHUNK, sales_end - sale_at)
            yield "sale", n, Call("editions", "record_sales", fixed=(
                cast.edition_id, [_address(sale_at + i) for i in range(n)], [PRICE] * n,
                [1] * n, [(sale_at + i).to_bytes(32, "big") for i in range(n)]),
                kind=f"record {n} sales")
            sale_at += n
        if grant_at < grants_end:
            n = min(GRANTS_PER_TX, grants_end - grant_at)
            people = [cast.consumers[(grant_at + i) % len(cast.consumers)] for i in range(n)]
            yield "grant", n, Call("promotions", "grant", fixed=(
                cast.round_id, people, [1] * n), kind=f"grant {n} promotion coupons")
            grant_at += n


async def fill(runtime: Runtime, cast: Cast, ledger: Ledger, target: int) -> tuple[int, float]:
    """Issue coupons until the ledger holds `target`, half sales, half grants, all
    indexed: (coupons issued, seconds)."""
    sales = max(0, target // 2 - ledger.sold)
    grants = max(0, target - target // 2 - ledger.granted)
    if not sales + grants:
        return 0, 0.0
    calls = _fill_calls(cast, ledger, sales, grants)
    last_block = 0
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task(f"filling the ledger to {target:,} coupons",
                                 total=sales + grants, note="")

        async def worker() -> None:
            nonlocal last_block
            for kind, n, call in calls:  # shared: each call is taken by one worker
                result = await runtime.gateway.submit(cast.merchant_key, call)
                last_block = max(last_block, result.block_number)
                if kind == "sale":
                    ledger.sold += n
                else:
                    ledger.granted += n
                progress.update(task, advance=n,
                                note=f"indexer {runtime.indexer.lag:,} blocks behind")

        await asyncio.gather(*(worker() for _ in range(FILL_IN_FLIGHT)))
        progress.update(task, description="indexing the last of the fill")
        await runtime.indexer.wait_for(last_block, timeout=3600)
    return sales + grants, time.perf_counter() - started


# -- the mix ---------------------------------------------------------------------------


async def _write_off_items(runtime: Runtime, cast: Cast, ledger: Ledger,
                           n: int) -> list[tuple[int, int, int, int, bytes]]:
    """`n` active promotion coupons from the read models, each with its holder's
    consent signed (coupon, order amount, nonce, expiry, signature)."""
    async with runtime.db.session() as s:
        rows = (await s.execute(
            select(PromotionCoupon.id, PromotionCoupon.holder)
            .where(PromotionCoupon.status == 1, PromotionCoupon.id > ledger.written_off_after)
            .order_by(PromotionCoupon.id).limit(n))).all()
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} promotion coupons left to write off, {n} needed: "
                         "lower --ops or raise the ledger size")
    ledger.written_off_after = rows[-1][0]
    contract = runtime.gateway.contracts["promotions"][0]
    expiry = int(time.time()) + CONSENT_SECONDS
    items = []
    for coupon_id, holder in rows:
        consent = consent_rules.Consent(coupon=coupon_id, nonce=secrets.randbits(64),
                                        expiry=expiry, merchant=consent_rules.ANY_MERCHANT,
                                        max_amount=ORDER_AMOUNT)
        signature = consent_rules.sign_consent(consent, runtime.chain_id, contract,
                                               cast.holder_keys[holder].key)
        items.append((coupon_id, ORDER_AMOUNT, consent.nonce, expiry, consent.merchant,
                      ORDER_AMOUNT, signature))
    return items


def _redemptions(cast: Cast, ledger: Ledger, n: int) -> list[int]:
    """`n` sold, unredeemed edition serials."""
    if ledger.next_redeemed + n - 1 > ledger.sold:
        raise SystemExit(f"only {ledger.sold - ledger.next_redeemed + 1} sold coupons left to "
                         f"redeem, {n} needed: lower --ops or raise the ledger size")
    first = ledger.next_redeemed
    ledger.next_redeemed += n
    return list(range(first, first + n))


@dataclass
class Plan:
    """One mix's operations, prepared before the clock starts."""

    sales: list[list[tuple[str, str]]]  # requests of (buyer, order reference)
    serials: list[int]
    write_offs: list[tuple[int, int, int, int, str, int, bytes]]

    def shuffled(self) -> list[tuple[str, Any]]:
        ops = ([("sale", s) for s in self.sales] + [("redemption", s) for s in self.serials]
               + [("write-off", w) for w in self.write_offs])
        random.Random(len(ops)).shuffle(ops)
        return ops


async def plan(runtime: Runtime, cast: Cast, ledger: Ledger, ops: int, sale_batch: int,
               label: str) -> Plan:
    third = ops // 3
    buyers = [("0x" + os.urandom(20).hex(), f"{label}-{i}") for i in range(third)]
    return Plan(sales=[buyers[i:i + sale_batch] for i in range(0, third, sale_batch)],
                serials=_redemptions(cast, ledger, third),
                write_offs=await _write_off_items(runtime, cast, ledger, third))


def _gateway_op(cast: Cast, kind: str, payload: Any, i: int) -> tuple[LocalAccount, Call, int]:
    """(signer, call, operations) as the services submit them."""
    terminal = cast.terminal_keys[i % len(cast.terminal_keys)]
    if kind == "sale":
        items = [(buyer, PRICE, 1, keccak(text=ref)) for buyer, ref in payload]
        if len(items) == 1:  # EditionService.sell: one item, merged by the gateway
            return cast.merchant_key, Call("editions", "record_sales", fixed=(cast.edition_id,),
                                           item=items[0], kind="record sale"), 1
        columns = tuple(list(c) for c in zip(*items, strict=True))  # BulkSeller._send_alone
        return cast.merchant_key, Call("editions", "record_sales",
                                       fixed=(cast.edition_id, *columns),
                                       kind=f"record {len(items)} sales"), len(items)
    if kind == "redemption":
        return terminal, Call("editions", "redeem_batch",
                              item=(coupon_id_of(cast.edition_id, payload),),
                              kind="redeem coupon"), 1
    return terminal, Call("promotions", "write_off_batch", item=payload,
                          kind="write off promotion coupon"), 1


async def mixed(runtime: Runtime, cast: Cast, ledger: Ledger, ops: int, sale_batch: int,
                label: str) -> Mix:
    """The mix through the gateway, all submitted at once; timed to the last op indexed."""
    before = ledger.coupons
    work = await plan(runtime, cast, ledger, ops, sale_batch, label)
    shuffled = work.shuffled()
    mix = Mix(label, before, {"sale": ops // 3, "redemption": ops // 3, "write-off": ops // 3})
    with _progress() as progress:
        task = progress.add_task(label, total=mix.ops, note="")
        started = time.perf_counter()

        async def one(i: int, kind: str, payload: Any) -> int:
            signer, call, n = _gateway_op(cast, kind, payload, i)
            result = await runtime.gateway.submit(signer, call)
            mix.txs[kind].add(result.tx_hash)
            progress.advance(task, n)
            return result.block_number

        blocks = await asyncio.gather(*(one(i, k, p) for i, (k, p) in enumerate(shuffled)))
        mix.acked = time.perf_counter() - started
        progress.update(task, description=f"{label}: indexing")
        await runtime.indexer.wait_for(max(blocks), timeout=600)
        mix.indexed = time.perf_counter() - started
    _account(ledger, mix)
    return mix


async def through_services(runtime: Runtime, cast: Cast, ledger: Ledger, ops: int,
                           sale_batch: int, in_flight: int, label: str) -> Mix:
    """The same mix through the service methods the API calls (checks, the gateway, the
    indexer wait and the response each builds), `in_flight` requests at a time."""
    before = ledger.coupons
    work = await plan(runtime, cast, ledger, ops, sale_batch, label)
    codes = {w[0]: consent_rules.encode_code(
        consent_rules.Consent(coupon=w[0], nonce=w[2], expiry=w[3], merchant=w[4],
                              max_amount=w[5]), w[6])
        for w in work.write_offs}
    shuffled = work.shuffled()
    mix = Mix(label, before, {"sale": ops // 3, "redemption": ops // 3, "write-off": ops // 3})
    gate = asyncio.Semaphore(in_flight)
    editions, promotions = runtime.editions, runtime.promotions
    with _progress() as progress:
        task = progress.add_task(label, total=mix.ops, note="")
        started = time.perf_counter()

        async def one(i: int, kind: str, payload: Any) -> int:
            terminal = cast.terminals[i % len(cast.terminals)]
            async with gate:
                if kind == "sale" and len(payload) == 1:
                    buyer, ref = payload[0]
                    done = await editions.sell(cast.merchant, cast.edition_id,
                                               Sale(buyer, None, "online", ref), None)
                elif kind == "sale":
                    done = await editions.sell_many(
                        cast.merchant, cast.edition_id,
                        [Sale(b, None, "online", r) for b, r in payload], None)
                elif kind == "redemption":
                    done = await editions.redeem(terminal, serial_text(cast.prefix, payload),
                                                 None)
                else:
                    done = await promotions.write_off(terminal, codes[payload[0]],
                                                      ORDER_AMOUNT, None)
            mix.txs[kind].add(done["tx_hash"])
            progress.advance(task, len(payload) if kind == "sale" else 1)
            return int(done["block_number"])

        blocks = await asyncio.gather(*(one(i, k, p) for i, (k, p) in enumerate(shuffled)))
        mix.acked = time.perf_counter() - started
        await runtime.indexer.wait_for(max(blocks), timeout=600)  # each call waited already
        mix.indexed = time.perf_counter() - started
    _account(ledger, mix)
    return mix


def _account(ledger: Ledger, mix: Mix) -> None:
    ledger.sold += mix.counts["sale"]
    ledger.redeemed += mix.counts["redemption"]
    ledger.written_off += mix.counts["write-off"]


async def check_read_models(runtime: Runtime, cast: Cast, ledger: Ledger) -> None:
    """The read models count exactly what the ledger says was done."""
    async with runtime.db.session() as s:
        edition = await s.get(EditionRecord, cast.edition_id)
        promotion = await s.get(PromotionRound, cast.round_id)
    found = (edition.sold, edition.redeemed, promotion.granted, promotion.written_off)
    expected = (ledger.sold, ledger.redeemed, ledger.granted, ledger.written_off)
    assert found == expected, f"read models (sold, redeemed, granted, written off) {found} " \
                              f"!= {expected}"


# -- the node's own share -------------------------------------------------------------


#: Operations per probed transaction, per kind (sales: one `sales:bulk` chunk).
PROBE_BATCH = {"sale": CHUNK, "redemption": 200, "write-off": 100}


async def node_execution(runtime: Runtime, cast: Cast, ledger: Ledger,
                         repeat: int = 5) -> dict[str, float]:
    """Microseconds the node spends executing one operation of each kind.

    One full batch of each kind is executed with `eth_call` from the account
    that would send it (the calldata the gateway would sign), `repeat` times;
    the fastest run divided by the batch size. Nothing is mined, so this is
    the node's execution alone, without block production, receipts or any
    client: the least any path through this node can cost per operation.
    The coupons it uses are skipped by the later mixes.
    """
    work = Plan(sales=[[("0x" + os.urandom(20).hex(), f"probe-{i}")
                        for i in range(PROBE_BATCH["sale"])]],
                serials=_redemptions(cast, ledger, PROBE_BATCH["redemption"]),
                write_offs=await _write_off_items(runtime, cast, ledger,
                                                  PROBE_BATCH["write-off"]))
    batches = {"sale": [_gateway_op(cast, "sale", work.sales[0], 0)],
               "redemption": [_gateway_op(cast, "redemption", s, 0) for s in work.serials],
               "write-off": [_gateway_op(cast, "write-off", w, 0) for w in work.write_offs]}
    micros = {}
    for kind, ops in batches.items():
        to, data = runtime.gateway.encode([call for _, call, _ in ops])
        request = {"from": ops[0][0].address, "to": to, "gas": hex(runtime.gateway.gas_limit),
                   "data": "0x" + data.hex()}
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            await runtime.rpc.call("eth_call", request, "latest")
            best = min(best, time.perf_counter() - started)
        micros[kind] = best / sum(n for _, _, n in ops) * 1e6
    return micros


# -- the naive path --------------------------------------------------------------------


def naive(runtime: Runtime, cast: Cast, work: Plan) -> float:
    """The mix, one web3.py transaction per operation, each receipt awaited: ops/s."""
    w3 = Web3(Web3.HTTPProvider(runtime.rpc.url))
    contracts = {name: w3.eth.contract(address=address, abi=code.abi)
                 for name, (address, code) in runtime.gateway.contracts.items()}
    terminal = cast.terminal_keys[0]
    nonces = {k.address: w3.eth.get_transaction_count(k.address, "pending")
              for k in (cast.merchant_key, terminal)}
    ops = work.shuffled()
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("naive web3.py path, the same mix", total=len(ops), note="")
        for kind, payload in ops:
            if kind == "sale":
                (buyer, ref), = payload
                signer, fn = cast.merchant_key, contracts["editions"].functions.record_sales(
                    cast.edition_id, [Web3.to_checksum_address(buyer)], [PRICE], [1],
                    [keccak(text=ref)])
            elif kind == "redemption":
                signer, fn = terminal, contracts["editions"].functions.redeem_batch(
                    [coupon_id_of(cast.edition_id, payload)])
            else:
                signer, fn = terminal, contracts["promotions"].functions.write_off_batch(
                    *([v] for v in payload))
            tx = fn.build_transaction({
                "from": signer.address, "nonce": nonces[signer.address],
                "chainId": runtime.chain_id, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0,
                "gas": 1_000_000})
            nonces[signer.address] += 1
            tx_hash = w3.eth.send_raw_transaction(signer.sign_transaction(tx).raw_transaction)
            receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
            assert receipt["status"] == 1, (kind, receipt)
            progress.advance(task)
    return len(ops) / (time.perf_counter() - started)


# -- the run ---------------------------------------------------------------------------


def _mib(kib: int) -> float:
    return kib / 1024


def _node_peak_mib(runtime: Runtime) -> float | None:
    pid = runtime.supervisor.pid if runtime.supervisor else None
    if pid is None:
        return None
    status = Path(f"/proc/{pid}/status").read_text()
    return _mib(next(int(line.split()[1]) for line in status.splitlines()
                     if line.startswith("VmHWM:")))


async def main(args: argparse.Namespace) -> None:
    sizes = sorted({args.coupons, *([args.also_at] if 0 < args.also_at < args.coupons else [])})
    results: list[tuple[int, int, float, Mix, Mix | None, dict[str, float]]] = []
    naive_rate = 0.0
    naive_ops = 0
    async with embedded_runtime(distribute_interval=0, report_interval=0) as runtime:
        settings = runtime.settings
        with console.status("a merchant, terminals, consumers, an edition and a round"):
            cast = await setup(runtime, args.coupons, args.terminals, args.consumers)
        ledger = Ledger()
        for n, size in enumerate(sizes):
            filled, seconds = await fill(runtime, cast, ledger, size)
            console.print(f"ledger filled to {ledger.coupons:,} coupons: {filled:,} issued "
                          f"in {seconds:.1f} s ({filled / max(seconds, 1e-9):,.0f}/s)")
            if n == 0:
                if args.naive_ops:
                    naive_work = await plan(runtime, cast, ledger, args.naive_ops, 1, "naive")
                    naive_rate = await asyncio.to_thread(naive, runtime, cast, naive_work)
                    naive_ops = len(naive_work.shuffled())
                    await runtime.gateway.recover()  # the naive path used the keys
                    _account(ledger, Mix("naive", 0, {k: naive_ops // 3 for k in KINDS}))
                # Warm up: the gateway learns each entry point's batch size from its gas.
                warm = await mixed(runtime, cast, ledger, args.warmup, args.sale_batch,
                                   "warm-up mix")
                console.print(f"warm-up: {warm.ops / warm.indexed:,.0f} ops/s")
            mix = await mixed(runtime, cast, ledger, args.ops, args.sale_batch,
                              f"mix at {_size(size)} coupons (gateway)")
            console.print(f"mix at {mix.ledger:,} coupons: "
                          f"{mix.ops / mix.indexed:,.0f} ops/s indexed")
            service = None
            if args.service_ops:
                service = await through_services(
                    runtime, cast, ledger, args.service_ops, args.sale_batch,
                    args.in_flight, f"mix at {_size(size)} coupons (services)")
            await check_read_models(runtime, cast, ledger)
            node = await node_execution(runtime, cast, ledger)
            console.print("node execution per op: " + ", ".join(
                f"{k} {v:,.0f} µs" for k, v in node.items()))
            results.append((size, filled, seconds, mix, service, node))
        node_peak = _node_peak_mib(runtime)
        console.print(f"gateway: {dict(runtime.gateway.stats)}")

    peak = _mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    report(args, settings, results, naive_rate, naive_ops, peak, node_peak)


def report(args: argparse.Namespace, settings: Settings,
           results: list[tuple[int, int, float, Mix, Mix | None, dict[str, float]]],
           naive_rate: float,
           naive_ops: int, peak: float, node_peak: float | None) -> None:
    table = Table(title=f"mixed coupon ops, {os.cpu_count()} cores, embedded "
                        f"{settings.node_kind}, SQLite (load avg {os.getloadavg()[0]:.1f} "
                        "at the end)")
    for column in ("measure", "ledger before", "operations", "result"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    keys: dict[str, str] = {}
    fill_total, fill_seconds = 0, 0.0
    for size, filled, seconds, mix, service, node in results:
        tag = _size(size)
        fill_total, fill_seconds = fill_total + filled, fill_seconds + seconds
        table.add_row(f"fill to {size:,}: edition sales and promotion grants, on chain, "
                      "indexed", "", f"{filled:,} coupons",
                      f"{seconds:,.1f} s, {filled / max(seconds, 1e-9):,.0f} coupons/s")
        txs = " / ".join(f"{len(mix.txs[k]):,}" for k in KINDS)
        table.add_row(f"mix via gateway (sales in {args.sale_batch}s), journaled, on chain, "
                      "indexed", f"{mix.ledger:,}", f"{mix.ops:,}",
                      f"[bold]{mix.ops / mix.indexed:,.0f} ops/s[/bold]")
        table.add_row("  acknowledged (on chain), not yet indexed", "", "",
                      f"{mix.ops / mix.acked:,.0f} ops/s")
        table.add_row("  transactions: sales / redemptions / write-offs", "", "", txs)
        keys[f"mixed_ops_per_s_{tag}"] = f"{mix.ops / mix.indexed:.0f}"
        keys[f"mixed_acked_ops_per_s_{tag}"] = f"{mix.ops / mix.acked:.0f}"
        keys[f"ledger_{tag}"] = str(mix.ledger)
        if service is not None:
            table.add_row(f"mix via the service methods, {args.in_flight} in flight",
                          f"{service.ledger:,}", f"{service.ops:,}",
                          f"{service.ops / service.indexed:,.0f} ops/s")
            keys[f"service_ops_per_s_{tag}"] = f"{service.ops / service.indexed:.0f}"
        # Equal thirds: three operations cost the node one of each kind.
        ceiling = 3e6 / sum(node.values())
        table.add_row("  the node executing one op (eth_call of a full batch): sale / "
                      "redemption / write-off", "", "",
                      " / ".join(f"{node[k]:,.0f} µs" for k in KINDS))
        table.add_row("  so the node alone, for this mix, at most (no blocks, no client)", "",
                      "", f"{ceiling:,.0f} ops/s")
        for k in KINDS:
            keys[f"node_us_{k.replace('-', '_')}_{tag}"] = f"{node[k]:.0f}"
        keys[f"node_ceiling_ops_per_s_{tag}"] = f"{ceiling:.0f}"
    largest = results[-1][3]
    ours = largest.ops / largest.indexed
    if naive_ops:
        table.add_row("naive: one web3.py tx per op, receipt awaited (same mix)",
                      f"{results[0][0]:,}", f"{naive_ops:,}", f"{naive_rate:,.0f} ops/s")
        table.add_row(f"ratio: gateway mix at {_size(results[-1][0])} / naive", "", "",
                      f"{ours / naive_rate:,.0f}x")
        keys["naive_ops_per_s"] = f"{naive_rate:.1f}"
        keys["ratio"] = f"{ours / naive_rate:.0f}"
    keys["fill_seconds"] = f"{fill_seconds:.0f}"
    keys["fill_coupons_per_s"] = f"{fill_total / max(fill_seconds, 1e-9):.0f}"
    table.add_row("peak RSS of this process (API runtime, gateway, indexer)", "", "",
                  f"{peak:,.0f} MiB")
    keys["peak_rss_mib"] = f"{peak:.0f}"
    if node_peak is not None:
        table.add_row("peak RSS of the embedded node", "", "", f"{node_peak:,.0f} MiB")
        keys["node_peak_rss_mib"] = f"{node_peak:.0f}"
    console.print(table)
    print(" ".join(f"{k}={v}" for k, v in keys.items()), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coupons", type=int, default=1_000_000,
                        help="ledger size of the last measurement")
    parser.add_argument("--also-at", type=int, default=10_000,
                        help="also measure when the ledger holds this many (0: no)")
    parser.add_argument("--ops", type=int, default=9000, help="measured mix, in thirds")
    parser.add_argument("--service-ops", type=int, default=900,
                        help="the same mix through the service methods (0: skip)")
    parser.add_argument("--naive-ops", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=600)
    parser.add_argument("--sale-batch", type=int, default=CHUNK,
                        help=f"sales per request: {CHUNK} (sales:bulk) or 1 (single sales)")
    parser.add_argument("--terminals", type=int, default=4)
    parser.add_argument("--consumers", type=int, default=64)
    parser.add_argument("--in-flight", type=int, default=1000,
                        help="service requests in flight at once")
    args = parser.parse_args()
    if not 1 <= args.sale_batch <= CHUNK:
        parser.error(f"--sale-batch must be 1 to {CHUNK}")
    asyncio.run(main(args))
