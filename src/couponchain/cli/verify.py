"""`couponchain verify`: check what the platform shows without trusting it.

One family of commands (docs/verification.md), each proving from contract storage
(EIP-1186 proofs against a block a node of the user's own confirms) every number
the platform shows for one item, and listing as NOT PROVEN what storage does not
hold: `verify coupon SERIAL` (also `verify SERIAL`), `verify promotion-coupon ID`,
`verify prize-award ID`, `verify referral-holding PRODUCT_ID ACCOUNT` and
`verify report ID`. Exit codes: 0 VERIFIED, 1 NOT VERIFIED (a check failed), 2 the
check could not run, 3 NOT ANCHORED (no trusted node given).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click

from couponchain.cli.common import _fail
from couponchain.cli.verify_io import (
    EXIT_ERROR,
    EXIT_FAILED,
    EXIT_UNANCHORED,
    TRUST_FILE,
    Http,
    anchor,
    api_json,
    conclude,
    rpc_call,
    trust_options,
    trusted_node,
    validator_set,
)

if TYPE_CHECKING:
    from couponchain.chain.capability_check import Capability
    from couponchain.chain.verification import Outcome
    from couponchain.domain.edition_slots import EditionsLayout

__all__ = ["EXIT_ERROR", "EXIT_FAILED", "EXIT_UNANCHORED", "TRUST_FILE", "verify"]

#: Block headers asked for in one JSON-RPC batch (the ancestry walk asks for many).
HEADERS_PER_BATCH = 1_000


class _DefaultToCoupon(click.Group):
    """`couponchain verify SERIAL` stays `couponchain verify coupon SERIAL`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not any(a in self.commands for a in args) \
                and not any(a in ("--help", "-h") for a in args):
            args = ["coupon", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultToCoupon)
def verify() -> None:
    """Check an item the platform shows against the chain; exit 0 only if all holds."""


@verify.command("coupon")
@click.argument("serial")
@trust_options
def verify_coupon(serial: str, api: str, rpc: str | None, registry: str | None,
                  trust_file: Path, max_age_blocks: int, engine: str = "auto",
                  validators: str | None = None, max_ancestry_blocks: int = 256) -> None:
    """A limited-edition coupon: edition, counters, owner, status, sale and history."""
    from couponchain.chain.coupon_check import CheckError, Trusted, check_coupon, parse_serial

    try:
        parse_serial(serial)
    except CheckError as exc:
        _fail(str(exc))
    base = api.rstrip("/")
    http = Http(timeout=30)
    try:
        unknown = f"unknown serial {serial}"
        proof = api_json(http, base, f"/v1/coupons/{quote(serial)}/proof", unknown)
        coupon = api_json(http, base, f"/v1/coupons/{quote(serial)}", unknown)
        node: dict[str, Any] = {}
        if rpc:
            node = trusted_node(http, rpc, proof)
    finally:
        http.close()
    chain_id = node.get("chain_id", proof.get("chain_id"))
    if not isinstance(chain_id, int):
        _fail(f"the API at {base} names no chain id: is it a CouponChain API?")
        return
    trusted_registry = anchor(trust_file, chain_id, registry, proof)
    resolved, validator_list = validator_set(validators, engine, rpc, proof.get("block") or {})
    trusted = Trusted(chain_id=int(chain_id), registry=trusted_registry,
                      node_chain_id=node.get("chain_id"), head=node.get("head"),
                      block=node.get("block"), max_age=max_age_blocks, engine=resolved,
                      validators=validator_list)
    try:
        outcome = check_coupon(serial, proof, coupon, _editions_layout(), trusted)
    except CheckError as exc:
        _fail(str(exc))
        return
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        _fail(f"the API's answer is not a coupon proof ({exc.__class__.__name__}: {exc})")
        return
    # The logs are read only once the contract and edition are proven: the filters name them.
    replayed = bool(node) and outcome.ok
    if replayed:
        _sales_and_history(rpc or "", proof, coupon, outcome, max_ancestry_blocks, resolved)
    block = proof["block"]
    shown = coupon.get("history")
    history = shown if isinstance(shown, list) else []
    heading = (f"{serial} at block {int(block['number'], 16)} ({block['hash']}), "
               f"chain {chain_id}, registry {trusted_registry}, contract {proof.get('contract')}")
    if replayed:
        heading += (f"\nhistory: {len(history)} entries checked against the trusted node's logs "
                    "of the pinned contract up to the proven block, each log also by a "
                    "receipt proof against its block's receiptsRoot (the sale also against "
                    "the proven sales_digest)")
    else:
        heading += (f"\nhistory: {len(history)} entries NOT PROVEN ("
                    + ("no trusted node)" if not node else "the proofs above failed)"))
    conclude(outcome, node, heading, block, max_age_blocks,
             "shown by the platform, not held in the contract's storage")


