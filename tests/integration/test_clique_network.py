"""`verify`'s Clique checks against a real Clique network: two geth v1.13.15 nodes,
each sealing as one signer (tests/integration/clique_net.py), peered on 127.0.0.1.

The headers are real: sealed by geth's Clique engine, not built by the test. Checked
with the code `couponchain verify` runs on a proven block: the engine recognised
from the header (`--engine auto`), the block hash, the signer recovered from each
seal (compared with geth's own `clique_getSigner`), the header check with
`--validators A,B`, `genesis` and `checkpoint` (the CLI's `validator_set`), the
ancestry walk, a log of a real block proven as a coupon's history entry is
(`prove_logs`: ancestry, receipts against `receiptsRoot`), and after a real signer
vote (`clique_propose`) the signer set followed from the checkpoint, block by block,
against geth's `clique_getSigners`, by `consensus.clique_signers` and by the page
badge's `cliqueSigners` (proof-consensus.js, run in Node).
Refused: a header with a forged state root, a foreign validator set, and a block
sealed with the key of the signer voted out.

Not run here: the platform itself. go-ethereum's Clique runs London rules only
("clique does not support shanghai fork"), and the platform's contracts are
compiled for Prague (PUSH0 and later opcodes), so they cannot be deployed on this
chain; see docs/verification.md.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from eth_account import Account
from eth_keys import keys

from couponchain.chain import consensus
from couponchain.chain.event_check import check_ancestry
from couponchain.chain.proofs import header_hash
from couponchain.chain.verification import Outcome, Trusted, check_block
from couponchain.cli.verify import prove_logs
from couponchain.cli.verify_io import validator_set
from tests.integration.clique_net import CliqueNetwork
from tests.proof_js import CLIQUE_SIGNERS_DRIVER, js_folder, run_driver

SEAL_CLAIM = "block sealed by the given validators (clique)"


async def _headers(http: httpx.AsyncClient, url: str, last: int) -> list[dict[str, Any]]:
    batch = [{"jsonrpc": "2.0", "id": n, "method": "eth_getBlockByNumber",
              "params": [hex(n), False]} for n in range(last + 1)]
    replies = sorted((await http.post(url, json=batch)).json(), key=lambda r: r["id"])
    return [r["result"] for r in replies]


async def _until(check: Any, what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := await check()):
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        await asyncio.sleep(0.2)
    return found


def _header_check(block: dict[str, Any], head: int, chain_id: int,
                  validators: tuple[str, ...], nodes: dict[str, Any] | None = None) -> Outcome:
    """Check 1 of every `verify` (the block header) as the CLI runs it, `nodes` the
    trusted node's block of that number (default: `block` itself)."""
    outcome = Outcome()
    check_block(outcome, block, Trusted(chain_id=chain_id, registry="0x" + "00" * 20,
                                        node_chain_id=chain_id, head=head,
                                        block=nodes or block, engine="auto",
                                        validators=validators))
    return outcome


def _sealed_by(header: dict[str, Any], key: bytes) -> dict[str, Any]:
    """The header sealed again with `key`, its hash recomputed (a forger's block)."""
    signature = keys.PrivateKey(key).sign_msg_hash(consensus.seal_hash(header, "clique"))
    extra = header["extraData"][:-130] + signature.to_bytes().hex()
    forged = {**header, "extraData": extra}
    return {**forged, "hash": "0x" + header_hash(forged).hex()}


