"""`couponchain check-round`: recompute a promotion round's evaluation from the chain.

The round's record on chain (read from a node the user trusts, `--rpc`) gives
the evaluation period and the hash of the inputs measured over it. This
command measures them again from that node's logs alone (`eth_getLogs` over
the period, `services/promotion_measure.py`: which events count is written
there) and compares the hash with the recorded one; a declared amount passed
off as measured shows up as a different hash. It then takes the platform's
published evaluation (`--api`): its measured inputs must be the recomputed
ones, and the formula over measured plus declared inputs must give the total
and the inputs hash the contract recorded. Exit codes as for `verify`: 0
ROUND VERIFIED, 1 ROUND NOT VERIFIED, 2 the check could not run.

The contracts are reached through the registry the user trusts, as `verify`
does (`--registry`, else the trust file, else trust on first use): each address
is computed from the deployer of that registry (`verify_pin`), and a contract
the API names at another address is refused before anything is read from it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from couponchain.cli.common import _fail, console
from couponchain.cli.verify_io import TRUST_FILE
from couponchain.errors import CouponChainError

#: Requests of a measurement from which the progress bar is shown.
PROGRESS_FROM = 4


@click.command("check-round")
@click.argument("round_id", type=click.IntRange(min=1))
@click.option("--api", required=True, help="the platform's base URL (the deployment record, "
                                           "the published evaluation)")
@click.option("--rpc", required=True, help="a chain node you trust: the round's record and "
                                           "the period's logs are read from it")
@click.option("--registry", default=None,
              help="the platform's registry address you trust (published by the platform); "
                   "the contracts are reached through it")
@click.option("--trust-file", type=click.Path(path_type=Path), default=TRUST_FILE,
              show_default=True, help="saved registry addresses by chain id (as `verify`)")
def check_round(round_id: int, api: str, rpc: str, registry: str | None,
                trust_file: Path) -> None:
    """Recompute a promotion round's measured inputs from the chain and its total.

    Exit 0 only when the inputs measured again from the trusted node's logs
    over the recorded period hash to the recorded measured-inputs hash, the
    platform published those same inputs, and the formula over them plus the
    declared inputs gives the total and inputs hash the contract recorded.
    """
    import httpx

    from couponchain.domain.evaluation import measured_hash

    try:
        with httpx.Client(base_url=api.rstrip("/"), timeout=30) as http:
            reply = http.get(f"/v1/promotion-rounds/{round_id}")
            if reply.status_code != 200:
                _fail(f"{api} answered {reply.status_code} for round {round_id}: "
                      f"{reply.text[:200]}")
            stated = reply.json()
            health = http.get("/v1/health").json()
            if not isinstance(health, dict):
                raise TypeError("the health answer is not an object")
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        _fail(f"cannot check round {round_id}: {exc}")
        return
    addresses = _pinned(api, rpc, health, registry, trust_file)
    recorded = _round_on_chain(rpc, addresses["promotions"], round_id)
    if recorded["total"] == 0:
        _fail(f"the promotions contract at {addresses['promotions']} has no round {round_id} "
              f"on the node at {rpc}")
    if int(recorded["measured_hash"], 16) == 0:
        console.print(f"round {round_id} records no evaluation period and no measured inputs: "
                      "all its inputs are declared, nothing can be recomputed from the chain",
                      highlight=False, soft_wrap=True)
        print("ROUND NOT VERIFIED: no measured inputs recorded", flush=True)
        sys.exit(1)
    measurement = _measure(rpc, addresses, recorded["period_from"], recorded["period_to"])
    mine = measurement.inputs
    recomputed_hash = "0x" + measured_hash(mine).hex()
    console.print(
        f"round {round_id}: period blocks {mine.period_from}–{mine.period_to} "
        f"({measurement.logs} logs read from {rpc}); measured: {mine.inputs.merchants} "
        f"merchants, {mine.consumers} consumers, turnover {sum(mine.turnover.values())}",
        highlight=False, soft_wrap=True)
    rows = [("measured_hash", recomputed_hash, recorded["measured_hash"], "contract recorded")]
    rows += _published_rows(stated.get("evaluation"), mine, recomputed_hash, recorded)
    _conclude(rows)


def _pinned(api: str, rpc: str, health: dict[str, Any], registry: str | None,
            trust_file: Path) -> dict[str, str]:
    """The addresses of the contracts the check reads, reached through the trusted
    registry; ROUND NOT VERIFIED (exit 1) naming each one the API lies about."""
    from couponchain.cli.verify_io import Http
    from couponchain.cli.verify_pin import pin_contracts
    from couponchain.services import promotion_measure as measure

    names = tuple(sorted({"promotions", *measure.REGISTRATION_EVENTS,
                          *measure.TURNOVER_EVENTS}))
    http = Http(timeout=30)
    try:
        pinned = pin_contracts(http, api.rstrip("/"), rpc, names, health, registry, trust_file)
    finally:
        http.close()
    console.print(f"contracts reached through the trusted registry {pinned.registry} "
                  f"(chain {pinned.chain_id}): "
                  + ", ".join(f"{n} {a}" for n, a in sorted(pinned.addresses.items())),
                  highlight=False, soft_wrap=True)
    if pinned.failed:
        print("ROUND NOT VERIFIED: failed: contracts pinned to the trusted registry: "
              + "; ".join(pinned.failed), flush=True)
        sys.exit(1)
    return pinned.addresses


def _published_rows(published: Any, mine: Any, recomputed_hash: str,
                    recorded: dict[str, Any]) -> list[tuple[str, Any, Any, str]]:
    """Rows comparing the platform's published evaluation with the chain."""
    from couponchain.domain.evaluation import FormulaParams, combine, evaluate

    if not isinstance(published, dict) or "measured" not in published:
        return [("published evaluation", "measured and declared inputs", "none", "platform says")]
    try:
        shown = published["measured"]
        declared = {a: int(t) for a, t in published["declared"]["turnover"]}
        inputs = combine(mine, declared, int(published["declared"]["consumers"]))
        params = FormulaParams(**{k: int(v) for k, v in published["formula"].items()})
    except (KeyError, TypeError, ValueError) as exc:
        _fail(f"the published evaluation is malformed: {exc!r}")
        raise AssertionError from None
    except CouponChainError as exc:
        _fail(f"the published evaluation is malformed: {exc.message}")
        raise AssertionError from None
    result = evaluate(inputs, params)
    measured_turnover = [[a, str(t)] for a, t in mine.inputs.canonical_turnover()]
    return [
        ("measured_hash", recomputed_hash, shown.get("hash"), "platform says"),
        ("measured turnover", _short(measured_turnover), _short(shown.get("turnover")),
         "platform says"),
        ("measured consumers", str(mine.consumers), shown.get("consumers"), "platform says"),
        ("inputs (measured + declared)",
         _short([[[a, str(t)] for a, t in inputs.canonical_turnover()], str(inputs.consumers)]),
         _short([published.get("turnover"), published.get("consumers")]), "platform says"),
        ("total", result.total, recorded["total"], "contract recorded"),
        ("inputs_hash", "0x" + result.inputs_hash.hex(), recorded["inputs_hash"],
         "contract recorded"),
    ]


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "…"