def _sales_and_history(rpc: str, proof: dict[str, Any], coupon: dict[str, Any],
                       outcome: Outcome, limit: int, engine: str = "auto") -> None:
    """Replay the edition's sales from the trusted node's logs against the proven
    `sales_digest`, and check each history entry against the coupon's logs (only
    once the contract and edition are proven: the filters name them)."""
    from couponchain.chain.coupon_check import (
        check_history,
        check_sales,
        history_filters,
        sold_logs_filter,
    )

    contract, to_block = proof["contract"], proof["block"]["number"]
    coupon_id = int(proof["coupon_id"])
    sales, *events = rpc_call(rpc, [
        ("eth_getLogs", [sold_logs_filter(contract, int(proof["edition_id"]), to_block)]),
        *(("eth_getLogs", [f]) for f in history_filters(contract, coupon_id, to_block))],
        "the coupon's logs")
    if not isinstance(sales, list) or not all(isinstance(e, list) for e in events):
        _fail(f"the node at {rpc} returned no logs for eth_getLogs")
        return
    check_sales(outcome, sales, outcome.proven.get("sales_digest"), coupon_id, coupon)
    logs = [log for found in events for log in found]
    check_history(outcome, logs, prove_logs(rpc, proof["block"], logs, outcome, limit, engine),
                  coupon)


def prove_logs(rpc: str, proven: dict[str, Any], logs: list[Any],
               outcome: Outcome, limit: int, engine: str = "auto") -> dict[int, int]:
    """Prove the logs' blocks (their headers are ancestors of the proven block, their
    receipts rebuild each header's receiptsRoot and hold the logs) and return each
    block's time from its proven header."""
    from couponchain.chain.coupon_check import check_receipts

    numbers = sorted({int(str(log["blockNumber"]), 16) for log in logs})
    if not numbers:
        return {}
    headers = prove_ancestry(rpc, proven, numbers, outcome, limit, engine)
    # Receipt proofs: each block's receipts against its header's receiptsRoot.
    by_number = {n: headers[n] for n in numbers if n in headers}
    check_receipts(outcome, logs, by_number, _block_receipts(rpc, by_number), engine)
    return {n: int(h["timestamp"], 16) for n, h in by_number.items()}


def prove_ancestry(rpc: str, proven: dict[str, Any], numbers: list[int], outcome: Outcome,
                   limit: int, engine: str = "auto") -> dict[int, dict[str, Any]]:
    """Prove that blocks `numbers` (sorted) are ancestors of the proven block and return
    their headers (and those walked): from the EIP-2935 history contract's storage in
    the proven state where the node keeps it (one eth_getProof for blocks up to 8191
    back), else by the parentHash walk of at most `limit` headers; the ancestry of
    blocks beyond both is listed as NOT PROVEN."""
    from couponchain.chain import consensus
    from couponchain.chain.event_check import (
        HISTORY_STORAGE_ADDRESS,
        blocks_to_walk,
        check_ancestry,
        check_history_hashes,
        history_slot,
        in_history_window,
    )

    top = int(str(proven["number"]), 16)
    resolved = consensus.engine_of(proven, engine)
    headers = _headers(rpc, numbers)
    window = in_history_window(top, numbers)
    from_contract: list[int] = []
    if window:
        answer, = rpc_call(rpc, [("eth_getProof", [
            HISTORY_STORAGE_ADDRESS, sorted({history_slot(n) for n in window}), hex(top)])],
            "the history contract's proof")
        from_contract = check_history_hashes(outcome, proven, answer, headers, window,
                                             resolved) or []
    rest = [n for n in numbers if n not in set(from_contract)]
    if not rest or (from_contract and rest[0] >= top):  # left: only the proven block
        return headers
    walked = [n for n in blocks_to_walk(top, rest[0], limit) if n not in headers]
    headers |= _headers(rpc, walked)
    start = check_ancestry(outcome, proven, headers, rest[0], limit, resolved)
    if rest[0] < start:
        outcome.not_proven.append(f"that blocks before {start} are ancestors of the proven "
                                  f"block (more than --max-ancestry-blocks {limit} back"
                                  + (", and not in the chain's EIP-2935 history contract)"
                                     if window else ")"))
    return headers


