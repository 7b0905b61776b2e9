"""`couponchain verify`: check a limited-edition coupon without trusting the platform.

Exit codes (docs/verification.md): 0 VERIFIED, every check held against a node the
user trusts; 1 NOT VERIFIED, a check failed; 2 the check could not run (unknown
serial, unreachable API or node, a URL that is not the API or not a chain node);
3 NOT ANCHORED, no trusted node was given, so nothing ties the answer to the chain.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import click

from couponchain.cli.common import _fail, console

if TYPE_CHECKING:
    from couponchain.domain.edition_slots import EditionsLayout

#: The default trust file: chain id to the registry address the user trusts.
TRUST_FILE = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") \
    / "couponchain" / "trust.json"
EXIT_FAILED, EXIT_ERROR, EXIT_UNANCHORED = 1, 2, 3


@click.command()
@click.argument("serial")
@click.option("--api", default="http://127.0.0.1:8000", show_default=True, help="API base URL")
@click.option("--rpc", default=None,
              help="a chain node you trust; without one the result is NOT ANCHORED (exit 3)")
@click.option("--registry", default=None,
              help="the platform's registry address you trust (published by the platform)")
@click.option("--trust-file", type=click.Path(path_type=Path), default=TRUST_FILE,
              show_default=True, help="saved registry addresses by chain id")
@click.option("--max-age-blocks", type=click.IntRange(min=0), default=8, show_default=True,
              help="how far behind the trusted node's head the proven block may be")
def verify(serial: str, api: str, rpc: str | None, registry: str | None, trust_file: Path,
           max_age_blocks: int) -> None:
    """Check a coupon against the chain with storage proofs; exit 0 only if all hold."""
    from couponchain.chain.coupon_check import (
        NOT_PROVEN,
        SALE_FIELDS,
        CheckError,
        Trusted,
        check_coupon,
    )

    try:
        from couponchain.chain.coupon_check import parse_serial

        parse_serial(serial)
    except CheckError as exc:
        _fail(str(exc))
    base = api.rstrip("/")
    http = _Http(timeout=30)
    try:
        proof = _api_json(http, base, f"/v1/coupons/{quote(serial)}/proof", serial)
        coupon = _api_json(http, base, f"/v1/coupons/{quote(serial)}", serial)
        node: dict[str, Any] = {}
        if rpc:
            node = _node(http, rpc, proof)
    finally:
        http.close()
    chain_id = node.get("chain_id", proof.get("chain_id"))
    if not isinstance(chain_id, int):
        _fail(f"the API at {base} names no chain id: is it a CouponChain API?")
        return
    anchor = _anchor(trust_file, chain_id, registry, proof)
    trusted = Trusted(chain_id=int(chain_id), registry=anchor, node_chain_id=node.get("chain_id"),
                      head=node.get("head"), block=node.get("block"), max_age=max_age_blocks)
    try:
        outcome = check_coupon(serial, proof, coupon, _editions_layout(), trusted)
    except CheckError as exc:
        _fail(str(exc))
        return
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        _fail(f"the API's answer is not a coupon proof ({exc.__class__.__name__}: {exc})")
        return
    not_proven = list(NOT_PROVEN)
    if node and outcome.ok:
        _sales(rpc or "", proof, coupon, outcome)
        not_proven = [f for f in not_proven if f not in SALE_FIELDS]
    block = proof["block"]
    console.print(f"{serial} at block {int(block['number'], 16)} ({block['hash']}), "
                  f"chain {chain_id}, registry {anchor}, contract {proof.get('contract')}",
                  highlight=False)
    if node:
        console.print(f"trusted node head: {node['head']} (the proof is "
                      f"{node['head'] - int(block['number'], 16)} blocks behind it; "
                      f"at most {max_age_blocks} allowed)", highlight=False)
    from rich.table import Table
    from rich.text import Text

    # Text cells, not markup: nothing from the answer is read as markup.
    table = Table("check", "expected (proven)", "shown", "")
    for v in outcome.verdicts:
        table.add_row(Text(v.claim), Text(str(v.expected)), Text(str(v.proven)),
                      Text.assemble(("verified", "green")) if v.ok
                      else Text.assemble(("FAILED", "red"), f" {v.note}"))
    console.print(table)
    console.print("NOT PROVEN (shown by the platform, not held in the contract's storage): "
                  + ", ".join(not_proven), highlight=False, soft_wrap=True)
    failed = [v.claim for v in outcome.verdicts if not v.ok]
    if failed:
        print("NOT VERIFIED: failed: " + "; ".join(failed), flush=True)
        sys.exit(EXIT_FAILED)
    if not node:
        print("NOT ANCHORED: the proofs agree with a block header the API itself sent; "
              "not checked: that the block is on the chain, that it is recent, that the chain "
              "id is the anchor's. Pass --rpc with a node you trust.", flush=True)
        sys.exit(EXIT_UNANCHORED)
    print("VERIFIED", flush=True)
    sys.exit(0)


def _sales(rpc: str, proof: dict[str, Any], coupon: dict[str, Any], outcome: Any) -> None:
    """Replay the edition's sales from the trusted node's logs against the proven
    `sales_digest` (only once the contract and edition are proven: the filter names them)."""
    import orjson

    from couponchain.chain.coupon_check import check_sales, sold_logs_filter

    http = _Http(timeout=60)
    try:
        _status, body = http.request("POST", rpc, orjson.dumps({
            "jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
            "params": [sold_logs_filter(proof["contract"], int(proof["edition_id"]),
                                        proof["block"]["number"])]}))
        logs = orjson.loads(body).get("result")
    except (OSError, HTTPException, ValueError, AttributeError) as exc:
        _fail(f"cannot read the sales logs from the node at {rpc}: {exc}")
        return
    finally:
        http.close()
    if not isinstance(logs, list):
        _fail(f"the node at {rpc} returned no logs for eth_getLogs")
        return
    check_sales(outcome, logs, outcome.proven.get("sales_digest"), int(proof["coupon_id"]),
                coupon)


def _api_json(http: _Http, base: str, path: str, serial: str) -> dict[str, Any]:
    """The API's JSON answer; one line and exit 2 when there is none."""
    import orjson

    try:
        status, body = http.request("GET", base + path)
    except (OSError, HTTPException, ValueError) as exc:
        _fail(f"cannot reach the API at {base}: {exc}")
        raise AssertionError from None  # _fail exits
    if status == 404:
        try:
            detail = orjson.loads(body).get("detail", "")
        except (ValueError, AttributeError):
            detail = ""
        if "serial" in str(detail) or "coupon" in str(detail):
            _fail(f"unknown serial {serial}: the API at {base} has no such coupon")
        _fail(f"{base} answered 404 for {path}: is it a CouponChain API?")
    if status != 200:
        _fail(f"the API at {base} answered HTTP {status} for {path}")
    try:
        answer = orjson.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        _fail(f"{base} did not answer JSON for {path}: is it a CouponChain API?")
    return answer  # type: ignore[return-value]