async def test_verify_checks_real_clique_headers_and_follows_a_real_signer_vote(
    tmp_path: Any,
) -> None:
    async with CliqueNetwork(tmp_path, signers=2) as net, \
            httpx.AsyncClient(timeout=10) as http:
        a, b = net.addresses
        url = net.urls[0]
        call = net.call
        head = await _until(lambda: _head_at_least(http, url, 6), "block 6")
        headers = await _headers(http, url, head)

        # Every real header: recognised as Clique, hashed as geth hashes it, the seal's
        # signer the one geth recovers; the two signers took turns.
        sealed_by = set()
        for header in headers[1:]:
            assert consensus.engine_of(header) == "clique"
            assert "0x" + consensus.block_hash(header, "clique").hex() == header["hash"]
            (signer,) = consensus.signers(header, "clique")
            recovered = await call(http, url, "clique_getSigner", header["hash"])
            assert signer.lower() == recovered.lower()
            sealed_by.add(signer)
        assert sealed_by == {a, b}

        # The header check `verify` runs, with each way of giving the validators.
        proven = headers[-1]
        given = (a, b)
        assert validator_set("genesis", "auto", url, proven) == ("clique", tuple(
            sorted(given, key=str.lower)))
        assert sorted(validator_set("checkpoint", "auto", url, proven)[1]) == sorted(given)
        for validators in (given, validator_set("checkpoint", "clique", url, proven)[1]):
            outcome = _header_check(proven, head, net.chain_id, tuple(validators))
            assert outcome.ok, outcome.verdicts
            assert any(v.claim == SEAL_CLAIM and v.ok for v in outcome.verdicts)
        walked = Outcome()
        check_ancestry(walked, proven, dict(enumerate(headers)), 1, 256, "clique")
        assert walked.ok and walked.verdicts, walked.verdicts

        # A log in a real sealed block, proven as `verify` proves a history entry's:
        # the block an ancestor of the proven one (this chain has no EIP-2935 history
        # contract, so by the header walk), its receipts (geth's eth_getBlockReceipts)
        # rebuilding the header's receiptsRoot, the log among them.
        logged = await _emit_log(http, net, url)
        head = await _until(lambda: _head_at_least(http, url, logged + 2), "two more blocks")
        logs = await call(http, url, "eth_getLogs", {"fromBlock": hex(logged),
                                                     "toBlock": hex(logged)})
        assert len(logs) == 1
        proven = (await _headers(http, url, head))[-1]
        history = Outcome()
        times = await asyncio.to_thread(prove_logs, url, proven, logs, history, 256, "clique")
        assert history.ok, history.verdicts
        claims = [v.claim for v in history.verdicts]
        assert f"block {logged}: its receipts rebuild the header's receiptsRoot" in claims
        assert "every history log is in its block's proven receipts" in claims
        assert list(times) == [logged] and not history.not_proven

        # Refused: a forged state root (re-hashed: the seal then names a stranger),
        # and a validator set the block's signer is not in.
        forged = {**proven, "stateRoot": "0x" + "11" * 32}
        forged["hash"] = "0x" + header_hash(forged).hex()
        failed = _header_check(forged, head, net.chain_id, given, proven)
        assert [v.claim for v in failed.verdicts if not v.ok] == [
            SEAL_CLAIM, "block is the trusted node's block of that number"]
        foreign = _header_check(proven, head, net.chain_id, ("0x" + "22" * 20,))
        assert [v.claim for v in foreign.verdicts if not v.ok] == [SEAL_CLAIM]

        # A real vote: both signers propose dropping b; once it passes, a alone seals.
        for node in net.urls:
            await call(http, node, "clique_propose", b, False)
        async def dropped() -> int | None:
            current = await call(http, url, "clique_getSigners", "latest")
            number = int(await call(http, url, "eth_blockNumber"), 16)
            return number if [s.lower() for s in current] == [a.lower()] else None
        passed = await _until(dropped, "the vote dropping the second signer")
        head = await _until(lambda: _head_at_least(http, url, passed + 2), "two more blocks")
        headers = await _headers(http, url, head)
        assert {consensus.signers(h, "clique")[0] for h in headers[passed + 1:]} == {a}

        # The signer set followed from the checkpoint is geth's at every height, and so
        # is the one the page badge follows (proof-consensus.js in Node, its `checkpoint`).
        (tmp_path / "js").mkdir()
        in_browser = run_driver(js_folder(tmp_path / "js"), CLIQUE_SIGNERS_DRIVER, [
            [headers[0], headers[1:number + 1], consensus.CLIQUE_EPOCH]
            for number in range(head + 1)])
        for number in range(head + 1):
            followed = consensus.clique_signers(headers[0], headers[1:number + 1])
            in_geth = await call(http, url, "clique_getSigners", hex(number))
            assert [s.lower() for s in followed] == sorted(s.lower() for s in in_geth), number
            assert in_browser[number] == [s.lower() for s in followed], number
        assert in_browser[0] != in_browser[-1]  # the vote changed the set on the way
        proven = headers[-1]
        resolved, current = validator_set("checkpoint", "auto", url, proven)
        assert (resolved, current) == ("clique", (a,))
        assert _header_check(proven, head, net.chain_id, current).ok

        # The signer voted out still holds its key: a block it seals after the vote (seen
        # without the node's own block, as a light client sees it) passes the seal check
        # against the stale set given by hand, and fails against the set
        # `--validators checkpoint` follows.
        late = _sealed_by(proven, bytes(net.accounts[1].key))
        stale = _header_check(late, head, net.chain_id, given)
        assert stale.ok, stale.verdicts
        refused = _header_check(late, head, net.chain_id, current)
        assert [v.claim for v in refused.verdicts if not v.ok] == [SEAL_CLAIM]


async def _emit_log(http: httpx.AsyncClient, net: CliqueNetwork, url: str) -> int:
    """Send a zero-fee contract creation whose init code emits one log (LOG0 of the
    word 42) from a fresh account; returns the block it was sealed in."""
    sender = Account.create()
    init = bytes.fromhex("602a60005260206000a000")  # MSTORE(0, 42) LOG0(0, 32) STOP
    signed = sender.sign_transaction({
        "type": 2, "chainId": net.chain_id, "nonce": 0, "gas": 100_000,
        "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, "data": init, "value": 0})
    tx = await net.call(http, url, "eth_sendRawTransaction",
                        "0x" + signed.raw_transaction.hex().removeprefix("0x"))
    receipt = await _until(lambda: net.call(http, url, "eth_getTransactionReceipt", tx),
                           "the log's receipt")
    assert receipt["status"] == "0x1" and len(receipt["logs"]) == 1, receipt
    return int(receipt["blockNumber"], 16)


async def _head_at_least(http: httpx.AsyncClient, url: str, number: int) -> int | None:
    head = int(await CliqueNetwork.call(http, url, "eth_blockNumber"), 16)
    return head if head >= number else None