def _headers(rpc: str, numbers: list[int]) -> dict[int, dict[str, Any]]:
    """The trusted node's headers of blocks `numbers`, in batches."""
    headers: dict[int, dict[str, Any]] = {}
    for i in range(0, len(numbers), HEADERS_PER_BATCH):
        chunk = numbers[i:i + HEADERS_PER_BATCH]
        found = rpc_call(rpc, [("eth_getBlockByNumber", [hex(n), False]) for n in chunk],
                         "the history's blocks")
        headers |= {n: h for n, h in zip(chunk, found, strict=True) if isinstance(h, dict)}
    return headers


def _block_receipts(rpc: str, blocks: dict[int, dict[str, Any]]) -> dict[int, list[Any]]:
    """Every receipt of each block: `eth_getBlockReceipts`, or one
    `eth_getTransactionReceipt` per transaction where the node lacks it."""
    numbers = sorted(blocks)
    found = rpc_call(rpc, [("eth_getBlockReceipts", [hex(n)]) for n in numbers],
                     "the history's receipts") if numbers else []
    receipts = {n: r for n, r in zip(numbers, found, strict=True) if isinstance(r, list)}
    missing = [(n, str(tx)) for n in numbers if n not in receipts
               for tx in blocks[n].get("transactions") or []]
    if missing:
        one_by_one = rpc_call(rpc, [("eth_getTransactionReceipt", [tx]) for _, tx in missing],
                              "the history's receipts")
        for (number, _), receipt in zip(missing, one_by_one, strict=True):
            receipts.setdefault(number, []).append(receipt)
    return receipts


def _verify_item(cap: Capability, key: tuple[Any, ...], api: str, rpc: str | None,
                 registry: str | None, trust_file: Path, max_age_blocks: int,
                 api_key: str | None = None, engine: str = "auto",
                 validators: str | None = None, max_ancestry_blocks: int = 256) -> None:
    """Fetch one item and the proofs of its slots, check them, print, exit."""
    from couponchain.chain.capability_check import check_item, item_of
    from couponchain.chain.storage_layout import storage_layout
    from couponchain.chain.verification import CheckError, Trusted
    from couponchain.domain.edition_slots import LayoutError, slot_key

    base = api.rstrip("/")
    label = f"{cap.what} {' '.join(str(k) for k in key)}"
    http = Http(timeout=30)
    try:
        answer = api_json(http, base, cap.path(key), f"unknown {label}", api_key)
        try:
            item = item_of(cap, key, answer)
            layout = storage_layout(cap.contract)
            slots = cap.slots(layout, key, item)
        except (CheckError, LayoutError) as exc:
            _fail(str(exc))
            return
        proof = api_json(http, base, f"/v1/proofs/{cap.contract}?slots="
                         + ",".join(slot_key(s) for s in slots.values()), f"unknown {label}")
        node: dict[str, Any] = trusted_node(http, rpc, proof) if rpc else {}
    finally:
        http.close()
    chain_id = node.get("chain_id", proof.get("chain_id"))
    if not isinstance(chain_id, int):
        _fail(f"the API at {base} names no chain id: is it a CouponChain API?")
        return
    trusted_registry = anchor(trust_file, chain_id, registry, proof)
    resolved, validator_list = validator_set(validators, engine, rpc, proof.get("block") or {})
    trusted = Trusted(chain_id=chain_id, registry=trusted_registry,
                      node_chain_id=node.get("chain_id"), head=node.get("head"),
                      block=node.get("block"), max_age=max_age_blocks, engine=resolved,
                      validators=validator_list)
    try:
        outcome = check_item(cap, key, item, proof, layout, trusted)
    except CheckError as exc:
        _fail(str(exc))
        return
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        _fail(f"the API's answer is not a storage proof ({exc.__class__.__name__}: {exc})")
        return
    block = proof["block"]
    if node and outcome.ok and cap.events is not None:
        _item_past(rpc or "", cap, key, item, proof, outcome, max_ancestry_blocks, resolved)
    conclude(outcome, node, f"{label} at block {int(block['number'], 16)} ({block['hash']}), "
             f"chain {chain_id}, registry {trusted_registry}, contract {proof.get('contract')}",
             block, max_age_blocks, "shown by the platform, not held in the contract's storage")