def _node(http: _Http, rpc: str, proof: dict[str, Any]) -> dict[str, Any]:
    """The trusted node's chain id, head and block at the proof's number."""
    import orjson

    try:
        number = proof["block"]["number"]
        status, body = http.request("POST", rpc, orjson.dumps([
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
            {"jsonrpc": "2.0", "id": 3, "method": "eth_getBlockByNumber",
             "params": [number, False]},
        ]))
    except (OSError, HTTPException) as exc:
        _fail(f"cannot reach the node at {rpc}: {exc}")
        raise AssertionError from None
    except (KeyError, TypeError, ValueError) as exc:
        _fail(f"the API's answer has no block number ({exc})")
        raise AssertionError from None
    try:
        replies = {r["id"]: r.get("result") for r in orjson.loads(body)}
        chain_id, head = int(replies[1], 16), int(replies[2], 16)
    except (ValueError, TypeError, KeyError, AttributeError):
        _fail(f"{rpc} is not an Ethereum JSON-RPC node (HTTP {status})")
        raise AssertionError from None
    return {"chain_id": chain_id, "head": head, "block": replies.get(3) or {}}


def _anchor(trust_file: Path, chain_id: Any, registry: str | None,
            proof: dict[str, Any]) -> str:
    """The registry address trusted for this chain: `--registry`, else the trust file,
    else (trust on first use, with a warning) the one the API names, saved."""
    import orjson

    try:
        saved = dict(orjson.loads(trust_file.read_bytes()))
    except (OSError, ValueError, TypeError):
        saved = {}
    key = str(chain_id)
    if registry:
        if key not in saved:
            _save(trust_file, {**saved, key: registry})
        return registry
    if key in saved:
        return str(saved[key])
    named = str((proof.get("deployment") or {}).get("registry", ""))
    console.print(f"warning: no trusted registry for chain {key}; trusting {named}, the one "
                  f"the API names, from now on (saved in {trust_file}). Compare it with the "
                  "address the platform publishes.", highlight=False, soft_wrap=True)
    _save(trust_file, {**saved, key: named})
    return named