def _conclude(rows: list[tuple[str, Any, Any, str]]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table("value", "recomputed from the chain", "compared with", "source", "")
    differing: list[str] = []
    for name, mine, theirs, source in rows:
        same = str(mine).lower() == str(theirs).lower()
        if not same:
            differing.append(f"{name} ({source})")
        table.add_row(Text(name), Text(str(mine)), Text(str(theirs)), Text(source),
                      Text("matches", "green") if same else Text("DIFFERS", "red"))
    console.print(table)
    if differing:
        print("ROUND NOT VERIFIED: differs: " + "; ".join(differing), flush=True)
        sys.exit(1)
    print("ROUND VERIFIED", flush=True)
    sys.exit(0)


def _measure(rpc: str, addresses: dict[str, str], period_from: int, period_to: int) -> Any:
    """The period's measured inputs from the trusted node's logs, with progress."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from couponchain.cli.verify_io import Http
    from couponchain.services import promotion_measure as measure

    http = Http(timeout=120)
    requests = len(measure.plan(addresses, period_from, period_to))
    with Progress(*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console,
                  disable=requests < PROGRESS_FROM) as progress:
        task = progress.add_task(f"eth_getLogs over blocks {period_from}–{period_to}",
                                 total=requests)
        try:
            return measure.measure_blocking(
                lambda request: _get_logs(http, rpc, request), addresses, period_from,
                period_to, lambda done, _total: progress.update(task, completed=done))
        except CouponChainError as exc:
            _fail(f"cannot measure the period: {exc.message}")
        finally:
            http.close()


def _get_logs(http: Any, rpc: str, request: Any) -> list[dict[str, Any]]:
    import orjson

    try:
        _status, body = http.request("POST", rpc, orjson.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [request.params()]}))
        reply = orjson.loads(body)
    except (OSError, ValueError) as exc:
        _fail(f"cannot read logs from the node at {rpc}: {exc}")
        raise AssertionError from None
    if not isinstance(reply, dict) or not isinstance(reply.get("result"), list):
        error = reply.get("error") if isinstance(reply, dict) else reply
        _fail(f"the node at {rpc} refused eth_getLogs for blocks {request.from_block}–"
              f"{request.to_block}: {error}")
    return reply["result"]  # type: ignore[no-any-return]


def _round_on_chain(rpc: str, contract: str, round_id: int) -> dict[str, Any]:
    """What the promotions contract stores for a round, read at the trusted node."""
    from couponchain.chain import contracts
    from couponchain.cli.verify_io import rpc_call

    code = contracts.load("promotions")
    data = "0x" + code.encode_call("rounds", round_id).hex()
    (result,) = rpc_call(rpc, [("eth_call", [{"to": contract, "data": data}, "latest"])],
                         f"round {round_id}")
    if not isinstance(result, str):
        _fail(f"the node at {rpc} refused to read round {round_id} (is {contract} the "
              "promotions contract?)")
    try:
        record = code.decode_result("rounds", bytes.fromhex(result[2:]))
    except Exception as exc:  # eth_abi raises several kinds on a foreign answer
        _fail(f"the node's answer for round {round_id} is not a round record: {exc}")
        raise AssertionError from None
    # The fields in the order of promotions.vy's `Round` struct.
    return {"total": int(record[1]), "inputs_hash": "0x" + bytes(record[4]).hex(),
            "period_from": int(record[10]), "period_to": int(record[11]),
            "measured_hash": "0x" + bytes(record[12]).hex()}