def _item_past(rpc: str, cap: Capability, key: tuple[Any, ...], item: Any,
               proof: dict[str, Any], outcome: Outcome, limit: int,
               engine: str = "auto") -> None:
    """The item's past from the pinned contract's logs on the trusted node (only once
    its storage is proven: the filters use proven values), each log proven."""
    from couponchain.chain.event_check import decode

    assert cap.events is not None
    filters = cap.events.filters(proof["contract"], key, item, outcome.proven,
                                 proof["block"]["number"])
    found = rpc_call(rpc, [("eth_getLogs", [f]) for f in filters], f"the {cap.what}'s logs")
    if not all(isinstance(f, list) for f in found):
        _fail(f"the node at {rpc} returned no logs for eth_getLogs")
    unique = {(str(log["blockNumber"]), str(log["logIndex"])): log for f in found for log in f}
    logs = list(unique.values())
    times = prove_logs(rpc, proof["block"], logs, outcome, limit, engine)
    compared = cap.events.compare(outcome, key, item, decode(cap.contract, logs), times)
    outcome.not_proven = [f for f in outcome.not_proven if f not in compared]


_API_KEY = click.option("--api-key", envvar="COUPONCHAIN_API_KEY", default=None,
                        help="API key of the account the item belongs to "
                             "(or COUPONCHAIN_API_KEY)")


@verify.command("promotion-coupon")
@click.argument("coupon_id", type=click.IntRange(min=1))
@trust_options
def verify_promotion_coupon(coupon_id: int, **trust: Any) -> None:
    """A promotion coupon: status, holder, issuer, round, pool and path."""
    from couponchain.chain.capability_check import PROMOTION_COUPON

    _verify_item(PROMOTION_COUPON, (coupon_id,), **trust)


@verify.command("prize-award")
@click.argument("award_id", type=click.IntRange(min=1))
@trust_options
def verify_prize_award(award_id: int, **trust: Any) -> None:
    """A prize award: consumer, prize, status, campaign and claim window."""
    from couponchain.chain.capability_check import PRIZE_AWARD

    _verify_item(PRIZE_AWARD, (award_id,), **trust)


@verify.command("referral-holding")
@click.argument("product_id", type=click.IntRange(min=1))
@click.argument("account")
@trust_options
@_API_KEY
def verify_referral_holding(product_id: int, account: str, **trust: Any) -> None:
    """An account's referral holding of a product: units (and by batch), the product,
    its current batch's terms, counters, payouts and opening, and every rebate; the API
    answers it to that account's API key only."""
    from couponchain.chain.capability_check import REFERRAL_HOLDING

    if not (account.startswith("0x") and len(account) == 42):
        _fail(f"{account!r} is not an account address (0x and 40 hex digits)")
    _verify_item(REFERRAL_HOLDING, (product_id, account), **trust)


@verify.command("report")
@click.argument("report_id", type=click.IntRange(min=1))
@trust_options
@_API_KEY
def verify_report(report_id: int, **trust: Any) -> None:
    """A marketing report: its published hash, fields and document; the API answers
    it to the merchant's (or the platform's) API key only."""
    from couponchain.chain.capability_check import REPORT

    _verify_item(REPORT, (report_id,), **trust)


@cache
def _editions_layout() -> EditionsLayout:
    """The editions contract's storage layout, from which `verify` computes the slots.

    Read from the compile cache when it holds the current sources' layout: the
    cache file is named by `contracts.source_hash`, which needs the compiler's
    version only, while importing `contracts` loads the compiler itself (0.23 s
    more for a fresh `verify`). Without a cache file, `contracts.layout` compiles
    as usual.
    """
    from couponchain.chain.storage_layout import compiler_layout
    from couponchain.domain.edition_slots import layout_from_compiler

    return layout_from_compiler(compiler_layout("editions"))


