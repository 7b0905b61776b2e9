"""What every `couponchain verify` command reads and prints: the API, the trusted node,
the trust file, and the verdicts (docs/verification.md).

Exit codes: 0 VERIFIED, every check held against a node the user trusts; 1 NOT
VERIFIED, a check failed; 2 the check could not run (unknown item, unreachable
API or node, a URL that is not the API or not a chain node); 3 NOT ANCHORED, no
trusted node was given, so nothing ties the answer to the chain.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from couponchain.cli.common import _fail, console

if TYPE_CHECKING:
    from couponchain.chain.verification import Outcome

#: The default trust file: chain id to the registry address the user trusts.
TRUST_FILE = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") \
    / "couponchain" / "trust.json"
EXIT_FAILED, EXIT_ERROR, EXIT_UNANCHORED = 1, 2, 3


def trust_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every `verify` command takes: where to ask, whom to trust."""
    options = [
        click.option("--api", default="http://127.0.0.1:8000", show_default=True,
                     help="API base URL"),
        click.option("--rpc", default=None,
                     help="a chain node you trust; without one the result is NOT ANCHORED "
                          "(exit 3)"),
        click.option("--registry", default=None,
                     help="the platform's registry address you trust (published by the "
                          "platform)"),
        click.option("--trust-file", type=click.Path(path_type=Path), default=TRUST_FILE,
                     show_default=True, help="saved registry addresses by chain id"),
        click.option("--max-age-blocks", type=click.IntRange(min=0), default=8,
                     show_default=True,
                     help="how far behind the trusted node's head the proven block may be"),
        click.option("--max-ancestry-blocks", type=click.IntRange(min=0), default=256,
                     show_default=True,
                     help="how far back from the proven block the history's headers are "
                          "checked to be its ancestors (one header a block); older ones "
                          "are listed as not proven"),
        click.option("--engine", type=click.Choice(["auto", "ethash", "clique", "qbft",
                                                    "ibft2"]), default="auto",
                     show_default=True,
                     help="how the chain hashes and seals blocks (auto: QBFT/IBFT 2.0 by "
                          "their mixHash, Clique by its extraData and difficulty, else the "
                          "plain Ethereum hash)"),
        click.option("--validators", default=None,
                     help="comma-separated validator addresses whose seals the proven block "
                          "must carry, or 'genesis' to read them from the trusted node's "
                          "genesis extraData (Clique, QBFT, IBFT 2.0), or 'checkpoint' "
                          "(Clique; 'checkpoint:EPOCH' when the epoch is not 30000) to "
                          "follow the signer votes from the last checkpoint before it"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def api_json(http: Http, base: str, path: str, unknown: str,
             api_key: str | None = None) -> dict[str, Any]:
    """The API's JSON answer; one line and exit 2 when there is none (`unknown`: the
    message for a 404 that names the item, e.g. "unknown serial LATTE-000042")."""
    import orjson

    try:
        status, body = http.request("GET", base + path, api_key=api_key)
    except (OSError, HTTPException, ValueError) as exc:
        _fail(f"cannot reach the API at {base}: {exc}")
        raise AssertionError from None  # _fail exits
    try:
        answer = orjson.loads(body)
    except ValueError:
        answer = None
    problem = answer if isinstance(answer, dict) else {}
    if status == 404:
        if problem.get("type", "").endswith("not-found") or "detail" in problem \
                and problem.get("detail") != "Not Found":
            _fail(f"{unknown}: the API at {base} has no such item")
        _fail(f"{base} answered 404 for {path}: is it a CouponChain API?")
    if status in (401, 403):
        _fail(f"the API at {base} refused {path} (HTTP {status}): "
              + ("pass --api-key with the key of the account asked for" if not api_key
                 else "the API key may not read it"))
    if status != 200:
        detail = problem.get("detail")
        _fail(f"the API at {base} answered HTTP {status} for {path}"
              + (f": {detail}" if isinstance(detail, str) else ""))
    if not isinstance(answer, dict):
        _fail(f"{base} did not answer JSON for {path}: is it a CouponChain API?")
    return answer  # type: ignore[return-value]


def trusted_node(http: Http, rpc: str, proof: dict[str, Any]) -> dict[str, Any]:
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


def anchor(trust_file: Path, chain_id: Any, registry: str | None,
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
            save(trust_file, {**saved, key: registry})
        return registry
    if key in saved:
        return str(saved[key])
    named = str((proof.get("deployment") or {}).get("registry", ""))
    console.print(f"warning: no trusted registry for chain {key}; trusting {named}, the one "
                  f"the API names, from now on (saved in {trust_file}). Compare it with the "
                  "address the platform publishes.", highlight=False, soft_wrap=True)
    save(trust_file, {**saved, key: named})
    return named


def validator_set(validators: str | None, engine: str, rpc: str | None,
                  block: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The engine (resolved from `auto` on the proven header) and the validator set the
    user gave: addresses, or `genesis` (the trusted node's block 0 extraData)."""
    from couponchain.chain import consensus

    try:
        resolved = consensus.engine_of(block, engine)
    except consensus.ConsensusError as exc:
        _fail(str(exc))
        raise AssertionError from None
    if not validators:
        return resolved, ()
    if validators.strip().lower().startswith("checkpoint"):
        return resolved, _clique_checkpoint_signers(validators.strip().lower(), resolved, rpc,
                                                    block)
    if validators.strip().lower() != "genesis":
        listed = tuple(v.strip() for v in validators.split(",") if v.strip())
        bad = [v for v in listed if not (v.startswith("0x") and len(v) == 42)]
        if bad:
            _fail(f"--validators: {bad[0]!r} is not an address (0x and 40 hex digits)")
        return resolved, listed
    if not rpc:
        _fail("--validators genesis reads the genesis block from --rpc: pass a node you trust")
    (genesis,) = rpc_call(rpc or "", [("eth_getBlockByNumber", ["0x0", False])],
                          "the genesis block")
    try:
        return resolved, tuple(consensus.genesis_validators(genesis, resolved))
    except (consensus.ConsensusError, KeyError, TypeError, ValueError) as exc:
        _fail(f"cannot read the validators from the genesis block at {rpc}: {exc}")
        raise AssertionError from None


def _clique_checkpoint_signers(option: str, engine: str, rpc: str | None,
                               block: dict[str, Any]) -> tuple[str, ...]:
    """The Clique signers of the proven block: the last checkpoint's list before it, with
    the votes of every header since applied (`consensus.clique_signers`), all headers
    from the trusted node."""
    from couponchain.chain import consensus

    _, _, epoch_text = option.partition(":")
    if engine != "clique":
        _fail(f"--validators checkpoint follows Clique signer votes; this chain is {engine} "
              "(--engine clique if it is Clique)")
    if not epoch_text.isdigit() and epoch_text:
        _fail(f"--validators {option}: the epoch after 'checkpoint:' is not a number")
    epoch = int(epoch_text or consensus.CLIQUE_EPOCH)
    if not rpc or epoch < 1:
        _fail("--validators checkpoint reads the headers from --rpc (a node you trust) and "
              "needs an epoch of at least 1")
    proven = int(str(block.get("number", "0x0")), 16)
    last = max(proven - 1, 0)
    numbers = list(range(last - last % epoch, max(proven, 1)))
    headers: list[Any] = []
    for i in range(0, len(numbers), 1_000):
        headers += rpc_call(rpc or "", [("eth_getBlockByNumber", [hex(n), False])
                                        for n in numbers[i:i + 1_000]], "the Clique headers")
    try:
        return tuple(consensus.clique_signers(headers[0], headers[1:], epoch))
    except (consensus.ConsensusError, KeyError, TypeError, ValueError, IndexError) as exc:
        _fail(f"cannot follow the Clique signer votes from checkpoint {numbers[0]} to block "
              f"{proven} at {rpc}: {exc}")
        raise AssertionError from None


def save(trust_file: Path, entries: dict[str, Any]) -> None:
    import orjson

    try:
        trust_file.parent.mkdir(parents=True, exist_ok=True)
        trust_file.write_bytes(orjson.dumps(entries, option=orjson.OPT_INDENT_2))
    except OSError as exc:
        console.print(f"warning: cannot save the trust file {trust_file}: {exc}",
                      highlight=False)


class Http:
    """Blocking HTTP/1.1 from the standard library, one kept-alive connection per origin.

    `verify` makes one or two requests in a fresh process: setting up an httpx
    client (its TLS context, even for plain http) cost more than the requests.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._open: dict[tuple[str, str], HTTPConnection] = {}

    def request(self, method: str, url: str, body: bytes | None = None,
                api_key: str | None = None) -> tuple[int, bytes]:
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
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        if body is not None:
            headers["content-type"] = "application/json"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=headers)
        reply = connection.getresponse()
        return reply.status, reply.read()

    def close(self) -> None:
        for connection in self._open.values():
            connection.close()




def conclude(outcome: Outcome, node: dict[str, Any], heading: str, block: dict[str, Any],
             max_age_blocks: int, not_proven_note: str) -> None:
    """Print the verdicts and what is not proven, then exit with the verdict's code."""
    console.print(heading, highlight=False, soft_wrap=True)
    if node:
        number = int(block["number"], 16)
        console.print(f"trusted node head: {node['head']} (the proof is "
                      f"{node['head'] - number} blocks behind it; at most "
                      f"{max_age_blocks} allowed)", highlight=False)
    from rich.table import Table
    from rich.text import Text

    # Text cells, not markup: nothing from the answer is read as markup.
    table = Table("check", "expected (proven)", "shown", "")
    for v in outcome.verdicts:
        table.add_row(Text(v.claim), Text(str(v.expected)), Text(str(v.proven)),
                      Text.assemble(("verified", "green")) if v.ok
                      else Text.assemble(("FAILED", "red"), f" {v.note}"))
    console.print(table)
    if outcome.not_proven:
        console.print(f"NOT PROVEN ({not_proven_note}): " + ", ".join(outcome.not_proven),
                      highlight=False, soft_wrap=True)
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


def rpc_call(rpc: str, calls: list[tuple[str, list[Any]]], what: str) -> list[Any]:
    """One JSON-RPC batch to the trusted node; one line and exit 2 when it fails."""
    import orjson

    http = Http(timeout=60)
    try:
        _status, body = http.request("POST", rpc, orjson.dumps([
            {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)]))
        replies = {r["id"]: r.get("result") for r in orjson.loads(body)}
        return [replies.get(i) for i in range(len(calls))]
    except (OSError, HTTPException, ValueError, AttributeError, TypeError, KeyError) as exc:
        _fail(f"cannot read {what} from the node at {rpc}: {exc}")
        raise AssertionError from None
    finally:
        http.close()