def _save(trust_file: Path, entries: dict[str, Any]) -> None:
    import orjson

    try:
        trust_file.parent.mkdir(parents=True, exist_ok=True)
        trust_file.write_bytes(orjson.dumps(entries, option=orjson.OPT_INDENT_2))
    except OSError as exc:
        console.print(f"warning: cannot save the trust file {trust_file}: {exc}",
                      highlight=False)


class _Http:
    """Blocking HTTP/1.1 from the standard library, one kept-alive connection per origin.

    `verify` makes one or two requests in a fresh process: setting up an httpx
    client (its TLS context, even for plain http) cost more than the requests.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._open: dict[tuple[str, str], HTTPConnection] = {}

    def request(self, method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
        """(status, body) of one request; OSError or HTTPException when it fails."""
        parts = urlsplit(url)
        connection = self._open.get((parts.scheme, parts.netloc))
        if connection is None:
            if parts.scheme == "https":
                import ssl

                connection = HTTPSConnection(parts.netloc, timeout=self.timeout,
                                             context=ssl.create_default_context())
            elif parts.scheme == "http":
                connection = HTTPConnection(parts.netloc, timeout=self.timeout)
            else:
                raise ValueError(f"not an http(s) URL: {url}")
            self._open[(parts.scheme, parts.netloc)] = connection
        headers = {"accept": "application/json"}
        if body is not None:
            headers["content-type"] = "application/json"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, reply.read()

    def close(self) -> None:
        for connection in self._open.values():
            connection.close()


@cache
def _editions_layout() -> EditionsLayout:
    """The editions contract's storage layout, from which `verify` computes the slots.

    Read from the compile cache when it holds the current sources' layout: the
    cache file is named by `contracts.source_hash`, which needs the compiler's
    version only, while importing `contracts` loads the compiler itself (0.23 s
    more for a fresh `verify`). Without a cache file, `contracts.layout` compiles
    as usual.
    """
    from couponchain.domain.edition_slots import layout_from_compiler

    cached = _cached_layout("editions")
    if cached is None:
        from couponchain.chain import contracts

        cached = contracts.layout("editions")
    return layout_from_compiler(cached)


def _cached_layout(name: str) -> dict[str, Any] | None:
    """`contracts.layout(name)` from its cache file, or None when there is none.

    Mirrors `contracts.source_hash` and `contracts._cache_dir`: a mismatch only
    misses the cache (the fallback compiles); a hit is a layout compiled from
    exactly these sources by this compiler version.
    """
    import hashlib
    from importlib import metadata

    sources = Path(__file__).resolve().parent.parent / "contracts"
    try:
        compilers = f"vyper {metadata.version('vyper')} snekmate {metadata.version('snekmate')}"
    except metadata.PackageNotFoundError:
        return None
    digest = hashlib.sha256(compilers.encode())
    for path in [sources / f"{name}.vy", *sorted((sources / "interfaces").glob("*.vyi"))]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    base = os.environ.get("COUPONCHAIN_CACHE_DIR") or Path.home() / ".cache" / "couponchain"
    cached = Path(base) / "contracts" / f"{name}-{digest.hexdigest()[:16]}.json"
    try:
        import orjson

        return dict(orjson.loads(cached.read_bytes())["layout"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


